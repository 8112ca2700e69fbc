"""Work shared out over the machine's cores: this process and forked workers.

Checking and rendering a card depend only on the card and on what the run has
already loaded (the project, the normalised sources, the compiled templates);
normalising a source depends only on its text (see `Claimed`). A forked child
starts with all of that in memory, so nothing but each result travels back, pickled
into a scratch file of the run's (a card's in batches, as the child works). Children only compute: everything that is written (packages, ledger,
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
from typing import Generic, NoReturn, TypeVar

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
            _end(pid, read_end)
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


class Claimed(Generic[T]):
    """Items worked on by forked workers and by this process, each by whichever claims it first.

    The workers go through the items from the front; this process, once it is free, takes
    them from the back (`steal`), or claims a given one (`claim`). A claim is a file created
    only where none exists yet, so no process waits for another to hand it work, and a
    worker that finds an item claimed goes on to the next. A worker writes an item's result
    to the file ``work(item, path)`` is given, then says so down its pipe; `result` waits
    for the result of an item a worker claimed. Workers only compute; one that dies leaves
    its items to this process. Closing (or leaving the block) ends the workers and removes
    their files; after that every item is this process's.
    """

    def __init__(self, items: Sequence[T], work: Callable[[T, str], None], workers: int):
        self.scratch: str | None = None
        self.children: dict[int, int] = {}  # the read end of a worker's pipe -> its pid
        self.workers = 0
        self._back = len(items)
        self._mine: set[int] = set()
        if workers < 1 or not hasattr(os, "fork"):
            return
        try:
            self.scratch = scratch_folder("claims")
        except OSError:  # nowhere to write the claims: every item is this process's
            return
        for _ in range(workers):
            try:
                read_end, write_end = os.pipe()
            except OSError:  # out of file descriptors: fewer workers
                break
            try:
                pid = os.fork()
            except OSError:  # no process to be had (memory, process limits): fewer workers
                _close_quietly(read_end)
                _close_quietly(write_end)
                break
            if pid == 0:  # pragma: no cover - runs in the child, which never returns
                os.close(read_end)
                _claim_and_work(items, work, self.scratch, write_end)
            os.close(write_end)
            self.children[read_end] = pid
            self.workers += 1

    def __enter__(self) -> Claimed[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def claim(self, index: int) -> bool:
        """Whether the item at ``index`` is this process's: it is claimed here unless a worker has it."""
        if index in self._mine or self.scratch is None:
            return True
        try:
            if not _claim(os.path.join(self.scratch, str(index))):
                return False
        except OSError:  # no claim could be written: the item is done here, if need be twice
            pass
        self._mine.add(index)
        return True

    def steal(self) -> int | None:
        """The index of the last item no worker has claimed, now this process's; None when a
        worker has come that far (it has claimed, or seen claimed, every item before)."""
        if self._back > 0:
            self._back -= 1
            if self.claim(self._back):
                return self._back
            self._back = 0
        return None

    def result(self, index: int) -> str | None:
        """The file a worker wrote the item at ``index``'s result to, once it has; None when
        no worker will (the item is this process's, or its worker died first)."""
        if index in self._mine or self.scratch is None:
            return None
        path = os.path.join(self.scratch, str(index))
        while not os.path.exists(path):
            if not self.children:
                return None
            for read_end in _readable(list(self.children)):
                if not os.read(read_end, 1 << 12):  # the worker is done, or died
                    _end(self.children.pop(read_end), read_end)
        return path

    def close(self) -> None:
        for read_end, pid in self.children.items():
            _end(pid, read_end)
        self.children.clear()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None


def _claim(path: str) -> bool:
    """Claim the item whose result goes to ``path``: False when a process has already."""
    try:
        os.close(os.open(path + ".claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return False
    return True


def _readable(fds: list[int]) -> list[int]:
    """Those of ``fds`` with something to read (or at their end), waiting until one has."""
    with selectors.DefaultSelector() as selector:
        for fd in fds:
            selector.register(fd, selectors.EVENT_READ)
        return [key.fd for key, _ in selector.select()]


def _end(pid: int, read_end: int) -> None:
    """Close a worker's pipe, end the worker if it is still at work, and reap it."""
    _close_quietly(read_end)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _claim_and_work(items: Sequence[T], work: Callable[[T, str], None], scratch: str,
                    pipe: int) -> NoReturn:  # pragma: no cover - runs in a child
    """A worker of `Claimed`: every item it can claim, in order, then exit, never returning."""
    status = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # the parent decides what an interrupt does
        for index, item in enumerate(items):
            path = os.path.join(scratch, str(index))
            try:
                if not _claim(path):
                    continue
            except OSError:  # left to the parent, which claims it when it finds no result
                continue
            work(item, path + ".part")
            os.rename(path + ".part", path)  # a result is there whole or not at all
            os.write(pipe, b".")
    except BaseException:  # noqa: BLE001 - the parent sees a missing result
        status = 1
    finally:
        os._exit(status)
