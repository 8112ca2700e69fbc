"""Stable diagnostic codes.

Each code is a named constant so checks, tests and the README refer to one
spelling. The README's table of codes is generated from ``ALL_CODES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True)
class ErrorCode:
    code: str
    severity: Severity
    description: str

    def __str__(self) -> str:
        return self.code


ALL_CODES: dict[str, ErrorCode] = {}


def _code(code: str, severity: Severity, description: str) -> ErrorCode:
    entry = ErrorCode(code, severity, description)
    ALL_CODES[code] = entry
    return entry


E, W = Severity.ERROR, Severity.WARNING

# Project set-up (exit 2)
NO_PROJECT = _code("no-project", E, "the project folder has no cards/ or sources/")
CONFIG_INVALID = _code("config-invalid", E, "deckgen.yaml is malformed")
REGISTRY_INVALID = _code("registry-invalid", E, "sources/sources.yaml is missing or malformed")
SOURCE_UNREADABLE = _code("source-unreadable", E, "a registered source file is missing, unreadable or not UTF-8")
PATH_OUTSIDE_PROJECT = _code("path-outside-project", E, "a path points outside the project")
TEMPLATE_ERROR = _code("template-error", E, "a template has a syntax error or uses an undefined variable")
OUTPUT_UNWRITABLE = _code("output-unwritable", E, "a package or the ledger cannot be written")

# Card files
YAML_SYNTAX = _code("yaml-syntax", E, "the file is not valid YAML")
YAML_ENCODING = _code("yaml-encoding", E, "the file is not UTF-8 text")
YAML_DUPLICATE_KEY = _code("duplicate-key", E, "a mapping repeats a key")
YAML_ALIAS_BOMB = _code("alias-expansion", E, "YAML aliases expand beyond a safe size")
YAML_TOO_LARGE = _code("file-too-large", E,
                       "the file exceeds the size limit (64 MB for a card file, 1 GiB for a source)")
FILE_NOT_MAPPING = _code("not-a-mapping", E, "a card file must be a mapping with theme and cards")
EMPTY_FILE = _code("empty-file", E, "the card file is empty")
UNKNOWN_KEY = _code("unknown-key", E, "a key that deckgen does not know (often a typo)")
MISSING_KEY = _code("missing-key", E, "a required key is missing")
WRONG_TYPE = _code("wrong-type", E, "a value has the wrong type")
INVALID_VALUE = _code("invalid-value", E, "a value is not allowed")
UNKNOWN_CARD_TYPE = _code("unknown-card-type", E, "type is not one of quote, cloze, fact, date, figure")
DUPLICATE_ID = _code("duplicate-id", E, "two cards share an id")
ID_COLLISION = _code("id-collision", E, "two ids differ only in case or punctuation")
BAD_ID = _code("bad-id", E, "an id is not a lowercase slug")
UNKNOWN_SOURCE = _code("unknown-source", E, "the source id is not in sources/sources.yaml")
DUPLICATE_THEME = _code("duplicate-theme", W, "two files declare the same theme; their cards share a subdeck")
NO_CARDS = _code("no-cards", W, "a card file has no cards")

# Fidelity against the sources
QUOTE_NOT_FOUND = _code("quote-not-found", E, "the quotation does not occur in its source")
EVIDENCE_NOT_FOUND = _code("evidence-not-found", E, "the evidence span does not occur in its source")
CLOZE_NOT_FOUND = _code("cloze-not-found", E, "the cloze sentence, deletions filled in, does not occur in its source")
FOUND_IN_OTHER_SOURCE = _code("wrong-source", E, "the span occurs in another source than the one cited")
SPLICED_QUOTE = _code("spliced-quote", E, "the quotation joins distant passages without an elision")
CLOZE_SYNTAX = _code("cloze-syntax", E, "malformed cloze deletion (unbalanced, empty, nested, bad number)")
CLOZE_NUMBERING = _code("cloze-numbering", E, "cloze numbers must start at c1 with no gaps")
CLOZE_ANSWER_NOT_IN_EVIDENCE = _code("cloze-answer-not-in-evidence", E, "a cloze answer does not occur in the evidence")
DATE_INVALID = _code("date-invalid", E, "the date is malformed or impossible")
DATE_UNSUPPORTED = _code("date-unsupported", E, "the evidence does not state the date the card asserts")
FIGURE_UNSUPPORTED = _code("figure-unsupported", E, "the evidence does not contain the card's figure")
FIGURE_UNIT = _code("figure-unit", W, "the figure's unit does not occur near the number in the evidence")
PAGE_MISMATCH = _code("page-mismatch", E, "the page does not match the locator that follows the evidence")
SPEAKER_NOT_NEAR = _code("speaker-not-near", W, "the speaker is not named near the quotation")
EMPTY_TEXT = _code("empty-text", E, "a text field is empty")

# Problems with the project's set-up rather than its cards: exit status 2.
SETUP_CODES = frozenset(
    {NO_PROJECT, CONFIG_INVALID, REGISTRY_INVALID, SOURCE_UNREADABLE, PATH_OUTSIDE_PROJECT, TEMPLATE_ERROR,
     OUTPUT_UNWRITABLE}
)
