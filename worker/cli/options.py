"""Option parsing shared by the CLI modules."""

from __future__ import annotations

from datetime import date

from jobs.errors import InputError

__all__ = ["date_option"]


def date_option(value: str | None, option: str) -> date | None:
    """``value`` as a date, None when absent; a one-line error naming ``option`` otherwise."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{option}: {value!r} is not a date in YYYY-MM-DD form") from None
