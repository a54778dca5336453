"""ai-toolkit's bucket rule: each image's own size scaled to at most the resolution's area, snapped to a divisor.

Read from ostris/ai-toolkit@27a03a91 ``toolkit/buckets.py:get_bucket_for_image_size`` and
``toolkit/dataloader_mixins.py:BucketsMixin.setup_buckets``. There is no bucket list: the target area is
``min(w*h, resolution**2)``; the image scaled to that area and divided by the divisor gives ``w_raw, h_raw``;
of the four floor/ceil pairs (times the divisor) those with both sides positive and an area within
``resolution**2`` are kept and the one nearest the target area wins (the earlier on ties). When none is
kept (very thin images) the floored pair, each side at least one divisor, is used, even above the area.
The divisor is the model's ``get_bucket_divisibility()``: ``AiToolkitDataset.__init__`` writes it over the
dataset's ``bucket_tolerance`` (``toolkit/data_loader.py``).

The image is then resized to ``ceil(w*f), ceil(h*f)`` with ``f = max(bw/w, bh/h)`` and centre-cropped at
``int((resized - bucket) / 2)``, or cropped at ``random.randint`` offsets drawn once, in file-list order,
from Python's global generator (:func:`random_crop_offsets`). ``square_crop`` replaces all of this with a
``resolution`` square (:func:`square_crop_resize`).

Every function takes arrays and explicit parameters; :func:`ai_toolkit_bucket_one` beside them follows the
trainer statement by statement for one image, as the test oracle. A frame count (video) only adds to the
bucket key, so video placement reuses these functions unchanged.
"""

from __future__ import annotations

import math
import random

import numpy as np


def ai_toolkit_bucket(widths, heights, resolution: int, divisibility: int) -> tuple[np.ndarray, np.ndarray]:
    """``get_bucket_for_image_size`` for arrays of sizes: the ``(bucket_w, bucket_h)`` of every image.

    >>> ai_toolkit_bucket([3000, 300], [2000, 300], 512, 16)  # 300x300 grows to the nearest step's area
    (array([624, 304]), array([416, 304]))
    """
    # Everything in float64, where every value here is a whole number below 2**53 (sides up to 2**20,
    # areas up to 2**40), so products, areas and distances are exact, as the trainer's Python ints are.
    widths = np.asarray(widths, dtype=np.int64).astype(np.float64)
    heights = np.asarray(heights, dtype=np.int64).astype(np.float64)
    total = widths * heights
    max_pixels = float(resolution * resolution)
    target = np.minimum(total, max_pixels)
    # The trainer's ``(target / total) ** 0.5``: sqrt is correctly rounded, as CPython's pow is for 0.5.
    scaler = np.sqrt(target / total)
    w_raw = (widths * scaler) / divisibility
    h_raw = (heights * scaler) / divisibility
    w_floor, w_ceil = np.floor(w_raw) * divisibility, np.ceil(w_raw) * divisibility
    h_floor, h_ceil = np.floor(h_raw) * divisibility, np.ceil(h_raw) * divisibility
    # The four candidates in the trainer's order, each compared with the best so far: only a strictly
    # nearer one replaces it, so ties keep the earlier, as Python's min() does. One row at a time in
    # columns (no (n, 4) stacks and no argmin along a short axis, both several times slower). A ceiling
    # is at least one step, so a candidate has both sides positive exactly when its area is.
    bucket_w = bucket_h = best = None
    for cand_w, cand_h in ((w_floor, h_floor), (w_floor, h_ceil), (w_ceil, h_floor), (w_ceil, h_ceil)):
        area = cand_w * cand_h
        distance = np.where((area > 0) & (area <= max_pixels), np.abs(area - target), np.inf)
        if best is None:
            bucket_w, bucket_h, best = cand_w, cand_h, distance
            continue
        nearer = distance < best
        bucket_w, bucket_h = np.where(nearer, cand_w, bucket_w), np.where(nearer, cand_h, bucket_h)
        best = np.where(nearer, distance, best)
    none_kept = best == np.inf
    bucket_w = np.where(none_kept, np.maximum(divisibility, w_floor), bucket_w).astype(np.int64)
    bucket_h = np.where(none_kept, np.maximum(divisibility, h_floor), bucket_h).astype(np.int64)
    return bucket_w, bucket_h


