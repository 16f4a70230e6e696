"""Rich progress display for long client operations (uploads, bulk requests, result retrieval)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class ProgressTracker:
    """Handle given to the code doing the work; ``advance`` is safe to call when display is off."""

    def __init__(self, progress: Progress, task: TaskID):
        self._progress = progress
        self._task = task

    def advance(self, steps: int = 1) -> None:
        self._progress.advance(self._task, steps)

    @property
    def completed(self) -> int:
        return int(next(t.completed for t in self._progress.tasks if t.id == self._task))


def _columns(total: int | None) -> list[ProgressColumn]:
    columns: list[ProgressColumn] = [
        SpinnerColumn("dots2", style="bold green"),
        TextColumn("[progress.description]{task.description}"),
    ]
    if total is None:
        columns.append(TimeElapsedColumn())
    else:
        columns += [BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    columns.append(SpinnerColumn("dots2", style="bold blue"))
    return columns


@contextmanager
def progress_bar(description: str, total: int | None = None, visualize: bool = True) -> Iterator[ProgressTracker]:
    """Spinners, a bar with M/N and ETA (or elapsed time when ``total`` is unknown), on stderr.

    The display goes to stderr so that a script's stdout stays clean; ``visualize=False`` keeps
    the counting but draws nothing.
    """
    progress = Progress(
        *_columns(total), console=Console(stderr=True), transient=False, disable=not visualize
    )
    with progress:
        task = progress.add_task(description, total=total)
        yield ProgressTracker(progress, task)
