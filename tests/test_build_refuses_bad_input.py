"""Bad YAML: a located error, exit 1, no traceback, and the last good package left untouched."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

LOCATED = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+):(?P<col>\d+): error: .+ \[(?P<code>[a-z-]+)\]$", re.M)

CARD = """
  - id: {id}
    type: fact
    front: Which commissariats replaced the Supreme Council of the Economy?
    back: heavy industry, light industry, and forestry
    evidence: three commissariats—heavy industry, light industry, and forestry
"""

BREAKAGES = {
    # The parser notices the unclosed bracket on the next line; the message names where it opened.
    "syntax-error": ("theme: [unclosed\ncards: []\n", "yaml-syntax", 2),
    "unknown-key": ("theme: T\nsource: kotkin-1932\ncards:" + CARD.format(id="x-1").replace("front:", "frnt:"),
                    "unknown-key", 6),
    "duplicate-id": ("theme: T\nsource: kotkin-1932\ncards:" + CARD.format(id="x-1") + CARD.format(id="x-1"),
                     "duplicate-id", 10),
    "missing-source": ("theme: T\nsource: kotkin-1933\ncards:" + CARD.format(id="x-2"), "unknown-source", 2),
}


@pytest.mark.parametrize("case", sorted(BREAKAGES))
def test_bad_yaml_is_refused_and_the_previous_package_survives(case, deckgen, shipped_project: Path):
    assert deckgen("build", shipped_project).code == 0
    package = next((shipped_project / "dist").glob("*.apkg"))
    before = package.read_bytes()
    ledger_before = (shipped_project / "deckgen.lock").read_bytes()
    text, code, line = BREAKAGES[case]
    (shipped_project / "cards" / "zz-broken.yaml").write_text(text, encoding="utf-8")

    run = deckgen("build", shipped_project)

    assert run.code == 1, run.output
    assert "Traceback" not in run.output
    located = [m.groupdict() for m in LOCATED.finditer(run.stderr)]
    assert {"file": "cards/zz-broken.yaml", "line": str(line), "code": code} in [
        {k: m[k] for k in ("file", "line", "code")} for m in located
    ], run.stderr
    assert package.read_bytes() == before
    assert (shipped_project / "deckgen.lock").read_bytes() == ledger_before
    assert sorted(p.name for p in (shipped_project / "dist").iterdir()) == [package.name]
