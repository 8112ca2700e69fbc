"""Figures: find the numbers a text states and check a card's value against its evidence.

A figure card's ``value`` is written as in the source ("2.2 billion rubles",
"twenty-fold", "fewer than 2,000") and must be stated by its ``evidence``, in
digits or in words. Numbers are compared by exact value, never by spelling,
so "twenty million", "20 million" and "20,000,000" agree while "2.2 million"
and "2.2 billion" do not.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction

__all__ = [
    "Quantity",
    "FigureVerdict",
    "find_quantities",
    "parse_value",
    "check_figure",
]


@dataclass(frozen=True)
class Quantity:
    """A number stated in a text.

    ``text`` is ``scanned[start:end]``: the number as written, with its
    currency sign, scale words ("2.2 billion"), "-fold" and "%" but without a
    following unit word. ``unit`` is that unit word, lower-cased ("rubles",
    "percent", "fold", "dollars" for "$"). ``vague`` marks round plurals such
    as "hundreds of thousands": their ``value`` is the order of magnitude, and
    they only ever equal another vague quantity.
    """

    value: Decimal
    text: str
    start: int
    end: int
    unit: str | None = None
    vague: bool = False


@dataclass(frozen=True)
class FigureVerdict:
    """The outcome of checking a figure.

    ``ok`` is False when the evidence does not state the value; ``reason`` then
    says why. ``ok`` with a ``reason`` is a warning: the number is there but a
    unit the value names ("rubles", "$") is not near it. ``found`` lists every
    number in the evidence, so a message can say what it does state.
    """

    ok: bool
    reason: str | None
    found: tuple[Quantity, ...]


# -- vocabulary ------------------------------------------------------------------------

_SMALL = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}
_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_MULTIPLIERS = {"hundred": 100, "dozen": 12}
# "second" is left out: "one second" is a unit of time far more often than a fraction.
_DENOMINATORS = {
    "half": 2, "halves": 2, "third": 3, "thirds": 3, "quarter": 4, "quarters": 4,
    "fourth": 4, "fourths": 4, "fifth": 5, "fifths": 5, "sixth": 6, "sixths": 6,
    "seventh": 7, "sevenths": 7, "eighth": 8, "eighths": 8, "ninth": 9, "ninths": 9,
    "tenth": 10, "tenths": 10,
}
# Only these read as fractions after a bare "a": "a fifth column" is not a fifth.
_A_DENOMINATORS = {"half", "third", "quarter"}
_CARDINALS = {**_SMALL, **_TENS}
_VAGUE = {"tens": 10, "hundreds": 100, "thousands": 10**3, "millions": 10**6,
          "billions": 10**9, "dozens": 12}
# Multiplicative adverbs state a count: "the Soviets twice appealed".
_TIMES = {"twice": 2, "thrice": 3}
_CURRENCY = {"$": "dollars", "£": "pounds", "€": "euros", "¥": "yen"}

# Words that follow a number without naming what is counted.
_STOPWORDS = frozenset("""
a an the of in on at to and or nor but by for from with into onto upon as than then that
this these those which who whom whose when where while whereas if so such had has have
having was were is are be been being am would will shall should could can may might must
do does did not no its it their his her our your my they he she we you i them him us
there here per each every other another more most less fewer over under after before
about around some only just even also still yet out up down off again already
""".split())

_QUALIFIER_CLASSES = {
    "upper": ("no more than", "fewer than", "less than", "under", "below", "almost", "nearly",
              "at most", "up to", "not quite", "just under", "short of"),
    "lower": ("no fewer than", "no less than", "more than", "over", "above", "at least",
              "upwards of", "in excess of", "just over", "well over"),
    "approximate": ("about", "around", "approximately", "roughly", "some", "circa", "c.",
                    "an estimated", "estimated", "perhaps"),
}
_QUALIFIERS = sorted(
    ((phrase, cls) for cls, phrases in _QUALIFIER_CLASSES.items() for phrase in phrases),
    key=lambda item: -len(item[0]),
)
_QUALIFIER_ALT = "|".join(re.escape(p).replace(r"\ ", r"\s+") for p, _ in _QUALIFIERS)
_LEADING_QUALIFIER = re.compile(rf"^\s*(?P<q>{_QUALIFIER_ALT})\s+", re.IGNORECASE)
_TRAILING_QUALIFIER = re.compile(rf"(?<![\w-])(?P<q>{_QUALIFIER_ALT})\s+(?:a\s+full\s+)?$", re.IGNORECASE)


def _vulgar_fractions() -> dict[str, Fraction]:
    table: dict[str, Fraction] = {}
    for code in range(0x00BC, 0x00BF):
        table[chr(code)] = _fraction_from_decomposition(chr(code))
    for code in range(0x2150, 0x215F):
        table[chr(code)] = _fraction_from_decomposition(chr(code))
    return {k: v for k, v in table.items() if v is not None}


def _fraction_from_decomposition(char: str) -> Fraction | None:
    # The decomposition is exact ("<fraction> 0031 2044 0033"); unicodedata.numeric is a float.
    parts = unicodedata.decomposition(char).split()
    if len(parts) != 4 or parts[0] != "<fraction>" or parts[2] != "2044":
        return None
    return Fraction(int(chr(int(parts[1], 16))), int(chr(int(parts[3], 16))))


_VULGAR = _vulgar_fractions()
_VULGAR_CLASS = "".join(sorted(_VULGAR))

# -- digits ------------------------------------------------------------------------------

_DIGITS = re.compile(
    rf"""
    (?<![0-9A-Za-z_])
    (?:
        (?P<int>[0-9]{{1,3}}(?:,[0-9]{{3}})+(?![0-9])|[0-9]+)
        (?:\.(?P<frac>[0-9]+))?
        (?P<vf>[{_VULGAR_CLASS}])?
      |
        (?P<vfonly>[{_VULGAR_CLASS}])
    )
    """,
    re.VERBOSE,
)
_SLASH_TAIL = re.compile(r"(?:/[0-9]+)+")
_SCALE_AFTER = re.compile(r"(?:\s+(?P<w>hundred|thousand|million|billion|trillion)\b)", re.IGNORECASE)
_FOLD_AFTER = re.compile(r"-?fold\b", re.IGNORECASE)
_PERCENT_AFTER = re.compile(r"\s?%|\s+per\s*cent\b|\s+percent\b", re.IGNORECASE)
_ORDINAL_AFTER = re.compile(r"(?:st|nd|rd|th)\b|[sS]\b|['’]s\b", re.IGNORECASE)
_GLUED_UNIT = re.compile(r"[A-Za-z]+")
_WORD = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)*")
_NEXT_WORD = re.compile(r"[ \t\u00a0]+(?P<w>[A-Za-z][A-Za-z'’]*(?:-[A-Za-z]+)*)")
_HYPHEN_WORD = re.compile(r"[-‐‑](?P<w>[A-Za-z]+)")
_VAGUE_RE = re.compile(
    r"(?<![\w-])(?P<a>tens|hundreds|thousands|millions|billions|dozens)"
    r"(?:\s+of\s+(?P<b>thousands|millions|billions))?(?![\w-])",
    re.IGNORECASE,
)


def _to_decimal(value: Fraction) -> Decimal:
    if value.denominator == 1:
        return Decimal(value.numerator)
    with localcontext() as ctx:
        ctx.prec = 40
        # Terminating fractions come out exact; repeating ones (2/3) are rounded
        # once, the same way wherever they are written, so equal values compare equal.
        return Decimal(value.numerator) / Decimal(value.denominator)


_ONLY_SPACE_LEFT = re.compile(r"\s*\Z")
_NEXT_CHAR = re.compile(r"\s+(\S)")


def _endnote_glued(text: str, m: re.Match[str]) -> bool:
    """True when ".175" after "2,600" is an endnote marker, not a decimal.

    A real decimal ending a sentence needs its own full stop ("2.5."); a number
    followed directly by a capitalised word or the end of the text reads as
    "2,600." plus a glued endnote, as in Kotkin's "would manufacture 2,600.175 Soviet".
    """
    whole, frac = m.group("int"), m.group("frac")
    if frac is None or len(frac) > 3 or m.group("vf"):
        return False
    if "," not in whole and len(whole) != 4:
        return False
    if _ONLY_SPACE_LEFT.match(text, m.end()):
        return True
    follow = _NEXT_CHAR.match(text, m.end())
    if follow is None or not (follow.group(1).isupper() or follow.group(1) in "“\"‘("):
        return False
    return _SCALE_AFTER.match(text, m.end()) is None


_MAX_DIGITS = 60


def _scan_digits(text: str, taken: list[tuple[int, int]], endnotes: bool = True) -> list[Quantity]:
    found: list[Quantity] = []
    pos = 0
    while True:
        m = _DIGITS.search(text, pos)
        if m is None:
            return found
        pos = m.end()
        start = m.start()
        if m.group("vfonly"):
            value = _VULGAR[m.group("vfonly")]
            end = m.end()
        else:
            whole = m.group("int")
            if len(whole) > _MAX_DIGITS or len(m.group("frac") or "") > _MAX_DIGITS:
                # A digit string this long is an identifier or noise, not a figure.
                taken.append((start, m.end()))
                continue
            tail = _SLASH_TAIL.match(text, m.end())
            if tail and not m.group("frac") and not m.group("vf"):
                found.extend(_slash_numbers(text, start, tail.end()))
                taken.append((start, tail.end()))
                pos = tail.end()
                continue
            end = m.end()
            frac = m.group("frac")
            if frac is not None and endnotes and _endnote_glued(text, m):
                frac = None
                end = m.start("frac") - 1
            value = Fraction(int(whole.replace(",", "")))
            if frac is not None:
                value += Fraction(int(frac), 10 ** len(frac))
            if m.group("vf"):
                value += _VULGAR[m.group("vf")]
            if frac is None and not m.group("vf") and _ORDINAL_AFTER.match(text, end):
                # "17th", "1930s": positions and decades, not quantities.
                taken.append((start, end))
                continue
        unit: str | None = None
        currency = _currency_before(text, start)
        if currency:
            start -= 1
            unit = _CURRENCY[currency]
        value, end = _apply_scales(text, value, end)
        q_end, q_unit = _suffix(text, end)
        if q_unit is None and end == m.end():
            glued = _GLUED_UNIT.match(text, end)
            if glued:
                q_unit = glued.group().lower()
                q_end = end
        found.append(Quantity(_to_decimal(value), text[start:q_end], start, q_end, unit or q_unit))
        taken.append((start, q_end))
        pos = max(pos, q_end)


def _slash_numbers(text: str, start: int, end: int) -> list[Quantity]:
    parts = [(p.start(), p.end()) for p in re.finditer(r"[0-9]+", text[start:end])]
    parts = [(a, b) for a, b in parts if b - a <= _MAX_DIGITS]
    if len(parts) == 2:
        (a0, a1), (b0, b1) = parts
        num, den = text[start + a0:start + a1], text[start + b0:start + b1]
        if len(num) <= 3 and len(den) <= 3 and int(den) != 0:
            return [Quantity(_to_decimal(Fraction(int(num), int(den))), text[start:end], start, end)]
    # "6/22/1941", "2014/04": a date or a path, whose parts are still numbers.
    return [
        Quantity(_to_decimal(Fraction(int(text[start + a:start + b]))), text[start + a:start + b],
                 start + a, start + b)
        for a, b in parts
    ]


def _currency_before(text: str, start: int) -> str | None:
    if start > 0 and text[start - 1] in _CURRENCY:
        return text[start - 1]
    return None


def _apply_scales(text: str, value: Fraction, end: int) -> tuple[Fraction, int]:
    while True:
        m = _SCALE_AFTER.match(text, end)
        if not m:
            return value, end
        word = m.group("w").lower()
        value *= _SCALES.get(word) or _MULTIPLIERS[word]
        end = m.end()


def _suffix(text: str, end: int) -> tuple[int, str | None]:
    """The end of the quantity's text and its unit, looking just past the number."""
    m = _FOLD_AFTER.match(text, end)
    if m:
        return m.end(), "fold"
    m = _PERCENT_AFTER.match(text, end)
    if m:
        if "%" in m.group():
            return m.end(), "percent"
        return end, "percent"
    m = _HYPHEN_WORD.match(text, end)
    if m:
        word = m.group("w").lower()
        if word not in _CARDINALS and word not in _SCALES:
            return end, word
        return end, None
    m = _NEXT_WORD.match(text, end)
    if m:
        word = m.group("w").lower()
        if word.rstrip("'’") not in _STOPWORDS and word not in _CARDINALS:
            return end, _strip_possessive(word)
    return end, None


