"""Per-image buckets: trainers with no fixed list, whose bucket is computed from each image's own size.

A rule takes arrays of image sizes and validated options and returns ``(bucket_w, bucket_h, errors)``;
``errors`` holds a :class:`~aspectbucket.geometry.placement.PlacementError` code per image (0 = placed).
Work is done once per distinct ratio or per distinct ladder size, so a million images cost little.
"""

from __future__ import annotations

import math

import numpy as np

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
    ratios = round_2_decimals(widths / heights)
    distinct, inverse = np.unique(ratios, return_inverse=True)
    sizes = np.array([_simpletuner_size(float(ratio), megapixels, step) for ratio in distinct], dtype=np.int64)
    sizes = sizes.reshape(-1, 2)
    bucket_w, bucket_h = sizes[inverse.ravel(), 0], sizes[inverse.ravel(), 1]
    errors = np.zeros(len(widths), dtype=np.int8)
    errors[ratios == 0.0] = PlacementError.RATIO_TOO_EXTREME
    if options.min_bucket_reso > 0:
        too_small = np.minimum(widths, heights) < options.min_bucket_reso
        errors[(errors == 0) & too_small] = PlacementError.TOO_SMALL
    return bucket_w, bucket_h, errors


def round_2_decimals(values: np.ndarray) -> np.ndarray:
    """Python's ``round(x, 2)`` for an array: exact decimal rounding (half to even), vectorised.

    ``x * 100`` is rounded to the nearest integer ``k`` and ``k / 100`` is the double nearest the
    decimal, as Python returns; values within float noise of a half go through Python itself.
    """
    scaled = values * 100.0
    result = np.floor(scaled + 0.5) / 100.0
    near_half = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-7
    result[near_half] = [round(float(value), 2) for value in values[near_half]]
    return result


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
