"""Where a checked card stands in its source: carried from validation into the build."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CitedNote:
    number: str
    text: str


@dataclass(frozen=True)
class Anchor:
    source_id: str
    line: int
    col: int
    matched: str  # the original text of the supporting span
    before: str  # original text just before it, for the passage in context
    after: str
    notes: tuple[CitedNote, ...] = ()  # footnotes the span cites
    page: str | None = None  # page locator following the span, if the source has one
