from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deckgen import dates
from deckgen.dates import DateClaim, DateError, DateMention, check_date, find_dates, parse_claim

SOURCES = Path(__file__).resolve().parents[1] / "sources"
KOTKIN = (SOURCES / "kotkin-1932.txt").read_text(encoding="utf-8")
WESSER = (SOURCES / "wesser-2021.txt").read_text(encoding="utf-8")


# -- parse_claim -------------------------------------------------------------------------

@pytest.mark.parametrize(
    "value, claim",
    [
        ("1941", DateClaim(1941, None, None)),
        ("1941-06", DateClaim(1941, 6, None)),
        ("1941-06-22", DateClaim(1941, 6, 22)),
        (" 1932-02-05 ", DateClaim(1932, 2, 5)),
        (1941, DateClaim(1941, None, None)),
        (datetime.date(1945, 4, 12), DateClaim(1945, 4, 12)),
        (datetime.datetime(1945, 4, 12, 15, 35), DateClaim(1945, 4, 12)),
        ("1940-02-29", DateClaim(1940, 2, 29)),
        ("2000-02-29", DateClaim(2000, 2, 29)),
    ],
)
def test_parse_claim(value: object, claim: DateClaim) -> None:
    assert parse_claim(value) == claim  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value, message",
    [
        ("1941-02-30", "day 30 does not exist in February 1941"),
        ("1941-02-29", "day 29 does not exist in February 1941"),
        ("1900-02-29", "day 29 does not exist in February 1900"),
        ("1941-04-31", "day 31 does not exist in April 1941"),
        ("1941-13", "month 13 does not exist"),
        ("1941-00", "month 0 does not exist"),
        ("1941-06-00", "day 0 does not exist in June 1941"),
        ("1941-6-22", "not a date"),
        ("22 June 1941", "not a date"),
        ("June 1941", "not a date"),
        ("41", "not a date"),
        ("", "not a date"),
        ("1941/06/22", "not a date"),
        ("0000", "year 0 is out of range"),
        (0, "year 0 is out of range"),
        (-44, "out of range"),
        (True, "expected a date"),
        (1941.5, "expected a date"),
        (None, "expected a date"),
    ],
)
def test_parse_claim_rejects(value: object, message: str) -> None:
    with pytest.raises(DateError) as info:
        parse_claim(value)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_date_error_is_a_value_error() -> None:
    assert issubclass(DateError, ValueError)


@pytest.mark.parametrize(
    "claim, iso, human",
    [
        (DateClaim(1941, 6, 22), "1941-06-22", "22 June 1941"),
        (DateClaim(1941, 6, None), "1941-06", "June 1941"),
        (DateClaim(1941, None, None), "1941", "1941"),
        (DateClaim(1932, 1, 5), "1932-01-05", "5 January 1932"),
        (DateClaim(800, 12, 25), "0800-12-25", "25 December 800"),
    ],
)
def test_iso_and_human(claim: DateClaim, iso: str, human: str) -> None:
    assert claim.iso() == iso
    assert claim.human() == human


