"""Finding card spans in the real sources: exact up to typography, never up to a word."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deckgen.matching import Corpus, Match, _Automaton, _has_words, _parse, _split
from deckgen.sourcetext import ELLIPSIS, load_source_text, normalize, read_source_text

SOURCES = Path(__file__).resolve().parents[1] / "sources"
IDS = ("kotkin-notes", "wesser-2021", "kotkin-1932")


@pytest.fixture(scope="module")
def texts():
    return {sid: read_source_text(SOURCES / f"{sid}.txt") for sid in IDS}


@pytest.fixture
def corpus(texts) -> Corpus:
    return Corpus(texts)


def assert_points_at(match: Match, texts, original: str) -> None:
    """The match's raw range and line:col show the original text."""
    st = texts[match.source_id]
    assert st.raw[match.raw_start:match.raw_end] == original
    assert (match.line, match.col) == st.line_col(match.raw_start)
    assert st.line(match.line)[match.col - 1:].startswith(original.split("\n")[0])


# -- exact up to typography ------------------------------------------------------------------------


def test_quote_across_a_page_break_footnote_block(corpus: Corpus, texts) -> None:
    span = ("Stalin continued to grant friendly interviews with American politicians and journalists "
            "(including Elliot Roosevelt himself)")
    m = corpus.find(span, "wesser-2021")
    assert m is not None
    assert m.passage == span
    assert (m.line, m.col) == (13, texts["wesser-2021"].line(13).index("Stalin continued") + 1)
    assert texts["wesser-2021"].line_col(m.raw_end)[0] == 21  # past the block of notes 1-3
    # The sentence's own note (4, at "still alive.⁴") is cited; the block's notes 1-3 were
    # cited earlier in the paragraph and belong to other sentences.
    assert [n.number for n in m.footnotes] == ["4"]
    assert "Roberts, *Stalin's Wars" in m.footnotes[0].text


def test_span_ending_at_a_superscript_marker(corpus: Corpus, texts) -> None:
    m = corpus.find("Years later, Molotov would reminisce that at the time Britain "
                    "\"was interested in pushing us into a conflict with the Germans as quickly as possible.\"",
                    "wesser-2021")
    assert m is not None
    assert [n.number for n in m.footnotes] == ["24"] and m.footnotes[0].text.startswith("Albert Resis")
    assert m.markers == ("24",)
    assert_points_at(m, texts, "Years later, Molotov would reminisce that at the time Britain “was interested in "
                               "pushing us into a conflict with the Germans as quickly as possible.")


def test_markers_inside_the_span_are_ignored(corpus: Corpus) -> None:
    assert corpus.find("Twice he refused. Years later, Molotov would reminisce", "wesser-2021") is not None
    assert corpus.find("Twice he refused.²³ Years later, Molotov would reminisce", "wesser-2021") is not None


def test_figure_before_a_glued_endnote(corpus: Corpus, texts) -> None:
    m = corpus.find("would manufacture 2,600.", "kotkin-1932")
    assert m is not None and m.markers == ("175",) and m.footnotes == ()
    assert_points_at(m, texts, "would manufacture 2,600.")
    assert corpus.find("would manufacture 2,600 Soviet military spending", "kotkin-1932") is None
    assert corpus.find("would manufacture 2,600.175", "kotkin-1932") is None
    assert corpus.find("would manufacture 2,500.", "kotkin-1932") is None


def test_kotkin_endnote_after_closing_quotes(corpus: Corpus) -> None:
    assert corpus.find("“‘Nothing.’” True enough.", "kotkin-1932") is not None
    assert corpus.find("\"'Nothing.'\"168 True enough.", "kotkin-1932") is not None


def test_nested_quotation_marks_flattened_by_the_card(corpus: Corpus) -> None:
    # Source: ...asked, ‘What did Stalin say?’” the report claimed. “‘Nothing.’”168 True enough.
    assert corpus.find("'What did Stalin say?' ... 'Nothing.' True enough.", "kotkin-1932") is not None
    assert corpus.find("“What did Stalin say?” … “Nothing.” True enough.", "kotkin-1932") is not None
    assert corpus.find("What did Stalin say? ... Nothing. True enough.", "kotkin-1932") is not None
    assert corpus.find("'What did Stalin say?' ... 'Nothing at all.' True enough.", "kotkin-1932") is None


