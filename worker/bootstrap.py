"""The composition root: the one place that picks concrete adapters from settings.

Everything else receives small protocols (``MetricSource``, ``Summariser``, ``Channel``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from alerts.channels import (
    Channel,
    DirectoryChannel,
    SlackApiChannel,
    SlackWebhookChannel,
    SmtpChannel,
    UnavailableChannel,
    WebhookChannel,
)
from alerts.outbox import Target
from alerts.render.links import Links
from alerts.signing import Signer
from jobs.domain import PropertySpec
from jobs.ports import LanguageModel, MetricSource, Summariser
from jobs.sources.demo import DemoSource
from jobs.storage.llm_calls import SqlCallLog
from jobs.summary.llm import LLMSummariser
from jobs.summary.prompt import Task
from jobs.summary.providers import AnthropicModel, OpenAIChatModel
from jobs.summary.template import TemplateSummariser
from worker import clock as process_clock
from worker import db
from worker.clock import clock_for
from worker.settings import ConfigError, Settings, SubscriptionSettings, secret
from worker.settings_llm import LLMEndpointSettings

__all__ = ["channels_for", "engine", "forget_engine", "language_model", "source_for", "summariser_for"]

_engines: dict[str, sa.Engine] = {}
_engines_lock = threading.Lock()

#: Days each source needs to finish counting a day (GA4 about 2, Search Console about 3).
SOURCE_DELAY_DAYS = {"ga4": 2, "gsc": 3}


def engine(settings: Settings) -> sa.Engine:
    """The process's engine for the configured database, schema checked once.

    SQLite (the embedded default) is migrated automatically; a server database must be
    migrated explicitly with ``barometer db upgrade`` (compose runs it as a one-shot).
    """
    url = settings.storage.database_url
    with _engines_lock:
        if url not in _engines:
            created = db.create_engine(url)
            if created.dialect.name == "sqlite":
                db.upgrade(created)
            else:
                current, head = db.current_revision(created), db.head_revision()
                if current != head:
                    created.dispose()
                    raise ConfigError(
                        f"storage.database_url: the schema is at revision {current or 'none'}, this version needs "
                        f"{head}; run `barometer db upgrade`"
                    )
            _engines[url] = created
        return _engines[url]


def forget_engine(url: str) -> None:
    """Dispose of the cached engine for ``url`` (its database is about to be replaced)."""
    with _engines_lock:
        cached = _engines.pop(url, None)
    if cached is not None:
        cached.dispose()


def source_for(
    spec: PropertySpec, *, today: date, settings: Settings | None = None, db: sa.Engine | None = None
) -> MetricSource:
    """The metric source of one property (``settings`` is needed for GA4 and Search Console:
    accounts, endpoints, limits; ``db`` is their engine, default :func:`engine`). Clients are
    built lazily, at the first request."""
    if spec.source == "demo":
        delay = SOURCE_DELAY_DAYS.get(spec.id or "ga4", 2)
        return DemoSource(anchor=today - timedelta(days=delay))
    if spec.source in ("ga4", "gsc") and settings is not None:
        from worker.google import clients as google_clients  # the Google libraries load only when used

        build = google_clients.ga4_source if spec.source == "ga4" else google_clients.gsc_source
        return build(settings, spec, today=today, engine=db or engine(settings))
    raise ConfigError(
        f"properties: source {spec.source!r} of property {spec.name!r} cannot be fetched by this version "
        "(use source = 'demo', or load data with `barometer import`)"
    )


def language_model(endpoint: LLMEndpointSettings, *, task: Task = "digest") -> LanguageModel:
    """The SDK client of one ``[llm]`` endpoint for ``task``; its key read from ``api_key_env``.

    Gemini, xAI, Ollama and ``openai_compatible`` endpoints are reached through the openai
    SDK at their OpenAI-compatible base URLs; Anthropic through the anthropic SDK.
    """
    common = {
        "provider": endpoint.provider,
        "model": endpoint.model_for(task),
        "base_url": endpoint.base_url,
        "api_key": secret(endpoint.api_key_env),
        "key_name": endpoint.api_key_env,
        "timeout": endpoint.timeout_seconds,
        "max_retries": endpoint.max_retries,
        "temperature": endpoint.temperature,
    }
    if endpoint.provider == "anthropic":
        return AnthropicModel(**common)
    return OpenAIChatModel(json_mode=endpoint.json_mode, **common)


def summariser_for(
    settings: Settings, subscription: SubscriptionSettings, *, task: Task = "digest", db: sa.Engine | None = None
) -> Summariser:
    """The summariser of a subscription's digests (``task="digest"``) or real-time alerts (``"alert"``).

    Without ``[llm] provider`` it is the deterministic template. Otherwise an
    :class:`LLMSummariser` over the failover chain (``[llm]`` then ``[[llm.fallbacks]]``,
    each with its model for ``task``), recording every call in the database and falling
    back to the template. ``db`` is where calls are recorded (default :func:`engine`).
    """
    template = TemplateSummariser(properties=subscription.properties)
    llm = settings.llm
    chain = llm.chain()
    if not chain:
        return template
    return LLMSummariser(
        models=[language_model(endpoint, task=task) for endpoint in chain],
        calls=SqlCallLog(db or engine(settings)),
        fallback=template,
        prices=llm.price_table(),
        task=task,
        properties=subscription.properties,
        monthly_budget_usd=llm.monthly_budget_usd,
        max_prompt_tokens=llm.max_prompt_tokens,
        max_findings=llm.max_findings,
        max_contributors=llm.max_contributors,
        max_output_tokens=llm.max_output_tokens,
    )


#: Report links of the demo's synthetic properties (example ids: the demo's data is made up).
_DEMO_REPORTS = {"ga4": ("ga4", "properties/123456789"), "gsc": ("gsc", "sc-domain:shop.example")}


def link_signer(settings: Settings) -> Signer | None:
    """The signer of the links messages carry, or None without a (long enough) secret."""
    key = secret(settings.web.link_secret_env)
    if key is None or len(key.get_secret_value()) < 16:
        return None
    return Signer(key.get_secret_value().encode("utf-8"), ttl=timedelta(days=settings.web.link_ttl_days))


def links_for(settings: Settings, *, now: datetime | None = None, clock: Callable[[], datetime] | None = None) -> Links:
    """What messages link to: each property's Google report, and (with ``web.public_url`` and
    a link secret) signed feedback, chart and full-list links of ``barometer web``, signed as
    of ``now`` (else ``clock()``, read at each signing: links kept by a long-lived runtime
    stay current)."""
    reports: dict[str, tuple[str, str]] = {}
    for p in settings.properties:
        if p.source in ("ga4", "gsc") and p.id:
            reports[p.name] = (p.source, p.id)
        elif p.source == "demo" and p.id in _DEMO_REPORTS:
            reports[p.name] = _DEMO_REPORTS[p.id]
    public = settings.web.public_url
    signer = link_signer(settings) if public else None
    return Links(public_url=public, signer=signer, now=now, reports=reports, clock=clock or process_clock.now)


def channels_for(
    settings: Settings, subscription: SubscriptionSettings, *, clock: Callable[[], datetime] | None = None
) -> tuple[dict[str, Channel], list[Target]]:
    """The channels and delivery targets of a subscription (links signed by ``clock``, default
    the one ``[clock]`` names).

    * ``email`` over SMTP when ``[smtp] host`` is set, else each address's digest is
      written to ``[outbox] dir`` (one ``.eml`` per recipient);
    * ``slack`` (incoming webhook), ``slack_api`` (bot token + channel) and ``webhook``
      (generic JSON) when configured. A configured variable that is empty gives a
      channel that fails permanently and says so (recorded, logged at ERROR, named in the
      next digest), never a silent skip;
    * with no target at all, or none that can work, the digest goes to ``[outbox] dir``.
    """
    channels: dict[str, Channel] = {}
    targets: list[Target] = []
    smtp = settings.smtp
    links = links_for(settings, clock=clock or clock_for(settings))
    if subscription.email and smtp.host:
        channels["email"] = SmtpChannel(
            host=smtp.host,
            port=smtp.port,
            sender=smtp.sender,
            username=smtp.username,
            password=secret(smtp.password_env),
            starttls=smtp.starttls,
            ssl=smtp.ssl,
            timeout=smtp.timeout_seconds,
            links=links,
        )
        targets += [Target("email", address) for address in subscription.email]
    if subscription.slack_webhook_env:
        url = secret(subscription.slack_webhook_env)
        channels["slack"] = (
            SlackWebhookChannel(url=url, timeout=settings.slack.timeout_seconds, links=links)
            if url
            else _missing("slack", subscription.slack_webhook_env)
        )
        targets.append(Target("slack", subscription.slack_webhook_env))
    if subscription.slack_bot_token_env:
        token = secret(subscription.slack_bot_token_env)
        channels["slack_api"] = (
            SlackApiChannel(
                token=token, base_url=settings.slack.api_url, timeout=settings.slack.timeout_seconds, links=links
            )
            if token
            else _missing("slack_api", subscription.slack_bot_token_env)
        )
        targets.append(Target("slack_api", subscription.slack_channel))
    if subscription.webhook_url_env:
        hook = secret(subscription.webhook_url_env)
        channels["webhook"] = (
            WebhookChannel(
                url=hook, secret=secret(subscription.webhook_secret_env), timeout=settings.webhook.timeout_seconds
            )
            if hook
            else _missing("webhook", subscription.webhook_url_env)
        )
        targets.append(Target("webhook", subscription.webhook_url_env))
    files = [Target("file", address) for address in subscription.email if not smtp.host]
    if not files and not any(not isinstance(channels[t.channel], UnavailableChannel) for t in targets):
        files = [Target("file", address) for address in subscription.email] or [Target("file", "digest")]
    if files:
        channels["file"] = DirectoryChannel(directory=Path(settings.outbox.dir), sender=smtp.sender, links=links)
        targets += files
    return channels, targets


def _missing(channel: str, env: str) -> UnavailableChannel:
    return UnavailableChannel(channel, reason=f"environment variable {env} is not set")
