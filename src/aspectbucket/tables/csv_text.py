"""CSV rows of a record batch, byte for byte as pyarrow's CSV writer writes them, faster where integers are many.

pyarrow's writer (``apache/arrow@01a24d719d9839126634b9c65eb8e49f8c858539 cpp/src/arrow/csv/writer.cc:
MakePopulator``, default options) casts every column to text, quotes strings (its ``Needed`` style quotes
every non-null string, doubling the quotes inside) and nothing else, writes a null as nothing, and joins the
cells with ``,`` and each row with ``\\n``. Formatting integers is most of its work on placement tables (six
of the seven columns ``assign`` adds), and nearly all of them are sizes and offsets below 65,536.

Here every cell is one or two *pieces* of text in one array: an integer below 65,536 is a text gathered
from a table made once (``"1024,"``, its separator included); a run of string columns side by side (all of
a table read from CSV) is written by pyarrow's writer, whose text is cut into rows by the lengths of the
cells, each row a piece; any other cell is its column's cast text; each of the last two is followed by a
separator piece. A column with the same text in every row (an ``error`` column with no errors, a constant,
nulls) is no piece at all, only part of the separators around it. One ``take`` of the pieces, row by row,
lays them out as the CSV text itself: its value buffer is the batch's bytes, with no per-row Python and no
second join. A batch with no integers to gather and no constant column is left to the writer whole: there
is nothing to gain on it. ``benchmarks/bench_csv_text.py`` measures both.

What the cast makes is what pyarrow's writer makes, as it casts the same way; a type this module does not
know (or a batch too large for 32-bit offsets) goes to pyarrow's writer instead, which also raises for the
types it cannot write.
"""

from __future__ import annotations

import functools
import io
import itertools

import numpy as np
import pyarrow as arrow
import pyarrow.compute as compute
import pyarrow.csv as arrow_csv

#: Integers from 0 up to this (excluded) are gathered from texts made once.
SMALL_INTEGERS = 1 << 16
#: A batch whose pieces or output could pass this many bytes is written by pyarrow (32-bit offsets here).
LARGEST_TEXT = (1 << 31) - 1
_QUOTE = '"'


def csv_rows(batch: arrow.RecordBatch) -> bytes | memoryview:
    """The bytes ``pyarrow.csv.write_csv(batch, WriteOptions(include_header=False))`` writes for ``batch``,
    mostly as a view of the Arrow buffer they were laid out in (copying them to ``bytes`` took a fifth of the
    time, for a file's ``write`` to copy them again)."""
    if batch.num_rows == 0:
        return b""
    if not all(_known(field.type) for field in batch.schema):
        return writer_rows(batch)
    cells = [_cell(column) for column in batch.columns]
    if not any(isinstance(cell, _Integers | str) for cell in cells):  # nothing to gain on the writer
        return writer_rows(batch)
    joined = _with_strings_written(batch, cells)
    return (joined and _joined(joined, batch.num_rows)) or writer_rows(batch)


def writer_rows(batch: arrow.RecordBatch) -> bytes:
    """What pyarrow's own writer makes of ``batch`` (also what :func:`csv_rows` is tested against). Written into
    a ``BytesIO``: an Arrow output stream grows by copying, and costs more than the copy out of it."""
    text = io.BytesIO()
    arrow_csv.write_csv(batch, text, arrow_csv.WriteOptions(include_header=False))
    return text.getvalue()


def _bytes_view(data: arrow.Buffer) -> memoryview:
    """A view of ``data`` as unsigned bytes (pyarrow's are signed chars: ``b"\\xc3" != view`` there)."""
    return memoryview(data).cast("B")


def _known(kind: arrow.DataType) -> bool:
    """Types whose cast to text is exactly what pyarrow's writer writes (it casts them itself)."""
    types = arrow.types
    return (
        types.is_integer(kind)
        or (types.is_floating(kind) and not types.is_float16(kind))
        or types.is_boolean(kind)
        or types.is_decimal(kind)
        or types.is_null(kind)
        or types.is_date(kind)
        or types.is_time(kind)
        or types.is_timestamp(kind)
        or types.is_duration(kind)
        or types.is_string(kind)
        or types.is_large_string(kind)
    )