# -- find_dates --------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text, expected",
    [
        ("June 22, 1941", [(1941, 6, 22)]),
        ("22 June 1941", [(1941, 6, 22)]),
        ("June 22nd, 1941", [(1941, 6, 22)]),
        ("the 22nd of June, 1941", [(1941, 6, 22)]),
        ("Sunday, June 22, 1941", [(1941, 6, 22)]),
        ("1941-06-22", [(1941, 6, 22)]),
        ("Jun. 22, 1941", [(1941, 6, 22)]),
        ("Sept. 1, 1939", [(1939, 9, 1)]),
        ("6/22/1941", [(1941, 6, 22)]),
        ("22/6/1941", [(1941, 6, 22)]),
        ("22.06.1941", [(1941, 6, 22)]),
        ("Robert M. Wesser\n11-30-2021\n", [(2021, 11, 30)]),
        ("in 1932", [(1932, None, None)]),
        ("early 1932", [(1932, None, None)]),
        ("spring 1932", [(1932, None, None)]),
        ("A remarkable January 1919 document", [(1919, 1, None)]),
        ("in April of 1945", [(1945, 4, None)]),
        ("(January 5)", [(None, 1, 5)]),
        ("On January 19, Stalin agreed", [(None, 1, 19)]),
        ("With the December 7th Japanese attack", [(None, 12, 7)]),
        ("on March 9, installed Henry Pu-Yi", [(None, 3, 9)]),
        ("In late February, Soviet intelligence", [(None, 2, None)]),
        ("in mid-August while meeting with FDR", [(None, 8, None)]),
        ("(Yale University, 23-26 September 1999)", [(1999, 9, 23), (1999, 9, 26)]),
        ("the purges of 1936-38 where", [(1936, None, None), (1938, None, None)]),
        ("Partnership, 1917-1947", [(1917, None, None), (1947, None, None)]),
        ("the 1930s", []),
        ("the 1940's", []),
        ("the Christie M1931 tank", []),
        ("10,000 tanks and 2,600 more", []),
        ("you may go; march on", []),
        ("He May be right", []),
        ("February 30", []),
        ("1941-02-30", [(1941, None, None)]),
        ("in spring 1932.196", [(1932, None, None)]),
    ],
)
def test_find_dates(text: str, expected: list[tuple[int | None, int | None, int | None]]) -> None:
    assert [(d.year, d.month, d.day) for d in find_dates(text)] == expected


def test_mention_text_and_offsets() -> None:
    text = "Japanese troops entered Harbin on February 5, 1932, to the euphoria"
    (mention,) = find_dates(text)
    assert mention == DateMention(1932, 2, 5, 34, 50, "February 5, 1932")
    assert text[mention.start:mention.end] == mention.text


@pytest.mark.parametrize("source", [KOTKIN, WESSER], ids=["kotkin-1932", "wesser-2021"])
def test_sources_scan_cleanly(source: str) -> None:
    mentions = find_dates(source)
    assert mentions
    for m in mentions:
        assert source[m.start:m.end] == m.text
        assert m.year is None or 1000 <= m.year <= 2099


def test_kotkin_dates() -> None:
    full = {(d.year, d.month, d.day) for d in find_dates(KOTKIN)}
    assert {(1932, 2, 5), (1932, 3, 4), (1932, 1, 21), (1932, 3, 12),
            (None, 1, 5), (None, 1, 19), (None, 3, 9), (None, 2, 5), (None, 5, 4)} <= full


# -- check_date: the evidence supports the claim -----------------------------------------

POSITIVES = [
    # kotkin-1932
    ("1932-02-05", "Japanese troops entered Harbin, the main Soviet railway junction in China, on February 5, 1932"),
    ("1932-03-04", "On March 4, 1932, Izvestiya published excerpts from the decrypted secret Japanese telegrams"),
    ("1932-01-21", "Negotiations for nonaggression pacts had been concluded with Finland (January 21, 1932)"),
    ("1932-02-05", "concluded with Finland (January 21, 1932) and Latvia (February 5)"),
    ("1932-05-04", "concluded with Finland (January 21, 1932) and Latvia (February 5), and one would be signed "
                   "with Estonia (May 4)"),
    ("1932-01-05", "Following the replacement (January 5) of the Supreme Council of the Economy, "
                   "a plan for 10,000 tanks in 1932"),
    ("1932-01-19", "On January 19, Stalin agreed to a commission and rammed through a plan for 10,000 tanks in 1932."),
    ("1932-03-12", "But Voroshilov had complained bitterly in a letter (March 12, 1932) to the Soviet envoy"),
    ("1932-03", "On March 4, 1932, Izvestiya published excerpts"),
    ("1932", "A land commissariat internal report in early 1932 noted"),
    ("1932", "Industrial output began to stagnate or even decline in spring 1932."),
    ("1932", "Industrial output began to stagnate or even decline in spring 1932.196"),
    ("1932-02", "In late February, Soviet intelligence delivered another letter; the 1932 nonaggression pacts"),
    # wesser-2021
    ("1945-04-12", "When Franklin Roosevelt unexpectedly died on April 12, 1945"),
    ("1945", "When Franklin Roosevelt unexpectedly died on April 12, 1945"),
    ("1945-04", "When Franklin Roosevelt unexpectedly died on April 12, 1945"),
    ("1919-01", "A remarkable January 1919 document issued by the Council of the People's Commissars"),
    ("1919", "A remarkable January 1919 document"),
    ("2021-11-30", "Robert M. Wesser\n11-30-2021"),
    ("1933", "in 1933 when the United States first officially recognized the Soviet Union"),
    ("1940-07", "Hitler, in his secret July 1940 order to expand Germany's military"),
    ("1945-02", "By the end of the Yalta conference in February 1945, all major issues"),
    ("1941-10-01", "The signing of the first Moscow Protocol on October 1, 1941 authorizing"),
    ("1946-03-06", "Churchill’s so-called “Iron Curtain” speech on March 6, 1946 in Fulton Missouri"),
    ("1943-10", "He had made this pledge to Roosevelt back in October of 1943"),
    ("1999-09-23", "(Yale University, 23-26 September 1999)"),
    ("1999-09-26", "(Yale University, 23-26 September 1999)"),
    ("1938", "Even during Stalin’s bloody purges of 1936-38"),
    # other common forms
    ("1941-06-22", "22 June 1941"),
    ("1941-06-22", "June 22nd, 1941"),
    ("1941-06-22", "1941-06-22"),
    ("1941-06-22", "Jun. 22, 1941"),
    ("1941-06-22", "6/22/1941"),
    (datetime.date(1941, 6, 22), "on the 22nd of June 1941"),
    (1941, "the invasion of 1941"),
]


