"""Properties of loading on generated input: the YAML loader, project loading and the cloze parser.

Whatever the text, loading ends in data or in located diagnostics (``YamlProblem``, or
diagnostics in the report), never in another exception, and every location is a line of the
file. Each property counts the examples it ran; the totals are printed at the end of the module
(``pytest -s``) and kept in the pytest cache under ``deckgen/property-examples``.
"""

from __future__ import annotations

import datetime
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from deckgen import yamlfile
from deckgen.cloze import NESTED, NONE, parse_cloze
from deckgen.diagnostics import Report
from deckgen.errorcodes import ALL_CODES
from deckgen.models import CARD_MODELS
from deckgen.project import load_project
from deckgen.yamlfile import YamlProblem, parse_yaml

from conftest import copy_project

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                      HealthCheck.function_scoped_fixture])
SHOWN = Path("cards/c.yaml")
EXAMPLES: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def example_counts(request: pytest.FixtureRequest):
    yield EXAMPLES
    total = sum(EXAMPLES.values())
    print(f"\nproperty examples run: {total} in all; " + ", ".join(f"{k} {v}" for k, v in sorted(EXAMPLES.items())))
    cache = getattr(request.config, "cache", None)  # absent when pytest runs with -p no:cacheprovider
    if cache is not None:
        cache.set("deckgen/property-examples", dict(EXAMPLES, total=total))


def _line_count(text: str) -> int:
    return max(1, len(text.splitlines()))


def _assert_located(diagnostic, text: str, path: Path = SHOWN) -> None:
    assert diagnostic.code.code in ALL_CODES
    assert diagnostic.location.path == path
    assert 1 <= diagnostic.location.line <= _line_count(text), (diagnostic, _line_count(text))
    assert diagnostic.location.col >= 1
    assert "\n" not in diagnostic.message and "\r" not in diagnostic.message, diagnostic.message


def _outcome(text: str, fast: bool = True) -> tuple:
    """What parse_yaml gives, comparable across the fast and the usual path."""
    original = yamlfile.fast_load
    try:
        if not fast:
            yamlfile.fast_load = lambda text, scalar: None
        document = parse_yaml(text, SHOWN)
    except YamlProblem as problem:
        return ("problem", problem.diagnostic)
    finally:
        yamlfile.fast_load = original
    return ("ok", repr(document.data), document.value_marks, document.key_marks, document.problems)


def _assert_sound(text: str) -> tuple:
    outcome = _outcome(text)
    if outcome[0] == "problem":
        _assert_located(outcome[1], text)
    else:
        _, _, value_marks, key_marks, problems = outcome
        lines = _line_count(text)
        for line, col in [*value_marks.values(), *key_marks.values()]:
            assert 1 <= line <= lines and col >= 1
        for problem in problems:
            _assert_located(problem, text)
    return outcome


# -- arbitrary text ----------------------------------------------------------------------------

YAML_BITS = st.sampled_from([
    " ", "  ", "\n", "\r\n", "\r", "\t", ":", ": ", "- ", "-", "? ", "#", "'", '"', "\\", "[", "]", "{", "}",
    ",", "&a ", "*a", "&b ", "*b", "!", "!!str ", "!!python/object:os.system ", "!foo ", "<<: ", "|", ">",
    "|-\n", "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "---\n", "...\n", "~", "null", "yes", "1941-02-30",
    "1941-06-22", "0x1F", "1e9", ".nan", "\ufeff", "\x00", "\x07", "\x1b[2J", "\u2028", "\x85", "é", "…",
    "theme", "cards", "id", "type", "quote", "text",
])
ANY_TEXT = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(YAML_BITS, st.text(max_size=4)), max_size=60).map("".join),
)


@settings(max_examples=3000, **SETTINGS)
@given(ANY_TEXT)
def test_any_text_loads_or_is_a_located_problem(text: str) -> None:
    EXAMPLES["any text"] += 1
    _assert_sound(text)


# -- data written by a YAML emitter comes back as it was ------------------------------------------

