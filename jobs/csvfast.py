"""A vectorised reader for plain metrics CSV files (millions of rows in about a second).

"Plain" is what ``barometer export`` writes and what most tools do: the exact header
``date,series,metric,value``, ``\\n`` line ends, no quotes, no blank lines, UTF-8. The
file is memory-mapped and every step is a numpy operation over the lines of a chunk at
once: separators are located with one comparison pass; dates (fixed width) are read as
two 64-bit words per line and decoded once per distinct date; the ``series,metric``
middle of each line is hashed word by word with two independent 64-bit hashes and
factorised (a collision of the first is caught by the second); values of up to 8 digits
are parsed eight digits at a time in one word (SWAR), other plain decimals digit by digit
(exactly as ``float()`` rounds them), anything else by ``float()``.

Most files repeat one day's sequence of series and metrics day after day; then the pairs
are factorised for the first day only, and :attr:`Plain.period` lets the caller reshape
values into panels without scattering.

:func:`parse_plain` returns None whenever anything is unusual — quotes, CR, a blank
line, a malformed date, a non-numeric value — and the caller then takes the exact,
row-by-row path that names the offending line. It never reports errors itself.
"""

from __future__ import annotations

import itertools
import mmap
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from jobs.csvwords import Days, Raw, Text, Unusual, hash_fields, parse_values

__all__ = ["Plain", "parse_plain"]

IntArray = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
FloatArray = npt.NDArray[np.float64]

HEADER = b"date,series,metric,value"
_CHUNK = 1 << 24  # bytes of text per work unit
_NONE: IntArray = np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class Plain:
    """The columns of a plain file. Each line has a day, a value and a pair code (a
    distinct ``series,metric``, named by ``pair_series``/``pair_metric``). When ``period``
    > 0 the file is a sequence of days that each repeat the first day's ``period`` pairs in
    order: ``pair`` is then None and ``day`` holds one entry per day."""

    series: list[str]
    metrics: list[str]
    pair_series: IntArray
    pair_metric: IntArray
    day: IntArray
    value: FloatArray
    pair: IntArray | None = None
    period: int = 0

    def lines(self) -> tuple[IntArray, IntArray, IntArray]:
        """(day, series code, metric code) per line."""
        if self.pair is not None:
            return self.day, self.pair_series[self.pair], self.pair_metric[self.pair]
        days = self.value.size // self.period
        return (
            np.repeat(self.day, self.period),
            np.tile(self.pair_series, days),
            np.tile(self.pair_metric, days),
        )


@dataclass
class _Lines:
    """Per line of a chunk: day, value, the two hashes of ``series,metric`` and where that
    middle is (hashes None and middles empty when the chunk was compared with the first day
    instead)."""

    day: IntArray
    value: FloatArray
    h1: U64 | None
    h2: U64 | None
    middle: IntArray
    width: IntArray


class _NotPeriodic(Exception):
    """A chunk does not repeat the first day's pairs: hash every chunk instead."""


@dataclass(frozen=True)
class _Reference:
    """The first day's ``series,metric`` middles, as words, to compare later days with."""

    period: int
    width: IntArray
    words: U64  # (period, words per middle)

    @classmethod
    def of(cls, text: Text, first: _Lines, period: int) -> _Reference:
        width = first.width[:period]
        words = [text.word(first.middle[:period] + k, width - k) for k in range(0, int(width.max(initial=0)), 8)]
        return cls(period, width, np.stack(words, axis=1) if words else np.zeros((period, 0), dtype=np.uint64))

    def check(self, text: Text, middle: IntArray, width: IntArray, line0: int) -> None:
        """Raise :class:`_NotPeriodic` unless these lines repeat the reference, byte for byte."""
        idx = (np.arange(line0, line0 + middle.size) % self.period).astype(np.int64)
        if not (width == self.width[idx]).all():
            raise _NotPeriodic
        for n in range(self.words.shape[1]):
            if not (text.word(middle + 8 * n, width - 8 * n) == self.words[idx, n]).all():
                raise _NotPeriodic


