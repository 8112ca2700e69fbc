"""The product's promise, checked with the real Anki engine (the ``anki`` package).

Build the shipped deck, import it into a fresh collection, review, edit the
YAML, rebuild, re-import: cards update in place, nothing is duplicated or
stranded, review history survives.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from anki_support import visible_text

CLOZE_NUMBER = re.compile(r"\{\{c(\d+)::")


def yaml_cards(project: Path) -> list[tuple[str, dict]]:
    """The cards as plain YAML sees them, independent of deckgen's loader."""
    found = []
    for path in sorted((project / "cards").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        found.extend((data["theme"], card) for card in data["cards"])
    return found


def expected_card_count(card: dict) -> int:
    kind = card["type"]
    if kind == "quote":
        return 1 + bool(card.get("ask"))
    if kind == "cloze":
        return len(set(CLOZE_NUMBER.findall(card["text"])))
    if kind == "date":
        return 2
    return 1


def build(deckgen, project: Path) -> Path:
    run = deckgen("build", project)
    assert run.code == 0, run.output
    packages = sorted((project / "dist").glob("*.apkg"))
    assert len(packages) == 1
    return packages[0]


def test_shipped_deck_imports_with_the_counts_the_yaml_promises(deckgen, shipped_project, anki_collection):
    package = build(deckgen, shipped_project)
    cards = yaml_cards(shipped_project)
    root = yaml.safe_load((shipped_project / "deckgen.yaml").read_text())["deck"]

    counts = anki_collection.import_package(package)

    assert counts.new == len(cards)
    assert counts.conflicting == 0 and counts.updated == 0
    assert anki_collection.col.note_count() == len(cards)
    assert anki_collection.col.card_count() == sum(expected_card_count(card) for _, card in cards)
    themes = {theme for theme, _ in cards}
    assert anki_collection.deck_names() == {root} | {f"{root}::{theme}" for theme in themes}
    for card in anki_collection.cards():
        assert visible_text(card.question()), f"empty question for card {card.id}"
        assert visible_text(card.answer()), f"empty answer for card {card.id}"
        # The answer side carries the citation and the card's id.
        note = card.note()
        assert note["CardId"] in visible_text(card.answer())
        assert visible_text(note["Citation"]) in visible_text(card.answer())


def test_unchanged_rebuild_is_byte_identical_and_imports_as_no_change(deckgen, shipped_project, anki_collection):
    package = build(deckgen, shipped_project)
    first_bytes = package.read_bytes()
    anki_collection.import_package(package)
    anki_collection.study(yaml.safe_load((shipped_project / "deckgen.yaml").read_text())["deck"])
    reviewed = anki_collection.review(5)
    assert len(reviewed) == 5

    package = build(deckgen, shipped_project)

    assert package.read_bytes() == first_bytes
    counts = anki_collection.import_package(package)
    assert (counts.new, counts.updated, counts.conflicting) == (0, 0, 0)
    assert counts.unchanged == len(yaml_cards(shipped_project))


def _first_card_of_type(project: Path, kind: str) -> tuple[Path, dict]:
    for path in sorted((project / "cards").glob("*.yaml")):
        for card in yaml.safe_load(path.read_text(encoding="utf-8"))["cards"]:
            if card["type"] == kind:
                return path, card
    raise AssertionError(f"the shipped deck has no {kind} card")


def _edit_value_line(path: Path, card_id: str, key: str, new_value: str) -> None:
    """Replace one key's single-line value inside one card, leaving the rest of the file as written."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if re.match(rf"\s*-?\s*id:\s*['\"]?{card_id}['\"]?\s*$", line))
    for index in range(start, len(lines)):
        match = re.match(rf"(\s*-?\s*{key}:\s*)", lines[index])
        if match:
            lines[index] = f"{match.group(1)}{yaml.safe_dump(new_value, width=10_000, allow_unicode=True).strip().removesuffix('...').strip()}\n"
            path.write_text("".join(lines), encoding="utf-8")
            return
    raise AssertionError(f"{key} not found in card {card_id}")


def test_editing_a_card_updates_it_in_place_keeping_its_history(deckgen, shipped_project, anki_collection):
    package = build(deckgen, shipped_project)
    anki_collection.import_package(package)
    path, card = _first_card_of_type(shipped_project, "fact")
    note = anki_collection.note_by_card_id(card["id"])
    anki_card = note.cards()[0]
    # Study this very card so it has history to lose.
    anki_collection.col.sched.set_due_date([anki_card.id], "0")
    anki_collection.col.decks.select(anki_card.did)
    queued = anki_collection.col.sched.get_queued_cards()
    assert queued.cards
    anki_collection.review(1)
    reviewed = anki_collection.col.get_card(anki_card.id)
    history = anki_collection.revlog(anki_card.id)
    assert history, "the card should have been reviewed"

    new_back = card["back"] + " (revised)"
    _edit_value_line(path, card["id"], "back", new_back)
    package = build(deckgen, shipped_project)  # same second as the first build: no sleep
    counts = anki_collection.import_package(package)

    assert (counts.new, counts.updated, counts.conflicting) == (0, 1, 0)
    after = anki_collection.col.get_card(anki_card.id)
    assert after.id == reviewed.id
    assert after.ivl == reviewed.ivl and after.due == reviewed.due and after.type == reviewed.type
    assert anki_collection.revlog(anki_card.id) == history
    assert "(revised)" in visible_text(after.answer())


def test_adding_a_card_and_a_cloze_deletion_adds_exactly_that(deckgen, shipped_project, anki_collection):
    anki_collection.import_package(build(deckgen, shipped_project))
    notes_before = anki_collection.col.note_count()

    path, fact = _first_card_of_type(shipped_project, "fact")
    with path.open("a", encoding="utf-8") as handle:
        handle.write(
            "\n  - id: added-by-test\n    type: fact\n"
            f"    front: {yaml.safe_dump(fact['front'] + ' (again)', width=10_000).strip().removesuffix('...').strip()}\n"
            f"    back: {yaml.safe_dump(fact['back'], width=10_000).strip().removesuffix('...').strip()}\n"
            f"    evidence: {yaml.safe_dump(fact['evidence'], width=10_000, allow_unicode=True).strip().removesuffix('...').strip()}\n"
        )
    counts = anki_collection.import_package(build(deckgen, shipped_project))
    assert (counts.new, counts.updated, counts.conflicting) == (1, 0, 0)
    assert anki_collection.col.note_count() == notes_before + 1

    cloze_path, cloze = _single_deletion_cloze(shipped_project)
    note = anki_collection.note_by_card_id(cloze["id"])
    cards_before = len(note.cards())
    _edit_value_line(cloze_path, cloze["id"], "text", _add_second_deletion(cloze["text"]))
    counts = anki_collection.import_package(build(deckgen, shipped_project))

    assert (counts.new, counts.updated, counts.conflicting) == (0, 1, 0)
    note = anki_collection.note_by_card_id(cloze["id"])
    assert len(note.cards()) == cards_before + 1
    assert sorted(card.ord for card in note.cards()) == [0, 1]


def _single_deletion_cloze(project: Path) -> tuple[Path, dict]:
    for path in sorted((project / "cards").glob("*.yaml")):
        for card in yaml.safe_load(path.read_text(encoding="utf-8"))["cards"]:
            if card["type"] == "cloze" and set(CLOZE_NUMBER.findall(card["text"])) == {"1"} \
                    and "\n" not in card["text"]:
                return path, card
    raise AssertionError("the shipped deck has no single-deletion cloze")


def _add_second_deletion(text: str) -> str:
    outside = re.split(r"(\{\{c\d+::.*?\}\})", text)
    for index, part in enumerate(outside):
        if part.startswith("{{"):
            continue
        word = re.search(r"\b[A-Za-z]{5,}\b", part)
        if word:
            outside[index] = part[: word.start()] + "{{c2::" + word.group() + "}}" + part[word.end():]
            return "".join(outside)
    raise AssertionError(f"no word to delete in {text!r}")


def test_template_change_reaches_existing_notes_without_conflicts(deckgen, shipped_project, anki_collection):
    anki_collection.import_package(build(deckgen, shipped_project))
    path, card = _first_card_of_type(shipped_project, "fact")
    back = shipped_project / "templates" / "fact" / "back.html"
    back.write_text(back.read_text(encoding="utf-8") + '\n<div class="dg-test-marker">template v2</div>\n',
                    encoding="utf-8")

    counts = anki_collection.import_package(build(deckgen, shipped_project))

    assert (counts.new, counts.conflicting) == (0, 0)
    note = anki_collection.note_by_card_id(card["id"])
    assert "template v2" in visible_text(note.cards()[0].answer())


def test_renamed_field_keeps_its_notes(shipped_project, anki_collection, monkeypatch):
    """A field renamed in a later release keeps its id, so Anki updates notes instead of stranding them."""
    import dataclasses

    from deckgen import notetypes, pipeline

    pipeline.build_project(shipped_project)
    anki_collection.import_package(next((shipped_project / "dist").glob("*.apkg")))
    fact = notetypes.NOTE_TYPES["fact"]
    renamed = dataclasses.replace(
        fact, fields=(dataclasses.replace(fact.fields[0], name="Question"),) + fact.fields[1:]
    )
    monkeypatch.setitem(notetypes.NOTE_TYPES, "fact", renamed)
    monkeypatch.setattr(pipeline, "NOTE_TYPES", notetypes.NOTE_TYPES)
    # Field names are read by the templates; point the fact templates at the new name.
    for face in ("front", "back"):
        template = shipped_project / "templates" / "fact" / f"{face}.html"
        template.write_text(template.read_text(encoding="utf-8").replace("{{Front}}", "{{Question}}"),
                            encoding="utf-8")
    from deckgen import render

    original_fields = render._type_fields

    def renamed_fields(card):
        values = original_fields(card)
        if "Front" in values:
            values["Question"] = values.pop("Front")
        return values

    monkeypatch.setattr(render, "_type_fields", renamed_fields)

    pipeline.build_project(shipped_project)
    counts = anki_collection.import_package(next((shipped_project / "dist").glob("*.apkg")))

    assert (counts.new, counts.conflicting) == (0, 0)
    model = anki_collection.col.models.by_name(fact.name)
    assert [f["name"] for f in model["flds"]][0] == "Question"
    _, card = _first_card_of_type(shipped_project, "fact")
    assert anki_collection.note_by_card_id(card["id"])["Question"]
