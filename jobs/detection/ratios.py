"""Product metrics and their factors: ``keyEvents = sessions x conversion rate`` and
``clicks = impressions x ctr`` (and GA4's users and page views per session).

Every finding on one of these metrics carries a :class:`jobs.domain.Decomposition` of the
product on its day (which factor drove the change). When one factor moved the same way
(off today; reported now or as an ongoing shift) and explains at least :data:`EXPLAINED`
of the product's change on a log scale, the factor's finding carries the product's
decomposition too. Both findings stay: each metric that moved is flagged (clicks fell,
and CTR is why); the digest joins them into one incident (same series, day and
direction, :mod:`alerts.grouping`). ``ctr`` and ``clicks`` moving with a ``position``
change of the same series (a worse rank, fewer clicks) are dropped: the rank is the news.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date

from jobs.detection.decide import explained_finding
from jobs.detection.scorer import Scorer
from jobs.domain import Decomposition, Direction, Factor, Finding

__all__ = ["PRODUCTS", "fold_ratios"]

#: product -> (volume factor, rate factor, rate's display name); the first two are the
#: decompositions shown on their factors' findings too.
PRODUCTS: dict[str, tuple[str, str, str]] = {
    "keyEvents": ("sessions", "keyEvents/sessions", "conversion rate"),
    "clicks": ("impressions", "ctr", "ctr"),
    "conversions": ("sessions", "conversions/sessions", "conversion rate"),
    "totalUsers": ("sessions", "totalUsers/sessions", "users per session"),
    "activeUsers": ("sessions", "activeUsers/sessions", "users per session"),
    "screenPageViews": ("sessions", "screenPageViews/sessions", "views per session"),
}
_FACTOR_OF = {"sessions": "keyEvents", "impressions": "clicks", "ctr": "clicks"}
#: Rates with a scorer of their own whose finding brings their product's (see
#: :func:`_explained_products`).
_PRODUCT_OF_RATE = {"ctr": "clicks"}
#: Share of a product's log change a factor must explain to carry the product's
#: decomposition (and, for a rate, to bring the product's finding with its own).
EXPLAINED = 0.7

Key = tuple[str, str]


class _Lookup:
    """Observed and expected values of any series x metric on a day, from the scorers' caches."""

    def __init__(self, scorers: Mapping[Key, Scorer]) -> None:
        self.scorers = scorers
        self.index: dict[Key, dict[str, int]] = {}

    def _at(self, prop: str, metric: str, series: str, day: date) -> tuple[Scorer, int, int] | None:
        scorer = self.scorers.get((prop, metric))
        if scorer is None or not scorer.panel.dates[0] <= day <= scorer.panel.dates[-1]:
            return None
        names = self.index.get((prop, metric))
        if names is None:
            names = self.index[prop, metric] = {n: i for i, n in enumerate(scorer.panel.series)}
        i = names.get(series)
        return None if i is None else (scorer, i, (day - scorer.panel.dates[0]).days)

    def locate(self, prop: str, metric: str, series: str, day: date) -> tuple[Scorer, int, int] | None:
        """(scorer, row, column) of a series x metric on a day, or None."""
        return self._at(prop, metric, series, day)

    def values(self, prop: str, metric: str, series: str, day: date) -> tuple[float, float] | None:
        found = self._at(prop, metric, series, day)
        if found is None:
            return None
        scorer, i, col = found
        s = scorer.at(col)
        obs, exp = float(s.observed[i]), float(s.expected[i])
        return (obs, exp) if math.isfinite(obs) and math.isfinite(exp) else None

    def moving(self, prop: str, metric: str, series: str, day: date, up: bool) -> bool:
        """Was the series materially off the ``up`` way that day (reported or not)?"""
        found = self._at(prop, metric, series, day)
        if found is None:
            return False
        scorer, i, col = found
        s = scorer.at(col)
        return bool(scorer.off(s, col, up)[i])

    def decomposition(self, prop: str, product: str, series: str, day: date) -> Decomposition | None:
        volume_metric, rate_metric, rate_name = PRODUCTS[product]
        total = self.values(prop, product, series, day)
        volume = self.values(prop, volume_metric, series, day)
        if total is None or volume is None:
            return None
        rate = self.values(prop, rate_metric, series, day) if rate_metric == "ctr" else None
        if rate is None:
            if volume[0] <= 0 or volume[1] <= 0:
                return None
            rate = (total[0] / volume[0], total[1] / volume[1])
        factors = (Factor(volume_metric, *volume), Factor(rate_name, *rate))
        return Decomposition(product, total[0], total[1], factors)


