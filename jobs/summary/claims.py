"""Claims a summary makes in words: kinds, causes and directions must follow from the facts.

The number guard (:mod:`jobs.summary.guard`) proves every number; this proves the words
around them, sentence by sentence, against the findings the text cites:

* **kind**: a tracking break ("tracking", "tag", "not recorded", "outage") needs a cited
  finding of kind ``outage``; a lasting change ("new level", "deindexed", "dropped out of the
  index") one of kind ``level_shift`` or ``outage``; a spike ("spike", "surge") one that went up;
* **direction**: a sentence that names a cited finding's metric and only says it went the
  other way ("sessions rose" when sessions fell) is wrong;
* **cause**: "because of / due to / driven by / caused by X" must name the factor that drove
  a cited finding, one of its contributors, or another cited finding.

It is deliberately conservative: what it cannot read is left to the number guard and the
reader; what it flags is a claim the facts contradict or do not support.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from jobs.summary.allowed import fold
from jobs.summary.facts import FactSheet, FindingFact

__all__ = ["ClaimProblem", "check_claims"]

ClaimProblem = tuple[str, str]  # (snippet, reason)

_SENTENCE = re.compile(r"(?<=[.!?;])\s+")
_TRACKING = re.compile(
    r"\b(tracking|tag(?:s|ging)?|pixel|outage|not (?:being )?(?:recorded|tracked|counted|firing)"
    r"|stopped (?:recording|firing|counting|being recorded)|measurement (?:broke|break|issue|problem))\b",
    re.I,
)
_LASTING = re.compile(
    r"\b(new (?:lower |higher )?level|level shift|deindex\w*"
    r"|(?:dropped|fell|removed) (?:out of|from) (?:the )?index)\b",
    re.I,
)
_SPIKE = re.compile(r"\b(spike[sd]?|surge[sd]?|soar(?:ed|s)?|jump(?:ed|s)?)\b", re.I)
_UP = re.compile(r"\b(rose|rise[sn]?|increase[sd]?|grew|grow(?:s|n)?|climb(?:ed|s)?|up|higher|gain(?:ed|s)?)\b", re.I)
_DOWN = re.compile(
    r"\b(fell|fall(?:s|en)?|drop(?:ped|s)?|declin(?:ed|es?)|decreas(?:ed|es?)|down|lower|fewer|lost|los(?:es|ing)"
    r"|collaps(?:ed|es?)|plung(?:ed|es?)|stopped)\b",
    re.I,
)
_CAUSE = re.compile(
    r"\b(?:because of|due to|driven by|caused by|as a result of|owing to)\s+(?P<what>[^.;,()]{1,80})", re.I
)
_QUALIFIERS = re.compile(
    r"^(?:an?|the|lower|higher|fewer|more|less|falling|rising|weaker|stronger|(?:a )?(?:drop|fall|rise|decline) in)\s+",
    re.I,
)


def _mentions(sentence: str, label: str) -> bool:
    return bool(label) and re.search(r"(?<![\w])" + re.escape(fold(label)) + r"(?![\w])", fold(sentence)) is not None


def _causes(f: FindingFact) -> set[str]:
    """What may be named as a cause of ``f``: its driving factor (and product), its contributors."""
    names = {fold(c.name) for c in f.contributors}
    if f.decomposition is not None:
        names |= {fold(x.name) for x in f.decomposition.factors} | {fold(f.decomposition.metric_label)}
    return names


def _direction(sentence: str, cited: list[FindingFact]) -> list[ClaimProblem]:
    problems: list[ClaimProblem] = []
    up, down = bool(_UP.search(sentence)), bool(_DOWN.search(sentence))
    if up == down:  # neither, or both (e.g. "fell while impressions rose"): nothing to contradict
        return problems
    said = "up" if up else "down"
    named = [f for f in cited if f.metric != "position" and _mentions(sentence, f.metric_label)]
    labels = {f.metric_label for f in named}
    if len(labels) != 1:
        return problems  # several metrics in one sentence: which verb goes with which is not clear
    if all(f.direction != said for f in named):
        word = (_UP if up else _DOWN).search(sentence)
        assert word is not None
        problems.append((word.group(), f"says {named[0].metric_label} went {said}; the facts say {named[0].direction}"))
    return problems


def check_claims(text: str, *, sheet: FactSheet, cited: Collection[str]) -> list[ClaimProblem]:
    """The kind, direction and cause claims in ``text`` that its cited findings do not support."""
    by_id = sheet.by_id()
    facts = [by_id[c] for c in cited if c in by_id]
    if not facts:
        return []
    metrics = {fold(f.metric_label) for f in sheet.findings}
    metrics |= {fold(x.name) for f in sheet.findings if f.decomposition for x in f.decomposition.factors}
    problems: list[ClaimProblem] = []
    for sentence in _SENTENCE.split(text):
        m = _TRACKING.search(sentence)
        if m and not any(f.kind == "outage" for f in facts):
            problems.append((m.group(), "claims a tracking break, but no cited finding is one"))
        m = _LASTING.search(sentence)
        if m and not any(f.kind in ("level_shift", "outage") for f in facts):
            problems.append((m.group(), "claims a lasting change, but no cited finding is a level shift"))
        m = _SPIKE.search(sentence)
        about = [f for f in facts if _mentions(sentence, f.metric_label)] or facts
        if m and not any(f.direction == "up" and f.metric != "position" for f in about):
            problems.append((m.group(), "claims a spike, but what it names did not go up"))
        problems += _direction(sentence, facts)
        for c in _CAUSE.finditer(sentence):
            what = _QUALIFIERS.sub("", c.group("what").strip())
            what = _QUALIFIERS.sub("", what)
            causes = set().union(*(_causes(f) for f in facts)) | {fold(f.metric_label) for f in facts}
            named = [m for m in metrics if _mentions(what, m)]
            if named and not any(n in causes for n in named):
                problems.append((c.group().strip(), "names a cause the cited findings do not show"))
            elif (
                not named
                and _TRACKING.search(what) is None
                and not any(_mentions(what, x) for x in causes)
                and fold(what) not in causes
            ):
                problems.append((c.group().strip(), "names a cause that is not in the facts"))
    return problems
