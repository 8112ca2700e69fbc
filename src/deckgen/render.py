"""Turn checked cards into note fields, and templates into Anki note types.

Two kinds of jinja2 templates live in ``templates/``: the card faces (Anki's
own ``{{Field}}`` syntax, assembled at build time with shared partials) and
the per-card blocks (citation, passage) rendered into fields. jinja's
delimiters are ``[% %]``, ``[[ ]]`` and ``[# #]`` so Anki's braces (including
``{{#Field}}``) pass through untouched. Rendering is sandboxed and strict about undefined
names; templates are compiled once per build, never per card.
"""

from __future__ import annotations

import html
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import nh3
from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from . import errorcodes as codes
from .anchors import Anchor
from .dates import DateError, parse_claim
from .diagnostics import DeckgenError, Diagnostic, Location
from .models import ALLOWED_TAGS, CardEntry, ClozeCard, DateCard, FactCard, FigureCard, QuoteCard, Source
from .notetypes import NoteTypeSpec

_ALLOWED_ESCAPED = re.compile(r"&lt;(/?)(em|strong|b|i|u|sub|sup|br)\s*/?&gt;", re.IGNORECASE)
_STRONG = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_EMPHASIS = re.compile(r"(?<![\w*])\*(?=\S)([^*]+?)(?<=\S)\*(?![\w*])")
# Anki acts on some plain text after rendering: [sound:…] plays media, [anki:tts] speaks,
# [latex]/[$] runs LaTeX, and MathJax typesets \(…\) and \[…\] (whose \href can carry a
# javascript: URL). A word joiner after the opener keeps the text as written but unrecognised.
# Markup between the characters does not hide them from a reader of the text, so tags may intervene.
_ANKI_DIRECTIVE = re.compile(r"\[(?=(?:<[^>]*>)*/?(?:sound:|anki:|latex\]|\$\$?\]))|\\(?=(?:<[^>]*>)*[()\[\]])")
_WORD_JOINER = "\u2060"


def _defuse(html_text: str) -> str:
    if "[" not in html_text and "\\" not in html_text:
        return html_text  # neither opener is there: most card text
    return _ANKI_DIRECTIVE.sub(lambda m: m.group() + _WORD_JOINER, html_text)


# What nh3's HTML parser changes in text that holds no markup at all: it drops NUL and a
# byte-order mark, turns carriage returns into line feeds and writes a no-break space as
# &nbsp;. Lone surrogates go to it too, so that such text fails exactly as before.
_PARSER_REWRITES = re.compile("[<\r\x00\u00a0\ufeff\ud800-\udfff]")


# A character that makes text more than itself in HTML: markup and entities to escape, *emphasis*,
# a line break, the openers `_defuse` acts on, and what nh3's parser changes (see `_clean`).
_NOT_PLAIN = re.compile(r"[&<>*\n\r\x00\u00a0\ufeff\[\\\ud800-\udfff]")


def inline_html(text: str | None) -> str:
    """Card text to safe HTML: escaped, with *emphasis*, **strong**, line breaks and a few inline tags."""
    if not text:
        return ""
    stripped = text.strip()
    if not _NOT_PLAIN.search(stripped):
        return stripped  # nothing to escape, mark up or defuse: most card text
    return _marked_up(stripped)


def _marked_up(text: str) -> str:
    escaped = html.escape(text, quote=False)
    if "&lt;" in escaped:
        escaped = _ALLOWED_ESCAPED.sub(lambda m: f"<{m.group(1)}{m.group(2).lower()}>", escaped)
    if "*" in escaped:
        escaped = _STRONG.sub(r"<strong>\1</strong>", escaped)
        escaped = _EMPHASIS.sub(r"<em>\1</em>", escaped)
    escaped = escaped.replace("\n", "<br>")
    return _defuse(_clean(escaped))


_OTHER_REWRITES = re.compile("[\r\x00\u00a0\ufeff\ud800-\udfff]")
_TAG = re.compile(r"<(/?)([a-z]+)>")
_PAIRED_TAGS = ALLOWED_TAGS - {"br"}


