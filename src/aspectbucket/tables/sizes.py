"""A size table read whole for the ledger: widths, heights and, where given, repeats and subsets.

``aspectbucket ledger --sizes FILE`` reads the same CSV, JSONL and Parquet tables as ``assign``
(columns ``width``, ``height``; optional ``repeats`` and ``subset``). A bad size becomes a placement
error of its row; a bad ``repeats`` cell is named in a one-line warning and counts as 1, so one bad
cell never stops the run nor loses its row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aspectbucket.tables.assign import guess_format, read_chunks


@dataclass
class SizeTable:
    """The columns of a size table; ``repeats``/``subsets`` are ``None`` when the table has none."""

    widths: list
    heights: list
    repeats: np.ndarray | None
    subsets: np.ndarray | None
    warnings: list[str] = field(default_factory=list)


def read_size_table(path: Path | str) -> SizeTable:
    """Read ``path`` (format from its name or first bytes); raises ``TableError`` without sizes."""
    widths, heights, repeats, subsets, warnings = [], [], [], [], []
    with open(path, "rb") as stream:
        table_format = guess_format(path, stream.peek(8) if hasattr(stream, "peek") else b"")
        for chunk in read_chunks(stream, table_format):
            for row, width, height in zip(chunk.rows, chunk.widths, chunk.heights, strict=True):
                widths.append(width)
                heights.append(height)
                repeats.append(_repeats(row.get("repeats"), len(widths), warnings))
                subsets.append(row.get("subset"))
    has_repeats = any(value is not None for value in repeats)
    has_subsets = any(value not in (None, "") for value in subsets)
    return SizeTable(
        widths,
        heights,
        np.array([1 if value is None else value for value in repeats], dtype=np.int64) if has_repeats else None,
        np.array(["" if value is None else str(value) for value in subsets]) if has_subsets else None,
        warnings,
    )


def _repeats(value, row: int, warnings: list[str]) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not np.isfinite(number) or number != int(number) or number < 0:
        warnings.append(f"row {row}: repeats {value!r} is not a whole number >= 0; counted as 1")
        return 1
    return int(number)
