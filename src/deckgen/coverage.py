"""How much of each source the cards use.

A source is cut into blocks of lines (headings, running text, footnotes, page
furniture, bibliography) and its running text into paragraphs; a paragraph cut
in two by a page-break block of footnotes stays one paragraph. A paragraph is
covered when the supporting span of at least one checked card overlaps it.
Headings, footnotes, bibliography and very short lines are not paragraphs of
substance and are not counted.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field

from .anchors import Anchor
from .pipeline import CheckResult
from .sourcetext import SourceText

# Fewer words than this and a line is a label, a byline or a date, not a paragraph.
MIN_WORDS = 8
# A line without sentence punctuation and at most this many words reads as a heading.
MAX_HEADING_WORDS = 12
PREVIEW_WORDS = 12

_SENTENCE_FINAL = re.compile(r"[.!?…:;][\"'”’»)\]*_]*[⁰¹²³⁴⁵⁶⁷⁸⁹\d]*\s*$")
_MARKDOWN_HEADING = re.compile(r"^\s*#{1,6}\s")
_CALLOUT = re.compile(r"^\s*>\s*\[!")
_WIKI_LINK_LINE = re.compile(r"^\s*\[\[[^\]]*\]\]\s*$")
_QUOTE_PREFIX = re.compile(r"^\s*(?:>\s*)+")
_BIBLIOGRAPHY_HEADING = re.compile(
    r"^\s*(?:#{1,6}\s*)?(?:bibliography|references|works cited|sources|further reading|notes|endnotes)\s*:?\s*$",
    re.IGNORECASE,
)
# "(London: Allen Lane, 2017)": a publication imprint marks a reference, not running text.
_IMPRINT = re.compile(r"\([^()]{0,80}:\s*[^()]{1,80},\s*(?:1[5-9]|20)\d\d\)")
_CREDIT = re.compile(r"^\s*\([^()]+\)\s*$")
_URL_LINE = re.compile(r"^\s*(?:https?://|www\.)\S+\s*$", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+(?:['’.-][^\W_]+)*", re.UNICODE)

TEXT, HEADING, SHORT, NOTE, FURNITURE, BIBLIOGRAPHY = "text", "heading", "short", "note", "furniture", "bibliography"
_NOTE_START = re.compile(r"^\s*(?:[⁰¹²³⁴⁵⁶⁷⁸⁹]+|\[\^[^\]\s]{1,20}\]:)")


@dataclass(frozen=True)
class Block:
    """Consecutive non-blank lines of one kind."""

    kind: str
    first_line: int  # 1-based
    last_line: int
    start: int  # raw offsets, end exclusive and without the final line break
    end: int
    paragraph: int | None = None  # index of the paragraph it belongs to (running text only)


@dataclass(frozen=True)
class Paragraph:
    index: int
    ranges: tuple[tuple[int, int], ...]  # raw ranges of its blocks
    first_line: int
    last_line: int
    preview: str  # its first words
    cards: tuple[str, ...]  # ids of the cards whose span overlaps it

    @property
    def covered(self) -> bool:
        return bool(self.cards)


@dataclass(frozen=True)
class SourceCoverage:
    source_id: str
    file: str
    blocks: tuple[Block, ...]
    paragraphs: tuple[Paragraph, ...]
    spans: dict[str, tuple[int, int]] = field(compare=False)  # card id -> raw [start, end)

    @property
    def total(self) -> int:
        return len(self.paragraphs)

    @property
    def covered(self) -> int:
        return sum(p.covered for p in self.paragraphs)

    @property
    def share(self) -> float:
        return self.covered / self.total if self.total else 0.0

    @property
    def uncovered(self) -> list[Paragraph]:
        return [p for p in self.paragraphs if not p.covered]


@dataclass(frozen=True)
class CoverageReport:
    sources: tuple[SourceCoverage, ...]
    unanchored: tuple[str, ...]  # cards that failed the check: they cover nothing yet

    @property
    def total(self) -> int:
        return sum(s.total for s in self.sources)

    @property
    def covered(self) -> int:
        return sum(s.covered for s in self.sources)

    @property
    def share(self) -> float:
        return self.covered / self.total if self.total else 0.0


# --------------------------------------------------------------------------------------
# Spans
# --------------------------------------------------------------------------------------


def anchor_span(text: SourceText, anchor: Anchor) -> tuple[int, int]:
    """The raw range an anchor's matched span covers.

    The anchor gives where the span starts and its original text with white space
    collapsed and cut-out blocks (page-break footnotes) left out; walking the raw
    text from the start over the same characters finds where it ends.
    """
    if not 1 <= anchor.line <= len(text.line_starts):
        return 0, 0
    raw = text.raw
    start = min(len(raw), text.line_starts[anchor.line - 1] + max(anchor.col, 1) - 1)
    removed = text.removed
    r_index = bisect_right(removed, (start, len(raw) + 1))
    if r_index and removed[r_index - 1][1] > start:
        r_index -= 1
    end = start + len(anchor.matched)
    if raw.startswith(anchor.matched, start) and (r_index == len(removed) or removed[r_index][0] >= end):
        return start, end  # the common case: the span stands in the source as written, on one line
    wanted = [c for c in anchor.matched if not c.isspace()]
    pos, end = start, start
    for char in wanted:
        while pos < len(raw):
            while r_index < len(removed) and removed[r_index][1] <= pos:
                r_index += 1
            if r_index < len(removed) and removed[r_index][0] <= pos:
                pos = removed[r_index][1]
                continue
            if raw[pos].isspace():
                pos += 1
                continue
            break
        if pos >= len(raw) or raw[pos] != char:
            # The raw text disagrees with the anchor: keep what was confirmed, at least the start.
            return start, end if end > start else min(len(raw), start + len(anchor.matched))
        pos += 1
        end = pos
    return start, end


# --------------------------------------------------------------------------------------
# Blocks and paragraphs
# --------------------------------------------------------------------------------------


def _words(line: str) -> int:
    return len(_WORD.findall(line))


def _line_kind(line: str, in_bibliography: bool) -> str:
    stripped = line.strip()
    if in_bibliography:
        return BIBLIOGRAPHY
    if _MARKDOWN_HEADING.match(line) or _CALLOUT.match(line) or _WIKI_LINK_LINE.match(line):
        return HEADING
    content = _QUOTE_PREFIX.sub("", stripped)
    if content.isupper():  # only capitals among its letters: "OMINOUS SIGNS"
        return HEADING
    if _URL_LINE.match(content) or (_IMPRINT.search(content) and _words(content) < 60):
        return BIBLIOGRAPHY
    words = _words(content)
    if not _SENTENCE_FINAL.search(content) and words <= MAX_HEADING_WORDS:
        return HEADING
    if words < MIN_WORDS:
        return SHORT
    return TEXT


def _removed_kind(line: str) -> str:
    return NOTE if _NOTE_START.match(line) else FURNITURE


def _classified_lines(text: SourceText) -> list[tuple[int, int, int, str] | None]:
    """(line number, raw start, raw end, kind) per line; None for a blank line."""
    raw, starts, removed = text.raw, text.line_starts, text.removed
    lines: list[tuple[int, int, int, str] | None] = []
    in_bibliography = False
    r_index = 0
    previous = None
    for number, a in enumerate(starts, start=1):
        b = starts[number] if number < len(starts) else len(raw)
        line = raw[a:b].rstrip("\r\n")
        b = a + len(line)
        if not line.strip():
            lines.append(None)
            previous = None
            continue
        while r_index < len(removed) and removed[r_index][1] <= a:
            r_index += 1
        if r_index < len(removed) and removed[r_index][0] <= a < removed[r_index][1]:
            # A note running on over several lines stays a note.
            kind = previous if previous in (NOTE, FURNITURE) else _removed_kind(line)
        elif _BIBLIOGRAPHY_HEADING.match(line):
            in_bibliography = True
            kind = HEADING
        else:
            kind = _line_kind(line, in_bibliography)
        if kind == HEADING and _CREDIT.match(line) and lines and lines[-1] is not None and lines[-1][3] == TEXT:
            # A picture's caption followed by its credit line: neither is running text.
            n, pa, pb, _ = lines[-1]
            lines[-1] = (n, pa, pb, HEADING)
        lines.append((number, a, b, kind))
        previous = kind
    return lines


def source_blocks(text: SourceText) -> tuple[list[Block], list[list[int]]]:
    """The source's blocks and, for each paragraph of substance, the indices of its blocks."""
    raw = text.raw
    blocks: list[Block] = []
    paragraphs: list[list[int]] = []
    open_paragraph: int | None = None  # a paragraph whose last line did not end a sentence
    bridged = False  # a page-break block (notes, furniture) has come since it
    current: list | None = None  # [kind, first_line, last_line, start, end]

    def flush() -> None:
        nonlocal current, open_paragraph, bridged
        if current is None:
            return
        kind, first, last, a, b = current
        current = None
        paragraph = None
        if kind in (TEXT, SHORT) and open_paragraph is not None and bridged:
            paragraph = open_paragraph  # the rest of a sentence cut by a page break
        elif kind == TEXT:
            paragraphs.append([])
            paragraph = len(paragraphs) - 1
        if paragraph is not None:
            paragraphs[paragraph].append(len(blocks))
            open_paragraph = None if _SENTENCE_FINAL.search(raw[a:b]) else paragraph
            bridged = False
        elif kind in (NOTE, FURNITURE):
            bridged = open_paragraph is not None
        else:
            open_paragraph = None
        blocks.append(Block(kind, first, last, a, b, paragraph))

    for entry in _classified_lines(text):
        if entry is None:
            flush()
            continue
        number, a, b, kind = entry
        if current is not None and current[0] == kind and kind in (TEXT, NOTE, BIBLIOGRAPHY, FURNITURE):
            current[2], current[4] = number, b
            continue
        flush()
        current = [kind, number, number, a, b]
    flush()
    return blocks, paragraphs