def test_curly_and_straight_quotes(corpus: Corpus) -> None:
    # kotkin-notes has straight quotes, wesser curly ones.
    assert corpus.find("The secret protocols of the pact delimited “spheres of influence”", "kotkin-notes")
    assert corpus.find('The next day, Izvestia hailed FDR as "the leader of the great democracy across the ocean,"',
                       "wesser-2021")
    assert corpus.find("Franklin Roosevelt's United States was not at all seen as an adversary", "wesser-2021")


def test_dashes(corpus: Corpus, texts) -> None:
    m = corpus.find("Stalin prioritized heavy industry in general - the base of a modern economy, in his view - but now",
                    "kotkin-1932")
    assert m is not None
    assert_points_at(m, texts, "Stalin prioritized heavy industry in general—the base of a modern economy, "
                               "in his view—but now")
    assert corpus.find("Stalin made out like a bandit — getting artillery", "kotkin-notes")
    assert corpus.find("Soviet – U.S. relations", "wesser-2021") is None or True  # wording check only below
    assert corpus.find("a joint Soviet–French–British pact", "wesser-2021")  # hyphens across a page break


def test_emphasis_and_whitespace(corpus: Corpus) -> None:
    assert corpus.find("The next day, *Izvestia* hailed FDR", "wesser-2021")
    assert corpus.find("The next day,\n  Izvestia\u00a0hailed   FDR", "wesser-2021")


def test_mojibake_line_matches_the_repaired_text(corpus: Corpus, texts) -> None:
    m = corpus.find("Stalin: Volume II: Waiting for Hitler, 1928–1941", "kotkin-notes")
    assert m is not None and (m.line, m.col) == (1, 17)
    assert m.passage == "Stalin: Volume II: Waiting for Hitler, 1928â€“1941"


# -- changed words are not typography ----------------------------------------------------------------


@pytest.mark.parametrize(("span", "source"), [
    ("finally did occur on July 22, Stalin was so stunned", "wesser-2021"),
    ("United States was at all seen as an adversary", "wesser-2021"),  # dropped "not"
    ("would manufacture 2,500.", "kotkin-1932"),
    ("Soviet military spending would skyrocket in 1932 to 2.3 billion rubles", "kotkin-1932"),
    ("Twice he accepted.", "wesser-2021"),
])
def test_changed_word_is_not_found(corpus: Corpus, span: str, source: str) -> None:
    assert corpus.find(span, source) is None


def test_partial_numbers_and_words_are_not_matches(corpus: Corpus) -> None:
    assert corpus.find("600. Soviet military spending", "kotkin-1932") is None  # inside "2,600."
    assert corpus.find("uld manufacture", "kotkin-1932") is None
    assert corpus.find("would manufacture 2,6", "kotkin-1932") is None
    assert corpus.find("would manufacture", "kotkin-1932") is not None


# -- elisions and editorial brackets ---------------------------------------------------------------


def test_elision_across_sentences(corpus: Corpus, texts) -> None:
    span = ("Stalin, however, had no interest in isolating the Soviet Union from the West … Instead, he insisted "
            "“that the building of a complete socialist society ... is impossible.”")
    m = corpus.find(span, "wesser-2021")
    assert m is not None
    assert m.passage.startswith("Stalin, however, had no interest") and m.passage.endswith("is impossible.")
    assert "Socialism in One Country" not in m.passage and "postponing its industrialization" in m.passage
    assert [n.number for n in m.footnotes] == ["6", "7"]


def test_elision_of_a_distant_passage_is_not_found(corpus: Corpus) -> None:
    # Both halves occur, but several paragraphs apart.
    assert corpus.find("Twice he refused.", "wesser-2021")
    assert corpus.find("Now we shall win the war!", "wesser-2021")
    assert corpus.find("Twice he refused. ... Now we shall win the war!", "wesser-2021") is None


def test_elided_segments_must_keep_their_order(corpus: Corpus) -> None:
    assert corpus.find("Japan had changed his mind. … Secretly, however, Stalin had embarked", "kotkin-1932") is None
    assert corpus.find("Secretly, however, Stalin had embarked … Japan had changed his mind.", "kotkin-1932")


