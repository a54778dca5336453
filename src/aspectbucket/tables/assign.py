"""Size tables in, placement tables out: every row of a CSV, JSONL or Parquet table gets its bucket.

``aspectbucket assign`` and anyone holding a metadata table (img2dataset's Parquet, LAION's
``WIDTH``/``HEIGHT``, a CSV export) use this to add each row's bucket, resize and crop without
looking at pixels. The table streams through as Arrow record batches (pyarrow reads and writes
every format; placement works on whole columns), so memory is a few batches whatever the length.
Input columns pass through with their types; a bad row gets a reason in ``error`` and stays.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
import pyarrow as arrow
import pyarrow.compute as compute

from aspectbucket.geometry.options import BucketOptions
from aspectbucket.geometry.placement import Placement
from aspectbucket.profiles import ExifHandling, Profile, place_by_profile
from aspectbucket.tables.columns import COLUMN_SETS, PIXEL_COLUMNS, PLACEMENT_COLUMNS, REASONS
from aspectbucket.tables.formats import TableError, TableFormat
from aspectbucket.tables.parquet_copy import CopyLayout, ParquetInput, copied_row_groups
from aspectbucket.tables.parquet_parts import CopiedRows, SourceFile
from aspectbucket.tables.pipeline import in_order, read_ahead
from aspectbucket.tables.readers import (
    BATCH_ROWS,
    ReadBatch,
    conform,
    open_table,
    parquet_shards,
    seekable,
    unified_schema,
)
from aspectbucket.tables.sizes import SizeColumns, size_columns, size_values
from aspectbucket.tables.split import BucketSplitter
from aspectbucket.tables.webdataset import open_tar_shards, tar_shards
from aspectbucket.tables.writers import TableWriter, encode_batch, parquet_properties

#: The placement columns' Arrow types, declared so every output has them whatever the rows hold. None is
#: ever null (a row not placed has 0 sizes and its reason), and saying so makes them Parquet ``REQUIRED``
#: columns, which pyarrow encodes 15% faster (no definition levels): at 10^8 rows, encoding the added
#: columns is most of what ``assign`` does to a Parquet table.
PLACEMENT_SCHEMA = arrow.schema(
    [
        arrow.field(name, kind, nullable=False)
        for name, kind in (
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
        )
    ]
)
assert tuple(PLACEMENT_SCHEMA.names) == PLACEMENT_COLUMNS

#: Parquet encodings of the placement columns with thousands of distinct values, where a dictionary costs
#: twice the time for a file a quarter smaller; deltas of neighbouring sizes stay small. The bucket's sides
#: and ``error`` (a few distinct values) keep their dictionary.
PLACEMENT_PARQUET_ENCODINGS = {
    name: "DELTA_BINARY_PACKED" for name in ("resized_width", "resized_height", "crop_left", "crop_top")
}

_REASON_TEXT = arrow.array(REASONS.tolist(), arrow.string())


@dataclass(frozen=True)
class AssignResult:
    """What :func:`assign_table` did: rows written, rows with an ``error``, which columns held the sizes."""

    rows: int
    errors: int
    sizes: SizeColumns
    #: Whole files that could not be read (a damaged shard of a Parquet folder), one line each.
    warnings: list[str] = field(default_factory=list)
    #: What :class:`~aspectbucket.tables.split.BucketSplitter` wrote, when the rows were split by bucket.
    manifest: dict | None = None


def placement_batch(
    placement: Placement, read_errors: list[str] | None = None, columns: Sequence[str] = PLACEMENT_COLUMNS
) -> arrow.RecordBatch:
    """The placement columns of ``placement`` as one Arrow record batch (of :data:`PLACEMENT_SCHEMA`,
    or of the ``columns`` chosen from it, in its order: only those are computed).

    ``read_errors`` (one reason per row, empty for rows read whole) override the placement's reasons.
    """
    chosen = [entry for entry in PLACEMENT_SCHEMA if entry.name in columns]
    arrays = []
    for entry in chosen:
        if entry.name == "error":
            values = _error_text(placement, read_errors)
        elif entry.name == "crop_ltrb":
            corners = np.ascontiguousarray(placement.reported_crop_ltrb, dtype=np.float64).reshape(-1)
            offsets = arrow.array(np.arange(0, 4 * len(placement) + 1, 4, dtype=np.int32))
            values = arrow.ListArray.from_arrays(offsets, corners)
        else:
            values = arrow.array(getattr(placement, _PLACEMENT_ATTRIBUTES.get(entry.name, entry.name)))
        arrays.append(values)
    return arrow.RecordBatch.from_arrays(arrays, schema=arrow.schema(chosen))


#: Placement attributes whose column has another name.
_PLACEMENT_ATTRIBUTES = {"crop_left": "trim_left", "crop_top": "trim_top"}


def _error_text(placement: Placement, read_errors: list[str] | None) -> arrow.Array:
    if not placement.error.any():
        # Every row placed (nearly every batch): empty texts straight from zeroed offsets, a third of the take.
        offsets = arrow.py_buffer(np.zeros(len(placement) + 1, dtype=np.int32))
        error = arrow.StringArray.from_buffers(len(placement), offsets, arrow.py_buffer(b""))
    else:
        error = _REASON_TEXT.take(arrow.array(placement.error.astype(np.int8)))
    if read_errors is None:
        return error
    read = arrow.array(read_errors, arrow.string())
    return compute.if_else(compute.not_equal(read, ""), read, error)


def assign_table(
    source: IO[bytes] | Path,
    sink: IO[bytes] | None,
    options: BucketOptions,
    profile: Profile,
    input_format: TableFormat,
    output_format: TableFormat,
    *,
    width_column: str | None = None,
    height_column: str | None = None,
    split_folder: Path | None = None,
    batch_size: int = 1,
    columns: Sequence[str] | None = None,
) -> AssignResult:
    """Place every row of a size table read from ``source`` and write it with its placement to ``sink``.

    ``source`` is a binary stream, a folder of Parquet files (img2dataset's output) read in name
    order as one table, or WebDataset ``.tar`` shards (a shard or a folder of them; sizes from each
    image member's header, upright where the profile's trainer applies EXIF; see
    :mod:`aspectbucket.tables.webdataset`). Sizes come from ``width_column``/``height_column``, else
    from the first of ``width``/``height``, ``WIDTH``/``HEIGHT``, ``original_width``/``original_height``
    present (the result says which). An input column named like an added column is replaced.
    ``sink`` may be ``None`` when ``split_folder`` is given: the rows then go only to one Parquet file
    per bucket there, with a manifest (see :mod:`aspectbucket.tables.split`; steps at ``batch_size``
    under the profile's batch rule). ``columns`` chooses the placement columns to add (see
    :func:`chosen_columns`; by default :data:`~aspectbucket.tables.columns.PIXEL_COLUMNS`, ``["all"]`` for
    every one): fewer columns are fewer to compute and to write. A JSONL
    input written as CSV, Parquet or a split is read twice (a header needs every column of every
    line); from a pipe it is kept in a temporary file for that. ``options`` must already be validated
    for ``profile`` (see :func:`aspectbucket.resolve`).
    Raises :class:`~aspectbucket.tables.TableError` for a table that cannot be read at all.
    """
    if _may_copy(source, input_format, output_format, sink, split_folder):
        source = source if isinstance(source, Path) else seekable(source)
        if (copied := _copy_inputs(source)) is not None:
            return _assign_copying(copied, sink, options, profile, width_column, height_column, columns)
    upright = profile.exif is ExifHandling.APPLY
    table = open_tar_shards(source, upright) if _is_tar_source(source) else open_table(source, input_format)
    input_schema = table.schema
    if input_schema is None and (output_format is not TableFormat.JSONL or split_folder is not None):
        source = seekable(source)
        start = source.tell()
        input_schema = unified_schema([read.batch.schema for read in open_table(source, input_format).batches])
        source.seek(start)
        table = open_table(source, input_format)
    batches = iter(table.batches)
    first = next(batches, None)
    names = first.batch.schema.names if input_schema is None and first is not None else None
    added = chosen_columns(columns, split_folder is not None)
    plan = PlacedRows.prepare(input_schema, options, profile, width_column, height_column, names, added)

    def placed(read: ReadBatch) -> tuple[arrow.RecordBatch, int, bytes | memoryview | arrow.RecordBatch | None]:
        merged, reasons = placed_rows(read, plan)
        return merged, reasons, encode_batch(merged, output_format) if sink is not None else None

    rows = in_order(placed, read_ahead(_chain(first, batches)))
    return write_placed(rows, plan, sink, output_format, split_folder, batch_size, table.warnings)


def _may_copy(source, input_format: TableFormat, output_format: TableFormat, sink, split_folder) -> bool:
    """Parquet into one Parquet table, where the input's columns may be copied (see
    :mod:`aspectbucket.tables.parquet_copy`; a split by bucket reorders the rows, so it cannot)."""
    if output_format is not TableFormat.PARQUET or sink is None or split_folder is not None:
        return False
    if not hasattr(os, "pread"):
        return False
    return not _is_tar_source(source) if isinstance(source, Path) else input_format is TableFormat.PARQUET


def _copy_inputs(source: IO[bytes] | Path) -> tuple[list[ParquetInput], arrow.Schema, list[str] | None] | None:
    """The Parquet files of ``source`` to read for copying, their schema, and the list their warnings go
    to (``None`` for one table: it fails whole), or ``None`` for a stream with no file under it."""
    if isinstance(source, Path):
        files, schema, warnings = parquet_shards(source)
        return [ParquetInput(path=path) for path in files], schema, warnings
    try:
        source.fileno()
    except (OSError, ValueError, AttributeError):
        return None
    return [ParquetInput(stream=source)], open_table(source, TableFormat.PARQUET).schema, None


def _assign_copying(copied, sink, options, profile, width_column, height_column, columns) -> AssignResult:
    """:func:`assign_table` for Parquet into Parquet, copying the input's row groups' columns where they
    qualify and decoding the rest."""
    inputs, schema, warnings = copied
    plan = PlacedRows.prepare(schema, options, profile, width_column, height_column, None, chosen_columns(columns))
    kept = [name for name in schema.names if name not in plan.columns]
    layout = CopyLayout.of(plan.output_schema, kept, parquet_properties(plan.output_schema, _encodings(plan)))
    sizes = [plan.sizes.width, plan.sizes.height]
    reports: list[tuple[int, str]] | None = [] if warnings is not None else None
    opened: list[SourceFile] = []
    items = copied_row_groups(inputs, schema, layout, sizes, lambda rows: _PlacedCopy(rows, plan), reports, opened)

    def placed(item: ReadBatch | CopiedRows):
        if isinstance(item, CopiedRows):
            return item, 0, None
        merged, reasons = placed_rows(item, plan)
        return merged, reasons, merged

    rows = in_order(placed, read_ahead(items))
    try:
        result = write_placed(rows, plan, sink, TableFormat.PARQUET, None, 1, [])
    except BaseException:
        rows.close()  # the pipeline stops reading (its threads end at their next group)...
        for source in opened:  # ...and the files its groups still hold are closed: none will be appended now
            source.close()
        raise
    stopped = [text for _, text in sorted(reports or [], key=lambda report: report[0])]  # in shard order
    return dataclasses.replace(result, warnings=[*(warnings or []), *stopped])


class _PlacedCopy:
    """The placement columns of a copied row group, made from its size columns when the group is encoded
    (on an encoding thread); ``errors`` then counts its rows not placed."""

    def __init__(self, sizes: arrow.Table, plan: PlacedRows):
        self.sizes = sizes
        self.plan = plan
        self.errors = 0

    def __call__(self) -> arrow.Table:
        sizes, self.sizes = self.sizes, None  # held only until the group is made
        parts = []
        for start in range(0, sizes.num_rows, BATCH_ROWS):  # placement's temporaries stay a batch's size
            columns, reasons = _placement_columns(sizes.slice(start, BATCH_ROWS), self.plan)
            parts.append(columns)
            self.errors += reasons
        schema = arrow.schema([entry for entry in PLACEMENT_SCHEMA if entry.name in self.plan.columns])
        return arrow.Table.from_batches(parts, schema=schema)


@dataclass(frozen=True)
class PlacedRows:
    """What placing a batch needs, fixed before the first row (and sent as it is to cluster workers)."""

    input_schema: arrow.Schema | None
    output_schema: arrow.Schema | None
    sizes: SizeColumns
    options: BucketOptions
    profile: Profile
    #: The placement columns added, in :data:`PLACEMENT_COLUMNS` order.
    columns: tuple[str, ...] = PLACEMENT_COLUMNS

    @classmethod
    def prepare(
        cls,
        input_schema: arrow.Schema | None,
        options: BucketOptions,
        profile: Profile,
        width_column: str | None = None,
        height_column: str | None = None,
        names: list[str] | None = None,
        columns: Sequence[str] = PLACEMENT_COLUMNS,
    ) -> PlacedRows:
        """The plan for a table of ``input_schema`` (``None`` for JSONL into JSONL: ``names`` of its first rows)."""
        names = input_schema.names if input_schema is not None else (names or [])
        if names:
            sizes = size_columns(names, width_column, height_column)
        else:  # no rows, or no line that was an object: nothing to refuse, every row (if any) says it has no size
            sizes = SizeColumns(width_column or "width", height_column or "height")
        output_schema = None
        if input_schema is not None:
            kept = [entry for entry in input_schema if entry.name not in columns]
            output_schema = arrow.schema([*kept, *(entry for entry in PLACEMENT_SCHEMA if entry.name in columns)])
        return cls(input_schema, output_schema, sizes, options, profile, tuple(columns))


def placed_rows(read: ReadBatch, plan: PlacedRows) -> tuple[arrow.RecordBatch, int]:
    """One batch of input rows with its placement columns, and how many of its rows carry an ``error``."""
    batch = read.batch
    if plan.input_schema is not None and not batch.schema.equals(plan.input_schema):
        batch = conform(batch, plan.input_schema)
    columns, reasons = _placement_columns(batch, plan, read.errors)
    return _merged(batch, columns, plan.output_schema), reasons


def _placement_columns(
    sizes: arrow.RecordBatch | arrow.Table, plan: PlacedRows, read_errors: list[str] | None = None
) -> tuple[arrow.RecordBatch, int]:
    """The placement columns of rows holding ``plan``'s size columns, and how many carry an ``error``."""
    widths, heights = (_size_column(sizes, name) for name in (plan.sizes.width, plan.sizes.height))
    placement = place_by_profile(widths, heights, plan.options, plan.profile)
    columns = placement_batch(placement, read_errors, plan.columns)
    # Without read errors the reasons are the placement's own: count their codes, not their texts.
    reasons = count_reasons(columns.column("error")) if read_errors else int(np.count_nonzero(placement.error))
    return columns, reasons