@pytest.mark.parametrize("claim, evidence", POSITIVES)
def test_date_supported(claim: object, evidence: str) -> None:
    verdict = check_date(parse_claim(claim), evidence)  # type: ignore[arg-type]
    assert verdict.ok, verdict
    assert verdict.unsupported == ()


NEGATIVES = [
    ("1941-06-23", "June 22, 1941", ("day",)),
    ("1941-07-22", "June 22, 1941", ("month",)),
    ("1942-06-22", "June 22, 1941", ("year",)),
    ("1941-06-22", "in 1941", ("month", "day")),
    ("1941-06", "in 1941", ("month",)),
    ("1932", "in the 1930s", ("year",)),
    ("1932-01", "early 1932", ("month",)),
    ("1932-04", "decline in spring 1932", ("month",)),
    ("1932-02-06", "Japanese troops entered Harbin on February 5, 1932", ("day",)),
    ("1932-02-05", "Latvia (February 5)", ("year",)),
    ("1933-02-05", "concluded with Finland (January 21, 1932) and Latvia (February 5)", ("year",)),
    ("1932-01-20", "On January 19, Stalin agreed; a plan for 10,000 tanks in 1932", ("day",)),
    ("1919-02", "A remarkable January 1919 document", ("month",)),
    ("1919-01-15", "A remarkable January 1919 document", ("day",)),
    ("2021-11-29", "Robert M. Wesser\n11-30-2021", ("day",)),
    ("1945", "the war ended", ("year",)),
    ("1945-04-12", "no date at all", ("year", "month", "day")),
    ("1932", "a plan for 1,932 tanks", ("year",)),
]


@pytest.mark.parametrize("claim, evidence, unsupported", NEGATIVES)
def test_date_unsupported(claim: str, evidence: str, unsupported: tuple[str, ...]) -> None:
    verdict = check_date(parse_claim(claim), evidence)
    assert not verdict.ok
    assert verdict.unsupported == unsupported


def test_day_inside_a_range_is_not_stated() -> None:
    assert check_date(DateClaim(1999, 9, 24), "(Yale University, 23-26 September 1999)").unsupported == ("day",)


def test_verdict_lists_the_mentions() -> None:
    verdict = check_date(DateClaim(1941, 6, 23), "Germany attacked on June 22, 1941.")
    assert [m.text for m in verdict.mentions] == ["June 22, 1941"]


def test_check_date_accepts_raw_values() -> None:
    assert check_date("1945-04-12", "died on April 12, 1945").ok  # type: ignore[arg-type]


# -- properties --------------------------------------------------------------------------

