"""What a learner sees on each card, checked with the real Anki engine.

The shipped deck is built and imported into a fresh collection; every card's
front and back must carry what its note type promises. The preview's renderer
must produce exactly what Anki produces. Night mode must restyle every colour.
Hostile text in any field, and in the source itself, must stay inert.
"""

from __future__ import annotations

import dataclasses
import html
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from anki_support import AnkiCollection, visible_text
from conftest import copy_project
from deckgen import pipeline
from deckgen.dates import parse_claim
from deckgen.notetypes import NOTE_TYPES
from deckgen.preview import (AnkiTemplate, NoteTypeFaces, field_is_empty, render_site, reveal_cloze,
                             write_preview)
from deckgen.render import (Renderer, default_templates_dir, inline_html, needs_space, page_label, source_html,
                            template_reads)

CLOZE = re.compile(r"\{\{c(\d+)::(.*?)(?:::(.*?))?\}\}", re.S)


# --------------------------------------------------------------------------------------
# The shipped deck, built once and imported once
# --------------------------------------------------------------------------------------


class Deck:
    def __init__(self, root: Path, collection: AnkiCollection):
        self.root = root
        self.col = collection
        self.check = pipeline.check_project(root)
        self.yaml: dict[str, dict] = {}
        for path in sorted((root / "cards").glob("*.yaml")):
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            for card in data["cards"]:
                self.yaml[card["id"]] = {**card, "_source": card.get("source", data.get("source"))}
        self.sources = {s["id"]: s for s in
                        yaml.safe_load((root / "sources" / "sources.yaml").read_text(encoding="utf-8"))["sources"]}


@pytest.fixture(scope="module")
def deck(tmp_path_factory) -> Deck:
    root = copy_project(tmp_path_factory.mktemp("shipped") / "project")
    result = pipeline.build_project(root)
    collection = AnkiCollection(root / "collection.anki2")
    collection.import_package(result.outputs[0])
    yield Deck(root, collection)
    collection.close()


def shown(value) -> str:
    """A YAML value as a reader sees it on the card."""
    return visible_text(inline_html(str(value)))


def test_every_card_shows_what_its_type_promises(deck: Deck):
    cards = deck.col.cards()
    assert len(cards) >= len(deck.yaml)
    kinds = set()
    for card in cards:
        note = card.note()
        card_id = note["CardId"]
        data = deck.yaml[card_id]
        kind = data["type"]
        kinds.add((kind, card.ord))
        output = card.render_output()
        question, answer = output.question_text, output.answer_text
        front, back = visible_text(question), visible_text(answer)
        where = f"{card_id} (card {card.ord + 1})"

        if kind == "quote" and card.ord == 0:
            assert shown(data["quote"]) in front, where
            assert "dg-speaker" not in question, where
            assert shown(data["speaker"]) in back, where
            if data.get("context"):
                assert shown(data["context"]) in back, where
            if data.get("date") is not None:
                assert parse_claim(data["date"]).human() in back, where
        elif kind == "quote":
            assert data.get("ask"), f"{where}: a second quote card without `ask`"
            assert shown(data["ask"]) in front and shown(data["quote"]) not in front, where
            assert shown(data["quote"]) in back and shown(data["speaker"]) in back, where
        elif kind == "cloze":
            number = card.ord + 1
            deletions = [m for m in CLOZE.finditer(data["text"]) if int(m.group(1)) == number]
            assert deletions, where
            for m in deletions:
                hint = m.group(3)
                assert f">[{html.escape(hint, quote=False) if hint else '...'}]</span>" in question, where
                assert f'<span class="cloze" data-ordinal="{number}">{inline_html(m.group(2))}</span>' in answer, where
        elif kind == "fact":
            assert shown(data["front"]) in front and shown(data["back"]) in back, where
            assert "dg-answer" not in question, where
        elif kind == "date":
            human = parse_claim(data["date"]).human()
            event = shown(data["event"])
            if card.ord == 0:
                assert event in front and "When?" in front, where
                assert re.search(rf'class="dg-answer[^"]*">{re.escape(human)}</div>', answer), where
            else:
                assert re.search(rf'dg-date-question">{re.escape(human)}</div>', question), where
                assert "What happened?" in front and event in back, where
        elif kind == "figure":
            assert shown(data["prompt"]) in front, where
            assert "dg-value" not in question, where
            assert re.search(rf'dg-value">{re.escape(inline_html(str(data["value"])))}</div>', answer), where

        # Every back: citation, passage with its highlighted span, the card's id.
        source = deck.sources[data["_source"]]
        assert f'{source["author"]}, {visible_text(source["title"])}' in back, where
        assert card_id in back.split()[-1], f"{where}: the id should close the back"
        assert "<mark>" in answer, where
        anchor = deck.check.checked.anchors[card_id]
        assert visible_text(source_html(anchor.matched)) in back, where
        for cited in anchor.notes:
            assert f"n. {cited.number}, citing {visible_text(inline_html(cited.text))}" in back, where
        if data.get("note"):
            assert shown(data["note"]) in back, where
    assert {k for k, _ in kinds} == set(NOTE_TYPES), "the shipped deck should exercise every note type"
    assert ("date", 0) in kinds and ("date", 1) in kinds


