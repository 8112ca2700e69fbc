"""Finding card spans in source texts.

Plain spans are found by one Aho–Corasick pass per source over the normalised
text; spans with elisions ("...") or editorial [insertions] are matched segment by
segment; fuzzy search runs only for spans that were not found, to point at the
passage the author probably meant.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache
from types import ModuleType

import ahocorasick_rs

from .sourcetext import ELLIPSIS, Footnote, SourceText, normalize, normalize_with_offsets

__all__ = ["Match", "NearMiss", "Corpus", "MAX_ELISION_GAP", "MAX_BRACKET_GAP"]

MAX_ELISION_GAP = 400  # normalised characters an elision may stand for
MAX_BRACKET_GAP = 40  # normalised characters an editorial [insertion] may replace
DIFF_CONTEXT = 4  # unchanged tokens shown on each side of a change
LONG_QUERY = 400  # normalised characters past which a near-miss search places a probe
PROBE_CHARS = 200
KEY_CHARS = 32  # leading characters of a span that an automaton holds (see _Automaton)
MAX_SHARING = 8  # spans that may share one automaton key before their keys are lengthened


@dataclass(frozen=True)
class Match:
    """An occurrence of a span in a source. Where it stands in the file, its original text
    and the notes it cites are worked out when asked for (each once, mostly): most checks
    that find a span need none of them."""

    source_id: str
    start: int  # normalised offsets
    end: int
    text: SourceText = field(repr=False, compare=False)

    @property
    def raw_start(self) -> int:
        return self.text.raw_span(self.start, self.end)[0]

    @property
    def raw_end(self) -> int:
        return self.text.raw_span(self.start, self.end)[1]

    @property
    def line(self) -> int:
        """1-based, in the raw file."""
        return self.text.line_col(self.raw_start)[0]

    @property
    def col(self) -> int:
        return self.text.line_col(self.raw_start)[1]

    @property
    def passage(self) -> str:
        """The original text of the matched span."""
        return self.text.passage(self.start, self.end)

    @property
    def markers(self) -> tuple[str, ...]:
        """Note numbers cited in or right after the span, defined in the file or not."""
        return self.text.notes_for(self.start, self.end)[0]

    @property
    def footnotes(self) -> tuple[Footnote, ...]:
        return self.text.notes_for(self.start, self.end)[1]


@dataclass(frozen=True)
class NearMiss:
    source_id: str
    line: int
    col: int
    passage: str  # original text of the closest passage
    score: float  # 0–100 similarity of the normalised texts
    diff: str  # word-level diff: "[-source words-] {+card words+}"


# -- span structure -----------------------------------------------------------------------

_BRACKET = re.compile(r"\[([^\[\]]*)\]")


@dataclass(frozen=True)
class _Pattern:
    """A normalised span as literal segments with the gaps allowed between them."""

    segments: tuple[str, ...]
    gaps: tuple[int, ...]  # max gap before segments[1:], in normalised characters
    structured: bool  # elisions or brackets: not to be looked up as one literal string


def _parse(norm: str) -> _Pattern:
    """Split a normalised span at its elisions and editorial [insertions]."""
    if ELLIPSIS not in norm and "[" not in norm:
        # Most spans have neither: what `_split` would make of them, without its loops.
        whole = (norm.strip(),) if _has_words(norm) else ()
        return _Pattern(whole, (), whole != (norm,))
    return _split(norm)


def _split(norm: str) -> _Pattern:
    segments: list[str] = []
    gaps: list[int] = []
    pending_gap = 0
    for i, part in enumerate(norm.split(ELLIPSIS)):
        if i:
            pending_gap = max(pending_gap, MAX_ELISION_GAP)
        pos = 0
        buf = ""
        for m in _BRACKET.finditer(part):
            inner = m.group(1)
            before = part[m.start() - 1] if m.start() > 0 else " "
            after = part[m.end()] if m.end() < len(part) else " "
            if len(inner) <= 2 and inner.isalpha() and (before.isalnum() or after.isalnum()):
                # "[w]ould": a letter whose case was changed, part of the word.
                buf += part[pos:m.start()] + inner
            else:
                buf += part[pos:m.start()]
                if _has_words(buf):
                    if segments:
                        gaps.append(pending_gap)
                    segments.append(buf.strip())
                    pending_gap = 0
                buf = ""
                pending_gap = max(pending_gap, MAX_BRACKET_GAP)
            pos = m.end()
        buf += part[pos:]
        # A stretch without words between elisions is only punctuation: part of the gap.
        if _has_words(buf):
            if segments:
                gaps.append(pending_gap)
            segments.append(buf.strip())
            pending_gap = 0
    return _Pattern(tuple(segments), tuple(gaps), tuple(segments) != (norm,))


# One letter or digit: exactly the characters for which str.isalnum() is true.
_ALNUM = re.compile(r"[^\W_]")


def _has_words(norm: str) -> bool:
    """Only a span with some letters or digits can be looked for."""
    return _ALNUM.search(norm) is not None


def _bounded(text: str, start: int, end: int) -> bool:
    """A match must not begin or end inside a word or a number: "2,600" is not in
    "12,600", nor "600" in "2,600", nor "2,6" in "2,600"."""
    if start > 0:
        before, first = text[start - 1], text[start]
        if before.isalnum() and first.isalnum():
            return False
        if first.isdigit() and before in ",." and start > 1 and text[start - 2].isdigit():
            return False
    if end < len(text):
        last, after = text[end - 1], text[end]
        if last.isalnum() and after.isalnum():
            return False
        if last.isdigit() and after in ",." and end + 1 < len(text) and text[end + 1].isdigit():
            return False
    return True


def _occurrences(text: str, segment: str, start: int = 0, stop: int | None = None):
    stop = len(text) if stop is None else stop
    i = text.find(segment, start, stop)
    while i >= 0:
        if _bounded(text, i, i + len(segment)):
            yield i
        i = text.find(segment, i + 1, stop)


def _find_structured(text: str, pattern: _Pattern) -> tuple[int, int] | None:
    """Segments in order, each within its gap of the previous one."""
    if not pattern.segments:
        return None
    first, rest = pattern.segments[0], pattern.segments[1:]
    for s0 in _occurrences(text, first):
        end = s0 + len(first)
        for segment, gap in zip(rest, pattern.gaps):
            # The earliest next occurrence leaves the most room for the following ones.
            nxt = next(_occurrences(text, segment, end, min(len(text), end + gap + 1 + len(segment))), None)
            if nxt is None:
                break
            end = nxt + len(segment)
        else:
            return s0, end
    return None


def _find_structured_in(starts: Mapping[str, list[int]], n: int, pattern: _Pattern) -> tuple[int, int] | None:
    """`_find_structured`, given the sorted bounded start of every occurrence of each
    segment in a text of length n."""
    if not pattern.segments:
        return None
    first, rest = pattern.segments[0], pattern.segments[1:]
    for s0 in starts.get(first, ()):
        end = s0 + len(first)
        for segment, gap in zip(rest, pattern.gaps):
            found = starts.get(segment)
            if not found:
                break
            k = bisect_left(found, end)
            if k == len(found) or found[k] + len(segment) > min(n, end + gap + 1 + len(segment)):
                break
            end = found[k] + len(segment)
        else:
            return s0, end
    return None


class _Automaton:
    """Every occurrence of every pattern in a text, overlapping ones included.

    An Aho–Corasick automaton takes time to build in proportion to the characters it
    holds, and quotations run to hundreds of characters. It holds only each pattern's
    first KEY_CHARS characters, and each occurrence of those is confirmed against the
    whole pattern. Where more than MAX_SHARING patterns begin alike their keys are
    lengthened, so that a common opening costs a few comparisons, not one per pattern.
    """

    def __init__(self, patterns: list[str], key_chars: int = KEY_CHARS, max_sharing: int = MAX_SHARING):
        self.patterns = patterns
        by_key: dict[str, list[int]] = {}
        todo, length = list(range(len(patterns))), key_chars
        while todo:
            groups: dict[str, list[int]] = {}
            for i in todo:
                groups.setdefault(patterns[i][:length], []).append(i)
            todo = []
            for key, members in groups.items():
                if len(members) > max_sharing and len(key) == length:
                    todo += members
                else:
                    by_key.setdefault(key, []).extend(members)
            length *= 2
        self._keys = list(by_key)
        self._members = list(by_key.values())
        self._automaton = ahocorasick_rs.AhoCorasick(self._keys, matchkind=ahocorasick_rs.MatchKind.Standard)

    def find(self, text: str) -> Iterable[tuple[int, int, int]]:
        """(pattern index, start, end) of each occurrence, as `find_matches_as_indexes`
        with overlapping=True would give them, though not in the same order."""
        patterns, members = self.patterns, self._members
        for key, start, _ in self._automaton.find_matches_as_indexes(text, overlapping=True):
            for i in members[key]:
                if text.startswith(patterns[i], start):
                    yield i, start, start + len(patterns[i])


# -- the corpus -----------------------------------------------------------------------------


class Corpus:
    def __init__(self, sources: Mapping[str, SourceText]):
        # Not copied: a mapping that loads its texts on first use stays lazy.
        self.sources = sources
        # normalised span -> source id -> normalised (start, end) of every occurrence
        self._found: dict[str, dict[str, list[tuple[int, int]]]] = {}
        # Spans looked for in every source at once; only the sources with hits are in _found.
        self._everywhere: set[str] = set()
        self._norm: dict[str, str] = {}
        # Spans prepared in their own sources only, to be prepared everywhere at the first miss.
        self._deferred: list[str] = []
        # (source id, normalised start, end) -> its Match: cards often quote the same passage.
        self._matches: dict[tuple[str, int, int], Match] = {}

    # -- exact ---------------------------------------------------------------------------

    def normalized(self, span: str) -> str:
        norm = self._norm.get(span)
        if norm is None:
            norm = self._norm[span] = normalize(span)
        return norm

    def prepare(self, spans: Iterable[str]) -> list[str]:
        """Find every occurrence of every span in every source and remember them for
        `find`; returns the spans, without repeats.

        The normalised spans go into one Aho–Corasick automaton (see `_Automaton`),
        run once over each source; spans with elisions or [insertions] that do not
        occur literally are matched segment by segment, their segments found by the
        same pass.
        """
        spans = list(dict.fromkeys(spans))
        pending = sorted({n for n in map(self.normalized, spans) if _has_words(n) and n not in self._everywhere})
        if not pending:
            return spans
        for norm in pending:
            self._found[norm] = {}
        self._everywhere.update(pending)
        self._scan(pending, list(self.sources), record_misses=False)
        return spans

    def prepare_in_own_sources(self, spans_by_source: Mapping[str, Iterable[str]]) -> None:
        """Like `prepare`, but each span is looked for in the source it is listed under only
        (the source its card cites), so that a process checking the cards of some sources
        scans those alone. At the first `find_anywhere` (a span missing from its own source,
        which few are), all of them are prepared everywhere."""
        for source_id, spans in spans_by_source.items():
            if source_id not in self.sources:
                continue
            spans = list(spans)
            self._deferred.extend(spans)
            pending = sorted({n for n in map(self.normalized, spans) if _has_words(n)
                              and n not in self._everywhere and source_id not in self._found.get(n, {})})
            if pending:
                self._scan(pending, [source_id], record_misses=True)

    def _scan(self, pending: list[str], source_ids: list[str], record_misses: bool) -> None:
        """Look for the normalised spans ``pending`` in each of ``source_ids``, by one automaton
        run once over each, and keep their hits in `_found`; a source without any is kept as
        such only with ``record_misses`` (a span prepared everywhere is known to be missing
        from every source it has no hits in)."""
        structured = [(norm, pattern) for norm in pending if (pattern := _parse(norm)).structured]
        segments = {segment for _, pattern in structured for segment in pattern.segments}
        spans_now = set(pending)
        patterns = sorted(segments | spans_now)
        # A pattern may be a span looked for now, a segment of a structured one, or both.
        is_span = [p in spans_now for p in patterns]
        is_segment = [p in segments for p in patterns]
        automaton = _Automaton(patterns)
        for sid in source_ids:
            text = self.sources[sid].text
            hits: dict[str, list[tuple[int, int]]] = {}
            starts: dict[str, list[int]] = {}
            for index, start, end in automaton.find(text):
                if not _bounded(text, start, end):
                    continue
                if is_span[index]:
                    hits.setdefault(patterns[index], []).append((start, end))
                if is_segment[index]:
                    starts.setdefault(patterns[index], []).append(start)
            for found_starts in starts.values():
                found_starts.sort()
            for norm, pattern in structured:
                if norm not in hits:
                    hit = _find_structured_in(starts, len(text), pattern)
                    if hit is not None:
                        hits[norm] = [hit]
            for norm in pending if record_misses else hits:
                self._found.setdefault(norm, {})[sid] = hits.get(norm, [])

    def locate_all(self, spans: Iterable[str]) -> dict[str, list[Match]]:
        """Every occurrence of every span in every source (see `prepare`)."""
        spans = self.prepare(spans)
        out: dict[str, list[Match]] = {}
        for span in spans:
            norm = self.normalized(span)
            matches = []
            found = self._found.get(norm, {})
            # Every source, in order, for a span looked for everywhere; else those asked about.
            pairs = ((sid, found.get(sid, ())) for sid in self.sources) if norm in self._everywhere else found.items()
            for sid, hits in pairs:
                matches.extend(self._match(sid, s, e) for s, e in sorted(set(hits)))
            out[span] = matches
        return out

    def _hits(self, norm: str, source_id: str) -> list[tuple[int, int]]:
        found = self._found.setdefault(norm, {})
        hits = found.get(source_id)
        if hits is None:
            if norm in self._everywhere:
                return []
            text = self.sources[source_id].text
            hits = [(i, i + len(norm)) for i in _occurrences(text, norm)]
            if not hits:
                pattern = _parse(norm)
                if pattern.structured:
                    hit = _find_structured(text, pattern)
                    if hit is not None:
                        hits = [hit]
            found[source_id] = hits
        return hits

    def find(self, span: str, source_id: str) -> Match | None:
        """The first occurrence of a span in a source: exact up to typography, or with
        its elided segments in order and close together."""
        if source_id not in self.sources:
            return None
        norm = self.normalized(span)
        if not _has_words(norm):
            return None
        hits = self._hits(norm, source_id)
        if not hits:
            return None
        s, e = min(hits)
        return self._match(source_id, s, e)

    def find_anywhere(self, span: str) -> list[Match]:
        """The first occurrence in each source that has the span."""
        if self._deferred:
            deferred, self._deferred = self._deferred, []
            self.prepare(deferred)
        return [m for sid in self.sources if (m := self.find(span, sid)) is not None]

    def _match(self, source_id: str, start: int, end: int) -> Match:
        match = self._matches.get((source_id, start, end))
        if match is None:
            match = self._matches[source_id, start, end] = Match(source_id, start, end, self.sources[source_id])
        return match

    # -- near misses -----------------------------------------------------------------------

    def nearest(self, span: str, source_id: str, *, min_score: float = 50.0) -> NearMiss | None:
        """The passage of a source closest to a span that was not found, with a word
        diff against it; None when nothing is reasonably close.

        For an elided quotation the first segment that cannot be found is compared,
        since that is where the quotation departs from the source.
        """
        st = self.sources.get(source_id)
        if st is None or not st.text:
            return None
        norm_text, starts, ends = normalize_with_offsets(span)
        if not norm_text:
            return None
        pattern = _parse(norm_text)
        query = norm_text
        if pattern.structured:
            for segment in pattern.segments:
                if next(_occurrences(st.text, segment), None) is None:
                    query = segment
                    break
            else:
                query = " ".join(pattern.segments)
        if query in norm_text:
            q0 = norm_text.index(query)
            q_starts, q_ends = starts[q0:q0 + len(query)], ends[q0:q0 + len(query)]
        else:
            q_starts = q_ends = ()
        # Alignment costs grow with the product of the lengths: a long span is placed by its
        # opening words, then compared whole.
        probe = query if len(query) <= LONG_QUERY else query[:PROBE_CHARS]
        window = _best_window(probe, st.text)
        if window is None:
            return None
        ws, we = window
        if probe is not query:
            we = min(len(st.text), ws + len(query))
        ws, we = _refine(query, st.text, ws, we)
        score = _fuzz().ratio(query, st.text[ws:we])
        if score < min_score:
            return None
        raw_start, _ = st.raw_span(ws, we)
        line, col = st.line_col(raw_start)
        diff = _word_diff(st, ws, we, query, span, q_starts, q_ends)
        return NearMiss(source_id, line, col, st.passage(ws, we), round(score, 1), diff)


# -- fuzzy helpers ---------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _fuzz() -> ModuleType:
    """rapidfuzz's fuzz module, imported on first use: only a span that is not found needs it."""
    from rapidfuzz import fuzz

    return fuzz


