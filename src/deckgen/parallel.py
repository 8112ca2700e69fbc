"""Per-card work shared out over the machine's cores: this process and forked workers.

Checking and rendering a card depend only on the card and on what the run has
already loaded (the project, the normalised sources, the compiled templates).
A forked child starts with all of that in memory, so nothing but each card's
result travels back, pickled into a scratch file of the run's, in batches as it
works. Children only compute: everything that is written (packages, ledger,
cache) is written by the parent, so a child that dies or is killed leaves nothing
behind but its scratch file, removed with the run's; and the results are the same, in
the same order, as those of one process doing all the work. (The one child that
writes is `in_background`'s, which a build gives its cache entries to write while it
writes its package; the cache writes each entry atomically.) A worker that dies
without a result only makes the run slower: its share is then done here. This
process does a share of its own while the children work, rather than wait.
"""

from __future__ import annotations

import mmap
import os
import pickle
import selectors
import shutil
import signal
import traceback
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from .atomic import scratch_folder

T = TypeVar("T")
R = TypeVar("R")

# Fewer items than this are done in this process: forking costs more than it saves.
MIN_ITEMS = 2_000
_SLOT_BYTES = 8


class WorkerFailed(RuntimeError):
    """A worker raised something that cannot be sent back whole; the message holds its traceback."""


def cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def workers_for(items: int) -> int:
    """How many processes share ``items`` pieces of work: 1 means do it here."""
    if items < MIN_ITEMS or not hasattr(os, "fork"):
        return 1
    return cpus()


# Work on a share of the items: gives one result per item, in order (a generator lets a
# worker send its results on while it works), and calls ``tick(n)`` now and then to say
# that it has finished n of them.
ShareWork = Callable[[Sequence[T], Callable[[int], None]], Iterable[R]]
# A worker sends its results on in batches of this many.
_BATCH = 1024


def map_in_workers(work: ShareWork[T, R], items: Sequence[T], workers: int,
                   progress: Callable[[int, int], None] | None = None,
                   shares: Sequence[Sequence[int]] | None = None) -> list[R]:
    """``work(items, tick)``, with the items shared out over ``workers`` processes: this
    one and ``workers - 1`` forked children.

    Each takes every ``workers``-th item (cards of one kind often stand together, and
    interleaving shares them out evenly), or the items at the indices of its entry in
    ``shares``, one per process, which must hold every index once. This process does the
    last share itself, so that its own results are never pickled. ``progress(done,
    total)`` is told here how far all of them have got. An exception raised by ``work``
    is raised here.
    """
    total = len(items)
    if workers <= 1 or total < 2:
        return _here(work, items, progress)
    if shares is None:
        shares = [list(range(k, total, workers)) for k in range(workers)]
    elif len(shares) != workers or sorted(i for share in shares for i in share) != list(range(total)):
        raise ValueError("the shares must hold every item once, one share per worker")
    # Each child writes its results to a file of its own as it goes, and closes its pipe when
    # it is done: results sent through the pipe would wait for this process to finish its own
    # share before it read them.
    try:
        scratch = scratch_folder("shares")
    except OSError:  # nowhere to write them: the work is done here
        return _here(work, items, progress)
    shared = mmap.mmap(-1, _SLOT_BYTES * workers)  # shared with the children: one slot each
    # Slots are written and read whole through a typed view: struct.pack_into clears the bytes
    # before it writes them, so a reader could see a count drop to nothing for an instant.
    counters = memoryview(shared).cast("q")
    children: dict[int, tuple[int, int]] = {}  # pid -> (share, read end of its pipe)
    mine = len(shares) - 1

    def tick(done: int) -> None:
        counters[mine] = done
        if progress is not None:
            progress(min(_done(counters, len(shares)), total), total)

    try:
        for k, share in enumerate(shares[:mine]):
            try:
                read_end, write_end = os.pipe()
            except OSError:  # out of file descriptors: the work is done here instead
                return _here(work, items, progress)
            try:
                pid = os.fork()
            except OSError:  # no process to be had (memory, process limits): the work is done here
                _close_quietly(read_end)
                _close_quietly(write_end)
                return _here(work, items, progress)
            if pid == 0:  # pragma: no cover - runs in the child, which never returns
                os.close(read_end)
                _child(work, [items[i] for i in share], k, counters, write_end, os.path.join(scratch, str(k)))
            os.close(write_end)
            children[pid] = (k, read_end)
        own = list(work([items[i] for i in shares[mine]], tick))
        _collect(children, counters, total, progress)
        results: list[R] = [None] * total  # type: ignore[list-item]
        for index, value in zip(shares[mine], own, strict=True):
            results[index] = value
        for k, share in enumerate(shares[:mine]):
            payload = _results_of(os.path.join(scratch, str(k)), len(share))
            if payload is None:  # the worker died without a word (killed, out of memory): its share is done here
                payload = list(work([items[i] for i in share], _ignore))
            for index, value in zip(share, payload, strict=True):
                results[index] = value
        return results
    finally:
        for pid, (_, read_end) in children.items():
            _close_quietly(read_end)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        counters.release()
        shared.close()
        shutil.rmtree(scratch, ignore_errors=True)


