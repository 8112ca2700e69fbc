"""Domain data: card models (validated by pydantic), sources and the project.

Loading stops at these types: no raw dicts travel past the loader.
"""

from __future__ import annotations

import datetime
import os
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal, Union, overload

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr
from pydantic_core import PydanticCustomError

from .diagnostics import Location

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
TAG_PATTERN = r"^[^\s]+$"


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("empty_text", "must not be empty")
    return value


Text = Annotated[StrictStr, AfterValidator(_not_blank)]
# Quotations, evidence and cloze sentences are looked up in the sources; a span longer than a
# few pages is no quotation, and matching it would take minutes.
MAX_SPAN_CHARS = 10_000
# The inline markup card text may carry; the rest is escaped when rendered.
ALLOWED_TAGS = frozenset({"em", "strong", "b", "i", "u", "br", "sub", "sup"})
Span = Annotated[Text, Field(max_length=MAX_SPAN_CHARS)]
Tag = Annotated[StrictStr, Field(pattern=TAG_PATTERN)]
# YAML hands us a date for 1941-06-22, an int for 1941 and a string for "1941-06".
DateValue = Annotated[Union[StrictStr, StrictInt, datetime.date], Field(union_mode="left_to_right")]


# Pydantic looks for plugins when the first model is built, reading the metadata of every
# installed package: a cost on every start, for models no plugin has any business in (typer
# builds its parameter adapters the same way). The setting is restored at the end of the module.
_PLUGINS_SETTING = os.environ.get("PYDANTIC_DISABLE_PLUGINS")
os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CardBase(_Strict):
    id: Annotated[StrictStr, Field(pattern=SLUG_PATTERN, max_length=120)]
    source: StrictStr | None = None
    evidence: Span | None = None
    tags: tuple[Tag, ...] = ()
    note: Text | None = None
    page: StrictStr | StrictInt | None = None


class QuoteCard(CardBase):
    type: Literal["quote"]
    quote: Span
    speaker: Text
    context: Text | None = None
    date: DateValue | None = None
    ask: Text | None = None


class ClozeCard(CardBase):
    type: Literal["cloze"]
    text: Span
    extra: Text | None = None


class FactCard(CardBase):
    type: Literal["fact"]
    front: Text
    back: Text
    evidence: Span


class DateCard(CardBase):
    type: Literal["date"]
    event: Text
    date: DateValue
    evidence: Span


class FigureCard(CardBase):
    type: Literal["figure"]
    prompt: Text
    value: Annotated[Union[StrictStr, StrictInt, float], Field(union_mode="left_to_right")]
    evidence: Span


Card = Union[QuoteCard, ClozeCard, FactCard, DateCard, FigureCard]

# The values of a card that its checks against the sources read (with its kind and its source):
# rewording a question or an answer leaves its verdict as it was.
CHECKED_FIELDS = ("quote", "speaker", "date", "text", "evidence", "value", "page")

CARD_MODELS: dict[str, type[CardBase]] = {
    "quote": QuoteCard,
    "cloze": ClozeCard,
    "fact": FactCard,
    "date": DateCard,
    "figure": FigureCard,
}


class CardFileHeader(_Strict):
    theme: Annotated[Text, Field(max_length=200)]
    source: StrictStr | None = None
    tags: tuple[Tag, ...] = ()
    cards: list[object]


class SourceEntry(_Strict):
    id: Annotated[StrictStr, Field(pattern=SLUG_PATTERN)]
    file: Text
    kind: StrictStr = "text"
    author: Text
    title: Text
    year: StrictInt | None = None
    date: DateValue | None = None
    short: StrictStr | None = None
    publisher: StrictStr | None = None
    place: StrictStr | None = None
    pages: StrictStr | None = None
    chapter: StrictStr | None = None
    url: StrictStr | None = None
    description: StrictStr | None = None


class SourceRegistry(_Strict):
    sources: list[SourceEntry]


class ProjectConfig(_Strict):
    deck: Text = "deckgen"
    out: Text = "dist"
    # Part of every note's GUID: two projects with the same card ids stay apart.
    namespace: Annotated[StrictStr, Field(pattern=SLUG_PATTERN)] = "deckgen"
    description: StrictStr | None = None


