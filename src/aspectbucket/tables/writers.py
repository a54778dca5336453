"""Placement tables written from Arrow record batches: CSV, JSONL, Parquet, with the schema fixed up front.

A writer is opened with the schema of the whole output (the input's, unified, plus the placement
columns), so a column null in the first million rows, a decimal or a float16 keeps its type, and a
table with no rows is still a readable file with its header or footer.
"""

from __future__ import annotations

import io
from typing import IO

import pyarrow as arrow
import pyarrow.compute as compute
import pyarrow.csv as arrow_csv

from aspectbucket.tables.formats import TableFormat
from aspectbucket.tables.json_text import float_text, json_lines, json_text


class TableWriter:
    """Writes record batches of one schema to a binary stream in one format; :meth:`close` finishes it.

    :func:`encode_batch` turns a batch into what :meth:`write_encoded` appends (CSV and JSONL bytes, a
    Parquet batch as it is); it touches no writer, so batches are encoded on several threads and written
    in order.
    """

    def __init__(self, stream: IO[bytes], table_format: TableFormat, schema: arrow.Schema | None):
        self.stream = stream
        self.format = table_format
        self._parquet = None
        if table_format is TableFormat.PARQUET:
            import pyarrow.parquet as parquet

            # Dictionary pages pay off for text and integers (few distinct buckets); for floats, nearly all
            # distinct, building one that is then dropped costs more than the rest of the write.
            dictionary = [field.name for field in schema if not _floating(field.type)]
            self._parquet = parquet.ParquetWriter(stream, schema, use_dictionary=dictionary)
        elif table_format is TableFormat.CSV:
            header = csv_schema(schema)
            arrow_csv.write_csv(arrow.table([arrow.array([], f.type) for f in header], schema=header), stream)

    def write_encoded(self, encoded: bytes | arrow.RecordBatch) -> None:
        """Append what :meth:`encode` made."""
        if isinstance(encoded, bytes):
            self.stream.write(encoded)
        else:
            self._parquet.write_batch(encoded)

    def write(self, batch: arrow.RecordBatch) -> None:
        """Append ``batch``."""
        self.write_encoded(encode_batch(batch, self.format))

    def close(self) -> None:
        """Finish the table (a Parquet footer even with no rows); the stream itself stays open."""
        if self._parquet is not None:
            self._parquet.close()


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