def _strip_possessive(word: str) -> str:
    for tail in ("'s", "’s", "'", "’"):
        if word.endswith(tail):
            return word[: -len(tail)]
    return word


# -- words -------------------------------------------------------------------------------


def _token_kind(word: str) -> str | None:
    w = word.lower()
    if w in _CARDINALS:
        return "num"
    if w in _SCALES or w in _MULTIPLIERS:
        return "scale"
    if w in ("a", "an"):
        return "a"
    if w == "and":
        return "and"
    if w in _DENOMINATORS:
        return "denom"
    if w in _TIMES:
        return "times"
    if w.endswith("fold") and w[:-4] in _CARDINALS | _SCALES.keys() | _MULTIPLIERS.keys():
        return "fold"
    return None


def _eval_words(words: list[str]) -> Fraction | None:
    """The value of a run of number words, or None if they do not form one number."""
    if not words:
        return None
    w = [x.lower() for x in words]
    if w[-1] == "fold":
        return _eval_words(words[:-1]) if len(w) > 1 else None
    if w[-1].endswith("fold"):
        return _eval_words(words[:-1] + [w[-1][:-4]])
    if len(w) == 1 and w[0] in _TIMES:
        return Fraction(_TIMES[w[0]])
    if len(w) >= 3 and w[-3:] == ["and", "a", "half"]:
        base = w[:-3]
        value = _eval_plain(base)
        if value is None:
            return None
        last = base[-1]
        step = _SCALES.get(last) or _MULTIPLIERS.get(last)
        return value + Fraction(step or 1, 2)
    if "and" in w:
        i = w.index("and")
        if w[i + 1:i + 3] == ["a", "half"] and all(x in _SCALES for x in w[i + 3:]) and w[i + 3:]:
            # "two and a half million"
            head = _eval_plain(w[:i])
            if head is None:
                return None
            value = head + Fraction(1, 2)
            for x in w[i + 3:]:
                value *= _SCALES[x]
            return value
    if w[0] == "half" and len(w) >= 3 and w[1] in ("a", "an"):
        rest = _eval_plain(w[1:])
        return None if rest is None else rest / 2
    if w[-1] in _DENOMINATORS:
        if len(w) < 2:
            return None
        if w[:-1] in (["a"], ["an"]):
            return Fraction(1, _DENOMINATORS[w[-1]]) if w[-1] in _A_DENOMINATORS else None
        num = _eval_plain(w[:-1])
        if num is None or not (1 <= num <= 10) or num.denominator != 1:
            return None
        return num / _DENOMINATORS[w[-1]]
    return _eval_plain(w)


