"""metric_point keyed by (property, metric, day, series): one B-tree instead of three

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

Every read of points is by property, metric and a range of days (a panel load reads the
whole window of every series). The table was keyed by (property, metric, series, day)
with a covering index in (property, metric, day, series) order beside it, so each point
was written into three B-trees on SQLite (the rowid table, the key, the index) and two on
PostgreSQL. Now the key itself is in day order and the covering index is gone:

- SQLite: a ``WITHOUT ROWID`` table clustered on the key, so the table is the index a panel
  load reads in (metric, day) order, and a bulk import appends to one B-tree.
- PostgreSQL: the key ``INCLUDE (value, flags)`` so a panel load is an index-only scan;
  ``metric`` and ``series`` compare as ``COLLATE "C"`` (byte order: a bulk import sorts its
  rows in key order without the locale's slow string comparisons, and the key's B-tree
  grows at its end).

The key's columns are the same set as before, so uniqueness and every
``ON CONFLICT (property_id, metric, series, day)`` are unchanged.

The foreign key to ``property`` goes: PostgreSQL checks it with one trigger query per
inserted row, which cost three times the whole rest of a bulk import (12 s of 17 s for
1.8M points). Properties are never deleted, and the two writers of points check once per
write that the property exists (``jobs.storage.bulk``, ``jobs.storage.repo``).
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_COLUMNS = "property_id, metric, series, day, value, flags"


def _sqlite_rebuild(*, day_first: bool) -> None:
    key = "property_id, metric, day, series" if day_first else "property_id, metric, series, day"
    op.execute(
        "CREATE TABLE metric_point_new ("
        "property_id INTEGER NOT NULL" + ("" if day_first else " REFERENCES property (id)") + ", "
        "metric VARCHAR(100) NOT NULL, series VARCHAR(1000) NOT NULL, day DATE NOT NULL, "
        "value FLOAT NOT NULL, flags INTEGER NOT NULL, "
        f"PRIMARY KEY ({key}))" + (" WITHOUT ROWID" if day_first else "")
    )
    op.execute(f"INSERT INTO metric_point_new ({_COLUMNS}) SELECT {_COLUMNS} FROM metric_point ORDER BY {key}")
    op.execute("DROP TABLE metric_point")
    op.execute("ALTER TABLE metric_point_new RENAME TO metric_point")
    if not day_first:
        op.execute(
            "CREATE INDEX ix_metric_point_metric_day ON metric_point (property_id, metric, day, series, value, flags)"
        )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_rebuild(day_first=True)
        return
    op.execute("DROP INDEX IF EXISTS ix_metric_point_metric_day")
    op.execute("ALTER TABLE metric_point DROP CONSTRAINT metric_point_property_id_fkey")
    op.execute("ALTER TABLE metric_point DROP CONSTRAINT metric_point_pkey")
    op.execute(
        'ALTER TABLE metric_point ALTER COLUMN metric TYPE VARCHAR(100) COLLATE "C", '
        'ALTER COLUMN series TYPE VARCHAR(1000) COLLATE "C"'
    )
    op.execute(
        "ALTER TABLE metric_point ADD CONSTRAINT metric_point_pkey "
        "PRIMARY KEY (property_id, metric, day, series) INCLUDE (value, flags)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_rebuild(day_first=False)
        return
    op.execute("ALTER TABLE metric_point DROP CONSTRAINT metric_point_pkey")
    op.execute(
        "ALTER TABLE metric_point ALTER COLUMN metric TYPE VARCHAR(100) COLLATE \"default\", "
        "ALTER COLUMN series TYPE VARCHAR(1000) COLLATE \"default\""
    )
    op.execute(
        "ALTER TABLE metric_point ADD CONSTRAINT metric_point_pkey PRIMARY KEY (property_id, metric, series, day)"
    )
    op.execute(
        "CREATE INDEX ix_metric_point_metric_day ON metric_point (property_id, metric, day, series, value, flags)"
    )
    op.execute(
        "ALTER TABLE metric_point ADD CONSTRAINT metric_point_property_id_fkey "
        "FOREIGN KEY (property_id) REFERENCES property (id)"
    )
