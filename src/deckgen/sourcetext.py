"""Source texts made searchable without losing the way back to the original.

A source is stored exactly as received. `load_source_text` builds one normalised
string from it (typography, footnote apparatus and markup removed, case-folded)
together with the raw offset of every normalised character, so that any match
in the normalised text can be reported at its original `path:line:col` and shown
as the author wrote it. `normalize` applies the very same character-level rules
to card text, so a card span compares directly with `SourceText.text`.

Every transformation is a pass over a `_Buf` (text plus, per character, the raw
range it came from; `normalize`, wanting only the text, goes without the ranges).
A pass rebuilds the buffer from slices and replacement pieces in one linear
sweep, so loading stays linear in the size of the source, and is skipped when
the characters it acts on are absent.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = [
    "Footnote",
    "Locator",
    "SourceText",
    "load_source_text",
    "read_source_text",
    "normalize",
    "normalize_with_offsets",
    "repair",
    "ELLIPSIS",
    "DASH",
]

ELLIPSIS = "…"  # the one form every ellipsis takes in normalised text
# Quotation marks are dropped from normalised text; apostrophes inside words stay as "'".
DASH = "-"  # the one form every dash and hyphen takes, with no space around it


# ftfy repairs mojibake and encoding damage only; quotes, line breaks and Unicode
# normalisation are handled by the passes below so that their offsets are tracked.
# A space is not taken for a lost no-break-space byte: white space is collapsed
# here, so that guess would make the repair depend on line breaks and spacing.
@lru_cache(maxsize=1)
def _ftfy() -> tuple[Callable[[str, Any], str], Any]:
    """ftfy's fixer and deckgen's configuration of it, imported on first use: a run whose
    sources are cached and whose cards are plain ASCII never needs it."""
    import ftfy

    config = ftfy.TextFixerConfig(
        unescape_html=False,
        restore_byte_a0=False,
        uncurl_quotes=False,
        fix_line_breaks=False,
        normalization=None,
        explain=True,  # ftfy passes this configuration to its encoding fixer only when explaining
    )
    return ftfy.fix_text, config


SUPERSCRIPT_DIGITS = "⁰¹²³⁴⁵⁶⁷⁸⁹"
_SUPER_TO_ASCII = str.maketrans(SUPERSCRIPT_DIGITS, "0123456789")

# Page furniture: whole lines that belong to the page, not to the text.
DEFAULT_FURNITURE = re.compile(r"(?:Выбрать главу|Choose chapter)", re.IGNORECASE)


@dataclass(frozen=True)
class Footnote:
    number: str  # "24"
    text: str  # the citation, whitespace collapsed: "Albert Resis, ed., *Molotov Remembers...*, 28."
    line: int  # 1-based line of the footnote in the raw file


@dataclass(frozen=True)
class Locator:
    pages: str  # "774-5", as written (white space collapsed)
    start: int  # normalised offset where the locator stood


# --------------------------------------------------------------------------------------
# Offset-tracking buffer
# --------------------------------------------------------------------------------------

# A piece of a rebuilt buffer: (replacement, a, b) where [a, b) is the range of the
# current text it stands for. replacement None copies text[a:b] unchanged. A
# replacement of the same length as its range maps character by character; any
# other replacement maps every one of its characters to the whole range.
Piece = tuple[str | None, int, int]
Repl = "str | list[Piece] | tuple[int, int, list[Piece]] | None"


# Offsets are 32-bit: half the memory, and half the bytes to cache and to pass between
# processes, of 64-bit ones. Sources are therefore limited to MAX_SOURCE_BYTES.
_OFFSET = "i"
MAX_SOURCE_BYTES = 1 << 30
_ZERO = array(_OFFSET, [0])
_BLOCK = 1 << 16


def counting(n: int) -> array:
    """The offsets 0, 1, ..., n - 1.

    Filling an array from ``range`` converts each number on its own (a quarter of a
    second for a 2.5 MB source). Here only the first block of 65,536 is; each further
    block is the first plus its start in every lane, added as one big integer: every
    lane stays below 2**31, so no carry crosses into the next lane.
    """
    first = array(_OFFSET, range(min(n, _BLOCK)))
    if n <= _BLOCK:
        return first
    order, width = sys.byteorder, first.itemsize
    first_lanes = int.from_bytes(first.tobytes(), order)
    one_per_lane = int.from_bytes((1).to_bytes(width, order) * _BLOCK, order)
    out = array(_OFFSET, first)
    for start in range(_BLOCK, n, _BLOCK):
        out.frombytes((first_lanes + start * one_per_lane).to_bytes(_BLOCK * width, order))
    del out[n:]
    return out


_COUNTING = array(_OFFSET)


class _Buf:
    """Text plus, per character, the raw [start, end) it came from.

    starts and ends are None when only the text is wanted (`normalize`): card text
    then goes through the very same passes without paying for offsets.
    """

    __slots__ = ("text", "starts", "ends")

    def __init__(self, text: str, starts: array | None, ends: array | None):
        self.text = text
        self.starts = starts
        self.ends = ends

    @classmethod
    def identity(cls, text: str, track: bool = True) -> _Buf:
        if not track:
            return cls(text, None, None)
        n = len(text)
        # Slicing a shared 0, 1, 2, ... array is a copy in C.
        global _COUNTING
        if len(_COUNTING) < n + 1:
            _COUNTING = counting(n + 1 + n // 4)  # room for sources a little larger
        return cls(text, _COUNTING[:n], _COUNTING[1:n + 1])

    def rebuild(self, edits: Iterable[tuple[int, int, Iterable[Piece]]]) -> _Buf:
        """Replace the ranges [a, b) (sorted, disjoint) by their pieces; keep the rest."""
        text = self.text
        track = self.starts is not None
        out: list[str] = []
        # Where the new offsets come from: (a, b) copies those of [a, b); (a, b, n)
        # gives each of n new characters the whole range [a, b).
        spans: list[tuple[int, int] | tuple[int, int, int]] = []
        pos = 0
        for a, b, pieces in edits:
            if a > pos:
                out.append(text[pos:a])
                if track:
                    spans.append((pos, a))
            for rep, pa, pb in pieces:
                if rep is None:
                    out.append(text[pa:pb])
                    if track and pb > pa:
                        spans.append((pa, pb))
                elif rep:
                    out.append(rep)
                    if track:
                        spans.append((pa, pb) if len(rep) == pb - pa else (pa, pb, len(rep)))
            pos = b
        if pos < len(text):
            out.append(text[pos:])
            if track:
                spans.append((pos, len(text)))
        new = "".join(out)
        if self.starts is None or self.ends is None:
            return _Buf(new, None, None)
        return _Buf(new, *_gather(self.starts, self.ends, spans, len(new)))

    def sub(self, pattern: re.Pattern[str] | _AtLineStarts, repl: Callable[[re.Match[str]], Repl]) -> _Buf:
        """Like re.sub, but offsets follow.

        repl returns None to keep the match; a string standing for the whole match;
        pieces replacing the whole match (text they do not cover is dropped); or
        (a, b, pieces) to replace another range, e.g. the match with the white space
        around it. Ranges are clipped so that they never overlap.
        """
        text = self.text
        edits = []
        last = 0
        for m in pattern.finditer(text):
            r = repl(m)
            if r is None:
                continue
            a, b = m.span()
            if isinstance(r, str):
                if r == text[a:b]:
                    continue
                pieces: list[Piece] = [(r, a, b)] if a < b else []
            elif isinstance(r, tuple):
                a, b, pieces = r
            else:
                pieces = r
            if a < last:
                a = last
                pieces = [p for p in pieces if p[1] >= a]
                if b < a:
                    continue
            last = b
            if len(pieces) == 1 and pieces[0][1] == a and pieces[0][2] == b and pieces[0][0] == text[a:b]:
                continue  # the range stands for itself (a lone "…"): nothing to rebuild
            edits.append((a, b, pieces))
        return self.rebuild(edits) if edits else self

    def offsets(self) -> tuple[array, array]:
        """starts and ends, of a buffer that tracks them."""
        assert self.starts is not None and self.ends is not None
        return self.starts, self.ends

    def retext(self, text: str) -> _Buf:
        """The same buffer after a one-to-one character mapping: offsets are unchanged."""
        if text == self.text:
            return self
        assert len(text) == len(self.text)
        return _Buf(text, self.starts, self.ends)

    def strip(self) -> _Buf:
        text = self.text
        a = len(text) - len(text.lstrip(" "))
        b = len(text.rstrip(" "))
        if a == 0 and b == len(text):
            return self
        if self.starts is None or self.ends is None:
            return _Buf(text[a:b], None, None)
        if b <= a:
            return _Buf("", array(_OFFSET), array(_OFFSET))
        return _Buf(text[a:b], self.starts[a:b], self.ends[a:b])


def _gather(starts: array, ends: array, spans: list[tuple[int, ...]], total: int) -> tuple[array, array]:
    """New offset arrays of `total` entries made of the given ranges of the old ones.

    The arrays are sized once and filled by buffer copies: growing an array of
    millions of entries piece by piece reallocates and copies it over and over.
    """
    new_starts = _ZERO * total
    new_ends = _ZERO * total
    with memoryview(starts) as s, memoryview(ends) as e, memoryview(new_starts) as ns, memoryview(new_ends) as ne:
        i = 0
        for span in spans:
            if len(span) == 2:
                a, b = span
                j = i + b - a
                ns[i:j] = s[a:b]
                ne[i:j] = e[a:b]
            else:
                a, b, n = span
                j = i + n
                ns[i:j] = array(_OFFSET, [starts[a]]) * n
                ne[i:j] = array(_OFFSET, [ends[b - 1]]) * n
            i = j
    return new_starts, new_ends


def _aligned_pieces(old: str, new: str, base: int = 0) -> list[Piece]:
    """Pieces turning old into new, aligned character by character where they agree.

    Used where a library (ftfy, NFC) rewrites text without saying what moved where.
    """
    if not old:
        return []
    n, m = len(old), len(new)
    p = 0
    limit = min(n, m)
    while p < limit and old[p] == new[p]:
        p += 1
    s = 0
    while s < limit - p and old[n - 1 - s] == new[m - 1 - s]:
        s += 1
    ops: list[tuple[str, int, int, int, int]] = []
    if p:
        ops.append(("equal", 0, p, 0, p))
    om, nm = old[p:n - s], new[p:m - s]
    if len(om) * len(nm) > 4_000_000:
        ops.append(("replace", p, n - s, p, m - s))
    elif om or nm:
        for tag, i1, i2, j1, j2 in SequenceMatcher(None, om, nm, autojunk=False).get_opcodes():
            ops.append((tag, p + i1, p + i2, p + j1, p + j2))
    if s:
        ops.append(("equal", n - s, n, m - s, m))

    pieces: list[Piece] = []
    pending = ""  # inserted text still looking for a character of old to attach to
    for tag, i1, i2, j1, j2 in ops:
        if tag == "insert":
            if pieces:
                rep, a, b = pieces.pop()
                if rep is None:
                    if b - a > 1:
                        pieces.append((None, a, b - 1))
                    pieces.append((old[b - 1 - base] + new[j1:j2], b - 1, b))
                else:
                    pieces.append((rep + new[j1:j2], a, b))
            else:
                pending += new[j1:j2]
            continue
        if tag == "delete":
            continue
        a, b = base + i1, base + i2
        if tag == "equal":
            if pending:
                pieces.append((pending + old[i1], a, a + 1))
                pending = ""
                if b > a + 1:
                    pieces.append((None, a + 1, b))
            else:
                pieces.append((None, a, b))
        else:
            pieces.append((pending + new[j1:j2], a, b))
            pending = ""
    if pending:
        pieces.append((pending, base, base + 1) if not pieces else (pending, base + n - 1, base + n))
    return pieces


# --------------------------------------------------------------------------------------
# Character-level normalisation, shared by sources and card text
# --------------------------------------------------------------------------------------

class _Chars:
    """Characters a pass acts on, looked for (and replaced) one by one.

    A substring test per character is a fast search even in a long text, where a
    regex scan for a character class is not, so passes whose characters are absent
    are skipped cheaply. Text that is all ASCII (known in constant time) is
    searched for the ASCII ones only.
    """

    __slots__ = ("chars", "every", "ascii", "replacements")

    def __init__(self, chars: str | Mapping[str, str]) -> None:
        self.replacements = dict(chars) if isinstance(chars, Mapping) else {}
        self.chars = "".join(chars)
        self.every = tuple(self.chars)
        self.ascii = tuple(c for c in self.chars if c.isascii())

    def found_in(self, text: str) -> bool:
        for c in self.ascii if text.isascii() else self.every:
            if c in text:
                return True
        return False

    def replace(self, text: str) -> str:
        """Each character replaced by its replacement, one character: offsets stay."""
        for c in self.ascii if text.isascii() else self.every:
            if c in text:
                text = text.replace(c, self.replacements[c])
        return text


_QUOTES = {
    **{c: "'" for c in "‘’‚‛′‵‹›ʼ＇"},
    **{c: '"' for c in "“”„‟″‶«»＂〝〞"},
}
_QUOTE_CHARS = _Chars(_QUOTES)
_SUPERSCRIPT_CHARS = _Chars(SUPERSCRIPT_DIGITS)


class _AtLineStarts:
    """A pattern that can match only at the start of a line, once the line's spaces and tabs
    are behind it, at one of ``firsts``: its matches, found from those characters (a fast
    search) rather than by trying the pattern at every position of a long text."""

    __slots__ = ("pattern", "firsts")

    def __init__(self, pattern: str, firsts: str):
        self.pattern = re.compile(pattern, re.MULTILINE)
        self.firsts = firsts

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        starts = set()
        for first in self.firsts:
            at = text.find(first)
            while at != -1:
                start = text.rfind("\n", 0, at) + 1
                if not text[start:at].strip(" \t"):
                    starts.add(start)
                end = text.find("\n", at)
                at = -1 if end == -1 else text.find(first, end)
        for start in sorted(starts):
            if (m := self.pattern.match(text, start)) is not None:
                yield m


# Patterns start with a distinctive character where possible, written as a literal
# or a character class rather than a repeat or an alternation ("\*\**", not "\*+"):
# the regex engine then searches for it fast, where otherwise it tries the pattern
# at every position of a long text. Surrounding white space is taken in by the
# callbacks.
_INVISIBLE_CHARS = _Chars("\u00ad\u180e\u200b\u200c\u200d\u2060\ufeff")
_INVISIBLE = re.compile(f"[{_INVISIBLE_CHARS.chars}][{_INVISIBLE_CHARS.chars}]*")
# Markdown block markers at the start of a line: headings and block quotes.
_LINE_MARKUP = _AtLineStarts(r"^[ \t]*(?:#{1,6}[ \t]+|>[ \t]*)+", "#>")
# In-text note markers: a run of superscript digits, or a markdown footnote
# reference "[^…]".
_MARKER = re.compile(r"[⁰¹²³⁴⁵⁶⁷⁸⁹\[](?:(?<=[⁰¹²³⁴⁵⁶⁷⁸⁹])[⁰¹²³⁴⁵⁶⁷⁸⁹]*|(?<=\[)\^([^\]\s]{1,20})\])")
# A page locator closing a passage: "(772)", "(774-5)", "(pp. 12, 14-16)".
_LOCATOR = re.compile(
    r"\((?:pp?\.?[ \t]*)?"
    r"(\d{1,4}(?:[ \t]*[-‐‑‒–—][ \t]*\d{1,4})?(?:[ \t]*,[ \t]*\d{1,4}(?:[ \t]*[-‐‑‒–—][ \t]*\d{1,4})?)*)"
    r"\)"
)
_YEAR = re.compile(r"(?:1[5-9]|20)\d\d")
# Endnote numbers glued to sentence punctuation or a closing quote: "concealed.176".
_ENDNOTE = re.compile(r"[.!?;:)\]\"'…](\d{1,3})(?!\S)")
_ELLIPSIS = re.compile(r"\[[ \t\u00a0]*(?:…|\.(?:[ \u00a0]?\.){2,})[ \t\u00a0]*\]|…|\.(?:[ \u00a0]?\.){2,}")
_DASH_CHARS = _Chars("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043\ufe58\ufe63\uff0d")
# A run of dashes, unless it is a lone DASH with no white space either side (most
# hyphens): the rules keep that as it is. After its first dash the run is taken if
# white space stands before it or after it, if it goes on, or if that dash is not
# DASH.
_ANY_DASH = f"[{re.escape(_DASH_CHARS.chars)}]"
_OTHER_DASH = f"[{re.escape(_DASH_CHARS.chars.replace(DASH, ''))}]"
_DASH_RULE = rf"(?:(?<=\s{_ANY_DASH}){_ANY_DASH}*|{_ANY_DASH}*(?=\s)|{_ANY_DASH}+|(?<={_OTHER_DASH}))"
_DASH = re.compile(f"{_ANY_DASH}{_DASH_RULE}")
_OTHER_DASH_CHARS = _Chars(_DASH_CHARS.chars.replace(DASH, ""))
# The same rule for text whose only dash is DASH: a pattern that starts with one character the
# regex engine finds with a fast search, where it tries a character class at every position.
_HYPHEN = re.compile(f"{re.escape(DASH)}{_DASH_RULE}")
_ESCAPE = re.compile(r"\\\\*(?=[!-/:-@\[\]^-`{-~])")
_ASTERISK = re.compile(r"\*\**")
_UNDERSCORE = re.compile(r"__*")
# A quotation mark, unless an apostrophe between two letters or digits ([^\W_],
# as str.isalnum() has them): "Stalin's" is spelling.
_QUOTE_MARK = re.compile(r"""["'](?:(?<=")|(?<![^\W_]')|(?![^\W_]))""")
# The same, for text with apostrophes but no double quotes (a fast search, as `_HYPHEN`).
_LOOSE_QUOTE = re.compile(r"""'(?:(?<![^\W_]')|(?![^\W_]))""")
# What str.isspace() and the regex \s take for white space, other than " " itself.
_WHITE_SPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)
_SPACE_FOR_WHITE = _Chars({c: " " for c in _WHITE_SPACE})
_SPACE_RUN = re.compile("  +")
_NON_ASCII_CHUNK = re.compile(r"[\x00-\x7f]?[^\x00-\x7f]+")
_CASE_CHUNK = re.compile(r"[A-Z][A-Z]*|[^\x00-\x7f][^\x00-\x7f]*")
# Characters that never take part in mojibake: printable ASCII and common typography.
# Text made only of these is left to the other passes without calling ftfy. (The
# pattern opens with a class, as the ones above do.)
_DIRTY_CHAR = "[^\t\n\r\x20-\x7e\u00a0“”‘’‚„–—…•«»‹›¹²³⁰⁴-⁹]"
_DIRTY = re.compile(f"{_DIRTY_CHAR}{_DIRTY_CHAR}*")


