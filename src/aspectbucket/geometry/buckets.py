"""Bucket lists: the fixed sets of (width, height) that a trainer sorts images into.

A bucket list is an ``(n, 2)`` int64 array of ``(width, height)`` rows in the trainer's own order,
because that order breaks ties when two buckets are equally near an image.
"""

from __future__ import annotations

import math

import numpy as np

from aspectbucket.geometry.options import BucketOptions


def kohya_grid(options: BucketOptions) -> np.ndarray:
    """sd-scripts' ``make_bucket_resolutions``: the bucket list used when upscaling is allowed.

    One square of side ``floor(sqrt(A) / s) * s``; then for every width from the minimum to the
    maximum side in steps, the tallest height that fits the area budget (capped at the maximum
    side), in both orientations; deduplicated and sorted by ``(width, height)``.
    """
    area = options.max_area
    step = options.bucket_reso_steps
    minimum, maximum = options.min_bucket_reso, options.max_bucket_reso
    side = int(math.sqrt(area) // step) * step
    sizes = {(side, side)}
    for width in range(minimum, maximum + 1, step):
        height = min(maximum, int((area // width) // step) * step)
        if height >= minimum:
            sizes.add((width, height))
            sizes.add((height, width))
    return np.array(sorted(sizes), dtype=np.int64).reshape(-1, 2)


def as_bucket_array(sizes) -> np.ndarray:
    """Turn any sequence of ``(width, height)`` pairs into a bucket array, keeping its order."""
    array = np.asarray(sizes, dtype=np.int64).reshape(-1, 2)
    if (array <= 0).any():
        raise ValueError("bucket sides must be positive")
    return array