# PyYAML's emitter writes U+0085 (NEL) unescaped in keys, and then reads it as a line break.
TEXT = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x85")
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False), st.dates(min_value=datetime.date(1, 1, 1)),
    st.text(TEXT, max_size=40),
)
KEYS = st.text(TEXT, min_size=1, max_size=20).filter(lambda k: k != "<<")
DATA = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                     st.dictionaries(KEYS, inner, max_size=5)), max_leaves=25)


@settings(max_examples=1500, **SETTINGS)
@given(DATA, st.sampled_from([None, False, True]), st.integers(min_value=2, max_value=6))
def test_emitted_data_round_trips_with_its_positions(data, flow: bool | None, indent: int) -> None:
    EXAMPLES["round trip"] += 1
    text = yaml.safe_dump(data, default_flow_style=flow, indent=indent, allow_unicode=True, width=60)
    document = parse_yaml(text, SHOWN)
    assert document.data == data
    assert document.problems == ()
    lines = text.splitlines()
    for path, (line, col) in document.key_marks.items():
        # A key's position is where its text (plain or quoted) begins.
        assert lines[line - 1][col - 1:].startswith((str(path[-1])[:1], "'", '"')), (path, line, col)
    assert _outcome(text) == _outcome(text, fast=False)


# -- near-valid card files: mutations of real ones ---------------------------------------------------

BASES = [
    "theme: Hostile\nsource: kotkin-1932\ntags: [a, b]\ncards:\n"
    "  - id: x-1\n    type: fact\n    front: What had changed Stalin's mind?\n    back: Japan  # a comment\n"
    "    evidence: Secretly, however, Stalin had embarked on energetic steps.\n"
    "  - id: x-2\n    type: date\n    event: \"Japanese troops enter Harbin\"\n    date: 1932-02-05\n"
    "    evidence: 'Japanese troops entered Harbin'\n",
    "theme: \"1932 · Japan\"\ncards:\n- id: q\n  type: quote\n  quote: >-\n    folded\n    text\n  speaker: S\n"
    "  tags:\n  - one\n  - two\n",
]
MUTATION = st.tuples(st.integers(min_value=0, max_value=400), st.integers(min_value=0, max_value=3),
                     st.one_of(YAML_BITS, st.text(max_size=3)))


@settings(max_examples=1500, **SETTINGS)
@given(st.sampled_from(BASES), st.lists(MUTATION, min_size=1, max_size=4))
def test_mutated_card_files_load_the_same_by_either_path(base: str, mutations) -> None:
    EXAMPLES["mutated card files"] += 1
    text = base
    for at, cut, insert in mutations:
        at %= len(text) + 1
        text = text[:at] + insert + text[at + cut:]
    outcome = _assert_sound(text)
    assert outcome == _outcome(text, fast=False)


# -- generated card files through project loading ------------------------------------------------

SLUG = st.from_regex(r"[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,3}", fullmatch=True)
WORDS = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=60).filter(str.strip)
FIELDS = {
    "quote": {"quote": WORDS, "speaker": WORDS},
    "cloze": {"text": WORDS.map(lambda w: f"{w} {{{{c1::{w}}}}}")},
    "fact": {"front": WORDS, "back": WORDS, "evidence": WORDS},
    "date": {"event": WORDS, "date": st.one_of(st.dates(), st.integers(1, 9999),
                                               st.from_regex(r"[0-9]{4}-[0-9]{2}", fullmatch=True)),
             "evidence": WORDS},
    "figure": {"prompt": WORDS, "value": st.one_of(WORDS, st.integers(0, 10**6)), "evidence": WORDS},
}
OPTIONAL = {"note": WORDS, "tags": st.lists(st.from_regex(r"[a-z]{1,8}", fullmatch=True), max_size=3),
            "page": st.one_of(st.integers(1, 999), WORDS)}


@st.composite
def valid_card(draw: st.DrawFn, card_id: str) -> dict:
    kind = draw(st.sampled_from(sorted(FIELDS)))
    card = {"id": card_id, "type": kind}
    card.update({key: draw(value) for key, value in FIELDS[kind].items()})
    for key, value in OPTIONAL.items():
        if draw(st.booleans()):
            card[key] = draw(value)
    return card


