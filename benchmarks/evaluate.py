"""``make eval``: event-level quality of barometer against labelled data, next to two references.

For each configuration (``dev``, the set the engine was developed on; ``holdout`` and
``clear``, other shapes of data, see :data:`benchmarks.evaluation.generator.CONFIGS`; ``flat``,
independent series from a separate, simpler generator, :mod:`benchmarks.evaluation.flat`; and
``blind``, built by another hand to be scored once as unseen data, calibrated on the
references alone, :mod:`benchmarks.evaluation.blind` — it has since been looked at, see the
README) and each seed, it generates a metrics
CSV and a labels file, runs barometer through the function behind ``barometer detect FILE --start S --end E``
(walk-forward over the evaluation window, default settings), runs the naive and the
same-weekday references on the same file, and scores all three
(:mod:`benchmarks.evaluation.scoring`).

Usage: ``python -m benchmarks.evaluate [--seeds 1,2,3] [--configs dev,holdout,clear,flat,blind] [--keep DIR] [-v]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from benchmarks.evaluation import CONFIGS, Flag, Score, generate, score, write_labels
from benchmarks.evaluation.baselines import BASELINES
from benchmarks.evaluation.blind import generate_blind
from benchmarks.evaluation.flat import generate_flat
from jobs.csvio import read_panels_csv
from worker.detect import detect_file
from worker.settings import Settings

BAROMETER = "barometer (barometer detect)"
FLAT = "flat"
BLIND = "blind"
DEFAULT = (*CONFIGS, FLAT, BLIND)
KNOWN = DEFAULT


def _barometer(path: Path, start: date, end: date, out: Path) -> list[Flag]:
    detect_file(Settings(), path, start=start, end=end, output=out)
    flags = []
    with out.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            flags.append(Flag(row["series"], row["metric"], date.fromisoformat(row["date"])))
    return flags


def _line(name: str, s: Score) -> str:
    return (
        f"  {name:<30} precision {s.precision:6.3f}  recall {s.recall:6.3f}  F1 {s.f1:6.3f}  "
        f"false alarms {s.false_alarms:5d} ({s.fa_per_1000:6.3f} per 1,000 series-days)"
    )


def run(configs: list[str], seeds: list[int], keep: Path | None, verbose: bool) -> dict[str, dict[str, Score]]:
    results: dict[str, dict[str, Score]] = {}
    for name in configs:
        totals: dict[str, Score] = {}
        for seed in seeds:
            with tempfile.TemporaryDirectory(prefix="barometer-eval-") as tmp:
                where = keep or Path(tmp)
                where.mkdir(parents=True, exist_ok=True)
                if name == BLIND:
                    data = generate_blind(seed)
                else:
                    data = generate_flat(seed) if name == FLAT else generate(CONFIGS[name], seed)
                csv_path = where / f"{name}-{seed}.csv"
                rows = data.write_csv(csv_path)
                write_labels(data.labels, where / f"{name}-{seed}.labels.csv")
                start, end = data.eval_start, data.dates[-1]
                cells = data.series_days(start, end)
                began = time.perf_counter()
                runs = {BAROMETER: _barometer(csv_path, start, end, where / f"{name}-{seed}.jsonl")}
                took = time.perf_counter() - began
                panels = read_panels_csv(csv_path)
                for label, detector in BASELINES.items():
                    runs[label] = detector(panels, start=start, end=end)
                for label, flags in runs.items():
                    s = score(data.labels, flags, series_days=cells)
                    totals[label] = totals[label] + s if label in totals else s
                if verbose:
                    print(
                        f"{name} seed {seed}: {rows:,} rows, {cells:,} series-days, {len(data.labels)} events, "
                        f"barometer {took:.1f}s",
                        file=sys.stderr,
                    )
                    _details(score(data.labels, runs[BAROMETER], series_days=cells))
        results[name] = totals
    return results


def _details(s: Score) -> None:
    for lab in s.missed:
        print(f"    missed {lab.kind:<11} {lab.series} {lab.metric} {lab.start} x{lab.factor}", file=sys.stderr)
    for flag in s.false:
        print(f"    false  {flag.series} {flag.metric} {flag.day}", file=sys.stderr)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated generator seeds (default 1,2,3)")
    parser.add_argument(
        "--configs",
        default=",".join(DEFAULT),
        help=f"comma-separated, from {', '.join(KNOWN)} (default: all but {BLIND})",
    )
    parser.add_argument("--keep", type=Path, help="write the CSVs, labels and findings here")
    parser.add_argument("-v", "--verbose", action="store_true", help="list barometer's misses and false alarms")
    args = parser.parse_args(argv)
    configs = [c for c in args.configs.split(",") if c]
    unknown = [c for c in configs if c not in KNOWN]
    if unknown:
        parser.error(f"unknown config(s) {', '.join(unknown)}; known: {', '.join(KNOWN)}")
    seeds = [int(s) for s in args.seeds.split(",") if s]
    results = run(configs, seeds, args.keep, args.verbose)
    for name, totals in results.items():
        first = totals[BAROMETER]
        print(
            f"{name} ({'development set' if name == 'dev' else 'other configuration'}; seeds {args.seeds}): "
            f"{first.events} events, "
            f"{first.series_days:,} series-days"
        )
        for label, s in totals.items():
            print(_line(label, s))
        kinds = ", ".join(f"{k} {d}/{n}" for k, (d, n) in first.by_kind.items())
        print(f"  barometer recall by kind: {kinds}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
