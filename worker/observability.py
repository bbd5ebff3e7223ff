"""Observability: structured logs and Sentry error reporting that never leaks a secret.

* :func:`configure_logging` sets up the root logger once per process: JSON lines for
  containers (``ts``, ``level``, ``logger``, ``message`` plus every ``extra=`` field), a
  plain one-line format for terminals. Calling it again replaces its own handler.
* :func:`init_sentry` turns Sentry on when the environment variable named by
  ``[sentry] dsn_env`` holds a DSN, and does nothing otherwise. Every event and
  transaction passes through a :class:`Scrubber` first, which replaces with
  ``[Filtered]``: the values of all environment variables named by the settings' ``*_env``
  keys (SMTP password, LLM API key, Slack webhooks, the DSN itself), anything shaped like a
  Slack webhook URL, passwords inside URLs, ``Bearer`` credentials, and the values of
  keys that name a credential (``Authorization``, ``password``, ``token``, ``api_key``,
  ``secret``...), wherever they appear: message, exception values, breadcrumbs, extra,
  contexts, request, frame variables.

Cron check-ins: ``CeleryIntegration(monitor_beat_tasks=True)`` reports an in-progress /
ok / error check-in for every task that beat schedules (celery-redbeat included); the
monitor slug is the beat entry's name, and Sentry creates the monitor on first use.
Work started outside beat (e.g. ``barometer run`` from a system cron) can wrap itself in
:func:`monitor`.

PII: ``send_default_pii`` is deliberately *not* passed. sentry-sdk 2.x deprecates the
option, and its default (unset) already means "no user IP, no cookies, no request
bodies", with the SDK's own denylist scrubber kept active underneath ours.
"""

from __future__ import annotations

import json as _json
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pydantic import BaseModel

from worker.settings import ConfigError, Settings, secret

__all__ = [
    "FILTERED",
    "LEVELS",
    "JsonFormatter",
    "Scrubber",
    "configure_logging",
    "init_sentry",
    "monitor",
    "settings_secrets",
]

FILTERED = "[Filtered]"
#: The levels configure_logging accepts (Celery registers extra ones; they are not offered).
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
PLAIN_FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"

logger = logging.getLogger(__name__)

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
_CORE_FIELDS = ("ts", "level", "logger", "message")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (UTC ISO 8601), ``level``, ``logger``, ``message``,
    then the record's ``extra`` fields (non-JSON values as ``str``), then ``exc_info`` /
    ``stack_info`` as text when present. Core fields win over extras of the same name."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRS and key not in _CORE_FIELDS and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            payload["stack_info"] = self.formatStack(record.stack_info)
        return _json.dumps(payload, default=str, ensure_ascii=False)


