"""A static HTML preview of a deck: every card as Anki shows it, and the sources it comes from.

The card faces are the note types' own templates and style sheet, filled in by
a small renderer of the part of Anki's template language deckgen's templates
use ({{Field}}, {{#Field}}, {{^Field}}, {{cloze:Field}}, {{FrontSide}}), which
the tests hold to the real Anki renderer. The site is written beside its
destination and swapped in whole, so a reader never sees half of it.
"""

from __future__ import annotations

import html
import os
from bisect import bisect_right
import re
import secrets
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from .coverage import CoverageReport, SourceCoverage, project_coverage
from . import errorcodes as codes
from .diagnostics import DeckgenError, Diagnostic, Location
from .models import CardEntry, Project
from .notetypes import NOTE_TYPES, NoteTypeSpec
from .pipeline import CheckResult, check_project, templates_dir_for
from .project import slugify
from .render import CompiledNoteType, Renderer, TemplateLoader, default_templates_dir, template_environment
from .sourcetext import SourceText

MARKER = ".deckgen-preview"
EXCERPT_CHARS = 160
# The card list lays out at most this many rows at once; a browser slows to a crawl on tens of thousands.
LIST_LIMIT = 500

# --------------------------------------------------------------------------------------
# Anki's template language, the part deckgen uses
# --------------------------------------------------------------------------------------


class AnkiTemplateError(ValueError):
    pass


@dataclass(frozen=True)
class _Text:
    text: str


@dataclass(frozen=True)
class _Replace:
    key: str
    filters: tuple[str, ...]  # in the order they apply


@dataclass(frozen=True)
class _Section:
    key: str
    negated: bool
    children: tuple[object, ...]


# Anki counts a field as empty when it holds nothing but white space, <br> and <div> tags.
_EMPTY_FIELD = re.compile(r"^(?:\s|</?(?:br|div) ?/?>)*$", re.IGNORECASE | re.DOTALL)


def field_is_empty(text: str) -> bool:
    return bool(_EMPTY_FIELD.match(text))


def _tokens(template: str) -> Iterable[tuple[str, str]]:
    pos, n = 0, len(template)
    while pos < n:
        open_at = template.find("{{", pos)
        if open_at == -1:
            yield "text", template[pos:]
            return
        if open_at > pos:
            yield "text", template[pos:open_at]
        close_at = template.find("}}", open_at + 2)
        if close_at == -1:
            raise AnkiTemplateError(f"unclosed '{{{{' at offset {open_at}")
        inner = template[open_at + 2:close_at].strip()
        if len(inner) >= 2 and inner[0] in "#^/":
            yield inner[0], inner[1:].strip()
        else:
            yield "field", inner
        pos = close_at + 2


def _parse(tokens: Iterable[tuple[str, str]]) -> tuple[object, ...]:
    stack: list[tuple[str | None, bool, list[object]]] = [(None, False, [])]
    for kind, value in tokens:
        if kind == "text":
            stack[-1][2].append(_Text(value))
        elif kind == "field":
            parts = value.split(":")
            stack[-1][2].append(_Replace(parts[-1].strip(), tuple(p.strip() for p in reversed(parts[:-1]))))
        elif kind in "#^":
            stack.append((value, kind == "^", []))
        else:
            key, negated, children = stack.pop() if len(stack) > 1 else (None, False, [])
            if key != value:
                raise AnkiTemplateError(f"'{{{{/{value}}}}}' closes {'nothing' if key is None else repr(key)}")
            stack[-1][2].append(_Section(key, negated, tuple(children)))
    if len(stack) > 1:
        raise AnkiTemplateError(f"'{{{{#{stack[-1][0]}}}}}' is never closed")
    return tuple(stack[0][2])


