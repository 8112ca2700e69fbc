"""Load a deck project from disk: settings, source registry and card files.

Everything that can be wrong with the YAML is reported here as located
diagnostics; what comes out is typed data.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import pickle
import re
import threading
import typing
from collections.abc import Callable, Hashable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from . import errorcodes as codes
from .diagnostics import DeckgenError, Diagnostic, Location, Report
from .models import (
    CARD_MODELS,
    CHECKED_FIELDS,
    CardEntry,
    CardFile,
    CardFileHeader,
    KeyPositions,
    Project,
    ProjectConfig,
    Source,
    SourceRegistry,
)
from .yamlfile import YamlDocument, YamlProblem, load_yaml, read_bytes

if TYPE_CHECKING:
    from .cache import Cache

CONFIG_FILE = "deckgen.yaml"
REGISTRY_FILE = Path("sources") / "sources.yaml"
CARDS_DIR = "cards"

M = TypeVar("M", bound=BaseModel)

_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "a whole number",
    "float_type": "a number",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "date_type": "a date",
    "bool_type": "true or false",
}


def display_path(path: Path, root: Path) -> Path:
    try:
        return path.relative_to(root)
    except ValueError:
        return path


def load_project(
    root: Path,
    report: Report,
    *,
    cache: Cache | None = None,
    card_keys: list[str] | None = None,
    check_keys: list[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    registry_loaded: Callable[[dict[str, Source]], None] | None = None,
) -> Project:
    """Load the project at ``root``; content problems go to ``report``.

    Raises ``DeckgenError`` when the project cannot be loaded at all. With a
    ``cache``, a card file whose bytes were loaded before is not parsed again;
    ``card_keys`` then receives each card's content key (see `card_key`), and
    ``check_keys`` the key of its checks (see `check_key`), in the order of
    ``Project.cards``. ``registry_loaded`` is told the registered sources
    as soon as they are known, before the cards are read.
    """
    root = root.resolve()
    if not root.is_dir() or not (root / CARDS_DIR).is_dir():
        raise DeckgenError(
            Diagnostic.make(
                codes.NO_PROJECT,
                Location(root),
                f"{root} is not a deck project: it has no {CARDS_DIR}/ folder",
                hint="run deckgen in the folder that holds cards/ and sources/",
            )
        )
    config, settings = _load_config(root, report)
    sources = _load_registry(root, report)
    if registry_loaded is not None:
        registry_loaded(sources)
    paths = [path for path in sorted((root / CARDS_DIR).iterdir()) if path.suffix in (".yaml", ".yml") and path.is_file()]
    files: list[CardFile] = []
    # A file that is no link, in a cards folder inside the project, is inside it too.
    folder_inside = not _outside(root / CARDS_DIR, root)
    for done, path in enumerate(paths, 1):
        if (not folder_inside or path.is_symlink()) and _outside(path, root):
            report.add(_refused(path, root, "card file"))
            loaded, keys, checks = None, (), ()
        elif cache is not None and cache.enabled:
            loaded, keys, checks = _load_card_file_cached(path, root, sources, report, cache)
        else:
            loaded, keys, checks = _load_card_file(path, root, sources, report), (), ()
        if loaded is not None:
            files.append(loaded)
            if card_keys is not None:
                card_keys.extend(keys)
            if check_keys is not None:
                check_keys.extend(checks)
        if progress is not None:
            progress(done, len(paths))
    project = Project(root, config, sources, tuple(files), settings)
    _check_identity(project, report)
    return project


def _outside(path: Path, root: Path) -> bool:
    """Whether ``path`` (following links) lies outside the project: a shared deck may carry a link
    to a file elsewhere on the reader's machine, and deckgen must not read it or show it."""
    return not path.resolve().is_relative_to(root)


def _refused(path: Path, root: Path, what: str) -> Diagnostic:
    return Diagnostic.make(
        codes.PATH_OUTSIDE_PROJECT,
        Location(display_path(path, root)),
        f"{what} {display_path(path, root)} links to a file outside the project; refusing to read it",
        hint="replace the link with the file itself",
    )


