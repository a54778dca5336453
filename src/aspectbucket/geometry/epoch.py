"""One epoch of bucketed batches as flat arrays: which images, in what order, cropped to which bucket.

This is the sampler's whole decision, kept free of torch so that it can be tested, benchmarked and
reused (a report can show the exact batches a run will see). Ten million samples cost one int32
array plus a few small per-batch arrays, never a Python list per batch.

How an epoch is built, for ``batch_size`` b on ``num_replicas`` R processes (global batch G = b·R):

1. Every image with a bucket goes into its bucket ``repeats`` times; buckets are laid out in order
   of ratio (width/height), each bucket's samples shuffled by a generator seeded with
   ``(seed, epoch)``.
2. Each bucket is cut into global batches of G; its remainder is handled by the
   :class:`~aspectbucket.geometry.batches.BatchPolicy` (short, dropped, padded from the same bucket,
   or merged with the other buckets' remainders in ratio order, cropped to the middle member's bucket).
3. The global batches are shuffled with the same generator. Step k gives process r the r-th slice
   of global batch k; slices differ in length by at most one, and a short batch with fewer samples
   than processes is topped up with repeats so no process is ever left without a batch.

Every process computes the same epoch from the same inputs, so they agree without communicating.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aspectbucket.geometry.batches import BatchPolicy, global_batch_size, parse_batch_policy


@dataclass(frozen=True)
class Epoch:
    """The batches of one epoch. Step k's global batch is ``samples[offset[k] : offset[k] + length[k]]``.

    ``samples`` holds image indices (a repeated image appears once per repeat); ``bucket`` is the
    bucket id every sample of step k is cropped to, which under ``MERGE`` can differ from a sample's
    own bucket. Global batches are not stored in step order: ``offset`` points into ``samples``.
    """

    samples: np.ndarray
    offset: np.ndarray
    length: np.ndarray
    bucket: np.ndarray
    num_replicas: int

    def __len__(self) -> int:
        return len(self.offset)

    def rank_bounds(self, step: int, rank: int) -> tuple[int, int]:
        """``(start, stop)`` in ``samples`` of process ``rank``'s batch at ``step``."""
        if not 0 <= rank < self.num_replicas:
            raise ValueError(f"rank {rank} is outside 0..{self.num_replicas - 1}")
        share, extra = divmod(int(self.length[step]), self.num_replicas)
        start = int(self.offset[step]) + rank * share + min(rank, extra)
        return start, start + share + (rank < extra)

    def batch(self, step: int, rank: int = 0) -> np.ndarray:
        """Image indices of process ``rank``'s batch at ``step`` (a view into ``samples``)."""
        start, stop = self.rank_bounds(step, rank)
        return self.samples[start:stop]

    def rank_lengths(self, rank: int = 0) -> np.ndarray:
        """Batch size of process ``rank`` at every step."""
        share, extra = np.divmod(self.length, self.num_replicas)
        return share + (rank < extra)


def bucket_ids(bucket_widths, bucket_heights) -> tuple[np.ndarray, np.ndarray]:
    """Number the distinct bucket shapes: ``(id per image, (n, 2) shapes)``.

    Images with a side of 0 (placement failures) get id -1. Shapes are sorted by (width, height),
    so the numbering does not depend on image order.
    """
    widths = np.asarray(bucket_widths, dtype=np.int64)
    heights = np.asarray(bucket_heights, dtype=np.int64)
    if widths.shape != heights.shape or widths.ndim != 1:
        raise ValueError("bucket widths and heights must be one-dimensional and of equal length")
    placed = (widths > 0) & (heights > 0)
    pairs = np.stack([widths[placed], heights[placed]], axis=1)
    shapes, inverse = np.unique(pairs, axis=0, return_inverse=True)
    ids = np.full(len(widths), -1, dtype=np.int64)
    ids[placed] = inverse.reshape(-1)
    return ids, shapes.reshape(-1, 2)


