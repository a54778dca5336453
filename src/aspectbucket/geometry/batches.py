"""Batches and steps per epoch from bucket counts, under each incomplete-batch policy.

Trainers disagree about the last, incomplete batch of each bucket: sd-scripts trains it short,
OneTrainer and diffusers drop it, SimpleTuner and EveryDream2 pad it with repeats. Steps per epoch
follow directly, and users compare them against their training logs.

With several processes (``num_replicas``) every step takes one *global* batch of
``batch_size * num_replicas`` samples from one bucket and gives each process a slice of it, so the
shapes stay in lock-step; the counts below are then the counts of global batches, which is the
number of steps every process runs. :func:`aspectbucket.geometry.epoch.build_epoch` builds exactly
these batches.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np

from aspectbucket.geometry.choices import parse_choice


class BatchPolicy(StrEnum):
    """What happens to a bucket's last batch when it holds fewer samples than the batch size.

    ``SHORT`` trains it short (sd-scripts), ``DROP`` skips it (OneTrainer, diffusers), ``PAD`` fills
    it with repeats from the same bucket (SimpleTuner, EveryDream2), ``MERGE`` lines the leftovers of
    all buckets up by bucket ratio and batches them together, each batch cropped to the bucket of its
    middle member; only the very last merged batch may be short.
    """

    SHORT = "short"
    DROP = "drop"
    PAD = "pad"
    MERGE = "merge"


def parse_batch_policy(value: str | BatchPolicy) -> BatchPolicy:
    """``value`` as a :class:`BatchPolicy`; a bad name raises ``ValueError`` naming the allowed ones."""
    return parse_choice(BatchPolicy, value, "batch policy")


def global_batch_size(batch_size: int, num_replicas: int = 1) -> int:
    """Samples one step takes over all processes; raises ``ValueError`` unless both are positive."""
    if batch_size <= 0:
        raise ValueError(f"batch size {batch_size} must be positive")
    if num_replicas <= 0:
        raise ValueError(f"number of processes {num_replicas} must be positive")
    return batch_size * num_replicas


def batches_per_bucket(
    counts, batch_size: int, policy: BatchPolicy = BatchPolicy.SHORT, num_replicas: int = 1
) -> np.ndarray:
    """Number of (global) batches each bucket yields in one epoch.

    ``counts`` are samples per bucket (images times repeats). ``MERGE`` moves leftovers between
    buckets, so its per-bucket split depends on the bucket ratios: here each bucket counts only its
    full batches, and :func:`steps_per_epoch` adds the merged ones.
    """
    size = global_batch_size(batch_size, num_replicas)
    policy = parse_batch_policy(policy)
    counts = np.asarray(counts, dtype=np.int64)
    if policy in (BatchPolicy.DROP, BatchPolicy.MERGE):
        return counts // size
    return -(-counts // size)


def steps_per_epoch(counts, batch_size: int, policy: BatchPolicy = BatchPolicy.SHORT, num_replicas: int = 1) -> int:
    """Optimizer steps in one epoch, on every process (e.g. 30, 10, 5, 1 at 4 -> 14 under ``SHORT``).

    Under ``MERGE`` the leftovers of all buckets fill whole batches, so only the total counts:
    ``ceil(sum(counts) / (batch_size * num_replicas))``.
    """
    size = global_batch_size(batch_size, num_replicas)
    if parse_batch_policy(policy) is BatchPolicy.MERGE:
        total = int(np.asarray(counts, dtype=np.int64).sum())
        return -(-total // size)
    return int(batches_per_bucket(counts, batch_size, policy, num_replicas).sum())


def dropped_and_padded(counts, batch_size: int, policy: BatchPolicy, num_replicas: int = 1) -> tuple[int, int]:
    """Samples an epoch loses and samples it adds by repetition under ``policy``.

    ``DROP`` loses each bucket's remainder; ``PAD`` repeats samples to fill it. With several
    processes a short last batch must still give every process at least one sample, so ``SHORT``
    (per bucket) and ``MERGE`` (once) repeat a few samples when that batch has fewer samples than
    processes.
    """
    size = global_batch_size(batch_size, num_replicas)
    policy = parse_batch_policy(policy)
    counts = np.asarray(counts, dtype=np.int64)
    remainder = counts % size
    if policy is BatchPolicy.DROP:
        return int(remainder.sum()), 0
    if policy is BatchPolicy.PAD:
        return 0, int(np.where(remainder > 0, size - remainder, 0).sum())
    if policy is BatchPolicy.MERGE:
        remainder = np.array([remainder.sum() % size])
    return 0, int(np.where((remainder > 0) & (remainder < num_replicas), num_replicas - remainder, 0).sum())