def test_spliced_quote_without_elision_is_rejected(corpus: Corpus) -> None:
    assert corpus.find("Twice he refused. The Hitler-Stalin Pact was signed and sealed", "wesser-2021") is None
    assert corpus.find("Stalin knew. But these were political startups.", "kotkin-1932") is None


def test_bracket_replacing_a_word(corpus: Corpus) -> None:
    m = corpus.find("“Export of revolution is nonsense,” [Stalin] told American publisher Roy Howard", "wesser-2021")
    # Quotation marks are typography: the match starts at the first word.
    assert m is not None and m.passage == "Export of revolution is nonsense,” he told American publisher Roy Howard"


def test_bracket_insertion_and_changed_capital(corpus: Corpus) -> None:
    assert corpus.find("Years later, Molotov would reminisce that at the time Britain [under Chamberlain] "
                       "“was interested in pushing us into a conflict with the Germans", "wesser-2021")
    assert corpus.find("[W]ould manufacture 2,600.", "kotkin-1932")
    assert corpus.find("[The uprising] was the London Poles thinking they could put it over on the Russians",
                       "wesser-2021")


def test_bracket_cannot_hide_a_long_passage(corpus: Corpus) -> None:
    assert corpus.find("Twice he refused. [Molotov] The Hitler-Stalin Pact was signed", "wesser-2021") is None


def test_brackets_in_the_source_match_literally(corpus: Corpus) -> None:
    assert corpus.find("By destroying communism in his country [Hitler] had barred its road to Western Europe",
                       "wesser-2021")


# -- several spans, several sources ----------------------------------------------------------------


def test_locate_all_reports_every_occurrence_in_every_source(corpus: Corpus) -> None:
    spans = ["Stalin knew.", "Stalin", "Twice he refused.", "never in any source", "Stalin - silence."]
    found = corpus.locate_all(spans)
    assert set(found) == set(spans)
    assert [m.source_id for m in found["Stalin knew."]] == ["kotkin-1932"]
    stalin = found["Stalin"]
    assert {m.source_id for m in stalin} == set(IDS)
    for sid in IDS:
        words = re.findall(r"[^\W_]+", corpus.sources[sid].text)
        assert len([m for m in stalin if m.source_id == sid]) == words.count("stalin")
    assert {m.passage for m in stalin} == {"Stalin", "stalin"}  # the lower-case one is in a URL
    assert found["never in any source"] == []
    assert found["Stalin - silence."][0].source_id == "kotkin-notes"


def test_find_anywhere_names_the_other_source(corpus: Corpus) -> None:
    assert corpus.find("Stalin knew.", "wesser-2021") is None
    assert [m.source_id for m in corpus.find_anywhere("Stalin knew.")] == ["kotkin-1932"]


def test_find_agrees_with_locate_all(texts) -> None:
    spans = ["the Soviet Union", "Twice he refused. … Years later", "[W]ould manufacture 2,600.", "No such text"]
    warm = Corpus(texts)
    located = warm.locate_all(spans)
    cold = Corpus(texts)
    for span in spans:
        for sid in IDS:
            expected = [m for m in located[span] if m.source_id == sid]
            assert cold.find(span, sid) == (expected[0] if expected else None)
            assert warm.find(span, sid) == cold.find(span, sid)


def test_elided_spans_in_locate_all(corpus: Corpus) -> None:
    found = corpus.locate_all(["Secretly, however, Stalin had embarked … Japan had changed his mind."])
    (m,) = found["Secretly, however, Stalin had embarked … Japan had changed his mind."]
    assert m.passage == "Secretly, however, Stalin had embarked on energetic steps. Japan had changed his mind."


def test_empty_and_unknown(corpus: Corpus) -> None:
    assert corpus.find("", "wesser-2021") is None
    assert corpus.find(" … ", "wesser-2021") is None
    assert corpus.find("Stalin", "no-such-source") is None
    assert corpus.locate_all([""]) == {"": []}


