"""Write files so that a reader sees the old content or the new, never half of it."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_atomically(path: Path, write: Callable[[BinaryIO], None], *, durable: bool = True,
                     commits: Commits | None = None) -> None:
    """Call ``write`` on a temporary file beside ``path``, fsync it, then rename it into place.

    ``durable=False`` skips the fsyncs: readers still never see a partial file, but a
    crash may lose the new content (right for caches, whose entries carry a checksum).
    With ``commits``, the fsyncs and the rename are left to them: the caller goes on at once.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if durable:
        remove_stale_temporaries(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        # mkstemp makes the file private (0600); the result should have the permissions the file
        # had before, or those any new file of the user gets.
        os.fchmod(fd, _mode_for(path))
        handle: BinaryIO | None = os.fdopen(fd, "wb")
        try:
            write(handle)
            handle.flush()
            if commits is not None:
                commits.submit(handle, tmp, path, durable)
                handle = None  # the commit closes it
                return
            if durable:
                os.fsync(handle.fileno())
        finally:
            if handle is not None:
                handle.close()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        _fsync_dir(path.parent)


class Commits:
    """The last steps of atomic writes (the fsync of the temporary file, its rename into place,
    the fsync of the folder), done by a thread in the order the files were written, while the
    writer goes on with other work: flushing a package to disk takes a while, and needs no
    Python. A step that fails stops those after it (their temporary files are removed, so
    nothing written later replaces its file); leaving the ``with`` block waits for them all
    and raises the first failure."""

    def __init__(self) -> None:
        self._pending: list[tuple[BinaryIO, Path, Path, bool]] = []
        self._ready = threading.Condition()
        self._failure: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def __enter__(self) -> Commits:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.wait()

    def submit(self, handle: BinaryIO, tmp: Path, path: Path, durable: bool = True) -> None:
        """Commit ``tmp``, written through ``handle`` (flushed, and closed by the commit), to ``path``."""
        with self._ready:
            if self._closed:
                raise RuntimeError("these commits are finished")
            self._pending.append((handle, tmp, path, durable))
            self._ready.notify()

    def wait(self) -> None:
        """Wait for every commit submitted; raise the first failure."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join()
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._pending and not self._closed:
                    self._ready.wait()
                if not self._pending:
                    return
                handle, tmp, path, durable = self._pending.pop(0)
            try:
                with handle:
                    if self._failure is not None:
                        raise _Abandoned
                    if durable:
                        os.fsync(handle.fileno())
                os.replace(tmp, path)
                if durable:
                    _fsync_dir(path.parent)
            except BaseException as exc:  # noqa: BLE001 - raised by wait(), in the writer's thread
                if not isinstance(exc, _Abandoned):
                    self._failure = exc
                tmp.unlink(missing_ok=True)


class _Abandoned(Exception):
    """A commit after one that failed."""


def _mode_for(path: Path) -> int:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mask = os.umask(0o022)
        os.umask(mask)
        return 0o666 & ~mask


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove the temporary files for ``path`` that a killed run left behind.

    Each temporary file is named after the process writing it, so one that another live run is
    writing right now is left alone. Returns what was removed.
    """
    removed = []
    prefix = f".{path.name}."
    try:
        names = os.listdir(path.parent)
    except OSError:
        return removed
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        pid = name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            try:
                (path.parent / name).unlink()
                removed.append(path.parent / name)
            except OSError:
                pass
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's process, or cannot tell: leave its file alone
    return True


def scratch_folder(purpose: str) -> str:
    """A new private folder in the system's temporary folder, named after this process, for
    files that live only as long as the run; those that killed runs left behind are removed
    first (a live run's are left alone)."""
    prefix = f"deckgen-{purpose}-"
    base = tempfile.gettempdir()
    try:
        names = os.listdir(base)
    except OSError:
        names = []
    for name in names:
        if name.startswith(prefix):
            pid = name[len(prefix):].split("-", 1)[0]
            if pid.isdigit() and not _running(int(pid)):
                shutil.rmtree(os.path.join(base, name), ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=base)


def write_bytes_atomically(path: Path, data: bytes, *, durable: bool = True, commits: Commits | None = None) -> None:
    write_atomically(path, lambda handle: handle.write(data), durable=durable, commits=commits)


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
