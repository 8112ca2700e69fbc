"""The deckgen command line: wiring only; the work happens in ``pipeline``."""

from __future__ import annotations

import enum
import gc
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__
from .diagnostics import ContentError, DeckgenError, Report
from .formatting import format_text, is_setup_problem, summary_line, to_json

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Check flashcards against their sources and build Anki packages grouped by theme.",
    pretty_exceptions_enable=False,
)

EXIT_OK, EXIT_CONTENT, EXIT_SETUP = 0, 1, 2

ProjectArg = Annotated[Path, typer.Argument(help="The deck project folder (holds cards/ and sources/).")]


_NO_CACHE_HELP = "Neither read nor write the project's .deckgen-cache (results are the same either way)."
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only problems; no progress bar.")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help=_NO_CACHE_HELP)]


class OutputFormat(str, enum.Enum):
    text = "text"
    json = "json"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"deckgen {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True,
                                                    help="Show the version and exit.")] = None,
) -> None:
    """deckgen: source-checked Anki decks from YAML cards."""


def _fail(report: Report, root: Path, output: OutputFormat = OutputFormat.text, cards: int = 0,
          files: int = 0) -> int:
    if output is OutputFormat.json:
        typer.echo(to_json(report, cards, files))
    else:
        typer.echo(format_text(report, root), err=True)
        typer.echo(summary_line(report, cards, files), err=True)
    return EXIT_SETUP if is_setup_problem(report) else EXIT_CONTENT


def _setup_failure(error: DeckgenError, root: Path, output: OutputFormat = OutputFormat.text) -> int:
    report = Report([error.diagnostic])
    if output is OutputFormat.json:
        typer.echo(to_json(report, 0, 0))
    else:
        typer.echo(format_text(report, root), err=True)
    return EXIT_SETUP


@app.command()
def check(
    project: ProjectArg = Path("."),
    output: Annotated[OutputFormat, typer.Option("--format", help="text or json")] = OutputFormat.text,
    strict: Annotated[bool, typer.Option("--strict", help="Fail on warnings too.")] = False,
    quiet: QuietOpt = False,
    no_cache: NoCacheOpt = False,
) -> None:
    """Check every card against its source; exit 0 (clean), 1 (content errors) or 2 (set-up errors)."""
    from .pipeline import check_project
    from .progress import progress_bars, wanted

    root = project.resolve()
    try:
        with progress_bars(wanted(quiet)) as progress:
            result = check_project(root, use_cache=not no_cache, progress=progress, anchors=False)
    except DeckgenError as error:
        raise typer.Exit(_setup_failure(error, root, output))
    report = result.report
    cards, files = result.project.card_count, len(result.project.files)
    if output is OutputFormat.json:
        typer.echo(to_json(report, cards, files))
    else:
        if len(report):
            typer.echo(format_text(report, root), err=True)
        if not quiet:
            typer.echo(summary_line(report, cards, files))
    if report.failed(strict):
        raise typer.Exit(EXIT_SETUP if is_setup_problem(report) else EXIT_CONTENT)


@app.command()
def build(
    project: ProjectArg = Path("."),
    out: Annotated[Optional[Path], typer.Option("--out", help="Output folder (default: the project's `out`).")] = None,
    split: Annotated[bool, typer.Option("--split", help="Write one package per theme.")] = False,
    quiet: QuietOpt = False,
    no_cache: NoCacheOpt = False,
) -> None:
    """Check the project and write Anki packages (one subdeck per theme)."""
    from .pipeline import build_project
    from .progress import progress_bars, wanted

    root = project.resolve()
    try:
        with progress_bars(wanted(quiet)) as progress:
            result = build_project(root, out=out.resolve() if out else None, split=split,
                                   use_cache=not no_cache, progress=progress)
    except DeckgenError as error:
        raise typer.Exit(_setup_failure(error, root))
    except ContentError as error:
        typer.echo(format_text(error.report, root), err=True)
        typer.echo("build refused: fix the errors above; nothing was written", err=True)
        raise typer.Exit(EXIT_SETUP if is_setup_problem(error.report) else EXIT_CONTENT)
    if len(result.check.report):
        typer.echo(format_text(result.check.report, root), err=True)
    if not quiet:
        for path in result.outputs:
            shown = path.relative_to(root) if path.is_relative_to(root) else path
            typer.echo(f"wrote {shown}")
        typer.echo(
            f"{result.notes} notes, {result.cards} cards, {result.themes} themes; "
            f"{result.changed_notes} note(s) new or changed since the last build"
        )


