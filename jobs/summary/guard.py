"""The faithfulness guard: is every number, date and name in a summary backed by the facts?

:func:`check_answer` is a pure function of the model's answer and the fact sheet. It
fails closed: anything that looks like a number and is not recognised and verified is a
violation. In order, for the headline and each paragraph:

1. Text is normalised (NFKC, so fullwidth or superscript digits become ASCII); digits of
   other scripts are violations.
2. Quoted text ("...", “...”, '...', ‘...’, «...», `...`) must be a name in the facts.
3. Links, domains, email addresses, @-mentions and markup are violations unless they are
   names in the facts. Known names without digits are then masked wherever they appear.
4. Page paths must be pages in the facts; GA4 channel and device names must be in the facts.
5. Dates must be dates of the cited facts (or the data date).
6. Numbers must match a value of a *cited* fact within rounding (see :mod:`jobs.summary.numbers`);
   a percentage said to go up must match a change that went up.
7. Any digit still left is an unverified number.
8. Kind, direction and cause claims must follow from the cited facts (:mod:`jobs.summary.claims`):
   "tracking looks broken" on a CTR drop, "sessions rose" when they fell, or "because of a
   holiday" that no fact shows are violations.

The answer as a whole must cite only existing facts, cite the top finding and every
critical one, and must not reassure ("nothing unusual") when there are findings.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass

from jobs.summary.allowed import allowed_for, fold, known_names, known_paths, normalise
from jobs.summary.answer import Answer
from jobs.summary.claims import check_claims
from jobs.summary.facts import FactSheet
from jobs.summary.numbers import MASK, Problem, check_dates, check_number_words, check_numbers, mask

__all__ = ["Violation", "check_answer", "check_text"]


@dataclass(frozen=True, slots=True)
class Violation:
    """One reason an answer cannot be trusted: where, the offending text, and why."""

    where: str
    snippet: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.snippet!r} {self.reason}" if self.snippet else f"{self.where}: {self.reason}"


_QUOTED = re.compile(
    r'"(?P<a>[^"]{1,400}?)"|“(?P<b>[^”]{1,400}?)”|„(?P<c>[^“”]{1,400}?)[“”]|«(?P<d>[^»]{1,400}?)»'
    r"|‘(?P<e>[^’]{1,400}?)’(?!\w)|(?<![\w'])'(?P<f>[^']{1,400}?)'(?![\w'])|`(?P<g>[^`]{1,400}?)`"
)
_URL = re.compile(r"(?:\b[a-z][a-z0-9+.-]*://|\bwww\.)[^\s\"'<>]+", re.I)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_MENTION = re.compile(r"(?<![\w])@[\w-]+(?:\.[\w-]+)*")
_MARKUP = re.compile(r"<[\s/!@#a-z]|\]\(|\bjavascript:|&#?\w+;", re.I)
_DOMAIN = re.compile(r"(?<![\w@.-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}(?![\w-])", re.I)
_PATH = re.compile(r"(?<![\w/.:@-])/[^\s\"'“”‘’«»<>()\[\]{},;]*")
_FACT_ID = re.compile(r"\bF\d+\b")
_VOCABULARY = re.compile(
    r"(?<![\w-])(organic search|paid search|organic social|paid social|organic video|paid video|organic shopping"
    r"|paid shopping|paid other|cross-network|affiliates|referral|unassigned|mobile push notifications"
    r"|desktop|mobile|tablet|smart tv)(?![\w-])",
    re.I,
)
_REASSURING = re.compile(
    r"\b(all quiet|all good|nothing unusual|nothing to report|no cause for concern"
    r"|no (?:anomalies|anomaly|changes?) (?:were |was )?(?:found|detected|seen)"
    r"|everything (?:is|looks|was|seems) (?:fine|normal|stable|ok|okay|good))\b",
    re.I,
)


def _names_pass(text: str, names: frozenset[str]) -> tuple[str, list[Problem]]:
    """Quoted text must be a known name; then known digit-free names are masked everywhere."""
    problems = []
    for m in list(_QUOTED.finditer(text)):
        inner = next(g for g in m.groups() if g is not None)
        if fold(inner.strip(" .,;:")) not in names:
            problems.append(Problem(m.start(), m.end(), "is quoted but is not a name in the facts"))
        text = mask(text, m.start(), m.end())
    for pattern, reason in (
        (_URL, "is a link that is not in the facts"),
        (_EMAIL, "is an email address that is not in the facts"),
        (_MENTION, "is an @-mention"),
    ):
        for m in list(pattern.finditer(text)):
            if fold(m.group().rstrip(".,;:!?")) not in names:
                problems.append(Problem(m.start(), m.end(), reason))
            text = mask(text, m.start(), m.end())
    for name in sorted(names, key=len, reverse=True):
        if len(name) >= 3 and not any(ch.isdigit() for ch in name):
            for m in list(re.finditer(r"(?<![\w])" + re.escape(name) + r"(?![\w])", text, re.I)):
                text = mask(text, m.start(), m.end())
    return text, problems


def _places_pass(text: str, paths: frozenset[str]) -> tuple[str, list[Problem]]:
    """Markup, domains, page paths and channel/device names that the facts do not hold."""
    problems = []
    for m in list(_MARKUP.finditer(text)):
        problems.append(Problem(m.start(), m.end(), "is markup (plain text only)"))
        text = mask(text, m.start(), m.end())
    for m in list(_DOMAIN.finditer(text)):
        problems.append(Problem(m.start(), m.end(), "is a domain that is not in the facts"))
        text = mask(text, m.start(), m.end())
    for m in list(_PATH.finditer(text)):
        path = m.group().rstrip(".,;:!?")
        if (path.rstrip("/") or "/") not in paths:
            problems.append(Problem(m.start(), m.start() + len(path), "is a page that is not in the facts"))
        text = mask(text, m.start(), m.end())
    for m in list(_VOCABULARY.finditer(text)):
        problems.append(Problem(m.start(), m.end(), "is a channel or device that is not in the facts"))
        text = mask(text, m.start(), m.end())
    for m in list(_FACT_ID.finditer(text)):
        problems.append(Problem(m.start(), m.end(), "is a fact id: cite ids in the facts list, not in the text"))
        text = mask(text, m.start(), m.end())
    return text, problems


def _leftovers(text: str) -> list[Problem]:
    """Whatever still holds a digit (or a digit of another script) was not verified."""
    problems = []
    for m in re.finditer(r"\S+", text):
        token = m.group()
        if any(ch.isdigit() or unicodedata.category(ch) == "No" for ch in token):
            start = m.start() + len(token) - len(token.lstrip(MASK + "(\"'"))
            end = m.end() - (len(token) - len(token.rstrip(MASK + ".,;:!?)\"'")))
            problems.append(Problem(start, max(end, start + 1), "is a number that could not be verified"))
    return problems


def check_text(
    text: str, *, sheet: FactSheet, cited: Collection[str], where: str, claims: bool = True
) -> list[Violation]:
    """The violations in one piece of text that cites ``cited`` (see the module docstring);
    ``claims`` also checks its kind, direction and cause claims (:mod:`jobs.summary.claims`)."""
    original = normalise(text)
    allowed = allowed_for(sheet, cited)
    work, problems = _names_pass(original, known_names(sheet))
    work, found = _places_pass(work, known_paths(sheet))
    problems += found
    for check in (check_dates, check_numbers, check_number_words):
        work, found = check(work, allowed)
        problems += found
    problems += _leftovers(work)
    problems.sort(key=lambda p: p.start)
    found_all = [Violation(where, original[p.start : p.end].strip(), p.reason) for p in problems]
    if claims:
        found_all += [
            Violation(where, snippet, reason) for snippet, reason in check_claims(original, sheet=sheet, cited=cited)
        ]
    return found_all


def check_answer(answer: Answer, sheet: FactSheet) -> tuple[Violation, ...]:
    """Every violation in ``answer`` against ``sheet``; empty when it can be trusted."""
    ids = sheet.by_id()
    violations: list[Violation] = []
    for i, paragraph in enumerate(answer.paragraphs, start=1):
        unknown = [f for f in paragraph.facts if f not in ids]
        if unknown:
            violations.append(Violation(f"paragraph {i}", "", f"cites {', '.join(unknown)}, not in the facts"))
        cited = [f for f in paragraph.facts if f in ids]
        violations += check_text(paragraph.text, sheet=sheet, cited=cited, where=f"paragraph {i}")
    violations += check_text(answer.headline, sheet=sheet, cited=answer.cited & ids.keys(), where="headline")
    if sheet.findings:
        must = [sheet.findings[0].id] + [f.id for f in sheet.findings[1:] if f.severity == "critical"]
        missing = [f for f in must if f not in answer.cited]
        if missing:
            violations.append(Violation("answer", "", f"does not cite {', '.join(missing)} (the most important)"))
        texts = [("headline", answer.headline)]
        texts += [(f"paragraph {i}", p.text) for i, p in enumerate(answer.paragraphs, start=1)]
        for where, text in texts:
            for m in _REASSURING.finditer(normalise(text)):
                violations.append(Violation(where, m.group(), "reassures although there are findings"))
    return tuple(violations)