class _Record:
    """What the first pass over a source removes but must remember (raw offsets)."""

    def __init__(self) -> None:
        self.markers: list[tuple[int, str]] = []
        self.locators: list[tuple[int, str]] = []


def _ftfy_regions(text: str) -> list[tuple[int, int]]:
    """The stretches of text worth showing to ftfy: runs of words holding a character
    that can take part in mojibake."""
    if text.isascii() and text.isprintable():
        return []  # the scan below is slow, and finds nothing in printable ASCII
    regions: list[tuple[int, int]] = []
    n = len(text)
    for m in _DIRTY.finditer(text):
        a, b = m.span()
        while a > 0 and not text[a - 1].isspace():
            a -= 1
        while b < n and not text[b].isspace():
            b += 1
        if regions and (a <= regions[-1][1] or not text[regions[-1][1]:a].strip()):
            regions[-1] = (regions[-1][0], max(b, regions[-1][1]))
        else:
            regions.append((a, b))
    return regions


def _ftfy_edits(text: str, base: int = 0) -> tuple[str, list[tuple[int, int, list[Piece]]]]:
    """ftfy's repair of text, as the fixed text and the edits producing it."""
    edits = []
    out = []
    pos = 0
    for a, b in _ftfy_regions(text):
        old = text[a:b]
        fix_text, config = _ftfy()
        new = fix_text(old, config)
        if new != old:
            out.append(text[pos:a])
            out.append(new)
            pos = b
            edits.append((base + a, base + b, _aligned_pieces(old, new, base + a)))
    if not edits:
        return text, []
    out.append(text[pos:])
    return "".join(out), edits


