from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deckgen.numbers import (
    _NUMBER_WORDS,
    _RUN_STARTERS,
    _WORD,
    FigureVerdict,
    Quantity,
    _run_end,
    check_figure,
    find_quantities,
    parse_value,
)

SOURCES = Path(__file__).resolve().parents[1] / "sources"
KOTKIN = (SOURCES / "kotkin-1932.txt").read_text(encoding="utf-8")
WESSER = (SOURCES / "wesser-2021.txt").read_text(encoding="utf-8")
NOTES = (SOURCES / "kotkin-notes.txt").read_text(encoding="utf-8")


def values(text: str) -> list[Decimal]:
    return [q.value for q in find_quantities(text)]


def third(n: int) -> str:
    q = parse_value(f"{n}/3")
    assert q is not None
    return str(q.value)


# -- parse_value -------------------------------------------------------------------------

@pytest.mark.parametrize(
    "value, expected, unit",
    [
        ("2,600", "2600", None),
        ("2.2 billion rubles", "2200000000", "rubles"),
        ("845 million", "845000000", None),
        ("twenty million", "20000000", None),
        ("20 million", "20000000", None),
        ("20,000,000", "20000000", None),
        ("$2.5 billion", "2500000000", "dollars"),
        ("$6 billion", "6000000000", "dollars"),
        ("40 to 50", "40", None),
        ("fewer than 2,000", "2000", None),
        ("Fewer than 2,000", "2000", None),
        ("twenty-fold", "20", "fold"),
        ("20-fold", "20", "fold"),
        ("tenfold", "10", "fold"),
        ("hundreds of thousands", "100000", None),
        ("15", "15", None),
        ("six-ton", "6", "ton"),
        ("three years", "3", "years"),
        ("90 percent", "90", "percent"),
        ("90%", "90", "percent"),
        ("90 per cent", "90", "percent"),
        ("twenty-five percent", "25", "percent"),
        ("1932", "1932", None),
        ("one-fourth", "0.25", None),
        ("a million and a half troops", "1500000", "troops"),
        ("half a million", "500000", None),
        ("two and a half million", "2500000", None),
        ("one hundred", "100", None),
        ("a hundred officials", "100", "officials"),
        ("one hundred and fifty", "150", None),
        ("twenty-two months", "22", "months"),
        ("nineteen hundred", "1900", None),
        ("two thousand five hundred", "2500", None),
        ("3½", "3.5", None),
        ("½", "0.5", None),
        ("1.5 billion reichsmarks", "1500000000", "reichsmarks"),
        ("twice", "2", "times"),
        ("a dozen", "12", None),
        ("10km", "10", "km"),
        ("over twenty million", "20000000", None),
    ],
)
def test_parse_value(value: str, expected: str, unit: str | None) -> None:
    q = parse_value(value)
    assert q is not None
    assert q.value == Decimal(expected)
    assert q.unit == unit


def test_parse_value_fraction_equals_words() -> None:
    slash, words = parse_value("2/3"), parse_value("two-thirds")
    assert slash is not None and words is not None
    assert slash.value == words.value
    assert abs(slash.value - Decimal(2) / Decimal(3)) < Decimal("1e-25")


@pytest.mark.parametrize("value", ["many", "", "the army", "a fifth column", "the third Reich", "17th",
                                   "the 1930s", "M1931"])
def test_parse_value_without_number(value: str) -> None:
    assert parse_value(value) is None


def test_parse_value_accepts_yaml_numbers() -> None:
    # YAML may read `value: 2,600` as the int 2600 and `value: 2.2` as a float.
    assert parse_value(2600).value == 2600  # type: ignore[union-attr]
    assert parse_value(2.2).value == Decimal("2.2")  # type: ignore[union-attr]


def test_vague_only_equals_vague() -> None:
    q = parse_value("hundreds of thousands")
    assert q is not None and q.vague
    assert not parse_value("100,000").vague  # type: ignore[union-attr]


# -- find_quantities ---------------------------------------------------------------------

