"""Image sizes and EXIF orientation from file headers, never from decoded pixels.

:func:`read_header` opens a file with a bare descriptor, reads its first 16 KB in one call and parses
the four formats sd-scripts trains on (PNG, JPEG, WebP, BMP; GIF too) from those bytes, reading more
only when a JPEG's metadata runs longer; then it reads the last kilobyte to see whether the file ends
where its format says it must. That costs about what the I/O itself costs; ``imagesize.get_info``,
parsing through many small file-like reads, takes about twice as long as the whole scan of a file
(``benchmarks/bench_scan.py``). Anything else goes to ``imagesize``, and
what it cannot read to :func:`read_header_with_pillow` (a lazy ``Image.open``, no decode), which must
run on one thread because it silences Pillow's decompression-bomb warning while it runs.

Every failure is one reason from :class:`ScanReason`, a fixed set of one-line strings.
"""

from __future__ import annotations

import errno
import functools
import io
import os
import struct
import warnings
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

import imagesize
from PIL import Image

#: The image file extensions sd-scripts trains on (``IMAGE_EXTENSIONS`` in ``library/train_util.py``),
#: matched case-insensitively.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
_EXTENSIONS = frozenset(IMAGE_EXTENSIONS)
#: Pillow refuses to open images over twice its ``MAX_IMAGE_PIXELS`` default (89,478,485 pixels).
MAX_PIXELS = 2 * 89_478_485
#: Bytes read from the start of every file; most headers, EXIF included, fit.
HEAD_BYTES = 16 * 1024
#: A JPEG whose size marker lies beyond this is left to imagesize (which streams).
JPEG_SEARCH_LIMIT = 4 * 1024 * 1024
#: Bytes read from the end of PNG and JPEG files to find their end marker.
TAIL_BYTES = 1024
#: Chunks walked looking for EXIF in PNG and WebP files, JPEG segments walked looking for the frame
#: header, and the largest EXIF block read: a damaged file can claim any length, and must not make
#: the scan allocate gigabytes or walk forever.
MAX_CHUNKS = 64
MAX_SEGMENTS = 1024
MAX_EXIF_BYTES = 1024 * 1024
#: The EXIF tag that holds the orientation.
ORIENTATION_TAG = 0x0112
_HAS_PREAD = hasattr(os, "pread")
# O_NONBLOCK: should a named pipe replace a listed file, opening it must not hang (files ignore it).
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
# JPEG start-of-frame markers (they hold the size): C0..CF except DHT (C4), JPG (C8) and DAC (CC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


class ScanReason(StrEnum):
    """Why an image file has no size. The values are the one-line reasons users see."""

    EMPTY = "empty file (0 bytes)"
    NOT_AN_IMAGE = "not an image: the content matches no image format"
    CORRUPT = "corrupt header: the image size cannot be read"
    TRUNCATED = "truncated: the file ends before its image data does"
    GIGANTIC = f"the header claims a gigantic size (over {MAX_PIXELS:,} pixels); not decoded"
    PERMISSION = "unreadable: permission denied"
    IO_ERROR = "unreadable: input/output error"
    SYMLINK_LOOP = "symlink loop"
    BROKEN_LINK = "broken symlink: its target does not exist"
    VANISHED = "vanished during the scan"
    NOT_A_FILE = "not a regular file"


#: Every reason as stored in arrays: code 0 is '' (no error), then the reasons in declaration order.
REASONS: tuple[str, ...] = ("", *(reason.value for reason in ScanReason))
REASON_CODES = {reason: code for code, reason in enumerate(REASONS)}
#: Reasons that depend on the file's bytes only, so a cache keyed by size and mtime may keep them.
CONTENT_REASONS = frozenset(
    {
        "",
        ScanReason.EMPTY,
        ScanReason.NOT_AN_IMAGE,
        ScanReason.CORRUPT,
        ScanReason.TRUNCATED,
        ScanReason.GIGANTIC,
    }
)


class Header(NamedTuple):
    """What a header says: the stored size, the EXIF orientation (1..8) and a reason ('' when fine)."""

    width: int = 0
    height: int = 0
    orientation: int = 1
    reason: str = ""


_new_header = tuple.__new__


def failed(reason: ScanReason) -> Header:
    """The header of a file that could not be measured."""
    return Header(0, 0, 1, reason.value)


