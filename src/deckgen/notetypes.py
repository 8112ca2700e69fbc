"""The note types deckgen writes, with permanent ids.

Anki strands existing notes as "conflicting" when a note type's field or
template list changes without stable ids. So every note type, field and
template here carries an id that never changes, fields are append-only, and
a rename keeps the id. Template text lives in ``templates/``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass


@dataclass(frozen=True)
class FieldSpec:
    name: str
    id: int


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    id: int
    front: str  # template file for the question side, relative to templates/
    back: str


@dataclass(frozen=True)
class NoteTypeSpec:
    key: str  # the card type it serves
    name: str
    id: int
    fields: tuple[FieldSpec, ...]
    templates: tuple[TemplateSpec, ...]
    is_cloze: bool = False

    @functools.cached_property
    def field_names(self) -> tuple[str, ...]:
        # Asked for every note rendered: worked out once. (A frozen dataclass still has the
        # __dict__ that cached_property writes to; equality and hashing read the fields only.)
        return tuple(f.name for f in self.fields)


def _fields(*pairs: tuple[str, int]) -> tuple[FieldSpec, ...]:
    return tuple(FieldSpec(name, fid) for name, fid in pairs)


# Shared tail of every note type. Order is part of the schema: append only.
_COMMON = (
    ("Note", 2437436003371027),
    ("Citation", 2012370569470853),
    ("Passage", 3711617014883436),
    ("Cue", 1452637373567036),
    ("CardId", 2836813133006461),
)


def _common(offset: int) -> tuple[tuple[str, int], ...]:
    # Field ids must be unique within a note type only; offsetting keeps them distinct across types too.
    return tuple((name, fid + offset) for name, fid in _COMMON)


QUOTE = NoteTypeSpec(
    key="quote",
    name="deckgen Quote",
    id=1732406400101,
    fields=_fields(
        ("Quote", 3968040781478386),
        ("Speaker", 4120981734470402),
        ("Context", 2649003432395101),
        ("Date", 1627359893541374),
        ("Ask", 3264669880934012),
        *_common(1),
    ),
    templates=(
        TemplateSpec("Quotation → Speaker", 4453017640186395, "quote/front.html", "quote/back.html"),
        TemplateSpec("Question → Quotation", 1934186349853322, "quote/ask-front.html", "quote/ask-back.html"),
    ),
)

CLOZE = NoteTypeSpec(
    key="cloze",
    name="deckgen Cloze",
    id=1732406400102,
    fields=_fields(
        ("Text", 2781394473305213),
        ("Extra", 1313380412911626),
        *_common(2),
    ),
    templates=(TemplateSpec("Cloze", 3325788417424127, "cloze/front.html", "cloze/back.html"),),
    is_cloze=True,
)

FACT = NoteTypeSpec(
    key="fact",
    name="deckgen Fact",
    id=1732406400103,
    fields=_fields(
        ("Front", 2288224505062722),
        ("Back", 4018305102117035),
        *_common(3),
    ),
    templates=(TemplateSpec("Question → Answer", 1106926411906547, "fact/front.html", "fact/back.html"),),
)

DATE = NoteTypeSpec(
    key="date",
    name="deckgen Date",
    id=1732406400104,
    fields=_fields(
        ("Event", 3506938452393211),
        ("Date", 2218262802000367),
        *_common(4),
    ),
    templates=(
        TemplateSpec("Event → Date", 2917335338416446, "date/event-front.html", "date/event-back.html"),
        TemplateSpec("Date → Event", 1561240180498130, "date/date-front.html", "date/date-back.html"),
    ),
)

FIGURE = NoteTypeSpec(
    key="figure",
    name="deckgen Figure",
    id=1732406400105,
    fields=_fields(
        ("Prompt", 4356213557452206),
        ("Value", 1798343129512468),
        *_common(5),
    ),
    templates=(TemplateSpec("Prompt → Figure", 2591873826011437, "figure/front.html", "figure/back.html"),),
)

NOTE_TYPES: dict[str, NoteTypeSpec] = {spec.key: spec for spec in (QUOTE, CLOZE, FACT, DATE, FIGURE)}
