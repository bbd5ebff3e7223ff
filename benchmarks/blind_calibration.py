"""Calibration of the blind set against the two reference detectors only (barometer is not run).

Prints, per seed and over the seeds, the naive 14-day z>3 and the same-weekday robust z>3.5
scores on :func:`benchmarks.evaluation.blind.generate_blind`, then the references' false alarms on
the same data with no injected events (the background rate no event density can hide).

Usage: ``python -m benchmarks.blind_calibration [--seeds 1,2,3]``
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from benchmarks.evaluation.blind import BLIND, calibrate
from benchmarks.evaluation.scoring import Score


def _line(name: str, s: Score) -> str:
    return (
        f"  {name:<28} F1 {s.f1:6.3f}  precision {s.precision:6.3f}  recall {s.recall:6.3f}  "
        f"false alarms {s.false_alarms:5d} ({s.fa_per_1000:6.2f} per 1,000 series-days)"
    )


def _total(scores: list[Score]) -> Score:
    total = scores[0]
    for s in scores[1:]:
        total = total + s
    return total


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.blind_calibration", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds (default 1,2,3)")
    args = parser.parse_args(argv)
    seeds = tuple(int(s) for s in args.seeds.split(",") if s)
    results = calibrate(seeds)
    for name, scores in results.items():
        print(f"{name}:")
        for seed, s in zip(seeds, scores, strict=True):
            print(_line(f"seed {seed} ({s.events} events)", s))
        total = _total(scores)
        print(_line(f"all ({total.events} events)", total))
        print(f"  recall by kind: {', '.join(f'{k} {d}/{n}' for k, (d, n) in total.by_kind.items())}")
    quiet = calibrate(seeds, dataclasses.replace(BLIND, events=(0, 0)))
    for name, scores in quiet.items():
        total = _total(scores)
        print(f"no events, {name}: {total.false_alarms} false alarms ({total.fa_per_1000:.2f} per 1,000 series-days)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
