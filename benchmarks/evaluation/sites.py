"""One simulated site of the evaluation set: GA4-like or Search-Console-like.

Each simulation sets up the site's structure and means, plants its anomalies (recording
labels), then draws the noisy counts (see :mod:`benchmarks.evaluation.generator` for what is
simulated and why).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from benchmarks.evaluation.generator import CHANNELS, GeneratorConfig, Site

__all__ = ["simulate_ga4", "simulate_gsc"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def _events(site: Site, candidates: int) -> int:
    """How many events this site gets (Poisson in its eligible series-days)."""
    lam = site.cfg.event_rate * candidates * (site.t - site.eval_from) / 1000.0
    return int(site.rng.poisson(lam))


def _kind_factor(rng: np.random.Generator, kind: str) -> tuple[float, int]:
    """(multiplier, days) of an anomaly of ``kind`` (0 days: a level shift, to the end)."""
    if kind == "spike":
        return float(rng.uniform(1.6, 4.0)), int(rng.choice([1, 1, 1, 2]))
    if kind == "drop":
        return float(rng.uniform(0.2, 0.6)), int(rng.choice([1, 1, 1, 2]))
    if kind == "level_shift":
        up = rng.uniform() < 0.4
        return float(rng.uniform(1.5, 2.2) if up else rng.uniform(0.35, 0.65)), 0
    if kind == "outage":
        return float(rng.uniform(0.0, 0.03)), int(rng.choice([1, 2, 3]))
    if kind == "ctr":
        up = rng.uniform() < 0.3
        return float(rng.uniform(1.5, 2.0) if up else rng.uniform(0.35, 0.65)), int(rng.choice([1, 2, 3]))
    raise ValueError(kind)


@dataclass(frozen=True, slots=True)
class _When:
    start: int
    end: int
    factor: float
    key: str
    days: int


def _record(site: Site, series: str, metric: str, kind: str, when: _When) -> None:
    site.label(series, metric, kind, start=when.start, end=when.end, factor=when.factor, key=when.key, days=when.days)


def _window(site: Site, start: int, days: int) -> BoolArray:
    on = np.zeros(site.t, dtype=np.bool_)
    on[start : site.t if days == 0 else min(site.t, start + days)] = True
    return on


def _detectable(mean: float, rel_sd: float, factor: float, cfg: GeneratorConfig) -> bool:
    """At least ``min_sigmas`` standard deviations of the day's noise, on a log scale (where a
    doubling and a halving are the same size), and enough volume to say anything."""
    if mean < cfg.min_volume:
        return False
    log_sd = np.sqrt(np.log1p(rel_sd**2 + 1.0 / mean))
    after = max(factor * mean, 0.5)
    return bool(abs(np.log(after / mean)) >= cfg.min_sigmas * log_sd)


class _Ga4:
    """Six channels (negative binomial each, the total their sum), landing pages splitting the
    total (multinomial with daily jitter), keyEvents binomial in sessions."""

    def __init__(self, site: Site) -> None:
        rng, cfg = site.rng, site.cfg
        self.site = site
        volume = float(np.exp(rng.uniform(*np.log(cfg.volume))))
        self.base = volume * site.weekday(0.03) * site.level(cfg.trend) * site.holiday
        self.shock_sd = rng.uniform(*cfg.site_noise)
        self.shock = np.exp(rng.normal(0.0, self.shock_sd, site.t))
        shares = rng.dirichlet(np.full(len(CHANNELS), 1.5))
        self.ch_alpha = np.exp(
            rng.uniform(float(np.log(cfg.dispersion[0])), float(np.log(cfg.dispersion[1])), len(CHANNELS))
        )
        jitter = np.exp(rng.normal(0.0, 0.03, (len(CHANNELS), 7)))[:, [d.weekday() for d in site.dates]]
        self.ch_mean = self.base[None, :] * shares[:, None] * jitter
        self.ch_mean *= np.stack([site.level(cfg.trend / 3) for _ in CHANNELS])
        n_pages = int(rng.integers(cfg.children[0], cfg.children[1] + 1))
        self.pages = tuple(f"/p{i:03d}" for i in range(n_pages))
        weights = 1.0 / np.arange(1, n_pages + 1) ** rng.uniform(0.8, 1.3) * rng.uniform(0.7, 1.4, n_pages)
        self.weights = weights / weights.sum()
        self.page_level = np.stack([site.level(cfg.trend / 2) for _ in self.pages])
        self.cr = rng.uniform(0.01, 0.06) * np.exp(rng.normal(0.0, 0.3, len(CHANNELS)))
        self.page_cr = np.exp(rng.normal(0.0, 0.5, n_pages))
        self.ch_factor = np.ones((len(CHANNELS), site.t))
        self.cr_factor = np.ones((len(CHANNELS), site.t))
        self.page_events: list[tuple[int, BoolArray, float]] = []

    def plant(self) -> None:
        site, rng, cfg = self.site, self.site.rng, self.site.cfg
        rel = np.sqrt(self.ch_alpha + self.shock_sd**2)
        page_mean = self.weights[:, None] * self.page_level * self.base[None, :]
        page_mean = page_mean / page_mean.sum(axis=0) * self.base[None, :]
        page_rel = np.sqrt(np.median(self.ch_alpha) + self.shock_sd**2 + 1 / 80)
        for _ in range(_events(site, 2 * (1 + len(CHANNELS) + len(self.pages)))):
            kind = str(rng.choice(["spike", "drop", "level_shift", "outage", "spike", "drop", "level_shift"]))
            factor, days = _kind_factor(rng, kind)
            where = rng.uniform()
            c, p = int(rng.integers(len(CHANNELS))), int(rng.integers(len(self.pages)))
            key = "" if kind == "outage" or where < 0.15 else f"c{c}" if where < 0.45 else f"p{p}"
            start = site.slot(days, key)
            if start is None:
                continue
            on = _window(site, start, days)
            when = _When(start, start + max(days, 1) - 1, factor, key, days)
            if kind == "outage":  # a conversion tag removed: keyEvents of the whole site
                if float((self.base * self.cr.mean())[start]) >= cfg.min_volume:
                    self.cr_factor[:, on] *= factor
                    _record(site, "total", "keyEvents", kind, when)
            elif not key:
                if _detectable(float(self.base[start]), self.shock_sd, factor, cfg):
                    self.ch_factor[:, on] *= factor
                    _record(site, "total", "sessions", kind, when)
            elif key[0] == "c":
                if _detectable(float(self.ch_mean[c, start]), float(rel[c]), factor, cfg):
                    self.ch_factor[c, on] *= factor
                    _record(site, f"channel:{CHANNELS[c]}", "sessions", kind, when)
            elif _detectable(float(page_mean[p, start]), page_rel, factor, cfg):
                self.page_events.append((p, on, factor))
                _record(site, f"landingPage:{self.pages[p]}", "sessions", kind, when)

    def _pages(self, channel: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Landing pages split the total; a page's own event adds or removes visits (and the
        channels gain or lose them in proportion)."""
        rng, t = self.site.rng, self.site.t
        total = channel.sum(axis=0)
        w = self.weights[:, None] * self.page_level * rng.gamma(80.0, 1 / 80.0, (len(self.pages), t))
        page = rng.multinomial(total.astype(np.int64), (w / w.sum(axis=0)).T).T.astype(np.float64)
        for p, on, factor in self.page_events:
            before = page[p].copy()
            if factor >= 1:
                page[p] += np.where(on, rng.poisson(before * (factor - 1.0)), 0.0)
            else:
                page[p] = np.where(on, rng.binomial(before.astype(np.int64), factor), before)
            delta = page[p] - before
            share = channel / np.maximum(channel.sum(axis=0), 1.0)
            channel = np.maximum(channel + np.round(share * delta[None, :]), 0.0)
        return channel, page

    def draw(self) -> None:
        site, rng = self.site, self.site.rng
        channel = site.nb(self.ch_mean * self.shock[None, :] * self.ch_factor, self.ch_alpha[:, None])
        channel, page = self._pages(channel)
        conv_p = np.clip(self.cr[:, None] * self.cr_factor * rng.gamma(200.0, 1 / 200.0, site.t)[None, :], 0.0, 1.0)
        conv = rng.binomial(channel.astype(np.int64), conv_p).astype(np.float64)
        pw = page * self.page_cr[:, None]
        pw = pw / np.maximum(pw.sum(axis=0), 1e-9)
        pw = np.where(pw.sum(axis=0) > 0, pw, 1.0 / len(self.pages))
        page_conv = rng.multinomial(conv.sum(axis=0).astype(np.int64), pw.T).T.astype(np.float64)
        site.put("total", {"sessions": channel.sum(axis=0), "keyEvents": conv.sum(axis=0)})
        for c, name in enumerate(CHANNELS):
            site.put(f"channel:{name}", {"sessions": channel[c], "keyEvents": conv[c]})
        for p, name in enumerate(self.pages):
            site.put(f"landingPage:{name}", {"sessions": page[p], "keyEvents": page_conv[p]})


