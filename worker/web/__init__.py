"""The analyst console and the endpoints that messages link to (``barometer web``).

An entry point like the CLI and the Celery worker: :func:`worker.web.app.create_app` builds
the ASGI application from the validated settings; uvicorn serves it. Same database as the
worker.
"""

from worker.web.app import create_app

__all__ = ["create_app"]
