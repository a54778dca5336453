"""Parquet row groups encoded on several threads and joined into one file, and the Thrift codec it edits
footers with: the joined file is the one pyarrow's own writer makes, byte for byte."""

from __future__ import annotations

import decimal
import io
import itertools
import struct

import numpy as np
import pyarrow as arrow
import pyarrow.parquet as parquet
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aspectbucket.tables.parquet_parts import ParallelParquetWriter
from aspectbucket.tables.thrift_compact import (
    BINARY,
    BYTE,
    DOUBLE,
    I16,
    I32,
    I64,
    LIST,
    SET,
    STRUCT,
    TRUE,
    Field,
    Items,
    ThriftError,
    read_struct,
    write_struct,
)


def _table(rows: int, seed: int = 0) -> arrow.Table:
    """Columns of the kinds a metadata table holds: text, nulls, lists, decimals, times, dictionaries."""
    rng = np.random.default_rng(seed)
    return arrow.table(
        {
            "key": [f"{number:09d}" for number in range(rows)],
            "width": rng.integers(64, 6000, rows).astype(np.int32),
            "similarity": rng.random(rows).astype(np.float32),
            "status": arrow.array(rng.choice(["success", "failed_to_download"], rows)).dictionary_encode(),
            "error_message": arrow.nulls(rows, arrow.string()),
            "crop_ltrb": arrow.array([[0.0, 1.0, float(i), 4.0] for i in range(rows)], arrow.list_(arrow.float64())),
            "price": arrow.array([decimal.Decimal(i) / 100 for i in range(rows)], arrow.decimal128(12, 2)),
            "taken": arrow.array(np.arange(rows) * 10**9, arrow.timestamp("ns", tz="Europe/Paris")),
        }
    )


def _groups(table: arrow.Table, cuts: list[int]) -> list[arrow.Table]:
    edges = [0, *sorted(cuts), table.num_rows]
    return [table.slice(start, end - start) for start, end in itertools.pairwise(edges)]


def _single_writer(schema: arrow.Schema, groups: list[arrow.Table], **properties) -> bytes:
    sink = io.BytesIO()
    with parquet.ParquetWriter(sink, schema, **properties) as writer:
        for group in groups:
            writer.write_table(group, row_group_size=max(1, group.num_rows))
    return sink.getvalue()


def _parallel_writer(schema: arrow.Schema, groups: list[arrow.Table], workers: int = 3, **properties) -> bytes:
    sink = io.BytesIO()
    writer = ParallelParquetWriter(sink, schema, workers, **properties)
    for group in groups:
        writer.write_table(group)
        assert len(writer._queue._encoding) <= workers  # a bounded number of groups is held
    writer.close()
    return sink.getvalue()


PROPERTIES = [
    {},
    {"compression": "zstd", "use_dictionary": ["key", "status"]},
    {"column_encoding": {"width": "DELTA_BINARY_PACKED"}, "use_dictionary": ["key"], "write_statistics": False},
    {"version": "1.0", "data_page_size": 1024},
]


@pytest.mark.parametrize("properties", PROPERTIES)
@settings(max_examples=8, deadline=None)
@given(rows=st.integers(0, 3000), cuts=st.lists(st.integers(0, 3000), max_size=6), workers=st.integers(1, 4))
def test_groups_joined_are_the_file_pyarrow_writes_with_the_same_groups(properties, rows, cuts, workers):
    table = _table(rows)
    groups = _groups(table, [cut for cut in cuts if cut <= rows])
    joined = _parallel_writer(table.schema, groups, workers, **properties)
    assert joined == _single_writer(table.schema, groups, **properties)
    assert parquet.read_table(io.BytesIO(joined)).to_pylist() == table.to_pylist()


def test_groups_with_page_indexes_keep_each_index_where_its_offsets_say():
    """Each group's page index stays after its own pages (pyarrow puts them all at the end), so the bytes
    differ; the offsets still lead to each group, column and index."""
    table = _table(5000)
    groups = _groups(table, [1000, 1001, 3000])
    joined = io.BytesIO(_parallel_writer(table.schema, groups, write_page_index=True))
    file = parquet.ParquetFile(joined)
    assert file.num_row_groups == 4
    for index, group in enumerate(groups):
        assert file.read_row_group(index, columns=["taken", "key"]).equals(group.select(["taken", "key"]))
        assert file.metadata.row_group(index).column(0).has_offset_index
    only = parquet.read_table(joined, filters=[("width", ">", 3000)])
    assert only.num_rows == int((table.column("width").to_numpy() > 3000).sum())


