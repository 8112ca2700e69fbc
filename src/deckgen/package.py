"""Write Anki packages with genanki's schema, reproducibly and fast.

genanki stamps every note, card and note type with one build timestamp and
zips with the current time. deckgen needs a per-note ``mod`` (from the
ledger), ids derived from identity rather than the clock, and a zip whose
bytes depend only on its content, so an unchanged deck rebuilds to an
identical file.

genanki supplies the collection schema, the note types' JSON and the rule for
which cards a note has; the rows themselves are inserted in bulk, since a
large deck spends most of its packaging time in per-note Python calls. The
collection is deflated in independent pieces on every core; the pieces join
into one valid deflate stream, and its bytes depend only on the collection.
A rebuild after a small edit changes a few pages of the collection, so the
pieces an earlier build deflated are kept (by the digest of their input) and
only the pieces whose bytes changed are deflated again. Such a rebuild does not
insert every row either: the collection written last (kept by the caller) has
its changed notes replaced, and its tables are copied in id order, which lays
the pages out exactly as inserting every row would; a piece whose bytes are
those of the last collection's is known without hashing it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import sqlite3
import struct
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NamedTuple, Union

import genanki
from genanki.apkg_col import APKG_COL
from genanki.apkg_schema import APKG_SCHEMA

from .atomic import Commits, write_atomically

if TYPE_CHECKING:
    from .render import CompiledNoteType

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
# zipfile's default level; a large collection is deflated at the fastest level, which
# costs it about a seventh more bytes and saves three quarters of the time.
_DEFLATE_LEVEL = 6
_LARGE_DEFLATE_LEVEL = 1
_LARGE = 16 << 20
_PAGE_SIZE = 16384
_PIECE = 1 << 20  # bytes deflated independently; small enough to share out, large enough to compress well

Buffer = Union[bytes, memoryview]


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


def card_ords(model: genanki.Model, fields: Sequence[str]) -> tuple[int, ...]:
    """The cards (template ordinals) Anki will generate for a note, by genanki's own rule."""
    if model.model_type == genanki.Model.CLOZE:
        return _cloze_ords(model, fields)
    # A standard note's cards depend only on which of its fields are empty: genanki is
    # asked once per pattern.
    return _front_back_ords(model, tuple(bool(value) for value in fields))


@functools.lru_cache(maxsize=1024)
def _front_back_ords(model: genanki.Model, filled: tuple[bool, ...]) -> tuple[int, ...]:
    note = genanki.Note(model=model, fields=["x" if full else "" for full in filled])
    return tuple(card.ord for card in note.cards)


# genanki's rule for a cloze note (`genanki.Note._cloze_cards`), without making a Note: a card
# for each number N > 0 of a {{cN::...}} in the fields that its first template's front puts
# through cloze:, in the order of the set genanki collects them in.
_CLOZE_FIELD_NAMES = (re.compile(r"{{[^}]*?cloze:(?:[^}]?:)*(.+?)}}"), re.compile("<%cloze:(.+?)%>"))
_CLOZE_NUMBER = re.compile(r"{{c(\d+)::.+?}}", re.DOTALL)


@functools.lru_cache(maxsize=64)
def _cloze_field_indices(model: genanki.Model) -> tuple[int, ...]:
    front = model.templates[0]["qfmt"]
    names = set(_CLOZE_FIELD_NAMES[0].findall(front) + _CLOZE_FIELD_NAMES[1].findall(front))
    indices = {field["name"]: i for i, field in reversed(list(enumerate(model.fields)))}
    return tuple(indices.get(name, -1) for name in names)


def _cloze_ords(model: genanki.Model, fields: Sequence[str]) -> tuple[int, ...]:
    ords: set[int] = set()
    for index in _cloze_field_indices(model):
        if index >= 0:
            ords.update(int(number) - 1 for number in _CLOZE_NUMBER.findall(fields[index]) if int(number) > 0)
    return tuple(ords)


