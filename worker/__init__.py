"""The barometer process: Celery app, beat schedule, tasks, settings, CLI.

``celery -A worker worker|beat`` finds the app as ``worker.app``. It is created on first
access, so importing this package (as the CLI does) loads no Celery and connects nowhere.
"""

from __future__ import annotations

from typing import Any

__all__ = ["app"]


def __getattr__(name: str) -> Any:
    if name in ("app", "celery"):
        from worker.celery_app import app

        return app
    raise AttributeError(f"module 'worker' has no attribute {name!r}")
