"""Load a YAML file safely, keeping the position of every key and value.

PyYAML composes the node graph (no object construction beyond plain scalars);
we convert it ourselves so that duplicate keys, alias bombs and foreign tags
become located diagnostics instead of silent data loss or a crash.
"""

from __future__ import annotations

import stat
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import errorcodes as codes
from .diagnostics import Diagnostic, Location
from .fastyaml import load as fast_load

try:  # The C parser is several times faster; fall back when libyaml is absent.
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Loader = yaml.SafeLoader

MAX_FILE_BYTES = 64 * 1024 * 1024
# Aliases may legitimately share a tag list; they may not multiply the document.
ALIAS_EXPANSION_FACTOR = 4
ALIAS_EXPANSION_SLACK = 10_000
# A card file is a few levels deep; far deeper nesting is an attack on the recursion limit.
MAX_DEPTH = 100

Path_ = tuple[Hashable, ...]

_STR_TAG = "tag:yaml.org,2002:str"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}


@dataclass(frozen=True)
class YamlDocument:
    path: Path
    data: Any
    # Position of the value at each path, and of the key that names it.
    value_marks: dict[Path_, tuple[int, int]]
    key_marks: dict[Path_, tuple[int, int]]
    lines: tuple[str, ...]
    # Problems that did not stop the conversion (duplicate keys).
    problems: tuple[Diagnostic, ...] = ()

    def location(self, at: Path_, *, key: bool = False) -> Location:
        """The nearest known position for ``at``, walking up to its parents."""
        line, col = self.mark(at, key=key)
        return Location(self.path, line, col)

    def mark(self, at: Path_, *, key: bool = False) -> tuple[int, int]:
        """`location` as a (line, column) pair."""
        marks = self.key_marks if key else self.value_marks
        probe = tuple(at)
        while probe:
            if probe in marks:
                return marks[probe]
            if not key and probe in self.key_marks:
                return self.key_marks[probe]
            probe = probe[:-1]
        return self.value_marks.get((), (1, 1))


class YamlProblem(Exception):
    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def read_text(path: Path, display: Path) -> str:
    """Read a UTF-8 file (a BOM is allowed), or raise a located problem."""
    return decode_text(read_bytes(path, display), display)


def read_bytes(path: Path, display: Path) -> bytes:
    """Read a file of at most MAX_FILE_BYTES, or raise a located problem."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a named pipe would block the read for ever
            raise YamlProblem(Diagnostic.make(codes.SOURCE_UNREADABLE, Location(display), "not a regular file"))
        size = info.st_size
        if size > MAX_FILE_BYTES:
            raise YamlProblem(
                Diagnostic.make(
                    codes.YAML_TOO_LARGE,
                    Location(display),
                    f"file is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}",
                    hint="split the cards over several files",
                )
            )
        return path.read_bytes()
    except OSError as exc:
        raise YamlProblem(
            Diagnostic.make(codes.SOURCE_UNREADABLE, Location(display), f"cannot read file: {exc.strerror}")
        ) from exc


def decode_text(raw: bytes, display: Path) -> str:
    """UTF-8 text (a BOM is allowed), or raise a located problem."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        raise YamlProblem(
            Diagnostic.make(
                codes.YAML_ENCODING,
                Location(display, line, col),
                f"byte 0x{raw[exc.start]:02x} is not valid UTF-8",
                hint="save the file as UTF-8",
            )
        ) from exc


def load_yaml(path: Path, display: Path | None = None, raw: bytes | None = None) -> YamlDocument:
    """Load the YAML file at ``path``; ``raw`` is its content when the caller has read it already."""
    display = display or path
    text = read_text(path, display) if raw is None else decode_text(raw, display)
    return parse_yaml(text, display)


def parse_yaml(text: str, display: Path) -> YamlDocument:
    lines = tuple(text.splitlines())
    # The usual plain card file is read line by line, without a node for every scalar.
    fast = fast_load(text, _Converter(display, 0)._scalar)
    if fast is not None:
        data, value_marks, key_marks = fast
        return YamlDocument(display, data, value_marks, key_marks, lines)
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.reader.ReaderError as exc:
        raise YamlProblem(_unprintable(text, display, exc)) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        if lines and line > len(lines):  # the end of the stream, after the last line break
            line, col = len(lines), len(lines[-1]) + 1
        message = exc.problem or "invalid YAML"
        if message.startswith("exceeded maximum nesting depth"):
            # Newer libyaml builds stop at their own depth limit, before deckgen's applies:
            # the same problem, reported the same way whichever PyYAML is installed.
            raise YamlProblem(_too_deep(Location(display, line, col))) from exc
        if exc.context:
            started = exc.context_mark
            where = f" (started on line {started.line + 1})" if started and mark and started.line != mark.line else ""
            message = f"{message}, {exc.context}{where}"
        hint = None
        if 0 < line <= len(lines) and "\t" in lines[line - 1]:
            hint = "YAML does not allow tabs for indentation; use spaces"
        raise YamlProblem(
            Diagnostic.make(codes.YAML_SYNTAX, Location(display, line, col), message, hint=hint)
        ) from exc
    except yaml.YAMLError as exc:
        raise YamlProblem(Diagnostic.make(codes.YAML_SYNTAX, Location(display), str(exc))) from exc
    except RecursionError as exc:  # only the pure-Python composer recurses
        raise YamlProblem(_too_deep(Location(display))) from exc
    if node is None:
        return YamlDocument(display, None, {(): (1, 1)}, {}, lines)
    converter = _Converter(display, _count_nodes(node), lines)
    data = converter.convert(node, ())
    return YamlDocument(
        display, data, converter.value_marks, converter.key_marks, lines, tuple(converter.problems)
    )


