"""Coverage: which paragraphs of each source the cards draw on."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from conftest import copy_project
from deckgen import pipeline
from deckgen.coverage import anchor_span, format_table, project_coverage, source_blocks

SOURCE = """# Notes on a reading

Author Name

This is the first paragraph of running text, which a card cites in full here.

The second paragraph of running text is cut by a page break and keeps

¹ Jane Doe, *Some Book* (London: Press, 2001), 12.

going after the footnote with more words that a card cites as well.

A third paragraph of running text that no card draws on at all today, sadly.

Too short here.

BIBLIOGRAPHY

Doe, Jane. *Some Book*. London: Press, 2001.
"""


def small_project(root: Path, cards: list[dict]) -> Path:
    copy_project(root, parts=("deckgen.yaml",))
    (root / "sources").mkdir()
    (root / "cards").mkdir()
    (root / "sources" / "notes.txt").write_text(SOURCE, encoding="utf-8")
    (root / "sources" / "sources.yaml").write_text(yaml.safe_dump({"sources": [
        {"id": "notes", "file": "notes.txt", "author": "Ann Reader", "title": "Notes", "year": 2020},
    ]}), encoding="utf-8")
    (root / "cards" / "notes.yaml").write_text(yaml.safe_dump(
        {"theme": "Notes", "source": "notes", "cards": cards}, sort_keys=False, width=10_000), encoding="utf-8")
    return root


CARDS = [
    {"id": "first", "type": "fact", "front": "What does the first paragraph do?", "back": "It is cited",
     "evidence": "the first paragraph of running text, which a card cites in full"},
    {"id": "across", "type": "fact", "front": "What happens to the second paragraph?", "back": "A page break",
     "evidence": "is cut by a page break and keeps going after the footnote"},
]


def test_paragraphs_of_substance_and_what_covers_them(tmp_path):
    root = small_project(tmp_path / "p", CARDS)
    result = pipeline.check_project(root)
    assert not result.report.failed(), [d.message for d in result.report]

    report = project_coverage(result)
    (notes,) = report.sources
    # The heading, byline, footnote, short line and bibliography are not paragraphs of substance.
    assert [(p.first_line, p.last_line) for p in notes.paragraphs] == [(5, 5), (7, 11), (13, 13)]
    assert [p.cards for p in notes.paragraphs] == [("first",), ("across",), ()]
    assert (notes.total, notes.covered) == (3, 2)
    assert [p.first_line for p in notes.uncovered] == [13]
    kinds = {b.first_line: b.kind for b in notes.blocks}
    assert kinds == {1: "heading", 3: "heading", 5: "text", 7: "text", 9: "note", 11: "text", 13: "text",
                     15: "short", 17: "heading", 19: "bibliography"}

    # The span that crosses the page break ends after it, not inside the footnote.
    text = result.texts["notes"]
    start, end = notes.spans["across"]
    assert text.line_col(start)[0] == 7 and text.line_col(end - 1)[0] == 11
    assert text.raw[start:end].startswith("is cut") and text.raw[start:end].endswith("after the footnote")


def test_a_card_beyond_the_page_break_covers_the_whole_paragraph(tmp_path):
    cards = [{"id": "tail", "type": "fact", "front": "What comes after the footnote?", "back": "More words",
              "evidence": "going after the footnote with more words"}]
    result = pipeline.check_project(small_project(tmp_path / "p", cards))
    (notes,) = project_coverage(result).sources
    assert [p.covered for p in notes.paragraphs] == [False, True, False]


def test_every_shipped_span_is_recovered_in_the_raw_text(shipped_project):
    result = pipeline.check_project(shipped_project)
    assert result.checked.anchors
    for card_id, anchor in result.checked.anchors.items():
        text = result.texts[anchor.source_id]
        start, end = anchor_span(text, anchor)
        pieces, pos = [], start
        for cut_start, cut_end in text.removed:
            if cut_end <= start or cut_start >= end:
                continue
            pieces.append(text.raw[pos:cut_start])
            pos = max(pos, cut_end)
        pieces.append(text.raw[pos:end])
        assert " ".join("".join(pieces).split()) == " ".join(anchor.matched.split()), card_id


def test_shipped_sources_have_paragraphs_and_blocks_in_order(shipped_project):
    result = pipeline.check_project(shipped_project)
    for source_id, text in result.texts.items():
        blocks, paragraphs = source_blocks(text)
        assert paragraphs, source_id
        lines = [b.first_line for b in blocks]
        assert lines == sorted(lines) and all(b.first_line <= b.last_line for b in blocks)
        assert all(blocks[i].kind == "text" or blocks[i].kind == "short" for group in paragraphs for i in group)


def test_coverage_command_text_and_json(deckgen, shipped_project):
    run = deckgen("coverage", shipped_project, "--format", "json")
    assert run.code == 0, run.output
    payload = json.loads(run.stdout)
    registry = yaml.safe_load((shipped_project / "sources" / "sources.yaml").read_text(encoding="utf-8"))
    assert sorted(s["id"] for s in payload["sources"]) == sorted(s["id"] for s in registry["sources"])
    for source in payload["sources"]:
        assert 0 < source["paragraphs"] and 0 <= source["covered"] <= source["paragraphs"]
        assert source["share"] == round(source["covered"] / source["paragraphs"], 4)
        lines = (shipped_project / source["file"]).read_text(encoding="utf-8-sig").splitlines()
        assert len(source["uncovered"]) == source["paragraphs"] - source["covered"]
        for gap in source["uncovered"]:
            assert lines[gap["line"] - 1].split()[:3] == gap["text"].split()[:3]
    assert payload["total"]["paragraphs"] == sum(s["paragraphs"] for s in payload["sources"])

    run = deckgen("coverage", shipped_project)
    assert run.code == 0, run.output
    for source in payload["sources"]:
        assert source["id"] in run.stdout
        for gap in source["uncovered"]:
            assert f'{source["file"]}:{gap["line"]}' in run.stdout
    assert "all sources" in run.stdout


def test_table_lists_the_paragraphs_without_a_card(tmp_path):
    result = pipeline.check_project(small_project(tmp_path / "p", CARDS))
    table = format_table(project_coverage(result))
    assert "notes" in table and "67%" in table
    assert "sources/notes.txt:13" in table and "A third paragraph of running text" in table


def test_cards_that_fail_the_check_are_named_not_counted(deckgen, tmp_path):
    cards = CARDS + [{"id": "wrong", "type": "fact", "front": "Q?", "back": "A",
                      "evidence": "a sentence that the source does not contain at all"}]
    root = small_project(tmp_path / "p", cards)
    run = deckgen("coverage", root, "--format", "json")
    assert run.code == 0, run.output
    payload = json.loads(run.stdout)
    assert payload["unchecked_cards"] == ["wrong"]
    assert "1 card(s) failed the check" in run.stderr
