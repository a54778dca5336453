"""Size tables read as a stream of Arrow record batches: CSV, JSONL, Parquet, from a file or a pipe.

Each reader yields :class:`ReadBatch` es of bounded size. A fast columnar parse (pyarrow) handles a
block; only a block that holds a bad row is parsed again row by row, so that the bad row becomes that
row's ``error`` and every other row keeps its values. CSV cells are read as text, declared up front
from the header: no guess made on the first rows can be refuted by row 10 million, and a CSV written
back is the cells as they came. A Parquet table's schema is its footer's. JSONL has no schema up
front: each block has its own, and :func:`unified_schema` makes one for the whole input when a writer
needs it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pyarrow as arrow
import pyarrow.csv as arrow_csv
import pyarrow.json as arrow_json

from aspectbucket.tables import records
from aspectbucket.tables.formats import TableError, TableFormat
from aspectbucket.tables.json_text import json_text
from aspectbucket.tables.records import split_records

#: Rows per Parquet batch: large enough that numpy dominates, small enough for a worker's cache.
BATCH_ROWS = 1 << 16
NOT_AN_OBJECT = "the line is not a JSON object"
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class ReadBatch:
    """Rows read from a table; ``errors`` holds a reason per row when some row could not be read whole."""

    batch: arrow.RecordBatch
    errors: list[str] | None = None


@dataclass
class TableSource:
    """An open size table: its schema when the format declares one up front, and its batches.

    ``warnings`` collects, as the batches are read, whole files that were skipped (one line each).
    """

    schema: arrow.Schema | None
    batches: Iterator[ReadBatch]
    warnings: list[str] = field(default_factory=list)


def open_table(stream: IO[bytes] | Path, table_format: TableFormat) -> TableSource:
    """Start reading ``stream`` (or a folder of Parquet files); raises :class:`TableError` if it is not
    a table of that format at all."""
    if isinstance(stream, Path):
        return open_parquet_folder(stream)
    if table_format is TableFormat.CSV:
        return _open_csv(stream)
    if table_format is TableFormat.JSONL:
        return TableSource(None, _jsonl_batches(stream))
    return _open_parquet(stream)


# --- CSV


def _open_csv(stream: IO[bytes]) -> TableSource:
    blocks = split_records(stream, quoted=True)
    first = next(blocks, None)
    if first is None or not first.data.strip():
        raise TableError("the CSV is empty: it has no header line")
    header = next(csv.reader(io.StringIO(first.data.decode("utf-8-sig", "replace"), newline="")), [])
    names = [name.strip() for name in header]
    if not names:
        raise TableError("the CSV's first line names no columns: it must be a header")
    names, warnings = _unique_names(names)
    schema = arrow.schema([(name, arrow.string()) for name in names])

    def batches() -> Iterator[ReadBatch]:
        yield _csv_block(first.data, schema, skip_header=True)
        for block in blocks:
            yield _skipped_row(block.skipped, schema) if block.skipped else _csv_block(block.data, schema)

    return TableSource(schema, batches(), warnings)


def _unique_names(names: list[str]) -> tuple[list[str], list[str]]:
    """Header names made unique (a repeated ``a`` becomes ``a_2``: every cell is kept, none overwritten)."""
    seen: set[str] = set(names)
    unique, warnings, used = [], [], set()
    for position, name in enumerate(names, start=1):
        if name in used:
            number = 2
            while f"{name}_{number}" in seen:
                number += 1
            renamed = f"{name}_{number}"
            seen.add(renamed)
            warnings.append(f"the CSV header repeats {name!r}: column {position} is read as {renamed!r}")
            name = renamed
        used.add(name)
        unique.append(name)
    return unique, warnings


def _csv_block(data: bytes, schema: arrow.Schema, skip_header: bool = False) -> ReadBatch:
    try:
        table = arrow_csv.read_csv(
            io.BytesIO(data),
            read_options=arrow_csv.ReadOptions(column_names=schema.names, skip_rows=int(skip_header)),
            parse_options=arrow_csv.ParseOptions(newlines_in_values=True),
            convert_options=arrow_csv.ConvertOptions(
                column_types=dict(zip(schema.names, schema.types, strict=True)), strings_can_be_null=False
            ),
        )
    except arrow.ArrowInvalid:  # a row with too many or too few cells, or text that is not UTF-8
        return _csv_rows(data, schema, skip_header)
    return ReadBatch(_one_batch(table, schema))


def _csv_rows(data: bytes, schema: arrow.Schema, skip_header: bool) -> ReadBatch:
    """A block parsed by the standard library: each row is kept, a malformed one with a reason."""
    width = len(schema.names)
    values: list[list[str]] = [[] for _ in range(width)]
    errors = []
    with _csv_field_limit():
        rows = csv.reader(io.StringIO(data.decode("utf-8-sig" if skip_header else "utf-8", "replace"), newline=""))
        if skip_header:
            next(rows, None)
        for row in rows:
            if not row:
                continue
            errors.append("" if len(row) == width else f"the row has {len(row)} cells; the header has {width}")
            row = (row + [""] * width)[:width]
            for column, value in zip(values, row, strict=True):
                column.append(value)
    columns = [arrow.array(column, arrow.string()) for column in values]
    return ReadBatch(arrow.RecordBatch.from_arrays(columns, schema=schema), errors if any(errors) else None)


@contextlib.contextmanager
def _csv_field_limit():
    """The csv module refuses cells over 128 KiB by default; the record limit is ours instead."""
    previous = csv.field_size_limit(min(sys.maxsize, 1 << 62))
    try:
        yield
    finally:
        csv.field_size_limit(previous)


# --- JSONL


def _jsonl_batches(stream: IO[bytes]) -> Iterator[ReadBatch]:
    for block in split_records(stream, quoted=False):
        if block.skipped:
            yield _skipped_row(block.skipped, arrow.schema([]))
        elif block.data.strip():
            yield _jsonl_block(block.data)


def _jsonl_block(data: bytes) -> ReadBatch:
    try:
        table = arrow_json.read_json(io.BytesIO(data))
    except arrow.ArrowInvalid:  # a line that is not an object, a lone surrogate, a column that changes type
        return _jsonl_lines(data)
    return ReadBatch(_one_batch(table, table.schema))


def _jsonl_lines(data: bytes) -> ReadBatch:
    """A block parsed line by line: a bad line keeps its place as a row with a reason."""
    rows, errors = [], []
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            row = _clean(json.loads(line.decode("utf-8", "replace")))
        except ValueError:
            row = None
        rows.append(row if isinstance(row, dict) else {})
        errors.append("" if isinstance(row, dict) else NOT_AN_OBJECT)
    names = list(dict.fromkeys(name for row in rows for name in row))
    columns = [_column([row.get(name) for row in rows]) for name in names]
    if not columns:
        return ReadBatch(_empty_rows(len(rows)), errors)
    return ReadBatch(arrow.RecordBatch.from_arrays(columns, names=names), errors if any(errors) else None)


def _clean(value):
    """Lone surrogates (``"\\ud800"``) cannot be UTF-8: each becomes U+FFFD, as undecodable bytes do."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if _has_surrogate(value) else value
    if isinstance(value, dict):
        return {_clean(key): _clean(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _column(values: list) -> arrow.Array:
    """One column of parsed JSON values; values of mixed types become their JSON text (strings stay strings)."""
    try:
        return arrow.array(values)
    except (arrow.ArrowInvalid, arrow.ArrowTypeError, OverflowError):
        return arrow.array(
            [
                value if value is None or isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                for value in values
            ],
            arrow.string(),
        )


# --- Parquet


def _open_parquet(stream: IO[bytes]) -> TableSource:
    import pyarrow.parquet as parquet

    stream = seekable(stream)  # Parquet's footer is at the end: a pipe goes to a temporary file first
    try:
        table_file = parquet.ParquetFile(stream, pre_buffer=False)
    except (arrow.ArrowException, OSError) as error:
        raise TableError(f"not a readable Parquet table: {one_line(error)}") from None
    schema = table_file.schema_arrow

    def batches() -> Iterator[ReadBatch]:
        try:
            for batch in table_file.iter_batches(batch_size=BATCH_ROWS):
                yield ReadBatch(batch)
        except (arrow.ArrowException, OSError) as error:
            raise TableError(f"the Parquet table is damaged: {one_line(error)}") from None

    return TableSource(schema, batches())


def open_parquet_folder(folder: Path) -> TableSource:
    """Every ``*.parquet`` file under ``folder`` (img2dataset's shards), in path order, as one table.

    See :func:`parquet_shards`; a shard that fails part-way stops there with a warning.
    """
    import pyarrow.parquet as parquet

    readable, schema, warnings = parquet_shards(folder)

    def batches() -> Iterator[ReadBatch]:
        for path in readable:
            try:
                for batch in parquet.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=BATCH_ROWS):
                    yield ReadBatch(batch if batch.schema.equals(schema) else conform(batch, schema))
            except (arrow.ArrowException, OSError) as error:
                warnings.append(f"stopped reading {path}: {one_line(error)}")

    return TableSource(schema, batches(), warnings)


def parquet_shards(source: Path) -> tuple[list[Path], arrow.Schema, list[str]]:
    """The readable Parquet files of a folder (or the one file), their unified schema, and a warning per
    file skipped.

    The schema is unified from every footer before the first row is read (a shard whose column is
    all null has it typed ``null``; another shard's type wins). A file whose footer cannot be read is
    skipped with a warning; the others go on.
    """
    import pyarrow.parquet as parquet

    if source.is_dir():
        files = sorted(path for path in source.rglob("*.parquet") if path.is_file() and not path.name.startswith("."))
    else:
        files = [source]
    if not files:
        raise TableError(f"{source} holds no .parquet files")
    warnings: list[str] = []
    readable = []
    schemas = []
    for path in files:
        try:
            schemas.append(parquet.read_schema(path))
            readable.append(path)
        except (arrow.ArrowException, OSError) as error:
            warnings.append(f"skipped {path}: not a readable Parquet file ({one_line(error)})")
    if not readable:
        raise TableError(f"no readable Parquet file in {source}: {warnings[0]}")
    return readable, unified_schema(schemas), warnings


# --- shared


def seekable(stream: IO[bytes]) -> IO[bytes]:
    """``stream`` itself when it can seek, else a temporary file holding the rest of it (a pipe read twice)."""
    if stream.seekable():
        return stream
    # Not a context manager: the copy lives as long as its reader, and the OS frees it when it is closed.
    spool = tempfile.TemporaryFile()  # noqa: SIM115
    shutil.copyfileobj(stream, spool, 1 << 20)
    spool.seek(0)
    return spool


def _one_batch(table: arrow.Table, schema: arrow.Schema) -> arrow.RecordBatch:
    batches = table.combine_chunks().to_batches()
    return batches[0] if batches else arrow.RecordBatch.from_pylist([], schema=schema)


def _empty_rows(count: int) -> arrow.RecordBatch:
    """``count`` rows with no columns (lines that held no object at all)."""
    return arrow.RecordBatch.from_struct_array(arrow.array([{}] * count, arrow.struct([])))


def _skipped_row(size: int, schema: arrow.Schema) -> ReadBatch:
    """A record too long to read, kept as one row of nulls whose ``error`` says so."""
    reason = f"the row is {size:,} bytes long, over the limit of {records.MAX_RECORD_BYTES:,}: its cells were not read"
    columns = [arrow.nulls(1, entry.type) for entry in schema]
    batch = arrow.RecordBatch.from_arrays(columns, schema=schema) if columns else _empty_rows(1)
    return ReadBatch(batch, [reason])


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def unified_schema(schemas: list[arrow.Schema]) -> arrow.Schema:
    """One schema for batches read with different ones: columns in order of first appearance, each
    with the type that holds all its values (a column null so far takes the later type; numbers that
    disagree widen; types that cannot meet become text)."""
    fields: dict[str, arrow.DataType] = {}
    for schema in schemas:
        for entry in schema:
            known = fields.get(entry.name)
            fields[entry.name] = entry.type if known is None else _common_type(known, entry.type)
    return arrow.schema(list(fields.items()))


def _common_type(left: arrow.DataType, right: arrow.DataType) -> arrow.DataType:
    if left == right:
        return left
    try:
        merged = arrow.unify_schemas(
            [arrow.schema([("x", left)]), arrow.schema([("x", right)])], promote_options="permissive"
        )
    except (arrow.ArrowInvalid, arrow.ArrowTypeError, arrow.ArrowNotImplementedError):
        return arrow.string()
    return merged.field("x").type


def conform(batch: arrow.RecordBatch, schema: arrow.Schema) -> arrow.RecordBatch:
    """``batch`` with exactly ``schema``'s columns: absent ones null, others cast (to text when no cast exists)."""
    columns = []
    for entry in schema:
        index = batch.schema.get_field_index(entry.name)
        if index < 0:
            columns.append(arrow.nulls(batch.num_rows, entry.type))
            continue
        column = batch.column(index)
        if column.type != entry.type:
            try:
                column = column.cast(entry.type)
            except (arrow.ArrowInvalid, arrow.ArrowNotImplementedError, arrow.ArrowTypeError):
                column = _as_text(column).cast(entry.type)
        columns.append(column)
    return arrow.RecordBatch.from_arrays(columns, schema=schema)


def _as_text(column: arrow.Array) -> arrow.Array:
    """A column as text: strings as they are, anything else as its JSON text."""
    if arrow.types.is_string(column.type) or arrow.types.is_large_string(column.type):
        return column
    text = json_text(column)
    return arrow.array([None if value == "null" else value for value in text.to_pylist()], arrow.string())