def _log_change(observed: float, expected: float) -> float:
    return math.log((max(observed, 0.0) + 0.5) / (max(expected, 0.0) + 0.5)) if expected > 0 else 0.0


def _explains(factor: Factor, parts: Decomposition) -> bool:
    """Does ``factor`` account for :data:`EXPLAINED` of the product's change, the same way?"""
    whole = _log_change(parts.observed, parts.expected)
    if factor.name in ("sessions", "impressions"):
        own = _log_change(factor.observed, factor.expected)
    else:  # a rate: relative change
        own = math.log(factor.observed / factor.expected) if factor.observed > 0 and factor.expected > 0 else whole
    return whole != 0 and own / whole >= EXPLAINED


def fold_ratios(found: Sequence[Finding], scorers: Mapping[Key, Scorer]) -> list[Finding]:
    """Attach decompositions (to a product's finding, and to the finding of the factor that
    drove it); drop ``ctr`` and ``clicks`` findings that a worse rank explains."""
    look = _Lookup(scorers)
    out: list[Finding] = []
    carried: dict[tuple[str, str, str], Decomposition] = {}
    for f in found:
        a = f.anomaly
        product = a.metric if a.metric in PRODUCTS else _FACTOR_OF.get(a.metric)
        parts = look.decomposition(a.property, product, a.series, a.day) if product else None
        up = a.direction is Direction.UP
        if a.metric in PRODUCTS and parts is not None:
            volume, rate = parts.factors
            metric = None
            if _explains(volume, parts) and look.moving(a.property, volume.name, a.series, a.day, up):
                metric = volume.name
            elif _explains(rate, parts) and look.moving(a.property, PRODUCTS[a.metric][1], a.series, a.day, up):
                metric = PRODUCTS[a.metric][1]
            if metric is not None:
                carried[a.property, a.series, metric] = parts  # the factor's finding shows it too
        if a.metric in ("ctr", "clicks") and look.moving(a.property, "position", a.series, a.day, not up):
            continue  # the rank moved (up = worse) and took CTR and clicks with it
        out.append(replace(f, decomposition=parts) if parts is not None else f)
    out = [
        f
        if f.decomposition is not None
        else replace(f, decomposition=carried.get((f.anomaly.property, f.anomaly.series, f.anomaly.metric)))
        for f in out
    ]
    return out + _explained_products(out, look)


def _explained_products(found: Sequence[Finding], look: _Lookup) -> list[Finding]:
    """Findings for the products a reported rate explains (clicks that fell because the CTR
    did, impressions steady), where the product's own count test, noisier since it also
    carries the impressions' swings, did not reach significance on its own."""
    have = {(f.anomaly.property, f.anomaly.series, f.anomaly.metric, f.anomaly.day) for f in found}
    extra: list[Finding] = []
    for f in found:
        a = f.anomaly
        product = _PRODUCT_OF_RATE.get(a.metric)
        parts = f.decomposition
        if product is None or parts is None or (a.property, a.series, product, a.day) in have:
            continue
        if parts.metric != product or not _explains(parts.factors[1], parts):
            continue
        located = look.locate(a.property, product, a.series, a.day)
        if located is None:
            continue
        scorer, row, col = located
        made = explained_finding(scorer, col, row, like=a.kind, up=a.direction is Direction.UP)
        if made is not None:
            extra.append(replace(made, decomposition=parts))
    return extra