def _clean(escaped: str) -> str:
    """nh3 balances the tags we re-enabled and is the last line of defence against markup.
    Escaped text without any, or with only allowed tags that are already well nested, is
    what nh3 would return; most card text is such."""
    if not _PARSER_REWRITES.search(escaped):
        return escaped
    if not _OTHER_REWRITES.search(escaped) and _well_nested(escaped):
        return escaped
    return _nh3_clean(escaped)


def _well_nested(escaped: str) -> bool:
    """Whether every ``<`` opens a bare allowed tag (``<br>`` or a pair) and the pairs nest."""
    opened: list[str] = []
    tags = 0
    for match in _TAG.finditer(escaped):
        tags += 1
        closing, name = match.groups()
        if name == "br":
            if closing:
                return False  # a parser reads </br> as <br>
        elif name not in _PAIRED_TAGS:
            return False
        elif not closing:
            opened.append(name)
        elif not opened or opened.pop() != name:
            return False
    return not opened and tags == escaped.count("<")


def _nh3_clean(escaped: str) -> str:
    return nh3.clean(escaped, tags=ALLOWED_TAGS, attributes={}, url_schemes=set())


# An endnote number glued to the end of a sentence in a source ("concealed.176"); a digit
# before the punctuation would make it a decimal ("1.5 billion"), so that is left alone.
# (The digit test looks behind the punctuation once it has matched: a look-behind that opens the
# pattern would be tried at every position of every passage.)
_GLUED_ENDNOTE = re.compile(r"([.!?:”’\"')\]])(?<!\d.)(\d{1,3})(?=\s|$)")
_MAYBE_GLUED = re.compile(r"[.!?:”’\"')\]]\d")


def source_html(text: str | None) -> str:
    """Source text for a card: like card text, with glued endnote numbers set as superscripts."""
    escaped = inline_html(text)
    if not _MAYBE_GLUED.search(escaped):
        return escaped
    return _GLUED_ENDNOTE.sub(r"\1<sup>\2</sup>", escaped)


def plain_html(text: str | None) -> str:
    """Text shown exactly as written: escaped, nothing re-enabled."""
    if not text:
        return ""
    return _defuse(html.escape(text, quote=False))


_NO_SPACE_AFTER = set("([{“‘«„‚—–-/ \u00a0") | {'"', "'"}
_NO_SPACE_BEFORE = set(".,;:!?)]}”’»—–-/…") | set("⁰¹²³⁴⁵⁶⁷⁸⁹")


def needs_space(left: str, right: str) -> bool:
    """Whether a space stood between two pieces of a passage whose edges were trimmed.

    Anchors keep their context with white space collapsed and trimmed, so the
    join has to be restored; matched spans start and end on word boundaries.
    """
    if not left or not right:
        return False
    return left[-1] not in _NO_SPACE_AFTER and right[0] not in _NO_SPACE_BEFORE


def page_label(pages: str) -> str:
    pages = " ".join(str(pages).split())
    return ("pp. " if re.search(r"[-–—,]", pages) else "p. ") + pages.replace("-", "–")


def _template_frame(exc: BaseException, templates: Path) -> tuple[str, int] | None:
    found = None
    base = str(templates.resolve())
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.startswith(base):
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


class TemplateLoader(jinja2.FileSystemLoader):
    """Templates from one folder, never through a link that leads out of it."""

    def __init__(self, directory: Path):
        super().__init__(str(directory))
        self.boundary = directory.resolve()

    def get_source(self, environment: jinja2.Environment, template: str):  # type: ignore[override]
        source, filename, uptodate = super().get_source(environment, template)
        if not Path(filename).resolve().is_relative_to(self.boundary):
            raise DeckgenError(Diagnostic.make(
                codes.PATH_OUTSIDE_PROJECT, Location(Path("templates") / template),
                f"template {template!r} is a link to a file outside the project's templates; it is not read"))
        return source, filename, uptodate


def default_templates_dir() -> Path:
    bundled = Path(__file__).parent / "_templates"
    if bundled.is_dir():
        return bundled
    return Path(__file__).resolve().parents[2] / "templates"


