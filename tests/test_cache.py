"""The project cache (.deckgen-cache) changes how fast a run is, never what it finds.

Every test compares a run that uses the cache with one that does not; none
times anything.
"""

from __future__ import annotations

import os
import pickle
import shutil
import sqlite3
import zipfile
import zlib
from dataclasses import fields
from pathlib import Path

import pytest

from deckgen import cache as cache_module
from deckgen import errorcodes as codes
from deckgen import package, pipeline, render, validate
from deckgen.cache import CACHE_DIR, Cache

NOW = 1_700_000_000

# Problems of every stage, so that cached findings are compared, not only clean results.
BROKEN_CARDS = """\
theme: Broken on purpose
source: kotkin-1932
cards:
  - id: misquoted
    type: fact
    front: What was manufactured?
    back: Tanks
    evidence: the Soviets, who had been incapable of producing a single decent tank, would manufacture 2,700.

  - id: wrong-figure
    type: figure
    prompt: How many tanks?
    value: "3,100"
    evidence: the Soviets, who had been incapable of producing a single decent tank, would manufacture 2,600.

  - id: Not_A_Slug
    type: fact
    front: Bad id
    back: yes
    evidence: Japan had changed his mind.

  - id: unknown-key
    type: fact
    front: A typo in a key
    back: x
    evidnce: Japan had changed his mind.

  - id: other-source
    type: fact
    front: Which source?
    back: Wesser
    evidence: Joseph Stalin ordered the entire Soviet nation into mourning

  - id: good-one
    type: fact
    front: What changed Stalin's mind?
    back: Japan
    evidence: Japan had changed his mind.
"""


@pytest.fixture
def project(shipped_project: Path) -> Path:
    (shipped_project / "cards" / "zz-broken.yaml").write_text(BROKEN_CARDS, encoding="utf-8")
    (shipped_project / "cards" / "zz-not-yaml.yaml").write_text("theme: [unclosed\ncards: []\n", encoding="utf-8")
    return shipped_project


def outcome(result: pipeline.CheckResult) -> tuple:
    """Everything a check finds, positions included."""
    cards = result.project.cards
    return (
        list(result.report.diagnostics),
        dict(result.checked.anchors),
        result.project.files,
        [entry.fields for entry in cards],
        [entry.location for entry in cards],
    )


def source_state(result: pipeline.CheckResult) -> dict:
    return {sid: {f.name: getattr(text, f.name) for f in fields(text)} for sid, text in result.texts.items()}


def cache_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / CACHE_DIR).rglob("*") if p.is_file() and p.name != ".gitignore")


def test_cached_check_equals_uncached(project: Path) -> None:
    plain = pipeline.check_project(project, use_cache=False)
    assert not (project / CACHE_DIR).exists()
    cold = pipeline.check_project(project)
    assert cache_files(project)
    warm = pipeline.check_project(project)
    assert plain.report.failed()
    codes_found = {d.code for d in plain.report.diagnostics}
    assert {codes.EVIDENCE_NOT_FOUND, codes.FIGURE_UNSUPPORTED, codes.BAD_ID, codes.UNKNOWN_KEY,
            codes.FOUND_IN_OTHER_SOURCE, codes.YAML_SYNTAX} <= codes_found
    assert outcome(cold) == outcome(plain)
    assert outcome(warm) == outcome(plain)
    assert source_state(warm) == source_state(plain)


def test_a_check_without_anchors_finds_the_same(project: Path) -> None:
    """`deckgen check` asks for no anchors: without the cache it makes none, and finds all
    the same; with the cache it makes them anyway, for the builds that come after it."""
    plain = pipeline.check_project(project, use_cache=False)
    bare = pipeline.check_project(project, use_cache=False, anchors=False)
    assert plain.checked.anchors and not bare.checked.anchors
    assert outcome(bare)[:1] + outcome(bare)[2:] == outcome(plain)[:1] + outcome(plain)[2:]
    cached = pipeline.check_project(project, anchors=False)
    assert outcome(cached) == outcome(plain)
    assert outcome(pipeline.check_project(project)) == outcome(plain)


