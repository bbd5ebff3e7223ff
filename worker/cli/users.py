"""``barometer users ...`` and ``barometer tokens ...``: who may use the console and its API.

Passwords are read from standard input (``--password-stdin``), never from the command
line (which other users can see in the process list) nor from a prompt's echo.
"""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

from jobs.errors import InputError
from worker.cli.options import load_runtime

__all__ = ["tokens_app", "users_app"]

users_app = typer.Typer(help="Console users (sign-in names, roles, passwords).", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens for scripts calling /api/...", no_args_is_help=True)

_ROLES = "viewer (read), analyst (also label, mute, tune, retry) or admin"


def _role(text: str) -> object:
    from worker.web.users import Role

    try:
        return Role(text)
    except ValueError:
        raise InputError(f"--role: {text!r} is not one of viewer, analyst, admin") from None


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Sign-in name.")],
    role: Annotated[str, typer.Option(help=_ROLES)] = "analyst",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input (its first line).")
    ] = False,
) -> None:
    """Create a console user; the password (at least 10 characters) is stored as an argon2 hash."""
    from worker import audit
    from worker.web.users import Role, add_user

    chosen = _role(role)
    assert isinstance(chosen, Role)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass(f"password for {name}: ")
        if getpass.getpass("again: ") != password:
            raise InputError("the two passwords differ")
    else:
        raise InputError("give the password on standard input with --password-stdin")
    engine = load_runtime().engine
    now = datetime.now(UTC)
    user = add_user(engine, name, role=chosen, password=password, now=now)
    audit.record(
        engine, actor=audit.cli_actor(), action="user_add", target=f"user {user.name}", detail=user.role.value, now=now
    )
    typer.echo(f"user {user.name} added ({user.role.value})")


@users_app.command("list")
def users_list() -> None:
    """Console users and their roles."""
    from worker.web.users import list_users

    users = list_users(load_runtime().engine)
    if not users:
        typer.echo("no users (add one with `barometer users add NAME --role admin --password-stdin`)")
    for user in users:
        typer.echo(f"{user.name}  {user.role.value}  since {user.created_at:%Y-%m-%d}")


@users_app.command("remove")
def users_remove(name: Annotated[str, typer.Argument(help="Sign-in name.")]) -> None:
    """Delete a console user and end their sessions at once."""
    from worker import audit
    from worker.web.users import remove_user

    engine = load_runtime().engine
    removed = remove_user(engine, name)
    audit.record(
        engine, actor=audit.cli_actor(), action="user_remove", target=f"user {removed.name}", now=datetime.now(UTC)
    )
    typer.echo(f"user {removed.name} removed; their sessions are ended")


@tokens_app.command("create")
def tokens_create(
    name: Annotated[str, typer.Argument(help="What the token is for (e.g. the script's name).")],
    role: Annotated[str, typer.Option(help=_ROLES)] = "viewer",
) -> None:
    """Create an API token and print it once (send it as `Authorization: Bearer TOKEN`)."""
    from worker import audit
    from worker.web.users import Role, create_token

    chosen = _role(role)
    assert isinstance(chosen, Role)
    engine = load_runtime().engine
    now = datetime.now(UTC)
    token = create_token(engine, name, role=chosen, now=now)
    audit.record(
        engine, actor=audit.cli_actor(), action="token_create", target=f"token {name}", detail=chosen.value, now=now
    )
    typer.echo(token)
    typer.echo(f"token {name} ({chosen.value}) created; it is shown only now", err=True)


@tokens_app.command("list")
def tokens_list() -> None:
    """API tokens (names and roles; the tokens themselves are not stored)."""
    from worker.web.users import list_tokens

    found = list_tokens(load_runtime().engine)
    if not found:
        typer.echo("no tokens")
    for name, role, created in found:
        typer.echo(f"{name}  {role.value}  since {created:%Y-%m-%d}")


@tokens_app.command("remove")
def tokens_remove(name: Annotated[str, typer.Argument(help="The token's name.")]) -> None:
    """Revoke an API token at once."""
    from worker import audit
    from worker.web.users import remove_token

    engine = load_runtime().engine
    remove_token(engine, name)
    audit.record(engine, actor=audit.cli_actor(), action="token_remove", target=f"token {name}", now=datetime.now(UTC))
    typer.echo(f"token {name} removed")
