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

A group may also be :class:`CopiedRows`: its first columns are column chunks of another Parquet file,
copied as they are encoded there (``assign`` passing an input's columns through, see
:mod:`aspectbucket.tables.parquet_copy`), and only its last columns are encoded here. Their offsets are
moved the same way; what they held of page indexes and bloom filters (in the other file) is dropped.
"""

from __future__ import annotations

import collections
import io
import os
import stat
import struct
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO

import pyarrow as arrow
import pyarrow.parquet as parquet

from aspectbucket.tables.formats import TableError
from aspectbucket.tables.thrift_compact import (
    STRUCT,
    Encoded,
    Field,
    Items,
    field,
    read_struct,
    write_struct,
)

MAGIC = b"PAR1"

# Field ids in apache/parquet-format src/main/thrift/parquet.thrift.
_FILE_NUM_ROWS, _FILE_ROW_GROUPS = 3, 4
_GROUP_COLUMNS, _GROUP_BYTES, _GROUP_NUM_ROWS, _GROUP_FILE_OFFSET, _GROUP_COMPRESSED, _GROUP_ORDINAL = 1, 2, 3, 5, 6, 7
_CHUNK_FILE_OFFSET, _CHUNK_META_DATA = 2, 3
#: ColumnChunk: offset_index_offset/length, column_index_offset/length (a page index, in another file).
_CHUNK_PAGE_INDEX = (4, 5, 6, 7)
#: ColumnMetaData: total_uncompressed_size.
_META_UNCOMPRESSED = 6
#: ColumnMetaData: data_page_offset, index_page_offset, dictionary_page_offset.
_META_OFFSETS = (9, 10, 11)
#: ColumnMetaData: bloom_filter_offset, bloom_filter_length.
_META_BLOOM_FILTER = (14, 15)
#: Bytes copied from another file at a time.
_COPY_PIECE = 8 << 20
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
        self._kernel_copies = hasattr(os, "copy_file_range") and _regular_file(stream)
        self._write(MAGIC)

    def encode(self, rows: arrow.Table | CopiedRows | None) -> arrow.Buffer | CopiedEncoding:
        """``rows`` as a whole Parquet file of this file's schema and properties (any thread may call it);
        for copied rows, their added columns (computed here) as a file of this file's last columns."""
        if isinstance(rows, CopiedRows):
            damage = rows.check()
            if damage is not None:
                return CopiedEncoding(rows, None, damage)
            added = rows.added()
            schema = arrow.schema(list(self.schema)[len(self.schema) - added.num_columns :])
            if schema.names != added.schema.names:
                raise ValueError(f"copied rows add {added.schema.names}; the file ends with {schema.names}")
            return CopiedEncoding(rows, encoded_file(added.cast(schema), schema, self.properties))
        return encoded_file(rows, self.schema, self.properties)

    def append(self, file: arrow.Buffer | CopiedEncoding) -> None:
        """Append the row groups of one encoded file, their offsets moved to where its bytes land. The
        groups count only once their bytes are written: a failed write leaves the footer as it was."""
        if isinstance(file, CopiedEncoding):
            self._append_copied(file)
            return
        body, footer = _split_file(file)
        shift = self._position - len(MAGIC)
        groups = field(footer, _FILE_ROW_GROUPS).value.values
        for number, group in enumerate(groups, start=len(self._groups)):
            _move_group(group, shift, number)
        self._write(body)
        self._groups.extend(Encoded(write_struct(group)) for group in groups)
        self._rows += sum(field(group, _GROUP_NUM_ROWS).value for group in groups)

    def _append_copied(self, copied: CopiedEncoding) -> None:
        """One group: the copied chunks' bytes, then the added columns' body; one footer entry for both. A
        damaged group stops its file; a group of a stopped file is dropped."""
        rows = copied.rows
        if copied.damage is not None:
            rows.source.stop(copied.damage)
        if rows.source.stopped:
            return
        body, footer = _split_file(copied.file)
        (group,) = field(footer, _FILE_ROW_GROUPS).value.values
        if field(group, _GROUP_NUM_ROWS).value != rows.num_rows:
            raise TableError(f"{rows.source.name}: a row group's columns do not hold the rows its footer lists")
        start = self._position
        try:
            for chunk, (offset, length) in zip(rows.chunks, rows.ranges, strict=True):
                _move_chunk(chunk, self._position - offset)
                self._copy_from(rows.source, offset, length)
        except TableError as error:  # cut short since it was checked: the bytes written are left unlisted
            rows.source.stop(str(error))
            return
        _move_group(group, self._position - len(MAGIC), len(self._groups))
        self._write(body)
        _add(group, _GROUP_BYTES, sum(_meta(chunk, _META_UNCOMPRESSED) for chunk in rows.chunks))
        _add(group, _GROUP_COMPRESSED, self._position - start - len(body))
        if (offset := field(group, _GROUP_FILE_OFFSET)) is not None and rows.chunks:
            offset.value = start
        columns = field(group, _GROUP_COLUMNS).value
        columns.values = [*rows.chunks, *columns.values]
        self._groups.append(Encoded(write_struct(group)))
        self._rows += rows.num_rows
        rows.appended = True

    def _copy_from(self, source: SourceFile, offset: int, length: int) -> None:
        """Append ``length`` bytes of ``source`` from ``offset``: by the kernel where the output is a regular
        file (``copy_file_range``, nothing through this process: at 10^8 rows the copy was a fifth of
        the writing thread's time), else read and written here, as after any refusal of the kernel's."""
        done = 0
        if self._kernel_copies:
            try:
                self.stream.flush()
                while done < length:
                    count = os.copy_file_range(
                        source.handle.fileno(), self.stream.fileno(), length - done, offset + done
                    )
                    if count == 0:
                        break  # the input ends early: reading it below says so
                    done += count
            except OSError:  # another filesystem on an old kernel, a special file: copied through here from now on
                self._kernel_copies = False
            finally:
                if done:
                    self._position += done
                    self.stream.seek(0, os.SEEK_END)  # the file's own position moved; the stream's did not
        for piece in range(offset + done, offset + length, _COPY_PIECE):
            self._write(source.read(piece, min(_COPY_PIECE, offset + length - piece)))

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