def _chunk(text: Text, days: Days, lo: int, hi: int, *, ref: _Reference | None = None, line0: int = 0) -> _Lines:
    """Lines whose first byte is in [lo, hi) (``lo`` and ``hi`` are line starts); with ``ref``,
    their middles are compared with the first day's (line ``line0`` of the file is the first
    here) instead of hashed."""
    buf = text.buf
    if text.raw.find(b'"', lo, hi) >= 0 or text.raw.find(b"\r", lo, hi) >= 0:
        raise Unusual
    found = text.separators(lo, hi)
    if found.size % 4:
        raise Unusual
    pos = found.reshape(-1, 4)
    c1, c2, c3, end = pos[:, 0], pos[:, 1], pos[:, 2], pos[:, 3]
    if not (buf[end] == 10).all():
        raise Unusual  # a line with other than 3 commas
    start = np.empty_like(end)
    start[0] = lo
    start[1:] = end[:-1] + 1
    if not (((c1 - start) == 10).all() and ((c2 - c1) > 1).all() and ((c3 - c2) > 1).all()):
        raise Unusual
    middle, width = c1 + 1, c3 - c1 - 1
    if ref is not None:
        ref.check(text, middle, width, line0)
        # the first day's middles name the pairs: these are not needed again (nor kept, at
        # 16 bytes a line)
        h1 = h2 = None
        middle = width = _NONE
    else:
        h1, h2 = hash_fields(text, middle, width)
    lines = _Lines(days.of(start), parse_values(text, c3 + 1, end), h1, h2, middle, width)
    text.release(lo, hi)
    return lines


def _bounds(raw: Raw, begin: int, chunk: int) -> list[tuple[int, int]]:
    """Work units of about ``chunk`` bytes, each starting at a line start."""
    cuts = [begin]
    while cuts[-1] + chunk < len(raw):
        nl = raw.find(b"\n", cuts[-1] + chunk, cuts[-1] + 2 * chunk)
        if nl < 0:
            raise Unusual  # a line longer than a chunk
        cuts.append(nl + 1)
    cuts.append(len(raw))
    return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]


def _factorise(keys: U64) -> tuple[IntArray, IntArray]:
    """(codes, index of the first line of each code); codes follow the sorted unique keys."""
    n = keys.size
    uniq = np.unique(keys)
    codes = np.searchsorted(uniq, keys).astype(np.int64)
    first = np.full(uniq.size, n, dtype=np.int64)
    first[codes[::-1]] = np.arange(n - 1, -1, -1, dtype=np.int64)  # the last write (earliest line) wins
    return codes, first


def _period(first: _Lines) -> int:
    """Lines of the first day if its pairs are distinct (a day could repeat them), else 0."""
    moved = np.flatnonzero(first.day != first.day[0])
    if moved.size == 0 or first.h1 is None:
        return 0
    period = int(moved[0])
    if np.unique(first.h1[:period]).size != period:
        return 0  # a pair twice in the first day (or a hash collision): not a repeating layout
    idx = np.arange(first.day.size) % period
    if not ((first.h1 == first.h1[idx]).all() and (first.h2 == first.h2[idx]).all()):  # type: ignore[index]
        return 0
    return period


def _periodic_days(parts: list[_Lines], period: int) -> IntArray | None:
    """One day per block of ``period`` lines, if every block is one day and no day repeats."""
    total = sum(p.day.size for p in parts)
    if total % period:
        return None
    previous = int(parts[0].day[0])
    for p, offset in _offsets(parts):
        moved = np.flatnonzero(np.diff(p.day, prepend=previous) != 0) + offset
        if (moved % period).any():
            return None  # a day that does not start at a block boundary
        previous = int(p.day[-1])
    day = np.concatenate([p.day[(-offset) % period :: period] for p, offset in _offsets(parts)])
    return day if np.unique(day).size == day.size else None


def parse_plain(path: Path, *, chunk: int = _CHUNK) -> Plain | None:
    """The columns of ``path`` if it is a plain metrics CSV (see module doc), else None.
    ``chunk``: bytes of text per vectorised step (memory against per-step overhead)."""
    try:
        raw = _map(path)
    except (OSError, ValueError):
        return None
    try:
        return _parse(raw, chunk)
    except Unusual:
        return None


