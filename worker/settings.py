"""Settings: ``barometer.toml`` plus ``BAROMETER_<SECTION>__<KEY>`` environment overrides.

This is the only module that reads configuration. Secrets never live in the file: keys
ending in ``_env`` name the environment variable that holds them, and
:func:`secret` resolves them into a :class:`pydantic.SecretStr` at start-up.
"""

from __future__ import annotations

import os
import re
import tomllib
from contextvars import ContextVar
from dataclasses import replace
from datetime import date, time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from jobs.detection.params import DetectionParams, DirectionFilter, MetricParams, metric_defaults
from jobs.domain import Kind, PropertySpec, Severity
from jobs.errors import BarometerError
from jobs.sources.names import GSC_DIMENSIONS, GSC_METRICS
from worker.settings_hourly import HourlySettings
from worker.settings_llm import LLMSettings

__all__ = [
    "ConfigError",
    "Settings",
    "config_path",
    "load_settings",
    "secret",
]

DEFAULT_METRICS: dict[str, tuple[str, ...]] = {
    "ga4": ("sessions", "totalUsers", "keyEvents"),
    "gsc": ("clicks", "impressions", "position"),  # ctr is derived from clicks / impressions
    "csv": (),
}


class ConfigError(BarometerError):
    """The configuration is invalid; the message names the file, the key and the reason."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {value!r} (use an IANA name such as 'Europe/Berlin')") from None
    return value


class StorageSettings(_Section):
    database_url: str = "sqlite:///barometer.db"


class BrokerSettings(_Section):
    url: str = "redis://localhost:6379/0"
    #: Lock timeout of the single active beat (celery-redbeat), seconds.
    beat_lock_timeout: int = Field(default=300, ge=10)


class SMTPSettings(_Section):
    host: str = ""
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    ssl: bool = False
    username: str = ""
    sender: str = "barometer@example.com"
    password_env: str = "SMTP_PASSWORD"  # noqa: S105 (the variable's name, not a password)
    timeout_seconds: float = Field(default=30.0, gt=0)


class GoogleSettings(_Section):
    ga4_endpoint: str = ""
    gsc_endpoint: str = ""
    token_uri: str = ""
    #: GA4 Admin API base URL (``barometer properties discover``).
    admin_endpoint: str = ""
    #: Google's consent page that ``barometer accounts add --oauth`` sends users to.
    auth_uri: str = ""
    #: The OAuth client (type "Desktop app") that ``barometer accounts add --oauth`` signs users in with.
    oauth_client_id: str = ""
    oauth_client_secret_env: str = "GOOGLE_OAUTH_CLIENT_SECRET"  # noqa: S105 (a variable's name)
    #: Environment variable holding the Fernet key(s) that encrypt stored refresh tokens.
    secret_key_env: str = "BAROMETER_SECRET_KEY"  # noqa: S105 (a variable's name)
    timeout_seconds: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=5, ge=0, le=10)
    #: Stop fetching from a GA4 property when fewer quota tokens than this are left.
    ga4_min_tokens_left: int = Field(default=2000, ge=0)
    #: Search Console requests per minute, per site and per account (Google allows 1,200).
    gsc_queries_per_minute: int = Field(default=1200, ge=1, le=1200)

    @field_validator("ga4_endpoint", "gsc_endpoint", "token_uri", "admin_endpoint", "auth_uri")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value.rstrip("/")


class SentrySettings(_Section):
    dsn_env: str = "SENTRY_DSN"
    environment: str = "production"
    traces_sample_rate: float = Field(default=0.0, ge=0.0, le=1.0)


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    #: JSON lines (for containers and log shippers) instead of plain text.
    json_lines: bool = False


class SlackSettings(_Section):
    #: Base URL of the Slack Web API (chat.postMessage); "" means https://slack.com/api/.
    api_url: str = ""
    timeout_seconds: float = Field(default=10.0, gt=0)


class WebhookSettings(_Section):
    timeout_seconds: float = Field(default=10.0, gt=0)


class WebSettings(_Section):
    """The analyst console and the links messages carry (``barometer web``)."""

    #: Address the console is served on, as recipients reach it (e.g. https://barometer.example.com).
    #: Links in digests and Slack (feedback, charts) point here; "" means none are put in messages.
    #: An https:// address also makes session cookies Secure.
    public_url: str = ""
    #: Environment variable holding the secret that signs the links in messages (feedback
    #: buttons, chart images, the full list); at least 16 characters. Unset: no such links.
    link_secret_env: str = "BAROMETER_LINK_SECRET"  # noqa: S105 (a variable's name)
    #: How many days a signed link in a message keeps working.
    link_ttl_days: int = Field(default=14, ge=1, le=365)
    host: str = "127.0.0.1"
    port: int = Field(default=8040, ge=1, le=65535)
    #: Google Workspace domain whose users may "Sign in with Google" (e.g. "example.com"),
    #: with the OAuth client of ``[google] oauth_client_id``; "" hides the button.
    google_domain: str = ""
    #: Role of a user created at their first Google sign-in (an admin changes it later).
    google_role: Literal["viewer", "analyst"] = "viewer"

    @field_validator("google_domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        value = value.strip().lower()
        if value and not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+", value):
            raise ValueError(f"expected a domain name such as example.com, got {value!r}")
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        if value and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value.rstrip("/")


class OutboxSettings(_Section):
    #: Where digests are written when a subscription has no email or Slack configured.
    dir: str = "./outbox"


class ClockSettings(_Section):
    """Where every barometer process reads the time (:mod:`worker.clock`).

    ``"system"`` (the default, and the only sensible value in production) is the wall clock.
    ``"file:/path"`` reads an ISO 8601 time from that file on every call: fault-injection
    tests move the time of every worker and beat process at once by rewriting it.
    """

    source: str = "system"

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        if value != "system" and not (value.startswith("file:") and len(value) > len("file:")):
            raise ValueError(f"expected 'system' or 'file:/path/to/clock', got {value!r}")
        return value


class DeliverySettings(_Section):
    """How the outbox is driven (see README, "Exactly once")."""

    #: A delivery still pending this many hours after it was created is logged at ERROR and
    #: named in the subscription's next digest (it is still retried).
    pending_alert_hours: float = Field(default=6.0, gt=0)
    #: ``barometer.flush_outbox`` runs this often (seconds): it attempts every due pending
    #: delivery of any digest.
    flush_every_seconds: float = Field(default=300.0, ge=1)
    #: The deliver task re-checks its pending deliveries after this many seconds, doubling
    #: each time up to 600.
    retry_seconds: float = Field(default=30.0, ge=0.1)
    #: Transient failures of one delivery before it is failed for good.
    max_attempts: int = Field(default=5, ge=1, le=50)


class AccountSettings(_Section):
    name: str
    kind: Literal["service_account", "oauth"] = "service_account"
    key_file: str = ""


class PropertySettings(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    source: Literal["ga4", "gsc", "csv", "demo"]
    id: str = ""
    account: str = ""
    timezone: str = "UTC"
    metrics: tuple[str, ...] = ()
    breakdowns: tuple[str, ...] = ()
    #: Watch this property by the hour too (beat entry ``hourly:{name}``, see ``[hourly]``).
    hourly: bool = False
    #: Breakdowns also watched by the hour (each costs a report per run); default: totals only.
    hourly_breakdowns: tuple[str, ...] = ()
    #: ISO 3166 country whose public holidays (and the days around Christmas and New Year)
    #: this property's traffic follows ("DE", "US"); "" for none.
    country: str = ""

    _tz = field_validator("timezone")(_check_timezone)

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        from jobs.detection.holidays import known_country

        if value and not known_country(value):
            raise ValueError(f"unknown country {value!r} (use an ISO 3166 code such as 'DE' or 'US')")
        return value.upper()

    @model_validator(mode="after")
    def _google_ids(self) -> PropertySettings:
        if self.hourly and self.source not in ("ga4", "gsc"):
            raise ValueError(
                f"hourly: only GA4 and Search Console properties can be watched by the hour, not {self.source!r}"
            )
        for name in self.hourly_breakdowns:
            if name not in self.breakdowns:
                raise ValueError(
                    f"hourly_breakdowns: {name!r} is not one of this property's breakdowns {list(self.breakdowns)}"
                )
        if self.source == "ga4" and self.id and not re.fullmatch(r"properties/\d+", self.id):
            raise ValueError(f"id: expected 'properties/<number>' for a GA4 property, got {self.id!r}")
        if self.source == "gsc":
            if self.id and not re.match(r"sc-domain:\S+$|https?://\S+$", self.id):
                raise ValueError(f"id: expected 'sc-domain:<host>' or a URL prefix 'https://<host>/', got {self.id!r}")
            for key, asked, known in (
                ("metrics", self.metrics, GSC_METRICS),
                ("breakdowns", self.breakdowns, GSC_DIMENSIONS),
            ):
                for name in asked:
                    if name not in known:
                        raise ValueError(
                            f"{key}: {name!r} is not a Search Console {key[:-1]} (choose from {', '.join(known)})"
                        )
        return self

    @property
    def _flavour(self) -> str:
        """The demo source imitates GA4 (``id = "ga4"``) or Search Console (``id = "gsc"``)."""
        if self.source == "demo":
            return "gsc" if self.id == "gsc" else "ga4"
        return self.source

    def spec(self) -> PropertySpec:
        return PropertySpec(
            name=self.name,
            source=self.source,
            id=self.id,
            account=self.account,
            timezone=self.timezone,
            metrics=self.metrics or DEFAULT_METRICS[self._flavour],
            breakdowns=self.breakdowns,
        )


class SubscriptionSettings(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    properties: tuple[str, ...] = Field(min_length=1)
    email: tuple[str, ...] = ()
    slack_webhook_env: str = ""
    digest_at: str = "08:00"
    timezone: str = "UTC"
    min_severity: Severity = Severity.MEDIUM
    #: Send an "all quiet" digest on days without findings (False: send nothing).
    quiet_digest: bool = True
    #: Slack Web API: environment variable holding a bot token (xoxb-...), and the channel.
    slack_bot_token_env: str = ""
    slack_channel: str = ""
    #: Generic JSON webhook: environment variables holding its URL and an HMAC secret.
    webhook_url_env: str = ""
    webhook_secret_env: str = ""
    #: Kinds alerted right after the run that found them, not at digest time.
    immediate: tuple[Kind, ...] = ()
    immediate_min_severity: Severity = Severity.CRITICAL
    #: An alerted problem seen again within this many days is not repeated (0: always repeat).
    dedup_days: int = Field(default=7, ge=0, le=90)
    #: Re-alert an ongoing problem when observed/expected moves this many times further from 1.
    escalation: float = Field(default=1.5, gt=1.0, le=100.0)
    #: When a digest went out without a property's data and a later run that day has it:
    #: send it once as a follow-up (False: the day's digest stays the only message).
    follow_up: bool = False
    #: "daily" digests, or a "weekly" summary (the week's incidents, what recovered, what is
    #: still open) sent on ``weekday`` at ``digest_at``.
    cadence: Literal["daily", "weekly"] = "daily"
    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"

    _tz = field_validator("timezone")(_check_timezone)

    @model_validator(mode="after")
    def _slack_bot(self) -> SubscriptionSettings:
        if self.slack_bot_token_env and not self.slack_channel:
            raise ValueError("slack_channel: required with slack_bot_token_env (the channel the bot posts to)")
        if self.slack_channel and not self.slack_bot_token_env:
            raise ValueError("slack_bot_token_env: required with slack_channel (the variable holding the bot token)")
        if self.webhook_secret_env and not self.webhook_url_env:
            raise ValueError("webhook_url_env: required when webhook_secret_env is set")
        return self

    @field_validator("digest_at")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError(f"expected HH:MM in 24-hour time, got {value!r}")
        return value

    @field_validator("email")
    @classmethod
    def _emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", address):
                raise ValueError(f"{address!r} is not an email address")
        return value

    @property
    def digest_time(self) -> time:
        hour, minute = self.digest_at.split(":")
        return time(int(hour), int(minute))


#: [detection] keys that are not per-metric knobs
_NOT_METRIC = ("metrics", "chunk_series")


class MetricDetectionSettings(_Section):
    sensitivity: float | None = Field(default=None, gt=0, lt=0.5)
    max_p_value: float | None = Field(default=None, gt=0, lt=0.5)
    min_volume: float | None = Field(default=None, ge=0)
    min_change_pct: float | None = Field(default=None, ge=0)
    min_change_abs: float | None = Field(default=None, ge=0)
    direction: DirectionFilter | None = None
    detection_delay_days: int | None = Field(default=None, ge=0, le=30)
    training_days: int | None = Field(default=None, ge=14, le=730)
    exclude_dates: tuple[date, ...] | None = None
    burst_ratio: float | None = Field(default=None, ge=0)
    cusum_threshold: float | None = Field(default=None, ge=0)
    slide_z: float | None = Field(default=None, ge=0)

    def apply(self, base: MetricParams) -> MetricParams:
        changes = {k: v for k, v in self.model_dump().items() if v is not None and k not in _NOT_METRIC}
        if "exclude_dates" in changes:
            changes["exclude_dates"] = tuple(changes["exclude_dates"])
        return MetricParams(**{**_params_dict(base), **changes})


def _params_dict(params: MetricParams) -> dict[str, Any]:
    return {name: getattr(params, name) for name in MetricParams.__slots__}


class DetectionSettings(MetricDetectionSettings):
    metrics: dict[str, MetricDetectionSettings] = Field(default_factory=dict)
    #: A property with more series than this (in its largest metric) is scored in chunks of
    #: at most this many series by several Celery workers at once; 0: never.
    chunk_series: int = Field(default=200_000, ge=0)

    def params(self) -> DetectionParams:
        defaults = self.apply(MetricParams())
        return DetectionParams(
            defaults=defaults,
            metrics={name: m.apply(metric_defaults(name, defaults)) for name, m in self.metrics.items()},
        )


_CONFIG_FILE: ContextVar[Path | None] = ContextVar("barometer_config_file", default=None)


class _TomlSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = _CONFIG_FILE.get()
        if path is None or not path.exists():
            return {}
        try:
            with path.open("rb") as handle:
                return tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None


class Settings(BaseSettings):
    """Everything barometer is configured with. Build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="BAROMETER_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    storage: StorageSettings = StorageSettings()
    broker: BrokerSettings = BrokerSettings()
    llm: LLMSettings = LLMSettings()
    smtp: SMTPSettings = SMTPSettings()
    google: GoogleSettings = GoogleSettings()
    sentry: SentrySettings = SentrySettings()
    outbox: OutboxSettings = OutboxSettings()
    slack: SlackSettings = SlackSettings()
    webhook: WebhookSettings = WebhookSettings()
    web: WebSettings = WebSettings()
    logging: LoggingSettings = LoggingSettings()
    clock: ClockSettings = ClockSettings()
    delivery: DeliverySettings = DeliverySettings()
    detection: DetectionSettings = DetectionSettings()
    hourly: HourlySettings = HourlySettings()
    accounts: tuple[AccountSettings, ...] = ()
    properties: tuple[PropertySettings, ...] = ()
    subscriptions: tuple[SubscriptionSettings, ...] = ()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))

    @model_validator(mode="after")
    def _references(self) -> Settings:
        _unique("accounts", [a.name for a in self.accounts])
        _unique("properties", [p.name for p in self.properties])
        _unique("subscriptions", [s.name for s in self.subscriptions])
        accounts = {a.name for a in self.accounts}
        for i, prop in enumerate(self.properties):
            if prop.source in ("ga4", "gsc"):
                if not prop.id:
                    raise ValueError(f"properties[{i}].id: required for source {prop.source!r}")
                if prop.account not in accounts:
                    raise ValueError(
                        f"properties[{i}].account: {prop.account!r} is not one of the [[accounts]] names "
                        f"{sorted(accounts)}"
                    )
        if self.web.google_domain and not self.google.oauth_client_id:
            raise ValueError(
                "web.google_domain: Google sign-in needs [google] oauth_client_id (a Web application client)"
            )
        names = {p.name for p in self.properties}
        for i, sub in enumerate(self.subscriptions):
            for prop_name in sub.properties:
                if prop_name not in names:
                    raise ValueError(
                        f"subscriptions[{i}].properties: {prop_name!r} is not one of the [[properties]] names "
                        f"{sorted(names)}"
                    )
        return self

    def detection_params(self) -> DetectionParams:
        """``[detection]``'s knobs, with each property's holiday country."""
        countries = {p.name: p.country for p in self.properties if p.country}
        return replace(self.detection.params(), countries=countries)

    def property(self, name: str) -> PropertySettings:
        for prop in self.properties:
            if prop.name == name:
                return prop
        raise ConfigError(
            f"no property named {name!r}; configured: {', '.join(p.name for p in self.properties) or 'none'}"
        )

    def account(self, name: str) -> AccountSettings:
        for account in self.accounts:
            if account.name == name:
                return account
        raise ConfigError(
            f"no account named {name!r}; configured: {', '.join(a.name for a in self.accounts) or 'none'}"
        )

    def subscription(self, name: str) -> SubscriptionSettings:
        for sub in self.subscriptions:
            if sub.name == name:
                return sub
        raise ConfigError(f"no subscription named {name!r}")


