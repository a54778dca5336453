"""Pixels: decode an image upright, and cut exactly the window a trainer trains on, or a pre-crop.

These are the functions the exporter and the torch integration share. The trainer's geometry (bucket,
resized size, trim) comes from a :class:`~aspectbucket.geometry.placement.Placement`; here it becomes
pixels, fast: a JPEG that will shrink is decoded at a reduced scale by its DCT, and the trim is fused
into the LANCZOS resize (a fractional source box) so only the kept window is ever resampled, by SIMD
code where available (:mod:`aspectbucket.export.resample`).

The scaled JPEG decode uses simplejpeg (libjpeg-turbo's TurboJPEG API) rather than Pillow's ``draft``:
both decode by DCT scaling, but Pillow offers only 1/2, 1/4 and 1/8, while libjpeg-turbo scales by any
n/8. A 3500-pixel photo bound for a 1024 bucket then decodes at 3/8 instead of 1/2, as fast, and leaves
the LANCZOS pass (most of the time) about half the pixels. JPEGs simplejpeg cannot decode (CMYK, damaged
ones) take Pillow's ``draft`` path, which also gives the reasons for files that cannot be read at all.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import numpy as np
import simplejpeg
from PIL import Image, ImageOps

from aspectbucket.export.resample import lanczos

#: ``image.info`` key for where the full image lies, ``(left, top, right, bottom)`` in the image's own
#: pixels, when a JPEG was decoded at reduced scale: the full image is ``W/s`` wide while the decoded
#: one is ``ceil(W/s)``, and after an EXIF flip the partial last pixel is the first. Mapping with the
#: rounded size would shift the window by up to a source pixel.
SOURCE_BOX_KEY = "aspectbucket.source_box"

#: EXIF orientations that swap width and height (transposed and rotated by 90 or 270 degrees).
SWAPPING_ORIENTATIONS = (5, 6, 7, 8)

#: The transposition that turns an image of each EXIF orientation upright (as ``ImageOps.exif_transpose``).
UPRIGHT_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

#: Modes whose ICC profile still describes the pixels after conversion to RGB(A).
_RGB_PROFILE_MODES = ("RGB", "RGBA", "RGBX", "RGBa", "P", "PA")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


class Anchor(StrEnum):
    """Where a pre-crop box sits along the axis that is cut."""

    CENTER = "center"
    TOP = "top"
    BOTTOM = "bottom"
    LEFT = "left"
    RIGHT = "right"


def exif_orientation(image: Image.Image) -> int:
    """The EXIF orientation 1..8 of an opened image (1 when absent or out of range)."""
    value = image.getexif().get(0x0112, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def open_image(
    path: Path, apply_exif: bool = True, draft: tuple[int, int] | None = None, orientation: int | None = None
) -> Image.Image:
    """Decode ``path`` as RGB, or RGBA when it has transparency, upright when ``apply_exif``.

    ``draft`` is the upright ``(width, height)`` the caller will resize to: a larger JPEG is then
    decoded at the smallest scale n/8 that is not below ``draft``, much faster, and
    the exact place of the full image is kept in ``image.info[SOURCE_BOX_KEY]`` for
    :func:`train_pixels`. The ICC profile stays in ``image.info["icc_profile"]`` when it still
    describes the pixels. With ``apply_exif`` the
    orientation tag is removed from ``image.info["exif"]``; without it the stored pixels are returned,
    as sd-scripts trains them. ``orientation`` overrides the file's own tag (a scan that measured the
    file differently, e.g. a PNG ``eXIf`` chunk its header reader ignores, stays the authority); the
    tag is then left as it is. Raises what Pillow raises for unreadable files.
    """
    image = Image.open(path)
    tagged = exif_orientation(image)
    if not apply_exif:
        orientation = 1
    elif orientation is None:
        orientation = tagged
    source_box = None
    if draft is not None and image.format == "JPEG":
        stored_draft = draft[::-1] if orientation in SWAPPING_ORIENTATIONS else tuple(draft)
        stored_draft = (max(1, stored_draft[0]), max(1, stored_draft[1]))
        scaled = _decode_scaled_jpeg(path, image, stored_draft)
        if scaled is not None:
            image, box = scaled
        else:
            configured = image.draft(None, stored_draft)
            box = configured[1] if configured is not None else None
        if box is not None and box[2:] != image.size:
            source_box = _oriented_box(box, image.size, orientation)
    image.load()
    image = _as_rgb(image)
    if orientation == tagged != 1:
        ImageOps.exif_transpose(image, in_place=True)
    elif orientation != 1:
        image = image.transpose(UPRIGHT_TRANSPOSE[orientation])
    if source_box is not None:
        image.info[SOURCE_BOX_KEY] = source_box
    return image


def _decode_scaled_jpeg(
    path: Path, opened: Image.Image, least: tuple[int, int]
) -> tuple[Image.Image, tuple[float, float, float, float]] | None:
    """``opened`` (a JPEG, header read) decoded at the smallest scale n/8 that keeps both sides at least
    ``least``, with the box the full image covers in the decoded pixels; None when simplejpeg cannot
    decode it (then Pillow will, or will say why not).

    libjpeg-turbo makes each 8x8 block n x n pixels, so the full image spans ``W * n / 8`` decoded
    pixels and the decoded width is that rounded up. The header's metadata (ICC profile, EXIF) is kept.
    """
    if opened.mode not in ("RGB", "L") or -(-opened.width * 7 // 8) < least[0] or -(-opened.height * 7 // 8) < least[1]:
        return None  # CMYK and the like; or no scale below 8/8 is large enough: decode as it is
    try:
        data = Path(path).read_bytes()
        pixels = simplejpeg.decode_jpeg(
            data, colorspace="RGB" if opened.mode == "RGB" else "GRAY", min_width=least[0], min_height=least[1]
        )
    except (OSError, ValueError):
        return None
    height, width = pixels.shape[:2]
    eighths = next(
        (n for n in range(1, 9) if -(-opened.width * n // 8) == width and -(-opened.height * n // 8) == height), None
    )
    if eighths is None:
        return None  # not a size DCT scaling gives: trust Pillow instead
    image = Image.fromarray(pixels[..., 0] if pixels.ndim == 3 and opened.mode == "L" else pixels)
    image.info.update(opened.info)
    opened.close()
    return image, (0.0, 0.0, opened.width * eighths / 8, opened.height * eighths / 8)


def _oriented_box(box, size: tuple[int, int], orientation: int) -> tuple[float, float, float, float]:
    """Where ``box`` (ltrb in a stored image of ``size``) lands once the image is turned upright."""
    left, top, right, bottom = box
    width, height = size
    if orientation in (2, 3, 7, 8):  # the upright image mirrors the stored columns
        left, right = width - right, width - left
    if orientation in (3, 4, 6, 7):  # ... and the stored rows
        top, bottom = height - bottom, height - top
    if orientation in SWAPPING_ORIENTATIONS:
        left, top, right, bottom = top, left, bottom, right
    return left, top, right, bottom


def _as_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("RGB", "RGBA"):
        return image
    alpha = image.mode in _ALPHA_MODES or "transparency" in image.info
    converted = image.convert("RGBA" if alpha else "RGB")
    if image.mode not in _RGB_PROFILE_MODES:
        converted.info.pop("icc_profile", None)
    return converted


def source_box(image: Image.Image) -> tuple[float, float, float, float]:
    """Where the full image lies in this one's pixels: all of it, or the exact box of a draft decode."""
    return image.info.get(SOURCE_BOX_KEY, (0, 0, *image.size))