def test_back_cites_the_footnote_its_evidence_carries(deck: Deck):
    """"Wesser 2021, n. 50, citing Butler, …": author, title, year, then the note and what it cites."""
    cited = [(cid, a) for cid, a in deck.check.checked.anchors.items() if a.notes]
    assert cited, "some shipped card should rest on footnoted evidence"
    card_id, anchor = cited[0]
    note = deck.col.note_by_card_id(card_id)
    # Markup boundaries are not spaces to a reader.
    citation = re.sub(r"\s+([,;.])", r"\1", visible_text(note["Citation"]))
    source = deck.sources[anchor.source_id]
    expected = (f'{source["author"]}, {source["title"]} ({source["year"]}), '
                f'n. {anchor.notes[0].number}, citing {visible_text(inline_html(anchor.notes[0].text))}')
    assert citation.startswith(expected)


def test_the_preview_renders_every_card_exactly_as_anki_does(deck: Deck):
    renderer = Renderer(pipeline.templates_dir_for(deck.check.project), deck.root)
    faces = {spec.name: NoteTypeFaces(renderer.compile_notetype(spec)) for spec in NOTE_TYPES.values()}
    by_note: dict[int, list] = {}
    for card in deck.col.cards():
        by_note.setdefault(card.nid, []).append(card)
    for cards in by_note.values():
        note = cards[0].note()
        ours = {c.ordinal: c for c in faces[note.note_type()["name"]].cards(list(note.fields))}
        assert sorted(ours) == sorted(c.ord for c in cards), note["CardId"]
        for card in cards:
            output = card.render_output()
            assert ours[card.ord].question == output.question_text, note["CardId"]
            assert ours[card.ord].answer == output.answer_text, note["CardId"]


EDGE_FIELDS = ["A", "B", "C"]
EDGE_TEMPLATES = [
    ("{{A}}{{#B}}<b>{{B}}</b>{{/B}}{{^C}}<i>no C</i>{{/C}}", "{{FrontSide}}<hr id=answer>{{#C}}[{{C}}]{{/C}}"),
    ("{{#B}}{{#C}}{{A}}: both{{/C}}{{/B}}", "{{ FrontSide }}{{^B}}nothing{{/B}}"),
    ("{{^A}}{{B}}{{/A}}", "{{B}}"),
]
EDGE_NOTES = [
    ["alpha", "beta", "gamma"],
    ["alpha", "", "<br>"],
    ["", "beta", "  <div></div> "],
    ["<br/>", "beta", "gamma"],
    ["x", "<div> </div>", ""],
]
CLOZE_TEXTS = [
    "{{c1::Moscow}} and {{c2::Berlin::a capital}} and {{c1::Tokyo}}",
    "<b>{{c1::bold &amp; <i>italic</i>}}</b> then {{c3::three}}",
    "{{c2::only two}} here, {{c1::one:: with hint}}",
    "unclosed {{c1::x and }} stray }} {{c2::y}}",
    "{{c1::outer {{c2::inner}} rest}} tail",
    "accents {{c1::Łódź — “quoted” 50%}}",
]


def _faces_for(spec_name: str, fields: list[str], templates: list[tuple[str, str]], cloze: bool) -> NoteTypeFaces:
    from deckgen.notetypes import FieldSpec, NoteTypeSpec, TemplateSpec
    from deckgen.render import CompiledNoteType

    spec = NoteTypeSpec(key=spec_name, name=spec_name, id=1, is_cloze=cloze,
                        fields=tuple(FieldSpec(f, i) for i, f in enumerate(fields)),
                        templates=tuple(TemplateSpec(f"T{i}", i, "", "") for i in range(len(templates))))
    return NoteTypeFaces(CompiledNoteType(spec, tuple((f"T{i}", i, q, a) for i, (q, a) in enumerate(templates)), ""))


