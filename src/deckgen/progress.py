"""Progress bars for long runs, on a terminal only.

The pipeline reports ``(stage, done, total)``; this draws one rich progress bar
per stage on stderr. Nothing is drawn when stdout or stderr is not a terminal
(pipes, CI logs, editors), with ``--quiet``, or for a run that finishes before
the bar would have appeared, so a quick rebuild prints exactly what it did
before. rich is imported only when a bar may be drawn.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# A run shorter than this shows no bar at all: a bar that flashes up is noise.
SHOW_AFTER_SECONDS = 0.4

Reporter = Callable[[str, int, int], None]


def wanted(quiet: bool) -> bool:
    if quiet:
        return False
    try:
        return sys.stdout.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


@contextmanager
def progress_bars(enabled: bool) -> Iterator[Reporter | None]:
    """A reporter for the pipeline's ``progress`` argument, or None when no bar is wanted."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bars = Progress(
        TextColumn("{task.description:<20}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    started = time.monotonic()
    tasks: dict[str, Any] = {}
    shown = False

    def report(stage: str, done: int, total: int) -> None:
        nonlocal shown
        task = tasks.get(stage)
        if task is None:
            task = tasks[stage] = bars.add_task(stage, total=total)
        bars.update(task, completed=done, total=total)
        if not shown and time.monotonic() - started >= SHOW_AFTER_SECONDS:
            bars.start()
            shown = True

    try:
        yield report
    finally:
        if shown:
            bars.stop()
