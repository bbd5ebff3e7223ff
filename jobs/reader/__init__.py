"""The one reader of metrics files, shared by ``barometer detect`` and ``barometer import``.

A metrics file is a CSV with header ``date,series,metric,value`` or a Parquet file with
those four columns (by name; other columns are ignored). polars parses it (lazily, so a
``since`` window drops older rows while parsing), series and metric names become
categoricals, and the result is numpy columns (:class:`Columns`), never row objects.

The error contract: any problem raises :class:`jobs.errors.InputError` with one line
``FILE:LINE: reason`` — a wrong header, a bad date, a value that is not a finite number,
a negative count, a duplicate (date, series, metric), a binary file — and the caller
stores nothing. For Parquet, LINE is the 1-based row number.

API for other readers (e.g. an hourly CSV): :func:`read_header` gives a CSV's header
fields, :func:`check_header` the one-line error for an unknown one.
"""

from jobs.reader.columns import EPOCH, Columns, from_frame, read_columns
from jobs.reader.header import HEADER, Kind, check_header, newest_date_hint, read_header, sniff
from jobs.reader.panels import first_duplicate, to_panels

__all__ = [
    "EPOCH",
    "HEADER",
    "Columns",
    "Kind",
    "check_header",
    "first_duplicate",
    "from_frame",
    "newest_date_hint",
    "read_columns",
    "read_header",
    "sniff",
    "to_panels",
]
