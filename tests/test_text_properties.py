"""Properties of normalisation and matching over arbitrary text."""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from deckgen import sourcetext
from deckgen.matching import Corpus
from deckgen.sourcetext import _PLAIN_PASSAGES, load_source_text, normalize, normalize_with_offsets, repair

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Pieces of the typography and apparatus real sources are made of.
TYPOGRAPHY = [
    " ", "  ", "\n", "\n\n", "\r\n", "\t", "\u00a0", "\u2009", "\u3000",
    "'", '"', "‘", "’", "“", "”", "«", "»", "„",
    "-", "–", "—", "−", "--", " - ", " — ",
    "...", "…", ". . .", "[...]", ".", ",", ";", ":", "!", "?", "(", ")", "[", "]",
    "*", "**", "_", "\\", "#", "## ", "> ", "[^1]", "[^a]: ",
    "¹", "²³", "⁴⁵", "¹ ", "\n¹ ", "168", "2,600", "2.2",
    "(772)", "(774-5)", "(1941)", ".175 ",
    "\u00ad", "\u200b", "\ufeff", "\u0301", "ﬁ", "ß", "İ", "Ǆ", "ﬀ",
    "â€“", "Ã©", "Ð¿", "\x00", "\x1b[31m", "\x85", "\u2028",
    "Выбрать главу", "\n-\n", "-\n", "indus-\ntrial",
]
WORD_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéèüößñçЖжёЁПпΩω"

words = st.text(alphabet=WORD_LETTERS, min_size=1, max_size=8)
pieces = st.one_of(words, st.sampled_from(TYPOGRAPHY), st.text(max_size=3))
messy = st.lists(pieces, max_size=40).map("".join)
anything = st.one_of(messy, st.text(max_size=200))


@settings(max_examples=1200, **SETTINGS)
@given(anything)
def test_loading_never_fails_and_offsets_are_sound(raw: str) -> None:
    source = load_source_text(raw)
    raw = source.raw
    offsets = list(source.raw_offsets)
    assert len(offsets) == len(source.text) + 1
    assert all(a <= b for a, b in zip(offsets, offsets[1:]))
    assert all(0 <= r <= len(raw) for r in offsets)
    assert offsets[-1] == len(raw)
    for i, ch in enumerate(source.text):
        a, b = source.raw_span(i, i + 1)
        assert 0 <= a < b <= len(raw)
        if ch.isalnum() and ch not in normalize(raw[a:b]):
            # The raw characters behind a letter or digit normalise to something holding
            # it, except where ftfy repaired mojibake judging by the rest of the line;
            # then the repaired line must hold it. (Normalising the repaired line repairs
            # it again, and a repair can itself look like mojibake: "Œß" becomes "χ".)
            line = source.line(source.line_col(a)[0])
            repaired = repair(line)
            assert repaired != line and (ch in normalize(repaired) or ch in repaired.casefold()), (ch, raw[a:b])
    for offset, _ in source.references:
        assert 0 <= offset <= len(source.text)
    for loc in source.locators:
        assert 0 <= loc.start <= len(source.text)
    line, col = source.line_col(offsets[0] if source.text else 0)
    assert line >= 1 and col >= 1


@settings(max_examples=1500, **SETTINGS)
@given(anything)
def test_normalising_twice_changes_nothing(s: str) -> None:
    once = normalize(s)
    assert normalize(once) == once
    assert once == once.strip()
    assert "  " not in once and "\n" not in once


@settings(max_examples=600, **SETTINGS)
@given(anything)
def test_source_text_is_already_normal(raw: str) -> None:
    text = load_source_text(raw).text
    assert normalize(text) == text


@settings(max_examples=500, **SETTINGS)
@given(anything)
def test_offsets_of_card_text_point_into_it(s: str) -> None:
    text, starts, ends = normalize_with_offsets(s)
    assert text == normalize(s)
    assert all(0 <= a < b <= len(s) for a, b in zip(starts, ends))
    assert list(starts) == sorted(starts)


@settings(max_examples=800, **SETTINGS)
@given(anything)
def test_the_patterns_for_text_with_fewer_marks_find_what_the_general_ones_find(s: str) -> None:
    # Text with no double quote is searched for quotation marks, and text whose only dash is
    # the hyphen for dashes, with patterns that start with one character (a faster search).
    spans = lambda pattern, text: [m.span() for m in pattern.finditer(text)]  # noqa: E731
    no_double_quotes = s.replace('"', "")
    assert spans(sourcetext._LOOSE_QUOTE, no_double_quotes) == spans(sourcetext._QUOTE_MARK, no_double_quotes)
    hyphens_only = "".join("-" if c in sourcetext._DASH_CHARS.chars else c for c in s)
    assert spans(sourcetext._HYPHEN, hyphens_only) == spans(sourcetext._DASH, hyphens_only)


