"""The two jobs deckgen does, as plain functions the CLI (or anything else) can call.

check: load sources → load cards → validate.
build: check → render → package → write. Nothing is written unless every
stage before it succeeded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import genanki

from . import errorcodes as codes
from .diagnostics import ContentError, DeckgenError, Diagnostic, Report
from .identity import LEDGER_FILE, Ledger, build_time, content_hash, note_guid, stable_id
from .models import Project
from .notetypes import NOTE_TYPES
from .package import StampedModel, StampedNote, write_package
from .project import load_project, slugify
from .render import Renderer, default_templates_dir
from .sourcetext import SourceText, load_source_text
from .validate import Checked, validate

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class CheckResult:
    project: Project
    texts: dict[str, SourceText]
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


def check_project(root: Path) -> CheckResult:
    """Load and validate the project at ``root``. Raises ``DeckgenError`` on set-up problems."""
    report = Report()
    project = load_project(root, report)
    texts = load_sources(project, report)
    checked = validate(project, texts, report)
    return CheckResult(project, texts, checked, report)


def load_sources(project: Project, report: Report) -> dict[str, SourceText]:
    texts: dict[str, SourceText] = {}
    for source_id, source in project.sources.items():
        try:
            raw = source.path.read_bytes().decode("utf-8-sig")
        except FileNotFoundError:
            raise DeckgenError(Diagnostic.make(
                codes.SOURCE_UNREADABLE, source.location,
                f"source {source_id!r}: file {source.entry.file!r} does not exist")) from None
        except OSError as exc:
            raise DeckgenError(Diagnostic.make(
                codes.SOURCE_UNREADABLE, source.location,
                f"source {source_id!r}: cannot read {source.entry.file!r}: {exc.strerror}")) from None
        except UnicodeDecodeError as exc:
            raise DeckgenError(Diagnostic.make(
                codes.SOURCE_UNREADABLE, source.location,
                f"source {source_id!r}: {source.entry.file!r} is not UTF-8 (byte {exc.start})")) from None
        texts[source_id] = load_source_text(raw)
    return texts


def templates_dir_for(project: Project) -> Path:
    own = project.root / "templates"
    return own if own.is_dir() else default_templates_dir()


def output_dir_for(project: Project, out: Path | None) -> Path:
    if out is not None:
        return out
    return project.root / project.config.out


def build_project(root: Path, out: Path | None = None, split: bool = False,
                  now: int | None = None) -> BuildResult:
    """Check, render and package the project; write the packages and the ledger."""
    result = check_project(root)
    if result.report.failed():
        raise ContentError(result.report)
    project = result.project
    renderer = Renderer(templates_dir_for(project), project.root)
    ledger_path = project.root / LEDGER_FILE
    ledger = Ledger.load(ledger_path)
    now = build_time() if now is None else now

    models: dict[str, StampedModel] = {}
    for key, spec in NOTE_TYPES.items():
        compiled = renderer.compile_notetype(spec)
        digest = content_hash([spec.name, [vars(f) for f in spec.fields], compiled.templates, compiled.css])
        models[key] = StampedModel(compiled, ledger.stamp_notetype(spec.name, digest, now))

    root_deck = project.config.deck
    decks: dict[str, genanki.Deck] = {}
    changed = 0
    for entry in project.cards:
        spec = NOTE_TYPES[entry.card.type]
        source = project.sources[entry.source_id]
        fields = renderer.fields(entry, source, result.checked.anchors.get(entry.id), spec)
        tags = note_tags(entry.tags, entry.theme, entry.source_id, entry.card.type)
        digest = content_hash([spec.id, fields, tags])
        before = ledger.notes.get(entry.id)
        mod = ledger.stamp_note(entry.id, digest, now)
        changed += before is None or before.hash != digest
        deck_name = f"{root_deck}::{entry.theme}"
        deck = decks.get(deck_name)
        if deck is None:
            deck = decks[deck_name] = genanki.Deck(stable_id("deck", deck_name), deck_name)
        deck.add_note(StampedNote(models[entry.card.type], fields, tags,
                                  note_guid(project.config.namespace, entry.id), mod))
    ledger.keep_only({entry.id for entry in project.cards})

    out_dir = output_dir_for(project, out)
    ordered = [decks[name] for name in sorted(decks)]
    outputs: list[Path] = []
    notes = cards = 0
    if split:
        for deck in ordered:
            theme = deck.name.split("::", 1)[1]
            path = out_dir / f"{slugify(root_deck)}--{slugify(theme)}.apkg"
            stats = write_package(path, [deck])
            notes += stats.notes
            cards += stats.cards
            outputs.append(path)
    else:
        path = out_dir / f"{slugify(root_deck)}.apkg"
        stats = write_package(path, ordered)
        notes, cards = stats.notes, stats.cards
        outputs.append(path)
    # The ledger follows the packages: if we die before this, the next build stamps anew.
    ledger.save(ledger_path)
    return BuildResult(result, tuple(outputs), notes, cards, len(ordered), changed)


def note_tags(own: tuple[str, ...], theme: str, source_id: str, card_type: str) -> list[str]:
    """Anki splits tags on spaces; ours never contain any."""
    derived = [f"theme::{slugify(theme)}", f"source::{source_id}", f"type::{card_type}"]
    cleaned = [re.sub(r"\s+", "_", tag) for tag in own]
    return sorted(dict.fromkeys(cleaned + derived))