def test_template_renderer_matches_anki_on_sections_negations_and_cloze_edges(tmp_path):
    collection = AnkiCollection(tmp_path / "edges.anki2")
    try:
        col = collection.col
        models = col.models
        basic = models.new("edge basic")
        for name in EDGE_FIELDS:
            models.add_field(basic, models.new_field(name))
        for i, (q, a) in enumerate(EDGE_TEMPLATES):
            t = models.new_template(f"T{i}")
            t["qfmt"], t["afmt"] = q, a
            models.add_template(basic, t)
        models.add(basic)
        cloze_model = models.new("edge cloze")
        cloze_model["type"] = 1
        for name in ("Text", "Extra"):
            models.add_field(cloze_model, models.new_field(name))
        t = models.new_template("Cloze")
        t["qfmt"], t["afmt"] = "{{cloze:Text}}", "{{cloze:Text}}{{#Extra}}<p>{{Extra}}</p>{{/Extra}}"
        models.add_template(cloze_model, t)
        models.add(cloze_model)

        cases = [(models.by_name("edge basic"), values, _faces_for("b", EDGE_FIELDS, EDGE_TEMPLATES, False))
                 for values in EDGE_NOTES]
        cloze_faces = _faces_for("c", ["Text", "Extra"], [(t["qfmt"], t["afmt"])], True)
        cases += [(models.by_name("edge cloze"), [text, "more"], cloze_faces) for text in CLOZE_TEXTS]
        deck_id = col.decks.id("edges")
        for model, values, faces in cases:
            note = col.new_note(model)
            for i, value in enumerate(values):
                note.fields[i] = value
            col.add_note(note, deck_id)
            anki_cards = {c.ord: c.render_output() for c in note.cards()}
            ours = {c.ordinal: c for c in faces.cards(values)}
            assert sorted(ours) == sorted(anki_cards), values
            for ordinal, output in anki_cards.items():
                assert ours[ordinal].question == output.question_text, (values, ordinal)
                assert ours[ordinal].answer == output.answer_text, (values, ordinal)
    finally:
        collection.close()


def test_field_emptiness_and_cloze_reveal_follow_anki():
    assert field_is_empty("") and field_is_empty(" <br> <div></div>\n") and field_is_empty("<BR/>")
    assert not field_is_empty("&nbsp;") and not field_is_empty("<b></b>")
    assert reveal_cloze("{{c1::a::hint}} {{c2::b}}", 1, True).startswith('<span class="cloze" data-cloze="a" '
                                                                        'data-ordinal="1">[hint]</span>')
    assert reveal_cloze("{{c1::a}}", 2, True) == ""
    assert AnkiTemplate("{{#A}}{{B}}{{/A}}").renders_with({"A", "B"})
    assert AnkiTemplate("{{^A}}{{B}}{{/A}}").renders_with({"B"})
    assert not AnkiTemplate("{{#A}}{{B}}{{/A}}").renders_with({"B"})


# --------------------------------------------------------------------------------------
# Night mode and the style sheet
# --------------------------------------------------------------------------------------

_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
_COLOUR_PROPS = ("color", "background-color", "background", "border-left-color", "border-top-color", "border-left",
                 "border-top", "border", "border-bottom")


def _css_rules(css: str) -> list[tuple[list[str], dict[str, str]]]:
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    css = re.sub(r"@media[^{]*\{((?:[^{}]*\{[^{}]*\})*)\s*\}", r"\1", css)
    rules = []
    for selectors, body in _RULE.findall(css):
        declarations = {}
        for part in body.split(";"):
            if ":" in part:
                key, value = part.split(":", 1)
                declarations[key.strip()] = value.strip()
        rules.append(([s.strip() for s in selectors.split(",")], declarations))
    return rules


def _colour_props(declarations: dict[str, str]) -> set[str]:
    found = set()
    for key, value in declarations.items():
        if key in ("color", "background-color", "background") or (key.startswith("border") and "#" in value):
            found.add("color" if key == "color" else "background" if key.startswith("background") else "border")
    return found


