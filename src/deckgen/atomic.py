"""Write files so that a reader sees the old content or the new, never half of it."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_atomically(path: Path, write: Callable[[BinaryIO], None], *, durable: bool = True) -> None:
    """Call ``write`` on a temporary file beside ``path``, fsync it, then rename it into place.

    ``durable=False`` skips the fsyncs: readers still never see a partial file, but a
    crash may lose the new content (right for caches, whose entries carry a checksum).
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
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        _fsync_dir(path.parent)


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


def write_bytes_atomically(path: Path, data: bytes, *, durable: bool = True) -> None:
    write_atomically(path, lambda handle: handle.write(data), durable=durable)


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
