"""Check every card against its source text.

One exact multi-pattern pass per source finds the plain spans; elided or
bracketed quotations are matched segment by segment; fuzzy search runs only
for misses, to say which passage the author probably meant.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from . import errorcodes as codes
from .anchors import Anchor, CitedNote
from .cloze import ParsedCloze, parse_cloze
from .dates import DateError, check_date, parse_claim
from .diagnostics import Diagnostic, Report
from .matching import Corpus, Match
from .models import ALLOWED_TAGS, CardEntry, ClozeCard, DateCard, FigureCard, Project, QuoteCard
from .numbers import check_figure
from .parallel import map_in_workers, workers_for
from .sourcetext import SourceText

CONTEXT_CHARS = 180
MIN_SPLICE_WORDS = 4
# Parts closer than this are a misquote (a dropped or changed word), not a splice.
SPLICE_MIN_GAP = 80
SPEAKER_WINDOW = 1500


class Anchors(Mapping[str, Anchor]):
    """Each passing card's anchor, by card id. An anchor remembered by an earlier run may
    come as a function that reads it back, called when the anchor is first asked for."""

    def __init__(self) -> None:
        self._anchors: dict[str, Anchor | Callable[[], Anchor]] = {}

    def add(self, card_id: str, anchor: Anchor | Callable[[], Anchor]) -> None:
        self._anchors[card_id] = anchor

    def __getitem__(self, card_id: str) -> Anchor:
        anchor = self._anchors[card_id]
        if not isinstance(anchor, Anchor):
            anchor = self._anchors[card_id] = anchor()
        return anchor

    def __iter__(self) -> Iterator[str]:
        return iter(self._anchors)

    def __len__(self) -> int:
        return len(self._anchors)

    def __contains__(self, card_id: object) -> bool:
        return card_id in self._anchors


@dataclass(frozen=True)
class Checked:
    """The outcome of validation: an anchor for every card that passed."""

    anchors: Mapping[str, Anchor]


# One problem a card's checks found, independent of where the card stands in its
# file: (code, the card key it concerns, message, hint, related lines, severity).
Finding = tuple[codes.ErrorCode, str, str, "str | None", tuple[str, ...], "codes.Severity | None"]
# What checking a card gives: its findings and, when it is found in its source, its anchor.
Verdict = tuple[tuple[Finding, ...], "Anchor | None"]
# A verdict remembered by an earlier run: its anchor may be read back only when used.
RememberedVerdict = tuple[tuple[Finding, ...], "Anchor | Callable[[], Anchor] | None"]

# Below this many cards to check, spans are looked up one by one rather than by a
# pass over every source.
PREPARE_MIN_CARDS = 50


class VerdictMemo(Protocol):
    """Verdicts of earlier runs, by the card's index in ``Project.cards``."""

    def remembered(self) -> list[RememberedVerdict | None]: ...

    def put(self, index: int, verdict: Verdict) -> None: ...


def validate(project: Project, texts: Mapping[str, SourceText], report: Report, *,
             memo: VerdictMemo | None = None, progress: Callable[[int, int], None] | None = None,
             anchored: bool = True) -> Checked:
    """Check every card. A card's verdict depends only on the card and the sources, so
    one remembered in ``memo`` is used as it stands; its findings are located anew.
    Without ``anchored``, a card found in its source gets no anchor (its passage in
    context, which only a note and a coverage report show): every check is made all the same.
    Verdicts put in a ``memo`` always have theirs, for the builds that remember them."""
    cards = project.card_view  # a card remembered without findings is never built
    verdicts: list[RememberedVerdict | None] = [None] * len(cards)
    if memo is not None:
        verdicts = memo.remembered()
        anchored = True
    todo = [i for i, verdict in enumerate(verdicts) if verdict is None]
    if todo:
        workers = workers_for(len(todo))
        if workers > 1:
            for source_id in texts:  # loaded once, here, rather than by every worker
                texts[source_id]

        def check_share(indices: Sequence[int], tick: Callable[[int], None]) -> Iterator[Verdict]:
            return _check_cards(project, texts, [cards[i] for i in indices], tick, anchored)

        shares = _shares_by_source([cards.source_ids[i] for i in todo], workers) if workers > 1 else None
        for i, verdict in zip(todo, map_in_workers(check_share, todo, workers, progress, shares), strict=True):
            verdicts[i] = verdict
            if memo is not None:
                memo.put(i, verdict)
    anchors = Anchors()
    ids = cards.ids
    for i, verdict in enumerate(verdicts):
        findings, anchor = verdict  # type: ignore[misc]
        failed = False
        for code, key, message, hint, related, severity in findings:
            diagnostic = Diagnostic.make(code, cards[i].at(key), message, card=ids[i], hint=hint,
                                         related=related, severity=severity)
            failed = failed or diagnostic.is_error
            report.add(diagnostic)
        if anchor is not None and not failed:
            anchors.add(ids[i], anchor)
    return Checked(anchors)


