"""Size tables in, placement tables out: CSV, JSONL and Parquet, streamed in chunks.

``aspectbucket assign`` and anyone holding a metadata table (a LAION-style parquet of widths and
heights, a CSV export) use this to add each row's bucket, resize and crop without looking at pixels.
Rows are read and written in chunks, so a table of hundreds of millions of rows needs the memory of
one chunk. Input columns pass through unchanged; a bad row gets a reason in ``error`` and stays.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO

import numpy as np

from aspectbucket.geometry.options import BucketOptions
from aspectbucket.geometry.placement import Placement
from aspectbucket.profiles import Profile, place_by_profile

#: The columns ``assign`` adds to every row, in output order.
PLACEMENT_COLUMNS = (
    "bucket_width",
    "bucket_height",
    "resized_width",
    "resized_height",
    "ar_error",
    "crop_left",
    "crop_top",
    "crop_ltrb",
    "lost_fraction",
    "upscaled",
    "error",
)

CHUNK_ROWS = 1 << 16
NOT_AN_OBJECT = "the line is not a JSON object"


class TableFormat(StrEnum):
    """Formats a size table can be read from and a placement table written to."""

    CSV = "csv"
    JSONL = "jsonl"
    PARQUET = "parquet"


class TableError(ValueError):
    """A table that cannot be read at all (no width/height columns, unknown format)."""


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


@dataclass
class Chunk:
    """Up to :data:`CHUNK_ROWS` input rows: their passed-through columns and raw sizes."""

    rows: list[dict]
    widths: list
    heights: list
    row_errors: list[str] = field(default_factory=list)


def placement_arrays(placement: Placement) -> dict[str, np.ndarray]:
    """The ``assign`` columns of every image as numpy arrays (``crop_ltrb`` is ``(n, 4)``).

    ``crop_left``/``crop_top`` are the real trim offsets in the resized image; ``crop_ltrb`` is what
    the trainer reports to SDXL (for kohya, its letterbox box); ``error`` is empty for placed images.
    """
    return {
        "bucket_width": placement.bucket_width,
        "bucket_height": placement.bucket_height,
        "resized_width": placement.resized_width,
        "resized_height": placement.resized_height,
        "ar_error": placement.ar_error,
        "crop_left": placement.trim_left,
        "crop_top": placement.trim_top,
        "crop_ltrb": placement.reported_crop_ltrb,
        "lost_fraction": placement.lost_fraction,
        "upscaled": placement.upscaled,
        "error": np.array(placement.reasons(), dtype=object),
    }


def placement_columns(placement: Placement, row_errors: list[str] | None = None) -> dict[str, list]:
    """:func:`placement_arrays` as plain Python lists (JSON-ready values).

    ``row_errors`` override placement reasons for rows that could not even be read.
    """
    columns = {name: values.tolist() for name, values in placement_arrays(placement).items()}
    if row_errors:
        columns["error"] = [row or placed for row, placed in zip(row_errors, columns["error"], strict=True)]
    return columns


def read_chunks(stream: IO[bytes], table_format: TableFormat) -> Iterator[Chunk]:
    """Yield the rows of a size table in chunks; raises :class:`TableError` if it has no sizes."""
    if table_format is TableFormat.CSV:
        yield from _read_csv(stream)
    elif table_format is TableFormat.JSONL:
        yield from _read_jsonl(stream)
    else:
        yield from _read_parquet(stream)


def _read_csv(stream: IO[bytes]) -> Iterator[Chunk]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
    reader = csv.DictReader(text)
    if reader.fieldnames is None or not {"width", "height"} <= set(reader.fieldnames):
        raise TableError(f"the CSV header must name 'width' and 'height' columns; it has {reader.fieldnames}")
    chunk = Chunk([], [], [])
    for row in reader:
        row.pop(None, None)  # cells beyond the header
        chunk.rows.append(row)
        chunk.widths.append(row.get("width"))
        chunk.heights.append(row.get("height"))
        chunk.row_errors.append("")
        if len(chunk.rows) == CHUNK_ROWS:
            yield chunk
            chunk = Chunk([], [], [])
    if chunk.rows:
        yield chunk


def _read_jsonl(stream: IO[bytes]) -> Iterator[Chunk]:
    chunk = Chunk([], [], [])
    for line in stream:
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if not isinstance(row, dict):
            chunk.rows.append({})
            chunk.widths.append(None)
            chunk.heights.append(None)
            chunk.row_errors.append(NOT_AN_OBJECT)
        else:
            chunk.rows.append(row)
            chunk.widths.append(_json_size(row.get("width")))
            chunk.heights.append(_json_size(row.get("height")))
            chunk.row_errors.append("")
        if len(chunk.rows) == CHUNK_ROWS:
            yield chunk
            chunk = Chunk([], [], [])
    if chunk.rows:
        yield chunk


def _json_size(value):
    """JSON booleans are ints in Python; a size of ``true`` is not a size."""
    return "not a number" if isinstance(value, bool | list | dict) else value


def _read_parquet(stream: IO[bytes]) -> Iterator[Chunk]:
    parquet = _pyarrow_parquet()
    import pyarrow as arrow

    if not stream.seekable():  # a pipe: Parquet's footer is at the end, so read it all
        stream = io.BytesIO(stream.read())
    try:
        table_file = parquet.ParquetFile(stream)
    except (arrow.ArrowException, OSError) as error:
        raise TableError(f"not a readable Parquet table: {error}") from None
    names = table_file.schema_arrow.names
    if not {"width", "height"} <= set(names):
        raise TableError(f"the Parquet table must have 'width' and 'height' columns; it has {names}")
    for batch in table_file.iter_batches(batch_size=CHUNK_ROWS):
        columns = batch.to_pydict()
        rows = [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]
        yield Chunk(rows, columns["width"], columns["height"], [""] * len(rows))


def _pyarrow_parquet():
    try:
        import pyarrow.parquet as parquet
    except ImportError:
        raise TableError("Parquet tables need pyarrow: pip install 'aspectbucket[parquet]'") from None
    return parquet


class TableWriter:
    """Writes placement rows as CSV, JSONL or Parquet, one chunk at a time."""

    def __init__(self, stream: IO[bytes], table_format: TableFormat):
        self.stream = stream
        self.format = table_format
        self._csv: csv.DictWriter | None = None
        self._text: io.TextIOWrapper | None = None
        self._parquet = None
        self._names: list[str] | None = None
        #: Input columns first seen after the header was written: CSV and Parquet cannot add them.
        self.dropped: list[str] = []

    def write(self, rows: list[dict], columns: dict[str, list]) -> None:
        """Write input rows merged with their placement columns (placement wins on a name clash)."""
        merged = [{**row, **{name: values[i] for name, values in columns.items()}} for i, row in enumerate(rows)]
        names = list(dict.fromkeys(name for row in rows for name in row if name not in PLACEMENT_COLUMNS))
        if self._names is None:
            self._names = names + list(PLACEMENT_COLUMNS)
        elif self.format is not TableFormat.JSONL:
            known = set(self._names)
            self.dropped += [name for name in names if name not in known and name not in self.dropped]
        if self.format is TableFormat.JSONL:
            for row in merged:
                self.stream.write(json.dumps(row, ensure_ascii=False).encode() + b"\n")
        elif self.format is TableFormat.CSV:
            self._write_csv(merged)
        else:
            self._write_parquet(merged)

    def _write_csv(self, merged: list[dict]) -> None:
        if self._csv is None:
            self._text = io.TextIOWrapper(self.stream, encoding="utf-8", newline="", write_through=True)
            self._csv = csv.DictWriter(self._text, fieldnames=self._names, extrasaction="ignore", lineterminator="\n")
            self._csv.writeheader()
        for row in merged:
            row["crop_ltrb"] = " ".join(repr(float(value)) for value in row["crop_ltrb"])
            row["upscaled"] = "true" if row["upscaled"] else "false"
            self._csv.writerow(row)

    def _write_parquet(self, merged: list[dict]) -> None:
        import pyarrow as arrow

        parquet = _pyarrow_parquet()
        try:
            if self._parquet is None:
                schema = arrow.Table.from_pylist(
                    [{name: row.get(name) for name in self._names} for row in merged]
                ).schema
                self._parquet = parquet.ParquetWriter(self.stream, schema)
            table = arrow.Table.from_pylist(merged, schema=self._parquet.schema)
        except arrow.ArrowException as error:
            raise TableError(f"cannot write this chunk as Parquet (a column changed type?): {error}") from None
        self._parquet.write_table(table)

    def close(self) -> None:
        """Finish the table (Parquet footer, flushed text); the stream itself stays open."""
        if self._parquet is not None:
            self._parquet.close()
        if self._text is not None:
            self._text.flush()
            self._text.detach()


def assign_table(
    source: IO[bytes],
    sink: IO[bytes],
    options: BucketOptions,
    profile: Profile,
    input_format: TableFormat,
    output_format: TableFormat,
) -> tuple[int, int, list[str]]:
    """Place every row of a size table and write it with its placement.

    Returns ``(rows, rows with an error, dropped columns)``: input columns that first appear after the
    first chunk cannot join a CSV or Parquet header that is already written (JSONL keeps them).
    ``options`` must already be validated for ``profile`` (see :func:`aspectbucket.resolve`).
    """
    writer = TableWriter(sink, output_format)
    rows = errors = 0
    try:
        for chunk in read_chunks(source, input_format):
            placement = place_by_profile(chunk.widths, chunk.heights, options, profile)
            columns = placement_columns(placement, chunk.row_errors)
            writer.write(chunk.rows, columns)
            rows += len(chunk.rows)
            errors += int(np.count_nonzero([bool(reason) for reason in columns["error"]]))
    finally:
        writer.close()
    return rows, errors, writer.dropped
