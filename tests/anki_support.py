"""A real Anki collection, driven through the official ``anki`` package."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# anki.collection must be imported before anki.cards (the package's own import order).
from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest
from anki.cards import Card
from anki.scheduler.v3 import CardAnswer

_TAGS = re.compile(r"<style.*?</style>|<[^>]+>", re.S)


@dataclass(frozen=True)
class ImportCounts:
    new: int
    updated: int
    unchanged: int
    conflicting: int
    missing_notetype: int


def visible_text(html: str) -> str:
    """What a reader sees: markup and the style sheet removed, white space collapsed."""
    return " ".join(_TAGS.sub(" ", html).replace("&nbsp;", " ").split())


class AnkiCollection:
    def __init__(self, path: Path):
        self.col = Collection(str(path))

    def close(self) -> None:
        self.col.close()

    def import_package(self, package: Path) -> ImportCounts:
        request = ImportAnkiPackageRequest(package_path=str(package), options=ImportAnkiPackageOptions())
        log = self.col.import_anki_package(request).log
        return ImportCounts(
            new=len(log.new),
            updated=len(log.updated),
            # Anki files notes that are already up to date under "duplicate".
            unchanged=len(log.duplicate),
            conflicting=len(log.conflicting),
            missing_notetype=len(log.missing_notetype),
        )

    def cards(self) -> list[Card]:
        return [self.col.get_card(cid) for cid in self.col.find_cards("")]

    def note_by_card_id(self, card_id: str):
        note_ids = self.col.find_notes(f'"CardId:{card_id}"')
        assert len(note_ids) == 1, f"expected one note for {card_id}, found {len(note_ids)}"
        return self.col.get_note(note_ids[0])

    def deck_names(self) -> set[str]:
        return {d.name for d in self.col.decks.all_names_and_ids()} - {"Default"}

    def study(self, deck_name: str) -> None:
        """Select a deck for review, as clicking it in Anki's deck list does."""
        deck_id = self.col.decks.id_for_name(deck_name)
        assert deck_id, f"no deck named {deck_name!r}"
        self.col.decks.select(deck_id)

    def review(self, count: int, rating=CardAnswer.GOOD) -> list[int]:
        """Answer ``count`` cards from the selected deck's queue as a student would; returns their ids."""
        reviewed = []
        for _ in range(count):
            queued = self.col.sched.get_queued_cards()
            if not queued.cards:
                break
            card = self.col.get_card(queued.cards[0].card.id)
            card.start_timer()
            answer = self.col.sched.build_answer(card=card, states=queued.cards[0].states, rating=rating)
            self.col.sched.answer_card(answer)
            reviewed.append(card.id)
        return reviewed

    def revlog(self, card_id: int) -> list[tuple]:
        return self.col.db.all("select id, ease, ivl, type from revlog where cid = ? order by id", card_id)
