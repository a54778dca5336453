"""``assign`` from Parquet into Parquet copies the input's column chunks instead of decoding and encoding
them again: the table read back is the one the decoding path writes, whatever the input's writer did."""

from __future__ import annotations

import decimal
import io
import itertools
import os
import struct
from pathlib import Path

import numpy as np
import pyarrow as arrow
import pyarrow.parquet as parquet
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aspectbucket import resolve
from aspectbucket.geometry.options import BucketOptions
from aspectbucket.tables import TableError, TableFormat, assign_table, parquet_copy
from aspectbucket.tables import assign as assign_module
from aspectbucket.tables.parquet_parts import JoinedParquetFile, ParallelParquetWriter, SourceFile
from aspectbucket.tables.thrift_compact import I32, Field, field, read_struct, write_struct
from aspectbucket.tables.writers import parquet_properties

PROFILE, OPTIONS, _ = resolve("kohya", BucketOptions((1024, 1024), 256, 2048))
MAY_COPY = assign_module._may_copy


@pytest.fixture(autouse=True)
def small_groups(monkeypatch):
    """Groups of a few hundred rows are copied here (the real threshold is 131,072 rows)."""
    monkeypatch.setattr(parquet_copy, "MIN_COPIED_ROWS", 100)
    monkeypatch.setattr(parquet_copy, "MAX_COPIED_ROWS", 5000)


@pytest.fixture
def copies(monkeypatch) -> list[int]:
    """The row counts of the groups appended with copied columns."""
    appended: list[int] = []
    original = JoinedParquetFile._append_copied

    def counting(self, copied):
        appended.append(copied.rows.num_rows)
        return original(self, copied)

    monkeypatch.setattr(JoinedParquetFile, "_append_copied", counting)
    return appended


def _table(rows: int, seed: int = 0, lists: bool = False) -> arrow.Table:
    """Columns of many kinds; ``lists`` adds a list column (whose chunks are never copied: only decoding
    counts the rows in a list column)."""
    rng = np.random.default_rng(seed)
    table = arrow.table(
        {
            "key": [f"{number:09d}" for number in range(rows)],
            "width": rng.integers(0, 6000, rows).astype(np.int32),
            "height": arrow.array(rng.integers(64, 6000, rows), mask=rng.random(rows) < 0.05),
            "similarity": rng.random(rows).astype(np.float32),
            "status": arrow.array(rng.choice(["success", "failed"], rows)).dictionary_encode(),
            "where": arrow.array(
                [{"x": number, "y": str(number)} for number in range(rows)],
                arrow.struct([("x", arrow.int64()), ("y", arrow.string())]),
            ),
            "price": arrow.array([decimal.Decimal(number) / 100 for number in range(rows)], arrow.decimal128(12, 2)),
            "taken": arrow.array(np.arange(rows) * 10**9, arrow.timestamp("ns", tz="Europe/Paris")),
        }
    )
    if lists:
        tags = arrow.array([["a", "b"][: number % 3] for number in range(rows)], arrow.list_(arrow.string()))
        table = table.append_column("tags", tags)
    return table


def _write(table: arrow.Table, path: Path, cuts: list[int], **properties) -> None:
    edges = [0, *sorted(set(cuts)), table.num_rows]
    with parquet.ParquetWriter(path, table.schema, **properties) as writer:
        for start, end in itertools.pairwise(edges):
            if end > start:
                writer.write_table(table.slice(start, end - start), row_group_size=end - start)


def _assign(source, copy: bool, monkeypatch, **settings) -> tuple[bytes, object]:
    """The table ``assign`` writes from ``source`` (a path: a file opened, or a folder), copying or not."""
    monkeypatch.setattr(assign_module, "_may_copy", MAY_COPY if copy else lambda *_: False)
    sink = io.BytesIO()
    if isinstance(source, Path) and source.is_file():
        with open(source, "rb") as stream:
            result = assign_table(stream, sink, OPTIONS, PROFILE, TableFormat.PARQUET, TableFormat.PARQUET, **settings)
    else:
        result = assign_table(source, sink, OPTIONS, PROFILE, TableFormat.PARQUET, TableFormat.PARQUET, **settings)
    return sink.getvalue(), result


def _read(data: bytes) -> arrow.Table:
    return parquet.ParquetFile(io.BytesIO(data)).read()


