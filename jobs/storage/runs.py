"""Job-run records: every unit of work leaves a row saying how it ended."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

import sqlalchemy as sa

from jobs.storage.tables import JobRunRow

__all__ = ["latest_failures", "recorded"]

_RUNS = JobRunRow.__table__  # type: ignore[attr-defined]


@contextmanager
def recorded(engine: sa.Engine, *, job: str, target: str, data_date: date | None) -> Iterator[None]:
    """Record a ``running`` row, then ``ok`` or ``failed`` with the one-line reason; re-raise."""
    with engine.begin() as conn:
        run_id = conn.execute(
            sa.insert(_RUNS)
            .values(job=job, target=target, data_date=data_date, status="running", started_at=datetime.now(UTC))
            .returning(_RUNS.c.id)
        ).scalar_one()
    status, detail = "ok", ""
    try:
        yield
    except BaseException as exc:
        status, detail = "failed", f"{type(exc).__name__}: {exc}".splitlines()[0][:1000]
        raise
    finally:
        with engine.begin() as conn:
            conn.execute(
                sa.update(_RUNS)
                .where(_RUNS.c.id == run_id)
                .values(status=status, detail=detail, finished_at=datetime.now(UTC))
            )


def latest_failures(engine: sa.Engine, *, job: str, targets: list[str], data_date: date) -> dict[str, str]:
    """For each target whose newest ``job`` run for ``data_date`` failed, its one-line reason."""
    newest: dict[str, tuple[str, str]] = {}
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(_RUNS.c.target, _RUNS.c.status, _RUNS.c.detail)
            .where(_RUNS.c.job == job, _RUNS.c.target.in_(targets), _RUNS.c.data_date == data_date)
            .order_by(_RUNS.c.id)
        ).all()
    for target, status, detail in rows:
        newest[str(target)] = (str(status), str(detail))
    return {target: detail for target, (status, detail) in newest.items() if status == "failed"}
