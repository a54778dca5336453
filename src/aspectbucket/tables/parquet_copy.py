"""Parquet into Parquet with the input's columns copied as they are encoded, not decoded and encoded again.

``assign`` reads two columns of a Parquet table (the sizes) and passes every other through. Decoding
each column only to encode it again was most of the work: at 10^8 rows of four numbers, the columns
passed through cost more than placing and writing the seven added ones. So each input row group that
qualifies becomes an output row group whose input columns are the input's column chunks, byte for byte
(:class:`~aspectbucket.tables.parquet_parts.CopiedRows`), and only the added columns are encoded.

A chunk is copied only where the result is the file the decoding path writes, read back: the file's
Arrow schema is the whole input's (so a ``duration[s]`` shard, stored as the same Parquet INT64 as a
``duration[ms]`` one, is not copied into it), its Parquet schema for the columns kept (physical and
logical types, repetition, nesting) is the output's, element for element, as pyarrow writes it for the
output's Arrow schema; the file is not encrypted and lists column orders; each chunk lies inside the
file, says the type its schema does, holds a value a row (for a column not in a list), uses a codec
pyarrow has, and walking its page headers comes to its exact end with its number of values, a dictionary
page first wherever a page refers to one. When the group is encoded, each page is decompressed to check
it (a damaged one stops its file there, with the same warning the decoding path gives); the values
inside a page are not decoded, as nothing here needs them, and the chunk's statistics are the input's.
Row groups of fewer than :data:`MIN_COPIED_ROWS` rows are decoded and gathered into bigger ones instead
(small groups make a slow table to read; img2dataset writes 10,000 rows a shard), and those over
:data:`MAX_COPIED_ROWS` too (their added columns would be held whole); a file with no group in that
range is read as the decoding path reads it, footer and all by pyarrow. A group that does not qualify,
or whose sizes cannot be read, goes the decoding way, and stops its file there with a warning if it is
damaged, as :func:`~aspectbucket.tables.readers.open_parquet_folder` does.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pyarrow as arrow
import pyarrow.parquet as parquet

from aspectbucket.tables.formats import TableError
from aspectbucket.tables.parquet_parts import CODECS, MAGIC, CopiedRows, SourceFile, _split_file, encoded_file
from aspectbucket.tables.readers import BATCH_ROWS, ReadBatch, conform, one_line
from aspectbucket.tables.thrift_compact import Field, Items, ThriftError, field, read_struct, write_struct

#: Row groups at least this long are copied (smaller ones are gathered into groups of the writer's size).
MIN_COPIED_ROWS = 1 << 17
#: ...and at most this long (pyarrow's own default group): a group's added columns are made whole.
MAX_COPIED_ROWS = 1 << 20

# Field ids in apache/parquet-format src/main/thrift/parquet.thrift.
_FILE_SCHEMA, _FILE_ROW_GROUPS, _FILE_COLUMN_ORDERS, _FILE_ENCRYPTION = 2, 4, 7, 8
_ELEMENT_TYPE, _ELEMENT_REPETITION, _ELEMENT_NAME, _ELEMENT_CHILDREN = 1, 3, 4, 5
_REPEATED = 2
_GROUP_COLUMNS, _GROUP_NUM_ROWS = 1, 3
#: ColumnChunk fields that put a chunk's bytes or its metadata elsewhere: file_path, crypto_metadata,
#: encrypted_column_metadata.
_CHUNK_ELSEWHERE = (1, 8, 9)
_CHUNK_META_DATA = 3
_META_TYPE, _META_CODEC, _META_NUM_VALUES, _META_UNCOMPRESSED, _META_COMPRESSED = 1, 4, 5, 6, 7
_META_DATA_PAGE, _META_DICTIONARY_PAGE = 9, 11
#: PageHeader: type, compressed_page_size, data_page_header, data_page_header_v2 (num_values is field 1
#: of both; the encoding field 2 of the first, 4 of the second).
_PAGE_TYPE, _PAGE_COMPRESSED, _PAGE_DATA_HEADER, _PAGE_DATA_HEADER_V2 = 1, 3, 5, 8
_DATA_PAGE, _DICTIONARY_PAGE, _DATA_PAGE_V2 = 0, 2, 3
#: Encodings that refer to a dictionary page: PLAIN_DICTIONARY, RLE_DICTIONARY.
_DICTIONARY_ENCODINGS = (2, 8)
#: Sizes and counts above this are no file's.
_MOST = 1 << 62
#: Page headers are read in windows this big, doubled while one is longer (statistics of long texts).
_HEADER_WINDOW = 1024
_MAX_HEADER = 16 << 20


@dataclass(frozen=True)
class CopyLayout:
    """What an input file must hold to have its columns copied: the output's schema elements, column
    orders and leaf columns for each column passed through (by top-level name, in output order), as
    pyarrow writes them."""

    kept: tuple[str, ...]
    elements: dict[str, list[bytes]]
    orders: dict[str, list[bytes]]
    #: Each kept leaf column's physical type and whether it is in a list (its values need not be one a row).
    leaf_kinds: tuple[tuple[int, bool], ...]

    @classmethod
    def of(cls, schema: arrow.Schema, kept: list[str], properties: dict) -> CopyLayout | None:
        """The layout of a Parquet file of ``schema`` written with ``properties``; ``kept`` are its first
        columns. ``None`` where its own schema cannot be walked here (nested deeper than we read)."""
        _, footer = _split_file(encoded_file(None, schema, properties))
        try:
            fields = _top_level(field(footer, _FILE_SCHEMA).value.values)
        except (ValueError, TypeError, AttributeError):
            return None
        orders = _column_orders(footer)
        if orders is None or [name for name, _, _ in fields[: len(kept)]] != list(kept):
            return None
        elements, order, kinds, leaf = {}, {}, [], 0
        for name, subtree, leaves in fields[: len(kept)]:
            elements[name] = subtree
            order[name] = orders[leaf : leaf + len(leaves)]
            kinds += leaves
            leaf += len(leaves)
        return cls(tuple(kept), elements, order, tuple(kinds))

    def leaves(self, footer: list[Field]) -> list[int] | None:
        """The leaf columns of the file with ``footer`` to copy, in output order, or ``None`` where the file
        cannot be copied from (another schema for a kept column, encryption, no column orders)."""
        try:
            return self._leaves(footer)
        except (ValueError, TypeError, AttributeError):
            return None

    def _leaves(self, footer: list[Field]) -> list[int] | None:
        schema, orders = field(footer, _FILE_SCHEMA), _column_orders(footer)
        if field(footer, _FILE_ENCRYPTION) is not None or schema is None or orders is None:
            return None
        where, leaf = {}, 0
        for name, subtree, leaves in _top_level(schema.value.values):
            where.setdefault(name, (subtree, list(range(leaf, leaf + len(leaves)))))
            leaf += len(leaves)
        if len(orders) != leaf:
            return None
        chosen = []
        for name in self.kept:
            subtree, leaves = where.get(name, (None, []))
            if subtree != self.elements[name] or [orders[index] for index in leaves] != self.orders[name]:
                return None
            chosen += leaves
        return chosen


def _top_level(elements: list) -> list[tuple[str, list[bytes], list[tuple[int, bool]]]]:
    """Each top-level field of a Parquet schema (its flattened element list, the root first): its name,
    its elements written back as bytes (itself and everything under it), and its leaf columns' physical
    types, each with whether it is in a repeated field."""
    count = field(elements[0], _ELEMENT_CHILDREN)
    position, fields = 1, []
    for _ in range(count.value if count is not None else 0):
        leaves: list[tuple[int, bool]] = []
        end = _subtree_end(elements, position, False, leaves, 0)
        name = field(elements[position], _ELEMENT_NAME).value.decode("utf-8", "replace")
        fields.append((name, [write_struct(element) for element in elements[position:end]], leaves))
        position = end
    if position != len(elements):
        raise ValueError("the Parquet schema lists elements no field holds")
    return fields


def _subtree_end(elements: list, position: int, repeated: bool, leaves: list, depth: int) -> int:
    """Where the field at ``position`` ends (after its children), its leaves added to ``leaves``."""
    if position >= len(elements) or depth > 64:
        raise ValueError("the Parquet schema's fields are cut short or nested too deep")
    element = elements[position]
    repetition = field(element, _ELEMENT_REPETITION)
    repeated = repeated or (repetition is not None and repetition.value == _REPEATED)
    children = field(element, _ELEMENT_CHILDREN)
    if children is None:
        leaves.append((field(element, _ELEMENT_TYPE).value, repeated))
        return position + 1
    position += 1
    for _ in range(children.value):
        position = _subtree_end(elements, position, repeated, leaves, depth + 1)
    return position


def _column_orders(footer: list[Field]) -> list[bytes] | None:
    orders = field(footer, _FILE_COLUMN_ORDERS)
    if orders is None or not isinstance(orders.value, Items):
        return None
    return [write_struct(order) for order in orders.value.values]


@dataclass
class ParquetInput:
    """One Parquet file read for copying: by path (a folder's shard) or an open seekable stream."""

    path: Path | None = None
    stream: IO[bytes] | None = None

    def reader(self) -> parquet.ParquetFile:
        """pyarrow's reader of the file (from its path: pyarrow's own file, not Python's)."""
        return parquet.ParquetFile(self.path if self.path is not None else self.stream, pre_buffer=False)

    def source(self, on_damage: Callable[[str], None]) -> SourceFile:
        """The file held open for copying (one descriptor, whatever happens to the path meanwhile)."""
        if self.path is not None:
            return SourceFile(open(self.path, "rb"), self.name, on_damage)  # closed by its last holder
        return SourceFile(self.stream, self.name, on_damage, owned=False)

    @property
    def name(self) -> str:
        return str(self.path) if self.path is not None else "the Parquet table"


def copied_row_groups(
    inputs: list[ParquetInput],
    schema: arrow.Schema,
    layout: CopyLayout | None,
    size_names: list[str],
    added: Callable[[arrow.Table], Callable[[], arrow.Table]],
    warnings: list[str] | None,
) -> Iterator[ReadBatch | CopiedRows]:
    """Every row group of ``inputs``, in order: copied (``added(sizes)`` makes the columns to add from the
    group's ``size_names`` columns, as read) or decoded into batches of ``schema`` where it cannot be
    (every one without a ``layout``).

    A file that cannot be read, or that fails part-way, is a warning and the next file goes on when
    ``warnings`` is a list; with ``None`` (one table, not a folder) it is a :class:`TableError`. A copied
    group found damaged when it is encoded does the same, through its :class:`SourceFile`.
    """
    for source in inputs:

        def damaged(reason: str, name: str = source.name) -> None:
            if warnings is None:
                raise TableError(f"the Parquet table is damaged: {reason}")
            warnings.append(f"stopped reading {name}: {reason}")

        try:
            yield from _file_row_groups(source, schema, layout, size_names, added, damaged)
        except (arrow.ArrowException, OSError, ThriftError, ValueError) as error:
            damaged(one_line(error))


def _file_row_groups(source: ParquetInput, schema, layout: CopyLayout | None, size_names, added, damaged):
    """One file's row groups: copied where they qualify; where none does, or where its footer says
    anything it should not (it is then read whole, as the decoding path reads it, with pyarrow's own
    leniency and its own errors), every row decoded."""
    table_file = source.reader()
    counts = [table_file.metadata.row_group(index).num_rows for index in range(table_file.num_row_groups)]
    if (
        layout is not None
        and any(MIN_COPIED_ROWS <= rows <= MAX_COPIED_ROWS for rows in counts)
        and table_file.schema_arrow.equals(schema)
    ):
        held = source.source(damaged)
        try:
            plans = _group_plans(held, layout, counts)
            if plans is not None:
                yield from _mixed(
                    parquet.ParquetFile(held.handle, pre_buffer=False), plans, held, schema, size_names, added
                )
                return
        finally:
            held.release()
    for batch in table_file.iter_batches(batch_size=BATCH_ROWS):
        yield ReadBatch(batch if batch.schema.equals(schema) else conform(batch, schema))


def _group_plans(held: SourceFile, layout: CopyLayout, counts: list[int]) -> list | None:
    """For each row group, its chunks to copy and their ranges (``None``: its rows are to be decoded, as
    there are too few or too many); ``None`` for the file when its footer is not one to trust."""
    found = _footer(held)
    leaves = layout.leaves(found[0]) if found is not None else None
    groups = field(found[0], _FILE_ROW_GROUPS) if found is not None else None
    if (
        leaves is None
        or groups is None
        or not isinstance(groups.value, Items)
        or len(groups.value.values) != len(counts)
    ):
        return None
    plans = []
    for group, rows in zip(groups.value.values, counts, strict=True):
        checked = _copied_chunks(held, group, leaves, layout.leaf_kinds, found[1], rows)
        if checked is None:
            return None
        plans.append(checked if MIN_COPIED_ROWS <= rows <= MAX_COPIED_ROWS else None)
    return plans


def _mixed(table_file: parquet.ParquetFile, plans: list, held: SourceFile, schema, size_names, added):
    """The groups planned: copied ones as :class:`CopiedRows`, the others decoded (runs of them together)."""
    present = [name for name in size_names if name in schema.names]
    counts = [table_file.metadata.row_group(index).num_rows for index in range(len(plans))]
    waiting: list[int] = []
    for index, plan in enumerate(plans):
        sizes = _sizes(table_file, index, present, counts[index]) if plan is not None else None
        if sizes is None:
            waiting.append(index)
            continue
        yield from _decoded(table_file, waiting, schema, counts)
        waiting = []
        held.hold()
        yield CopiedRows(counts[index], *plan, held, added(sizes))
    yield from _decoded(table_file, waiting, schema, counts)


def _sizes(table_file: parquet.ParquetFile, index: int, names: list[str], rows: int) -> arrow.Table | None:
    """The group's size columns, or ``None`` where they cannot be read whole (the group is then decoded,
    which meets the same damage where it stops the file)."""
    try:
        sizes = table_file.read_row_group(index, columns=names)
    except (arrow.ArrowException, OSError):
        return None
    return sizes if not names or sizes.num_rows == rows else None


def _decoded(table_file: parquet.ParquetFile, groups, schema: arrow.Schema, counts: list[int]) -> Iterator[ReadBatch]:
    """The rows of ``groups`` decoded; groups that yield other than the rows their footer lists are damage,
    not a shorter table (read alone, a group whose chunk says it holds no values yields none, where the
    whole file read at once is refused)."""
    groups = list(groups)
    if not groups:
        return
    read = 0
    for batch in table_file.iter_batches(batch_size=BATCH_ROWS, row_groups=groups):
        read += batch.num_rows
        yield ReadBatch(batch if batch.schema.equals(schema) else conform(batch, schema))
    listed = sum(counts[index] for index in groups)
    if read != listed:
        raise ValueError(f"its row groups hold {read:,} rows where its footer lists {listed:,}")


def _footer(source: SourceFile) -> tuple[list[Field], int] | None:
    """The file's footer as Thrift fields (pyarrow's metadata object does not give them) and where it
    starts, or ``None`` when its bytes are not a footer."""
    file_size = source.size()
    if file_size < 2 * len(MAGIC) + 4:
        return None
    length, magic = struct.unpack("<I4s", source.read(file_size - 8, 8))
    start = file_size - 8 - length
    if magic != MAGIC or start < len(MAGIC):
        return None
    try:
        footer, end = read_struct(source.read(start, length))
    except ThriftError:
        return None
    return (footer, start) if end == length else None


def _copied_chunks(source: SourceFile, group: list[Field], leaves, kinds, footer_start: int, rows: int):
    """The kept chunks of a row group and their byte ranges, or ``None`` where its footer entry is not to
    be trusted (a field missing or of another type, or saying what the file cannot hold)."""
    try:
        return _checked_chunks(source, group, leaves, kinds, footer_start, rows)
    except (ThriftError, OSError, AttributeError, TypeError):
        return None


def _checked_chunks(source: SourceFile, group: list[Field], leaves, kinds, footer_start: int, rows: int):
    if field(group, _GROUP_NUM_ROWS).value != rows:
        return None
    columns = field(group, _GROUP_COLUMNS).value.values
    chunks, ranges = [], []
    for leaf, (kind, repeated) in zip(leaves, kinds, strict=True):
        if leaf >= len(columns):
            return None
        chunk = columns[leaf]
        meta = field(chunk, _CHUNK_META_DATA)
        if meta is None or any(field(chunk, number) is not None for number in _CHUNK_ELSEWHERE):
            return None
        meta = meta.value
        start, length, values = _extent(meta)
        if (
            field(meta, _META_TYPE).value != kind
            or field(meta, _META_CODEC).value not in CODECS
            or not 0 <= field(meta, _META_UNCOMPRESSED).value < _MOST
            or (values != rows if not repeated else not rows <= values < _MOST)
            or not len(MAGIC) <= start <= start + length <= footer_start
            or not _pages_end(source, start, length, values)
        ):
            return None
        chunks.append(chunk)
        ranges.append((start, length))
    if any(start + length > after for (start, length), (after, _) in itertools.pairwise(sorted(ranges))):
        return None  # chunks that overlap are no file's
    return chunks, ranges


def _extent(meta: list[Field]) -> tuple[int, int, int]:
    """A column chunk's first byte (its dictionary page's when it has one), length and number of values."""
    dictionary = field(meta, _META_DICTIONARY_PAGE)
    start = field(meta, _META_DATA_PAGE).value
    if dictionary is not None and 0 < dictionary.value < start:
        start = dictionary.value
    return start, field(meta, _META_COMPRESSED).value, field(meta, _META_NUM_VALUES).value


def _pages_end(source: SourceFile, start: int, length: int, values: int) -> bool:
    """Whether the pages from ``start`` end exactly at ``start + length`` holding ``values`` values, with
    a dictionary page first wherever a data page refers to one."""
    position, end, counted, dictionary = start, start + length, 0, False
    while position < end:
        header, size = _page_header(source, position, end)
        kind, compressed = field(header, _PAGE_TYPE), field(header, _PAGE_COMPRESSED)
        if kind is None or compressed is None or not 0 <= compressed.value < _MOST:
            return False
        if kind.value == _DICTIONARY_PAGE:
            if position != start:
                return False
            dictionary = True
        elif kind.value in (_DATA_PAGE, _DATA_PAGE_V2):
            data = field(header, _PAGE_DATA_HEADER if kind.value == _DATA_PAGE else _PAGE_DATA_HEADER_V2)
            encoding = field(data.value, 2 if kind.value == _DATA_PAGE else 4).value
            if encoding in _DICTIONARY_ENCODINGS and not dictionary:
                return False
            counted += field(data.value, 1).value
        else:
            return False
        position += size + compressed.value
    return position == end and counted == values


def _page_header(source: SourceFile, position: int, end: int) -> tuple[list[Field], int]:
    """The page header at ``position`` and its length in bytes."""
    window = _HEADER_WINDOW
    while True:
        data = source.read(position, min(window, end - position))
        try:
            return read_struct(data)
        except ThriftError:
            if len(data) == end - position or window >= _MAX_HEADER:
                raise
            window *= 2
