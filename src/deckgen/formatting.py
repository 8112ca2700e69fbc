"""Present diagnostics: text with the offending line and a caret, or JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

from .diagnostics import Diagnostic, Report
from .errorcodes import Severity

MAX_SNIPPET = 160
# Control characters (a terminal would act on ESC sequences) and bidirectional overrides (which
# make a line read differently from what it holds): shown as U+FFFD, one column each.
_UNSHOWABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    return _UNSHOWABLE.sub("\ufffd", text)


class LineCache:
    def __init__(self, root: Path):
        self.root = root
        self._files: dict[Path, list[str]] = {}

    def line(self, path: Path, number: int) -> str | None:
        if path not in self._files:
            from .yamlfile import MAX_FILE_BYTES  # here: `deckgen --help` never needs the YAML parser

            full = path if path.is_absolute() else self.root / path
            try:
                if not full.resolve().is_relative_to(self.root.resolve()):
                    raise PermissionError("outside the project: never shown")
                if not full.is_file() or full.stat().st_size > MAX_FILE_BYTES:
                    raise PermissionError("not a regular file, or too large: deckgen did not read it either")
                self._files[path] = full.read_bytes().decode("utf-8-sig", errors="replace").splitlines()
            except OSError:
                self._files[path] = []
        lines = self._files[path]
        return lines[number - 1] if 0 < number <= len(lines) else None


def format_text(diagnostics: Iterable[Diagnostic], root: Path) -> str:
    cache = LineCache(root)
    blocks = [_format_one(d, cache) for d in diagnostics]
    return "\n".join(blocks)


def _format_one(d: Diagnostic, cache: LineCache) -> str:
    lines = [f"{d.location}: {d.severity.value}: {printable(d.message)} [{d.code}]"]
    source_line = cache.line(d.location.path, d.location.line)
    if source_line is not None:
        shown, col = _window(printable(source_line.replace("\t", " ")), d.location.col)
        gutter = f"{d.location.line:>5} | "
        lines.append(gutter + shown)
        lines.append(" " * (len(gutter) - 2) + "| " + " " * (col - 1) + "^")
    for extra in d.related:
        lines.append(f"  {printable(extra)}")
    if d.hint:
        lines.append(f"  hint: {printable(d.hint)}")
    return "\n".join(lines)


def _window(line: str, col: int) -> tuple[str, int]:
    """Clip very long lines around the column so the caret stays visible."""
    if len(line) <= MAX_SNIPPET:
        return line, max(1, min(col, len(line) + 1))
    start = max(0, col - 1 - MAX_SNIPPET // 2)
    clipped = line[start:start + MAX_SNIPPET]
    prefix = "…" if start else ""
    return prefix + clipped + "…", col - start + len(prefix)


def summary_line(report: Report, cards: int, files: int) -> str:
    errors, warnings = len(report.errors), len(report.warnings)
    status = "ok" if not errors else "failed"
    return f"{status}: {cards} cards in {files} files; {errors} error(s), {warnings} warning(s)"


def to_json(report: Report, cards: int, files: int) -> str:
    payload = {
        "diagnostics": [diagnostic_dict(d) for d in report],
        "summary": {
            "errors": len(report.errors),
            "warnings": len(report.warnings),
            "cards": cards,
            "files": files,
            "ok": not report.errors,
        },
    }
    return json.dumps(payload, ensure_ascii=False, indent=2)


def diagnostic_dict(d: Diagnostic) -> dict[str, object]:
    return {
        "severity": d.severity.value,
        "code": d.code.code,
        "message": d.message,
        "card": d.card,
        "file": str(d.location.path),
        "line": d.location.line,
        "col": d.location.col,
        "hint": d.hint,
        "related": list(d.related),
    }


def is_setup_problem(report: Report) -> bool:
    from .errorcodes import SETUP_CODES

    return any(d.code in SETUP_CODES and d.severity is Severity.ERROR for d in report.diagnostics)