def _same_tables(copied: bytes, decoded: bytes) -> None:
    """The same schema and values (a dictionary column read from other row groups has other dictionaries)."""
    left, right = _read(copied), _read(decoded)
    assert left.schema.equals(right.schema, check_metadata=True)
    for index, kind in enumerate(left.schema.types):
        ours, theirs = left.column(index), right.column(index)
        if arrow.types.is_dictionary(kind):
            ours, theirs = ours.cast(kind.value_type), theirs.cast(kind.value_type)
        assert ours.equals(theirs), left.schema.names[index]


def test_the_copied_table_is_byte_for_byte_the_decoded_one_written_with_the_same_groups(tmp_path, monkeypatch, copies):
    """Input columns written as the project writes them come out the very same bytes: the copy changes
    nothing but who encoded them."""
    table = _table(1000)
    cuts = [300, 700]
    _write(table, tmp_path / "in.parquet", cuts, **parquet_properties(table.schema))
    copied, result = _assign(tmp_path / "in.parquet", True, monkeypatch)
    assert copies == [300, 400, 300]
    decoded_bytes, decoded_result = _assign(tmp_path / "in.parquet", False, monkeypatch)
    decoded = _read(decoded_bytes)
    sink = io.BytesIO()
    encodings = {
        name: kind for name, kind in assign_module.PLACEMENT_PARQUET_ENCODINGS.items() if name in decoded.schema.names
    }
    writer = ParallelParquetWriter(sink, decoded.schema, 2, **parquet_properties(decoded.schema, encodings))
    for start, end in itertools.pairwise([0, *cuts, 1000]):
        writer.write_table(decoded.slice(start, end - start))
    writer.close()
    assert copied == sink.getvalue()
    assert (result.rows, result.errors) == (decoded_result.rows, decoded_result.errors)
    assert result.errors > 0  # widths under 64 and missing heights are counted from the copied groups


WRITER_OPTIONS = st.fixed_dictionaries(
    {},
    optional={
        "compression": st.sampled_from(["none", "snappy", "zstd", "gzip", "lz4", "brotli"]),
        "use_dictionary": st.booleans(),
        "data_page_version": st.sampled_from(["1.0", "2.0"]),
        "write_statistics": st.booleans(),
        "data_page_size": st.sampled_from([64, 1024, 1 << 20]),
        "write_page_index": st.booleans(),
        "use_byte_stream_split": st.sampled_from([False, ["similarity", "width"]]),
        "version": st.sampled_from(["1.0", "2.4", "2.6"]),
        "store_schema": st.booleans(),
        "use_deprecated_int96_timestamps": st.booleans(),
    },
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.integers(0, 1500),
    cuts=st.lists(st.integers(0, 1500), max_size=5),
    options=WRITER_OPTIONS,
    columns=st.sampled_from([None, ["all"], ["bucket_width"]]),
    lists=st.booleans(),
)
def test_any_input_writer_gives_the_table_the_decoding_path_gives(
    tmp_path, monkeypatch, rows, cuts, options, columns, lists
):
    """Compression, dictionaries, page versions, page indexes, byte-stream split, old format versions and
    files without an Arrow schema: copied where they qualify, decoded where not, the same table read back."""
    path = tmp_path / "in.parquet"
    _write(_table(rows, seed=rows, lists=lists), path, [cut for cut in cuts if cut < rows], **options)
    copied, copied_result = _assign(path, True, monkeypatch, columns=columns)
    decoded, decoded_result = _assign(path, False, monkeypatch, columns=columns)
    _same_tables(copied, decoded)
    assert (copied_result.rows, copied_result.errors) == (decoded_result.rows, decoded_result.errors)


def _numbered(rows: int, seed: int, kind: arrow.DataType | None = None) -> arrow.Table:
    return _table(rows, seed).set_column(0, "key", arrow.array(np.arange(rows), kind or arrow.int64()))


def test_a_folder_of_mixed_shards_is_the_table_the_decoding_path_gives(tmp_path, monkeypatch, copies):
    """Shards of big groups are copied; one of small groups is decoded (and gathered), and one whose key
    is an int32 (unified with the others' int64) is decoded and cast; the rows stay in shard order."""
    folder = tmp_path / "shards"
    folder.mkdir()
    _write(_numbered(900, 1), folder / "0.parquet", [450])
    _write(_numbered(300, 2), folder / "1.parquet", [60, 120, 180, 240])
    _write(_numbered(400, 3, arrow.int32()), folder / "2.parquet", [])
    _write(_numbered(400, 4), folder / "3.parquet", [])
    copied, result = _assign(folder, True, monkeypatch)
    assert copies == [450, 450, 400]
    decoded, _ = _assign(folder, False, monkeypatch)
    _same_tables(copied, decoded)
    assert result.rows == 2000
    assert _read(copied)["key"].type == arrow.int64()


