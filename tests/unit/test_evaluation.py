"""The labelled evaluation: generator, event-level scoring, and barometer ahead of the naive baseline."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from benchmarks.evaluation import CONFIGS, Flag, Label, generate, read_labels, score, write_labels
from benchmarks.evaluation.baselines import naive_zscore
from benchmarks.evaluation.flat import generate_flat
from jobs.csvio import read_panels_csv
from jobs.detection.engine import walk
from jobs.detection.panels import site_of
from jobs.detection.params import DetectionParams

D = date(2025, 5, 1)


def _label(series: str, metric: str, kind: str, start: int, end: int | None = None) -> Label:
    first = D + timedelta(days=start)
    return Label(
        series, metric, kind, first, first + timedelta(days=end if end is not None else start), 2.0, ("clicks",)
    )


def test_scoring_counts_windows_consequences_and_false_alarms() -> None:
    labels = [
        _label("s/q:a", "impressions", "spike", 0),
        _label("s/q:b", "impressions", "level_shift", 10, 12),
        _label("t/q:c", "ctr", "ctr", 20, 21),
    ]
    flags = [
        Flag("s/q:a", "impressions", D + timedelta(days=2)),  # inside [start, start + 2]: detected
        Flag("s/q:a", "impressions", D + timedelta(days=1)),  # same event again: one detection
        Flag("s/total", "clicks", D),  # its site's total, in a metric that moves with it: neutral
        Flag("s/q:b", "impressions", D + timedelta(days=13)),  # a level shift reported late: false alarm
        Flag("u/total", "impressions", D),  # another site: false alarm
        Flag("t/q:c", "clicks", D + timedelta(days=21)),  # a consequence only: neutral, not a detection
    ]
    s = score(labels, flags, series_days=10_000)
    assert (s.events, s.detected, s.false_alarms) == (3, 1, 2)
    assert s.by_kind == {"ctr": (0, 1), "level_shift": (0, 1), "spike": (1, 1)}
    assert s.precision == 1 / 3
    assert s.recall == 1 / 3
    assert s.fa_per_1000 == 0.2
    assert {(lab.series, lab.kind) for lab in s.missed} == {("s/q:b", "level_shift"), ("t/q:c", "ctr")}


def test_generator_is_deterministic_and_its_files_round_trip(tmp_path: Path) -> None:
    small = dataclasses.replace(CONFIGS["dev"], name="small", sites=4, days=100, eval_days=28, event_rate=4.0)
    a, b = generate(small, 5), generate(small, 5)
    assert a.labels == b.labels
    assert a.labels
    assert all(small.days - small.eval_days <= a.dates.index(lab.start) for lab in a.labels)
    csv_path = tmp_path / "set.csv"
    assert a.write_csv(csv_path) == sum(int((v == v).sum()) for v in a.values.values())
    write_labels(a.labels, tmp_path / "labels.csv")
    assert read_labels(tmp_path / "labels.csv") == a.labels
    assert generate(small, 6).labels != a.labels


def test_the_flat_generator_is_deterministic_independent_and_labels_the_evaluation_window() -> None:
    a, b = generate_flat(3, series=80), generate_flat(3, series=80)
    assert a.labels == b.labels
    assert a.labels
    assert generate_flat(4, series=80).labels != a.labels
    assert len({site_of(series) for series, _ in a.values}) == 80  # every series its own site
    assert all(a.eval_start <= lab.start <= lab.end <= a.dates[-1] for lab in a.labels)
    assert {lab.kind for lab in generate_flat(3).labels} == {"spike", "drop", "level_shift", "outage"}


def test_barometer_finds_most_events_with_few_false_alarms_where_the_naive_z_score_does_not() -> None:
    small = dataclasses.replace(CONFIGS["dev"], name="small", sites=8, days=120, eval_days=28, event_rate=4.0)
    data = generate(small, 11)
    path = Path("eval.csv")
    data.write_csv(path)
    panels = read_panels_csv(path)
    start, end = data.eval_start, data.dates[-1]
    cells = data.series_days(start, end)
    done = walk(panels, DetectionParams(), start=start, end=end)
    ours = score(
        data.labels, [Flag(f.anomaly.series, f.anomaly.metric, f.anomaly.day) for f in done.findings], series_days=cells
    )
    naive = score(data.labels, naive_zscore(panels, start=start, end=end), series_days=cells)
    assert ours.events >= 20
    assert ours.recall >= 0.85, ours.missed
    assert ours.fa_per_1000 <= 0.5, ours.false
    assert ours.f1 > naive.f1 + 0.3


def test_the_blind_generator_is_deterministic_and_labels_its_evaluation_window() -> None:
    from benchmarks.evaluation.blind import MOVES_WITH, generate_blind

    a, b = generate_blind(2), generate_blind(2)
    assert a.labels == b.labels
    assert all(np.array_equal(a.values[k], b.values[k], equal_nan=True) for k in a.values)
    assert len(a.labels) >= 30
    assert generate_blind(3).labels != a.labels
    assert all(a.eval_start <= lab.start <= lab.end <= a.dates[-1] for lab in a.labels)
    assert a.eval_start == a.dates[-42]
    assert {metric for _, metric in a.values} == {"sessions", "keyEvents", "clicks", "impressions", "position"}
    assert {lab.metric for lab in a.labels} <= {"sessions", "keyEvents", "clicks", "impressions", "position"}
    assert all(lab.also == MOVES_WITH[lab.metric] for lab in a.labels)
    assert all(lab.series.split("/")[0] in ("ga4", "gsc") and (lab.series, lab.metric) in a.values for lab in a.labels)
    assert {lab.kind for lab in a.labels} >= {"spike", "drop", "level_shift", "outage", "ctr"}
    # a GA4 total is the sum of its channels
    channels = [v for (s, m), v in a.values.items() if s.startswith("ga4/shop/channel:") and m == "sessions"]
    total = a.values["ga4/shop/total", "sessions"]
    both = np.isfinite(total) & np.all(np.isfinite(channels), axis=0)
    assert np.array_equal(total[both], np.sum(channels, axis=0)[both])