@dataclass(frozen=True)
class Source:
    """A registered source with its resolved file."""

    entry: SourceEntry
    path: Path
    location: Location  # where the registry names it

    @property
    def id(self) -> str:
        return self.entry.id

    @property
    def short(self) -> str:
        return self.entry.short or f"{self.entry.author.split()[-1]} {self.entry.year or ''}".strip()


class KeyPositions(Mapping[str, Location]):
    """Where the value of each of a card's keys stands in its file. Kept as line and
    column, and made a Location only when asked for: most are never needed."""

    __slots__ = ("path", "_marks")

    def __init__(self, path: Path, marks: dict[str, tuple[int, int]]):
        self.path = path
        self._marks = marks

    def __getitem__(self, key: str) -> Location:
        line, col = self._marks[key]
        return Location(self.path, line, col)

    def __iter__(self) -> Iterator[str]:
        return iter(self._marks)

    def __len__(self) -> int:
        return len(self._marks)

    def __repr__(self) -> str:
        return f"KeyPositions({self.path!s}, {self._marks!r})"

    def __reduce__(self) -> tuple[object, ...]:
        return (KeyPositions, (self.path, self._marks))


@dataclass(frozen=True)
class CardEntry:
    """A schema-valid card with everything the later stages need to know about it."""

    card: Card
    theme: str
    source_id: str
    tags: tuple[str, ...]
    location: Location
    # Location of each of the card's keys' values, for field-level diagnostics.
    fields: Mapping[str, Location] = field(hash=False, compare=False)

    @property
    def id(self) -> str:
        return self.card.id

    def at(self, key: str) -> Location:
        return self.fields.get(key, self.location)


@dataclass(frozen=True)
class CardFile:
    path: Path
    theme: str
    # A tuple; read back from the cache, a sequence that builds the cards on first use.
    cards: Sequence[CardEntry]
    # Each card's id, type and source, known without building the cards.
    ids: tuple[str, ...] = field(default=(), compare=False)
    types: tuple[str, ...] = field(default=(), compare=False)
    source_ids: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if not len(self.ids) == len(self.types) == len(self.source_ids) == len(self.cards):
            object.__setattr__(self, "ids", tuple(entry.id for entry in self.cards))
            object.__setattr__(self, "types", tuple(entry.card.type for entry in self.cards))
            object.__setattr__(self, "source_ids", tuple(entry.source_id for entry in self.cards))


class CardView(Sequence[CardEntry]):
    """The project's cards in order. Their ids, types and themes are at hand; a card
    itself is built (with the others of its file) only when it is asked for."""

    def __init__(self, files: Sequence[CardFile]):
        self._files = files
        self.ids: list[str] = [card_id for file in files for card_id in file.ids]
        self.types: list[str] = [kind for file in files for kind in file.types]
        self.themes: list[str] = [file.theme for file in files for _ in file.ids]
        self.source_ids: list[str] = [source_id for file in files for source_id in file.source_ids]
        self._starts: list[int] = []
        count = 0
        for file in files:
            self._starts.append(count)
            count += len(file.ids)

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> CardEntry: ...

    @overload
    def __getitem__(self, index: slice) -> list[CardEntry]: ...

    def __getitem__(self, index: int | slice) -> CardEntry | list[CardEntry]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("card index out of range")
        file = bisect_right(self._starts, index) - 1
        return self._files[file].cards[index - self._starts[file]]


@dataclass(frozen=True)
class Project:
    root: Path
    config: ProjectConfig
    sources: dict[str, Source]
    files: tuple[CardFile, ...]
    # Where deckgen.yaml sets each setting, for diagnostics about a setting's value.
    settings: dict[str, Location] = field(default_factory=dict, compare=False)

    @property
    def cards(self) -> list[CardEntry]:
        return [card for file in self.files for card in file.cards]

    @cached_property
    def card_view(self) -> CardView:
        """The cards as `cards` has them, each file's built only when used."""
        return CardView(self.files)

    @property
    def card_count(self) -> int:
        return sum(len(file.ids) for file in self.files)

    @property
    def themes(self) -> list[str]:
        seen: dict[str, None] = {}
        for file in self.files:
            seen.setdefault(file.theme, None)
        return list(seen)


if _PLUGINS_SETTING is None:
    del os.environ["PYDANTIC_DISABLE_PLUGINS"]
else:
    os.environ["PYDANTIC_DISABLE_PLUGINS"] = _PLUGINS_SETTING
