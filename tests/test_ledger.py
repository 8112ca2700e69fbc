"""The ledger file: written as ``json.dumps(..., indent=1, ensure_ascii=False)`` would write it
(deckgen writes it directly, which is faster), and read back to the same stamps."""

from __future__ import annotations

import hashlib
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
    again = Ledger.from_columns(stored, ledger.to_bytes())
    assert again is not None
    assert (again.notes, again.notetypes) == (notes, notetypes)
    assert again.to_bytes() == ledger.to_bytes()


@pytest.mark.parametrize("stored", [
    None, (), "ledger", (1, True, {}, ("a",), ("h",), ()), (2, True, {}, (), (), ()), (1, True, [], (), (), ()),
    (1, True, {}, ["a"], ["h"], [1]), (1, True, {}, ("a", "a"), ("h", "i"), (1, 2)), (1, {}, (), (), ()),
])
def test_columns_that_are_not_a_ledger_are_refused(stored: object) -> None:
    assert Ledger.from_columns(stored, b"") is None


@settings(max_examples=300, deadline=None)
@given(tables, tables, st.data())
def test_a_restamped_ledger_is_written_as_a_fresh_one_would_be(notetypes: dict[str, Stamp], notes: dict[str, Stamp],
                                                                data: st.DataObject) -> None:
    """A ledger read from a file and restamped writes the bytes a ledger holding the same stamps
    from the start writes, whether it edits the bytes read or writes them all anew."""
    notes = {key: Stamp(stamp.hash, stamp.mod // 2) for key, stamp in notes.items()}  # room to restamp
    raw = Ledger(notes=notes, notetypes=notetypes).to_bytes()
    read = Ledger.parse(raw, Path("deckgen.lock"))
    if data.draw(st.booleans(), label="read from the cache's columns"):
        read = Ledger.from_columns(unpickle(pickle.dumps(read.columns(), protocol=pickle.HIGHEST_PROTOCOL)), raw)
        assert read is not None
    now = data.draw(st.integers(0, MAX_MOD // 2), label="now")
    edited = data.draw(st.lists(st.sampled_from(sorted(notes)), max_size=5), label="edit") if notes else []
    for key in edited:
        read.stamp_note(key, data.draw(hashes, label="digest"), now)
    if data.draw(st.booleans(), label="add or drop notes"):
        read.stamp_note(data.draw(keys, label="new key"), "new", now)
        read.keep_only(set(data.draw(st.lists(st.sampled_from(sorted(read.notes))), label="kept")))
    fresh = Ledger(notes=dict(read.notes), notetypes=dict(read.notetypes))
    assert read.to_bytes() == fresh.to_bytes()
    assert Ledger.parse(read.to_bytes(), Path("deckgen.lock")) == fresh


_JSON_VALUES = st.recursive(
    st.one_of(st.text(), st.integers(), st.booleans(), st.none()),
    lambda children: st.one_of(st.lists(children, max_size=5), st.tuples(children, children),
                               st.dictionaries(st.text(max_size=5), children, max_size=5)),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(_JSON_VALUES)
def test_content_is_hashed_from_the_json_that_json_dumps_writes(value) -> None:
    from deckgen.identity import canonical_json, content_hash

    expected = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert canonical_json(value) == expected
    assert content_hash(value) == hashlib.sha256(expected.encode()).hexdigest()[:32]


@settings(max_examples=2000, deadline=None)
@given(st.one_of(keys, st.text()), st.one_of(keys, st.text()))
def test_a_note_has_the_guid_genanki_gives_it(namespace: str, card_id: str) -> None:
    import genanki

    from deckgen.identity import note_guid

    try:
        expected = genanki.guid_for("deckgen", namespace, card_id)
    except UnicodeEncodeError:  # a lone surrogate: no id YAML can hold
        with pytest.raises(UnicodeEncodeError):
            note_guid(namespace, card_id)
        return
    assert note_guid(namespace, card_id) == expected
