"""What the last build of a project wrote, kept in its cache for the next build: each package's
collection (its bytes as written, and the signature of each of its notes) and the deflated
pieces the packages were zipped in.

A rebuild copies the rows of unchanged notes from the last collection and zips the pieces
that did not change as they are (see ``package``). A thread reads the cache, and attaches the
last collection to a new one for the copy, while the build gets its notes ready; threads keep
the new collections while it finishes. Each deflated piece is kept on its own, under its key,
and looked up when the package is zipped: a rebuild after a small edit writes the few pieces
that changed. Any of it that cannot be read or written only makes the next build slower.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cache import Cache, digest

if TYPE_CHECKING:
    from .package import DeflatedPieces, WrittenCollection

_PIECES = "pieces"  # the layer of deflated pieces, each under its key


class LastBuild:
    """The collections the last build wrote, read from the cache by a thread while the notes
    are got ready, and the pieces they were zipped in; and those this build writes, kept by
    threads while it finishes. The bytes of a collection are kept under the digest of its
    pieces' keys, so that they are always those of the collection stored with them."""

    def __init__(self, cache: Cache, paths: Iterable[Path]):
        self.cache = cache
        self.earlier: dict[Path, tuple[WrittenCollection | None, memoryview | None]] = {}
        # Each collection's bytes attached to a new collection (`collection_to_copy`), until taken.
        self.opened: dict[Path, sqlite3.Connection] = {}
        self.threads: list[threading.Thread] = []
        self.reader: threading.Thread | None = None
        if cache.enabled:
            self.reader = self._start(self._read, list(paths))

    def __enter__(self) -> LastBuild:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for thread in self.threads:
            thread.join()
        for connection in self.opened.values():
            connection.close()
        self.opened.clear()

    def _start(self, target: Callable[..., None], *args: Any) -> threading.Thread:
        def run() -> None:
            try:
                target(*args)
            except Exception:  # noqa: BLE001 - a cache that fails only makes a build slower
                pass

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.threads.append(thread)
        return thread

    def _read(self, paths: list[Path]) -> None:
        from .package import collection_to_copy

        for path in paths:
            stored = _written_collection(self.cache.get("collection", digest("collection", str(path))))
            database = None
            if stored is not None:
                database = self.cache.get_bytes("database", _database_key(stored))
                if database is not None and len(database) != stored.size:
                    database = None
            if database is not None:
                try:
                    self.opened[path] = collection_to_copy(database)
                except sqlite3.Error:
                    pass  # write_package attaches the bytes itself, and finds out what is wrong with them
            self.earlier[path] = (stored, database)

    def _wait(self) -> None:
        if self.reader is not None:
            self.reader.join()
            self.reader = None

    def pieces(self) -> DeflatedPieces:
        """The pieces to zip the packages in: those deflated before are found in the cache."""
        from .package import DeflatedPieces

        return DeflatedPieces(self._deflated_piece) if self.cache.enabled else DeflatedPieces()

    def _deflated_piece(self, key: str) -> bytes | None:
        deflated = self.cache.get_bytes(_PIECES, _piece_key(key))
        return bytes(deflated) if deflated is not None else None

    def last(self, path: Path) -> tuple[WrittenCollection | None, memoryview | None]:
        """The collection last written to ``path``, and its bytes, as far as the cache has them."""
        self._wait()
        return self.earlier.get(path, (None, None))

    def opened_copy(self, path: Path) -> sqlite3.Connection | None:
        """The last collection written to ``path`` (see `last`), attached to a new one for
        `write_package` to copy rows from; the caller closes it."""
        self._wait()
        return self.opened.pop(path, None)

    def keep(self, path: Path, collection: WrittenCollection, database: bytes) -> None:
        """Keep the collection just written to ``path``, for the next build."""
        stored, stored_database = self.last(path)
        self.earlier[path] = (stored, None)  # its bytes are no longer wanted
        if collection != stored or stored_database is None:
            # Checksummed and written by a thread (neither holds the GIL) while this one goes on.
            self._start(self.cache.put_bytes, "database", _database_key(collection), database)
        if collection != stored:
            self.cache.put("collection", digest("collection", str(path)), _columns(collection))
            if stored is not None:
                self.cache.forget("database", _database_key(stored))

    def keep_pieces(self, pieces: DeflatedPieces) -> None:
        """Keep the pieces this build deflated (a thread writes them); those it found in the
        cache were marked as used there, and the others are left to be pruned."""
        fresh = [(key, pieces.used[key]) for key in pieces.deflated]
        if fresh and self.cache.enabled:
            self._start(self._put_all, fresh)

    def _put_all(self, pieces: list[tuple[str, bytes]]) -> None:
        for key, deflated in pieces:
            self.cache.put_bytes(_PIECES, _piece_key(key), deflated)


def _piece_key(key: str) -> str:
    """A piece's cache key: its own key is a digest of its content only, which a project's files
    could name; the cache's key also depends on the cache's salt, which they cannot."""
    return digest("piece", key)


def _database_key(collection: WrittenCollection) -> str:
    return digest("database", *collection.pieces)


def _columns(collection: WrittenCollection) -> tuple[Any, ...]:
    """A collection as kept: the signatures of its notes as columns, which pickle and read back
    in less time than a mapping of tuples (the reading holds up the rest of the build)."""
    signatures = tuple(zip(*collection.notes.values())) if collection.notes else ((),) * 5
    return collection.pieces, collection.size, tuple(collection.notes), signatures


def _written_collection(value: Any) -> WrittenCollection | None:
    """The collection `_columns` kept as ``value``; None for anything else."""
    from .package import WrittenCollection

    if not (isinstance(value, tuple) and len(value) == 4):
        return None
    pieces, size, note_ids, signatures = value
    if (isinstance(pieces, tuple) and type(size) is int and type(note_ids) is tuple  # noqa: E721
            and type(signatures) is tuple and len(signatures) == 5  # noqa: E721
            and all(type(column) is tuple and len(column) == len(note_ids) for column in signatures)):  # noqa: E721
        return WrittenCollection(pieces, size, dict(zip(note_ids, zip(*signatures))))
    return None

