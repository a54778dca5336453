"""diffusion-pipe's image buckets: log-spaced (or listed) ratios per resolution, the model's rounding, ``ImageOps.fit``.

Read from tdrussell/diffusion-pipe@8f83dbf2 ``utils/dataset.py`` (``DirectoryDataset.__init__``,
``dedup_and_sort``, ``_find_closest_ar_bucket``, ``_find_closest_size_bucket``,
``ARBucketDataset.cache_latents``), ``utils/common.py:round_to_nearest_multiple`` and
``models/base.py:PreprocessMediaFile.__call__``:

- ratios: ``np.geomspace(min_ar, max_ar, num_ar_buckets)``, or the listed ``ar_buckets`` (a ``[w, h]`` pair
  means ``w / h``), or only 1.0 when ``enable_ar_bucket`` is off; rounded to 3 decimals, deduplicated, sorted.
  The geomspace values are numpy floats, so numpy's rounding applies to them, Python's to listed ones.
- each image takes the ratio nearest its own in log space (the first on ties);
- at each entry of ``resolutions`` (a side, or ``[w, h]`` meaning ``sqrt(w*h)``) the bucket is
  ``w = sqrt(side**2 * ratio)``, ``h = side**2 / w``, each ``int(round(x / m) * m)`` (Python's round, half to
  even) with ``m`` the model's ``pixels_round_to_multiple``; every image is placed at every resolution;
- ``size_buckets`` instead gives the sizes directly; the trainer sorts them by frame count, then picks
  ``size_buckets[argsort(log distance to the sorted, deduplicated ratios)]``, which indexes the unsorted list
  with the sorted ratios' positions: the orientations get mixed up, and that is reproduced;
- pixels: ``PreprocessMediaFile`` rounds the bucket to its own ``round_width``/``round_height`` and calls
  ``ImageOps.fit``, which resizes a centred float box of the source image straight to that size
  (:func:`fit_crop_box`); EXIF orientation is not applied.

Functions take arrays and explicit parameters; the ``*_one`` functions beside them restate the trainer for
one image as the test oracle. A frame count only adds a frame bucket (1 for images), so video placement can
extend these.
"""

from __future__ import annotations

import math

import numpy as np

from aspectbucket.geometry.nearest import TieBreak, nearest_key

#: ``utils/dataset.py:ROUND_DECIMAL_DIGITS``.
RATIO_DIGITS = 3


def ratio_buckets(min_ar: float, max_ar: float, num_ar_buckets: int) -> np.ndarray:
    """The log-spaced ratios, rounded (numpy's rounding: they are numpy floats), deduplicated, ascending."""
    return np.unique(np.round(np.geomspace(min_ar, max_ar, num=num_ar_buckets), RATIO_DIGITS))


def listed_ratio_buckets(ar_buckets) -> np.ndarray:
    """``ar_buckets`` as given in the config (ratios or ``[w, h]`` pairs): Python-rounded, deduplicated, ascending."""
    ratios = {round(ar[0] / ar[1] if isinstance(ar, list | tuple) else ar, RATIO_DIGITS) for ar in ar_buckets}
    return np.array(sorted(ratios), dtype=np.float64)


def resolution_sides(resolutions) -> list:
    """``resolutions`` as sides (``[w, h]`` becomes ``sqrt(w*h)``), Python-rounded, deduplicated, ascending."""
    sides = {round(math.sqrt(r[0] * r[1]) if isinstance(r, list | tuple) else r, RATIO_DIGITS) for r in resolutions}
    return sorted(sides)


def round_to_multiple(values, multiple: int) -> np.ndarray:
    """``round_to_nearest_multiple``: ``int(round(x / multiple) * multiple)``, half to even."""
    return (np.round(np.asarray(values, dtype=np.float64) / multiple) * multiple).astype(np.int64)


def bucket_sizes(ratios, side, multiple: int) -> tuple[np.ndarray, np.ndarray]:
    """``ARBucketDataset.cache_latents``: each ratio's ``(w, h)`` at ``side**2`` pixels, rounded to ``multiple``."""
    area = side**2
    widths = np.sqrt(area * np.asarray(ratios, dtype=np.float64))
    heights = area / widths
    return round_to_multiple(widths, multiple), round_to_multiple(heights, multiple)


