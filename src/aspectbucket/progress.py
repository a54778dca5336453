"""One progress bar for every long stage (scan, previews, export): on stderr, on terminals only.

Long work shows its progress; a pipe, a file or a test sees nothing. Each stage asks for a bar with a
label and a total and gets back a function that advances it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class _RateColumn(ProgressColumn):
    """Items per second, with the stage's unit."""

    def __init__(self, unit: str):
        super().__init__()
        self.unit = unit

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        shown = f"{speed:.1f} {self.unit}/s" if speed else f"- {self.unit}/s"
        return Text(shown, style="progress.data.speed")


@contextmanager
def progress_bar(label: str, total: int, shown: bool = True, unit: str = "img") -> Iterator[Callable[..., None]]:
    """A function ``advance(count=1)`` moving a bar of ``total`` items, or doing nothing.

    Nothing is drawn unless ``shown`` and stderr is a terminal (and ``total`` is not 0); the bar
    disappears when the stage ends, so the stage's own summary line stays the last word.
    """
    console = Console(stderr=True)
    if not shown or total == 0 or not console.is_terminal:
        yield lambda count=1: None
        return
    columns = (
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(unit),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda count=1: bar.advance(task, count)