class _BarometerHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler :func:`configure_logging` owns, so a second call replaces it."""


def configure_logging(*, level: str = "INFO", json: bool = False) -> None:
    """Send all logging to stderr at ``level``: JSON lines when ``json``, else plain text.

    Idempotent: the root logger ends up with exactly one barometer handler however often
    this is called; handlers installed by others (pytest, Celery) are left alone.
    Raises ValueError naming the accepted levels when ``level`` is unknown.
    """
    wanted = level.strip().upper()
    if wanted not in LEVELS:
        raise ValueError(f"unknown log level {level!r}; expected one of {', '.join(LEVELS)}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _BarometerHandler)]:
        root.removeHandler(old)
        old.close()
    handler = _BarometerHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json else logging.Formatter(PLAIN_FORMAT))
    root.addHandler(handler)
    root.setLevel(wanted)


# --- Sentry ----------------------------------------------------------------------------

_SENSITIVE_KEY = re.compile(r"authorization|password|passwd|passphrase|token|api[_-]?key|secret|cookie|dsn", re.I)
_SOURCE_KEYS = frozenset({"context_line", "pre_context", "post_context"})
_TEXT_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # Slack incoming webhooks: the URL itself is the credential.
    (re.compile(r"(?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/[^\s'\"<>)\]]+", re.I), FILTERED),
    # scheme://user:password@host -> keep the user, drop the password.
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s/]+(@)", re.I), rf"\1{FILTERED}\2"),
    (re.compile(r"\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}", re.I), rf"\1 {FILTERED}"),
)
# ``password=hunter2`` / ``"api_key": "abc"`` in free text (not applied to source code lines).
_KEY_VALUE = re.compile(
    r"([A-Za-z_-]*(?:authorization|password|passwd|token|api[_-]?key|secret)[A-Za-z_-]*[\"']?\s*[:=]\s*[\"']?)"
    r"(?!\[Filtered\]|(?:bearer|basic|token)\s)[^\s\"',;&)}\]]+",
    re.I,
)


class Scrubber:
    """A ``before_send`` / ``before_send_transaction`` hook that filters secrets in place.

    ``secrets`` are literal values replaced wherever they occur in any string of the
    event; the empty string is ignored. Returns the same event (never drops one).
    """

    def __init__(self, *, secrets: Iterable[str] = ()) -> None:
        values = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._literal = re.compile("|".join(re.escape(v) for v in values)) if values else None

    def __call__(self, event: Any, hint: Any = None) -> Any:
        return self._walk(event, source=False)

    def text(self, value: str, *, source: bool = False) -> str:
        """``value`` with every secret it contains replaced by ``[Filtered]``."""
        if self._literal is not None:
            value = self._literal.sub(FILTERED, value)
        for pattern, replacement in _TEXT_RULES:
            value = pattern.sub(replacement, value)
        return value if source else _KEY_VALUE.sub(rf"\1{FILTERED}", value)

    def _walk(self, node: Any, *, source: bool) -> Any:
        if isinstance(node, str):
            return self.text(node, source=source)
        if isinstance(node, dict):
            for key in list(node):
                if isinstance(key, str) and _SENSITIVE_KEY.search(key) and node[key] not in (None, "", FILTERED):
                    node[key] = FILTERED
                else:
                    node[key] = self._walk(node[key], source=key in _SOURCE_KEYS)
            return node
        if isinstance(node, list):
            node[:] = [self._walk(item, source=source) for item in node]
            return node
        if isinstance(node, tuple):
            return tuple(self._walk(item, source=source) for item in node)
        return node


def settings_secrets(settings: Settings) -> tuple[str, ...]:
    """The current values of every environment variable a ``*_env`` setting names (set ones only)."""
    return tuple(
        value.get_secret_value() for name in sorted(set(_env_names(settings))) if (value := secret(name)) is not None
    )


def _env_names(node: Any) -> Iterator[str]:
    if isinstance(node, BaseModel):
        for field_name in type(node).model_fields:
            value = getattr(node, field_name)
            if field_name.endswith("_env") and isinstance(value, str) and value:
                yield value
            else:
                yield from _env_names(value)
    elif isinstance(node, tuple | list):
        for item in node:
            yield from _env_names(item)
    elif isinstance(node, dict):
        for item in node.values():
            yield from _env_names(item)


def _default_release() -> str | None:
    try:
        return f"barometer@{version('barometer')}"
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return None


def init_sentry(settings: Settings, *, release: str | None = None) -> bool:
    """Start the Sentry SDK if ``$<sentry.dsn_env>`` holds a DSN; return whether it did.

    Without a DSN nothing is initialised and False is returned. Secret values are read from
    the environment once, here; call this after the environment is final. A malformed DSN
    raises :class:`ConfigError` naming the variable (never its value).
    """
    env_name = settings.sentry.dsn_env
    dsn = secret(env_name)
    if dsn is None:
        logger.info("Sentry is off: %s is not set", env_name)
        return False
    # the SDK and its Celery integration (~0.3 s) only when there is a DSN to report to
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration
    from sentry_sdk.utils import BadDsn

    scrubber = Scrubber(secrets=settings_secrets(settings))
    try:
        sentry_sdk.init(
            dsn=dsn.get_secret_value(),
            environment=settings.sentry.environment,
            release=release or _default_release(),
            traces_sample_rate=settings.sentry.traces_sample_rate,
            integrations=[
                CeleryIntegration(monitor_beat_tasks=True),
                LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
            ],
            before_send=scrubber,
            before_send_transaction=scrubber,
        )
    except BadDsn:
        raise ConfigError(f"{env_name}: not a valid Sentry DSN (expected https://KEY@HOST/PROJECT_ID)") from None
    logger.info("Sentry is on: environment=%s", settings.sentry.environment)
    return True


def monitor(slug: str) -> AbstractContextManager[None]:
    """Context manager (or decorator) sending Sentry cron check-ins for ``slug``:
    ``in_progress`` on entry, then ``ok`` or ``error`` with the duration. A no-op while
    Sentry is off. Beat-scheduled Celery tasks are already monitored; use this for work
    started by something else."""
    from sentry_sdk.crons import monitor as sentry_monitor

    return sentry_monitor(monitor_slug=slug)