def test_many_groups_keep_their_order_and_row_count():
    table = _table(2000, seed=3)
    groups = _groups(table, list(range(0, 2000, 37)))
    joined = io.BytesIO(_parallel_writer(table.schema, groups, 2))
    file = parquet.ParquetFile(joined)
    assert file.metadata.num_rows == 2000
    assert [file.metadata.row_group(i).num_rows for i in range(file.num_row_groups)] == [g.num_rows for g in groups]
    assert file.read().equals(table)


def test_a_group_that_cannot_be_encoded_is_raised_and_no_footer_is_written():
    schema = arrow.schema([("side", arrow.int64())])
    sink = io.BytesIO()
    writer = ParallelParquetWriter(sink, schema, 2)
    writer.write_table(arrow.table({"side": [1, 2]}))
    writer.write_table(arrow.table({"side": ["a", "b"]}))  # another schema: refused on a pool thread
    with pytest.raises(ValueError, match="schema"):
        writer.close()
    writer.close()  # closing again does nothing
    assert not sink.getvalue().endswith(b"PAR1") or len(sink.getvalue()) == 4


def test_encryption_is_refused():
    with pytest.raises(ValueError, match="encrypted"):
        ParallelParquetWriter(io.BytesIO(), arrow.schema([("side", arrow.int64())]), 2, encryption_properties=object())


# --- the compact protocol


def _footer(data: bytes) -> bytes:
    length = struct.unpack("<I", data[-8:-4])[0]
    return data[-8 - length : -8]


@pytest.mark.parametrize("properties", PROPERTIES)
def test_a_pyarrow_footer_read_and_written_again_is_the_same_bytes(properties):
    table = _table(4000, seed=1)
    footer = _footer(_single_writer(table.schema, _groups(table, [1500]), **properties))
    fields, end = read_struct(footer)
    assert end == len(footer)
    assert write_struct(fields) == footer


def _values():
    """Field values of every wire type a footer may hold (nested lists and structs included)."""
    leaf = st.one_of(
        st.tuples(st.just(BYTE), st.integers(-128, 127)),
        st.tuples(st.sampled_from([I16, I32, I64]), st.integers(-(2**63), 2**63 - 1)),
        st.tuples(st.just(DOUBLE), st.binary(min_size=8, max_size=8)),
        st.tuples(st.just(BINARY), st.binary(max_size=40)),
        st.tuples(st.just(TRUE), st.booleans()),
    )

    def nest(children):
        lists = st.tuples(st.sampled_from([LIST, SET]), st.lists(children, max_size=20)).filter(
            lambda item: len({kind for kind, _ in item[1]}) <= 1
        )
        return st.one_of(lists, st.tuples(st.just(STRUCT), _structs(children)))

    return st.recursive(leaf, nest, max_leaves=30)


def _structs(values):
    return st.lists(st.tuples(st.integers(-(2**15), 2**15 - 1), values), max_size=8, unique_by=lambda f: f[0])


def _as_field(field_id: int, kind: int, value) -> Field:
    return Field(field_id, kind, _as_value(kind, value))


def _as_value(kind: int, value):
    if kind in (LIST, SET):
        element = value[0][0] if value else I32
        return Items(element, [_as_value(element, item) for _, item in value])
    if kind == STRUCT:
        return [_as_field(field_id, *entry) for field_id, entry in value]
    return value


@settings(max_examples=200, deadline=None)
@given(_structs(_values()))
def test_any_struct_written_reads_back_the_same_and_writes_the_same_bytes(entries):
    fields = [_as_field(field_id, *entry) for field_id, entry in entries]
    encoded = write_struct(fields)
    decoded, end = read_struct(encoded)
    assert end == len(encoded)
    assert decoded == fields
    assert write_struct(decoded) == encoded


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x15", "cut short"),  # an i32 field with no value
        (b"\x18\x05ab", "cut short"),  # a 5-byte binary holding 2
        (b"\x1d\x00", "wire type 13"),
        (b"\x16" + b"\xff" * 10 + b"\x01", "longer than 64 bits"),
    ],
)
def test_bytes_that_are_no_struct_are_refused_with_a_reason(data, reason):
    with pytest.raises(ThriftError, match=reason):
        read_struct(data)
