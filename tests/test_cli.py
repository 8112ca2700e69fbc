"""The command line contract: exit codes, JSON diagnostics, --strict, --split."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from anki_support import AnkiCollection

WARNING_CARD = """
  - id: speaker-elsewhere
    type: quote
    quote: the Soviet Union will not permit anyone to violate Soviet borders
    speaker: Winston Churchill
"""

ERROR_CARD = """
  - id: wrong-figure
    type: figure
    prompt: How many tanks did the Soviets manufacture by the end of 1932?
    value: "2,500"
    evidence: by the end of 1932, the Soviets, who had been incapable of producing a single decent tank, would manufacture 2,600.
"""


def _add_file(project: Path, body: str) -> Path:
    path = project / "cards" / "zz-test.yaml"
    path.write_text("theme: Test\nsource: kotkin-1932\ncards:" + body, encoding="utf-8")
    return path


def test_shipped_deck_checks_clean(deckgen, shipped_project):
    run = deckgen("check", shipped_project, "--strict")
    assert run.code == 0, run.output
    assert run.stdout.startswith("ok:")


def test_json_output_lists_located_diagnostics(deckgen, shipped_project):
    _add_file(shipped_project, ERROR_CARD + WARNING_CARD)
    run = deckgen("check", shipped_project, "--format", "json")
    assert run.code == 1
    payload = json.loads(run.stdout)
    by_code = {d["code"]: d for d in payload["diagnostics"]}
    figure = by_code["figure-unsupported"]
    assert (figure["severity"], figure["card"], figure["file"], figure["line"]) == (
        "error", "wrong-figure", "cards/zz-test.yaml", 7)
    assert "2,600" in figure["hint"]
    assert by_code["speaker-not-near"]["severity"] == "warning"
    ours = [d for d in payload["diagnostics"] if d["file"] == "cards/zz-test.yaml"]
    assert sorted(d["severity"] for d in ours) == ["error", "warning"]
    assert payload["summary"]["errors"] == 1
    assert payload["summary"]["warnings"] == sum(d["severity"] == "warning" for d in payload["diagnostics"])
    assert payload["summary"]["ok"] is False


def test_warnings_fail_only_with_strict(deckgen, shipped_project):
    _add_file(shipped_project, WARNING_CARD)
    assert deckgen("check", shipped_project).code == 0
    strict = deckgen("check", shipped_project, "--strict")
    assert strict.code == 1
    assert "cards/zz-test.yaml:7:14: warning:" in strict.stderr


def test_usage_errors_exit_2(deckgen, tmp_path):
    run = deckgen("check", tmp_path / "nowhere")
    assert run.code == 2
    assert "not a deck project" in run.stderr
    assert "Traceback" not in run.output
    assert deckgen("build", "--no-such-option").code == 2


def test_split_writes_one_package_per_theme(deckgen, shipped_project, tmp_path):
    out = tmp_path / "split"
    run = deckgen("build", shipped_project, "--split", "--out", out)
    assert run.code == 0, run.output
    themes = {yaml.safe_load(p.read_text(encoding="utf-8"))["theme"] for p in (shipped_project / "cards").glob("*.yaml")}
    packages = sorted(out.glob("*.apkg"))
    assert len(packages) == len(themes)
    collection = AnkiCollection(tmp_path / "split.anki2")
    try:
        total = sum(collection.import_package(package).new for package in packages)
        cards = sum(len(yaml.safe_load(p.read_text(encoding="utf-8"))["cards"])
                    for p in (shipped_project / "cards").glob("*.yaml"))
        assert total == cards
        root = yaml.safe_load((shipped_project / "deckgen.yaml").read_text())["deck"]
        assert collection.deck_names() == {root} | {f"{root}::{theme}" for theme in themes}
    finally:
        collection.close()


@pytest.mark.parametrize("setting", [None, "some-plugin"])
def test_loading_deckgen_leaves_the_pydantic_plugin_setting_as_it_was(setting):
    """deckgen builds its models without looking for pydantic plugins, and leaves the
    environment as it found it."""
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    if setting is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = setting
    script = ("import os, deckgen.cli, deckgen.pipeline, pydantic.plugin._loader as loader; "
              "print(repr(os.environ.get('PYDANTIC_DISABLE_PLUGINS')), loader._plugins)")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [repr(setting), "None"]


_FREE_AND_MEASURE = """
import os, sys
from deckgen.cli import keep_freed_memory

agreed = keep_freed_memory() if sys.argv[1] == "keep" else None

def resident():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

# 100 MB in blocks small enough for the heap (not mapped one by one), then freed.
blocks = [bytearray(64 * 1024) for _ in range(1600)]
held = resident()
del blocks
print(agreed, (held - resident()) >> 20)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="the allocator setting is glibc's")
def test_the_command_line_keeps_freed_memory_for_reuse():
    """After `keep_freed_memory` (which `deckgen` calls first), memory freed at the top of the
    heap stays with the process for the next allocation; without it, glibc hands it back."""
    def freed_mb(mode: str) -> tuple[str, int]:
        out = subprocess.run([sys.executable, "-c", _FREE_AND_MEASURE, mode], capture_output=True, text=True,
                             check=True)
        agreed, handed_back = out.stdout.split()
        return agreed, int(handed_back)

    agreed, handed_back = freed_mb("keep")
    assert agreed == "True" and handed_back < 10
    agreed, handed_back = freed_mb("default")
    assert agreed == "None" and handed_back >= 90


def test_a_python_without_ctypes_leaves_the_allocator_alone(monkeypatch):
    """Python built without ctypes: the setting is skipped, and the command line still starts."""
    from deckgen.cli import keep_freed_memory

    monkeypatch.setitem(sys.modules, "ctypes", None)  # `import ctypes` now raises ImportError
    assert keep_freed_memory() is False
