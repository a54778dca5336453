"""The shared progress bar: drawn on terminals only, and counting what each stage advances."""

from __future__ import annotations

from rich.console import Console

from aspectbucket import progress as progress_module
from aspectbucket.progress import progress_bar


def test_off_a_terminal_nothing_is_drawn(capsys):
    with progress_bar("reading", 3) as advance:
        for _ in range(3):
            advance()
    assert capsys.readouterr().err == ""


def test_on_a_terminal_the_bar_counts_every_advance(monkeypatch):
    monkeypatch.setattr(Console, "is_terminal", property(lambda self: True))
    bars = []

    class RecordedProgress(progress_module.Progress):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            bars.append(self)

    monkeypatch.setattr(progress_module, "Progress", RecordedProgress)
    with progress_bar("exporting", 5, unit="img") as advance:
        advance(2)
        advance()
    (task,) = bars[0].tasks
    assert (task.description, task.completed, task.total) == ("exporting", 3, 5)


def test_hidden_or_empty_bars_are_no_ops():
    for shown, total in ((False, 10), (True, 0)):
        with progress_bar("x", total, shown) as advance:
            assert advance(4) is None
