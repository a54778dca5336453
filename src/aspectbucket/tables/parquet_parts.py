"""One Parquet file from row groups encoded on several threads at once.

pyarrow's ``ParquetWriter`` encodes a file on one thread (Arrow C++ can encode a row group's columns in
parallel, ``ArrowWriterProperties::set_use_threads``, but pyarrow 26 does not expose it), and encoding is
the heaviest stage of ``assign`` on a Parquet table: at 10^8 rows the one encoding thread was the whole
bound. Row groups are independent in the format (each column chunk holds its own dictionary, pages and
statistics; the footer lists them), so each group is written here as a complete little Parquet file of
its own, on a pool thread (pyarrow releases the GIL while encoding), and the groups are then joined in
order: their bytes between the magic and the footer are appended to the output, the offsets in their
footers moved by where they landed, and one footer written for all of them. The result is the file a
single ``ParquetWriter`` would have written with the same row groups, byte for byte (tested), just made
on every core.
"""

from __future__ import annotations

import collections
import struct
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO

import pyarrow as arrow
import pyarrow.parquet as parquet

from aspectbucket.tables.thrift_compact import STRUCT, Field, Items, field, read_struct, write_struct

MAGIC = b"PAR1"

# Field ids in apache/parquet-format src/main/thrift/parquet.thrift.
_FILE_NUM_ROWS, _FILE_ROW_GROUPS = 3, 4
_GROUP_COLUMNS, _GROUP_FILE_OFFSET, _GROUP_ORDINAL = 1, 5, 7
_CHUNK_FILE_OFFSET, _CHUNK_META_DATA, _CHUNK_OFFSET_INDEX, _CHUNK_COLUMN_INDEX = 2, 3, 4, 6
_CHUNK_ENCRYPTION = (8, 9)
#: ColumnMetaData: data_page_offset, index_page_offset, dictionary_page_offset, bloom_filter_offset.
_META_OFFSETS = (9, 10, 11, 14)
#: RowGroup.ordinal is an i16: a writer leaves it out from the group that would not fit.
_MAX_ORDINAL = (1 << 15) - 1


class JoinedParquetFile:
    """One Parquet file written to ``stream`` from row groups encoded elsewhere (:func:`encoded_file`),
    appended in order; :meth:`close` writes the footer. The stream must be at the start of the file; it is
    never sought or read.

    ``properties`` are ``pyarrow.parquet.ParquetWriter``'s keyword arguments (encodings, dictionaries,
    compression), which every group must be encoded with; encryption is refused (an encrypted footer
    cannot be edited).
    """

    def __init__(self, stream: IO[bytes], schema: arrow.Schema, **properties):
        if properties.get("encryption_properties") is not None:
            raise ValueError("an encrypted Parquet file cannot be written in parts")
        self.stream = stream
        self.schema = schema
        self.properties = properties
        self._groups: list[list[Field]] = []
        self._rows = 0
        self._position = 0
        self._write(MAGIC)

    def encode(self, table: arrow.Table | None) -> arrow.Buffer:
        """``table`` as a whole Parquet file of this file's schema and properties (any thread may call it)."""
        return encoded_file(table, self.schema, self.properties)

    def append(self, file: arrow.Buffer) -> None:
        """Append the row groups of one encoded file, their offsets moved to where its bytes land."""
        footer = _footer(file)
        body = memoryview(file)[len(MAGIC) : len(file) - _footer_length(file) - 8]
        shift = self._position - len(MAGIC)
        for group in field(footer, _FILE_ROW_GROUPS).value.values:
            _move_group(group, shift, len(self._groups))
            self._groups.append(group)
            self._rows += field(group, 3).value
        self._write(body)

    def close(self) -> None:
        """Write the footer listing every group appended; the stream itself stays open."""
        footer = _footer(self.encode(None))
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
        self._closed = False

    def submit(self, file: JoinedParquetFile, table: arrow.Table) -> None:
        """Encode ``table`` as the next row group of ``file``; waits while ``workers`` groups are encoding."""
        self._encoding.append((file, self._pool.submit(file.encode, table)))
        while len(self._encoding) > self.workers:
            self._append_oldest()

    def close(self) -> None:
        """Append every group still encoding and stop the threads (abandoning the rest on an error); once
        closed or abandoned, closing does nothing."""
        if self._closed:
            return
        try:
            while self._encoding:
                self._append_oldest()
        finally:
            self.abandon()

    def abandon(self) -> None:
        """Stop: groups not yet encoding are dropped, the threads end with those that are."""
        self._closed = True
        for _, pending in self._encoding:
            pending.cancel()
        self._encoding.clear()
        self._pool.shutdown()

    def _append_oldest(self) -> None:
        file, encoding = self._encoding.popleft()
        file.append(encoding.result())