class _Gsc:
    """Queries (negative binomial impressions, CTR falling with position, clicks binomial),
    an impressions-weighted position, and pages splitting the total."""

    def __init__(self, site: Site) -> None:
        rng, cfg = site.rng, site.cfg
        self.site = site
        volume = float(np.exp(rng.uniform(*np.log(cfg.volume)))) * 10.0  # impressions
        self.base = volume * site.weekday(0.02) * site.level(cfg.trend) * site.holiday
        self.shock_sd = rng.uniform(*cfg.site_noise)
        self.shock = np.exp(rng.normal(0.0, self.shock_sd, site.t))
        n_q = int(rng.integers(cfg.children[0], cfg.children[1] + 1))
        self.queries = tuple(f"q{i:03d}" for i in range(n_q))
        shares = 1.0 / np.arange(1, n_q + 1) ** rng.uniform(0.7, 1.2) * rng.uniform(0.7, 1.4, n_q)
        shares /= shares.sum()
        self.alpha = np.exp(rng.uniform(float(np.log(cfg.dispersion[0])), float(np.log(cfg.dispersion[1])), n_q))
        levels = np.stack([site.level(cfg.trend / 2) for _ in self.queries])
        self.q_mean = self.base[None, :] * shares[:, None] * levels
        self.pos0 = rng.uniform(1.5, 20.0, n_q)
        self.ctr0 = 0.35 / self.pos0**1.1 * rng.uniform(0.6, 1.4, n_q)
        self.imp_factor = np.ones((n_q, site.t))
        self.ctr_factor = np.ones((n_q, site.t))
        self.pos_shift = np.zeros((n_q, site.t))

    def plant(self) -> None:
        site, rng = self.site, self.site.rng
        n_q = len(self.queries)
        for _ in range(_events(site, 4 * (n_q + 1))):
            kind = str(rng.choice(["spike", "drop", "level_shift", "ctr", "ctr", "position", "level_shift"]))
            q = int(rng.integers(n_q))
            whole = rng.uniform() < 0.2 and kind != "position"
            key = "" if whole else f"q{q}"
            factor, days = _kind_factor(rng, "spike" if kind == "position" else kind)
            start = site.slot(days, key)
            if start is not None:
                self._plant(kind, q, whole, factor, start=start, days=days)

    def _plant(self, kind: str, q: int, whole: bool, factor: float, *, start: int, days: int) -> None:
        site, rng, cfg = self.site, self.site.rng, self.site.cfg
        on = _window(site, start, days)
        key = "" if whole else f"q{q}"
        query = f"query:{self.queries[q]}"
        when = _When(start, start + max(days, 1) - 1, factor, key, days)
        if kind == "position":
            delta = float(rng.uniform(3.0, 8.0)) * (1 if rng.uniform() < 0.8 else -0.5)
            if float(self.q_mean[q, start]) >= cfg.min_volume * 20 and self.pos0[q] + delta >= 1.0:
                self.pos_shift[q, on] += delta
                _record(site, query, "position", kind, replace(when, factor=delta))
        elif kind == "ctr":
            clicks = (self.q_mean * self.ctr0[:, None]).sum(axis=0) if whole else self.q_mean[q] * self.ctr0[q]
            if _detectable(float(clicks[start]), 0.09, factor, cfg):
                self.ctr_factor[slice(None) if whole else q, on] *= factor
                _record(site, "total" if whole else query, "ctr", kind, when)
        elif whole:
            if _detectable(float(self.base[start]), self.shock_sd, factor, cfg):
                self.imp_factor[:, on] *= factor
                _record(site, "total", "impressions", kind, when)
        elif _detectable(float(self.q_mean[q, start]), float(np.sqrt(self.alpha[q] + self.shock_sd**2)), factor, cfg):
            self.imp_factor[q, on] *= factor
            _record(site, query, "impressions", kind, when)

    def draw(self) -> None:
        site, rng = self.site, self.site.rng
        n_q, t = len(self.queries), site.t
        imp = site.nb(self.q_mean * self.shock[None, :] * self.imp_factor, self.alpha[:, None])
        noise = rng.normal(0.0, 0.1, (n_q, t)) + rng.normal(0, 0.5, (n_q, t)) / np.sqrt(np.maximum(imp, 1.0))
        pos = np.maximum(self.pos0[:, None] + self.pos_shift + noise, 1.0)
        ctr = 0.35 / pos**1.1 * (self.ctr0 * self.pos0**1.1 / 0.35)[:, None] * self.ctr_factor
        ctr = ctr * rng.gamma(150.0, 1 / 150.0, (n_q, t))
        clicks = rng.binomial(imp.astype(np.int64), np.clip(ctr, 0.0, 0.95)).astype(np.float64)
        tot_imp, tot_clicks = imp.sum(axis=0), clicks.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            tot_pos = np.round((imp * pos).sum(axis=0) / tot_imp, 2)
            q_pos = np.where(imp > 0, np.round(pos, 2), np.nan)
        site.put("total", {"impressions": tot_imp, "clicks": tot_clicks, "position": tot_pos})
        for q, name in enumerate(self.queries):
            site.put(f"query:{name}", {"impressions": imp[q], "clicks": clicks[q], "position": q_pos[q]})
        n_p = max(3, n_q // 2)
        pw = rng.dirichlet(np.full(n_p, 0.8))
        page_imp = rng.multinomial(tot_imp.astype(np.int64), pw).T.astype(np.float64)
        page_clicks = rng.multinomial(tot_clicks.astype(np.int64), pw).T.astype(np.float64)
        for p in range(n_p):
            site.put(f"page:/page{p:02d}", {"impressions": page_imp[p], "clicks": page_clicks[p]})


def simulate_ga4(site: Site) -> None:
    sim = _Ga4(site)
    sim.plant()
    sim.draw()


def simulate_gsc(site: Site) -> None:
    sim = _Gsc(site)
    sim.plant()
    sim.draw()