def is_image_name(name: str) -> bool:
    """Whether sd-scripts would take a file of this name as an image: by extension, in any case, and
    not hidden (its ``glob("*.png")`` skips names starting with a dot, such as macOS ``._photo.jpg``)."""
    dot = name.rfind(".")
    return dot > 0 and name[0] != "." and name[dot:].lower() in _EXTENSIONS


def os_error_reason(error: OSError, path: str | Path) -> ScanReason:
    """The reason for an ``OSError`` raised while stat-ing or opening ``path``."""
    if isinstance(error, PermissionError):
        return ScanReason.PERMISSION
    if isinstance(error, IsADirectoryError):
        return ScanReason.NOT_A_FILE
    if error.errno == errno.ELOOP:
        return ScanReason.SYMLINK_LOOP
    if isinstance(error, FileNotFoundError):
        return ScanReason.BROKEN_LINK if os.path.islink(path) else ScanReason.VANISHED
    return ScanReason.IO_ERROR


def sniff(head: bytes) -> str:
    """The format named by a file's first bytes (``png``, ``jpeg``, ``webp``, ``bmp``...), or ''."""
    if head.startswith(b"\xff\xd8"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"BM"):
        return "bmp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    return ""


def read_header(path: str | Path, size: int) -> Header | None:
    """The header of the file at ``path`` (``size`` bytes long), or ``None`` when Pillow must read it.

    Safe to call from many threads.
    """
    if size == 0:
        return failed(ScanReason.EMPTY)
    try:
        descriptor = os.open(path, _OPEN_FLAGS)
        try:
            head = os.read(descriptor, HEAD_BYTES)
            kind = sniff(head)
            parser = _PARSERS.get(kind)
            read_at = functools.partial(_read_at, descriptor)
            try:
                found = parser(head, read_at) if parser else None
            except (struct.error, IndexError, ValueError):
                found = None
            if found is None:
                return _read_with_imagesize(path, size)
            if is_truncated(kind, head, size, read_at):
                return failed(ScanReason.TRUNCATED)
        finally:
            os.close(descriptor)
    except OSError as error:
        return failed(os_error_reason(error, path))
    return measured(*found)


def _read_at(descriptor: int, offset: int, count: int) -> bytes:
    if _HAS_PREAD:
        return os.pread(descriptor, count, offset)
    os.lseek(descriptor, offset, os.SEEK_SET)  # Windows has no pread
    return os.read(descriptor, count)


