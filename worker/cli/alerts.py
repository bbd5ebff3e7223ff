"""``barometer mute`` / ``barometer unmute``: snooze findings for a while.

Registered on the main app by :func:`register`. Each command validates its input first
and says exactly what is wrong in one line (``main()`` prints it and exits 1).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Annotated

import typer

from jobs.errors import InputError
from worker.cli.options import load_runtime, load_settings

if TYPE_CHECKING:  # imported when a command runs: `barometer --help` stays fast
    from alerts.mutes import Mute
    from worker.settings import Settings

__all__ = ["parse_duration", "parse_until", "register"]

_DURATION = re.compile(r"^(?:\d+[wdhm])+$")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}


def parse_duration(text: str) -> timedelta:
    """``"7d"``, ``"12h"``, ``"2w"``, ``"1d12h"``, ``"30m"`` as a timedelta; raises InputError."""
    value = text.strip().lower()
    if not _DURATION.match(value):
        raise InputError(f"--for: {text!r} is not a duration such as 30m, 12h, 7d, 2w or 1d12h")
    delta = timedelta()
    for amount, unit in re.findall(r"(\d+)([wdhm])", value):
        delta += timedelta(**{_UNITS[unit]: int(amount)})
    if delta <= timedelta(0):
        raise InputError(f"--for: {text!r} is not a positive duration")
    return delta


def parse_until(text: str) -> datetime:
    """``YYYY-MM-DD`` (the start of that day, UTC) or an ISO 8601 time (naive means UTC)."""
    value = text.strip()
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
        at = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"--until: {text!r} is not a date (YYYY-MM-DD) or an ISO 8601 time") from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _check_pattern(settings: Settings, pattern: str) -> None:
    from alerts.mutes import parse_pattern

    prop, _, _ = parse_pattern(pattern)  # raises AlertsError naming the pattern
    names = [p.name for p in settings.properties]
    if not any(fnmatchcase(name, prop) for name in names):
        configured = ", ".join(names) or "none"
        raise InputError(
            f"mute pattern {pattern!r}: {prop!r} matches no configured property (configured: {configured})"
        )


def _describe(mute: Mute) -> str:
    scope = mute.subscription or "all subscriptions"
    why = f" — {mute.reason}" if mute.reason else ""
    return f"{mute.id}: {mute.pattern} until {mute.until:%Y-%m-%d %H:%M} UTC ({scope}){why}"


def _table(mutes: tuple[Mute, ...], now: datetime) -> str:
    rows = [("ID", "PATTERN", "SUBSCRIPTION", "UNTIL (UTC)", "STATE", "REASON")]
    for m in mutes:
        state = "active" if m.active(now) else ("removed" if m.removed_at else "expired")
        rows.append((str(m.id), m.pattern, m.subscription or "*", f"{m.until:%Y-%m-%d %H:%M}", state, m.reason or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join([*(cell.ljust(w) for cell, w in zip(r, widths, strict=False)), r[-1]]) for r in rows)


def mute(
    pattern: Annotated[
        str,
        typer.Argument(
            help="PROPERTY, PROPERTY/METRIC or PROPERTY/METRIC/SERIES with * and ? wildcards; 'list' shows mutes."
        ),
    ],
    *,
    for_: Annotated[str | None, typer.Option("--for", help="How long: 30m, 12h, 7d, 2w, 1d12h.")] = None,
    until: Annotated[
        str | None, typer.Option(help="Until this day (YYYY-MM-DD, from 00:00 UTC on) or ISO time.")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why; shown in digests next to what it silences.")] = "",
    subscription: Annotated[str | None, typer.Option(help="Only for this subscription (default: all).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="With 'list': also ended mutes.")] = False,
) -> None:
    """Snooze findings matching PATTERN in digests and immediate alerts; 'mute list' shows them.

    Examples: 'shop' (everything on shop), 'shop/keyEvents', 'shop/sessions/landingPage:/blog*',
    '*/*/query:*brand*'. A muted finding is listed in the digest as not alerted, with the reason.
    """
    from alerts.mutes import add_mute, list_mutes

    settings = load_settings()
    now = datetime.now(UTC)
    if pattern == "list":
        if for_ or until or reason or subscription:
            raise InputError("mute list: takes no --for, --until, --reason or --subscription (only --all)")
        mutes = list_mutes(load_runtime(settings).engine, now=now, include_inactive=all_)
        typer.echo(_table(mutes, now) if mutes else "no mutes in force" if not all_ else "no mutes")
        return
    if all_:
        raise InputError("--all: only with 'barometer mute list'")
    if (for_ is None) == (until is None):
        raise InputError("mute: give exactly one of --for DURATION or --until DATE")
    _check_pattern(settings, pattern)
    if subscription is not None:
        settings.subscription(subscription)  # raises "no subscription named ..."
    end = now + parse_duration(for_) if for_ is not None else parse_until(str(until))
    if end <= now:
        raise InputError(f"--until: {end:%Y-%m-%d %H:%M} UTC is not in the future")
    from worker import audit

    engine = load_runtime(settings).engine
    created = add_mute(engine, pattern=pattern, until=end, reason=reason, subscription=subscription or "", now=now)
    audit.record(
        engine,
        actor=audit.cli_actor(),
        action="mute",
        target=f"mute {created.id}",
        detail=f"{created.pattern} until {created.until:%Y-%m-%d %H:%M} UTC" + (f": {reason}" if reason else ""),
        now=now,
    )
    typer.echo(f"muted {_describe(created)}")


def unmute(mute_id: Annotated[int, typer.Argument(help="The mute's id (see 'barometer mute list').")]) -> None:
    """End a mute now: what it silenced is alerted again from the next digest on."""
    from alerts.mutes import remove_mute
    from worker import audit

    engine, now = load_runtime().engine, datetime.now(UTC)
    removed = remove_mute(engine, mute_id, now=now)
    audit.record(
        engine, actor=audit.cli_actor(), action="unmute", target=f"mute {mute_id}", detail=removed.pattern, now=now
    )
    typer.echo(f"unmuted {removed.id}: {removed.pattern}")


def register(app: typer.Typer) -> None:
    """Add ``mute`` and ``unmute`` to the ``barometer`` command."""
    commands: dict[str, Callable[..., None]] = {"mute": mute, "unmute": unmute}
    for name, command in commands.items():
        app.command(name)(command)