@dataclass(frozen=True)
class NoteRow:
    """A note as stored: its fields, tags and ids, and the (ordinal, id) of each of its cards."""

    note_id: int
    guid: str
    fields: str  # joined by \x1f, as Anki stores them
    sort_field: str
    tags: str  # space-separated, with a space at each end
    cards: tuple[tuple[int, int], ...]
    digest: str  # content hash of note type, fields and tags, for the ledger

    @classmethod
    def make(cls, model: genanki.Model, guid: str, fields: Sequence[str], tags: Sequence[str], digest: str,
             note_id: int, card_ids: Callable[[int], int]) -> NoteRow:
        return cls(
            note_id=note_id,
            guid=guid,
            fields="\x1f".join(fields),
            sort_field=fields[model.sort_field_index],
            tags=f" {' '.join(tags)} ",
            cards=tuple((ord_, card_ids(ord_)) for ord_ in card_ords(model, fields)),
            digest=digest,
        )


class KnownNote(NamedTuple):
    """A note that an earlier build rendered: its ids and digest, without its rows, which
    are copied from the collection that build wrote (see `WrittenCollection`). (A named
    tuple: a rebuild makes one for every card.)"""

    note_id: int
    guid: str
    digest: str


@dataclass
class DeckRows:
    deck_id: int
    name: str
    notes: list[tuple[StampedModel, NoteRow | KnownNote, int]] = field(default_factory=list)  # (type, note, mod)


Signature = tuple[str, str, int, int, int]


def signature(model: genanki.Model, note: NoteRow | KnownNote, mod: int, deck_id: int) -> Signature:
    """What a note's rows in a collection depend on: two notes of equal signature have equal rows."""
    return note.guid, note.digest, model.model_id, mod, deck_id


class StaleCollection(Exception):
    """The collection to copy rows from does not read back as the one written: the caller
    writes the package again from every note's rows."""


@dataclass(frozen=True)
class WrittenCollection:
    """What a build wrote into a package's collection: the keys (in `DeflatedPieces`) of the
    pieces it was zipped in, its size, and the signature of each of its notes, by note id.
    Given the collection's bytes, the next build copies the rows of the notes whose signature
    is unchanged instead of inserting them again, and the copy is the same, byte for byte,
    as inserting them."""

    pieces: tuple[str, ...]
    size: int
    notes: Mapping[int, Signature]


def signatures_of(decks: Sequence[DeckRows]) -> dict[int, Signature]:
    return {note.note_id: signature(model, note, mod, deck.deck_id) for deck in decks for model, note, mod in deck.notes}


def worth_copying(signatures: Mapping[int, Signature], needed: set[int]) -> bool:
    """Whether copying a collection beats inserting every row, ``needed`` being the notes whose
    rows it lacks (see `rows_needed`): it does unless most notes are new or changed (a new
    template or deck name changes them all)."""
    return (len(signatures) - len(needed)) * 2 >= len(signatures)


def rows_needed(signatures: Mapping[int, Signature], copied: WrittenCollection | None) -> set[int]:
    """The notes (by id) whose rows are not in ``copied``: all of them when nothing is copied."""
    if copied is None:
        return set(signatures)
    known = copied.notes
    return {note_id for note_id, mine in signatures.items() if known.get(note_id) != mine}


@dataclass(frozen=True)
class PackageStats:
    notes: int
    cards: int
    decks: int


def _col_json(decks: Sequence[DeckRows], cursor: sqlite3.Cursor) -> tuple[str, str]:
    """The collection's decks and models JSON, exactly as genanki's Deck.write_to_db leaves them
    after writing ``decks`` one by one (models keyed by number and by string alike)."""
    deck_json = json.loads(cursor.execute("SELECT decks FROM col").fetchone()[0])
    model_json: dict = json.loads(cursor.execute("SELECT models FROM col").fetchone()[0])
    latest: dict = {}  # the last deck's update, keyed by model id as an int
    for deck in decks:
        deck_json[str(deck.deck_id)] = genanki.Deck(deck.deck_id, deck.name).to_json()
        # genanki re-reads the JSON it wrote: the int keys it added come back as strings,
        # the later of two equal keys winning in the earlier one's place.
        for model_id, value in latest.items():
            model_json[str(model_id)] = value
        used: dict[int, StampedModel] = {}
        for model, _, _ in deck.notes:
            used.setdefault(model.model_id, model)
        latest = {model_id: model.to_json(0, deck.deck_id) for model_id, model in used.items()}
    final = dict(model_json)
    final.update(latest)
    return json.dumps(deck_json), json.dumps(final)