def repair(text: str) -> str:
    """ftfy's repair of mojibake and encoding damage, as applied to sources and cards."""
    return _ftfy_edits(text)[0]


def _ftfy_pass(buf: _Buf) -> _Buf:
    _, edits = _ftfy_edits(buf.text)
    return buf.rebuild(edits) if edits else buf


def _is_upper_follow(text: str, end: int) -> bool:
    """After a candidate endnote: end of text, end of line, or a capitalised word."""
    i = end
    n = len(text)
    while i < n and text[i].isspace():
        if text[i] == "\n":
            return True
        i += 1
    return i == n or text[i].isupper()


def _endnote_candidates(text: str) -> list[tuple[int, int, bool]]:
    """(start, value, digit_before) for each glued number that could be an endnote."""
    out = []
    for m in _ENDNOTE.finditer(text):
        a = m.start(1)
        if not _is_upper_follow(text, m.end()):
            continue
        digit_before = text[a - 1] == "." and a >= 2 and text[a - 2].isdigit()
        out.append((a, int(m.group(1)), digit_before))
    return out


def _endnote_chain(cands: list[tuple[int, int, bool]], min_length: int = 3, max_step: int = 3) -> set[int]:
    """Start offsets of the candidates forming runs of consecutive note numbers.

    Only a numbered run tells an endnote after a figure ("2,600.175") from a
    decimal ("2.2"); a lone number glued to a figure is left alone.
    """
    n = len(cands)
    length = [1] * n
    prev = [-1] * n
    best: dict[int, tuple[int, int]] = {}
    for i, (_, value, _) in enumerate(cands):
        for step in range(1, max_step + 1):
            t = best.get(value - step)
            if t is not None and t[0] + 1 > length[i]:
                length[i], prev[i] = t[0] + 1, t[1]
        t = best.get(value)
        if t is None or t[0] <= length[i]:
            best[value] = (length[i], i)
    chosen: set[int] = set()
    for i in range(n - 1, -1, -1):
        if length[i] >= min_length and cands[i][0] not in chosen:
            j = i
            while j >= 0 and cands[j][0] not in chosen:
                chosen.add(cands[j][0])
                j = prev[j]
    return chosen


