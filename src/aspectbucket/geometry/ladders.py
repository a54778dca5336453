"""Per-image ladders: trainers that build a bucket list for each image from the image's own size.

The diffusers DreamBooth scripts (aspect-ratio buckets on) cap the ladder at the image's own square
side, so a small image gets a small bucket instead of being enlarged. Like every per-image rule
(:mod:`aspectbucket.geometry.per_image`), a rule here takes arrays of sizes and validated options and
returns ``(bucket_w, bucket_h, errors)``.
"""

from __future__ import annotations

import numpy as np

from aspectbucket.geometry.buckets import diffusers_ladders
from aspectbucket.geometry.options import BucketOptions


def diffusers_dreambooth_buckets(widths, heights, options: BucketOptions):
    """``DreamBoothDataset._bucket_for_image`` with ``use_aspect_ratio_buckets`` on.

    The ladder side is ``min(resolution, round(sqrt(h * w)))`` (Python's ``round``: half to even), the
    ladder is ``generate_aspect_ratio_buckets`` at that side and ``bucket_reso_steps`` (its
    ``bucket_divisibility``), and the bucket is ``find_nearest_bucket``'s: the least ``|h * bw - w * bh|``,
    ties to the LAST bucket of the ladder. Ladders are built once per distinct side.
    """
    widths = np.asarray(widths, dtype=np.int64)
    heights = np.asarray(heights, dtype=np.int64)
    own_side = np.round(np.sqrt((widths * heights).astype(np.float64))).astype(np.int64)
    sides, which = np.unique(np.minimum(options.resolution[0], own_side), return_inverse=True)
    ladder_w, ladder_h, listed = diffusers_ladders(sides, options.bucket_reso_steps)
    ladder_w, ladder_h, listed = ladder_w[which.ravel()], ladder_h[which.ravel()], listed[which.ravel()]
    cost = np.abs(heights[:, None] * ladder_w - widths[:, None] * ladder_h)
    cost[~listed] = np.iinfo(np.int64).max  # padding after a short ladder never wins
    last = ladder_w.shape[1] - 1
    choice = last - cost[:, ::-1].argmin(axis=1)  # argmin of the reversed row: the last minimum
    rows = np.arange(len(widths))
    return ladder_w[rows, choice], ladder_h[rows, choice], np.zeros(len(widths), dtype=np.int8)
