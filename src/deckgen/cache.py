"""A content-addressed cache of intermediate results, in ``<project>/.deckgen-cache/``.

What is cached is what takes time to recompute: normalised source texts, parsed
card files (with the position of every key), each card's verdict, each note's
rendered fields and the deflated pieces of the last packages. Every entry is found
by a key that hashes everything its value depends on, together with a salt made of
deckgen's version, the cache schema, the bytes of deckgen's own code and the
installed versions of the libraries it relies on. So an entry is either exactly what
recomputing would give, or it is never looked up.

An entry that cannot be read back whole (truncated, bit-flipped, foreign, written
by another version) is ignored and recomputed: the cache can make a run faster,
never different. Entries are written atomically, without fsync: a power cut can
lose an entry but not leave a half-written one that passes the checksum.

Values are pickled, and read back with an unpickler that builds only deckgen's own
data classes and a few standard types, so a cache directory that came with a
project cannot run code; and every key also hashes a random key kept in the user's
own cache folder, so such a directory cannot carry entries this machine would use.
"""

from __future__ import annotations

import copyreg
import hashlib
import importlib.util
import io
import os
import pickle
import re
import stat
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path, PosixPath, PurePosixPath, PureWindowsPath, WindowsPath
from typing import Any

from . import __version__
from .atomic import write_atomically
from .errorcodes import ALL_CODES, ErrorCode
from .parallel import in_background

CACHE_DIR = ".deckgen-cache"
SCHEMA = 1
_MAGIC = b"deckgen-cache\x00"
# Fewer held values than this are written by this process: a child costs more than it saves.
_HELD_FOR_BACKGROUND = 64
_HEADER = len(_MAGIC) + 4 + 32  # magic, crc32 of the payload, the entry's key

# Libraries whose behaviour is part of the results: a new version invalidates the cache.
_DEPENDENCIES = ("yaml", "pydantic", "pydantic_core", "ftfy", "rapidfuzz", "ahocorasick_rs", "jinja2",
                 "markupsafe", "nh3", "genanki", "wcwidth", "regex")