def test_cached_build_is_byte_identical(shipped_project: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(shipped_project, other)

    def products(root: Path) -> dict[str, bytes]:
        built = {p.name: p.read_bytes() for p in (root / "dist").glob("*.apkg")}
        return {**built, "ledger": (root / "deckgen.lock").read_bytes()}

    pipeline.build_project(shipped_project, now=NOW)
    pipeline.build_project(other, now=NOW, use_cache=False)
    assert products(shipped_project) == products(other)

    for root in (shipped_project, other):
        card_file = root / "cards" / "kotkin-1932-famine-and-strain.yaml"
        text = card_file.read_text(encoding="utf-8")
        card_file.write_text(text.replace("back: The 17th party conference", "back: The party conference"),
                             encoding="utf-8")
    warm = pipeline.build_project(shipped_project, now=NOW + 1)
    plain = pipeline.build_project(other, now=NOW + 1, use_cache=False)
    assert warm.changed_notes == plain.changed_notes == 1
    assert products(shipped_project) == products(other)

    pipeline.build_project(shipped_project, now=NOW + 2, split=True)
    pipeline.build_project(other, now=NOW + 2, split=True, use_cache=False)
    assert products(shipped_project) == products(other)

    for root in (shipped_project, other):  # a rebuild of one package among many
        card_file = root / "cards" / "kotkin-1932-famine-and-strain.yaml"
        text = card_file.read_text(encoding="utf-8")
        card_file.write_text(text.replace("back: The party conference", "back: The 17th party conference"),
                             encoding="utf-8")
    warm = pipeline.build_project(shipped_project, now=NOW + 3, split=True)
    plain = pipeline.build_project(other, now=NOW + 3, split=True, use_cache=False)
    assert warm.changed_notes == plain.changed_notes == 1
    assert products(shipped_project) == products(other)


def cards_checked(monkeypatch) -> list[str]:
    """The ids of the cards checked from now on (not found in the cache), in order."""
    checked: list[str] = []
    real_run = validate._CardChecker.run

    def counted_run(self: validate._CardChecker, *args: object) -> object:
        checked.append(self.entry.id)
        return real_run(self, *args)

    monkeypatch.setattr(validate._CardChecker, "run", counted_run)
    return checked


def write_held_values_in_a_child(monkeypatch) -> list[int]:
    """Have every build write its held cache values from a child process, however few they
    are; the list returned counts the children started."""
    started: list[int] = []
    real = cache_module.in_background

    def counted(work):
        started.append(1)
        return real(work)

    monkeypatch.setattr(cache_module, "_HELD_FOR_BACKGROUND", 1)
    monkeypatch.setattr(cache_module, "in_background", counted)
    return started


def test_entries_written_by_a_child_process_serve_the_next_build(shipped_project: Path, tmp_path: Path,
                                                                  monkeypatch) -> None:
    children = write_held_values_in_a_child(monkeypatch)
    checked = cards_checked(monkeypatch)
    other = tmp_path / "other"
    shutil.copytree(shipped_project, other)
    first = pipeline.build_project(shipped_project, now=NOW)
    assert children == [1]
    card_files = len(first.check.project.files)
    for layer in ("cards", "checks", "notes"):  # all there once the build has returned
        assert len(entries(shipped_project, layer)) == card_files

    checked.clear()
    rendered: list[str] = []
    real_fields = render.Renderer.fields
    monkeypatch.setattr(render.Renderer, "fields",
                        lambda self, entry, *args: rendered.append(entry.id) or real_fields(self, entry, *args))
    warm = pipeline.build_project(shipped_project, now=NOW + 1)
    assert checked == [] and rendered == []  # every verdict and note came from those entries
    assert not any(isinstance(f.cards, cache_module.LazyTuple) and f.cards.built for f in warm.check.project.files)
    pipeline.build_project(other, now=NOW + 1, use_cache=False)
    apkg = Path("dist") / "stalin-and-the-great-powers.apkg"
    assert (shipped_project / apkg).read_bytes() == (other / apkg).read_bytes()


def test_a_build_that_fails_on_its_cards_still_writes_what_it_read(project: Path, tmp_path: Path,
                                                                   monkeypatch) -> None:
    write_held_values_in_a_child(monkeypatch)
    other = tmp_path / "other"
    shutil.copytree(project, other)

    def built(result: pipeline.CheckResult) -> set[str]:
        return {file.path.name for file in result.project.files
                if not isinstance(file.cards, cache_module.LazyTuple) or file.cards.built}

    with pytest.raises(pipeline.ContentError):
        pipeline.build_project(project, now=NOW)
    pipeline.check_project(other)
    # The next run finds what a check would have left: only the file with findings is built again.
    assert built(pipeline.check_project(project)) == built(pipeline.check_project(other)) == {"zz-broken.yaml"}
    for layer in ("cards", "checks"):
        assert entries(project, layer) == entries(other, layer)


def test_a_cached_run_builds_the_cards_of_edited_files_only(shipped_project: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(shipped_project, other)
    pipeline.build_project(shipped_project, now=NOW)
    edited = "kotkin-1932-famine-and-strain.yaml"
    for root in (shipped_project, other):
        card_file = root / "cards" / edited
        text = card_file.read_text(encoding="utf-8")
        card_file.write_text(text.replace("back: The 17th party conference", "back: The party conference"),
                             encoding="utf-8")

    def built(result: pipeline.CheckResult) -> set[str]:
        return {file.path.name for file in result.project.files
                if not isinstance(file.cards, cache_module.LazyTuple) or file.cards.built}

    warm = pipeline.build_project(shipped_project, now=NOW + 1)
    assert built(warm.check) == {edited}
    assert len(warm.check.project.files) > 5
    checked = pipeline.check_project(shipped_project)
    assert built(checked) == set()
    assert checked.project.card_count == len(checked.project.cards) == warm.notes
    # What was never built is what a run without the cache builds.
    plain = pipeline.check_project(other, use_cache=False)
    assert outcome(checked) == outcome(plain)


def test_a_reworded_question_is_not_checked_again(shipped_project: Path, tmp_path: Path, monkeypatch) -> None:
    """A card's verdict is remembered under the values its checks read: rewording its question
    or answer renders its note again but does not check it again; changing its evidence does."""
    checked = cards_checked(monkeypatch)
    other = tmp_path / "other"
    shutil.copytree(shipped_project, other)
    pipeline.build_project(shipped_project, now=NOW)
    card_file = Path("cards") / "kotkin-1932-famine-and-strain.yaml"
    apkg = Path("dist") / "stalin-and-the-great-powers.apkg"

    def rebuilt_after(old: str, new: str, now: int) -> list[str]:
        for root in (shipped_project, other):
            text = (root / card_file).read_text(encoding="utf-8")
            assert old in text
            (root / card_file).write_text(text.replace(old, new, 1), encoding="utf-8")
        checked.clear()
        warm = pipeline.build_project(shipped_project, now=now)
        counted = list(checked)
        plain = pipeline.build_project(other, now=now, use_cache=False)
        assert warm.changed_notes == plain.changed_notes == 1
        assert (shipped_project / apkg).read_bytes() == (other / apkg).read_bytes()
        assert outcome(pipeline.check_project(shipped_project)) == outcome(pipeline.check_project(other,
                                                                                                  use_cache=False))
        return counted

    assert rebuilt_after("front: To coincide with what event was", "front: With what event was", NOW + 1) == []
    assert rebuilt_after("back: The 17th party conference", "back: The party conference", NOW + 2) == []
    assert rebuilt_after("to coincide with the 17th party conference.", "to coincide with the 17th party conference",
                         NOW + 3) == ["kotkin-1932-magnitogorsk-conference"]


def test_a_rebuild_deflates_again_only_the_pieces_that_changed(shipped_project: Path, tmp_path: Path,
                                                               monkeypatch) -> None:
    # Small pieces, so that the shipped deck's collection spans many of them.
    monkeypatch.setattr(package, "_PIECE", 4096)
    deflated: list[int] = []
    real_compressobj = zlib.compressobj

    def counted(*args: int) -> zlib._Compress:
        deflated.append(1)
        return real_compressobj(*args)

    monkeypatch.setattr(zlib, "compressobj", counted)
    other = tmp_path / "other"
    shutil.copytree(shipped_project, other)
    apkg = Path("dist") / "stalin-and-the-great-powers.apkg"

    def deflations(root: Path, now: int, use_cache: bool = True) -> int:
        deflated.clear()
        pipeline.build_project(root, now=now, use_cache=use_cache)
        return len(deflated)

    every_piece = deflations(shipped_project, NOW)
    assert every_piece > 50
    assert deflations(shipped_project, NOW) == 0  # nothing changed: every piece is at hand
    for root in (shipped_project, other):
        card_file = root / "cards" / "kotkin-1932-famine-and-strain.yaml"
        text = card_file.read_text(encoding="utf-8")
        card_file.write_text(text.replace("back: The 17th party conference", "back: The party conference"),
                             encoding="utf-8")
    written: list[str] = []
    real_put_bytes = Cache.put_bytes

    def counted_put(self: Cache, layer: str, key: str, payload: bytes) -> None:
        written.append(layer)
        real_put_bytes(self, layer, key, payload)

    monkeypatch.setattr(Cache, "put_bytes", counted_put)
    changed = deflations(shipped_project, NOW + 1)
    monkeypatch.setattr(Cache, "put_bytes", real_put_bytes)
    assert 0 < changed < every_piece / 4
    assert deflations(other, NOW + 1, use_cache=False) == every_piece
    assert (shipped_project / apkg).read_bytes() == (other / apkg).read_bytes()
    with zipfile.ZipFile(shipped_project / apkg) as archive:
        assert archive.testzip() is None
        database = archive.read("collection.anki2")
    # The rebuild wrote the pieces it deflated, and no other; the cache holds the pieces of
    # this build's package alone (equal pieces once).
    assert written.count("pieces") == changed
    starts = range(0, len(database), 4096)
    distinct = len({(database[start:start + 4096], start == starts[-1]) for start in starts})
    assert len(entries(shipped_project, "pieces")) == distinct + 1  # and the media file's

    # Pieces that no longer read back whole are deflated again, to the same bytes.
    for name in entries(shipped_project, "pieces"):
        entry = shipped_project / CACHE_DIR / "pieces" / name
        entry.write_bytes(entry.read_bytes()[:-100])
    assert deflations(shipped_project, NOW + 1) == every_piece
    assert (shipped_project / apkg).read_bytes() == (other / apkg).read_bytes()


def test_a_rebuild_copies_the_rows_of_unchanged_notes(shipped_project: Path, tmp_path: Path, monkeypatch) -> None:
    inserted: list[int] = []  # per build: the notes whose rows it inserted rather than copied
    rendered: list[str] = []  # the cards whose fields were rendered
    real_insert = package._insert_rows
    real_fields = render.Renderer.fields

    def counted_insert(*args: object) -> tuple[int, int]:
        notes, cards = real_insert(*args)
        inserted.append(notes)
        return notes, cards

    def counted_fields(self: render.Renderer, entry: object, *args: object) -> list[str]:
        rendered.append(entry.id)  # type: ignore[attr-defined]
        return real_fields(self, entry, *args)

    monkeypatch.setattr(package, "_insert_rows", counted_insert)
    monkeypatch.setattr(render.Renderer, "fields", counted_fields)
    other = tmp_path / "other"
    shutil.copytree(shipped_project, other)
    apkg = Path("dist") / "stalin-and-the-great-powers.apkg"
    card_file = Path("cards") / "kotkin-1932-famine-and-strain.yaml"

    def edit(old: str, new: str) -> None:
        for root in (shipped_project, other):
            text = (root / card_file).read_text(encoding="utf-8")
            assert old in text
            (root / card_file).write_text(text.replace(old, new, 1), encoding="utf-8")

    def rebuild(now: int) -> tuple[list[int], list[str]]:
        inserted.clear()
        rendered.clear()
        result = pipeline.build_project(shipped_project, now=now)
        counts = (list(inserted), list(rendered))
        plain = pipeline.build_project(other, now=now, use_cache=False)
        assert (result.notes, result.changed_notes) == (plain.notes, plain.changed_notes)
        assert (shipped_project / apkg).read_bytes() == (other / apkg).read_bytes()
        assert (shipped_project / "deckgen.lock").read_bytes() == (other / "deckgen.lock").read_bytes()
        return counts

    every_card = [entry.id for entry in pipeline.check_project(other, use_cache=False).project.cards]
    all_notes = len(every_card)
    edited = ["kotkin-1932-magnitogorsk-conference"]
    assert rebuild(NOW) == ([all_notes], every_card)
    edit("back: The 17th party conference", "back: The party conference")
    assert rebuild(NOW + 1) == ([1], edited)
    assert rebuild(NOW + 1) == ([0], [])

    # The deflated pieces gone: they are deflated again, and the rows still copied.
    remove_entries(shipped_project, "pieces")
    edit("back: The party conference", "back: The 17th party conference")
    assert rebuild(NOW + 2) == ([1], edited)
    # The bytes of the last collection gone: every note is rendered and inserted again; and the
    # collection is kept again, though it has not changed.
    remove_entries(shipped_project, "database")
    assert rebuild(NOW + 2) == ([all_notes], every_card)
    edit("back: The 17th party conference", "back: The party conference")
    assert rebuild(NOW + 3) == ([1], edited)
    # A renamed theme: its notes move to another deck, so their rows are not in the collection
    # to copy; they are rendered again, and the rest still copied.
    edit("theme: ", "theme: Renamed ")
    renamed = [entry.id for entry in pipeline.check_project(other, use_cache=False).project.cards
               if entry.theme.startswith("Renamed ")]
    assert 0 < len(renamed) < all_notes // 2
    assert rebuild(NOW + 3) == ([len(renamed)], renamed)
    # Only the last collection's bytes are kept.
    assert len([entry for entry in (shipped_project / CACHE_DIR / "database").iterdir()
                if entry.name != ".gitignore"]) == 1
    # A template that changes every note: nothing is worth copying.
    for root in (shipped_project, other):
        citation = root / "templates" / "fields" / "citation.html"
        citation.write_text(citation.read_text(encoding="utf-8").replace('"dg-cite-source"', '"dg-cite-source dg-from"'), encoding="utf-8")
    assert rebuild(NOW + 4) == ([all_notes], every_card)


@pytest.mark.parametrize("damage", ["garbage", "empty collection", "other notes"])
def test_a_collection_that_reads_back_wrong_is_not_copied(shipped_project: Path, tmp_path: Path, monkeypatch,
                                                           damage: str) -> None:
    other = tmp_path / "other"
    shutil.copytree(shipped_project, other)
    pipeline.build_project(shipped_project, now=NOW)
    real_get_bytes = Cache.get_bytes

    def damaged(self: Cache, layer: str, key: str) -> bytes | memoryview | None:
        database = real_get_bytes(self, layer, key)
        if layer != "database":  # the deflated pieces
            return database
        assert database is not None  # the shipped deck's collection is a single piece
        if damage == "garbage":
            return bytes(len(database))
        connection = sqlite3.connect(":memory:")
        connection.deserialize(database)
        if damage == "empty collection":
            connection.execute("DELETE FROM notes")
        else:
            connection.execute("UPDATE notes SET id = id + 1 WHERE id = (SELECT max(id) FROM notes)")
        connection.commit()
        return connection.serialize()

    monkeypatch.setattr(Cache, "get_bytes", damaged)
    card_file = Path("cards") / "kotkin-1932-famine-and-strain.yaml"
    for root in (shipped_project, other):
        text = (root / card_file).read_text(encoding="utf-8")
        (root / card_file).write_text(text.replace("back: The 17th party conference", "back: The party conference"),
                                      encoding="utf-8")
    warm = pipeline.build_project(shipped_project, now=NOW + 1)
    plain = pipeline.build_project(other, now=NOW + 1, use_cache=False)
    assert warm.notes == plain.notes and warm.changed_notes == plain.changed_notes == 1
    apkg = Path("dist") / "stalin-and-the-great-powers.apkg"
    assert (shipped_project / apkg).read_bytes() == (other / apkg).read_bytes()


def entries(root: Path, layer: str) -> set[str]:
    return {entry.name for entry in (root / CACHE_DIR / layer).iterdir() if entry.name != ".gitignore"}


def remove_entries(root: Path, *layers: str) -> None:
    for layer in layers:
        for name in entries(root, layer):
            (root / CACHE_DIR / layer / name).unlink()


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty", "swap"])
def test_corrupt_cache_is_ignored(project: Path, damage: str) -> None:
    plain = pipeline.check_project(project, use_cache=False)
    pipeline.check_project(project)
    entries = cache_files(project)
    assert entries
    for index, path in enumerate(entries):
        data = path.read_bytes()
        if damage == "truncate":
            path.write_bytes(data[: len(data) // 2])
        elif damage == "flip":
            spot = len(data) - 1 - index % 50
            path.write_bytes(data[:spot] + bytes([data[spot] ^ 0x10]) + data[spot + 1:])
        elif damage == "garbage":
            path.write_bytes(os.urandom(200))
        elif damage == "empty":
            path.write_bytes(b"")
        elif damage == "swap":  # a whole, valid entry, filed under another key
            other = entries[(index + 1) % len(entries)]
            if other != path:
                shutil.copyfile(other, path.with_name(path.name + ".swap"))
    if damage == "swap":
        for path in entries:
            swapped = path.with_name(path.name + ".swap")
            if swapped.exists():
                swapped.replace(path)
    assert outcome(pipeline.check_project(project)) == outcome(plain)
    # The run replaced what it could not read: the next one is served from the cache again.
    assert outcome(pipeline.check_project(project)) == outcome(plain)


def test_a_cache_entry_cannot_run_code(project: Path, tmp_path: Path) -> None:
    plain = pipeline.check_project(project, use_cache=False)
    pipeline.check_project(project)
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    payload = pickle.dumps(Exploit())
    for path in cache_files(project):
        data = path.read_bytes()
        magic = data[: len(cache_module._MAGIC)]
        key = data[len(magic) + 4: len(magic) + 36]
        path.write_bytes(magic + zlib.crc32(payload).to_bytes(4, "little") + key + payload)
    assert outcome(pipeline.check_project(project)) == outcome(plain)
    assert not marker.exists()


def test_edited_card_file_is_parsed_again(project: Path) -> None:
    pipeline.check_project(project)
    card_file = project / "cards" / "zz-broken.yaml"
    text = card_file.read_text(encoding="utf-8")
    # Two lines above every card move its findings down; a fixed card loses its finding.
    edited = text.replace("cards:\n", "cards:\n  # a comment\n  # another\n", 1)
    edited = edited.replace("would manufacture 2,700.", "would manufacture 2,600.")
    card_file.write_text(edited, encoding="utf-8")
    warm = pipeline.check_project(project)
    plain = pipeline.check_project(project, use_cache=False)
    assert outcome(warm) == outcome(plain)
    assert not any(d.card == "misquoted" for d in warm.report.diagnostics)
    (figure,) = [d for d in warm.report.diagnostics if d.card == "wrong-figure"]
    assert figure.location.line == edited.splitlines().index('    value: "3,100"') + 1


def test_edited_source_is_normalised_again(project: Path) -> None:
    pipeline.check_project(project)
    source = project / "sources" / "kotkin-1932.txt"
    os.chmod(source, 0o644)
    source.write_text(source.read_text(encoding="utf-8").replace("Japan had changed his mind.", "Japan mattered."),
                      encoding="utf-8")
    warm = pipeline.check_project(project)
    assert outcome(warm) == outcome(pipeline.check_project(project, use_cache=False))
    assert any(d.card == "good-one" and d.code is codes.EVIDENCE_NOT_FOUND for d in warm.report.diagnostics)


def test_no_cache_reads_and_writes_nothing(project: Path, deckgen) -> None:
    run = deckgen("check", project, "--no-cache")
    assert run.code == 1
    assert not (project / CACHE_DIR).exists()
    assert deckgen("check", project).output == run.output
    assert (project / CACHE_DIR).is_dir()


def test_a_new_deckgen_version_does_not_read_old_entries(project: Path, monkeypatch) -> None:
    plain = pipeline.check_project(project, use_cache=False)
    pipeline.check_project(project)
    before = {p.name for p in cache_files(project)}
    monkeypatch.setattr(cache_module, "__version__", "999.0")
    cache_module.salt.cache_clear()
    try:
        assert outcome(pipeline.check_project(project)) == outcome(plain)
        after = {p.name for p in cache_files(project)}
    finally:
        monkeypatch.undo()
        cache_module.salt.cache_clear()
    assert after and not after & before  # old entries were neither used nor kept


def test_deflated_pieces_are_kept_under_keys_a_project_cannot_name(shipped_project: Path, monkeypatch) -> None:
    """A piece's own key is a digest of its bytes, which a shared deck's cache could carry an
    entry under; the entries are named by the cache's salt as well."""
    pipeline.build_project(shipped_project, now=NOW)
    before = entries(shipped_project, "pieces")
    monkeypatch.setattr(cache_module, "__version__", "999.0")
    cache_module.salt.cache_clear()
    try:
        pipeline.build_project(shipped_project, now=NOW)
        after = entries(shipped_project, "pieces")
    finally:
        monkeypatch.undo()
        cache_module.salt.cache_clear()
    assert after and not after & before


def test_sources_normalised_in_parallel_are_the_same(project: Path, monkeypatch) -> None:
    plain = pipeline.check_project(project, use_cache=False)
    monkeypatch.setattr(pipeline, "PARALLEL_SOURCE_BYTES", 0)
    parallel = pipeline.check_project(project)
    assert outcome(parallel) == outcome(plain)
    assert source_state(parallel) == source_state(plain)
    # What the workers pickled was stored as it came, and reads back as the same sources.
    stored = list((project / ".deckgen-cache" / "sources").glob("*"))
    assert stored
    monkeypatch.setattr(pipeline, "PARALLEL_SOURCE_BYTES", 1 << 40)

    def normalised_again(raw: str) -> None:
        raise AssertionError("a source the workers normalised was normalised again")

    monkeypatch.setattr(pipeline, "load_source_text", normalised_again)
    again = pipeline.check_project(project)
    assert outcome(again) == outcome(plain)
    assert source_state(again) == source_state(plain)
    assert sorted(stored) == sorted((project / ".deckgen-cache" / "sources").glob("*"))


def test_a_rebuild_reads_the_ledger_from_the_cache_only_while_the_file_is_unchanged(
        shipped_project: Path, tmp_path: Path, monkeypatch) -> None:
    other = tmp_path / "other"
    shutil.copytree(shipped_project, other)
    ledger_file = shipped_project / "deckgen.lock"
    pipeline.build_project(shipped_project, now=NOW)
    pipeline.build_project(other, now=NOW, use_cache=False)
    parsed = []
    real_parse = pipeline.Ledger.parse
    monkeypatch.setattr(pipeline.Ledger, "parse", classmethod(
        lambda cls, raw, path: parsed.append(path) or real_parse.__func__(cls, raw, path)))

    def rebuild(now: int) -> bytes:
        pipeline.build_project(shipped_project, now=now)
        pipeline.build_project(other, now=now, use_cache=False)
        built = next((shipped_project / "dist").glob("*.apkg")).read_bytes()
        assert built == next((other / "dist").glob("*.apkg")).read_bytes()
        assert ledger_file.read_bytes() == (other / "deckgen.lock").read_bytes()
        return built

    rebuild(NOW + 1)
    assert parsed == [other / "deckgen.lock"]  # the cached build read the columns its last build stored
    assert len(list((shipped_project / ".deckgen-cache" / "ledger").glob("*"))) == 1

    # An edit to a card changes the ledger; the next build reads the columns stored with it.
    for root in (shipped_project, other):
        card_file = root / "cards" / "kotkin-1932-famine-and-strain.yaml"
        text = card_file.read_text(encoding="utf-8")
        card_file.write_text(text.replace("back: The 17th party conference", "back: The party conference"),
                             encoding="utf-8")
    parsed.clear()
    rebuild(NOW + 2)
    rebuild(NOW + 3)
    assert shipped_project / "deckgen.lock" not in parsed
    assert len(list((shipped_project / ".deckgen-cache" / "ledger").glob("*"))) == 1

    # A ledger edited by hand (another hash for one note) is parsed again, and its stamps used:
    # that note counts as changed.
    for root in (shipped_project, other):
        path = root / "deckgen.lock"
        text = path.read_text(encoding="utf-8")
        at = text.index('"hash": "', text.index('"notes"')) + len('"hash": "')
        path.write_text(text[:at] + "edited" + text[at:], encoding="utf-8")
    parsed.clear()
    before = ledger_file.read_bytes()
    rebuild(NOW + 4)
    assert shipped_project / "deckgen.lock" in parsed
    assert ledger_file.read_bytes() != before


def test_a_kept_collection_reads_back_as_it_was_written() -> None:
    from deckgen.lastbuild import _columns, _written_collection

    signatures = {7: ("g1", "d1", 11, 1_700_000_000, 3), 5: ("g2", "d2", 12, 1_700_000_001, 4)}
    for notes in (signatures, {}):
        written = package.WrittenCollection(("a", "b"), 1234, notes)
        kept = pickle.loads(pickle.dumps(_columns(written), protocol=pickle.HIGHEST_PROTOCOL))
        assert _written_collection(kept) == written
    for garbage in (None, written, ("a", 1, (), ((),) * 5), (("a",), 1, (7,), ((),) * 5), (("a",), 1, (), ((),) * 4)):
        assert _written_collection(garbage) is None


def test_card_keys_are_digests_of_a_fresh_pickle_however_often_they_are_made() -> None:
    import datetime
    import hashlib
    import io
    import pickle

    from deckgen.project import _digest_of

    shared = "a string held twice"
    values = [("FactCard", (("front", shared), ("back", shared)), "Theme", "src", ("t",)),
              ("DateCard", (("date", datetime.date(1941, 6, 22)), ("page", 774)), "Théme", "src", ()),
              ((), None, 1.5, -2**70, b"bytes")]

    def fresh(value) -> str:
        buffer = io.BytesIO()
        pickler = pickle.Pickler(buffer, protocol=5)
        pickler.fast = True
        pickler.dump(value)
        return hashlib.sha256(buffer.getvalue()).hexdigest()

    for value in values * 3:
        assert _digest_of(value) == fresh(value)
    # Equal values give equal keys whether or not they share objects (no memo).
    assert _digest_of(values[0]) == _digest_of(("FactCard", (("front", "a string held" + " twice"),
                                                              ("back", "a string held twice")), "Theme", "src", ("t",)))


def test_the_standard_values_an_entry_may_hold_read_back(tmp_path: Path) -> None:
    """However this Python names them when it pickles them (3.13 pickles paths as
    pathlib._local's): an entry that does not read back is a miss on every run."""
    import array
    import datetime
    from pathlib import PurePosixPath, PureWindowsPath

    values = [Path("cards") / "a.yaml", PurePosixPath("cards/a.yaml"), PureWindowsPath(r"cards\a.yaml"),
              datetime.date(1941, 6, 22), array.array("i", [1, 2, 3]), {1, 2}, frozenset({3}), codes.BAD_ID]
    cache = Cache(tmp_path)
    for n, value in enumerate(values):
        key = f"{n:064x}"
        cache.put("cards", key, (value,))
        assert cache.get("cards", key) == (value,), value
    assert cache.misses == 0
