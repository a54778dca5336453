"""Per-image buckets: trainers with no fixed list, whose bucket is computed from each image's own size.

A rule takes arrays of image sizes and validated options and returns ``(bucket_w, bucket_h, errors)``;
``errors`` holds a :class:`~aspectbucket.geometry.placement.PlacementError` code per image (0 = placed).
Work is done once per distinct ratio or per distinct ladder size, so a million images cost little.
"""

from __future__ import annotations

import math

import numpy as np

from aspectbucket.geometry.buckets import ai_toolkit_list
from aspectbucket.geometry.options import BucketOptions
from aspectbucket.geometry.placement import PlacementError

_SIMPLETUNER_SQUARE_SPECIAL_CASES = {1.0: 1024, 0.75: 768, 0.25: 512}


def simpletuner_buckets(widths, heights, options: BucketOptions):
    """SimpleTuner's area mode: the image's ratio rounded to 2 decimals, scaled to the megapixel budget.

    ``resolution`` gives the budget (``W * H / 1e6`` megapixels, as ``resolution_type=pixel_area``
    turns a pixel size into an area), ``bucket_reso_steps`` is ``aspect_bucket_alignment`` and
    ``min_bucket_reso`` is ``minimum_image_size`` (shorter side in pixels; 0 = off): smaller images
    are skipped (``TOO_SMALL``). An image so tall that its ratio rounds to 0.00 would make the
    trainer divide by zero: ``RATIO_TOO_EXTREME``.
    """
    widths = np.asarray(widths, dtype=np.int64)
    heights = np.asarray(heights, dtype=np.int64)
    megapixels = options.max_area / 1e6
    step = options.bucket_reso_steps
    ratios = [round(float(w) / float(h), 2) for w, h in zip(widths.tolist(), heights.tolist(), strict=True)]
    distinct = sorted(set(ratios))
    sizes = {ratio: _simpletuner_size(ratio, megapixels, step) for ratio in distinct}
    bucket_w = np.array([sizes[ratio][0] for ratio in ratios], dtype=np.int64)
    bucket_h = np.array([sizes[ratio][1] for ratio in ratios], dtype=np.int64)
    errors = np.zeros(len(widths), dtype=np.int8)
    errors[np.array([ratio == 0.0 for ratio in ratios], dtype=bool)] = PlacementError.RATIO_TOO_EXTREME
    if options.min_bucket_reso > 0:
        too_small = np.minimum(widths, heights) < options.min_bucket_reso
        errors[(errors == 0) & too_small] = PlacementError.TOO_SMALL
    return bucket_w, bucket_h, errors


def _simpletuner_size(ratio: float, megapixels: float, step: int) -> tuple[int, int]:
    """``calculate_new_size_by_pixel_area`` for one ratio: round to the alignment, grow to the area."""
    if ratio == 0.0:
        return 0, 0
    if ratio == 1.0 and megapixels in _SIMPLETUNER_SQUARE_SPECIAL_CASES:
        side = _SIMPLETUNER_SQUARE_SPECIAL_CASES[megapixels]
        return side, side
    pixels = megapixels * 1e6

    def to_step(value: float) -> int:
        return max(round(value / step) * step, step)

    width = to_step(round(math.sqrt(pixels * ratio)))
    height = to_step(round(math.sqrt(pixels / ratio)))
    while width * height < pixels:
        width += step
        height = to_step(round(width / ratio))
    return width, height


def ai_toolkit_buckets(widths, heights, options: BucketOptions):
    """ai-toolkit's ``get_bucket_for_image_size``: its SDXL list scaled to ``min(resolution, sqrt(w*h))``.

    ``resolution`` is the square ``resolution`` and ``bucket_reso_steps`` its ``bucket_tolerance``.
    An exact size match wins; otherwise the bucket removing the fewest pixels (its own truncating
    arithmetic, first minimum wins). Because the ladder never exceeds the image's own square side,
    ordinary images are never enlarged; very wide or tall ones can be (the 8192x128 bucket).
    """
    widths = np.asarray(widths, dtype=np.int64)
    heights = np.asarray(heights, dtype=np.int64)
    own_side = np.sqrt((widths * heights).astype(np.float64)).astype(np.int64)
    ladder = np.minimum(options.resolution[0], own_side)
    bucket_w = np.zeros(len(widths), dtype=np.int64)
    bucket_h = np.zeros(len(widths), dtype=np.int64)
    for side in np.unique(ladder):
        rows = np.flatnonzero(ladder == side)
        buckets = ai_toolkit_list(int(side), options.bucket_reso_steps)
        w = widths[rows, None].astype(np.float64)
        h = heights[rows, None].astype(np.float64)
        scale = np.maximum(buckets[None, :, 0] / w, buckets[None, :, 1] / h)
        new_w = np.trunc(w * scale)
        new_h = np.trunc(h * scale)
        removed = (new_w - buckets[None, :, 0]) * new_h + (new_h - buckets[None, :, 1]) * new_w
        choice = removed.argmin(axis=1)
        exact = (buckets[None, :, 0] == widths[rows, None]) & (buckets[None, :, 1] == heights[rows, None])
        choice = np.where(exact.any(axis=1), exact.argmax(axis=1), choice)
        bucket_w[rows] = buckets[choice, 0]
        bucket_h[rows] = buckets[choice, 1]
    return bucket_w, bucket_h, np.zeros(len(widths), dtype=np.int8)
