"""CSV rows of a record batch, byte for byte as pyarrow's CSV writer writes them, faster where integers are many.

pyarrow's writer (``apache/arrow@01a24d719d9839126634b9c65eb8e49f8c858539 cpp/src/arrow/csv/writer.cc:
MakePopulator``, default options) casts every column to text, quotes strings (its ``Needed`` style quotes
every non-null string, doubling the quotes inside) and nothing else, writes a null as nothing, and joins the
cells with ``,`` and each row with ``\\n``. Formatting integers is most of its work on placement tables (six
of the seven columns ``assign`` adds), and nearly all of them are sizes and offsets below 65,536.

Here every cell is one or two *pieces* of text in one array: an integer below 65,536 is a text gathered
from a table made once (``"1024,"``, its separator included), any other cell is its column's cast text
followed by a separator piece, and the opening quote of a string is the end of the piece before it. A column
with the same text in every row (an ``error`` column with no errors, a constant, nulls) is no piece at all,
only part of the separators around it. One ``take`` of the pieces, row by row, lays them out as the CSV
text itself: its value buffer is the batch's bytes, with no per-row Python and no second join. On
``assign``'s output that takes 55% of the writer's time, on its input's columns (two strings, two sizes, a
float, whose formatting neither can avoid) 90% (``benchmarks/bench_csv_text.py``).

What the cast makes is what pyarrow's writer makes, as it casts the same way; a type this module does not
know (or a batch too large for 32-bit offsets) goes to pyarrow's writer instead, which also raises for the
types it cannot write.
"""

from __future__ import annotations

import functools
import io

import numpy as np
import pyarrow as arrow
import pyarrow.compute as compute
import pyarrow.csv as arrow_csv

#: Integers from 0 up to this (excluded) are gathered from texts made once.
SMALL_INTEGERS = 1 << 16
#: A batch whose pieces or output could pass this many bytes is written by pyarrow (32-bit offsets here).
LARGEST_TEXT = (1 << 31) - 1
_QUOTE = '"'


def csv_rows(batch: arrow.RecordBatch) -> bytes:
    """The bytes ``pyarrow.csv.write_csv(batch, WriteOptions(include_header=False))`` writes for ``batch``."""
    if batch.num_rows == 0:
        return b""
    if not all(_known(field.type) for field in batch.schema):
        return writer_rows(batch)
    cells = [_cell(column) for column in batch.columns]
    if any(cell is None for cell in cells):  # a string column too large to quote here
        return writer_rows(batch)
    return _joined(cells, batch.num_rows) or writer_rows(batch)


def writer_rows(batch: arrow.RecordBatch) -> bytes:
    """What pyarrow's own writer makes of ``batch`` (also what :func:`csv_rows` is tested against)."""
    text = io.BytesIO()
    arrow_csv.write_csv(batch, text, arrow_csv.WriteOptions(include_header=False))
    return text.getvalue()


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
    """A column as its cell texts (null where the cell is empty); ``quoted``: its quotes are still to be
    written, around every cell, as the ends of the pieces on either side."""

    def __init__(self, text: arrow.Array, quoted: bool):
        self.text = text
        self.quoted = quoted


def _cell(column: arrow.Array) -> _Integers | _Text | str | None:
    """How ``column``'s cells are written: gathered, as texts, or (a ``str``) the same text in every row, which
    costs nothing per row (an ``error`` column with no errors, a null column); ``None``: too large here."""
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
        return _Text(compute.cast(column, arrow.string()), quoted=False)
    length = _text_bytes(column)
    if length > LARGEST_TEXT // 2:
        return None
    if length == 0 and not column.null_count:
        return _QUOTE * 2
    text = compute.cast(column, arrow.string()) if arrow.types.is_large_string(kind) else column
    if _holds_quote(text):
        text = compute.replace_substring(text, _QUOTE, _QUOTE * 2)
    if column.null_count:  # a null is written bare, so its quotes cannot be pieces of the row
        return _Text(compute.binary_join_element_wise(_QUOTE, text, _QUOTE, ""), quoted=False)
    return _Text(text, quoted=True)


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


def _text_bytes(text: arrow.Array) -> int:
    """Bytes of the values of a string array (of its slice only)."""
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int64 if arrow.types.is_large_string(text.type) else np.int32)
    return int(offsets[text.offset + len(text)] - offsets[text.offset])


def _holds_quote(text: arrow.Array) -> bool:
    data = text.buffers()[2]
    if data is None:
        return False
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)
    values = np.frombuffer(data, dtype=np.uint8)[offsets[text.offset] : offsets[text.offset + len(text)]]
    return bool((values == ord(_QUOTE)).any())


def _joined(cells: list[_Integers | _Text | str], rows: int) -> bytes | None:
    """The rows of ``cells``; ``None`` where they would pass :data:`LARGEST_TEXT`."""
    # A row is text the same in every row (separators, quotes, constant cells) between the cells that vary:
    # ``prefix`` before the first, ``ends[i]`` after the i-th up to the next. The last end also holds the
    # next row's prefix, so the rows are the prefix, the pieces in order, less the last prefix.
    varying: list[_Integers | _Text] = []
    same = [""]  # same[i]: the fixed text before varying[i]; the last, after the last one
    for index, cell in enumerate(cells):
        same[-1] += "," if index else ""
        if isinstance(cell, str):
            same[-1] += cell
            continue
        quote = _QUOTE if isinstance(cell, _Text) and cell.quoted else ""
        same[-1] += quote
        varying.append(cell)
        same.append(quote)
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
            order[:, position] = np.arange(pieces, pieces + rows, dtype=np.int32)
            order[:, position + 1] = separators.index(end)
            position += 2
            size += _text_bytes(cell.text) + rows * len(end)
            arrays.append(cell.text)
            pieces += rows
    if size > LARGEST_TEXT:
        return None
    text = compute.take(arrow.concat_arrays(arrays), order.reshape(-1))
    return _value_bytes(text, prefix)


def _value_bytes(text: arrow.Array, prefix: str) -> bytes:
    """``prefix`` and the bytes of ``text``'s values less its last ``prefix`` (see :func:`_joined`)."""
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)
    start, stop = int(offsets[text.offset]), int(offsets[text.offset + len(text)])
    data = memoryview(text.buffers()[2])
    if prefix:
        head = prefix.encode()
        return head + data[start : stop - len(head)]
    return data[start:stop].tobytes()
