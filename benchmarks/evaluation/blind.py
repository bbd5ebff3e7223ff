"""A blind evaluation set: realistic daily GA4/GSC-like data with labelled anomalies, built to
be scored once as unseen data (the ``blind`` configuration of ``python -m benchmarks.evaluate``).

It was written without running barometer's detector on it and without reading its code
(``jobs/detection``); its parameters were set by looking only at the two reference
detectors of :mod:`benchmarks.evaluation.baselines` (``python -m benchmarks.blind_calibration``).
Its first (unseen) score was F1 0.875; it showed that CTR changes labelled on ``clicks`` were
all missed (barometer reported the CTR and folded the clicks into it), which was changed.
Since then it is a looked-at set like the others.

What it simulates (its own code; only the output types come from
:mod:`benchmarks.evaluation.generator`):

- 5 GA4 properties: ``sessions`` and ``keyEvents`` for the total, by ``channel`` (the total is
  the exact sum of the channels) and by ``landingPage`` (the top pages only, so they sum to
  60-85% of the total);
- 5 GSC properties: ``impressions``, ``clicks`` and an impressions-weighted ``position`` for the
  total, by ``page`` (the total is the sum of the pages) and by ``query`` (the top queries only;
  the rest is anonymised, as in Search Console); ``ctr`` is derived by the CSV reader;
- a weekday profile per site (B2B, B2C or media), jittered per series; a per-site trend and a
  slow weekly random walk; a daily log-shock common to a site; negative-binomial counts per
  series; keyEvents binomial in sessions, clicks binomial in impressions with a CTR that falls
  with position; an unlabelled public-holiday dip shared by every site; a few missing points.

Anomalies (labels, ``also`` = the metrics that move with the labelled one) start inside the
last 6 weeks, on series with at least 40 of their main count a day, at fixed magnitudes (not
filtered by how detectable they are): spikes (1 day, x1.5-2.6), drops (1-3 days, x0.35-0.65),
level shifts persisting to the end (x0.55-0.75 or x1.35-1.8, labelled over their first 3
days), tracking outages (a site's keyEvents at x0-0.05 for 1-3 days, labelled on the total),
CTR changes with stable impressions (clicks x0.45-0.65 or x1.5-1.9 for 3-7 days) and position
losses (x1.4-2 for 2-5 days, clicks following).

Calibration (seeds 1, 2, 3; :func:`calibrate`, ``python -m benchmarks.blind_calibration``),
against the references only: the naive 14-day z>3 scores F1 0.404 (0.38 / 0.43 / 0.40;
precision 0.32, recall 0.56, 4.3 false alarms per 1,000 series-days), on target (about 0.4).
The same-weekday robust z>3.5 scores F1 0.166 (0.15 / 0.18 / 0.16; precision 0.09, recall
0.96, 34 false alarms per 1,000 series-days): the owner's "about 0.94" was NOT reproduced, and
cannot be on data like this. Its median/MAD of 8 same-weekday values flags ~4.7% of days of
any series whose noise exceeds its floor (one unit for counts, 1% of the level otherwise):
47 per 1,000 series-days on i.i.d. Gaussian noise, 45-50 on Poisson counts from 10 a day up,
56 on this set with no events injected. Precision 0.94 would need ~15 detected events for each
such false alarm, i.e. several events per series per week, or data that sits almost entirely
below the floor (counts under ~0.5 a day, rates steadier than 1%). The owner's figure therefore
points to another reference, another scoring or very different data, not to a tuning of this
set; the set is kept realistic and calibrated on the naive reference alone.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from benchmarks.evaluation.generator import Dataset, Label

if TYPE_CHECKING:
    from benchmarks.evaluation.scoring import Score

__all__ = ["BLIND", "BLIND_END", "BlindParams", "calibrate", "generate_blind"]

FloatArray = npt.NDArray[np.float64]

BLIND_END = date(2026, 5, 31)

#: Metrics that move with a labelled metric (flags on them in the event's window are neutral).
MOVES_WITH: dict[str, tuple[str, ...]] = {
    "sessions": ("keyEvents",),
    "keyEvents": (),
    "impressions": ("clicks", "ctr", "position"),
    "clicks": ("ctr",),
    "position": ("ctr", "clicks"),
}
_WEEKDAY = (
    (1.0, 1.05, 1.04, 1.01, 0.93, 0.52, 0.47),  # B2B
    (0.96, 0.93, 0.95, 0.99, 1.07, 1.24, 1.17),  # B2C
    (1.0, 1.01, 1.0, 0.99, 0.96, 0.88, 0.92),  # media
)
_GA4_SITES = ("shop", "saas", "travel", "charity", "recipes")
_GSC_SITES = ("shop", "docs", "news", "clinic", "garden")
_CHANNELS = ("Organic Search", "Direct", "Paid Search", "Email", "Referral", "Organic Social")
_PAGES = ("/", "/pricing", "/blog", "/contact", "/about", "/products", "/signup", "/faq", "/careers", "/guides")
_QUERIES = ("brand", "brand login", "pricing", "how to", "near me", "reviews", "best", "free trial", "alternatives")


@dataclass(frozen=True, slots=True)
class BlindParams:
    days: int = 196
    eval_weeks: int = 6
    #: Daily total of a site's main count (sessions or impressions), log-uniform.
    volume: tuple[float, float] = (2_000.0, 60_000.0)
    #: Negative-binomial dispersion of a series (relative noise floor = sqrt), log-uniform.
    dispersion: tuple[float, float] = (0.001, 0.01)
    site_noise: tuple[float, float] = (0.015, 0.04)
    #: Largest |log growth| over 90 days.
    trend: float = 0.25
    #: Labelled events per site in the evaluation window (uniform integer range).
    events: tuple[int, int] = (8, 12)
    min_volume: float = 40.0
    holiday_depth: tuple[float, float] = (0.8, 0.9)
    missing: float = 0.002
    #: Probabilities of the kinds on a GA4 site, then on a GSC site.
    ga4_kinds: tuple[tuple[str, float], ...] = (("spike", 0.35), ("drop", 0.3), ("level_shift", 0.15), ("outage", 0.2))
    gsc_kinds: tuple[tuple[str, float], ...] = (
        ("spike", 0.3),
        ("drop", 0.2),
        ("level_shift", 0.15),
        ("ctr", 0.25),
        ("position", 0.1),
    )
    magnitude: float = 1.0  # scales every log-factor (calibration knob)


BLIND = BlindParams()


@dataclass
class _Breakdown:
    """Children of one dimension: shares of the site's main count and per-series factors."""

    dimension: str
    names: tuple[str, ...]
    shares: FloatArray
    count: list[FloatArray]  # multiplicative factor on the main count, per child
    rate: list[FloatArray]  # multiplicative factor on keyEvents per session / CTR, per child
    pos: list[FloatArray]  # multiplicative factor on position, per child


