from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deckgen.cloze import ClozeProblem, Deletion, ParsedCloze, _parse_full, _parse_simple, parse_cloze

SOURCES = Path(__file__).resolve().parents[1] / "sources"
KOTKIN = (SOURCES / "kotkin-1932.txt").read_text(encoding="utf-8")

CODES = {"cloze-unbalanced", "cloze-empty", "cloze-bad-number", "cloze-gap", "cloze-nested", "cloze-none"}


def codes(text: str) -> list[str]:
    return [p.code for p in parse_cloze(text).problems]


# -- well-formed -------------------------------------------------------------------------

def test_single_deletion() -> None:
    text = "On {{c1::January 19}}, Stalin agreed to a commission on “tankification” of the Red Army"
    parsed = parse_cloze(text)
    assert parsed.problems == ()
    assert parsed.deletions == (Deletion(1, "January 19", None, 3, 21),)
    assert text[3:21] == "{{c1::January 19}}"
    assert parsed.filled() == "On January 19, Stalin agreed to a commission on “tankification” of the Red Army"
    assert parsed.filled() in KOTKIN
    assert parsed.numbers() == (1,)


def test_hint() -> None:
    parsed = parse_cloze("Stalin rammed through a plan for {{c1::10,000::how many?}} tanks in {{c2::1932::year}}.")
    assert [(d.number, d.answer, d.hint) for d in parsed.deletions] == [(1, "10,000", "how many?"), (2, "1932", "year")]
    assert parsed.filled() == "Stalin rammed through a plan for 10,000 tanks in 1932."
    assert parsed.problems == ()


def test_same_number_repeated_is_one_card() -> None:
    parsed = parse_cloze("{{c1::Finland}} (January 21, 1932) and {{c1::Latvia}} (February 5), and {{c2::Estonia}}")
    assert parsed.numbers() == (1, 2)
    assert parsed.problems == ()
    assert parsed.filled() == "Finland (January 21, 1932) and Latvia (February 5), and Estonia"


def test_hint_may_contain_colons() -> None:
    parsed = parse_cloze("{{c1::Harbin::city: in Manchuria}}")
    assert parsed.deletions[0].answer == "Harbin"
    assert parsed.deletions[0].hint == "city: in Manchuria"


def test_many_cards() -> None:
    text = " ".join(f"{{{{c{i}::w{i}}}}}" for i in range(1, 13))
    parsed = parse_cloze(text)
    assert parsed.problems == ()
    assert parsed.numbers() == tuple(range(1, 13))
    assert parsed.filled() == " ".join(f"w{i}" for i in range(1, 13))


def test_single_braces_are_text() -> None:
    parsed = parse_cloze("a {set} of {{c1::x}} and } {")
    assert parsed.problems == ()
    assert parsed.filled() == "a {set} of x and } {"


def test_triple_braces_keep_the_outer_brace() -> None:
    parsed = parse_cloze("{{{c1::x}}}")
    assert parsed.problems == ()
    assert parsed.filled() == "{x}"


# -- malformed ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text, expected",
    [
        ("{{c1::x}", ["cloze-unbalanced"]),
        ("{{c1::x", ["cloze-unbalanced"]),
        ("c1::x}}", ["cloze-unbalanced"]),
        ("Stalin }} said", ["cloze-unbalanced"]),
        ("{{c1::x}} }}", ["cloze-unbalanced"]),
        ("{{c0::x}}", ["cloze-bad-number"]),
        ("{{c00::x}}", ["cloze-bad-number"]),
        ("{{c01::x}}", ["cloze-bad-number"]),
        ("{{cx::x}}", ["cloze-bad-number"]),
        ("{{c::x}}", ["cloze-bad-number"]),
        ("{{C1::x}}", ["cloze-bad-number"]),
        ("{{c1:x}}", ["cloze-bad-number"]),
        ("{{ c1::x}}", ["cloze-bad-number"]),
        ("{{x}}", ["cloze-bad-number"]),
        ("{{c99999::x}}", ["cloze-bad-number"]),
        ("{{c1::}}", ["cloze-empty"]),
        ("{{c1::   }}", ["cloze-empty"]),
        ("{{c1::::hint}}", ["cloze-empty"]),
        ("{{c1::a {{c2::b}} c}}", ["cloze-nested"]),
        ("{{c1::a {{c1::b}} c}}", ["cloze-nested"]),
        ("{{c1::a}} {{c3::b}}", ["cloze-gap"]),
        ("{{c2::a}}", ["cloze-gap"]),
        ("{{c2::a}} {{c3::b}}", ["cloze-gap"]),
        ("{{c1::a}} {{c3::b}} {{c6::c}}", ["cloze-gap"]),
        ("no deletion at all", ["cloze-none"]),
        ("", ["cloze-none"]),
        ("{{c1::x}} and {{c1::y}", ["cloze-unbalanced"]),
        ("{{c0::}}", ["cloze-bad-number"]),
        ("{{c1::a}} {{c0::b}}", ["cloze-bad-number"]),
        ("{{c1::a {{c2::b}}", ["cloze-unbalanced", "cloze-nested"]),
    ],
)
def test_problems(text: str, expected: list[str]) -> None:
    assert codes(text) == expected


