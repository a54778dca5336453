"""The tables stage: placement columns added to size tables (CSV, JSONL, Parquet), streamed in chunks."""

from aspectbucket.tables.assign import (
    PLACEMENT_COLUMNS,
    TableError,
    TableFormat,
    assign_table,
    placement_arrays,
    placement_columns,
)

__all__ = ["PLACEMENT_COLUMNS", "TableError", "TableFormat", "assign_table", "placement_arrays", "placement_columns"]
