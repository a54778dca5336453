"""Which columns hold the sizes, and their values as numbers whatever type the table gave them.

img2dataset writes ``width``/``height`` (the stored image) and, with resizing, ``original_width``/
``original_height``; LAION's metadata has ``WIDTH``/``HEIGHT``. The first pair present in that order
is used unless the caller names the columns, and the choice is reported so that nobody buckets the
original sizes by accident.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as arrow
import pyarrow.compute as compute

from aspectbucket.tables.formats import TableError

#: Size column pairs recognised without ``--width-column``/``--height-column``, in order of preference.
CONVENTIONS = (("width", "height"), ("WIDTH", "HEIGHT"), ("original_width", "original_height"))


@dataclass(frozen=True)
class SizeColumns:
    """The two columns read as sizes, and a note for the user when they were not plain ``width``/``height``."""

    width: str
    height: str
    note: str = ""


def size_columns(names: list[str], width: str | None = None, height: str | None = None) -> SizeColumns:
    """The size columns among ``names``: the ones named, else the first convention present."""
    if width or height:
        chosen = (width or "width", height or "height")
        missing = [name for name in chosen if name not in names]
        if missing:
            raise TableError(f"the table has no column {', '.join(map(repr, missing))}; it has {names}")
        return SizeColumns(*chosen)
    present = [pair for pair in CONVENTIONS if set(pair) <= set(names)]
    if not present:
        raise TableError(
            f"the table must have 'width' and 'height' columns (or WIDTH/HEIGHT, original_width/original_height, "
            f"or name them with --width-column/--height-column); it has {names}"
        )
    chosen = present[0]
    note = ""
    if chosen != CONVENTIONS[0] or len(present) > 1:
        others = ", ".join("/".join(pair) for pair in present[1:])
        note = f"sizes read from the columns {chosen[0]}/{chosen[1]}" + (f" (also present: {others})" if others else "")
    return SizeColumns(*chosen, note)


def size_values(column: arrow.Array | arrow.ChunkedArray) -> np.ndarray:
    """``column`` as numbers for :func:`aspectbucket.geometry.placement.check_sizes`.

    Integers stay integers (the fast path); nulls and empty text become NaN (missing); text is parsed
    as a number; booleans, lists and anything else that is not a number become -1 (not a size).
    """
    if isinstance(column, arrow.ChunkedArray):
        column = column.combine_chunks()
    kind = column.type
    if arrow.types.is_integer(kind) and column.null_count == 0:
        return column.to_numpy()
    if arrow.types.is_integer(kind) or arrow.types.is_floating(kind) or arrow.types.is_decimal(kind):
        # Not a safe cast: a whole number over 2^53 becomes the nearest float, as float() makes it.
        return compute.cast(column, arrow.float64(), safe=False).to_numpy(zero_copy_only=False)
    if arrow.types.is_null(kind):
        return np.full(len(column), np.nan)
    if arrow.types.is_string(kind) or arrow.types.is_large_string(kind):
        return _text_values(column)
    return np.where(column.is_null().to_numpy(zero_copy_only=False), np.nan, -1.0)


def _text_values(column: arrow.Array) -> np.ndarray:
    # Each cell means what Python's float() makes of it, whatever the cells beside it: pyarrow's integer
    # cast also reads hexadecimal ("0x400"), which float() refuses, so text holding an x skips it.
    hexadecimal = _holds_x(column)
    if column.null_count == 0 and not hexadecimal:
        try:  # the usual CSV column, whole numbers only: no copy trimmed and emptied first
            return compute.cast(column, arrow.int64()).to_numpy()
        except (arrow.ArrowInvalid, arrow.ArrowNotImplementedError):
            pass
    text = compute.utf8_trim_whitespace(column)
    text = compute.if_else(compute.equal(text, ""), None, text)
    for kind in (arrow.float64(),) if hexadecimal else (arrow.int64(), arrow.float64()):
        try:
            numbers = compute.cast(text, kind)
        except (arrow.ArrowInvalid, arrow.ArrowNotImplementedError):
            continue
        return (
            numbers.to_numpy()
            if numbers.null_count == 0
            else compute.cast(numbers, arrow.float64(), safe=False).to_numpy(zero_copy_only=False)
        )
    return np.array([_number_or_bad(value) for value in text.to_pylist()], dtype=np.float64)


def _holds_x(column: arrow.Array) -> bool:
    """Whether any cell's bytes hold an ``x`` or ``X`` (a null cell's too, which only costs the slower
    parse): one numpy pass over the text buffer, a seventh of pyarrow's substring search."""
    offsets, data = column.buffers()[1:3]
    if data is None or len(column) == 0:
        return False
    width = np.int64 if arrow.types.is_large_string(column.type) else np.int32
    bounds = np.frombuffer(offsets, dtype=width, count=len(column) + 1, offset=column.offset * width().itemsize)
    text = np.frombuffer(data, dtype=np.uint8)[bounds[0] : bounds[-1]]
    return bool(np.any((text | 0x20) == ord("x")))


def _number_or_bad(text: str | None) -> float:
    if text is None:
        return np.nan
    try:
        return float(text)
    except ValueError:
        return -1.0