def test_problem_offsets_point_at_the_markup() -> None:
    text = "Stalin met {{c1:Hirota}} in Tokyo"
    (problem,) = parse_cloze(text).problems
    assert problem.code == "cloze-bad-number"
    assert text[problem.start:problem.end] == "{{c1:"
    assert "two colons" in problem.message

    text = "Harbin fell on {{c1::February 5, 1932"
    (problem,) = parse_cloze(text).problems
    assert (problem.start, problem.end) == (15, len(text))

    text = "Harbin fell}} on 5 February"
    (problem,) = parse_cloze(text).problems
    assert text[problem.start:problem.end] == "}}"


def test_gap_message_names_the_missing_numbers() -> None:
    (problem,) = parse_cloze("{{c1::a}} {{c3::b}} {{c6::c}}").problems
    assert "c2" in problem.message and "c4–c5" in problem.message
    (problem,) = parse_cloze("{{c2::a}}").problems
    assert "c1" in problem.message


def test_gap_with_a_huge_number_stays_cheap() -> None:
    (problem,) = parse_cloze("{{c1::a}} {{c9999::b}}").problems
    assert problem.code == "cloze-gap" and "c2–c9998" in problem.message


def test_nested_deletions_are_both_recorded() -> None:
    parsed = parse_cloze("{{c1::a {{c2::b}} c}}")
    assert [(d.number, d.answer) for d in parsed.deletions] == [(1, "a b c"), (2, "b")]
    assert parsed.filled() == "a b c"
    assert parsed.numbers() == (1, 2)


def test_malformed_markup_is_left_in_filled_text() -> None:
    assert parse_cloze("{{C1::x}} y").filled() == "{{C1::x}} y"
    assert parse_cloze("{{c1::x} y").filled() == "{{c1::x} y"
    assert parse_cloze("x}} {{c1::y}}").filled() == "x}} y"


def test_empty_deletion_is_still_a_deletion() -> None:
    parsed = parse_cloze("a {{c1::}} b")
    assert parsed.deletions == (Deletion(1, "", None, 2, 10),)


def test_every_problem_code_is_known() -> None:
    samples = ["{{c1::x}", "{{c0::x}}", "{{c1::}}", "{{c1::a {{c2::b}} c}}", "{{c2::x}}", "plain"]
    seen = {p.code for s in samples for p in parse_cloze(s).problems}
    assert seen == CODES


def test_non_string_input_is_a_problem_not_a_crash() -> None:
    parsed = parse_cloze(None)  # type: ignore[arg-type]
    assert parsed.deletions == () and parsed.problems


# -- properties --------------------------------------------------------------------------

CLOZE_ALPHABET = st.sampled_from(list("{}:c0123 xC\n") + ["{{", "}}", "::", "{{c1::", "{{c2::", "{{c0::"])
CLOZEISH = st.lists(CLOZE_ALPHABET, max_size=40).map("".join)


@settings(max_examples=2000)
@given(st.one_of(st.text(), CLOZEISH))
def test_parse_never_raises(text: str) -> None:
    parsed = parse_cloze(text)
    assert isinstance(parsed, ParsedCloze)
    for problem in parsed.problems:
        assert isinstance(problem, ClozeProblem)
        assert problem.code in CODES
        assert 0 <= problem.start <= problem.end <= len(text)
    for d in parsed.deletions:
        assert text[d.start:d.start + 3] == "{{c" and text[d.end - 2:d.end] == "}}"
        assert d.number >= 1
    assert isinstance(parsed.filled(), str)
    # A text without a deletion always says why.
    assert parsed.deletions or parsed.problems