def nearest_ratio(widths, heights, ratios) -> np.ndarray:
    """Index of the ratio nearest each image's in log space (``np.argmin``: the first of equals).

    The trainer's ``argmin |log(w / h) - log(ratios)|``, by :func:`~aspectbucket.geometry.nearest.nearest_key`
    (the same float distances, no image-by-ratio matrix).
    """
    log_image = np.log(np.asarray(widths, dtype=np.int64) / np.asarray(heights, dtype=np.int64))
    return nearest_key(np.log(np.asarray(ratios, dtype=np.float64)), log_image, TieBreak.FIRST)


def size_bucket_choice(widths, heights, size_buckets) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_find_closest_size_bucket`` for images: ``(bucket_w, bucket_h, found)``.

    ``size_buckets`` are ``(w, h, frames)``. Only buckets of at most one frame fit an image; the candidates
    are tried in the trainer's (mixed-up) order and an image with none is skipped (``found`` false).
    """
    buckets = sorted((tuple(bucket) for bucket in size_buckets), key=lambda bucket: bucket[-1], reverse=True)
    table = np.array(buckets, dtype=np.int64).reshape(-1, 3)
    ratios = listed_ratio_buckets([(int(w), int(h)) for w, h, _ in buckets])
    log_image = np.log(np.asarray(widths, dtype=np.int64) / np.asarray(heights, dtype=np.int64))
    distance = np.abs(log_image[:, None] - np.log(ratios)[None, :])
    candidates = np.argsort(distance, axis=1, kind="stable")  # positions in the sorted ratios...
    fits = table[candidates, 2] <= 1  # ...used as positions in the frame-sorted bucket list
    found = fits.any(axis=1)
    first = candidates[np.arange(len(candidates)), fits.argmax(axis=1)]
    return np.where(found, table[first, 0], 0), np.where(found, table[first, 1], 0), found


def fit_crop_box(widths, heights, out_widths, out_heights) -> np.ndarray:
    """``PIL.ImageOps.fit``'s source box ``(left, top, right, bottom)`` in floats, centred, no bleed.

    >>> fit_crop_box([600], [300], [720], [368]).round(4).tolist()
    [[6.5217, 0.0, 593.4783, 300.0]]
    """
    widths = np.asarray(widths, dtype=np.float64)
    heights = np.asarray(heights, dtype=np.float64)
    image_ratio = widths / heights
    output_ratio = np.asarray(out_widths, dtype=np.int64) / np.asarray(out_heights, dtype=np.int64)
    wider = image_ratio >= output_ratio
    crop_w = np.where(wider, output_ratio * heights, widths)
    crop_h = np.where(wider, heights, widths / output_ratio)
    equal = image_ratio == output_ratio
    crop_w, crop_h = np.where(equal, widths, crop_w), np.where(equal, heights, crop_h)
    left = (widths - crop_w) * 0.5
    top = (heights - crop_h) * 0.5
    return np.stack([left, top, left + crop_w, top + crop_h], axis=-1)


def bucket_one(width: int, height: int, ratios, side, multiple: int) -> tuple[float, int, int]:
    """One image's ``(ratio, bucket_w, bucket_h)`` at one side, statement by statement (the oracle)."""
    log_ratios = np.log(np.asarray(ratios))
    chosen = np.asarray(ratios)[np.argmin(np.abs(np.log(width / height) - log_ratios))]
    area = side**2
    bucket_w = math.sqrt(area * chosen)
    bucket_h = area / bucket_w
    return float(chosen), int(round(bucket_w / multiple) * multiple), int(round(bucket_h / multiple) * multiple)


def fit_crop_box_one(width: int, height: int, out_width: int, out_height: int) -> tuple[float, float, float, float]:
    """``ImageOps.fit``'s box for one image, as Pillow computes it (the oracle)."""
    live_w, live_h = width - 0.0, height - 0.0
    live_ratio, output_ratio = live_w / live_h, out_width / out_height
    if live_ratio == output_ratio:
        crop_w, crop_h = live_w, live_h
    elif live_ratio >= output_ratio:
        crop_w, crop_h = output_ratio * live_h, live_h
    else:
        crop_w, crop_h = live_w, live_w / output_ratio
    left, top = (live_w - crop_w) * 0.5, (live_h - crop_h) * 0.5
    return left, top, left + crop_w, top + crop_h