@app.command()
def preview(
    project: ProjectArg = Path("."),
    out: Annotated[Optional[Path], typer.Option("--out", help="Output folder (default: <project>/preview).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only problems.")] = False,
) -> None:
    """Write a static HTML preview: every card front and back, and a reader of each source.

    Cards with errors are previewed too, marked; the exit status is then 1, as for `check`.
    """
    from .preview import PreviewOutputError, write_preview

    root = project.resolve()
    try:
        result = write_preview(root, out=out.resolve() if out else None)
    except DeckgenError as error:
        raise typer.Exit(_setup_failure(error, root))
    except PreviewOutputError as error:
        typer.echo(f"deckgen: {error}", err=True)
        raise typer.Exit(EXIT_SETUP)
    report = result.check.report
    if len(report):
        typer.echo(format_text(report, root), err=True)
    if not quiet:
        shown = result.out.relative_to(root) if result.out.is_relative_to(root) else result.out
        typer.echo(f"wrote {shown / 'index.html'}")
        typer.echo(
            f"{result.notes} notes, {result.cards} cards, {result.themes} themes, {result.sources} sources; "
            f"{result.coverage.covered} of {result.coverage.total} source paragraphs have a card"
        )
    if report.failed():
        raise typer.Exit(EXIT_SETUP if is_setup_problem(report) else EXIT_CONTENT)


@app.command()
def coverage(
    project: ProjectArg = Path("."),
    output: Annotated[OutputFormat, typer.Option("--format", help="text or json")] = OutputFormat.text,
) -> None:
    """For each source, the share of its paragraphs that some card draws on, and the paragraphs none does."""
    from .coverage import format_table, project_coverage
    from .coverage import to_json as coverage_json
    from .pipeline import check_project

    root = project.resolve()
    try:
        result = check_project(root)
    except DeckgenError as error:
        raise typer.Exit(_setup_failure(error, root, output))
    report = project_coverage(result)
    if output is OutputFormat.json:
        typer.echo(coverage_json(report))
    else:
        typer.echo(format_table(report))
    if report.unanchored:
        typer.echo(f"note: {len(report.unanchored)} card(s) failed the check and count for nothing here; "
                   "run `deckgen check`", err=True)


# glibc's mallopt parameter: how much memory to keep at the top of the heap when memory is freed.
_M_TOP_PAD = -2
_TOP_PAD_BYTES = 256 << 20


def keep_freed_memory() -> bool:
    """Ask glibc's allocator to keep up to 256 MB of freed memory at the top of the heap
    instead of handing it back to the system at once; whether it agreed (False elsewhere).

    A large run allocates and frees hundreds of megabytes of text, offsets and rows, and
    each page handed back is faulted in again at the next allocation: at 50,000 cards that
    was 110,000 of a check's 400,000 page faults. Kept for reuse, it makes a rebuild after a
    one-card edit about 0.07 s faster there, for about 30 MB more at the peak.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (ImportError, OSError, AttributeError):  # a Python without ctypes, no C library, or none with mallopt
        return False
    return bool(mallopt(_M_TOP_PAD, _TOP_PAD_BYTES))


def run() -> None:
    """Console entry point: no traceback ever reaches the user."""
    # One short-lived run makes few reference cycles; collecting them costs more than it frees.
    gc.disable()
    try:
        keep_freed_memory()
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        _leave(130)
    except SystemExit as exc:
        _leave(_exit_status(exc.code))
    except Exception as exc:  # noqa: BLE001 - the last guard before the user's terminal
        typer.echo(f"deckgen: internal error: {type(exc).__name__}: {exc}", err=True)
        typer.echo("this is a bug in deckgen; please report it with the command you ran", err=True)
        _leave(EXIT_SETUP)
    _leave(EXIT_OK)


def _exit_status(code: object) -> int:
    if code is None:
        return EXIT_OK
    if isinstance(code, int):
        return code
    typer.echo(str(code), err=True)
    return 1


def _leave(status: int) -> None:
    """Exit without freeing every object one by one: after a large build that takes
    seconds, and every file deckgen wrote is already closed and renamed into place."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    run()
