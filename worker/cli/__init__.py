"""The ``barometer`` command line (an entry point, like the Celery worker and the web console).

:mod:`worker.cli.app` builds the typer app from the command groups of this package.
"""

from worker.cli.app import app, main

__all__ = ["app", "main"]
