"""One epoch of bucketed batches as flat arrays: which images, in what order, cropped to which bucket.

This is the sampler's whole decision, kept free of torch so that it can be tested, benchmarked and
reused (a report can show the exact batches a run will see). Ten million samples cost one int32
array of image indices and one of batch order, never a Python list per batch.

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
from aspectbucket.geometry.ledger import BatchingRule


@dataclass(frozen=True)
class Epoch:
    """The batches of one epoch, step by step, without a row per batch in memory.

    ``samples`` holds image indices (a repeated image appears once per repeat). Batch ids number
    first every bucket's full global batches (``full_count[j]`` of them for bucket slot j, the i-th
    at ``full_start[j] + i * size`` in ``samples``), then the ``extra`` rows ``(offset, length,
    bucket)``: short, padded and merged batches. ``order`` is the batch id of each step. A batch's
    bucket is the bucket id every sample in it is cropped to, which under ``MERGE`` can differ from
    a sample's own.
    """

    samples: np.ndarray
    order: np.ndarray
    full_first: np.ndarray  # batch id of each bucket slot's first full batch
    full_count: np.ndarray
    full_start: np.ndarray
    full_bucket: np.ndarray
    extra: np.ndarray
    size: int
    num_replicas: int

    def __len__(self) -> int:
        return len(self.order)

    def rows(self, steps=None) -> np.ndarray:
        """``(offset, length, bucket)`` of the global batch at each of ``steps`` (all by default)."""
        ids = np.asarray(self.order if steps is None else self.order[steps], dtype=np.int64).reshape(-1)
        full_total = int(self.full_count.sum())
        rows = np.empty((len(ids), 3), dtype=np.int64)
        full = ids < full_total
        slot = np.searchsorted(self.full_first, ids[full], side="right") - 1
        rows[full, 0] = self.full_start[slot] + (ids[full] - self.full_first[slot]) * self.size
        rows[full, 1] = self.size
        rows[full, 2] = self.full_bucket[slot]
        rows[~full] = self.extra[ids[~full] - full_total]
        return rows

    @property
    def bucket(self) -> np.ndarray:
        """Bucket id of every step's batch."""
        return self.rows()[:, 2]

    @property
    def length(self) -> np.ndarray:
        """Samples of every step's global batch, over all processes."""
        return self.rows()[:, 1]

    def rank_batch(self, step: int, rank: int) -> tuple[np.ndarray, int, int]:
        """Process ``rank``'s batch at ``step``: ``(image indices, bucket id, position of the first
        in samples)``; the indices are a view into ``samples``."""
        if not 0 <= rank < self.num_replicas:
            raise ValueError(f"rank {rank} is outside 0..{self.num_replicas - 1}")
        offset, length, bucket = self.rows(step)[0].tolist()
        share, extra = divmod(length, self.num_replicas)
        start = offset + rank * share + min(rank, extra)
        return self.samples[start : start + share + (rank < extra)], bucket, start

    def batch(self, step: int, rank: int = 0) -> np.ndarray:
        """Image indices of process ``rank``'s batch at ``step`` (a view into ``samples``)."""
        return self.rank_batch(step, rank)[0]


#: Packed (width, height) keys below this are numbered with a lookup table instead of a sort.
TABLE_KEYS = 1 << 23


@dataclass(frozen=True)
class TrainerEpoch:
    """How a trainer's epoch is built from :func:`build_epoch` so that its counts are the trainer's.

    ``lockstep``: every step takes one global batch of ``batch x processes`` from one bucket and
    each process a slice of it (OneTrainer/mgds, diffusion-pipe); otherwise batches of ``batch`` are
    dealt to the processes in turn and the last round is filled with batches from the epoch's start,
    as accelerate's ``BatchSamplerShard`` does for sd-scripts, musubi-tuner and ai-toolkit.
    ``accumulate``: one global batch is a whole optimizer step, ``grad_accum`` micro-batches per
    process (diffusion-pipe). ``split``: each bucket is split between the processes before it is
    batched (SimpleTuner, :func:`build_simpletuner_epoch`). The counts match
    :func:`aspectbucket.geometry.ledger.count_epoch`.
    """

    policy: BatchPolicy
    lockstep: bool
    accumulate: bool = False
    split: bool = False