# Plain text that cannot form markup: no braces, and no colon pairs inside answers.
PLAIN = st.text(st.characters(blacklist_characters="{}:", blacklist_categories=("Cs",)), max_size=20)
ANSWER = st.text(st.characters(blacklist_characters="{}:", blacklist_categories=("Cs",)), min_size=1,
                 max_size=15).filter(lambda s: s.strip())


@st.composite
def well_formed(draw: st.DrawFn) -> tuple[str, str, list[tuple[int, str, str | None]]]:
    count = draw(st.integers(min_value=1, max_value=5))
    repeats = draw(st.lists(st.integers(min_value=1, max_value=count), max_size=3))
    numbers = draw(st.permutations(list(range(1, count + 1)) + repeats))
    text, plain, deletions = [], [], []
    for n in numbers:
        before = draw(PLAIN)
        answer = draw(ANSWER)
        hint = draw(st.one_of(st.none(), ANSWER))
        text.append(before)
        plain.append(before)
        text.append(f"{{{{c{n}::{answer}" + (f"::{hint}" if hint is not None else "") + "}}")
        plain.append(answer)
        deletions.append((n, answer, hint))
    tail = draw(PLAIN)
    text.append(tail)
    plain.append(tail)
    return "".join(text), "".join(plain), deletions


@settings(max_examples=1000)
@given(well_formed())
def test_filled_is_text_with_markup_removed(case: tuple[str, str, list[tuple[int, str, str | None]]]) -> None:
    text, plain, deletions = case
    parsed = parse_cloze(text)
    assert parsed.problems == (), parsed.problems
    assert parsed.filled() == plain
    assert [(d.number, d.answer, d.hint) for d in parsed.deletions] == deletions
    assert parsed.numbers() == tuple(sorted({n for n, _, _ in deletions}))
    markup_free = re.sub(r"\{\{c\d+::(.*?)(?:::.*?)?\}\}", r"\1", text, flags=re.S)
    assert parsed.filled() == markup_free


# -- the quick scan against the full parser ----------------------------------------------

# Deletion-shaped pieces, valid or nearly so, so that both the quick scan's accepting and
# declining branches are exercised, including empty answers, gaps and stray braces in answers.
BRACELESS = st.text(st.sampled_from("ab :\n"), max_size=5)
BRACY = st.text(st.sampled_from("ab :{}"), max_size=5)
DELETION_ISH = st.builds(
    lambda number, answer, hint: f"{{{{c{number}::{answer}" + ("" if hint is None else f"::{hint}") + "}}",
    st.integers(min_value=1, max_value=3) | st.sampled_from([0, 10, 1234, 12345]),
    BRACELESS | BRACY,
    st.none() | BRACELESS | BRACY,
)
MIXED_MARKUP = st.lists(DELETION_ISH | BRACELESS, max_size=8).map("".join)


@settings(max_examples=3000)
@given(st.one_of(CLOZEISH, MIXED_MARKUP, st.text(max_size=60)))
def test_quick_scan_agrees_with_the_full_parser(text: str) -> None:
    quick = _parse_simple(text)
    if quick is not None:
        assert quick == _parse_full(text)


@settings(max_examples=1000)
@given(well_formed())
def test_quick_scan_takes_every_well_formed_text(case: tuple[str, str, list[tuple[int, str, str | None]]]) -> None:
    text, _, _ = case
    quick = _parse_simple(text)
    assert quick is not None
    assert quick == _parse_full(text)


@pytest.mark.parametrize(
    "text",
    ["{{c1::x}}", "On {{c1::January 19}}, a {{c2::commission::what?}} met", "{{c1::a::b::c}}", "{{c1::}}",
     "{{c1::a}} {{c3::b}}", "{{c1234::x}}", "plain text: no deletion"],
)
def test_quick_scan_takes_flat_markup(text: str) -> None:
    assert _parse_simple(text) == _parse_full(text)


@pytest.mark.parametrize(
    "text",
    ["a {set} of {{c1::x}}", "{{{c1::x}}}", "{{c1::a {{c2::b}} c}}", "{{c1::x}", "x}} {{c1::y}}", "{{c0::x}}",
     "{{c01::x}}", "{{c12345::x}}", "{{C1::x}}", "{{c1:x}}", "{{c1::x}} }"],
)
def test_quick_scan_leaves_unusual_markup_to_the_full_parser(text: str) -> None:
    assert _parse_simple(text) is None
    assert parse_cloze(text) == _parse_full(text)


# -- Anki as the oracle ------------------------------------------------------------------

WORDS = st.text(st.sampled_from("abcdefghij XYZ0123456789,."), min_size=1, max_size=12).filter(lambda s: s.strip())