class AnkiTemplate:
    """One side of a card template, parsed once and rendered for many notes."""

    def __init__(self, text: str):
        self.source = text
        self.nodes = _parse(_tokens(text))

    def renders_with(self, nonempty: set[str]) -> bool:
        """Whether Anki would generate the card: some field it may show is non-empty.

        A section counts when it would be shown: its field non-empty, or empty if negated.
        """
        def shows(nodes: tuple[object, ...]) -> bool:
            for node in nodes:
                if isinstance(node, _Replace):
                    if node.key in nonempty and "type" not in node.filters:
                        return True
                elif isinstance(node, _Section) and (node.key in nonempty) != node.negated:
                    if shows(node.children):
                        return True
            return False

        return shows(self.nodes)

    def render(self, fields: Mapping[str, str], nonempty: set[str], ordinal: int, question: bool,
               front_side: str | None = None) -> str:
        out: list[str] = []
        self._render(self.nodes, fields, nonempty, ordinal, question, front_side, out)
        return "".join(out)

    def _render(self, nodes, fields, nonempty, ordinal, question, front_side, out) -> None:
        for node in nodes:
            if isinstance(node, _Text):
                out.append(node.text)
            elif isinstance(node, _Replace):
                if node.key == "FrontSide" and not node.filters:
                    out.append(front_side or "")
                    continue
                if node.key not in fields:
                    raise AnkiTemplateError(f"'{{{{{node.key}}}}}': there is no field called {node.key!r}")
                value = fields[node.key]
                for name in node.filters:
                    value = _apply_filter(name, value, ordinal, question)
                out.append(value)
            else:
                if node.key not in fields:
                    raise AnkiTemplateError(f"'{{{{#{node.key}}}}}': there is no field called {node.key!r}")
                if (node.key in nonempty) != node.negated:
                    self._render(node.children, fields, nonempty, ordinal, question, front_side, out)


def _apply_filter(name: str, value: str, ordinal: int, question: bool) -> str:
    if name == "cloze":
        return reveal_cloze(value, ordinal, question)
    if name == "text":
        return html.unescape(re.sub(r"<[^>]*>", "", value))
    raise AnkiTemplateError(f"the preview does not know Anki's {name!r} filter")


# --- cloze deletions, read as Anki reads them ---

_CLOZE_TOKEN = re.compile(r"\{\{c(\d+)::|\}\}")


@dataclass
class _Cloze:
    ordinal: int
    nodes: list[object] = field(default_factory=list)
    hint: str | None = None


def _parse_clozes(text: str) -> list[object]:
    output: list[object] = []
    open_clozes: list[_Cloze] = []

    def add_text(piece: str) -> None:
        if not piece:
            return
        if open_clozes:
            cloze = open_clozes[-1]
            if "::" in piece:
                piece, cloze.hint = piece.split("::", 1)
            cloze.nodes.append(piece)
        else:
            output.append(piece)

    pos = 0
    for m in _CLOZE_TOKEN.finditer(text):
        add_text(text[pos:m.start()])
        pos = m.end()
        if m.group(1) is not None:
            open_clozes.append(_Cloze(int(m.group(1))))
        elif open_clozes:
            cloze = open_clozes.pop()
            (open_clozes[-1].nodes if open_clozes else output).append(cloze)
        else:
            add_text("}}")
    add_text(text[pos:])
    # Deletions left open are text after all, as Anki shows them.
    while open_clozes:
        cloze = open_clozes.pop()
        pieces: list[object] = [f"{{{{c{cloze.ordinal}::"] + cloze.nodes
        if cloze.hint is not None:
            pieces.append("::" + cloze.hint)
        (open_clozes[-1].nodes if open_clozes else output).extend(pieces)
    return output


_ATTRIBUTE_ENTITIES = {'"': "&quot;", "&": "&amp;", "'": "&#x27;", "<": "&lt;", ">": "&gt;"}


def _encode_attribute(text: str) -> str:
    # Anki's attribute encoding: a few named entities, ASCII letters and digits as they are,
    # the rest of Latin-1 as hex references, everything beyond as it is.
    return "".join(
        _ATTRIBUTE_ENTITIES.get(c) or (c if (c.isascii() and c.isalnum()) or ord(c) > 255 else f"&#x{ord(c):02X};")
        for c in text
    )


def _reveal(cloze: _Cloze, ordinal: int, question: bool, found: list[bool], out: list[str]) -> None:
    active = cloze.ordinal == ordinal
    if active:
        found[0] = True
    if question and active:
        inner: list[str] = []
        for node in cloze.nodes:
            if isinstance(node, str):
                inner.append(node)
            else:
                _reveal(node, ordinal, False, found, inner)
        hint = cloze.hint if cloze.hint is not None else "..."
        out.append(f'<span class="cloze" data-cloze="{_encode_attribute("".join(inner))}" '
                   f'data-ordinal="{cloze.ordinal}">[{hint}]</span>')
        return
    out.append(f'<span class="{"cloze" if active else "cloze-inactive"}" data-ordinal="{cloze.ordinal}">')
    for node in cloze.nodes:
        if isinstance(node, str):
            out.append(node)
        else:
            _reveal(node, ordinal, question, found, out)
    out.append("</span>")


