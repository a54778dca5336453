"""Batches and steps per epoch from bucket counts, under each incomplete-batch policy.

Trainers disagree about the last, incomplete batch of each bucket: sd-scripts trains it short,
OneTrainer and diffusers drop it, SimpleTuner and EveryDream2 pad it with repeats. Steps per epoch
follow directly, and users compare them against their training logs.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np


class BatchPolicy(StrEnum):
    """What happens to a bucket's last batch when it holds fewer samples than the batch size."""

    SHORT = "short"
    DROP = "drop"
    PAD = "pad"
    MERGE = "merge"


def batches_per_bucket(counts, batch_size: int, policy: BatchPolicy = BatchPolicy.SHORT) -> np.ndarray:
    """Number of batches each bucket yields in one epoch, on one process.

    ``counts`` are samples per bucket (images times repeats). ``MERGE`` moves leftovers between
    buckets, so its per-bucket split depends on the bucket ratios; its total is the one of
    :func:`steps_per_epoch` and this function counts it like ``SHORT``.
    """
    if batch_size <= 0:
        raise ValueError(f"batch size {batch_size} must be positive")
    counts = np.asarray(counts, dtype=np.int64)
    if policy is BatchPolicy.DROP:
        return counts // batch_size
    return -(-counts // batch_size)


def steps_per_epoch(counts, batch_size: int, policy: BatchPolicy = BatchPolicy.SHORT) -> int:
    """Optimizer steps in one epoch: the sum over buckets of their batches (e.g. 30, 10, 5, 1 at 4 -> 14)."""
    if policy is BatchPolicy.MERGE:
        total = int(np.asarray(counts, dtype=np.int64).sum())
        return -(-total // batch_size) if batch_size > 0 else 0
    return int(batches_per_bucket(counts, batch_size, policy).sum())


def dropped_and_padded(counts, batch_size: int, policy: BatchPolicy) -> tuple[int, int]:
    """Samples an epoch loses (``DROP``) or adds by repetition (``PAD``) under ``policy``."""
    counts = np.asarray(counts, dtype=np.int64)
    remainder = counts % batch_size
    if policy is BatchPolicy.DROP:
        return int(remainder.sum()), 0
    if policy is BatchPolicy.PAD:
        return 0, int(np.where(remainder > 0, batch_size - remainder, 0).sum())
    return 0, 0
