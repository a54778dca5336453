"""Which table formats exist, how a file says its format, and the error for a table that cannot be read."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path


class TableFormat(StrEnum):
    """Formats a size table can be read from and a placement table written to."""

    CSV = "csv"
    JSONL = "jsonl"
    PARQUET = "parquet"


class TableError(ValueError):
    """A table that cannot be read at all (no size columns, not the format it claims); one line."""


#: File name suffixes that say a table's format.
TABLE_SUFFIXES = {
    ".jsonl": TableFormat.JSONL,
    ".ndjson": TableFormat.JSONL,
    ".json": TableFormat.JSONL,
    ".parquet": TableFormat.PARQUET,
    ".pq": TableFormat.PARQUET,
    ".csv": TableFormat.CSV,
    ".tsv": TableFormat.CSV,
    ".txt": TableFormat.CSV,
}


def guess_format(path: str | Path, sample: bytes = b"") -> TableFormat:
    """The table format from the file name, else from its first bytes (``{`` means JSONL)."""
    suffix = Path(str(path)).suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return TABLE_SUFFIXES[suffix]
    if sample.lstrip()[:1] == b"{":
        return TableFormat.JSONL
    if sample[:4] == b"PAR1":
        return TableFormat.PARQUET
    return TableFormat.CSV