def reveal_cloze(text: str, ordinal: int, question: bool) -> str:
    """The cloze field as card ``ordinal`` (1-based) shows it; empty when that deletion is not in it."""
    out: list[str] = []
    found = [False]
    for node in _parse_clozes(text):
        if isinstance(node, str):
            out.append(node)
        else:
            _reveal(node, ordinal, question, found, out)
    return "".join(out) if found[0] else ""


def cloze_ordinals(text: str) -> list[int]:
    seen: set[int] = set()

    def walk(nodes: list[object]) -> None:
        for node in nodes:
            if isinstance(node, _Cloze):
                seen.add(node.ordinal)
                walk(node.nodes)

    walk(_parse_clozes(text))
    return sorted(n for n in seen if n > 0)


# --------------------------------------------------------------------------------------
# Cards as Anki shows them
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedCard:
    ordinal: int  # Anki's card ord, 0-based
    name: str  # the card template's name
    question: str
    answer: str


class NoteTypeFaces:
    """A note type's templates, parsed once, rendering every card of a note."""

    def __init__(self, compiled: CompiledNoteType):
        self.spec: NoteTypeSpec = compiled.spec
        self.css = compiled.css
        self.templates = [(name, AnkiTemplate(q), AnkiTemplate(a)) for name, _, q, a in compiled.templates]
        self.cloze_fields = sorted({
            node.key for _, q, a in self.templates for node in _walk(q.nodes + a.nodes)
            if isinstance(node, _Replace) and "cloze" in node.filters
        })

    def cards(self, values: list[str]) -> list[RenderedCard]:
        fields = dict(zip(self.spec.field_names, values))
        nonempty = {name for name, value in fields.items() if not field_is_empty(value)}
        cards = []
        if self.spec.is_cloze:
            name, q, a = self.templates[0]
            numbers = sorted({n for f in self.cloze_fields for n in cloze_ordinals(fields.get(f, ""))}) or [1]
            for number in numbers:
                question = q.render(fields, nonempty, number, True)
                answer = a.render(fields, nonempty, number, False, question)
                cards.append(RenderedCard(number - 1, name, question, answer))
            return cards
        for ordinal, (name, q, a) in enumerate(self.templates):
            if not q.renders_with(nonempty):
                continue
            question = q.render(fields, nonempty, ordinal + 1, True)
            answer = a.render(fields, nonempty, ordinal + 1, False, question)
            cards.append(RenderedCard(ordinal, name, question, answer))
        return cards


def _walk(nodes: tuple[object, ...]) -> Iterable[object]:
    for node in nodes:
        yield node
        if isinstance(node, _Section):
            yield from _walk(node.children)


# --------------------------------------------------------------------------------------
# The site
# --------------------------------------------------------------------------------------

_TAG = re.compile(r"<[^>]*>")
# Search covers what the card says, not the citation and passage every back carries.
_UNSEARCHED = {"Citation", "Passage", "CardId", "Cue"}


def visible_text(fragment: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", fragment)).split())


def _front_excerpt(spec: NoteTypeSpec, values: list[str]) -> str:
    """What the first card asks, without the cue and labels around it."""
    first = values[0] if values else ""
    if spec.is_cloze:
        first = reveal_cloze(first, (cloze_ordinals(first) or [1])[0], True)
    return visible_text(first)


def _excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit] + " …"


@dataclass
class PreviewNote:
    entry: CardEntry
    theme_slug: str
    cards: list[RenderedCard]
    problems: list[Diagnostic]
    anchored: bool
    search: str
    excerpt: str

    @property
    def id(self) -> str:
        return self.entry.id


@dataclass
class PreviewResult:
    out: Path
    notes: int
    cards: int
    themes: int
    sources: int
    problems: int
    check: CheckResult
    coverage: CoverageReport


class PreviewOutputError(Exception):
    """The destination cannot take the preview (it exists and is not one)."""


def _theme_slugs(themes: list[str]) -> dict[str, str]:
    slugs: dict[str, str] = {}
    used: set[str] = set()
    for number, theme in enumerate(themes, start=1):
        base = slugify(theme) or f"theme-{number}"
        slug, k = base, 2
        while slug in used:
            slug, k = f"{base}-{k}", k + 1
        used.add(slug)
        slugs[theme] = slug
    return slugs