def _here(work: ShareWork[T, R], items: Sequence[T], progress: Callable[[int, int], None] | None) -> list[R]:
    """All the work, in this process."""
    total = len(items)
    return list(work(items, (lambda done: progress(done, total)) if progress is not None else _ignore))


def _results_of(path: str, count: int) -> list | None:
    """The ``count`` results a child wrote to ``path``; None when it died before it wrote them
    all. An exception it sent instead is raised here."""
    results: list = []
    try:
        with open(path, "rb") as file:
            while True:
                outcome, payload = pickle.load(file)
                if outcome == "error":
                    raise payload
                results += payload
                if outcome == "done":
                    return results if len(results) == count else None
    except (OSError, EOFError, pickle.UnpicklingError):
        return None


def _ignore(done: int) -> None:
    pass


def _collect(children: dict[int, tuple[int, int]], counters: memoryview,
             total: int, progress: Callable[[int, int], None] | None) -> None:
    """Wait for every child to close its pipe, reporting progress while waiting."""
    selector = selectors.DefaultSelector()
    for _, (k, read_end) in children.items():
        selector.register(read_end, selectors.EVENT_READ, k)
    open_pipes = len(children)
    try:
        while open_pipes:
            for key, _ in selector.select(timeout=0.1):
                if not os.read(key.fd, 1 << 16):
                    selector.unregister(key.fd)
                    open_pipes -= 1
            if progress is not None:
                progress(min(_done(counters, len(children) + 1), total), total)
    finally:
        selector.close()


def _done(counters: memoryview, slots: int) -> int:
    return sum(counters[k] for k in range(slots))


def _child(work: Callable, share: list, k: int, counters: memoryview, write_end: int,
           path: str) -> None:  # pragma: no cover
    """Do one share of the work, writing the results (or the exception) to ``path`` in
    batches as they come; then close the pipe and exit, never returning."""
    status = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # the parent decides what an interrupt does

        def tick(done: int) -> None:
            counters[k] = done

        with open(path, "wb") as out:
            batch: list = []
            try:
                for result in work(share, tick):
                    batch.append(result)
                    if len(batch) == _BATCH:
                        pickle.dump(("more", batch), out, protocol=pickle.HIGHEST_PROTOCOL)
                        batch = []
                pickle.dump(("done", batch), out, protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException as exc:  # noqa: BLE001 - sent to the parent, which raises it
                try:
                    payload = pickle.dumps(("error", exc), protocol=pickle.HIGHEST_PROTOCOL)
                    pickle.loads(payload)
                except Exception:  # noqa: BLE001 - an exception that does not survive pickling
                    payload = pickle.dumps(("error", WorkerFailed("".join(traceback.format_exception(exc)))))
                out.write(payload)
        os.close(write_end)
    except BaseException:  # noqa: BLE001 - the parent sees a missing result
        status = 1
    finally:
        os._exit(status)


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def in_background(work: Callable[[], None]) -> Callable[[], None]:
    """Start ``work`` in a forked child while this process goes on; the function returned
    waits for the child. Where no child can be had, ``work`` is done here, before returning.

    For work whose results go straight to disk (nothing comes back): the child ends with
    it, and if it dies its work is simply not done. It starts with this process's memory,
    so it needs nothing sent to it."""
    if not hasattr(os, "fork"):  # pragma: no cover - not on POSIX
        work()
        return _nothing
    try:
        pid = os.fork()
    except OSError:  # no process to be had (memory, process limits)
        work()
        return _nothing
    if pid == 0:  # pragma: no cover - runs in the child, which never returns
        status = 1
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # the parent decides what an interrupt does
            work()
            status = 0
        finally:
            os._exit(status)

    def wait() -> None:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:  # already waited for
            pass

    return wait


def _nothing() -> None:
    pass