# Words (with their inner hyphens, apostrophes and number separators) and single
# punctuation marks: a diff then says "22" rather than "22,".
_TOKEN = re.compile(r"\w+(?:[',.]\w+)*|[^\w\s]")


def _best_window(query: str, text: str) -> tuple[int, int] | None:
    """Where in text the query fits best (rapidfuzz alignment over the normalised text)."""
    if len(query) >= len(text):
        return 0, len(text)
    # Long texts are searched in overlapping blocks to keep each alignment cheap.
    block = max(200_000, 4 * len(query))
    best = None
    pos = 0
    while True:
        chunk = text[pos:pos + block + len(query)]
        al = _fuzz().partial_ratio_alignment(query, chunk)
        if al is not None and (best is None or al.score > best[0]):
            best = (al.score, pos + al.dest_start, pos + al.dest_end)
        if pos + block + len(query) >= len(text):
            break
        pos += block
    if best is None or best[0] <= 0:
        return None
    return best[1], best[2]


def _tokens(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    return [m.span() for m in _TOKEN.finditer(text, start, len(text) if end is None else end)]


def _refine(query: str, text: str, ws: int, we: int) -> tuple[int, int]:
    """Widen the aligned window to whole words, then trim it to the words that
    correspond to the query, keeping changed words at its edges."""
    slack = max(20, len(query) // 4)
    a = max(0, ws - slack)
    b = min(len(text), we + slack)
    while a > 0 and text[a - 1] != " ":
        a -= 1
    while b < len(text) and text[b] != " ":
        b += 1
    w_tokens = _tokens(text, a, b)
    q_words = [query[s:e] for s, e in _tokens(query)]
    w_words = [text[s:e] for s, e in w_tokens]
    if not w_tokens or not q_words:
        return ws, we
    sm = SequenceMatcher(None, w_words, q_words, autojunk=False)
    blocks = [blk for blk in sm.get_matching_blocks() if blk.size]
    if not blocks:
        return w_tokens[0][0], w_tokens[-1][1]
    first, last = blocks[0], blocks[-1]
    # Query words before the first agreement, or after the last, stand for as many
    # source words on that side (a changed first or last word).
    i0 = max(0, first.a - first.b)
    i1 = min(len(w_tokens), last.a + last.size + (len(q_words) - last.b - last.size))
    return w_tokens[i0][0], w_tokens[i1 - 1][1]


def _word_diff(st: SourceText, ws: int, we: int, query: str, span: str,
               q_starts: tuple[int, ...], q_ends: tuple[int, ...]) -> str:
    """A word diff of the source window against the card text, source words shown as
    in the source and card words as the card wrote them: "... signed [-June-] {+July+} ..."."""
    text = st.text
    w_tokens = _tokens(text, ws, we)
    q_tokens = _tokens(query)
    w_words = [text[s:e] for s, e in w_tokens]
    q_words = [query[s:e] for s, e in q_tokens]

    def words_back(i2: int, floor: int) -> int:
        """Start of the run of DIFF_CONTEXT words (punctuation not counted) ending at i2."""
        count, i = 0, i2
        while i > floor and count < DIFF_CONTEXT:
            i -= 1
            count += w_words[i][0].isalnum()
        return i

    def words_on(i1: int, ceiling: int) -> int:
        count, i = 0, i1
        while i < ceiling and count < DIFF_CONTEXT:
            count += w_words[i][0].isalnum()
            i += 1
        while i < ceiling and not w_words[i][0].isalnum():
            i += 1  # punctuation closing the last context word
        return i

    def src(i: int, j: int) -> str:
        if i >= j:
            return ""
        return st.passage(w_tokens[i][0], w_tokens[j - 1][1])

    def card(i: int, j: int) -> str:
        if i >= j:
            return ""
        if q_starts:
            return " ".join(span[q_starts[q_tokens[i][0]]:q_ends[q_tokens[j - 1][1] - 1]].split())
        return " ".join(q_words[i:j])

    ops = SequenceMatcher(None, w_words, q_words, autojunk=False).get_opcodes()
    if all(op[0] == "equal" for op in ops):
        return ""
    parts: list[str] = []
    for k, (tag, i1, i2, j1, j2) in enumerate(ops):
        if tag != "equal":
            if i2 > i1:
                parts.append(f"[-{src(i1, i2)}-]")
            if j2 > j1:
                parts.append(f"{{+{card(j1, j2)}+}}")
            continue
        before, after = k > 0, k < len(ops) - 1  # a change before / after this run
        lead = words_on(i1, i2) if before else i1  # context after the previous change
        trail = words_back(i2, lead) if after else i2  # context before the next change
        if before:
            parts.append(src(i1, lead))
        if trail > lead:
            parts.append("...")
        if after:
            parts.append(src(max(lead, trail), i2))
    return " ".join(p for p in parts if p)