def _environment(project: Project) -> SandboxedEnvironment:
    own = templates_dir_for(project) / "preview"
    fallback = default_templates_dir() / "preview"
    loaders = [TemplateLoader(d) for d in dict.fromkeys((own, fallback)) if d.is_dir()]
    env = template_environment(jinja2.ChoiceLoader(loaders))
    env.filters["percent"] = lambda share: f"{share * 100:.0f}%"
    return env


@dataclass(frozen=True)
class Site:
    files: dict[str, bytes]  # by path relative to the site's folder
    notes: int
    cards: int
    coverage: CoverageReport


def render_site(result: CheckResult) -> Site:
    """Every file of the preview site, with what it holds."""
    project = result.project
    renderer = Renderer(templates_dir_for(project), project.root)
    faces = {key: NoteTypeFaces(renderer.compile_notetype(spec)) for key, spec in NOTE_TYPES.items()}
    coverage = project_coverage(result)
    env = _environment(project)

    # Anki lists subdecks by name; so does the preview.
    themes = sorted(project.themes, key=str.casefold)
    slugs = _theme_slugs(themes)
    problems_by_card: dict[str, list[Diagnostic]] = {}
    loose_problems: list[Diagnostic] = []
    for d in result.report:
        if d.card:
            problems_by_card.setdefault(d.card, []).append(d)
        else:
            loose_problems.append(d)

    notes: list[PreviewNote] = []
    for entry in project.cards:
        spec = NOTE_TYPES[entry.card.type]
        source = project.sources[entry.source_id]
        anchor = result.checked.anchors.get(entry.id)
        values = renderer.fields(entry, source, anchor, spec)
        cards = faces[entry.card.type].cards(values)
        front = _front_excerpt(spec, values)
        said = " ".join(visible_text(v) for name, v in zip(spec.field_names, values) if name not in _UNSEARCHED)
        notes.append(PreviewNote(
            entry=entry,
            theme_slug=slugs[entry.theme],
            cards=cards,
            problems=problems_by_card.get(entry.id, []),
            anchored=anchor is not None,
            search=" ".join([entry.id, said]).lower(),
            excerpt=_excerpt(front),
        ))

    by_theme: dict[str, list[PreviewNote]] = {theme: [] for theme in themes}
    for note in notes:
        by_theme[note.entry.theme].append(note)
    note_pages = {note.id: f"themes/{note.theme_slug}.html#n-{note.id}" for note in notes}

    css_files: dict[str, str] = {}
    for key, face in faces.items():
        css_files.setdefault(face.css, f"assets/card-{len(css_files) + 1}.css")
    card_css = list(css_files.values())

    types = list(NOTE_TYPES)
    theme_rows = []
    for theme in themes:
        members = by_theme[theme]
        counts = Counter(n.entry.card.type for n in members)
        theme_rows.append({
            "name": theme, "slug": slugs[theme], "notes": len(members),
            "cards": sum(len(n.cards) for n in members),
            "by_type": [counts.get(t, 0) for t in types],
            "problems": sum(bool(n.problems) for n in members),
        })
    tags = sorted({tag for n in notes for tag in n.entry.tags})
    sources = [
        {"id": sid, "entry": src.entry, "coverage": _coverage_of(coverage, sid)}
        for sid, src in project.sources.items()
    ]
    common = {
        "deck": project.config.deck,
        "types": types,
        "themes": theme_rows,
        "tags": tags,
        "sources": sources,
        "card_css": card_css,
        "total_notes": len(notes),
        "total_cards": sum(len(n.cards) for n in notes),
        "errors": len(result.report.errors),
        "warnings": len(result.report.warnings),
        "coverage": coverage,
        "list_limit": LIST_LIMIT,
    }

    files: dict[str, bytes] = {}

    def page(path: str, template: str, **context: object) -> None:
        depth = path.count("/")
        try:
            text = env.get_template(template).render(root="../" * depth, **common, **context)
        except jinja2.TemplateError as exc:
            raise _template_error(template, exc) from exc
        files[path] = text.encode("utf-8")

    rows = {note.id: _note_row(note, note_pages[note.id]) for note in notes}
    page("index.html", "index.html", notes=list(rows.values()), loose_problems=loose_problems)
    for theme in themes:
        row = next(r for r in theme_rows if r["slug"] == slugs[theme])
        members = by_theme[theme]
        page(f"themes/{slugs[theme]}.html", "theme.html", theme=row, notes=[rows[n.id] for n in members],
             theme_tags=sorted({t for n in members for t in n.entry.tags}),
             theme_sources=sorted({n.entry.source_id for n in members}))
    for item in sources:
        cov = item["coverage"]
        text = result.texts.get(item["id"])
        if cov is None or text is None:
            continue
        page(f"sources/{item['id']}.html", "source.html", source=item,
             reader=Markup(_reader_html(text, cov, note_pages)))
    for css, path in css_files.items():
        files[path] = css.encode("utf-8")
    for asset in ("preview.css", "preview.js"):
        files[f"assets/{asset}"] = _asset(env, asset)
    files[MARKER] = b"A deckgen preview; `deckgen preview` replaces this folder as a whole.\n"
    return Site(files, len(notes), common["total_cards"], coverage)  # type: ignore[arg-type]