def _ws_left(text: str, i: int) -> int:
    while i > 0 and text[i - 1].isspace():
        i -= 1
    return i


def _ws_right(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i].isspace():
        i += 1
    return i


def _core(buf: _Buf, record: _Record | None = None) -> _Buf:
    """The character-level rules. With a record (a source's first pass), removed
    markers and locators are remembered and endnote runs are recognised."""
    if "\r" in buf.text:
        buf = buf.sub(re.compile(r"\r\n?"), lambda m: "\n")
    if _INVISIBLE_CHARS.found_in(buf.text):
        buf = buf.sub(_INVISIBLE, lambda m: [])
    buf = buf.retext(_QUOTE_CHARS.replace(buf.text))
    if "#" in buf.text or ">" in buf.text:
        buf = buf.sub(_LINE_MARKUP, lambda m: [])

    def marker(m: re.Match[str]) -> list[Piece]:
        if record is not None:
            number = m.group(1) or m.group().translate(_SUPER_TO_ASCII)
            record.markers.append((buf.offsets()[0][m.start()], number))
        return []

    if _SUPERSCRIPT_CHARS.found_in(buf.text) or "[^" in buf.text:
        buf = buf.sub(_MARKER, marker)

    def locator(m: re.Match[str]) -> Repl:
        pages = m.group(1)
        if _YEAR.fullmatch(pages) and not m.group()[1:].startswith("p"):
            return None
        # A locator closes a passage: the line, the text or the sentence ends after it.
        text = buf.text
        after = m.end()
        while after < len(text) and text[after] in " \t":
            after += 1
        if after < len(text) and text[after] in ".,;:":
            after += 1
        if after < len(text) and not text[after].isspace():
            return None
        if not _is_upper_follow(text, after):
            return None
        a = m.start()
        while a > 0 and text[a - 1] in " \t\u00a0":
            a -= 1
        if record is not None:
            record.locators.append((buf.offsets()[0][a], " ".join(pages.split())))
        return (a, m.end(), [])

    if "(" in buf.text:
        buf = buf.sub(_LOCATOR, locator)

    cands = _endnote_candidates(buf.text)
    if cands:
        chain = _endnote_chain(cands) if record is not None else set()
        remove = {a for a, _, digit_before in cands if not digit_before or a in chain}

        def endnote(m: re.Match[str]) -> Repl:
            a, b = m.span(1)
            if a not in remove:
                return None
            if record is not None:
                record.markers.append((buf.offsets()[0][a], m.group(1)))
            return (a, b, [])

        buf = buf.sub(_ENDNOTE, endnote)

    if "\\" in buf.text:
        buf = buf.sub(_ESCAPE, lambda m: [])
    if "*" in buf.text:
        buf = buf.sub(_ASTERISK, lambda m: [])

    def underscore(m: re.Match[str]) -> Repl:
        # Emphasis, not a word-internal underscore: "_Pravda_" but not "snake_case".
        text = buf.text
        a, b = m.span()
        before = a > 0 and text[a - 1].isalnum()
        after = b < len(text) and text[b].isalnum()
        return None if before == after else []

    if "_" in buf.text:
        buf = buf.sub(_UNDERSCORE, underscore)

    # Quotation marks are typography: a card may flatten nested quotes or leave
    # out the outer ones.
    if '"' in buf.text:
        buf = buf.sub(_QUOTE_MARK, lambda m: [])
    elif "'" in buf.text:
        buf = buf.sub(_LOOSE_QUOTE, lambda m: [])

    # White space around ellipses and dashes goes only now that the quotation
    # marks that may stand between them are gone.
    def ellipsis(m: re.Match[str]) -> Repl:
        text = buf.text
        a, b = m.span()
        return (_ws_left(text, a), _ws_right(text, b), [(ELLIPSIS, a, b)])

    if "…" in buf.text or ".." in buf.text or ". ." in buf.text or ".\u00a0." in buf.text:
        buf = buf.sub(_ELLIPSIS, ellipsis)

    def dash(m: re.Match[str]) -> Repl:
        text = buf.text
        a, b = m.span()
        left, right = _ws_left(text, a), _ws_right(text, b)
        # Line-end hyphenation: a hyphen closing a line, between two letters, with a
        # lower-case letter going on: the word is joined.
        if (text[a:b] == "-" and 0 < a and right < len(text) and text[a - 1].isalpha()
                and text[right].islower() and "\n" in text[b:right] and text[b:right].count("\n") == 1
                and not text[left:a]):
            return (a, right, [])
        return (left, right, [(DASH, a, b)])

    if _OTHER_DASH_CHARS.found_in(buf.text):
        buf = buf.sub(_DASH, dash)
    elif DASH in buf.text:
        buf = buf.sub(_HYPHEN, dash)
    # Every white space character becomes a space standing for itself, then a run
    # of spaces becomes one, standing for the run's first character.
    buf = buf.retext(_SPACE_FOR_WHITE.replace(buf.text))
    if "  " in buf.text:
        buf = buf.sub(_SPACE_RUN, lambda m: [(" ", m.start(), m.start() + 1)])
    buf = buf.strip()
    buf = _nfc(buf)
    buf = _casefold(buf)
    buf = _nfc(buf)
    return buf


