"""Dates: parse a card's date claim and check it against the dates its evidence states.

A claim asserts a year, a month or a day (``YYYY``, ``YYYY-MM``,
``YYYY-MM-DD``); each asserted part must be stated by the evidence, in any
common written form. Stating more than the claim is fine ("June 22, 1941"
supports 1941); stating less is not ("1941" does not support 1941-06).
"""

from __future__ import annotations

import calendar
import datetime
import re
from dataclasses import dataclass

__all__ = [
    "DateClaim",
    "DateError",
    "DateMention",
    "DateVerdict",
    "parse_claim",
    "find_dates",
    "check_date",
]

MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)


class DateError(ValueError):
    """A date claim that is malformed or names a day that never existed."""


@dataclass(frozen=True)
class DateClaim:
    year: int
    month: int | None = None
    day: int | None = None

    def iso(self) -> str:
        if self.month is None:
            return f"{self.year:04d}"
        if self.day is None:
            return f"{self.year:04d}-{self.month:02d}"
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"

    def human(self) -> str:
        if self.month is None:
            return str(self.year)
        if self.day is None:
            return f"{MONTH_NAMES[self.month - 1]} {self.year}"
        return f"{self.day} {MONTH_NAMES[self.month - 1]} {self.year}"

    def components(self) -> tuple[str, ...]:
        """The parts the claim asserts, coarsest first."""
        if self.month is None:
            return ("year",)
        if self.day is None:
            return ("year", "month")
        return ("year", "month", "day")


_CLAIM = re.compile(r"(?P<y>[0-9]{4})(?:-(?P<m>[0-9]{2})(?:-(?P<d>[0-9]{2}))?)?")


def parse_claim(value: str | int | datetime.date) -> DateClaim:
    """A card's date as a claim; raises DateError when malformed or impossible."""
    if isinstance(value, datetime.datetime):
        value = value.date()
    if isinstance(value, datetime.date):
        return DateClaim(value.year, value.month, value.day)
    if isinstance(value, bool):
        raise DateError(f"expected a date (YYYY, YYYY-MM or YYYY-MM-DD), got {value!r}")
    if isinstance(value, int):
        return _validated(value, None, None)
    if not isinstance(value, str):
        raise DateError(f"expected a date (YYYY, YYYY-MM or YYYY-MM-DD), got {type(value).__name__}")
    text = value.strip()
    m = _CLAIM.fullmatch(text)
    if m is None:
        raise DateError(f"{value!r} is not a date: write YYYY, YYYY-MM or YYYY-MM-DD (e.g. 1941-06-22)")
    month = int(m.group("m")) if m.group("m") else None
    day = int(m.group("d")) if m.group("d") else None
    return _validated(int(m.group("y")), month, day)


def _validated(year: int, month: int | None, day: int | None) -> DateClaim:
    if not 1 <= year <= 9999:
        raise DateError(f"year {year} is out of range (1 to 9999)")
    if month is not None and not 1 <= month <= 12:
        raise DateError(f"month {month} does not exist (months run from 01 to 12)")
    if day is not None:
        assert month is not None
        last = calendar.monthrange(year, month)[1]
        if not 1 <= day <= last:
            raise DateError(
                f"day {day} does not exist in {MONTH_NAMES[month - 1]} {year} "
                f"({MONTH_NAMES[month - 1]} {year} has {last} days)"
            )
    return DateClaim(year, month, day)


@dataclass(frozen=True)
class DateMention:
    """A date stated in a text; parts the text leaves out are None ("March 9": no year)."""

    year: int | None
    month: int | None
    day: int | None
    start: int
    end: int
    text: str

    def human(self) -> str:
        month = MONTH_NAMES[self.month - 1] if self.month else None
        parts = [str(self.day) if self.day else None, month, str(self.year) if self.year else None]
        return " ".join(p for p in parts if p)


@dataclass(frozen=True)
class DateVerdict:
    """``unsupported`` names the claim's parts the closest mention does not state."""

    ok: bool
    unsupported: tuple[str, ...]
    mentions: tuple[DateMention, ...]


# -- finding dates -------------------------------------------------------------------------

_MONTH_ALIASES: dict[str, int] = {}
for _number, _name in enumerate(MONTH_NAMES, 1):
    _MONTH_ALIASES[_name.lower()] = _number
    _MONTH_ALIASES[_name[:3].lower()] = _number
_MONTH_ALIASES["sept"] = 9

