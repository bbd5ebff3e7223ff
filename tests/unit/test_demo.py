"""The demo source: reproducible, window-independent, realistic, with known incidents."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import pytest

from jobs.domain import TOTAL_SERIES, Kind, PointFlag, PropertySpec
from jobs.errors import InputError
from jobs.sources.demo import DemoSource, injected_events

ANCHOR = date(2024, 5, 15)
GA4 = PropertySpec(name="shop", source="demo", id="ga4")
GSC = PropertySpec(name="search", source="demo", id="gsc")


def _values(source: DemoSource, spec: PropertySpec, start: date, end: date) -> dict[tuple[date, str, str], float]:
    return {(o.day, o.series, o.metric): o.value for o in source.fetch(spec, start=start, end=end)}


@pytest.mark.parametrize("spec", [GA4, GSC])
def test_values_do_not_depend_on_the_fetch_window(spec: PropertySpec) -> None:
    wide = _values(DemoSource(anchor=ANCHOR), spec, ANCHOR - timedelta(days=30), ANCHOR + timedelta(days=3))
    narrow = _values(DemoSource(anchor=ANCHOR), spec, ANCHOR - timedelta(days=5), ANCHOR)
    assert narrow
    assert all(wide[key] == value for key, value in narrow.items())


def test_same_seed_same_data_other_seed_other_data() -> None:
    window = (ANCHOR - timedelta(days=3), ANCHOR)
    a = _values(DemoSource(anchor=ANCHOR, seed=7), GA4, *window)
    b = _values(DemoSource(anchor=ANCHOR, seed=7), GA4, *window)
    c = _values(DemoSource(anchor=ANCHOR, seed=8), GA4, *window)
    assert a == b
    assert a != c


def test_ga4_children_of_each_dimension_sum_to_the_total() -> None:
    sums: dict[tuple[date, str, str], float] = defaultdict(float)
    totals = {}
    for o in DemoSource(anchor=ANCHOR).fetch(GA4, start=ANCHOR - timedelta(days=9), end=ANCHOR):
        if o.series == TOTAL_SERIES:
            totals[o.day, o.metric] = o.value
        else:
            sums[o.day, o.metric, o.series.partition(":")[0]] += o.value
    assert len(sums) == 10 * 3 * 2
    for (day, metric, _dim), value in sums.items():
        assert value == totals[day, metric]


def test_gsc_children_sum_to_the_total_and_position_is_a_weighted_average() -> None:
    obs = list(DemoSource(anchor=ANCHOR).fetch(GSC, start=ANCHOR - timedelta(days=1), end=ANCHOR - timedelta(days=1)))
    by = {(o.series, o.metric): o.value for o in obs}
    pages = [s for s, m in by if s.startswith("page:") and m == "clicks"]
    queries = [s for s, m in by if s.startswith("query:") and m == "clicks"]
    assert len(pages) == len(queries) == 25
    assert sum(by[p, "clicks"] for p in pages) == by[TOTAL_SERIES, "clicks"]
    assert sum(by[q, "impressions"] for q in queries) == by[TOTAL_SERIES, "impressions"]
    weighted = sum(by[q, "position"] * by[q, "impressions"] for q in queries if (q, "position") in by)
    assert weighted / by[TOTAL_SERIES, "impressions"] == pytest.approx(by[TOTAL_SERIES, "position"], abs=0.02)
    assert 1.0 <= by[TOTAL_SERIES, "position"] < 20


def test_days_after_the_anchor_are_incomplete_and_partly_counted() -> None:
    source = DemoSource(anchor=ANCHOR)
    obs = [o for o in source.fetch(GA4, start=ANCHOR - timedelta(days=20), end=ANCHOR + timedelta(days=10))]
    total = {o.day: o for o in obs if o.series == TOTAL_SERIES and o.metric == "sessions"}
    assert max(total) == ANCHOR + timedelta(days=3)  # clipped to the demo's range
    assert min(total) == ANCHOR - timedelta(days=20)
    assert {o.flags for d, o in total.items() if d > ANCHOR} == {PointFlag.INCOMPLETE}
    assert {o.flags for d, o in total.items() if d <= ANCHOR} == {PointFlag.NONE}
    week_before = total[ANCHOR - timedelta(days=4)].value  # same weekday as anchor + 3
    assert total[ANCHOR + timedelta(days=3)].value < 0.6 * week_before


def test_last_final_date_lags_like_google() -> None:
    source = DemoSource(anchor=ANCHOR)
    today = date(2024, 6, 1)
    assert source.last_final_date(GA4, today=today) == date(2024, 5, 30)
    assert source.last_final_date(GSC, today=today) == date(2024, 5, 29)


def test_the_ga4_week_has_a_quiet_weekend() -> None:
    # the anchor is a Tuesday to the generator on every date: its "weekend" is offsets -3, -2
    obs = DemoSource(anchor=ANCHOR).fetch(GA4, start=ANCHOR - timedelta(days=70), end=ANCHOR - timedelta(days=1))
    by_weekday: dict[int, list[float]] = defaultdict(list)
    for o in obs:
        if o.series == TOTAL_SERIES and o.metric == "sessions":
            by_weekday[(o.day - ANCHOR).days % 7].append(o.value)
    weekend = (4, 5)  # offsets -3 and -2 modulo 7: the generator's Saturday and Sunday
    weekday = sum(sum(v) for k, v in by_weekday.items() if k not in weekend) / sum(
        len(v) for k, v in by_weekday.items() if k not in weekend
    )
    quiet = sum(sum(by_weekday[k]) for k in weekend) / sum(len(by_weekday[k]) for k in weekend)
    assert quiet < 0.75 * weekday


@pytest.mark.parametrize("spec", [GA4, GSC])
def test_the_data_read_the_same_on_every_anchor_date(spec: PropertySpec) -> None:
    def relative(anchor: date) -> dict[tuple[int, str, str], float]:
        values = _values(DemoSource(anchor=anchor), spec, anchor - timedelta(days=20), anchor + timedelta(days=3))
        return {((day - anchor).days, series, metric): v for (day, series, metric), v in values.items()}

    first = relative(ANCHOR)
    assert first
    for shift in (1, 3, 200):
        assert relative(ANCHOR + timedelta(days=shift)) == first


def test_spec_metrics_and_breakdowns_select_what_is_emitted() -> None:
    spec = PropertySpec(name="shop", source="demo", id="ga4", metrics=("sessions",), breakdowns=("landingPage",))
    obs = list(DemoSource(anchor=ANCHOR).fetch(spec, start=ANCHOR, end=ANCHOR))
    assert {o.metric for o in obs} == {"sessions"}
    assert {o.series.partition(":")[0] for o in obs} == {TOTAL_SERIES, "landingPage"}
    gsc = PropertySpec(name="s", source="demo", id="gsc", metrics=("ctr",))
    assert {o.metric for o in DemoSource(anchor=ANCHOR).fetch(gsc, start=ANCHOR, end=ANCHOR)} == {
        "clicks",
        "impressions",
    }


def test_bad_specs_say_what_is_wrong() -> None:
    source = DemoSource(anchor=ANCHOR)
    with pytest.raises(
        InputError, match=r"^demo property 'x': id 'bing' is not a demo flavour \(use 'ga4' or 'gsc'\)$"
    ):
        list(source.fetch(PropertySpec(name="x", source="demo", id="bing"), start=ANCHOR, end=ANCHOR))
    with pytest.raises(InputError, match=r"metric 'revenue' is not in the ga4 demo \(choose from sessions"):
        list(source.fetch(PropertySpec(name="x", source="demo", metrics=("revenue",)), start=ANCHOR, end=ANCHOR))


def test_injected_events_cover_four_kinds_on_the_anchor_and_older_ones() -> None:
    events = injected_events(ANCHOR)
    on_anchor = {e.kind for e in events if e.day <= ANCHOR <= e.last_day}
    assert {Kind.DROP, Kind.OUTAGE, Kind.SPIKE, Kind.LEVEL_SHIFT, Kind.RATE_CHANGE} <= on_anchor
    assert any(e.day <= ANCHOR - timedelta(days=40) for e in events)
    shift = next(e for e in events if e.kind is Kind.LEVEL_SHIFT)
    assert shift.day == ANCHOR - timedelta(days=2)


def test_the_outage_shows_in_the_data() -> None:
    obs = _values(DemoSource(anchor=ANCHOR), GA4, ANCHOR - timedelta(days=7), ANCHOR)
    assert obs[ANCHOR, TOTAL_SERIES, "keyEvents"] <= 2
    assert obs[ANCHOR - timedelta(days=7), TOTAL_SERIES, "keyEvents"] > 20
