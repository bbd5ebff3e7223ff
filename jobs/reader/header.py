"""What kind of file this is, and whether its header is the metrics header.

Read before anything heavy, so a wrong file is one line at once: missing, unreadable,
binary, empty, or a CSV whose first line is not ``date,series,metric,value``. Another
reader (an hourly CSV, say) can call :func:`read_header` to pick its own path and
:func:`check_header` to get the same one-line error for a header it does not know.
"""

from __future__ import annotations

import csv
import enum
from datetime import date
from pathlib import Path

from jobs.errors import InputError

__all__ = ["HEADER", "Kind", "check_header", "newest_date_hint", "read_header", "sniff"]

HEADER = ("date", "series", "metric", "value")
_PARQUET_MAGIC = b"PAR1"
_HEAD_BYTES = 1 << 16
_TAIL_BYTES = 1 << 16


class Kind(enum.Enum):
    CSV = "csv"
    PARQUET = "parquet"


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(_HEAD_BYTES)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def read_header(path: Path) -> tuple[str, ...] | None:
    """The fields of the first line of a CSV (stripped; a UTF-8 BOM dropped), or None for
    an empty file. Raises :class:`InputError` for a file that cannot be read or is not text."""
    head = _head(path)
    if not head:
        return None
    if b"\x00" in head:
        raise InputError(f"{path.name}:1: not a CSV text file (binary data; Parquet files need their PAR1 magic)")
    first = head.split(b"\n", 1)[0]
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path.name}:1: not UTF-8 text (save the CSV as UTF-8)") from None
    row = next(csv.reader([text.rstrip("\r")]), [])
    return tuple(field.strip() for field in row)


def check_header(path: Path, header: tuple[str, ...] | None, expected: tuple[str, ...] = HEADER) -> None:
    """Raise the one-line error for an empty file or a header other than ``expected``."""
    want = ",".join(expected)
    if header is None:
        raise InputError(f"{path.name}:1: file is empty, expected header {want!r}")
    if header != expected:
        raise InputError(f"{path.name}:1: expected header {want!r}, got {','.join(header)!r}")


def newest_date_hint(path: Path) -> date | None:
    """The newest date among a CSV's last lines (its newest date when, as usual, the file is
    written oldest first), or None if none parses. A hint for windowing a read, never a
    fact: the reader keeps every row from a window's start on, whatever the true newest."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(size - _TAIL_BYTES, 0))
            tail = handle.read(_TAIL_BYTES)
    except OSError:
        return None
    if tail[:4] == _PARQUET_MAGIC or size <= _TAIL_BYTES:
        return None  # a small file is read whole anyway
    found = []
    for line in tail.split(b"\n")[1:]:
        try:
            found.append(date.fromisoformat(line[:10].decode("ascii")))
        except (UnicodeDecodeError, ValueError):
            continue
    return max(found, default=None)


def sniff(path: Path) -> Kind:
    """Parquet by its magic bytes, else a CSV whose header is checked here."""
    head = _head(path)
    if head[:4] == _PARQUET_MAGIC:
        return Kind.PARQUET
    check_header(path, read_header(path))
    return Kind.CSV
