"""Typed values that flow through a run.

``Observation`` (one stored point) -> ``MetricPanel`` (many series of one metric on one
date axis, the unit detection vectorises over) -> ``Anomaly`` -> ``Finding`` ->
``Digest`` -> ``Delivery``. All are frozen; "nothing" is ``None`` or an empty tuple.
"""

from __future__ import annotations

import builtins
import enum
import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "COUNT_METRICS",
    "RATE_DENOMINATORS",
    "RATE_METRICS",
    "TOTAL_SERIES",
    "Anomaly",
    "ChartData",
    "Contributor",
    "DataDate",
    "Decomposition",
    "Delivery",
    "DeliveryStatus",
    "Digest",
    "Direction",
    "Factor",
    "Finding",
    "HeldBack",
    "Incident",
    "Kind",
    "LLMCall",
    "LLMOutcome",
    "Label",
    "MetricPanel",
    "Observation",
    "Ongoing",
    "PointFlag",
    "PropertySpec",
    "Severity",
]

if TYPE_CHECKING:
    FloatArray = npt.NDArray[np.float64]
else:

    def __getattr__(name: str) -> Any:
        # numpy is imported where arrays are made, not by every process that names a type
        # (`barometer --help`, `import worker.tasks`)
        if name == "FloatArray":
            import numpy as np
            import numpy.typing as npt

            return npt.NDArray[np.float64]
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Metrics that are counts of events (overdispersed, non-negative integers).
COUNT_METRICS: frozenset[str] = frozenset(
    {
        "sessions",
        "totalUsers",
        "activeUsers",
        "newUsers",
        "keyEvents",
        "conversions",
        "screenPageViews",
        "eventCount",
        "engagedSessions",
        "transactions",
        "ecommercePurchases",
        "addToCarts",
        "checkouts",
        "itemsViewed",
        "itemsPurchased",
        "totalPurchasers",
        "firstTimePurchasers",
        "clicks",
        "impressions",
    }
)

#: Proportions and the count each is a share of (its denominator): CTR of impressions,
#: GA4's per-session rates of sessions, per-user rates of users. Scored as binomial
#: proportions with their denominators when the file holds both (values as fractions).
RATE_DENOMINATORS: dict[str, str] = {
    "ctr": "impressions",
    "sessionKeyEventRate": "sessions",
    "sessionConversionRate": "sessions",
    "keyEventRate": "sessions",
    "conversionRate": "sessions",
    "engagementRate": "sessions",
    "bounceRate": "sessions",
    "userKeyEventRate": "totalUsers",
    "userConversionRate": "totalUsers",
}
RATE_METRICS: frozenset[str] = frozenset(RATE_DENOMINATORS)

#: The series name of a property's total (every other series is a breakdown child).
TOTAL_SERIES = "total"


class Direction(enum.StrEnum):
    UP = "up"
    DOWN = "down"


class Kind(enum.StrEnum):
    SPIKE = "spike"
    DROP = "drop"
    LEVEL_SHIFT = "level_shift"
    #: A tracking break: the metric collapsed to (near) zero.
    OUTAGE = "outage"
    #: A rate (CTR, position, conversion rate) moved while its volume did not.
    RATE_CHANGE = "rate_change"


class Label(enum.StrEnum):
    """An analyst's verdict on a finding (``barometer feedback``)."""

    #: Real, but known and explained (a campaign, a holiday): keep it out of future baselines.
    EXPECTED = "expected"
    #: Not a real change: counted as a false alarm in backtests.
    FALSE_ALARM = "false_alarm"
    #: A real change worth the alert.
    CONFIRMED = "confirmed"


class Severity(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    def at_least(self, other: Severity) -> bool:
        return self.rank >= other.rank


_SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}


class PointFlag(enum.IntFlag):
    """Data-quality marks on a stored point; detection skips flagged points."""

    NONE = 0
    INCOMPLETE = 1  # the source has not finished counting this day
    THRESHOLDED = 2  # GA4 withheld small rows
    SAMPLED = 4
    OTHER_ROW = 8  # GA4 "(other)" bucket
    EXCLUDED = 16  # labelled "expected" by an analyst: keep out of baselines


@dataclass(frozen=True, slots=True)
class PropertySpec:
    """One watched property, as the pipeline needs it (no credentials)."""

    name: str
    source: str  # ga4 | gsc | csv | demo
    id: str = ""
    account: str = ""
    timezone: str = "UTC"
    metrics: tuple[str, ...] = ()
    breakdowns: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Observation:
    """One value of one metric of one series on one day."""

    property: str
    series: str
    metric: str
    day: date
    value: float
    flags: PointFlag = PointFlag.NONE


@dataclass(frozen=True)
class MetricPanel:
    """Many series of one metric over one contiguous date axis.

    ``values[i, j]`` is series ``series[i]`` on ``dates[j]``; NaN means missing or
    excluded. ``last_final`` is the newest date the source has finished counting.
    """

    property: str
    metric: str
    series: tuple[str, ...]
    dates: tuple[date, ...]
    values: FloatArray
    last_final: date

    def __post_init__(self) -> None:
        expected = (len(self.series), len(self.dates))
        if self.values.shape != expected:
            raise ValueError(f"values has shape {self.values.shape}, expected {expected}")

    def row(self, series: str) -> FloatArray:
        row: FloatArray = self.values[self.series.index(series)]
        return row


