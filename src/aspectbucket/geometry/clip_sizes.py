"""diffusion-pipe's explicit ``size_buckets`` for clips: the bucket depends on the ratio and the frames together.

Every other trainer buckets a clip's frame size as an image (:mod:`aspectbucket.geometry.ai_toolkit`,
:mod:`aspectbucket.geometry.diffusion_pipe`, the profiles) and its frames apart
(:mod:`aspectbucket.geometry.frames`); with ``size_buckets`` diffusion-pipe picks one ``(w, h, frames)``
row for both at once.
"""

from __future__ import annotations

import numpy as np

from aspectbucket.geometry.diffusion_pipe import listed_ratio_buckets


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
    ratios = listed_ratio_buckets([(int(w), int(h)) for w, h, _ in listed])
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