@dataclass
class _Site:
    rng: np.random.Generator
    p: BlindParams
    flavour: str
    name: str
    dates: tuple[date, ...]
    first: int
    out: Dataset
    taken: list[tuple[int, int, str]] = field(default_factory=list)

    @property
    def t(self) -> int:
        return len(self.dates)

    def series(self, child: str) -> str:
        return f"{self.flavour}/{self.name}/{child}"

    def breakdown(self, dimension: str, names: tuple[str, ...], covered: float) -> _Breakdown:
        k = int(self.rng.integers(max(3, len(names) - 4), len(names) + 1))
        picked = tuple(names[:k])
        raw = (np.arange(1, k + 1) ** -self.rng.uniform(0.8, 1.4)) * np.exp(self.rng.normal(0, 0.3, k))
        shares = np.asarray(covered * raw / raw.sum(), dtype=np.float64)
        ones = [np.ones(self.t) for _ in picked]
        return _Breakdown(dimension, picked, shares, ones, [o.copy() for o in ones], [o.copy() for o in ones])

    def slot(self, child: str, length: int) -> int | None:
        """A start in the evaluation window clear of the site's other events by 4 days (a level
        shift holds its series, and the total, to the end)."""
        for _ in range(40):
            start = int(self.rng.integers(self.first, self.t - 1))
            end = self.t if length == 0 else start + length
            if all(
                end + 4 <= a or start >= b + 4 or (child != s and "total" not in (child, s) and start >= a + 4)
                for a, b, s in self.taken
            ):
                self.taken.append((start, end, child))
                return start
        return None

    def label(self, child: str, metric: str, kind: str, *, start: int, length: int, factor: float) -> None:
        last = min(start + (2 if kind == "level_shift" else length - 1), self.t - 1)
        self.out.labels.append(
            Label(
                self.series(child),
                metric,
                kind,
                self.dates[start],
                self.dates[last],
                round(factor, 4),
                MOVES_WITH[metric],
            )
        )

    def profile(self, base: FloatArray, jitter: float) -> FloatArray:
        prof = base * np.exp(self.rng.normal(0.0, jitter, 7))
        return np.asarray(prof[[d.weekday() for d in self.dates]], dtype=np.float64)

    def nb(self, mean: FloatArray, alpha: float) -> FloatArray:
        lam = self.rng.gamma(1.0 / alpha, np.maximum(mean, 1e-9) * alpha)
        return self.rng.poisson(lam).astype(np.float64)

    def alpha(self) -> float:
        lo, hi = self.p.dispersion
        return float(np.exp(self.rng.uniform(np.log(lo), np.log(hi))))