@dataclass(frozen=True, slots=True)
class Anomaly:
    """A statistically unusual value of one series and metric on one day."""

    property: str
    series: str
    metric: str
    day: date
    observed: float
    expected: float
    lower: float
    upper: float
    p_value: float
    q_value: float | None
    direction: Direction
    kind: Kind

    @builtins.property  # the field named ``property`` shadows the builtin here
    def change(self) -> float:
        """Relative change against expectation (-0.42 is 42% below)."""
        if self.expected == 0:
            return float("inf") if self.observed > 0 else 0.0
        return (self.observed - self.expected) / self.expected


@dataclass(frozen=True, slots=True)
class Contributor:
    """A child series and its share of its parent's change (shares sum to about 1)."""

    series: str
    observed: float
    expected: float
    share: float


def _relative(observed: float, expected: float) -> float:
    if expected == 0:
        return float("inf") if observed > 0 else 0.0
    return (observed - expected) / expected


@dataclass(frozen=True, slots=True)
class Factor:
    """One factor of a product metric, e.g. ``impressions`` or ``ctr`` of clicks."""

    name: str
    observed: float
    expected: float

    @property
    def change(self) -> float:
        """Relative change against expectation (-0.26 is 26% below)."""
        return _relative(self.observed, self.expected)


@dataclass(frozen=True, slots=True)
class Decomposition:
    """A product metric split into its two factors on the finding's day:
    ``keyEvents = sessions x conversion rate``, ``clicks = impressions x ctr``."""

    metric: str
    observed: float
    expected: float
    factors: tuple[Factor, ...]

    @property
    def change(self) -> float:
        return _relative(self.observed, self.expected)

    @property
    def driver(self) -> Factor:
        """The factor that moved the product most, i.e. the one that drove the change.

        For a volume and a rate (every product here: ``clicks = impressions x ctr``), the
        volume's effect is the product's log change at the expected rate (expected product x
        observed / expected volume) and the rate's effect is the rest, on counts smoothed by
        0.5: clicks that fell to 0 because a page lost its impressions (0 clicks of 13) were
        driven by the impressions, not by a CTR that "fell 100%". Otherwise (or without a
        usable expectation) the factor with the largest log change.
        """
        if len(self.factors) == 2:
            volume, rate = self.factors
            values = (self.observed, self.expected, volume.observed, volume.expected)
            if all(math.isfinite(v) for v in values) and self.expected > 0 and volume.expected > 0:
                at_rate = self.expected * max(volume.observed, 0.0) / volume.expected
                by_volume = abs(_smoothed_log(at_rate, self.expected))
                by_rate = abs(_smoothed_log(self.observed, at_rate))
                return volume if by_volume >= by_rate else rate

        def size(f: Factor) -> float:
            if f.expected <= 0 or f.observed <= 0:
                return float("inf") if f.observed != f.expected else 0.0
            return abs(math.log(f.observed / f.expected))

        return max(self.factors, key=size)

    @property
    def ranked(self) -> tuple[Factor, ...]:
        """The factors, the :attr:`driver` first (then in their own order)."""
        driver = self.driver
        return (driver, *(f for f in self.factors if f is not driver))


def _smoothed_log(observed: float, expected: float) -> float:
    """Log change of a count, both sides plus 0.5 (so a zero is a large, finite move)."""
    return math.log((max(observed, 0.0) + 0.5) / (max(expected, 0.0) + 0.5))


@dataclass(frozen=True, slots=True)
class ChartData:
    """What a finding's chart shows: actual against the expected band."""

    dates: tuple[date, ...]
    actual: tuple[float, ...]
    expected: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Finding:
    """An anomaly worth telling someone about, with its explanation."""

    anomaly: Anomaly
    severity: Severity
    contributors: tuple[Contributor, ...] = ()
    chart: ChartData | None = None
    id: int | None = None
    #: Which factor of a product metric drove the change (None: not a ratio metric).
    decomposition: Decomposition | None = None

    @property
    def drivers(self) -> Decomposition | None:
        """The decomposition a reader is told about: that of the finding's own metric (clicks
        split into impressions and CTR), or of a product this finding's metric drove (a CTR
        drop that took the clicks with it). None when there is none, lacks a value, or only says
        that another factor drove the product (sessions down 38% while key events fell to zero
        for a lack of conversions: the key events finding tells that)."""
        d = self.decomposition
        if d is None or not d.factors:
            return None
        values = (d.observed, d.expected, *(v for f in d.factors for v in (f.observed, f.expected)))
        if any(math.isnan(v) for v in values):  # a value that was not stored: nothing to tell
            return None
        metric = self.anomaly.metric
        return d if metric in (d.metric, d.driver.name) else None

    @property
    def dedupe_key(self) -> str:
        a = self.anomaly
        return f"{a.property}|{a.series}|{a.metric}|{a.kind.value}|{a.direction.value}"