def write_placed(
    rows: Iterable[tuple[arrow.RecordBatch, int, bytes | memoryview | arrow.RecordBatch | None]],
    plan: PlacedRows,
    sink: IO[bytes] | None,
    output_format: TableFormat,
    split_folder: Path | None,
    batch_size: int,
    warnings: list[str],
) -> AssignResult:
    """Write placed batches, in order, to ``sink`` and/or a split by bucket; each comes with its error
    count and, when it was encoded on a worker, its bytes (else it is encoded here)."""
    writer = None
    if sink is not None:
        writer = TableWriter(sink, output_format, plan.output_schema, _encodings(plan))
    splitter = BucketSplitter(split_folder, plan.output_schema) if split_folder is not None else None
    count = errors = 0
    manifest = None
    copies: list[CopiedRows] = []  # counted once appended (a damaged one is dropped with its file's rest)
    try:
        for merged, reasons, encoded in rows:
            if isinstance(merged, CopiedRows):
                writer.write_copied(merged)
                copies.append(merged)
                continue
            if writer is not None:
                writer.write_encoded(encoded if encoded is not None else encode_batch(merged, output_format))
            if splitter is not None:
                splitter.write(merged)
            count, errors = count + merged.num_rows, errors + reasons
        if writer is not None:
            writer.close()
        appended = [copy for copy in copies if copy.appended]
        count += sum(copy.num_rows for copy in appended)
        errors += sum(copy.added.errors for copy in appended)
        if splitter is not None:
            manifest = splitter.close(batch_size, plan.profile)
    except BaseException:
        # A table cut short by a failure gets no Parquet footer: on stdout, where no temporary file is
        # thrown away, a reader must fail on it rather than take a part for the whole.
        if writer is not None:
            writer.abandon()
        if splitter is not None:
            splitter.abandon()
        raise
    return AssignResult(count, errors, plan.sizes, warnings, manifest)