def _load_document(path: Path, root: Path, report: Report, raw: bytes | None = None) -> YamlDocument | None:
    try:
        document = load_yaml(path, display_path(path, root), raw)
    except YamlProblem as problem:
        report.add(problem.diagnostic)
        return None
    report.extend(document.problems)
    return document


def _load_config(root: Path, report: Report) -> tuple[ProjectConfig, dict[str, Location]]:
    """The settings, and where deckgen.yaml sets each of them."""
    path = root / CONFIG_FILE
    if not path.exists():
        return ProjectConfig(), {}
    if _outside(path, root):
        raise DeckgenError(_refused(path, root, "the settings file"))
    document = _load_document(path, root, report)
    if document is None:
        raise DeckgenError(report.errors[-1])
    config = _validate(ProjectConfig, document.data or {}, document, (), report, codes.CONFIG_INVALID)
    if config is None:
        raise DeckgenError(report.errors[-1])
    return config, {str(key): document.location((key,)) for key in document.data or {}}


def _load_registry(root: Path, report: Report) -> dict[str, Source]:
    path = root / REGISTRY_FILE
    if not path.exists():
        raise DeckgenError(
            Diagnostic.make(
                codes.REGISTRY_INVALID,
                Location(REGISTRY_FILE),
                "no source registry: create sources/sources.yaml listing the source texts",
            )
        )
    if _outside(path, root):
        raise DeckgenError(_refused(path, root, "the source registry"))
    document = _load_document(path, root, report)
    if document is None:
        raise DeckgenError(report.errors[-1])
    registry = _validate(SourceRegistry, document.data, document, (), report, codes.REGISTRY_INVALID)
    if registry is None:
        raise DeckgenError(report.errors[-1])
    sources: dict[str, Source] = {}
    sources_dir = (root / "sources").resolve()
    for index, entry in enumerate(registry.sources):
        where = document.location(("sources", index, "id"))
        file_where = document.location(("sources", index, "file"))
        if entry.id in sources:
            report.add(
                Diagnostic.make(codes.DUPLICATE_ID, where, f"source id {entry.id!r} is registered twice")
            )
            continue
        resolved = (sources_dir / entry.file).resolve()
        if not resolved.is_relative_to(root):
            raise DeckgenError(
                Diagnostic.make(
                    codes.PATH_OUTSIDE_PROJECT,
                    file_where,
                    f"source file {entry.file!r} lies outside the project; refusing to read it",
                    hint="keep source texts inside the project's sources/ folder",
                )
            )
        sources[entry.id] = Source(entry, resolved, where)
    return sources


def card_key(entry: CardEntry) -> str:
    """A digest of everything about a card that its checks and its note depend on: its
    values, theme, source and tags, but not its position in the file."""
    card = entry.card
    return _digest_of((type(card).__name__, tuple(card.__dict__.items()), entry.theme, entry.source_id, entry.tags))


def check_key(entry: CardEntry) -> str:
    """A digest of what a card's checks against the sources depend on: its kind, its source
    and its `CHECKED_FIELDS`."""
    card = entry.card
    values = card.__dict__  # not getattr: a field a card type lacks would cost an exception
    return _digest_of((type(card).__name__, entry.source_id, tuple(values.get(name) for name in CHECKED_FIELDS)))


def _digest_of(content: tuple[Any, ...]) -> str:
    """A digest of plain values (strings, numbers, dates, tuples): of their pickle, made without
    the memo that would make equal values pickle differently as they are or are not one object.
    (Each thread keeps one pickler and its buffer: making them takes as long as the pickling.)"""
    try:
        buffer, pickler = _DIGESTING.tools
    except AttributeError:
        buffer = io.BytesIO()
        pickler = pickle.Pickler(buffer, protocol=5)
        pickler.fast = True
        _DIGESTING.tools = buffer, pickler
    buffer.seek(0)
    buffer.truncate()
    pickler.dump(content)
    with buffer.getbuffer() as pickled:
        return hashlib.sha256(pickled).hexdigest()


_DIGESTING = threading.local()


