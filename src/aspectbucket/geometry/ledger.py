"""Each trainer's epoch, counted: how many batches, which samples are trained, dropped or padded.

Trainers agree on bucketing far more than on batching. Given the bucket of every image (an id,
-1 for none) and its repeats, :func:`count_epoch` says what one epoch of a trainer does, exactly
where the trainer is deterministic and as an expectation with its range where it is random:

``KOHYA`` (``kohya-ss/sd-scripts@48d368fa557731ad0488c07304dfeba8c07910eb library/train_util.py:
BaseDataset.make_buckets``, with ``accelerate==1.6.0 data_loader.py:BatchSamplerShard``)
    Each bucket gives ``ceil(samples / batch)`` batches, the last one short; nothing is dropped.
    With N processes accelerate gives each ``ceil(batches / N)`` and fills the last round with
    batches from the start of the epoch (``padded_batches``). Optimizer updates per epoch are
    ``ceil(batches per process / grad_accum)`` (``train_network.py: train``).
``MUSUBI`` (``kohya-ss/musubi-tuner@30c658c4f4b0bf05038b3346eff9670259b10fc7
src/musubi_tuner/dataset/bucket.py:BucketBatchManager``)
    The same counts, per dataset: buckets of different datasets are never merged.
``ONETRAINER`` (``Nerogar/mgds@3a6994ad18a490acc4f3876658167525b7d88da7
src/mgds/pipelineModules/AspectBatchSorting.py:AspectBatchSorting.__shuffle``)
    Each bucket is cut into groups of ``batch x processes`` and the remainder is dropped, a new
    random remainder every epoch. Its own estimate of the length (what its progress bar and LR
    scheduler use) is ``floor(samples / (batch x processes))`` over the whole dataset unless the
    latents are cached. Gradient accumulation counts across epochs
    (``Nerogar/OneTrainer@23df3832e8f213d64c337e39f9365ba46e99fed0
    modules/trainer/GenericTrainer.py:train``).
``DIFFUSION_PIPE`` (``tdrussell/diffusion-pipe@8f83dbf25d03219df705570ec03e62be04bc402f
utils/dataset.py:Dataset.post_init``)
    One optimizer step takes ``batch x grad_accum x processes`` samples from one bucket; each
    bucket is shuffled once (seed 0) and cut to a multiple of that, the rest dropped every epoch.
``AI_TOOLKIT`` (``ostris/ai-toolkit@27a03a91f23eb1b757d5ec2e80ee3e129cfcc350
toolkit/dataloader_mixins.py:BucketsMixin.build_batch_indices``)
    ``ceil(samples / batch)`` batches per bucket; a short batch is filled by cycling the bucket's
    own images (``padded`` samples), so an image can be trained twice in an epoch. Several
    processes and accumulation are counted as sd-scripts' (accelerate); the reference files
    have one process only.
``SIMPLETUNER`` (``simpletuner==4.10.1`` wheel, no commit identified:
``simpletuner/helpers/metadata/backends/base.py:MetadataBackend.__len__``,
``simpletuner/helpers/training/trainer.py``)
    ``repeats`` counts extra passes (trained ``repeats + 1`` times). A bucket with fewer than
    ``batch`` samples is left out of the length; a bucket smaller than ``batch x processes x
    grad_accum`` makes SimpleTuner refuse the whole dataset ("zero usable batches"). Each bucket is
    split over the processes and padded to the largest share (``apply_padding``); with
    ``allow_dataset_oversubscription`` (and no repeats) small buckets are repeated instead. Counted by
    :func:`aspectbucket.geometry.simpletuner_batches.simpletuner_epoch`; one repeats value per dataset.
``NOVELAI`` (``NovelAI/novelai-aspect-ratio-bucketing@67017f0306b725a08830b0ebf4e3688e98c24e35
bucketmanager.py:BucketManager.start_epoch``)
    The dataset is cut to a multiple of ``batch x processes`` and sharded; each rank delivers
    ``floor(images / (batch x processes))`` batches per epoch, taking them from leftovers and then
    from the next epoch when its buckets run out of full batches. Per-image counts are expectations.

Everything here is vectorised over images (``np.bincount`` per bucket, one gather back per image),
so ten million images cost a few array passes; :mod:`aspectbucket.geometry.ledger_reference` is the
plain loop it is tested against.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

import numpy as np

from aspectbucket.geometry.simpletuner_batches import simpletuner_epoch


class BatchingRule(StrEnum):
    """Whose batching an epoch follows (see the module docstring for each rule and its source)."""

    KOHYA = "kohya"
    MUSUBI = "musubi-tuner"
    ONETRAINER = "onetrainer"
    DIFFUSION_PIPE = "diffusion-pipe"
    AI_TOOLKIT = "ai-toolkit"
    SIMPLETUNER = "simpletuner"
    NOVELAI = "novelai"


#: Rules whose per-image counts depend on a shuffle: the ledger gives expectation and range.
RANDOM_RULES = frozenset({BatchingRule.ONETRAINER, BatchingRule.DIFFUSION_PIPE, BatchingRule.NOVELAI})


class Reason(IntEnum):
    """Why an image is trained less than its repeats ask for (``TRAINED`` when it is not)."""

    TRAINED = 0
    NO_BUCKET = 1  # placement failed: the trainer skips or refuses the image
    ZERO_REPEATS = 2  # its subset has 0 repeats
    REMAINDER_DROPPED = 3  # its bucket's remainder is dropped, at random: sometimes not trained
    BUCKET_TOO_SMALL = 4  # its bucket holds less than one batch: never trained
    DATASET_REFUSED = 5  # the trainer refuses the dataset (SimpleTuner: a bucket below batch x GPUs x accumulation)
    REG_UNUSED = 6  # a kohya regularization image beyond the training count: never registered


REASON_TEXT = {
    Reason.TRAINED: "trained",
    Reason.NO_BUCKET: "no bucket (placement failed)",
    Reason.ZERO_REPEATS: "0 repeats",
    Reason.REMAINDER_DROPPED: "in its bucket's remainder, dropped at random",
    Reason.BUCKET_TOO_SMALL: "bucket smaller than one batch, always dropped",
    Reason.DATASET_REFUSED: "the trainer refuses the dataset",
    Reason.REG_UNUSED: "regularization image beyond the training count",
}


class BatchingError(ValueError):
    """A batching setting no trainer accepts (batch 0, negative repeats...); the message is one line."""


@dataclass(frozen=True)
class BatchSettings:
    """Batch size per process, number of processes (GPUs) and gradient accumulation steps."""

    batch_size: int = 1
    processes: int = 1
    grad_accum: int = 1

    def __post_init__(self):
        for name in ("batch_size", "processes", "grad_accum"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise BatchingError(f"{name.replace('_', ' ')} must be a positive whole number, got {value!r}")


@dataclass(frozen=True)
class EpochCounts:
    """One epoch under one rule: per-bucket and per-image arrays and the totals.

    Per bucket (index = bucket id): ``images`` distinct images, ``samples`` images x repeats,
    ``batches`` the trainer's batches of it (lock-step trainers: global batches, one step of every
    process; sd-scripts and the like: batches of ``batch`` that accelerate deals out), ``trained``
    samples trained (expected where random, padding included), ``dropped``, ``padded`` (samples
    added by repetition) and ``short`` batches. Per image: ``times_expected`` (float), ``times_min``, ``times_max`` per
    epoch and ``reason``. ``steps_per_epoch`` is the batches each process steps through;
    ``optimizer_steps_per_epoch`` the updates; ``padded_batches`` the batches accelerate repeats to
    even the processes out; ``trainer_estimate`` the step count the trainer itself shows (OneTrainer's
    differs from the real one without cached latents); ``refused`` the trainer's reason to refuse.
    """

    rule: BatchingRule
    settings: BatchSettings
    images: np.ndarray
    samples: np.ndarray
    batches: np.ndarray
    trained: np.ndarray
    dropped: np.ndarray
    padded: np.ndarray
    short: np.ndarray
    times_expected: np.ndarray
    times_min: np.ndarray
    times_max: np.ndarray
    reason: np.ndarray
    steps_per_epoch: int
    optimizer_steps_per_epoch: int
    padded_batches: int
    trainer_estimate: int
    refused: str = ""

    @property
    def random(self) -> bool:
        """Whether per-image counts are expectations over the trainer's shuffle."""
        return self.rule in RANDOM_RULES


