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

#: Added to a floored side of 0: every area made with it is beyond any resolution's (the trainer drops those).
_BEYOND_ANY_AREA = 2.0**60


def ai_toolkit_bucket(widths, heights, resolution: int, divisibility: int) -> tuple[np.ndarray, np.ndarray]:
    """``get_bucket_for_image_size`` for arrays of sizes: the ``(bucket_w, bucket_h)`` of every image.

    >>> ai_toolkit_bucket([3000, 300], [2000, 300], 512, 16)  # 300x300 grows to the nearest step's area
    (array([624, 304]), array([416, 304]))
    """
    widths = np.asarray(widths, dtype=np.int64).astype(np.float64)
    heights = np.asarray(heights, dtype=np.int64).astype(np.float64)
    bucket_w, bucket_h = ai_toolkit_bucket_float(widths, heights, resolution, divisibility)
    return bucket_w.astype(np.int64), bucket_h.astype(np.int64)


def ai_toolkit_bucket_float(widths, heights, resolution: int, divisibility: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`ai_toolkit_bucket` from float64 sizes to float64 bucket sides (whole numbers).

    Everything is float64, where every value here is a whole number below 2**53 (sides up to 2**20, areas up
    to 2**40), so products, areas and distances are exact, as the trainer's Python ints are; the cover resize
    goes on from the same floats.
    """
    total = widths * heights
    max_pixels = float(resolution * resolution)
    target = np.minimum(total, max_pixels)
    step = float(divisibility)
    # The trainer's ``(target / total) ** 0.5``: sqrt is correctly rounded, as CPython's pow is for 0.5.
    scaler = np.sqrt(np.divide(target, total, out=total), out=total)
    w_raw = np.divide(widths * scaler, step)
    h_raw = np.divide(np.multiply(heights, scaler, out=scaler), step, out=scaler)
    w_floor, w_ceil = np.floor(w_raw) * step, np.multiply(np.ceil(w_raw, out=w_raw), step, out=w_raw)
    h_floor, h_ceil = np.floor(h_raw) * step, np.multiply(np.ceil(h_raw, out=h_raw), step, out=h_raw)
    floors_area = w_floor * h_floor
    bucket_w, bucket_h = _nearest_kept(w_floor, w_ceil, h_floor, h_ceil, floors_area, target, max_pixels)
    # The floored pair is kept in every row but those of thin images (a side floored to 0) and, in theory,
    # a floored area above the limit by float error: those few rows go through every rule of the trainer.
    # Written so that a NaN (a 0 side among the rows) counts as not kept: min/max would turn NaN for all.
    kept = (w_floor > 0) & (h_floor > 0) & (floors_area <= max_pixels)
    if not kept.all():
        rows = np.flatnonzero(~kept)
        bucket_w[rows], bucket_h[rows] = _nearest_or_floored(
            w_floor[rows], w_ceil[rows], h_floor[rows], h_ceil[rows], target[rows], max_pixels, step
        )
    return bucket_w, bucket_h


def _nearest_kept(w_floor, w_ceil, h_floor, h_ceil, floors_area, target, max_pixels):
    """The trainer's choice in rows where the floored pair is kept (both sides positive, within the area).

    Each candidate in the trainer's order replaces the best so far only when strictly nearer the target
    area (ties keep the earlier, as Python's ``min`` does). A candidate above ``max_pixels`` is dropped by
    the trainer: its distance here is at least ``(area - max_pixels) * beyond``, more than any kept one's
    (at most ``max_pixels``: both areas lie in ``0..max_pixels``), and the floored pair is always kept. Only
    arithmetic, comparisons and ``minimum`` on whole arrays: numpy's masked copies and ``argmin`` over
    candidates cost ten times as much.
    """
    beyond = 2.0 * max_pixels + 1.0
    best = np.abs(np.subtract(floors_area, target))
    nearer = []
    for cand_w, cand_h in ((w_floor, h_ceil), (w_ceil, h_floor), (w_ceil, h_ceil)):
        area = cand_w * cand_h
        over = np.multiply(np.subtract(area, max_pixels), beyond)
        distance = np.maximum(np.abs(np.subtract(area, target, out=area), out=area), over, out=area)
        nearer.append(distance < best)
        np.minimum(best, distance, out=best)
    # The winner is the last candidate that was nearer: the ceiling width from the third on, the ceiling
    # height for the second (unless the third beat it) and the fourth.
    second, third, fourth = nearer
    ceil_w = third | fourth
    ceil_h = fourth | (second & ~third)
    return np.where(ceil_w, w_ceil, w_floor), np.where(ceil_h, h_ceil, h_floor)


def _nearest_or_floored(w_floor, w_ceil, h_floor, h_ceil, target, max_pixels, step):
    """Every rule of the trainer: candidates with a side of 0 or an area above ``max_pixels`` are dropped;
    when none is left, the floored pair, each side at least ``step``, even above the area."""
    # A floored side of 0 is pushed far beyond any limit, so "kept" is just "area <= max".
    w_sized = w_floor + (w_floor == 0) * _BEYOND_ANY_AREA
    h_sized = h_floor + (h_floor == 0) * _BEYOND_ANY_AREA
    # A kept candidate is at most max_pixels from the target (both lie in 0..max_pixels); one not kept gets
    # a distance above that, so it never beats a kept one, and "none kept" is "best above max_pixels".
    not_kept_penalty = 2.0 * max_pixels + 1.0
    best = winner = None
    for number, (cand_w, cand_h) in enumerate(
        ((w_sized, h_sized), (w_sized, h_ceil), (w_ceil, h_sized), (w_ceil, h_ceil))
    ):
        area = cand_w * cand_h
        distance = np.abs(area - target)
        distance += (area > max_pixels) * not_kept_penalty
        if best is None:
            best, winner = distance, np.zeros(len(distance), dtype=np.uint8)
            continue
        np.copyto(winner, number, where=distance < best)  # only a strictly nearer one: ties keep the earlier
        np.minimum(best, distance, out=best)
    bucket_w = np.where(winner >= 2, w_ceil, w_floor)
    bucket_h = np.where(winner & 1, h_ceil, h_floor)
    none_kept = best > max_pixels
    np.copyto(bucket_w, np.maximum(step, w_floor), where=none_kept)
    np.copyto(bucket_h, np.maximum(step, h_floor), where=none_kept)
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