@pytest.mark.parametrize(
    "text, expected",
    [
        ("a plan for 10,000 tanks in 1932", ["10000", "1932"]),
        ("2.2 billion rubles, from 845 million", ["2200000000", "845000000"]),
        ("forced creation of 40 to 50 new divisions", ["40", "50"]),
        ("Kotkin, 1928–1941", ["1928", "1941"]),
        ("From 1923-1930, sales", ["1923", "1930"]),
        ("would manufacture 2,600.175 Soviet military spending", ["2600"]),
        ("would manufacture 2,600.", ["2600"]),
        ("in spring 1932.196", ["1932"]),
        ("the 17th party conference", []),
        ("the 1930s and the 1940's", []),
        ("the Christie M1931 tank", []),
        ("over a million and a half troops, 5,500 tanks, and 3,900 aircraft",
         ["1500000", "5500", "3900"]),
        ("a thirty-year \\$6 billion low interest loan", ["30", "6000000000"]),
        ("twenty to thirty years of peace", ["20", "30"]),
        ("Give them twelve to fifteen years", ["12", "15"]),
        ("by the hundreds of thousands to roam", ["100000"]),
        ("millions of Russian soldiers", ["1000000"]),
        ("tens of thousands", ["10000"]),
        ("on 6/22/1941", ["6", "22", "1941"]),
        ("a 2/3 majority", [third(2)]),
        ("an actual fifth column", []),
        ("(numbers 2 and 3)", ["2", "3"]),
        ("Ten days later", ["10"]),
        ("one-fourth of all exports", ["0.25"]),
        ("a third of the army", [third(1)]),
        ("the Soviets twice appealed", ["2"]),
        ("one two three", ["1", "2", "3"]),
        ("twenty-two months", ["22"]),
    ],
)
def test_find_quantities(text: str, expected: list[str]) -> None:
    assert values(text) == [Decimal(e) for e in expected]


def test_find_quantities_spans_and_units() -> None:
    text = "Soviet military spending would skyrocket in 1932 to 2.2 billion rubles, from 845 million"
    found = find_quantities(text)
    assert [(q.text, q.unit) for q in found] == [("1932", None), ("2.2 billion", "rubles"),
                                                 ("845 million", None)]
    for q in found:
        assert text[q.start:q.end] == q.text


def test_endnote_glued_number_keeps_its_own_text() -> None:
    text = "would manufacture 2,600.175 Soviet"
    (q,) = find_quantities(text)
    assert q.text == "2,600" and text[q.start:q.end] == "2,600"


def test_currency_sign_is_part_of_the_text() -> None:
    (q,) = find_quantities("a $2.5 billion loan")
    assert q.text == "$2.5 billion" and q.unit == "dollars"


@pytest.mark.parametrize("source", [KOTKIN, WESSER, NOTES], ids=["kotkin-1932", "wesser-2021", "notes"])
def test_real_sources_scan_cleanly(source: str) -> None:
    found = find_quantities(source)
    assert found
    for q in found:
        assert source[q.start:q.end] == q.text
    starts = [q.start for q in found]
    assert starts == sorted(starts)
    for a, b in zip(found, found[1:]):
        assert a.end <= b.start, (a, b)


# -- check_figure: figures the sources state ---------------------------------------------

