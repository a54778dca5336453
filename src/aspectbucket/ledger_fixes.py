"""The smallest change that gets never-trained images trained, computed from the ledger, not guessed.

An image is never trained when its bucket holds fewer samples than the trainer's smallest usable
group (:func:`~aspectbucket.geometry.ledger.bucket_minimum`: OneTrainer's ``batch x processes``,
SimpleTuner's ``batch x GPUs x accumulation``...). For each such bucket four fixes are costed:

``repeats``
    raise the repeats of one subset in the bucket just enough; costs every extra sample of that
    subset, in every bucket it reaches (recounted with the trainer's rule).
``duplicate``
    copy files of the bucket until it fills the group; costs the copies' samples.
``crop``
    crop the bucket's images to the ratio of the nearest bucket that is trained; adds no samples
    but trims the images (the largest trim is shown).
``batch_size``
    train with another batch size: the one that leaves fewest images untrained, then drops fewest
    samples, then is largest; costs (or saves) steps. One change for the whole dataset.

Fixes that leave images untrained rank last; then a crop trimming more than :data:`FREE_CROP` of an
image; then by steps added per epoch, then by samples added. Each fix carries the never-trained
count and the steps per epoch before and after, recounted with the same rule, so the numbers can
be checked.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from aspectbucket.epoch_ledger import Ledger
from aspectbucket.geometry.ledger import BatchSettings, bucket_minimum, count_epoch

#: A crop that trims at most this fraction of an image is ranked as costing nothing.
FREE_CROP = 0.05


@dataclass(frozen=True)
class Fix:
    """One way to get a bucket's images trained, with what it costs and what it changes."""

    kind: str  # "repeats", "duplicate", "crop" or "batch_size"
    description: str
    extra_samples: int  # samples added to every epoch (0 for a crop)
    trim: float  # largest fraction of an image a crop removes (0 for the others)
    steps_before: int
    steps_after: int
    never_trained_before: int
    never_trained_after: int

    @property
    def rank(self) -> tuple:
        costly_crop = self.kind == "crop" and self.trim > FREE_CROP
        added_steps = max(self.steps_after - self.steps_before, 0)
        return (self.never_trained_after >= self.never_trained_before, costly_crop, added_steps, self.extra_samples)


@dataclass(frozen=True)
class BucketFixes:
    """The never-trained images of one bucket and every fix for them, cheapest first."""

    bucket_width: int
    bucket_height: int
    images: np.ndarray
    fixes: list[Fix]

    @property
    def best(self) -> Fix | None:
        return self.fixes[0] if self.fixes else None


def smallest_fixes(book: Ledger, max_buckets: int = 50) -> list[BucketFixes]:
    """Fixes for every bucket with never-trained images (at most ``max_buckets``, most images first)."""
    counts = book.counts
    minimum = bucket_minimum(book.rule, book.settings)
    trainable = book.trainable
    wanted = (counts.times_max == 0) & trainable
    if counts.refused:  # SimpleTuner refuses the dataset for its buckets below the minimum
        wanted = trainable & (counts.samples.take(np.maximum(book.image_bucket, 0)) < minimum)
    if not wanted.any():
        return []
    stuck = np.bincount(book.image_bucket[wanted], minlength=len(book.bucket_shapes))
    buckets = np.argsort(-stuck, kind="stable")[: int((stuck > 0).sum())][:max_buckets]
    batch_fix = _batch_size_fix(book)
    result = []
    for j in buckets.tolist():
        images = np.flatnonzero(wanted & (book.image_bucket == j))
        fixes = [
            fix
            for fix in (
                _repeats_fix(book, j, minimum),
                _duplicate_fix(book, j, minimum),
                _crop_fix(book, j, images, minimum),
                batch_fix,
            )
            if fix is not None
        ]
        fixes.sort(key=lambda fix: fix.rank)
        width, height = book.bucket_shapes[j].tolist()
        result.append(BucketFixes(width, height, images, fixes))
    return result


def _recount(book: Ledger, repeats=None, image_bucket=None, settings: BatchSettings | None = None):
    return count_epoch(
        book.image_bucket if image_bucket is None else image_bucket,
        book.repeats if repeats is None else repeats,
        book.rule,
        settings or book.settings,
        bucket_count=len(book.bucket_shapes),
    )


def _never(counts, book: Ledger) -> int:
    """Never-trained images among the ledger's own (copies a fix appends are not counted)."""
    trainable = book.trainable
    return int(((counts.times_max[: len(trainable)] == 0) & trainable).sum())