def _none(key: str) -> bytes | None:
    return None


@dataclass
class DeflatedPieces:
    """Pieces deflated by earlier builds, which ``lookup`` finds by key (several threads call
    it at once); the pieces this build used, by key; and the keys of those it deflated itself.
    A piece's key is the digest of the level, of whether the piece ends the stream, and of its
    bytes."""

    lookup: Callable[[str], bytes | None] = _none
    used: dict[str, bytes] = field(default_factory=dict)
    deflated: set[str] = field(default_factory=set)


def _level(size: int) -> int:
    return _LARGE_DEFLATE_LEVEL if size >= _LARGE else _DEFLATE_LEVEL


def _deflated(data: bytes, pieces: DeflatedPieces, order: list[str],
              earlier: tuple[WrittenCollection, Buffer] | None = None) -> Iterator[bytes]:
    """Raw deflate of ``data``, piece by piece in order: each piece by a fresh compressor,
    all but the last ending on a byte-aligned flush, so that the pieces join into one stream.
    ``earlier`` is a collection written before, and its bytes: a piece equal to the one in
    the same place there has the key that one had."""
    view = memoryview(data)
    starts = list(range(0, len(data), _PIECE)) or [0]
    last = len(starts) - 1
    level = _level(len(data))
    known_keys: tuple[str, ...] = ()
    before: Buffer = b""
    if earlier is not None and _level(earlier[0].size) == level:
        known_keys = earlier[0].pieces
        before = earlier[1]

    def key_of(k: int, chunk: memoryview) -> str:
        if k < len(known_keys) and (k == last) == (k == len(known_keys) - 1):
            start = starts[k]
            # Compared as bytes: comparing two memoryviews goes byte by byte in Python's C code.
            if bytes(chunk) == bytes(before[start:start + _PIECE]):
                return known_keys[k]
        digest = hashlib.sha256(b"%d %d " % (level, k == last))
        digest.update(chunk)
        return digest.hexdigest()

    def piece(k: int) -> tuple[str, bytes, bool]:
        chunk = view[starts[k]:starts[k] + _PIECE]
        key = key_of(k, chunk)
        done = pieces.lookup(key)
        if isinstance(done, bytes):
            return key, done, False
        compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
        out = compressor.compress(chunk)
        return key, out + compressor.flush(zlib.Z_FINISH if k == last else zlib.Z_FULL_FLUSH), True

    def kept(result: tuple[str, bytes, bool]) -> bytes:
        key, out, fresh = result
        pieces.used[key] = out
        if fresh:
            pieces.deflated.add(key)
        order.append(key)
        return out

    workers = min(len(starts), os.cpu_count() or 1)
    if workers <= 1:
        yield from (kept(piece(k)) for k in range(len(starts)))
        return
    with ThreadPoolExecutor(workers) as pool:  # zlib and hashlib release the GIL
        yield from map(kept, pool.map(piece, range(len(starts))))


def _write_zip(out: BinaryIO, members: Sequence[tuple[str, bytes]], pieces: DeflatedPieces,
               orders: Sequence[list[str]], earlier: Sequence[tuple[WrittenCollection, Buffer] | None]) -> None:
    """A zip archive of deflated members with fixed dates and permissions, written as it is
    compressed; each member's header gets its compressed size once that is known. The keys
    of each member's pieces go to its list in ``orders``; ``earlier`` holds, for each member,
    what `_deflated` may compare it with."""
    if sum(len(data) for _, data in members) >= 1 << 31:
        raise ValueError("the collection is too large for a zip archive without zip64")
    year, month, day, hour, minute, second = _ZIP_DATE
    dos_time = hour << 11 | minute << 5 | second // 2
    dos_date = (year - 1980) << 9 | month << 5 | day
    central: list[bytes] = []
    offset = 0
    for (name, data), order, before in zip(members, orders, earlier, strict=True):
        crc = zlib.crc32(data)
        encoded = name.encode("ascii")

        def local_header(packed_size: int) -> bytes:
            return struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, dos_time, dos_date, crc,  # noqa: B023
                               packed_size, len(data), len(encoded), 0) + encoded  # noqa: B023

        out.write(local_header(0))
        packed = 0
        for piece in _deflated(data, pieces, order, before):
            out.write(piece)
            packed += len(piece)
        out.seek(offset)
        out.write(local_header(packed))
        out.seek(0, os.SEEK_END)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 3 << 8 | 20, 20, 0, 8, dos_time, dos_date,
                                   crc, packed, len(data), len(encoded), 0, 0, 0, 0, 0o644 << 16, offset)
                       + encoded)
        offset += 30 + len(encoded) + packed
    directory = b"".join(central)
    out.write(directory)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(directory), offset, 0))