def _map(path: Path) -> Raw:
    """The file's bytes, mapped rather than read: no private copy of a file that may be
    hundreds of MB; its pages stay the kernel's page cache, and each chunk's are let go once
    parsed (:meth:`Text.release`). Like any mapping, it assumes nobody truncates the file
    while it is read (detection input is a finished export, not a file being written)."""
    with path.open("rb") as handle:
        if os.fstat(handle.fileno()).st_size < 16:
            return handle.read()  # too short to be plain (and an empty file cannot be mapped)
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)


def _parse(raw: Raw, chunk: int) -> Plain:
    begin = 3 if raw[:3] == b"\xef\xbb\xbf" else 0
    head_end = raw.find(b"\n", begin)
    if head_end < 0 or raw[begin:head_end] != HEADER:  # quotes and CR: looked for chunk by chunk
        raise Unusual
    if raw[-1:] != b"\n" or raw[-2:] == b"\n\n" or head_end + 1 >= len(raw) or len(raw) < 16:
        raise Unusual
    text = Text(raw)
    days = Days(text)
    units = _bounds(raw, head_end + 1, chunk)
    first = _chunk(text, days, *units[0])
    period = _period(first)
    parts = [first]
    if period:
        ref = _Reference.of(text, first, period)
        try:
            line0 = first.day.size
            for lo, hi in units[1:]:
                parts.append(_chunk(text, days, lo, hi, ref=ref, line0=line0))
                line0 += parts[-1].day.size
        except _NotPeriodic:
            period, parts = 0, [first]
    if not period:
        parts += [_chunk(text, days, lo, hi) for lo, hi in units[len(parts) :]]
    block_days = _periodic_days(parts, period) if period else None
    value = np.concatenate([p.value for p in parts])
    if block_days is not None:
        series, metrics, pair_series, pair_metric = _names(raw, first.middle[:period], first.width[:period])
        return Plain(series, metrics, pair_series, pair_metric, block_days, value, None, period)
    if any(p.h1 is None for p in parts):  # compared, but days are out of step: hash it all
        parts = [_chunk(text, days, lo, hi) for lo, hi in units]
    h1 = np.concatenate([p.h1 for p in parts if p.h1 is not None])
    pair, first_line = _factorise(h1)
    h2 = np.concatenate([p.h2 for p in parts if p.h2 is not None])
    if not (h2 == h2[first_line][pair]).all():
        raise Unusual  # two different names with one 64-bit hash: let the exact reader do it
    middle = np.concatenate([p.middle for p in parts])[first_line]
    width = np.concatenate([p.width for p in parts])[first_line]
    day = np.concatenate([p.day for p in parts])
    series, metrics, pair_series, pair_metric = _names(raw, middle, width)
    return Plain(series, metrics, pair_series, pair_metric, day, value, pair, 0)


def _offsets(parts: list[_Lines]) -> list[tuple[_Lines, int]]:
    out, offset = [], 0
    for p in parts:
        out.append((p, offset))
        offset += p.day.size
    return out


def _names(raw: Raw, middle: IntArray, width: IntArray) -> tuple[list[str], list[str], IntArray, IntArray]:
    """Series and metric names of each distinct pair, and each pair's codes for them."""
    series: dict[str, int] = {}
    metrics: dict[str, int] = {}
    pair_series = np.empty(middle.size, dtype=np.int64)
    pair_metric = np.empty(middle.size, dtype=np.int64)
    for n, (at, w) in enumerate(zip(middle.tolist(), width.tolist(), strict=True)):
        try:
            s, _, m = raw[at : at + w].decode("utf-8").partition(",")
        except UnicodeDecodeError:
            raise Unusual from None
        pair_series[n] = series.setdefault(s, len(series))
        pair_metric[n] = metrics.setdefault(m, len(metrics))
    return list(series), list(metrics), pair_series, pair_metric