def _fix(book: Ledger, kind: str, description: str, extra: int, trim: float, after) -> Fix:
    return Fix(
        kind=kind,
        description=description,
        extra_samples=int(extra),
        trim=float(trim),
        steps_before=book.steps_per_epoch,
        steps_after=after.steps_per_epoch,
        never_trained_before=_never(book.counts, book),
        never_trained_after=_never(after, book),
    )


def _repeats_fix(book: Ledger, j: int, minimum: int) -> Fix | None:
    """The subset of the bucket whose repeats, raised least, fill the bucket: costed over the dataset."""
    in_bucket = book.image_bucket == j
    labels = book.subsets if book.subsets is not None else np.zeros(len(book.repeats), dtype=np.int64)
    extra_pass = int(book.counts.samples[j] - book.repeats[in_bucket].sum()) // max(int(in_bucket.sum()), 1)
    best = None
    for label in np.unique(labels[in_bucket]).tolist():
        members = labels == label
        own = in_bucket & members
        others = int(book.counts.samples[j]) - int(book.repeats[own].sum()) - extra_pass * int(own.sum())
        needed = max(-(-(minimum - others) // int(own.sum())) - extra_pass, int(book.repeats[own].max()) + 1)
        raised = np.where(members, np.maximum(book.repeats, needed), book.repeats)
        extra = int((raised - book.repeats)[book.image_bucket >= 0].sum())
        if best is None or extra < best[0]:
            best = (extra, label, needed, raised)
    extra, label, needed, raised = best
    name = "the dataset" if book.subsets is None else f"subset {label}"
    return _fix(book, "repeats", f"repeats of {name} to {needed}", extra, 0.0, _recount(book, repeats=raised))


def _duplicate_fix(book: Ledger, j: int, minimum: int) -> Fix | None:
    """Copy the bucket's files in turn until the bucket holds ``minimum`` samples."""
    rows = np.flatnonzero((book.image_bucket == j) & book.trainable)
    if len(rows) == 0:
        return None
    missing = minimum - int(book.counts.samples[j])
    cycle = np.resize(book.passes[rows], max(missing, 1) + len(rows))
    copies = int(np.searchsorted(np.cumsum(cycle), missing) + 1)
    source = np.resize(rows, copies)
    image_bucket = np.concatenate([book.image_bucket, np.full(copies, j)])
    repeats = np.concatenate([book.repeats, book.repeats[source]])
    extra = int(book.passes[source].sum())
    after = _recount(book, repeats=repeats, image_bucket=image_bucket)
    return _fix(book, "duplicate", f"copy {copies} file(s) of this bucket", extra, 0.0, after)


def _crop_fix(book: Ledger, j: int, images: np.ndarray, minimum: int) -> Fix | None:
    """Move the images to the nearest-ratio bucket that is already trained, by cropping them to it."""
    shapes = book.bucket_shapes
    # Another shape, in the same dataset where buckets are kept per dataset.
    other = np.any(shapes != shapes[j], axis=1)
    if book.bucket_subset is not None:
        other &= book.bucket_subset == book.bucket_subset[j]
    trained = np.flatnonzero((book.counts.samples >= minimum) & other)
    if len(trained) == 0:
        return None
    log_ratio = np.log(shapes[:, 0] / shapes[:, 1])
    target = trained[np.argmin(np.abs(log_ratio[trained] - log_ratio[j]))]
    width = book.placement.width[images].astype(np.float64)
    height = book.placement.height[images].astype(np.float64)
    ratio = (width / height) / (shapes[target, 0] / shapes[target, 1])
    trim = float(np.max(1 - np.minimum(ratio, 1 / ratio)))
    moved = book.image_bucket.copy()
    moved[book.image_bucket == j] = target
    tw, th = shapes[target].tolist()
    description = f"crop to {tw}:{th} (bucket {tw}x{th}), trimming up to {trim:.0%}"
    return _fix(book, "crop", description, 0, trim, _recount(book, image_bucket=moved))


def _batch_size_fix(book: Ledger) -> Fix | None:
    """The batch size that leaves fewest images untrained, then drops least, then is largest."""
    current = book.settings.batch_size
    best = None
    for size in range(1, max(current * 2, 2) + 1):
        if size == current:
            continue
        counts = _recount(book, settings=replace(book.settings, batch_size=size))
        key = (_never(counts, book), int(counts.dropped.sum()), -size)
        if best is None or key < best[0]:
            best = (key, size, counts)
    if best is None:
        return None
    _, size, counts = best
    change = counts.steps_per_epoch - book.steps_per_epoch
    description = f"batch size {size} (drops {int(counts.dropped.sum())} samples, {change:+d} steps per epoch)"
    return _fix(book, "batch_size", description, 0, 0.0, counts)