def _user_key() -> bytes:
    """A random key kept in the user's own cache folder, outside every project.

    It makes entry keys unpredictable: a shared deck's ``.deckgen-cache`` cannot carry an
    entry (a forged "checked" verdict, say) that this machine would ever look up. Where
    no key can be kept, a fresh one per run simply means the cache is never reused."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "deckgen"
    path = base / "cache-key"
    try:
        key = path.read_bytes()
        if len(key) == 32:
            return key
    except OSError:
        pass
    key = os.urandom(32)
    try:
        base.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
    except FileExistsError:
        try:
            existing = path.read_bytes()
            return existing if len(existing) == 32 else key
        except OSError:
            return key
    except (OSError, RuntimeError):
        return key
    return key


@lru_cache(maxsize=1)
def salt() -> bytes:
    """What every key depends on besides its own inputs."""
    h = hashlib.sha256(_user_key())
    h.update(f"{__version__}\x00{SCHEMA}\x00{sys.version}\x00".encode())
    package = Path(__file__).parent
    for path in sorted(package.glob("*.py")):
        h.update(path.name.encode() + b"\x00" + path.read_bytes() + b"\x00")
    places: set[Path] = set()
    for name in _DEPENDENCIES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.origin:
            h.update(f"{name}:absent\x00".encode())
            continue
        origin = Path(spec.origin)
        places.add(origin.parent.parent if origin.name == "__init__.py" else origin.parent)
    for place in sorted(places):
        try:
            # Installed distributions are named with their versions: name-1.2.3.dist-info.
            names = sorted(n for n in os.listdir(place) if n.endswith((".dist-info", ".egg-info")))
        except OSError:
            names = []
        h.update(("\x00".join(names) + "\x01").encode())
    return h.digest()


def digest(*parts: bytes | str) -> str:
    """A key: the salt and the parts, each length-prefixed so that no two lists of parts collide."""
    h = hashlib.sha256(salt())
    for part in parts:
        data = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


# -- safe pickling --------------------------------------------------------------------------

def _error_code(code: str) -> ErrorCode:
    return ALL_CODES[code]


# Codes are compared by identity in places; they travel by name and come back as the same object.
copyreg.pickle(ErrorCode, lambda code: (_error_code, (code.code,)))

_ALLOWED = {
    "deckgen.cache": {"_error_code", "LazyTuple"},
    "deckgen.models": {"CardEntry", "CardFile", "KeyPositions", "QuoteCard", "ClozeCard", "FactCard", "DateCard",
                       "FigureCard"},
    "deckgen.diagnostics": {"Diagnostic", "Location"},
    "deckgen.errorcodes": {"Severity"},
    "deckgen.anchors": {"Anchor", "CitedNote"},
    "deckgen.sourcetext": {"Footnote", "Locator"},
    "deckgen.package": {"NoteRow", "WrittenCollection"},
    "deckgen.render": {"CompiledNoteType"},
    "deckgen.notetypes": {"NoteTypeSpec", "FieldSpec", "TemplateSpec"},
    "datetime": {"date"},
    "array": {"array", "_array_reconstructor"},
    "copyreg": {"_reconstructor"},
    "builtins": {"object", "set", "frozenset"},
}
# Allowed under the module a class is pickled by, which need not be the one it is imported
# from: Python 3.13 pickles paths as pathlib._local's.
for _class in (PosixPath, WindowsPath, PurePosixPath, PureWindowsPath):
    _ALLOWED.setdefault(_class.__module__, set()).add(_class.__qualname__)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if name in _ALLOWED.get(module, ()):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in the cache")


def unpickle(payload: bytes | memoryview) -> Any:
    """A value pickled as `Cache.put` pickles it, read with the cache's restricted unpickler."""
    return _Unpickler(io.BytesIO(payload)).load()


class LazyTuple(Sequence[Any]):
    """A tuple kept pickled until one of its items is first asked for.

    A run reads every card file's entry from the cache but, after a small edit, looks
    inside only a few of them: the others' cards need never be built. The pickled
    bytes were checked with the rest of their entry, and are read with the same
    restricted unpickler."""

    __slots__ = ("_blob", "_length", "_items")

    def __init__(self, blob: bytes, length: int):
        self._blob = blob
        self._length = length
        self._items: tuple[Any, ...] | None = None

    @classmethod
    def of(cls, items: tuple[Any, ...]) -> LazyTuple:
        """The items, pickled only when the tuple itself is."""
        lazy = cls(b"", len(items))
        lazy._items = items
        return lazy

    def _built(self) -> tuple[Any, ...]:
        if self._items is None:
            items = _Unpickler(io.BytesIO(self._blob)).load()
            if not isinstance(items, tuple) or len(items) != self._length:
                raise pickle.UnpicklingError("a cache entry holds a damaged tuple")
            self._items = items
        return self._items

    @property
    def built(self) -> bool:
        return self._items is not None

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: Any) -> Any:
        return self._built()[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._built())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (tuple, LazyTuple)):
            return self._built() == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._built())

    def __repr__(self) -> str:
        return f"LazyTuple({self._built()!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        blob = self._blob or pickle.dumps(self._items, protocol=pickle.HIGHEST_PROTOCOL)
        return (LazyTuple, (blob, self._length))


# -- the store ------------------------------------------------------------------------------

