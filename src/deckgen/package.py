"""Write Anki packages with genanki, reproducibly.

genanki stamps every note, card and note type with one build timestamp and
zips with the current time. deckgen needs a per-note ``mod`` (from the
ledger), ids derived from identity rather than the clock, and a zip whose
bytes depend only on its content, so an unchanged deck rebuilds to an
identical file.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import genanki

from .atomic import write_atomically
from .identity import stable_id
from .render import CompiledNoteType

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class StampedModel(genanki.Model):
    """A note type whose ``mod`` comes from the ledger."""

    def __init__(self, compiled: CompiledNoteType, mod: int):
        spec = compiled.spec
        super().__init__(
            model_id=spec.id,
            name=spec.name,
            fields=[{"name": f.name, "id": f.id} for f in spec.fields],
            templates=[
                {"name": name, "id": tid, "qfmt": qfmt, "afmt": afmt}
                for name, tid, qfmt, afmt in compiled.templates
            ],
            css=compiled.css,
            model_type=genanki.Model.CLOZE if spec.is_cloze else genanki.Model.FRONT_BACK,
        )
        self.mod = mod

    def to_json(self, timestamp: float, deck_id: int) -> dict:  # type: ignore[override]
        data = super().to_json(self.mod, deck_id)
        # Anki reads field and template ids from these keys; they make renames safe.
        return data


class StampedNote(genanki.Note):
    """A note whose ``mod`` and ids come from its identity, not the clock."""

    def __init__(self, model: StampedModel, fields: list[str], tags: Sequence[str], guid: str, mod: int):
        super().__init__(model=model, fields=fields, tags=list(tags), guid=guid)
        self.mod = mod

    def write_to_db(self, cursor, timestamp, deck_id, id_gen):  # type: ignore[override]
        note_id = stable_id("note", self.guid)
        cursor.execute(
            "INSERT INTO notes VALUES(?,?,?,?,?,?,?,?,?,?,?);",
            (note_id, self.guid, self.model.model_id, self.mod, -1, self._format_tags(),
             self._format_fields(), self.sort_field, 0, 0, ""),
        )
        for card in self.cards:
            cursor.execute(
                "INSERT INTO cards VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?);",
                (stable_id("card", self.guid, str(card.ord)), note_id, deck_id, card.ord, self.mod, -1,
                 0, 0, self.due, 0, 0, 0, 0, 0, 0, 0, 0, ""),
            )


@dataclass(frozen=True)
class PackageStats:
    notes: int
    cards: int
    decks: int


def write_package(path: Path, decks: Sequence[genanki.Deck]) -> PackageStats:
    """Write ``decks`` to ``path`` atomically; the bytes depend only on the content."""
    handle, db_name = tempfile.mkstemp(suffix=".anki2")
    os.close(handle)
    try:
        connection = sqlite3.connect(db_name)
        try:
            genanki.Package(list(decks)).write_to_db(connection.cursor(), 0, iter(()))
            connection.commit()
            cards = connection.execute("SELECT count(*) FROM cards").fetchone()[0]
            notes = connection.execute("SELECT count(*) FROM notes").fetchone()[0]
        finally:
            connection.close()
        database = Path(db_name).read_bytes()
    finally:
        Path(db_name).unlink(missing_ok=True)

    def write_zip(handle) -> None:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in (("collection.anki2", database), ("media", b"{}")):
                info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, data)

    write_atomically(path, write_zip)
    return PackageStats(notes=notes, cards=cards, decks=len(decks))
