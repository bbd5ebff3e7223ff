"""The CLI's data commands as plain functions: fetch, import, export (detect: worker.detect)."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from jobs import csvio, pipeline
from jobs.errors import BarometerError, InputError
from jobs.storage import repo
from worker.google.auth import guard_account
from worker.service import report_date, today_in

if TYPE_CHECKING:
    from worker.runtime import Runtime

__all__ = ["export_csv", "fetch_range", "import_csv"]


def fetch_range(runtime: Runtime, property_name: str, *, start: date, end: date) -> int:
    """Pull ``start..end`` from the property's source into storage; return points stored."""
    settings = runtime.settings
    if end < start:
        raise InputError(f"--end {end} is before --start {start}")
    spec = settings.property(property_name).spec()
    if spec.source == "csv":
        raise BarometerError(f"property {spec.name!r} has source 'csv': load it with `barometer import`")
    today = today_in(spec.timezone)
    engine = runtime.engine
    with guard_account(settings, engine, spec):
        last_final = report_date(runtime, property_name, today=today)
        source = runtime.source(spec, today=today)
        return pipeline.fetch(engine, source, spec, plan=pipeline.FetchPlan(start, end), last_final=last_final)


def import_csv(runtime: Runtime, path: Path, *, property_name: str) -> int:
    """Check the whole file (CSV or Parquet) first, then store it in one transaction; a bad
    file stores nothing."""
    settings = runtime.settings
    from jobs.reader import first_duplicate, read_columns
    from jobs.storage.bulk import store_columns

    spec = settings.property(property_name).spec()
    cols = read_columns(path)
    first_duplicate(cols)
    engine = runtime.engine
    return store_columns(engine, repo.ensure_property(engine, spec), cols)


def open_out(output: Path) -> TextIO | nullcontext[TextIO]:
    """``output`` opened for writing text, or stdout (not closed) for ``-``."""
    if str(output) == "-":
        return nullcontext(sys.stdout)
    return output.open("w", encoding="utf-8", newline="")


def export_csv(
    runtime: Runtime, *, property_name: str, output: Path, start: date | None = None, end: date | None = None
) -> int:
    settings = runtime.settings
    spec = settings.property(property_name).spec()
    engine = runtime.engine
    prop_id = repo.property_id(engine, spec.name)
    if prop_id is None:
        raise BarometerError(f"property {spec.name!r} has no stored data yet (run `barometer fetch` or `import`)")
    with open_out(output) as out:
        return csvio.write_metrics_csv(
            repo.iter_points(engine, prop_id, prop_name=spec.name, start=start, end=end), out
        )
