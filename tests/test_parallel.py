"""Checking and rendering shared out over forked workers give exactly what one process gives."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from conftest import REPO, copy_project
from deckgen import parallel, pipeline, validate
from deckgen import errorcodes as codes
from deckgen.diagnostics import DeckgenError, Diagnostic, Location
from deckgen.formatting import diagnostic_dict

REPO_SOURCES = REPO / "sources"


def squares(items, tick):
    out = []
    for done, item in enumerate(items, 1):
        out.append((item * item, os.getpid()))
        tick(done)
    return out


def test_results_come_back_in_order_from_several_processes():
    seen = []
    results = parallel.map_in_workers(squares, list(range(1000)), 3, lambda done, total: seen.append((done, total)))
    assert [value for value, _ in results] == [i * i for i in range(1000)]
    pids = [pid for _, pid in results]
    # Every third item from 2 on is this process's own share; the others' two children's.
    assert {pid for i, pid in enumerate(pids) if i % 3 == 2} == {os.getpid()}
    children = {pid for i, pid in enumerate(pids) if i % 3 != 2}
    assert len(children) == 2 and os.getpid() not in children
    assert seen and seen[-1] == (1000, 1000)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_one_worker_means_this_process():
    results = parallel.map_in_workers(squares, [1, 2, 3], 1)
    assert results == [(1, os.getpid()), (4, os.getpid()), (9, os.getpid())]


def test_without_a_process_to_fork_the_work_is_done_here(monkeypatch):
    forks = []

    def refuse():
        forks.append(1)
        if len(forks) > 1:  # the first worker starts, the second cannot
            raise BlockingIOError(11, "Resource temporarily unavailable")
        return real_fork()

    real_fork = os.fork
    monkeypatch.setattr(os, "fork", refuse)
    results = parallel.map_in_workers(squares, list(range(100)), 3)
    assert len(forks) == 2
    assert results == [(i * i, os.getpid()) for i in range(100)]


def failing(items, tick):
    if 8 in items:  # in the first share, which a forked child does
        raise DeckgenError(Diagnostic.make(codes.TEMPLATE_ERROR, Location(Path("templates/x.html"), 3, 1), "boom"))
    return list(items)


def test_an_error_in_a_worker_is_raised_here_whole():
    with pytest.raises(DeckgenError) as raised:
        parallel.map_in_workers(failing, list(range(10)), 2)
    assert raised.value.diagnostic.location == Location(Path("templates/x.html"), 3, 1)


PARENT = os.getpid()


def dying(items, tick):
    if 3 in items and os.getpid() != PARENT:  # as a worker killed for want of memory
        os._exit(3)
    return [(item, os.getpid()) for item in items]


def test_the_share_of_a_worker_that_dies_is_done_here():
    results = parallel.map_in_workers(dying, list(range(12)), 3)
    assert [item for item, _ in results] == list(range(12))
    assert {pid for item, pid in results if item % 3 == 0} == {PARENT}  # the dead worker's share, holding 3
    assert {pid for item, pid in results if item % 3 == 2} == {PARENT}  # this process's own share
    assert PARENT not in {pid for item, pid in results if item % 3 == 1}


def test_explicit_shares_come_back_in_the_order_of_the_items():
    shares = [[5, 0, 2], [1, 3, 4, 6]]
    results = parallel.map_in_workers(squares, list(range(7)), 2, shares=shares)
    assert [value for value, _ in results] == [i * i for i in range(7)]
    assert {pid for i, (_, pid) in enumerate(results) if i in shares[1]} == {os.getpid()}
    assert os.getpid() not in {pid for i, (_, pid) in enumerate(results) if i in shares[0]}
    for wrong in ([[0, 1, 2], [3, 4, 5]], [[0, 1, 2, 3], [3, 4, 5, 6]], [list(range(7))]):
        with pytest.raises(ValueError):
            parallel.map_in_workers(squares, list(range(7)), 2, shares=wrong)


def test_cards_are_shared_out_by_whole_sources_only_when_that_is_about_even():
    from deckgen.validate import _shares_by_source

    cited = ["a"] * 30 + ["b"] * 20 + ["c"] * 25 + ["d"] * 25
    shares = _shares_by_source(cited, 2)
    assert shares is not None
    assert sorted(sorted({cited[i] for i in share}) for share in shares) == [["a", "b"], ["c", "d"]]
    assert sorted(i for share in shares for i in share) == list(range(100))
    assert len(shares[-1]) == max(len(share) for share in shares), "this process takes the largest share"
    assert _shares_by_source(["a"] * 70 + ["b"] * 30, 2) is None
    assert _shares_by_source(["a"] * 100, 2) is None


def share_out_even_a_small_deck(monkeypatch) -> None:
    """Over two workers, whatever the machine; sources normalised by workers while the cards load."""
    monkeypatch.setattr(parallel, "MIN_ITEMS", 1)
    monkeypatch.setattr(parallel, "cpus", lambda: 2)
    monkeypatch.setattr(pipeline, "cpus", lambda: 2)
    monkeypatch.setattr(pipeline, "PARALLEL_SOURCE_BYTES", 0)


def build_outputs(root: Path, use_cache: bool) -> dict[str, bytes]:
    result = pipeline.build_project(root, now=1_800_000_000, use_cache=use_cache)
    files = {path.name: path.read_bytes() for path in result.outputs}
    files["deckgen.lock"] = (root / "deckgen.lock").read_bytes()
    return files


def share_out_by_source(monkeypatch, by_source: bool) -> None:
    """Cards shared out by whole sources however uneven the shares, or always interleaved."""
    monkeypatch.setattr(validate, "SHARE_SLACK", 100.0 if by_source else -1.0)


@pytest.mark.parametrize("by_source", [False, True])
@pytest.mark.parametrize("use_cache", [False, True])
def test_shared_out_build_is_byte_identical(tmp_path, monkeypatch, use_cache, by_source):
    alone = build_outputs(copy_project(tmp_path / "alone"), use_cache)
    share_out_even_a_small_deck(monkeypatch)
    share_out_by_source(monkeypatch, by_source)
    shared_root = copy_project(tmp_path / "shared")
    assert build_outputs(shared_root, use_cache) == alone
    if use_cache:  # the sources the workers normalised were cached, and a rebuild uses them
        assert list((shared_root / ".deckgen-cache" / "sources").glob("*"))
        assert build_outputs(shared_root, use_cache) == alone


@pytest.mark.parametrize("by_source", [False, True])
def test_shared_out_check_reports_the_same_diagnostics(tmp_path, monkeypatch, by_source):
    def broken(name: str) -> Path:
        root = copy_project(tmp_path / name)
        path = next(iter(sorted((root / "cards").glob("*.yaml"))))
        text = path.read_text(encoding="utf-8")
        # A misquotation, a wrong figure and a bad cloze, wherever the deck has them.
        text = text.replace("the", "teh", 3)
        path.write_text(text, encoding="utf-8")
        return root

    alone = pipeline.check_project(broken("alone"), use_cache=False).report
    share_out_even_a_small_deck(monkeypatch)
    share_out_by_source(monkeypatch, by_source)
    shared = pipeline.check_project(broken("shared"), use_cache=False).report
    assert alone.failed(), "the edit must break some cards"
    assert [diagnostic_dict(d) for d in shared.diagnostics] == [diagnostic_dict(d) for d in alone.diagnostics]


_NORMALISE = pipeline._normalise_encoded


def wait_for(path, seconds: float = 30) -> None:
    """Until the file at ``path`` exists, or ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.005)