def _nfc(buf: _Buf) -> _Buf:
    if unicodedata.is_normalized("NFC", buf.text):
        return buf

    # ASCII characters never combine with what precedes them, so NFC can work
    # chunk by chunk, each chunk starting at most at one ASCII character.
    def chunk(m: re.Match[str]) -> list[Piece] | None:
        g = m.group()
        n = unicodedata.normalize("NFC", g)
        if n == g:
            return None
        return _aligned_pieces(g, n, m.start())

    return buf.sub(_NON_ASCII_CHUNK, chunk)


def _casefold(buf: _Buf) -> _Buf:
    text = buf.text
    folded = text.casefold()
    if folded == text:
        return buf
    if len(folded) == len(text):
        return _Buf(folded, buf.starts, buf.ends)

    def chunk(m: re.Match[str]) -> list[Piece]:
        g = m.group()
        f = g.casefold()
        if len(f) == len(g):
            return [(f, m.start(), m.end())]
        return [(c.casefold(), m.start() + i, m.start() + i + 1) for i, c in enumerate(g)]

    return buf.sub(_CASE_CHUNK, chunk)


# Lower-case letters and digits, spaces, and punctuation that no rule acts on where it stands
# in `_settled` text: a hyphen with no space or other dash beside it, an apostrophe inside a
# word, and the other marks where they glue no number to themselves (an endnote) and make no
# ellipsis.
_PLAIN_CHARS = re.compile(r"[a-z0-9,.;:!?' -]+")
_LOOSE_APOSTROPHE = re.compile(r"(?<![a-z0-9])'|'(?![a-z0-9])")


def _settled(text: str) -> bool:
    """Whether the rules leave ``text`` as it is, judged without applying them (in a third of
    the time): most card text is of this kind once it has been through them once."""
    if not text or text[0] == " " or text[-1] == " " or _PLAIN_CHARS.fullmatch(text) is None:
        return False
    if "  " in text or ".." in text or ". ." in text or "--" in text or " -" in text or "- " in text:
        return False
    if "'" in text and _LOOSE_APOSTROPHE.search(text) is not None:
        return False
    return _ENDNOTE.search(text) is None


def _settle(buf: _Buf, limit: int = 8) -> _Buf:
    """Apply the rules until nothing changes (a removal can expose something the
    rules act on), so that normalising is idempotent."""
    for _ in range(limit):
        if _settled(buf.text):
            return buf
        nxt = _core(buf)
        if nxt.text == buf.text:
            return buf
        buf = nxt
    return buf


def _normalize_buf(s: str, track: bool) -> _Buf:
    # ftfy sees the text as written, never a normalised one: case-folded, joined
    # text can look like mojibake it is not. Text that the rules leave unchanged is
    # already normal (so normalising is idempotent) and is not shown to ftfy.
    plain = _Buf.identity(s, track)
    first = _core(plain)
    if first.text == s:
        return plain
    fixed = _ftfy_pass(plain)
    return _settle(first if fixed is plain else _core(fixed))


def normalize(s: str) -> str:
    """The searchable form of a card string; comparable with `SourceText.text`."""
    quick = _plainly_normal(s)
    return quick if quick is not None else _normalize_buf(s, track=False).text


_DASH_RUN = re.compile(f"{_ANY_DASH}{_ANY_DASH}*")


