"""``barometer detect FILE``: stateless walk-forward detection on a metrics CSV or Parquet file.

Kept apart from :mod:`worker.commands` so that detecting a file imports no database,
channel or Celery code: the command is meant to be quick on millions of rows.

Only the days detection needs are kept: the decided days and the history before them that
the daily run loads from storage (:func:`jobs.window.history_days`). Rows older than
that are parsed (to find their dates) but dropped at once, not held or checked further.
When no ``--end`` is given, the newest date is guessed from the file's last lines (files
are usually written oldest first); a wrong guess only keeps more rows than needed.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import TextIO

from jobs.errors import InputError
from jobs.reader import newest_date_hint, read_columns, to_panels
from jobs.window import history_days
from worker.settings import Settings

__all__ = ["DetectResult", "detect_file"]

log = logging.getLogger(__name__)


def _load_engine() -> None:
    import jobs.detection.engine
    import jobs.detection.explain  # noqa: F401


@dataclass(frozen=True, slots=True)
class DetectResult:
    findings: int
    first: date
    last: date
    #: series x metric in the file with values in the walked days
    series: int
    #: of those, how many had too little history to be scored (skipped, not an error)
    unscored: int

    def note(self, path: Path) -> str | None:
        """A line for stderr about the series too short to judge, or None."""
        if not self.unscored:
            return None
        return (
            f"note: {self.unscored:,} of {self.series:,} series x metric in {path.name} have fewer than 3 whole "
            f"weeks of history before {self.last} and were not scored"
        )


def _open(output: Path) -> TextIO | nullcontext[TextIO]:
    if str(output) == "-":
        return nullcontext(sys.stdout)
    return output.open("w", encoding="utf-8", newline="")


def detect_file(
    settings: Settings, path: Path, *, start: date | None, end: date | None, output: Path, country: str = ""
) -> DetectResult:
    """Walk-forward detection on a CSV over ``start..end`` (default: its last date); write
    one JSON object per finding to ``output`` (``-``: stdout). ``country``: whose public
    holidays the file's data follows (see :mod:`jobs.detection.holidays`)."""
    if country:
        from jobs.detection.holidays import known_country  # python-holidays only when asked

        if not known_country(country):
            raise InputError(f"--country: unknown country {country!r} (use an ISO 3166 code such as 'DE' or 'US')")
    if start is not None and end is not None and start > end:
        raise InputError(f"--start {start} is after --end {end}")
    params = settings.detection.params()
    history = timedelta(days=history_days(params))
    first_guess = start or end or newest_date_hint(path)
    # scipy and the engine (~0.5 s of imports) load on the other core while polars parses,
    # which releases the GIL
    loading = threading.Thread(target=_load_engine, name="detect-imports", daemon=True)
    loading.start()
    started = time.perf_counter()
    cols = read_columns(path, since=None if first_guess is None else first_guess - history)
    log.info("read %s: %d rows in %.2fs", path.name, len(cols), time.perf_counter() - started)
    loading.join()
    from jobs.detection.engine import walk
    from jobs.detection.explain import finding_to_json

    last = cols.newest()
    if last is None:
        raise InputError(f"{path}: no rows to detect on")
    first_day, last_day = start or end or last, end or last
    if first_day > last_day:
        raise InputError(f"--start {first_day} is after --end {last_day}")
    last_day = min(last_day, last)
    panels = to_panels(cols.since(first_day - history), property="csv")
    if not panels:
        raise InputError(f"{path}: no rows to detect on")
    if country:
        params = replace(params, countries={p.property: country.upper() for p in panels})
    started = time.perf_counter()
    done = walk(panels, params, start=first_day, end=last_day)
    log.info(
        "detected %s..%s over %d series x metric in %.2fs",
        first_day,
        last_day,
        done.series,
        time.perf_counter() - started,
    )
    with _open(output) as out:
        for finding in done.findings:
            out.write(json.dumps(finding_to_json(finding), separators=(",", ":")) + "\n")
    return DetectResult(len(done.findings), first_day, last_day, done.series, done.unscored)