@settings(max_examples=1000)
@given(st.dates(min_value=datetime.date(1, 1, 1), max_value=datetime.date(9999, 12, 31)),
       st.sampled_from(["year", "month", "day"]))
def test_iso_round_trip(date: datetime.date, precision: str) -> None:
    claim = DateClaim(date.year, date.month if precision != "year" else None,
                      date.day if precision == "day" else None)
    assert parse_claim(claim.iso()) == claim


WRITINGS = [
    "{month} {day}, {year}", "{day} {month} {year}", "{mon}. {day}, {year}", "{m}/{day}/{year}",
    "{m}-{day}-{year}", "{year}-{mm}-{dd}", "the {day}th of {month} {year}",
]


@settings(max_examples=500)
@given(st.dates(min_value=datetime.date(1000, 1, 1), max_value=datetime.date(2099, 12, 31)),
       st.sampled_from(WRITINGS))
def test_any_writing_supports_its_date(date: datetime.date, writing: str) -> None:
    month = date.strftime("%B")
    text = writing.format(month=month, mon=month[:3] if month != "May" else "May", day=date.day,
                          year=date.year, m=date.month, mm=f"{date.month:02d}", dd=f"{date.day:02d}")
    text = text.replace("May.", "May")
    claim = DateClaim(date.year, date.month, date.day)
    assert check_date(claim, f"It happened on {text}, they said.").ok, text
    other = date + datetime.timedelta(days=1)
    assert not check_date(DateClaim(other.year, other.month, other.day), f"on {text}.").ok, text


@settings(max_examples=1000)
@given(st.text(max_size=200))
def test_find_dates_never_raises(text: str) -> None:
    for m in find_dates(text):
        assert text[m.start:m.end] == m.text
        assert m.month is None or 1 <= m.month <= 12
        assert m.day is None or 1 <= m.day <= 31


def _find_dates_the_long_way(text: str) -> list[DateMention]:
    """`find_dates` without its shortcuts: every pattern tried on every text, at every position."""
    taken: list[tuple[int, int]] = []
    found: list[DateMention] = []
    for name, _, _, _, pattern in dates._KINDS:
        for m in re.finditer(dates._p(pattern), text):
            start, end = m.span()
            if any(s < end and start < e for s, e in taken):
                continue
            mentions = dates._mentions(name, m, text)
            if mentions:
                taken.append((start, end))
                found.extend(mentions)
    found.sort(key=lambda d: (d.start, d.end, d.day or 0))
    return found


# Whole writings of each kind, and pieces that make near misses of them.
_DATE_PIECES = [
    "Thursday, June 22, 1941", "Wednesday, the 22nd of June, 1941", "October 3", "Nov. 7, 1917",
    "Jun. 22nd 1941", "June 22–24, 1941", "22 June 1941", "the 22nd of June, 1941",
    "Sunday, 23-26 September 1999", "1941-06-22", "6/22/1941", "22/6/1941", "22.06.1941", "11-30-2021",
    "January 1919", "April of 1945", "Jan. 1919", "March 9", "(January 5)", "December 7th", "5 January",
    "the 22nd of June", "in February", "late February", "mid-August", "the end of May", "1932", "1917-1947",
    "1936-38", "1932.196", "the 1930s", "1941’s", "12,600", "Sept", "May", "march", "22", "1941", "31",
    "the", "of", "in", "to", "and", "Tuesday", ",", ".", "/", "-", "–", "x",
]


@settings(max_examples=1000)
@given(st.lists(st.sampled_from(_DATE_PIECES), max_size=8),
       st.lists(st.sampled_from(["", " ", "  ", "\n", "x"]), min_size=8, max_size=8))
def test_find_dates_as_without_shortcuts(pieces: list[str], spaces: list[str]) -> None:
    text = "".join(p + s for p, s in zip(pieces, spaces))
    assert find_dates(text) == _find_dates_the_long_way(text)


@pytest.mark.parametrize("source", [KOTKIN, WESSER], ids=["kotkin", "wesser"])
def test_sources_find_dates_as_without_shortcuts(source: str) -> None:
    for paragraph in source.split("\n\n"):
        assert find_dates(paragraph) == _find_dates_the_long_way(paragraph)