@settings(max_examples=800, **SETTINGS)
@given(anything)
def test_text_only_and_offset_tracking_normalise_alike(s: str) -> None:
    # normalize() runs the passes without offsets, normalize_with_offsets() with them.
    assert normalize(s) == normalize_with_offsets(s)[0]


@settings(max_examples=600, **SETTINGS)
@given(anything, st.data())
def test_passage_is_the_raw_text_behind_a_span_without_cut_blocks(raw: str, data) -> None:
    source = load_source_text(raw)
    n = len(source.text)
    start = data.draw(st.integers(-2, n + 2))
    end = data.draw(st.integers(start, n + 3))
    context = data.draw(st.integers(0, 4))
    a, b = max(0, start - context), min(n, end + context)
    expected = ""
    if b > a:
        ra, rb = source.raw_span(a, b)
        # A cut-out block reads as white space.
        chars = [" " if any(x <= i < y for x, y in source.removed) else source.raw[i] for i in range(ra, rb)]
        expected = " ".join("".join(chars).split())
    # The first passages are cut from the raw text, the later ones from its collapsed copy.
    for _ in range(_PLAIN_PASSAGES + 2):
        assert source.passage(start, end, context) == expected


@settings(max_examples=400, **SETTINGS)
@given(anything, st.data())
def test_a_span_in_context_is_three_passages(raw: str, data) -> None:
    source = load_source_text(raw)
    n = len(source.text)
    start = data.draw(st.integers(0, n))
    end = data.draw(st.integers(start, n))
    context = data.draw(st.integers(0, 6))
    for _ in range(_PLAIN_PASSAGES + 2):  # from the raw text, then from its collapsed copy
        assert source.in_context(start, end, context) == (
            source.passage(max(0, start - context), start), source.passage(start, end),
            source.passage(end, min(n, end + context)))


SEPARATORS = [" ", " ", " ", "\n", "\u00a0", "  ", "\t", " \n "]
JUNK = ["*", "“", "”", "—", "-", "...", "…", "(772)", ",", ".", ";", "(", ")", "\u00ad", "\u200b", "#",
        ">", "_", "168", "2,600", "â€“"]
# Glued to the token before them, as note markers are (at a line start they would
# begin a footnote, which is not part of the text).
MARKERS = ["¹", "²³", ".⁴", ",[^5]", "\u00ad"]


@st.composite
def source_with_plain_span(draw):
    """A raw text of words, white space and junk, and a run of its words separated
    only by white space: (raw, start, end) of that run."""
    tokens = draw(st.lists(st.one_of(words.map(lambda w: ("w", w)), st.sampled_from(JUNK).map(lambda j: ("j", j)),
                                     st.sampled_from(MARKERS).map(lambda m: ("m", m))),
                           min_size=1, max_size=60))
    assume(any(kind == "w" for kind, _ in tokens))
    parts: list[str] = []
    spans: list[tuple[int, int, str]] = []
    pos = 0
    for kind, tok in tokens:
        if not parts and kind == "m":
            continue
        if parts and kind != "m":
            sep = draw(st.sampled_from(SEPARATORS))
            parts.append(sep)
            pos += len(sep)
        parts.append(tok)
        spans.append((pos, pos + len(tok), kind))
        pos += len(tok)
    raw = "".join(parts)
    word_indexes = [i for i, (_, _, kind) in enumerate(spans) if kind == "w"]
    first = draw(st.sampled_from(word_indexes))
    last = first
    while last + 1 < len(spans) and spans[last + 1][2] == "w" and draw(st.booleans()):
        last += 1
    # A marker glued after the first or last word is not part of the run.
    assume(spans[first][2] == "w" and spans[last][2] == "w")
    return raw, spans[first][0], spans[last][1]