def train_pixels(
    image: Image.Image,
    resized: tuple[int, int],
    bucket: tuple[int, int],
    trim: tuple[int, int],
    flip: bool = False,
) -> Image.Image:
    """Resize ``image`` to ``resized`` (w, h) and keep the ``bucket``-sized window at ``trim`` (left, top).

    These are the pixels the trainer trains on. The window is mapped back to the source and only it
    is resampled (LANCZOS over a fractional box), straight to the bucket size: the same pixels as resizing the
    whole image and trimming, up to the filter's edge support, in a fraction of the time. ``flip``
    mirrors the result left to right (``flip_aug``). An image already of the bucket's size with no
    trim is returned unresampled.
    """
    (resized_w, resized_h), (bucket_w, bucket_h), (left, top) = resized, bucket, trim
    if not (0 <= left <= resized_w - bucket_w and 0 <= top <= resized_h - bucket_h):
        raise ValueError(f"trim {trim} puts the {bucket} window outside the resized size {resized}")
    x0, y0, x1, y1 = source_box(image)
    _check_ratio((x1 - x0, y1 - y0), resized)
    scale_x, scale_y = (x1 - x0) / resized_w, (y1 - y0) / resized_h
    box = (
        x0 + left * scale_x,
        y0 + top * scale_y,
        x0 + (left + bucket_w) * scale_x,
        y0 + (top + bucket_h) * scale_y,
    )
    result = lanczos(image, (bucket_w, bucket_h), box)
    result.info.pop(SOURCE_BOX_KEY, None)
    if flip:
        result = result.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return result


def _check_ratio(extent: tuple[float, float], resized: tuple[int, int]) -> None:
    """Refuse an image whose shape is not the one that was placed (turned differently, or replaced).

    Rounding the resized size moves its ratio by at most half a pixel on each side; anything further
    would stretch the picture.
    """
    (width, height), (resized_w, resized_h) = extent, resized
    tolerance = 0.5 / resized_w + 0.5 / resized_h + 1 / min(width, height)
    if abs(width * resized_h / (height * resized_w) - 1) > tolerance:
        raise ValueError(
            f"the image is {width:g}x{height:g} but was placed to be resized to {resized_w}x{resized_h}: "
            "it would be stretched (turned by EXIF differently from its placement?)"
        )


def anchored_precrop(boxes: np.ndarray, widths: np.ndarray, heights: np.ndarray, anchor: Anchor) -> np.ndarray:
    """Slide centred pre-crop boxes ``(n, 4)`` ltrb to ``anchor``; an anchor across the cut axis is centre.

    ``top``/``bottom`` move boxes that cut rows, ``left``/``right`` boxes that cut columns; a box
    that cuts the other axis stays centred.
    """
    boxes = np.array(boxes, dtype=np.int64)
    box_w = boxes[:, 2] - boxes[:, 0]
    box_h = boxes[:, 3] - boxes[:, 1]
    if anchor is Anchor.TOP:
        boxes[:, 1] = 0
    elif anchor is Anchor.BOTTOM:
        boxes[:, 1] = np.asarray(heights) - box_h
    elif anchor is Anchor.LEFT:
        boxes[:, 0] = 0
    elif anchor is Anchor.RIGHT:
        boxes[:, 0] = np.asarray(widths) - box_w
    boxes[:, 2] = boxes[:, 0] + box_w
    boxes[:, 3] = boxes[:, 1] + box_h
    return boxes


def precrop_pixels(image: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    """Cut ``box`` (left, top, right, bottom, whole pixels) out of ``image`` at full resolution."""
    left, top, right, bottom = box
    if not (0 <= left < right <= image.width and 0 <= top < bottom <= image.height):
        raise ValueError(f"crop box {box} is not inside the {image.width}x{image.height} image")
    return image.crop(box)
