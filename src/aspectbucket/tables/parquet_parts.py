"""One Parquet file from row groups encoded on several threads at once.

pyarrow's ``ParquetWriter`` encodes a file on one thread (Arrow C++ can encode a row group's columns in
parallel, ``ArrowWriterProperties::set_use_threads``, but pyarrow 26 does not expose it), and encoding is
the heaviest stage of ``assign`` on a Parquet table: at 10^8 rows the one encoding thread was the whole
bound. Row groups are independent in the format (each column chunk holds its own dictionary, pages and
statistics; the footer lists them), so each group is written here as a complete little Parquet file of
its own, on a pool thread (pyarrow releases the GIL while encoding), and the groups are then joined in
order: their bytes between the magic and the footer are appended to the output, the offsets in their
footers moved by where they landed, and one footer written for all of them. The result is the file a
single ``ParquetWriter`` would have written with the same row groups and properties, byte for byte
(tested), just made on every core. Page indexes and bloom filters are refused: they hold offsets or
positions the footer does not list, which joining would leave pointing at another group's bytes.
"""

from __future__ import annotations

import collections
import struct
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO

import pyarrow as arrow
import pyarrow.parquet as parquet

from aspectbucket.tables.thrift_compact import STRUCT, Encoded, Field, Items, field, read_struct, write_struct

MAGIC = b"PAR1"

# Field ids in apache/parquet-format src/main/thrift/parquet.thrift.
_FILE_NUM_ROWS, _FILE_ROW_GROUPS = 3, 4
_GROUP_COLUMNS, _GROUP_NUM_ROWS, _GROUP_FILE_OFFSET, _GROUP_ORDINAL = 1, 3, 5, 7
_CHUNK_FILE_OFFSET, _CHUNK_META_DATA = 2, 3
#: ColumnMetaData: data_page_offset, index_page_offset, dictionary_page_offset.
_META_OFFSETS = (9, 10, 11)
#: Writer properties refused: each puts absolute offsets where a footer edit cannot reach them (page
#: indexes hold their pages' offsets; bloom filters and encryption change what the footer says of them).
REFUSED_PROPERTIES = ("write_page_index", "bloom_filter_options", "encryption_properties")


class JoinedParquetFile:
    """One Parquet file written to ``stream`` from row groups encoded elsewhere (:func:`encoded_file`),
    appended in order; :meth:`close` writes the footer. The stream must be at the start of the file; it is
    never sought or read.

    ``properties`` are ``pyarrow.parquet.ParquetWriter``'s keyword arguments (encodings, dictionaries,
    compression, statistics), which every group is encoded with. Page indexes, bloom filters and encryption
    are refused (:data:`REFUSED_PROPERTIES`). Each group's footer entry is kept encoded (a kilobyte or two),
    not as objects, so a file of thousands of groups holds little until its footer is written.
    """

    def __init__(self, stream: IO[bytes], schema: arrow.Schema, **properties):
        refused = [name for name in REFUSED_PROPERTIES if properties.get(name)]
        if refused:
            raise ValueError(f"a Parquet file written in parts cannot have {', '.join(refused)}")
        self.stream = stream
        self.schema = schema
        self.properties = properties
        self._groups: list[Encoded] = []
        self._rows = 0
        self._position = 0
        self._write(MAGIC)

    def encode(self, table: arrow.Table | None) -> arrow.Buffer:
        """``table`` as a whole Parquet file of this file's schema and properties (any thread may call it)."""
        return encoded_file(table, self.schema, self.properties)

    def append(self, file: arrow.Buffer) -> None:
        """Append the row groups of one encoded file, their offsets moved to where its bytes land. The
        groups count only once their bytes are written: a failed write leaves the footer as it was."""
        body, footer = _split_file(file)
        shift = self._position - len(MAGIC)
        groups = field(footer, _FILE_ROW_GROUPS).value.values
        for number, group in enumerate(groups, start=len(self._groups)):
            _move_group(group, shift, number)
        self._write(body)
        self._groups.extend(Encoded(write_struct(group)) for group in groups)
        self._rows += sum(field(group, _GROUP_NUM_ROWS).value for group in groups)

    def close(self) -> None:
        """Write the footer listing every group appended; the stream itself stays open."""
        _, footer = _split_file(self.encode(None))
        field(footer, _FILE_NUM_ROWS).value = self._rows
        field(footer, _FILE_ROW_GROUPS).value = Items(STRUCT, self._groups)
        encoded = write_struct(footer)
        self._write(encoded)
        self._write(struct.pack("<I", len(encoded)) + MAGIC)

    def _write(self, data) -> None:
        self.stream.write(data)
        self._position += len(data)