def _encodings(plan: PlacedRows) -> dict[str, str]:
    """The Parquet encodings of the placement columns added (see :data:`PLACEMENT_PARQUET_ENCODINGS`)."""
    return {name: kind for name, kind in PLACEMENT_PARQUET_ENCODINGS.items() if name in plan.columns}


def _chain(first: ReadBatch | None, rest):
    if first is not None:
        yield first
        yield from rest


def chosen_columns(names: Sequence[str] | None, split: bool = False) -> tuple[str, ...]:
    """The placement columns to add, in :data:`PLACEMENT_COLUMNS` order: ``names`` (column names, or the
    sets ``pixels`` and ``all`` of :data:`~aspectbucket.tables.columns.COLUMN_SETS`; :data:`PIXEL_COLUMNS`
    when ``None``), always with ``error`` (a row without it could not say it was not placed) and, for a
    split by bucket, the bucket's sides. Raises :class:`~aspectbucket.tables.TableError` for an unknown name.
    """
    names = PIXEL_COLUMNS if names is None else names
    unknown = [name for name in names if name not in PLACEMENT_COLUMNS and name not in COLUMN_SETS]
    if unknown:
        raise TableError(
            f"no placement column {', '.join(map(repr, unknown))}; they are {', '.join(PLACEMENT_COLUMNS)}, "
            f"or the sets {', '.join(COLUMN_SETS)}"
        )
    wanted = {*names, "error"} | ({"bucket_width", "bucket_height"} if split else set())
    for name, members in COLUMN_SETS.items():
        if name in wanted:
            wanted |= set(members)
    return tuple(name for name in PLACEMENT_COLUMNS if name in wanted)