def _plainly_normal(s: str) -> str | None:
    """The normal form of text that needs only the rules a few string operations can apply, as
    most card text does: quotation marks straightened and then dropped, *emphasis* marks
    dropped, dashes joined to their neighbours, spaces collapsed, letters lower-cased. None for
    other text.

    Such text is printable ASCII once its dashes are joined, has no character ftfy would be
    shown and no number glued to punctuation (an endnote), and the rules leave it as it is once
    this is done. The rules that read letter case (locators, note numbers, hyphenation) then
    have nothing to act on: they need a bracket, a glued number or a line break. The rules
    that act on it act in the order the rules do, so that each sees the text it would see."""
    if not s.isascii() and _DIRTY.search(s) is not None:
        return None
    text = _QUOTE_CHARS.replace(s)
    if _ENDNOTE.search(text) is not None:
        return None
    if "*" in text:
        text = _ASTERISK.sub("", text)
    if '"' in text or "'" in text:
        text = _QUOTE_MARK.sub("", text)
    if not text.isascii():
        text = _DASH_RUN.sub(DASH, text)
        if not text.isascii():
            return None
    if "  " in text:
        text = _SPACE_RUN.sub(" ", text)
    if "-" in text:
        # The dash rule takes in the white space beside a run of dashes. Two runs with only
        # spaces between them come out as "--", which `_settled` refuses.
        text = text.replace(" -", DASH).replace("- ", DASH)
    lowered = text.strip(" ").lower()
    return lowered if _settled(lowered) else None


def normalize_with_offsets(s: str) -> tuple[str, tuple[int, ...], tuple[int, ...]]:
    """normalize(s), with the [start, end) range of s behind each normalised character."""
    buf = _normalize_buf(s, track=True)
    starts, ends = buf.offsets()
    return buf.text, tuple(starts), tuple(ends)


# --------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
_NOTE_LINE = re.compile(r"[ \t]*(?:([⁰¹²³⁴⁵⁶⁷⁸⁹]+)[ \t\u00a0]+|\[\^([^\]\s]{1,20})\]:[ \t]*)(?=\S)")
_SENTENCE_FINAL = re.compile(r"[.!?…:][\"'”’»)\]*_]*[⁰¹²³⁴⁵⁶⁷⁸⁹\d]*[ \t]*$")
_CLOSERS = "\"')]"
# A sentence's closing mark and the closers after it.
_SENTENCE_CLOSE = rf"[.!?…][{re.escape(_CLOSERS)}]*"
_SENTENCE_END = re.compile(rf"{_SENTENCE_CLOSE}(?= |$)")
_SENTENCE_CLOSED = re.compile(rf"{_SENTENCE_CLOSE}$")


@dataclass(frozen=True, eq=False)
class SourceText:
    raw: str  # the file as decoded (UTF-8, BOM stripped), untouched
    text: str  # normalised searchable text
    raw_offsets: array  # len(text)+1 entries: raw offset of each normalised char, then len(raw)
    footnotes: Mapping[str, Footnote]  # first definition of each note number
    references: tuple[tuple[int, str], ...]  # (normalised offset, note number) of each in-text marker
    locators: tuple[Locator, ...]
    # Normalised offsets where a page-break block of footnotes was cut out, with its note numbers.
    note_blocks: tuple[tuple[int, tuple[str, ...]], ...] = ()
    raw_ends: array = field(default_factory=lambda: array(_OFFSET), repr=False)  # raw end of each normalised char
    paragraphs: tuple[int, ...] = field(default=(), repr=False)  # normalised offsets where paragraphs start
    # Raw ranges cut out (notes, furniture), in order.
    removed: tuple[tuple[int, int], ...] = field(default=(), repr=False)
    line_starts: tuple[int, ...] = field(default=(0,), repr=False)
    reference_notes: tuple[Footnote | None, ...] = field(default=(), repr=False)  # per reference, its definition

    def __post_init__(self) -> None:
        object.__setattr__(self, "_reference_offsets", tuple(r[0] for r in self.references))
        object.__setattr__(self, "_locator_starts", tuple(loc.start for loc in self.locators))
        object.__setattr__(self, "_removed_ends", [cb for _, cb in self.removed])

    # -- offsets -------------------------------------------------------------------------

    def raw_span(self, start: int, end: int) -> tuple[int, int]:
        """Normalised [start, end) -> raw [start, end)."""
        n = len(self.text)
        start = max(0, min(start, n))
        end = max(start, min(end, n))
        if start == end:
            r = self.raw_offsets[start]
            return r, r
        return self.raw_offsets[start], max(self.raw_ends[end - 1], self.raw_offsets[start])

    def line_col(self, raw_offset: int) -> tuple[int, int]:
        """1-based line and column (in characters) of a raw offset."""
        i = bisect_right(self.line_starts, raw_offset) - 1
        return i + 1, raw_offset - self.line_starts[i] + 1

    def line(self, number: int) -> str:
        """Raw line `number` (1-based) without its line break; "" when out of range."""
        if not 1 <= number <= len(self.line_starts):
            return ""
        a = self.line_starts[number - 1]
        b = self.line_starts[number] if number < len(self.line_starts) else len(self.raw)
        return self.raw[a:b].rstrip("\r\n")

    def passage(self, start: int, end: int, context: int = 0) -> str:
        """The original text behind a normalised span (± context normalised chars),
        without cut-out footnote blocks, white space collapsed."""
        return self._between(max(0, start - context), min(len(self.text), end + context), self._words_source())

    def in_context(self, start: int, end: int, context: int) -> tuple[str, str, str]:
        """The passages of a normalised span and of the ``context`` characters either side of
        it: ``passage(start - context, start)``, ``passage(start, end)`` and ``passage(end, end +
        context)``, taken together (a check takes one for every card it anchors)."""
        n = len(self.text)
        spaced = self._words_source()
        return (self._between(max(0, start - context), min(n, start), spaced),
                self._between(max(0, start), min(n, end), spaced),
                self._between(max(0, end), min(n, end + context), spaced))

    def _between(self, a: int, b: int, spaced: _SpacedRaw | _PlainRaw) -> str:
        """The passage of the normalised range [a, b), its bounds already clipped to the text."""
        if b <= a:
            return ""
        ra = self.raw_offsets[a]
        return self._words(ra, max(self.raw_ends[b - 1], ra), spaced)  # raw_span(a, b), inline

    def _words(self, ra: int, rb: int, spaced: _SpacedRaw | _PlainRaw) -> str:
        """The words of raw[ra:rb] outside the cut-out blocks, one space apart."""
        # The cut-out blocks are sorted and disjoint: those overlapping [ra, rb)
        # follow one another from the first ending after ra. They split [ra, rb)
        # into pieces whose words, in order, are the passage.
        removed = self.removed
        i = bisect_right(self._removed_ends, ra)  # type: ignore[attr-defined]
        if i == len(removed) or removed[i][0] >= rb:
            return spaced.words(ra, rb)
        words = []
        pos = ra
        while i < len(removed) and removed[i][0] < rb:
            ca, cb = removed[i]
            if ca > pos:
                words.append(spaced.words(pos, ca))
            pos = max(pos, cb)
            i += 1
        if pos < rb:
            words.append(spaced.words(pos, rb))
        return " ".join(w for w in words if w)

    def _words_source(self) -> _SpacedRaw | _PlainRaw:
        """Where passages take their words from: the raw text itself for the first few (a
        rebuild after an edit asks for a handful), then a white-space-collapsed copy made
        once, which makes each of the many a check asks for a slice."""
        spaced = self.__dict__.get("_spaced")
        if spaced is not None:
            return spaced
        asked = self.__dict__.get("_passages", 0) + 1
        object.__setattr__(self, "_passages", asked)
        if asked <= _PLAIN_PASSAGES:
            return _PlainRaw(self.raw)
        spaced = _SpacedRaw(self.raw)
        object.__setattr__(self, "_spaced", spaced)
        return spaced

    # -- apparatus -----------------------------------------------------------------------

    def _next_paragraph(self, offset: int) -> int:
        i = bisect_right(self.paragraphs, offset)
        return self.paragraphs[i] if i < len(self.paragraphs) else len(self.text)

    def _sentence_bound(self, start: int, end: int) -> int:
        text = self.text
        limit = self._next_paragraph(end)
        tail = text[max(start, end - 4):end]
        if _SENTENCE_CLOSED.search(tail):
            while end < len(text) and text[end] in _CLOSERS:
                end += 1
            return end
        m = _SENTENCE_END.search(text, end, limit)
        return m.end() if m else limit

    def _references_in(self, start: int, end: int) -> range:
        bound = self._sentence_bound(start, end)
        offsets = self._reference_offsets  # type: ignore[attr-defined]
        return range(bisect_left(offsets, start), bisect_right(offsets, bound))

    def notes_for(self, start: int, end: int) -> tuple[tuple[str, ...], tuple[Footnote, ...]]:
        """references_for and footnotes_for at once."""
        numbers: list[str] = []
        notes: list[Footnote] = []
        for i in self._references_in(start, end):
            number = self.references[i][1]
            if number not in numbers:
                numbers.append(number)
            note = self.reference_notes[i]
            if note is not None and note not in notes:
                notes.append(note)
        return tuple(numbers), tuple(notes)

    def references_for(self, start: int, end: int) -> tuple[str, ...]:
        """Numbers of the note markers inside the span or right after it (before the
        next sentence), whether or not the note itself is in the file."""
        return self.notes_for(start, end)[0]

    def footnotes_for(self, start: int, end: int) -> tuple[Footnote, ...]:
        """Footnotes referenced inside the span or by a marker right after it (before
        the next sentence)."""
        return self.notes_for(start, end)[1]

    def locator_after(self, end: int) -> Locator | None:
        """The page locator at or after a span end, within the same paragraph."""
        starts = self._locator_starts  # type: ignore[attr-defined]
        i = bisect_left(starts, end)
        if i == len(starts):
            return None
        loc = self.locators[i]
        return loc if loc.start <= self._next_paragraph(end) else None