def build_epoch(
    image_bucket,
    repeats,
    bucket_shapes,
    batch_size: int,
    policy: BatchPolicy | str = BatchPolicy.SHORT,
    *,
    seed: int = 0,
    epoch: int = 0,
    shuffle: bool = True,
    num_replicas: int = 1,
) -> Epoch:
    """The batches of epoch ``epoch`` (see the module docstring for the rules).

    ``image_bucket`` is each image's bucket id into ``bucket_shapes`` ((n, 2) width, height), -1 for
    images that are not trained; ``repeats`` is how often each image is seen per epoch (0 skips it).
    ``len(result)`` equals :func:`~aspectbucket.geometry.batches.steps_per_epoch` of the bucket
    counts for the same batch size, policy and number of processes.
    """
    size = global_batch_size(batch_size, num_replicas)
    policy = parse_batch_policy(policy)
    if seed < 0 or epoch < 0:
        raise ValueError(f"seed {seed} and epoch {epoch} must not be negative")
    image_bucket = np.asarray(image_bucket, dtype=np.int64)
    repeats = np.broadcast_to(np.asarray(repeats, dtype=np.int64), image_bucket.shape)
    shapes = np.asarray(bucket_shapes, dtype=np.int64).reshape(-1, 2)
    if image_bucket.ndim != 1:
        raise ValueError("image buckets must be one-dimensional")
    if image_bucket.size and image_bucket.max() >= len(shapes):
        raise ValueError(f"bucket id {image_bucket.max()} has no shape ({len(shapes)} bucket shapes given)")
    if (repeats < 0).any():
        raise ValueError("repeats must not be negative")
    rng = np.random.default_rng(np.random.SeedSequence([seed, epoch]))

    groups = _group_by_bucket(image_bucket, repeats, shapes)
    full = groups.count // size
    tail_start = groups.start + full * size
    tail_count = groups.count - full * size
    total = int(groups.count.sum())
    copied = _copied_slots(tail_count, policy, size, num_replicas)
    samples = np.empty(total + copied, dtype=groups.images.dtype)
    for slot in range(len(groups.count)):
        images = groups.images[groups.image_start[slot] : groups.image_start[slot + 1]]
        members = samples[groups.start[slot] : groups.start[slot] + groups.count[slot]]
        members[:] = np.repeat(images, repeats[images])
        if shuffle:
            rng.shuffle(members)

    offsets = [_full_batch_offsets(groups.start, full, size)]
    lengths = [np.full(int(full.sum()), size, dtype=np.int64)]
    buckets = [np.repeat(groups.bucket, full)]
    pool_end = total

    def add_batch(start: int, length: int, bucket: int) -> None:
        offsets.append(np.array([start], dtype=np.int64))
        lengths.append(np.array([length], dtype=np.int64))
        buckets.append(np.array([bucket], dtype=np.int64))

    def add_copied_batch(members: np.ndarray, bucket: int) -> None:
        """A batch whose samples are not one run of a bucket: copied after the grouped samples."""
        nonlocal pool_end
        if len(members) < num_replicas:  # every process needs at least one sample
            members = members[np.arange(num_replicas) % len(members)]
        samples[pool_end : pool_end + len(members)] = members
        add_batch(pool_end, len(members), bucket)
        pool_end += len(members)

    if policy is BatchPolicy.MERGE and tail_count.any():
        tails = np.concatenate([samples[s : s + c] for s, c in zip(tail_start, tail_count, strict=True)])
        tail_bucket = np.repeat(groups.bucket, tail_count)
        for start in range(0, len(tails), size):
            # Members are in ratio order: the middle one's bucket is the weighted median ratio, which
            # keeps the total change of ratio smallest.
            members = tails[start : start + size]
            add_copied_batch(members, int(tail_bucket[start + (len(members) - 1) // 2]))
    elif policy in (BatchPolicy.SHORT, BatchPolicy.PAD):
        for slot in np.flatnonzero(tail_count).tolist():
            start, count, bucket = int(tail_start[slot]), int(tail_count[slot]), int(groups.bucket[slot])
            if policy is BatchPolicy.PAD:
                bucket_members = samples[groups.start[slot] : groups.start[slot] + groups.count[slot]]
                padding = bucket_members[np.arange(size - count) % len(bucket_members)]
                add_copied_batch(np.concatenate([samples[start : start + count], padding]), bucket)
            elif count < num_replicas:
                add_copied_batch(samples[start : start + count], bucket)
            else:
                add_batch(start, count, bucket)

    offset, length, bucket = np.concatenate(offsets), np.concatenate(lengths), np.concatenate(buckets)
    if shuffle:
        order = rng.permutation(len(offset))
        offset, length, bucket = offset[order], length[order], bucket[order]
    return Epoch(samples=samples, offset=offset, length=length, bucket=bucket, num_replicas=num_replicas)


def ratio_order(bucket_shapes) -> np.ndarray:
    """Bucket ids sorted by ratio width/height (then width), the order leftovers are merged in."""
    shapes = np.asarray(bucket_shapes, dtype=np.int64).reshape(-1, 2)
    return np.lexsort((shapes[:, 0], shapes[:, 0] / np.maximum(shapes[:, 1], 1)))


@dataclass(frozen=True)
class _Groups:
    """Trained images grouped by bucket, buckets in ratio order; one row per non-empty bucket."""

    images: np.ndarray  # image indices, bucket after bucket (int32 when they fit: half the memory)
    image_start: np.ndarray  # (buckets + 1) bounds of each bucket's run in ``images``
    start: np.ndarray  # where each bucket's samples (images x repeats) start
    count: np.ndarray  # samples per bucket
    bucket: np.ndarray  # bucket id


def _group_by_bucket(image_bucket: np.ndarray, repeats: np.ndarray, shapes: np.ndarray) -> _Groups:
    order_of_bucket = ratio_order(shapes)
    slot_of_bucket = np.empty(len(shapes), dtype=np.int64)
    slot_of_bucket[order_of_bucket] = np.arange(len(shapes))
    trained = np.flatnonzero((image_bucket >= 0) & (repeats > 0))
    slot = slot_of_bucket[image_bucket[trained]]
    small = np.int16 if len(shapes) <= np.iinfo(np.int16).max else np.int64  # radix sort for few buckets
    index_type = np.int32 if len(image_bucket) <= np.iinfo(np.int32).max else np.int64
    images = trained[np.argsort(slot.astype(small), kind="stable")].astype(index_type)
    image_count = np.bincount(slot, minlength=len(shapes))
    count = np.bincount(slot, weights=repeats[trained], minlength=len(shapes)).astype(np.int64)
    used = np.flatnonzero(image_count)
    image_start = np.concatenate([[0], np.cumsum(image_count[used])])
    start = np.cumsum(count[used]) - count[used]
    return _Groups(images, image_start, start, count[used], order_of_bucket[used])


def _copied_slots(tail_count: np.ndarray, policy: BatchPolicy, size: int, num_replicas: int) -> int:
    """Room the copied batches need after the grouped samples (padded, topped-up or merged ones)."""
    if policy is BatchPolicy.PAD:
        return int(np.count_nonzero(tail_count)) * size
    if policy is BatchPolicy.SHORT:
        return int(np.count_nonzero((tail_count > 0) & (tail_count < num_replicas))) * num_replicas
    if policy is BatchPolicy.MERGE:
        leftover = int(tail_count.sum())
        last = leftover % size
        return leftover + (num_replicas - last if 0 < last < num_replicas else 0)
    return 0


def _full_batch_offsets(bucket_start: np.ndarray, full: np.ndarray, size: int) -> np.ndarray:
    """Start of every full batch of every bucket, bucket after bucket."""
    first = np.repeat(bucket_start, full)
    within = np.arange(int(full.sum()), dtype=np.int64) - np.repeat(np.cumsum(full) - full, full)
    return first + within * size