def square_crop_resize(widths, heights, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """``square_crop``: the resized size that covers a ``resolution`` square (``ceil`` of ``max`` scale).

    The bucket is the square itself; the crop is centred along the longer side (``int(resized/2 - res/2)``,
    which equals the centre trim of :func:`~aspectbucket.geometry.resize.center_trim`) and at 0 along the
    other. Small images are enlarged.
    """
    widths = np.asarray(widths, dtype=np.int64)
    heights = np.asarray(heights, dtype=np.int64)
    scale = np.maximum(resolution / widths, resolution / heights)
    return np.ceil(widths * scale).astype(np.int64), np.ceil(heights * scale).astype(np.int64)


def random_crop_offsets(
    resized_w, resized_h, bucket_w, bucket_h, seed: int, dataset_lengths=None
) -> tuple[np.ndarray, np.ndarray]:
    """``random_crop``'s offsets: ``randint(0, rw - bw)`` then ``randint(0, rh - bh)`` per image, in order.

    ai-toolkit draws them from Python's global generator right after ``random.seed(seed)``, once, at epoch 0
    (``setup_buckets`` returns early afterwards), in file-list order (``num_repeats`` copies draw their own).
    With several datasets (a ``resolution`` list), the rows are the datasets one after another, of
    ``dataset_lengths``; each dataset then shuffles every bucket's images (``shuffle_buckets``, buckets in
    order of first use) before the next one draws, which moves the generator on. Sequential by nature.
    """
    generator = random.Random(seed)
    spare_w = (np.asarray(resized_w, dtype=np.int64) - np.asarray(bucket_w, dtype=np.int64)).tolist()
    spare_h = (np.asarray(resized_h, dtype=np.int64) - np.asarray(bucket_h, dtype=np.int64)).tolist()
    keys = list(zip(np.asarray(bucket_w).tolist(), np.asarray(bucket_h).tolist(), strict=True))
    lengths = [len(keys)] if dataset_lengths is None else list(dataset_lengths)
    lefts, tops = [], []
    start = 0
    for length in lengths:
        for row in range(start, start + length):
            lefts.append(generator.randint(0, spare_w[row]))
            tops.append(generator.randint(0, spare_h[row]))
        members: dict[tuple[int, int], list[int]] = {}
        for row in range(start, start + length):
            members.setdefault(keys[row], []).append(row)
        for bucket in members.values():
            generator.shuffle(bucket)
        start += length
    return np.array(lefts, dtype=np.int64), np.array(tops, dtype=np.int64)


def ai_toolkit_bucket_one(width: int, height: int, resolution: int, divisibility: int) -> tuple[int, int]:
    """One image's bucket with Python numbers, in the trainer's own order of operations (the oracle)."""
    total = width * height
    max_pixels = resolution * resolution
    target = min(total, max_pixels)
    scaler = (target / total) ** 0.5
    w_raw = (width * scaler) / divisibility
    h_raw = (height * scaler) / divisibility
    candidates = [
        (math.floor(w_raw) * divisibility, math.floor(h_raw) * divisibility),
        (math.floor(w_raw) * divisibility, math.ceil(h_raw) * divisibility),
        (math.ceil(w_raw) * divisibility, math.floor(h_raw) * divisibility),
        (math.ceil(w_raw) * divisibility, math.ceil(h_raw) * divisibility),
    ]
    kept = [(w, h) for w, h in candidates if w > 0 and h > 0 and w * h <= max_pixels]
    if not kept:
        return max(divisibility, math.floor(w_raw) * divisibility), max(divisibility, math.floor(h_raw) * divisibility)
    return min(kept, key=lambda size: abs(size[0] * size[1] - target))
