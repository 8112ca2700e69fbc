"""The ledger file: written as ``json.dumps(..., indent=1, ensure_ascii=False)`` would write it
(deckgen writes it directly, which is faster), and read back to the same stamps."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from deckgen.cache import unpickle
from deckgen.identity import MAX_MOD, Ledger, Stamp

# Card ids and hex digests as deckgen makes them, and any text a hand-edited ledger may hold.
slugs = st.lists(st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6), min_size=1, max_size=3)
keys = st.one_of(slugs.map("-".join), st.text(max_size=12))
hashes = st.one_of(st.text("0123456789abcdef", min_size=32, max_size=32), st.text(max_size=8))
stamps = st.builds(Stamp, hashes, st.integers(0, MAX_MOD - 1))
tables = st.dictionaries(keys, stamps, max_size=12)


@settings(max_examples=300, deadline=None)
@given(tables, tables)
def test_the_ledger_is_written_as_json_writes_it(notetypes: dict[str, Stamp], notes: dict[str, Stamp]) -> None:
    ledger = Ledger(notes=notes, notetypes=notetypes)
    data = {
        "version": 1,
        "notetypes": {key: stamp._asdict() for key, stamp in sorted(notetypes.items())},
        "notes": {key: stamp._asdict() for key, stamp in sorted(notes.items())},
    }
    assert ledger.to_bytes() == (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode()


@settings(max_examples=40, deadline=None)
@given(tables, tables)
def test_the_ledger_reads_back_as_written(tmp_path_factory, notetypes: dict[str, Stamp],
                                          notes: dict[str, Stamp]) -> None:
    path = tmp_path_factory.mktemp("ledger") / "deckgen.lock"
    Ledger(notes=notes, notetypes=notetypes).save(path)
    again = Ledger.load(Path(path))
    assert (again.notes, again.notetypes) == (notes, notetypes)


@settings(max_examples=200, deadline=None)
@given(tables, tables)
def test_the_ledger_comes_back_whole_from_its_columns(notetypes: dict[str, Stamp], notes: dict[str, Stamp]) -> None:
    ledger = Ledger(notes=notes, notetypes=notetypes)
    # Through the cache's own pickling and restricted unpickler, as a rebuild reads them.
    stored = unpickle(pickle.dumps(ledger.columns(), protocol=pickle.HIGHEST_PROTOCOL))
    again = Ledger.from_columns(stored)
    assert again is not None
    assert (again.notes, again.notetypes) == (notes, notetypes)
    assert again.to_bytes() == ledger.to_bytes()


@pytest.mark.parametrize("stored", [
    None, (), "ledger", (1, {}, ("a",), ("h",), ()), (2, {}, (), (), ()), (1, [], (), (), ()),
    (1, {}, ["a"], ["h"], [1]), (1, {}, ("a", "a"), ("h", "i"), (1, 2)),
])
def test_columns_that_are_not_a_ledger_are_refused(stored: object) -> None:
    assert Ledger.from_columns(stored) is None