# Shares by source may differ in size by this much at most; else cards are interleaved.
SHARE_SLACK = 0.05


def _shares_by_source(source_ids: Sequence[str], workers: int) -> list[list[int]] | None:
    """The positions of ``source_ids`` in ``workers`` shares of whole sources, when they come out
    about as even as interleaving makes them; else None. Each process scans only the sources
    its cards cite (see `Corpus.prepare_in_own_sources`), so none scans all of them. The
    largest share comes last: this process takes it, since a worker also sends its results."""
    by_source: dict[str, list[int]] = {}
    for position, source_id in enumerate(source_ids):
        by_source.setdefault(source_id, []).append(position)
    shares: list[list[int]] = [[] for _ in range(workers)]
    for positions in sorted(by_source.values(), key=len, reverse=True):
        min(shares, key=len).extend(positions)
    shares.sort(key=len)
    if len(shares[-1]) > len(source_ids) / workers * (1 + SHARE_SLACK):
        return None
    return shares


def _check_cards(project: Project, texts: Mapping[str, SourceText], entries: Sequence[CardEntry],
                 tick: Callable[[int], None], anchored: bool = True) -> Iterator[Verdict]:
    """The verdict on each card, in order, as each is made."""
    corpus = Corpus(texts)
    clozes: dict[str, ParsedCloze] = {}
    if len(entries) >= PREPARE_MIN_CARDS:
        # One pass over each source cited for the spans of the cards citing it; the rest are
        # looked up one by one.
        by_source: dict[str, list[str]] = {}
        for entry in entries:
            by_source.setdefault(entry.source_id, []).extend(span for span in _spans(entry, clozes) if span)
        corpus.prepare_in_own_sources(by_source)
    paths = {sid: str(source.path.relative_to(project.root)) for sid, source in project.sources.items()}
    authors = {sid: source.entry.author for sid, source in project.sources.items()}
    for done, entry in enumerate(entries, 1):
        checker = _CardChecker(entry, corpus, texts, paths, authors, clozes)
        anchor = checker.run(anchored)
        yield tuple(checker.findings), anchor
        if done % 256 == 0 or done == len(entries):
            tick(done)


def _parsed_cloze(text: str, clozes: dict[str, ParsedCloze]) -> ParsedCloze:
    parsed = clozes.get(text)
    if parsed is None:
        parsed = clozes[text] = parse_cloze(text)
    return parsed


_INLINE_TAG = re.compile(r"<\s*/?\s*(?:%s)\s*/?\s*>" % "|".join(sorted(ALLOWED_TAGS)), re.IGNORECASE)


def plain_text(span: str) -> str:
    """A card's text as the source would have it: the allowed inline markup removed."""
    return _INLINE_TAG.sub(" ", span) if "<" in span else span


def _spans(entry: CardEntry, clozes: dict[str, ParsedCloze]) -> Iterable[str]:
    card = entry.card
    if isinstance(card, QuoteCard):
        yield plain_text(card.quote)
    if isinstance(card, ClozeCard):
        yield plain_text(_parsed_cloze(card.text, clozes).filled())
    if card.evidence:
        yield plain_text(card.evidence)