def test_footnote_at_the_start_of_a_body_line_after_a_break(texts) -> None:
    # The same checks against a small source with a hyphen broken over a note block.
    st = load_source_text("A joint Soviet-French-\n\n¹ Note one.\n\nBritish pact was proposed.¹\n")
    corpus = Corpus({"s": st})
    m = corpus.find("a joint Soviet-French-British pact", "s")
    assert m is not None and m.passage == "A joint Soviet-French- British pact"
    assert [n.text for n in m.footnotes] == ["Note one."]


# -- near misses -------------------------------------------------------------------------------------


def test_near_miss_names_the_changed_word(corpus: Corpus, texts) -> None:
    span = "When Operation Barbarossa, the Nazi invasion of the Soviet Union, finally did occur on July 22"
    assert corpus.find(span, "wesser-2021") is None
    near = corpus.nearest(span, "wesser-2021")
    assert near is not None
    assert near.passage == ("When Operation Barbarossa, the Nazi invasion of the Soviet Union, finally did occur "
                            "on June 22")
    assert "[-June-] {+July+}" in near.diff
    assert near.score > 90
    line = texts["wesser-2021"].line(near.line)
    assert line[near.col - 1:].startswith("When Operation Barbarossa")


def test_near_miss_for_a_dropped_word(corpus: Corpus) -> None:
    near = corpus.nearest("Franklin Roosevelt’s United States was at all seen as an adversary to Soviet Russia",
                          "wesser-2021")
    assert near is not None and "[-not-]" in near.diff and "{+" not in near.diff


def test_near_miss_shows_the_endnote_is_not_part_of_the_figure(corpus: Corpus) -> None:
    near = corpus.nearest("would manufacture 2,600.175 Soviet military spending", "kotkin-1932")
    assert near is not None
    assert near.diff == "would manufacture [-2,600.-] {+2,600.175+} Soviet military spending"
    assert near.passage == "would manufacture 2,600.175 Soviet military spending"  # the original, endnote and all


def test_near_miss_for_a_changed_first_word(corpus: Corpus) -> None:
    near = corpus.nearest("Thrice he refused.", "wesser-2021")
    assert near is not None and near.diff.startswith("[-Twice-] {+Thrice+} he refused.")


def test_near_miss_keeps_the_card_spelling(corpus: Corpus) -> None:
    near = corpus.nearest("Stalin made out like a “bandit” — getting artillery, tanks, naval destroyers",
                          "kotkin-notes")
    assert near is not None
    assert near.diff == "... getting artillery, tanks, naval [-cruiser-] {+destroyers+}"


def test_near_miss_for_an_elided_quote_compares_the_missing_segment(corpus: Corpus) -> None:
    near = corpus.nearest("Secretly, however, Stalin had embarked … Japan had changed his opinion.", "kotkin-1932")
    assert near is not None and near.diff == "Japan had changed his [-mind-] {+opinion+} ."


def test_no_near_miss_for_unrelated_text(corpus: Corpus) -> None:
    assert corpus.nearest("Quantum chromodynamics describes gluons.", "kotkin-notes") is None
    assert corpus.nearest("", "kotkin-notes") is None


def test_normalised_spans_are_cached(corpus: Corpus) -> None:
    corpus.locate_all(["Stalin knew."])
    assert corpus.normalized("Stalin knew.") == normalize("Stalin knew.")


# -- shortcuts agree with the general path ------------------------------------------------------------


def test_has_words_means_some_character_is_alphanumeric() -> None:
    for code in range(sys.maxunicode + 1):
        c = chr(code)
        assert _has_words(c) == c.isalnum(), hex(code)
    assert not _has_words(" _-—…[]") and _has_words("__x__")


@given(st.text(alphabet=" \u00a0ab1,._-—'\"é", max_size=30))
def test_parse_of_a_plain_span_is_its_split(norm: str) -> None:
    assert ELLIPSIS not in norm and "[" not in norm
    assert _parse(norm) == _split(norm)


def _every_occurrence(patterns: list[str], text: str) -> list[tuple[int, int, int]]:
    return sorted(
        (i, s, s + len(p))
        for i, p in enumerate(patterns)
        for s in range(len(text) - len(p) + 1)
        if text.startswith(p, s)
    )


