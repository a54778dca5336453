"""Parquet into Parquet with the input's columns copied as they are encoded, not decoded and encoded again.

``assign`` reads two columns of a Parquet table (the sizes) and passes every other through. Decoding
each column only to encode it again was most of the work: at 10^8 rows of four numbers, the columns
passed through cost more than placing and writing the seven added ones. So each input row group that
qualifies becomes an output row group whose input columns are the input's column chunks, byte for byte
(:class:`~aspectbucket.tables.parquet_parts.CopiedRows`), and only the added columns are encoded.

A chunk is copied only where the result is the file the decoding path writes, read back: the input's
Parquet schema for the columns kept (physical and logical types, repetition, nesting) must be the
output's, element for element, as pyarrow writes it for the output's Arrow schema; the file is not
encrypted and lists column orders; each chunk lies inside the file, in it, and walking its page headers
comes to its exact end with its number of values. Row groups of fewer than :data:`MIN_COPIED_ROWS` rows
are decoded and gathered into bigger ones instead (small groups make a slow table to read; img2dataset
writes 10,000 rows a shard), and those over :data:`MAX_COPIED_ROWS` too (their added columns would be
held whole). A group that does not qualify, or whose sizes cannot be read, goes the decoding way, and
stops its file there with a warning if it is damaged, as :func:`~aspectbucket.tables.readers.open_parquet_folder`
does. Bytes of a chunk damaged inside a compressed page are copied as they are: nothing reads them here.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pyarrow as arrow
import pyarrow.parquet as parquet

from aspectbucket.tables.formats import TableError
from aspectbucket.tables.parquet_parts import MAGIC, CopiedRows, SourceFile, _split_file, encoded_file
from aspectbucket.tables.readers import BATCH_ROWS, ReadBatch, conform, one_line
from aspectbucket.tables.thrift_compact import Field, ThriftError, field, read_struct, write_struct

#: Row groups at least this long are copied (smaller ones are gathered into groups of the writer's size).
MIN_COPIED_ROWS = 1 << 17
#: ...and at most this long (pyarrow's own default group): a group's added columns are made whole.
MAX_COPIED_ROWS = 1 << 20

# Field ids in apache/parquet-format src/main/thrift/parquet.thrift.
_FILE_SCHEMA, _FILE_ROW_GROUPS, _FILE_COLUMN_ORDERS, _FILE_ENCRYPTION = 2, 4, 7, 8
_ELEMENT_NAME, _ELEMENT_CHILDREN = 4, 5
_GROUP_COLUMNS, _GROUP_NUM_ROWS = 1, 3
#: ColumnChunk fields that put a chunk's bytes or its metadata elsewhere: file_path, crypto_metadata,
#: encrypted_column_metadata.
_CHUNK_ELSEWHERE = (1, 8, 9)
_CHUNK_META_DATA = 3
_META_NUM_VALUES, _META_COMPRESSED, _META_DATA_PAGE, _META_DICTIONARY_PAGE = 5, 7, 9, 11
#: PageHeader: type, compressed_page_size, data_page_header, data_page_header_v2 (num_values is field 1 of both).
_PAGE_TYPE, _PAGE_COMPRESSED, _PAGE_DATA_HEADER, _PAGE_DATA_HEADER_V2 = 1, 3, 5, 8
_DATA_PAGE, _DATA_PAGE_V2 = 0, 3
#: Page headers are read in windows this big, doubled while one is longer (statistics of long texts).
_HEADER_WINDOW = 1024
_MAX_HEADER = 16 << 20


@dataclass(frozen=True)
class CopyLayout:
    """What an input file must hold to have its columns copied: the output's schema elements and column
    orders for each column passed through (by top-level name, in output order), as pyarrow writes them."""

    kept: tuple[str, ...]
    elements: dict[str, list[bytes]]
    orders: dict[str, list[bytes]]

    @classmethod
    def of(cls, schema: arrow.Schema, kept: list[str], properties: dict) -> CopyLayout:
        """The layout of a Parquet file of ``schema`` written with ``properties``; ``kept`` are its first columns."""
        _, footer = _split_file(encoded_file(None, schema, properties))
        fields = _top_level(field(footer, _FILE_SCHEMA).value.values)
        orders = _column_orders(footer)
        elements, order, leaf = {}, {}, 0
        for name, subtree, leaves in fields[: len(kept)]:
            elements[name] = subtree
            order[name] = orders[leaf : leaf + leaves] if orders is not None else None
            leaf += leaves
        if [name for name, _, _ in fields[: len(kept)]] != list(kept):
            raise ValueError("the kept columns are not the output's first columns")
        return cls(tuple(kept), elements, order)

    def leaves(self, footer: list[Field]) -> list[int] | None:
        """The leaf columns of the file with ``footer`` to copy, in output order, or ``None`` where the file
        cannot be copied from (another schema for a kept column, encryption, no column orders)."""
        schema, orders = field(footer, _FILE_SCHEMA), _column_orders(footer)
        if field(footer, _FILE_ENCRYPTION) is not None or schema is None or orders is None:
            return None
        try:
            fields = _top_level(schema.value.values)
        except (ValueError, TypeError, AttributeError):
            return None
        where, leaf = {}, 0
        for name, subtree, leaves in fields:
            where[name] = (subtree, list(range(leaf, leaf + leaves)))
            leaf += leaves
        if len(orders) != leaf:
            return None
        chosen = []
        for name in self.kept:
            subtree, leaves = where.get(name, (None, []))
            if subtree != self.elements[name] or [orders[index] for index in leaves] != self.orders[name]:
                return None
            chosen += leaves
        return chosen


def _top_level(elements: list) -> list[tuple[str, list[bytes], int]]:
    """Each top-level field of a Parquet schema (its flattened element list, the root first): its name,
    its elements written back as bytes (itself and everything under it), and how many leaf columns it has."""
    count = field(elements[0], _ELEMENT_CHILDREN)
    position, fields = 1, []
    for _ in range(count.value if count is not None else 0):
        end, leaves = _subtree_end(elements, position, 0)
        name = field(elements[position], _ELEMENT_NAME).value.decode("utf-8", "replace")
        fields.append((name, [write_struct(element) for element in elements[position:end]], leaves))
        position = end
    if position != len(elements):
        raise ValueError("the Parquet schema lists elements no field holds")
    return fields


def _subtree_end(elements: list, position: int, depth: int) -> tuple[int, int]:
    """Where the field at ``position`` ends (after its children) and its leaf count."""
    if position >= len(elements) or depth > 64:
        raise ValueError("the Parquet schema's fields are cut short")
    children = field(elements[position], _ELEMENT_CHILDREN)
    if children is None:
        return position + 1, 1
    position, leaves = position + 1, 0
    for _ in range(children.value):
        position, under = _subtree_end(elements, position, depth + 1)
        leaves += under
    return position, leaves


def _column_orders(footer: list[Field]) -> list[bytes] | None:
    orders = field(footer, _FILE_COLUMN_ORDERS)
    return None if orders is None else [write_struct(order) for order in orders.value.values]


@dataclass
class ParquetInput:
    """One Parquet file read for copying: by path (a folder's shard) or an open seekable stream."""

    path: Path | None = None
    stream: IO[bytes] | None = None

    def open(self) -> tuple[parquet.ParquetFile, SourceFile]:
        """The file for pyarrow (on this thread) and for reading its bytes at offsets (on any)."""
        if self.path is not None:
            return parquet.ParquetFile(self.path, pre_buffer=False), SourceFile(path=self.path)
        return parquet.ParquetFile(self.stream, pre_buffer=False), SourceFile(descriptor=self.stream.fileno())

    @property
    def name(self) -> str:
        return str(self.path) if self.path is not None else "the Parquet table"


def copied_row_groups(
    inputs: list[ParquetInput],
    schema: arrow.Schema,
    layout: CopyLayout,
    size_names: list[str],
    added: Callable[[arrow.Table], Callable[[], arrow.Table]],
    warnings: list[str] | None,
) -> Iterator[ReadBatch | CopiedRows]:
    """Every row group of ``inputs``, in order: copied (``added(sizes)`` makes the columns to add from the
    group's ``size_names`` columns, as read) or decoded into batches of ``schema`` where it cannot be.

    A file that cannot be read, or that fails part-way, is a warning and the next file goes on when
    ``warnings`` is a list; with ``None`` (one table, not a folder) it is a :class:`TableError`.
    """
    for source in inputs:
        try:
            yield from _file_row_groups(source, schema, layout, size_names, added)
        except (arrow.ArrowException, OSError, ThriftError, ValueError) as error:
            if warnings is None:
                raise TableError(f"the Parquet table is damaged: {one_line(error)}") from None
            warnings.append(f"stopped reading {source.name}: {one_line(error)}")


def _file_row_groups(source: ParquetInput, schema, layout: CopyLayout, size_names, added):
    table_file, bytes_at = source.open()
    with bytes_at.opened() as read:
        found = _footer(read, bytes_at.size())
        footer, footer_start = found if found is not None else ([], 0)
        leaves = layout.leaves(footer) if found is not None else None
        groups = field(footer, _FILE_ROW_GROUPS)
        present = [name for name in size_names if name in table_file.schema_arrow.names]
        for index in range(table_file.num_row_groups):
            copied = None
            if leaves is not None and groups is not None and len(groups.value.values) == table_file.num_row_groups:
                copied = _copied_chunks(read, groups.value.values[index], leaves, footer_start)
            if copied is None:
                yield from _decoded(table_file, index, schema)
                continue
            chunks, ranges = copied
            try:
                sizes = table_file.read_row_group(index, columns=present)
            except (arrow.ArrowException, OSError):
                yield from _decoded(table_file, index, schema)  # the same error, where it stops the file
                continue
            yield CopiedRows(table_file.metadata.row_group(index).num_rows, chunks, ranges, bytes_at, added(sizes))


def _decoded(table_file: parquet.ParquetFile, index: int, schema: arrow.Schema) -> Iterator[ReadBatch]:
    for batch in table_file.iter_batches(batch_size=BATCH_ROWS, row_groups=[index]):
        yield ReadBatch(batch if batch.schema.equals(schema) else conform(batch, schema))


def _footer(read: Callable[[int, int], bytes], file_size: int) -> tuple[list[Field], int] | None:
    """The file's footer as Thrift fields (pyarrow's metadata object does not give them) and where it
    starts, or ``None`` when its bytes are not a footer."""
    if file_size < 2 * len(MAGIC) + 4:
        return None
    length, magic = struct.unpack("<I4s", read(file_size - 8, 8))
    start = file_size - 8 - length
    if magic != MAGIC or start < len(MAGIC):
        return None
    try:
        footer, end = read_struct(read(start, length))
    except ThriftError:
        return None
    return (footer, start) if end == length else None


def _copied_chunks(read, group: list[Field], leaves: list[int], footer_start: int):
    """The kept chunks of a row group and their byte ranges, or ``None`` where it is not to be copied
    (a field missing or of another type is a footer not to be trusted: the group is decoded)."""
    try:
        return _checked_chunks(read, group, leaves, footer_start)
    except (ThriftError, OSError, AttributeError, TypeError):
        return None


def _checked_chunks(read, group: list[Field], leaves: list[int], footer_start: int):
    rows = field(group, _GROUP_NUM_ROWS)
    if rows is None or not MIN_COPIED_ROWS <= rows.value <= MAX_COPIED_ROWS:
        return None
    columns = field(group, _GROUP_COLUMNS).value.values
    chunks, ranges = [], []
    for leaf in leaves:
        if leaf >= len(columns):
            return None
        chunk = columns[leaf]
        meta = field(chunk, _CHUNK_META_DATA)
        if meta is None or any(field(chunk, number) is not None for number in _CHUNK_ELSEWHERE):
            return None
        start, length, values = _extent(meta.value)
        if not len(MAGIC) <= start <= start + length <= footer_start or not _pages_end(read, start, length, values):
            return None
        chunks.append(chunk)
        ranges.append((start, length))
    return chunks, ranges


def _extent(meta: list[Field]) -> tuple[int, int, int]:
    """A column chunk's first byte (its dictionary page's when it has one), length and number of values."""
    dictionary = field(meta, _META_DICTIONARY_PAGE)
    start = field(meta, _META_DATA_PAGE).value
    if dictionary is not None and 0 < dictionary.value < start:
        start = dictionary.value
    return start, field(meta, _META_COMPRESSED).value, field(meta, _META_NUM_VALUES).value


def _pages_end(read, start: int, length: int, values: int) -> bool:
    """Whether the pages from ``start`` end exactly at ``start + length`` holding ``values`` values."""
    position, end, counted = start, start + length, 0
    while position < end:
        header, size = _page_header(read, position, end)
        compressed = field(header, _PAGE_COMPRESSED)
        if field(header, _PAGE_TYPE) is None or compressed is None or compressed.value < 0:
            return False
        if field(header, _PAGE_TYPE).value in (_DATA_PAGE, _DATA_PAGE_V2):
            data = field(header, _PAGE_DATA_HEADER) or field(header, _PAGE_DATA_HEADER_V2)
            if data is None:
                return False
            counted += field(data.value, 1).value
        position += size + compressed.value
    return position == end and counted == values


def _page_header(read, position: int, end: int) -> tuple[list[Field], int]:
    """The page header at ``position`` and its length in bytes."""
    window = _HEADER_WINDOW
    while True:
        data = read(position, min(window, end - position))
        try:
            header, size = read_struct(data)
            return header, size
        except ThriftError:
            if len(data) == end - position or window >= _MAX_HEADER:
                raise
            window *= 2
