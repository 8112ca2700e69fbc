"""Anki identity: GUIDs, stable numeric ids and the modification ledger.

Anki matches an imported note by GUID and updates it only when the incoming
``mod`` (whole seconds) is newer. So a note's GUID comes from its card id,
never its content, and its ``mod`` changes exactly when its content does.
The ledger (``deckgen.lock``) remembers each note's content hash and mod
between builds, so an unchanged note keeps its mod and a changed one gets a
strictly greater mod even when two builds fall in the same second.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from . import errorcodes as codes
from .atomic import Commits, write_bytes_atomically
from .diagnostics import DeckgenError, Diagnostic, Location

LEDGER_FILE = "deckgen.lock"
LEDGER_VERSION = 1


# The digits of the GUIDs Anki makes, and genanki after it.
_BASE91 = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&()*+,-./:;<=>?@[]^_`{|}~"


def note_guid(namespace: str, card_id: str) -> str:
    """``genanki.guid_for("deckgen", namespace, card_id)``, the GUID every deckgen note has had:
    the first 8 bytes of a SHA-256, in base 91. (Worked out here: genanki's own takes a
    byte at a time, and a build makes one for every note.)"""
    number = int.from_bytes(hashlib.sha256(f"deckgen__{namespace}__{card_id}".encode()).digest()[:8], "big")
    digits = []
    while number:
        number, digit = divmod(number, 91)
        digits.append(_BASE91[digit])
    return "".join(reversed(digits))


def stable_id(*parts: str) -> int:
    """A positive 63-bit id derived from ``parts`` (for decks, notes and cards)."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return (int.from_bytes(digest[:8], "big") >> 11) + (1 << 40)


# json.dumps builds an encoder for every call with options; one made once encodes the same.
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))
# JSONEncoder.encode in turn makes its C encoder anew on every call; this one is made once
# (without the check for circular references: what is hashed is plain lists of strings).
_C_ENCODER = (None if json.encoder.c_make_encoder is None else json.encoder.c_make_encoder(
    None, _CANONICAL_JSON.default, json.encoder.encode_basestring, None, ":", ",", True, False, True))


def canonical_json(value: Any) -> str:
    """``value`` as JSON with sorted keys and no spaces, as ``_CANONICAL_JSON`` writes it."""
    if _C_ENCODER is None or isinstance(value, str):
        return _CANONICAL_JSON.encode(value)
    return "".join(_C_ENCODER(value, 0))


def content_hash(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:32]


def build_time() -> int:
    """Now, in whole seconds; ``SOURCE_DATE_EPOCH`` pins it for reproducible builds."""
    pinned = os.environ.get("SOURCE_DATE_EPOCH")
    if pinned and pinned.isdigit():
        return int(pinned)
    return int(time.time())


class Stamp(NamedTuple):
    hash: str
    mod: int


