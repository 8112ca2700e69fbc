from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

# Examples are timed by wall clock; on a loaded 2-core machine a deadline only adds flakiness.
# In CI the examples are derandomized, so a red run is reproducible by rerunning it.
settings.register_profile("deckgen", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "deckgen")

REPO = Path(__file__).resolve().parents[1]
PROJECT_PARTS = ("cards", "sources", "templates", "deckgen.yaml", "deckgen.lock")


def copy_project(destination: Path, parts=PROJECT_PARTS, source: Path = REPO) -> Path:
    destination.mkdir(parents=True, exist_ok=True)
    for part in parts:
        origin = source / part
        if origin.is_dir():
            shutil.copytree(origin, destination / part)
        elif origin.exists():
            shutil.copy2(origin, destination / part)
    return destination


@pytest.fixture
def shipped_project(tmp_path: Path) -> Path:
    """A copy of the repository's own deck project, safe to edit and build."""
    return copy_project(tmp_path / "project")


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def deckgen():
    """Run the real ``deckgen`` command in a subprocess, as a user would."""

    def run(*args: str | Path, cwd: Path | None = None) -> Run:
        env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
        completed = subprocess.run(
            [sys.executable, "-m", "deckgen", *map(str, args)],
            capture_output=True, text=True, cwd=cwd, env=env, timeout=300,
        )
        return Run(completed.returncode, completed.stdout, completed.stderr)

    return run


@pytest.fixture
def anki_collection(tmp_path: Path):
    from anki_support import AnkiCollection

    collection = AnkiCollection(tmp_path / "collection.anki2")
    yield collection
    collection.close()