@st.composite
def card_file(draw: st.DrawFn, broken: bool) -> tuple[dict, int]:
    """A card file's data and how many of its cards were broken on purpose."""
    ids = draw(st.lists(SLUG, min_size=1, max_size=6, unique_by=lambda s: s.replace("-", "")))
    cards = [draw(valid_card(card_id)) for card_id in ids]
    spoiled = 0
    if broken:
        junk = st.one_of(SCALARS, st.lists(SCALARS, max_size=3), st.dictionaries(KEYS, SCALARS, max_size=3))
        for card in cards:
            action = draw(st.sampled_from(["keep", "retype", "drop", "add"]))
            if action == "keep":
                continue
            key = draw(st.sampled_from(sorted(card)))
            if action == "retype" and key not in ("id",):
                card[key] = draw(junk)
            elif action == "drop":
                del card[key]
            elif action == "add":
                card[draw(KEYS)] = draw(junk)
            spoiled += 1
    data = {"theme": draw(WORDS.filter(lambda t: "::" not in t and len(t) <= 200)), "source": "kotkin-1932",
            "cards": cards}
    return data, spoiled


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("properties") / "project", parts=("sources",))
    (root / "cards").mkdir()
    return root


def _load(project: Path, text: str) -> tuple[Report, object]:
    (project / "cards" / "c.yaml").write_text(text, encoding="utf-8")
    report = Report()
    loaded = load_project(project, report)
    for diagnostic in report.diagnostics:
        _assert_located(diagnostic, text)
    return report, loaded


@settings(max_examples=400, **SETTINGS)
@given(card_file(broken=False), st.sampled_from([None, False]))
def test_generated_valid_card_files_load_without_a_diagnostic(project: Path, generated, flow) -> None:
    EXAMPLES["valid card files"] += 1
    data, _ = generated
    text = yaml.safe_dump(data, allow_unicode=True, default_flow_style=flow, sort_keys=False, width=80)
    report, loaded = _load(project, text)
    assert report.diagnostics == [], [str(d) for d in report.diagnostics]
    assert [entry.id for entry in loaded.cards] == [card["id"] for card in data["cards"]]
    for entry, card in zip(loaded.cards, data["cards"]):
        for key, value in card.items():
            if key != "tags":
                assert getattr(entry.card, key) == value
        assert entry.location.path == SHOWN


@settings(max_examples=600, **SETTINGS)
@given(card_file(broken=True))
def test_generated_broken_card_files_give_located_errors(project: Path, generated) -> None:
    EXAMPLES["broken card files"] += 1
    data, spoiled = generated
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=80)
    report, loaded = _load(project, text)
    loaded_ids = {entry.id for entry in loaded.cards}
    if spoiled:
        assume(report.errors)  # a spoilt value can still be a valid one (a string for a string)
        # Every error is about a card, or the file, and says which line.
        assert all(d.location.line >= 1 for d in report.errors)
    for card in data["cards"]:
        # A card with an error of its own is not loaded.
        if any(d.card is not None and d.card == card.get("id") for d in report.errors):
            assert card["id"] not in loaded_ids


# -- the cloze parser: what tests/test_cloze.py does not already cover --------------------------------

CLOZE_BITS = st.sampled_from(["{{", "}}", "{", "}", "::", ":", "c1", "c2", "c3", "c0", "C1", "c01", " ", "x",
                              "word", "{{c1::", "{{c2::", "{{c3::", "\n"])
CLOZEISH = st.lists(CLOZE_BITS, max_size=30).map("".join)
PLAIN_PREFIX = st.text(st.characters(blacklist_characters="{}:", blacklist_categories=("Cs",)), min_size=1,
                       max_size=10)