def test_an_input_column_named_like_an_added_one_is_replaced_not_copied(tmp_path, monkeypatch, copies):
    table = _table(600).append_column("bucket_width", arrow.array(["old"] * 600))
    _write(table, tmp_path / "in.parquet", [300])
    copied, _ = _assign(tmp_path / "in.parquet", True, monkeypatch)
    assert copies == [300, 300]
    decoded, _ = _assign(tmp_path / "in.parquet", False, monkeypatch)
    _same_tables(copied, decoded)
    assert _read(copied)["bucket_width"].type == arrow.int64()


def _damage_second_group(path: Path, column: int) -> None:
    """Overwrite the first bytes of one column chunk of the second row group (its first page header)."""
    chunk = parquet.ParquetFile(path).metadata.row_group(1).column(column)
    start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
    data = bytearray(path.read_bytes())
    data[start : start + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("column", [0, 1])  # a column passed through; the width, which is read
def test_a_shard_with_a_damaged_page_header_is_read_as_when_decoding(tmp_path, monkeypatch, copies, column):
    """A page header that does not parse makes the shard one not to trust: it is read whole as the
    decoding path reads it (stopping with its warning), and the next shard is still copied."""
    folder = tmp_path / "shards"
    folder.mkdir()
    _write(_table(600, seed=1), folder / "0.parquet", [200, 400])
    _write(_table(300, seed=2), folder / "1.parquet", [])
    _damage_second_group(folder / "0.parquet", column)
    copied, result = _assign(folder, True, monkeypatch)
    assert copies == [300]
    decoded, decoded_result = _assign(folder, False, monkeypatch)
    assert result.warnings == decoded_result.warnings
    assert [line.split(":")[0] for line in result.warnings] == [f"stopped reading {folder / '0.parquet'}"]
    _same_tables(copied, decoded)


def test_a_damaged_table_read_alone_is_refused_as_when_decoding(tmp_path, monkeypatch):
    _write(_table(600, seed=1), tmp_path / "in.parquet", [200, 400])
    _damage_second_group(tmp_path / "in.parquet", 0)
    with pytest.raises(TableError, match="the Parquet table is damaged"):
        _assign(tmp_path / "in.parquet", True, monkeypatch)


def test_a_file_cut_short_after_its_footer_was_read_is_a_table_error(tmp_path):
    path = tmp_path / "short.bin"
    path.write_bytes(b"0123456789")
    source = SourceFile(open(path, "rb"), "short.bin", print)  # noqa: SIM115 (closed by release)
    assert source.read(2, 3) == b"234"
    with pytest.raises(TableError, match="changed while it was read"):
        source.read(8, 5)
    source.release()
    assert source.handle.closed


def test_a_table_from_a_pipe_is_copied_from_its_spooled_copy(tmp_path, monkeypatch, copies):
    """stdin is not seekable: it is spooled to a temporary file first, which has a descriptor to copy from."""
    _write(_table(400), tmp_path / "in.parquet", [])

    class Pipe(io.BufferedReader):
        def seekable(self) -> bool:
            return False

    with Pipe(io.FileIO(tmp_path / "in.parquet")) as pipe:
        sink = io.BytesIO()
        assign_table(pipe, sink, OPTIONS, PROFILE, TableFormat.PARQUET, TableFormat.PARQUET)
    assert copies == [400]
    _same_tables(sink.getvalue(), _assign(tmp_path / "in.parquet", False, monkeypatch)[0])


def test_one_column_for_both_sides_is_read_once_and_placed_as_when_decoding(tmp_path, monkeypatch, copies):
    _write(_table(400), tmp_path / "in.parquet", [])
    settings = {"width_column": "width", "height_column": "width"}
    copied, result = _assign(tmp_path / "in.parquet", True, monkeypatch, **settings)
    decoded, decoded_result = _assign(tmp_path / "in.parquet", False, monkeypatch, **settings)
    assert copies == [400]
    assert result.errors == decoded_result.errors < 400
    _same_tables(copied, decoded)


def _both_paths(source: Path, monkeypatch) -> tuple[object, object]:
    """What each path gives for ``source``: the table read back and the result, or the error raised."""
    given = []
    for copy in (True, False):
        try:
            data, result = _assign(source, copy, monkeypatch)
        except TableError as error:
            given.append(("error", str(error).split(": ")[0]))
        else:
            given.append(("table", data, result.rows, result.errors, result.warnings))
    return given[0], given[1]


def _same_outcome(source: Path, monkeypatch) -> None:
    copied, decoded = _both_paths(source, monkeypatch)
    assert copied[0] == decoded[0], (copied, decoded)
    if copied[0] == "table":
        assert copied[2:] == decoded[2:]
        _same_tables(copied[1], decoded[1])
    else:
        assert copied == decoded


@pytest.mark.parametrize(
    "first, second",
    [
        (arrow.duration("s"), arrow.duration("ms")),  # the same Parquet INT64: only the Arrow schema says the unit
        (arrow.dictionary(arrow.int32(), arrow.string()), arrow.string()),  # sizes as text, typed apart
        (arrow.large_string(), arrow.string()),
    ],
)
def test_shards_whose_arrow_types_differ_but_not_their_parquet_ones_are_decoded(tmp_path, monkeypatch, first, second):
    folder = tmp_path / "shards"
    folder.mkdir()
    values = arrow.array([str(512 + number) for number in range(300)])
    for name, kind in (("0", first), ("1", second)):
        column = arrow.array(np.arange(300) * 1000, kind) if arrow.types.is_duration(kind) else values.cast(kind)
        sizes = {"width": column, "height": column} if not arrow.types.is_duration(kind) else {"width": values}
        _write(
            arrow.table(
                {
                    **sizes,
                    "took": arrow.array(np.arange(300), arrow.duration("s")).cast(kind)
                    if arrow.types.is_duration(kind)
                    else values,
                }
            ),
            folder / f"{name}.parquet",
            [],
        )
    _same_outcome(folder, monkeypatch)


def test_repeated_column_names_are_read_as_when_decoding(tmp_path, monkeypatch):
    table = arrow.Table.from_arrays(
        [
            arrow.array(np.full(300, 512)),
            arrow.array(np.full(300, 768)),
            arrow.array(["a"] * 300),
            arrow.array(["b"] * 300),
        ],
        names=["width", "height", "note", "note"],
    )
    parquet.write_table(table, tmp_path / "in.parquet")
    _same_outcome(tmp_path / "in.parquet", monkeypatch)


def test_a_column_nested_deeper_than_the_footer_reader_goes_is_decoded(tmp_path, monkeypatch):
    kind, value = arrow.int64(), 1
    for _ in range(70):
        kind, value = arrow.struct([("s", kind)]), {"s": value}
    table = arrow.table(
        {"deep": arrow.array([value] * 300, kind), "width": np.full(300, 512), "height": np.full(300, 512)}
    )
    parquet.write_table(table, tmp_path / "in.parquet")
    _same_outcome(tmp_path / "in.parquet", monkeypatch)


def _edit_footer(path: Path, edit) -> None:
    """Rewrite ``path``'s footer through ``edit`` (a file whose footer says what its bytes do not)."""
    raw = path.read_bytes()
    length = struct.unpack("<I", raw[-8:-4])[0]
    footer, _ = read_struct(raw[len(raw) - 8 - length : -8])
    edit(footer)
    encoded = write_struct(footer)
    path.write_bytes(raw[: len(raw) - 8 - length] + encoded + struct.pack("<I", len(encoded)) + b"PAR1")


def _chunk_meta(footer, group: int, column: int):
    chunks = field(field(footer, 4).value.values[group], 1).value.values
    return field(chunks[column], 3).value


@pytest.mark.parametrize(
    "edit",
    [
        lambda footer: setattr(field(_chunk_meta(footer, 1, 1), 5), "value", -1),  # num_values
        lambda footer: setattr(field(_chunk_meta(footer, 1, 1), 5), "value", 200),
        lambda footer: setattr(field(_chunk_meta(footer, 0, 1), 7), "value", 0),  # total_compressed_size
        lambda footer: setattr(field(_chunk_meta(footer, 1, 1), 1), "value", 1),  # DOUBLE said INT32
        lambda footer: setattr(field(_chunk_meta(footer, 0, 2), 1), "value", 1),  # the width, INT64 said INT32
        lambda footer: setattr(field(_chunk_meta(footer, 1, 0), 4), "value", 2),  # SNAPPY said GZIP
        lambda footer: setattr(field(_chunk_meta(footer, 0, 0), 6), "value", 1 << 62),  # total_uncompressed_size
        lambda footer: setattr(field(field(footer, 4).value.values[1], 3), "value", 301),  # num_rows
        lambda footer: footer.__setitem__(6, Field(7, I32, 0)),  # column_orders of another wire type
        lambda footer: field(_chunk_meta(footer, 0, 0), 11).__setattr__("value", 0),  # dictionary page unlisted
    ],
    ids=["values -1", "values short", "no bytes", "type", "size type", "codec", "huge", "rows", "orders", "dictionary"],
)
def test_a_footer_that_says_what_its_file_does_not_gives_what_decoding_gives(tmp_path, monkeypatch, edit):
    """Each lie makes the file one not to trust: it is read whole as the decoding path reads it, with
    pyarrow's leniency and errors, never another exception, a dropped group or an unreadable output."""
    rng = np.random.default_rng(0)
    table = arrow.table(
        {
            "key": [f"k{number % 37:05d}" for number in range(600)],
            "note": rng.random(600),
            "width": rng.integers(1, 4000, 600),
            "height": rng.integers(1, 4000, 600),
        }
    )
    parquet.write_table(table, tmp_path / "in.parquet", row_group_size=300)
    _edit_footer(tmp_path / "in.parquet", edit)
    _same_outcome(tmp_path / "in.parquet", monkeypatch)
    folder = tmp_path / "shards"
    folder.mkdir()
    (tmp_path / "in.parquet").rename(folder / "0.parquet")
    _write(_table(300), folder / "1.parquet", [])
    _same_outcome(folder, monkeypatch)


def _damage_page_data(path: Path, group: int, column: int) -> None:
    """Zero bytes inside a chunk's first page's compressed data (its header still parses)."""
    chunk = parquet.ParquetFile(path).metadata.row_group(group).column(column)
    start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
    data = bytearray(path.read_bytes())
    _, body = read_struct(bytes(data), start)
    data[body + 20 : body + 180] = bytes(160)
    path.write_bytes(bytes(data))


def _random_keys(rows: int, seed: int) -> arrow.Table:
    """Keys of random text (which compresses badly: a page's data is a page of compressed bytes) and sizes."""
    rng = np.random.default_rng(seed)
    keys = [f"{rng.random()}" for _ in range(rows)]
    return arrow.table({"key": keys, "width": rng.integers(64, 4000, rows), "height": rng.integers(64, 4000, rows)})


def test_a_page_that_does_not_decompress_stops_its_shard_after_the_groups_copied_before(tmp_path, monkeypatch, copies):
    """The group before the damage is kept; the damaged one and those after it are dropped (with one
    warning), and the next shard goes on."""
    folder, intact = tmp_path / "shards", tmp_path / "intact"
    folder.mkdir()
    intact.mkdir()
    table = _random_keys(1200, seed=3)
    _write(table.slice(0, 900), folder / "0.parquet", [300, 600], use_dictionary=False)
    _write(table.slice(0, 300), intact / "0.parquet", [], use_dictionary=False)
    for folder_ in (folder, intact):
        _write(table.slice(900, 300), folder_ / "1.parquet", [], use_dictionary=False)
    _damage_page_data(folder / "0.parquet", 1, 0)
    copied, result = _assign(folder, True, monkeypatch)
    assert [line.split(":")[0] for line in result.warnings] == [f"stopped reading {folder / '0.parquet'}"]
    assert "does not decompress" in result.warnings[0]
    assert result.rows == 600
    _same_tables(copied, _assign(intact, False, monkeypatch)[0])
    with pytest.raises(TableError, match="the Parquet table is damaged: a page of column key does not decompress"):
        _assign(folder / "0.parquet", True, monkeypatch)


def test_warnings_come_once_a_shard_in_shard_order(tmp_path, monkeypatch):
    """A copied shard found damaged when encoded (late) and a decoded one found damaged when read (early)
    are told in shard order, once each, as when decoding."""
    folder = tmp_path / "shards"
    folder.mkdir()
    table = _random_keys(600, seed=4)
    _write(table, folder / "0.parquet", [300], use_dictionary=False)
    _write(table, folder / "1.parquet", [300], use_dictionary=False)
    _damage_page_data(folder / "0.parquet", 0, 0)
    _damage_second_group(folder / "1.parquet", 0)
    result = _assign(folder, True, monkeypatch)[1]
    decoded_result = _assign(folder, False, monkeypatch)[1]
    names = [line.split(": ")[0] for line in result.warnings]
    assert names == [line.split(": ")[0] for line in decoded_result.warnings]
    assert names == [f"stopped reading {folder / '0.parquet'}", f"stopped reading {folder / '1.parquet'}"]


def test_an_all_null_column_and_its_empty_dictionary_are_copied(tmp_path, monkeypatch, copies):
    """A dictionary page of no values (its compressed form a byte or none) is not taken for damage."""
    table = _table(600).append_column("note", arrow.nulls(600, arrow.string()))
    _write(table, tmp_path / "in.parquet", [300])
    _same_outcome(tmp_path / "in.parquet", monkeypatch)
    assert copies == [300, 300]


def _edit_first_page_header(path: Path, group: int, column: int, edit) -> None:
    chunk = parquet.ParquetFile(path).metadata.row_group(group).column(column)
    start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
    data = path.read_bytes()
    header, end = read_struct(data, start)
    edit(header)
    written = write_struct(header)
    assert len(written) == end - start  # same length: the footer's offsets still hold
    path.write_bytes(data[:start] + written + data[end:])


@pytest.mark.parametrize("compression", ["snappy", "gzip", "brotli", "zstd", "lz4"])
def test_a_page_whose_header_overstates_its_size_is_not_copied_into_an_unreadable_table(
    tmp_path, monkeypatch, compression
):
    table = _random_keys(600, seed=5)
    _write(table, tmp_path / "in.parquet", [300], use_dictionary=False, compression=compression)
    _edit_first_page_header(
        tmp_path / "in.parquet", 1, 0, lambda header: setattr(field(header, 2), "value", field(header, 2).value + 1)
    )
    _same_outcome(tmp_path / "in.parquet", monkeypatch)


def test_pages_too_many_and_small_to_walk_are_decoded_instead(tmp_path, monkeypatch, copies):
    _write(_table(600), tmp_path / "in.parquet", [300], data_page_size=64, write_batch_size=1)
    _same_outcome(tmp_path / "in.parquet", monkeypatch)
    assert copies == []


def test_the_source_reads_past_short_reads_and_names_an_input_error(tmp_path, monkeypatch):
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)) * 4)
    real = os.pread
    monkeypatch.setattr(os, "pread", lambda descriptor, length, offset: real(descriptor, min(length, 7), offset))
    source = SourceFile(open(path, "rb"), "data.bin", print)  # noqa: SIM115 (closed by release)
    assert source.read(10, 500) == path.read_bytes()[10:510]

    def failing(descriptor, length, offset):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "pread", failing)
    with pytest.raises(TableError, match="it cannot be read: Input/output error"):
        source.read(0, 10)
    source.release()