# Passages of a source taken straight from its raw text before its collapsed copy is made.
_PLAIN_PASSAGES = 32


class _PlainRaw:
    """A raw text, its words taken as they are asked for."""

    __slots__ = ("raw",)

    def __init__(self, raw: str) -> None:
        self.raw = raw

    def words(self, a: int, b: int) -> str:
        return " ".join(self.raw[a:b].split())


class _SpacedRaw:
    """A raw text with every white space run as one space, and the way to it from
    raw offsets: collapsing white space once, rather than in every passage, makes
    a passage a slice."""

    __slots__ = ("text", "run_starts", "run_ends", "shifts")

    def __init__(self, raw: str) -> None:
        spaced = _SPACE_FOR_WHITE.replace(raw)
        pieces = []
        # Runs of two or more white space characters, each kept as its first one;
        # shifts[k] counts the characters left out before run k.
        self.run_starts: list[int] = []
        self.run_ends: list[int] = []
        self.shifts: list[int] = []
        pos = 0
        dropped = 0
        for m in _SPACE_RUN.finditer(spaced):
            a, b = m.span()
            pieces.append(spaced[pos:a + 1])
            self.run_starts.append(a)
            self.run_ends.append(b)
            self.shifts.append(dropped)
            dropped += b - a - 1
            pos = b
        pieces.append(spaced[pos:])
        self.text = "".join(pieces)

    def _index(self, r: int) -> int:
        """Where raw offset r falls in text; anywhere in a run is at the run's space."""
        k = bisect_right(self.run_starts, r) - 1
        if k < 0:
            return r
        a, b = self.run_starts[k], self.run_ends[k]
        if r < b:
            return a - self.shifts[k]
        return r - self.shifts[k] - (b - a - 1)

    def words(self, a: int, b: int) -> str:
        """The words of raw[a:b], one space apart (as " ".join(raw[a:b].split()))."""
        return self.text[self._index(a):self._index(b)].strip(" ")


def read_source_text(path: str | Path, **options: object) -> SourceText:
    """Load a source file (UTF-8, with or without BOM)."""
    raw = Path(path).read_bytes().decode("utf-8-sig")
    return load_source_text(raw, **options)  # type: ignore[arg-type]


@dataclass
class _Line:
    number: int  # 1-based
    start: int  # raw offset of the line
    end: int  # raw offset of its line break (or of the end of the file)
    eol_end: int  # raw offset after the line break
    fixed: str  # the line's content after ftfy
    edits: list[tuple[int, int, list[Piece]]]  # raw -> fixed (ftfy's repairs)
    kind: str = "body"  # body | blank | note | furniture
    note: str = ""  # the note number, on a note's first line
    continues_note: bool = False