class SourceFile:
    """An open input file whose bytes are read at given offsets (``os.pread``: no position is shared with
    pyarrow reading the same file on another thread), by every reader of it: the reader that found its
    row groups and each group copied from it hold it, and it is closed when the last lets go (a file
    renamed over or rewritten meanwhile is still the one whose footer was read).
    ``owned`` is false for a stream its caller closes. A group of it found damaged when it is encoded
    stops it (:meth:`stop`): ``on_damage`` hears why, once, and no later group of it is appended.
    """

    def __init__(self, handle: IO[bytes], name: str, on_damage: Callable[[str], None], owned: bool = True):
        self.handle = handle
        self.name = name
        self.on_damage = on_damage
        self.owned = owned
        self.stopped = False
        self._holders = 1
        self._lock = threading.Lock()

    def stop(self, reason: str) -> None:
        """Append nothing more of this file (called where groups are appended, in order)."""
        if not self.stopped:
            self.stopped = True
            self.on_damage(reason)

    def hold(self) -> None:
        with self._lock:
            self._holders += 1

    def release(self) -> None:
        with self._lock:
            self._holders -= 1
            done = self._holders == 0
        if done:
            self.close()

    def close(self) -> None:
        """Close the file now, whoever holds it (a run that failed: its groups will never be appended)."""
        if self.owned:
            self.handle.close()

    def size(self) -> int:
        """The file's length in bytes now."""
        return os.fstat(self.handle.fileno()).st_size

    def read(self, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset``; :class:`TableError` where the file holds fewer (it was cut
        short since its footer was read) or cannot be read (an I/O error: the input's, not the output's)."""
        pieces, done = [], 0
        try:
            while done < length:  # one pread returns at most 2 GiB less a page on Linux
                piece = os.pread(self.handle.fileno(), min(length - done, _COPY_PIECE), offset + done)
                if not piece:
                    raise TableError("it changed while it was read: it now ends inside a column its footer lists")
                pieces.append(piece)
                done += len(piece)
        except OSError as error:
            raise TableError(f"it cannot be read: {error.strerror or error}") from None
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)


@dataclass
class CopiedRows:
    """A row group whose first columns are copied from another Parquet file as they are encoded there,
    and whose last columns are computed and encoded when the group is (``added``, on an encoding thread).

    The copied chunks' footer entries are moved to where their bytes land, in place: a group is appended once.
    """

    num_rows: int
    #: The copied columns' ``ColumnChunk`` entries, as the other file's footer has them, in schema order.
    chunks: list[list[Field]]
    #: Where each copied chunk's bytes are in the other file: ``(offset, length)``.
    ranges: list[tuple[int, int]]
    #: The other file, held for these rows (released once they are appended or dropped).
    source: SourceFile
    #: The columns after the copied ones, ``num_rows`` long.
    added: Callable[[], arrow.Table]
    #: Why the copied bytes are damaged, or ``None``: run on an encoding thread before ``added``.
    check: Callable[[], str | None]
    #: Whether the group was appended (not dropped: damaged, or after a damaged group of its file).
    appended: bool = False


@dataclass
class CopiedEncoding:
    """Copied rows with their added columns encoded (a whole Parquet file of one group), or why the copied
    chunks cannot be (a page that does not decompress), in which case nothing was encoded."""

    rows: CopiedRows
    file: arrow.Buffer | None
    damage: str | None = None


class EncodingQueue:
    """Row groups encoded on ``workers`` threads (pyarrow releases the GIL) and appended to their files in
    the order they were submitted; several files may share one queue (a split by bucket).

    At most ``workers`` groups are encoding while the caller gathers the next, so memory holds a bounded
    number of them. An encoding error is raised by the :meth:`submit` or :meth:`close` that reaches it.
    """

    def __init__(self, workers: int):
        self.workers = max(1, workers)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="aspectbucket-parquet")
        self._encoding: collections.deque[tuple[JoinedParquetFile, Future, object]] = collections.deque()
        self.closed = False

    def submit(self, file: JoinedParquetFile, rows: arrow.Table | CopiedRows) -> None:
        """Encode ``rows`` as the next row group of ``file``; waits while ``workers`` groups are encoding.
        Refused once the queue is closed or abandoned: after a failure, no later group may follow."""
        if self.closed:
            raise ValueError("the Parquet encoding queue is closed")
        self._encoding.append((file, self._pool.submit(file.encode, rows), rows))
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
        for _, pending, rows in self._encoding:
            pending.cancel()
            _let_go(rows)
        self._encoding.clear()
        self._pool.shutdown()

    def _append_oldest(self) -> None:
        """Append the oldest group to its file; any failure (its encoding, the write, an interrupt while
        waiting) abandons the queue, so no file gets a group after one it lost."""
        file, encoding, rows = self._encoding.popleft()
        try:
            file.append(encoding.result())
        except BaseException:
            self.abandon()
            raise
        finally:
            _let_go(rows)


def _regular_file(stream: IO[bytes]) -> bool:
    """Whether ``stream`` is a plain file object (an ``io.FileIO``, or a buffered reader-writer of one) on a
    regular file, at its end: where bytes the kernel appends behind it are what it would have written.
    A wrapper that exposes its file's descriptor (gzip, a progress counter, a hashing tee) would lose them."""
    raw = getattr(stream, "raw", None) if isinstance(stream, io.BufferedWriter | io.BufferedRandom) else stream
    if not isinstance(raw, io.FileIO):
        return False
    try:
        status = os.fstat(raw.fileno())
        return stat.S_ISREG(status.st_mode) and stream.tell() == status.st_size
    except (OSError, ValueError):
        return False


def _let_go(rows) -> None:
    """Copied rows no longer need their input file, nor their footer entries, once appended or dropped
    (a run keeps each group's row count, not thousands of entries)."""
    if isinstance(rows, CopiedRows):
        rows.source.release()
        rows.chunks, rows.ranges = [], []


class ParallelParquetWriter:
    """Writes tables to ``stream`` as one Parquet file, each table one row group, encoded ``workers`` at a
    time (a :class:`JoinedParquetFile` fed by its own :class:`EncodingQueue`)."""

    def __init__(self, stream: IO[bytes], schema: arrow.Schema, workers: int, **properties):
        self._file = JoinedParquetFile(stream, schema, **properties)
        self._queue = EncodingQueue(workers)

    def write_table(self, rows: arrow.Table | CopiedRows) -> None:
        """Encode ``rows`` as the next row group (see :meth:`EncodingQueue.submit`)."""
        self._queue.submit(self._file, rows)

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
        _shift_chunk(chunk, shift)


def _shift_chunk(chunk: list[Field], shift: int) -> None:
    """Move a column chunk's offsets (its own and its pages') by ``shift`` bytes."""
    _shift(chunk, _CHUNK_FILE_OFFSET, shift)
    meta = field(chunk, _CHUNK_META_DATA)
    for number in _META_OFFSETS if meta is not None else ():
        _shift(meta.value, number, shift)


def _move_chunk(chunk: list[Field], shift: int) -> None:
    """A copied column chunk's offsets moved by ``shift``; its page index and bloom filter (left in the
    file it came from) dropped."""
    _shift_chunk(chunk, shift)
    chunk[:] = [entry for entry in chunk if entry.id not in _CHUNK_PAGE_INDEX]
    meta = field(chunk, _CHUNK_META_DATA).value
    meta[:] = [entry for entry in meta if entry.id not in _META_BLOOM_FILTER]


def _meta(chunk: list[Field], field_id: int) -> int:
    return field(field(chunk, _CHUNK_META_DATA).value, field_id).value


def _add(fields: list[Field], field_id: int, amount: int) -> None:
    if (entry := field(fields, field_id)) is not None:
        entry.value += amount


def _shift(fields: list[Field], field_id: int, shift: int) -> None:
    """Move one offset. 0 is none (the magic is there): Arrow writes it for the deprecated
    ``ColumnChunk.file_offset`` and for the pages of a group with no rows."""
    entry = field(fields, field_id)
    if entry is not None and entry.value:
        entry.value += shift
