"""Diagnostics as data: where, how bad, which code, what, and a hint.

Checks produce ``Diagnostic`` values; ``formatting`` turns them into text or
JSON. Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errorcodes import ErrorCode, Severity


@dataclass(frozen=True, order=True)
class Location:
    path: Path
    line: int = 1
    col: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    location: Location
    code: ErrorCode
    message: str
    severity: Severity
    card: str | None = None
    hint: str | None = None
    # Extra lines shown after the message: e.g. the closest source passage.
    related: tuple[str, ...] = ()

    @classmethod
    def make(
        cls,
        code: ErrorCode,
        location: Location,
        message: str,
        *,
        card: str | None = None,
        hint: str | None = None,
        related: Iterable[str] = (),
        severity: Severity | None = None,
    ) -> "Diagnostic":
        return cls(location, code, message, severity or code.severity, card, hint, tuple(related))

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR


@dataclass
class Report:
    """Diagnostics gathered over a run, in a stable order for output."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def add(self, diagnostic: Diagnostic) -> None:
        self.diagnostics.append(diagnostic)

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics.extend(diagnostics)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.sorted())

    def __len__(self) -> int:
        return len(self.diagnostics)

    def sorted(self) -> list[Diagnostic]:
        return sorted(
            self.diagnostics,
            key=lambda d: (str(d.location.path), d.location.line, d.location.col, d.code.code),
        )

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.WARNING]

    def failed(self, strict: bool = False) -> bool:
        return bool(self.errors) or (strict and bool(self.warnings))


class DeckgenError(Exception):
    """A set-up problem that stops the run before cards can be checked (exit 2)."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(f"{diagnostic.location}: {diagnostic.message}")
        self.diagnostic = diagnostic

    def __reduce__(self) -> tuple[type, tuple[Diagnostic]]:
        # Raised in a worker process, it reaches the parent whole (see ``parallel``).
        return type(self), (self.diagnostic,)


class ContentError(Exception):
    """The project's content failed its checks (exit 1); carries the report."""

    def __init__(self, report: Report):
        super().__init__(f"{len(report.errors)} error(s)")
        self.report = report
