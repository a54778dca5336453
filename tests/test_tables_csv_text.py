"""The vectorised CSV encoder writes exactly what pyarrow's CSV writer writes, for every type a table can hold.

Differential: :func:`csv_rows` against :func:`writer_rows` (``pyarrow.csv.write_csv`` without a header) on
random batches, sliced ones included, and against the writer through :func:`encode_batch` (lists, binary,
dictionaries and float16 go through ``csv_batch`` first, as they are written).
"""

from __future__ import annotations

import datetime
import decimal

import numpy as np
import pyarrow as arrow
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aspectbucket.tables import TableFormat, csv_text
from aspectbucket.tables.csv_text import SMALL_INTEGERS, csv_rows, writer_rows
from aspectbucket.tables.writers import csv_batch, encode_batch

INTEGER_TYPES = [
    (arrow.int8(), -(1 << 7), (1 << 7) - 1),
    (arrow.int16(), -(1 << 15), (1 << 15) - 1),
    (arrow.int32(), -(1 << 31), (1 << 31) - 1),
    (arrow.int64(), -(1 << 63), (1 << 63) - 1),
    (arrow.uint8(), 0, (1 << 8) - 1),
    (arrow.uint16(), 0, (1 << 16) - 1),
    (arrow.uint32(), 0, (1 << 32) - 1),
    (arrow.uint64(), 0, (1 << 64) - 1),
]
#: Text a CSV cell must quote or escape, and text that is not ASCII.
AWKWARD_TEXT = st.text(alphabet=st.sampled_from(['"', ",", "\n", "\r", "a", "é", "😀", " ", "\\", "\x00", "'"]))


def _nullable(values: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.none(), values)


@st.composite
def integer_columns(draw, rows: int) -> arrow.Array:
    kind, low, high = draw(st.sampled_from(INTEGER_TYPES))
    # Mostly values the text table holds (sizes, offsets), sometimes any value of the type.
    small = st.integers(max(low, 0), min(high, SMALL_INTEGERS - 1))
    values = st.one_of(small, st.integers(low, high)) if draw(st.booleans()) else small
    if draw(st.booleans()):
        values = _nullable(values)
    return arrow.array(draw(st.lists(values, min_size=rows, max_size=rows)), kind)


@st.composite
def other_columns(draw, rows: int) -> arrow.Array:
    kind, values = draw(
        st.sampled_from(
            [
                (arrow.float64(), st.floats(allow_nan=True, allow_infinity=True)),
                (arrow.float32(), st.floats(width=32, allow_nan=True, allow_infinity=True)),
                (arrow.float64(), st.sampled_from([0.0, -0.0, 8.0, 0.1, 1e20, 1e-7, 123456789.125, float("nan")])),
                (arrow.string(), AWKWARD_TEXT),
                (arrow.string(), st.text()),
                (arrow.large_string(), AWKWARD_TEXT),
                (arrow.bool_(), st.booleans()),
                (arrow.date32(), st.dates()),
                (arrow.timestamp("us"), st.datetimes()),
                (arrow.timestamp("s", "Europe/Paris"), st.datetimes(min_value=datetime.datetime(1900, 1, 1))),
                (
                    arrow.timestamp("ns", "UTC"),
                    st.datetimes(datetime.datetime(1700, 1, 1), datetime.datetime(2260, 1, 1)),
                ),
                (arrow.time64("us"), st.times()),
                (
                    arrow.duration("ms"),
                    st.timedeltas(min_value=datetime.timedelta(days=-999), max_value=datetime.timedelta(days=999)),
                ),
                (arrow.decimal128(12, 3), st.decimals(places=3, min_value=-(10**8), max_value=10**8)),
                (arrow.decimal256(40, 0), st.decimals(places=0, min_value=-(10**39), max_value=10**39)),
                (arrow.list_(arrow.float64()), st.lists(st.floats(allow_nan=False), max_size=4)),
                (arrow.list_(arrow.int32()), st.lists(st.integers(-5, 5), max_size=3)),
                (arrow.binary(), st.binary(max_size=6)),
                (arrow.float16(), st.floats(width=16, allow_nan=False)),
                (arrow.struct([("a", arrow.string())]), st.fixed_dictionaries({"a": AWKWARD_TEXT})),
                (arrow.dictionary(arrow.int32(), arrow.string()), st.sampled_from(["a", 'b"', ""])),
            ]
        )
    )
    if draw(st.booleans()):
        values = _nullable(values)
    return arrow.array(draw(st.lists(values, min_size=rows, max_size=rows)), kind)


