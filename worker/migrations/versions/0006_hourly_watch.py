"""hourly watch: hourly points (a day's 24 values per row) and hourly incidents

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hourly_point",
        sa.Column("property_id", sa.Integer(), nullable=False),
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("series", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("hours", sa.LargeBinary(), nullable=False),
        sa.Column("incomplete", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["property_id"], ["property.id"]),
        sa.PrimaryKeyConstraint("property_id", "metric", "series", "day"),
    )
    op.create_table(
        "hourly_incident",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("property_id", sa.Integer(), nullable=False),
        sa.Column("finding_id", sa.Integer(), nullable=False),
        sa.Column("problem_key", sqlmodel.sql.sqltypes.AutoString(length=1200), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("start_local", sa.DateTime(), nullable=False),
        sa.Column("end_local", sa.DateTime(), nullable=False),
        sa.Column("realtime", sa.Boolean(), nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recovered_local", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["finding_id"], ["finding.id"]),
        sa.ForeignKeyConstraint(["property_id"], ["property.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("hourly_incident", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hourly_incident_property_id"), ["property_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_hourly_incident_finding_id"), ["finding_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("hourly_incident", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hourly_incident_finding_id"))
        batch_op.drop_index(batch_op.f("ix_hourly_incident_property_id"))
    op.drop_table("hourly_incident")
    op.drop_table("hourly_point")
