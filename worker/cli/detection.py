"""The analysts' commands: ``barometer feedback`` and ``barometer backtest`` (thin: the
work is in :mod:`jobs.storage.feedback` and :mod:`worker.backtest`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from jobs.domain import Label
from jobs.naming import neutralise_bidi
from worker.cli.options import load_runtime

__all__ = ["register"]


def feedback(
    finding_id: Annotated[int, typer.Argument(help="The finding's id (shown in digests and `barometer backtest`).")],
    label: Annotated[
        Label,
        typer.Option(
            help="expected: real but known (kept out of future baselines); false_alarm: not a real change "
            "(counted by backtests); confirmed: a real change worth the alert."
        ),
    ],
    note: Annotated[str, typer.Option(help="Why (free text, stored with the label).")] = "",
) -> None:
    """Label a finding; "expected" keeps its points out of every later baseline."""
    from jobs.storage.feedback import record_feedback
    from worker import audit

    engine = load_runtime().engine
    now = datetime.now(UTC)
    result = record_feedback(engine, finding_id, label, note=note, now=now)
    audit.record(
        engine,
        actor=audit.cli_actor(),
        action="label",
        target=f"finding {finding_id}",
        detail=label.value + (f": {note}" if note else "") + f" ({result.points} point(s))",
        now=now,
    )
    what = (
        f"finding {result.finding_id} ({result.property} {neutralise_bidi(result.series)} {result.metric} {result.day})"
    )
    if label is Label.EXPECTED:
        typer.echo(f"{what} labelled expected; {result.points} stored point(s) kept out of future baselines")
    else:
        typer.echo(f"{what} labelled {label.value}")


def backtest(
    property_: Annotated[str, typer.Option("--property", help="Property name from barometer.toml.")],
    days: Annotated[int, typer.Option(help="How many of the newest stored final days to replay.")] = 56,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="PNG chart to write (default: backtest-PROPERTY.png).")
    ] = None,
) -> None:
    """Replay stored history with the current thresholds: what would have fired, per week and metric."""
    from worker.backtest import run_backtest

    chart = output or Path(f"backtest-{property_}.png")
    report = run_backtest(load_runtime(), property_, days=days, chart=chart)
    for line in report.lines():
        typer.echo(line)
    typer.echo(f"chart written to {chart}")


def register(app: typer.Typer) -> None:
    app.command()(feedback)
    app.command()(backtest)