@settings(max_examples=2000, **SETTINGS)
@given(st.one_of(CLOZEISH, st.text(max_size=80)))
def test_cloze_deletions_nest_only_when_reported_and_numbers_have_no_gaps(text: str) -> None:
    EXAMPLES["cloze structure"] += 1
    parsed = parse_cloze(text)
    codes = {p.code for p in parsed.problems}
    spans = [(d.start, d.end) for d in parsed.deletions]
    for i, (a, b) in enumerate(spans):
        for c, d in spans[i + 1:]:
            disjoint = b <= c or d <= a
            nested = (a <= c and d <= b) or (c <= a and b <= d)
            assert disjoint or nested
            if not disjoint:
                assert NESTED in codes
    for problem in parsed.problems:
        if problem.code != NONE:
            assert "{" in text[problem.start:problem.end + 2] or "}" in text[max(0, problem.start - 2):problem.end]
    if parsed.ok:
        assert parsed.numbers() == tuple(range(1, len(parsed.numbers()) + 1))
        # No whole deletion header survives filling (stray braces before an answer may spell "{{c").
        header = re.compile(r"\{\{c\d+::")
        assert not header.search(parsed.filled()) or header.search("".join(d.answer for d in parsed.deletions))
    if "{{" not in text and "}}" not in text:
        assert parsed.deletions == () and [p.code for p in parsed.problems] == [NONE]


@settings(max_examples=1500, **SETTINGS)
@given(PLAIN_PREFIX, st.one_of(CLOZEISH, st.text(max_size=60)))
def test_cloze_text_before_the_markup_only_shifts_it(prefix: str, text: str) -> None:
    EXAMPLES["cloze shift"] += 1
    assume(not text.startswith("{") or not prefix.endswith("{"))
    plain, shifted = parse_cloze(text), parse_cloze(prefix + text)
    k = len(prefix)
    assert [(d.number, d.answer, d.hint, d.start + k, d.end + k) for d in plain.deletions] == [
        (d.number, d.answer, d.hint, d.start, d.end) for d in shifted.deletions]
    assert [(p.code, p.start + k, p.end + k) for p in plain.problems if p.code != NONE] == [
        (p.code, p.start, p.end) for p in shifted.problems if p.code != NONE]
    assert shifted.filled() == prefix + plain.filled()


# -- alias bombs fail fast, whatever their shape ------------------------------------------------

def _bomb(width: int, depth: int, shape: str) -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for level in range(1, depth):
        refs = [f"*a{level - 1}"] * width
        body = "[" + ", ".join(refs) + "]" if shape == "list" else "{" + ", ".join(
            f"k{i}: {ref}" for i, ref in enumerate(refs)) + "}"
        lines.append(f"a{level}: &a{level} {body}")
    return "\n".join(lines) + f"\ntheme: T\ncards: *a{depth - 1}\n"


@pytest.mark.parametrize("width, depth, shape", [(9, 9, "list"), (10, 8, "map"), (2, 60, "list"), (1000, 3, "list")])
def test_alias_bombs_fail_fast(width: int, depth: int, shape: str, monkeypatch) -> None:
    """The loader gives up after work in proportion to the text as written, however far its
    aliases would expand it."""
    text = _bomb(width, depth, shape)
    converted = 0
    convert = yamlfile._Converter.convert

    def counted(self, node, at):
        nonlocal converted
        converted += 1
        return convert(self, node, at)

    monkeypatch.setattr(yamlfile._Converter, "convert", counted)
    with pytest.raises(YamlProblem) as caught:
        parse_yaml(text, SHOWN)
    bound = yamlfile.ALIAS_EXPANSION_FACTOR * len(text) + yamlfile.ALIAS_EXPANSION_SLACK + 1
    assert width ** depth > 100 * bound, "the bomb expands far beyond the bound"
    assert converted <= bound
    assert caught.value.diagnostic.code.code == "alias-expansion"
    _assert_located(caught.value.diagnostic, text)


def test_a_shared_anchor_within_reason_is_fine() -> None:
    text = "theme: T\ntags: &t [a, b, c]\ncards:\n" + "".join(f"  - {{id: c{i}, tags: *t}}\n" for i in range(200))
    document = parse_yaml(text, SHOWN)
    assert all(card["tags"] == ["a", "b", "c"] for card in document.data["cards"])


def test_every_card_type_is_generated() -> None:
    assert set(FIELDS) == set(CARD_MODELS)
