"""``assign`` from Parquet into Parquet copies the input's column chunks instead of decoding and encoding
them again: the table read back is the one the decoding path writes, whatever the input's writer did."""

from __future__ import annotations

import decimal
import io
import itertools
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
from aspectbucket.tables.writers import parquet_properties

PROFILE, OPTIONS, _ = resolve("kohya", BucketOptions((1024, 1024), 256, 2048))


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


def _table(rows: int, seed: int = 0) -> arrow.Table:
    rng = np.random.default_rng(seed)
    return arrow.table(
        {
            "key": [f"{number:09d}" for number in range(rows)],
            "width": rng.integers(0, 6000, rows).astype(np.int32),
            "height": arrow.array(rng.integers(64, 6000, rows), mask=rng.random(rows) < 0.05),
            "similarity": rng.random(rows).astype(np.float32),
            "status": arrow.array(rng.choice(["success", "failed"], rows)).dictionary_encode(),
            "tags": arrow.array([["a", "b"][: number % 3] for number in range(rows)], arrow.list_(arrow.string())),
            "where": arrow.array(
                [{"x": number, "y": str(number)} for number in range(rows)],
                arrow.struct([("x", arrow.int64()), ("y", arrow.string())]),
            ),
            "price": arrow.array([decimal.Decimal(number) / 100 for number in range(rows)], arrow.decimal128(12, 2)),
            "taken": arrow.array(np.arange(rows) * 10**9, arrow.timestamp("ns", tz="Europe/Paris")),
        }
    )


def _write(table: arrow.Table, path: Path, cuts: list[int], **properties) -> None:
    edges = [0, *sorted(set(cuts)), table.num_rows]
    with parquet.ParquetWriter(path, table.schema, **properties) as writer:
        for start, end in itertools.pairwise(edges):
            if end > start:
                writer.write_table(table.slice(start, end - start), row_group_size=end - start)


def _assign(source, copy: bool, monkeypatch, **settings) -> tuple[bytes, object]:
    """The table ``assign`` writes from ``source`` (a path: a file opened, or a folder), copying or not."""
    monkeypatch.setattr(assign_module, "_may_copy", assign_module._may_copy if copy else lambda *_: False)
    sink = io.BytesIO()
    if isinstance(source, Path) and source.is_file():
        with open(source, "rb") as stream:
            result = assign_table(stream, sink, OPTIONS, PROFILE, TableFormat.PARQUET, TableFormat.PARQUET, **settings)
    else:
        result = assign_table(source, sink, OPTIONS, PROFILE, TableFormat.PARQUET, TableFormat.PARQUET, **settings)
    return sink.getvalue(), result


def _read(data: bytes) -> arrow.Table:
    return parquet.read_table(io.BytesIO(data))


def _same_tables(copied: bytes, decoded: bytes) -> None:
    """The same schema and values (a dictionary column read from other row groups has other dictionaries)."""
    left, right = _read(copied), _read(decoded)
    assert left.schema.equals(right.schema, check_metadata=True)
    for name, kind in zip(left.schema.names, left.schema.types, strict=True):
        if arrow.types.is_dictionary(kind):
            assert left[name].cast(kind.value_type).equals(right[name].cast(kind.value_type)), name
        else:
            assert left[name].equals(right[name]), name


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
)
def test_any_input_writer_gives_the_table_the_decoding_path_gives(tmp_path, monkeypatch, rows, cuts, options, columns):
    """Compression, dictionaries, page versions, page indexes, byte-stream split, old format versions and
    files without an Arrow schema: copied where they qualify, decoded where not, the same table read back."""
    path = tmp_path / "in.parquet"
    _write(_table(rows, seed=rows), path, [cut for cut in cuts if cut < rows], **options)
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
def test_a_damaged_group_of_a_shard_stops_that_shard_with_a_warning_keeping_the_groups_before(
    tmp_path, monkeypatch, copies, column
):
    """The shard's groups before the damage are kept (decoding in 65,536-row batches loses them too,
    as a batch spans groups), the shard stops there with a warning, and the next shard goes on."""
    folder, intact = tmp_path / "shards", tmp_path / "intact"
    folder.mkdir()
    intact.mkdir()
    _write(_table(600, seed=1), folder / "0.parquet", [200, 400])
    _write(_table(300, seed=2), folder / "1.parquet", [])
    _write(_table(600, seed=1).slice(0, 200), intact / "0.parquet", [])
    _write(_table(300, seed=2), intact / "1.parquet", [])
    _damage_second_group(folder / "0.parquet", column)
    copied, result = _assign(folder, True, monkeypatch)
    assert copies == [200, 300]
    assert [line.split(":")[0] for line in result.warnings] == [f"stopped reading {folder / '0.parquet'}"]
    _same_tables(copied, _assign(intact, False, monkeypatch)[0])


def test_a_damaged_table_read_alone_is_refused_as_when_decoding(tmp_path, monkeypatch):
    _write(_table(600, seed=1), tmp_path / "in.parquet", [200, 400])
    _damage_second_group(tmp_path / "in.parquet", 0)
    with pytest.raises(TableError, match="the Parquet table is damaged"):
        _assign(tmp_path / "in.parquet", True, monkeypatch)


def test_a_file_cut_short_after_its_footer_was_read_is_a_table_error(tmp_path):
    path = tmp_path / "short.bin"
    path.write_bytes(b"0123456789")
    with SourceFile(path=path).opened() as read:
        assert read(2, 3) == b"234"
        with pytest.raises(TableError, match="changed while it was read"):
            read(8, 5)


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