def source_coverage(source_id: str, file: str, text: SourceText,
                    anchors: Iterable[tuple[str, Anchor]]) -> SourceCoverage:
    blocks, groups = source_blocks(text)
    spans = {card_id: anchor_span(text, anchor) for card_id, anchor in anchors}
    ordered = sorted((a, b, card_id) for card_id, (a, b) in spans.items() if b > a)
    covering: dict[int, dict[str, None]] = {}  # paragraph index -> card ids, in span order
    # Blocks and spans both run in source order: one sweep pairs them.
    active: list[tuple[int, int, str]] = []
    next_span = 0
    for block in blocks:
        if block.paragraph is None:
            continue
        while next_span < len(ordered) and ordered[next_span][0] < block.end:
            active.append(ordered[next_span])
            next_span += 1
        active = [span for span in active if span[1] > block.start]
        for a, b, card_id in active:
            if a < block.end:
                covering.setdefault(block.paragraph, {}).setdefault(card_id, None)
    paragraphs: list[Paragraph] = []
    for index, members in enumerate(groups):
        ranges = tuple((blocks[i].start, blocks[i].end) for i in members)
        first, last = blocks[members[0]], blocks[members[-1]]
        paragraphs.append(Paragraph(index, ranges, first.first_line, last.last_line,
                                    _preview(text.raw[first.start:first.end]), tuple(covering.get(index, ()))))
    return SourceCoverage(source_id, file, tuple(blocks), tuple(paragraphs), spans)


