"""Parquet into Parquet with the input's columns copied as they are encoded, not decoded and encoded again.

``assign`` reads two columns of a Parquet table (the sizes) and passes every other through. Decoding
each column only to encode it again was most of the work: at 10^8 rows of four numbers, the columns
passed through cost more than placing and writing the seven added ones. So each input row group that
qualifies becomes an output row group whose input columns are the input's column chunks, byte for byte
(:class:`~aspectbucket.tables.parquet_parts.CopiedRows`), and only the added columns are encoded.

A file is copied only where the result is the table the decoding path writes, read back, and only whole
(a file copied in part and decoded in part could not stop cleanly at a damaged group). Its Arrow schema
is the whole input's (so a ``duration[s]`` shard, stored as the same Parquet INT64 as a ``duration[ms]``
one, is not copied into it); its Parquet schema for the columns kept (physical and logical types,
repetition, nesting) is the output's, element for element, as pyarrow writes it for the output's Arrow
schema; it is not encrypted and lists column orders; every row group has :data:`MIN_COPIED_ROWS` to
:data:`MAX_COPIED_ROWS` rows (smaller ones make a slow table to read, and are gathered into bigger ones
when decoded: img2dataset writes 10,000 rows a shard; a bigger one's added columns would be held whole);
and every chunk lies inside the file without overlapping another, says the type its schema does, holds
a value a row (no column in a list, whose rows only decoding counts), is compressed with a codec pyarrow
has (an uncompressed page's damage nothing short of decoding finds), and its page headers walk to its
exact end with its number of values, a dictionary page first wherever a page refers to one, in pages not
so many and small that walking them costs more than decoding. Any other file is read whole as the
decoding path reads it, with pyarrow's own leniency and errors. When a copied group is encoded each of
its pages is decompressed to exactly its stated size; one that is not stops its file there with a
warning saying so (where decoding gives the codec's own words), keeping the groups appended before it.
That finds a page cut short or overwritten in most places, not every change: snappy, lz4 and brotli
carry no checksum, and the values inside a page are not decoded (nothing here needs them), so a page
damaged in a way its codec cannot tell is copied as it is, and reading that group of the output fails
as reading the input's did. A chunk's statistics are the input's.
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
from aspectbucket.tables.parquet_parts import MAGIC, CopiedRows, SourceFile, _split_file, encoded_file
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
_META_TYPE, _META_PATH, _META_CODEC, _META_NUM_VALUES, _META_UNCOMPRESSED, _META_COMPRESSED = 1, 3, 4, 5, 6, 7
_META_DATA_PAGE, _META_DICTIONARY_PAGE = 9, 11
#: PageHeader: type, uncompressed_page_size, compressed_page_size, data_page_header, data_page_header_v2
#: (num_values is field 1 of both; the encoding field 2 of the first, 4 of the second).
_PAGE_TYPE, _PAGE_UNCOMPRESSED, _PAGE_COMPRESSED, _PAGE_DATA_HEADER, _PAGE_DATA_HEADER_V2 = 1, 2, 3, 5, 8
#: DataPageHeaderV2: definition and repetition levels' byte lengths, is_compressed.
_V2_LEVEL_LENGTHS, _V2_IS_COMPRESSED = (5, 6), 7
#: Parquet's codecs by id, as pyarrow names them, whose pages are copied (each is decompressed to check
#: it). Uncompressed pages are not copied: damage in them only decoding finds; nor LZO and Hadoop-framed
#: LZ4, which pyarrow cannot decompress here.
COPIED_CODECS = {1: "snappy", 2: "gzip", 4: "brotli", 6: "zstd", 7: "lz4_raw"}
#: A chunk of more pages than this, averaging fewer bytes than the next, is decoded rather than walked
#: page by page in Python (a writer of one value a page made copying 25 times slower than decoding).
_FEWEST_PAGES, _SMALLEST_PAGES = 64, 8192
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
    reports: list[tuple[int, str]] | None,
    opened: list[SourceFile] | None = None,
) -> Iterator[ReadBatch | CopiedRows]:
    """Every row group of ``inputs``, in order: copied (``added(sizes)`` makes the columns to add from the
    group's ``size_names`` columns, as read) or decoded into batches of ``schema`` (every file with a
    group that cannot be copied, and all of them without a ``layout``).

    A file that cannot be read, or that fails part-way, is reported (``(its place, warning)``, once a
    file: the place orders the warnings, which the reading and the writing threads find at different
    times) and the next file goes on; with ``reports`` ``None`` (one table, not a folder) it is a
    :class:`TableError`. A copied group found damaged when it is encoded does the same, through its
    :class:`SourceFile`, and the groups of its file after it are dropped. Each file opened for copying is
    added to ``opened``, for a caller that fails part-way to close what its groups still held.
    """
    told: set[int] = set()
    for place, source in enumerate(inputs):

        def damaged(reason: str, name: str = source.name, place: int = place) -> None:
            if reports is None:
                raise TableError(f"the Parquet table is damaged: {reason}")
            if place not in told:
                told.add(place)
                reports.append((place, f"stopped reading {name}: {reason}"))

        try:
            yield from _file_row_groups(source, schema, layout, size_names, added, damaged, opened)
        except (arrow.ArrowException, OSError, ThriftError, ValueError) as error:
            damaged(one_line(error))


def _file_row_groups(source: ParquetInput, schema, layout: CopyLayout | None, size_names, added, damaged, opened):
    """One file's row groups: all copied where every one qualifies; else (a group too small or too big,
    or a footer saying anything it should not) read whole, as the decoding path reads it, with pyarrow's
    own leniency and its own errors."""
    table_file = source.reader()
    counts = [table_file.metadata.row_group(index).num_rows for index in range(table_file.num_row_groups)]
    if (
        layout is not None
        and counts
        and all(MIN_COPIED_ROWS <= rows <= MAX_COPIED_ROWS for rows in counts)
        and table_file.schema_arrow.equals(schema)
    ):
        held = source.source(damaged)
        if opened is not None:
            opened.append(held)
        try:
            plans = _group_plans(held, layout, counts)
            if plans is not None:
                yield from _copied(parquet.ParquetFile(held.handle, pre_buffer=False), plans, held, size_names, added)
                return
        finally:
            held.release()
    for batch in table_file.iter_batches(batch_size=BATCH_ROWS):
        yield ReadBatch(batch if batch.schema.equals(schema) else conform(batch, schema))


def _group_plans(held: SourceFile, layout: CopyLayout, counts: list[int]) -> list | None:
    """For each row group, its chunks to copy, their byte ranges and their pages; ``None`` for the file
    when its footer is not one to trust."""
    found = _footer(held)
    if found is None:
        return None
    footer, footer_start = found
    leaves, groups = layout.leaves(footer), field(footer, _FILE_ROW_GROUPS)
    if (
        leaves is None
        or groups is None
        or not isinstance(groups.value, Items)
        or len(groups.value.values) != len(counts)
    ):
        return None
    plans = []
    for group, rows in zip(groups.value.values, counts, strict=True):
        checked = _copied_chunks(held, group, leaves, layout.leaf_kinds, footer_start, rows)
        if checked is None:
            return None
        plans.append(checked)
    return plans


def _copied(table_file: parquet.ParquetFile, plans: list, held: SourceFile, size_names, added):
    """The planned groups as :class:`CopiedRows`, each with its size columns read; a group whose sizes
    cannot be read stops its file where it is appended (the groups before it are kept)."""
    present = [name for name in dict.fromkeys(size_names) if name in table_file.schema_arrow.names]
    for index, (chunks, ranges, pages) in enumerate(plans):
        rows = table_file.metadata.row_group(index).num_rows
        sizes, reason = _sizes(table_file, index, present, rows)
        held.hold()
        if sizes is None:
            yield CopiedRows(rows, chunks, ranges, held, _unused, lambda said=reason: said)  # stops the file, in order
            return
        yield CopiedRows(rows, chunks, ranges, held, added(sizes), _PageCheck(held, pages))


def _sizes(table_file: parquet.ParquetFile, index: int, names: list[str], rows: int):
    """The group's size columns and ``None``, or ``None`` and why they cannot be read whole."""
    try:
        sizes = table_file.read_row_group(index, columns=names)
    except (arrow.ArrowException, OSError) as error:
        return None, one_line(error)
    if names and sizes.num_rows != rows:
        return None, f"a row group holds {sizes.num_rows:,} rows where its footer lists {rows:,}"
    return sizes, None