#: The trainers whose epochs the sampler reproduces, by batching rule.
TRAINER_EPOCHS = {
    BatchingRule.KOHYA: TrainerEpoch(BatchPolicy.SHORT, lockstep=False),
    BatchingRule.MUSUBI: TrainerEpoch(BatchPolicy.SHORT, lockstep=False),
    BatchingRule.AI_TOOLKIT: TrainerEpoch(BatchPolicy.PAD, lockstep=False),
    BatchingRule.ONETRAINER: TrainerEpoch(BatchPolicy.DROP, lockstep=True),
    BatchingRule.DIFFUSION_PIPE: TrainerEpoch(BatchPolicy.DROP, lockstep=True, accumulate=True),
    BatchingRule.SIMPLETUNER: TrainerEpoch(BatchPolicy.SHORT, lockstep=True, split=True),
}


def trainer_epoch(policy: str | BatchPolicy | BatchingRule) -> tuple[str, TrainerEpoch]:
    """``(name, how)`` for a sampler ``policy``: a trainer's name, or a generic batch policy (lock-step).

    A bad name raises ``ValueError`` naming every accepted one.
    """
    if str(policy) in {rule.value for rule in TRAINER_EPOCHS}:
        rule = BatchingRule(str(policy))
        return rule.value, TRAINER_EPOCHS[rule]
    try:
        generic = parse_batch_policy(policy)
    except ValueError:
        names = ", ".join([*(p.value for p in BatchPolicy), *(r.value for r in TRAINER_EPOCHS)])
        raise ValueError(f"policy {policy!r} is not one of: {names}") from None
    return generic.value, TrainerEpoch(generic, lockstep=True)


def rank_rows(epoch: Epoch, how: TrainerEpoch, rank: int, first: int, last: int, processes: int, accum: int):
    """``(start in samples, length, bucket id)`` of process ``rank``'s steps ``first..last-1``, as arrays.

    One vectorised call per chunk of steps instead of one per step: iterating ten million samples
    costs the Python loop over batches only.
    """
    steps = np.arange(first, last, dtype=np.int64)
    if how.lockstep:
        global_steps = steps // accum if how.accumulate else steps
        offset, length, bucket = epoch.rows(global_steps).T
        share, extra = np.divmod(length, epoch.num_replicas)
        start = offset + rank * share + np.minimum(rank, extra)
        length = share + (rank < extra)
        if how.accumulate:
            micro = length // accum
            start = start + (steps % accum) * micro
            length = micro
        return start, length, bucket
    global_steps = (rank + processes * steps) % max(len(epoch), 1)
    offset, length, bucket = epoch.rows(global_steps).T
    return offset, length, bucket