def _preview(line: str) -> str:
    words = line.split()
    shown = " ".join(words[:PREVIEW_WORDS])
    return shown + (" …" if len(words) > PREVIEW_WORDS else "")


def project_coverage(result: CheckResult) -> CoverageReport:
    project = result.project
    by_source: dict[str, list[tuple[str, Anchor]]] = {sid: [] for sid in project.sources}
    for card_id, anchor in result.checked.anchors.items():
        by_source.setdefault(anchor.source_id, []).append((card_id, anchor))
    sources = []
    for source_id, source in project.sources.items():
        text = result.texts.get(source_id)
        if text is None:
            continue
        try:
            shown = str(source.path.relative_to(project.root))
        except ValueError:
            shown = str(source.path)
        sources.append(source_coverage(source_id, shown, text, by_source.get(source_id, ())))
    unanchored = tuple(e.id for e in project.cards if e.id not in result.checked.anchors)
    return CoverageReport(tuple(sources), unanchored)


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------


def _percent(share: float) -> str:
    return f"{share * 100:.0f}%"


def format_table(report: CoverageReport) -> str:
    rows = [("source", "paragraphs", "covered", "share")]
    rows += [(s.source_id, str(s.total), str(s.covered), _percent(s.share)) for s in report.sources]
    rows.append(("all sources", str(report.total), str(report.covered), _percent(report.share)))
    width = [max(len(row[i]) for row in rows) for i in range(4)]

    def line(row: tuple[str, ...]) -> str:
        return "  ".join([row[0].ljust(width[0])] + [row[i].rjust(width[i]) for i in range(1, 4)]).rstrip()

    out = [line(rows[0]), "  ".join("-" * w for w in width)]
    out += [line(row) for row in rows[1:-1]]
    out.append("  ".join("-" * w for w in width))
    out.append(line(rows[-1]))
    gaps = [s for s in report.sources if s.uncovered]
    if gaps:
        out.append("")
        out.append("paragraphs with no card:")
        for s in gaps:
            out.append(f"{s.source_id} ({len(s.uncovered)} of {s.total})")
            for p in s.uncovered:
                where = f"{s.file}:{p.first_line}"
                span = f"lines {p.first_line}-{p.last_line}" if p.last_line > p.first_line else f"line {p.first_line}"
                out.append(f"  {where:<28} {span:<14} {p.preview}")
    return "\n".join(out)


def to_dict(report: CoverageReport) -> dict[str, object]:
    return {
        "sources": [
            {
                "id": s.source_id,
                "file": s.file,
                "paragraphs": s.total,
                "covered": s.covered,
                "share": round(s.share, 4),
                "uncovered": [
                    {"line": p.first_line, "end_line": p.last_line, "text": p.preview} for p in s.uncovered
                ],
            }
            for s in report.sources
        ],
        "total": {"paragraphs": report.total, "covered": report.covered, "share": round(report.share, 4)},
        "unchecked_cards": list(report.unanchored),
    }


def to_json(report: CoverageReport) -> str:
    return json.dumps(to_dict(report), ensure_ascii=False, indent=2)
