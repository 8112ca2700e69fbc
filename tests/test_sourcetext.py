"""The searchable form of the real sources, and the way back to their raw text."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from deckgen.sourcetext import (
    DASH,
    ELLIPSIS,
    Footnote,
    SourceText,
    load_source_text,
    normalize,
    normalize_with_offsets,
    read_source_text,
)

SOURCES = Path(__file__).resolve().parents[1] / "sources"


@pytest.fixture(scope="module")
def notes() -> SourceText:
    return read_source_text(SOURCES / "kotkin-notes.txt")


@pytest.fixture(scope="module")
def wesser() -> SourceText:
    return read_source_text(SOURCES / "wesser-2021.txt")


@pytest.fixture(scope="module")
def kotkin() -> SourceText:
    return read_source_text(SOURCES / "kotkin-1932.txt")


@pytest.fixture(scope="module", params=["kotkin-notes", "wesser-2021", "kotkin-1932"])
def any_source(request) -> SourceText:
    return read_source_text(SOURCES / f"{request.param}.txt")


def span_of(st: SourceText, card_text: str) -> tuple[int, int]:
    needle = normalize(card_text)
    start = st.text.find(needle)
    assert start >= 0, f"{needle!r} not in text"
    return start, start + len(needle)


# -- invariants over every real source ----------------------------------------------------------


def test_offsets_cover_the_text_and_never_go_back(any_source: SourceText) -> None:
    st = any_source
    assert len(st.raw_offsets) == len(st.text) + 1
    assert all(a <= b for a, b in zip(st.raw_offsets, st.raw_offsets[1:]))
    assert st.raw_offsets[-1] == len(st.raw)
    assert all(0 <= r < len(st.raw) for r in st.raw_offsets[:-1])


def test_normalised_text_is_stable(any_source: SourceText) -> None:
    assert normalize(any_source.text) == any_source.text


def test_letters_map_back_to_themselves(any_source: SourceText) -> None:
    st = any_source
    for i, ch in enumerate(st.text):
        if ch.isalnum():
            a, b = st.raw_span(i, i + 1)
            assert ch in normalize(st.raw[a:b]), (i, ch, st.raw[a:b])


@pytest.mark.parametrize("name", ["kotkin-notes", "wesser-2021", "kotkin-1932"])
def test_raw_is_the_file_as_decoded(name: str) -> None:
    data = (SOURCES / f"{name}.txt").read_bytes()
    assert read_source_text(SOURCES / f"{name}.txt").raw == data.decode("utf-8").removeprefix("\ufeff")


# -- kotkin-notes: mojibake, page locators ------------------------------------------------------


def test_mojibake_is_repaired_by_ftfy_and_maps_to_the_damaged_bytes(notes: SourceText) -> None:
    assert "1928â€“1941" in notes.line(1)
    start, end = span_of(notes, "Waiting for Hitler, 1928–1941 (London")
    raw_start, raw_end = notes.raw_span(start, end)
    assert notes.raw[raw_start:raw_end] == "Waiting for Hitler, 1928â€“1941 (London"
    assert notes.line_col(raw_start) == (1, notes.line(1).index("Waiting") + 1)


def test_page_locators_are_recorded_and_kept_out_of_the_text(notes: SourceText) -> None:
    assert [loc.pages for loc in notes.locators] == ["772", "774-5", "780", "782"]
    assert "(774-5)" not in notes.text and "774-5" not in notes.text
    for loc in notes.locators:
        raw_at = notes.raw_offsets[loc.start]
        assert notes.raw[:raw_at].rstrip().endswith(")") or notes.raw[raw_at - 1:raw_at + 1].strip() != ""


def test_locator_after_a_passage_in_its_paragraph(notes: SourceText) -> None:
    _, end = span_of(notes, "resolute anti-Soviet saboteurs in the newly annexed territories")
    loc = notes.locator_after(end)
    assert loc is not None and loc.pages == "774-5"
    # The locator stood right after "Baltic Republics" in the raw file.
    _, republics_end = span_of(notes, "the Baltic Republics")
    assert loc.start == republics_end
    raw_line, _ = notes.line_col(notes.raw_span(*span_of(notes, "the Baltic Republics"))[0])
    assert "(774-5)" in notes.line(raw_line)


def test_locator_after_does_not_cross_a_paragraph(notes: SourceText) -> None:
    # The Cripps paragraph has no locator; the next one, (780), belongs to a later paragraph.
    _, end = span_of(notes, "Sir Stafford Cripps came in to negotiate with the USSR.")
    assert notes.locator_after(end) is None


def test_locator_followed_by_a_full_stop(notes: SourceText) -> None:
    _, end = span_of(notes, 'dismissed the British as a "supposed "nation of shopkeepers""')
    assert notes.locator_after(end).pages == "780"
    assert "as a supposed nation of shopkeepers." in notes.text


def test_markdown_headings_and_callouts_are_plain_text(notes: SourceText) -> None:
    assert "#" not in notes.text
    assert "what does this passage cover?" in notes.text
    assert "n/a" in notes.text and ">" not in notes.text


# -- wesser: superscript markers, page-break footnote blocks ------------------------------------


def test_page_break_footnote_block_is_cut_and_the_sentence_joined(wesser: SourceText) -> None:
    assert "with american politicians and journalists (including elliot roosevelt himself)" in wesser.text
    assert "2015), 466-67" not in wesser.text  # footnote 1, not the bibliography entry
    assert wesser.footnotes["1"] == Footnote(
        "1", "Susan Butler, *Roosevelt and Stalin: Portrait of a Partnership* (New York: Knopf Doubleday, 2015), 466-67.", 15)
    assert wesser.footnotes["2"].line == 17 and wesser.footnotes["3"] == Footnote("3", "Roosevelt, 251.", 19)
    start, end = span_of(wesser, "American politicians and journalists")
    blocks = [numbers for at, numbers in wesser.note_blocks if start < at < end]
    assert blocks == [("1", "2", "3")]


def test_passage_leaves_out_the_cut_footnote_block(wesser: SourceText) -> None:
    start, end = span_of(wesser, "Stalin continued to grant friendly interviews with American politicians "
                                 "and journalists (including Elliot Roosevelt himself)")
    assert wesser.passage(start, end) == ("Stalin continued to grant friendly interviews with American politicians "
                                          "and journalists (including Elliot Roosevelt himself)")
    raw_start, raw_end = wesser.raw_span(start, end)
    assert "¹ Susan Butler" in wesser.raw[raw_start:raw_end]  # the raw range does include it
    assert wesser.line_col(raw_start)[0] == 13 and wesser.line_col(raw_end)[0] == 21


def test_all_notes_are_parsed(wesser: SourceText) -> None:
    assert sorted(wesser.footnotes, key=int) == [str(n) for n in range(1, 84)]
    assert [number for _, number in wesser.references] == [str(n) for n in range(1, 84)]
    for number, note in wesser.footnotes.items():
        assert wesser.line(note.line).startswith(number.translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")) + " ")


def test_superscript_markers_are_removed_and_recorded(wesser: SourceText) -> None:
    assert "twice he refused. years later" in wesser.text
    assert not any(c in wesser.text for c in "⁰¹²³⁴⁵⁶⁷⁸⁹")
    start, end = span_of(wesser, "Twice he refused.")
    assert (end, "23") in wesser.references


def test_footnotes_for_a_span_ending_at_its_marker(wesser: SourceText) -> None:
    start, end = span_of(wesser, "Molotov would reminisce that at the time Britain “was interested in pushing us "
                                 "into a conflict with the Germans as quickly as possible.”")
    (note,) = wesser.footnotes_for(start, end)
    assert note.number == "24" and "Resis" in note.text and note.text.endswith("28.")
    # Without the closing quote and full stop, the marker still follows before the next sentence.
    start, end = span_of(wesser, "Molotov would reminisce that at the time Britain")
    assert [n.number for n in wesser.footnotes_for(start, end)] == ["24"]


def test_footnotes_for_does_not_reach_into_the_next_sentence(wesser: SourceText) -> None:
    start, end = span_of(wesser, "Twice he refused.")
    assert [n.number for n in wesser.footnotes_for(start, end)] == ["23"]
    start, end = span_of(wesser, "The Hitler-Stalin Pact was signed and sealed")
    assert wesser.footnotes_for(start, end) == ()


def test_footnotes_inside_a_span(wesser: SourceText) -> None:
    start, end = span_of(wesser, "Stalin, however, had no interest in isolating the Soviet Union from the West and "
                                 "postponing its industrialization pending unlikely socialist revolutions abroad. "
                                 "Instead, he insisted")
    assert [n.number for n in wesser.footnotes_for(start, end)] == ["6", "7"]


def test_emphasis_asterisks_are_dropped(wesser: SourceText) -> None:
    assert "*" not in wesser.text
    assert "the next day, izvestia hailed fdr" in wesser.text


def test_escaped_dollar(wesser: SourceText) -> None:
    assert "thirty-year $6 billion" in wesser.text


# -- kotkin-1932: glued endnote numbers, page furniture -----------------------------------------


def test_glued_endnotes_are_removed_and_recorded(kotkin: SourceText) -> None:
    assert [number for _, number in kotkin.references] == [str(n) for n in range(168, 197)]
    assert kotkin.footnotes == {}
    assert "the report claimed. nothing. true enough." in kotkin.text
    assert "forty-" not in kotkin.text and "new divisions. following" in kotkin.text


def test_endnote_after_a_figure_is_not_part_of_the_figure(kotkin: SourceText) -> None:
    assert "would manufacture 2,600. soviet military" in kotkin.text
    assert "2,600.175" not in kotkin.text
    assert "2.2 billion rubles" in kotkin.text  # a decimal stays
    assert "fewer than 2,000 had been manufactured" in kotkin.text
    start, end = span_of(kotkin, "would manufacture 2,600.")
    assert kotkin.references_for(start, end) == ("175",)
    assert kotkin.footnotes_for(start, end) == ()


def test_page_furniture_is_left_out(kotkin: SourceText) -> None:
    assert kotkin.line(1) == "Выбрать главу"
    assert "выбрать" not in kotkin.text
    assert kotkin.text.startswith("a pseudonymous letter from moscow")
    assert kotkin.line_col(kotkin.raw_offsets[0]) == (3, 1)


def test_em_dashes_become_the_plain_dash(kotkin: SourceText) -> None:
    assert "in general-the base of a modern economy, in his view-but now" in kotkin.text


# -- line, column and passage ----------------------------------------------------------------------


def test_line_col_and_slices_agree(wesser: SourceText) -> None:
    start, end = span_of(wesser, "When Operation Barbarossa, the Nazi invasion of the Soviet Union, finally did occur on June 22")
    raw_start, raw_end = wesser.raw_span(start, end)
    line, col = wesser.line_col(raw_start)
    assert wesser.line(line)[col - 1:].startswith("When Operation Barbarossa")
    assert wesser.raw[raw_start:raw_end] == ("When Operation Barbarossa, the Nazi invasion of the Soviet Union, "
                                             "finally did occur on June 22")


def test_passage_with_context(kotkin: SourceText) -> None:
    start, end = span_of(kotkin, "Stalin knew.")
    assert kotkin.passage(start, end) == "Stalin knew."
    # Context counts normalised characters; the original shows the endnote number too.
    assert kotkin.passage(start - len("was little to ration. "), end) == "was little to ration.195 Stalin knew."
    assert kotkin.passage(start, end, context=4) == "on.195 Stalin knew. But"


def test_line_out_of_range(kotkin: SourceText) -> None:
    assert kotkin.line(0) == "" and kotkin.line(10_000) == ""


# -- normalisation rules --------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b"), [
    ("“Now we shall win the war!”", '"Now we shall win the war!"'),
    ("Stalin’s", "Stalin's"),
    ("‘miserable’", "'miserable'"),
    ("«Iron Curtain»", '"Iron Curtain"'),
    ("general—the base", "general - the base"),
    ("general—the base", "general--the base"),
    ("1917–1947", "1917-1947"),
    ("1917 – 1947", "1917-1947"),
    ("Soviet—US", "Soviet − US"),
    ("production ... No longer", "production… No longer"),
    ("production . . . No longer", "production…No longer"),
    ("production [...] No longer", "production … No longer"),
    ("a\u00a0b  c\n\nd\te", "a b c d e"),
    ("indus-\ntrial", "industrial"),
    ("*Izvestia* hailed", "Izvestia hailed"),
    ("**bold** and _Pravda_", "bold and Pravda"),
    ("refused.²³ Years", "refused. Years"),
    ("refused.[^23] Years", "refused. Years"),
    ("‘Nothing.’”168 True", "'Nothing.'\" True"),
    ("“‘Nothing.’” True", "'Nothing.' True"),  # nested quotes flattened
    ("the “Iron Curtain” speech", "the Iron Curtain speech"),
    ("Soviets’ view", "Soviets view"),
    ("STRASSE", "straße"),
    ("cafe\u0301", "café"),
    ("soft\u00adhyphen", "softhyphen"),
    ("zero\u200bwidth", "zerowidth"),
    ("\\$6 billion", "$6 billion"),
    ("1928â€“1941", "1928–1941"),
    ("  padded  ", "padded"),
    ("clone regimes. (772)", "clone regimes."),
])
def test_typography_only_differences_normalise_alike(a: str, b: str) -> None:
    assert normalize(a) == normalize(b)


@pytest.mark.parametrize(("a", "b"), [
    ("June 22", "July 22"),
    ("2,600", "2,500"),
    ("was not at all", "was at all"),
    ("well-known", "wellknown"),
    ("2.2 billion", "2 billion"),
    ("snake_case", "snakecase"),
    ("Stalin's", "Stalins"),
    ("in 1931", "in 1932"),
])
def test_word_differences_survive(a: str, b: str) -> None:
    assert normalize(a) != normalize(b)


def test_normal_forms() -> None:
    assert normalize("Stalin—“the boss’s” … said") == f"stalin{DASH}the boss's{ELLIPSIS}said"
    assert normalize("") == ""
    assert normalize(" \n ") == ""


def test_hyphen_at_a_line_end_before_a_capital_stays() -> None:
    assert normalize("Soviet-French-\nBritish pact") == "soviet-french-british pact"


def test_glued_number_after_a_figure_in_card_text_is_kept() -> None:
    # Without the source's run of endnote numbers, "2,600.175" might be a figure.
    assert normalize("would manufacture 2,600.175 Soviet") == "would manufacture 2,600.175 soviet"


def test_normalize_with_offsets_points_into_the_card_text() -> None:
    card = "Stalin’s  “bold”\u00a0seizure — of *Romanian* territory"
    text, starts, ends = normalize_with_offsets(card)
    assert text == normalize(card)
    assert len(starts) == len(ends) == len(text)
    i = text.index("romanian")
    assert card[starts[i]:ends[i + len("romanian") - 1]] == "Romanian"


def test_white_space_of_every_kind_becomes_one_space() -> None:
    # The rules name the white space characters rather than scanning for \s: every
    # character str.isspace() accepts must be among them, in card text and sources.
    for c in (chr(i) for i in range(sys.maxunicode + 1)):
        if not c.isspace():
            continue
        raw = f"plain{c}{c} word{c}and {c}words"
        for text in (normalize(raw), normalize_with_offsets(raw)[0], load_source_text(raw).text):
            assert "  " not in text and not any(ch.isspace() and ch != " " for ch in text), repr(c)


# -- other shapes of source -----------------------------------------------------------------------


def test_bom_and_crlf(notes: SourceText) -> None:
    crlf = load_source_text("\ufeff" + notes.raw.replace("\n", "\r\n"))
    assert crlf.text == notes.text
    assert crlf.raw == notes.raw.replace("\n", "\r\n")
    assert [loc.pages for loc in crlf.locators] == ["772", "774-5", "780", "782"]
    start, end = span_of(crlf, "Stalin made out like a bandit")
    assert crlf.line_col(crlf.raw_span(start, end)[0]) == (16, 1)
    assert crlf.line(16).startswith("Stalin made out like a bandit")


def test_hard_wrapped_source_with_hyphenation_and_a_footnote_block() -> None:
    raw = ("The growth of indus-\n"
           "trial output was\n"
           "slow in the first\n"
           "\n"
           "¹ Davies, *The Industrialisation*, 12.\n"
           "   continued citation, 13.\n"
           "\n"
           "years of the plan.¹ It then rose.\n")
    st = load_source_text(raw)
    assert st.text == "the growth of industrial output was slow in the first years of the plan. it then rose."
    assert st.footnotes["1"] == Footnote("1", "Davies, *The Industrialisation*, 12. continued citation, 13.", 5)
    start, end = span_of(st, "years of the plan")
    assert [n.number for n in st.footnotes_for(start, end)] == ["1"]
    assert st.passage(*span_of(st, "slow in the first years")) == "slow in the first years"


def test_markdown_footnotes() -> None:
    raw = "Stalin kept it concealed.[^a] Then he spoke.\n\n[^a]: Kotkin, 92.\n"
    st = load_source_text(raw)
    assert st.text == "stalin kept it concealed. then he spoke."
    assert st.footnotes["a"] == Footnote("a", "Kotkin, 92.", 3)
    assert [n.text for n in st.footnotes_for(*span_of(st, "Stalin kept it concealed."))] == ["Kotkin, 92."]


def test_a_year_in_parentheses_is_not_a_page_locator() -> None:
    st = load_source_text("The pact was signed (1939).\n\nNext.\n")
    assert st.locators == () and "(1939)" in st.text


def test_empty_source() -> None:
    st = load_source_text("")
    assert st.text == "" and list(st.raw_offsets) == [0]
    assert st.passage(0, 0) == "" and st.locator_after(0) is None and st.footnotes_for(0, 0) == ()