class _Integers:
    """An integer column gathered from :func:`_integer_texts`: its values are the indices."""

    def __init__(self, values: np.ndarray, valid: np.ndarray | None):
        self.values = values
        self.valid = valid


class _Text:
    """Columns as one text a row, its separators and quotes included, null where a cell is empty; ``step``:
    the row's text is every ``step``-th value (the values between are what the writer ends a row with)."""

    def __init__(self, text: arrow.Array, step: int = 1):
        self.text = text
        self.step = step


def _with_strings_written(
    batch: arrow.RecordBatch, cells: list[_Integers | arrow.Array | str | None]
) -> list[_Integers | _Text | str] | None:
    """``cells`` with each run of string columns side by side (``None`` in ``cells``) written together by
    pyarrow's writer (quoting them is all it does, and fast) and the other columns cast to text; ``None``
    where they would pass :data:`LARGEST_TEXT`."""
    written: list[_Integers | _Text | str | None] = []
    start = 0
    for strings, group in itertools.groupby(cells, key=lambda cell: cell is None):
        count = len(group := list(group))
        if strings:
            written.append(_written(batch.select(range(start, start + count))))
        else:
            written += [
                _Text(compute.cast(cell, arrow.string())) if isinstance(cell, arrow.Array) else cell for cell in group
            ]
        start += count
    return None if any(cell is None for cell in written) else written


def _cell(column: arrow.Array) -> _Integers | arrow.Array | str | None:
    """How ``column``'s cells are written: gathered from a table, as texts cast from the column (returned as
    it is: it is cast only once the batch is known to be written here), or (a ``str``) the same text in
    every row, which costs nothing per row (an ``error`` column with no errors, a null column); ``None``: a
    string column, written with the strings beside it by :func:`_with_strings_written`."""
    kind = column.type
    if column.null_count == len(column):
        return ""
    if arrow.types.is_integer(kind):
        bounds = compute.min_max(column)
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        if low == high and not column.null_count:
            return str(low)
        if low >= 0 and high < SMALL_INTEGERS:
            return _small_integers(column)
    if not (arrow.types.is_string(kind) or arrow.types.is_large_string(kind)):
        return column
    if not column.null_count and _text_bytes(column) == 0:
        return _QUOTE * 2
    return None


def _written(strings: arrow.RecordBatch) -> _Text | None:
    """String columns as pyarrow's writer writes them, a row's text each, found from the lengths of the cells:
    a value is written in quotes with its quotes doubled, a null as nothing."""
    lengths = np.full(strings.num_rows, strings.num_columns, dtype=np.int64)  # the separators, the newline
    for column in strings.columns:
        written = np.diff(_offsets(column)) + 2
        if _holds_quote(column):
            written += compute.count_substring(column, _QUOTE).fill_null(0).to_numpy()
        if column.null_count:
            written *= column.is_valid().to_numpy(zero_copy_only=False)
        lengths += written
    # Values: each row's text without its newline, then the newline alone, never gathered (the separator
    # piece gathered after the row holds what follows these columns).
    bounds = np.zeros(2 * strings.num_rows + 1, dtype=np.int64)
    bounds[2::2] = np.cumsum(lengths)
    bounds[1::2] = bounds[2::2] - 1
    if bounds[-1] > LARGEST_TEXT:
        return None
    rows = arrow.StringArray.from_buffers(
        2 * strings.num_rows, arrow.py_buffer(bounds.astype(np.int32)), arrow.py_buffer(writer_rows(strings))
    )
    return _Text(rows, step=2)


def _small_integers(column: arrow.Array) -> _Integers:
    valid = None
    if column.null_count:
        valid = column.is_valid().to_numpy(zero_copy_only=False)
        column = column.fill_null(0)
    return _Integers(column.to_numpy().astype(np.int32), valid)