@pytest.fixture(scope="module")
def anki_cloze(tmp_path_factory: pytest.TempPathFactory):
    collection = pytest.importorskip("anki.collection")
    col = collection.Collection(str(tmp_path_factory.mktemp("anki") / "collection.anki2"))
    model = col.models.by_name("Cloze")

    def render(text: str) -> tuple[list[int], str | None]:
        note = col.new_note(model)
        note["Text"] = text
        numbers = sorted(note.cloze_numbers_in_fields())
        if not numbers:
            return [], None
        card = note.ephemeral_card(ord=numbers[0] - 1)
        html = card.answer()
        body = re.sub(r"<style.*?</style>|<[^>]+>", "", html, flags=re.S)
        return numbers, " ".join(body.split())

    yield render
    col.close()


@pytest.mark.parametrize(
    "text",
    ["{{c1::x}}", "{{c1::Stalin::who}} met {{c2::Roosevelt}} in {{c1::Tehran}}", "{{{c1::x}}}",
     "{{c1::a::b::c}}", "{{c2::x}} {{c1::y}}", "a {set} of {{c1::x}} and } {"],
)
def test_numbers_and_filled_agree_with_anki(anki_cloze, text: str) -> None:
    numbers, answer = anki_cloze(text)
    parsed = parse_cloze(text)
    assert list(parsed.numbers()) == numbers
    assert " ".join(parsed.filled().split()) == answer


@pytest.mark.parametrize("text", ["{{C1::x}}", "{{c0::x}}", "{{c1:x}}", "{{ c1::x}}", "{{c1::x}", "{{cx::x}}"])
def test_markup_we_reject_as_malformed_is_no_deletion_to_anki(anki_cloze, text: str) -> None:
    assert anki_cloze(text) == ([], None)
    assert parse_cloze(text).deletions == ()


def test_policy_stricter_than_anki(anki_cloze) -> None:
    # Anki reads c01 as c1 and accepts nesting; deckgen asks for c1 and one fact per card.
    assert anki_cloze("{{c01::x}}")[0] == [1]
    assert codes("{{c01::x}}") == ["cloze-bad-number"]
    assert anki_cloze("{{c1::a {{c2::b}} c}}")[0] == [1, 2]
    assert parse_cloze("{{c1::a {{c2::b}} c}}").numbers() == (1, 2)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(WORDS, WORDS, st.integers(min_value=1, max_value=4)), min_size=1, max_size=4), WORDS)
def test_generated_clozes_agree_with_anki(anki_cloze, parts: list[tuple[str, str, int]], tail: str) -> None:
    text = "".join(f"{before} {{{{c{n}::{answer}}}}}" for before, answer, n in parts) + tail
    numbers, answer = anki_cloze(text)
    parsed = parse_cloze(text)
    assert list(parsed.numbers()) == numbers
    assert " ".join(parsed.filled().split()) == answer


# -- the cards a cloze note gets ---------------------------------------------------------------

def _note_types() -> list:
    import genanki

    from deckgen.notetypes import NOTE_TYPES
    from deckgen.package import StampedModel
    from deckgen.render import Renderer, default_templates_dir

    renderer = Renderer(default_templates_dir())
    return [StampedModel(renderer.compile_notetype(spec), 0) for spec in NOTE_TYPES.values()] + [
        genanki.CLOZE_MODEL, genanki.BASIC_MODEL, genanki.BASIC_AND_REVERSED_CARD_MODEL]


_NOTE_TYPES = _note_types()
_DELETION = st.builds("{{{{c{}::{}}}}}".format, st.integers(0, 20), st.sampled_from(["x", "", "}", "a\nb", "{{c2::y}}"]))
_CLOZE_TEXT = st.lists(st.one_of(_DELETION, st.sampled_from(["{{c", "1", "::", "}}", "}", "{", "x", " ", "\n"])),
                       max_size=12).map("".join)


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(_NOTE_TYPES), st.lists(st.one_of(_CLOZE_TEXT, st.sampled_from(["", "x"])), max_size=12))
def test_a_note_gets_the_cards_genanki_gives_it(model, values: list[str]) -> None:
    """The cards deckgen writes for a note, in their order, are those `genanki.Note.cards` gives it."""
    import genanki

    from deckgen.package import card_ords

    fields = (values + [""] * len(model.fields))[:len(model.fields)]
    expected = tuple(card.ord for card in genanki.Note(model=model, fields=list(fields)).cards)
    assert card_ords(model, fields) == expected
