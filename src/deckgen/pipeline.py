"""The two jobs deckgen does, as plain functions the CLI (or anything else) can call.

check: load sources → load cards → validate.
build: check → render → package → write. Nothing is written unless every
stage before it succeeded.

Both keep what is slow to recompute in the project's cache (see ``cache``):
normalised sources, parsed card files, each card's verdict, each note's
rendered fields and the deflated pieces of the last packages, each under a key
that hashes all its inputs. A run with the cache gives exactly the results of a
run without it (``use_cache=False``). What a run reads back from the cache but
may not need (a file's cards, a card's anchor) stays pickled until it is used.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import os
import pickle
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from . import errorcodes as codes
from .anchors import Anchor
from .atomic import Commits
from .cache import Cache, LazyTuple, NoCache, digest, open_cache, unpickle
from .diagnostics import ContentError, DeckgenError, Diagnostic, Location, Report
from .identity import LEDGER_FILE, Ledger, build_time, content_hash, note_guid, stable_id
from .lastbuild import LastBuild
from .models import Project, Source
from .notetypes import NOTE_TYPES
from .parallel import Claimed, cpus, map_in_workers, workers_for
from .project import load_project, slugify
from .sourcetext import MAX_SOURCE_BYTES, SourceText, load_source_text
from .validate import Checked, RememberedVerdict, validate

if TYPE_CHECKING:
    from .package import (DeckRows, DeflatedPieces, KnownNote, NoteRow, PackageStats, Signature, StampedModel,
                          WrittenCollection)
    from .render import CompiledNoteType, Renderer

# A progress report: the stage, and how much of it is done out of how much.
Progress = Callable[[str, int, int], None]

# Sources larger than this in total are normalised in parallel when none is cached.
PARALLEL_SOURCE_BYTES = 4_000_000


@dataclass(frozen=True)
class CheckResult:
    project: Project
    texts: Mapping[str, SourceText]
    checked: Checked
    report: Report


@dataclass(frozen=True)
class BuildResult:
    check: CheckResult
    outputs: tuple[Path, ...]
    notes: int
    cards: int
    themes: int
    changed_notes: int = 0
    written: tuple[Path, ...] = field(default=())


@contextmanager
def _collector_paused() -> Iterator[None]:
    """A run allocates millions of long-lived objects and few reference cycles; the cyclic
    collector would rescan them all many times over, which costs more than the run itself."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _report(progress: Progress | None, stage: str) -> Callable[[int, int], None] | None:
    if progress is None:
        return None
    return lambda done, total: progress(stage, done, total)


@dataclass
class _Checked:
    """A check's result, with what a build reuses from it."""

    result: CheckResult
    cache: Cache
    card_keys: list[str]
    corpus: str  # digest of the sources and their registry entries


def check_project(root: Path, *, use_cache: bool = True, progress: Progress | None = None,
                  anchors: bool = True) -> CheckResult:
    """Load and validate the project at ``root``. Raises ``DeckgenError`` on set-up problems.
    Without ``anchors``, the result holds no card's anchor (see `validate`), unless the cache
    keeps them for the builds to come."""
    with _collector_paused():
        checked = _check(root, _project_cache(root.resolve(), use_cache), progress, anchored=anchors)
        checked.cache.prune(("sources", "cards", "checks"))
        return checked.result


def _check(root: Path, cache: Cache, progress: Progress | None, anchored: bool = True) -> _Checked:
    report = Report()
    card_keys: list[str] = []
    check_keys: list[str] = []
    with _Normaliser(cache) as normaliser:
        # Sources no run has normalised yet are normalised by worker processes while the
        # cards load: the two take about as long, and neither needs the other.
        project = load_project(root, report, cache=cache, card_keys=card_keys, check_keys=check_keys,
                               progress=_report(progress, "loading cards"), registry_loaded=normaliser.start)
        texts = load_sources(project, report, cache=cache, normaliser=normaliser)
        corpus = texts.digest(project)
        memo = (_FileMemo(cache, "checks", project, check_keys, corpus, _encode_verdicts, _decode_verdicts)
                if cache.enabled else None)
        if memo is None or memo.missing() >= 50:
            texts.preload(_report(progress, "reading sources"))
    checked = validate(project, texts, report, memo=memo, progress=_report(progress, "checking cards"),
                       anchored=anchored)
    if memo is not None:
        memo.save()
    return _Checked(CheckResult(project, texts, checked, report), cache, card_keys, corpus)


# -- sources -----------------------------------------------------------------------------------