@st.composite
def batches(draw) -> arrow.RecordBatch:
    rows = draw(st.integers(0, 12))
    count = draw(st.integers(1, 6))
    columns = [
        draw(st.one_of(integer_columns(rows), other_columns(rows), st.just(arrow.nulls(rows)))) for _ in range(count)
    ]
    batch = arrow.RecordBatch.from_arrays(columns, names=[f"c{index}" for index in range(count)])
    if draw(st.booleans()) and rows:  # a slice: the columns' buffers start before the rows written
        start = draw(st.integers(0, rows - 1))
        batch = batch.slice(start, draw(st.integers(0, rows - start)))
    return batch


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=batches())
def test_the_encoder_writes_the_bytes_of_pyarrows_writer(batch):
    cells = csv_batch(batch)
    assert csv_rows(cells) == writer_rows(cells)


def test_a_batch_of_assigns_columns_is_written_as_pyarrow_writes_it():
    """The common case at full size: quoted keys and urls first, sizes, a float, offsets, an empty error."""
    rng = np.random.default_rng(0)
    rows = 5000
    keys = np.char.zfill(np.arange(rows).astype(str), 9)
    batch = arrow.RecordBatch.from_pydict(
        {
            "key": keys,
            "url": np.char.add('https://example.com/a,"b"/', keys),
            "width": rng.integers(64, 6000, rows),
            "similarity": rng.random(rows),
            "bucket_width": rng.integers(256, 2048, rows),
            "crop_left": np.where(rng.random(rows) < 0.1, 0, rng.integers(0, SMALL_INTEGERS, rows)),
            "big": rng.integers(-(1 << 40), 1 << 40, rows),
            "error": arrow.array(np.where(rng.random(rows) < 0.01, "no size", "")),
        }
    )
    for part in (batch, batch.slice(1234, 2000), batch.slice(4999)):
        assert csv_rows(part) == writer_rows(part)


@pytest.mark.parametrize(
    "values",
    [
        [0, SMALL_INTEGERS - 1, 7],  # the table's bounds
        [0, SMALL_INTEGERS, 7],  # just past them: cast
        [-1, 3, 7],
        [None, SMALL_INTEGERS - 1, None],  # nulls among small values: bare separators
        [None, None, None],
    ],
)
@pytest.mark.parametrize("place", ["first", "middle", "last", "alone"])
def test_integers_at_the_tables_bounds_and_nulls_in_every_place(values, place):
    integers = arrow.array(values, arrow.int64())
    text = arrow.array(['a"b', None, ""])
    columns = {"first": [integers, text], "middle": [text, integers, text], "last": [text, integers]}
    columns = columns.get(place, [integers])
    batch = arrow.RecordBatch.from_arrays(columns, names=[f"c{index}" for index in range(len(columns))])
    assert csv_rows(batch) == writer_rows(batch)


def test_a_string_column_first_and_last_without_nulls_shares_its_quotes_with_the_row_ends():
    batch = arrow.RecordBatch.from_pydict({"a": ["x", 'q"', ""], "b": [1, 2, 3], "c": ["", ",", "\n"]})
    assert csv_rows(batch) == writer_rows(batch) == b'"x",1,""\n"q""",2,","\n"",3,"\n"\n'


@pytest.fixture
def handed(monkeypatch) -> list[arrow.RecordBatch]:
    """The batches :func:`csv_rows` hands to pyarrow's writer: whole ones, and the runs of strings it cuts into rows."""
    batches = []

    def writer(batch):
        batches.append(batch)
        return writer_rows(batch)

    monkeypatch.setattr(csv_text, "writer_rows", writer)
    return batches


