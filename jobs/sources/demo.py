"""A synthetic GA4 / Search Console source with realistic noise and known incidents.

Series naming (the project-wide convention): a property's total is
:data:`jobs.domain.TOTAL_SERIES` (``"total"``); a breakdown child is
``"{dimension}:{value}"``, e.g. ``"landingPage:/pricing"`` or ``"query:running shoes"``.
For counts, the children of one dimension sum to the total.

``spec.id`` picks the flavour: ``"ga4"`` (the default; sessions, totalUsers, keyEvents by
``sessionDefaultChannelGroup`` and ``landingPage``) or ``"gsc"`` (clicks, impressions,
position by ``page`` and ``query``; ``ctr`` is derived downstream, so it is accepted in
``spec.metrics`` and not emitted). Data exist from ``anchor - 400`` to ``anchor + 3``;
days after ``anchor`` are flagged INCOMPLETE and only partly counted.

Every day draws from its own generator seeded by (seed, property name, flavour, the day's
offset from the anchor), so a value never depends on the window it was fetched in, nor on
the calendar date the demo runs on: the data, its weekly pattern (the anchor is a
Tuesday to the generator) and its findings are the same on every date. :func:`injected_events` lists the
incidents planted in the data, four kinds of them on ``anchor`` itself.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

from jobs.domain import TOTAL_SERIES, Kind, Observation, PointFlag, PropertySpec
from jobs.errors import InputError

__all__ = ["DemoSource", "InjectedEvent", "injected_events"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

HISTORY_DAYS = 400
SETTLING_DAYS = 3
#: Share of a day counted so far, by days after the anchor.
_COMPLETENESS = {1: 0.8, 2: 0.6, 3: 0.4}
_FINAL_LAG = {"ga4": 2, "gsc": 3}

CHANNELS = ("Organic Search", "Direct", "Paid Search", "Email", "Referral", "Organic Social")
_CHANNEL_SHARE = np.array([0.42, 0.22, 0.14, 0.07, 0.09, 0.06])
_CHANNEL_CR = np.array([1.0, 1.2, 1.4, 1.6, 0.9, 0.6])
LANDING_PAGES = (
    "/", "/pricing", "/features", "/blog", "/signup", "/docs", "/about", "/contact", "/integrations",
    "/blog/seo-checklist", "/blog/ga4-migration", "/customers", "/blog/launch", "/docs/getting-started",
    "/blog/email-tips", "/careers", "/security", "/blog/roadmap", "/partners", "/changelog", "/docs/api",
    "/blog/case-study", "/webinars", "/legal/privacy", "/status",
)  # fmt: skip
QUERIES = (
    "running shoes", "trail running shoes", "best running shoes", "running shoes women", "marathon shoes",
    "shoe size guide", "how to choose running shoes", "waterproof trail shoes", "cushioned running shoes",
    "running socks", "track spikes", "shoe store near me", "wide running shoes", "running shoes sale",
    "minimalist shoes", "stability running shoes", "kids running shoes", "running shoe reviews",
    "carbon plate shoes", "gym shoes", "hiking boots", "shoe cleaning", "insoles for running",
    "running gear", "race day checklist",
)  # fmt: skip
#: ``PAGES[i]`` is where ``QUERIES[i]`` mostly lands.
PAGES = tuple(
    "https://shop.example/" + p
    for p in (
        "shoes/running", "shoes/trail", "", "shoes/women", "shoes/marathon", "guides/sizing", "guides/choosing",
        "shoes/waterproof", "shoes/cushioned", "accessories/socks", "shoes/spikes", "stores", "shoes/wide",
        "sale", "shoes/minimalist", "shoes/stability", "shoes/kids", "reviews", "shoes/carbon", "shoes/gym",
        "boots/hiking", "guides/cleaning", "accessories/insoles", "gear", "blog/race-day",
    )
)  # fmt: skip
FLAVOURS = {
    "ga4": (("sessions", "totalUsers", "keyEvents"), ("sessionDefaultChannelGroup", "landingPage")),
    "gsc": (("clicks", "impressions", "position"), ("page", "query")),
}


@dataclass(frozen=True, slots=True)
class InjectedEvent:
    """An incident planted in the demo data. ``factor`` multiplies the generator's rate
    for ``series`` (``total``: every child) from ``day`` to ``last_day`` inclusive."""

    flavour: str
    day: date
    last_day: date
    series: str
    metric: str
    kind: Kind
    factor: float
    description: str


def injected_events(anchor: date) -> tuple[InjectedEvent, ...]:
    """The incidents of a demo anchored on ``anchor``, oldest first."""
    d = anchor
    far = anchor + timedelta(days=SETTLING_DAYS)
    organic = "sessionDefaultChannelGroup:Organic Search"
    sizing = "page:https://shop.example/guides/sizing"

    table: tuple[tuple[str, int, str, str, Kind, float, str], ...] = (
        ("ga4", 80, "sessionDefaultChannelGroup:Paid Search", "sessions", Kind.DROP, 0.2, "ads paused"),
        ("gsc", 60, "query:trail running shoes", "impressions", Kind.SPIKE, 3.0, "seasonal buzz"),
        ("ga4", 45, "sessionDefaultChannelGroup:Email", "sessions", Kind.SPIKE, 3.0, "newsletter"),
        ("gsc", 2, sizing, "clicks", Kind.LEVEL_SHIFT, 0.003, "page deindexed (clicks and impressions)"),
        ("ga4", 0, TOTAL_SERIES, "sessions", Kind.DROP, 0.8, "site-wide drop"),
        ("ga4", 0, organic, "sessions", Kind.DROP, 0.375, "organic search collapse (0.3 with the site-wide drop)"),
        ("ga4", 0, TOTAL_SERIES, "keyEvents", Kind.OUTAGE, 0.0, "conversion tag removed"),
        ("ga4", 0, "landingPage:/blog/launch", "sessions", Kind.SPIKE, 6.5, "launch post (x4 net of the drop)"),
        ("gsc", 0, "query:running shoes", "ctr", Kind.RATE_CHANGE, 0.45, "rich result lost"),
    )
    out: list[InjectedEvent] = []
    for flavour, back, series, metric, kind, factor, text in table:
        day = d - timedelta(days=back)
        last = far if kind is Kind.LEVEL_SHIFT else day
        out.append(InjectedEvent(flavour, day, last, series, metric, kind, factor, text))
    return tuple(out)


def _factors(events: tuple[InjectedEvent, ...], day: date, metric: str, names: tuple[str, ...], dim: str) -> FloatArray:
    """Multipliers for the children ``names`` of ``dim`` on ``day`` (total events hit all)."""
    out = np.ones(len(names))
    for e in events:
        if e.metric == metric and e.day <= day <= e.last_day:
            if e.series == TOTAL_SERIES:
                out *= e.factor
            elif e.series.startswith(dim + ":") and e.series[len(dim) + 1 :] in names:
                out[names.index(e.series[len(dim) + 1 :])] *= e.factor
    return out


def _total_factor(events: tuple[InjectedEvent, ...], day: date, metric: str) -> float:
    return float(_factors(events, day, metric, ("",), "")[0])


def _zipf(n: int, power: float, rng: np.random.Generator) -> FloatArray:
    w = 1.0 / np.arange(1, n + 1) ** power * rng.uniform(0.8, 1.25, n)
    return np.asarray(w / w.sum(), dtype=np.float64)


class DemoSource:
    """Synthetic data for ``spec.id`` ``"ga4"`` or ``"gsc"``; ``anchor`` is the newest final day."""

    def __init__(self, *, anchor: date, seed: int = 7) -> None:
        self.anchor = anchor
        self.seed = seed
        self.events = injected_events(anchor)

    def last_final_date(self, spec: PropertySpec, *, today: date) -> date:
        """GA4 finishes counting about 2 days back, Search Console about 3."""
        return today - timedelta(days=_FINAL_LAG[_flavour(spec)])

    def fetch(self, spec: PropertySpec, *, start: date, end: date) -> Iterator[Observation]:
        """Every day in ``start..end`` (clipped to the demo's range), totals and breakdowns."""
        flavour = _flavour(spec)
        metrics, dims = _selection(spec, flavour)
        if start > end:
            raise InputError(f"demo {spec.name}: start {start} is after end {end}")
        first = max(start, self.anchor - timedelta(days=HISTORY_DAYS))
        last = min(end, self.anchor + timedelta(days=SETTLING_DAYS))
        key = zlib.crc32(f"{spec.name}|{flavour}".encode())
        static = np.random.default_rng([self.seed, key])
        make = _Ga4(static) if flavour == "ga4" else _Gsc(static)
        for n in range((last - first).days + 1):
            day = first + timedelta(days=n)
            late = (day - self.anchor).days
            rng = np.random.default_rng([self.seed, key, late + HISTORY_DAYS])
            flags = PointFlag.INCOMPLETE if late > 0 else PointFlag.NONE
            scale = _COMPLETENESS.get(late, 1.0) * (1.0 + 0.0005 * late) * make.weekday[_weekday(late)]
            for series, metric, value in make.day(rng, day, scale, self.events):
                if metric in metrics and (series == TOTAL_SERIES or series.partition(":")[0] in dims):
                    yield Observation(spec.name, series, metric, day, value, flags)


def _weekday(offset: int) -> int:
    """The generator's weekday (0 = Monday) of the day ``offset`` days from the anchor.

    The anchor is always a Tuesday to the generator, whatever the calendar says, so the
    demo reads the same on every date it is run: the same noise, the same weekly pattern
    around its incidents, and the same findings.
    """
    return (1 + offset) % 7


def _flavour(spec: PropertySpec) -> str:
    flavour = spec.id or "ga4"
    if flavour not in FLAVOURS:
        raise InputError(f"demo property {spec.name!r}: id {flavour!r} is not a demo flavour (use 'ga4' or 'gsc')")
    return flavour


def _selection(spec: PropertySpec, flavour: str) -> tuple[frozenset[str], frozenset[str]]:
    metrics, dims = FLAVOURS[flavour]
    want_m = spec.metrics or metrics
    if "ctr" in want_m:  # derived downstream from these two
        want_m = (*(m for m in want_m if m != "ctr"), "clicks", "impressions")
    want_d = spec.breakdowns or dims
    for kind, asked, known in (("metric", want_m, metrics), ("breakdown", want_d, dims)):
        for name in asked:
            if name not in known:
                raise InputError(
                    f"demo property {spec.name!r}: {kind} {name!r} is not in the {flavour} demo "
                    f"(choose from {', '.join(known)})"
                )
    return frozenset(want_m), frozenset(want_d)


Row = tuple[str, str, float]


def _rows(dim: str, names: tuple[str, ...], metric: str, values: FloatArray | IntArray) -> Iterator[Row]:
    for name, value in zip(names, values.tolist(), strict=True):
        yield f"{dim}:{name}", metric, float(value)


class _Ga4:
    """A B2B-ish site: quiet weekends, six channels, 25 landing pages, ~4% conversion."""

    weekday = (1.0, 1.05, 1.04, 1.0, 0.93, 0.6, 0.55)

    def __init__(self, static: np.random.Generator) -> None:
        self.base = 1200.0 * static.uniform(0.9, 1.1)
        self.shares = _CHANNEL_SHARE * static.uniform(0.9, 1.1, len(CHANNELS))
        self.shares /= self.shares.sum()
        self.pages = _zipf(len(LANDING_PAGES), 0.9, static)
        self.page_cr = static.uniform(0.5, 1.5, len(LANDING_PAGES))
        self.page_cr[[1, 4]] = (3.0, 4.0)  # /pricing and /signup convert
        self.pages[12] = max(self.pages[12], 0.035)  # /blog/launch: big enough to see its spike
        self.pages /= self.pages.sum()

    def day(self, rng: np.random.Generator, day: date, scale: float, events: tuple[InjectedEvent, ...]) -> list[Row]:
        ga4 = tuple(e for e in events if e.flavour == "ga4")
        level = self.base * scale * rng.gamma(500.0, 1 / 500.0)
        mult = _factors(ga4, day, "sessions", CHANNELS, "sessionDefaultChannelGroup")
        lam = level * self.shares * rng.gamma(150.0, 1 / 150.0, len(CHANNELS)) * mult
        channel = rng.poisson(lam)
        page_mult = _factors(ga4, day, "sessions", LANDING_PAGES, "landingPage")
        weights = self.pages * rng.gamma(80.0, 1 / 80.0, len(LANDING_PAGES))
        pages = rng.multinomial(int(channel.sum()), weights / weights.sum())
        extra = rng.poisson(pages * np.maximum(page_mult - 1.0, 0.0))  # a page's spike brings new visits
        pages = pages + extra
        channel = channel + rng.multinomial(int(extra.sum()), self.shares)
        users = rng.binomial(channel, 0.8)
        page_users = rng.multinomial(int(users.sum()), pages / max(pages.sum(), 1))
        cr = 0.04 * rng.gamma(100.0, 1 / 100.0) * _total_factor(ga4, day, "keyEvents")
        conv = rng.binomial(channel, np.clip(cr * _CHANNEL_CR, 0.0, 1.0))
        page_w = pages * self.page_cr
        page_conv = rng.multinomial(int(conv.sum()), page_w / max(page_w.sum(), 1e-9))
        out: list[Row] = []
        for metric, by_channel, by_page in (
            ("sessions", channel, pages),
            ("totalUsers", users, page_users),
            ("keyEvents", conv, page_conv),
        ):
            out.append((TOTAL_SERIES, metric, float(by_channel.sum())))
            out.extend(_rows("sessionDefaultChannelGroup", CHANNELS, metric, by_channel))
            out.extend(_rows("landingPage", LANDING_PAGES, metric, by_page))
        return out


class _Gsc:
    """Search: 25 queries x 25 pages; CTR follows position; impressions-weighted position."""

    weekday = (1.0, 1.02, 1.02, 1.0, 0.95, 0.85, 0.88)

    def __init__(self, static: np.random.Generator) -> None:
        n = len(QUERIES)
        self.impressions = 60000.0 * _zipf(n, 0.8, static)
        self.position = static.uniform(2.0, 12.0, n)
        self.ctr_factor = static.uniform(0.7, 1.3, n)
        self.links = np.zeros((n, len(PAGES)))
        self.links[np.arange(n), np.arange(n)] = 0.75  # each query's own page...
        self.links[np.arange(n), static.integers(0, len(PAGES), n)] += 0.25  # ...and one more
        self.links[[3, 6, 12], 5] += 0.5  # the sizing guide ranks for several queries
        self.links[0, 1:] = 0.0  # "running shoes" lands on its own page only
        self.links /= self.links.sum(axis=1, keepdims=True)
        self.page_offset = np.clip(static.normal(0.0, 0.5, len(PAGES)), -0.8, 0.8)

    def day(self, rng: np.random.Generator, day: date, scale: float, events: tuple[InjectedEvent, ...]) -> list[Row]:
        gsc = tuple(e for e in events if e.flavour == "gsc")
        pages = PAGES
        n = len(QUERIES)
        q_imp = self.impressions * scale * rng.gamma(1000.0, 1 / 1000.0) * rng.gamma(200.0, 1 / 200.0, n)
        q_imp *= _factors(gsc, day, "impressions", QUERIES, "query")
        lam = q_imp[:, None] * self.links * _factors(gsc, day, "clicks", pages, "page")[None, :]
        imp = rng.poisson(lam)
        pos = np.maximum(self.position[:, None] + self.page_offset[None, :] + rng.normal(0.0, 0.15, (n, 1)), 1.0)
        ctr = 0.3 / pos**1.1 * (self.ctr_factor * rng.gamma(120.0, 1 / 120.0, n))[:, None]
        ctr *= _factors(gsc, day, "ctr", QUERIES, "query")[:, None]
        clicks = rng.binomial(imp, np.clip(ctr, 0.0, 0.9))
        out: list[Row] = []
        for dim, names, axis in (("page", pages, 0), ("query", QUERIES, 1)):
            imp_sum, clicks_sum = imp.sum(axis=axis), clicks.sum(axis=axis)
            weighted = (imp * pos).sum(axis=axis)
            out.extend(_rows(dim, names, "clicks", clicks_sum))
            out.extend(_rows(dim, names, "impressions", imp_sum))
            shown = imp_sum > 0
            names_shown = tuple(name for name, ok in zip(names, shown.tolist(), strict=True) if ok)
            out.extend(_rows(dim, names_shown, "position", np.round(weighted[shown] / imp_sum[shown], 2)))
        out.append((TOTAL_SERIES, "clicks", float(clicks.sum())))
        out.append((TOTAL_SERIES, "impressions", float(imp.sum())))
        out.append((TOTAL_SERIES, "position", round(float((imp * pos).sum() / max(imp.sum(), 1)), 2)))
        return out