def load_source_text(raw: str, *, furniture: re.Pattern[str] | None = DEFAULT_FURNITURE) -> SourceText:
    """Build the searchable form of a source, keeping the way back to the raw text.

    `furniture` matches whole lines that belong to the page rather than the text
    (site navigation and the like); they are left out of the searchable text.
    """
    if len(raw) > MAX_SOURCE_BYTES:
        raise ValueError(f"a source of {len(raw):,} characters is larger than the limit of {MAX_SOURCE_BYTES:,}")
    if raw.startswith("\ufeff"):
        raw = raw[1:]
    lines = _split_lines(raw)
    _classify(lines, furniture)

    # Stage one: the body lines, ftfy-repaired, with note blocks and furniture cut out.
    edits: list[tuple[int, int, list[Piece]]] = []
    removed: list[tuple[int, int]] = []
    paragraph_raw: list[int] = []
    blocks_raw: list[tuple[int, tuple[str, ...]]] = []
    notes: list[tuple[int, Footnote]] = []
    last_body: _Line | None = None
    i = 0
    while i < len(lines):
        ln = lines[i]
        if ln.kind == "body":
            edits.extend(ln.edits)
            if ln.eol_end > ln.end and raw[ln.end:ln.eol_end] != "\n":
                edits.append((ln.end, ln.eol_end, [("\n", ln.end, ln.eol_end)]))
            last_body = ln
            i += 1
            continue
        j = i
        while j < len(lines) and lines[j].kind != "body":
            j += 1
        run = lines[i:j]
        between = last_body is not None and j < len(lines)
        cut = [x for x in run if x.kind != "blank"]
        if not cut:
            if between:
                paragraph_raw.append(run[0].start)
            for x in run:
                edits.extend(x.edits)  # a "blank" line may hold characters ftfy removes
            i = j
            continue
        a, b = run[0].start, run[-1].eol_end
        removed.append((cut[0].start, cut[-1].eol_end))
        numbers: list[str] = []
        for k, x in enumerate(run):
            if x.kind == "note" and not x.continues_note:
                body = [x.fixed]
                for y in run[k + 1:]:
                    if not y.continues_note:
                        break
                    body.append(y.fixed)
                text = " ".join(" ".join(body).split())
                lead = _NOTE_LINE.match(text)
                notes.append((x.start, Footnote(x.note, text[lead.end():] if lead else text, x.number)))
                numbers.append(x.note)
        if numbers:
            blocks_raw.append((a, tuple(numbers)))
        # Between two body lines a note block either sits at a paragraph break or cuts
        # a sentence in two (a page break); only a paragraph break keeps a blank line.
        if between and (not numbers or _SENTENCE_FINAL.search(last_body.fixed)):  # type: ignore[union-attr]
            paragraph_raw.append(a)
            edits.append((a, b, [("\n", a, a + 1)]))
        else:
            edits.append((a, b, []))
        i = j

    buf = _Buf.identity(raw)
    if edits:
        buf = buf.rebuild(edits)
    record = _Record()
    buf = _settle(_core(buf, record))

    starts, ends = buf.offsets()
    text = buf.text
    n = len(text)
    raw_offsets = array(_OFFSET, starts)
    raw_offsets.append(len(raw))

    def to_norm(raw_offset: int) -> int:
        return bisect_left(starts, raw_offset)

    footnotes: dict[str, Footnote] = {}
    defs: dict[str, list[tuple[int, Footnote]]] = {}
    for raw_at, note in notes:
        footnotes.setdefault(note.number, note)
        defs.setdefault(note.number, []).append((raw_at, note))

    markers = sorted(record.markers)
    references = tuple((to_norm(r), number) for r, number in markers)
    locators = tuple(Locator(pages, to_norm(r)) for r, pages in sorted(record.locators))
    return SourceText(
        raw=raw,
        text=text,
        raw_offsets=raw_offsets,
        footnotes=MappingProxyType(footnotes),
        references=references,
        locators=locators,
        note_blocks=tuple((to_norm(r), numbers) for r, numbers in blocks_raw),
        raw_ends=ends,
        paragraphs=tuple(sorted({p for p in map(to_norm, paragraph_raw) if 0 < p < n})),
        removed=tuple(removed),
        line_starts=tuple(ln.start for ln in lines) or (0,),
        reference_notes=tuple(_resolve(defs.get(number, []), r) for r, number in markers),
    )


def _resolve(defs: list[tuple[int, Footnote]], raw_at: int) -> Footnote | None:
    """A marker's note: the first definition after it (notes follow their page), else the last."""
    if not defs:
        return None
    for at, note in defs:
        if at > raw_at:
            return note
    return defs[-1][1]


def _split_lines(raw: str) -> list[_Line]:
    # Only the lines holding a character ftfy could repair are shown to it: found in one
    # scan of the whole text (no such character is a line break), not line by line.
    dirty = [m.start() for m in _DIRTY.finditer(raw)]
    lines = []
    for start, content, eol_end in _segments(raw):
        end = start + len(content)
        at = bisect_left(dirty, start)
        if at < len(dirty) and dirty[at] < end:
            fixed, edits = _ftfy_edits(content, start)
        else:
            fixed, edits = content, []
        lines.append(_Line(len(lines) + 1, start, end, eol_end, fixed, edits))
    return lines


def _segments(raw: str) -> Iterator[tuple[int, str, int]]:
    """Each line's start, content (without its line break) and end after its line break, as
    `_LINE` finds them. Text whose line breaks are all line feeds is split in C, without the regex."""
    if "\r" in raw:
        for m in _LINE.finditer(raw):
            if m.group():
                yield m.start(), m.group().rstrip("\r\n"), m.end()
        return
    start = 0
    parts = raw.split("\n")
    last = len(parts) - 1
    for k, content in enumerate(parts):
        end = start + len(content)
        if k < last:
            yield start, content, end + 1
        elif content:  # a last line without a line break; nothing after a final one
            yield start, content, end
        start = end + 1


def _classify(lines: list[_Line], furniture: re.Pattern[str] | None) -> None:
    prev = "blank"
    for ln in lines:
        text = ln.fixed
        if not text.strip():
            ln.kind = "blank"
        elif furniture is not None and furniture.fullmatch(text.strip()):
            ln.kind = "furniture"
        elif prev != "body" and (m := _NOTE_LINE.match(text)):
            ln.kind = "note"
            ln.note = m.group(1).translate(_SUPER_TO_ASCII) if m.group(1) else m.group(2)
        elif prev == "note":
            # A note running on over several lines.
            ln.kind = "note"
            ln.continues_note = True
        prev = ln.kind
