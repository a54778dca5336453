"""Spatial buckets (w, h) of video clips for the trainers whose clip rules differ from the image profiles.

musubi-tuner buckets a clip's first frame exactly as an image (the ``musubi`` profile does it).
ai-toolkit and diffusion-pipe bucket clips with the rules of the commits their video reference cases
were run at, which are newer than the image profiles': those rules are here, vectorised, each
citing its commit. Clip frame rules are in :mod:`aspectbucket.geometry.frames`.
"""

from __future__ import annotations

import numpy as np


def ai_toolkit_clip_buckets(widths, heights, resolution: int, divisibility: int) -> tuple[np.ndarray, np.ndarray]:
    """ai-toolkit's bucket for a size: the area ``min(w*h, res^2)`` at the size's ratio, snapped to ``d``.

    The four floor/ceil combinations of the scaled sides (in units of ``d``) that are positive and
    within ``res^2`` compete; the one nearest the target area wins, the earlier on ties; when none
    qualifies, the floors (at least ``d``) are kept even above ``res^2`` (very thin sizes).
    ``divisibility`` is the model's ``get_bucket_divisibility()``, which overwrites ``bucket_tolerance``.
    ostris/ai-toolkit@27a03a91 toolkit/buckets.py:get_bucket_for_image_size.
    """
    w = np.asarray(widths, dtype=np.int64)
    h = np.asarray(heights, dtype=np.int64)
    budget = resolution * resolution
    area = w * h
    target = np.minimum(area, budget)
    scale = np.sqrt(target / area)
    w_units = w * scale / divisibility
    h_units = h * scale / divisibility
    w_lo, w_hi = np.floor(w_units).astype(np.int64), np.ceil(w_units).astype(np.int64)
    h_lo, h_hi = np.floor(h_units).astype(np.int64), np.ceil(h_units).astype(np.int64)
    cand_w = np.stack([w_lo, w_lo, w_hi, w_hi], axis=1) * divisibility
    cand_h = np.stack([h_lo, h_hi, h_lo, h_hi], axis=1) * divisibility
    allowed = (cand_w > 0) & (cand_h > 0) & (cand_w * cand_h <= budget)
    distance = np.where(allowed, np.abs(cand_w * cand_h - target[:, None]), np.iinfo(np.int64).max)
    pick = distance.argmin(axis=1)
    rows = np.arange(len(w))
    none = ~allowed.any(axis=1)
    bucket_w = np.where(none, np.maximum(divisibility, w_lo * divisibility), cand_w[rows, pick])
    bucket_h = np.where(none, np.maximum(divisibility, h_lo * divisibility), cand_h[rows, pick])
    return bucket_w, bucket_h


def dedup_and_sort(values) -> np.ndarray:
    """diffusion-pipe's ``dedup_and_sort``: rounded to 3 decimals, unique, ascending.

    tdrussell/diffusion-pipe@8f83dbf2 utils/dataset.py:dedup_and_sort.
    """
    return np.array(sorted({round(float(value), 3) for value in values}), dtype=np.float64)


def diffusion_pipe_ratios(
    enable_ar_bucket: bool = False,
    ar_buckets=None,
    min_ar: float = 0.5,
    max_ar: float = 2.0,
    num_ar_buckets: int = 7,
) -> np.ndarray:
    """The ratio list: ``ar_buckets`` (a ``[w, h]`` pair means w/h), else ``np.geomspace``; 1.0 when off.

    tdrussell/diffusion-pipe@8f83dbf2 utils/dataset.py:DirectoryDataset.__init__ and
    ``_process_user_provided_ars``.
    """
    if not enable_ar_bucket:
        return dedup_and_sort([1.0])
    if ar_buckets:
        return dedup_and_sort([ar[0] / ar[1] if isinstance(ar, list | tuple) else ar for ar in ar_buckets])
    return dedup_and_sort(np.geomspace(min_ar, max_ar, num=num_ar_buckets))


def diffusion_pipe_resolutions(resolutions) -> np.ndarray:
    """Area sides: a side as is, a ``[w, h]`` pair as ``sqrt(w*h)``; deduplicated and sorted.

    tdrussell/diffusion-pipe@8f83dbf2 utils/dataset.py:DirectoryDataset._process_user_provided_resolutions.
    """
    return dedup_and_sort([np.sqrt(r[0] * r[1]) if isinstance(r, list | tuple) else r for r in resolutions])


def diffusion_pipe_size_buckets(
    widths, heights, ratios: np.ndarray, resolution: float, multiple: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest ratio by |log| (the first on ties), then that ratio's size at ``resolution^2`` pixels.

    ``w = sqrt(r^2 * ar)``, ``h = r^2 / w``, each ``round(x / m) * m`` with Python's half-to-even round;
    ``m`` is the model's ``pixels_round_to_multiple``. Returns ``(bucket_w, bucket_h, ratio)``.
    tdrussell/diffusion-pipe@8f83dbf2 utils/dataset.py:DirectoryDataset._find_closest_ar_bucket and
    ARBucketDataset.cache_latents.
    """
    w = np.asarray(widths, dtype=np.int64)
    h = np.asarray(heights, dtype=np.int64)
    log_ratio = np.log(w / h)
    index = np.abs(log_ratio[:, None] - np.log(ratios)[None, :]).argmin(axis=1)
    ratio = ratios[index]
    area = float(resolution) ** 2
    exact_w = np.sqrt(area * ratio)
    exact_h = area / exact_w
    bucket_w = (np.rint(exact_w / multiple) * multiple).astype(np.int64)
    bucket_h = (np.rint(exact_h / multiple) * multiple).astype(np.int64)
    return bucket_w, bucket_h, ratio


def diffusion_pipe_listed_buckets(widths, heights, converted_frames, size_buckets) -> np.ndarray:
    """With explicit ``size_buckets``: the chosen ``(w, h, frames)`` row per clip, all zeros when none fits.

    The list is sorted by frames, longest first; candidates are ordered by |log ratio| against the
    deduplicated, sorted ratio list, but those positions index the frame-sorted list, so only its first
    ``len(ratios)`` rows are ever candidates and orientations can be swapped: recorded as the trainer
    behaves. A video (over 1 converted frame) skips 1-frame buckets; the first candidate not longer than
    the clip wins. tdrussell/diffusion-pipe@8f83dbf2 utils/dataset.py:DirectoryDataset.__init__ and
    ``_find_closest_size_bucket``.
    """
    listed = np.array(sorted((list(map(int, b)) for b in size_buckets), key=lambda b: b[-1], reverse=True))
    ratios = dedup_and_sort(listed[:, 0] / listed[:, 1])
    w = np.asarray(widths, dtype=np.int64)
    h = np.asarray(heights, dtype=np.int64)
    frames = np.asarray(converted_frames, dtype=np.int64)
    distance = np.abs(np.log(w / h)[:, None] - np.log(ratios)[None, :])
    order = np.argsort(distance, axis=1, kind="stable")
    candidates = listed[order]  # (clips, len(ratios), 3)
    usable = (frames[:, None] >= candidates[:, :, 2]) & ~((frames[:, None] > 1) & (candidates[:, :, 2] == 1))
    first = usable.argmax(axis=1)
    chosen = candidates[np.arange(len(w)), first]
    return np.where(usable.any(axis=1)[:, None], chosen, 0)