def _factor(rng: np.random.Generator, kind: str, magnitude: float) -> float:
    """An event's multiplicative size (its log scaled by ``magnitude``)."""
    if kind == "spike":
        f = rng.uniform(1.5, 2.6)
    elif kind == "drop":
        f = rng.uniform(0.35, 0.65)
    elif kind == "level_shift":
        f = rng.uniform(0.55, 0.75) if rng.uniform() < 0.6 else rng.uniform(1.35, 1.8)
    elif kind == "outage":
        return float(rng.uniform(0.0, 0.05))
    elif kind == "ctr":
        f = rng.uniform(0.45, 0.65) if rng.uniform() < 0.6 else rng.uniform(1.5, 1.9)
    else:  # position: a loss of rank (a higher position number)
        f = rng.uniform(1.4, 2.0)
    return float(np.exp(magnitude * np.log(f)))


def _events(site: _Site, main: FloatArray, breakdowns: tuple[_Breakdown, _Breakdown], kinds: dict[str, float]) -> None:
    """Place the site's labelled events: set the children's factors and record the labels."""
    rng, p = site.rng, site.p
    metric = "sessions" if site.flavour == "ga4" else "impressions"
    rate_metric = "keyEvents" if site.flavour == "ga4" else "clicks"
    names, probs = list(kinds), np.asarray(list(kinds.values()))
    for _ in range(int(rng.integers(p.events[0], p.events[1] + 1))):
        kind = str(rng.choice(names, p=probs / probs.sum()))
        # where: the total (a quarter of count events, every outage) or a child big enough to matter
        on_total = kind == "outage" or (kind in ("spike", "drop", "level_shift") and rng.uniform() < 0.25)
        b = breakdowns[int(rng.integers(2))]
        volume = b.shares * float(np.median(main))
        if kind in ("ctr", "position"):
            volume = volume * 0.03  # clicks, roughly
        big = np.flatnonzero(volume >= p.min_volume)
        if not on_total and big.size == 0:
            continue
        i = -1 if on_total else int(rng.choice(big))
        child = "total" if on_total else f"{b.dimension}:{b.names[i]}"
        length = {
            "spike": 1,
            "drop": int(rng.integers(1, 4)),
            "level_shift": 0,
            "outage": int(rng.integers(1, 4)),
            "ctr": int(rng.integers(3, 8)),
            "position": int(rng.integers(2, 6)),
        }[kind]
        start = site.slot(child, length)
        if start is None:
            continue
        f = _factor(rng, kind, p.magnitude)
        stop = site.t if length == 0 else start + length
        targets: list[tuple[_Breakdown, int]] = (
            [(br, j) for br in breakdowns for j in range(len(br.names))] if on_total else [(b, i)]
        )
        for br, j in targets:
            if kind in ("outage", "ctr"):
                br.rate[j][start:stop] *= f
            elif kind == "position":
                br.pos[j][start:stop] *= f
            else:
                br.count[j][start:stop] *= f
        labelled = {"outage": rate_metric, "ctr": "clicks", "position": "position"}.get(kind, metric)
        site.label(child, labelled, kind, start=start, length=length, factor=f)