POSITIVES = [
    # kotkin-1932
    ("10,000", "rammed through a plan for 10,000 tanks in 1932."),
    ("10,000 tanks", "rammed through a plan for 10,000 tanks in 1932."),
    ("10000", "rammed through a plan for 10,000 tanks in 1932."),
    ("Fewer than 2,000", "Fewer than 2,000 had been manufactured in 1931"),
    ("fewer than 2,000", "Fewer than 2,000 had been manufactured in 1931"),
    ("2.2 billion rubles", "Soviet military spending would skyrocket in 1932 to 2.2 billion rubles, from 845 million"),
    ("2,200,000,000 rubles", "would skyrocket in 1932 to 2.2 billion rubles, from 845 million"),
    ("845 million", "Soviet military spending would skyrocket in 1932 to 2.2 billion rubles, from 845 million"),
    ("845,000,000", "to 2.2 billion rubles, from 845 million"),
    ("20 million", "affecting 20 million souls."),
    ("twenty million", "affecting 20 million souls."),
    ("20,000,000 souls", "affecting 20 million souls."),
    ("40 to 50", "Stalin was himself demanding forced creation of 40 to 50 new divisions."),
    ("40 to 50 new divisions", "forced creation of 40 to 50 new divisions."),
    ("forty to fifty", "forced creation of 40 to 50 new divisions."),
    ("15", "secured permission to purchase 15 Vickers-Armstrong medium (six-ton) tanks"),
    ("six-ton", "purchase 15 Vickers-Armstrong medium (six-ton) tanks"),
    ("6-ton", "purchase 15 Vickers-Armstrong medium (six-ton) tanks"),
    ("2,600", "would manufacture 2,600."),
    ("2,600", "would manufacture 2,600.175 Soviet military spending"),
    ("four", "the first four trucks rolled off the line"),
    ("three years", "albeit in a pact valid for just three years."),
    ("3 years", "albeit in a pact valid for just three years."),
    ("1932", "rammed through a plan for 10,000 tanks in 1932."),
    ("hundreds of thousands", "peasants were quitting the collectives by the hundreds of thousands"),
    ("26", "26 Carden Loyd light armored machine-gun carriers"),
    # wesser-2021
    ("over 1,000", "contact with over 1,000 American firms"),
    ("more than 1,000", "contact with over 1,000 American firms"),
    ("twenty-fold", "sales of U.S. goods to the Soviet Union saw a twenty-fold increase"),
    ("20-fold", "sales of U.S. goods to the Soviet Union saw a twenty-fold increase"),
    ("twenty-five percent", "a full twenty-five percent of Russian imports"),
    ("25%", "a full twenty-five percent of Russian imports"),
    ("25 per cent", "a full twenty-five percent of Russian imports"),
    ("one-fourth", "one-fourth of all exports of American industrial equipment"),
    ("1/4", "one-fourth of all exports of American industrial equipment"),
    ("six weeks", "Litvinov spent six weeks trying to get some kind of agreement"),
    ("twice", "the Soviets twice appealed to Lord Halifax"),
    ("Twice", "Twice in thirty years Germany had used the Polish corridor"),
    ("over 180", "spotted in over 180 overflights"),
    ("eleven days", "disappeared from the Soviet public for eleven days"),
    ("three", "no less than three private, informal meetings"),
    ("twenty to thirty years", "would require twenty to thirty years of peace"),
    ("$6 billion", "a thirty-year \\$6 billion low interest loan"),
    ("$6 billion", "a thirty-year $6 billion low interest loan"),
    ("6 billion dollars", "a thirty-year $6 billion low interest loan"),
    ("over twenty million", "claimed the lives of over twenty million Russian souls"),
    ("20 million", "claimed the lives of over twenty million Russian souls"),
    ("twenty-two months", "After languishing for twenty-two months"),
    ("one billion dollars", "authorizing over one billion dollars’ worth of military aid"),
    ("$1 billion", "authorizing over one billion dollars’ worth of military aid"),
    ("a million and a half troops", "would involve over a million and a half troops, 5,500 tanks"),
    ("1,500,000", "would involve over a million and a half troops, 5,500 tanks"),
    ("5,500 tanks", "over a million and a half troops, 5,500 tanks, and 3,900 aircraft"),
    ("3,900 aircraft", "over a million and a half troops, 5,500 tanks, and 3,900 aircraft"),
    ("1923-1930", "From 1923-1930, sales of U.S. goods"),
    ("1923–1930", "From 1923-1930, sales of U.S. goods"),
    ("one hundred officials", "a delegation of one hundred officials to Paris"),
    ("100", "a delegation of one hundred officials to Paris"),
    # kotkin-notes
    ("290 million", "was not 290 million"),
    ("1.5 billion reichsmarks", "Stalin found 1.5 billion reichsmarks in aid from Germany to Finland"),
    # forms the sources do not use but cards may
    ("90 percent", "some 90% of the harvest"),
    ("2/3", "two-thirds of the delegates"),
    ("3½", "a 3½-year plan"),
    ("half a million", "500,000 men"),
]