def normalise_once_let(raw, out):
    """The worker's job, begun once the file the test names exists: until then the worker holds
    its first source, however soon it would be done with it, and takes no other."""
    wait_for(os.environ["DECKGEN_TEST_GATE"])
    _NORMALISE(raw, out)


def test_sources_no_worker_has_taken_are_left_to_this_process(monkeypatch, tmp_path):
    """The worker takes the sources from the front of the list, one at a time; this process
    takes the rest from the back, and every source comes out as normalising it here gives it."""
    from dataclasses import fields

    from deckgen.cache import NoCache
    from deckgen.sourcetext import load_source_text

    def state(text) -> dict:
        return {f.name: getattr(text, f.name) for f in fields(text)}

    monkeypatch.setattr(parallel, "cpus", lambda: 2)
    monkeypatch.setattr(pipeline, "cpus", lambda: 2)
    monkeypatch.setattr(pipeline, "PARALLEL_SOURCE_BYTES", 0)
    gate = tmp_path / "go"
    monkeypatch.setenv("DECKGEN_TEST_GATE", str(gate))
    monkeypatch.setattr(pipeline, "_normalise_encoded", normalise_once_let)
    texts = {f"key-{n}": (REPO_SOURCES / name).read_text(encoding="utf-8")[n * 500:]
             for n, name in enumerate(["kotkin-1932.txt", "kotkin-notes.txt", "wesser-2021.txt"] * 2)}
    with pipeline._Normaliser(NoCache()) as normaliser:
        normaliser.submit(texts)
        assert normaliser.claims is not None and normaliser.claims.workers == 1
        scratch = normaliser.claims.scratch
        assert scratch is not None
        # The worker claims its first source and holds it until the gate opens.
        wait_for(os.path.join(scratch, "0.claim"))
        stolen = []
        while (key := normaliser.steal()) is not None:
            stolen.append(key)
        assert stolen == ["key-5", "key-4", "key-3", "key-2", "key-1"]
        gate.touch()
        for key, raw in texts.items():
            text = normaliser.take(key, raw)
            if key in stolen:
                assert text is None
            else:
                assert text is not None and state(text) == state(load_source_text(raw))
        assert os.path.isdir(scratch)
    assert not os.path.exists(scratch), "the files the workers wrote are removed"
    assert normaliser.take("key-0", texts["key-0"]) is None, "once closed, every source is normalised here"