@dataclass(frozen=True, slots=True)
class Incident:
    """Findings on one property and day that share a cause, told as one item.

    ``findings[0]`` leads (the headline); the rest are its parts, most important first.
    ``suppressed`` are findings this incident explains and that are therefore not alerted
    on their own (the drops a tracking break causes). ``note`` is shown with the item,
    e.g. "escalated: was -40% on 2026-11-18" or "already alerted at 06:12 UTC".
    """

    findings: tuple[Finding, ...]
    suppressed: tuple[Finding, ...] = ()
    note: str = ""
    #: When an earlier alert told it (hourly watch), e.g. "alerted at 10:40 (hourly watch)":
    #: the digest then shows it in one line instead of in full.
    alerted: str = ""

    def __post_init__(self) -> None:
        if not self.findings:
            raise ValueError("an Incident needs at least one finding")

    @property
    def lead(self) -> Finding:
        return self.findings[0]

    @property
    def parts(self) -> tuple[Finding, ...]:
        return self.findings[1:]

    @property
    def severity(self) -> Severity:
        return max((f.severity for f in self.findings), key=lambda s: s.rank)


@dataclass(frozen=True, slots=True)
class HeldBack:
    """A finding a digest does not alert on, and the reason it shows for it
    ("ongoing: alerted on 2026-11-18", "muted until ...", "suppressed because ...")."""

    finding: Finding
    reason: str


@dataclass(frozen=True, slots=True)
class DataDate:
    """The newest day a property's source has finished counting, as a digest reports it."""

    property: str
    source: str  # ga4 | gsc | csv | demo-ga4 ...
    through: date


@dataclass(frozen=True, slots=True)
class Ongoing:
    """A sustained change still open on a digest's day.

    A level shift or outage opens an incident; it stays open while the series stays at
    least half as far off its old level as when it opened, until it recovers or an analyst
    accepts the new level (``barometer feedback ID --label expected``). ``finding`` opened
    it; ``observed`` is the metric's value on ``day``, the digest's data date.
    """

    finding: Finding
    observed: float
    day: date

    @property
    def change(self) -> float:
        """Today's value against the level before the change (-0.41: 41% below)."""
        expected = self.finding.anomaly.expected
        return self.observed / expected - 1.0 if expected else 0.0

    @property
    def days(self) -> int:
        """Which day of the incident ``day`` is (1 on the day it opened)."""
        return (self.day - self.finding.anomaly.day).days + 1


@dataclass(frozen=True, slots=True)
class Digest:
    """What one subscription is told about one data date.

    ``findings`` are the findings shown, in order. ``incidents`` groups them (empty: each
    finding is its own item); ``held_back`` lists what is deliberately not alerted, with
    the reason. ``immediate`` marks an alert sent right after a run rather than the daily
    digest. ``scheduled_day`` is the day a scheduled digest is for (its identity with the
    subscription; None for alerts, follow-ups and digests of an explicit date);
    ``missing`` names the properties it went out without; ``ongoing`` lists the incidents
    still open on ``data_date`` that are not news today (a digest with any is never "all
    quiet").
    """

    subscription: str
    data_date: date
    properties: tuple[str, ...]
    findings: tuple[Finding, ...]
    headline: str
    summary: str
    generated_at: datetime
    summariser: str = "template"
    notices: tuple[str, ...] = ()
    id: int | None = None
    incidents: tuple[Incident, ...] = ()
    held_back: tuple[HeldBack, ...] = ()
    immediate: bool = False
    scheduled_day: date | None = None
    missing: tuple[str, ...] = ()
    #: Each property's data date and source, so a reader is told why the dates differ.
    sources: tuple[DataDate, ...] = ()
    ongoing: tuple[Ongoing, ...] = ()
    #: Days the digest covers, ending on ``data_date`` (7: a weekly summary).
    period_days: int = 1
    #: A weekly summary's problems seen earlier in the period and back to normal since
    #: (each one's last finding).
    recovered: tuple[Finding, ...] = ()


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # permanently: will not be retried


@dataclass(frozen=True, slots=True)
class Delivery:
    """One digest to one recipient over one channel."""

    digest_id: int
    channel: str
    recipient: str
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    error: str = ""
    sent_at: datetime | None = None
    id: int | None = None


class LLMOutcome(enum.StrEnum):
    OK = "ok"  # the answer passed the fact check and was used
    REJECTED = "rejected"  # the answer was malformed or failed the fact check
    ERROR = "error"  # the call failed (timeout, HTTP error, no key)
    FALLBACK = "fallback"  # the template summary was used instead (the reason in detail)


@dataclass(frozen=True, slots=True)
class LLMCall:
    """One language-model call (or the decision to fall back), as audited in ``llm_call``."""

    provider: str
    model: str
    prompt_version: str
    outcome: LLMOutcome
    created_at: datetime
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    latency_ms: int = 0
    detail: str = ""
    digest_id: int | None = None
    id: int | None = None