@settings(max_examples=1000, **SETTINGS)
@given(source_with_plain_span())
def test_a_run_of_plain_words_is_found_where_it_stands(case) -> None:
    raw, a, b = case
    span = raw[a:b]
    # Junk and markers next to a word can spell mojibake with it ("â€“ ç²³" is
    # "– 粳"): ftfy then repairs the word away.
    assume(normalize(span) in normalize(repair(raw)))
    source = load_source_text(raw)
    corpus = Corpus({"s": source})
    match = corpus.find(span, "s")
    assert match is not None, (span, source.text)
    assert normalize(raw[match.raw_start:match.raw_end]) == normalize(span)
    assert match.raw_start <= a
    needle = normalize(span)
    occurrences = sum(source.text.startswith(needle, i) for i in range(len(source.text)))
    if occurrences == 1:
        assert (match.raw_start, match.raw_end) == (a, b)
        assert (match.line, match.col) == (raw.count("\n", 0, a) + 1, a - (raw.rfind("\n", 0, a) + 1) + 1)
    assert match in corpus.locate_all([span])[span]


@settings(max_examples=400, **SETTINGS)
@given(st.lists(words, min_size=2, max_size=12), st.data())
def test_typography_never_changes_the_normal_form(ws: list[str], data) -> None:
    plain = " ".join(ws)
    dressed = ws[0]
    for w in ws[1:]:
        dressed += data.draw(st.sampled_from([" ", "\n", "\u00a0", "  ", " \t", "\r\n"])) + w
    emphasised = data.draw(st.sampled_from(["{}", "*{}*", "“{}”", "{}¹", "{}"]))
    quoted = emphasised.format(dressed)
    expected = normalize(emphasised.replace("“", '"').replace("”", '"').replace("¹", "").replace("*", "")
                         .format(plain))
    assert normalize(quoted) == expected


@settings(max_examples=400, **SETTINGS)
@given(st.lists(words, min_size=3, max_size=15, unique_by=str.casefold), st.data())
def test_a_changed_word_is_not_found(ws: list[str], data) -> None:
    source = load_source_text(" ".join(ws) + ".")
    i = data.draw(st.integers(0, len(ws) - 1))
    new = data.draw(words)
    assume(normalize(new) != normalize(ws[i]))
    changed = ws[:i] + [new] + ws[i + 1:]
    assume(normalize(" ".join(changed)) not in source.text)
    assert Corpus({"s": source}).find(" ".join(changed), "s") is None


MOJIBAKE = ["â€“", "Ã©", "â€œ", "Ã¼ber", "Ã", "Â ", "\x00", "é", "—", "\u00a0"]


@settings(max_examples=300, **SETTINGS)
@given(st.lists(st.one_of(pieces, st.sampled_from(MOJIBAKE), st.sampled_from(["\n", "\r\n", "\r", "\n\n"])),
                max_size=60).map("".join))
def test_lines_are_shown_to_ftfy_as_if_each_were(raw: str) -> None:
    """Only the lines holding a character ftfy could repair go to it; every line comes out as
    if each had gone."""
    lines = sourcetext._split_lines(raw)
    assert [(ln.fixed, ln.edits) for ln in lines] == [
        sourcetext._ftfy_edits(raw[ln.start:ln.end], ln.start) for ln in lines]
    assert "".join(raw[ln.start:ln.eol_end] for ln in lines) == raw


MARKUP = ["<em>", "</em>", "<b>x</b>", "<br>", "<script>", "&", "&amp;", "<", ">", "[sound:a.mp3]", "\\(", "\\[",
          "[anki:tts]", "[$]", "[latex]", "*", "**", "\n", "\r", "\x00", "\u00a0", "\ufeff", "\ud800"]


@settings(max_examples=800, **SETTINGS)
@given(st.one_of(messy, st.lists(st.one_of(pieces, st.sampled_from(MARKUP)), max_size=20).map("".join)))
def test_text_left_as_it_is_is_what_marking_it_up_gives(text: str) -> None:
    from deckgen.render import _marked_up, inline_html

    try:
        expected = _marked_up(text.strip()) if text else ""
    except UnicodeEncodeError:  # a lone surrogate: nh3 refuses it, and so must the quick way
        try:
            inline_html(text)
        except UnicodeEncodeError:
            return
        raise AssertionError("text that cannot be encoded went through unchecked") from None
    assert inline_html(text) == expected


# Text close to the kind `_settled` accepts: lower-case words, the punctuation it allows, and
# some of what the rules act on.
SETTLED_PIECES = ["a", "b", "z", "0", "1", "9", "175", " ", "  ", ",", ".", ";", ":", "!", "?", "'", "-", "--",
                  "..", "…", "A", "é", "(", ")", "*", "_", '"', "’", "—", "\n", "\u00a0", "#", ">", "¹", "\u00ad"]


@settings(max_examples=3000, **SETTINGS)
@given(st.one_of(st.text(alphabet="ab19 ,.;:!?'-", max_size=20),
                 st.lists(st.sampled_from(SETTLED_PIECES), max_size=30).map("".join), messy))
