"""``make bench``: measure and print the figures the issues set goals for.

Each benchmark prints one line: what was measured, wall time, and peak RSS of this process
(``ru_maxrss``, monotone over the run, so earlier heavy steps raise later figures). Run a
single one with ``python -m benchmarks NAME``.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from jobs.detection.params import DetectionParams
from jobs.domain import TOTAL_SERIES, MetricPanel, Observation, PropertySpec

BENCHMARKS: dict[str, Callable[[Path], str]] = {}


def bench(func: Callable[[Path], str]) -> Callable[[Path], str]:
    BENCHMARKS[func.__name__] = func
    return func


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _synthetic_panel(n_series: int, n_days: int, *, seed: int = 1) -> MetricPanel:
    rng = np.random.default_rng(seed)
    end = date(2026, 6, 30)
    dates = tuple(end - timedelta(days=n_days - 1 - i) for i in range(n_days))
    level = rng.gamma(2.0, 60.0, size=(n_series, 1))
    weekday = np.array([1.0, 1.05, 1.05, 1.0, 0.95, 0.7, 0.65])[[d.weekday() for d in dates]]
    mean = level * weekday[None, :]
    values = rng.negative_binomial(20, 20 / (20 + mean)).astype(np.float64)
    series = (TOTAL_SERIES, *(f"landingPage:/p{i}" for i in range(n_series - 1)))
    values[0] = values[1:].sum(axis=0)
    return MetricPanel("bench", "sessions", series, dates, values, last_final=end)


@bench
def detect_panel(tmp: Path) -> str:
    """Detection on the newest day of 100,000 series x 91 days, in memory (no CSV)."""
    from jobs.detection.engine import detect

    panel = _synthetic_panel(100_000, 91)
    started = time.perf_counter()
    findings = detect([panel], DetectionParams(), day=panel.dates[-1])
    seconds = time.perf_counter() - started
    return f"detect newest day, 100,000 series x 91 days in memory: {seconds:.2f}s, {len(findings)} findings"


@bench
def upsert_points(tmp: Path) -> str:
    """Bulk upsert into SQLite: 300 series x 3 metrics x 120 days."""
    from jobs.storage import repo
    from worker import db

    engine = db.create_engine(f"sqlite:///{tmp / 'bench.db'}")
    db.upgrade(engine)
    prop_id = repo.ensure_property(engine, PropertySpec("bench", "demo"))
    start = date(2026, 1, 1)
    rows = [
        Observation("bench", f"landingPage:/p{s}", metric, start + timedelta(days=d), float(s + d))
        for s in range(300)
        for metric in ("sessions", "totalUsers", "keyEvents")
        for d in range(120)
    ]
    started = time.perf_counter()
    repo.upsert_points(engine, prop_id, rows)
    first = time.perf_counter() - started
    started = time.perf_counter()
    repo.upsert_points(engine, prop_id, rows)
    second = time.perf_counter() - started
    started = time.perf_counter()
    panels = repo.load_panels(
        engine, prop_id, prop_name="bench", start=start, end=start + timedelta(days=119), last_final=start
    )
    loaded = time.perf_counter() - started
    n = len(rows)
    return (
        f"sqlite upsert {n:,} points: {n / first:,.0f}/s new, {n / second:,.0f}/s replace; "
        f"load {len(panels)} panels: {loaded:.2f}s"
    )


@bench
def demo(tmp: Path) -> str:
    """The whole ``barometer demo`` in-process: seed, detect, digest, write the outbox."""
    from worker.demo import run_demo
    from worker.settings import Settings

    started = time.perf_counter()
    outcome = run_demo(Settings(), outbox=tmp / "outbox", database_url=f"sqlite:///{tmp / 'demo.db'}")
    findings = sum(r.findings for r in outcome.report.properties)
    return f"demo end to end: {time.perf_counter() - started:.2f}s, {findings} findings, {len(outcome.files)} files"


_BREAKDOWNS = {
    "ga4": ["sessionDefaultChannelGroup", "landingPage", "deviceCategory"],
    "gsc": ["query", "page", "device"],
}


def _seed_google(world: Any, *, first: date, last: date) -> None:
    """A GA4 property and a Search Console site with 6 channels / 25 queries x 40 pages x 3 devices a day."""
    prop = world.ga4.add_property("123")
    site = world.gsc.add_site("sc-domain:shop.example", final_through=last - timedelta(days=3))
    channels = ("Organic Search", "Direct", "Paid Search", "Email", "Referral", "Organic Social")
    day = first
    while day <= last:
        n = day.toordinal()
        for p in range(40):
            for d, device in enumerate(("desktop", "mobile", "tablet")):
                dims = {
                    "sessionDefaultChannelGroup": channels[p % 6],
                    "landingPage": f"/p{p}",
                    "deviceCategory": device,
                }
                prop.add(day, dims, sessions=(n + p * 7 + d) % 90 + 5, totalUsers=(n + p) % 60 + 3, keyEvents=p % 4)
                gsc_dims = {"query": f"query {p % 25}", "page": f"https://shop.example/p{p}", "device": device}
                clicks = float((n + p + d) % 30)
                site.add(day, gsc_dims, clicks=clicks, impressions=clicks * 12 + 5, position=1.0 + p / 4)
        day += timedelta(days=1)


@bench
def google_daily_run(tmp: Path) -> str:
    """Requests and GA4 quota tokens of a first run and of the next daily run, for a GA4
    property and a Search Console site with totals + 3 breakdowns, against the local fakes."""
    import os

    from tests.fakes.google_world import GoogleWorld
    from worker.runtime import build as build_runtime
    from worker.service import run_property
    from worker.settings import load_settings

    today = date(2026, 6, 30)
    with GoogleWorld(tmp) as world:
        os.environ.update(world.env)
        _seed_google(world, first=today - timedelta(days=120), last=today)
        properties = [
            {
                "name": "shop",
                "source": "ga4",
                "id": "properties/123",
                "account": "agency",
                "breakdowns": _BREAKDOWNS["ga4"],
            },
            {
                "name": "search",
                "source": "gsc",
                "id": "sc-domain:shop.example",
                "account": "agency",
                "breakdowns": _BREAKDOWNS["gsc"],
            },
        ]
        settings = load_settings(world.write_config(properties=properties))
        prop = world.ga4.properties["123"]
        figures = []
        for label, day in (("first run", today - timedelta(days=1)), ("next day", today)):
            ga4_before, tokens_before, gsc_before = world.ga4.count(), prop.tokens_used, world.gsc.count()
            ga4 = run_property(build_runtime(settings), "shop", today=day)
            gsc = run_property(build_runtime(settings), "search", today=day)
            figures.append(
                f"{label}: GA4 {world.ga4.count() - ga4_before} request(s), {prop.tokens_used - tokens_before} tokens, "
                f"{ga4.points:,} points; GSC {world.gsc.count() - gsc_before} requests, {gsc.points:,} points"
            )
    return "totals + 3 breakdowns; " + "; ".join(figures) + " (tokens as the fake charges them)"


_BACKFILL_CHILD = """
import json, resource, sys, time
from worker.backfill import backfill_property
from worker.settings import load_settings
from worker.runtime import build as build_runtime