def load_sources(project: Project, report: Report, cache: Cache | None = None,
                 normaliser: _Normaliser | None = None) -> SourceTexts:
    """Read every registered source; each is normalised on first use, or read from the cache."""
    raws: dict[str, str | bytes] = {}
    keys: dict[str, str] = {}
    already = normaliser.read if normaliser is not None else {}
    for source_id, source in project.sources.items():
        if source_id in already:
            raws[source_id], keys[source_id] = already[source_id]
        else:
            raws[source_id], keys[source_id] = _read_source(source_id, source, cache or NoCache())
        if cache is not None:
            cache.keep("sources", keys[source_id])  # loaded only when used, but still wanted
    return SourceTexts(raws, keys, cache or NoCache(), normaliser, project.sources)


def _read_source(source_id: str, source: Source, cache: Cache) -> tuple[str | bytes, str]:
    """A source's text and the key of its bytes; its bytes, not yet decoded, when the cache holds
    it normalised (a run decoded those very bytes to normalise them), for a run may never use it."""
    data = _read_source_bytes(source_id, source)
    key = digest("source", data)
    if cache.contains("sources", key):
        return data, key
    return _source_text(source_id, source, data), key


def _read_source_bytes(source_id: str, source: Source) -> bytes:
    """A source's bytes, or a located set-up error."""
    if source.path.exists() and not source.path.is_file():  # a folder, or a named pipe that never ends
        raise DeckgenError(Diagnostic.make(
            codes.SOURCE_UNREADABLE, source.location,
            f"source {source_id!r}: {source.entry.file!r} is not a regular file"))
    try:
        size = source.path.stat().st_size
        if size > MAX_SOURCE_BYTES:
            raise DeckgenError(Diagnostic.make(
                codes.YAML_TOO_LARGE, source.location,
                f"source {source_id!r}: {source.entry.file!r} is {size:,} bytes; the limit is {MAX_SOURCE_BYTES:,}",
                hint="split the text into several sources"))
        return source.path.read_bytes()
    except FileNotFoundError:
        raise DeckgenError(Diagnostic.make(
            codes.SOURCE_UNREADABLE, source.location,
            f"source {source_id!r}: file {source.entry.file!r} does not exist")) from None
    except OSError as exc:
        raise DeckgenError(Diagnostic.make(
            codes.SOURCE_UNREADABLE, source.location,
            f"source {source_id!r}: cannot read {source.entry.file!r}: {exc.strerror}")) from None