# Full names, then abbreviations with an optional full stop; capitalised only,
# so that "may" and "march" the verbs are not months.
_MONTH = (
    r"(?P<{g}>(?:January|February|March|April|May|June|July|August|September|October|November|December)\b"
    r"|(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\b\.?)"
)
_DAY = r"(?P<{g}>[0-9]{{1,2}})(?:st|nd|rd|th)?(?![0-9])"
_YEAR = r"(?P<{g}>[0-9]{{4}})(?![0-9])"
_WEEKDAY = r"(?:(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day,?\s+)?"
_DAY_RANGE_SEP = r"\s*(?:[-–—]|to|and)\s*"


def _p(template: str) -> str:
    return (template
            .replace("MONTH", _MONTH.format(g="month"))
            .replace("DAY2", _DAY.format(g="day2"))
            .replace("DAY", _DAY.format(g="day"))
            .replace("YEAR", _YEAR.format(g="year")))


_LEFT = r"(?<![0-9A-Za-z])"
# What a text must contain for a kind of mention to be in it: a capitalised month
# (every month pattern starts "Jan", "Feb", ..., "Sep", "Dec") or a digit.
_MONTH_HINT = re.compile(r"Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec")
_DIGIT_HINT = re.compile(r"[0-9]")
# (name, needs a month, needs a digit, first characters, pattern). The lookahead for the
# characters a mention can begin with lets the regex engine pass over most positions
# at once, instead of trying the lookbehinds and optional words at each.
_KINDS = (
    # June 22, 1941 · Jun. 22nd 1941 · June 22–24, 1941
    ("mdy", True, True, "ADFJMNOSTW", _LEFT + _WEEKDAY + r"MONTH\s+DAY(?:" + _DAY_RANGE_SEP + r"DAY2)?,?\s+YEAR"),
    # 22 June 1941 · the 22nd of June, 1941 · 23-26 September 1999
    ("dmy", True, True, "0-9FMSTWt",
     _LEFT + _WEEKDAY + r"(?:the\s+)?DAY(?:" + _DAY_RANGE_SEP + r"DAY2)?\s+(?:of\s+)?MONTH,?\s+YEAR"),
    # 1941-06-22
    ("iso", False, True, "0-9", _LEFT + r"YEAR-(?P<month>[0-9]{1,2})-(?P<day>[0-9]{1,2})(?![0-9])"),
    # 6/22/1941, 11-30-2021 (US order); 22/6/1941 when the first part cannot be a month
    ("numeric", False, True, "0-9",
     _LEFT + r"(?P<a>[0-9]{1,2})(?P<sep>[/.-])(?P<b>[0-9]{1,2})(?P=sep)YEAR(?![0-9/.-][0-9])"),
    # January 1919 · April of 1945 · Jan. 1919
    ("my", True, True, "ADFJMNOS", _LEFT + r"MONTH,?\s+(?:of\s+)?YEAR"),
    # March 9 · (January 5) · December 7th
    ("md", True, True, "ADFJMNOS", _LEFT + r"MONTH\s+DAY(?:" + _DAY_RANGE_SEP + r"DAY2)?"),
    # 5 January · the 22nd of June
    ("dm", True, True, "0-9t", _LEFT + r"(?:the\s+)?DAY(?:" + _DAY_RANGE_SEP + r"DAY2)?\s+(?:of\s+)?MONTH"),
    # in February · late February · mid-August · the end of May
    ("m", True, False, "ADFJMNOS",
     r"(?:(?<=\b[Ii]n\s)|(?<=\b[Ee]arly\s)|(?<=\b[Ll]ate\s)|(?<=\b[Mm]id-)|(?<=\b[Mm]id\s)"
     r"|(?<=\b[Oo]f\s)|(?<=\b[Bb]y\s)|(?<=\b[Ss]ince\s)|(?<=\b[Uu]ntil\s)|(?<=\b[Tt]ill\s)"
     r"|(?<=\b[Ff]rom\s)|(?<=\b[Tt]hat\s)|(?<=\b[Tt]his\s)|(?<=\b[Ll]ast\s)|(?<=\b[Nn]ext\s)"
     r"|(?<=\b[Tt]he\s)|(?<=\b[Dd]uring\s)|(?<=\b[Tt]hrough\s)|(?<=\b[Bb]efore\s)|(?<=\b[Aa]fter\s))"
     r"MONTH(?!\s+[0-9])"),
    # 1932 · 1917-1947 · 1936-38 · 1932.196 (endnote glued on)
    ("year", False, True, "12", _LEFT + r"(?P<year>1[0-9]{3}|20[0-9]{2})(?![0-9]|[sS]\b|['’]s\b|,[0-9]{3})"
                                r"(?:[-–](?P<year2>[0-9]{2})(?![0-9]))?"),
)
_PATTERNS: tuple[tuple[str, bool, bool, re.Pattern[str]], ...] = tuple(
    (name, needs_month, needs_digit, re.compile(f"(?=[{first}])" + _p(pattern)))
    for name, needs_month, needs_digit, first, pattern in _KINDS
)