def _eval_plain(w: list[str]) -> Fraction | None:
    total = 0
    current = 0
    last_scale = None
    prev = None
    saw = False
    for i, x in enumerate(w):
        if x in ("a", "an"):
            if i != 0 or len(w) < 2 or (w[1] not in _SCALES and w[1] not in _MULTIPLIERS):
                return None
            current = 1
            prev = "a"
            continue
        if x == "and":
            if prev not in ("hundred", "scale") or i + 1 >= len(w) or w[i + 1] not in _CARDINALS:
                return None
            prev = "and"
            continue
        if x in _SMALL:
            if prev in ("small", "tens_unit") or (prev == "tens" and _SMALL[x] >= 10):
                return None
            if prev == "tens" and _SMALL[x] == 0:
                return None
            current += _SMALL[x]
            prev = "tens_unit" if prev == "tens" else "small"
        elif x in _TENS:
            if prev in ("small", "tens", "tens_unit"):
                return None
            current += _TENS[x]
            prev = "tens"
        elif x == "hundred":
            # "nineteen hundred", "twenty-five hundred": any count below a hundred.
            if not 1 <= current <= 99:
                return None
            current *= 100
            prev = "hundred"
        elif x == "dozen":
            if current == 0 or prev == "dozen":
                return None
            current *= 12
            prev = "dozen"
        elif x in _SCALES:
            scale = _SCALES[x]
            if current == 0 or (last_scale is not None and scale >= last_scale):
                return None
            total += current * scale
            current = 0
            last_scale = scale
            prev = "scale"
        else:
            return None
        saw = True
    if not saw or prev in ("a", "and"):
        return None
    return Fraction(total + current)


