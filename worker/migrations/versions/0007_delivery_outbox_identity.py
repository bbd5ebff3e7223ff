"""delivery: a digest's identity is (subscription, scheduled day); outbox leases, overdue and resends

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

* ``digest.scheduled_day`` (+ unique index with the subscription): a scheduled digest is
  one per subscription and day, whatever dates its properties answered with. Other rows
  (immediate alerts, follow-ups, digests of an explicit date) stay unique on
  (subscription, data_date), now through a partial index.
* ``digest.missing``: the properties a digest went out without (follow-ups).
* ``delivery.lease_until``: a claim's lease, apart from the backoff in ``next_attempt_at``
  (a manual run skips a backoff, never a live lease). Rows claimed by the old code carry
  their lease in ``next_attempt_at``, which still holds them until it passes.
* ``delivery.overdue_at``, ``requeues``, ``requeued_at``: pending-too-long reports and
  resends asked for with ``barometer deliveries retry``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_UNSCHEDULED = sa.text("scheduled_day IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("digest", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scheduled_day", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("missing", sa.Text(), server_default="[]", nullable=False))
        batch_op.drop_constraint("uq_digest_subscription_day", type_="unique")
    op.create_index("uq_digest_scheduled", "digest", ["subscription", "scheduled_day"], unique=True)
    op.create_index(
        "uq_digest_unscheduled",
        "digest",
        ["subscription", "data_date"],
        unique=True,
        sqlite_where=_UNSCHEDULED,
        postgresql_where=_UNSCHEDULED,
    )
    op.create_index("ix_digest_subscription_data_date", "digest", ["subscription", "data_date"], unique=False)
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("overdue_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("requeues", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("requeued_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_column("requeued_at")
        batch_op.drop_column("requeues")
        batch_op.drop_column("overdue_at")
        batch_op.drop_column("lease_until")
    op.drop_index("ix_digest_subscription_data_date", table_name="digest")
    op.drop_index("uq_digest_unscheduled", table_name="digest")
    op.drop_index("uq_digest_scheduled", table_name="digest")
    with op.batch_alter_table("digest", schema=None) as batch_op:
        batch_op.drop_column("missing")
        batch_op.drop_column("scheduled_day")
        batch_op.create_unique_constraint("uq_digest_subscription_day", ["subscription", "data_date"])
