"""Placement tables written from Arrow record batches: CSV, JSONL, Parquet, with the schema fixed up front.

A writer is opened with the schema of the whole output (the input's, unified, plus the placement
columns), so a column null in the first million rows, a decimal or a float16 keeps its type, and a
table with no rows is still a readable file with its header or footer.

Parquet batches are gathered into row groups of up to :data:`ROW_GROUP_ROWS` rows before they are
written: a row group per 65,536-row batch rebuilt every column's dictionary and statistics each time,
which made writing a table 2.5x slower than writing it in one go. The groups are encoded on several
threads at once (:class:`~aspectbucket.tables.parquet_parts.ParallelParquetWriter`) while the next one is
read and placed: Parquet encoding is the heaviest stage, and pyarrow's own writer does it on one thread.
The first groups are smaller (:data:`FIRST_ROW_GROUP_ROWS`, doubling), so encoding starts early instead
of after a million rows.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import IO

import pyarrow as arrow
import pyarrow.compute as compute
import pyarrow.csv as arrow_csv

from aspectbucket.tables.formats import TableFormat
from aspectbucket.tables.json_text import float_text, json_lines, json_text
from aspectbucket.tables.parquet_parts import CopiedRows, ParallelParquetWriter
from aspectbucket.tables.pipeline import worker_count

#: Rows gathered before a Parquet row group is written (the group holds the batches that reached it), as
#: pyarrow groups a whole table: a quarter of that costs 15% more to encode...
ROW_GROUP_ROWS = 1 << 20
#: ...but the first group is this small, and each next one twice the last, so that the encoding thread
#: does not wait for a million rows to start (on a table of a million rows it would not overlap at all).
FIRST_ROW_GROUP_ROWS = 1 << 17
#: ...unless the rows waiting hold this many bytes first: a group is held while it is gathered and while
#: it is encoded, and with img2dataset's columns 128 MiB took a 4-million-row stream from 600 MiB to
#: 890 MiB at its peak with one encoding thread (32 MiB: 650 MiB, as fast).
ROW_GROUP_BYTES = 32 << 20
#: Groups encoded at once, at most (one a core up to this): each holds its rows (up to ROW_GROUP_BYTES) and
#: their encoding, about 60 MiB with img2dataset's columns, beside the input's row group that the reader
#: holds (350 MiB for a million such rows): four keep a 10^8-row stream under 1 GB on any machine.
ENCODING_THREADS = 4


class TableWriter:
    """Writes record batches of one schema to a binary stream in one format; :meth:`close` finishes it.

    :func:`encode_batch` turns a batch into what :meth:`write_encoded` appends (CSV and JSONL bytes, a
    Parquet batch as it is); it touches no writer, so batches are encoded on several threads and written
    in order.
    """

    def __init__(
        self,
        stream: IO[bytes],
        table_format: TableFormat,
        schema: arrow.Schema | None,
        parquet_encodings: Mapping[str, str] | None = None,
    ):
        """``parquet_encodings`` names a Parquet encoding for some columns (``DELTA_BINARY_PACKED``), used
        instead of a dictionary; it is ignored for the other formats and for names not in ``schema``."""
        self.stream = stream
        self.format = table_format
        self._parquet = None
        self._pending: list[arrow.RecordBatch] = []
        self._pending_rows = self._pending_bytes = 0
        self._groups = 0
        if table_format is TableFormat.PARQUET:
            self._parquet = ParallelParquetWriter(
                stream, schema, min(worker_count(), ENCODING_THREADS), **parquet_properties(schema, parquet_encodings)
            )
        elif table_format is TableFormat.CSV:
            header = csv_schema(schema)
            arrow_csv.write_csv(arrow.table([arrow.array([], f.type) for f in header], schema=header), stream)

    def write_encoded(self, encoded: bytes | arrow.RecordBatch) -> None:
        """Append what :func:`encode_batch` made (Parquet batches wait for a whole row group)."""
        if isinstance(encoded, bytes):
            self.stream.write(encoded)
            return
        self._pending.append(encoded)
        self._pending_rows += encoded.num_rows
        self._pending_bytes += encoded.nbytes
        group_rows = min(ROW_GROUP_ROWS, FIRST_ROW_GROUP_ROWS << self._groups)
        if self._pending_rows >= group_rows or self._pending_bytes >= ROW_GROUP_BYTES:
            self._write_row_group()

    def write_copied(self, rows: CopiedRows) -> None:
        """Append a Parquet row group whose input columns are copied (after the rows gathered before it)."""
        self._write_row_group()
        self._parquet.write_table(rows)
        self._groups += 1

    def _write_row_group(self) -> None:
        """Hand the gathered rows to the encoding threads (waiting while all are busy, so a bounded
        number of groups is held; an error encoding one is raised here or at :meth:`close`)."""
        gathered = self._pending
        self._pending, self._pending_rows, self._pending_bytes = [], 0, 0  # never handed over twice
        if gathered:
            self._parquet.write_table(arrow.Table.from_batches(gathered))
            self._groups += 1

    def write(self, batch: arrow.RecordBatch) -> None:
        """Append ``batch``."""
        self.write_encoded(encode_batch(batch, self.format))

    def close(self) -> None:
        """Finish the table (a Parquet footer even with no rows); the stream itself stays open. After a
        failure writing Parquet, closing writes no footer and raises nothing new."""
        if self._parquet is not None:
            try:
                self._write_row_group()
            except BaseException:
                self._parquet.abandon()
                raise
            self._parquet.close()

    def abandon(self) -> None:
        """Stop after a failure elsewhere: a Parquet table gets no footer (unreadable, not readable with
        rows missing); text already written stays."""
        if self._parquet is not None:
            self._parquet.abandon()


def parquet_properties(schema: arrow.Schema, encodings: Mapping[str, str] | None = None) -> dict:
    """The ``ParquetWriter`` properties a table of ``schema`` is written with: ``encodings`` for the columns
    they name (those in ``schema``), a dictionary for the other columns but floats."""
    encodings = {name: kind for name, kind in (encodings or {}).items() if name in schema.names}
    # Dictionary pages pay off for text and integers (few distinct buckets); for floats, nearly all
    # distinct, building one that is then dropped costs more than the rest of the write.
    dictionary = [field.name for field in schema if not _floating(field.type) and field.name not in encodings]
    return {"use_dictionary": dictionary, "column_encoding": encodings or None}


def encode_batch(batch: arrow.RecordBatch, table_format: TableFormat) -> bytes | arrow.RecordBatch:
    """``batch`` as the bytes a CSV or JSONL writer appends, or as it is for Parquet; touches no writer state."""
    if table_format is TableFormat.JSONL:
        return json_lines(batch)
    if table_format is TableFormat.CSV:
        text = io.BytesIO()
        arrow_csv.write_csv(csv_batch(batch), text, arrow_csv.WriteOptions(include_header=False))
        return text.getvalue()
    return batch


def _floating(kind: arrow.DataType) -> bool:
    """Floats, and lists of them (``crop_ltrb``)."""
    if arrow.types.is_list(kind) or arrow.types.is_large_list(kind) or arrow.types.is_fixed_size_list(kind):
        kind = kind.value_type
    return arrow.types.is_floating(kind)


def _csv_text_type(kind: arrow.DataType) -> bool:
    """Types a CSV cell cannot hold as they are; they are written as JSON text (lists as space-separated numbers)."""
    return (
        arrow.types.is_nested(kind)
        or arrow.types.is_binary(kind)
        or arrow.types.is_large_binary(kind)
        or arrow.types.is_fixed_size_binary(kind)
        or arrow.types.is_dictionary(kind)
        or arrow.types.is_float16(kind)
    )


def csv_schema(schema: arrow.Schema) -> arrow.Schema:
    """The schema of the CSV cells written for ``schema``."""
    return arrow.schema(
        [(field.name, arrow.string() if _csv_text_type(field.type) else field.type) for field in schema]
    )


def csv_batch(batch: arrow.RecordBatch) -> arrow.RecordBatch:
    """``batch`` with the columns CSV cannot hold as text: lists of numbers as ``"8.0 0.0 440.0 576.0"``."""
    columns = []
    for column in batch.columns:
        kind = column.type
        if _csv_text_type(kind):
            if arrow.types.is_list(kind) and arrow.types.is_floating(kind.value_type):
                column = _spaced_numbers(column)
            else:
                column = compute.if_else(column.is_null(), None, json_text(column))
        columns.append(column)
    return arrow.RecordBatch.from_arrays(columns, schema=csv_schema(batch.schema))


def _spaced_numbers(column: arrow.ListArray) -> arrow.Array:
    items = float_text(column.flatten())
    offsets = compute.subtract(column.offsets, column.offsets[0])
    return compute.binary_join(arrow.ListArray.from_arrays(offsets, items, mask=column.is_null()), " ")