def _schema() -> tuple[list[str], list[str]]:
    """genanki's collection schema as its table statements and its index statements."""
    statements = [s.strip() for s in APKG_SCHEMA.split(";") if s.strip()]
    indexes = [s for s in statements if s.upper().startswith("CREATE INDEX")]
    return [s for s in statements if s not in indexes], indexes


def _first(row: tuple) -> int:
    return row[0]


def _new_collection(connection: sqlite3.Connection) -> None:
    """genanki's tables and its ``col`` row, in the main database of ``connection``."""
    cursor = connection.cursor()
    # Larger pages than sqlite's 4 KB hold a few notes each instead of one or two: the
    # collection is smaller, and is built, copied, indexed and serialised in less time.
    cursor.execute(f"PRAGMA page_size = {_PAGE_SIZE}")
    for statement in _schema()[0]:
        cursor.execute(statement)
    cursor.executescript(APKG_COL)


def collection_to_copy(database: Buffer) -> sqlite3.Connection:
    """A new collection, with ``database`` (the bytes of one written before) attached to it as
    ``previous``, for `write_package` to copy rows from. The bytes are copied into sqlite
    without the GIL: a rebuild opens this on a thread while it gets its notes ready."""
    connection = sqlite3.connect(":memory:", check_same_thread=False)
    try:
        _new_collection(connection)
        connection.execute("ATTACH ':memory:' AS previous")
        connection.deserialize(database, name="previous")
        # Bytes that are no database fail here, not in the first statement of write_package.
        connection.execute("SELECT count(*) FROM previous.sqlite_master").fetchone()
    except BaseException:
        connection.close()
        raise
    return connection


def write_package(path: Path, decks: Sequence[DeckRows], pieces: DeflatedPieces | None = None,
                  previous: tuple[WrittenCollection, Buffer] | None = None,
                  signatures: Mapping[int, Signature] | None = None,
                  needed: set[int] | None = None,
                  opened: sqlite3.Connection | None = None,
                  commits: Commits | None = None) -> tuple[PackageStats, WrittenCollection, bytes]:
    """Write ``decks`` to ``path`` atomically; the bytes depend only on the content.
    ``pieces`` lends what earlier builds deflated, and collects what this one did; the rows
    of notes unchanged since ``previous`` (a collection and its bytes, when `worth_copying`)
    was written are copied from it. ``signatures`` are those of `signatures_of`, when known
    already, and ``needed`` those of `rows_needed`. ``opened`` is `collection_to_copy` of
    ``previous``, when opened already; it is closed here. With ``commits``, the package is put in
    place by them (see `atomic.Commits`). Returns the collection written, and its bytes, for the
    next build."""
    signatures = signatures if signatures is not None else signatures_of(decks)
    # Built in memory and serialised: the collection never goes through a scratch file.
    attached = opened is not None and previous is not None
    if opened is not None and not attached:
        opened.close()
    connection = opened if attached and opened is not None else sqlite3.connect(":memory:")
    try:
        cursor = connection.cursor()
        if not attached:
            _new_collection(connection)
        if decks:
            decks_json, models_json = _col_json(decks, cursor)
            cursor.execute("UPDATE col SET decks = ?, models = ?", (decks_json, models_json))
        connection.commit()  # a database is attached outside a transaction only
        if previous is not None:
            if needed is None:
                needed = rows_needed(signatures, previous[0])
            notes, cards = _copy_rows(cursor, decks, signatures, needed, *previous, attached=attached)
        else:
            notes, cards = _insert_rows(cursor, "main", decks)
        # An index built over the finished table is sorted once instead of kept in order row by row.
        for statement in _schema()[1]:
            cursor.execute(statement)
        connection.commit()
        database = connection.serialize()
    finally:
        connection.close()
    pieces = pieces if pieces is not None else DeflatedPieces()
    orders: tuple[list[str], list[str]] = ([], [])
    write_atomically(path, lambda out: _write_zip(out, [("collection.anki2", database), ("media", b"{}")],
                                                  pieces, orders, [previous, None]), commits=commits)
    written = WrittenCollection(tuple(orders[0]), len(database), signatures)
    return PackageStats(notes=notes, cards=cards, decks=len(decks)), written, database


