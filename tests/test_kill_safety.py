"""A build killed at any moment loses nothing: the previous package and ledger stay whole, and the
next build is correct.

Every output is written to a temporary file beside it and renamed into place (``atomic.py``), the
ledger only after the packages. These tests start a real ``deckgen build`` on a large generated
project and SIGKILL it: once exactly while the package's temporary file is being written, once
while the ledger's is, and then at random moments. Builds are pinned with SOURCE_DATE_EPOCH, so the
complete build of the changed project has known bytes: after every kill the package and the ledger
must each be byte-identical to either the old or the new complete file, never anything else.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from anki_support import AnkiCollection
from conftest import copy_project

CARDS_PER_THEME = 1200
THEMES = 8
ADDED = 5
EVIDENCE = [
    "Secretly, however, Stalin had embarked on energetic steps. Japan had changed his mind.",
    "Japanese troops entered Harbin, the main Soviet railway junction in China, on February 5, 1932",
    "Stalin was himself demanding forced creation of 40 to 50 new divisions.",
]
OLD_EPOCH, NEW_EPOCH = "1800000000", "1800000600"
PACKAGE = "deckgen.apkg"
LEDGER = "deckgen.lock"


def _write_cards(project: Path, answer: str, added: int = 0) -> None:
    for theme in range(THEMES):
        parts = [f"theme: Theme {theme}\nsource: kotkin-1932\ncards:\n"]
        count = CARDS_PER_THEME + (added if theme == 0 else 0)
        for n in range(count):
            parts.append(
                f"  - id: theme-{theme}-card-{n}\n    type: fact\n"
                f"    front: Question {n} of theme {theme}, what does Kotkin write?\n"
                f"    back: {answer} {n} ({'padding ' * 10})\n"
                f"    evidence: {EVIDENCE[n % len(EVIDENCE)]}\n"
            )
        (project / "cards" / f"theme-{theme}.yaml").write_text("".join(parts), encoding="utf-8")


def _env(epoch: str) -> dict[str, str]:
    return {**os.environ, "SOURCE_DATE_EPOCH": epoch, "NO_COLOR": "1", "COLUMNS": "200"}


def _start(project: Path, epoch: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "deckgen", "build", str(project), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(epoch))


def _build(project: Path, epoch: str) -> float:
    start = time.perf_counter()
    process = _start(project, epoch)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, (out + err).decode()
    assert b"Traceback" not in out + err
    return time.perf_counter() - start


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _temporaries(folder: Path, name: str) -> list[str]:
    return sorted(e.name for e in os.scandir(folder) if e.name.startswith(f".{name}.") and e.name.endswith(".tmp"))


@dataclass
class Deck:
    project: Path
    old_package: bytes
    old_ledger: bytes
    new_package: str  # digests of the complete build of the changed project
    new_ledger: str
    build_seconds: float

    @property
    def package(self) -> Path:
        return self.project / "dist" / PACKAGE

    @property
    def ledger(self) -> Path:
        return self.project / LEDGER

    def restore_old(self) -> None:
        """Put back the outputs of the previous build (the state every kill starts from)."""
        if _digest(self.package) != hashlib.sha256(self.old_package).hexdigest():
            self.package.write_bytes(self.old_package)
        if _digest(self.ledger) != hashlib.sha256(self.old_ledger).hexdigest():
            self.ledger.write_bytes(self.old_ledger)

    def state(self) -> tuple[str, str]:
        """Each output as 'old' or 'new'; anything else fails the test."""
        package, ledger = _digest(self.package), _digest(self.ledger)
        old_package, old_ledger = (hashlib.sha256(x).hexdigest() for x in (self.old_package, self.old_ledger))
        assert package in (old_package, self.new_package), "the package is neither the old nor the new one"
        assert ledger in (old_ledger, self.new_ledger), "the ledger is neither the old nor the new one"
        result = ("old" if package == old_package else "new", "old" if ledger == old_ledger else "new")
        # The ledger is written after the package: a new ledger never describes an old package.
        assert result != ("old", "new"), result
        return result


@pytest.fixture(scope="module")
def deck(tmp_path_factory: pytest.TempPathFactory) -> Deck:
    """A project of 9,600 cards built once; then every card's answer changes and cards are added."""
    base = tmp_path_factory.mktemp("kill")
    project = copy_project(base / "project", parts=("sources", "templates"))
    (project / "cards").mkdir()
    _write_cards(project, "Answer")
    _build(project, OLD_EPOCH)
    old_package = (project / "dist" / PACKAGE).read_bytes()
    old_ledger = (project / LEDGER).read_bytes()
    _write_cards(project, "Changed answer", added=ADDED)

    reference = base / "reference"
    shutil.copytree(project, reference, ignore=shutil.ignore_patterns(".deckgen-cache"))
    seconds = _build(reference, NEW_EPOCH)
    return Deck(project, old_package, old_ledger, _digest(reference / "dist" / PACKAGE),
                _digest(reference / LEDGER), seconds)


