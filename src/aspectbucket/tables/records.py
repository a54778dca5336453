"""Cutting a byte stream into blocks of whole records, so a columnar parser never sees half a row.

CSV and JSONL are parsed block by block (a few MiB at a time): memory stays bounded whatever the
table's length, and a block that holds a bad row can be parsed again row by row without touching
the others. A record ends at a newline; in CSV only at a newline outside quotes (a quoted cell may
hold newlines, and an inner quote is doubled, so the count of quote bytes before a newline says
whether it is inside a cell). A record longer than the limit (a cell of gigabytes, a file with no
newline at all) is skipped, not buffered: the reader gets its length instead of its bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

#: Bytes read from the input at a time.
BLOCK_BYTES = 4 << 20
#: A record longer than this is skipped and reported; it could otherwise take all memory.
MAX_RECORD_BYTES = 64 << 20


@dataclass(frozen=True)
class Block:
    """Whole records (``data``), or one record that was too long and skipped (``skipped`` bytes)."""

    data: bytes = b""
    skipped: int = 0


def split_records(stream: IO[bytes], quoted: bool) -> Iterator[Block]:
    """Yield blocks of whole records from ``stream``; ``quoted`` for CSV's quote rule."""
    block_bytes, max_record_bytes = BLOCK_BYTES, MAX_RECORD_BYTES
    pending = b""
    skipping = False
    inside_quotes = False  # while skipping: whether the skipped bytes so far end inside a quoted cell
    skipped = 0
    while data := stream.read(block_bytes):
        if skipping:
            end, inside_quotes = _first_record_end(data, quoted, inside_quotes)
            if end < 0:
                skipped += len(data)
                continue
            yield Block(skipped=skipped + end + 1)
            skipping, pending, data = False, b"", data[end + 1 :]
        buffer = pending + data if pending else data
        end = _last_record_end(buffer, quoted)
        if end >= 0:
            yield Block(data=buffer[: end + 1])
            pending = buffer[end + 1 :]
        else:
            pending = buffer
        if len(pending) > max_record_bytes:
            skipping, skipped = True, len(pending)
            inside_quotes = quoted and pending.count(b'"') % 2 == 1
            pending = b""
    if skipping:
        yield Block(skipped=skipped)
    elif pending:
        yield Block(data=pending)


def _last_record_end(buffer: bytes, quoted: bool) -> int:
    """Index of the last newline in ``buffer`` that ends a record (``buffer`` starts at one); -1 if none."""
    end = buffer.rfind(b"\n")
    if not quoted or end < 0:
        return end
    odd = buffer.count(b'"', 0, end) % 2 == 1
    while odd and end >= 0:  # that newline is inside a quoted cell: step back to an earlier one
        previous = buffer.rfind(b"\n", 0, end)
        odd ^= buffer.count(b'"', max(previous, 0), end) % 2 == 1
        end = previous
    return end


def _first_record_end(data: bytes, quoted: bool, inside_quotes: bool) -> tuple[int, bool]:
    """Index of the first newline in ``data`` that ends a record, given the quote state before it."""
    start = 0
    while (end := data.find(b"\n", start)) >= 0:
        if quoted:
            inside_quotes ^= data.count(b'"', start, end) % 2 == 1
        if not inside_quotes:
            return end, False
        start = end + 1
    if quoted:
        inside_quotes ^= data.count(b'"', start) % 2 == 1
    return -1, inside_quotes