def _unprefixed(selector: str) -> str:
    # ".card .cloze" and ".cloze" name the same element inside a card.
    return re.sub(r"^\.card\s+", "", selector)


def test_every_colour_has_a_night_counterpart_for_both_anki_classes(deck: Deck):
    css = Renderer(pipeline.templates_dir_for(deck.check.project)).compile_notetype(NOTE_TYPES["quote"]).css
    rules = _css_rules(css)
    night: dict[str, dict[str, set[str]]] = {"nightMode": {}, "night_mode": {}}
    day: dict[str, set[str]] = {}
    for selectors, declarations in rules:
        props = _colour_props(declarations)
        if not props:
            continue
        for selector in selectors:
            for cls in night:
                if f".{cls}" in selector:
                    bare = re.sub(rf"\.{cls}\.?\s*", "", selector).strip() or ".card"
                    night[cls].setdefault(_unprefixed(bare), set()).update(props)
                    break
            else:
                day.setdefault(_unprefixed(selector), set()).update(props)
    for cls, covered in night.items():
        assert {"color", "background"} <= covered.get(".card", set()), f".{cls}.card must set text and background"
        for selector, props in day.items():
            assert props <= covered.get(selector, set()), f"{selector} sets {props} with no .{cls} counterpart"
    # Anki sets the class on the element that carries .card, so the compound selector must be there.
    assert ".nightMode.card" in css and ".night_mode.card" in css
    assert "@import" not in css and "url(" not in css and "@font-face" not in css


def _luminance(hex_colour: str) -> float:
    r, g, b = (int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5))

    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def test_card_colours_are_readable_in_day_and_night(deck: Deck):
    """WCAG AA (4.5:1) for every text colour against the background it sits on."""
    css = Renderer(pipeline.templates_dir_for(deck.check.project)).compile_notetype(NOTE_TYPES["fact"]).css
    rules = _css_rules(css)

    def pick(selector_part: str, prop: str, night: bool) -> str:
        value = None
        for selectors, declarations in rules:
            for selector in selectors:
                if selector_part in selector and (("night" in selector.lower()) == night) and prop in declarations:
                    value = declarations[prop]
        assert value, (selector_part, prop, night)
        return value

    for night in (False, True):
        background = pick(".card", "background-color", night)
        assert (_luminance(background) < 0.05) == night
        for part in (".card", ".dg-cue", ".dg-prompt", ".dg-id", ".dg-source", ".dg-label", ".cloze"):
            colour = pick(part, "color", night)
            lighter, darker = sorted((_luminance(colour), _luminance(background)), reverse=True)
            ratio = (lighter + 0.05) / (darker + 0.05)
            assert ratio >= 4.5, f"{part} {'night' if night else 'day'}: {colour} on {background} is {ratio:.2f}:1"
        mark_bg, mark_fg = pick(".dg-passage mark", "background-color", night), pick(".dg-passage mark", "color", night)
        lighter, darker = sorted((_luminance(mark_fg), _luminance(mark_bg)), reverse=True)
        assert (lighter + 0.05) / (darker + 0.05) >= 4.5


# --------------------------------------------------------------------------------------
# Hostile text stays text
# --------------------------------------------------------------------------------------

PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<img src=http://evil.example/x.png>",
    '<a href="javascript:alert(1)">x</a>',
    "<style>body{display:none}</style>",
    '<iframe src="http://evil.example/"></iframe>',
    "<svg onload=alert(1)>",
    "<em onclick=alert(1)>x</em>",
    "[sound:evil.mp3]",
    r"\(\href{javascript:alert(1)}{x}\)",
]
HOSTILE = " ".join(PAYLOADS)

HOSTILE_SOURCE = r"""Reports from the envoy

The envoy wrote <script>alert(1)</script> in his first report to Moscow in 1931, and nobody noticed.

He then added <img src=x onerror=alert(1)> to his second report, dated 1932, which reached the politburo.

A third report carried <img src=http://evil.example/x.png> and <a href="javascript:alert(1)">a link</a> to the commission in 1933.

The fourth report held <style>body{display:none}</style> and <iframe src="http://evil.example/"></iframe> for the readers of 1934.

The fifth report played [sound:evil.mp3] and typeset \(\href{javascript:alert(1)}{x}\) for the readers of 1935, counting 2,600 tanks.
"""