def _as_int_array(values, n: int, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim == 0:
        array = np.full(n, array)
    if array.shape != (n,):
        raise BatchingError(f"{name} has {array.size} values for {n} images")
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or np.any(array != np.floor(array)):
            raise BatchingError(f"{name} must be whole numbers")
    elif array.dtype.kind not in "iub" and n:
        raise BatchingError(f"{name} must be whole numbers")
    return array.astype(np.int64, copy=False)


def kohya_regularization_repeats(repeats, regularization, placed) -> np.ndarray:
    """Repeats after sd-scripts' regularization expansion (``DreamBoothDataset.__init__``).

    Regularization images are registered in order, each adding its repeats, until they reach the
    training count (sum of the training images' repeats); an image past that point is never
    registered (0). If all of them fall short, one repeat at a time goes to each in turn until the
    counts match. Returns a new repeats array; images that are not regularization keep theirs.
    """
    repeats = np.asarray(repeats, dtype=np.int64).copy()
    regularization = np.asarray(regularization, dtype=bool)
    placed = np.asarray(placed, dtype=bool)
    train_count = int(repeats[~regularization & placed].sum())
    reg_rows = np.flatnonzero(regularization & placed)
    if len(reg_rows) == 0:
        return repeats
    own = repeats[reg_rows]
    before = np.concatenate(([0], np.cumsum(own)[:-1]))
    registered = before < train_count
    repeats[reg_rows[~registered]] = 0
    shortfall = train_count - int(own.sum())
    if shortfall > 0:
        rounds, extra = divmod(shortfall, len(reg_rows))
        repeats[reg_rows] += rounds
        repeats[reg_rows[:extra]] += 1
    return repeats


def count_epoch(
    image_bucket,
    repeats,
    rule: BatchingRule | str,
    settings: BatchSettings,
    *,
    bucket_count: int | None = None,
    allow_oversubscription: bool = False,
) -> EpochCounts:
    """Count one epoch of ``rule`` for images in buckets ``image_bucket`` (-1: none) with ``repeats``.

    ``bucket_count`` fixes the length of the per-bucket arrays (default: highest id + 1).
    ``allow_oversubscription`` is SimpleTuner's ``allow_dataset_oversubscription``.
    """
    rule = BatchingRule(rule)
    bucket = np.asarray(image_bucket).reshape(-1)
    if bucket.dtype.kind not in "iu":
        bucket = bucket.astype(np.int64)
    n = len(bucket)
    repeats = _as_int_array(repeats, n, "repeats")
    if n and repeats.min() < 0:
        raise BatchingError(f"repeats must not be negative, got {int(repeats.min())}")
    if bucket_count is None:
        bucket_count = int(bucket.max()) + 1 if n else 0
    placed = bucket >= 0
    all_placed = bool(placed.all())
    passes = repeats + 1 if rule is BatchingRule.SIMPLETUNER else repeats
    # Small integer types where they fit: ten million images stay a few hundred MB in all.
    weight = (passes if all_placed else np.where(placed, passes, 0)).astype(np.int32, copy=False)
    ids = bucket if all_placed else np.where(placed, bucket, 0)
    images = np.bincount(ids, weights=placed if not all_placed else None, minlength=bucket_count).astype(np.int64)
    samples = np.bincount(ids, weights=weight, minlength=bucket_count).astype(np.int64)
    counts = _RULES[rule](samples, images, settings, allow_oversubscription)
    times_expected, low, high = _per_image(counts, ids, weight, samples)
    reason = np.zeros(n, dtype=np.int8)  # Reason.TRAINED
    reason[low < weight] = Reason.REMAINDER_DROPPED
    reason[(high == 0) & (weight > 0)] = Reason.BUCKET_TOO_SMALL
    if counts.refused:
        reason[weight > 0] = Reason.DATASET_REFUSED
        times_expected[:] = 0.0
        low = high = np.zeros(n, dtype=np.int32)
    reason[(repeats == 0) & placed] = Reason.ZERO_REPEATS
    reason[~placed] = Reason.NO_BUCKET
    steps, optimizer, padded_batches, estimate = counts.totals
    return EpochCounts(
        rule=rule,
        settings=settings,
        images=images,
        samples=samples,
        batches=counts.batches,
        trained=counts.kept + counts.padded,
        dropped=samples - counts.kept,
        padded=counts.padded,
        short=counts.short,
        times_expected=times_expected,
        times_min=low,
        times_max=high,
        reason=reason,
        steps_per_epoch=steps,
        optimizer_steps_per_epoch=optimizer,
        padded_batches=padded_batches,
        trainer_estimate=estimate,
        refused=counts.refused,
    )


@dataclass
class _Counts:
    """What a rule decides per bucket; the per-image columns follow from it."""

    batches: np.ndarray
    kept: np.ndarray  # samples of the bucket itself that are trained (expected where random)
    padded: np.ndarray  # samples added by repeating the bucket's own images
    short: np.ndarray
    remainder: np.ndarray  # samples left to chance (0 where deterministic)
    totals: tuple[int, int, int, int]  # steps, optimizer steps, padded batches, trainer's estimate
    refused: str = ""
    extra_per_sample: np.ndarray | None = None
    pads_with_one_image: bool = False  # SimpleTuner pads with one image (the bucket's last), not a cycle

    def __post_init__(self):
        if self.extra_per_sample is None:
            self.extra_per_sample = np.zeros(len(self.batches))


def _per_image(counts: _Counts, ids, weight, samples) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected, fewest and most times each image is trained in the epoch (0 for weight 0).

    A dropped remainder may take all of an image's samples or none of them. Padding cycles through
    the bucket's samples: ``q`` whole passes and ``r`` more, of which an image holding ``w`` of the
    ``S`` samples gets at least ``r - (S - w)`` and at most ``w``. Work is per bucket where it can
    be, then one gather per image.
    """
    trained = counts.kept + counts.padded
    share = np.divide(trained, samples, out=np.zeros(len(samples)), where=samples > 0) + counts.extra_per_sample
    expected = share.take(ids)
    expected *= weight
    left_out = counts.kept + counts.remainder < samples  # buckets not in the length at all
    if not (counts.remainder.any() or counts.padded.any() or left_out.any() or counts.extra_per_sample.any()):
        return expected, weight, weight  # every sample trained exactly once

    def per_image(values) -> np.ndarray:  # a per-bucket column gathered per image, as int32
        return np.asarray(values, dtype=np.int32).take(ids)

    # In place, int32: a handful of image-length temporaries, not dozens; skipped where a term is 0.
    if counts.remainder.any():
        low = np.subtract(weight, per_image(counts.remainder))
        np.maximum(low, 0, out=low)
        high = np.minimum(weight, per_image(samples - counts.remainder))
    else:
        low, high = weight.copy(), weight.copy()
    if counts.padded.any() and counts.pads_with_one_image:
        high += per_image(counts.padded)  # the padding may all be this image; or none of it
    elif counts.padded.any():
        passes, rest = np.divmod(counts.padded, np.maximum(samples, 1))
        if passes.any():
            extra = per_image(passes)
            extra *= weight
            low += extra
            high += extra
        high += np.minimum(weight, per_image(rest))
        cycled = per_image(rest - samples)
        cycled += weight
        np.maximum(cycled, 0, out=cycled)
        low += cycled
    if counts.extra_per_sample.any():
        high += weight > 0  # a batch owed from the next epoch may hold it again
    gone = weight == 0
    if left_out.any():
        gone |= left_out.take(ids)
    low[gone] = 0
    high[gone] = 0
    return expected, low, high


def _accelerate_totals(batches: int, settings: BatchSettings) -> tuple[int, int, int, int]:
    per_process = -(-batches // settings.processes)
    optimizer = -(-per_process // settings.grad_accum)
    return per_process, optimizer, per_process * settings.processes - batches, per_process


def _short_batches(samples, images, settings, _oversubscription) -> _Counts:
    size = settings.batch_size
    batches = -(-samples // size)
    zeros = np.zeros_like(samples)
    short = (samples % size > 0).astype(np.int64)
    return _Counts(batches, samples, zeros, short, zeros, _accelerate_totals(int(batches.sum()), settings))


def _padded_batches(samples, images, settings, _oversubscription) -> _Counts:
    size = settings.batch_size
    batches = -(-samples // size)
    padded = batches * size - samples
    zeros = np.zeros_like(samples)
    totals = _accelerate_totals(int(batches.sum()), settings)
    return _Counts(batches, samples, padded, zeros, zeros, totals)


def _dropped_groups(samples, group: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    batches = samples // group
    kept = batches * group
    return batches, kept, samples - kept


def _onetrainer(samples, images, settings, _oversubscription) -> _Counts:
    group = settings.batch_size * settings.processes
    batches, kept, remainder = _dropped_groups(samples, group)
    steps = int(batches.sum())
    estimate = int(samples.sum()) // group
    zeros = np.zeros_like(samples)
    # Updates run on (global_step + 1) % grad_accum == 0 over the whole run: this is the long-run rate.
    return _Counts(batches, kept, zeros, zeros, remainder, (steps, steps // settings.grad_accum, 0, estimate))


def _diffusion_pipe(samples, images, settings, _oversubscription) -> _Counts:
    group = settings.batch_size * settings.grad_accum * settings.processes
    batches, kept, remainder = _dropped_groups(samples, group)
    steps = int(batches.sum())
    zeros = np.zeros_like(samples)
    return _Counts(batches, kept, zeros, zeros, remainder, (steps * settings.grad_accum, steps, 0, steps))


def _simpletuner(samples, images, settings, oversubscription) -> _Counts:
    """SimpleTuner's epoch (:func:`aspectbucket.geometry.simpletuner_batches.simpletuner_epoch`), per bucket.

    Its repeats belong to a dataset: buckets are grouped by their images' repeats and each group is
    counted as one dataset (lengths add up, steps are ``ceil(length / accumulation)`` over them all);
    a bucket mixing repeats is an error.
    """
    zeros = np.zeros_like(samples)
    used = np.flatnonzero(images > 0)
    copies = samples[used] // images[used]
    if (copies * images[used] != samples[used]).any():
        raise BatchingError("SimpleTuner has one repeats value per dataset: a bucket mixes images of different repeats")
    batches, padded, kept = zeros.copy(), zeros.copy(), zeros.copy()
    length = 0
    for copy in np.unique(copies).tolist():
        rows = used[copies == copy]
        epoch = simpletuner_epoch(
            images[rows], settings.batch_size, settings.processes, settings.grad_accum, copy - 1, oversubscription
        )
        if epoch.refused:
            return _Counts(zeros, zeros, zeros, zeros, zeros, (0, 0, 0, 0), refused=epoch.refused)
        counted = (epoch.shares * copy >= settings.batch_size).any(axis=1)
        batches[rows] = epoch.batches
        padded[rows] = np.where(counted, epoch.duplicated * copy, 0)  # rank padding, oversubscription repeats
        kept[rows] = np.where(counted, samples[rows], 0)
        length += int(epoch.length_per_process[0]) if len(epoch.length_per_process) else 0
    # One group is simpletuner_epoch's own step count; several are taken as one sampler over all.
    totals = (length, -(-length // settings.grad_accum), 0, length)
    return _Counts(batches, kept, padded, zeros, zeros, totals, pads_with_one_image=True)


def _novelai(samples, images, settings, _oversubscription) -> _Counts:
    size, ranks = settings.batch_size, settings.processes
    total = int(samples.sum())
    steps = total // (size * ranks)
    # Each rank sees about samples / ranks of a bucket and trains its full batches of those.
    per_rank = samples / ranks
    full = np.floor(per_rank / size) * size * ranks
    kept = np.minimum(full, samples).astype(np.int64)
    batches = (kept // size).astype(np.int64)
    remainder = samples - kept
    delivered = steps * size * ranks
    # The steps a rank still owes after its full batches come from the next epoch's permutation.
    owed = max(delivered - int(kept.sum()), 0)
    extra = np.full(len(samples), owed / total if total else 0.0)
    zeros = np.zeros_like(samples)
    counts = _Counts(batches, kept, zeros, zeros, remainder, (steps, -(-steps // settings.grad_accum), 0, steps))
    counts.extra_per_sample = extra
    return counts


_RULES = {
    BatchingRule.KOHYA: _short_batches,
    BatchingRule.MUSUBI: _short_batches,
    BatchingRule.ONETRAINER: _onetrainer,
    BatchingRule.DIFFUSION_PIPE: _diffusion_pipe,
    BatchingRule.AI_TOOLKIT: _padded_batches,
    BatchingRule.SIMPLETUNER: _simpletuner,
    BatchingRule.NOVELAI: _novelai,
}


def bucket_minimum(rule: BatchingRule | str, settings: BatchSettings) -> int:
    """Fewest samples a bucket needs so that ``rule`` trains any of it (1 where nothing is dropped).

    OneTrainer needs one group of ``batch x processes``; diffusion-pipe one optimizer step,
    ``batch x accumulation x processes``; SimpleTuner ``batch x processes x accumulation`` or it
    refuses the dataset; NovelAI one batch on every rank.
    """
    rule = BatchingRule(rule)
    if rule in (BatchingRule.ONETRAINER, BatchingRule.NOVELAI):
        return settings.batch_size * settings.processes
    if rule in (BatchingRule.DIFFUSION_PIPE, BatchingRule.SIMPLETUNER):
        return settings.batch_size * settings.processes * settings.grad_accum
    return 1


def training_length(optimizer_steps_per_epoch: int, *, epochs: int | None = None, max_train_steps: int | None = None):
    """``(epochs, total optimizer steps, optimizer steps in the last epoch)`` for a run.

    sd-scripts and musubi-tuner (``train_network.py``/``trainer_base.py``): ``--max_train_epochs E``
    gives ``E x`` the per-epoch updates; ``--max_train_steps M`` gives ``ceil(M / per epoch)``
    epochs, the last one cut short. With neither, one epoch.
    """
    if epochs is not None and max_train_steps is not None:
        raise BatchingError("give either epochs or max train steps, not both")
    for name, value in (("epochs", epochs), ("max train steps", max_train_steps)):
        if value is not None and (isinstance(value, bool) or value < 1):
            raise BatchingError(f"{name} must be a positive whole number, got {value!r}")
    per_epoch = optimizer_steps_per_epoch
    if max_train_steps is not None:
        if per_epoch == 0:
            return 0, 0, 0
        count = -(-max_train_steps // per_epoch)
        return count, max_train_steps, max_train_steps - (count - 1) * per_epoch
    count = 1 if epochs is None else epochs
    return count, count * per_epoch, per_epoch


def onetrainer_updates(steps_per_epoch: list[int], grad_accum: int) -> list[int]:
    """OneTrainer's optimizer updates in each epoch: it steps on ``(global_step + 1) % grad_accum == 0``
    with ``global_step`` running across epochs, so an epoch's leftover micro-steps carry over."""
    ends = np.cumsum(np.asarray(steps_per_epoch, dtype=np.int64))
    starts = ends - np.asarray(steps_per_epoch, dtype=np.int64)
    return (ends // grad_accum - starts // grad_accum).tolist()


def bucket_epoch(
    images, samples, rule: BatchingRule | str, settings: BatchSettings, *, allow_oversubscription: bool = False
) -> tuple[np.ndarray, int, int, str]:
    """``(batches per bucket, steps per epoch, optimizer steps per epoch, refusal)`` of ``rule`` for buckets
    holding ``images`` distinct images and ``samples`` samples: what :func:`count_epoch` decides
    before any per-image column, for tables too large to hold a row per image (a split's manifest)."""
    images, samples = np.asarray(images, np.int64), np.asarray(samples, np.int64)
    counts = _RULES[BatchingRule(rule)](samples, images, settings, allow_oversubscription)
    return counts.batches, counts.totals[0], counts.totals[1], counts.refused
