"""Thrift's compact protocol, read and written generically: enough to edit a Parquet footer in place.

A Parquet file ends with its ``FileMetaData``, a Thrift struct in the compact protocol
(apache/parquet-format ``src/main/thrift/parquet.thrift``; the encoding is Apache Thrift's
``doc/specs/thrift-compact-protocol.md``). :mod:`aspectbucket.tables.parquet_parts` joins row groups
encoded on several threads into one file, which means moving each group's offsets and renumbering it:
a handful of integer fields deep inside the footer. Rather than model the whole format, a struct is read
into :class:`Field` entries (id, wire type, value) that keep every field, known or not, and written back
the way Apache Thrift's own writer does, so a footer read and written unchanged is the same bytes (tested
against pyarrow's files).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

#: Compact protocol wire types (the low nibble of a field header; a list's element type).
STOP, TRUE, FALSE, BYTE, I16, I32, I64, DOUBLE, BINARY, LIST, SET, MAP, STRUCT = range(13)
_INTEGERS = (I16, I32, I64)


class ThriftError(ValueError):
    """Bytes that are not a compact-protocol struct (truncated, or an unknown wire type)."""


@dataclass
class Field:
    """One field of a struct: its id, its wire type, and its value.

    Values by type: ``bool`` (type TRUE, whatever the value: the wire type of a boolean field is its
    value), ``int`` (BYTE and the integers), ``bytes`` (DOUBLE, kept as
    its 8 bytes; BINARY), :class:`Items` (LIST/SET), ``list[Field]`` (STRUCT).
    """

    id: int
    type: int
    value: object


@dataclass
class Items:
    """A list or set: the wire type of its elements, and the elements (values as in :class:`Field`)."""

    type: int
    values: list


def read_struct(data: bytes | memoryview, position: int = 0) -> tuple[list[Field], int]:
    """The struct starting at ``position`` in ``data``, and the position after it."""
    reader = _Reader(data, position)
    fields = reader.struct()
    return fields, reader.position


def write_struct(fields: list[Field]) -> bytes:
    """``fields`` as compact-protocol bytes, as Apache Thrift writes them."""
    out = bytearray()
    _write_fields(out, fields)
    return bytes(out)


def field(fields: list[Field], field_id: int) -> Field | None:
    """The field with id ``field_id`` in a struct, or ``None``."""
    return next((entry for entry in fields if entry.id == field_id), None)


class _Reader:
    def __init__(self, data: bytes | memoryview, position: int):
        self.data = memoryview(data).cast("B")  # pyarrow buffers are signed chars
        self.position = position

    def byte(self) -> int:
        if self.position >= len(self.data):
            raise ThriftError("the Thrift struct is cut short")
        value = self.data[self.position]
        self.position += 1
        return value

    def varint(self) -> int:
        shift = result = 0
        while True:
            byte = self.byte()
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                return result
            shift += 7
            if shift > 63:
                raise ThriftError("a Thrift integer is longer than 64 bits")

    def zigzag(self) -> int:
        value = self.varint()
        return (value >> 1) ^ -(value & 1)

    def raw(self, count: int) -> bytes:
        end = self.position + count
        if end > len(self.data):
            raise ThriftError("the Thrift struct is cut short")
        value = bytes(self.data[self.position : end])
        self.position = end
        return value

    def struct(self) -> list[Field]:
        fields: list[Field] = []
        last = 0
        while True:
            header = self.byte()
            kind = header & 0x0F
            if kind == STOP:
                return fields
            delta = header >> 4
            last = last + delta if delta else self.zigzag()
            if kind in (TRUE, FALSE):
                fields.append(Field(last, TRUE, kind == TRUE))
            else:
                fields.append(Field(last, kind, self.value(kind)))

    def value(self, kind: int):
        if kind in _INTEGERS:
            return self.zigzag()
        if kind == BYTE:
            return int.from_bytes(self.raw(1), "little", signed=True)
        if kind == DOUBLE:
            return self.raw(8)
        if kind == BINARY:
            return self.raw(self.varint())
        if kind in (LIST, SET):
            header = self.byte()
            size = header >> 4
            if size == 15:
                size = self.varint()
            element = header & 0x0F
            if element in (TRUE, FALSE):
                return Items(element, [self.byte() == TRUE for _ in range(size)])
            return Items(element, [self.value(element) for _ in range(size)])
        if kind == STRUCT:
            return self.struct()
        raise ThriftError(f"Thrift wire type {kind} is not one a Parquet footer holds")


def _varint(out: bytearray, value: int) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _zigzag(out: bytearray, value: int) -> None:
    _varint(out, ((value << 1) ^ (value >> 63)) & 0xFFFFFFFFFFFFFFFF)


def _write_fields(out: bytearray, fields: list[Field]) -> None:
    last = 0
    for entry in fields:
        kind = entry.type
        if kind in (TRUE, FALSE):
            kind = TRUE if entry.value else FALSE
        delta = entry.id - last
        if 0 < delta <= 15:
            out.append(delta << 4 | kind)
        else:
            out.append(kind)
            _zigzag(out, entry.id)
        last = entry.id
        if kind not in (TRUE, FALSE):
            _write_value(out, kind, entry.value)
    out.append(STOP)


def _write_value(out: bytearray, kind: int, value) -> None:
    if kind in _INTEGERS:
        _zigzag(out, value)
    elif kind == BYTE:
        out += struct.pack("<b", value)
    elif kind == DOUBLE:
        out += value
    elif kind == BINARY:
        _varint(out, len(value))
        out += value
    elif kind in (LIST, SET):
        size = len(value.values)
        out.append((size << 4 if size < 15 else 0xF0) | value.type)
        if size >= 15:
            _varint(out, size)
        for item in value.values:
            if value.type in (TRUE, FALSE):
                out.append(TRUE if item else FALSE)
            else:
                _write_value(out, value.type, item)
    elif kind == STRUCT:
        _write_fields(out, value)
    else:
        raise ThriftError(f"Thrift wire type {kind} is not one a Parquet footer holds")