@dataclass(frozen=True)
class CompiledNoteType:
    spec: NoteTypeSpec
    templates: tuple[tuple[str, int, str, str], ...]  # name, id, qfmt, afmt
    css: str


_ABSENT = object()
_PLAIN_DATA = frozenset({str, int, float, bool, type(None), tuple})


class _BoundedSandbox(SandboxedEnvironment):
    """The sandbox, plus a bound on what ``*`` and ``**`` may build: a template must not be
    able to exhaust memory (``[[ 'a' * 10**9 ]]``)."""

    intercepted_binops = frozenset({"*", "**"})
    MAX_SIZE = 100_000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (type, attribute) pairs already judged safe: the sandbox's verdict depends on
        # nothing else, and every card's render asks again about the same few pairs.
        self._safe_attributes: set[tuple[type, str]] = set()

    def getattr(self, obj: Any, attribute: str) -> Any:
        key = (type(obj), attribute)
        if key in self._safe_attributes:
            value = getattr(obj, attribute, _ABSENT)
            # Plain data only: the sandbox may still have to wrap a method (str.format).
            if type(value) in _PLAIN_DATA:
                return value
        value = super().getattr(obj, attribute)
        if (type(value) in _PLAIN_DATA and getattr(obj, attribute, _ABSENT) is value
                and self.is_safe_attribute(obj, attribute, value)):
            self._safe_attributes.add(key)
        return value

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 100:
            raise SecurityError(f"exponent {right} is too large in a template")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) \
                        and len(seq) * times > self.MAX_SIZE:
                    raise SecurityError("a template may not build a value that large")
        return super().call_binop(context, operator, left, right)


def template_environment(loader: jinja2.BaseLoader) -> SandboxedEnvironment:
    """The one jinja environment deckgen renders with: sandboxed and bounded, strict about
    undefined names, autoescaping, with delimiters that leave Anki's ``{{…}}`` alone."""
    return _BoundedSandbox(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        block_start_string="[%",
        block_end_string="%]",
        variable_start_string="[[",
        variable_end_string="]]",
        comment_start_string="[#",
        comment_end_string="#]",
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


class _Unknowable(Exception):
    """A template reads a value in a way its tree does not show (see `template_reads`)."""


# Nodes whose output can depend on more than the values a template names: another template,
# a call (a global such as ``lipsum``, a macro, a method), the render context itself.
_OPAQUE_NODES = (nodes.Call, nodes.CallBlock, nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends,
                 nodes.ContextReference, nodes.DerivedContextReference)


def template_reads(tree: nodes.Template, objects: Iterable[str]) -> dict[str, frozenset[str]] | None:
    """The attributes a template reads of each of ``objects`` (names in its context), or None
    when the tree does not show everything it reads of them.

    It shows that when every use of such a name is an attribute read (``anchor.page``) or a
    test of whether it is set (``[% if anchor %]``), and the template includes no other template,
    calls nothing and draws nothing at random."""
    reads: dict[str, set[str]] = {name: set() for name in objects}

    def visit(node: nodes.Node, tested: bool) -> None:
        if isinstance(node, _OPAQUE_NODES):
            raise _Unknowable
        if isinstance(node, (nodes.Filter, nodes.FilterBlock)) and node.name == "random":
            raise _Unknowable
        if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name) and node.node.name in reads:
            reads[node.node.name].add(node.attr)
            return
        if isinstance(node, nodes.Name) and node.name in reads:
            if node.ctx != "load" or not tested:
                raise _Unknowable  # assigned, printed, passed on: the whole value is read
            return
        if isinstance(node, (nodes.If, nodes.CondExpr)):
            visit(node.test, True)
            branches = [child for child in node.iter_child_nodes() if child is not node.test]
        elif isinstance(node, nodes.Not):
            visit(node.node, True)
            return
        elif isinstance(node, (nodes.And, nodes.Or)):
            # In a test only the operands' truth counts; elsewhere an operand may be the value.
            visit(node.left, tested)
            visit(node.right, tested)
            return
        else:
            branches = list(node.iter_child_nodes())
        for child in branches:
            visit(child, False)

    try:
        visit(tree, False)
    except _Unknowable:
        return None
    return {name: frozenset(attributes) for name, attributes in reads.items()}