def _read_with_imagesize(path, size: int) -> Header | None:
    """imagesize for what our parsers do not know; ``None`` sends the file on to Pillow."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(32)
            handle.seek(0)
            try:
                info = imagesize.get_info(handle, dpi=False, colors=False, channels=False, exif_rotation=False)
            except Exception:  # imagesize raises assorted errors on malformed headers
                return None
            if info.width <= 0 or info.height <= 0:
                return None
            if is_truncated(sniff(head), head, size, lambda offset, count: _seek_read(handle, offset, count)):
                return failed(ScanReason.TRUNCATED)
    except OSError as error:
        return failed(os_error_reason(error, path))
    return measured(info.width, info.height, info.rotation)


def _seek_read(handle, offset: int, count: int) -> bytes:
    handle.seek(offset)
    return handle.read(count)


def measured(width: int, height: int, orientation: object) -> Header:
    """A header from a size and raw orientation tag (anything but 1..8 counts as 1, as Pillow's
    ``exif_transpose`` treats it); unbelievable sizes become a reason."""
    if width <= 0 or height <= 0:
        return failed(ScanReason.CORRUPT)
    if width * height > MAX_PIXELS:
        return failed(ScanReason.GIGANTIC)
    upright = orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1
    return _new_header(Header, (width, height, upright, ""))  # NamedTuple's own __new__ is slow Python


def is_truncated(kind: str, head: bytes, size: int, read_at) -> bool:
    """Whether the file ends before its format says it must (checked from its first and last bytes).

    A PNG ends with an ``IEND`` chunk and a JPEG with an ``FFD9`` marker (both looked for in the last
    kilobyte, since some writers append a few bytes); WebP and BMP headers state the file's length.
    A JPEG without its end marker counts as truncated only if its tail still looks like compressed
    image data (see :func:`looks_like_scan_data`): phones append whole videos to "motion photos".
    """
    marker = _END_MARKERS.get(kind)
    if marker:
        tail = (
            head[max(0, size - TAIL_BYTES) : size]
            if size <= len(head)
            else read_at(max(0, size - TAIL_BYTES), TAIL_BYTES)
        )
        if marker in tail:
            return False
        return kind == "png" or looks_like_scan_data(tail)
    if kind == "webp":
        return int.from_bytes(head[4:8], "little") + 8 > size
    if kind == "bmp":
        return int.from_bytes(head[2:6], "little") > size
    return False


def looks_like_scan_data(tail: bytes) -> bool:
    """Whether bytes could be the middle of a JPEG's compressed scan, where 0xFF only ever comes as
    ``FF00`` (an escaped byte) or ``FFD0``..``FFD7`` (restart markers). Anything else there is data
    appended after the image (a motion photo's video, a maker's trailer), not a cut-off download."""
    position = tail.find(b"\xff")
    while 0 <= position < len(tail) - 1:
        following = tail[position + 1]
        if following != 0 and not 0xD0 <= following <= 0xD7:
            return False
        position = tail.find(b"\xff", position + 2)
    return True


def tiff_orientation(data: bytes, start: int = 0, end: int | None = None) -> int:
    """The orientation tag of the first image directory of the TIFF-structured EXIF data that fills
    ``data[start:end]`` (1 if absent). Read in place: a photo's EXIF block can be 60 KB of thumbnail."""
    end = len(data) if end is None else min(end, len(data))
    structs = _TIFF_STRUCTS.get(data[start : start + 2])
    if structs is None:
        return 1
    offset, short, tag_and_kind = structs
    try:
        directory = start + offset(data, start + 4)[0]
        (entries,) = short(data, directory)
        if directory + 2 + 12 * entries > end:
            return 1
        for entry in range(directory + 2, directory + 2 + 12 * entries, 12):
            tag, kind = tag_and_kind(data, entry)
            if tag == ORIENTATION_TAG:
                return short(data, entry + 8)[0] if kind == 3 else 1  # SHORT, as the standard says
    except struct.error:
        pass
    return 1


def _png(head: bytes, read_at) -> tuple[int, int, int] | None:
    if head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack_from(">II", head, 16)
    return width, height, _png_orientation(head, read_at)


def _png_orientation(head: bytes, read_at) -> int:
    """The orientation in an ``eXIf`` chunk, which the PNG specification places before the image data."""
    position = 8
    for _ in range(MAX_CHUNKS):
        chunk = head[position : position + 8]
        if len(chunk) < 8:
            chunk = read_at(position, 8)
            if len(chunk) < 8:
                return 1
        length = int.from_bytes(chunk[:4], "big")
        kind = chunk[4:]
        if kind in (b"IDAT", b"IEND"):
            return 1
        if kind == b"eXIf" and length <= MAX_EXIF_BYTES:
            start = position + 8
            payload = head[start : start + length] if start + length <= len(head) else read_at(start, length)
            return tiff_orientation(payload)
        position += 12 + length
    return 1


def _gif(head: bytes, read_at) -> tuple[int, int, int]:
    width, height = struct.unpack_from("<HH", head, 6)
    return width, height, 1


def _bmp(head: bytes, read_at) -> tuple[int, int, int] | None:
    (info_size,) = struct.unpack_from("<I", head, 14)
    if info_size == 12:  # OS/2 BITMAPCOREHEADER
        width, height = struct.unpack_from("<HH", head, 18)
    elif info_size >= 40:
        width, height = struct.unpack_from("<ii", head, 18)
    else:
        return None
    return width, abs(height), 1  # a negative height means rows stored top-down


def _jpeg(head: bytes, read_at) -> tuple[int, int, int] | None:
    """Walk the marker segments up to the start of frame, reading the first EXIF orientation on the way."""
    data, position, orientation = head, 2, None
    at_end = len(head) < HEAD_BYTES
    for _ in range(MAX_SEGMENTS):
        if position + 10 > len(data):
            if at_end or position + 10 > JPEG_SEARCH_LIMIT:
                return None  # the file ended, or the metadata is unusually long: let imagesize walk it
            wanted = max(HEAD_BYTES, position + 10 - len(data))
            more = read_at(len(data), wanted)
            at_end = len(more) < wanted
            data += more
            continue
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:
            position += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            position += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image or start of scan before any frame header
            return None
        if marker in _SOF_MARKERS:
            height, width = _BIG_ENDIAN_PAIR(data, position + 5)
            return width, height, orientation or 1
        end = position + 2 + ((data[position + 2] << 8) | data[position + 3])
        if marker == 0xE1 and orientation is None and data.startswith(b"Exif\x00\x00", position + 4):
            if end > len(data):
                data = data + read_at(len(data), end - len(data))
            orientation = tiff_orientation(data, position + 10, end)
        position = end
    return None


