"""PyTorch: a batch sampler and a dataset that train bucketed batches correctly on one GPU or many.

:class:`BucketBatchSampler` goes into a ``DataLoader`` as ``batch_sampler``. Each batch it yields is
a list of :class:`Draw`: which image, the bucket it is cropped to (the image's own one, or under the
``merge`` policy the bucket its batch was merged into) and where the draw sits in the epoch, which
seeds the random crop and flip so they are the same whichever worker loads the image.
:class:`BucketDataset` turns a draw into the pixels the trainer trains on, with the SDXL size
conditioning. All batching decisions are made by :func:`aspectbucket.geometry.epoch.build_epoch`.

This is the only module that imports torch (extra ``torch``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from enum import StrEnum
from functools import partial
from itertools import repeat
from pathlib import Path
from typing import NamedTuple

import numpy as np

try:
    import torch
    import torch.distributed
    from torch.utils.data import Dataset, Sampler
except ImportError as error:  # the one optional backend of this module: fail loudly with the fix
    raise ImportError(
        "aspectbucket.torch needs PyTorch, which is not installed: pip install 'aspectbucket[torch]'"
    ) from error

from aspectbucket.export.pixels import open_image, source_box, train_pixels
from aspectbucket.geometry.batches import BatchPolicy, global_batch_size, steps_per_epoch
from aspectbucket.geometry.choices import parse_choice
from aspectbucket.geometry.epoch import (
    TRAINER_EPOCHS,
    Epoch,
    bucket_ids,
    build_epoch,
    build_simpletuner_epoch,
    rank_rows,
    simpletuner_buckets,
    trainer_epoch,
)
from aspectbucket.geometry.placement import Placement, PlacementError, anchored_trim
from aspectbucket.geometry.resize import CoverRounding, cover_resize_rounded, random_trim
from aspectbucket.geometry.simpletuner_batches import simpletuner_epoch
from aspectbucket.profiles.batching import batching_rule
from aspectbucket.profiles.profile import ExifHandling

__all__ = ["BucketBatchSampler", "BucketDataset", "Draw", "PixelFormat"]


class Draw(NamedTuple):
    """One sample of a batch: image ``image`` cropped to ``width`` x ``height``.

    ``epoch`` and ``slot`` (the sample's place in that epoch) make every draw distinct, so repeats
    of an image get different random crops, and the same draw always gets the same one.
    """

    image: int
    width: int
    height: int
    epoch: int
    slot: int


#: ``Draw`` from a ready tuple without a Python-level ``__new__`` call: a fifth of iteration time.
_new_draw = partial(tuple.__new__, Draw)


class BucketBatchSampler(Sampler[list[Draw]]):
    """Batches of one bucket each, shuffled by ``seed`` and epoch, in lock-step over processes.

    ``bucket_width``/``bucket_height`` give each image's bucket (0 for images not to train, such as
    placement failures), ``repeats`` how often each image is seen per epoch. ``policy`` is a
    trainer (``kohya``, ``musubi-tuner``, ``onetrainer``, ``ai-toolkit``, ``diffusion-pipe``,
    ``simpletuner``: each bucket split between the processes first, refusing as SimpleTuner does), whose
    epochs then have that trainer's counts (:data:`~aspectbucket.geometry.epoch.TRAINER_EPOCHS`), or a
    generic :class:`~aspectbucket.geometry.batches.BatchPolicy` for a bucket's incomplete last batch.

    With ``num_replicas`` processes (read from ``torch.distributed`` when it is initialised) a
    generic policy, ``onetrainer`` and ``diffusion-pipe`` make every step take one bucket's global
    batch of ``batch_size * num_replicas`` samples and give each process its slice (diffusion-pipe:
    ``grad_accum`` micro-batches of it), so all processes see the same shape at every step;
    ``kohya``, ``musubi-tuner`` and ``ai-toolkit`` deal whole batches to the processes in turn and
    fill the last round from the epoch's start, as accelerate does (processes may then train
    different shapes at one step). All processes run ``len(self)`` steps, and every process must use
    the same arguments and seed.
    """

    def __init__(
        self,
        bucket_width,
        bucket_height,
        batch_size: int,
        *,
        repeats=1,
        policy: BatchPolicy | str = BatchPolicy.SHORT,
        shuffle: bool = True,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        grad_accum: int = 1,
    ) -> None:
        super().__init__()
        if num_replicas is None:
            num_replicas = _distributed_world()[0]
        if rank is None:
            rank = _distributed_world()[1] if num_replicas > 1 else 0
        global_batch_size(batch_size, num_replicas)
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is outside 0..{num_replicas - 1}")
        if seed < 0:
            raise ValueError(f"seed {seed} must not be negative")
        self.image_bucket, self.bucket_shapes = bucket_ids(bucket_width, bucket_height)
        self.repeats = np.broadcast_to(np.asarray(repeats, dtype=np.int64), self.image_bucket.shape).copy()
        if (self.repeats < 0).any():
            raise ValueError("repeats must not be negative")
        if grad_accum < 1:
            raise ValueError(f"gradient accumulation {grad_accum} must be positive")
        self.batch_size = batch_size
        self.policy_name, self.trainer = trainer_epoch(policy)
        self.policy = self.trainer.policy
        self.grad_accum = grad_accum
        self.shuffle = shuffle
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self._step = 0  # batches of the current epoch handed out (or restored by load_state_dict)
        self._built: tuple[int, Epoch] | None = None
        trained = self.image_bucket >= 0
        self.bucket_counts = np.bincount(
            self.image_bucket[trained], weights=self.repeats[trained], minlength=len(self.bucket_shapes)
        ).astype(np.int64)
        self._simpletuner_steps = self._split_steps() if self.trainer.split else 0

    def _split_steps(self) -> int:
        """SimpleTuner's batches per process per epoch; its refusal ("zero usable batches") or a bucket
        mixing repeats is a ``ValueError``, as the trainer stops before training."""
        _, images, passes = simpletuner_buckets(self.image_bucket, self.repeats)
        length = 0
        for copies in np.unique(passes).tolist():
            epoch = simpletuner_epoch(
                images[passes == copies], self.batch_size, self.num_replicas, self.grad_accum, copies - 1
            )
            if epoch.refused:
                raise ValueError(epoch.refused)
            length += int(epoch.length_per_process[0]) if len(epoch.length_per_process) else 0
        return length

    @classmethod
    def from_placement(cls, placement: Placement, batch_size: int, **options) -> BucketBatchSampler:
        """A sampler over the placed images of ``placement`` (failed rows are not trained)."""
        return cls(placement.bucket_width, placement.bucket_height, batch_size, **options)

    @classmethod
    def from_plan(cls, plan, batch_size: int, **options) -> BucketBatchSampler:
        """A sampler over a :class:`~aspectbucket.plan.DatasetPlan`: its repeats, without its errors,
        with the trainer's own epochs where the sampler has them (else the profile's incomplete-batch
        policy) unless ``policy`` is given. Images of all dataset blocks share buckets of the same
        shape (sd-scripts keeps its ``[[datasets]]`` blocks apart)."""
        rule = batching_rule(plan.profile)
        options.setdefault("policy", rule.value if rule in TRAINER_EPOCHS else plan.profile.batch_policy)
        trained = np.array([reason == "" for reason in plan.errors], dtype=bool)
        width = np.where(trained, plan.placement.bucket_width, 0)
        height = np.where(trained, plan.placement.bucket_height, 0)
        return cls(width, height, batch_size, repeats=plan.scan.repeats, **options)

    @property
    def _group(self) -> tuple[int, int]:
        """``(batch size, processes)`` of the batches :func:`build_epoch` makes for this policy."""
        accumulated = self.batch_size * (self.grad_accum if self.trainer.accumulate else 1)
        return accumulated, self.num_replicas if self.trainer.lockstep else 1

    def __len__(self) -> int:
        """Batches per epoch, the same on every process (that trainer's ledger count)."""
        if self.trainer.split:
            return self._simpletuner_steps
        size, replicas = self._group
        batches = steps_per_epoch(self.bucket_counts, size, self.policy, replicas)
        if self.trainer.accumulate:
            return batches * self.grad_accum
        return batches if self.trainer.lockstep else -(-batches // self.num_replicas)

    def set_epoch(self, epoch: int) -> None:
        """Shuffle for ``epoch`` from now on (call it before each epoch, as with ``DistributedSampler``)."""
        if epoch < 0:
            raise ValueError(f"epoch {epoch} must not be negative")
        if epoch != self.epoch:
            self.epoch, self._step = epoch, 0

    def epoch_batches(self) -> Epoch:
        """All processes' batches of the current epoch, as arrays (built once per epoch)."""
        if self._built is None or self._built[0] != self.epoch:
            size, replicas = self._group
            build = build_simpletuner_epoch if self.trainer.split else partial(build_epoch, policy=self.policy)
            epoch = build(
                self.image_bucket,
                self.repeats,
                self.bucket_shapes,
                size,
                seed=self.seed,
                epoch=self.epoch,
                shuffle=self.shuffle,
                num_replicas=replicas,
            )
            self._built = (self.epoch, epoch)
        return self._built[1]

    def __iter__(self) -> Iterator[list[Draw]]:
        """This process's batches, from where the epoch stopped (a finished epoch starts over).

        Steps are resolved a chunk at a time with array operations. ``Draw`` tuples are made for a
        few steps at once (about :data:`_GROUP_SAMPLES` samples), in one ``map`` over the columns:
        one ``map`` per step cost more than bucketsampler's whole loop, and one per chunk keeps
        100,000 tuples alive long enough for the garbage collector to promote and rescan them (4x
        slower).
        """
        batches = self.epoch_batches()
        total = len(self)
        if self._step >= total:
            self._step = 0
        epoch = self.epoch
        group = max(1, _GROUP_SAMPLES // max(1, self.batch_size))
        for first in range(self._step, total, _CHUNK_STEPS):
            last = min(first + _CHUNK_STEPS, total)
            start, length, bucket = rank_rows(
                batches, self.trainer, self.rank, first, last, self.num_replicas, self.grad_accum
            )
            ends = np.cumsum(length)
            slots = np.repeat(start - (ends - length), length) + np.arange(int(ends[-1]) if len(ends) else 0)
            shapes = self.bucket_shapes[np.repeat(bucket, length)]
            images, slot_list = batches.samples[slots].tolist(), slots.tolist()
            widths, heights = shapes[:, 0].tolist(), shapes[:, 1].tolist()
            counts, position = length.tolist(), 0
            for group_first in range(0, len(counts), group):
                group_counts = counts[group_first : group_first + group]
                end = position + sum(group_counts)
                columns = (column[position:end] for column in (images, widths, heights))
                draws = list(map(_new_draw, zip(*columns, repeat(epoch), slot_list[position:end])))
                offset = 0
                for step, count in enumerate(group_counts, start=first + group_first):
                    self._step = step + 1
                    yield draws[offset : offset + count]
                    offset += count
                position = end

    def state_dict(self) -> dict:
        """Where this epoch stands, to resume mid-epoch with :meth:`load_state_dict`.

        ``step`` counts batches this sampler handed out. A ``DataLoader`` with workers asks for up to
        ``num_workers * prefetch_factor`` batches ahead of training: store the number of batches your
        loop finished as ``state["step"]`` before saving.
        """
        return {
            "epoch": self.epoch,
            "step": self._step,
            "seed": self.seed,
            "shuffle": self.shuffle,
            "policy": self.policy_name,
            "grad_accum": self.grad_accum,
            "batch_size": self.batch_size,
            "num_replicas": self.num_replicas,
            "samples": int(self.bucket_counts.sum()),
            "steps": len(self),
        }

    def load_state_dict(self, state: dict) -> None:
        """Resume at ``state``: the next iteration yields the rest of that epoch, batch for batch.

        Raises ``ValueError`` when the state was saved with other settings or another dataset, which
        would silently give other batches.
        """
        mine = self.state_dict()
        changed = [key for key in mine if key not in ("epoch", "step") and state.get(key) != mine[key]]
        if changed:
            saved = ", ".join(f"{key} {state.get(key)!r} (now {mine[key]!r})" for key in changed)
            raise ValueError(f"sampler state was saved with other settings or data: {saved}")
        if not 0 <= state["step"] <= len(self):
            raise ValueError(f"step {state['step']} is outside 0..{len(self)}")
        self.epoch = int(state["epoch"])
        self._step = int(state["step"])


#: Steps resolved per vectorised call while iterating (bounds the memory of one chunk).
_CHUNK_STEPS = 1 << 14
# Samples whose Draw tuples __iter__ makes at once: few enough to die young (CPython's first
# garbage-collector generation holds 700 objects), many enough to share one map's overhead.
_GROUP_SAMPLES = 512


def _distributed_world() -> tuple[int, int]:
    """``(world size, rank)`` of the initialised default process group, else ``(1, 0)``."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size(), torch.distributed.get_rank()
    return 1, 0


class PixelFormat(StrEnum):
    """How :class:`BucketDataset` returns pixels: CHW float32 in [-1, 1] (what SD VAEs take), or uint8."""

    FLOAT = "float"
    UINT8 = "uint8"


class BucketDataset(Dataset):
    """Map-style dataset: the pixels each image is trained on, with its SDXL size conditioning.

    Index it with a :class:`Draw` from :class:`BucketBatchSampler` (or a plain image index for the
    image's own bucket). It opens the image (upright when ``apply_exif``), resizes it to cover the
    draw's bucket and keeps the bucket-sized window (:func:`aspectbucket.export.train_pixels`),
    centred, or at a random offset with ``random_crop``; with probability ``flip_probability`` it
    mirrors the window left to right. Each item is a dict of

    - ``pixels``: ``(3, height, width)`` RGB (alpha dropped, as sd-scripts does), float32 in [-1, 1]
      or uint8 per ``pixel_format``;
    - ``original_size``: ``(height, width)`` of the image, int64;
    - ``crop_top_left``: ``(top, left)`` of the kept window in the resized image: the REAL offset,
      not sd-scripts' letterbox (issue 1443). When the window is flipped, ``left`` is measured in
      the flipped image, ``resized_width - bucket_width - left``, as SDXL trainers that flip report it;
    - ``target_size``: ``(height, width)`` of the bucket, int64;
    - ``image``: the image index.

    Random choices come from a generator seeded by ``(seed, epoch, slot)`` of the draw, so they do
    not depend on which worker loads it. ``placement`` must have been made from the sizes the
    images have when opened this way (stored or upright): a mismatch raises ``ValueError``.
    """

    def __init__(
        self,
        paths: Sequence[str | Path],
        placement: Placement,
        *,
        random_crop: bool = False,
        flip_probability: float = 0.0,
        seed: int = 0,
        pixel_format: PixelFormat | str = PixelFormat.FLOAT,
        apply_exif: bool = True,
        cover_rounding: CoverRounding | str = CoverRounding.HALF_UP,
    ) -> None:
        if len(paths) != len(placement):
            raise ValueError(f"{len(paths)} paths but {len(placement)} placed images")
        if not 0.0 <= flip_probability <= 1.0:
            raise ValueError(f"flip probability {flip_probability} is outside [0, 1]")
        self.pixel_format = parse_choice(PixelFormat, pixel_format, "pixel format")
        self.paths = [Path(path) for path in paths]
        self.placement = placement
        self.random_crop = random_crop
        self.flip_probability = flip_probability
        self.seed = seed
        self.apply_exif = apply_exif
        self.cover_rounding = parse_choice(CoverRounding, cover_rounding, "cover rounding")

    @classmethod
    def from_plan(cls, plan, **options) -> BucketDataset:
        """The dataset of a :class:`~aspectbucket.plan.DatasetPlan`: EXIF as the plan measured it,
        merged draws resized with the profile's rounding, the window random where the trainer's is."""
        options.setdefault("apply_exif", plan.respect_exif or plan.profile.exif is ExifHandling.APPLY)
        options.setdefault("random_crop", plan.profile.random_crop)
        options.setdefault("cover_rounding", plan.profile.resize_rounding)
        return cls(plan.scan.paths, plan.placement, **options)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: Draw | int) -> dict:
        draw = Draw(*index) if isinstance(index, tuple) else self._own_draw(int(index))
        image_index = draw.image
        width, height = int(self.placement.width[image_index]), int(self.placement.height[image_index])
        resized, trim = self._resize_and_trim(image_index, draw.width, draw.height)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, draw.epoch, draw.slot]))
        bucket = (draw.width, draw.height)
        if self.random_crop:
            trim = random_trim(resized, bucket, rng)
        flip = self.flip_probability > 0 and rng.random() < self.flip_probability
        path = self.paths[image_index]
        image = open_image(path, apply_exif=self.apply_exif, draft=resized)
        left_edge, top_edge, right_edge, bottom_edge = source_box(image)
        extent_w, extent_h = right_edge - left_edge, bottom_edge - top_edge
        if abs(extent_w * height - extent_h * width) > 0.01 * extent_h * width:
            raise ValueError(
                f"{path}: opens as {extent_w:.0f}x{extent_h:.0f} but was placed as {width}x{height} "
                "(changed since the scan, or EXIF orientation handled differently)"
            )
        window = train_pixels(image, resized, bucket, trim, flip=flip).convert("RGB")
        pixels = torch.from_numpy(np.asarray(window).copy()).permute(2, 0, 1).contiguous()
        if self.pixel_format is PixelFormat.FLOAT:
            pixels = pixels.to(torch.float32).div_(127.5).sub_(1.0)
        left, top = trim
        reported_left = resized[0] - draw.width - left if flip else left
        return {
            "pixels": pixels,
            "original_size": torch.tensor([height, width], dtype=torch.int64),
            "crop_top_left": torch.tensor([top, reported_left], dtype=torch.int64),
            "target_size": torch.tensor([draw.height, draw.width], dtype=torch.int64),
            "image": image_index,
        }

    def _own_draw(self, image_index: int) -> Draw:
        if not 0 <= image_index < len(self):
            raise IndexError(f"image {image_index} is outside 0..{len(self) - 1}")
        width = int(self.placement.bucket_width[image_index])
        height = int(self.placement.bucket_height[image_index])
        if width <= 0 or height <= 0:
            reason = PlacementError(int(self.placement.error[image_index])).reason
            raise ValueError(f"{self.paths[image_index]} has no bucket: {reason}")
        return Draw(image_index, width, height, epoch=0, slot=image_index)

    def _resize_and_trim(self, image_index: int, width: int, height: int):
        """Resized size and trim for ``image_index`` in a ``width`` x ``height`` bucket: the placement's
        own when it is the image's bucket, else (a merged draw) the cover resize with ``cover_rounding``
        and the placement's crop anchor."""
        placement = self.placement
        own = (int(placement.bucket_width[image_index]), int(placement.bucket_height[image_index]))
        if (width, height) == own:
            resized = (int(placement.resized_width[image_index]), int(placement.resized_height[image_index]))
            return resized, (int(placement.trim_left[image_index]), int(placement.trim_top[image_index]))
        resized_w, resized_h = cover_resize_rounded(
            placement.width[image_index : image_index + 1],
            placement.height[image_index : image_index + 1],
            np.array([width]),
            np.array([height]),
            self.cover_rounding,
        )
        resized = (int(resized_w[0]), int(resized_h[0]))
        anchor = placement.anchor
        return resized, (int(anchored_trim(resized[0], width, anchor)), int(anchored_trim(resized[1], height, anchor)))