def _insert_rows(cursor: sqlite3.Cursor, schema: str, decks: Sequence[DeckRows],
                 only: set[int] | None = None) -> tuple[int, int]:
    """Insert into ``schema``'s tables the notes of ``decks`` (those ``only`` names, when
    given) and their cards."""
    note_rows: list[tuple] = []
    card_rows: list[tuple] = []
    for deck in decks:
        for model, note, mod in deck.notes:
            if only is not None and note.note_id not in only:
                continue
            if not isinstance(note, NoteRow):
                raise ValueError(f"the rows of note {note.guid!r} are neither given nor in the earlier collection")
            note_rows.append((note.note_id, note.guid, model.model_id, mod, -1, note.tags, note.fields,
                              note.sort_field, 0, 0, ""))
            card_rows.extend((card_id, note.note_id, deck.deck_id, ord_, mod, -1, 0, 0, 0, 0, 0, 0, 0, 0,
                              0, 0, 0, "") for ord_, card_id in note.cards)
    # In id order, each table's B-tree grows at its end instead of splitting pages.
    note_rows.sort(key=_first)
    card_rows.sort(key=_first)
    cursor.executemany(f"INSERT INTO {schema}.notes VALUES(?,?,?,?,?,?,?,?,?,?,?);", note_rows)
    cursor.executemany(f"INSERT INTO {schema}.cards VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?);", card_rows)
    return len(note_rows), len(card_rows)


def _copy_rows(cursor: sqlite3.Cursor, decks: Sequence[DeckRows], signatures: Mapping[int, Signature],
               needed: set[int], previous: WrittenCollection, database: Buffer,
               attached: bool = False) -> tuple[int, int]:
    """Fill the collection from ``previous``: its rows of notes gone or changed are deleted,
    the changed and new notes inserted, and its tables copied over in id order, the order
    in which `_insert_rows` inserts, so that the pages come out the same. ``database`` is
    attached as ``previous`` already when ``attached``."""
    try:
        if not attached:
            cursor.execute("ATTACH ':memory:' AS previous")
            cursor.connection.deserialize(database, name="previous")
        # Its notes that are gone, and those that changed.
        stale = [(note_id,) for note_id in previous.notes.keys() - signatures.keys()]
        stale += [(note_id,) for note_id in needed if note_id in previous.notes]
        cursor.executemany("DELETE FROM previous.notes WHERE id = ?", stale)
        cursor.executemany("DELETE FROM previous.cards WHERE nid = ?", stale)
        _insert_rows(cursor, "previous", decks, needed)
        cursor.execute("INSERT INTO main.notes SELECT * FROM previous.notes")
        cursor.execute("INSERT INTO main.cards SELECT * FROM previous.cards")
        note_ids = [note_id for (note_id,) in cursor.execute("SELECT id FROM main.notes")]
        cards = cursor.execute("SELECT count(*) FROM main.cards").fetchone()[0]
        cursor.connection.commit()
        cursor.execute("DETACH previous")
    except sqlite3.DatabaseError as exc:
        raise StaleCollection(str(exc)) from exc
    if note_ids != sorted(signatures):
        raise StaleCollection("the earlier collection does not hold the notes it lists")
    return len(note_ids), cards