class ParallelParquetWriter:
    """Writes tables to ``stream`` as one Parquet file, each table one row group, encoded ``workers`` at a
    time (a :class:`JoinedParquetFile` fed by its own :class:`EncodingQueue`)."""

    def __init__(self, stream: IO[bytes], schema: arrow.Schema, workers: int, **properties):
        self._file = JoinedParquetFile(stream, schema, **properties)
        self._queue = EncodingQueue(workers)
        self._closed = False

    def write_table(self, table: arrow.Table) -> None:
        """Encode ``table`` as the next row group (see :meth:`EncodingQueue.submit`)."""
        self._queue.submit(self._file, table)

    def close(self) -> None:
        """Append the groups still encoding and write the footer. When a group fails to encode, its error
        is raised and no footer is written; once abandoned or closed, closing does nothing."""
        if self._closed:
            return
        self._closed = True
        self._queue.close()
        self._file.close()

    def abandon(self) -> None:
        """Stop without a footer."""
        self._closed = True
        self._queue.abandon()


def encoded_file(table: arrow.Table | None, schema: arrow.Schema, properties: dict) -> arrow.Buffer:
    """``table`` as a whole Parquet file in memory, one row group (no table: a file with none)."""
    sink = arrow.BufferOutputStream()
    with parquet.ParquetWriter(sink, schema, **properties) as writer:
        if table is not None:
            writer.write_table(table, row_group_size=max(1, table.num_rows))
    return sink.getvalue()


def _footer_length(file: arrow.Buffer) -> int:
    tail = memoryview(file)[-8:]
    if len(file) < 12 or bytes(tail[4:]) != MAGIC:
        raise ValueError("pyarrow wrote a Parquet file without its closing magic")
    return struct.unpack("<I", tail[:4])[0]


def _footer(file: arrow.Buffer) -> list[Field]:
    length = _footer_length(file)
    view = memoryview(file)
    fields, _ = read_struct(view[len(view) - 8 - length : len(view) - 8])
    return fields


def _move_group(group: list[Field], shift: int, ordinal: int) -> None:
    """Move every file offset of a row group by ``shift`` bytes and give it its place in the file."""
    _shift(group, _GROUP_FILE_OFFSET, shift)
    position = next((index for index, entry in enumerate(group) if entry.id == _GROUP_ORDINAL), None)
    if position is not None:
        if ordinal <= _MAX_ORDINAL:
            group[position].value = ordinal
        else:
            del group[position]
    for chunk in field(group, _GROUP_COLUMNS).value.values:
        if any(field(chunk, number) is not None for number in _CHUNK_ENCRYPTION):
            raise ValueError("an encrypted column chunk cannot be moved")
        for number in (_CHUNK_FILE_OFFSET, _CHUNK_OFFSET_INDEX, _CHUNK_COLUMN_INDEX):
            _shift(chunk, number, shift)
        meta = field(chunk, _CHUNK_META_DATA)
        for number in _META_OFFSETS if meta is not None else ():
            _shift(meta.value, number, shift)


def _shift(fields: list[Field], field_id: int, shift: int) -> None:
    """Move one offset. 0 is none (the magic is there): Arrow writes it for the deprecated
    ``ColumnChunk.file_offset`` and for the pages of a group with no rows."""
    entry = field(fields, field_id)
    if entry is not None and entry.value:
        entry.value += shift