def _ga4(site: _Site) -> None:
    rng, p, t = site.rng, site.p, site.t
    main = _main(site)
    channels = site.breakdown("channel", _CHANNELS, 1.0)
    pages = site.breakdown("landingPage", _PAGES, float(rng.uniform(0.6, 0.85)))
    _events(site, main, (channels, pages), dict(p.ga4_kinds))
    base = np.asarray(_WEEKDAY[int(rng.integers(3))])
    total_s, total_k = np.zeros(t), np.zeros(t)
    for b, other in ((channels, pages), (pages, channels)):
        for j, child in enumerate(b.names):
            mean = main * b.shares[j] * b.count[j] * _spill(other, b is pages) * site.profile(base, 0.05)
            sessions = site.nb(mean, site.alpha())
            cr = float(np.exp(rng.uniform(np.log(0.005), np.log(0.06))))
            key = rng.binomial(sessions.astype(np.int64), np.clip(cr * b.rate[j], 0, 1)).astype(np.float64)
            name = site.series(f"{b.dimension}:{child}")
            site.out.values[name, "sessions"], site.out.values[name, "keyEvents"] = sessions, key
            if b is channels:
                total_s, total_k = total_s + sessions, total_k + key
    site.out.values[site.series("total"), "sessions"] = total_s
    site.out.values[site.series("total"), "keyEvents"] = total_k


def _spill(other: _Breakdown, covered_only: bool) -> FloatArray:
    """How the other breakdown's events move this one: the change of the other's children,
    weighted by their shares (a channel's spike lands on the pages; a page's spike comes
    through the channels). ``covered_only``: relative to what the other breakdown covers
    (it is complete); otherwise an absolute share of the site (it covers the top only)."""
    total = other.shares.sum()
    change = sum((s / total) * (f - 1.0) for s, f in zip(other.shares, other.count, strict=True))
    scale = 1.0 if covered_only else float(total)
    return np.asarray(1.0 + scale * change, dtype=np.float64)