def test_a_shard_renamed_over_while_it_is_copied_is_still_the_file_its_sizes_came_from(tmp_path, monkeypatch, copies):
    folder = tmp_path / "shards"
    folder.mkdir()
    first = arrow.table(
        {"key": [f"k{number:05d}" for number in range(600)], "width": np.full(600, 1024), "height": np.full(600, 1024)}
    )
    _write(first, folder / "0.parquet", [300], compression="none")
    _write(
        first.set_column(1, "width", arrow.array(np.full(600, 2048))),
        tmp_path / "new.parquet",
        [300],
        compression="none",
    )
    original = JoinedParquetFile._append_copied

    def replacing(self, copied):
        if (tmp_path / "new.parquet").exists():
            os.replace(tmp_path / "new.parquet", folder / "0.parquet")
        return original(self, copied)

    monkeypatch.setattr(JoinedParquetFile, "_append_copied", replacing)
    placed = _read(_assign(folder, True, monkeypatch)[0])
    assert set(placed["width"].to_pylist()) == {1024} and set(placed["bucket_width"].to_pylist()) == {1024}


def test_a_shard_cut_short_while_it_is_copied_stops_with_a_warning_and_the_next_goes_on(tmp_path, monkeypatch, copies):
    folder = tmp_path / "shards"
    folder.mkdir()
    _write(_table(600, seed=1), folder / "0.parquet", [300])
    _write(_table(300, seed=2), folder / "1.parquet", [])
    original = JoinedParquetFile._append_copied

    def cutting(self, copied):
        if copied.rows.source.name.endswith("0.parquet") and not copies:
            os.truncate(folder / "0.parquet", 100)
        return original(self, copied)

    monkeypatch.setattr(JoinedParquetFile, "_append_copied", cutting)
    data, result = _assign(folder, True, monkeypatch)
    reason = "it changed while it was read: it now ends inside a column its footer lists"
    assert result.warnings == [f"stopped reading {folder / '0.parquet'}: {reason}"]
    assert result.rows == 300
    assert _read(data).num_rows == 300