class _CardChecker:
    def __init__(self, entry: CardEntry, corpus: Corpus, texts: Mapping[str, SourceText],
                 paths: dict[str, str], authors: dict[str, str], clozes: dict[str, ParsedCloze]):
        self.entry = entry
        self.paths = paths
        self.authors = authors
        self.card = entry.card
        self.corpus = corpus
        self.texts = texts
        self.clozes = clozes
        self.findings: list[Finding] = []

    def error(self, code: codes.ErrorCode, key: str, message: str, *, hint: str | None = None,
              related: Iterable[str] = (), severity: codes.Severity | None = None) -> None:
        self.findings.append((code, key, message, hint, tuple(related), severity))

    def run(self, anchored: bool) -> Anchor | None:
        card = self.card
        anchor_match: Match | None = None
        if isinstance(card, QuoteCard):
            anchor_match = self.locate(card.quote, "quote", codes.QUOTE_NOT_FOUND, "quotation")
            if anchor_match is not None:
                self.check_speaker(anchor_match)
        elif isinstance(card, ClozeCard):
            anchor_match = self.check_cloze(card)
        evidence_match = None
        if card.evidence:
            evidence_match = self.locate(card.evidence, "evidence", codes.EVIDENCE_NOT_FOUND, "evidence")
            anchor_match = anchor_match or evidence_match
        if isinstance(card, DateCard):
            self.check_date(card.date, card.evidence, "date")
        elif isinstance(card, QuoteCard) and card.date is not None:
            self.check_quote_date(card, anchor_match)
        elif isinstance(card, FigureCard):
            self.check_figure(card)
        if anchor_match is None:
            return None
        self.check_page(evidence_match or anchor_match)
        return self.anchor(anchor_match) if anchored else None

    # -- spans -------------------------------------------------------------------------

    def locate(self, span: str, key: str, code: codes.ErrorCode, what: str) -> Match | None:
        span = plain_text(span)
        source_id = self.entry.source_id
        found = self.corpus.find(span, source_id)
        if found is not None:
            return found
        elsewhere = [m for m in self.corpus.find_anywhere(span) if m.source_id != source_id]
        if elsewhere:
            other = elsewhere[0]
            self.error(
                codes.FOUND_IN_OTHER_SOURCE, key,
                f"the {what} is not in {source_id!r} but occurs in {other.source_id!r} "
                f"(line {other.line})",
                hint=f"set `source: {other.source_id}` on this card",
            )
            return None
        splice = self.find_splice(span, source_id)
        if splice is not None:
            first, second = splice
            self.error(
                codes.SPLICED_QUOTE, key,
                f"the {what} joins two passages of {source_id!r} without an elision: "
                f"line {first.line} and line {second.line}",
                hint="mark the omitted text with '...' or quote the passages on separate cards",
                related=[f"first part:  {first.passage}", f"second part: {second.passage}"],
            )
            return None
        near = self.corpus.nearest(span, source_id)
        related: list[str] = []
        hint = None
        if near is not None:
            path = self.texts_path(near.source_id)
            related.append(f"did you mean ({path}:{near.line}:{near.col}, {near.score:.0f}% similar):")
            related.append(f"    {near.passage}")
            if near.diff:
                related.append(f"    diff: {near.diff}")
            hint = "copy the span from the source; typography (quotes, dashes, spacing) may differ"
        self.error(code, key, f"the {what} does not occur in {source_id!r}", hint=hint, related=related)
        return None

    def find_splice(self, span: str, source_id: str) -> tuple[Match, Match] | None:
        """Two parts of the span that each occur, far apart: a splice rather than a misquote.

        A prefix of a found prefix is found too, so the longest found prefix (in words) is
        found by bisection: a handful of look-ups, however long the span."""
        if "..." in span or "…" in span:
            return None
        cuts = [m.start() for m in re.finditer(r"(?<=\s)\S", span)]  # where word 2, 3, ... start
        if len(cuts) < 2 * MIN_SPLICE_WORDS - 1:
            return None
        low, high = MIN_SPLICE_WORDS - 1, len(cuts) - MIN_SPLICE_WORDS  # indexes into cuts
        if self.corpus.find(span[:cuts[low]], source_id) is None:
            return None
        while low < high:
            middle = (low + high + 1) // 2
            if self.corpus.find(span[:cuts[middle]], source_id) is not None:
                low = middle
            else:
                high = middle - 1
        first = self.corpus.find(span[:cuts[low]], source_id)
        second = self.corpus.find(span[cuts[low]:], source_id)
        if first is None or second is None:
            return None
        if second.start < first.start or second.start - first.end > SPLICE_MIN_GAP:
            return first, second
        return None

    def texts_path(self, source_id: str) -> str:
        return self.paths.get(source_id, source_id)

    def check_cloze(self, card: ClozeCard) -> Match | None:
        parsed = _parsed_cloze(card.text, self.clozes)
        for problem in parsed.problems:
            code = codes.CLOZE_NUMBERING if problem.code == "cloze-gap" else codes.CLOZE_SYNTAX
            self.error(code, "text", problem.message)
        if parsed.problems:
            return None
        match = self.locate(parsed.filled(), "text", codes.CLOZE_NOT_FOUND, "cloze sentence (deletions filled in)")
        if card.evidence:
            evidence = self.corpus.normalized(card.evidence)
            for deletion in parsed.deletions:
                if self.corpus.normalized(deletion.answer) not in evidence:
                    self.error(codes.CLOZE_ANSWER_NOT_IN_EVIDENCE, "text",
                               f"cloze answer {deletion.answer!r} does not occur in the evidence")
        return match

    def check_speaker(self, match: Match) -> None:
        assert isinstance(self.card, QuoteCard)
        text = self.texts[match.source_id].text
        window = text[max(0, match.start - SPEAKER_WINDOW): match.end + SPEAKER_WINDOW]
        author = self.authors.get(match.source_id, "")
        if author and self.corpus.normalized(author) == self.corpus.normalized(self.card.speaker):
            return  # the source's own author speaks throughout it
        names = [w for w in re.findall(r"[\w'’.-]+", self.card.speaker) if len(w) >= 3 and w[0].isupper()]
        if not names:
            return
        if not any(self.corpus.normalized(name) in window for name in names):
            self.error(
                codes.SPEAKER_NOT_NEAR, "speaker",
                f"{self.card.speaker!r} is not named near the quotation in {match.source_id!r}",
                hint="check the attribution; the source may quote someone else here",
            )

    # -- dates, figures, pages ------------------------------------------------------------

    def check_date(self, value: object, evidence: str | None, key: str,
                   severity: codes.Severity | None = None) -> None:
        try:
            claim = parse_claim(value)  # type: ignore[arg-type]
        except DateError as exc:
            self.error(codes.DATE_INVALID, key, str(exc))
            return
        if not evidence:
            return
        verdict = check_date(claim, evidence)
        if not verdict.ok:
            said = "; ".join(m.text for m in verdict.mentions) or "no date"
            self.error(
                codes.DATE_UNSUPPORTED, key,
                f"the evidence does not support the {', '.join(verdict.unsupported)} of {claim.iso()}",
                hint=f"the evidence says: {said}", severity=severity,
            )

    def check_quote_date(self, card: QuoteCard, match: Match | None) -> None:
        if card.evidence:
            self.check_date(card.date, card.evidence, "date")
        elif match is not None:
            # Without evidence, a quotation's date can only be judged by its surroundings: a warning.
            context = self.texts[match.source_id].passage(match.start, match.end, context=400)
            self.check_date(card.date, context, "date", severity=codes.Severity.WARNING)
        else:
            self.check_date(card.date, None, "date")

    def check_figure(self, card: FigureCard) -> None:
        verdict = check_figure(str(card.value), card.evidence)
        if verdict.ok:
            if verdict.reason:
                self.error(codes.FIGURE_UNIT, "value", verdict.reason)
            return
        found = ", ".join(q.text for q in verdict.found) or "no figure"
        self.error(
            codes.FIGURE_UNSUPPORTED, "value",
            verdict.reason or f"the evidence does not contain {card.value!r}",
            hint=f"the evidence says: {found}",
        )

    def check_page(self, match: Match) -> None:
        page = self.card.page
        if page is None:
            return
        locator = match.text.locator_after(match.end)
        if locator is None:
            return
        if not _pages_agree(str(page), locator.pages):
            self.error(
                codes.PAGE_MISMATCH, "page",
                f"page {page} does not match the source's locator ({locator.pages}) after the evidence",
            )

    def anchor(self, match: Match) -> Anchor:
        text = match.text
        before, matched, after = text.in_context(match.start, match.end, CONTEXT_CHARS)
        line, col = text.line_col(match.raw_start)
        locator = text.locator_after(match.end)
        return Anchor(
            source_id=match.source_id,
            line=line,
            col=col,
            matched=matched,
            before=_trim_left(before),
            after=_trim_right(after),
            notes=tuple(CitedNote(f.number, f.text) for f in match.footnotes),
            page=locator.pages if locator else None,
        )


def _pages_agree(claimed: str, locator: str) -> bool:
    """'775' agrees with '774-5'; '772' with '772'."""
    def expand(pages: str) -> set[int]:
        parts = re.split(r"\s*[-–]\s*", pages.strip())
        try:
            numbers = [int(p) for p in parts if p]
        except ValueError:
            return set()
        if len(numbers) == 2:
            first, last = numbers
            if last < first:  # "774-5" abbreviates 775
                digits = len(str(last))
                last = int(str(first)[: -digits] + str(last))
            return set(range(first, last + 1))
        return set(numbers)

    claimed_pages, locator_pages = expand(claimed), expand(locator)
    return bool(claimed_pages) and claimed_pages <= locator_pages


def _trim_left(text: str) -> str:
    # Start the context at a word boundary.
    cut = text.find(" ")
    return text[cut + 1:] if 0 <= cut < 25 and len(text) >= CONTEXT_CHARS - 5 else text


def _trim_right(text: str) -> str:
    cut = text.rfind(" ")
    return text[:cut] if cut > len(text) - 25 and len(text) >= CONTEXT_CHARS - 5 else text

