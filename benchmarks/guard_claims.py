"""The guard's claim check on its regression cases: ``python -m benchmarks.guard_claims``.

Each case is a summary sentence citing every finding of a golden bundle, and whether it may
pass. Prints how many cases the number-only guard and the guard with claim checks get right.
"""

from __future__ import annotations

import json
from pathlib import Path

from jobs.summary.evaluate import GOLDEN_DIR, load_bundles
from jobs.summary.facts import build_sheet
from jobs.summary.guard import check_text

CASES = GOLDEN_DIR / "claims" / "cases.json"
#: Written after the checker was finished and scored once; never tuned against.
HELD_OUT = GOLDEN_DIR / "claims" / "held_out.json"


def score(path: Path = CASES) -> tuple[int, int, int, list[str]]:
    """(cases, right without claim checks, right with them, the cases still wrong)."""
    bundles = {b.name: b for b in load_bundles(GOLDEN_DIR)}
    cases = json.loads(path.read_text(encoding="utf-8"))["cases"]
    old = new = 0
    wrong = []
    for case in cases:
        bundle = bundles[case["bundle"]]
        sheet = build_sheet(bundle.domain_findings(), data_date=bundle.data_date, max_findings=10, max_contributors=3)
        cited = [f.id for f in sheet.findings]
        for claims in (False, True):
            passed = not check_text(case["text"], sheet=sheet, cited=cited, where="p", claims=claims)
            right = passed == case["ok"]
            if claims:
                new += right
                if not right:
                    wrong.append(f"{case['bundle']}: {case['text']}")
            else:
                old += right
    return len(cases), old, new, wrong


def main() -> None:
    for name, path in (("regression set", CASES), ("held-out set", HELD_OUT)):
        n, old, new, wrong = score(path)
        print(f"guard claim cases, {name}: numbers only {old}/{n} right, with claim checks {new}/{n}")
        for line in wrong:
            print(f"  still wrong: {line}")


if __name__ == "__main__":
    main()