@pytest.mark.parametrize("value, evidence", POSITIVES)
def test_figure_supported(value: str, evidence: str) -> None:
    verdict = check_figure(value, evidence)
    assert verdict == FigureVerdict(True, None, verdict.found), verdict.reason


NEGATIVES = [
    ("2,500", "would manufacture 2,600."),
    ("2.2 million", "would skyrocket in 1932 to 2.2 billion rubles, from 845 million"),
    ("2.2 billion", "would skyrocket in 1932 to 2.2 million rubles"),
    ("845", "to 2.2 billion rubles, from 845 million"),
    ("2.2", "to 2.2 billion rubles"),
    ("10,000", "a plan for 1,000 tanks in 1932"),
    ("1933", "rammed through a plan for 10,000 tanks in 1932."),
    ("30 million", "affecting 20 million souls."),
    ("40 to 60", "forced creation of 40 to 50 new divisions."),
    ("30 to 50", "forced creation of 40 to 50 new divisions."),
    ("thirty-fold", "saw a twenty-fold increase"),
    ("20 percent", "a full twenty-five percent of Russian imports"),
    ("four years", "a pact valid for just three years."),
    ("100,000", "by the hundreds of thousands"),
    ("hundreds of thousands", "100,000 peasants"),
    ("millions", "hundreds of thousands"),
    ("16", "purchase 15 Vickers-Armstrong medium (six-ton) tanks"),
    ("2/3", "one-third of the delegates"),
    ("175", "would manufacture 2,600.175 Soviet"),
    ("1932", "in the 1930s"),
    ("17", "the 17th party conference"),
    # a bound the evidence contradicts
    ("more than 2,000", "Fewer than 2,000 had been manufactured in 1931"),
    ("fewer than 1,000", "contact with over 1,000 American firms"),
    ("over 180", "spotted in 180 overflights"),
]


@pytest.mark.parametrize("value, evidence", NEGATIVES)
def test_figure_unsupported(value: str, evidence: str) -> None:
    verdict = check_figure(value, evidence)
    assert not verdict.ok
    assert verdict.reason


def test_wrong_number_names_what_the_evidence_says() -> None:
    verdict = check_figure("2.2 million", "skyrocket in 1932 to 2.2 billion rubles, from 845 million")
    assert "2.2 million" in verdict.reason  # type: ignore[operator]
    assert "2.2 billion" in verdict.reason  # type: ignore[operator]
    assert [q.text for q in verdict.found] == ["1932", "2.2 billion", "845 million"]


def test_value_without_number() -> None:
    verdict = check_figure("many", "Fewer than 2,000 had been manufactured")
    assert not verdict.ok and verdict.reason and "no number" in verdict.reason
    assert [q.value for q in verdict.found] == [2000]


@pytest.mark.parametrize(
    "value, evidence, missing",
    [
        ("2.2 billion rubles", "spending would reach 2.2 billion by 1932", "ruble"),
        ("10,000 tanks", "a plan for 10,000 aircraft in 1932", "tank"),
        ("$6 billion", "a thirty-year 6 billion loan", "dollar"),
        ("20 million souls", "affecting 20 million people", "soul"),
        ("twenty-fold", "saw a twenty per year increase", "fold"),
        ("25 percent", "25 of Russian imports", "percent"),
    ],
)
def test_unit_missing_is_a_warning(value: str, evidence: str, missing: str) -> None:
    verdict = check_figure(value, evidence)
    assert verdict.ok
    assert verdict.reason and missing in verdict.reason


def test_unit_must_be_near_the_number() -> None:
    far = "2.2 billion were spent. " + "x " * 60 + "Rubles were scarce."
    verdict = check_figure("2.2 billion rubles", far)
    assert verdict.ok and verdict.reason


def test_range_needs_both_ends() -> None:
    verdict = check_figure("40 to 60", "forced creation of 40 to 50 new divisions.")
    assert "60" in verdict.reason  # type: ignore[operator]
    assert "'40'" not in verdict.reason  # type: ignore[operator]