def hostile_project(root: Path) -> Path:
    """Cards whose every free text field is hostile, resting on a source that is hostile too, yet all valid."""
    copy_project(root, parts=("deckgen.yaml",))
    (root / "sources").mkdir()
    (root / "cards").mkdir()
    (root / "sources" / "hostile.txt").write_text(HOSTILE_SOURCE, encoding="utf-8")
    (root / "sources" / "sources.yaml").write_text(yaml.safe_dump({"sources": [{
        "id": "hostile", "file": "hostile.txt", "author": "Eve <script>alert(1)</script> Mallory",
        "title": "<img src=x onerror=alert(1)>Reports <a href='javascript:alert(1)'>x</a>", "year": 2024,
    }]}), encoding="utf-8")
    cards = [
        {"id": "q-script", "type": "quote", "quote": "The envoy wrote <script>alert(1)</script> in his first report",
         "speaker": f"The envoy {HOSTILE}", "context": f"Context {HOSTILE}", "date": 1931, "ask": f"Ask {HOSTILE}",
         "note": f"Note {HOSTILE}", "tags": ["<img/src=x/onerror=alert(1)>"]},
        {"id": "q-img", "type": "quote", "quote": "He then added <img src=x onerror=alert(1)> to his second report",
         "speaker": "He", "page": "<img src=x onerror=alert(1)>"},
        {"id": "c-remote", "type": "cloze",
         "text": 'A third report carried <img src=http://evil.example/x.png> and <a href="javascript:alert(1)">a link'
                 "</a> to the commission in {{c1::1933::<img src=x onerror=alert(1)>}}.",
         "extra": f"Extra {HOSTILE}"},
        {"id": "f-style", "type": "fact", "front": f"Front {HOSTILE}", "back": f"Back {HOSTILE}",
         "evidence": 'The fourth report held <style>body{display:none}</style> and <iframe src="http://evil.example/">'
                     "</iframe> for the readers of 1934."},
        {"id": "d-sound", "type": "date", "event": f"Event {HOSTILE}", "date": 1935,
         "evidence": r"The fifth report played [sound:evil.mp3] and typeset \(\href{javascript:alert(1)}{x}\) for "
                     "the readers of 1935"},
        {"id": "g-figure", "type": "figure", "prompt": f"Prompt {HOSTILE}", "value": "2,600",
         "evidence": "counting 2,600 tanks", "note": f"Note {HOSTILE}"},
    ]
    (root / "cards" / "hostile.yaml").write_text(yaml.safe_dump({
        "theme": "Hostile <script>alert(1)</script> <img src=x onerror=alert(1)>", "source": "hostile",
        "tags": ["<script>alert(1)</script>"], "cards": cards,
    }, allow_unicode=True, sort_keys=False, width=10_000), encoding="utf-8")
    return root


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)


CARD_TAGS = {"div", "span", "hr", "blockquote", "mark", "i", "em", "b", "strong", "u", "br", "sub", "sup"}


def assert_inert(fragment: str, where: str, allowed_tags=CARD_TAGS) -> str:
    parser = _Elements()
    parser.feed(fragment)
    parser.close()
    for tag, attrs in parser.tags:
        assert tag in allowed_tags, f"{where}: <{tag}> element"
        for name, value in attrs.items():
            assert not name.startswith("on"), f"{where}: {name} handler on <{tag}>"
            assert name not in ("src", "srcset", "href", "style", "background", "action", "formaction"), \
                f"{where}: {name}= on <{tag}>"
            assert "javascript:" not in (value or "").lower(), f"{where}: javascript: URL"
    text = "".join(parser.text)
    # Anki plays [sound:…] and typesets \( … \) found in the text; neither may survive as written.
    assert "[sound:" not in text and "\\(" not in text and "\\[" not in text, where
    return text


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = hostile_project(tmp_path_factory.mktemp("hostile") / "project")
    check = pipeline.check_project(root)
    assert not check.report.failed(), [d.message for d in check.report]
    return root