class EncodingQueue:
    """Row groups encoded on ``workers`` threads (pyarrow releases the GIL) and appended to their files in
    the order they were submitted; several files may share one queue (a split by bucket).

    At most ``workers`` groups are encoding while the caller gathers the next, so memory holds a bounded
    number of them. An encoding error is raised by the :meth:`submit` or :meth:`close` that reaches it.
    """

    def __init__(self, workers: int):
        self.workers = max(1, workers)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="aspectbucket-parquet")
        self._encoding: collections.deque[tuple[JoinedParquetFile, Future]] = collections.deque()
        self.closed = False

    def submit(self, file: JoinedParquetFile, table: arrow.Table) -> None:
        """Encode ``table`` as the next row group of ``file``; waits while ``workers`` groups are encoding.
        Refused once the queue is closed or abandoned: after a failure, no later group may follow."""
        if self.closed:
            raise ValueError("the Parquet encoding queue is closed")
        self._encoding.append((file, self._pool.submit(file.encode, table)))
        while len(self._encoding) > self.workers:
            self._append_oldest()

    def close(self) -> None:
        """Append every group still encoding and stop the threads; once closed or abandoned, closing does
        nothing."""
        if self.closed:
            return
        while self._encoding:
            self._append_oldest()
        self.abandon()

    def abandon(self) -> None:
        """Stop: groups not yet encoding are dropped, the threads end with those that are."""
        self.closed = True
        for _, pending in self._encoding:
            pending.cancel()
        self._encoding.clear()
        self._pool.shutdown()

    def _append_oldest(self) -> None:
        """Append the oldest group to its file; any failure (its encoding, the write, an interrupt while
        waiting) abandons the queue, so no file gets a group after one it lost."""
        file, encoding = self._encoding.popleft()
        try:
            file.append(encoding.result())
        except BaseException:
            self.abandon()
            raise


class ParallelParquetWriter:
    """Writes tables to ``stream`` as one Parquet file, each table one row group, encoded ``workers`` at a
    time (a :class:`JoinedParquetFile` fed by its own :class:`EncodingQueue`)."""

    def __init__(self, stream: IO[bytes], schema: arrow.Schema, workers: int, **properties):
        self._file = JoinedParquetFile(stream, schema, **properties)
        self._queue = EncodingQueue(workers)

    def write_table(self, table: arrow.Table) -> None:
        """Encode ``table`` as the next row group (see :meth:`EncodingQueue.submit`)."""
        self._queue.submit(self._file, table)

    def close(self) -> None:
        """Append the groups still encoding and write the footer. A failure on the way (a group that
        could not be encoded or written) is raised and no footer is ever written: the file stays
        unreadable rather than readable with rows missing. Once closed or abandoned, closing does nothing."""
        if self._queue.closed:
            return
        self._queue.close()
        self._file.close()

    def abandon(self) -> None:
        """Stop without a footer."""
        self._queue.abandon()


def encoded_file(table: arrow.Table | None, schema: arrow.Schema, properties: dict) -> arrow.Buffer:
    """``table`` as a whole Parquet file in memory, one row group (no table: a file with none)."""
    sink = arrow.BufferOutputStream()
    with parquet.ParquetWriter(sink, schema, **properties) as writer:
        if table is not None:
            writer.write_table(table, row_group_size=max(1, table.num_rows))
    return sink.getvalue()


def _split_file(file: arrow.Buffer) -> tuple[memoryview, list[Field]]:
    """A whole Parquet file's bytes between its magic and its footer, and the footer read."""
    view = memoryview(file)
    if len(view) < 12 or bytes(view[-4:]) != MAGIC:
        raise ValueError("pyarrow wrote a Parquet file without its closing magic")
    footer_start = len(view) - 8 - struct.unpack("<I", view[-8:-4])[0]
    fields, _ = read_struct(view[footer_start : len(view) - 8])
    return view[len(MAGIC) : footer_start], fields


def _move_group(group: list[Field], shift: int, ordinal: int) -> None:
    """Move every file offset of a row group by ``shift`` bytes and give it its place in the file (pyarrow
    26 writes ``RowGroup.ordinal`` only in encrypted files, which are refused, but a later writer may)."""
    _shift(group, _GROUP_FILE_OFFSET, shift)
    if (place := field(group, _GROUP_ORDINAL)) is not None:
        if ordinal < 1 << 15:
            place.value = ordinal
        else:  # an i16: Arrow leaves it out of the groups past 32,767
            group.remove(place)
    for chunk in field(group, _GROUP_COLUMNS).value.values:
        _shift(chunk, _CHUNK_FILE_OFFSET, shift)
        meta = field(chunk, _CHUNK_META_DATA)
        for number in _META_OFFSETS if meta is not None else ():
            _shift(meta.value, number, shift)


def _shift(fields: list[Field], field_id: int, shift: int) -> None:
    """Move one offset. 0 is none (the magic is there): Arrow writes it for the deprecated
    ``ColumnChunk.file_offset`` and for the pages of a group with no rows."""
    entry = field(fields, field_id)
    if entry is not None and entry.value:
        entry.value += shift
