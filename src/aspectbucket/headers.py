"""Image sizes and EXIF orientation from file headers, never from decoded pixels.

:func:`read_header` reads the first few kilobytes with ``imagesize`` and the last kilobyte to see
whether the file ends where its format says it must; it is safe to call from many threads. The rare
files ``imagesize`` cannot read (and WebP files with EXIF, whose orientation it does not read) go to
:func:`read_header_with_pillow`, which opens them lazily with Pillow (no decode) and must run on one
thread, because it silences Pillow's decompression-bomb warning while it runs.

Every failure is one reason from :class:`ScanReason`, a fixed set of one-line strings.
"""

from __future__ import annotations

import errno
import os
import warnings
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

import imagesize
from PIL import Image

#: The image file extensions sd-scripts trains on (``IMAGE_EXTENSIONS`` in ``library/train_util.py``),
#: matched case-insensitively.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
#: Pillow refuses to open images over twice its ``MAX_IMAGE_PIXELS`` default (89,478,485 pixels).
MAX_PIXELS = 2 * 89_478_485
#: Bytes read from the end of PNG and JPEG files to find their end marker.
TAIL_BYTES = 1024
#: The EXIF tag that holds the orientation.
ORIENTATION_TAG = 0x0112


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


#: Reasons that depend on the file's bytes only, so a cache keyed by size and mtime may keep them.
CONTENT_REASONS = frozenset(
    {ScanReason.EMPTY, ScanReason.NOT_AN_IMAGE, ScanReason.CORRUPT, ScanReason.TRUNCATED, ScanReason.GIGANTIC}
)


class Header(NamedTuple):
    """What a header says: the stored size, the EXIF orientation (1..8) and a reason ('' when fine)."""

    width: int = 0
    height: int = 0
    orientation: int = 1
    reason: str = ""


def failed(reason: ScanReason) -> Header:
    """The header of a file that could not be measured."""
    return Header(0, 0, 1, reason.value)


def is_image_name(name: str) -> bool:
    """Whether sd-scripts would take a file of this name as an image (by extension, any case)."""
    stem, extension = os.path.splitext(name)
    return bool(stem) and extension.lower() in IMAGE_EXTENSIONS


def os_error_reason(error: OSError, path: Path) -> ScanReason:
    """The reason for an ``OSError`` raised while stat-ing or opening ``path``."""
    if isinstance(error, PermissionError):
        return ScanReason.PERMISSION
    if isinstance(error, IsADirectoryError):
        return ScanReason.NOT_A_FILE
    if error.errno == errno.ELOOP:
        return ScanReason.SYMLINK_LOOP
    if isinstance(error, FileNotFoundError):
        return ScanReason.BROKEN_LINK if path.is_symlink() else ScanReason.VANISHED
    return ScanReason.IO_ERROR


def sniff(head: bytes) -> str:
    """The format named by a file's first bytes (``png``, ``jpeg``, ``webp``, ``bmp``...), or ''."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8"):
        return "jpeg"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"BM"):
        return "bmp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    return ""


def read_header(path: Path, size: int) -> Header | None:
    """The header of the file at ``path`` (``size`` bytes long), or ``None`` when Pillow must read it."""
    if size == 0:
        return failed(ScanReason.EMPTY)
    try:
        with open(path, "rb") as handle:
            head = handle.read(32)
            kind = sniff(head)
            if kind == "webp" and head[12:16] == b"VP8X" and head[20] & 0x08:
                return None  # WebP with EXIF: imagesize does not read its orientation
            handle.seek(0)
            try:
                info = imagesize.get_info(
                    handle, dpi=False, colors=False, channels=False, exif_rotation=False
                )
            except Exception:  # imagesize raises assorted errors on malformed headers
                return None
            if info.width <= 0 or info.height <= 0:
                return None
            if is_truncated(handle, kind, head, size):
                return failed(ScanReason.TRUNCATED)
    except OSError as error:
        return failed(os_error_reason(error, path))
    return measured(info.width, info.height, info.rotation)


def measured(width: int, height: int, orientation: int | None) -> Header:
    """A header from a size and raw orientation tag; unbelievable sizes become a reason."""
    if width * height > MAX_PIXELS:
        return failed(ScanReason.GIGANTIC)
    return Header(width, height, orientation if orientation in range(1, 9) else 1, "")


def is_truncated(handle, kind: str, head: bytes, size: int) -> bool:
    """Whether the file ends before its format says it must (checked from its first and last bytes).

    A PNG ends with an ``IEND`` chunk and a JPEG with an ``FFD9`` marker (both looked for in the last
    kilobyte, since some writers append a few bytes); WebP and BMP headers state the file's length.
    """
    if kind == "webp":
        return int.from_bytes(head[4:8], "little") + 8 > size
    if kind == "bmp":
        return int.from_bytes(head[2:6], "little") > size
    if kind in ("png", "jpeg"):
        handle.seek(max(0, size - TAIL_BYTES))
        tail = handle.read(TAIL_BYTES)
        return (b"IEND" if kind == "png" else b"\xff\xd9") not in tail
    return False


def read_header_with_pillow(path: Path, size: int) -> Header:
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
            if width <= 0 or height <= 0:
                return failed(ScanReason.CORRUPT)
            if is_truncated(handle, sniff(head), head, size):
                return failed(ScanReason.TRUNCATED)
    except OSError as error:
        return failed(os_error_reason(error, path))
    return measured(width, height, orientation)