def _unused() -> arrow.Table:
    raise AssertionError("a damaged group's columns are never made")


class _PageCheck:
    """Decompress every page of a group's copied chunks (on an encoding thread), a page at a time: the
    copy is then what pyarrow can read, as far as anything short of decoding every value can tell.
    Gives why not, or ``None``; its pages are let go once checked."""

    def __init__(self, source: SourceFile, pages: list):
        self.source = source
        self.pages = pages

    def __call__(self) -> str | None:
        pages, self.pages = self.pages, []
        for column, codec, offset, size, expected in pages:
            try:
                body = self.source.read(offset, size)
            except TableError as error:
                return str(error)
            if not _decompresses(body, expected, codec):
                return f"a page of column {column} does not decompress to the size its header gives"
        return None


def _decompresses(body: bytes, expected: int, codec: str) -> bool:
    """Whether ``body`` decompresses to exactly ``expected`` bytes (pyarrow does not say how many it
    made: one byte fewer must not be enough; snappy says its length first)."""
    if not body:
        return expected == 0  # an empty page, which pyarrow never decompresses
    try:
        arrow.decompress(body, expected, codec=codec)
    except (arrow.ArrowException, OSError, ValueError):
        return False
    if codec == "snappy":
        return _snappy_length(body) == expected
    if expected == 0 or codec == "zstd":  # zstd refuses a size that is not its frame's
        return True
    try:
        arrow.decompress(body, expected - 1, codec=codec)
    except (arrow.ArrowException, OSError, ValueError):
        return True
    return False