def test_a_source_whose_worker_died_is_normalised_here(monkeypatch, tmp_path):
    """A worker killed with a source in hand leaves no result: this process is told so, rather
    than wait for it, and normalises the source itself."""
    from deckgen.cache import NoCache

    monkeypatch.setattr(pipeline, "cpus", lambda: 2)
    monkeypatch.setattr(pipeline, "PARALLEL_SOURCE_BYTES", 0)
    monkeypatch.setenv("DECKGEN_TEST_GATE", str(tmp_path / "never"))
    monkeypatch.setattr(pipeline, "_normalise_encoded", normalise_once_let)
    texts = {"only": (REPO_SOURCES / "kotkin-1932.txt").read_text(encoding="utf-8")}
    with pipeline._Normaliser(NoCache()) as normaliser:
        normaliser.submit(texts)
        assert normaliser.claims is not None
        scratch = normaliser.claims.scratch
        assert scratch is not None
        wait_for(os.path.join(scratch, "0.claim"))
        assert normaliser.steal() is None, "the worker has it"
        (pid,) = normaliser.claims.children.values()
        os.kill(pid, signal.SIGKILL)
        assert normaliser.take("only", texts["only"]) is None


def results_larger_than_a_pipe_holds(items, tick):
    if os.getpid() == PARENT:  # this process's own share: it waits for the worker to be done
        deadline = time.monotonic() + 30
        while os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
            if time.monotonic() > deadline:
                raise AssertionError("the worker could not finish while this process was at its own share")
            time.sleep(0.01)
    for item in items:
        yield item, "x" * 20_000


def test_a_worker_finishes_without_waiting_for_this_process_to_read_its_results():
    results = parallel.map_in_workers(results_larger_than_a_pipe_holds, list(range(200)), 2)
    assert [item for item, _ in results] == list(range(200))
    assert all(len(text) == 20_000 for _, text in results)


def test_without_a_folder_for_the_results_the_work_is_done_here(monkeypatch):
    import tempfile

    def no_folder(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", no_folder)
    results = parallel.map_in_workers(squares, list(range(100)), 3)
    assert results == [(i * i, os.getpid()) for i in range(100)]


def test_work_in_background_is_done_by_another_process_and_waited_for(tmp_path):
    out, go = tmp_path / "pid", tmp_path / "go"

    def work():
        wait_for(go)  # still at work when the call returns
        out.write_text(str(os.getpid()))

    wait = parallel.in_background(work)
    assert not out.exists()
    go.touch()
    wait()
    assert int(out.read_text()) != os.getpid()


def test_without_a_process_to_fork_background_work_is_done_here(tmp_path, monkeypatch):
    out = tmp_path / "pid"

    def no_fork():
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    wait = parallel.in_background(lambda: out.write_text(str(os.getpid())))
    assert int(out.read_text()) == os.getpid()
    wait()


def test_background_work_that_fails_leaves_this_process_as_it_was(tmp_path):
    def work():
        (tmp_path / "started").touch()
        raise OSError("disk full")

    parallel.in_background(work)()
    assert (tmp_path / "started").exists()


def test_where_no_worker_can_be_forked_every_item_is_this_processs(monkeypatch):
    monkeypatch.delattr(os, "fork")

    def never(item: str, path: str) -> None:
        raise AssertionError("no worker should run")

    with parallel.Claimed(["a", "b", "c"], never, 2) as claims:
        assert claims.workers == 0 and claims.scratch is None
        assert claims.steal() == 2 and claims.steal() == 1
        assert claims.claim(0) and claims.result(0) is None