def _source_text(source_id: str, source: Source, data: bytes) -> str:
    """A source's bytes as text, or a located set-up error."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DeckgenError(Diagnostic.make(
            codes.SOURCE_UNREADABLE, source.location,
            f"source {source_id!r}: {source.entry.file!r} is not UTF-8 (byte {exc.start})")) from None


class _Normaliser:
    """Sources normalised by forked workers while this process loads the cards, each result
    (encoded for the cache) found by the key of the source's bytes. Workers only compute; the
    cache is written here.

    The workers take the sources from the front of the list, one at a time, as soon as each
    is done with the last; once free, this process takes them from the back (`steal`) and
    normalises them itself (see `parallel.Claimed`). So there is one worker fewer than cores,
    and no core waits while another works through a list of sources. A worker writes each
    result to a scratch file (see `_normalise_encoded`), removed once read."""

    def __init__(self, cache: Cache):
        self.cache = cache
        self.claims: Claimed[str] | None = None
        self.order: list[str] = []  # the keys of the sources given to the workers, in the order they take them
        self.keys: dict[str, int] = {}  # their places in that list
        self.read: dict[str, tuple[str | bytes, str]] = {}  # source id -> (text, key), as read when starting
        self.closed = False

    def __enter__(self) -> _Normaliser:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.closed = True
        if self.claims is not None:
            self.claims.close()
            self.claims = None

    def start(self, sources: Mapping[str, Source]) -> None:
        """Begin normalising every readable source that the cache does not hold, when together
        they are large enough to be worth other processes. Unreadable ones are left to
        ``load_sources``, which reports them where it always has."""
        todo: dict[str, str] = {}
        for source_id, source in sources.items():
            try:
                raw, key = _read_source(source_id, source, self.cache)
            except DeckgenError:
                continue
            self.read[source_id] = (raw, key)
            if isinstance(raw, str):
                todo[key] = raw
        self.submit(todo)

    def submit(self, raws: Mapping[str, str]) -> None:
        """Have workers normalise ``raws`` (by key), unless they are at work already."""
        if (self.closed or self.claims is not None or cpus() < 2
                or sum(map(len, raws.values())) < PARALLEL_SOURCE_BYTES):
            return
        self.order = list(raws)
        self.keys = {key: index for index, key in enumerate(self.order)}
        self.claims = Claimed(list(raws.values()), _normalise_encoded, cpus() - 1)

    def steal(self) -> str | None:
        """The key of the last source no worker has taken yet, for this process to normalise;
        None when there is none left."""
        index = self.claims.steal() if self.claims is not None else None
        return None if index is None else self.order[index]

    def take(self, key: str, raw: str) -> SourceText | None:
        """The normalised source, once its worker is done; None when no worker has it (a source
        no worker has taken yet is then this process's: the caller normalises it)."""
        if self.claims is None or key not in self.keys:
            return None
        index = self.keys[key]
        if self.claims.claim(index):
            return None
        out = self.claims.result(index)
        if out is None:  # a worker that died: this process normalises the source
            return None
        try:
            with open(out, "rb") as file:
                entry = file.read()
            os.unlink(out)
            text = _decode_source(raw, unpickle(entry))
        except Exception:  # noqa: BLE001 - a result that does not read back: normalised here
            return None
        if text is not None:
            # Pickled by the worker as the cache stores it: kept as it came, not pickled again.
            self.cache.put_bytes("sources", key, entry)
        return text


class SourceTexts(Mapping[str, SourceText]):
    """The project's normalised sources by id, each built (or read from the cache) when first used."""

    def __init__(self, raws: dict[str, str | bytes], keys: dict[str, str], cache: Cache,
                 normaliser: _Normaliser | None = None, sources: Mapping[str, Source] | None = None):
        self._raws = raws
        self._sources = sources or {}
        self._keys = keys
        self._cache = cache
        self._normaliser = normaliser
        self._texts: dict[str, SourceText] = {}

    def __getitem__(self, source_id: str) -> SourceText:
        text = self._texts.get(source_id)
        if text is None:
            raw = self._raw(source_id)  # KeyError for an unknown id, as a dict
            text = self._prepared(source_id, raw)
            if text is None:
                text = load_source_text(raw)
                self._cache.put("sources", self._keys[source_id], _encode_source(raw, text))
            self._texts[source_id] = text
        return text

    def _raw(self, source_id: str) -> str:
        raw = self._raws[source_id]
        if isinstance(raw, bytes):  # read as bytes, since they decoded when they were normalised
            raw = self._raws[source_id] = _source_text(source_id, self._sources[source_id], raw)
        return raw

    def _prepared(self, source_id: str, raw: str) -> SourceText | None:
        """The source as a worker or an earlier run normalised it, if one did."""
        key = self._keys[source_id]
        if self._normaliser is not None:
            text = self._normaliser.take(key, raw)
            if text is not None:
                return text
        cached = self._cache.get("sources", key)
        return _decode_source(raw, cached) if cached is not None else None

    def __iter__(self) -> Iterator[str]:
        return iter(self._raws)

    def release(self) -> None:
        """Let go of the normalised texts (the largest things a run holds); they are
        loaded again if asked for."""
        self._texts.clear()

    def __len__(self) -> int:
        return len(self._raws)

    def digest(self, project: Project) -> str:
        """What every card's verdict depends on besides the card: each source's id, registry
        entry, path and content, in registry order."""
        parts: list[str] = []
        for source_id, source in project.sources.items():
            parts += [source_id, repr(source.entry), str(source.path.relative_to(project.root)),
                      self._keys.get(source_id, "")]
        return digest("corpus", *parts)

    def preload(self, progress: Callable[[int, int], None] | None = None) -> None:
        """Load every source now; when several must be normalised, in worker processes."""
        pending = [sid for sid in self._raws if sid not in self._texts]
        loaded: list[str] = []

        def load(sid: str) -> None:
            self[sid]
            loaded.append(sid)
            if progress is not None:
                progress(len(loaded), len(pending))

        if self._normaliser is not None:
            self._normaliser.submit({self._keys[sid]: self._raw(sid) for sid in pending
                                     if not self._cache.contains("sources", self._keys[sid])})
            # Those no worker has taken yet are normalised here, while the workers go on.
            by_key = {self._keys[sid]: sid for sid in reversed(pending)}
            while (key := self._normaliser.steal()) is not None:
                if key in by_key:
                    load(by_key[key])
        for sid in pending:
            if sid not in self._texts:
                load(sid)


def _normalise_encoded(raw: str, out: str) -> None:
    """The source normalised, as the cache entry `Cache.put` would store, written to the file
    ``out`` (a worker's job). The bytes go through a file, not through a pipe: the parent would
    read a pipe in small pieces, each waiting its turn for the GIL while it loads the cards, and
    the worker would wait for it before it could take the next source."""
    with open(out, "wb") as file:
        pickle.dump(_encode_source(raw, load_source_text(raw)), file, protocol=pickle.HIGHEST_PROTOCOL)


def _encode_source(raw: str, text: SourceText) -> dict[str, Any]:
    """A SourceText as plain data, without the raw text (the file holds it)."""
    out: dict[str, Any] = {}
    for f in fields(text):
        if not f.init:
            continue
        value = getattr(text, f.name)
        if f.name == "raw":
            value = None if value == raw else value
        elif isinstance(value, MappingProxyType):
            value = ("mappingproxy", dict(value))
        out[f.name] = value
    return out


def _decode_source(raw: str, data: Any) -> SourceText | None:
    names = {f.name for f in fields(SourceText) if f.init}
    if not isinstance(data, dict) or set(data) != names:
        return None
    values = dict(data)
    if values["raw"] is None:
        values["raw"] = raw
    for name, value in values.items():
        if isinstance(value, tuple) and len(value) == 2 and value[0] == "mappingproxy" and isinstance(value[1], dict):
            values[name] = MappingProxyType(value[1])
    try:
        return SourceText(**values)
    except (TypeError, ValueError):
        return None


# -- per-card memos -----------------------------------------------------------------------------


class _FileMemo:
    """Per-card results of earlier runs, one cache entry per card file (so that editing one
    file rewrites one entry), each result found by its card's content key. ``encode`` and
    ``decode`` turn a file's results into the entry stored and back; an entry is read when
    one of its file's cards is first asked for."""

    def __init__(self, cache: Cache, layer: str, project: Project, card_keys: list[str], context: str,
                 encode: Callable[[dict[str, Any]], Any] = dict,
                 decode: Callable[[Any], dict[str, Any]] = lambda stored: stored if isinstance(stored, dict) else {}):
        self.cache = cache
        self.layer = layer
        self.encode = encode
        self.decode = decode
        self.keys: list[str] = []  # per file: its entry's key
        self.stored: list[dict[str, Any] | None] = []  # per file: what its entry holds, once read
        self.current: list[dict[str, Any]] = []  # per file: the results of this run
        self.spans: list[range] = []  # per file: the indices of its cards
        self.starts: list[int] = []  # per file: the index of its first card
        self.card_keys = card_keys  # per card: its key, in card order
        self._remembered: list[Any | None] | None = None
        start = 0
        for file in project.files:
            if not file.ids:
                continue
            self.keys.append(digest(layer, str(file.path), context))
            self.stored.append(None)
            self.current.append({})
            self.spans.append(range(start, start + len(file.ids)))
            self.starts.append(start)
            start += len(file.ids)

    def _stored(self, file: int) -> dict[str, Any]:
        stored = self.stored[file]
        if stored is None:
            stored = self.stored[file] = self.decode(self.cache.get(self.layer, self.keys[file]))
        return stored

    def _slot(self, index: int) -> tuple[int, str]:
        """The file of the card at ``index``, and the card's key."""
        return bisect_right(self.starts, index) - 1, self.card_keys[index]

    def get(self, index: int) -> Any | None:
        file, card = self._slot(index)
        value = self._stored(file).get(card)
        if value is not None:
            self.current[file][card] = value
        return value

    def put(self, index: int, value: Any) -> None:
        file, card = self._slot(index)
        self.current[file][card] = value

    def remembered(self) -> list[Any | None]:
        """Every card's result from earlier runs (None where there is none), in card order."""
        if self._remembered is not None:
            return list(self._remembered)
        values: list[Any | None] = []
        for file, span in enumerate(self.spans):
            stored = self._stored(file)
            current = self.current[file]
            for card in self.card_keys[span.start:span.stop]:
                value = stored.get(card)
                if value is not None:
                    current[card] = value
                values.append(value)
        self._remembered = values
        return list(values)

    def missing(self) -> int:
        return self.remembered().count(None)

    def save(self) -> None:
        """Write the entries whose results changed; keep those this run did not read."""
        for key, stored, current in zip(self.keys, self.stored, self.current, strict=True):
            if stored is None and not current:
                self.cache.keep(self.layer, key)
            elif stored is None or current.keys() != stored.keys():
                self.cache.put(self.layer, key, self.encode(current))


def _encode_known(notes: dict[str, Any]) -> tuple[tuple[Any, ...], ...]:
    """A file's notes as stored: card keys, note ids, GUIDs and digests as columns (read back
    in less time than a mapping of tuples)."""
    if not notes:
        return (), (), (), ()
    ids, guids, digests = zip(*((note.note_id, note.guid, note.digest) for note in notes.values()))
    return tuple(notes), ids, guids, digests


def _decode_known(stored: Any) -> dict[str, Any]:
    from .package import KnownNote

    if not (isinstance(stored, tuple) and len(stored) == 4 and all(type(c) is tuple for c in stored)  # noqa: E721
            and len({len(column) for column in stored}) == 1):
        return {}
    keys, ids, guids, digests = stored
    return dict(zip(keys, map(KnownNote._make, zip(ids, guids, digests))))


class _StoredAnchor:
    """An anchor in a cache entry, read back when first asked for."""

    __slots__ = ("anchors", "index")

    def __init__(self, anchors: LazyTuple, index: int):
        self.anchors = anchors
        self.index = index

    def __call__(self) -> Anchor:
        anchor = self.anchors[self.index]
        if not isinstance(anchor, Anchor):
            raise pickle.UnpicklingError("a cache entry holds a damaged anchor")
        return anchor


def _encode_verdicts(verdicts: dict[str, RememberedVerdict]) -> tuple[Any, ...]:
    """A file's verdicts as stored: each card's findings, and the anchors kept pickled
    together (a run after a small edit uses the anchors of the edited cards only)."""
    findings = {key: found for key, (found, _) in verdicts.items()}
    anchored = tuple(key for key, (_, anchor) in verdicts.items() if anchor is not None)
    anchors = tuple(_anchor_of(verdicts[key][1]) for key in anchored)
    return findings, anchored, LazyTuple.of(anchors)


def _anchor_of(anchor: Anchor | Callable[[], Anchor] | None) -> Anchor:
    assert anchor is not None
    return anchor if isinstance(anchor, Anchor) else anchor()


def _decode_verdicts(stored: Any) -> dict[str, RememberedVerdict]:
    if not (isinstance(stored, tuple) and len(stored) == 3):
        return {}
    findings, anchored, anchors = stored
    if not (isinstance(findings, dict) and isinstance(anchored, tuple) and isinstance(anchors, LazyTuple)
            and len(anchors) == len(anchored) and set(anchored) <= findings.keys()):
        return {}
    at = {key: i for i, key in enumerate(anchored)}
    return {key: (found, _StoredAnchor(anchors, at[key]) if key in at else None) for key, found in findings.items()}


# -- build -------------------------------------------------------------------------------------


def templates_dir_for(project: Project) -> Path:
    from .render import default_templates_dir

    own = project.root / "templates"
    return own if own.is_dir() else default_templates_dir()


def output_dir_for(project: Project, out: Path | None) -> Path:
    if out is not None:
        return out
    return project.root / project.config.out


def _project_cache(root: Path, enabled: bool) -> Cache:
    """The project's cache, or none when its folder, a layer or an entry in it is a link: a shared
    deck could point one elsewhere, and the cache deletes what it no longer needs and reads what
    it finds."""
    cache = open_cache(root, enabled)
    if not cache.enabled:
        return cache
    try:
        folder = cache.dir
        linked = folder.is_symlink() or (folder.exists() and not folder.is_dir())
        if not linked and folder.is_dir():
            layers = list(os.scandir(folder))
            linked = any(layer.is_symlink() for layer in layers) or any(
                entry.is_symlink() for layer in layers if layer.is_dir() for entry in os.scandir(layer.path))
    except OSError:
        linked = True
    return NoCache() if linked else cache


def _refuse_outside(path: Path, root: Path, message: str, where: Location | None = None,
                    hint: str = "replace the link with the file itself") -> None:
    if not path.resolve().is_relative_to(root):
        shown = path.relative_to(root) if path.is_relative_to(root) else path
        raise DeckgenError(Diagnostic.make(codes.PATH_OUTSIDE_PROJECT, where or Location(shown), message, hint=hint))


def _check_paths(project: Project, templates: Path, out: Path | None) -> None:
    """A shared deck must not make the build read or write outside it: no template may link out
    of the project (its content would go into the package), and the output folder from the
    project's settings (or a dist/ link) must lie inside it; --out chooses any folder."""
    root = project.root
    if templates.is_relative_to(root):
        for path in [templates, *sorted(templates.rglob("*"))]:
            shown = path.relative_to(root)
            _refuse_outside(path, root, f"template {shown} links to a file outside the project; refusing to read it")
    if out is None:
        folder = output_dir_for(project, None)
        _refuse_outside(folder, root, f"the output folder {project.config.out!r} lies outside the project; "
                        "refusing to write there", where=project.settings.get("out"),
                        hint="pass --out to write the packages to a folder outside the project")


def _tree_digest(directory: Path) -> str:
    """Names and contents of every file under a directory."""
    parts: list[str | bytes] = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        parts += [path.relative_to(directory).as_posix(), path.read_bytes()]
    return digest("tree", *parts)


def build_project(root: Path, out: Path | None = None, split: bool = False,
                  now: int | None = None, *, use_cache: bool = True, progress: Progress | None = None) -> BuildResult:
    """Check, render and package the project; write the packages and the ledger."""
    with _collector_paused():
        cache = _project_cache(root.resolve(), use_cache)
        # The entries a build makes of its cards, verdicts and notes are pickled and written
        # while its package is (see `_build`), not as each is made.
        cache.hold(("cards", "checks", "notes"))
        try:
            checked = _check(root, cache, progress)
            try:
                result = _build(checked, out, split, now, progress)
            except OSError as exc:  # a full disk, a read-only folder, a file where a folder should be
                raise _unwritable(exc, checked.result.project.root) from exc
        finally:
            cache.flush()
        # ("rows" held full note rows in earlier versions: emptied, so that they do not linger.)
        cache.prune(("sources", "cards", "checks", "notes", "rows", "notetypes", "pieces", "collection",
                    "database", "ledger"))
        return result


def _compiled_notetypes(cache: Cache, templates: Path, root: Path, render_key: str) -> dict[str, CompiledNoteType]:
    from .render import CompiledNoteType, Renderer

    key = digest("notetypes", render_key)
    cached = cache.get("notetypes", key)
    if (isinstance(cached, dict) and cached.keys() == NOTE_TYPES.keys()
            and all(isinstance(c, CompiledNoteType) and c.spec == NOTE_TYPES[k] for k, c in cached.items())):
        return cached
    renderer = Renderer(templates, root)
    compiled = {key: renderer.compile_notetype(spec) for key, spec in NOTE_TYPES.items()}
    cache.put("notetypes", key, compiled)
    return compiled


def _build(checked: _Checked, out: Path | None, split: bool, now: int | None,
           progress: Progress | None) -> BuildResult:
    result = checked.result
    if result.report.failed():
        raise ContentError(result.report)
    project = result.project
    cache = checked.cache
    if isinstance(result.texts, SourceTexts):
        result.texts.release()  # rendering and packaging need the anchors only
    templates = templates_dir_for(project)
    _check_paths(project, templates, out)
    render_key = _tree_digest(templates) if cache.enabled else ""
    ledger_path = project.root / LEDGER_FILE
    ledger, ledger_key = _load_ledger(ledger_path, cache)
    now = build_time() if now is None else now
    models = _stamped_models(_compiled_notetypes(cache, templates, project.root, render_key), ledger, now)

    out_dir = output_dir_for(project, out)
    paths = _package_paths(project, out_dir, split)
    with LastBuild(cache, paths.values()) as last_build:
        notes = _Notes(checked, templates, models, progress, render_key)
        notes.render(notes.missing())
        decks, changed = _decks(project, notes.notes, models, ledger, now)
        packages = _packages(decks, paths, split)

        pieces = last_build.pieces()
        previous = {path: _previous_collection(last_build, path, package_decks, notes)
                    for path, package_decks in packages}
        notes.save()
        cache.write_held()  # by a child process, when there is much to write: this one writes the package

        # The packages and the ledger are flushed to disk and put in place by a thread, in that
        # order, while the cache is kept; leaving the block waits for them.
        with Commits() as commits:
            written = _write_packages(last_build, packages, pieces, previous, notes, progress, split, commits)
            # The ledger follows the packages: if we die before this, the next build stamps anew.
            saved = ledger.save(ledger_path, commits)
            if saved is not None:
                cache.put("ledger", digest("ledger", saved), ledger.columns())
                cache.forget("ledger", ledger_key)
            last_build.keep_pieces(pieces)
    return BuildResult(result, tuple(path for path, _ in packages), sum(stats.notes for stats in written),
                       sum(stats.cards for stats in written), len(decks), changed)


def _load_ledger(path: Path, cache: Cache) -> tuple[Ledger, str]:
    """The ledger, and the key of its bytes: read from the cache's columns of it when the file
    holds the bytes they were made from (by the build that wrote it, or the first that read it)."""
    raw = Ledger.read(path)
    if raw is None:
        return Ledger(), ""
    key = digest("ledger", raw)
    ledger = Ledger.from_columns(cache.get("ledger", key), raw) if cache.enabled else None
    if ledger is None:
        ledger = Ledger.parse(raw, path)
        cache.put("ledger", key, ledger.columns())
    return ledger, key


def _stamped_models(compiled_notetypes: dict[str, CompiledNoteType], ledger: Ledger,
                    now: int) -> dict[str, StampedModel]:
    """Each note type, with the ``mod`` the ledger gives its content."""
    from .package import StampedModel

    models: dict[str, StampedModel] = {}
    for key, compiled in compiled_notetypes.items():
        spec = compiled.spec
        notetype_hash = content_hash([spec.name, [vars(f) for f in spec.fields], compiled.templates, compiled.css])
        models[key] = StampedModel(compiled, ledger.stamp_notetype(spec.name, notetype_hash, now))
    return models


class _Notes:
    """Each card's note: remembered from earlier builds (its ids and digest, its rows being in
    the collection written last) or rendered. A card whose note is remembered is never built,
    unless its rows are wanted and that collection lacks them."""

    def __init__(self, checked: _Checked, templates: Path, models: dict[str, StampedModel],
                 progress: Progress | None, render_key: str):
        self.project = checked.result.project
        self.anchors = checked.result.checked.anchors
        self.templates = templates
        self.models = models
        self.progress = progress
        self.namespace = self.project.config.namespace
        self.memo = None
        if checked.cache.enabled:
            self.memo = _FileMemo(checked.cache, "notes", self.project, checked.card_keys,
                                  digest(checked.corpus, render_key, self.namespace), _encode_known, _decode_known)
        self.cards = self.project.card_view
        self.notes: list[NoteRow | KnownNote | None] = (
            self.memo.remembered() if self.memo is not None else [None] * len(self.cards))
        self._renderer: Renderer | None = None

    def missing(self) -> list[int]:
        return [i for i, note in enumerate(self.notes) if note is None]

    def render(self, indices: list[int]) -> None:
        """Render the notes of the cards at ``indices``, shared out over the cores."""
        if not indices:
            return
        from .package import NoteRow
        from .render import Renderer

        renderer = self._renderer = self._renderer or Renderer(self.templates, self.project.root)
        cards, sources, anchors, models, namespace = (self.cards, self.project.sources, self.anchors, self.models,
                                                      self.namespace)

        def render_share(indices: Sequence[int], tick: Callable[[int], None]) -> Iterator[NoteRow]:
            for done, i in enumerate(indices, 1):
                entry = cards[i]
                spec = NOTE_TYPES[entry.card.type]
                fields_ = renderer.fields(entry, sources[entry.source_id], anchors.get(entry.id), spec)
                tags = note_tags(entry.tags, entry.theme, entry.source_id, entry.card.type)
                guid = note_guid(namespace, entry.id)
                yield NoteRow.make(
                    models[spec.key], guid, fields_, tags, content_hash([spec.id, fields_, tags]),
                    stable_id("note", guid), lambda ord_, guid=guid: stable_id("card", guid, str(ord_)))
                if done % 256 == 0 or done == len(indices):
                    tick(done)

        for i, row in zip(indices, map_in_workers(render_share, indices, workers_for(len(indices)),
                                                  _report(self.progress, "rendering notes")), strict=True):
            self.notes[i] = row
            if self.memo is not None:
                self.memo.put(i, row)

    def fill_rows(self, decks: Sequence[DeckRows], needed: set[int]) -> None:
        """Put the full rows of the ``needed`` notes into ``decks``, rendering again those that
        were remembered: the collection they would be copied from lacks them (it was lost, or
        written to another package, or their theme was renamed)."""
        from .package import KnownNote, NoteRow

        self.render([i for i, note in enumerate(self.notes) if isinstance(note, KnownNote) and note.note_id in needed])
        full = {note.note_id: note for note in self.notes if isinstance(note, NoteRow) and note.note_id in needed}
        for deck in decks:
            deck.notes = [(model, full.get(note.note_id, note), mod) for model, note, mod in deck.notes]

    def save(self) -> None:
        if self.memo is not None:
            self.memo.save()


def _decks(project: Project, notes: Sequence[NoteRow | KnownNote | None], models: dict[str, StampedModel],
           ledger: Ledger, now: int) -> tuple[list[DeckRows], int]:
    """The notes grouped by theme into decks (in name order), each with the ``mod`` the ledger
    gives its content; and how many notes are new or changed."""
    from .package import DeckRows

    cards = project.card_view
    root_deck = project.config.deck
    decks: dict[str, DeckRows] = {}
    changed = 0
    stamps = ledger.notes
    for card_id, theme, kind, note in zip(cards.ids, cards.themes, cards.types, notes, strict=True):
        assert note is not None
        before = stamps.get(card_id)
        if before is not None and before.hash == note.digest:
            mod = before.mod  # unchanged: most notes of a rebuild
        else:
            mod = ledger.stamp_note(card_id, note.digest, now)
            changed += 1
        deck = decks.get(theme)
        if deck is None:
            deck_name = f"{root_deck}::{theme}"
            deck = decks[theme] = DeckRows(stable_id("deck", deck_name), deck_name)
        deck.notes.append((models[kind], note, mod))
    ledger.keep_only(set(cards.ids))
    return sorted(decks.values(), key=lambda deck: deck.name), changed


def _package_paths(project: Project, out_dir: Path, split: bool) -> dict[str | None, Path]:
    """The file of each package: of the one package (under None), or of each theme's with ``split``."""
    root_deck = project.config.deck
    if not split:
        return {None: out_dir / f"{slugify(root_deck) or 'deck'}.apkg"}
    themes = sorted(set(project.card_view.themes))
    return {theme: out_dir / name for theme, name in package_names(root_deck, themes).items()}


def _packages(decks: list[DeckRows], paths: Mapping[str | None, Path],
              split: bool) -> list[tuple[Path, list[DeckRows]]]:
    """Each package to write, and its decks: one package, or one per theme with ``split``."""
    if not split:
        return [(paths[None], decks)]
    return [(paths[deck.name.split("::", 1)[1]], [deck]) for deck in decks]


@dataclass
class _Previous:
    """What a package's last build left: its collection as stored, and that collection's
    bytes when its rows are worth copying; and the signatures of this build's notes."""

    stored: WrittenCollection | None
    database: memoryview | None
    signatures: dict[int, Signature]
    needed: set[int]  # the notes whose rows are not in the collection copied (all, when none is)

    @property
    def copied(self) -> tuple[WrittenCollection, memoryview] | None:
        return (self.stored, self.database) if self.stored is not None and self.database is not None else None


def _previous_collection(last_build: LastBuild, path: Path, decks: list[DeckRows], notes: _Notes) -> _Previous:
    """The collection the last build wrote to ``path``, to copy unchanged notes from; the notes
    it lacks (all of them when there is none) get their full rows."""
    from .package import rows_needed, signatures_of, worth_copying

    stored, database = last_build.last(path)
    signatures = signatures_of(decks)
    needed = rows_needed(signatures, stored)
    if database is None or not worth_copying(signatures, needed):
        database = None
        needed = set(signatures)
    if needed:
        notes.fill_rows(decks, needed)
    return _Previous(stored, database, signatures, needed)


def _write_packages(last_build: LastBuild, packages: list[tuple[Path, list[DeckRows]]],
                    pieces: DeflatedPieces, previous: dict[Path, _Previous], notes: _Notes,
                    progress: Progress | None, split: bool, commits: Commits) -> list[PackageStats]:
    """Write each package (``commits`` put them in place), and keep the collection it holds
    for the next build."""
    from .package import StaleCollection, write_package

    written = []
    tell = _report(progress, "writing packages" if split else "writing the package")
    if tell is not None:
        tell(0, len(packages))
    for done, (path, decks) in enumerate(packages, 1):
        before = previous[path]
        opened = last_build.opened_copy(path) if before.copied is not None else None
        try:
            stats, collection, database = write_package(path, decks, pieces, before.copied, before.signatures,
                                                        before.needed, opened, commits)
        except StaleCollection:  # a cache that cannot be used only makes the build slower
            notes.fill_rows(decks, set(before.signatures))
            stats, collection, database = write_package(path, decks, pieces, None, before.signatures,
                                                        commits=commits)
        del previous[path], before  # the memory of the last collection is wanted for the next package
        last_build.keep(path, collection, database)
        written.append(stats)
        if tell is not None:
            tell(done, len(packages))
    return written


def package_names(root_deck: str, themes: list[str]) -> dict[str, str]:
    """The file of each theme's package with --split: its slug, or, where two themes share a slug
    ("Japan!" and "Japan?") or a theme has none, the slug and a digest of the theme's name, so
    that no package overwrites another."""
    root = slugify(root_deck) or "deck"
    slugs = {theme: slugify(theme) for theme in themes}
    shared = Counter(slugs.values())
    names = {}
    for theme, slug in slugs.items():
        if not slug or shared[slug] > 1:
            slug = "-".join(filter(None, [slug, hashlib.sha256(theme.encode()).hexdigest()[:8]]))
        names[theme] = f"{root}--{slug}.apkg"
    return names


def _unwritable(exc: OSError, root: Path) -> DeckgenError:
    name = Path(exc.filename) if exc.filename else root
    shown = name.relative_to(root) if name.is_absolute() and name.is_relative_to(root) else name
    return DeckgenError(Diagnostic.make(
        codes.OUTPUT_UNWRITABLE, Location(shown), f"cannot write {shown}: {exc.strerror or exc}",
        hint="check that the output folder is a folder you can write to, on a disk with free space"))


@functools.lru_cache(maxsize=4096)
def note_tags(own: tuple[str, ...], theme: str, source_id: str, card_type: str) -> tuple[str, ...]:
    """Anki splits tags on spaces; ours never contain any. (Cards of one file mostly share
    their tags, theme and source, so each combination is worked out once.)"""
    derived = [f"theme::{slugify(theme)}", f"source::{source_id}", f"type::{card_type}"]
    cleaned = [re.sub(r"\s+", "_", tag) for tag in own]
    return tuple(sorted(dict.fromkeys(cleaned + derived)))
