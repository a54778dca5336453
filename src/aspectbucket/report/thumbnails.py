"""Preview images for the HTML page: small JPEGs, decoded with as little memory as the format allows, cached.

The page draws the crop overlay itself (a box over the picture), so a preview is just the image, small,
as the trainer reads it: the stored pixels when EXIF is ignored, upright when it is respected. Three
things keep a second report of the same dataset fast and a huge file cheap:

* JPEG is decoded at 1/2, 1/4 or 1/8 scale (``draft``); a non-interlaced 8-bit PNG is decoded a strip of
  rows at a time, each strip box-averaged (``reduce``) as it arrives, so a 6000x4000 PNG never holds more
  than a few strips (a few MB) instead of its 72 MB of pixels; other formats are decoded whole.
* Each preview is cached under the user cache folder (never in a dataset), keyed by the file's path,
  size and modification time and by the preview settings, so an unchanged image is read from one small
  file instead of being decoded again; a changed one gets a new key.
* Cache files are written atomically (a temporary name, then a rename), so a crash never leaves a torn one.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from aspectbucket.export.pixels import UPRIGHT_TRANSPOSE
from aspectbucket.outputs import write_file
from aspectbucket.profiles.profile import ExifHandling
from aspectbucket.progress import progress_bar

#: Longest side of a preview, in pixels (the page shows it at up to this size, and enlarged on click).
PREVIEW_SIDE = 320
#: JPEG quality of a preview.
PREVIEW_QUALITY = 72
#: Changes whenever the preview bytes for the same settings would change, so old cache files are not used.
PREVIEW_FORMAT = 2
#: Rows a PNG strip holds at least, before it is reduced.
_STRIP_ROWS = 64
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError, MemoryError, zlib.error)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: PNG colour type -> channels (grey, RGB, palette, grey+alpha, RGBA).
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def kept_window(width, height, resized_width, resized_height, trim_left, trim_top, bucket_width, bucket_height):
    """The kept window in the image's own pixels, as floats ``(left, top, right, bottom)``."""
    scale_x = width / resized_width
    scale_y = height / resized_height
    return (
        trim_left * scale_x,
        trim_top * scale_y,
        (trim_left + bucket_width) * scale_x,
        (trim_top + bucket_height) * scale_y,
    )