@pytest.mark.parametrize("kernel", ["copies", "refuses", "stops part-way"])
def test_a_table_written_to_a_file_is_the_one_written_to_memory(tmp_path, monkeypatch, copies, kernel):
    """Into a regular file the chunks are copied by the kernel (``copy_file_range``), with the stream's
    own writes before and after them, or through this process where the kernel refuses (another
    filesystem, a special file) or stops part-way: the same bytes as written to memory."""
    _write(_table(900), tmp_path / "in.parquet", [300, 600])
    in_memory, _ = _assign(tmp_path / "in.parquet", True, monkeypatch)
    real, calls = os.copy_file_range, []

    def kernel_copy(source, target, count, offset_src):
        calls.append(count)
        if kernel == "refuses" or (kernel == "stops part-way" and len(calls) > 1):
            raise OSError(18, "Invalid cross-device link")
        return real(source, target, min(count, 100), offset_src)

    monkeypatch.setattr(os, "copy_file_range", kernel_copy)
    with open(tmp_path / "in.parquet", "rb") as source, open(tmp_path / "out.parquet", "wb") as sink:
        assign_table(source, sink, OPTIONS, PROFILE, TableFormat.PARQUET, TableFormat.PARQUET)
    assert (tmp_path / "out.parquet").read_bytes() == in_memory
    assert copies == [300, 300, 300, 300, 300, 300]
    assert len(calls) > 1 if kernel == "copies" else len(calls) == {"refuses": 1, "stops part-way": 2}[kernel]


