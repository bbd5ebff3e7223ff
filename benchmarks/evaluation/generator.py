"""Labelled, realistic daily GA4/GSC-like series with known injected anomalies.

Each configuration draws ``sites`` properties, GA4-like (``sessions``, ``keyEvents`` by
``channel`` and ``landingPage``) or Search-Console-like (``impressions``, ``clicks`` and an
impressions-weighted ``position`` by ``query``, ``impressions`` and ``clicks`` by ``page``;
``ctr`` is derived by the reader). What makes them realistic:

- weekly seasonality (B2B, B2C or flat weekday profiles, jittered per site and child),
  a per-site trend and a slow random walk of the level;
- counts overdispersed like web data: a daily shock common to a site, and per child a
  negative binomial with its own dispersion (Poisson-like when small, a relative noise
  floor when large); children sum to their total; keyEvents are binomial in sessions,
  clicks binomial in impressions with a CTR that falls with position;
- a long tail of low-volume children (Zipf shares), unlabelled holiday-like dips shared by
  every series of a site, points missing at random and whole missing days.

Anomalies (the labels) start inside the last ``eval_days``: spikes, drops, level shifts
(persisting to the end), tracking outages of keyEvents, CTR changes with stable
impressions and position changes. Each is injected only where it is at least
``min_sigmas`` noise standard deviations on a log scale (an evaluation of detection,
not of the impossible) and on series expected to carry at least ``min_volume`` a day.

Series are named ``{flavour}/{site}/total`` and ``{flavour}/{site}/{dimension}:{value}``
(``naming="prefixed"``) or, for a one-property file, ``total`` and ``{dimension}:{value}``
(``naming="plain"``).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["CONFIGS", "Dataset", "GeneratorConfig", "Label", "generate", "read_labels", "write_labels"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

CHANNELS = ("Organic Search", "Direct", "Paid Search", "Email", "Referral", "Organic Social")
_PROFILES = (
    (1.0, 1.04, 1.03, 1.0, 0.92, 0.55, 0.5),  # B2B: quiet weekends
    (0.95, 0.94, 0.96, 1.0, 1.06, 1.22, 1.15),  # B2C: busy weekends
    (1.0, 1.0, 1.0, 0.99, 0.97, 0.9, 0.93),  # media: nearly flat
)
#: Metrics that move with each primary metric (their findings in an event's window are not
#: false alarms, and not detections either).
COUPLED: dict[str, tuple[str, ...]] = {
    "sessions": ("keyEvents",),
    "keyEvents": (),
    # a query's impressions change the mix behind its site's CTR and average position too
    "impressions": ("clicks", "ctr", "position"),
    "clicks": ("ctr",),
    "ctr": ("clicks",),
    "position": ("ctr", "clicks"),
}


@dataclass(frozen=True, slots=True)
class GeneratorConfig:
    name: str
    sites: int = 30
    ga4_share: float = 0.5
    days: int = 150
    eval_days: int = 56
    children: tuple[int, int] = (6, 30)
    #: Daily total of the site's main count (sessions or impressions), log-uniform range.
    volume: tuple[float, float] = (400.0, 40_000.0)
    #: Negative-binomial dispersion of children (relative noise floor = sqrt), log-uniform.
    dispersion: tuple[float, float] = (0.002, 0.03)
    #: Standard deviation of the daily log-shock shared by all series of a site.
    site_noise: tuple[float, float] = (0.02, 0.08)
    #: Largest |log growth| over 90 days.
    trend: float = 0.35
    #: Labelled events per 1,000 eligible series-days of the evaluation window.
    event_rate: float = 2.0
    missing: float = 0.003
    gap_sites: float = 0.15
    holidays: int = 2
    holiday_depth: tuple[float, float] = (0.88, 0.96)
    min_sigmas: float = 5.0
    min_volume: float = 30.0
    naming: str = "prefixed"
    end: date = date(2025, 11, 30)


CONFIGS: dict[str, GeneratorConfig] = {
    # the development set the engine was tuned on
    "dev": GeneratorConfig(name="dev"),
    # another shape: one big property, plain names, longer history, noisier, more gaps, denser events
    "holdout": GeneratorConfig(
        name="holdout",
        sites=1,
        ga4_share=1.0,
        days=200,
        eval_days=70,
        children=(60, 260),
        volume=(30_000.0, 90_000.0),
        dispersion=(0.004, 0.05),
        site_noise=(0.04, 0.09),
        trend=0.5,
        event_rate=2.5,
        missing=0.01,
        gap_sites=1.0,
        holidays=3,
        naming="plain",
        end=date(2026, 3, 15),
    ),
    # another shape: bigger sites and anomalies, tamer noise, few tiny series (closer to the
    # data the reference figures describe)
    "clear": GeneratorConfig(
        name="clear",
        sites=24,
        children=(5, 20),
        volume=(3_000.0, 60_000.0),
        dispersion=(0.002, 0.012),
        site_noise=(0.02, 0.05),
        event_rate=3.0,
        missing=0.002,
        gap_sites=0.1,
        holidays=1,
        holiday_depth=(0.93, 0.97),
        min_sigmas=7.0,
        min_volume=100.0,
        end=date(2026, 6, 30),
    ),
}


@dataclass(frozen=True, slots=True)
class Label:
    """One injected anomaly. ``end`` is its last affected day (a level shift persists to the
    end of the data; its label ends 2 days after ``start``: it should be reported once)."""

    series: str
    metric: str
    kind: str
    start: date
    end: date
    factor: float
    also: tuple[str, ...] = ()


@dataclass
class Dataset:
    dates: tuple[date, ...]
    eval_start: date
    #: (series, metric) -> values over ``dates`` (NaN: missing, not written).
    values: dict[tuple[str, str], FloatArray] = field(default_factory=dict)
    labels: list[Label] = field(default_factory=list)

    def rows(self) -> Iterator[tuple[str, str, str, str]]:
        """CSV rows sorted by date, series, metric (what ``barometer export`` writes)."""
        keys = sorted(self.values)
        for j, day in enumerate(self.dates):
            text = day.isoformat()
            for series, metric in keys:
                v = self.values[series, metric][j]
                if np.isfinite(v):
                    yield text, series, metric, (str(int(v)) if float(v).is_integer() else f"{v:.3f}")

    def write_csv(self, path: Path) -> int:
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(("date", "series", "metric", "value"))
            n = 0
            for row in self.rows():
                writer.writerow(row)
                n += 1
        return n

    def series_days(self, start: date, end: date) -> int:
        """Scored cells: (series, metric, day) in ``start..end`` with a value, ctr included."""
        lo, hi = self.dates.index(start), self.dates.index(end) + 1
        n = sum(int(np.isfinite(v[lo:hi]).sum()) for v in self.values.values())
        for (series, metric), v in self.values.items():
            if metric == "clicks" and (series, "impressions") in self.values:
                n += int(np.isfinite(v[lo:hi]).sum())
        return n


@dataclass
class Site:
    rng: np.random.Generator
    cfg: GeneratorConfig
    prefix: str
    dates: tuple[date, ...]
    eval_from: int
    holiday: FloatArray
    out: Dataset
    #: (first, last, series) of the events placed so far ("" for the site's total).
    used: list[tuple[int, int, str]] = field(default_factory=list)

    @property
    def t(self) -> int:
        return len(self.dates)

    def name(self, child: str) -> str:
        return f"{self.prefix}{child}"

    def weekday(self, jitter: float) -> FloatArray:
        base = np.asarray(_PROFILES[int(self.rng.integers(len(_PROFILES)))])
        profile = base * np.exp(self.rng.normal(0.0, jitter, 7))
        return np.asarray(profile[[d.weekday() for d in self.dates]], dtype=np.float64)

    def level(self, scale: float) -> FloatArray:
        """exp(trend + slow random walk) over the days."""
        growth = self.rng.uniform(-scale, scale) * np.arange(self.t) / 90.0
        weeks = np.cumsum(self.rng.normal(0.0, 0.015 * scale / 0.35, self.t // 7 + 2))
        walk = np.interp(np.arange(self.t) / 7.0, np.arange(weeks.size), weeks)
        return np.asarray(np.exp(growth + walk), dtype=np.float64)

    def nb(self, mean: FloatArray, alpha: FloatArray) -> FloatArray:
        a = np.broadcast_to(alpha, mean.shape)
        lam = self.rng.gamma(1.0 / a, np.maximum(mean, 1e-9) * a)
        return self.rng.poisson(lam).astype(np.float64)

    def slot(self, length: int, series: str) -> int | None:
        """A start day inside the evaluation window for an event on ``series`` (``""``: the
        total) that overlaps no other event of the same series or of the total; a level
        shift (``length`` 0) keeps its series for four weeks."""
        for _ in range(30):
            start = int(self.rng.integers(self.eval_from, self.t - 1))
            lo, hi = start - 3, start + (length or 28) + 3
            if all(hi <= a or lo >= b or (s and series and s != series) for a, b, s in self.used):
                return start
        return None

    def reserve(self, series: str, start: int, length: int) -> None:
        self.used.append((start - 3, start + (length or 28) + 3, series))

    def put(self, child: str, metrics: dict[str, FloatArray]) -> None:
        for metric, values in metrics.items():
            self.out.values[self.name(child), metric] = np.asarray(values, dtype=np.float64).copy()

    def label(
        self, series: str, metric: str, kind: str, *, start: int, end: int, factor: float, key: str, days: int
    ) -> None:
        """Record an injected event (and reserve its days for ``key``: ``""`` the total)."""
        self.reserve(key, start, days)
        last = min(start + 2 if kind == "level_shift" else end, self.t - 1)
        self.out.labels.append(
            Label(
                self.name(series), metric, kind, self.dates[start], self.dates[last], round(factor, 4), COUPLED[metric]
            )
        )


def _holes(out: Dataset, rng: np.random.Generator, cfg: GeneratorConfig, prefixes: list[str]) -> None:
    """Points missing at random and whole missing days (a site's export failed) — but never on a
    labelled event's own days, so a label always has data to be detected on."""
    protected: dict[str, set[int]] = {}
    for lab in out.labels:
        first = out.dates.index(lab.start)
        protected.setdefault(lab.series, set()).update(range(first, min(first + 3, len(out.dates))))
    gaps = {p: rng.integers(30, len(out.dates) - 1) for p in prefixes if rng.uniform() < cfg.gap_sites}
    for (series, _metric), values in out.values.items():
        drop = rng.uniform(size=values.size) < cfg.missing
        for p, at in gaps.items():
            if series.startswith(p):
                drop[at : at + 1 + int(at) % 3] = True
        drop[list(protected.get(series, ()))] = False
        values[drop] = np.nan


def generate(cfg: GeneratorConfig, seed: int) -> Dataset:
    """A dataset for ``cfg``; the same (config, seed) always gives the same data and labels."""
    from benchmarks.evaluation.sites import simulate_ga4, simulate_gsc  # they build on Site, defined here

    rng = np.random.default_rng([seed, sum(map(ord, cfg.name))])
    dates = tuple(cfg.end - timedelta(days=cfg.days - 1 - i) for i in range(cfg.days))
    eval_from = cfg.days - cfg.eval_days
    out = Dataset(dates=dates, eval_start=dates[eval_from])
    holiday_days = rng.choice(np.arange(14, cfg.days - 1), size=cfg.holidays, replace=False)
    prefixes = []
    for s in range(cfg.sites):
        ga4 = rng.uniform() < cfg.ga4_share
        prefix = "" if cfg.naming == "plain" else f"{'ga4' if ga4 else 'gsc'}/site{s:02d}/"
        prefixes.append(prefix)
        holiday = np.ones(cfg.days)
        holiday[holiday_days] = rng.uniform(*cfg.holiday_depth, holiday_days.size)
        site = Site(np.random.default_rng([seed, s, 11]), cfg, prefix, dates, eval_from, holiday, out)
        (simulate_ga4 if ga4 else simulate_gsc)(site)
        if cfg.naming == "plain" and s == 0 and cfg.ga4_share == 1.0:
            gsc = Site(np.random.default_rng([seed, s, 12]), cfg, prefix, dates, eval_from, holiday, out, site.used)
            simulate_gsc(gsc)
    _holes(out, rng, cfg, prefixes)
    out.labels.sort(key=lambda lab: (lab.start, lab.series, lab.metric))
    return out


_LABEL_HEADER = ("series", "metric", "kind", "start", "end", "factor", "also")


def write_labels(labels: list[Label], path: Path) -> None:
    """The labels file: ``series,metric,kind,start,end,factor,also`` (``also``: metrics that
    move with the labelled one, ``;``-separated)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(_LABEL_HEADER)
        for lab in labels:
            writer.writerow((lab.series, lab.metric, lab.kind, lab.start, lab.end, lab.factor, ";".join(lab.also)))


def read_labels(path: Path) -> list[Label]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return [
            Label(
                series=row["series"],
                metric=row["metric"],
                kind=row["kind"],
                start=date.fromisoformat(row["start"]),
                end=date.fromisoformat(row["end"]),
                factor=float(row["factor"]),
                also=tuple(m for m in row.get("also", "").split(";") if m),
            )
            for row in reader
        ]
