"""Several target resolutions: OneTrainer (mgds) draws one per image, then buckets at that resolution.

mgds seeds a Python ``random.Random`` per item with ``hash((seed, module_index, variation, index))``
and takes ``choice`` over the resolutions in the order the user wrote them
(Nerogar/mgds@3a6994ad ``src/mgds/PipelineModule.py:PipelineModule._get_rand``,
``src/mgds/pipelineModules/AspectBucketing.py:AspectBucketing.get_item``). The hash of a tuple of
ints is the same in every CPython since 3.8 on 64-bit machines, so the draw is reproducible.
``variation`` is the epoch without latent caching; with it, every epoch reads the cached first draw.
"""

from __future__ import annotations

from dataclasses import dataclass
from random import Random

import numpy as np

from aspectbucket.geometry.buckets import onetrainer_list
from aspectbucket.geometry.nearest import Metric, TieBreak, nearest_bucket
from aspectbucket.geometry.options import BucketOptions

#: mgds' default seed; OneTrainer does not pass another (modules/dataLoader/mixin/DataLoaderMgdsMixin.py).
MGDS_SEED = 42
#: The position of ``AspectBucketing`` in OneTrainer's image pipelines (its index seeds the draw).
ONETRAINER_ASPECT_MODULE_INDEX = 13


def mgds_target_draws(
    rows: np.ndarray,
    targets: tuple[int, ...],
    variation: int = 0,
    seed: int = MGDS_SEED,
    module_index: int = ONETRAINER_ASPECT_MODULE_INDEX,
) -> np.ndarray:
    """The target resolution mgds draws for each dataset item ``rows[i]`` in one variation."""
    if len(targets) == 1:
        return np.full(len(rows), targets[0], dtype=np.int64)
    return np.array(
        [Random(hash((seed, module_index, variation, int(row)))).choice(targets) for row in rows], dtype=np.int64
    )


def onetrainer_epoch_targets(
    count: int, targets: tuple[int, ...], epoch: int, latent_caching: bool = True
) -> np.ndarray:
    """Which resolution each of ``count`` images trains at in ``epoch`` (0-based).

    With latent caching (OneTrainer's default) the first draw is cached and reused every epoch;
    without it, each epoch draws again.
    """
    return mgds_target_draws(np.arange(count), targets, 0 if latent_caching else epoch)


@dataclass(frozen=True)
class TargetDraw:
    """A per-image target draw as a trainer configures it: the sides in the user's order and whether the
    draw is made once (latent caching reads the first draw back every epoch) or again each epoch.

    Reports use it to show which resolution each image trains at, and how often that changes.
    """

    targets: tuple[int, ...]
    latent_caching: bool = True

    def draws(self, count: int, epoch: int = 0) -> np.ndarray:
        """The side each of ``count`` dataset items trains at in ``epoch`` (0-based)."""
        return onetrainer_epoch_targets(count, self.targets, epoch, self.latent_caching)

    def schedule(self) -> str:
        """When the draw happens, in words (the placement always shows the first epoch's draw)."""
        if self.latent_caching:
            return "drawn once: latent caching reuses the first draw every epoch"
        return "drawn again every epoch, latent caching being off; the first epoch's draw is shown"


def onetrainer_several_resolutions(widths, heights, rows, options: BucketOptions, targets: tuple[int, ...]):
    """The bucket of each image at its drawn target: mgds' list at that target, nearest by ``h/w``.

    ``options.bucket_reso_steps`` is the quantization. The draw is the first epoch's (``variation`` 0).
    """
    widths = np.asarray(widths, dtype=np.int64)
    heights = np.asarray(heights, dtype=np.int64)
    drawn = mgds_target_draws(rows, targets)
    bucket_w = np.zeros(len(widths), dtype=np.int64)
    bucket_h = np.zeros(len(widths), dtype=np.int64)
    for target in np.unique(drawn):
        chosen = np.flatnonzero(drawn == target)
        target_options = BucketOptions(
            resolution=(int(target), int(target)), bucket_reso_steps=options.bucket_reso_steps
        )
        buckets = onetrainer_list(target_options)
        index = nearest_bucket(buckets, widths[chosen], heights[chosen], Metric.HEIGHT_OVER_WIDTH, TieBreak.FIRST)
        bucket_w[chosen], bucket_h[chosen] = buckets[index, 0], buckets[index, 1]
    return bucket_w, bucket_h, np.zeros(len(widths), dtype=np.int8)
