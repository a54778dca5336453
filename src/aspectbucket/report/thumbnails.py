"""Preview thumbnails: each image small, with the window the trainer keeps outlined and the rest dimmed.

Only the pixels needed are decoded (JPEG draft mode shrinks while decoding). The image is shown as
the trainer reads it: the stored pixels when EXIF is ignored, upright when it is respected.
"""

from __future__ import annotations

import base64
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

from aspectbucket.profiles.profile import ExifHandling
from aspectbucket.progress import progress_bar

#: Longest side of a preview, in pixels.
PREVIEW_SIDE = 180
#: Brightness of the part the crop removes (1 = unchanged).
CUT_BRIGHTNESS = 0.3
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError, MemoryError)


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


def preview_jpeg(
    path: Path,
    size: tuple[int, int],
    window: tuple[float, float, float, float],
    apply_exif: bool,
    side: int = PREVIEW_SIDE,
) -> bytes | None:
    """A JPEG preview of ``path`` (``size`` pixels) with ``window`` kept; ``None`` if unreadable."""
    try:
        with Image.open(path) as opened:
            longest = max(opened.size)
            # Decode a JPEG at the smallest 1/2^n scale still at least the preview's size.
            opened.draft("RGB", (-(-side * opened.width // longest), -(-side * opened.height // longest)))
            image = ImageOps.exif_transpose(opened) if apply_exif else opened.copy()
        image = image.convert("RGB")
        image.thumbnail((side, side), Image.Resampling.BILINEAR)
        scale_x, scale_y = image.width / size[0], image.height / size[1]
        box = (
            round(window[0] * scale_x),
            round(window[1] * scale_y),
            round(window[2] * scale_x),
            round(window[3] * scale_y),
        )
        preview = ImageEnhance.Brightness(image).enhance(CUT_BRIGHTNESS)
        preview.paste(image.crop(box), box[:2])
        ImageDraw.Draw(preview).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), outline=(255, 204, 0))
        buffer = io.BytesIO()
        preview.save(buffer, format="JPEG", quality=72)
        return buffer.getvalue()
    except _DECODE_ERRORS:
        return None


def previews(plan, indices, jobs: int | None = None, progress: bool = False) -> list[str | None]:
    """Base64 JPEG previews of the images ``indices`` of ``plan`` (``None`` where one cannot be made).

    ``progress`` shows a progress bar on stderr (for terminals).
    """
    placement, scan = plan.placement, plan.scan
    apply_exif = bool(plan.respect_exif) or plan.profile.exif is ExifHandling.APPLY

    def one(index: int) -> str | None:
        size = (int(placement.width[index]), int(placement.height[index]))
        window = kept_window(
            size[0],
            size[1],
            int(placement.resized_width[index]),
            int(placement.resized_height[index]),
            int(placement.trim_left[index]),
            int(placement.trim_top[index]),
            int(placement.bucket_width[index]),
            int(placement.bucket_height[index]),
        )
        data = preview_jpeg(Path(scan.paths[index]), size, window, apply_exif)
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