def test_a_batch_too_large_for_32_bit_offsets_is_left_to_pyarrows_writer(monkeypatch, handed):
    batch = arrow.RecordBatch.from_pydict({"a": ["x" * 10, "y"], "b": [1, 2], "c": [3, 4], "d": [5, 6]})
    strings = batch.select(["a"])
    monkeypatch.setattr(csv_text, "LARGEST_TEXT", 40)  # the strings' rows pass (17 bytes), the whole rows do not
    assert csv_rows(batch) == writer_rows(batch) and handed == [strings, batch]
    monkeypatch.setattr(csv_text, "LARGEST_TEXT", 10)  # the strings' rows do not: they are not even written
    assert csv_rows(batch) == writer_rows(batch) and handed == [strings, batch, batch]
    monkeypatch.setattr(csv_text, "LARGEST_TEXT", 1000)
    assert csv_rows(batch) == writer_rows(batch) and handed == [strings, batch, batch, strings]


def test_a_batch_without_integers_or_constants_is_left_to_pyarrows_writer(handed):
    """Casting and quoting are all the writer does there: gathering its texts again would only add time."""
    batch = arrow.RecordBatch.from_pydict({"a": ["x", 'y"'], "b": [1.5, 2.0], "c": [-1, 1 << 20]})
    assert csv_rows(batch) == writer_rows(batch) and handed == [batch]
    sizes = batch.append_column("d", arrow.array([3, 4]))  # a size: now the texts are gathered here
    assert csv_rows(sizes) == writer_rows(sizes) and handed == [batch, sizes.select(["a"])]


def test_a_type_pyarrows_writer_refuses_is_refused_with_its_reason():
    batch = arrow.RecordBatch.from_arrays([arrow.array(["x"], arrow.string_view())], names=["a"])
    with pytest.raises(arrow.ArrowInvalid, match="Unsupported Type"):
        csv_rows(batch)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=batches())
def test_encode_batch_writes_csv_as_pyarrow_writes_its_cells(batch):
    assert encode_batch(batch, TableFormat.CSV) == writer_rows(csv_batch(batch))


def test_decimals_keep_their_scale():
    batch = arrow.RecordBatch.from_pydict(
        {"d": arrow.array([decimal.Decimal("1.50"), None, decimal.Decimal("-0.001")], arrow.decimal128(6, 3))}
    )
    assert csv_rows(batch) == writer_rows(batch) == b"1.500\n\n-0.001\n"


def test_a_quote_only_in_a_slices_rows_is_doubled():
    """The check for quotes reads the slice's bytes, not the buffer's first ones."""
    batch = arrow.RecordBatch.from_pydict({"a": ["plain", "plain", 'a "b"', "c"], "b": [1, 2, 3, 4]})
    for part in (batch.slice(2), batch.slice(2, 1), batch.slice(1, 2)):
        assert csv_rows(part) == writer_rows(part)
    assert csv_rows(batch.slice(2, 1)) == b'"a ""b""",3\n'


@pytest.mark.parametrize(
    "same",
    [
        arrow.array(["", "", ""]),  # assign's error column with no error
        arrow.array([7, 7, 7]),
        arrow.array([1 << 40] * 3),
        arrow.array([None, None, None], arrow.string()),
        arrow.nulls(3),
    ],
)
@pytest.mark.parametrize("place", [0, 1, 2])
def test_a_column_the_same_in_every_row_is_written_as_pyarrow_writes_it(same, place):
    columns = [arrow.array(["a", 'b"', "c"]), arrow.array([1.5, None, 3.0])]
    columns.insert(place, same)
    batch = arrow.RecordBatch.from_arrays(columns, names=["x", "y", "z"])
    assert csv_rows(batch) == writer_rows(batch)
    alone = batch.select([place])
    assert csv_rows(alone) == writer_rows(alone)


def test_a_null_whose_slot_holds_bytes_is_written_as_nothing():
    """Arrow lets a null string keep bytes (here ``a"b``): the writer writes nothing for it, and so do the
    lengths that cut its text into rows."""
    offsets = arrow.py_buffer(np.array([0, 1, 4, 5], dtype=np.int32))
    valid = arrow.array([True, False, True]).buffers()[1]
    strings = arrow.StringArray.from_buffers(3, offsets, arrow.py_buffer(b'xa"by'), valid)
    batch = arrow.RecordBatch.from_arrays([strings, arrow.array([1, 2, 3]), strings], names=["a", "b", "c"])
    assert csv_rows(batch) == writer_rows(batch) == b'"x",1,"x"\n,2,\n"y",3,"y"\n'
