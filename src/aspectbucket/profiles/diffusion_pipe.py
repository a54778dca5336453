"""The ``diffusion-pipe`` profile: tdrussell/diffusion-pipe, ratio buckets per resolution and ``ImageOps.fit``.

Reproduces tdrussell/diffusion-pipe@8f83dbf2 ``utils/dataset.py:DirectoryDataset._find_closest_ar_bucket``
and ``ARBucketDataset.cache_latents`` (the rule is in :mod:`aspectbucket.geometry.diffusion_pipe`). The
profile's options: ``resolution`` is one entry of ``resolutions`` (``W,H`` means ``sqrt(W*H)``, as the trainer
reads ``[W, H]``) and ``bucket_reso_steps`` the model's ``pixels_round_to_multiple`` (16 for most models, 32
for HunyuanImage and LTX-Video). A dataset with several ``resolutions`` is placed at each
(:func:`aspectbucket.profiles.per_resolution.place_per_resolution`): the trainer trains every image at every
one. The default ratios are the example ``dataset.toml``'s (``enable_ar_bucket = true``, ``min_ar = 0.5``,
``max_ar = 2.0``, ``num_ar_buckets = 7``); with the switch off the trainer has only 1:1.
:func:`diffusion_pipe_profile` takes the other settings under the trainer's names. The placement's resized
size is the cover resize rounded half up; the trainer resizes a float box of the source straight to the
bucket (:func:`aspectbucket.geometry.diffusion_pipe.fit_crop_box`). EXIF orientation is not applied.
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import partial

import numpy as np

from aspectbucket.geometry.batches import BatchPolicy
from aspectbucket.geometry.diffusion_pipe import (
    bucket_sizes,
    listed_ratio_buckets,
    nearest_ratio,
    ratio_buckets,
    resolution_sides,
    size_bucket_choice,
)
from aspectbucket.geometry.options import BucketOptions, OptionsError
from aspectbucket.geometry.placement import PlacementError
from aspectbucket.profiles.profile import ExifHandling, Profile, SdxlCoordinates
from aspectbucket.profiles.validation import check_positive, drop_no_upscale

SOURCE = (
    "tdrussell/diffusion-pipe@8f83dbf2 utils/dataset.py:DirectoryDataset._find_closest_ar_bucket, "
    "utils/dataset.py:ARBucketDataset.cache_latents, models/base.py:PreprocessMediaFile.__call__"
)

#: The example dataset.toml's ratio settings, used when none are given.
EXAMPLE_RATIOS = tuple(ratio_buckets(0.5, 2.0, 7).tolist())


def validate_diffusion_pipe(options: BucketOptions) -> tuple[BucketOptions, list[str]]:
    """A positive resolution and rounding multiple; there is no no-upscale switch."""
    check_positive(options, "diffusion-pipe")
    warnings: list[str] = []
    return drop_no_upscale(options, "diffusion-pipe", warnings), warnings


def diffusion_pipe_rule(widths, heights, options: BucketOptions, ratios=EXAMPLE_RATIOS, size_buckets=None):
    """The profile's per-image rule at one resolution: ``(bucket_w, bucket_h, errors)``."""
    count = len(np.asarray(widths))
    if size_buckets is not None:
        bucket_w, bucket_h, found = size_bucket_choice(widths, heights, size_buckets)
        errors = np.where(found, np.int8(PlacementError.OK), np.int8(PlacementError.NO_BUCKET))
        return bucket_w, bucket_h, errors
    (side,) = resolution_sides([options.resolution])
    ratios = np.asarray(ratios, dtype=np.float64)
    chosen = ratios[nearest_ratio(widths, heights, ratios)]
    bucket_w, bucket_h = bucket_sizes(chosen, side, options.bucket_reso_steps)
    return bucket_w, bucket_h, np.zeros(count, dtype=np.int8)


DIFFUSION_PIPE = Profile(
    name="diffusion-pipe",
    trainer="tdrussell diffusion-pipe",
    source=SOURCE,
    bucket_list=None,
    per_image=diffusion_pipe_rule,
    random_crop=False,
    sdxl_coordinates=SdxlCoordinates.REAL,
    batch_policy=BatchPolicy.DROP,
    exif=ExifHandling.IGNORE,
    defaults=BucketOptions(resolution=(512, 512), bucket_reso_steps=16),
    validate=validate_diffusion_pipe,
    option_names=(("resolutions", "resolution"), ("pixels_round_to_multiple", "bucket_reso_steps")),
    defects="EXIF orientation is ignored, so phone photos train sideways; every image is trained at every "
    "resolution; small images are enlarged; each bucket is cut to a multiple of the global batch and the rest "
    "dropped every epoch; with size_buckets the chosen size can have the other orientation (its sorted ratios "
    "index the unsorted list)",
)


def diffusion_pipe_profile(
    enable_ar_bucket: bool = True,
    min_ar: float = 0.5,
    max_ar: float = 2.0,
    num_ar_buckets: int = 7,
    ar_buckets=None,
    size_buckets=None,
) -> Profile:
    """The profile for a dataset.toml with these settings (the trainer's names; ``resolutions`` are the options').

    Raises :class:`~aspectbucket.geometry.options.OptionsError` naming the setting for values the trainer
    cannot use.
    """
    if size_buckets is not None:
        if not size_buckets or any(len(bucket) != 3 or min(bucket) <= 0 for bucket in size_buckets):
            raise OptionsError(f"diffusion-pipe: size_buckets {size_buckets!r} must be [width, height, frames] triples")
        return replace(
            DIFFUSION_PIPE, per_image=partial(diffusion_pipe_rule, size_buckets=tuple(map(tuple, size_buckets)))
        )
    if not enable_ar_bucket:
        ratios = np.array([1.0])
    elif ar_buckets:
        if any(_bad_ratio(ar) for ar in ar_buckets):
            raise OptionsError(f"diffusion-pipe: ar_buckets {ar_buckets!r} must be positive ratios or [w, h] pairs")
        ratios = listed_ratio_buckets(ar_buckets)
    else:
        if not (0 < min_ar <= max_ar) or int(num_ar_buckets) != num_ar_buckets or num_ar_buckets < 1:
            raise OptionsError(
                f"diffusion-pipe: min_ar {min_ar}, max_ar {max_ar}, num_ar_buckets {num_ar_buckets}: "
                "need 0 < min_ar <= max_ar and a whole num_ar_buckets of at least 1"
            )
        ratios = ratio_buckets(min_ar, max_ar, int(num_ar_buckets))
    return replace(DIFFUSION_PIPE, per_image=partial(diffusion_pipe_rule, ratios=tuple(ratios.tolist())))


def _bad_ratio(ar) -> bool:
    if isinstance(ar, list | tuple):
        return len(ar) != 2 or min(ar) <= 0
    return not (isinstance(ar, int | float) and math.isfinite(ar) and ar > 0)


def resolution_entries(resolutions) -> list[tuple]:
    """``resolutions`` as the options' ``(W, H)`` sizes, in the trainer's order (by side, duplicates dropped).

    Place a dataset with :func:`~aspectbucket.profiles.per_resolution.place_per_resolution` over these.
    """
    by_side = {}
    for entry in resolutions:
        pair = tuple(entry) if isinstance(entry, list | tuple) else (entry, entry)
        by_side.setdefault(resolution_sides([pair])[0], pair)
    return [by_side[side] for side in sorted(by_side)]
