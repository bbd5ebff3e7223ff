"""The ``barometer`` command line. Every command exits non-zero with a one-line reason."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import click
import typer

from jobs.errors import BarometerError, InputError
from worker.cli.alerts import register as register_alert_commands
from worker.cli.deliveries import deliveries_app
from worker.cli.detection import register as register_detection_commands
from worker.cli.google import register as register_google
from worker.cli.llm import describe_llm, eval_app, llm_app
from worker.cli.options import date_option as _date
from worker.cli.options import load_runtime, load_settings
from worker.cli.users import tokens_app, users_app

if TYPE_CHECKING:
    from worker.settings import Settings

__all__ = ["app", "main"]

log = logging.getLogger("barometer")

app = typer.Typer(
    name="barometer",
    help="Anomaly detection for GA4 and Search Console, with digests by email or Slack.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")
register_alert_commands(app)
register_detection_commands(app)
app.add_typer(llm_app, name="llm")
app.add_typer(eval_app, name="eval")
app.add_typer(deliveries_app, name="deliveries")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
register_google(app)


def _settings() -> Settings:
    return load_settings()


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress to stderr.")] = False,
    json_logs: Annotated[bool, typer.Option("--json-logs", help="Log JSON lines (for containers).")] = False,
) -> None:
    from worker.observability import configure_logging, init_sentry
    from worker.settings import ConfigError

    configure_logging(level="INFO" if verbose else "WARNING", json=json_logs)
    # CLI errors are reported like the workers' (no DSN: Sentry stays off); a bad
    # configuration is reported by the command itself, in one line.
    with contextlib.suppress(ConfigError):
        init_sentry(load_settings())


@app.command()
def demo(
    outbox: Annotated[Path, typer.Option(help="Where digests go when no SMTP or Slack is configured.")] = Path(
        "outbox"
    ),
    database: Annotated[str, typer.Option(help="Database of the demo (reset on every run).")] = (
        "sqlite:///barometer-demo.db"
    ),
    email: Annotated[list[str] | None, typer.Option(help="Send the digest to this address (needs [smtp]).")] = None,
) -> None:
    """Seed synthetic GA4 and Search Console data, run the daily pipeline, deliver the digest."""
    from datetime import UTC, datetime

    from worker.demo import DEMO_DATABASE, DEMO_USER, demo_settings, demo_user, run_demo

    settings = _settings()
    outcome = run_demo(settings, outbox=outbox, database_url=database, emails=tuple(email or ()))
    typer.echo(outcome.describe())
    emails = tuple(email or ())
    password = demo_user(
        load_runtime(demo_settings(settings, outbox=outbox, database_url=database, emails=emails)).engine,
        now=datetime.now(UTC),
    )
    serve = "barometer web --demo" + ("" if database == DEMO_DATABASE else f" --database {database}")
    typer.echo(f"console: run `{serve}`, open http://127.0.0.1:{settings.web.port}/ and sign in as")
    typer.echo(f"  {DEMO_USER} / {password}   (a new password on every demo run; shown only now)")


@app.command()
def run(
    date_: Annotated[str | None, typer.Option("--date", help="Data date (default: newest final day).")] = None,
    property_: Annotated[str | None, typer.Option("--property", help="Only this property.")] = None,
) -> None:
    """Run the daily pipeline once, in-process: fetch, detect, summarise, deliver.

    Started by a person, it attempts every pending delivery now (backoffs are skipped)."""
    from worker.service import run_daily

    runtime = load_runtime()
    report = run_daily(
        runtime, data_date=_date(date_, "--date"), only_property=property_, now=runtime.clock, force=True
    )
    for result in report.properties:
        typer.echo(f"{result.property}: {result.findings} finding(s) on {result.data_date} ({result.points} points)")
        for alert in result.alerts:
            typer.echo(
                f"{result.property}: immediate alert {alert.digest_id} to {alert.subscription}: {alert.sent} sent"
            )
    for name, reason in report.failures.items():
        typer.echo(f"{name}: FAILED: {reason}", err=True)
    for d in report.deliveries:
        typer.echo(f"{d.subscription}: digest {d.digest_id}: {d.sent} sent, {d.pending} pending, {d.failed} failed")
        for f in d.follow_ups:
            typer.echo(
                f"{d.subscription}: follow-up {f.digest_id}: {f.sent} sent, {f.pending} pending, {f.failed} failed"
            )
    if report.flushed is not None and report.flushed.digests:
        flushed = report.flushed
        typer.echo(f"earlier digests: {flushed.sent} sent, {flushed.pending} pending, {flushed.failed} failed")
    if report.failures or any(d.failed for d in report.deliveries):
        raise typer.Exit(1)


@app.command()
def fetch(
    property_: Annotated[str, typer.Option("--property", help="Property name from barometer.toml.")],
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option(help="Last day, YYYY-MM-DD.")],
) -> None:
    """Pull a date range from the property's source into storage."""
    from worker.commands import fetch_range

    first, last = _date(start, "--start"), _date(end, "--end")
    assert first is not None
    assert last is not None
    written = fetch_range(load_runtime(), property_, start=first, end=last)
    typer.echo(f"{property_}: stored {written} points from {first} to {last}")


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="CSV with header date,series,metric,value.")],
    property_: Annotated[str, typer.Option("--property", help="Property name from barometer.toml.")],
) -> None:
    """Load a metrics CSV into a property's history (imported days count as final)."""
    from worker.commands import import_csv

    written = import_csv(load_runtime(), file, property_name=property_)
    typer.echo(f"{property_}: imported {written} points from {file}")


