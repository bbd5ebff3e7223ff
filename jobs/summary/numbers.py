"""Finding the dates and numbers in a text and checking each against what is allowed.

Each ``check_*`` function takes the (normalised) text and an :class:`Allowed`, returns the
text with every recognised token masked (so later passes do not see it again) and the
problems found. Tokens: dates (ISO, ``18/11/2026``, ``18 Nov``, ``November 18, 2026``,
``Nov 2026``), numbers with thousands separators and decimals, signs, currency, scales
(``1.2k``, ``3 million``), percentages, percentage points, multipliers (``2x``, ``3 times``,
``doubled``), ordinals, and numbers written as words. A number matches a value when it
equals the value rounded to the precision it is written with (``41%`` matches 40.6%;
``1,000`` also matches 1,023 as two significant figures; ``2x`` needs a ratio within 10%).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from jobs.summary.allowed import Allowed

__all__ = ["MASK", "Problem", "check_dates", "check_number_words", "check_numbers", "mask"]

MASK = "\u25cc"  # a non-word, non-digit character: masked tokens cannot join their neighbours


@dataclass(frozen=True, slots=True)
class Problem:
    start: int
    end: int
    reason: str


def mask(text: str, start: int, end: int) -> str:
    return text[:start] + MASK * (end - start) + text[end:]


_MONTH = (
    r"(?P<{name}>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_MONTHS = {m: i for i, m in enumerate(_words("jan feb mar apr may jun jul aug sep oct nov dec"), start=1)}
_DAY_MONTH_YEAR = r"(?<![\w.])(?P<d>[0-9]{1,2})(?:st|nd|rd|th)?(?:\s+of)?\s+{mon}(?:,?\s+(?P<y>[0-9]{{4}}))?(?![\w])"
_MONTH_DAY_YEAR = r"(?<![\w]){mon}\s+(?P<d>[0-9]{{1,2}})(?:st|nd|rd|th)?(?![\w])(?:,?\s+(?P<y>[0-9]{{4}}))?(?![\w])"
_DATE_PATTERNS = (
    re.compile(r"(?<![\w.])(?P<y>[0-9]{4})-(?P<m>[0-9]{1,2})-(?P<d>[0-9]{1,2})(?![\w])"),
    re.compile(
        r"(?<![\w.])(?P<a>[0-9]{1,2})(?P<sep>[./])(?P<b>[0-9]{1,2})(?P=sep)(?P<y>[0-9]{4}|[0-9]{2})(?![\w]|\.[0-9])"
    ),
    re.compile(_DAY_MONTH_YEAR.replace("{mon}", _MONTH.format(name="mon")).replace("{{", "{").replace("}}", "}"), re.I),
    re.compile(_MONTH_DAY_YEAR.replace("{mon}", _MONTH.format(name="mon")).replace("{{", "{").replace("}}", "}"), re.I),
    re.compile(r"(?<![\w])" + _MONTH.format(name="mon") + r"\s+(?P<y>[0-9]{4})(?![\w])", re.I),
)


def _date_ok(m: re.Match[str], allowed: Allowed) -> bool:
    g = m.groupdict()
    year = int(g["y"]) if g.get("y") else None
    if year is not None and year < 100:
        year += 2000
    readings: list[tuple[int, int | None]]  # (month, day): numeric dates may be day/month or month/day
    if g.get("mon"):
        readings = [(_MONTHS[g["mon"][:3].lower()], int(g["d"]) if g.get("d") else None)]
    elif g.get("a"):
        readings = [(int(g["b"]), int(g["a"])), (int(g["a"]), int(g["b"]))]
    else:
        readings = [(int(g["m"]), int(g["d"]))]
    return any(
        (year is None or known.year == year) and known.month == month and day in (None, known.day)
        for month, day in readings
        for known in allowed.dates
    )


def check_dates(text: str, allowed: Allowed) -> tuple[str, list[Problem]]:
    """Every date must be a date of the facts (a month and year must contain one)."""
    problems = []
    for pattern in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            if not _date_ok(m, allowed):
                problems.append(Problem(m.start(), m.end(), "is not a date in the facts"))
            text = mask(text, m.start(), m.end())
    return text, problems


_NUMBER = re.compile(
    r"""(?<![\w.,/\u2044])
    (?P<sign>[-+])?(?P<cur>[$€£])?
    (?P<num>[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]+)?)
    (?P<ord>st|nd|rd|th)?
    (?P<unit>\s?(?:%|percent\b|per\s?cent\b|percentage\s+points?\b|pp\b|points?\b|x\b|×|times\b
        |k\b|thousand\b|m\b|mn\b|million\b|bn\b|billion\b))?
    (?![\w/\u2044])""",
    re.X | re.I,
)
_SCALES = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "bn": 1e9, "billion": 1e9}
_UP = frozenset(
    _words(
        "up rose risen rise rises rising increase increased increases increasing grew grown grow growth jump jumped "
        "jumps climbed climb gained gain gains higher above spiked spike surged surge soared more"
    )
)
_DOWN = frozenset(
    _words(
        "down fell fallen fall falls falling drop dropped drops declined decline declines decrease decreased lower "
        "below lost loss shrank plunged plunge collapsed fewer less slumped dipped dip sank"
    )
)
_CLAUSE = re.compile(r"[.;:!?,(]")


def _direction_of(words: list[str]) -> str | None:
    for word in words:
        if word in _UP:
            return "up"
        if word in _DOWN:
            return "down"
    return None


def _said_direction(text: str, start: int, sign: str | None, end: int | None = None) -> str | None:
    """``up``/``down`` from an explicit sign, else the nearest direction word before ``start``
    in the same clause, else one right after ``end`` ("a 41% rise")."""
    if sign:
        return "up" if sign == "+" else "down"
    before = _CLAUSE.split(text[max(0, start - 80) : start])[-1]
    said = _direction_of(list(reversed(re.findall(r"[a-z]+", before.lower())[-6:])))
    if said is None and end is not None:
        after = _CLAUSE.split(text[end : end + 40])[0]
        said = _direction_of(re.findall(r"[a-z]+", after.lower())[:2])
    return said


def _close(x: float, decimals: int, scale: float, value: float) -> bool:
    return abs(abs(value) - x * scale) <= 0.5 * 10.0**-decimals * scale + 1e-9 * max(1.0, abs(value))


def _sig(value: float, digits: int) -> float:
    if value == 0:
        return 0.0
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def _plain_ok(x: float, decimals: int, scale: float, allowed: Allowed, *, integer: bool) -> bool:
    if any(_close(x, decimals, scale, v) for v in allowed.values):
        return True
    if integer and scale == 1 and (int(x) in allowed.counts or int(x) in allowed.years):
        return True
    # "1,000" for 1,023 or "12k" for 12,345: rounded to two or three significant figures
    whole = x * scale
    return decimals == 0 and whole >= 100 and any(_sig(abs(v), k) == whole for v in allowed.values for k in (2, 3))


def _tagged_ok(x: float, decimals: int, candidates: list[tuple[float, str]], said: str | None) -> str | None:
    """None when some candidate matches in a compatible direction, else the reason."""
    tags = {tag for value, tag in candidates if _close(x, decimals, 1.0, value)}
    if not tags:
        return "matches no cited fact"
    if said is None or "other" in tags or said in tags:
        return None
    return f"says {said}, but the cited facts went {'/'.join(sorted(tags))}"


def _ratio_ok(k: float, decimals: int, allowed: Allowed, said: str | None) -> str | None:
    hits = {tag for r, tag in allowed.ratios if _close(k, decimals, 1.0, r) and abs(r - k) <= 0.1 * k}
    if not hits:
        return "matches no ratio of actual to expected in the cited facts"
    if said is None or said in hits:
        return None
    return f"says {said}, but the cited facts went {'/'.join(sorted(hits))}"


def _form_problem(m: re.Match[str], x: float, decimals: int, unit: str, allowed: Allowed) -> str | None:
    """Problems with how a number is written: a rank beyond the list, money, 4.000."""
    if m["ord"] and not (x.is_integer() and 1 <= x <= max(allowed.counts | {1})):
        return "is not a rank in the facts"
    if m["cur"] and not allowed.money:
        return "is an amount of money; the facts hold no money"
    if decimals == 3 and x >= 1 and x.is_integer() and not unit:
        return "is ambiguous (a thousands separator or three decimals?): write 4,000 or 4"
    return None


def _number_problem(m: re.Match[str], text: str, allowed: Allowed) -> str | None:
    raw = m["num"].replace(",", "")
    x = float(raw)
    decimals = len(raw.partition(".")[2])
    unit = (m["unit"] or "").strip().lower()
    reason = _form_problem(m, x, decimals, unit, allowed)
    if reason or m["ord"]:
        return reason
    said = _said_direction(text, m.start(), m["sign"], m.end())
    if unit.startswith(("percentage", "pp", "point")):
        pool = [*allowed.points, *allowed.values] if unit.startswith("point") else allowed.points
        reason = None if any(_close(x, decimals, 1.0, v) for v in pool) else "matches no difference in the facts"
    elif unit == "%" or unit.startswith("per"):
        reason = _tagged_ok(x, decimals, allowed.percents, said)
    elif unit in ("x", "×", "times"):
        reason = _ratio_ok(x, decimals, allowed, said)
    elif not _plain_ok(x, decimals, _SCALES.get(unit, 1.0), allowed, integer=decimals == 0):
        reason = "matches no cited fact"
    return reason


def check_numbers(text: str, allowed: Allowed) -> tuple[str, list[Problem]]:
    """Every number must match an allowed value, percentage, difference, ratio, count or rank."""
    problems = []
    for m in list(_NUMBER.finditer(text)):
        reason = _number_problem(m, text, allowed)
        if reason:
            problems.append(Problem(m.start(), m.end(), reason))
        text = mask(text, m.start(), m.end())
    return text, problems


_COUNT_WORDS = {w: i for i, w in enumerate(_words("two three four five six seven eight nine ten eleven twelve"), 2)}
_RATIO_WORDS = {"twice": (2.0, None), "doubled": (2.0, "up"), "tripled": (3.0, "up"), "quadrupled": (4.0, "up")}
_RATIO_WORDS |= {"halved": (2.0, "down"), "trebled": (3.0, "up")}
_FRACTIONS = {"half": 50.0, "third": 100 / 3, "thirds": 200 / 3, "quarter": 25.0, "quarters": 75.0}
_MAGNITUDES = {"dozens": (24, 100), "hundreds": (100, 1e3), "thousands": (1e3, 1e6), "millions": (1e6, 1e9)}
_OTHER_NUMBER_WORDS = frozenset(
    _words(
        "thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty "
        "ninety hundred thousand million billion trillion dozen"
    )
)
_WORD = re.compile(r"(?<![\w-])[a-z]+(?![\w-])", re.I)


def _fraction_problem(word: str, allowed: Allowed) -> str | None:
    target = _FRACTIONS[word]
    if any(abs(v - target) <= 5 for v, _ in allowed.percents):
        return None
    if word == "half" and any(abs(r - 2) <= 0.2 for r, _ in allowed.ratios):
        return None
    return "matches no share or change in the cited facts"


def _word_problem(word: str, text: str, start: int, allowed: Allowed) -> str | None:
    reason: str | None = None
    if word in _COUNT_WORDS:
        counts = allowed.counts | {len(allowed.dates)}
        reason = None if _COUNT_WORDS[word] <= max(counts | {1}) else "is more than the facts list"
    elif word in _RATIO_WORDS:
        k, implied = _RATIO_WORDS[word]
        reason = _ratio_ok(k, 0, allowed, implied or _said_direction(text, start, None))
    elif word in _FRACTIONS:
        reason = _fraction_problem(word, allowed)
    elif word in _MAGNITUDES:
        low, high = _MAGNITUDES[word]
        reason = None if any(low <= abs(v) < high for v in allowed.values) else "matches no value in the cited facts"
    elif word == "zero":
        reason = None if allowed.near_zero else "matches no value near zero in the cited facts"
    elif word in _OTHER_NUMBER_WORDS:
        reason = "is a number in words (write numbers as digits, copied from the facts)"
    return reason


def check_number_words(text: str, allowed: Allowed) -> tuple[str, list[Problem]]:
    """Number words (two, twice, doubled, half, thousands, fifty...) must be backed by the facts too."""
    problems = []
    words = list(_WORD.finditer(text))
    for i, m in enumerate(words):
        word = m.group().lower()
        after = words[i + 1].group().lower() if i + 1 < len(words) else ""
        before = words[i - 1].group().lower() if i else ""
        if word in ("quarter", "third") and before not in ("a", "one"):
            continue  # "the third finding", "last quarter" are not fractions
        if word in _COUNT_WORDS and after in ("quarters", "thirds"):
            continue  # the fraction is checked on its own
        if word in _COUNT_WORDS and after == "times":
            said = _said_direction(text, m.start(), None)
            reason = _ratio_ok(float(_COUNT_WORDS[word]), 0, allowed, said)
        else:
            reason = _word_problem(word, text, m.start(), allowed)
        if reason:
            problems.append(Problem(m.start(), m.end(), reason))
    return text, problems
