"""SimpleTuner's epoch: how its buckets are split between processes, padded, and counted as batches.

SimpleTuner 4.10.1 ``simpletuner/helpers/metadata/backends/base.py:MetadataBackend.split_buckets_between_processes``
(``apply_padding=True``, as the trainer calls it), ``discovery.py:DiscoveryMetadataBackend.__len__`` and the
step count of ``simpletuner/helpers/training/trainer.py`` (``ceil(len / gradient_accumulation_steps)``):

- the effective batch is ``train_batch_size x processes x gradient_accumulation_steps``;
- a bucket with fewer samples (``images x (repeats + 1)``) than that refuses the whole dataset ("Dataset
  configuration will produce zero usable batches"), unless ``--allow_dataset_oversubscription`` is on and
  the dataset sets no ``repeats``: then the bucket is repeated ``ceil(effective / images) - 1`` times and
  scheduled to a multiple of the effective batch, split evenly between processes;
- any other bucket is split between processes, the first ``images % processes`` getting one more, and
  every process padded (with the bucket's last image) to the largest share;
- a process counts ``ceil(share x (repeats + 1) / batch)`` batches per bucket whose share reaches one batch.

Pure arithmetic on bucket sizes; checked against the reference run's 72 batching combinations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SimpleTunerEpoch:
    """One epoch's batches per bucket (summed over processes), the padding, and the trainer's step count.

    ``refused`` is the trainer's reason when it stops instead (the other fields are then empty or zero).
    ``shares`` is ``(buckets, processes)``: the samples each process holds per bucket, padding included.
    """

    refused: str | None
    shares: np.ndarray
    batches: np.ndarray
    duplicated: np.ndarray
    length_per_process: np.ndarray
    steps_per_epoch: int


def simpletuner_epoch(
    images,
    batch_size: int,
    processes: int = 1,
    gradient_accumulation_steps: int = 1,
    repeats: int = 0,
    allow_dataset_oversubscription: bool = False,
) -> SimpleTunerEpoch:
    """The epoch SimpleTuner builds from ``images`` per bucket (their counts, in bucket order).

    >>> epoch = simpletuner_epoch([21, 166], batch_size=4, processes=2)
    >>> epoch.batches.tolist(), epoch.duplicated.tolist(), epoch.steps_per_epoch
    ([6, 42], [1, 0], 24)
    >>> simpletuner_epoch([1, 166], batch_size=4).refused
    'Dataset configuration will produce zero usable batches: 1 bucket(s) hold fewer than 4 samples'
    """
    images = np.asarray(images, dtype=np.int64)
    images = images[images > 0]
    effective = batch_size * processes * gradient_accumulation_steps
    copies = repeats + 1
    short = images * copies < effective
    if short.any() and not (allow_dataset_oversubscription and repeats == 0):
        empty = np.zeros(0, dtype=np.int64)
        reason = (
            "Dataset configuration will produce zero usable batches: "
            f"{int(short.sum())} bucket(s) hold fewer than {effective} samples"
        )
        return SimpleTunerEpoch(reason, np.zeros((0, processes), dtype=np.int64), empty, empty, empty, 0)
    # Undersized buckets repeated to a multiple of the effective batch, split evenly.
    needed = -(-effective // np.maximum(images, 1)) - 1
    scheduled = -(-(images * (needed + 1)) // effective) * effective
    oversubscribed = np.repeat((scheduled // processes)[:, None], processes, axis=1)
    # Other buckets: an even split, every process padded to the largest share.
    per_process, extra = np.divmod(images, processes)
    padded = np.repeat((per_process + (extra > 0))[:, None], processes, axis=1)
    shares = np.where(short[:, None], oversubscribed, padded)
    samples = shares * copies
    counted = samples >= batch_size
    batches_per_process = np.where(counted, -(-samples // batch_size), 0)
    length = batches_per_process.sum(axis=0)
    steps = -(-int(length[0]) // gradient_accumulation_steps) if len(length) else 0
    duplicated = shares.sum(axis=1) - images
    return SimpleTunerEpoch(None, shares, batches_per_process.sum(axis=1), duplicated, length, steps)
