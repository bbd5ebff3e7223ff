"""The Celery application: ``celery -A worker worker`` and ``celery -A worker beat``.

Importing this module creates the app and connects nowhere. Its configuration is built
from :func:`worker.settings.load_settings` the first time it is needed (a worker or beat
starting, a task being sent), once per process; :func:`configure` replaces it (tests, or
a process that loaded settings itself).

Delivery guarantees: tasks are acknowledged late and re-queued if a worker dies, so a
task may run twice; every task is idempotent (the service layer's unique keys), which is
what makes that safe. One prefetched task per process keeps a long property run from
holding others hostage. Exactly one beat runs: see :mod:`worker.beat`.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from celery import Celery, signals

from worker import clock
from worker.beat import build_hourly_schedule, build_schedule
from worker.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from worker.runtime import Runtime

__all__ = [
    "TASK_SOFT_TIME_LIMIT",
    "TASK_TIME_LIMIT",
    "BarometerCelery",
    "app",
    "celery_config",
    "configure",
    "get_runtime",
    "get_settings",
]

log = logging.getLogger(__name__)

#: Seconds a task may run before SoftTimeLimitExceeded is raised inside it (prefork pool).
TASK_SOFT_TIME_LIMIT = 15 * 60
#: Seconds after which the worker process running a task is killed (prefork pool).
TASK_TIME_LIMIT = TASK_SOFT_TIME_LIMIT + 60
#: Redis re-delivers an unacknowledged task after this many seconds. It must exceed the
#: hard time limit and the longest retry countdown (600 s), or a task would run twice at once.
VISIBILITY_TIMEOUT = 2 * 60 * 60

_settings: Settings | None = None
_runtime: Runtime | None = None
_settings_lock = threading.Lock()


def get_settings() -> Settings:
    """The process's settings: loaded on first use, or the ones given to :func:`configure`."""
    global _settings  # noqa: PLW0603  # the process-wide settings, set once
    with _settings_lock:
        if _settings is None:
            _settings = load_settings()
        return _settings


def get_runtime() -> Runtime:
    """The process's :class:`~worker.runtime.Runtime` (engine, sources, summarisers, channels),
    built on the first task that needs it, after the fork: a prefork child makes its own
    engine. :func:`configure` drops it; :func:`after_fork` disposes of an inherited one."""
    global _runtime  # noqa: PLW0603  # the process-wide runtime, built once
    settings = get_settings()
    with _settings_lock:
        if _runtime is None or _runtime.settings is not settings:
            from worker.runtime import build  # the engine and adapters load with the first task

            _runtime = build(settings)
        return _runtime


def after_fork(**_kwargs: Any) -> None:
    """In a new prefork child: drop the parent's pooled connections (never close them: they
    are the parent's) and build a fresh runtime on the first task."""
    global _runtime
    with _settings_lock:
        inherited, _runtime = _runtime, None
    if inherited is not None:
        inherited.engine.dispose(close=False)


def celery_config(settings: Settings) -> dict[str, Any]:
    """The Celery configuration for ``settings`` (pure)."""
    broker = settings.broker
    return {
        "broker_url": broker.url,
        "result_backend": broker.url,  # chords count their header results in Redis
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT},
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "task_soft_time_limit": TASK_SOFT_TIME_LIMIT,
        "task_time_limit": TASK_TIME_LIMIT,
        "timezone": "UTC",
        "enable_utc": True,
        "beat_schedule": {**build_schedule(settings), **build_hourly_schedule(settings)},
        "beat_scheduler": "worker.beat:ZonedRedBeatScheduler",
        # The lock is extended on every tick: tick well within its timeout.
        "beat_max_loop_interval": min(30, broker.beat_lock_timeout // 5),
        "redbeat_redis_url": broker.url,
        "redbeat_redis_options": {"retry_period": 60},
        "redbeat_lock_timeout": broker.beat_lock_timeout,
        "redbeat_key_prefix": "barometer:beat:",
    }


def configure(celery: Celery, settings: Settings) -> None:
    """Make ``settings`` the process's settings and configure ``celery`` from them.

    Connection pools already opened keep their broker; reconfigure before the first task
    is sent, or to the same broker (tests use one Redis database per process).
    """
    global _settings, _runtime
    with _settings_lock:
        _settings, _runtime = settings, None
    celery.conf.update(celery_config(settings))


def _startup_config() -> dict[str, Any]:
    # Evaluated when `celery -A worker ...` first reads the configuration: a bad
    # barometer.toml ends the process with its one-line reason, not a traceback.
    try:
        return celery_config(get_settings())
    except ConfigError as exc:
        raise SystemExit(f"barometer: {exc}") from None


class BarometerCelery(Celery):  # type: ignore[misc]  # celery ships no type information
    """Celery whose ``now()`` (what celery-redbeat picks due entries by) is :mod:`worker.clock`."""

    def now(self) -> Any:
        return clock.now().astimezone(self.timezone)


app = BarometerCelery("barometer", include=["worker.tasks", "worker.hourly_tasks"])
app.add_defaults(_startup_config)
signals.worker_process_init.connect(after_fork)


def _init_observability(**_kwargs: Any) -> None:
    """Clients are created inside the worker or beat process, never at import time."""
    from worker.observability import init_sentry

    init_sentry(get_settings())


# worker_init: every pool (in the main process); worker_process_init: each prefork child,
# whose Sentry transport thread does not survive the fork; beat_init: the beat process.
signals.worker_init.connect(_init_observability)
signals.worker_process_init.connect(_init_observability)
signals.beat_init.connect(_init_observability)


def _setup_logging(**_kwargs: Any) -> None:
    """Workers and beat log like the CLI: ``[logging] level`` and ``json_lines`` (connecting
    this signal also stops Celery from replacing the root logger's handlers)."""
    from worker.observability import configure_logging

    logging_settings = get_settings().logging
    configure_logging(level=logging_settings.level, json=logging_settings.json_lines)


signals.setup_logging.connect(_setup_logging)