def _load_card_file_cached(
    path: Path, root: Path, sources: dict[str, Source], report: Report, cache: Cache
) -> tuple[CardFile | None, tuple[str, ...], tuple[str, ...]]:
    """`_load_card_file`, or what it gave for the same bytes, path and registered sources; and
    the `card_key` and `check_key` of each of its cards."""
    from .cache import LazyTuple, digest

    display = display_path(path, root)
    try:
        raw = read_bytes(path, display)
    except YamlProblem as problem:
        report.add(problem.diagnostic)
        return None, (), ()
    key = digest("cards", str(display), raw, *sources)
    hit = cache.get("cards", key)
    if _is_loaded_file(hit):
        diagnostics, loaded, keys, checks = hit
        report.extend(diagnostics)
        return loaded, keys, checks
    own = Report()
    loaded = _load_card_file(path, root, sources, own, raw)
    cards = loaded.cards if loaded is not None else ()
    keys = tuple(card_key(entry) for entry in cards)
    checks = tuple(check_key(entry) for entry in cards)
    report.extend(own.diagnostics)
    # Stored with its cards kept pickled: a later run builds them only if it needs them.
    stored = replace(loaded, cards=LazyTuple.of(tuple(loaded.cards))) if loaded is not None else None
    cache.put("cards", key, (tuple(own.diagnostics), stored, keys, checks))
    return loaded, keys, checks


def _is_loaded_file(value: Any) -> bool:
    from .cache import LazyTuple

    if not (isinstance(value, tuple) and len(value) == 4):
        return False
    diagnostics, loaded, keys, checks = value
    return (
        isinstance(diagnostics, tuple)
        and all(isinstance(d, Diagnostic) for d in diagnostics)
        and (loaded is None or (isinstance(loaded, CardFile) and isinstance(loaded.cards, (tuple, LazyTuple))
                                and len(loaded.ids) == len(loaded.types) == len(loaded.source_ids)
                                == len(loaded.cards)))
        and isinstance(keys, tuple)
        and isinstance(checks, tuple)
        and len(keys) == len(checks) == (len(loaded.cards) if loaded is not None else 0)
    )


def _load_card_file(
    path: Path, root: Path, sources: dict[str, Source], report: Report, raw: bytes | None = None
) -> CardFile | None:
    document = _load_document(path, root, report, raw)
    if document is None:
        return None
    shown = document.path
    if document.data is None:
        report.add(Diagnostic.make(codes.EMPTY_FILE, Location(shown), "the card file is empty",
                                   hint="start it with `theme:` and `cards:`"))
        return None
    if not isinstance(document.data, dict):
        kind = type(document.data).__name__
        report.add(
            Diagnostic.make(
                codes.FILE_NOT_MAPPING,
                document.location(()),
                f"a card file must be a mapping with `theme` and `cards`, not a {_KIND_WORDS.get(kind, kind)}",
            )
        )
        return None
    header = _validate(CardFileHeader, document.data, document, (), report)
    if header is None:
        return None
    if "::" in header.theme:
        report.add(
            Diagnostic.make(codes.INVALID_VALUE, document.location(("theme",)),
                            "a theme may not contain '::' (Anki's deck separator)")
        )
        return None
    if re.search(r"[\x00-\x1f\x7f-\x9f]", header.theme):
        report.add(
            Diagnostic.make(codes.INVALID_VALUE, document.location(("theme",)),
                            "a theme may not contain line breaks, tabs or other control characters "
                            "(Anki drops them from deck names, so two themes could become one deck)")
        )
        return None
    default_source = header.source
    if default_source is not None and default_source not in sources:
        _unknown_source(default_source, document.location(("source",)), sources, report)
    if not header.cards:
        report.add(Diagnostic.make(codes.NO_CARDS, document.location(("cards",)), "this file has no cards"))
    entries: list[CardEntry] = []
    for index, raw in enumerate(header.cards):
        entry = _load_card(raw, index, header, document, sources, report)
        if entry is not None:
            entries.append(entry)
    return CardFile(shown, header.theme, tuple(entries))


_KIND_WORDS = {"list": "list", "str": "string", "int": "number", "float": "number", "bool": "boolean"}


