"""Option parsing shared by the CLI modules."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from jobs.errors import InputError

if TYPE_CHECKING:
    from worker.runtime import Runtime
    from worker.settings import Settings

__all__ = ["date_option", "load_runtime", "load_settings"]


def load_settings() -> Settings:
    """:func:`worker.settings.load_settings`, imported when a command runs: pydantic and the
    settings tree are not loaded for ``barometer --help``."""
    from worker.settings import load_settings as load

    return load()


def load_runtime(settings: Settings | None = None) -> Runtime:
    """The command's :class:`~worker.runtime.Runtime` (of ``settings``, default the loaded ones):
    a command builds one and hands it to the use cases it runs."""
    from worker.runtime import build

    return build(settings if settings is not None else load_settings())


def date_option(value: str | None, option: str) -> date | None:
    """``value`` as a date, None when absent; a one-line error naming ``option`` otherwise."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{option}: {value!r} is not a date in YYYY-MM-DD form") from None