def decode_small(path: Path, apply_exif: bool, side: int = PREVIEW_SIDE) -> Image.Image | None:
    """The image at ``path`` shrunk to at most ``side`` pixels a side, RGB; ``None`` if it cannot be read."""
    try:
        with Image.open(path) as opened:
            orientation = opened.getexif().get(0x0112, 1) if apply_exif else 1
            longest = max(opened.size)
            factor = max(1, longest // (2 * side))  # box-average down to about twice the preview first
            image = _png_reduced(path, factor) if opened.format == "PNG" and factor > 1 else None
            if image is None:
                # JPEG decodes at the smallest 1/2^n scale still at least the preview's size.
                opened.draft("RGB", (-(-side * opened.width // longest), -(-side * opened.height // longest)))
                opened.load()
                factor = max(1, max(opened.size) // (2 * side))
                image = opened.reduce(factor) if factor > 1 else opened.copy()
        image = _rgb(image)
        if orientation in UPRIGHT_TRANSPOSE:
            image = image.transpose(UPRIGHT_TRANSPOSE[orientation])
        image.thumbnail((side, side), Image.Resampling.BILINEAR)
        return image
    except _DECODE_ERRORS:
        return None


def _rgb(image: Image.Image) -> Image.Image:
    """RGB, with any transparency shown over white (as most viewers show it)."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB") if image.mode != "RGB" else image


def _png_reduced(path: Path, factor: int) -> Image.Image | None:
    """A non-interlaced 8-bit PNG box-averaged by ``factor``, decoded strip by strip; ``None`` otherwise.

    The compressed rows are inflated a strip at a time; each strip, led by the last unfiltered row of the
    one before (which the next rows' filters refer to), is wrapped as a small uncompressed PNG for Pillow
    to unfilter, then reduced. Peak memory is a strip's pixels, not the image's.
    """
    with open(path, "rb") as stream:
        if stream.read(8) != _PNG_SIGNATURE:
            return None
        header, kept, chunks = None, [], _png_chunks(stream)
        for kind, data in chunks:
            if kind == b"IHDR":
                header = data
            elif kind == b"IDAT":
                break
            elif kind in (b"PLTE", b"tRNS"):
                kept.append((kind, data))
        else:
            return None
        if header is None:
            return None
        width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
        if depth != 8 or interlace or colour not in _PNG_CHANNELS:
            return None
        row_bytes = 1 + width * _PNG_CHANNELS[colour]
        rows_per_strip = factor * max(1, -(-_STRIP_ROWS // factor))
        inflater = zlib.decompressobj()
        pending, compressed = bytearray(), data
        previous: bytes | None = None
        reduced, done = [], 0
        while done < height:
            count = min(rows_per_strip, height - done)
            while len(pending) < count * row_bytes:
                if not compressed:
                    kind, compressed = next(chunks, (b"IEND", b""))
                    if kind != b"IDAT":
                        return None
                # At most a strip's bytes at a time: a flat picture inflates a hundredfold.
                pending += inflater.decompress(compressed, count * row_bytes - len(pending))
                compressed = inflater.unconsumed_tail
            rows = bytes(pending[: count * row_bytes])
            del pending[: count * row_bytes]
            strip = _unfilter(width, header, kept, previous, rows, count)
            # The last row, unfiltered, leads the next strip (filter 0 = stored as is).
            previous = b"\x00" + strip.crop((0, count - 1, width, count)).tobytes()
            reduced.append(_rgb(strip).reduce(factor))
            done += count
    result = Image.new("RGB", (reduced[0].width, sum(part.height for part in reduced)))
    top = 0
    for part in reduced:
        result.paste(part, (0, top))
        top += part.height
    return result


def _png_chunks(stream):
    """``(type, data)`` of each chunk after the signature."""
    while True:
        head = stream.read(8)
        if len(head) < 8:
            return
        length, kind = struct.unpack(">I4s", head)
        data = stream.read(length)
        stream.read(4)  # the CRC; a damaged file fails in zlib or Pillow instead
        yield kind, data


def _unfilter(width: int, header: bytes, kept, previous: bytes | None, rows: bytes, count: int) -> Image.Image:
    """``count`` filtered rows (after ``previous``, if any) as a decoded strip image."""
    body = rows if previous is None else previous + rows
    lines = count + (previous is not None)
    strip_header = struct.pack(">II", width, lines) + header[8:]
    png = bytearray(_PNG_SIGNATURE)
    for kind, data in ((b"IHDR", strip_header), *kept, (b"IDAT", zlib.compress(body, 0)), (b"IEND", b"")):
        png += struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    with Image.open(io.BytesIO(bytes(png))) as strip:
        strip.load()
        return strip.crop((0, lines - count, width, lines)) if previous is not None else strip.copy()


def preview_jpeg(path: Path, apply_exif: bool, side: int = PREVIEW_SIDE) -> bytes | None:
    """A JPEG preview of ``path`` (longest side at most ``side``); ``None`` if it cannot be read."""
    image = decode_small(path, apply_exif, side)
    if image is None:
        return None
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=PREVIEW_QUALITY)
    return buffer.getvalue()


class PreviewCache:
    """Preview JPEGs on disk, one file each, keyed by path, size, modification time and settings.

    ``folder`` is a cache folder outside any dataset (the report refuses one inside). A file that cannot
    be written is not an error: the preview is simply made again next time.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder) / "previews"

    def key(self, path: Path, apply_exif: bool, side: int) -> str | None:
        """The cache key of ``path`` as it is now, or ``None`` when it cannot be stat-ed."""
        try:
            status = os.stat(path)
        except OSError:
            return None
        text = (
            f"{PREVIEW_FORMAT}\0{os.path.abspath(path)}\0{status.st_size}\0{status.st_mtime_ns}\0{apply_exif}\0{side}"
        )
        return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()

    def get(self, path: Path, apply_exif: bool, side: int = PREVIEW_SIDE) -> bytes | None:
        """The preview of ``path``: from the cache when its key matches, else made now and stored."""
        key = self.key(path, apply_exif, side)
        if key is None:
            return None
        stored = self.folder / key[:2] / f"{key}.jpg"
        try:
            return stored.read_bytes()
        except OSError:
            pass
        data = preview_jpeg(path, apply_exif, side)
        if data is not None:
            self._store(stored, data)
        return data

    @staticmethod
    def _store(target: Path, data: bytes) -> None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            write_file(target, data)
        except OSError:
            return  # a cache that cannot be written only costs the next run its speed


def previews(
    plan,
    indices,
    jobs: int | None = None,
    progress: bool = False,
    cache: PreviewCache | None = None,
    side: int = PREVIEW_SIDE,
) -> list[str | None]:
    """Base64 JPEG previews of the images ``indices`` of ``plan`` (``None`` where one cannot be made).

    ``cache`` reuses previews of unchanged files; ``progress`` shows a progress bar on stderr.
    """
    apply_exif = bool(plan.respect_exif) or plan.profile.exif is ExifHandling.APPLY
    paths = plan.scan.paths

    def one(index: int) -> str | None:
        path = Path(paths[index])
        data = cache.get(path, apply_exif, side) if cache is not None else preview_jpeg(path, apply_exif, side)
        return None if data is None else base64.b64encode(data).decode("ascii")

    indices = [int(index) for index in np.asarray(indices).reshape(-1)]
    with (
        ThreadPoolExecutor(max_workers=max(1, jobs or 4)) as pool,
        progress_bar("previews", len(indices), progress) as advance,
    ):
        results = []
        for result in pool.map(one, indices):
            results.append(result)
            advance()
        return results