def _snappy_length(body: bytes) -> int:
    """The uncompressed length a snappy block starts with (a little-endian base-128 varint)."""
    length = shift = 0
    for byte in body[:5]:
        length |= (byte & 0x7F) << shift
        if byte < 0x80:
            return length
        shift += 7
    return -1


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
    """The kept chunks of a row group, their byte ranges and their pages to check, or ``None`` where its
    footer entry is not to be trusted (a field missing or of another type, or saying what the file
    cannot hold) or a chunk is not one to copy (uncompressed pages, whose damage only decoding finds;
    a column in a list, whose rows only decoding counts)."""
    try:
        return _checked_chunks(source, group, leaves, kinds, footer_start, rows)
    except (ThriftError, TableError, AttributeError, TypeError):
        return None


def _checked_chunks(source: SourceFile, group: list[Field], leaves, kinds, footer_start: int, rows: int):
    if field(group, _GROUP_NUM_ROWS).value != rows:
        return None
    columns = field(group, _GROUP_COLUMNS).value.values
    chunks, ranges, pages = [], [], []
    for leaf, (kind, repeated) in zip(leaves, kinds, strict=True):
        if leaf >= len(columns) or repeated:
            return None
        chunk = columns[leaf]
        meta = field(chunk, _CHUNK_META_DATA)
        if meta is None or any(field(chunk, number) is not None for number in _CHUNK_ELSEWHERE):
            return None
        meta = meta.value
        start, length, values = _extent(meta)
        codec = COPIED_CODECS.get(field(meta, _META_CODEC).value)
        if (
            field(meta, _META_TYPE).value != kind
            or codec is None
            or not 0 <= field(meta, _META_UNCOMPRESSED).value < _MOST
            or values != rows
            or not len(MAGIC) <= start <= start + length <= footer_start
        ):
            return None
        column = ".".join(part.decode("utf-8", "replace") for part in field(meta, _META_PATH).value.values)
        chunk_pages = _pages(source, start, length, values, column, codec)
        if chunk_pages is None:
            return None
        chunks.append(chunk)
        ranges.append((start, length))
        pages += chunk_pages
    if any(start + length > after for (start, length), (after, _) in itertools.pairwise(sorted(ranges))):
        return None  # chunks that overlap are no file's
    return chunks, ranges, pages


def _extent(meta: list[Field]) -> tuple[int, int, int]:
    """A column chunk's first byte (its dictionary page's when it has one), length and number of values."""
    dictionary = field(meta, _META_DICTIONARY_PAGE)
    start = field(meta, _META_DATA_PAGE).value
    if dictionary is not None and 0 < dictionary.value < start:
        start = dictionary.value
    return start, field(meta, _META_COMPRESSED).value, field(meta, _META_NUM_VALUES).value


def _pages(source: SourceFile, start: int, length: int, values: int, column: str, codec: str) -> list | None:
    """The compressed parts of the pages from ``start``, to decompress (``(column, codec, offset, size,
    uncompressed size)``), or ``None`` unless they end exactly at ``start + length`` holding ``values``
    values, each data page compressed, a dictionary page first wherever a data page refers to one, and
    pages not so many and small that walking them here would cost more than decoding them."""
    position, end, counted, dictionary, found = start, start + length, 0, False, []
    while position < end:
        if len(found) > _FEWEST_PAGES and length // len(found) < _SMALLEST_PAGES:
            return None
        header, size = _page_header(source, position, end)
        kind, compressed = field(header, _PAGE_TYPE).value, field(header, _PAGE_COMPRESSED).value
        uncompressed = field(header, _PAGE_UNCOMPRESSED).value
        if not (0 <= compressed < _MOST and 0 <= uncompressed < _MOST):
            return None
        body, plain = size, 0
        if kind == _DICTIONARY_PAGE:
            if position != start:
                return None
            dictionary = True
        elif kind == _DATA_PAGE:
            data = field(header, _PAGE_DATA_HEADER).value
            if field(data, 2).value in _DICTIONARY_ENCODINGS and not dictionary:
                return None
            counted += field(data, 1).value
        elif kind == _DATA_PAGE_V2:
            data = field(header, _PAGE_DATA_HEADER_V2).value
            plain = sum(field(data, number).value for number in _V2_LEVEL_LENGTHS)  # levels: never compressed
            flag = field(data, _V2_IS_COMPRESSED)
            if (
                (field(data, 4).value in _DICTIONARY_ENCODINGS and not dictionary)
                or (flag is not None and not flag.value and compressed > plain)  # values stored plain
                or not 0 <= plain <= min(compressed, uncompressed)
            ):
                return None
            counted += field(data, 1).value
        else:
            return None
        found.append((column, codec, body + plain, compressed - plain, uncompressed - plain))
        position = size + compressed
    return found if position == end and counted == values else None


def _page_header(source: SourceFile, position: int, end: int) -> tuple[list[Field], int]:
    """The page header at ``position`` and where it ends."""
    window = _HEADER_WINDOW
    while True:
        data = source.read(position, min(window, end - position))
        try:
            header, size = read_struct(data)
            return header, position + size
        except ThriftError:
            if len(data) == end - position or window >= _MAX_HEADER:
                raise
            window *= 2
