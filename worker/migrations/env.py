"""Alembic environment: runs on the connection handed over by worker.db.upgrade, or on
``sqlalchemy.url`` when invoked through the alembic command line."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

import jobs.hourly.tables  # registers the hourly watch's tables too
import jobs.storage.console  # registers the console's tables too
import jobs.storage.tables  # noqa: F401  (registers the tables on the metadata)
from jobs.storage.tables import SQLModel

target_metadata = SQLModel.metadata
config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    with engine.begin() as conn:
        _run(conn)