def _size_column(batch: arrow.RecordBatch | arrow.Table, name: str) -> np.ndarray:
    index = batch.schema.get_field_index(name)
    return size_values(batch.column(index)) if index >= 0 else np.full(batch.num_rows, np.nan)


def _merged(batch: arrow.RecordBatch, placed: arrow.RecordBatch, schema: arrow.Schema | None) -> arrow.RecordBatch:
    """Input columns, then the placement columns (which replace input columns of the same name)."""
    added = set(placed.schema.names)
    kept = [index for index, name in enumerate(batch.schema.names) if name not in added]
    columns = [batch.column(index) for index in kept] + placed.columns
    if schema is not None:
        return arrow.RecordBatch.from_arrays(columns, schema=schema)
    names = [batch.schema.names[index] for index in kept] + placed.schema.names
    return arrow.RecordBatch.from_arrays(columns, names=names)


def _is_tar_source(source) -> bool:
    """A ``.tar`` shard, or a folder of them with no Parquet files (WebDataset)."""
    if not isinstance(source, Path):
        return False
    if source.is_dir():
        return bool(tar_shards(source)) and not any(source.rglob("*.parquet"))
    return source.suffix.lower() == ".tar"


def count_reasons(text: arrow.Array) -> int:
    """Rows whose ``error`` is not empty."""
    return compute.sum(compute.not_equal(text, "")).as_py() or 0
