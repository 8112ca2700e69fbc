"""Anki cloze syntax: parse ``{{c1::answer::hint}}`` deletions and report malformed ones.

Parsing never raises: every problem becomes a ``ClozeProblem`` with a stable
code and the offsets of the offending markup, so the checker can point at it.

Policy beyond Anki's own rules: one fact per card, so nested deletions (which
Anki accepts since 2.1.56) are rejected; card numbers are written ``c1``,
``c2``... with no leading zero, starting at 1 and without gaps.

Most notes are plain sentences with a few well-formed deletions, so those are
parsed by a quick scan over the markup alone; anything else (stray braces,
nesting, a malformed header) goes to the full character-by-character parser,
whose results the quick scan reproduces exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Deletion", "ClozeProblem", "ParsedCloze", "parse_cloze"]

UNBALANCED = "cloze-unbalanced"
EMPTY = "cloze-empty"
BAD_NUMBER = "cloze-bad-number"
GAP = "cloze-gap"
NESTED = "cloze-nested"
NONE = "cloze-none"


@dataclass(frozen=True)
class Deletion:
    """One deletion; ``start``/``end`` cover the whole ``{{...}}`` markup.

    ``answer`` is what the card hides, with any nested deletion already filled in.
    """

    number: int
    answer: str
    hint: str | None
    start: int
    end: int


@dataclass(frozen=True)
class ClozeProblem:
    code: str
    message: str
    start: int
    end: int


@dataclass(frozen=True)
class ParsedCloze:
    deletions: tuple[Deletion, ...]
    problems: tuple[ClozeProblem, ...]
    # The parsed text, kept so that ``filled`` needs no second parse.
    text: str = field(default="", repr=False)

    def filled(self) -> str:
        """The text with each deletion replaced by its answer: the sentence the source must contain.

        Markup that is not a well-formed deletion (an unclosed ``{{c1::``, a
        stray ``}}``, ``{{C1::x}}``) is left as written.
        """
        out: list[str] = []
        pos = 0
        for d in self.deletions:
            if d.start < pos:
                continue  # nested inside a deletion already filled in
            out.append(self.text[pos:d.start])
            out.append(d.answer)
            pos = d.end
        out.append(self.text[pos:])
        return "".join(out)

    def numbers(self) -> tuple[int, ...]:
        return tuple(sorted({d.number for d in self.deletions}))

    @property
    def ok(self) -> bool:
        return not self.problems


# A note has at most a few dozen cards; the cap also keeps int() away from huge digit strings.
MAX_NUMBER_DIGITS = 4
_HEADER = re.compile(r"c([0-9]+)::")
# Something meant as a header but not written as one: "C1::", "c1:", "cx::", "c::".
_LOOSE_HEADER = re.compile(r"\s*[cC][^:{}\s]{0,12}\s*:{1,2}")
# A deletion with a valid number and no brace inside: where no other brace
# exists, the full parser could only read it as one flat deletion.
_SIMPLE_DELETION = re.compile(r"\{\{(c([1-9][0-9]{0,%d})::)([^{}]*)\}\}" % (MAX_NUMBER_DIGITS - 1))
_NO_DELETION = "no cloze deletion: mark the answer as {{c1::answer}}"


@dataclass
class _Frame:
    start: int
    number: int | None  # None: the header is malformed
    header: str
    answer: list[str] = field(default_factory=list)
    hint: list[str] | None = None

    def write(self, piece: str) -> None:
        (self.hint if self.hint is not None else self.answer).append(piece)


def parse_cloze(text: str) -> ParsedCloze:
    """Parse Anki cloze markup. Never raises; malformed markup is reported in ``problems``."""
    if not isinstance(text, str):
        return ParsedCloze((), (ClozeProblem(NONE, f"cloze text must be a string, not {type(text).__name__}",
                                             0, 0),), "")
    parsed = _parse_simple(text)
    return parsed if parsed is not None else _parse_full(text)


def _parse_simple(text: str) -> ParsedCloze | None:
    """Parse text whose only braces are those of flat, validly numbered deletions; None for any other text.

    Declining is always safe: the caller then runs the full parser.
    """
    matches = list(_SIMPLE_DELETION.finditer(text))
    # Each match holds two of each brace; a brace left over anywhere means markup this scan does not model.
    braces = 2 * len(matches)
    if text.count("{") != braces or text.count("}") != braces:
        return None
    if not matches:
        return ParsedCloze((), (ClozeProblem(NONE, _NO_DELETION, 0, len(text)),), text)
    deletions: list[Deletion] = []
    problems: list[ClozeProblem] = []
    for m in matches:
        header, digits, body = m.groups()
        # The full parser starts the hint at the first "::" and keeps any later ones in it.
        answer, _, hint = body.partition("::")
        start, end = m.span()
        if not answer.strip():
            problems.append(ClozeProblem(
                EMPTY, f"deletion {header!r} hides nothing: its answer is empty", start, end))
        deletions.append(Deletion(int(digits), answer, hint or None, start, end))
    problems.extend(_numbering(deletions))
    if len(problems) > 1:
        problems.sort(key=lambda p: (p.start, p.end))
    return ParsedCloze(tuple(deletions), tuple(problems), text)


def _parse_full(text: str) -> ParsedCloze:
    """Parse any text, character by character, tracking nesting and every kind of malformed markup."""
    deletions: list[Deletion] = []
    problems: list[ClozeProblem] = []
    stack: list[_Frame] = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("{{", i):
            if text.startswith("{", i + 2):
                # "{{{c1::x}}": the deletion starts at the last pair of braces.
                _emit(stack, text[i])
                i += 1
                continue
            frame = _open(text, i, problems)
            if stack:
                problems.append(ClozeProblem(
                    NESTED,
                    f"deletion {frame.header!r} is nested inside {stack[-1].header!r}; "
                    "one fact per card: split it into separate deletions",
                    i, i + 2 + len(frame.header),
                ))
            stack.append(frame)
            i += 2 + len(frame.header)
        elif text.startswith("}}", i):
            if not stack:
                problems.append(ClozeProblem(
                    UNBALANCED, "'}}' closes no deletion (is its '{{' missing?)", i, i + 2))
                _emit(stack, "}}")
                i += 2
                continue
            frame = stack.pop()
            end = i + 2
            answer = "".join(frame.answer)
            hint = "".join(frame.hint) if frame.hint is not None else None
            if frame.number is not None:
                if not answer.strip():
                    problems.append(ClozeProblem(
                        EMPTY, f"deletion {frame.header!r} hides nothing: its answer is empty",
                        frame.start, end))
                deletions.append(Deletion(frame.number, answer, hint or None, frame.start, end))
                _emit(stack, answer)
            else:
                _emit(stack, text[frame.start:end])
            i = end
        elif stack and stack[-1].hint is None and text.startswith("::", i):
            stack[-1].hint = []
            i += 2
        else:
            _emit(stack, text[i])
            i += 1
    for frame in stack:
        problems.append(ClozeProblem(
            UNBALANCED, f"deletion {frame.header!r} is never closed with '}}}}'", frame.start, n))
    deletions.sort(key=lambda d: (d.start, d.end))
    if deletions:
        # Broken markup hides deletions, so their numbering cannot be judged yet.
        if not any(p.code in (UNBALANCED, BAD_NUMBER) for p in problems):
            problems.extend(_numbering(deletions))
    elif not problems:
        problems.append(ClozeProblem(NONE, _NO_DELETION, 0, n))
    problems.sort(key=lambda p: (p.start, p.end))
    return ParsedCloze(tuple(deletions), tuple(problems), text)


def _emit(stack: list[_Frame], piece: str) -> None:
    if stack:
        stack[-1].write(piece)


def _open(text: str, i: int, problems: list[ClozeProblem]) -> _Frame:
    m = _HEADER.match(text, i + 2)
    digits = m.group(1) if m else ""
    if m and digits[0] != "0" and len(digits) <= MAX_NUMBER_DIGITS:
        return _Frame(i, int(digits), m.group())
    loose = m or _LOOSE_HEADER.match(text, i + 2)
    header = loose.group() if loose else ""
    shown = "{{" + header
    if m:
        if len(digits) > MAX_NUMBER_DIGITS:
            why = f"{shown[:20]!r}…: the card number is too large"
        elif set(digits) == {"0"}:
            why = f"{shown!r}: cards are numbered from c1"
        else:
            why = f"{shown!r}: write the card number without leading zeros"
    elif loose:
        why = f"{shown!r} is not a cloze header: write {{{{c1::answer}}}} (lower-case c, a number, two colons)"
    else:
        why = "'{{' must start a deletion such as {{c1::answer}}"
    problems.append(ClozeProblem(BAD_NUMBER, why, i, i + 2 + len(header)))
    return _Frame(i, None, header)


def _numbering(deletions: list[Deletion]) -> list[ClozeProblem]:
    numbers = sorted({d.number for d in deletions})
    if numbers[-1] == len(numbers):
        return []  # distinct positive numbers up to their count are exactly c1..cN
    missing: list[tuple[int, int]] = []  # inclusive ranges, never materialised: c9999999 must stay cheap
    expected = 1
    for number in numbers:
        if number > expected:
            missing.append((expected, number - 1))
        expected = number + 1
    if not missing:
        return []
    first_missing = missing[0][0]
    after = next(d for d in deletions if d.number > first_missing)
    names = ", ".join(f"c{a}" if a == b else f"c{a}–c{b}" for a, b in missing[:5])
    if len(missing) > 5:
        names += ", …"
    have = ", ".join(f"c{x}" for x in numbers[:10]) + (", …" if len(numbers) > 10 else "")
    if numbers[0] != 1 and len(missing) == 1:
        message = f"deletions must be numbered from c1, but the first is c{numbers[0]}"
    else:
        message = f"deletion numbers skip {names} (have {have}); number them c1, c2, … without gaps"
    return [ClozeProblem(GAP, message, after.start, after.end)]