def _kill_when_temporary_appears(deck: Deck, folder: Path, name: str, attempts: int = 20) -> str:
    """Start the build and SIGKILL it the moment its temporary file for ``name`` exists.

    An attempt counts only if the kill landed while the file was still being written: its
    temporary file is still there afterwards (not yet renamed into place). Temporary files
    that earlier killed runs left are not this run's."""
    for _ in range(attempts):
        deck.restore_old()
        left_before = set(_temporaries(folder, name))
        process = _start(deck.project, NEW_EPOCH)
        seen: list[str] = []
        while process.poll() is None:
            seen = [t for t in _temporaries(folder, name) if t not in left_before]
            if seen:
                process.send_signal(signal.SIGKILL)
                break
        process.communicate(timeout=60)
        if seen and process.returncode == -signal.SIGKILL and seen[0] in _temporaries(folder, name):
            return seen[0]
    pytest.fail(f"no kill landed while {name} was being written in {attempts} attempts")


def test_killed_builds_lose_nothing_and_the_next_build_is_right(deck: Deck, tmp_path: Path) -> None:
    # 1. Killed while the package's temporary file is being written: the half-written file is
    #    still there, nothing else moved, and the old package still imports.
    temporary = _kill_when_temporary_appears(deck, deck.package.parent, PACKAGE)
    assert temporary in _temporaries(deck.package.parent, PACKAGE)
    assert deck.package.read_bytes() == deck.old_package
    assert deck.ledger.read_bytes() == deck.old_ledger
    collection = AnkiCollection(tmp_path / "check.anki2")
    try:
        counts = collection.import_package(deck.package)
        assert (counts.new, counts.conflicting) == (THEMES * CARDS_PER_THEME, 0)
    finally:
        collection.close()

    # 2. Killed while the ledger's temporary file is being written: the ledger is the old one,
    #    intact, and the package whole (the new one, or the old one when the kill came before
    #    the package was put in place: the ledger is written while the package is flushed).
    _kill_when_temporary_appears(deck, deck.project, LEDGER)
    assert deck.state()[1] == "old"

    # 3. Killed at random moments, from the old outputs, with the cache warm (as left by the
    #    killed runs) or removed; the delays spread over the whole of a build of that kind.
    deck.restore_old()
    warm_seconds = _build(deck.project, NEW_EPOCH)
    rng = random.Random(20261124)
    outcomes: list[tuple[str, float, tuple[str, str]]] = []
    for run in range(8):
        deck.restore_old()
        cold = run % 2 == 0
        if cold:
            shutil.rmtree(deck.project / ".deckgen-cache", ignore_errors=True)
        seconds = deck.build_seconds if cold else warm_seconds
        # Half the kills anywhere in the run, half in its last quarter, where the files are written.
        delay = rng.uniform(0.05 if run < 4 else seconds * 0.75, seconds * 1.05)
        process = _start(deck.project, NEW_EPOCH)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
        outcomes.append(("cold" if cold else "warm", round(delay, 2), deck.state()))
    print(f"build {deck.build_seconds:.2f}s cold, {warm_seconds:.2f}s warm; kills: {outcomes}")
    deck.restore_old()

    # 4. The next build completes, gives exactly the complete build's bytes, and cleans up the
    #    temporary files the killed runs left.
    _build(deck.project, NEW_EPOCH)
    assert deck.state() == ("new", "new")
    assert _temporaries(deck.package.parent, PACKAGE) == []
    assert _temporaries(deck.project, LEDGER) == []

    # 5. A student who imported the old package gets every note updated and the new ones added.
    old = tmp_path / "old.apkg"
    old.write_bytes(deck.old_package)
    collection = AnkiCollection(tmp_path / "student.anki2")
    try:
        assert collection.import_package(old).new == THEMES * CARDS_PER_THEME
        counts = collection.import_package(deck.package)
        assert (counts.new, counts.updated, counts.conflicting) == (ADDED, THEMES * CARDS_PER_THEME, 0)
        assert len(collection.col.find_notes("")) == THEMES * CARDS_PER_THEME + ADDED
    finally:
        collection.close()


