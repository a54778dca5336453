"""A size table read whole for the epoch ledger: sizes and, where given, repeats and subsets.

``aspectbucket ledger --sizes FILE`` reads the same CSV, JSONL and Parquet tables as ``assign``
(:mod:`aspectbucket.tables.readers`; size columns found as :mod:`aspectbucket.tables.sizes` finds
them), plus optional ``repeats`` and ``subset`` columns. A bad size becomes a placement error of its
row; a bad ``repeats`` cell is named in a one-line warning and counts as 1, so one bad cell never
stops the run nor loses its row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as arrow

from aspectbucket.tables.formats import guess_format
from aspectbucket.tables.readers import conform, open_table, unified_schema
from aspectbucket.tables.sizes import SizeColumns, size_columns, size_values


@dataclass
class SizeTable:
    """The columns of a size table; ``repeats``/``subsets`` are ``None`` when the table has none."""

    widths: np.ndarray
    heights: np.ndarray
    repeats: np.ndarray | None
    subsets: np.ndarray | None
    columns: SizeColumns
    warnings: list[str] = field(default_factory=list)


def read_size_table(path: Path | str) -> SizeTable:
    """Read ``path`` (format from its name or first bytes); raises ``TableError`` without sizes."""
    with open(path, "rb") as stream:
        table_format = guess_format(path, stream.peek(8)[:8])
        source = open_table(stream, table_format)
        reads = list(source.batches)
    schema = source.schema or unified_schema([read.batch.schema for read in reads])
    batches = [conform(read.batch, schema) for read in reads]
    whole = arrow.Table.from_batches(batches, schema) if batches else schema.empty_table()
    columns = size_columns(schema.names)
    warnings = [columns.note] if columns.note else []
    widths = size_values(whole.column(columns.width))
    heights = size_values(whole.column(columns.height))
    repeats = _repeats(whole.column("repeats"), warnings) if "repeats" in schema.names else None
    subsets = None
    if "subset" in schema.names:
        names = whole.column("subset").to_pylist()
        subsets = np.array(["" if name is None else str(name) for name in names], dtype=str)
    return SizeTable(widths, heights, repeats, subsets, columns, warnings)


def _repeats(column, warnings: list[str]) -> np.ndarray:
    """Whole numbers >= 0; an empty cell counts as 1, a bad one as 1 with a warning naming its row."""
    values = size_values(column)
    empty = np.isnan(values)
    bad = ~empty & ((values < 0) | (values != np.floor(values)))
    for row in np.flatnonzero(bad)[:20].tolist():
        warnings.append(f"row {row + 1}: repeats {column[row].as_py()!r} is not a whole number >= 0; counted as 1")
    if bad.sum() > 20:
        warnings.append(f"... and {int(bad.sum()) - 20} more rows with bad repeats, each counted as 1")
    return np.where(empty | bad, 1, values).astype(np.int64)
