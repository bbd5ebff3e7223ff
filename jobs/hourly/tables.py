"""Tables of the hourly watch (migration ``0006_hourly_watch``).

* ``hourly_point``: one row per property x metric x series x local day, its 24 hourly
  values packed as little-endian float64 (NaN: no value), so eight weeks of 5,000 series
  are 280,000 rows per metric, not 6.7 million.
* ``hourly_incident``: what the hourly watch found and told: one row per finding it
  alerted on (``finding_id`` points at the ``finding`` row), the local window, when the
  alert went out and when the data recovered.
* ``hourly_quota``: per property and GA4 token budget, what the last response said is
  left and when (migration ``0008``).
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

__all__ = ["HourlyIncidentRow", "HourlyPointRow", "HourlyQuotaRow"]


class HourlyPointRow(SQLModel, table=True):
    __tablename__ = "hourly_point"
    __table_args__ = (sa.PrimaryKeyConstraint("property_id", "metric", "series", "day"),)

    property_id: int = Field(foreign_key="property.id")
    metric: str = Field(max_length=100)
    series: str = Field(max_length=1000)
    day: date
    #: 24 float64 values, little-endian; NaN marks an hour without a value.
    hours: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    #: The day is still being counted by the source (today, yesterday).
    incomplete: bool = False


class HourlyIncidentRow(SQLModel, table=True):
    __tablename__ = "hourly_incident"

    id: int | None = Field(default=None, primary_key=True)
    property_id: int = Field(foreign_key="property.id", index=True)
    finding_id: int = Field(foreign_key="finding.id", index=True)
    #: ``property|series|metric|direction``, as the alert log keys problems.
    problem_key: str = Field(max_length=1200)
    kind: str = Field(max_length=30)
    #: The local (property time zone) window the finding is about.
    start_local: datetime = Field(sa_column=sa.Column(sa.DateTime(), nullable=False))
    end_local: datetime = Field(sa_column=sa.Column(sa.DateTime(), nullable=False))
    realtime: bool = False
    found_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    #: First successful delivery of its alert (None: not told yet, or nobody wanted it).
    alerted_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    #: Local start of the first hour back to normal (None: still open).
    recovered_local: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime()))


class HourlyQuotaRow(SQLModel, table=True):
    """What GA4 last said is left of one token budget of a property (migration
    ``0008``): the next hourly run sends nothing while it is below the reserve."""

    __tablename__ = "hourly_quota"
    __table_args__ = (sa.PrimaryKeyConstraint("property_id", "budget"),)

    property_id: int = Field(foreign_key="property.id")
    #: ``tokens_per_day``, ``tokens_per_hour`` or ``tokens_per_project_per_hour``.
    budget: str = Field(max_length=50)
    remaining: int
    observed_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
