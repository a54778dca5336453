"""The epoch ledger of a dataset under a trainer: per image, per bucket and in total, what one epoch trains.

:func:`ledger` places the images by the trainer's profile, numbers the buckets, applies the
trainer's repeat rules (kohya's regularization expansion, musubi-tuner's per-dataset buckets) and
counts the epoch with :func:`aspectbucket.geometry.ledger.count_epoch`. The report, the CLI and the
torch sampler all read the same :class:`Ledger`.

>>> from aspectbucket import ledger
>>> book = ledger([1024, 1024, 1024, 1280], [1024, 1024, 1024, 832], profile="onetrainer", batch_size=2)
>>> book.steps_per_epoch, book.never_trained_count
(1, 1)
>>> [(row["bucket_width"], row["bucket_height"], row["dropped"]) for row in book.per_bucket_rows()]
[(1024, 1024, 1), (1280, 832, 1)]
>>> book.reason_text(3)
'bucket smaller than one batch, always dropped'

"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from aspectbucket.geometry.ledger import (
    REASON_TEXT,
    BatchingError,
    BatchingRule,
    BatchSettings,
    EpochCounts,
    Reason,
    count_epoch,
    kohya_regularization_repeats,
    training_length,
)
from aspectbucket.geometry.options import BucketOptions
from aspectbucket.geometry.placement import Placement, PlacementError
from aspectbucket.plan import DatasetPlan
from aspectbucket.profiles import Profile, get_profile, place_by_profile, resolve
from aspectbucket.profiles.batching import batching_rule


@dataclass(frozen=True)
class Ledger:
    """One epoch of a dataset under a trainer, with the run's length.

    ``bucket_shapes`` are the buckets in use, sorted by (width, height) (with ``bucket_subset``
    where buckets are kept per dataset); ``image_bucket`` the row of each image in them (-1: none);
    ``repeats`` the repeats actually used (after kohya's regularization expansion);
    ``regularization`` marks regularization images and ``reg_samples_before_expansion`` is their
    repeats as configured (what sd-scripts logs as "num reg images"); ``image_errors`` the reason
    an image has no bucket where it is known better than the placement's (a file that cannot be read).
    ``counts`` holds the per-bucket and per-image arrays (:class:`EpochCounts`).
    """

    profile: str
    rule: BatchingRule
    placement: Placement
    bucket_shapes: np.ndarray
    bucket_subset: np.ndarray | None
    image_bucket: np.ndarray
    repeats: np.ndarray
    subsets: np.ndarray | None
    counts: EpochCounts
    epochs: int
    total_optimizer_steps: int
    last_epoch_optimizer_steps: int
    regularization: np.ndarray | None = None
    reg_samples_before_expansion: int = 0
    image_errors: list[str] | None = None

    @property
    def settings(self) -> BatchSettings:
        return self.counts.settings

    @property
    def steps_per_epoch(self) -> int:
        """Batches each process steps through in one epoch."""
        return self.counts.steps_per_epoch

    @property
    def optimizer_steps_per_epoch(self) -> int:
        return self.counts.optimizer_steps_per_epoch

    @property
    def passes(self) -> np.ndarray:
        """Samples each image asks for per epoch: its repeats, plus one under SimpleTuner's meaning."""
        return self.repeats + (1 if self.rule is BatchingRule.SIMPLETUNER else 0)

    @property
    def trainable(self) -> np.ndarray:
        """Images that have a bucket and ask to be trained at least once per epoch."""
        return (self.image_bucket >= 0) & (self.passes > 0)

    @property
    def never_trained(self) -> np.ndarray:
        """Indices of the images that are never trained (or, where random, may never be) in an epoch."""
        return np.flatnonzero(self.counts.times_max == 0)

    @property
    def never_trained_count(self) -> int:
        return int((self.counts.times_max == 0).sum())

    def reason_text(self, index: int) -> str:
        """Why image ``index`` is trained less than asked, in words ("trained" if it is not)."""
        reason = Reason(int(self.counts.reason[index]))
        if reason is Reason.NO_BUCKET:
            if self.image_errors is not None and self.image_errors[index]:
                return f"unusable: {self.image_errors[index]}"
            error = PlacementError(int(self.placement.error[index]))
            return f"{REASON_TEXT[reason]}: {error.reason}" if error else REASON_TEXT[reason]
        if reason is Reason.DATASET_REFUSED:
            return f"{REASON_TEXT[reason]}: {self.counts.refused}"
        return REASON_TEXT[reason]

    def per_bucket_rows(self) -> list[dict]:
        """One dict per bucket in use: size, images, samples, batches, trained, dropped, padded, short."""
        c = self.counts
        rows = []
        for j, (width, height) in enumerate(self.bucket_shapes.tolist()):
            row = {"bucket_width": width, "bucket_height": height}
            if self.bucket_subset is not None:
                row["subset"] = str(self.bucket_subset[j])
            row.update(
                images=int(c.images[j]),
                samples=int(c.samples[j]),
                batches=int(c.batches[j]),
                trained=int(c.trained[j]),
                dropped=int(c.dropped[j]),
                padded=int(c.padded[j]),
                short=int(c.short[j]),
            )
            rows.append(row)
        return rows

    def image_rows(self, indices=None) -> list[dict]:
        """One dict per image (all, or ``indices``): size, subset, bucket, repeats, times trained, reason."""
        c, p = self.counts, self.placement
        # A missing or broken size is stored as a placeholder: show none rather than a made-up one.
        no_size = np.isin(p.error, [PlacementError.MISSING_SIZE, PlacementError.NOT_POSITIVE_INTEGER])
        rows = []
        for i in range(len(self.image_bucket)) if indices is None else np.asarray(indices).tolist():
            rows.append(
                {
                    "index": i,
                    "width": None if no_size[i] else int(p.width[i]),
                    "height": None if no_size[i] else int(p.height[i]),
                    "subset": None if self.subsets is None else str(self.subsets[i]),
                    "bucket_width": int(p.bucket_width[i]) if self.image_bucket[i] >= 0 else None,
                    "bucket_height": int(p.bucket_height[i]) if self.image_bucket[i] >= 0 else None,
                    "repeats": int(self.repeats[i]),
                    "times_expected": round(float(c.times_expected[i]), 6),
                    "times_min": int(c.times_min[i]),
                    "times_max": int(c.times_max[i]),
                    "reason": self.reason_text(i),
                }
            )
        return rows

    def totals(self) -> dict:
        """The numbers a user compares with the training log, by name."""
        c = self.counts
        return {
            "profile": self.profile,
            "batching": self.rule.value,
            "batch_size": self.settings.batch_size,
            "processes": self.settings.processes,
            "grad_accum": self.settings.grad_accum,
            "image_count": len(self.image_bucket),
            "samples": int(c.samples.sum()),
            "steps_per_epoch": c.steps_per_epoch,
            "optimizer_steps_per_epoch": c.optimizer_steps_per_epoch,
            "batches_per_epoch": int(c.batches.sum()),
            "padded_batches": c.padded_batches,
            "trainer_estimate": c.trainer_estimate,
            "dropped_samples": int(c.dropped.sum()),
            "padded_samples": int(c.padded.sum()),
            "never_trained": self.never_trained_count,
            "random": c.random,
            "refused": c.refused or None,
            "epochs": self.epochs,
            "total_optimizer_steps": self.total_optimizer_steps,
            "last_epoch_optimizer_steps": self.last_epoch_optimizer_steps,
        }

    def to_json(self, image_limit: int | None = None) -> dict:
        """The ledger as JSON-ready data: totals, ``per_bucket`` rows and ``images`` rows.

        ``images`` lists the never-trained images first, then those trained less than asked (a
        random remainder), then the rest; ``image_limit`` caps it.
        """
        rank = (self.counts.times_max > 0).astype(np.int8) + (self.counts.reason == Reason.TRAINED)
        order = np.argsort(rank, kind="stable")
        if image_limit is not None:
            order = order[:image_limit]
        return {**self.totals(), "per_bucket": self.per_bucket_rows(), "images": self.image_rows(order)}


def ledger(
    widths,
    heights,
    profile: str | Profile = "kohya",
    settings: BucketOptions | None = None,
    repeats=None,
    subsets=None,
    batch_size: int = 1,
    processes: int = 1,
    grad_accum: int = 1,
    *,
    regularization=None,
    epochs: int | None = None,
    max_train_steps: int | None = None,
    batching: str | BatchingRule | None = None,
    allow_oversubscription: bool = False,
) -> Ledger:
    """What one epoch of ``profile``'s trainer trains of the images ``(widths[i], heights[i])``.

    ``settings`` are the bucketing options (the profile's defaults if ``None``). ``repeats`` is one
    number, one per image, or a mapping from subset name to repeats, in the trainer's own sense:
    SimpleTuner's ``repeats`` counts extra passes (0, its default, trains once), every other
    trainer's counts passes (default 1). ``subsets`` names each image's
    subset (dataset). ``regularization`` marks kohya regularization images: one bool per image or
    a collection of subset names. ``epochs`` or ``max_train_steps`` set the run's length (one
    epoch by default). ``batching`` overrides the profile's batching rule.

    Raises :class:`~aspectbucket.geometry.ledger.BatchingError` (one line) for a batch size,
    process count or accumulation below 1, negative repeats, or more processes than trainable
    samples. An empty dataset gives an empty ledger.
    """
    chosen, options, _ = resolve(profile, settings)
    rule = batching_rule(chosen, batching)
    placement = place_by_profile(widths, heights, options, chosen)
    n = len(placement.width)
    subset_labels = _subset_labels(subsets, n)
    if repeats is None:
        repeats = 0 if rule is BatchingRule.SIMPLETUNER else 1
    image_repeats = _image_repeats(repeats, subset_labels, n)
    reg = None if regularization is None else _regularization_mask(regularization, subset_labels, n)
    reg_before = 0
    if reg is not None and rule is BatchingRule.KOHYA:
        placed = placement.error == PlacementError.OK
        reg_before = int(image_repeats[reg & placed].sum())
        image_repeats = kohya_regularization_repeats(image_repeats, reg, placed)
    return ledger_from_placement(
        placement,
        chosen,
        image_repeats,
        BatchSettings(batch_size, processes, grad_accum),
        subsets=subset_labels,
        datasets=subset_labels if rule is BatchingRule.MUSUBI else None,
        epochs=epochs,
        max_train_steps=max_train_steps,
        batching=rule,
        allow_oversubscription=allow_oversubscription,
        regularization=reg,
        reg_samples_before_expansion=reg_before,
    )


def ledger_from_placement(
    placement: Placement,
    profile: str | Profile,
    repeats: np.ndarray,
    settings: BatchSettings,
    *,
    subsets=None,
    datasets=None,
    epochs: int | None = None,
    max_train_steps: int | None = None,
    batching: str | BatchingRule | None = None,
    allow_oversubscription: bool = False,
    regularization: np.ndarray | None = None,
    reg_samples_before_expansion: int = 0,
    image_errors: list[str] | None = None,
) -> Ledger:
    """The ledger of images already placed, with their final repeats (no expansion applied here).

    ``datasets`` labels each image's dataset where the trainer keeps buckets per dataset (kohya's
    dataset blocks, musubi-tuner's datasets); images of different datasets never share a bucket.
    """
    chosen = get_profile(profile)
    rule = batching_rule(chosen, batching)
    n = len(placement.width)
    placed = placement.error == PlacementError.OK
    image_repeats = np.asarray(repeats, dtype=np.int64)
    dataset_labels = _subset_labels(datasets, n)
    image_bucket, shapes, bucket_subset = _number_buckets(placement, placed, dataset_labels)
    trainable = int(image_repeats[placed].sum()) if n else 0
    if 0 < trainable < settings.processes:
        needs = "every process needs one"
        raise BatchingError(f"{settings.processes} processes for {trainable} trainable samples: {needs}")
    counts = count_epoch(
        image_bucket,
        image_repeats,
        rule,
        settings,
        bucket_count=len(shapes),
        allow_oversubscription=allow_oversubscription,
    )
    run_epochs, total, last = training_length(
        counts.optimizer_steps_per_epoch, epochs=epochs, max_train_steps=max_train_steps
    )
    return Ledger(
        profile=chosen.name,
        rule=rule,
        placement=placement,
        bucket_shapes=shapes,
        bucket_subset=bucket_subset,
        image_bucket=image_bucket,
        repeats=image_repeats,
        subsets=_subset_labels(subsets, n),
        counts=counts,
        epochs=run_epochs,
        total_optimizer_steps=total,
        last_epoch_optimizer_steps=last,
        regularization=regularization,
        reg_samples_before_expansion=reg_samples_before_expansion,
        image_errors=image_errors,
    )


def plan_ledger(
    plan: DatasetPlan,
    batch_size: int | None = None,
    processes: int = 1,
    grad_accum: int = 1,
    *,
    epochs: int | None = None,
    max_train_steps: int | None = None,
) -> Ledger:
    """The ledger of a scanned, placed dataset (what ``report`` shows).

    Repeats are the scan's (regularization already expanded per dataset block); under sd-scripts'
    and musubi-tuner's batching buckets are kept per dataset block, as each of their datasets has
    its own buckets.
    ``batch_size`` defaults to the config's (the first block's), else 1.
    """
    scan = plan.scan
    names = np.array([subset.name or str(subset.image_dir) for subset in scan.subsets] or [""], dtype=object)
    subsets = names[scan.subset].astype(str) if len(scan.subsets) else None
    blocks = scan.dataset_index
    configured = [subset.batch_size for subset in scan.subsets if subset.batch_size is not None]
    chosen_batch = batch_size or (configured[0] if configured else 1)
    repeats = scan.repeats if len(scan.subsets) else np.ones(len(plan.placement), dtype=np.int64)
    rule = batching_rule(plan.profile)
    if rule is BatchingRule.SIMPLETUNER:
        repeats = repeats - 1  # the scan counts passes; SimpleTuner's repeats count extra ones
    # sd-scripts and musubi-tuner give each dataset its own buckets, SimpleTuner each of its datasets (a
    # subset here, with its own repeats); the others bucket everything together.
    several = len(np.unique(blocks)) > 1 and rule in (BatchingRule.KOHYA, BatchingRule.MUSUBI)
    if rule is BatchingRule.SIMPLETUNER and subsets is not None:
        blocks, several = scan.subset, len(scan.subsets) > 1
    reg = np.array([subset.is_reg for subset in scan.subsets] or [False], dtype=bool)[scan.subset]
    configured_repeats = np.array([subset.repeats for subset in scan.subsets] or [1], dtype=np.int64)[scan.subset]
    placed = plan.placement.error == PlacementError.OK
    return ledger_from_placement(
        plan.placement,
        plan.profile,
        repeats,
        BatchSettings(chosen_batch, processes, grad_accum),
        subsets=subsets,
        datasets=blocks.astype(str) if several else None,
        epochs=epochs,
        max_train_steps=max_train_steps,
        regularization=reg if reg.any() else None,
        reg_samples_before_expansion=int(configured_repeats[reg & placed].sum()),
        image_errors=plan.errors,
    )


def _subset_labels(subsets, n: int) -> np.ndarray | None:
    if subsets is None:
        return None
    labels = np.asarray(subsets)
    if labels.shape != (n,):
        raise BatchingError(f"subsets has {labels.size} values for {n} images")
    return labels


def _image_repeats(repeats, subsets: np.ndarray | None, n: int) -> np.ndarray:
    if isinstance(repeats, Mapping):
        if subsets is None:
            raise BatchingError("repeats by subset need subsets (one name per image)")
        unknown = sorted({str(s) for s in np.unique(subsets)} - {str(k) for k in repeats})
        if unknown:
            raise BatchingError(f"no repeats given for subset(s): {', '.join(unknown)}")
        by_name = {str(k): v for k, v in repeats.items()}
        names, inverse = np.unique(subsets.astype(str), return_inverse=True)
        repeats = np.array([by_name[name] for name in names.tolist()], dtype=object)[inverse.reshape(-1)]
        repeats = repeats.astype(float if any(isinstance(v, float) for v in by_name.values()) else np.int64)
    array = np.asarray(repeats)
    if array.ndim == 0:
        array = np.full(n, array)
    if array.shape != (n,):
        raise BatchingError(f"repeats has {array.size} values for {n} images")
    if array.dtype.kind not in "iuf" and n:
        raise BatchingError("repeats must be whole numbers")
    if array.dtype.kind == "f" and n and (not np.isfinite(array).all() or (array != np.floor(array)).any()):
        raise BatchingError("repeats must be whole numbers")
    if n and array.min() < 0:
        raise BatchingError(f"repeats must not be negative, got {array.min():g}")
    return array.astype(np.int64)


def _regularization_mask(regularization, subsets: np.ndarray | None, n: int) -> np.ndarray:
    values = np.asarray(sorted(regularization) if isinstance(regularization, set | frozenset) else regularization)
    if values.dtype.kind in "US":  # subset names
        if subsets is None:
            raise BatchingError("regularization subsets need subsets (one name per image)")
        return np.isin(subsets.astype(str), values.astype(str))
    mask = values.astype(bool)
    if mask.ndim == 0:
        mask = np.full(n, bool(mask))
    if mask.shape != (n,):
        raise BatchingError(f"regularization has {mask.size} values for {n} images")
    return mask


#: Packed (width, height) keys below this are numbered with a lookup table instead of a sort.
_TABLE_KEYS = 1 << 23


def _number_buckets(placement: Placement, placed: np.ndarray, datasets: np.ndarray | None):
    """``(bucket row per image, (k, 2) shapes sorted by (w, h), dataset per row or None)``.

    Buckets are numbered by a packed integer key per image. When the keys span a small range (every
    trainer's buckets at ordinary resolutions) one ``np.bincount`` finds the keys in use and a
    lookup table numbers them, with no sort over the images: ten million images take a few array
    passes. Otherwise (huge sides, or datasets) a 1-D ``np.unique`` sorts the keys.
    """
    width, height = placement.bucket_width, placement.bucket_height
    image_bucket = np.full(len(width), -1, dtype=np.int32 if len(width) < 2**31 else np.int64)
    if not placed.any():
        return image_bucket, np.zeros((0, 2), dtype=np.int64), None if datasets is None else np.array([], dtype=str)
    all_placed = bool(placed.all())
    span_h = int(height.max()) + 1
    span = (int(width.max()) + 1) * span_h
    key = width.astype(np.int64) * span_h + height
    names = None
    if datasets is not None:
        names, codes = np.unique(datasets.astype(str), return_inverse=True)
        key += codes.reshape(-1).astype(np.int64) * span
        span *= len(names)
    placed_key = key if all_placed else key[placed]
    if span <= _TABLE_KEYS:
        used = np.flatnonzero(np.bincount(placed_key, minlength=span))
        table = np.zeros(span, dtype=image_bucket.dtype)
        table[used] = np.arange(len(used))
        inverse = table.take(placed_key)
    else:
        used, inverse = np.unique(placed_key, return_inverse=True)
        inverse = inverse.reshape(-1)
    within = used % span if names is None else used % (span // len(names))
    shapes = np.stack([within // span_h, within % span_h], axis=1)
    dataset_of = None if names is None else used // (span // len(names))
    order = np.lexsort((np.zeros(len(used)) if dataset_of is None else dataset_of, shapes[:, 1], shapes[:, 0]))
    rank = np.empty(len(order), dtype=image_bucket.dtype)
    rank[order] = np.arange(len(order))
    if all_placed:
        image_bucket = rank.take(inverse)
    else:
        image_bucket[placed] = rank.take(inverse)
    return image_bucket, shapes[order], None if names is None else names[dataset_of[order]]