def test_hostile_card_text_is_inert_in_anki(hostile: Path, tmp_path):
    result = pipeline.build_project(hostile)
    collection = AnkiCollection(tmp_path / "hostile.anki2")
    try:
        collection.import_package(result.outputs[0])
        cards = collection.cards()
        assert len(cards) == 8
        fields_seen = set()
        for card in cards:
            output = card.render_output()
            note = card.note()
            where = f"{note['CardId']} card {card.ord + 1}"
            assert not output.question_av_tags and not output.answer_av_tags, f"{where}: Anki would play media"
            question = assert_inert(output.question_text, where + " front")
            answer = assert_inert(output.answer_text, where + " back")
            # Escaped, not dropped: the reader sees the hostile text for what it is.
            assert "alert(1)" in question + answer, where
            fields_seen.update(name for name in note.keys() if "alert(1)" in note[name])
        assert {"Speaker", "Context", "Ask", "Note", "Extra", "Front", "Back", "Event", "Prompt", "Quote", "Text",
                "Passage", "Citation", "Cue"} <= fields_seen
    finally:
        collection.close()


def test_hostile_text_is_inert_in_the_preview(hostile: Path, tmp_path):
    out = tmp_path / "preview"
    write_preview(hostile, out)
    pages = sorted(out.rglob("*.html"))
    assert pages
    allowed = CARD_TAGS | {"html", "head", "meta", "title", "link", "script", "body", "header", "nav", "a", "label",
                           "input", "main", "section", "p", "footer", "h1", "h2", "h3", "table", "thead", "tbody",
                           "tr", "th", "td", "form", "select", "option", "output", "ol", "li", "code", "article",
                           "figure", "figcaption", "ul"}
    for page in pages:
        parser = _Elements()
        parser.feed(page.read_text(encoding="utf-8"))
        for tag, attrs in parser.tags:
            assert tag in allowed, f"{page.name}: <{tag}>"
            for name, value in attrs.items():
                assert not name.startswith("on"), f"{page.name}: {name} on <{tag}>"
                value = (value or "").strip().lower()
                if name in ("href", "src"):
                    assert not re.match(r"^[a-z][a-z0-9+.-]*:", value) and not value.startswith("//"), \
                        f"{page.name}: {name}={value!r}"
            if tag == "script":
                assert attrs.get("src", "").endswith("assets/preview.js"), f"{page.name}: inline script"
            if tag == "link":
                assert attrs.get("rel") == "stylesheet" and attrs["href"].endswith(".css")
        if page.parent.name == "themes":
            # Card faces as Anki would act on them; the source reader may show the text as written.
            text = "".join(parser.text)
            assert "[sound:" not in text and "\\(" not in text, page.name


PIECES = st.sampled_from(PAYLOADS + [
    "<script>", "</script>", "<img", " onerror=", "javascript:", "<em>", "</em>", "<br>", "<b onclick=x>", "[sound:",
    "\\(", "\\[", "<!--", "-->", "<![CDATA[", "&#106;", "&lt;", "**", "*", "*a*", "\n", " ", "\"", "'", "=", ">",
    "<", "/", "[", "]", "(", ")", "{{c1::", "}}", "2.176 ", ".12",
]) | st.text(alphabet="<>/=\"' &;*_:[]()\\{}abcmnoprstuvwxyz0123456789\n", max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECES, max_size=12).map("".join))
def test_inline_markup_allows_only_plain_inline_tags(text):
    rendered = inline_html(text)
    assert_inert(rendered, repr(text), allowed_tags={"em", "strong", "b", "i", "u", "br", "sub", "sup"})
    assert_inert(source_html(text), repr(text), allowed_tags={"em", "strong", "b", "i", "u", "br", "sub", "sup"})


ODD_CHARACTERS = "\r\n\x00\x01\x0b\x0c\x7f\x80\x85\x9f\u00a0\u00ad\u200b\u2028\u2029\ufeff\ufffd\ufdd0&<>;#"


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(ODD_CHARACTERS) | st.characters(exclude_categories=("Cs",)), max_size=40),
       st.booleans())
def test_text_skipping_nh3_is_what_nh3_would_return(text, tagged):
    """inline_html leaves escaped text without markup as it is; nh3 must agree on all of it."""
    from deckgen.render import _clean, _nh3_clean

    escaped = html.escape(text, quote=False).replace("\n", "<br>")
    if tagged:
        escaped = f"<em>{escaped}</em>"
    assert _clean(escaped) == _nh3_clean(escaped)


TAGS = [f"<{slash}{name}>" for name in ("em", "strong", "b", "i", "u", "sub", "sup", "br") for slash in ("", "/")]


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(TAGS) | st.sampled_from(["x", " ", "&amp;", "&lt;", "\u00a0", "\r", "<", "<p>"]),
                max_size=10).map("".join))
