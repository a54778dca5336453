"""Resizing an image to cover its bucket, trimming the overflow, and the SDXL crop coordinates."""

from __future__ import annotations

from enum import StrEnum

import numpy as np


def round_half_up(values: np.ndarray) -> np.ndarray:
    """Python's ``int(x + 0.5)`` for non-negative ``x``, as int64 (sd-scripts' rounding)."""
    return half_up_in_place(np.array(values, dtype=np.float64)).astype(np.int64)


def half_up_in_place(values: np.ndarray) -> np.ndarray:
    """:func:`round_half_up` kept in float64, in a scratch array the caller no longer needs."""
    np.add(values, 0.5, out=values)
    return np.floor(values, out=values)


def cover_resize(
    widths: np.ndarray,
    heights: np.ndarray,
    bucket_widths: np.ndarray,
    bucket_heights: np.ndarray,
    image_ratio: np.ndarray | None = None,
    bucket_ratio: np.ndarray | None = None,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The size sd-scripts resizes an image to so that it covers its bucket, keeping the ratio.

    A wider-than-bucket image is scaled to the bucket's height, any other to its width; each
    side is then rounded half up. The result is at least the bucket on both sides. The ratios
    ``w / h`` and ``bw / bh`` may be passed when the caller has them already, the sizes as float64
    arrays (what numpy converts integers to anyway, so the float operations are the same), and
    ``out`` as the two int64 arrays to write (a placement's own columns: no copy afterwards).
    """
    width_f, height_f = as_float_sizes(widths), as_float_sizes(heights)
    bucket_w, bucket_h = as_float_sizes(bucket_widths), as_float_sizes(bucket_heights)
    image_ratio = width_f / height_f if image_ratio is None else image_ratio
    with np.errstate(divide="ignore", invalid="ignore"):  # a 0-pixel bucket is an error row upstream
        bucket_ratio = bucket_w / bucket_h if bucket_ratio is None else bucket_ratio
        # Both candidate scales, then one select (np.where is several times faster than a masked copyto).
        by_height = np.divide(bucket_h, height_f)
        scale = np.where(image_ratio > bucket_ratio, by_height, np.divide(bucket_w, width_f))
    if out is None:
        out = (np.empty(len(width_f), dtype=np.int64), np.empty(len(width_f), dtype=np.int64))
    for side, target in zip((width_f, height_f), out, strict=True):
        scaled = np.multiply(side, scale, out=by_height)
        np.add(scaled, 0.5, out=scaled)
        # int(x + 0.5) of a non-negative x: floored and converted to int64 in one pass, into the target.
        np.floor(scaled, out=target, casting="unsafe")
    return out


def as_float_sizes(values) -> np.ndarray:
    """Sizes as float64 for the trainers' float arithmetic: a float64 array as it is (already whole
    numbers), anything else through int64, as numpy itself converts integer operands."""
    if isinstance(values, np.ndarray) and values.dtype == np.float64:
        return values
    return np.asarray(values, dtype=np.int64).astype(np.float64)


def center_trim(resized: np.ndarray, bucket: np.ndarray) -> np.ndarray:
    """Offset of the kept window along one axis: half the overflow, the odd pixel off the far end."""
    return np.maximum(np.asarray(resized) - np.asarray(bucket), 0) // 2


def center_trim_half_even(resized: np.ndarray, bucket: np.ndarray) -> np.ndarray:
    """Offset of torchvision's ``CenterCrop``: ``int(round(overflow / 2.0))``, Python's round (half to even).

    pytorch/vision@b6ca3917 ``torchvision/transforms/functional.py:center_crop``. An odd overflow
    ``2k + 1`` gives ``k`` when ``k`` is even and ``k + 1`` when it is odd, so the odd pixel goes to
    either end; computed on integers, so no float is involved.
    """
    overflow = np.maximum(np.asarray(resized) - np.asarray(bucket), 0)
    half = overflow // 2
    return half + (overflow & 1) * (half & 1)


def random_trim(resized: tuple[int, int], bucket: tuple[int, int], rng: np.random.Generator) -> tuple[int, int]:
    """A ``--random_crop`` kept window: uniform whole offsets in ``[0, overflow]`` on each axis.

    Axes without overflow draw nothing, so a seed gives the same offsets whichever axis overflows.
    """
    offsets = []
    for resized_side, bucket_side in zip(resized, bucket, strict=True):
        overflow = int(resized_side) - int(bucket_side)
        offsets.append(int(rng.integers(0, overflow, endpoint=True)) if overflow > 0 else 0)
    return offsets[0], offsets[1]


def letterbox_crop_ltrb(
    bucket_widths: np.ndarray, bucket_heights: np.ndarray, widths: np.ndarray, heights: np.ndarray
) -> np.ndarray:
    """The ``crop_ltrb`` that sd-scripts reports to SDXL (``get_crop_ltrb``): a letterbox, not the trim.

    It places the original image scaled to FIT INSIDE the bucket, centred, and returns that box as
    floats ``(left, top, right, bottom)``; the trainer feeds ``(top, left)`` to SDXL as
    ``crop_top_left`` although the real trim is elsewhere (sd-scripts issue 1443).
    """
    bucket_widths = np.asarray(bucket_widths, dtype=np.float64)
    bucket_heights = np.asarray(bucket_heights, dtype=np.float64)
    bucket_ratio = bucket_widths / bucket_heights
    image_ratio = np.asarray(widths) / np.asarray(heights)
    pillar = bucket_ratio > image_ratio
    fit_width = np.where(pillar, bucket_heights * image_ratio, bucket_widths)
    fit_height = np.where(pillar, bucket_heights, bucket_widths / image_ratio)
    # floor(x / 2), as Python's // on floats gives: halving a finite double is exact, so this equals
    # np.floor_divide(x, 2) bit for bit at a fraction of its cost (floor_divide goes through fmod).
    left = np.floor((bucket_widths - fit_width) * 0.5)
    top = np.floor((bucket_heights - fit_height) * 0.5)
    return np.stack([left, top, left + fit_width, top + fit_height], axis=-1)


def covering_precrop(
    widths: np.ndarray, heights: np.ndarray, bucket_widths: np.ndarray, bucket_heights: np.ndarray
) -> np.ndarray:
    """The largest centred box of the bucket's ratio inside each image, ``(left, top, right, bottom)``.

    Cropping the image to this box first means the trainer only scales it: almost nothing more is
    cut. Integer pixels; the box never leaves the image.
    """
    widths = np.asarray(widths, dtype=np.int64)
    heights = np.asarray(heights, dtype=np.int64)
    bucket_widths = np.asarray(bucket_widths, dtype=np.int64)
    bucket_heights = np.asarray(bucket_heights, dtype=np.int64)
    wider = widths * bucket_heights > heights * bucket_widths
    box_w = np.where(wider, round_half_up(heights * bucket_widths / bucket_heights), widths)
    box_h = np.where(wider, heights, round_half_up(widths * bucket_heights / bucket_widths))
    box_w = np.clip(box_w, 1, widths)
    box_h = np.clip(box_h, 1, heights)
    left = (widths - box_w) // 2
    top = (heights - box_h) // 2
    return np.stack([left, top, left + box_w, top + box_h], axis=-1)


class CoverRounding(StrEnum):
    """How a trainer rounds the scaled size when it resizes an image to cover its bucket."""

    HALF_UP = "half-up"  # sd-scripts, musubi-tuner: int(side * scale + 0.5), scale in floats
    MATCHED_HALF_EVEN = "matched-half-even"  # mgds: matched side = bucket side, other Python round()
    CEIL = "ceil"  # ai-toolkit: ceil(side * max(scale_w, scale_h))
    MAX_SCALE_HALF_EVEN = "max-scale-half-even"  # diffusers train_transform: round(side * max(...)), half to even
    EXACT_HALF_UP = "exact-half-up"  # integer cross products, half up: exactly rotation-symmetric


def cover_resize_rounded(
    widths: np.ndarray,
    heights: np.ndarray,
    bucket_widths: np.ndarray,
    bucket_heights: np.ndarray,
    rounding: CoverRounding,
    image_ratio: np.ndarray | None = None,
    bucket_ratio: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The covering resize of each image to its bucket, rounded as the trainer rounds it.

    Sizes may be given as float64 (whole numbers): every rule computes in float64 the way numpy converts
    the integers, so the result is the same, without converting them again in each operation. Products of
    two sides stay below 2**53, so the exact rule's integer cross products are exact in float64 too.
    """
    if rounding is CoverRounding.HALF_UP:
        return cover_resize(widths, heights, bucket_widths, bucket_heights, image_ratio, bucket_ratio)
    widths, heights = as_float_sizes(widths), as_float_sizes(heights)
    bucket_widths, bucket_heights = as_float_sizes(bucket_widths), as_float_sizes(bucket_heights)
    with np.errstate(divide="ignore", invalid="ignore"):  # a 0-pixel bucket is an error row upstream
        if rounding is CoverRounding.MATCHED_HALF_EVEN:
            taller = heights / widths > bucket_heights / bucket_widths
            other_w = np.rint(widths * (bucket_heights / heights))  # Python's round(): half to even
            other_h = np.rint(heights * (bucket_widths / widths))
            return _as_sizes(np.where(taller, bucket_widths, other_w), np.where(taller, other_h, bucket_heights))
        if rounding is CoverRounding.CEIL:
            scale = np.maximum(bucket_widths / widths, bucket_heights / heights)
            return _as_sizes(np.ceil(widths * scale), np.ceil(heights * scale))
        if rounding is CoverRounding.MAX_SCALE_HALF_EVEN:
            # Python's round() of a float is half to even, as numpy's rint is.
            scale = np.maximum(bucket_heights / heights, bucket_widths / widths)
            return _as_sizes(np.rint(widths * scale), np.rint(heights * scale))
        # EXACT_HALF_UP: an image wider than its bucket (w * bh > h * bw) is fitted to the bucket's height,
        # else to its width. No mask is needed: the width fitted to the height, w * bh / h rounded half up,
        # is above bw exactly when the image is wider and at most bw otherwise (bw is a whole number, and
        # division and rounding are monotonic), so the covering width is the larger of the two; likewise
        # the height. Two maxima instead of a comparison and two selections (np.where costs 4 plain passes).
        width_cross, height_cross = widths * bucket_heights, heights * bucket_widths
        by_height_w = half_up_in_place(np.divide(width_cross, heights, out=width_cross))
        by_width_h = half_up_in_place(np.divide(height_cross, widths, out=height_cross))
        resized_w = np.maximum(by_height_w, bucket_widths, out=by_height_w)
        resized_h = np.maximum(by_width_h, bucket_heights, out=by_width_h)
    return _as_sizes(resized_w, resized_h)


def _as_sizes(resized_w: np.ndarray, resized_h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whole-number float64 sizes as the int64 arrays placement stores."""
    return resized_w.astype(np.int64), resized_h.astype(np.int64)