class _Memoised:
    """A per-card template whose output is remembered by what it reads: the citation, which
    many cards share (those citing the same page of the same source), is rendered once each.

    The key is the card's source, its page, and the attributes of the card and its anchor that
    the template reads (see `template_reads`); a template whose reads are unknowable, or a card
    whose values read cannot be a key, is rendered on its own."""

    def __init__(self, template: jinja2.Template, source_text: str | None):
        reads = None
        if source_text is not None:
            try:
                reads = template_reads(template.environment.parse(source_text), ("card", "anchor"))
            except jinja2.TemplateSyntaxError:
                reads = None
        self.known = reads is not None
        self.of_card = _getter(reads["card"] if reads is not None else ())
        self.of_anchor = _getter(reads["anchor"] if reads is not None else ())
        self.rendered: dict[tuple[Any, ...], tuple[Source, str]] = {}

    def key(self, card: Any, source: Source, anchor: Anchor | None, page: str | None) -> tuple[Any, ...] | None:
        if not self.known:
            return None
        try:
            return (id(source), page, self.of_card(card), None if anchor is None else (self.of_anchor(anchor),))
        except AttributeError:  # the template reads what this card or anchor lacks: rendered, it says so
            return None

    def get(self, key: tuple[Any, ...] | None, source: Source) -> str | None:
        if key is None:
            return None
        try:
            found = self.rendered.get(key)
        except TypeError:  # a value read is not hashable
            return None
        # The source is kept beside its text, so that the id in the key stays its own.
        return found[1] if found is not None and found[0] is source else None

    def put(self, key: tuple[Any, ...] | None, source: Source, text: str) -> None:
        if key is not None:
            try:
                self.rendered[key] = (source, text)
            except TypeError:
                pass


def _getter(names: Iterable[str]) -> Callable[[Any], Any]:
    """The named attributes of an object, as one value to compare."""
    names = sorted(names)
    return operator.attrgetter(*names) if names else (lambda _: ())