def _unprintable(text: str, display: Path, exc: yaml.reader.ReaderError) -> Diagnostic:
    """A character YAML refuses (a control character pasted from a PDF, say), at its line and column.

    libyaml reports the position in bytes and PyYAML in characters, so find the character again.
    """
    found = yaml.reader.Reader.NON_PRINTABLE.search(text)
    at = found.start() if found else 0
    before = text[:at].splitlines(keepends=True)
    if not before or before[-1].endswith(("\n", "\r", "\x85", "\u2028", "\u2029")):
        line, col = len(before) + 1, 1
    else:
        line, col = len(before), len(before[-1]) + 1
    char = f"U+{ord(found.group()):04X}" if found else f"#x{exc.character:04x}"
    return Diagnostic.make(
        codes.YAML_SYNTAX,
        Location(display, line, col),
        f"the control character {char} is not allowed in YAML",
        hint="delete it; it often comes with text copied from a PDF or a web page",
    )


def _too_deep(where: Location) -> Diagnostic:
    return Diagnostic.make(codes.INVALID_VALUE, where, f"values are nested more than {MAX_DEPTH} levels deep",
                           hint="card files need only a few levels: a mapping of cards, each a mapping of keys")


def _count_nodes(root: yaml.Node) -> int:
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.append(key)
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return len(seen)


class _Converter:
    def __init__(self, path: Path, distinct_nodes: int, lines: tuple[str, ...] = ()):
        self.path = path
        self.lines = lines
        self.value_marks: dict[Path_, tuple[int, int]] = {}
        self.key_marks: dict[Path_, tuple[int, int]] = {}
        self.budget = distinct_nodes * ALIAS_EXPANSION_FACTOR + ALIAS_EXPANSION_SLACK
        self.constructor = yaml.constructor.SafeConstructor()
        self.problems: list[Diagnostic] = []

    def _position(self, mark: yaml.Mark) -> tuple[int, int]:
        line, col = mark.line + 1, mark.column + 1
        if self.lines and line > len(self.lines):  # an empty value at the very end of the file
            return len(self.lines), len(self.lines[-1]) + 1
        return line, col

    def _where(self, node: yaml.Node) -> Location:
        return Location(self.path, *self._position(node.start_mark))

    def convert(self, node: yaml.Node, at: Path_) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise YamlProblem(
                Diagnostic.make(
                    codes.YAML_ALIAS_BOMB,
                    self._where(node),
                    "YAML aliases expand this document far beyond its written size",
                    hint="remove the anchors (&name) and aliases (*name)",
                )
            )
        if len(at) > MAX_DEPTH:
            raise YamlProblem(_too_deep(self._where(node)))
        self.value_marks[at] = self._position(node.start_mark)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ_TAG:
                raise YamlProblem(self._tag_not_allowed(node))
            return [self.convert(child, at + (index,)) for index, child in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, at)
        raise YamlProblem(Diagnostic.make(codes.YAML_SYNTAX, self._where(node), "unsupported YAML node"))

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag == _STR_TAG:
            return node.value
        if node.tag not in _PLAIN_TAGS:
            raise YamlProblem(self._tag_not_allowed(node))
        try:
            return self.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError) as exc:
            if node.tag == _TIMESTAMP_TAG:
                # 1941-02-30 looks like a date but is none: keep it as written for the date checks.
                return node.value
            raise YamlProblem(
                Diagnostic.make(codes.INVALID_VALUE, self._where(node), f"invalid value {node.value!r}: {exc}")
            ) from exc

    def _tag_not_allowed(self, node: yaml.Node) -> Diagnostic:
        return Diagnostic.make(
            codes.INVALID_VALUE,
            self._where(node),
            f"YAML tag {node.tag!r} is not allowed",
            hint="card files hold plain strings, numbers, dates, lists and mappings",
        )

    def _mapping(self, node: yaml.MappingNode, at: Path_) -> dict[Any, Any]:
        if node.tag not in ("tag:yaml.org,2002:map",):
            raise YamlProblem(self._tag_not_allowed(node))
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise YamlProblem(
                    Diagnostic.make(
                        codes.INVALID_VALUE,
                        self._where(key_node),
                        "merge keys (<<) are not supported in card files",
                    )
                )
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlProblem(
                    Diagnostic.make(codes.WRONG_TYPE, self._where(key_node), "a mapping key must be a plain word")
                )
            if key_node.tag not in _PLAIN_TAGS:
                raise YamlProblem(self._tag_not_allowed(key_node))
            # Keys are words as written: `1941:` or `null:` is an unknown key, not a number or nothing.
            key = key_node.value
            if key in result:
                first = self.key_marks.get(at + (key,), (0, 0))
                self.problems.append(
                    Diagnostic.make(
                        codes.YAML_DUPLICATE_KEY,
                        self._where(key_node),
                        f"duplicate key {key!r} (first defined on line {first[0]})",
                        hint="remove one of them",
                    )
                )
                continue
            self.key_marks[at + (key,)] = self._position(key_node.start_mark)
            result[key] = self.convert(value_node, at + (key,))
        return result