def bucket_ids(bucket_widths, bucket_heights) -> tuple[np.ndarray, np.ndarray]:
    """Number the distinct bucket shapes: ``(id per image, (n, 2) shapes)``.

    Images with a side of 0 (placement failures) get id -1. Shapes are sorted by (width, height),
    so the numbering does not depend on image order. Each shape is one packed integer key; when the
    keys span a small range (ordinary bucket sides) one ``np.bincount`` finds those in use and a
    lookup table numbers them, with no sort over the images (ten million in well under a second).
    """
    widths = np.asarray(bucket_widths, dtype=np.int64)
    heights = np.asarray(bucket_heights, dtype=np.int64)
    if widths.shape != heights.shape or widths.ndim != 1:
        raise ValueError("bucket widths and heights must be one-dimensional and of equal length")
    placed = (widths > 0) & (heights > 0)
    ids = np.full(len(widths), -1, dtype=np.int64)
    if not placed.any():
        return ids, np.zeros((0, 2), dtype=np.int64)
    span_h = int(heights.max()) + 1
    keys = widths * span_h + heights
    keys = keys if placed.all() else keys[placed]
    span = (int(widths.max()) + 1) * span_h
    if span <= TABLE_KEYS:
        used = np.flatnonzero(np.bincount(keys, minlength=span))
        table = np.zeros(span, dtype=np.int64)
        table[used] = np.arange(len(used))
        inverse = table.take(keys)
    else:
        used, inverse = np.unique(keys, return_inverse=True)
    ids[placed] = inverse.reshape(-1)
    return ids, np.stack([used // span_h, used % span_h], axis=1)


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
    copied, tail_batches = _tail_room(tail_count, policy, size, num_replicas)
    samples = np.empty(total + copied, dtype=groups.images.dtype)
    for slot in range(len(groups.count)):
        images = groups.images[groups.image_start[slot] : groups.image_start[slot + 1]]
        members = samples[groups.start[slot] : groups.start[slot] + groups.count[slot]]
        members[:] = np.repeat(images, repeats[images])
        if shuffle:
            rng.shuffle(members)

    tails = _Tails(samples, np.empty((tail_batches, 3), dtype=np.int64), total, num_replicas)
    if tail_count.any():
        _TAIL_BATCHES[policy](tails, groups, tail_start, tail_count, size)

    batch_count = int(full.sum()) + tail_batches
    order = np.arange(batch_count, dtype=np.int32 if batch_count <= np.iinfo(np.int32).max else np.int64)
    if shuffle:
        rng.shuffle(order)
    return Epoch(
        samples=samples,
        order=order,
        full_first=np.cumsum(full) - full,
        full_count=full,
        full_start=groups.start,
        full_bucket=groups.bucket,
        extra=tails.extra,
        size=size,
        num_replicas=num_replicas,
    )


class _Tails:
    """The batches a policy makes of bucket remainders: rows ``(offset, length, bucket)`` into ``samples``.

    A batch that is one run of a bucket's samples points at it; any other (padded, topped up, merged)
    is copied after the grouped samples, where :func:`_tail_room` left it room.
    """

    def __init__(self, samples: np.ndarray, extra: np.ndarray, pool_start: int, num_replicas: int):
        self.samples, self.extra, self.pool_end, self.num_replicas = samples, extra, pool_start, num_replicas
        self.row = 0

    def add(self, start: int, length: int, bucket: int) -> None:
        self.extra[self.row] = (start, length, bucket)
        self.row += 1

    def add_copy(self, members: np.ndarray, bucket: int) -> None:
        if len(members) < self.num_replicas:  # every process needs at least one sample
            members = members[np.arange(self.num_replicas) % len(members)]
        self.samples[self.pool_end : self.pool_end + len(members)] = members
        self.add(self.pool_end, len(members), bucket)
        self.pool_end += len(members)


def _short_tails(tails: _Tails, groups: _Groups, tail_start, tail_count, size: int) -> None:
    """``SHORT``: each remainder is a batch of its own (topped up only when processes outnumber it)."""
    for slot in np.flatnonzero(tail_count).tolist():
        start, count, bucket = int(tail_start[slot]), int(tail_count[slot]), int(groups.bucket[slot])
        if count < tails.num_replicas:
            tails.add_copy(tails.samples[start : start + count], bucket)
        else:
            tails.add(start, count, bucket)


def _pad_tails(tails: _Tails, groups: _Groups, tail_start, tail_count, size: int) -> None:
    """``PAD``: each remainder is filled to a whole batch with its own bucket's samples, cycled."""
    for slot in np.flatnonzero(tail_count).tolist():
        start, count, bucket = int(tail_start[slot]), int(tail_count[slot]), int(groups.bucket[slot])
        bucket_members = tails.samples[groups.start[slot] : groups.start[slot] + groups.count[slot]]
        padding = bucket_members[np.arange(size - count) % len(bucket_members)]
        tails.add_copy(np.concatenate([tails.samples[start : start + count], padding]), bucket)


def _merge_tails(tails: _Tails, groups: _Groups, tail_start, tail_count, size: int) -> None:
    """``MERGE``: remainders in ratio order, cut into whole batches, each cropped to its middle member's bucket."""
    leftovers = np.concatenate([tails.samples[s : s + c] for s, c in zip(tail_start, tail_count, strict=True)])
    leftover_bucket = np.repeat(groups.bucket, tail_count)
    for start in range(0, len(leftovers), size):
        # Members are in ratio order: the middle one's bucket is the weighted median ratio, which
        # keeps the total change of ratio smallest.
        members = leftovers[start : start + size]
        tails.add_copy(members, int(leftover_bucket[start + (len(members) - 1) // 2]))


def _drop_tails(tails: _Tails, groups: _Groups, tail_start, tail_count, size: int) -> None:
    """``DROP``: remainders are not trained this epoch."""


#: The batches each policy makes of the bucket remainders.
_TAIL_BATCHES = {
    BatchPolicy.SHORT: _short_tails,
    BatchPolicy.PAD: _pad_tails,
    BatchPolicy.MERGE: _merge_tails,
    BatchPolicy.DROP: _drop_tails,
}


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


def _tail_room(tail_count: np.ndarray, policy: BatchPolicy, size: int, num_replicas: int) -> tuple[int, int]:
    """``(copied samples, batches)`` the bucket remainders add: padded, topped-up or merged batches are
    copied after the grouped samples."""
    if policy is BatchPolicy.PAD:
        return int(np.count_nonzero(tail_count)) * size, int(np.count_nonzero(tail_count))
    if policy is BatchPolicy.SHORT:
        topped_up = int(np.count_nonzero((tail_count > 0) & (tail_count < num_replicas)))
        return topped_up * num_replicas, int(np.count_nonzero(tail_count))
    if policy is BatchPolicy.MERGE:
        leftover = int(tail_count.sum())
        last = leftover % size
        return leftover + (num_replicas - last if 0 < last < num_replicas else 0), -(-leftover // size)
    return 0, 0


def simpletuner_buckets(image_bucket, repeats) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(bucket ids, images, passes)`` of each trained bucket, the way SimpleTuner's epoch needs them.

    SimpleTuner repeats a whole dataset (``repeats`` extra passes), so a bucket whose images are
    seen a different number of times is refused with ``ValueError``, as the ledger refuses it.
    """
    image_bucket = np.asarray(image_bucket, dtype=np.int64)
    repeats = np.broadcast_to(np.asarray(repeats, dtype=np.int64), image_bucket.shape)
    trained = (image_bucket >= 0) & (repeats > 0)
    buckets = np.unique(image_bucket[trained])
    images = np.array([np.count_nonzero(trained & (image_bucket == b)) for b in buckets], dtype=np.int64)
    passes = np.array([repeats[trained & (image_bucket == b)].max() for b in buckets], dtype=np.int64)
    lowest = np.array([repeats[trained & (image_bucket == b)].min() for b in buckets], dtype=np.int64)
    if (lowest != passes).any():
        raise ValueError("SimpleTuner has one repeats value per dataset: a bucket mixes images of different repeats")
    return buckets, images, passes


def build_simpletuner_epoch(
    image_bucket, repeats, bucket_shapes, batch_size: int, *, seed=0, epoch=0, shuffle=True, num_replicas=1
) -> Epoch:
    """SimpleTuner's epoch (simpletuner 4.10.1 wheel, ``helpers/metadata/backends/base.py:
    MetadataBackend.split_buckets_between_processes`` with ``apply_padding``): each bucket's images are
    split between the processes, the first ``images % processes`` getting one more and the others
    padded with the bucket's last image; every process repeats its share ``repeats`` times (the
    sampler's repeats are passes, SimpleTuner's ``repeats + 1``) and cuts it into batches, the last one
    short; a share below one batch is not trained. Global batch k of a bucket is every process's k-th
    batch side by side, so :func:`rank_rows` gives each process its own and all see one bucket per step.
    Its counts are :func:`aspectbucket.geometry.simpletuner_batches.simpletuner_epoch`'s.
    """
    image_bucket = np.asarray(image_bucket, dtype=np.int64)
    repeats = np.broadcast_to(np.asarray(repeats, dtype=np.int64), image_bucket.shape)
    rng = np.random.default_rng(np.random.SeedSequence([seed, epoch]))
    size, ranks = batch_size, num_replicas
    parts, full_rows, extra = [], [], []
    position = 0
    buckets, _, _ = simpletuner_buckets(image_bucket, repeats)
    for bucket in buckets[ratio_order(np.asarray(bucket_shapes).reshape(-1, 2)[buckets])].tolist():
        members = np.flatnonzero((image_bucket == bucket) & (repeats > 0))
        if shuffle:
            rng.shuffle(members)
        share = -(-len(members) // ranks)
        padded = np.concatenate([members, np.full(share * ranks - len(members), members[-1])])
        per_rank = np.tile(np.stack(np.array_split(padded, ranks)), int(repeats[members[0]]))
        if shuffle:
            per_rank = rng.permuted(per_rank, axis=1)
        length = per_rank.shape[1]
        if length < size:
            continue
        full = length // size
        body = per_rank[:, : full * size].reshape(ranks, full, size).transpose(1, 0, 2).reshape(-1)
        tail = per_rank[:, full * size :].reshape(-1)
        full_rows.append((position, full, bucket))
        if len(tail):
            extra.append((position + len(body), len(tail), bucket))
        parts.extend([body, tail])
        position += len(body) + len(tail)
    samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    full_start, full_count, full_bucket = np.array(full_rows, dtype=np.int64).reshape(-1, 3).T
    batch_count = int(full_count.sum()) + len(extra)
    order = np.arange(batch_count, dtype=np.int64)
    if shuffle:
        rng.shuffle(order)
    return Epoch(
        samples=samples,
        order=order,
        full_first=np.cumsum(full_count) - full_count,
        full_count=full_count,
        full_start=full_start,
        full_bucket=full_bucket,
        extra=np.array(extra, dtype=np.int64).reshape(-1, 3),
        size=size * ranks,
        num_replicas=ranks,
    )