# -- properties --------------------------------------------------------------------------

NUMBERISH = st.lists(
    st.sampled_from(list("0123456789,.-/ %$½⅓–") + ["one", "twenty", "-", "fold", "hundred", "million",
                                                     "a", "and", "half", "thousands", "of", "th", "s",
                                                     " ", "rubles", "\n", "fifth", "twice", "Soviet"]),
    max_size=40,
).map("".join)


@settings(max_examples=1000)
@given(st.one_of(st.text(max_size=200), NUMBERISH))
def test_find_quantities_never_raises_and_spans_slice(text: str) -> None:
    found = find_quantities(text)
    for q in found:
        assert isinstance(q, Quantity)
        assert text[q.start:q.end] == q.text
        assert q.value >= 0
    for a, b in zip(found, found[1:]):
        assert a.end <= b.start


@settings(max_examples=500)
@given(st.one_of(st.text(max_size=60), NUMBERISH), st.one_of(st.text(max_size=200), NUMBERISH))
def test_check_figure_never_raises(value: str, evidence: str) -> None:
    verdict = check_figure(value, evidence)
    assert verdict.ok or verdict.reason


@settings(max_examples=500)
@given(st.integers(min_value=0, max_value=10**15))
def test_grouped_digits_round_trip(n: int) -> None:
    written = f"{n:,}"
    assert check_figure(written, f"it was {n} in all").ok
    assert check_figure(str(n), f"it was {written} in all").ok
    (q,) = find_quantities(f"it was {written}.")
    assert q.value == n


_ONES = ["", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_TEENS = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
          "eighteen", "nineteen"]
_TENS_WORDS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def _words(n: int) -> str:
    assert 0 < n < 1000
    parts = []
    if n >= 100:
        parts += [_ONES[n // 100], "hundred"]
        n %= 100
    if 10 <= n < 20:
        parts.append(_TEENS[n - 10])
    elif n:
        tens, ones = divmod(n, 10)
        parts.append("-".join(p for p in (_TENS_WORDS[tens], _ONES[ones]) if p))
    return " ".join(parts)


@settings(max_examples=500)
@given(st.integers(min_value=1, max_value=999), st.sampled_from(["", " thousand", " million", " billion"]))
def test_words_equal_digits(n: int, scale: str) -> None:
    words = _words(n) + scale
    digits = f"{n}{scale}"
    assert check_figure(words, f"there were {digits} of them").ok, words
    assert check_figure(digits, f"there were {words} of them").ok, words


# A word of each kind `_run_end` tells apart, and words it does not know.
_RUN_WORDS = ["one", "twenty", "hundred", "dozen", "million", "half", "third", "quarter", "fifth", "twice",
              "tenfold", "a", "an", "and", "fold", "x", "Half", "A", "TWENTY"]


def _assert_runs_start_at_a_starter_and_hold_a_number_word(text: str) -> None:
    # What lets _scan_words pass over other words, and over texts without number words.
    tokens = list(_WORD.finditer(text))
    for i, token in enumerate(tokens):
        end = _run_end(text, tokens, i)
        if token.group().lower() not in _RUN_STARTERS:
            assert end == i, text
        if end > i:
            assert any(t.group().lower() in _NUMBER_WORDS for t in tokens[i:end]), text


def test_word_runs_of_three_words() -> None:
    for first, second, third in itertools.product(_RUN_WORDS, repeat=3):
        for sep in (" ", "-"):
            _assert_runs_start_at_a_starter_and_hold_a_number_word(f"{first}{sep}{second} {third}")


@settings(max_examples=1000)
@given(st.lists(st.tuples(st.sampled_from(_RUN_WORDS + sorted(_NUMBER_WORDS)),
                          st.sampled_from([" ", "-", "‐", "  ", "\n\n", ", ", ""])), max_size=14))
def test_word_runs_of_any_words(pairs: list[tuple[str, str]]) -> None:
    _assert_runs_start_at_a_starter_and_hold_a_number_word("".join(w + sep for w, sep in pairs))