def _scan_words(text: str, taken: list[tuple[int, int]]) -> list[Quantity]:
    # Most texts state no number in words: one look at their words settles it.
    if _NUMBER_WORDS.isdisjoint(map(str.lower, _WORD.findall(text))):
        return []
    tokens = list(_WORD.finditer(text))
    found: list[Quantity] = []
    i = 0
    while i < len(tokens):
        if tokens[i].group().lower() not in _RUN_STARTERS:
            i += 1
            continue
        run_end = _run_end(text, tokens, i)
        if run_end == i:
            i += 1
            continue
        best: tuple[int, Fraction] | None = None
        for j in range(run_end, i, -1):
            value = _eval_words([t.group() for t in tokens[i:j]])
            if value is not None:
                best = (j, value)
                break
        if best is None:
            i += 1
            continue
        j, value = best
        start, end = tokens[i].start(), tokens[j - 1].end()
        if any(s < end and start < e for s, e in taken):
            i = j
            continue
        unit: str | None = None
        if tokens[j - 1].group().lower().endswith("fold"):
            unit = "fold"
        elif tokens[j - 1].group().lower() in _TIMES:
            unit = "times"
        else:
            end, unit = _suffix(text, end)
        found.append(Quantity(_to_decimal(value), text[start:end], start, end, unit))
        taken.append((start, end))
        i = j
    return found


