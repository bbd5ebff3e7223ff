"""A day scored in chunks of series equals the day scored whole: the joined fits bit for bit,
the findings finding by finding (counts, a CTR with its impressions, an impressions-weighted
position, a panel with fewer rows than chunks; chunk edges off the count model's blocks)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from jobs.detection import chunks, detect, finding_to_json
from jobs.detection.panels import derive_ctr
from jobs.detection.params import DetectionParams
from jobs.detection.scorer import build_scorers
from jobs.domain import TOTAL_SERIES, Finding, MetricPanel

DAY = date(2026, 11, 18)
DAYS = 84
DATES = tuple(DAY - timedelta(days=DAYS - 1 - i) for i in range(DAYS))
PAGES = 4_400  # more than one block of the count model (4,096 series)
SERIES = (
    TOTAL_SERIES,
    *(f"device:{d}" for d in ("desktop", "mobile", "tablet")),
    *(f"page:/p{i:05d}" for i in range(PAGES)),
    *(f"query:q{i}" for i in range(40)),
)
WEEKDAY = np.array([1.0, 1.05, 1.05, 1.0, 0.95, 0.7, 0.65])


def _counts(rng: np.random.Generator, levels: np.ndarray) -> np.ndarray:
    weekday = WEEKDAY[[d.weekday() for d in DATES]]
    mean = levels[:, None] * weekday[None, :]
    values: np.ndarray = rng.poisson(rng.gamma(1 / 0.03, mean * 0.03)).astype(np.float64)
    values[rng.random(values.shape) < 0.02] = np.nan  # gaps
    values[5:12, -1] *= 0.2  # pages that collapsed today
    values[40:45, -1] *= 3.0  # and some that spiked
    values[60:70, 30:33] *= 6.0  # past bursts
    values[0] = np.nansum(values[1:], axis=0)
    return values


def _panels() -> tuple[MetricPanel, ...]:
    rng = np.random.default_rng(16)
    levels = rng.gamma(1.2, 120.0, size=len(SERIES)).round() + 3.0
    impressions = _counts(rng, levels * 20.0)
    shown = np.nan_to_num(impressions).astype(np.int64)
    rate = np.clip(rng.beta(4, 60, size=(len(SERIES), 1)), 0.005, 0.5) * np.ones((1, DAYS))
    rate[80:86, -1] *= 0.4  # CTR drops on some pages, impressions steady
    clicks = rng.binomial(shown, rate).astype(np.float64)
    clicks[np.isnan(impressions)] = np.nan
    clicks[0] = np.nansum(clicks[1:], axis=0)
    position = 8.0 + rng.normal(0.0, 0.4, size=(len(SERIES), DAYS)) + rng.uniform(0, 20, size=(len(SERIES), 1))
    position[130:134, -1] += 7.0  # a ranking loss
    position[rng.random(position.shape) < 0.03] = np.nan
    sessions = _counts(rng, levels)
    few = ("total", "device:desktop", "device:mobile")  # fewer rows than chunks
    signups = _counts(rng, np.array([400.0, 250.0, 150.0]))[: len(few)]
    return derive_ctr(
        [
            MetricPanel("p", "impressions", SERIES, DATES, impressions, last_final=DAY),
            MetricPanel("p", "clicks", SERIES, DATES, clicks, last_final=DAY),
            MetricPanel("p", "position", SERIES, DATES, position, last_final=DAY),
            MetricPanel("p", "sessions", SERIES, DATES, sessions, last_final=DAY),
            MetricPanel("p", "signups", few, DATES, signups, last_final=DAY),
        ]
    )


@pytest.fixture(scope="module")
def panels() -> tuple[MetricPanel, ...]:
    return _panels()


@pytest.fixture(scope="module")
def whole(panels: tuple[MetricPanel, ...]) -> tuple[Finding, ...]:
    return detect(panels, DetectionParams(), day=DAY)


def _json(findings: tuple[Finding, ...]) -> list[dict[str, object]]:
    return [finding_to_json(f) for f in findings]


def test_the_fixture_has_findings_of_every_model(whole: tuple[Finding, ...]) -> None:
    assert {"sessions", "clicks", "ctr", "position"} <= {f.anomaly.metric for f in whole}


@pytest.mark.parametrize("k", [1, 2, 3, 7])
def test_chunked_fits_are_the_whole_panels_fits(panels: tuple[MetricPanel, ...], k: int) -> None:
    params = DetectionParams()
    one, other = build_scorers(panels, params), build_scorers(panels, params)
    jobs = chunks.fit_jobs(other, DAY)
    assert {j.key for j in jobs} == {
        "clicks",
        "ctr",
        "ctr>volume",  # CTR's impressions re-indexed to CTR's series: a scorer of its own
        "impressions",
        "position",
        "sessions",
        "signups",
    }
    joined = chunks.chunked_fits(other, DAY, k)
    for job in jobs:
        metric, _, volume = job.key.partition(">")
        scorer = one[("p", metric)]
        whole_fit = (scorer.volume if volume else scorer).fit(job.col)  # type: ignore[union-attr]
        part = joined[job.key]
        for name in ("expected", "season", "own", "sampling", "informative", "ref"):
            a, b = getattr(whole_fit, name), getattr(part, name)
            assert (a is None) == (b is None), (job.key, name)
            if a is not None:
                assert a.tobytes() == b.tobytes(), (job.key, name, k)


@pytest.mark.parametrize("k", [1, 2, 3, 7])
def test_findings_scored_in_chunks_equal_the_whole_run(
    panels: tuple[MetricPanel, ...], whole: tuple[Finding, ...], k: int
) -> None:
    def lend(scorers: object) -> None:
        jobs = chunks.fit_jobs(scorers, DAY)  # type: ignore[arg-type]
        chunks.lend(jobs, chunks.chunked_fits(scorers, DAY, k))  # type: ignore[arg-type]

    chunked = detect(panels, DetectionParams(), day=DAY, lend=lend)
    assert len(chunked) == len(whole) > 10
    for a, b in zip(_json(chunked), _json(whole), strict=True):
        assert a == b


def test_bounds_cover_the_rows_in_order() -> None:
    assert chunks.bounds(10, 3) == [(0, 3), (3, 6), (6, 10)]
    assert chunks.bounds(2, 3) == [(0, 0), (0, 1), (1, 2)]
    assert chunks.chunk_count(200_000, 200_000) == 1
    assert chunks.chunk_count(500_000, 200_000) == 3
    assert chunks.chunk_count(500_000, 0) == 1


def test_a_chunk_of_other_rows_is_refused(panels: tuple[MetricPanel, ...]) -> None:
    params = DetectionParams()
    scorers = build_scorers(panels, params)
    jobs = chunks.fit_jobs(scorers, DAY)
    parts = [chunks.fit(chunks.inputs(jobs, k, 2)) for k in range(2)]
    fewer = tuple(p for p in panels if p.metric != "sessions") + tuple(
        MetricPanel(p.property, p.metric, p.series[:-1], p.dates, p.values[:-1], p.last_final)
        for p in panels
        if p.metric == "sessions"
    )
    changed = chunks.fit_jobs(build_scorers(fewer, params), DAY)
    with pytest.raises(chunks.ChunkMismatch, match="sessions"):
        chunks.join(changed, parts)
    with pytest.raises(chunks.ChunkMismatch, match="chunk 2 of 2"):
        chunks.join(jobs, [parts[1], parts[1]])


def test_panels_travel_to_the_join_unchanged(panels: tuple[MetricPanel, ...]) -> None:
    back = chunks.unpack_panels(chunks.loads(chunks.dumps(chunks.pack_panels(panels))))
    assert [(p.property, p.metric, p.series, p.dates, p.last_final) for p in back] == [
        (p.property, p.metric, p.series, p.dates, p.last_final) for p in panels
    ]
    assert [p.values.tobytes() for p in back] == [p.values.tobytes() for p in panels]