def rss():
    # VmHWM is this process image's own peak; ru_maxrss can carry the parent's over fork/exec.
    try:
        with open("/proc/self/status") as status:
            return next(int(l.split()[1]) for l in status if l.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

settings = load_settings()
baseline, marks = rss(), []
days = int(sys.argv[1]) or None
report = backfill_property(
    build_runtime(settings),
    "search",
    days=days,
    on_chunk=lambda chunk, points: marks.append((rss(), time.perf_counter())),
)
print(json.dumps({"baseline": baseline, "marks": marks, "days": report.days_loaded, "points": report.points}))
"""


@bench
def gsc_backfill(tmp: Path) -> str:
    """``barometer backfill`` of a Search Console site serving 100,000 page rows a day
    (generated on the fly by the fake), in a child process: throughput and the child's peak
    RSS after the first, middle and last day. ``BAROMETER_BENCH_GSC_DAYS`` sets the days
    (default 30; 0 = the full default range of 16 months, ~486 days, about half an hour and
    tens of GB of SQLite)."""
    import json
    import os
    import subprocess

    from tests.fakes.google_world import GoogleWorld

    days = int(os.environ.get("BAROMETER_BENCH_GSC_DAYS", "30"))
    with GoogleWorld(tmp) as world:
        today = date.today()
        world.gsc.add_site("sc-domain:shop.example", final_through=today - timedelta(days=3), synthetic_pages=100_000)
        prop = {"name": "search", "source": "gsc", "id": "sc-domain:shop.example", "account": "agency"}
        config = world.write_config(properties=[prop | {"timezone": "UTC", "breakdowns": ["page"]}])
        env = {k: v for k, v in os.environ.items() if not k.startswith("BAROMETER_")} | world.env
        env["BAROMETER_CONFIG"] = str(config)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", _BACKFILL_CHILD, str(days)], env=env, capture_output=True, text=True, check=False
        )
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"backfill failed: {done.stderr[-2000:]}")
        out = json.loads(done.stdout.strip().splitlines()[-1])
        requests = world.gsc.count()
        size = Path(str(tmp / "barometer.db")).stat().st_size
    rss = [m[0] for m in out["marks"]]
    stamps = [m[1] for m in out["marks"]]
    per_day = (stamps[-1] - stamps[0]) / max(len(stamps) - 1, 1)
    tenth = max(len(stamps) // 10, 1)
    early = (stamps[tenth] - stamps[0]) / tenth if len(stamps) > tenth else per_day
    late = (stamps[-1] - stamps[-1 - tenth]) / tenth if len(stamps) > tenth else per_day
    return (
        f"{out['days']} days x 100,000 page rows: {out['points']:,} points, {requests:,} requests, {seconds:,.0f}s "
        f"({per_day:.1f}s/day: {early:.1f}s/day in the first tenth, {late:.1f}s/day in the last; 16 months at that "
        f"pace ~{late * 486 / 60:,.0f} min); SQLite {size / 2**20:,.0f} MB; child RSS after imports "
        f"{out['baseline']:,.0f} MB, peak after day 1 {rss[0]:,.0f} MB, day {len(rss) // 2 + 1} "
        f"{rss[len(rss) // 2]:,.0f} MB, day {len(rss)} {rss[-1]:,.0f} MB (goal < 300 MB)"
    )


@bench
def alert_policy(tmp: Path) -> str:
    """The alert policy on a bad day: 5,000 findings (3 properties, totals with contributors,
    4,000 children, 40 outages), 30 days of alert log, 20 mutes; then the email of the result."""
    from datetime import UTC, datetime

    from alerts.history import Sighting, problem_key
    from alerts.mutes import Mute
    from alerts.policy import PolicyParams, plan
    from alerts.render.email import render_email
    from jobs.domain import Anomaly, Contributor, Digest, Direction, Finding, Kind, Severity

    rng = np.random.default_rng(3)
    day = date(2026, 11, 18)
    findings: list[Finding] = []
    for n in range(5_000):
        prop = f"site{n % 3}"
        child = n >= 1_000
        series = f"landingPage:/p{n}" if child else (TOTAL_SERIES if n < 30 else f"query:q{n}")
        metric = ("sessions", "totalUsers", "keyEvents", "clicks")[n % 4] if not child else "sessions"
        expected = float(rng.uniform(50, 5_000))
        outage = n % 125 == 0
        observed = 0.0 if outage else expected * float(rng.uniform(0.2, 0.8))
        parts = tuple(Contributor(f"landingPage:/p{1_000 + k}", 1.0, 2.0, 0.1) for k in range(10)) if n < 30 else ()
        anomaly = Anomaly(
            prop,
            series,
            metric,
            day,
            observed,
            expected,
            expected * 0.8,
            expected * 1.2,
            1e-6,
            None,
            Direction.DOWN,
            Kind.OUTAGE if outage else Kind.DROP,
        )
        severity = (Severity.LOW, Severity.MEDIUM, Severity.HIGH)[n % 3] if not outage else Severity.CRITICAL
        findings.append(Finding(anomaly, severity, parts, None, n + 1))
    now = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
    history: dict[str, tuple[Sighting, ...]] = {}
    for f in findings[::5]:
        key = problem_key(f)
        history[key] = tuple(
            Sighting(key, day - timedelta(days=d), "digest", "high", 0.6, now) for d in range(1, 31, 3)
        )
    mutes = [
        Mute(i, f"site{i % 3}/sessions/landingPage:/p{i}*", "", "", now, now + timedelta(days=1)) for i in range(20)
    ]
    started = time.perf_counter()
    result = plan(
        findings, params=PolicyParams(min_severity=Severity.LOW), subscription="s", mutes=mutes, history=history
    )
    planned = time.perf_counter() - started
    digest = Digest(
        "s",
        day,
        ("site0", "site1", "site2"),
        result.findings,
        "h",
        "s",
        now,
        incidents=result.incidents,
        held_back=result.held_back,
        id=1,
    )
    started = time.perf_counter()
    size = len(render_email(digest, sender="b@example.com", recipient="t@example.com").as_bytes())
    rendered = time.perf_counter() - started
    return (
        f"plan 5,000 findings: {planned:.2f}s -> {len(result.incidents)} incidents, {len(result.held_back)} held back; "
        f"email of it: {rendered:.2f}s, {size / 1e6:.1f} MB"
    )


def _prompt_line(label: str, findings: tuple[Any, ...], data_date: date, *, max_tokens: int = 0) -> str:
    from jobs.summary.prompt import fit_prompt
    from worker.settings_llm import LLMSettings

    llm = LLMSettings()
    prompt = fit_prompt(
        findings,
        data_date=data_date,
        max_findings=llm.max_findings,
        max_contributors=llm.max_contributors,
        max_tokens=max_tokens or llm.max_prompt_tokens,
    )
    assert prompt is not None
    shown = len(prompt.sheet.findings)
    contributors = max((len(f.contributors) for f in prompt.sheet.findings), default=0)
    return f"{label}: {prompt.tokens:,} tokens ({shown} of {len(findings)} findings, <= {contributors} contributors)"


@bench
def llm_prompt(tmp: Path) -> str:
    """Prompt tokens per digest (estimated, chars/4) at the default [llm] limits, and the fact check's speed."""
    import json

    from jobs.domain import Anomaly, Contributor, Direction, Finding, Kind, Severity
    from jobs.storage import repo
    from jobs.summary.answer import parse_answer
    from jobs.summary.guard import check_answer
    from jobs.summary.prompt import fit_prompt, render_facts
    from worker import bootstrap
    from worker.demo import DEMO_SUBSCRIPTION, run_demo
    from worker.settings import Settings, StorageSettings
    from worker.settings_llm import LLMSettings

    url = f"sqlite:///{tmp / 'demo.db'}"
    outcome = run_demo(Settings(), outbox=tmp / "outbox", database_url=url)
    delivered = outcome.report.deliveries[0]
    engine = bootstrap.engine(Settings(storage=StorageSettings(database_url=url)))
    digest = repo.find_digest(engine, DEMO_SUBSCRIPTION, delivered.data_date)
    assert digest is not None
    day = date(2026, 6, 30)
    big = tuple(
        Finding(
            Anomaly(
                "shop",
                f"landingPage:/category/{i}/a-long-descriptive-product-slug",
                "sessions",
                day,
                100.0 + i,
                400.0,
                340.0,
                460.0,
                1e-6,
                1e-4,
                Direction.DOWN,
                Kind.DROP,
            ),
            Severity.MEDIUM,
            tuple(Contributor(f"sessionSource:partner-{j}.example.com/campaign-{j}", 10, 40, 0.1) for j in range(8)),
        )
        for i in range(500)
    )
    lines = [
        _prompt_line("demo digest", digest.findings, digest.data_date),
        _prompt_line("500 findings", big, day),
        _prompt_line("the same with max_prompt_tokens 1,500", big, day, max_tokens=1500),
    ]
    llm = LLMSettings()
    prompt = fit_prompt(
        big, data_date=day, max_findings=llm.max_findings, max_contributors=llm.max_contributors, max_tokens=6000
    )
    assert prompt is not None
    facts = json.loads(render_facts(prompt.sheet))["findings"]
    answer = parse_answer(
        {
            "headline": f"Sessions down {abs(facts[0]['change_pct'])}% on shop",
            "paragraphs": [
                {
                    "text": f'Sessions on landing page "{f["name"]}" fell {abs(f["change_pct"])}% to {f["actual"]:,} '
                    f"against an expected {f['expected']:,} on {f['date']}.",
                    "facts": [f["id"]],
                }
                for f in facts[:3]
            ],
        }
    )
    runs = 200
    started = time.perf_counter()
    for _ in range(runs):
        assert check_answer(answer, prompt.sheet) == ()
    per_check = (time.perf_counter() - started) / runs * 1000
    return "; ".join(lines) + f" (limit {llm.max_prompt_tokens:,}); fact check {per_check:.1f} ms per answer"


def _register_detection() -> None:
    from benchmarks import console_bench, detection, hourly_bench, scale, scale_chunks

    for func in (*detection.BENCHMARKS, *hourly_bench.BENCHMARKS, *scale.BENCHMARKS, *console_bench.BENCHMARKS):
        bench(func)
    for func in scale_chunks.BENCHMARKS:
        bench(func)


_register_detection()


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    for name in names:
        with tempfile.TemporaryDirectory(prefix="barometer-bench-") as tmp:
            line = BENCHMARKS[name](Path(tmp))
        print(f"{name:>14}: {line} | peak RSS {_peak_mb():,.0f} MB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
