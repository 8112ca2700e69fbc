"""A fast loader for card files of the usual plain shape.

Nearly every card file is a mapping of words to one-line values, with one list of
one-level mappings (the cards). For such text this reads, line by line, the same
data and the same positions of keys and values that composing with libyaml and
converting the nodes gives, without building a node for every scalar. Values that
are not plain strings (numbers, dates, booleans) are converted by ``yamlfile``'s
own converter. Anything else (block scalars, multi-line or escaped strings,
anchors, tags, tabs, nested lists, odd indentation, duplicate keys, keys that YAML
reads as booleans or null, values the converter refuses, anything malformed) gets
None, and the file is loaded the usual way, which reports whatever is wrong with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from typing import Any

import yaml
from yaml.error import Mark
from yaml.nodes import ScalarNode

# The stream name libyaml's marks carry for text given as a str.
_NAME = "<unicode string>"
_STR = "tag:yaml.org,2002:str"

_RESOLVER = yaml.resolver.Resolver()
# Plain scalars starting with any other character are strings: no implicit tag applies.
_IMPLICIT_FIRST = frozenset(yaml.resolver.Resolver.yaml_implicit_resolvers)
# A character YAML refuses (PyYAML's Reader.NON_PRINTABLE), or one this reader leaves to the
# usual way (a tab, a line break other than "\n", a byte-order mark): the characters allowed
# are YAML's printable ones without those. One class scans the text once.
_NOT_PLAIN = re.compile("[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")

# indent, "- " opening a list item, a key that is a plain word, then the value.
_LINE = re.compile(r"( *)(- (?=\S))?([A-Za-z_][A-Za-z0-9_-]*):(?: +(.*)|)")
_DOUBLE = re.compile(r'"((?:[^"\\]|\\["\\])*)"(?: +(?:#.*)?)?')
_SINGLE = re.compile(r"'((?:[^']|'')*)'(?: +(?:#.*)?)?")
_FLOW = re.compile(r"\[([^\[\]{}#\"'?]*)\](?: +(?:#.*)?)?")
_ESCAPE = re.compile(r'\\(["\\])')
# Characters that give a plain scalar's first character another meaning.
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@` ")

Marks = dict[tuple[Hashable, ...], tuple[int, int]]
_WORDS: set[str] = set()  # keys known to be plain strings
# Values known to be plain strings although they open as some implicit type does ("fact",
# "figure", "note-1"): card files repeat a few such values (card types, sources) on every card.
_STRINGS: set[str] = set()
_MAX_STRINGS = 4096


class _Decline(Exception):
    """The text is not of the plain shape (or not valid): load it the usual way."""


class _Reader:
    def __init__(self, scalar: Callable[[ScalarNode], Any]):
        self.scalar = scalar  # the converter's conversion of a non-string scalar node
        self.value_marks: Marks = {}
        self.key_marks: Marks = {}

    def plain(self, text: str, line: int, col: int, index: int) -> Any:
        if not text or text[0] in _INDICATORS or ": " in text or text.endswith(":"):
            raise _Decline
        first = text[0]
        # Of YAML's implicit types only a timestamp (which starts with a digit) has a space.
        if first not in _IMPLICIT_FIRST or (" " in text and not first.isdigit()):
            return text
        tag = _RESOLVER.resolve(ScalarNode, text, (True, False))
        if tag == _STR:
            if len(_STRINGS) < _MAX_STRINGS:
                _STRINGS.add(text)
            return text
        mark = Mark(_NAME, index, line, col, None, None)
        try:
            return self.scalar(ScalarNode(tag, text, mark, mark, ""))
        except Exception:  # noqa: BLE001 - the usual way reports it, in its order
            raise _Decline from None

    def value(self, rest: str, at: tuple[Hashable, ...], line: int, col: int, index: int) -> Any:
        self.value_marks[at] = (line + 1, col + 1)
        first = rest[0]
        if first == '"':
            m = _DOUBLE.fullmatch(rest)
            if m is None:
                raise _Decline
            inner = m.group(1)
            return _ESCAPE.sub(r"\1", inner) if "\\" in inner else inner
        if first == "'":
            m = _SINGLE.fullmatch(rest)
            if m is None:
                raise _Decline
            return m.group(1).replace("''", "'")
        if first == "[":
            m = _FLOW.fullmatch(rest)
            if m is None:
                raise _Decline
            inner = m.group(1)
            items: list[Any] = []
            if inner.strip(" "):
                offset = 1
                for number, part in enumerate(inner.split(",")):
                    lead = len(part) - len(part.lstrip(" "))
                    self.value_marks[at + (number,)] = (line + 1, col + offset + lead + 1)
                    items.append(self.plain(part.strip(" "), line, col + offset + lead, index + offset + lead))
                    offset += len(part) + 1
            return items
        cut = rest.find(" #")
        return self.plain((rest[:cut] if cut >= 0 else rest).rstrip(" "), line, col, index)


def load(text: str, scalar: Callable[[ScalarNode], Any]) -> tuple[Any, Marks, Marks] | None:
    """(data, value positions, key positions) as loading ``text`` the usual way gives them
    (1-based line and column), or None when the text is not of the plain shape."""
    if _NOT_PLAIN.search(text):
        return None
    reader = _Reader(scalar)
    try:
        data = _read(text, reader)
    except _Decline:
        return None
    except Exception:  # noqa: BLE001 - whatever this misjudges, the usual way judges instead
        return None
    return data, reader.value_marks, reader.key_marks


def _read(text: str, reader: _Reader) -> dict[str, Any]:
    # The loop runs once per line of every card file: names are bound locally, and a plain
    # string value (most values) is taken here without a call.
    value_marks, key_marks = reader.value_marks, reader.key_marks
    value = reader.value
    match_line = _LINE.fullmatch
    words = _WORDS
    indicators, implicit, strings = _INDICATORS, _IMPLICIT_FIRST, _STRINGS
    root: dict[str, Any] = {}
    pending: str | None = None  # a top-level key whose value is the list below it
    items: list[Any] | None = None  # the open list
    list_key = ""
    list_indent = -1
    item: dict[str, Any] | None = None  # the open list item
    index = 0
    for number, line in enumerate(text.split("\n")):
        start = index
        index += len(line) + 1
        m = match_line(line)
        if m is None:
            content = line.lstrip(" ")
            if not content or content[0] == "#":
                continue  # no key starts with a space or a "#": blank lines and comments never match
            raise _Decline
        spaces, dash, key, rest = m.groups()
        indent = len(spaces)
        key_col = indent + 2 if dash else indent
        if key not in words:
            if key[0] in implicit and _RESOLVER.resolve(ScalarNode, key, (True, False)) != _STR:
                raise _Decline  # `yes:` or `null:`: the usual way decides what such a key is
            words.add(key)
        if not root and pending is None:
            value_marks[()] = (number + 1, key_col + 1)
        if not rest or rest[0] == "#":
            # Only a top-level key may open a list, and a list must follow it.
            if indent or dash or pending is not None or key in root:
                raise _Decline
            items = item = None
            pending = key
            key_marks[(key,)] = (number + 1, 1)
            continue
        value_col = len(line) - len(rest)
        if dash:
            if pending is not None:
                list_key, pending = pending, None
                items = root[list_key] = []
                list_indent = indent
                value_marks[(list_key,)] = (number + 1, indent + 1)
            elif items is None or indent != list_indent:
                raise _Decline
            item = {}
            at: tuple[Hashable, ...] = (list_key, len(items))
            items.append(item)
            value_marks[at] = (number + 1, key_col + 1)
            target = item
        elif item is not None and indent == list_indent + 2:
            at = (list_key, len(items) - 1)  # type: ignore[arg-type]
            target = item
        elif indent == 0 and pending is None:
            items = item = None
            at = ()
            target = root
        else:
            raise _Decline
        if key in target:
            raise _Decline  # a duplicate key: the usual way reports it
        path = at + (key,)
        key_marks[path] = (number + 1, key_col + 1)
        first = rest[0]
        if (first in indicators or " #" in rest or ": " in rest or rest[-1] in " :"
                or (first in implicit and (" " not in rest or first.isdigit()))) and rest not in strings:
            target[key] = value(rest, path, number, value_col, start + value_col)
        else:
            # What `value` finds for a plain scalar that no implicit type can take (of those
            # only a timestamp, which opens with a digit, has a space): the string as it is.
            value_marks[path] = (number + 1, value_col + 1)
            target[key] = rest
    if pending is not None or not root:
        raise _Decline
    return root
