"""The tables stage: placement columns added to size tables (CSV, JSONL, Parquet), streamed as Arrow batches."""

from aspectbucket.tables.assign import PLACEMENT_SCHEMA, AssignResult, assign_table, placement_batch
from aspectbucket.tables.columns import PLACEMENT_COLUMNS, placement_arrays, placement_columns
from aspectbucket.tables.formats import TableError, TableFormat, guess_format
from aspectbucket.tables.sizes import SizeColumns

__all__ = [
    "PLACEMENT_COLUMNS",
    "PLACEMENT_SCHEMA",
    "AssignResult",
    "SizeColumns",
    "TableError",
    "TableFormat",
    "assign_table",
    "guess_format",
    "placement_arrays",
    "placement_batch",
    "placement_columns",
]