# No real number takes more words; the cap bounds the longest-prefix search.
_MAX_RUN = 16

_FOLDS = {w + "fold" for w in (*_CARDINALS, *_SCALES, *_MULTIPLIERS)}
# A run of number words holds at least one of these: "a" and "and" alone are no number.
_NUMBER_WORDS = frozenset((*_CARDINALS, *_SCALES, *_MULTIPLIERS, *_DENOMINATORS, *_TIMES, *_FOLDS))
# The words `_run_end` lets a run begin with; at any other word it returns at once.
_RUN_STARTERS = frozenset(
    w for w in (*_NUMBER_WORDS, "a", "an") if _token_kind(w) in ("num", "scale", "fold", "times", "a")
) | {"half"}


def _run_end(text: str, tokens: list[re.Match[str]], i: int) -> int:
    """Index past the longest stretch of tokens from ``i`` that could belong to one number."""
    j = i
    while j < len(tokens) and j - i < _MAX_RUN:
        tok = tokens[j]
        kind = _token_kind(tok.group())
        low = tok.group().lower()
        if j > i:
            gap = text[tokens[j - 1].end():tok.start()]
            if not (gap.isspace() or gap in ("-", "‐", "‑")):
                break
            if gap.count("\n") > 1:
                break
        nxt = tokens[j + 1].group().lower() if j + 1 < len(tokens) else ""
        nxt2 = tokens[j + 2].group().lower() if j + 2 < len(tokens) else ""
        if kind == "times":
            if j == i:
                j += 1
            break
        if kind in ("num", "scale", "fold"):
            j += 1
            if kind == "fold":
                break
            continue
        if kind == "a":
            if nxt in _SCALES or nxt in _MULTIPLIERS or nxt in _A_DENOMINATORS:
                j += 1
                continue
            if j > i and nxt == "half":
                j += 1
                continue
            break
        if kind == "and":
            if j > i and (_token_kind(nxt) == "num" or (nxt == "a" and nxt2 == "half")):
                j += 1
                continue
            break
        if low == "half":
            if j == i and nxt in ("a", "an") and (nxt2 in _SCALES or nxt2 in _MULTIPLIERS):
                j += 1
                continue
            if j > i:
                j += 1
                if nxt in _SCALES:
                    continue  # "two and a half million"
                break
            break
        if kind == "denom" and j > i:
            j += 1
            break
        if low == "fold" and j > i and text[tokens[j - 1].end():tok.start()] == "-":
            j += 1
            break
        break
    if j > i and all(_token_kind(t.group()) in ("a", "and") for t in tokens[i:j]):
        return i
    return j


