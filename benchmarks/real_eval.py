"""``make eval``, real traffic: barometer, Prophet and the same-weekday reference on real
daily series with labelled changes injected (:mod:`benchmarks.evaluation.real`).

Each series x seed is its own property (one site, one country), walked forward over its
evaluated range with default settings. Tuning and held-out series are reported apart.

Usage: ``python -m benchmarks.real_eval [--seeds 1,2] [--sets tuning,holdout] [--only NAME]
[--no-prophet] [-v]``
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

from benchmarks.evaluation.baselines import weekday_robust_zscore
from benchmarks.evaluation.real import RealScore, RealSet, inject, load_series, score_real, split
from benchmarks.evaluation.scoring import Flag
from jobs.detection.engine import walk
from jobs.domain import MetricPanel
from worker.settings import Settings

METRIC = "sessions"
BAROMETER = "barometer"
REFERENCE = "same-weekday robust z>3.5"
PROPHET = "Prophet, weekly refit, 99%"


def _panel(rs: RealSet, prop: str) -> MetricPanel:
    return MetricPanel(prop, METRIC, (rs.series.name,), rs.series.dates, rs.values[None, :], rs.series.dates[-1])


def _barometer(sets: list[tuple[RealSet, str]]) -> list[Flag]:
    params = Settings().detection.params()
    flags: list[Flag] = []
    for rs, prop in sets:
        done = walk(
            [_panel(rs, prop)],
            replace(params, countries={prop: rs.series.country}),
            start=rs.eval_start,
            end=rs.series.dates[-1],
        )
        flags += [Flag(f.anomaly.series, f.anomaly.metric, f.anomaly.day) for f in done.findings]
    return flags


def _reference(sets: list[tuple[RealSet, str]]) -> list[Flag]:
    flags: list[Flag] = []
    for rs, prop in sets:
        flags += weekday_robust_zscore([_panel(rs, prop)], start=rs.eval_start, end=rs.series.dates[-1])
    return flags


def _prophet(sets: list[tuple[RealSet, str]]) -> list[Flag]:
    from benchmarks.evaluation.prophet_ref import prophet_flags

    flags: list[Flag] = []
    for rs, _ in sets:
        days = prophet_flags(rs.series.dates, rs.values, start=rs.eval_start)
        flags += [Flag(rs.series.name, METRIC, d) for d in days]
    return flags


def _line(name: str, s: RealScore) -> str:
    found, bursts = s.bursts
    return (
        f"  {name:<28} precision {s.precision:5.3f}  recall {s.recall:5.3f}  F1 {s.f1:5.3f}  "
        f"false alarms {s.false_alarms:4d} ({s.fa_per_series_year:5.2f} per series-year)  "
        f"bursts {found}/{bursts} ({100.0 * found / bursts if bursts else 100.0:3.0f}%)"
    )


def run(which: str, seeds: list[int], *, only: str, prophet: bool, verbose: bool) -> dict[str, RealScore]:
    tuning, held = split(load_series())
    chosen = [s for s in (tuning if which == "tuning" else held) if only in s.name]
    scores: dict[str, RealScore] = {}
    for seed in seeds:
        sets = [(inject(s, seed), f"{s.name}#{seed}") for s in chosen]
        detectors = {BAROMETER: _barometer, REFERENCE: _reference}
        if prophet:
            detectors[PROPHET] = _prophet
        for label, detector in detectors.items():
            began = time.perf_counter()
            flags = detector(sets)
            took = time.perf_counter() - began
            score_real([rs for rs, _ in sets], flags, METRIC, scores.setdefault(label, RealScore()))
            if verbose:
                print(f"{which} seed {seed} {label}: {took:.1f}s", file=sys.stderr)
        if verbose:
            _details(scores[BAROMETER])
    return scores


def _details(s: RealScore) -> None:
    for ev in s.missed:
        print(f"    missed {ev.kind:<10} {ev.series} {ev.start}..{ev.end}", file=sys.stderr)
    for f in s.false:
        print(f"    false  {f.series} {f.day}", file=sys.stderr)
    s.missed.clear()
    s.false.clear()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.real_eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="1,2", help="comma-separated injection seeds (default 1,2)")
    parser.add_argument("--sets", default="tuning,holdout", help="tuning, holdout or both (default both)")
    parser.add_argument("--only", default="", help="only series whose name contains this")
    parser.add_argument("--no-prophet", action="store_true", help="leave Prophet out (it is the slow one)")
    parser.add_argument("-v", "--verbose", action="store_true", help="list barometer's misses and false alarms")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    for which in [w for w in args.sets.split(",") if w]:
        if which not in ("tuning", "holdout"):
            parser.error(f"unknown set {which!r}; known: tuning, holdout")
        scores = run(which, seeds, only=args.only, prophet=not args.no_prophet, verbose=args.verbose)
        first = scores[BAROMETER]
        print(
            f"real traffic, {'tuning' if which == 'tuning' else 'HELD-OUT'} series (seeds {args.seeds}): "
            f"{first.events} events, {first.series_days:,} series-days"
        )
        for label, s in scores.items():
            print(_line(label, s))
        kinds = ", ".join(f"{k} {d}/{n}" for k, (d, n) in sorted(first.by_kind.items()))
        print(f"  barometer recall by kind: {kinds}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