@dataclass
class Ledger:
    notes: dict[str, Stamp] = field(default_factory=dict)
    notetypes: dict[str, Stamp] = field(default_factory=dict)
    # The bytes read, when they are those `to_bytes` writes for the stamps read; the notes
    # restamped since; and whether notes came or went, or a note type was restamped. A
    # rebuild that restamps a few notes writes the bytes read with those entries replaced.
    _text: bytes | None = field(default=None, repr=False, compare=False)
    _restamped: set[str] = field(default_factory=set, repr=False, compare=False)
    _reshaped: bool = field(default=False, repr=False, compare=False)

    @classmethod
    def load(cls, path: Path) -> "Ledger":
        raw = cls.read(path)
        return cls() if raw is None else cls.parse(raw, path)

    @staticmethod
    def read(path: Path) -> bytes | None:
        """The ledger file's bytes; None when there is no ledger yet."""
        if not path.exists():
            return None
        try:
            return path.read_bytes()
        except OSError as exc:
            raise _unreadable(path, exc) from exc

    @classmethod
    def parse(cls, raw: bytes, path: Path) -> "Ledger":
        try:
            data = json.loads(raw.decode("utf-8"))
            if data.get("version") != LEDGER_VERSION:
                raise ValueError(f"unsupported ledger version {data.get('version')!r}")
            ledger = cls(
                notes={key: _stamp_from(value) for key, value in data["notes"].items()},
                notetypes={key: _stamp_from(value) for key, value in data["notetypes"].items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise _unreadable(path, exc) from exc
        if ledger.to_bytes() == raw:
            ledger._text = raw
        return ledger

    def columns(self) -> tuple[Any, ...]:
        """The ledger as a few flat values, for a cache: reading them back (`from_columns`)
        takes a fraction of the time that parsing the JSON of tens of thousands of notes does."""
        hashes, mods = zip(*self.notes.values()) if self.notes else ((), ())
        return (LEDGER_VERSION, self._text is not None and not self._restamped and not self._reshaped,
                {key: tuple(stamp) for key, stamp in self.notetypes.items()}, tuple(self.notes), hashes, mods)

    @classmethod
    def from_columns(cls, stored: Any, raw: bytes) -> "Ledger | None":
        """The ledger `columns` made ``stored`` from, read from ``raw``; None when ``stored`` is
        anything else."""
        if not (isinstance(stored, tuple) and len(stored) == 6):
            return None
        version, written_as_read, notetypes, keys, hashes, mods = stored
        if (version != LEDGER_VERSION or not isinstance(notetypes, dict)
                or not all(type(column) is tuple for column in (keys, hashes, mods))  # noqa: E721
                or not len(keys) == len(hashes) == len(mods)):
            return None
        notes = dict(zip(keys, map(Stamp._make, zip(hashes, mods))))
        if len(notes) != len(keys):
            return None
        ledger = cls(notes=notes, notetypes={key: Stamp._make(stamp) for key, stamp in notetypes.items()})
        if written_as_read is True:
            ledger._text = raw
        return ledger

    def stamp_note(self, key: str, digest: str, now: int) -> int:
        before = self.notes.get(key)
        mod = _stamp(self.notes, key, digest, now)
        if before is None:
            self._reshaped = True
        elif self.notes[key] is not before:
            self._restamped.add(key)
        return mod

    def stamp_notetype(self, key: str, digest: str, now: int) -> int:
        before = self.notetypes.get(key)
        mod = _stamp(self.notetypes, key, digest, now)
        if self.notetypes[key] is not before:
            self._reshaped = True
        return mod

    def keep_only(self, note_keys: set[str]) -> None:
        """Forget notes no longer built (a re-added card then counts as new content)."""
        if self.notes.keys() - note_keys:
            self.notes = {key: stamp for key, stamp in self.notes.items() if key in note_keys}
            self._reshaped = True

    def to_bytes(self) -> bytes:
        if self._text is not None and not self._reshaped:
            patched = _rewritten(self._text, {key: self.notes[key] for key in sorted(self._restamped)})
            if patched is not None:
                return patched
        if _plain(self.notetypes) and _plain(self.notes):
            return _ledger_text(self.notetypes, self.notes).encode()
        data = {
            "version": LEDGER_VERSION,
            "notetypes": {k: v._asdict() for k, v in sorted(self.notetypes.items())},
            "notes": {k: v._asdict() for k, v in sorted(self.notes.items())},
        }
        return (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode()

    def save(self, path: Path, commits: Commits | None = None) -> bytes | None:
        """Write the ledger if it changed; returns the bytes written (None when it did not).
        With ``commits``, they put the file in place (see `atomic.Commits`)."""
        new = self.to_bytes()
        if path.exists() and path.read_bytes() == new:
            return None
        write_bytes_atomically(path, new, commits=commits)
        self._text, self._restamped, self._reshaped = new, set(), False
        return new


def _rewritten(text: bytes, stamps: dict[str, Stamp]) -> bytes | None:
    """``text``, a ledger as `_ledger_text` writes it, with the entries of the notes in
    ``stamps`` written anew; None when one is not where that layout puts it."""
    from json.encoder import encode_basestring

    if not _plain(stamps):
        return None
    notes_at = text.find(b'\n "notes": {\n')
    if notes_at < 0:
        return None
    parts: list[bytes] = []
    done = 0
    # A key's entry is the only place where it opens a line at this depth: its own hash and
    # every other string are escaped, and they stand deeper.
    for at, head, stamp in sorted((text.find(head, notes_at), head, stamp) for head, stamp in (
            (f'\n  {encode_basestring(key)}: {{\n   "hash": '.encode(), stamp) for key, stamp in stamps.items())):
        end = text.find(b"\n  }", at)
        if at < done or end < 0:
            return None
        parts += [text[done:at], head, f'{encode_basestring(stamp.hash)},\n   "mod": {stamp.mod}'.encode()]
        done = end
    parts.append(text[done:])
    return b"".join(parts)


def _plain(table: dict[str, Stamp]) -> bool:
    return all(type(s.hash) is str and type(s.mod) is int for s in table.values())  # noqa: E721


def _ledger_text(notetypes: dict[str, Stamp], notes: dict[str, Stamp]) -> str:
    """What ``json.dumps(..., indent=1, ensure_ascii=False) + "\n"`` makes of the ledger,
    written directly: the indenting encoder is pure Python and slow for tens of thousands of notes."""
    from json.encoder import encode_basestring

    def section(name: str, table: dict[str, Stamp]) -> str:
        if not table:
            return f' "{name}": {{}}'
        rows = ",\n".join(
            f'  {encode_basestring(key)}: {{\n   "hash": {encode_basestring(s.hash)},\n   "mod": {s.mod}\n  }}'
            for key, s in sorted(table.items())
        )
        return f' "{name}": {{\n{rows}\n }}'

    return f'{{\n "version": {LEDGER_VERSION},\n{section("notetypes", notetypes)},\n{section("notes", notes)}\n}}\n'


def _unreadable(path: Path, exc: Exception) -> DeckgenError:
    return DeckgenError(
        Diagnostic.make(
            codes.CONFIG_INVALID,
            Location(Path(path.name)),
            f"the ledger is unreadable ({exc})",
            hint=f"restore {path.name} from version control; deleting it makes every note "
            "count as changed on the next import",
        )
    )


# Anki stores a modification time as a 64-bit integer (seconds); anything past this is no time.
MAX_MOD = 2**53


def _stamp_from(value: Any) -> Stamp:
    if type(value) is dict and len(value) == 2:  # noqa: E721 - the common case, taken quickly
        digest, mod = value.get("hash"), value.get("mod")
        if type(digest) is str and type(mod) is int and 0 <= mod < MAX_MOD:  # noqa: E721
            return Stamp(digest, mod)
    stamp = Stamp(**value)
    if not isinstance(stamp.hash, str) or type(stamp.mod) is not int or not 0 <= stamp.mod < MAX_MOD:
        raise ValueError(f"bad entry {value!r}")
    return stamp


def _stamp(table: dict[str, Stamp], key: str, digest: str, now: int) -> int:
    previous = table.get(key)
    if previous is not None and previous.hash == digest:
        return previous.mod
    mod = now if previous is None else max(now, previous.mod + 1)
    table[key] = Stamp(digest, mod)
    return mod