class Renderer:
    def __init__(self, templates_dir: Path, project_root: Path | None = None):
        self.dir = templates_dir
        self.root = project_root or templates_dir.parent
        self.env = template_environment(TemplateLoader(templates_dir))
        self.env.filters["inline"] = lambda text: jinja2.utils.markupsafe.Markup(inline_html(text))
        self.env.filters["source"] = lambda text: jinja2.utils.markupsafe.Markup(source_html(text))
        self.env.filters["plain"] = lambda text: jinja2.utils.markupsafe.Markup(plain_html(text))
        self.env.filters["pages"] = page_label
        self.env.tests["spaced"] = lambda right, left: needs_space(left or "", right or "")
        self._citation = self._per_card(self._load("fields/citation.html"))
        self._passage = self._per_card(self._load("fields/passage.html"))
        self._citations = _Memoised(self._citation, self._source_of("fields/citation.html"))

    def _template_error(self, name: str, exc: Exception) -> DeckgenError:
        filename = getattr(exc, "filename", None)
        line = getattr(exc, "lineno", None)
        if line is None:
            # Raised while rendering: jinja maps the traceback onto template lines; the
            # innermost template frame is where it happened (perhaps in an included partial).
            filename, line = _template_frame(exc, self.dir) or (filename, None)
        path = self._display_path(filename, name)
        return DeckgenError(
            Diagnostic.make(codes.TEMPLATE_ERROR, Location(path, line or 1, 1), f"template error: {exc}")
        )

    def _display_path(self, filename: str | None, name: str) -> Path:
        candidate = Path(filename) if filename else self.dir / name
        if not candidate.is_absolute():
            candidate = self.dir / candidate
        try:
            return candidate.resolve().relative_to(self.root.resolve())
        except (ValueError, OSError):
            return Path("templates") / name

    def _load(self, name: str) -> jinja2.Template:
        try:
            return self.env.get_template(name)
        except jinja2.TemplateNotFound as exc:
            raise DeckgenError(
                Diagnostic.make(codes.TEMPLATE_ERROR, Location(Path("templates") / name),
                                f"template {exc.name!r} not found")
            ) from exc
        except jinja2.TemplateSyntaxError as exc:
            raise self._template_error(name, exc) from exc

    def _source_of(self, name: str) -> str | None:
        try:
            return self.env.loader.get_source(self.env, name)[0] if self.env.loader is not None else None
        except (jinja2.TemplateNotFound, OSError, DeckgenError):
            return None

    @staticmethod
    def _per_card(template: jinja2.Template) -> jinja2.Template:
        """A template rendered for every card: its globals flattened into one dict once, since
        jinja copies them into each render's context, and a ChainMap copies slowly."""
        template.globals = dict(template.globals)
        return template

    def _render(self, name: str, template: jinja2.Template, **context: Any) -> str:
        try:
            # What Template.render does, without copying the context it is given once more.
            try:
                return template.environment.concat(template.root_render_func(template.new_context(context))).strip()
            except Exception:
                template.environment.handle_exception()  # raises, with the template's lines in the traceback
        except jinja2.TemplateError as exc:
            raise self._template_error(name, exc) from exc
        except RecursionError as exc:
            # An include cycle: jinja recurses until Python's stack runs out.
            filename, line = _template_frame(exc, self.dir) or (None, None)
            raise DeckgenError(Diagnostic.make(
                codes.TEMPLATE_ERROR, Location(self._display_path(filename, name), line or 1, 1),
                "template error: a template includes itself, directly or through another template",
            )) from None

    def compile_notetype(self, spec: NoteTypeSpec) -> CompiledNoteType:
        faces = []
        for template in spec.templates:
            front = self._render(template.front, self._load(template.front), spec=spec)
            back = self._render(template.back, self._load(template.back), spec=spec)
            faces.append((template.name, template.id, front, back))
        css = self._render("style.css", self._load("style.css"), spec=spec)
        return CompiledNoteType(spec, tuple(faces), css)

    def fields(self, entry: CardEntry, source: Source, anchor: Anchor | None, spec: NoteTypeSpec) -> list[str]:
        card = entry.card
        values: dict[str, str] = {
            "Note": inline_html(card.note),
            "Citation": self._citation_of(card, source, anchor),
            "Passage": self._render("fields/passage.html", self._passage, card=card, anchor=anchor),
            "Cue": plain_html(entry.theme),
            "CardId": plain_html(card.id),
        }
        values.update(_type_fields(card))
        return [values.get(name, "") for name in spec.field_names]

    def _citation_of(self, card: Any, source: Source, anchor: Anchor | None) -> str:
        page = str(card.page) if card.page is not None else None
        key = self._citations.key(card, source, anchor, page)
        text = self._citations.get(key, source)
        if text is None:
            text = self._render("fields/citation.html", self._citation,
                                card=card, source=source.entry, short=source.short, anchor=anchor, page=page)
            self._citations.put(key, source, text)
        return text


def human_date(value: Any) -> str:
    """The date as a reader says it; a malformed one (only seen in previews of unchecked cards) as written."""
    try:
        return plain_html(parse_claim(value).human())
    except DateError:
        return plain_html(str(value))


def _type_fields(card: Any) -> dict[str, str]:
    if isinstance(card, QuoteCard):
        return {
            "Quote": inline_html(card.quote),
            "Speaker": inline_html(card.speaker),
            "Context": inline_html(card.context),
            "Date": human_date(card.date) if card.date is not None else "",
            "Ask": inline_html(card.ask),
        }
    if isinstance(card, ClozeCard):
        return {"Text": inline_html(card.text), "Extra": inline_html(card.extra)}
    if isinstance(card, FactCard):
        return {"Front": inline_html(card.front), "Back": inline_html(card.back)}
    if isinstance(card, DateCard):
        return {"Event": inline_html(card.event), "Date": human_date(card.date)}
    if isinstance(card, FigureCard):
        return {"Prompt": inline_html(card.prompt), "Value": inline_html(str(card.value))}
    raise TypeError(f"unknown card model {type(card).__name__}")