def _main(site: _Site) -> FloatArray:
    """A site's expected main count: volume x trend and walk x daily shock x holiday."""
    rng, p, t = site.rng, site.p, site.t
    volume = float(np.exp(rng.uniform(np.log(p.volume[0]), np.log(p.volume[1]))))
    growth = rng.uniform(-p.trend, p.trend) * np.arange(t) / 90.0
    weeks = np.cumsum(rng.normal(0.0, 0.012, t // 7 + 2))
    walk = np.interp(np.arange(t) / 7.0, np.arange(weeks.size), weeks)
    shock = rng.normal(0.0, rng.uniform(*p.site_noise), t)
    holiday = np.ones(t)
    for day in _holidays(site.dates):
        holiday[day] = rng.uniform(*p.holiday_depth)
    return np.asarray(volume * np.exp(growth + walk + shock) * holiday, dtype=np.float64)


def _holidays(dates: tuple[date, ...]) -> list[int]:
    fixed = {(1, 1), (5, 1), (12, 25), (12, 26), (4, 6), (5, 25)}  # incl. an Easter and a Whit Monday
    return [j for j, d in enumerate(dates) if (d.month, d.day) in fixed]


def _ctr(position: FloatArray, brand: float) -> FloatArray:
    return np.asarray(np.clip(brand * 0.32 * np.exp(-0.3 * (position - 1.0)), 0.002, 0.6), dtype=np.float64)


def _gsc(site: _Site) -> None:
    rng, p, t = site.rng, site.p, site.t
    main = _main(site)
    pages = site.breakdown("page", _PAGES, 1.0)
    queries = site.breakdown("query", _QUERIES, float(rng.uniform(0.45, 0.7)))
    _events(site, main, (pages, queries), dict(p.gsc_kinds))
    base = np.asarray(_WEEKDAY[int(rng.integers(3))])
    imp_t, clk_t, posw_t = np.zeros(t), np.zeros(t), np.zeros(t)
    for b, other in ((pages, queries), (queries, pages)):
        for j, child in enumerate(b.names):
            brand = 2.5 if child.startswith("brand") else 1.0
            mean = main * b.shares[j] * b.count[j] * _spill(other, b is queries) * site.profile(base, 0.04)
            impressions = site.nb(mean, site.alpha())
            level = float(np.exp(rng.uniform(np.log(1.2), np.log(15.0)))) if brand == 1.0 else 1.1
            drift = np.exp(np.cumsum(rng.normal(0.0, 0.004, t)))
            position = level * drift * np.exp(rng.normal(0.0, 0.03, t)) * b.pos[j]
            position = np.maximum(position, 1.0)
            ctr = _ctr(position, brand) * b.rate[j] * np.exp(rng.normal(0.0, 0.05, t))
            clicks = rng.binomial(impressions.astype(np.int64), np.clip(ctr, 0.0, 1.0)).astype(np.float64)
            name = site.series(f"{b.dimension}:{child}")
            site.out.values[name, "impressions"] = impressions
            site.out.values[name, "clicks"] = clicks
            with np.errstate(invalid="ignore"):
                site.out.values[name, "position"] = np.where(impressions > 0, np.round(position, 2), np.nan)
            if b is pages:
                imp_t, clk_t, posw_t = imp_t + impressions, clk_t + clicks, posw_t + impressions * position
    site.out.values[site.series("total"), "impressions"] = imp_t
    site.out.values[site.series("total"), "clicks"] = clk_t
    with np.errstate(invalid="ignore", divide="ignore"):
        site.out.values[site.series("total"), "position"] = np.round(posw_t / imp_t, 2)


def _holes(out: Dataset, rng: np.random.Generator, rate: float) -> None:
    """Points missing at random, never on a labelled event's first three days."""
    keep: dict[str, set[int]] = {}
    for lab in out.labels:
        j = out.dates.index(lab.start)
        keep.setdefault(lab.series, set()).update(range(j, min(j + 3, len(out.dates))))
    for (series, _metric), values in out.values.items():
        drop = rng.uniform(size=values.size) < rate
        drop[sorted(keep.get(series, ()))] = False
        values[drop] = np.nan


def generate_blind(seed: int, params: BlindParams = BLIND) -> Dataset:
    """The blind set for ``seed``: the same seed always gives the same data and labels."""
    dates = tuple(BLIND_END - timedelta(days=params.days - 1 - i) for i in range(params.days))
    first = params.days - 7 * params.eval_weeks
    out = Dataset(dates=dates, eval_start=dates[first])
    for k, (flavour, names) in enumerate((("ga4", _GA4_SITES), ("gsc", _GSC_SITES))):
        for s, name in enumerate(names):
            site = _Site(np.random.default_rng([seed, 9173, k, s]), params, flavour, name, dates, first, out)
            (_ga4 if flavour == "ga4" else _gsc)(site)
    _holes(out, np.random.default_rng([seed, 9174]), params.missing)
    out.labels.sort(key=lambda lab: (lab.start, lab.series, lab.metric))
    return out


def calibrate(seeds: tuple[int, ...] = (1, 2, 3), params: BlindParams = BLIND) -> dict[str, list[Score]]:
    """The two reference detectors on the blind set, per seed (barometer is not run): scores as
    ``benchmarks.evaluate`` computes them (written CSV, ``read_panels_csv``, then the detector)."""
    from benchmarks.evaluation.baselines import BASELINES
    from benchmarks.evaluation.scoring import score
    from jobs.csvio import read_panels_csv

    results: dict[str, list[Score]] = {name: [] for name in BASELINES}
    for seed in seeds:
        data = generate_blind(seed, params)
        with tempfile.TemporaryDirectory(prefix="barometer-blind-") as tmp:
            path = Path(tmp) / f"blind-{seed}.csv"
            data.write_csv(path)
            panels = read_panels_csv(path)
        start, end = data.eval_start, data.dates[-1]
        cells = data.series_days(start, end)
        for name, detector in BASELINES.items():
            results[name].append(score(data.labels, detector(panels, start=start, end=end), series_days=cells))
    return results