def test_tagged_text_skipping_nh3_is_what_nh3_would_return(escaped):
    """Text whose allowed tags already nest skips nh3; nh3 must agree on all of it."""
    from deckgen.render import _clean, _nh3_clean

    assert _clean(escaped) == _nh3_clean(escaped)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="1290a .!?:”’\"')]\n\t<>&", max_size=16))
def test_glued_endnotes_are_found_as_the_plain_pattern_finds_them(text):
    """The endnote pattern tests the character before the punctuation after matching it; a
    pattern that tests it first (slower, plainer) must agree."""
    import re

    from deckgen.render import _GLUED_ENDNOTE

    plain = re.compile(r"(?<![\d])([.!?:”’\"')\]])(\d{1,3})(?=\s|$)")
    assert source_html(text) == plain.sub(r"\1<sup>\2</sup>", inline_html(text))
    assert _GLUED_ENDNOTE.sub("|", text) == plain.sub("|", text)


def test_safe_markup_survives():
    assert inline_html("*Pravda* and **Izvestia**\nnext <em>line</em> <sup>2</sup>") == (
        "<em>Pravda</em> and <strong>Izvestia</strong><br>next <em>line</em> <sup>2</sup>")
    assert inline_html("<em class=x>no</em>") == "&lt;em class=x&gt;no"


def test_passage_joins_and_page_labels():
    assert needs_space("In response to", "the U.S. Senate")
    assert not needs_space("commissariats—", "heavy industry")
    assert not needs_space("study", ".²⁶ The")
    assert not needs_space("“", "When")
    assert page_label("772") == "p. 772" and page_label("774-5") == "pp. 774–5"
    assert source_html("concealed.176 Soviet, 2.2 billion. 1.5 x") == "concealed.<sup>176</sup> Soviet, 2.2 billion. 1.5 x"


# Citation templates a project might write: some read only what many cards share (their
# citations are rendered once and remembered), others read more than their tree shows.
CITATION_TEMPLATES = {
    "shipped": None,
    "card id": "[[ source.author ]] [[ card.id ]] [[ anchor.page if anchor else '' ]]",
    "alias": "[% set a = anchor %][[ a.before if a else '' ]]",
    "conditional": "[[ anchor.before if anchor else 'none' ]]",
    "whole anchor": "[[ anchor ]]",
    "or": "[[ (anchor or card).line | default('-') ]]",
    "attr filter": "[[ anchor | attr('matched') if anchor else '' ]]",
    "other type's field": "[[ card.quote | default('no quotation') ]] [[ short ]]",
    "include": "[% include 'fields/passage.html' %]",
    "call": "[[ range(anchor.line if anchor else 0) | list | length ]]",
    "notes loop": "[% if not anchor %]none[% else %][% for n in anchor.notes %][[ loop.index ]]:[[ n.text ]] "
                  "[% endfor %][[ anchor.matched | length ]][% endif %] [[ page ]]",
}


@pytest.mark.parametrize("name", CITATION_TEMPLATES)
def test_each_card_gets_the_citation_its_template_renders_for_it(deck: Deck, tmp_path, name):
    templates = tmp_path / "templates"
    shutil.copytree(pipeline.templates_dir_for(deck.check.project), templates)
    if CITATION_TEMPLATES[name] is not None:
        (templates / "fields" / "citation.html").write_text(CITATION_TEMPLATES[name], encoding="utf-8")
    renderer = Renderer(templates, tmp_path)
    template = renderer.env.get_template("fields/citation.html")
    project = deck.check.project
    anchors = deck.check.checked.anchors
    rendered = set()
    # Every card twice, the second time with another passage around the same page and notes,
    # and once more without an anchor: a citation remembered for one must not stand for another.
    for entry in project.cards:
        anchor = anchors.get(entry.id)
        variants = [anchor, None]
        if anchor is not None:
            variants.append(dataclasses.replace(anchor, before="elsewhere", matched=anchor.matched[::-1],
                                                line=anchor.line + 1))
        source = project.sources[entry.source_id]
        for variant in variants:
            spec = NOTE_TYPES[entry.card.type]
            citation = renderer.fields(entry, source, variant, spec)[spec.field_names.index("Citation")]
            expected = template.render(card=entry.card, source=source.entry, short=source.short, anchor=variant,
                                       page=str(entry.card.page) if entry.card.page is not None else None)
            assert citation == expected.strip(), (entry.id, variant)
            rendered.add(citation)
    assert len(rendered) > 1