def _load_card(
    raw: Any,
    index: int,
    header: CardFileHeader,
    document: YamlDocument,
    sources: dict[str, Source],
    report: Report,
) -> CardEntry | None:
    at = ("cards", index)
    where = document.location(at)
    if not isinstance(raw, dict):
        report.add(Diagnostic.make(codes.WRONG_TYPE, where, "each card must be a mapping of keys to values"))
        return None
    card_id = raw.get("id") if isinstance(raw.get("id"), str) else None
    kind = raw.get("type")
    if kind is None:
        report.add(
            Diagnostic.make(codes.MISSING_KEY, where, "card has no `type`", card=card_id,
                            hint=f"add `type:` with one of {', '.join(CARD_MODELS)}")
        )
        return None
    model = CARD_MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        close = difflib.get_close_matches(str(kind), CARD_MODELS, n=1)
        report.add(
            Diagnostic.make(
                codes.UNKNOWN_CARD_TYPE,
                document.location(at + ("type",)),
                f"unknown card type {kind!r}",
                card=card_id,
                hint=f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(CARD_MODELS)}",
            )
        )
        return None
    card = _validate(model, raw, document, at, report, card=card_id)
    if card is None:
        return None
    source_id = card.source or header.source
    if source_id is None:
        report.add(
            Diagnostic.make(codes.MISSING_KEY, where, "card has no `source` and its file sets none",
                            card=card.id, hint="add `source:` to the card or the file")
        )
        return None
    if card.source is not None and card.source not in sources:
        _unknown_source(card.source, document.location(at + ("source",)), sources, report, card.id)
        return None
    if source_id not in sources:
        return None  # reported once, at the file's `source:`
    tags = tuple(dict.fromkeys(header.tags + card.tags))
    # Looked up directly: a key's value has a mark at its own path (`mark` walks up to a parent's).
    marks = document.value_marks
    fields = KeyPositions(document.path, {key: marks.get(at + (key,)) or document.mark(at + (key,)) for key in raw})
    return CardEntry(card, header.theme, source_id, tags, where, fields)  # type: ignore[arg-type]


def _unknown_source(
    source_id: str, where: Location, sources: dict[str, Source], report: Report, card: str | None = None
) -> None:
    close = difflib.get_close_matches(source_id, sources, n=1)
    report.add(
        Diagnostic.make(
            codes.UNKNOWN_SOURCE,
            where,
            f"unknown source {source_id!r}",
            card=card,
            hint=f"did you mean {close[0]!r}?" if close else f"registered sources: {', '.join(sources) or 'none'}",
        )
    )


def _validate(
    model: type[M],
    data: Any,
    document: YamlDocument,
    at: tuple[Hashable, ...],
    report: Report,
    code: codes.ErrorCode | None = None,
    card: str | None = None,
) -> M | None:
    if not isinstance(data, dict):
        report.add(
            Diagnostic.make(code or codes.FILE_NOT_MAPPING, document.location(at), "expected a mapping of keys to values")
        )
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        seen: set[tuple[Any, ...]] = set()
        for error in exc.errors():
            loc = _field_path(error["loc"])
            if loc in seen:
                continue
            seen.add(loc)
            report.add(_schema_diagnostic(model, error, loc, document, at, code, card))
        return None


_SPANS = {"quote", "evidence", "text"}


