"""Byte-level helpers of the vectorised CSV reader (:mod:`jobs.csvfast`): every 64-bit word
of the text, hashes of fields, numbers parsed from digits, dates decoded once each.
"""

from __future__ import annotations

import mmap
from datetime import date

import numpy as np
import numpy.typing as npt

__all__ = ["Days", "Raw", "Text", "Unusual", "hash_fields", "parse_values"]

IntArray = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
FloatArray = npt.NDArray[np.float64]
#: A file's bytes, read or memory-mapped (both slice to ``bytes``).
Raw = bytes | mmap.mmap

_P1 = np.uint64(0x9E3779B97F4A7C15)
_P2 = np.uint64(0xC2B2AE3D27D4EB4F)
_POW10 = 10.0 ** np.arange(23)
#: MASKS[n] keeps the first n bytes (the low ones, little-endian) of a word.
_MASKS = np.array([(1 << (8 * n)) - 1 for n in range(8)] + [(1 << 64) - 1], dtype=np.uint64)
_ZEROS = np.uint64(0x3030303030303030)  # "00000000"


class Unusual(Exception):
    """The file is not plain: let the exact reader look at it."""


class Text:
    """The file's bytes, as bytes and as every (unaligned, little-endian) 64-bit word."""

    def __init__(self, raw: Raw) -> None:
        self.raw = raw
        self.buf = np.frombuffer(raw, dtype=np.uint8)
        self.words: U64 = np.ndarray(shape=(self.buf.size - 7,), dtype="<u8", buffer=self.buf, strides=(1,))
        self.last = self.words.size - 1
        self._marks = np.empty((2, 0), dtype=np.bool_)

    def release(self, lo: int, hi: int) -> None:
        """``[lo, hi)`` is parsed: let a mapped file's pages there go (they stay in the page
        cache, and are simply faulted in again if read later), so the file does not sit in
        this process's memory whole."""
        if isinstance(self.raw, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
            start = -(-lo // mmap.PAGESIZE) * mmap.PAGESIZE
            stop = hi // mmap.PAGESIZE * mmap.PAGESIZE
            if stop > start:
                self.raw.madvise(mmap.MADV_DONTNEED, start, stop - start)

    def separators(self, lo: int, hi: int) -> IntArray:
        """Positions of every ``,`` and ``\\n`` in ``[lo, hi)``. The masks are kept from call to
        call: a fresh chunk-sized temporary each time would cost a page fault per 4 KB."""
        part = self.buf[lo:hi]
        if self._marks.shape[1] < part.size:
            self._marks = np.empty((2, part.size), dtype=np.bool_)
        comma, newline = self._marks[0, : part.size], self._marks[1, : part.size]
        np.equal(part, 44, out=comma)
        np.equal(part, 10, out=newline)
        np.logical_or(comma, newline, out=comma)
        found = np.flatnonzero(comma)
        found += lo
        return found

    def word(self, at: IntArray, length: IntArray | None = None) -> U64:
        """The 8 bytes from ``at`` (only the first ``length``, 0-8, of them if given). Near the
        end the last whole word is read and shifted: bytes past the end are masked anyway."""
        if int(at.max(initial=0)) <= self.last:
            w = self.words[at]
        else:
            w = self.words[np.minimum(at, self.last)] >> (np.maximum(at - self.last, 0) * 8).astype(np.uint64)
        return w if length is None else np.asarray(w & _MASKS[np.clip(length, 0, 8)], dtype=np.uint64)


def hash_fields(text: Text, start: IntArray, length: IntArray) -> tuple[U64, U64]:
    """Two independent 64-bit hashes of each field (``length`` bytes from ``start``)."""
    h1 = length.astype(np.uint64) * _P1
    h2 = length.astype(np.uint64) ^ _P2
    whole = int(length.min(initial=0)) // 8
    for k in range(0, int(length.max(initial=0)), 8):
        w = text.word(start + k, None if k // 8 < whole else length - k)
        h1 = (h1 ^ w) * _P1
        h2 = (h2 + w) * _P2
        h2 ^= h2 >> np.uint64(29)
    return h1, h2


def _small_ints(text: Text, start: IntArray, length: IntArray) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Values of 1 to 8 plain digits, all eight in one 64-bit word (SWAR): the digits are
    right-aligned behind '0's, checked to be digits, and folded pairwise into a number."""
    size = np.clip(length, 0, 8)
    x = text.word(start, size) << ((8 - size) * 8 % 64).astype(np.uint64)
    x |= _ZEROS & _MASKS[8 - size]
    ok = (length >= 1) & (length <= 8)
    ok &= (((x + np.uint64(0x4646464646464646)) | (x - _ZEROS)) & np.uint64(0x8080808080808080)) == 0
    v = x - _ZEROS
    v = v * np.uint64(10) + (v >> np.uint64(8))
    mask = np.uint64(0x000000FF000000FF)
    v = (
        (v & mask) * np.uint64(0x000F424000000064) + ((v >> np.uint64(16)) & mask) * np.uint64(0x0000271000000001)
    ) >> np.uint64(32)
    return v.astype(np.float64), ok


def _decimals(text: Text, start: IntArray, end: IntArray) -> FloatArray:
    """Plain decimals (``-?digits(.digits)?``, at most 15 digits) digit by digit; others by float()."""
    buf = text.buf
    length = end - start
    n = start.size
    mantissa = np.zeros(n, dtype=np.int64)
    digits = np.zeros(n, dtype=np.int64)
    frac = np.full(n, -1, dtype=np.int64)  # digits after the point; -1: no point yet
    negative = buf[start] == 45
    simple = (length > 0) & (length <= 17)
    for k in range(int(np.minimum(length, 17).max(initial=0))):
        live = k < length
        c = buf[np.minimum(start + k, buf.size - 1)].astype(np.int64)
        d = c - 48
        is_digit = live & (d >= 0) & (d <= 9)
        is_point = live & (c == 46) & (frac < 0)
        simple &= ~live | is_digit | is_point | (live & (k == 0) & (c == 45))
        mantissa = np.where(is_digit, mantissa * 10 + np.where(is_digit, d, 0), mantissa)
        digits += is_digit
        frac = np.where(is_point, 0, np.where(is_digit & (frac >= 0), frac + 1, frac))
    simple &= (digits > 0) & (digits <= 15)
    value = np.where(negative, -1.0, 1.0) * (mantissa / _POW10[np.clip(frac, 0, 22)])
    hard = np.flatnonzero(~simple)
    if hard.size:
        try:
            pairs = zip(start[hard].tolist(), end[hard].tolist(), strict=True)
            value[hard] = [float(text.raw[s:e]) for s, e in pairs]
        except ValueError:
            raise Unusual from None
    return np.asarray(value, dtype=np.float64)


def parse_values(text: Text, start: IntArray, end: IntArray) -> FloatArray:
    """The numbers in ``[start, end)`` of each line, exactly as ``float()`` reads them."""
    value, ok = _small_ints(text, start, end - start)
    rest = np.flatnonzero(~ok)
    if rest.size:
        value[rest] = _decimals(text, start[rest], end[rest])
    return value


class Days:
    """Dates seen so far (their 10 bytes as two words) and their day numbers."""

    def __init__(self, text: Text) -> None:
        self.text = text
        self.known: dict[tuple[int, int], int] = {}

    def _ordinal(self, key: tuple[int, int], at: int) -> int:
        found = self.known.get(key)
        if found is None:
            raw = self.text.raw[at : at + 10]
            if not (raw[4:5] == b"-" and raw[7:8] == b"-" and raw[:4].isdigit()):
                raise Unusual
            try:
                found = self.known[key] = date.fromisoformat(raw.decode("ascii")).toordinal()
            except ValueError:
                raise Unusual from None
        return found

    def of(self, start: IntArray) -> IntArray:
        head, tail = self.text.word(start), self.text.word(start + 2)
        change = np.flatnonzero((head[1:] != head[:-1]) | (tail[1:] != tail[:-1])) + 1
        firsts = np.concatenate(([0], change))
        ordinals = [self._ordinal((int(head[i]), int(tail[i])), int(start[i])) for i in firsts.tolist()]
        return np.repeat(np.asarray(ordinals, dtype=np.int64), np.diff(np.concatenate((firsts, [start.size]))))