def test_a_run_that_fails_closes_the_input_files_its_groups_still_hold(tmp_path, monkeypatch):
    """A sink that fails part-way: the shards opened for copying are closed when the run gives up, not
    when the garbage collector gets to the groups still queued (a stream the caller owns stays open)."""
    folder = tmp_path / "shards"
    folder.mkdir()
    for number in range(12):
        _write(_table(300, seed=number), folder / f"{number:02d}.parquet", [])
    made: list[SourceFile] = []
    original = parquet_copy.ParquetInput.source

    def recording(self, on_damage):
        source = original(self, on_damage)
        made.append(source)
        return source

    monkeypatch.setattr(parquet_copy.ParquetInput, "source", recording)

    class Failing(io.RawIOBase):
        """Takes the file's magic, then fails: the first group's bytes do not fit."""

        def writable(self) -> bool:
            return True

        def write(self, data) -> int:
            if bytes(data) != b"PAR1":
                raise OSError(28, "No space left on device")
            return len(data)

    with pytest.raises(OSError, match="No space left"):
        assign_table(folder, Failing(), OPTIONS, PROFILE, TableFormat.PARQUET, TableFormat.PARQUET)
    assert made
    assert all(source.handle.closed for source in made[:-1])  # the last may be opened as the run gives up
    with open(folder / "00.parquet", "rb") as stream:
        source = SourceFile(stream, "stream", print, owned=False)
        source.close()
        assert not stream.closed


def test_a_sink_wrapping_a_file_gets_every_byte_through_its_own_writes(tmp_path, monkeypatch, copies):
    """A gzip stream exposes its file's descriptor: the kernel must not append behind it."""
    import gzip

    _write(_table(600), tmp_path / "in.parquet", [300])
    in_memory, _ = _assign(tmp_path / "in.parquet", True, monkeypatch)
    with open(tmp_path / "in.parquet", "rb") as source, gzip.open(tmp_path / "out.parquet.gz", "wb") as sink:
        assign_table(source, sink, OPTIONS, PROFILE, TableFormat.PARQUET, TableFormat.PARQUET)
    assert gzip.decompress((tmp_path / "out.parquet.gz").read_bytes()) == in_memory
    assert copies == [300, 300, 300, 300]