@app.command()
def export(
    property_: Annotated[str, typer.Option("--property", help="Property name from barometer.toml.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="CSV file to write ('-' for stdout).")] = Path("-"),
    start: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD.")] = None,
) -> None:
    """Write a property's stored metrics as CSV (the import format)."""
    from worker.commands import export_csv

    written = export_csv(
        load_runtime(), property_name=property_, output=output, start=_date(start, "--start"), end=_date(end, "--end")
    )
    if str(output) != "-":
        typer.echo(f"{property_}: exported {written} rows to {output}")


@app.command()
def detect(
    file: Annotated[Path, typer.Argument(help="CSV with header date,series,metric,value (or datetime,... for hours).")],
    start: Annotated[
        str | None, typer.Option(help="First date to decide on (hourly file: YYYY-MM-DDTHH:00; default: the last).")
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="Last date to decide on (hourly file: YYYY-MM-DDTHH:00; default: the last).")
    ] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="JSONL file to write ('-' for stdout).")] = Path("-"),
    country: Annotated[
        str, typer.Option(help="ISO 3166 country whose public holidays the data follows (e.g. DE).")
    ] = "",
) -> None:
    """Stateless detection on a file, walking forward: the decision on D uses rows dated <= D."""
    from jobs.hourly.csvinput import is_hourly
    from worker.detect import detect_file

    if is_hourly(file):  # header datetime,series,metric,value: the hourly rules (worker/detect_hourly.py)
        from worker.detect_hourly import detect_hourly_file

        hourly = detect_hourly_file(_settings(), file, start=start, end=end, output=output)
        _detected(hourly.note(file), hourly.findings, output)
        return
    result = detect_file(
        _settings(), file, start=_date(start, "--start"), end=_date(end, "--end"), output=output, country=country
    )
    _detected(result.note(file), result.findings, output)


def _detected(note: str | None, findings: int, output: Path) -> None:
    if note:
        typer.echo(note, err=True)
    if str(output) != "-":
        typer.echo(f"{findings} finding(s) written to {output}")


@app.command()
def web(
    host: Annotated[str | None, typer.Option(help="Interface to listen on (default: [web] host, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default: [web] port, 8040).")] = None,
    demo_: Annotated[
        bool, typer.Option("--demo", help="Serve the demo's database and properties (after `barometer demo`).")
    ] = False,
    database: Annotated[str | None, typer.Option(help="With --demo: the demo's database URL.")] = None,
) -> None:
    """Serve the analyst console (and the links digests carry) with uvicorn."""
    import uvicorn

    from worker.web import create_app

    settings = _settings()
    if database is not None and not demo_:
        raise InputError("--database: only with --demo (otherwise [storage] database_url applies)")
    if demo_:
        from worker.demo import DEMO_DATABASE, demo_settings

        settings = demo_settings(
            settings, outbox=Path(settings.outbox.dir), database_url=database or DEMO_DATABASE, emails=()
        )
    where_host, where_port = host or settings.web.host, port or settings.web.port
    typer.echo(f"barometer console on http://{where_host}:{where_port}/ (Ctrl+C stops it)")
    uvicorn.run(create_app(settings), host=where_host, port=where_port, log_level="warning")


@config_app.command("check")
def config_check() -> None:
    """Validate barometer.toml (and BAROMETER_* overrides); name the exact bad key."""
    from worker.settings import config_path

    path = config_path()
    settings = _settings()
    where = str(path) if path.exists() else "built-in defaults (no barometer.toml)"
    typer.echo(
        f"{where}: ok ({len(settings.properties)} properties, {len(settings.subscriptions)} subscriptions, "
        f"{len(settings.accounts)} accounts)"
    )
    typer.echo(describe_llm(settings))
    _describe_tuning(settings)


def _describe_tuning(settings: Settings) -> None:
    """The detection settings saved from the console's /tuning page (they win over the file)."""
    from sqlalchemy.engine import make_url

    from worker import tuning
    from worker.settings import ConfigError

    url = make_url(settings.storage.database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        typer.echo("tuning: none saved (no database yet)")  # checking the file never creates a database
        return
    try:
        engine = load_runtime(settings).engine
    except (ConfigError, OSError, sa_errors()) as exc:
        typer.echo(f"tuning: not read ({type(exc).__name__}: the database is not reachable or not migrated)")
        return
    lines = tuning.describe(engine)
    for line in lines or ["tuning: none saved from the console (barometer.toml's [detection] applies)"]:
        typer.echo(line)


def sa_errors() -> type[Exception]:
    import sqlalchemy.exc

    return sqlalchemy.exc.SQLAlchemyError


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the configured database to this version's schema."""
    from worker import db

    engine = db.create_engine(_settings().storage.database_url)
    db.upgrade(engine)
    typer.echo(f"database schema at revision {db.current_revision(engine)}")


@db_app.command("current")
def db_current() -> None:
    """Show the database's schema revision and the one this version needs."""
    from worker import db

    engine = db.create_engine(_settings().storage.database_url)
    typer.echo(json.dumps({"current": db.current_revision(engine), "head": db.head_revision()}))


def main() -> None:
    """Entry point: turn barometer's own errors into one line on stderr and exit status 1."""
    try:
        code = app(standalone_mode=False)  # a command's typer.Exit(n) comes back as n here
    except BarometerError as exc:  # ConfigError among them
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except (click.ClickException, typer.TyperException) as exc:  # typer >= 0.2x vendors its own click
        exc.show()  # type: ignore[union-attr]
        sys.exit(getattr(exc, "exit_code", 2))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except OSError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    if isinstance(code, int) and code:
        sys.exit(code)