def _scan_vague(text: str, taken: list[tuple[int, int]]) -> list[Quantity]:
    found = []
    for m in _VAGUE_RE.finditer(text):
        a, b = m.group("a").lower(), m.group("b")
        if a == "tens" and not b:
            continue
        if any(s < m.end() and m.start() < e for s, e in taken):
            continue
        value = _VAGUE[a] * (_SCALES[b.lower().rstrip("s")] if b else 1)
        end, unit = _suffix(text, m.end())
        found.append(Quantity(Decimal(value), text[m.start():end], m.start(), end, unit, vague=True))
        taken.append((m.start(), end))
    return found


def find_quantities(text: str, *, endnotes: bool = True) -> list[Quantity]:
    """Every number stated in ``text``, in order: digits, words and round plurals.

    With ``endnotes``, a source's endnote number glued to a figure ("2,600.175 Soviet")
    is read as the figure alone; a card's own value is read literally (``endnotes=False``).

    Ordinals ("17th") and decades ("1930s") are not quantities; years are.
    A range ("40 to 50", "1928–1941") gives one quantity per end.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected text, got {type(text).__name__}")
    taken: list[tuple[int, int]] = []
    found = _scan_digits(text, taken, endnotes)
    found += _scan_vague(text, taken)
    found += _scan_words(text, taken)
    found.sort(key=lambda q: (q.start, q.end))
    return found


def parse_value(value: str | int | float | Decimal) -> Quantity | None:
    """The number a card's ``value`` states (the first, for a range); None if it has none."""
    found = find_quantities(_value_text(value), endnotes=False)
    return found[0] if found else None


def _value_text(value: object) -> str:
    if isinstance(value, bool):
        raise TypeError("a figure's value cannot be a boolean")
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return value
    raise TypeError(f"a figure's value must be text or a number, not {type(value).__name__}")


# -- checking ----------------------------------------------------------------------------

UNIT_WINDOW = 60
_PER_CENT = re.compile(r"per\s+cent", re.IGNORECASE)
_UNIT_WORD = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)?")


def _norm_word(word: str) -> str:
    w = _strip_possessive(word.lower().replace("’", "'"))
    if w in ("%", "percentage"):
        return "percent"
    if len(w) > 3 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        return w[:-1]
    return w


def _unit_words(value: str, quantities: list[Quantity]) -> list[str]:
    """The words a value names besides its numbers: what is counted, and how."""
    pieces = []
    last = 0
    for q in quantities:
        pieces.append(value[last:q.start])
        last = q.end
    pieces.append(value[last:])
    rest = " ".join(pieces)
    rest = _LEADING_QUALIFIER.sub(" ", rest)
    rest = _PER_CENT.sub("percent", rest)
    words: list[str] = []
    for m in _UNIT_WORD.finditer(rest):
        w = m.group().lower()
        if w in _STOPWORDS or w in _CARDINALS:
            continue
        words.append(_norm_word(w))
    for q in quantities:
        if q.unit and q.unit in ("percent", "fold", *_CURRENCY.values()):
            words.append(_norm_word(q.unit))
    return list(dict.fromkeys(words))


