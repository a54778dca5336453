"""Arrow columns rendered as JSON text, vectorised: the JSONL writer joins them into lines.

pyarrow reads JSON but does not write it, and a per-row ``json.dumps`` is what made ``assign`` slow.
Each Arrow type has one rendering, chosen so that every value survives a round trip and every line
is valid JSON: integers and decimals as numbers (decimals exactly, as written), floats as the
shortest text that reads back to the same double (``8.0`` keeps its point, so it reads back as a
float; NaN and infinities, which JSON lacks, as ``null``), strings escaped, binary as base64 text,
dates and times as ISO text, lists and structs recursively, anything else through Python's JSON
encoder with ``str`` as the fallback.
"""

from __future__ import annotations

import base64
import functools
import json

import numpy as np
import pyarrow as arrow
import pyarrow.compute as compute

_NULL = "null"
#: Control characters must be escaped in a JSON string; they are rare, so each is replaced only if present.
_CONTROL = [chr(code) for code in range(0x20)]


def json_text(column: arrow.Array) -> arrow.Array:
    """One JSON text per value of ``column`` (a string array, never null: a null is ``null``)."""
    kind = column.type
    if arrow.types.is_null(kind):
        return arrow.array([_NULL] * len(column), arrow.string())
    if arrow.types.is_dictionary(kind):
        return json_text(column.dictionary_decode())
    if arrow.types.is_boolean(kind):
        text = compute.if_else(column, "true", "false")
    elif arrow.types.is_integer(kind):
        text = _integer_text(column)
    elif arrow.types.is_decimal(kind):
        text = compute.cast(column, arrow.string())
    elif arrow.types.is_floating(kind):
        text = float_text(column)
    elif arrow.types.is_string(kind) or arrow.types.is_large_string(kind):
        text = _quoted(compute.cast(column, arrow.string()))
    elif arrow.types.is_binary(kind) or arrow.types.is_large_binary(kind) or arrow.types.is_fixed_size_binary(kind):
        text = arrow.array(
            [None if v is None else json.dumps(base64.b64encode(v).decode()) for v in column.to_pylist()],
            arrow.string(),  # also for no values, where pyarrow would guess the null type
        )
    elif arrow.types.is_temporal(kind):
        text = _quoted(compute.cast(column, arrow.string()))
    elif arrow.types.is_list(kind) or arrow.types.is_large_list(kind) or arrow.types.is_fixed_size_list(kind):
        text = _list_text(column)
    elif arrow.types.is_struct(kind):
        text = _struct_text(column)
    else:
        text = arrow.array(
            [json.dumps(value, ensure_ascii=False, default=str) for value in column.to_pylist()], arrow.string()
        )
    return compute.fill_null(text, _NULL)


def _integer_text(column: arrow.Array) -> arrow.Array:
    """Integers as text; sizes and offsets (0 to 65,535, nearly every integer a placement table holds) are
    gathered from texts made once, twice as fast as formatting each."""
    bounds = compute.min_max(column)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    if low is not None and low >= 0 and high < _SMALL:
        return compute.take(_small_integer_texts(), compute.cast(column, arrow.int32()))
    return compute.cast(column, arrow.string())


#: Integers below this are gathered from :func:`_small_integer_texts`.
_SMALL = 1 << 16


@functools.cache
def _small_integer_texts() -> arrow.Array:
    return arrow.array([str(number) for number in range(_SMALL)], arrow.string())


def float_text(column: arrow.Array) -> arrow.Array:
    """Floats as the shortest text that reads back the same (``8.0``, ``0.1``, ``1e+20``); NaN, inf and null as
    ``null``.

    Each distinct value is formatted once when a sample of the column repeats itself (a crop box's sides,
    fractions of a few image sizes): formatting costs far more than hashing and gathering the texts.
    """
    values = compute.cast(column, arrow.float64())
    if isinstance(values, arrow.ChunkedArray):
        values = values.combine_chunks()
    sample = values.slice(0, _SAMPLE)
    if len(values) > _SAMPLE and 2 * len(compute.unique(sample)) <= len(sample):
        encoded = compute.dictionary_encode(values)
        text = compute.take(_distinct_float_text(encoded.dictionary), encoded.indices)
        return compute.fill_null(text, _NULL) if text.null_count else text
    return _distinct_float_text(values)


#: Values of a float column looked at to decide whether its distinct values are few enough to format once each.
_SAMPLE = 4096


def _distinct_float_text(values: arrow.Array) -> arrow.Array:
    text = compute.cast(values, arrow.string())
    numbers = values.to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        # pyarrow writes 8.0 as "8": keep the point so the value reads back as a float, as Python writes it.
        # From 1e10 on it may write an exponent ("1e+10"), already a float's text: ".0" there is not JSON.
        whole = (numbers == np.floor(numbers)) & (np.abs(numbers) < 1e16)
        if (whole & (np.abs(numbers) >= 1e10)).any():
            whole &= ~compute.match_substring(text, "e").to_numpy(zero_copy_only=False)
    if whole.any():
        text = compute.if_else(arrow.array(whole), compute.binary_join_element_wise(text, ".0", ""), text)
    finite = np.isfinite(numbers)
    if not finite.all():
        text = compute.if_else(arrow.array(finite), text, _NULL)
    return text


def _quoted(text: arrow.Array) -> arrow.Array:
    """Strings in quotes, escaped; a column with nothing to escape (the usual case) costs one scan of its bytes."""
    if _needs_escaping(text):
        text = compute.replace_substring(text, "\\", "\\\\")
        text = compute.replace_substring(text, '"', '\\"')
        for character in _CONTROL:
            text = compute.replace_substring(text, character, f"\\u{ord(character):04x}")
    return compute.binary_join_element_wise('"', text, '"', "")


def _needs_escaping(text: arrow.Array) -> bool:
    data = text.buffers()[2]
    if data is None:
        return False
    raw = np.frombuffer(data, dtype=np.uint8)
    return bool((raw < 0x20).any() or (raw == ord('"')).any() or (raw == ord("\\")).any())


def _list_text(column: arrow.Array) -> arrow.Array:
    if arrow.types.is_fixed_size_list(column.type):
        column = column.cast(arrow.list_(column.type.value_type))
    if isinstance(column, arrow.ChunkedArray):
        column = column.combine_chunks()
    items = json_text(column.flatten())
    offsets = compute.subtract(column.offsets, column.offsets[0])
    lists = type(column).from_arrays(offsets, items, mask=column.is_null())
    return compute.binary_join_element_wise("[", compute.binary_join(lists, ","), "]", "")


def _struct_text(column: arrow.Array) -> arrow.Array:
    parts = []
    for index in range(column.type.num_fields):
        name = column.type.field(index).name
        parts += ["," if parts else "", json.dumps(name, ensure_ascii=False) + ":", json_text(column.field(index))]
    joined = compute.binary_join_element_wise("{", *parts, "}", "") if parts else arrow.array(["{}"] * len(column))
    return compute.if_else(column.is_valid(), joined, None)


def json_lines(batch: arrow.RecordBatch) -> bytes:
    """``batch`` as JSON Lines, one object per row with the columns in order, each line ending in a newline."""
    if batch.num_rows == 0:
        return b""
    parts = []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        parts += [("{" if not parts else ",") + json.dumps(name, ensure_ascii=False) + ":", json_text(column)]
    lines = compute.binary_join_element_wise(*(parts or ["{"]), "}\n", "")
    _, offsets, data = lines.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int32)[[lines.offset, lines.offset + len(lines)]]
    return data.to_pybytes()[bounds[0] : bounds[1]]
