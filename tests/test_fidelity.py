"""The fidelity corpus: each case directory holds cards drawn from the real sources and the
diagnostics a careful reader expects; the validator must produce exactly those."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from conftest import REPO, copy_project
from deckgen.models import CHECKED_FIELDS, CardEntry
from deckgen.pipeline import check_project
from deckgen.project import card_key, check_key
from deckgen.validate import _check_cards

CASES = Path(__file__).parent / "fidelity"


@pytest.fixture(scope="module")
def sources_only(tmp_path_factory) -> Path:
    return copy_project(tmp_path_factory.mktemp("sources"), parts=("sources",))


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_fidelity_case(case: str, tmp_path: Path, sources_only: Path):
    project = copy_project(tmp_path / "project", parts=("sources",), source=sources_only)
    copy_project(project, parts=("cards",), source=CASES / case)
    expected = yaml.safe_load((CASES / case / "expected.yaml").read_text(encoding="utf-8"))["diagnostics"]

    result = check_project(project)

    found = sorted((d.code.code, d.location.line) for d in result.report)
    assert found == sorted((e["code"], e["line"]) for e in expected), "\n".join(
        f"{d.location}: {d.severity.value}: {d.message} [{d.code}] {d.related} {d.hint or ''}" for d in result.report
    )
    assert all(str(d.location.path) == "cards/cards.yaml" for d in result.report)
    # A card that passes carries its anchor into the build: where its support stands in the source.
    failed = {d.card for d in result.report if d.is_error}
    for entry in result.project.cards:
        if entry.id not in failed:
            anchor = result.checked.anchors[entry.id]
            raw = result.texts[anchor.source_id].raw
            assert anchor.matched and 1 <= anchor.line <= raw.count("\n") + 1


def test_anchor_cites_the_footnote_of_the_span(tmp_path: Path):
    project = copy_project(tmp_path / "project", parts=("sources",), source=REPO)
    (project / "cards").mkdir()
    (project / "cards" / "c.yaml").write_text(
        "theme: T\nsource: wesser-2021\ncards:\n"
        "  - id: molotov-pushing\n    type: quote\n    speaker: Molotov\n"
        "    quote: was interested in pushing us into a conflict with the Germans as quickly as possible.\n",
        encoding="utf-8",
    )
    result = check_project(project)
    assert not result.report.errors
    anchor = result.checked.anchors["molotov-pushing"]
    assert [(n.number, n.text.split(",")[0]) for n in anchor.notes] == [("24", "Albert Resis")]
    line = result.texts["wesser-2021"].raw.splitlines()[anchor.line - 1]
    assert line[anchor.col - 1:].startswith("was interested in pushing us")


def test_a_verdict_depends_only_on_the_checked_fields(tmp_path: Path, sources_only: Path) -> None:
    """The verdict memo is keyed by `check_key`: a card reworded outside its `CHECKED_FIELDS`
    (question, answer, id, note, tags, theme) must get the verdict it had, across every
    fidelity case and the shipped deck."""
    project = copy_project(tmp_path / "project", parts=("sources",), source=sources_only)
    (project / "cards").mkdir()
    for case in sorted(p for p in CASES.iterdir() if p.is_dir()):
        shutil.copy(case / "cards" / "cards.yaml", project / "cards" / f"{case.name}.yaml")
    for path in (REPO / "cards").glob("*.yaml"):
        shutil.copy(path, project / "cards" / path.name)
    loaded = check_project(project, use_cache=False)
    entries = list(loaded.project.cards)
    assert len(entries) > 300

    def reworded(entry: CardEntry) -> CardEntry:
        update: dict[str, object] = {}
        for name, value in entry.card.__dict__.items():
            if name in CHECKED_FIELDS or name in ("type", "source"):
                continue
            if name == "id":
                update[name] = f"{value}-reworded"
            elif isinstance(value, str):
                update[name] = f"{value} (reworded)"
            elif name == "tags":
                update[name] = (*value, "reworded")
        assert update, entry.card
        return replace(entry, card=entry.card.model_copy(update=update), theme=f"{entry.theme} reworded",
                       tags=(*entry.tags, "reworded"))

    others = [reworded(entry) for entry in entries]
    assert [check_key(e) for e in others] == [check_key(e) for e in entries]
    assert all(card_key(a) != card_key(b) for a, b in zip(others, entries))
    verdicts = list(_check_cards(loaded.project, loaded.texts, entries, lambda done: None))
    assert any(findings for findings, _ in verdicts) and any(anchor for _, anchor in verdicts)
    assert list(_check_cards(loaded.project, loaded.texts, others, lambda done: None)) == verdicts