def test_text_judged_settled_is_left_as_it_is_by_the_rules(text: str) -> None:
    """`_settle` stops without applying the rules once more to text `_settled` accepts: the
    rules must leave every such text as it is."""
    if sourcetext._settled(text):
        assert sourcetext._core(sourcetext._Buf.identity(text, track=False)).text == text
    once = sourcetext._core(sourcetext._Buf.identity(text, track=False)).text
    if sourcetext._settled(once):
        assert sourcetext._core(sourcetext._Buf.identity(once, track=False)).text == once


# Card text that may need only a few string operations, and some that needs more.
PLAIN_PIECES = ["Stalin", "the", "NKVD", "1937", " ", "  ", ",", ".", ";", ":", "!", "?", "'", "’", "‘", "-",
                "--", "..", ". .", "(", ")", "*", "**", "_", '"', "“", "”", "—", "–", " – ", " — ", "- ", " -",
                "‐", "−", "\n", "\t", "175", ".175 ", '"12 ', "Men", "(p. 5)", "(1941)", "A", "é", "…",
                "\u00ad", "\u00a0", "¹", "ʼ", "＇", "″", "«", "‚", "#", ">", "[", "\\"]


@settings(max_examples=4000, **SETTINGS)
@given(st.one_of(st.lists(st.sampled_from(PLAIN_PIECES), max_size=30).map("".join),
                 st.text(alphabet="abAB19 ,.;:!?'’‘ʼ＇\"“*-–—()", max_size=25), messy))
def test_text_normalised_by_string_operations_is_what_the_rules_give(text: str) -> None:
    """`normalize` takes most card text through a few string operations without running the
    rules: the result must be what running them gives."""
    quick = sourcetext._plainly_normal(text)
    if quick is not None:
        assert quick == sourcetext._normalize_buf(text, track=False).text


def test_most_card_text_is_normalised_by_string_operations() -> None:
    plain = sourcetext._plainly_normal
    assert plain("Stalin’s purge began in 1936, and ended in 1938.") == "stalin's purge began in 1936, and ended in 1938."
    assert plain("The “Great Break” of 1929 — *collectivisation* – began") == \
        "the great break of 1929-collectivisation-began"
    assert plain("1926–1929") == "1926-1929"
    assert plain("victory.175 Then") is None  # an endnote number goes, by a rule that reads case
    assert plain('"12 Men" of the Politburo') is None  # so does a number after a quotation mark
    assert plain("a — — b") is None  # two dashes apart come together only when the rules run again
    assert plain("Ends . . . there") is None  # an ellipsis
    for text in ["victory.175 Then", '"12 Men" of the Politburo', "a — — b", "Ends . . . there"]:
        assert normalize(text) == sourcetext._normalize_buf(text, track=False).text


LINE_PIECES = ["#", "##", "#######", ">", ">>", " ", "  ", "\t", "\n", "\n\n", "x", "Stalin", "# ", "> ",
               "\r", "\u00a0", "\u2028", "-"]


@settings(max_examples=3000, **SETTINGS)
@given(st.one_of(st.lists(st.sampled_from(LINE_PIECES), max_size=30).map("".join), messy))
def test_line_markup_is_found_where_the_pattern_tried_everywhere_finds_it(text: str) -> None:
    """Heading and block-quote markers are looked for from their characters, not by trying the
    pattern at every position: the matches must be the very ones that trying gives."""
    tried_everywhere = sourcetext._LINE_MARKUP.pattern  # the same pattern, searched for by the regex engine
    found = [(m.span(), m.group()) for m in sourcetext._LINE_MARKUP.finditer(text)]
    assert found == [(m.span(), m.group()) for m in tried_everywhere.finditer(text)]


@settings(max_examples=3000, **SETTINGS)
@given(st.one_of(st.lists(st.sampled_from(["\n", "\n\n", "x", " ", "é", "\u2028", "\x85", "\x0c"]),
                          max_size=30).map("".join), messy))
def test_lines_are_split_as_the_line_pattern_finds_them(text: str) -> None:
    """Text whose line breaks are all line feeds is split without the regex: the lines must be
    the ones the pattern finds, with the same offsets, and a final line break yields no empty line.
    (Text with a carriage return is split by the pattern itself.)"""
    text = text.replace("\r", "")
    by_pattern = [(m.start(), m.group().rstrip("\n"), m.end()) for m in sourcetext._LINE.finditer(text) if m.group()]
    assert list(sourcetext._segments(text)) == by_pattern