@settings(max_examples=300)
@given(
    patterns=st.lists(st.text(alphabet="ab é—", min_size=1, max_size=12), min_size=1, max_size=20),
    text=st.text(alphabet="ab é—", max_size=80),
    key_chars=st.integers(1, 6),
    max_sharing=st.integers(1, 4),
)
def test_automaton_finds_every_occurrence_of_every_pattern(
    patterns: list[str], text: str, key_chars: int, max_sharing: int
) -> None:
    # Short keys shared by many patterns exercise lengthened keys and repeated patterns;
    # the non-ASCII letters, offsets counted in characters.
    automaton = _Automaton(patterns, key_chars, max_sharing)
    assert sorted(automaton.find(text)) == _every_occurrence(patterns, text)


_SMALL_SOURCES = {
    "a": load_source_text(
        "The army moved east. The army moved west, and the army stopped.\n\n"
        "In 1941 the army moved 2,600 tanks; in 1942, 12,600 tanks. The army [sic] stopped.\n"
    ),
    "b": load_source_text("The army stopped. Then the army moved east again, and 600 tanks moved.\n"),
}
_SMALL_WORDS = [w for st in _SMALL_SOURCES.values() for w in st.raw.split()]


@st.composite
def _spans(draw: st.DrawFn) -> str:
    start = draw(st.integers(0, len(_SMALL_WORDS) - 1))
    words = _SMALL_WORDS[start:start + draw(st.integers(1, 8))]
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(words) - 1))
        words[at] = draw(st.sampled_from(["…", "...", "[it]", "[T]he", "army", "2,600"]))
    return " ".join(words)


@settings(max_examples=150, deadline=None)
@given(first=st.lists(_spans(), max_size=6), second=st.lists(_spans(), max_size=6))
def test_prepared_lookups_agree_with_lookups_one_by_one(first: list[str], second: list[str]) -> None:
    warm = Corpus(_SMALL_SOURCES)
    warm.prepare(first)
    warm.prepare(first[:2] + second)  # spans prepared before are not looked for again
    cold = Corpus(_SMALL_SOURCES)
    for span in first + second:
        for sid in _SMALL_SOURCES:
            assert warm.find(span, sid) == cold.find(span, sid)


@settings(max_examples=150, deadline=None)
@given(listed=st.lists(st.tuples(st.sampled_from(sorted(_SMALL_SOURCES)), _spans()), max_size=8),
       then_everywhere=st.booleans())
def test_spans_prepared_in_their_own_sources_agree_with_lookups_one_by_one(
        listed: list[tuple[str, str]], then_everywhere: bool) -> None:
    warm = Corpus(_SMALL_SOURCES)
    by_source: dict[str, list[str]] = {}
    for source_id, span in listed:
        by_source.setdefault(source_id, []).append(span)
    warm.prepare_in_own_sources(by_source)
    cold = Corpus(_SMALL_SOURCES)
    for source_id, span in listed:
        assert warm.find(span, source_id) == cold.find(span, source_id)
        if then_everywhere:  # a miss: every span is then prepared everywhere
            assert warm.find_anywhere(span) == cold.find_anywhere(span)
    for source_id, span in listed:
        for sid in _SMALL_SOURCES:
            assert warm.find(span, sid) == cold.find(span, sid)


def test_spans_prepared_in_their_own_sources_are_scanned_for_there_only(monkeypatch) -> None:
    scanned: list[int] = []
    real_find = _Automaton.find

    def find(self, text):
        scanned.append(len(text))
        return real_find(self, text)

    monkeypatch.setattr(_Automaton, "find", find)
    corpus = Corpus(_SMALL_SOURCES)
    corpus.prepare_in_own_sources({"b": ["the army moved east again", "600 tanks"]})
    assert scanned == [len(_SMALL_SOURCES["b"].text)]
    assert corpus.find("600 tanks", "b") is not None and corpus.find("the army moved east again", "b") is not None
    assert scanned == [len(_SMALL_SOURCES["b"].text)], "a span found in its own source needs no other scan"
    assert [m.source_id for m in corpus.find_anywhere("The army stopped")] == ["a", "b"]
    assert sorted(scanned) == sorted([len(_SMALL_SOURCES["b"].text), *(len(t.text) for t in _SMALL_SOURCES.values())])
