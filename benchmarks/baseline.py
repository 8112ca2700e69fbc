"""The genanki-only baseline: write the notes of a built deck with plain genanki.

    python benchmarks/baseline.py dump DECK.apkg NOTES.json   # extract (not timed)
    python benchmarks/baseline.py write NOTES.json OUT.apkg   # the baseline run
    python benchmarks/baseline.py floor DECK.apkg OUT.apkg    # the floor of writing the deck

`dump` reads the note types, decks and notes (fields, tags, GUIDs) that deckgen
wrote; `write` rebuilds them as genanki.Model / genanki.Deck / genanki.Note objects
(same note types, fields, templates and CSS) and calls
genanki.Package.write_to_file, the way a script using genanki alone would. It
prints a JSON line with the seconds spent loading its input and in genanki.

`floor` times the least that writing the deck takes whatever builds it: the rows of
deckgen's collection (read back first, not timed) inserted into a fresh in-memory
collection with plain sqlite3, serialised, and zipped at the level deckgen uses for
a collection of that size, in one thread. It also times the same collection made
as a rebuild makes it: its rows copied inside sqlite from a serialised copy of
itself, indexed and serialised.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import time
import zipfile
from pathlib import Path


def dump(apkg: Path, out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(apkg) as archive:
            archive.extract("collection.anki2", tmp)
        db = sqlite3.connect(Path(tmp) / "collection.anki2")
        models = json.loads(db.execute("SELECT models FROM col").fetchone()[0])
        decks = json.loads(db.execute("SELECT decks FROM col").fetchone()[0])
        note_deck = dict(db.execute("SELECT nid, min(did) FROM cards GROUP BY nid"))
        notes = [
            {"mid": mid, "guid": guid, "tags": tags.split(), "fields": flds.split("\x1f"), "deck": note_deck[nid]}
            for nid, guid, mid, tags, flds in db.execute("SELECT id, guid, mid, tags, flds FROM notes ORDER BY id")
        ]
        db.close()
    data = {
        "models": [
            {"id": int(m["id"]), "name": m["name"], "type": m["type"], "css": m["css"],
             "fields": [f["name"] for f in sorted(m["flds"], key=lambda f: f["ord"])],
             "templates": [{"name": t["name"], "qfmt": t["qfmt"], "afmt": t["afmt"]}
                           for t in sorted(m["tmpls"], key=lambda t: t["ord"])]}
            for m in models.values()
        ],
        "decks": [{"id": int(d["id"]), "name": d["name"]} for d in decks.values() if int(d["id"]) != 1],
        "notes": notes,
    }
    out.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def write(notes_json: Path, out: Path) -> dict:
    t0 = time.perf_counter()
    import genanki

    data = json.loads(notes_json.read_text(encoding="utf-8"))
    t1 = time.perf_counter()
    models = {
        m["id"]: genanki.Model(
            m["id"], m["name"], fields=[{"name": name} for name in m["fields"]], templates=m["templates"],
            css=m["css"], model_type=genanki.Model.CLOZE if m["type"] == 1 else genanki.Model.FRONT_BACK)
        for m in data["models"]
    }
    decks = {d["id"]: genanki.Deck(d["id"], d["name"]) for d in data["decks"]}
    for note in data["notes"]:
        decks[note["deck"]].add_note(
            genanki.Note(model=models[note["mid"]], fields=note["fields"], tags=note["tags"], guid=note["guid"]))
    genanki.Package(list(decks.values())).write_to_file(str(out))
    t2 = time.perf_counter()
    return {"load": t1 - t0, "genanki": t2 - t1, "notes": len(data["notes"])}


def floor(apkg: Path, out: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(apkg) as archive:
            archive.extract("collection.anki2", tmp)
        db = sqlite3.connect(Path(tmp) / "collection.anki2")
        schema = [sql for kind, sql in db.execute("SELECT type, sql FROM sqlite_master WHERE sql IS NOT NULL")
                  if kind == "table"]
        indexes = [sql for kind, sql in db.execute("SELECT type, sql FROM sqlite_master WHERE sql IS NOT NULL")
                   if kind == "index"]
        tables = {name: db.execute(f"SELECT * FROM {name} ORDER BY rowid").fetchall()  # noqa: S608
                  for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        db.close()
    t0 = time.perf_counter()
    memory = sqlite3.connect(":memory:")
    for sql in schema:
        memory.execute(sql)
    for name, rows in tables.items():
        if rows:
            memory.executemany(f"INSERT INTO {name} VALUES ({','.join('?' * len(rows[0]))})", rows)  # noqa: S608
    for sql in indexes:
        memory.execute(sql)
    memory.commit()
    data = memory.serialize()
    memory.close()
    t1 = time.perf_counter()
    level = 1 if len(data) >= 16 << 20 else 6
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        archive.writestr("collection.anki2", data)
        archive.writestr("media", "{}")
    t2 = time.perf_counter()
    # The same collection made as a rebuild makes it: the rows copied inside sqlite from the
    # collection written last, the indexes built, the result serialised.
    copy = sqlite3.connect(":memory:")
    for sql in schema:
        copy.execute(sql)
    copy.execute("ATTACH ':memory:' AS previous")
    copy.deserialize(data, name="previous")
    for name in tables:
        copy.execute(f"INSERT INTO main.{name} SELECT * FROM previous.{name}")  # noqa: S608
    for sql in indexes:
        copy.execute(sql)
    copy.commit()
    copy.execute("DETACH previous")
    copy.serialize()
    copy.close()
    t3 = time.perf_counter()
    return {"floor": t2 - t0, "sqlite": t1 - t0, "zip": t2 - t1, "copy": t3 - t2, "rows": sum(map(len, tables.values()))}


def main() -> None:
    command, src, dst = sys.argv[1:4]
    if command == "dump":
        dump(Path(src), Path(dst))
    elif command == "write":
        import warnings

        warnings.filterwarnings("ignore", module="genanki")
        print(json.dumps(write(Path(src), Path(dst))))
    elif command == "floor":
        print(json.dumps(floor(Path(src), Path(dst))))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main()
