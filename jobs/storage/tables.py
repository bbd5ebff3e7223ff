"""SQLModel tables: the state barometer keeps between runs.

Schema changes go through alembic (``worker/migrations``); never ``create_all`` in
production code. Uniqueness constraints carry the idempotency guarantees: re-running a
day upserts the same points, findings and digests, and a delivery row exists once per
digest x channel x recipient.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

__all__ = [
    "AlertLogRow",
    "DeliveryRow",
    "DigestLayoutRow",
    "DigestRow",
    "FeedbackRow",
    "FetchedDayRow",
    "FindingRow",
    "GoogleAccountRow",
    "JobRunRow",
    "LLMCallRow",
    "MetricPointRow",
    "MuteRow",
    "PropertyRow",
    "SQLModel",
]


class PropertyRow(SQLModel, table=True):
    __tablename__ = "property"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=sa.Column(sa.String(200), unique=True, nullable=False))
    source: str = Field(max_length=20)
    external_id: str = Field(default="", max_length=300)
    timezone: str = Field(default="UTC", max_length=64)
    #: Newest date fetched so far (incremental fetch starts after it, minus settling days).
    fetched_through: date | None = None
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class MetricPointRow(SQLModel, table=True):
    """One value of one series x metric x day. Written in bulk, upserted on the key."""

    __tablename__ = "metric_point"
    __table_args__ = (
        # in day order: every read is a property's metrics over a range of days (migration
        # 0010). SQLite clusters the table on the key (no rowid); PostgreSQL's key carries
        # the values (index-only panel loads) and compares names bytewise (COLLATE "C").
        sa.PrimaryKeyConstraint("property_id", "metric", "day", "series", postgresql_include=["value", "flags"]),
        {"sqlite_with_rowid": False},
    )

    #: no foreign key (migration 0010: PostgreSQL checked it row by row); the writers check
    #: once per write that the property exists
    property_id: int
    metric: str = Field(max_length=100)
    series: str = Field(max_length=1000)
    day: date
    value: float
    flags: int = 0


class FindingRow(SQLModel, table=True):
    __tablename__ = "finding"
    __table_args__ = (sa.UniqueConstraint("property_id", "day", "dedupe_key", name="uq_finding_day_key"),)

    id: int | None = Field(default=None, primary_key=True)
    property_id: int = Field(foreign_key="property.id", index=True)
    day: date = Field(index=True)
    series: str = Field(max_length=1000)
    metric: str = Field(max_length=100)
    kind: str = Field(max_length=30)
    direction: str = Field(max_length=4)
    severity: str = Field(max_length=10)
    observed: float
    expected: float
    lower: float
    upper: float
    p_value: float
    q_value: float | None = None
    dedupe_key: str = Field(max_length=1200)
    #: Contributors and chart data, JSON encoded (read back into domain values).
    detail: str = Field(default="{}", sa_column=sa.Column(sa.Text, nullable=False, server_default="{}"))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class DigestRow(SQLModel, table=True):
    """A digest or alert as planned, once per identity: a scheduled digest is unique on
    (subscription, scheduled_day); any other row (immediate alerts, follow-ups, digests of
    an explicit ``--date``) on (subscription, data_date)."""

    __tablename__ = "digest"
    __table_args__ = (
        sa.Index("uq_digest_scheduled", "subscription", "scheduled_day", unique=True),
        sa.Index(
            "uq_digest_unscheduled",
            "subscription",
            "data_date",
            unique=True,
            sqlite_where=sa.text("scheduled_day IS NULL"),
            postgresql_where=sa.text("scheduled_day IS NULL"),
        ),
        sa.Index("ix_digest_subscription_data_date", "subscription", "data_date"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subscription: str = Field(max_length=200)
    data_date: date
    headline: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    summary: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    summariser: str = Field(default="template", max_length=100)
    #: Property names it covers, JSON encoded.
    properties: str = Field(default="[]", sa_column=sa.Column(sa.Text, nullable=False))
    #: Ids of the findings it carries, JSON encoded, in order.
    finding_ids: str = Field(default="[]", sa_column=sa.Column(sa.Text, nullable=False))
    notices: str = Field(default="[]", sa_column=sa.Column(sa.Text, nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    #: The day (in the subscription's zone) a scheduled digest is for; None for other rows.
    scheduled_day: date | None = Field(default=None, sa_column=sa.Column(sa.Date, nullable=True))
    #: Properties it went out without (no fresh data), JSON encoded: candidates for a follow-up.
    missing: str = Field(default="[]", sa_column=sa.Column(sa.Text, nullable=False, server_default="[]"))


class DeliveryRow(SQLModel, table=True):
    """The outbox: written before sending, marked sent only after the channel succeeded."""

    __tablename__ = "delivery"
    __table_args__ = (sa.UniqueConstraint("digest_id", "channel", "recipient", name="uq_delivery_target"),)

    id: int | None = Field(default=None, primary_key=True)
    digest_id: int = Field(foreign_key="digest.id", index=True)
    channel: str = Field(max_length=50)
    recipient: str = Field(max_length=500)
    status: str = Field(default="pending", max_length=10, index=True)
    attempts: int = 0
    error: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    #: Not before this time (backoff after a transient failure); None: due now.
    next_attempt_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    #: Claimed by a sender until this time; a lease that ran out means the sender died.
    lease_until: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    sent_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    #: When it was reported (ERROR log, next digest) as pending for too long.
    overdue_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    #: Resends a person asked for (``barometer deliveries retry``), and the last one's time.
    requeues: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    requeued_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))


class LLMCallRow(SQLModel, table=True):
    __tablename__ = "llm_call"

    id: int | None = Field(default=None, primary_key=True)
    digest_id: int | None = Field(default=None, foreign_key="digest.id", index=True)
    provider: str = Field(max_length=50)
    model: str = Field(max_length=200)
    prompt_version: str = Field(default="", max_length=50)
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    latency_ms: int = 0
    outcome: str = Field(max_length=20)  # ok | rejected | error | fallback
    detail: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, index=True))


class FeedbackRow(SQLModel, table=True):
    __tablename__ = "feedback"

    id: int | None = Field(default=None, primary_key=True)
    finding_id: int = Field(foreign_key="finding.id", index=True)
    label: str = Field(max_length=20)  # expected | false_alarm | confirmed
    note: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class JobRunRow(SQLModel, table=True):
    """One unit of work (fetch, detect, digest, deliver) and how it ended."""

    __tablename__ = "job_run"

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=50, index=True)
    target: str = Field(max_length=200)  # property or subscription name
    data_date: date | None = None
    status: str = Field(max_length=10)  # running | ok | failed
    detail: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    started_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))


class GoogleAccountRow(SQLModel, table=True):
    """A Google account's authorisation: the encrypted OAuth refresh token (empty for a
    service account) and whether Google still accepts it."""

    __tablename__ = "google_account"

    name: str = Field(sa_column=sa.Column(sa.String(200), primary_key=True))
    kind: str = Field(max_length=20)  # oauth | service_account
    #: Fernet token of the refresh token; never stored or logged in the clear.
    refresh_token: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    client_id: str = Field(default="", max_length=300)
    scopes: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    status: str = Field(default="ok", max_length=20)  # ok | needs_reauth
    detail: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    authorised_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    failed_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    updated_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class FetchedDayRow(SQLModel, table=True):
    """A day of a property that a backfill has stored completely (resume point)."""

    __tablename__ = "fetched_day"
    __table_args__ = (sa.PrimaryKeyConstraint("property_id", "day"),)

    property_id: int = Field(foreign_key="property.id")
    day: date
    points: int = 0
    fetched_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class DigestLayoutRow(SQLModel, table=True):
    """How a digest presents its findings: incidents, suppressed and held-back findings.

    ``layout`` is JSON: ``{"incidents": [{"ids": [...], "suppressed": [...], "note": ""}],
    "held_back": [[finding_id, reason], ...]}``. Written in the transaction that stores the
    digest, so a digest and its layout exist together or not at all. ``kind`` is
    ``digest`` or ``alert`` (an immediate alert); ``subscription`` is the subscription's
    own name (an alert's digest row carries ``{subscription}/alert/{property}``).
    """

    __tablename__ = "digest_layout"

    digest_id: int = Field(foreign_key="digest.id", primary_key=True)
    kind: str = Field(default="digest", max_length=10)
    subscription: str = Field(max_length=200, index=True)
    layout: str = Field(default="{}", sa_column=sa.Column(sa.Text, nullable=False, server_default="{}"))


class AlertLogRow(SQLModel, table=True):
    """What a subscription was told about a problem, day by day (append-only, idempotent).

    ``problem_key`` is ``property|series|metric|direction`` (the kind may change while a
    problem lasts: an outage becomes a level shift). ``via`` is ``digest`` or ``alert``
    (the problem was in that digest or immediate alert) or ``ongoing`` (seen again and
    held back). Whether it was *notified* is read from the digest's deliveries.
    """

    __tablename__ = "alert_log"
    __table_args__ = (sa.UniqueConstraint("subscription", "problem_key", "day", "via", name="uq_alert_log_entry"),)

    id: int | None = Field(default=None, primary_key=True)
    subscription: str = Field(max_length=200, index=True)
    problem_key: str = Field(max_length=1200)
    day: date = Field(index=True)
    via: str = Field(max_length=10)
    digest_id: int = Field(foreign_key="digest.id", index=True)
    finding_id: int = Field(foreign_key="finding.id")
    severity: str = Field(max_length=10)
    #: observed / expected of the finding (None when expected was 0).
    ratio: float | None = None
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class MuteRow(SQLModel, table=True):
    """A snooze: findings matching ``pattern`` are not alerted until ``until``.

    ``pattern`` is ``PROPERTY[/METRIC[/SERIES]]`` with shell-style wildcards;
    ``subscription`` "" applies to every subscription. ``removed_at`` is set by unmute.
    """

    __tablename__ = "mute"

    id: int | None = Field(default=None, primary_key=True)
    pattern: str = Field(max_length=1200)
    subscription: str = Field(default="", max_length=200)
    reason: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    until: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, index=True))
    removed_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