class Cache:
    """Entries under ``<root>/.deckgen-cache/<layer>/``, one file per key.

    Only real directories are used: a cache folder, or a layer folder, that is a
    link (a shared project can carry one, pointing anywhere) or not a folder at all
    is neither read, written nor pruned. Entries are opened without following links
    and only when they are regular files.
    """

    enabled = True

    def __init__(self, root: Path):
        self.dir = root / CACHE_DIR
        self.used: dict[str, set[str]] = {}
        self.hits = 0
        self.misses = 0
        self._layers: dict[str, bool] = {}  # layer -> its folder is a real one (checked once)
        self._holding: frozenset[str] = frozenset()  # layers whose values `put` holds
        self._held: list[tuple[str, str, Any]] = []  # (layer, key, value) put and not yet written
        self._writers: list[Callable[[], None]] = []  # waits for a child writing held values

    def _layer(self, layer: str, create: bool = False) -> Path | None:
        """The layer's folder, when it and the cache folder are real folders (made if asked)."""
        folder = self.dir / layer
        if self._layers.get(layer):
            return folder
        for path, made in ((self.dir, True), (folder, False)):
            kind = _kind(path)
            if kind is None and create:
                try:
                    path.mkdir()
                except FileExistsError:
                    pass
                except OSError:
                    return None
                if made and _kind(path) == "dir":
                    # The cache is a local artefact; keep it out of version control even
                    # in a project whose .gitignore does not mention it.
                    try:
                        (path / ".gitignore").write_text("*\n")
                    except OSError:
                        pass
                kind = _kind(path)
            if kind != "dir":
                return None
        self._layers[layer] = True
        return folder

    def get(self, layer: str, key: str) -> Any | None:
        """The value stored under ``key``, or None when there is none that reads back whole."""
        try:
            payload = self._payload(layer, key)
            value = unpickle(payload)
        except Exception:  # noqa: BLE001 - any unreadable entry is a miss, never an error
            self.misses += 1
            return None
        self.hits += 1
        return value

    def get_bytes(self, layer: str, key: str) -> memoryview | None:
        """The bytes stored under ``key`` by `put_bytes` (a view, not a copy), or None when there
        are none that read back whole."""
        try:
            payload = self._payload(layer, key)
        except Exception:  # noqa: BLE001 - any unreadable entry is a miss, never an error
            self.misses += 1
            return None
        self.hits += 1
        return payload

    def _payload(self, layer: str, key: str) -> memoryview:
        """The checked payload of the entry stored under ``key``; raises when there is none."""
        self.used.setdefault(layer, set()).add(key[:64])
        folder = self._layer(layer)
        if folder is None:
            raise FileNotFoundError(layer)
        data = _read_regular(folder / key[:64])
        if len(data) < _HEADER or not data.startswith(_MAGIC):
            raise ValueError("not a cache entry")
        crc = int.from_bytes(data[len(_MAGIC):len(_MAGIC) + 4], "little")
        if data[len(_MAGIC) + 4:_HEADER] != bytes.fromhex(key[:64]):
            raise ValueError("entry stored under another key")
        payload = memoryview(data)[_HEADER:]
        if zlib.crc32(payload) != crc:
            raise ValueError("checksum mismatch")
        return payload

    def contains(self, layer: str, key: str) -> bool:
        """Whether an entry is stored under ``key`` (it may still fail to read back)."""
        folder = self._layer(layer)
        return folder is not None and os.path.isfile(folder / key[:64])

    def keep(self, layer: str, key: str) -> None:
        """Spare an entry from `prune` although this run did not read it."""
        self.used.setdefault(layer, set()).add(key[:64])

    def forget(self, layer: str, key: str) -> None:
        """Leave an entry that this run read to `prune`: what replaces it has been stored."""
        self.used.get(layer, set()).discard(key[:64])

    def hold(self, layers: Iterable[str]) -> None:
        """Keep the values put in ``layers`` from now on for `write_held`, instead of pickling
        and writing each at once. Such a value must not change once it is put."""
        self._holding = frozenset(layers)

    def write_held(self) -> None:
        """Write the values held so far, and those put from now on at once. Many are written
        by a child process while this one goes on (a build writes its package meanwhile,
        with a core to spare); `flush` waits for it."""
        held, self._held, self._holding = self._held, [], frozenset()
        if not held:
            return

        def write() -> None:
            for layer, key, value in held:
                self.put(layer, key, value)

        if len(held) < _HELD_FOR_BACKGROUND:
            write()
        else:
            self._writers.append(in_background(write))

    def flush(self) -> None:
        """Write what is still held, and wait for the writing begun by `write_held`."""
        self.write_held()
        writers, self._writers = self._writers, []
        for wait in writers:
            wait()

    def put(self, layer: str, key: str, value: Any) -> None:
        if layer in self._holding:
            self.used.setdefault(layer, set()).add(key[:64])
            self._held.append((layer, key, value))
            return
        try:
            payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
            self.used.setdefault(layer, set()).add(key[:64])
            return  # a cache that cannot be written only makes the next run slower
        self.put_bytes(layer, key, payload)

    def put_bytes(self, layer: str, key: str, payload: bytes) -> None:
        """Store ``payload`` as it is, for `get_bytes` (`put` stores a value pickled)."""
        self.used.setdefault(layer, set()).add(key[:64])
        try:
            folder = self._layer(layer, create=True)
            if folder is None:
                return
            header = _MAGIC + zlib.crc32(payload).to_bytes(4, "little") + bytes.fromhex(key[:64])

            def write(handle: Any) -> None:
                handle.write(header)
                handle.write(payload)

            write_atomically(folder / key[:64], write, durable=False)
        except OSError:
            pass  # a cache that cannot be written only makes the next run slower

    def prune(self, layers: Iterable[str]) -> None:
        """Remove the entries of ``layers`` that this run did not use, and scraps of writes
        that were interrupted long ago."""
        stale = time.time() - 600
        for layer in layers:
            folder = self._layer(layer)
            if folder is None:
                continue
            keep = self.used.get(layer, set())
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            for name in names:
                path = folder / name
                try:
                    if _ENTRY.fullmatch(name):
                        if name not in keep:
                            path.unlink()
                    elif _SCRAP.fullmatch(name) and os.lstat(path).st_mtime < stale:
                        path.unlink()
                except OSError:
                    pass


