"""Size tables in, placement tables out: every row of a CSV, JSONL or Parquet table gets its bucket.

``aspectbucket assign`` and anyone holding a metadata table (img2dataset's Parquet, LAION's
``WIDTH``/``HEIGHT``, a CSV export) use this to add each row's bucket, resize and crop without
looking at pixels. The table streams through as Arrow record batches (pyarrow reads and writes
every format; placement works on whole columns), so memory is a few batches whatever the length.
Input columns pass through with their types; a bad row gets a reason in ``error`` and stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

import numpy as np
import pyarrow as arrow
import pyarrow.compute as compute

from aspectbucket.geometry.options import BucketOptions
from aspectbucket.geometry.placement import Placement
from aspectbucket.profiles import Profile, place_by_profile
from aspectbucket.tables.columns import PLACEMENT_COLUMNS, REASONS
from aspectbucket.tables.formats import TableFormat
from aspectbucket.tables.readers import ReadBatch, conform, open_table, seekable, unified_schema
from aspectbucket.tables.sizes import SizeColumns, size_columns, size_values
from aspectbucket.tables.writers import TableWriter

#: The placement columns' Arrow types, declared so every output has them whatever the rows hold.
PLACEMENT_SCHEMA = arrow.schema(
    [
        ("bucket_width", arrow.int64()),
        ("bucket_height", arrow.int64()),
        ("resized_width", arrow.int64()),
        ("resized_height", arrow.int64()),
        ("ar_error", arrow.float64()),
        ("crop_left", arrow.int64()),
        ("crop_top", arrow.int64()),
        ("crop_ltrb", arrow.list_(arrow.float64())),
        ("lost_fraction", arrow.float64()),
        ("upscaled", arrow.bool_()),
        ("error", arrow.string()),
    ]
)
assert tuple(PLACEMENT_SCHEMA.names) == PLACEMENT_COLUMNS

_REASON_TEXT = arrow.array(REASONS.tolist(), arrow.string())


@dataclass(frozen=True)
class AssignResult:
    """What :func:`assign_table` did: rows written, rows with an ``error``, and which columns held the sizes."""

    rows: int
    errors: int
    sizes: SizeColumns


def placement_batch(placement: Placement, read_errors: list[str] | None = None) -> arrow.RecordBatch:
    """The placement columns of ``placement`` as one Arrow record batch of :data:`PLACEMENT_SCHEMA`.

    ``read_errors`` (one reason per row, empty for rows read whole) override the placement's reasons.
    """
    count = len(placement)
    corners = np.ascontiguousarray(placement.reported_crop_ltrb, dtype=np.float64).reshape(-1)
    crop = arrow.ListArray.from_arrays(arrow.array(np.arange(0, 4 * count + 1, 4, dtype=np.int32)), corners)
    error = _REASON_TEXT.take(arrow.array(placement.error.astype(np.int8)))
    if read_errors is not None:
        read = arrow.array(read_errors, arrow.string())
        error = compute.if_else(compute.not_equal(read, ""), read, error)
    columns = [
        placement.bucket_width,
        placement.bucket_height,
        placement.resized_width,
        placement.resized_height,
        placement.ar_error,
        placement.trim_left,
        placement.trim_top,
        crop,
        placement.lost_fraction,
        placement.upscaled,
        error,
    ]
    return arrow.RecordBatch.from_arrays(
        [column if isinstance(column, arrow.Array) else arrow.array(column) for column in columns],
        schema=PLACEMENT_SCHEMA,
    )


def assign_table(
    source: IO[bytes],
    sink: IO[bytes],
    options: BucketOptions,
    profile: Profile,
    input_format: TableFormat,
    output_format: TableFormat,
    *,
    width_column: str | None = None,
    height_column: str | None = None,
) -> AssignResult:
    """Place every row of a size table read from ``source`` and write it with its placement to ``sink``.

    Sizes come from ``width_column``/``height_column``, else from the first of ``width``/``height``,
    ``WIDTH``/``HEIGHT``, ``original_width``/``original_height`` present (the result says which).
    An input column named like a placement column is replaced. A JSONL input written as CSV or
    Parquet is read twice (a header needs every column of every line); from a pipe it is kept in a
    temporary file for that. ``options`` must already be validated for ``profile``
    (see :func:`aspectbucket.resolve`). Raises :class:`~aspectbucket.tables.TableError` for a table
    that cannot be read at all.
    """
    table = open_table(source, input_format)
    input_schema = table.schema
    if input_schema is None and output_format is not TableFormat.JSONL:
        source = seekable(source)
        start = source.tell()
        input_schema = unified_schema([read.batch.schema for read in open_table(source, input_format).batches])
        source.seek(start)
        table = open_table(source, input_format)
    batches = iter(table.batches)
    first = next(batches, None)
    names = input_schema.names if input_schema is not None else (first.batch.schema.names if first else [])
    sizes = size_columns(names, width_column, height_column)
    output_schema = None
    if input_schema is not None:
        output_schema = arrow.schema([field for field in input_schema if field.name not in PLACEMENT_COLUMNS])
        output_schema = arrow.schema([*output_schema, *PLACEMENT_SCHEMA])
    writer = TableWriter(sink, output_format, output_schema)
    rows = errors = 0
    try:
        for read in _chain(first, batches):
            batch = read.batch
            if input_schema is not None and not batch.schema.equals(input_schema):
                batch = conform(batch, input_schema)
            placed = _place(batch, read.errors, sizes, options, profile)
            writer.write(_merged(batch, placed, output_schema))
            rows += batch.num_rows
            errors += _count_reasons(placed.column("error"))
    finally:
        writer.close()
    return AssignResult(rows, errors, sizes)


def _chain(first: ReadBatch | None, rest):
    if first is not None:
        yield first
        yield from rest


def _place(batch: arrow.RecordBatch, read_errors, sizes: SizeColumns, options, profile) -> arrow.RecordBatch:
    widths, heights = (_size_column(batch, name) for name in (sizes.width, sizes.height))
    return placement_batch(place_by_profile(widths, heights, options, profile), read_errors)


def _size_column(batch: arrow.RecordBatch, name: str) -> np.ndarray:
    index = batch.schema.get_field_index(name)
    return size_values(batch.column(index)) if index >= 0 else np.full(batch.num_rows, np.nan)


def _merged(batch: arrow.RecordBatch, placed: arrow.RecordBatch, schema: arrow.Schema | None) -> arrow.RecordBatch:
    """Input columns, then the placement columns (which replace input columns of the same name)."""
    kept = [index for index, name in enumerate(batch.schema.names) if name not in PLACEMENT_COLUMNS]
    columns = [batch.column(index) for index in kept] + placed.columns
    if schema is not None:
        return arrow.RecordBatch.from_arrays(columns, schema=schema)
    names = [batch.schema.names[index] for index in kept] + placed.schema.names
    return arrow.RecordBatch.from_arrays(columns, names=names)


def _count_reasons(text: arrow.Array) -> int:
    return compute.sum(compute.not_equal(text, "")).as_py() or 0
