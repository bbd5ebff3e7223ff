"""Shared test fakes: small, real stand-ins for services we do not own.

- :mod:`tests.fakes.smtp`: :class:`~tests.fakes.smtp.SmtpServer`, a real aiosmtpd server on
  127.0.0.1 that records what arrived, plus :func:`~tests.fakes.smtp.self_signed_tls`.
- :mod:`tests.fakes.slack`: :class:`~tests.fakes.slack.FakeSlackWebhook`, a local HTTP server
  that answers like a Slack incoming webhook and records the JSON bodies.
- :mod:`tests.fakes.llm`: :class:`~tests.fakes.llm.FakeLLM`, local OpenAI-compatible and
  Anthropic endpoints answering faithfully, with invented numbers, injected instructions,
  malformed JSON, slowly, or with 429/500, as scripted.
- :mod:`tests.fakes.google`, :mod:`tests.fakes.google_ga4`, :mod:`tests.fakes.google_gsc`:
  local Google token endpoint, GA4 Data (+ Admin) API and Search Console API in the real
  wire format, driven through the real client libraries; :mod:`tests.fakes.google_world`
  starts them all and writes a ``barometer.toml`` pointing at them.

This module also builds sample domain values: :func:`sample_digest` (four findings with
contributors and charts, one of them on a hostile page name) and :func:`finding`, and
fakes of our own ports: :class:`RecordingChannel` (a Channel that records sends) and
:class:`Clock` (an injectable ``now``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta

from jobs.domain import (
    TOTAL_SERIES,
    Anomaly,
    ChartData,
    Contributor,
    Decomposition,
    Digest,
    Direction,
    Factor,
    Finding,
    Kind,
    Severity,
)

__all__ = [
    "CLICKS_BY_CTR",
    "DATA_DATE",
    "HOSTILE_PAGE",
    "Clock",
    "RecordingChannel",
    "chart",
    "ctr_drop",
    "finding",
    "sample_digest",
]

DATA_DATE = date(2026, 11, 18)
#: A page path a visitor could create: it must come out escaped everywhere.
HOSTILE_PAGE = "<script>alert(1)</script>"


def chart(*, last: float, expected: float, days: int = 28, end: date = DATA_DATE) -> ChartData:
    """A flat history around ``expected`` (+-3%), ending in ``last``, with a +-15% band."""
    dates = tuple(end - timedelta(days=days - 1 - i) for i in range(days))
    exp = tuple(expected for _ in dates)
    actual = (*(expected * (1.03 if i % 2 else 0.97) for i in range(days - 1)), last)
    return ChartData(
        dates=dates,
        actual=actual,
        expected=exp,
        lower=tuple(e * 0.85 for e in exp),
        upper=tuple(e * 1.15 for e in exp),
    )


def finding(
    *,
    metric: str = "sessions",
    series: str = TOTAL_SERIES,
    observed: float = 590.0,
    expected: float = 1000.0,
    severity: Severity = Severity.HIGH,
    kind: Kind = Kind.DROP,
    contributors: Sequence[Contributor] = (),
    with_chart: bool = True,
    property: str = "shop",
    finding_id: int | None = None,
    decomposition: Decomposition | None = None,
) -> Finding:
    """One finding on ``DATA_DATE``; direction follows from observed vs expected."""
    anomaly = Anomaly(
        property=property,
        series=series,
        metric=metric,
        day=DATA_DATE,
        observed=observed,
        expected=expected,
        lower=expected * 0.85,
        upper=expected * 1.15,
        p_value=1e-6,
        q_value=1e-4,
        direction=Direction.DOWN if observed < expected else Direction.UP,
        kind=kind,
    )
    return Finding(
        anomaly=anomaly,
        severity=severity,
        contributors=tuple(contributors),
        chart=chart(last=observed, expected=expected) if with_chart else None,
        id=finding_id,
        decomposition=decomposition,
    )


#: Clicks down 57% because the CTR fell 53% (0.95% instead of 2.02%) on 6% fewer impressions.
CLICKS_BY_CTR = Decomposition(
    "clicks", 113.0, 263.34, (Factor("impressions", 11857.0, 12617.09), Factor("ctr", 113.0 / 11857.0, 0.0208716))
)


def ctr_drop(series: str = "query:running shoes", *, decomposition: Decomposition | None = CLICKS_BY_CTR) -> Finding:
    """The CTR finding of :data:`CLICKS_BY_CTR` on ``series`` (a rate change)."""
    ctr = CLICKS_BY_CTR.factors[1]
    return finding(
        metric="ctr",
        series=series,
        observed=ctr.observed,
        expected=ctr.expected,
        kind=Kind.RATE_CHANGE,
        decomposition=decomposition,
    )


def sample_digest(*, findings: Sequence[Finding] | None = None, digest_id: int | None = 7) -> Digest:
    """A digest for subscription "marketing" on shop: by default four findings (key events
    down 98%, sessions down 41%, a hostile landing page, a query spike), each with a chart."""
    if findings is None:
        findings = (
            finding(
                metric="keyEvents",
                observed=4.0,
                expected=200.0,
                severity=Severity.CRITICAL,
                kind=Kind.OUTAGE,
                finding_id=101,
                contributors=(
                    Contributor("landingPage:/checkout", 1.0, 150.0, 0.76),
                    Contributor("landingPage:/pricing", 3.0, 46.0, 0.22),
                ),
            ),
            finding(
                observed=590.0,
                expected=1000.0,
                severity=Severity.HIGH,
                finding_id=102,
                contributors=(
                    Contributor("sessionDefaultChannelGroup:Organic Search", 210.0, 520.0, 0.75),
                    Contributor("sessionDefaultChannelGroup:Paid Search", 160.0, 250.0, 0.22),
                ),
            ),
            finding(
                series=f"landingPage:{HOSTILE_PAGE}",
                observed=12.0,
                expected=310.0,
                severity=Severity.MEDIUM,
                finding_id=103,
                contributors=(Contributor(f"sessionSource:{HOSTILE_PAGE} & co", 2.0, 150.0, 0.5),),
            ),
            finding(
                metric="clicks",
                series="query:running shoes",
                observed=900.0,
                expected=300.0,
                severity=Severity.MEDIUM,
                kind=Kind.SPIKE,
                finding_id=104,
                property="shop-gsc",
            ),
        )
    return Digest(
        subscription="marketing",
        data_date=DATA_DATE,
        properties=("shop",),
        findings=tuple(findings),
        headline="Key events collapsed on shop; sessions fell by 41%",
        summary="Key events nearly stopped on 18 Nov, most likely a tracking break.\n\nOrganic sessions fell too.",
        generated_at=datetime(2026, 11, 20, 7, 0, tzinfo=UTC),
        summariser="template",
        notices=("Search Console data for 2026-11-18 is still provisional.",),
        id=digest_id,
    )


class RecordingChannel:
    """A :class:`alerts.channels.Channel` that records sends (thread-safe) and can be told to fail.

    ``failures[recipient]`` is raised on every send to that recipient until removed;
    ``sent`` lists ``(digest_id, recipient)`` for each successful send, in order.
    """

    def __init__(self, name: str = "email", *, on_send: Callable[[], None] | None = None) -> None:
        self.name = name
        self.sent: list[tuple[int | None, str]] = []
        self.failures: dict[str, Exception] = {}
        self._on_send = on_send
        self._lock = threading.Lock()

    def send(self, digest: Digest, *, recipient: str) -> None:
        if self._on_send is not None:
            self._on_send()
        failure = self.failures.get(recipient)
        if failure is not None:
            raise failure
        with self._lock:
            self.sent.append((digest.id, recipient))


class Clock:
    """An injectable ``now`` that only moves when told to."""

    def __init__(self, start: datetime = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta
