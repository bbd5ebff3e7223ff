"""``barometer deliveries list|retry``: see and resend pending or failed deliveries.

``list`` shows deliveries by status (default: pending and failed, the ones needing
attention); ``retry`` puts failed ones back with a fresh attempt budget and sends them
now, recording the resend (``list`` shows ``resent Nx``). Exits 1 when a resend fails
again, or on bad input (one line).
"""

from __future__ import annotations

from typing import Annotated

import typer

from jobs.errors import InputError
from worker.cli.options import date_option, load_runtime, load_settings

__all__ = ["deliveries_app"]

deliveries_app = typer.Typer(help="See and resend pending or failed deliveries.", no_args_is_help=True)

_STATUSES = ("pending", "failed", "sent")


@deliveries_app.command("list")
def deliveries_list(
    status: Annotated[
        list[str] | None, typer.Option("--status", help="pending, failed or sent (repeatable; default pending+failed).")
    ] = None,
    subscription: Annotated[str | None, typer.Option("--subscription", help="Only this subscription.")] = None,
    since: Annotated[str | None, typer.Option(help="Only digests dated on or after this day (YYYY-MM-DD).")] = None,
) -> None:
    """One line per delivery: id, subscription, date, channel, recipient, status, attempts, last error."""
    from alerts.deliveries import list_deliveries
    from jobs.domain import DeliveryStatus

    wanted = status or ["pending", "failed"]
    for value in wanted:
        if value not in _STATUSES:
            raise InputError(f"--status: {value!r} is not one of {', '.join(_STATUSES)}")
    settings = load_settings()
    if subscription is not None:
        settings.subscription(subscription)  # raises "no subscription named ..."
    lines = list_deliveries(
        load_runtime(settings).engine,
        statuses=[DeliveryStatus(v) for v in wanted],
        subscription=subscription,
        since=date_option(since, "--since"),
    )
    if not lines:
        typer.echo("no deliveries")
        return
    rows = [("ID", "SUBSCRIPTION", "DATE", "CHANNEL", "RECIPIENT", "STATUS", "ATTEMPTS", "NOTE")]
    for line in lines:
        note = " ".join(line.error.split())[:120]
        if line.requeues:
            note = f"resent {line.requeues}x" + (f"; {note}" if note else "")
        rows.append(
            (
                str(line.id),
                line.subscription,
                line.data_date.isoformat(),
                line.channel,
                line.recipient,
                line.status.value,
                str(line.attempts),
                note or "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        typer.echo("  ".join([*(cell.ljust(w) for cell, w in zip(r, widths, strict=False)), r[-1]]))


@deliveries_app.command("retry")
def deliveries_retry(
    ids: Annotated[list[int] | None, typer.Argument(help="Delivery ids (see 'barometer deliveries list').")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Every failed delivery.")] = False,
    since: Annotated[str | None, typer.Option(help="With --failed: only digests dated on or after this day.")] = None,
) -> None:
    """Resend failed (or pending) deliveries now, after the fault is fixed; the resend is recorded."""
    from jobs.domain import DeliveryStatus
    from worker.delivery import retry_deliveries

    if bool(ids) == failed:
        raise InputError("deliveries retry: give delivery ids or --failed (not both)")
    if since is not None and not failed:
        raise InputError("--since: only with --failed")
    runtime = load_runtime()
    results = retry_deliveries(
        runtime, ids=ids or (), failed=failed, since=date_option(since, "--since"), now=runtime.clock
    )
    if not results:
        typer.echo("no failed deliveries to retry")
        return
    from worker import audit

    engine = runtime.engine
    for line, outcome in results:
        audit.record(
            engine,
            actor=audit.cli_actor(),
            action="retry",
            target=f"delivery {line.id}",
            detail=f"delivery {line.id} ({line.channel} {line.recipient}): {outcome.status.value}",
            now=runtime.clock(),
        )
    for line, outcome in results:
        what = f"delivery {line.id} ({line.channel} {line.recipient})"
        if outcome.status is DeliveryStatus.SENT:
            typer.echo(f"{what}: sent")
        else:
            typer.echo(f"{what}: {outcome.status.value}: {' '.join(outcome.error.split())[:200]}")
    if any(outcome.status is not DeliveryStatus.SENT for _, outcome in results):
        raise typer.Exit(1)
