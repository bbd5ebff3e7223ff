"""hourly watch: what GA4 last said is left of each token budget, per property

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

``hourly_quota`` lets every hourly run start from what the previous ones learned: a run
sends no Data API request while a budget is known to be below the daily run's reserve.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hourly_quota",
        sa.Column("property_id", sa.Integer(), nullable=False),
        sa.Column("budget", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["property_id"], ["property.id"]),
        sa.PrimaryKeyConstraint("property_id", "budget"),
    )


def downgrade() -> None:
    op.drop_table("hourly_quota")