def _asset(env: SandboxedEnvironment, name: str) -> bytes:
    try:
        source, _, _ = env.loader.get_source(env, name)  # type: ignore[union-attr]
    except jinja2.TemplateNotFound as exc:
        raise _template_error(name, exc) from exc
    return source.encode("utf-8")


def _template_error(name: str, exc: jinja2.TemplateError) -> DeckgenError:
    line = getattr(exc, "lineno", None)
    tb = exc.__traceback__
    while getattr(exc, "lineno", None) is None and tb is not None:
        # Raised while rendering: jinja maps the template's frames onto its lines; the innermost counts.
        if tb.tb_frame.f_code.co_filename.endswith(f"preview/{name}"):
            line = tb.tb_lineno
        tb = tb.tb_next
    return DeckgenError(Diagnostic.make(codes.TEMPLATE_ERROR, Location(Path("templates/preview") / name, line or 1),
                                        f"preview template error: {exc}"))


def _coverage_of(report: CoverageReport, source_id: str) -> SourceCoverage | None:
    return next((s for s in report.sources if s.source_id == source_id), None)


def _note_row(note: PreviewNote, href: str) -> dict[str, object]:
    """What the pages show of a note, as plain values: templates look them up by key, which is cheap."""
    entry = note.entry
    return {
        "id": note.id,
        "type": entry.card.type,
        "theme": entry.theme,
        "theme_slug": note.theme_slug,
        "source": entry.source_id,
        "tags": list(entry.tags),
        "tags_attr": f" {' '.join(entry.tags)} ",
        "search": note.search,
        "excerpt": note.excerpt,
        "href": href,
        "anchored": note.anchored,
        "problems": [
            {"severity": d.severity.value, "code": d.code.code, "message": d.message, "hint": d.hint}
            for d in note.problems
        ],
        "cards": [
            {"ordinal": c.ordinal, "name": c.name, "question": Markup(c.question), "answer": Markup(c.answer)}
            for c in note.cards
        ],
    }


# --- the source reader ---

_KIND_LABEL = {
    "heading": "heading or label", "short": "short line", "note": "footnote", "furniture": "page furniture",
    "bibliography": "bibliography",
}


def _reader_html(text: SourceText, cov: SourceCoverage, note_pages: Mapping[str, str]) -> str:
    raw = text.raw
    removed = list(text.removed)
    spans = sorted(((a, b, cid) for cid, (a, b) in cov.spans.items() if b > a), key=lambda s: (s[0], -s[1]))
    starts_at: dict[int, list[str]] = {}
    for a, _, cid in spans:
        starts_at.setdefault(a, []).append(cid)
    out: list[str] = []
    last_paragraph = None
    active: list[tuple[int, int, str]] = []
    next_span = 0
    for block in cov.blocks:
        # Blocks and spans both run in source order: keep only the spans that reach this block.
        while next_span < len(spans) and spans[next_span][0] < block.end:
            active.append(spans[next_span])
            next_span += 1
        active = [span for span in active if span[1] > block.start]
        paragraph = cov.paragraphs[block.paragraph] if block.paragraph is not None else None
        if paragraph is not None:
            state = "pv-covered" if paragraph.covered else "pv-uncovered"
            continued = last_paragraph == block.paragraph
            last_paragraph = block.paragraph
        else:
            state = f"pv-minor pv-kind-{block.kind}"
            continued = False
        ident = f' id="p{paragraph.index + 1}"' if paragraph is not None and not continued else ""
        lines = (f"{block.first_line}" if block.first_line == block.last_line
                 else f"{block.first_line}–{block.last_line}")
        label = ""
        if paragraph is not None and not continued:
            if paragraph.covered:
                n = len(paragraph.cards)
                label = f'<span class="pv-badge pv-badge-ok">{n} card{"s" if n != 1 else ""}</span>'
            else:
                label = '<span class="pv-badge pv-badge-gap">no card yet</span>'
        elif paragraph is None:
            label = f'<span class="pv-badge pv-badge-minor">{_KIND_LABEL.get(block.kind, block.kind)}</span>'
        body = _highlighted(raw, block.start, block.end, active, starts_at, removed, note_pages)
        out.append(
            f'<div class="pv-block {state}{" pv-continued" if continued else ""}"{ident} '
            f'data-line="{block.first_line}"><a class="pv-ln" href="#L{block.first_line}" '
            f'id="L{block.first_line}">{lines}</a><div class="pv-text">{body}</div>{label}</div>'
        )
    return "\n".join(out)