def _month(token: str) -> int:
    return _MONTH_ALIASES[token.rstrip(".").lower()]


def _valid_day(year: int | None, month: int, day: int) -> bool:
    if year is None:
        return 1 <= day <= (29 if month == 2 else calendar.monthrange(2001, month)[1])
    return 1 <= day <= calendar.monthrange(year, month)[1]


def find_dates(text: str) -> list[DateMention]:
    """Every date the text states, in order; each stretch of text yields at most one kind of mention.

    A day range ("23-26 September 1999") yields one mention per end, both
    spanning the whole range. Decades ("the 1930s") are not mentions.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected text, got {type(text).__name__}")
    has_month = _MONTH_HINT.search(text) is not None
    has_digit = _DIGIT_HINT.search(text) is not None
    taken: list[tuple[int, int]] = []
    found: list[DateMention] = []
    for name, needs_month, needs_digit, pattern in _PATTERNS:
        if (needs_month and not has_month) or (needs_digit and not has_digit):
            continue
        for m in pattern.finditer(text):
            start, end = m.span()
            if any(s < end and start < e for s, e in taken):
                continue
            mentions = _mentions(name, m, text)
            if not mentions:
                continue
            taken.append((start, end))
            found.extend(mentions)
    found.sort(key=lambda d: (d.start, d.end, d.day or 0))
    return found


def _mentions(name: str, m: re.Match[str], text: str) -> list[DateMention]:
    start, end = m.span()
    span = text[start:end]
    groups = m.groupdict()
    year = int(groups["year"]) if groups.get("year") else None
    if name == "year":
        out = [DateMention(year, None, None, start, m.end("year"), text[start:m.end("year")])]
        if groups.get("year2"):
            assert year is not None
            second = year // 100 * 100 + int(groups["year2"])
            if second > year:
                out.append(DateMention(second, None, None, m.start("year2"), end, text[m.start("year2"):end]))
        return out
    if name == "numeric":
        a, b = int(groups["a"]), int(groups["b"])
        month, day = (a, b) if a <= 12 else (b, a)
        if groups["sep"] == "." and b <= 12:
            # Dotted dates are written day first (22.06.1941).
            month, day = b, a
        if not 1 <= month <= 12 or year is None or not _valid_day(year, month, day):
            return []
        return [DateMention(year, month, day, start, end, span)]
    if name == "iso":
        month, day = int(groups["month"]), int(groups["day"])
        if not 1 <= month <= 12 or year is None or not _valid_day(year, month, day):
            return []
        return [DateMention(year, month, day, start, end, span)]
    month = _month(groups["month"])
    days = [int(groups[g]) for g in ("day", "day2") if groups.get(g)]
    if not days:
        return [DateMention(year, month, None, start, end, span)]
    if not all(_valid_day(year, month, d) for d in days):
        return []
    return [DateMention(year, month, d, start, end, span) for d in days]


# -- checking ------------------------------------------------------------------------------

_WEIGHT = {"year": 4, "month": 2, "day": 1}


def _failures(claim: DateClaim, year: int | None, month: int | None, day: int | None) -> tuple[str, ...]:
    stated = {"year": year, "month": month, "day": day}
    wanted = {"year": claim.year, "month": claim.month, "day": claim.day}
    return tuple(part for part in claim.components() if stated[part] != wanted[part])


def check_date(claim: DateClaim, evidence: str) -> DateVerdict:
    """Does ``evidence`` state every part of ``claim``?

    Each mention is tried on its own; a mention without a year ("(January 5)",
    "in late February") is also tried with every year the evidence states
    elsewhere. When none fits, ``unsupported`` comes from the closest
    candidate: a wrong year weighs more than a wrong month, a wrong month more
    than a wrong day.
    """
    if not isinstance(claim, DateClaim):
        claim = parse_claim(claim)
    mentions = tuple(find_dates(evidence))
    years = sorted({m.year for m in mentions if m.year is not None})
    best: tuple[str, ...] | None = None
    best_score = None
    for m in mentions:
        candidates = [m.year]
        if m.year is None and m.month is not None:
            candidates += years
        for year in candidates:
            failed = _failures(claim, year, m.month, m.day)
            if not failed:
                return DateVerdict(True, (), mentions)
            score = sum(_WEIGHT[p] for p in failed)
            if best_score is None or score < best_score:
                best, best_score = failed, score
    return DateVerdict(False, best if best is not None else claim.components(), mentions)
