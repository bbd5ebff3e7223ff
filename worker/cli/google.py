"""CLI commands for Google: ``accounts add|list|keygen``, ``properties discover``, ``backfill``.

Registered on the main app by :func:`register`. Every command exits non-zero with a
one-line reason on bad input (``main()`` in :mod:`worker.cli.app` prints barometer's errors).
"""

from __future__ import annotations

import sys
from datetime import date
from typing import Annotated

import click
import typer

from jobs.errors import InputError, SourceError
from worker.cli.options import date_option as _date
from worker.cli.options import load_runtime, load_settings

__all__ = ["accounts_app", "properties_app", "register"]

accounts_app = typer.Typer(help="Google accounts: sign in with OAuth, check their status.", no_args_is_help=True)
properties_app = typer.Typer(
    help="Find the GA4 properties and Search Console sites an account can read.", no_args_is_help=True
)


@accounts_app.command("add")
def accounts_add(
    name: Annotated[str, typer.Argument(help="Account name, as in the accounts list of barometer.toml.")],
    oauth: Annotated[bool, typer.Option("--oauth", help="Sign in a Google user (installed-app flow).")] = False,
    port: Annotated[int, typer.Option(help="Port of the loopback redirect (0: any free port).")] = 0,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Only print the URL to open.")] = False,
    timeout: Annotated[int, typer.Option(help="Seconds to wait for the sign-in.")] = 300,
) -> None:
    """Authorise a Google user and store the refresh token encrypted (needs --oauth)."""
    from worker.google.auth import SCOPES, authorise_oauth

    if not oauth:
        raise InputError(
            "accounts add: only OAuth users are added here (--oauth); a service account is an [[accounts]] "
            'entry with kind = "service_account" and key_file in barometer.toml'
        )
    if not 0 <= port <= 65535:
        raise InputError(f"--port: expected 0-65535, got {port}")
    settings = load_settings()
    engine = load_runtime(settings).engine
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if callable(reconfigure):
        reconfigure(line_buffering=True)  # the URL must show before the command waits
    scopes = authorise_oauth(settings, engine, name, port=port, open_browser=not no_browser, timeout=timeout)
    typer.echo(f"account {name}: authorised; refresh token stored encrypted")
    for scope in SCOPES:
        if scope not in scopes:
            typer.echo(f"warning: {scope} was not granted: properties needing it will fail", err=True)
    if name not in {a.name for a in settings.accounts}:
        typer.echo(f'add it to barometer.toml:\n\n[[accounts]]\nname = "{name}"\nkind = "oauth"')


@accounts_app.command("list")
def accounts_list(
    check: Annotated[bool, typer.Option("--check", help="Ask Google for a token for each account.")] = False,
) -> None:
    """Show every account and whether it works (ok / needs re-auth / not authorised / cannot decrypt)."""
    from worker.google.auth import account_statuses, check_accounts

    settings = load_settings()
    engine = load_runtime(settings).engine
    unusable = check_accounts(settings, engine) if check else {}
    statuses = tuple(unusable.get(s.name, s) for s in account_statuses(settings, engine))
    if not statuses:
        typer.echo("no accounts: add [[accounts]] to barometer.toml")
        return
    width = max(len(s.name) for s in statuses)
    for s in statuses:
        typer.echo(f"{s.name:<{width}}  {s.kind:<15}  {s.status:<16}  {s.detail}".rstrip())
    if check and any(s.status != "ok" for s in statuses):
        raise typer.Exit(1)


@accounts_app.command("keygen")
def accounts_keygen() -> None:
    """Print a new key for the variable named by google.secret_key_env (BAROMETER_SECRET_KEY)."""
    from worker.google.auth import new_secret_key

    typer.echo(new_secret_key())


@properties_app.command("discover")
def properties_discover(
    account: Annotated[str, typer.Option("--account", help="Account name from barometer.toml.")],
) -> None:
    """Print ready-to-paste properties (TOML) for everything the account can read."""
    from worker.google.discover import discover, to_toml

    settings = load_settings()
    found = discover(settings, load_runtime(settings).engine, account)
    for problem in found.problems:
        typer.echo(f"warning: {problem}", err=True)
    if not found.properties:
        raise SourceError(f"account {account!r}: no GA4 property or Search Console site found")
    typer.echo(to_toml(found, settings), nl=False)


def backfill(
    property_: Annotated[str, typer.Option("--property", help="Property name from barometer.toml.")],
    days: Annotated[int | None, typer.Option(help="Days back from the newest final day.")] = None,
    start: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD.")] = None,
    restart: Annotated[bool, typer.Option("--restart", help="Forget earlier progress and load again.")] = False,
) -> None:
    """Load first-time history (Search Console: 16 months) with a progress bar; resumable."""
    from jobs.backfill import Chunk
    from worker.backfill import backfill_property

    settings = load_settings()
    bar: click._termui_impl.ProgressBar[int] | None = None

    def started(first: date, last: date, todo: int) -> None:
        nonlocal bar
        typer.echo(f"{property_}: {todo} day(s) to load from {first} to {last}", err=True)
        bar = click.progressbar(length=max(todo, 1), label=property_, file=sys.stderr, show_pos=True)
        bar.__enter__()

    def advanced(chunk: Chunk, points: int) -> None:
        if bar is not None:
            bar.update(chunk.days)

    first = _date(start, "--start")
    try:
        report = backfill_property(
            load_runtime(settings),
            property_,
            days=days,
            start=first,
            restart=restart,
            on_start=started,
            on_chunk=advanced,
        )
    except SourceError as exc:
        raise SourceError(f"{exc} (finished days are kept: rerun to continue)") from exc
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    typer.echo(
        f"{property_}: loaded {report.days_loaded} day(s), {report.points} points, from {report.start} to "
        f"{report.end} ({report.days_skipped} day(s) done earlier)"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(accounts_app, name="accounts")
    app.add_typer(properties_app, name="properties")
    app.command("backfill")(backfill)