_ENTRY = re.compile(r"[0-9a-f]{64}")
_SCRAP = re.compile(r"\.[0-9a-f]{64}\..*\.tmp")  # atomic.py's temporary names


def _kind(path: Path) -> str | None:
    """"dir" for a real folder, "other" for anything else (links included), None when absent."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError:
        return "other"
    return "dir" if stat.S_ISDIR(mode) else "other"


def _read_regular(path: Path) -> bytes:
    """The bytes of a regular file, never through a link, a pipe or a device."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        # Read with os.read, not through a file object: a run reads hundreds of entries.
        chunks = []
        wanted = info.st_size + 1  # one byte more: a file that grew since is read to its end
        while chunk := os.read(fd, max(wanted, 1 << 16)):
            chunks.append(chunk)
            wanted -= len(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    finally:
        os.close(fd)


class NoCache(Cache):
    """Used with ``--no-cache``: nothing is read or written."""

    enabled = False

    def __init__(self, root: Path | None = None):
        self.dir = Path(os.devnull)
        self.used = {}
        self.hits = 0
        self.misses = 0

    def get(self, layer: str, key: str) -> Any | None:
        return None

    def get_bytes(self, layer: str, key: str) -> memoryview | None:
        return None

    def contains(self, layer: str, key: str) -> bool:
        return False

    def put(self, layer: str, key: str, value: Any) -> None:
        return None

    def put_bytes(self, layer: str, key: str, payload: bytes) -> None:
        return None

    def hold(self, layers: Iterable[str]) -> None:
        return None

    def write_held(self) -> None:
        return None

    def flush(self) -> None:
        return None

    def prune(self, layers: Iterable[str]) -> None:
        return None


def open_cache(root: Path, enabled: bool = True) -> Cache:
    return Cache(root) if enabled else NoCache()