def _webp(head: bytes, read_at) -> tuple[int, int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8 ":
        if head[23:26] != b"\x9d\x01\x2a":
            return None
        width, height = struct.unpack_from("<HH", head, 26)
        return width & 0x3FFF, height & 0x3FFF, 1
    if chunk == b"VP8L":
        if head[20] != 0x2F:
            return None
        (bits,) = struct.unpack_from("<I", head, 21)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, 1
    if chunk == b"VP8X":
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        has_exif = head[20] & 0x08
        return width, height, _webp_orientation(read_at) if has_exif else 1
    return None


def _webp_orientation(read_at) -> int:
    """Walk the RIFF chunks (EXIF comes after the image data) to the EXIF chunk's orientation."""
    position = 12
    for _ in range(MAX_CHUNKS):
        chunk = read_at(position, 8)
        if len(chunk) < 8:
            return 1
        length = int.from_bytes(chunk[4:8], "little")
        if chunk[:4] == b"EXIF" and length <= MAX_EXIF_BYTES:
            payload = read_at(position + 8, length)
            return tiff_orientation(payload[6:] if payload.startswith(b"Exif\x00\x00") else payload)
        position += 8 + length + (length & 1)
    return 1


_TIFF_STRUCTS = {
    order: tuple(struct.Struct(prefix + layout).unpack_from for layout in ("I", "H", "HH"))
    for order, prefix in ((b"II", "<"), (b"MM", ">"))
}
_END_MARKERS = {"jpeg": b"\xff\xd9", "png": b"IEND"}
_BIG_ENDIAN_PAIR = struct.Struct(">HH").unpack_from
_PARSERS = {"png": _png, "jpeg": _jpeg, "webp": _webp, "bmp": _bmp, "gif": _gif}


def read_header_with_pillow(path: str | Path, size: int) -> Header:
    """The header as Pillow reads it on open (no decode). Run on one thread only (see module doc)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(32)
            handle.seek(0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                try:
                    with Image.open(handle) as image:
                        width, height = image.size
                        orientation = image.getexif().get(ORIENTATION_TAG, 1)
                except Image.DecompressionBombError:
                    return failed(ScanReason.GIGANTIC)
                except Exception:  # Pillow raises many kinds of errors on bad files
                    return failed(ScanReason.CORRUPT if sniff(head) else ScanReason.NOT_AN_IMAGE)
            if is_truncated(sniff(head), head, size, lambda offset, count: _seek_read(handle, offset, count)):
                return failed(ScanReason.TRUNCATED)
    except OSError as error:
        return failed(os_error_reason(error, path))
    return measured(width, height, orientation)


def read_header_bytes(data: bytes) -> Header:
    """The header of an image held in memory (a WebDataset tar member): the parsers and the truncation
    check of :func:`read_header`, then a lazy Pillow open (no decode) for other formats.

    Pillow's decompression-bomb warning is silenced while it runs, so call it from one thread only.
    """
    if not data:
        return failed(ScanReason.EMPTY)
    head = data[:HEAD_BYTES]
    kind = sniff(head)
    parser = _PARSERS.get(kind)

    def read_at(offset: int, count: int) -> bytes:
        return data[offset : offset + count]

    try:
        found = parser(head, read_at) if parser else None
    except (struct.error, IndexError, ValueError):
        found = None
    if found is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            try:
                with Image.open(io.BytesIO(data)) as image:
                    found = (*image.size, image.getexif().get(ORIENTATION_TAG, 1))
            except Image.DecompressionBombError:
                return failed(ScanReason.GIGANTIC)
            except Exception:  # Pillow raises many kinds of errors on bad files
                return failed(ScanReason.CORRUPT if kind else ScanReason.NOT_AN_IMAGE)
    if is_truncated(kind, head, len(data), read_at):
        return failed(ScanReason.TRUNCATED)
    return measured(*found)