def test_what_a_citation_template_reads_is_known_only_when_its_tree_shows_all_of_it():
    def reads(text):
        found = template_reads(Renderer(default_templates_dir()).env.parse(text), ("card", "anchor"))
        return None if found is None else {name: set(attributes) for name, attributes in found.items()}

    assert reads(CITATION_TEMPLATES["notes loop"]) == {"card": set(), "anchor": {"notes", "matched"}}
    assert reads(CITATION_TEMPLATES["conditional"]) == {"card": set(), "anchor": {"before"}}
    assert reads("[% if anchor and anchor.page %][[ anchor.page ]][% endif %]") == {"card": set(), "anchor": {"page"}}
    for name in ("alias", "whole anchor", "or", "attr filter", "include", "call"):
        assert reads(CITATION_TEMPLATES[name]) is None, name
    assert reads("[[ [1, 2] | random ]]") is None


def test_preview_site_is_swapped_in_whole_and_guards_foreign_folders(hostile: Path, tmp_path):
    out = tmp_path / "site"
    write_preview(hostile, out)
    (out / "stale.html").write_text("old", encoding="utf-8")
    write_preview(hostile, out)
    assert not (out / "stale.html").exists(), "the old site is replaced, not merged"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no staging folder left behind"

    from deckgen.preview import PreviewOutputError
    foreign = tmp_path / "documents"
    foreign.mkdir()
    (foreign / "thesis.txt").write_text("precious", encoding="utf-8")
    with pytest.raises(PreviewOutputError):
        write_preview(hostile, foreign)
    assert (foreign / "thesis.txt").read_text(encoding="utf-8") == "precious"


def test_preview_command_writes_the_default_folder(deckgen, hostile: Path, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(hostile, project)
    run = deckgen("preview", project)
    assert run.code == 0, run.output
    assert (project / "preview" / "index.html").is_file()
    assert "wrote preview/index.html" in run.stdout


def test_site_pages_hold_every_card(deck: Deck):
    site = render_site(deck.check)
    assert site.cards == deck.col.col.card_count()
    theme_pages = b"".join(data for path, data in site.files.items() if path.startswith("themes/"))
    for card_id in deck.yaml:
        assert f'id="n-{card_id}"'.encode() in theme_pages
    assert theme_pages.count(b'class="pv-card"') == site.cards


def test_preview_shows_cards_that_fail_the_check_and_says_so(deckgen, hostile: Path, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(hostile, project)
    path = project / "cards" / "hostile.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["cards"].append({"id": "misquoted", "type": "quote", "quote": "The envoy wrote nothing at all",
                          "speaker": "The envoy"})
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=10_000), encoding="utf-8")
    run = deckgen("preview", project)
    assert run.code == 1, run.output
    assert "quote-not-found" in run.stderr
    page = next((project / "preview" / "themes").glob("*.html")).read_text(encoding="utf-8")
    article = page[page.index('id="n-misquoted"'):]
    article = article[:article.index("</article>")]
    assert 'class="pv-problems"' in article and "quote-not-found" in article
    assert "in hostile →" not in article, "a card with no place in its source links to none"
    index = (project / "preview" / "index.html").read_text(encoding="utf-8")
    assert "1 error: the build would refuse this deck" in index


def test_preview_template_mistakes_are_located_and_links_out_refused(deckgen, hostile: Path, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(hostile, project)
    shutil.copytree(Path(pipeline.__file__).resolve().parents[2] / "templates", project / "templates")
    theme = project / "templates" / "preview" / "theme.html"
    lines = theme.read_text(encoding="utf-8").splitlines()
    number = next(i for i, line in enumerate(lines, 1) if "<h1>" in line)
    lines[number - 1] = "<h1>[[ theme.name.no_such_thing.x ]]</h1>"
    theme.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = deckgen("preview", project)
    assert run.code == 2, run.output
    assert f"templates/preview/theme.html:{number}:1: error: preview template error" in run.stderr
    assert not (project / "preview").exists(), "nothing is written when a page cannot be made"

    theme.unlink()
    outside = tmp_path / "outside.html"
    outside.write_text("secret: root:x:0:0", encoding="utf-8")
    theme.symlink_to(outside)
    run = deckgen("preview", project)
    assert run.code == 2 and "[path-outside-project]" in run.stderr and "root:x" not in run.output