def test_leftovers_of_dead_runs_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    from deckgen.atomic import write_bytes_atomically

    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    target = tmp_path / PACKAGE
    dead = tmp_path / f".{PACKAGE}.{finished.pid}.abcd1234.tmp"
    live = tmp_path / f".{PACKAGE}.{os.getppid()}.abcd1234.tmp"
    other = tmp_path / f".other.apkg.{finished.pid}.abcd1234.tmp"
    for path in (dead, live, other):
        path.write_bytes(b"half a package")
    write_bytes_atomically(target, b"whole")
    assert target.read_bytes() == b"whole"
    assert not dead.exists()
    assert live.exists() and other.exists()


def test_a_replaced_file_keeps_its_permissions(tmp_path: Path) -> None:
    from deckgen.atomic import write_bytes_atomically

    target = tmp_path / LEDGER
    write_bytes_atomically(target, b"{}")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    target.chmod(0o640)
    write_bytes_atomically(target, b"{ }")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_commits_put_files_in_place_in_order_and_stop_at_the_first_failure(tmp_path: Path) -> None:
    from deckgen.atomic import Commits, write_atomically

    first, blocked, last = tmp_path / "first.apkg", tmp_path / "blocked", tmp_path / "last.lock"
    (blocked / "inside").mkdir(parents=True)  # a folder that is not empty: no file can replace it
    last.write_bytes(b"old")
    commits = Commits()
    for path, data in ((first, b"first"), (blocked, b"blocked"), (last, b"new")):
        write_atomically(path, lambda handle, data=data: handle.write(data), commits=commits)
    with pytest.raises(OSError):
        commits.wait()
    assert first.read_bytes() == b"first"
    assert blocked.is_dir()
    assert last.read_bytes() == b"old", "a file written after a failed one replaced its old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocked", "first.apkg", "last.lock"]


def test_commits_wait_for_every_file_before_the_block_ends(tmp_path: Path) -> None:
    from deckgen.atomic import Commits, write_atomically

    paths = [tmp_path / f"file-{n}" for n in range(20)]
    with Commits() as commits:
        for n, path in enumerate(paths):
            write_atomically(path, lambda handle, n=n: handle.write(b"%d" % n * 100_000), commits=commits)
    assert [path.read_bytes() for path in paths] == [b"%d" % n * 100_000 for n in range(20)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)
    with pytest.raises(RuntimeError):
        write_atomically(tmp_path / "late", lambda handle: handle.write(b"late"), commits=commits)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)


def test_scratch_folders_of_dead_runs_are_removed_and_live_ones_kept(tmp_path: Path, monkeypatch) -> None:
    import tempfile

    from deckgen.atomic import scratch_folder

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    dead = tmp_path / f"deckgen-shares-{finished.pid}-abcd1234"
    live = tmp_path / f"deckgen-shares-{os.getppid()}-abcd1234"
    other = tmp_path / f"deckgen-sources-{finished.pid}-abcd1234"
    for folder in (dead, live, other):
        folder.mkdir()
        (folder / "0").write_bytes(b"half the results")
    made = Path(scratch_folder("shares"))
    assert made.parent == tmp_path and made.name.startswith(f"deckgen-shares-{os.getpid()}-")
    assert not dead.exists()
    assert live.exists() and other.exists()
