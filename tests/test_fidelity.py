"""The fidelity corpus: each case directory holds cards drawn from the real sources and the
diagnostics a careful reader expects; the validator must produce exactly those."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import REPO, copy_project
from deckgen.pipeline import check_project

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
            assert anchor.line >= 1 and anchor.matched


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
