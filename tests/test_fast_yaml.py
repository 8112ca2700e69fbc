"""The fast composer for plain card files builds exactly the nodes libyaml builds, or declines."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from deckgen import yamlfile
from deckgen.fastyaml import _NOT_PLAIN
from deckgen.fastyaml import load as fast_load

REPO = Path(__file__).resolve().parents[1]


def load(text: str, fast: bool) -> object:
    """What parse_yaml gives for text, with or without the fast path."""
    original = yamlfile.fast_load
    try:
        if not fast:
            yamlfile.fast_load = lambda text, scalar: None
        document = yamlfile.parse_yaml(text, Path("cards/x.yaml"))
    except yamlfile.YamlProblem as problem:
        return ("problem", problem.diagnostic)
    finally:
        yamlfile.fast_load = original
    data = document.data
    return (repr(data), _types(data), document.value_marks, document.key_marks, document.lines, document.problems)


def _types(value: object) -> object:
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    return type(value).__name__


def assert_same_or_declined(text: str) -> bool:
    taken = fast_load(text, yamlfile._Converter(Path("cards/x.yaml"), 0)._scalar) is not None
    assert load(text, fast=True) == load(text, fast=False)
    return taken


def yaml_files() -> list[Path]:
    found = [p for p in REPO.glob("cards/*.yaml")]
    found += [p for p in (REPO / "tests").rglob("*.yaml") if ".deckgen-cache" not in p.parts]
    return sorted(found)


def repository_texts() -> list[str]:
    texts = []
    for path in yaml_files():
        try:
            texts.append(path.read_bytes().decode("utf-8-sig"))
        except UnicodeDecodeError:
            continue
    return texts


def test_every_yaml_file_in_the_repository() -> None:
    composed = 0
    for text in repository_texts():
        composed += assert_same_or_declined(text)
    assert composed >= 10  # the shipped card files at least take the fast path


SHAPES = [
    # (text, whether the fast path takes it)
    ("theme: T\nsource: s\ncards:\n  - id: a\n    type: fact\n", True),
    ("cards:\n- id: a\n  type: fact\ntheme: T\n", True),
    ("# c\n\ntheme: T # a comment\ncards: # the cards\n  # one\n  - id: a\n\n    front: x #y\n", True),
    ('a: "q \\"x\\" \\\\ y"\nb: \'it\'\'s\'\nc: [x, y z,  w]\nd: []\ne: [ ]\n', True),
    ("a: yes\nb: 1941\nc: 1941-06-22\nd: 2.5\ne: ~\nf: null\ng: 0x1f\nh: 1_000\ni: 1:20\n", True),
    ("yes: x\n", False),
    ("null: x\n", False),
    ("a: 1941-02-30\nb: [no, 12, 1941-06-22]\n", True),
    ("a: x\na: y\n", False),
    ("a: b: c\n", False),
    ("a: x:\n", False),
    ("a:\n  b: c\n", False),
    ("a: |\n  text\n", False),
    ("a: >-\n  text\n", False),
    ("a: &x 1\nb: *x\n", False),
    ("a: !!str 1\n", False),
    ("a: \"multi\n  line\"\n", False),
    ("a: plain\n  continued\n", False),
    ("a: \"esc \\n\"\n", False),
    ("a:\tx\n", False),
    ("a: x\r\nb: y\r\n", False),
    ("---\na: x\n", False),
    ("a: [x, [y]]\n", False),
    ("a: [x,]\n", False),
    ("a: {x: y}\n", False),
    ("cards:\n  - id: a\n     type: b\n", False),
    ("cards:\n  - id: a\n  - b\n", False),
    ("cards:\n  -  id: a\n", False),
    ("cards:\n", False),
    ("cards:\ntheme: x\n", False),
    ("  a: x\n", False),
    ("# only a comment\n", False),
    ("", False),
    ("a: -5\n", False),
    ("a: x\n...\n", False),
    ("a: 'unclosed\n", False),
    ("a: \"x\"y\n", False),
    ("a: [x] y\n", False),
    ("a: x #\nb: c#d\n", True),
    ("a: “curly” — dash ’s, é 😀 ¹²\n", True),
    ("a: x\x00\n", False),
]


@pytest.mark.parametrize("text, fast", SHAPES)
def test_shapes(text: str, fast: bool) -> None:
    assert assert_same_or_declined(text) is fast


KEYS = st.sampled_from(["id", "type", "front", "evidence", "tags", "yes", "null", "No", "on", "x_1", "a-b"])
PIECES = st.sampled_from(list("ab Z09:#-'\"[],{}?&*!|>%@`~.\\/“’—é😀") + ["  ", ": ", " #", "- ", "\t"])
TEXT = st.lists(PIECES, max_size=10).map("".join)
VALUES = st.one_of(
    TEXT,
    TEXT.map(lambda t: f'"{t}"'),
    TEXT.map(lambda t: f"'{t}'"),
    st.lists(TEXT, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
    st.sampled_from(["1941", "1941-06-22", "2.5", "yes", "~", "", "# note", "0o17", "1941-13-01", "-1"]),
)
LINE = st.tuples(st.sampled_from(["", "  ", "    ", "  - ", "- ", "      ", "  # c", "#"]), KEYS, VALUES)


@settings(max_examples=400)
@given(st.lists(LINE, min_size=1, max_size=8))
def test_generated_files(lines) -> None:
    text = "".join(f"{indent}{key}:{' ' if value else ''}{value}\n" for indent, key, value in lines)
    assert_same_or_declined(text)


WORDS = st.sampled_from(["Stalin", "tanks", "2,600", "1941", "no", "Yes", "x:y", "a#b", "'quoted'", "“curly”",
                         "[x]", "{y}", "c,d", "5%", "e@f", "-", "—", "é", "😀", "...", "1941-06-22", "0x1F", "~"])
PLAIN = st.lists(WORDS, min_size=1, max_size=5).map(" ".join)
SCALAR = st.one_of(
    PLAIN,
    PLAIN.map(lambda t: '"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"'),
    PLAIN.map(lambda t: "'" + t.replace("'", "''") + "'"),
    st.lists(st.sampled_from(["a", "b-c", "no", "12", "x y", "2.5", "1941-06-22"]), max_size=3).map(
        lambda xs: "[" + ", ".join(xs) + "]"),
)
CARD_KEYS = st.sampled_from(["id", "type", "front", "back", "evidence", "tags", "note", "value", "date"])
CARD = st.lists(st.tuples(CARD_KEYS, SCALAR, st.sampled_from(["", "", "  # note"])), min_size=1, max_size=5)


@settings(max_examples=300)
@given(st.lists(CARD, max_size=4), st.sampled_from(["  ", ""]), SCALAR, st.booleans())
def test_generated_card_files(cards, indent, theme, comment_lines) -> None:
    lines = [f"theme: {theme}", "cards:"]
    for card in cards:
        for number, (key, value, comment) in enumerate(card):
            lead = indent + ("- " if number == 0 else "  ")
            lines.append(f"{lead}{key}: {value}{comment}")
            if comment_lines:
                lines.append(f"{indent}  # between keys")
        lines.append("")
    assert_same_or_declined("\n".join(lines) + "\n")


def test_the_characters_left_to_the_usual_way_are_yamls_unprintable_ones_and_a_few_more() -> None:
    # Every code point, lone surrogates included: the one class finds exactly the characters PyYAML
    # refuses, and those the fast reader does not handle (tabs, other line breaks, a byte-order mark).
    every = "".join(map(chr, range(0x110000)))
    found = [m.start() for m in _NOT_PLAIN.finditer(every)]
    unprintable = {m.start() for m in yaml.reader.Reader.NON_PRINTABLE.finditer(every)}
    assert found == sorted(unprintable | {ord(c) for c in "\t\r\x85\u2028\u2029\ufeff"})
    assert "\n" not in _NOT_PLAIN.findall(every) and not _NOT_PLAIN.search("plain text · “quoted” — 1941")