def _highlighted(raw: str, a: int, b: int, spans: list[tuple[int, int, str]], starts_at: Mapping[int, list[str]],
                 removed: list[tuple[int, int]], note_pages: Mapping[str, str]) -> str:
    inside = [(s, e, cid) for s, e, cid in spans if e > a and s < b]
    if not inside:
        return _text_html(raw[a:b])
    cuts = {a, b}
    for s, e, _ in inside:
        cuts.update(x for x in (s, e) if a < x < b)
    # Cut-out blocks (page-break footnotes) inside a span are not part of what the card cites.
    first_cut = max(0, bisect_right(removed, (a, a)) - 1)
    removed = [r for r in removed[first_cut:bisect_right(removed, (b, b))] if r[1] > a and r[0] < b]
    for s, e in removed:
        cuts.update(x for x in (s, e) if a < x < b)
    points = sorted(cuts)
    out: list[str] = []
    for lo, hi in zip(points, points[1:]):
        for cid in starts_at.get(lo, ()):
            out.append(f'<span class="pv-target" id="span-{html.escape(cid)}"></span>')
        piece = _text_html(raw[lo:hi])
        cards = [cid for s, e, cid in inside if s <= lo and e >= hi]
        if not cards or any(s <= lo and e >= hi for s, e in removed):
            out.append(piece)
            continue
        href = html.escape(f"../{note_pages[cards[0]]}") if cards[0] in note_pages else "#"
        titles = html.escape(", ".join(cards))
        depth = min(len(cards), 3)
        out.append(f'<a class="pv-hl pv-depth-{depth}" href="{href}" title="{titles}" '
                   f'data-cards="{titles}">{piece}</a>')
    return "".join(out)


def _text_html(text: str) -> str:
    return html.escape(text, quote=False).replace("\r\n", "\n").replace("\n", "<br>")


# --------------------------------------------------------------------------------------
# Writing it out
# --------------------------------------------------------------------------------------


def default_output(project: Project) -> Path:
    return project.root / "preview"


def write_preview(root: Path, out: Path | None = None) -> PreviewResult:
    """Check the project and write its preview site to ``out`` (default: ``<project>/preview``)."""
    result = check_project(root)
    site = render_site(result)
    destination = out if out is not None else default_output(result.project)
    swap_in(destination, site.files)
    return PreviewResult(
        out=destination,
        notes=site.notes,
        cards=site.cards,
        themes=len(result.project.themes),
        sources=len(result.project.sources),
        problems=len(result.report.errors),
        check=result,
        coverage=site.coverage,
    )


def swap_in(destination: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` into a fresh folder beside ``destination``, then put it in its place."""
    destination = destination.resolve()
    if destination.exists():
        if not destination.is_dir():
            raise PreviewOutputError(f"{destination} exists and is not a folder")
        if not (destination / MARKER).exists() and any(destination.iterdir()):
            raise PreviewOutputError(
                f"{destination} is not empty and is not a deckgen preview; choose another --out")
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.new-", dir=destination.parent))
    try:
        for relative, data in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        os.chmod(staging, 0o755)
        if destination.exists():
            retired = destination.parent / f".{destination.name}.old-{secrets.token_hex(4)}"
            os.replace(destination, retired)
            try:
                os.replace(staging, destination)
            except BaseException:
                os.replace(retired, destination)
                raise
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