def _field_path(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The error location without the union branches pydantic adds after a field's name
    (``('date', 'str')``); a field may itself be called ``date``."""
    return tuple(part for i, part in enumerate(loc) if not (i and isinstance(loc[i - 1], str) and _is_union_branch(part)))


def _is_union_branch(part: Any) -> bool:
    # pydantic names the branch of a union it tried (e.g. 'str', 'date') in the error location.
    return isinstance(part, str) and (part in {"str", "int", "float", "date"} or part.startswith("function-"))


def _schema_diagnostic(
    model: type[BaseModel],
    error: Any,
    loc: tuple[Any, ...],
    document: YamlDocument,
    at: tuple[Hashable, ...],
    code: codes.ErrorCode | None,
    card: str | None,
) -> Diagnostic:
    kind = error["type"]
    path = at + loc
    name = ".".join(str(part) for part in loc) or "value"
    if kind == "extra_forbidden":
        key = str(loc[-1])
        owner = _model_at(model, loc[:-1])
        known = list(owner.model_fields) if owner else []
        close = difflib.get_close_matches(key, known, n=1)
        return Diagnostic.make(
            codes.UNKNOWN_KEY,
            document.location(path, key=True),
            f"unknown key {key!r}",
            card=card,
            hint=f"did you mean {close[0]!r}?" if close else f"allowed keys: {', '.join(known)}",
        )
    if kind == "missing":
        return Diagnostic.make(codes.MISSING_KEY, document.location(path[:-1]), f"missing required key {name!r}",
                               card=card)
    if kind == "empty_text":
        return Diagnostic.make(codes.EMPTY_TEXT, document.location(path), f"{name} must not be empty", card=card)
    if kind == "string_too_long":
        limit = (error.get("ctx") or {}).get("max_length", 0)
        return Diagnostic.make(
            code or codes.INVALID_VALUE,
            document.location(path),
            f"{name} is {len(str(error.get('input', ''))):,} characters long; the limit is {limit:,}",
            card=card,
            hint="quote only the passage that supports the card" if loc and loc[-1] in _SPANS else None,
        )
    if kind == "string_pattern_mismatch" and loc and loc[-1] == "id":
        suggestion = slugify(str(error.get("input", "")))
        return Diagnostic.make(
            codes.BAD_ID,
            document.location(path),
            f"id {error.get('input')!r} is not a lowercase slug",
            card=card,
            hint=f"ids use a-z, 0-9 and single hyphens, e.g. {suggestion!r}" if suggestion else None,
        )
    if kind in _TYPE_WORDS or kind.endswith("_type"):
        got = error.get("input")
        expected = "a date (YYYY, YYYY-MM or YYYY-MM-DD)" if loc and loc[-1] == "date" else _TYPE_WORDS.get(kind, kind)
        return Diagnostic.make(
            code or codes.WRONG_TYPE,
            document.location(path),
            f"{name} must be {expected}, not {_describe(got)}",
            card=card,
        )
    return Diagnostic.make(
        code or codes.INVALID_VALUE, document.location(path), f"{name}: {error['msg']}", card=card
    )


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model that owns the mapping at ``loc`` (for listing its allowed keys)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            args = typing.get_args(current)
            current = args[0] if args else None
        elif isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            current = current.model_fields[part].annotation
        else:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "nothing (null)"
    return f"{type(value).__name__} {value!r}"


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _check_identity(project: Project, report: Report) -> None:
    """Ids are a note's identity in Anki: unique, and unambiguous to a human reader."""
    # Cards by (file, index): a card is built only when a problem must be located at it.
    first_seen: dict[str, tuple[CardFile, int]] = {}
    folded: dict[str, tuple[CardFile, int]] = {}
    themes: dict[str, Path] = {}

    def where(seen: tuple[CardFile, int]) -> Location:
        file, index = seen
        return file.cards[index].at("id")

    every_id = [card_id for file in project.files for card_id in file.ids]
    # Nearly always every id is distinct, even without its hyphens: that is found out at once
    # (the hyphens dropped from all the ids joined, unless one holds the line break they are
    # joined with).
    joined = "\n".join(every_id)
    unhyphenated = joined.replace("-", "").split("\n") if joined.count("\n") == len(every_id) - 1 else []
    clash = len(set(every_id)) != len(every_id) or len(set(unhyphenated)) != len(every_id)
    for file in project.files:
        if file.theme in themes:
            report.add(
                Diagnostic.make(codes.DUPLICATE_THEME, Location(file.path),
                                f"theme {file.theme!r} is also declared in {themes[file.theme]}")
            )
        themes.setdefault(file.theme, file.path)
        if not clash:
            continue
        for index, card_id in enumerate(file.ids):
            if card_id in first_seen:
                report.add(
                    Diagnostic.make(
                        codes.DUPLICATE_ID,
                        where((file, index)),
                        f"duplicate card id {card_id!r}; first used at {where(first_seen[card_id])}",
                        card=card_id,
                    )
                )
                continue
            first_seen[card_id] = (file, index)
            key = card_id.replace("-", "")
            if key in folded:
                other = folded[key]
                report.add(
                    Diagnostic.make(
                        codes.ID_COLLISION,
                        where((file, index)),
                        f"id {card_id!r} differs from {other[0].ids[other[1]]!r} ({where(other)}) only in hyphens",
                        card=card_id,
                    )
                )
            folded.setdefault(key, (file, index))