def _unique(section: str, names: list[str]) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise ValueError(f"{section}[{i}].name: {name!r} is used twice")
        seen.add(name)


def config_path() -> Path:
    return Path(os.environ.get("BAROMETER_CONFIG", "barometer.toml"))


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read and validate the configuration once; raise :class:`ConfigError` naming the key.

    ``path`` defaults to ``$BAROMETER_CONFIG`` or ``./barometer.toml``; a missing default
    file means built-in defaults, a missing explicit file is an error.
    """
    explicit = path is not None or "BAROMETER_CONFIG" in os.environ
    path = path or config_path()
    if explicit and not path.exists():
        raise ConfigError(f"{path}: no such configuration file")
    token = _CONFIG_FILE.set(path)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None
    finally:
        _CONFIG_FILE.reset(token)


def _describe(exc: ValidationError, path: Path) -> str:
    """Each problem named where it is: the ``BAROMETER_*`` variable that set the value, or
    ``path`` and the key (consecutive problems of one place share its prefix)."""
    problems: list[tuple[str, str]] = []
    for error in exc.errors():
        loc = _loc(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        got = error.get("input")
        where = _variable(error["loc"]) or str(path)
        if error["type"] == "extra_forbidden":
            problems.append((where, f"{loc}: unknown key"))
        elif loc and not message.startswith(loc.split(".")[0]):
            shown = isinstance(got, str | int | float | bool) and "got " not in message and repr(got) not in message
            suffix = f" (got {got!r})" if shown else ""
            key = "" if where != str(path) else f"{loc}: "
            problems.append((where, f"{key}{message}{suffix}"))
        else:
            problems.append((str(path), message))
    parts: list[str] = []
    previous = None
    for where, text in problems:
        parts.append(text if where == previous else f"{where}: {text}")
        previous = where
    return "; ".join(parts)


def _variable(loc: tuple[int | str, ...]) -> str | None:
    """The environment variable (as spelled in the environment) that set the value at
    ``loc``, e.g. ``BAROMETER_SMTP__PORT`` for ("smtp", "port"); None if the file did."""
    if not loc or not all(isinstance(part, str) for part in loc):
        return None
    wanted = ("BAROMETER_" + "__".join(str(part) for part in loc)).upper()
    return next((name for name in os.environ if name.upper() == wanted), None)


def _loc(parts: tuple[int | str, ...]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def secret(env_name: str) -> SecretStr | None:
    """The secret held by environment variable ``env_name``, or None when unset or empty."""
    value = os.environ.get(env_name, "") if env_name else ""
    return SecretStr(value) if value else None
