"""Tables of the analyst console (migration ``0009``).

* ``web_user``: who may sign in to the console, with an argon2 password hash and a role
  (viewer < analyst < admin).
* ``web_session``: signed-in browsers. The cookie carries a random token; only its SHA-256
  is stored, so a copy of the database signs no one in. Ending a session (``/logout``,
  ``barometer users remove``) deletes the row.
* ``api_token``: tokens for scripts calling ``/api/...`` (``barometer tokens create``),
  stored as SHA-256 like sessions.
* ``audit_log``: every change made through the console or the user commands: who, what,
  when, and the object it touched.
* ``tuning``: detection settings saved from ``/tuning`` for one property x metric. They
  apply on top of ``barometer.toml``'s ``[detection]`` (the file gives the defaults, the
  console's saved values win) and are listed by ``barometer config check``.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

__all__ = ["ApiTokenRow", "AuditRow", "TuningRow", "WebSessionRow", "WebUserRow"]


class WebUserRow(SQLModel, table=True):
    __tablename__ = "web_user"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=sa.Column(sa.String(200), unique=True, nullable=False))
    role: str = Field(max_length=10)  # viewer | analyst | admin
    password_hash: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class WebSessionRow(SQLModel, table=True):
    __tablename__ = "web_session"

    token_hash: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    user_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("web_user.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    csrf: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class ApiTokenRow(SQLModel, table=True):
    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=sa.Column(sa.String(200), unique=True, nullable=False))
    token_hash: str = Field(sa_column=sa.Column(sa.String(64), unique=True, nullable=False))
    role: str = Field(default="viewer", max_length=10)
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class AuditRow(SQLModel, table=True):
    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    actor: str = Field(max_length=200)
    action: str = Field(max_length=50)
    target: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    detail: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, index=True))


class TuningRow(SQLModel, table=True):
    __tablename__ = "tuning"
    __table_args__ = (sa.UniqueConstraint("property", "metric", name="uq_tuning_property_metric"),)

    id: int | None = Field(default=None, primary_key=True)
    property: str = Field(max_length=200)
    metric: str = Field(max_length=100)
    sensitivity: float
    min_change_pct: float
    direction: str = Field(max_length=4)  # both | up | down
    saved_by: str = Field(max_length=200)
    saved_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