def _words_near(evidence: str, q: Quantity, quantities: list[Quantity]) -> set[str]:
    lo, hi = max(0, q.start - UNIT_WINDOW), min(len(evidence), q.end + UNIT_WINDOW)
    window = _PER_CENT.sub("percent", evidence[lo:hi])
    words = {_norm_word(m.group()) for m in _UNIT_WORD.finditer(window)}
    for other in quantities:
        if other.unit and other.start < hi and lo < other.end:
            words.add(_norm_word(other.unit))
    return words


def _qualifier_class(phrase: str | None) -> str | None:
    if phrase is None:
        return None
    key = " ".join(phrase.lower().split())
    for p, cls in _QUALIFIERS:
        if p == key:
            return cls
    return None


def _evidence_qualifier(evidence: str, q: Quantity) -> str | None:
    before = evidence[max(0, q.start - 40):q.start]
    m = _TRAILING_QUALIFIER.search(before)
    return _qualifier_class(m.group("q")) if m else None


def _show(q: Quantity) -> str:
    return q.text.strip()


def check_figure(value: str, evidence: str) -> FigureVerdict:
    """Does ``evidence`` state the figure ``value``?

    Every number in the value must occur in the evidence with the same exact
    value (both ends of a range). A bound the value states ("fewer than",
    "over") must be stated for that number too. Unit words of the value
    ("rubles", "divisions", "$", "percent") should appear within a few words of
    the number; if they do not, the verdict is ok with a warning ``reason``.
    """
    text = _value_text(value)
    found = tuple(find_quantities(evidence))
    wanted = find_quantities(text, endnotes=False)
    if not wanted:
        return FigureVerdict(False, f"the value {text!r} states no number", found)

    missing: list[Quantity] = []
    matches: list[list[Quantity]] = []
    for q in wanted:
        same = [e for e in found if e.value == q.value and e.vague == q.vague]
        if not same:
            missing.append(q)
        matches.append(same)
    if missing:
        names = ", ".join(repr(_show(q)) for q in missing)
        what = "number" if len(missing) == 1 else "numbers"
        reason = f"the evidence does not state the {what} {names}"
        close = _closest(missing[0], found)
        if close is not None:
            reason += f" (it says {_show(close)!r})"
        return FigureVerdict(False, reason, found)

    bound = _LEADING_QUALIFIER.match(text)
    wanted_class = _qualifier_class(bound.group("q")) if bound else None
    if wanted_class in ("upper", "lower"):
        first = matches[0]
        if not any(_evidence_qualifier(evidence, e) == wanted_class for e in first):
            said = _TRAILING_QUALIFIER.search(evidence[max(0, first[0].start - 40):first[0].start])
            stated = f"{said.group('q')} {_show(first[0])}" if said else _show(first[0])
            return FigureVerdict(
                False,
                f"the value says {bound.group('q').strip()!r} but the evidence says {stated!r}",
                found,
            )

    units = _unit_words(text, wanted)
    if units:
        near: set[str] = set()
        for same in matches:
            for e in same:
                near |= _words_near(evidence, e, list(found))
        absent = [u for u in units if u not in near]
        if absent:
            listed = ", ".join(repr(u) for u in absent)
            return FigureVerdict(
                True,
                f"the number is in the evidence but {listed} is not stated near it",
                found,
            )
    return FigureVerdict(True, None, found)


def _closest(q: Quantity, found: tuple[Quantity, ...]) -> Quantity | None:
    """The evidence number the author most likely meant: same digits at another scale, else nearest."""
    if not found:
        return None

    def digits(x: Decimal) -> str:
        return str(abs(x).normalize()).split("E")[0].replace(".", "").strip("0")

    def score(e: Quantity) -> tuple[int, Decimal]:
        same_digits = 0 if digits(e.value) == digits(q.value) else 1
        if q.value == 0 or e.value == 0:
            return same_digits, Decimal(10**12)
        ratio = e.value / q.value if e.value > q.value else q.value / e.value
        return same_digits, ratio

    return min(found, key=score)