@functools.lru_cache(maxsize=8)
def _integer_texts(end: str) -> arrow.Array:
    """Each integer below :data:`SMALL_INTEGERS` as the writer casts it, followed by ``end``."""
    numbers = compute.cast(arrow.array(np.arange(SMALL_INTEGERS)), arrow.string())
    return compute.binary_join_element_wise(numbers, end, "")


def _offsets(text: arrow.Array) -> np.ndarray:
    """The value offsets of a string array's rows (of its slice only): ``len(text) + 1`` of them."""
    kind = np.int64 if arrow.types.is_large_string(text.type) else np.int32
    return np.frombuffer(text.buffers()[1], dtype=kind)[text.offset : text.offset + len(text) + 1]


def _text_bytes(text: arrow.Array) -> int:
    """Bytes of the values of a string array (of its slice only)."""
    offsets = _offsets(text)
    return int(offsets[-1] - offsets[0])


def _holds_quote(text: arrow.Array) -> bool:
    data = text.buffers()[2]
    if data is None:
        return False
    offsets = _offsets(text)
    return bool((np.frombuffer(data, dtype=np.uint8)[offsets[0] : offsets[-1]] == ord(_QUOTE)).any())


def _joined(cells: list[_Integers | _Text | str], rows: int) -> bytes | None:
    """The rows of ``cells``; ``None`` where they would pass :data:`LARGEST_TEXT`."""
    # A row is text the same in every row (separators, constant cells) between the cells that vary:
    # ``prefix`` before the first, ``ends[i]`` after the i-th up to the next. The last end also holds the
    # next row's prefix, so the rows are the prefix, the pieces in order, less the last prefix.
    varying: list[_Integers | _Text] = []
    same = [""]  # same[i]: the fixed text before varying[i]; the last, after the last one
    for index, cell in enumerate(cells):
        same[-1] += "," if index else ""
        if isinstance(cell, str):
            same[-1] += cell
        else:
            varying.append(cell)
            same.append("")
    same[-1] += "\n"
    prefix = same[0]
    if not varying:
        return (prefix * rows).encode() if len(prefix) * rows <= LARGEST_TEXT else None
    ends = [*same[1:-1], same[-1] + prefix]
    separators = list(dict.fromkeys(ends))  # the first pieces: what follows a cell, each text once
    arrays = [arrow.array(separators, arrow.string())]
    pieces = len(separators)  # pieces in ``arrays`` so far: the next array's first piece
    order = np.empty((rows, sum(1 if isinstance(cell, _Integers) else 2 for cell in varying)), dtype=np.int32)
    tables: dict[str, int] = {}  # integer texts followed by an end -> their first piece (one table per end)
    position = 0
    size = len(prefix)
    for cell, end in zip(varying, ends, strict=True):
        if isinstance(cell, _Integers):
            if end not in tables:  # the separator comes with the number
                tables[end] = pieces
                arrays.append(_integer_texts(end))
                pieces += SMALL_INTEGERS
            indices = cell.values + tables[end]
            order[:, position] = indices if cell.valid is None else np.where(cell.valid, indices, separators.index(end))
            position += 1
            size += rows * (len(str(SMALL_INTEGERS - 1)) + len(end))
        else:
            order[:, position] = np.arange(pieces, pieces + cell.step * rows, cell.step, dtype=np.int32)
            order[:, position + 1] = separators.index(end)
            position += 2
            size += _text_bytes(cell.text) + rows * len(end)
            arrays.append(cell.text)
            pieces += len(cell.text)
    if size > LARGEST_TEXT:
        return None
    text = compute.take(arrow.concat_arrays(arrays), order.reshape(-1))
    return _value_bytes(text, prefix)


def _value_bytes(text: arrow.Array, prefix: str) -> bytes | memoryview:
    """``prefix`` and the bytes of ``text``'s values less its last ``prefix`` (see :func:`_joined`)."""
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)
    start, stop = int(offsets[text.offset]), int(offsets[text.offset + len(text)])
    data = _bytes_view(text.buffers()[2])
    if prefix:
        head = prefix.encode()
        return head + data[start : stop - len(head)]
    return data[start:stop]
