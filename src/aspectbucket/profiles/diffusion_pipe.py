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
from aspectbucket.profiles.settings import Kind, Setting, SettingsError
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


def configure_diffusion_pipe(profile: Profile, values: dict, options: BucketOptions):
    """One entry of ``resolutions`` sets the options' resolution; the ratio settings choose the variant."""
    if values["resolutions"] is not None:
        entries = resolution_entries(list(values["resolutions"]))
        if len(entries) > 1:
            raise SettingsError(
                f"diffusion-pipe: resolutions={list(values['resolutions'])!r} has several entries; give one per run "
                "(the trainer trains every image at each; in Python, place_per_resolution places them all)"
            )
        options = replace(options, resolution=entries[0])
    ratio_names = ("enable_ar_bucket", "min_ar", "max_ar", "num_ar_buckets", "ar_buckets", "size_buckets")
    if all(values[name] == _DEFAULTS[name] for name in ratio_names):
        return profile, options
    return diffusion_pipe_profile(**{name: values[name] for name in ratio_names}), options


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
    settings=(
        Setting("resolutions", Kind.LIST, None, "one entry: a side or [W, H] (sqrt(W*H)); unset: the options'"),
        Setting(
            "pixels_round_to_multiple",
            Kind.INT,
            16,
            "the model's rounding of bucket sides (16; 32 for HunyuanImage and LTX-Video)",
            field="bucket_reso_steps",
            minimum=1,
        ),
        Setting("enable_ar_bucket", Kind.BOOL, True, "ratio buckets (the example dataset.toml's true; unset: 1:1)"),
        Setting("min_ar", Kind.FLOAT, 0.5, "smallest ratio w/h of the log-spaced list"),
        Setting("max_ar", Kind.FLOAT, 2.0, "largest ratio w/h of the log-spaced list"),
        Setting("num_ar_buckets", Kind.INT, 7, "ratios in the log-spaced list", minimum=1),
        Setting("ar_buckets", Kind.LIST, None, "your own ratios or [w, h] pairs, instead of min_ar..max_ar"),
        Setting("size_buckets", Kind.LIST, None, "your own [width, height, frames] sizes, instead of ratios"),
    ),
    configure=configure_diffusion_pipe,
    version="8f83dbf2",
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

    >>> from aspectbucket import BucketOptions, place
    >>> profile = diffusion_pipe_profile(ar_buckets=[[16, 9], [1, 1], [9, 16]])
    >>> p = place([600, 300], [300, 600], BucketOptions(resolution=512, bucket_reso_steps=16), profile)
    >>> p.bucket_width.tolist(), p.bucket_height.tolist()
    ([688, 384], [384, 688])
    """
    if size_buckets is not None:
        triples = all(isinstance(bucket, list | tuple) and len(bucket) == 3 for bucket in size_buckets)
        if not size_buckets or not triples or not all(_positive(side) for bucket in size_buckets for side in bucket):
            written = [list(bucket) if isinstance(bucket, list | tuple) else bucket for bucket in size_buckets]
            raise OptionsError(f"diffusion-pipe: size_buckets {written} must be [width, height, frames] triples")
        return replace(
            DIFFUSION_PIPE, per_image=partial(diffusion_pipe_rule, size_buckets=tuple(map(tuple, size_buckets)))
        )
    if not enable_ar_bucket:
        ratios = np.array([1.0])
    elif ar_buckets:
        if any(_bad_ratio(ar) for ar in ar_buckets):
            written = [list(ar) if isinstance(ar, list | tuple) else ar for ar in ar_buckets]
            raise OptionsError(f"diffusion-pipe: ar_buckets {written} must be positive ratios or [w, h] pairs")
        ratios = listed_ratio_buckets(ar_buckets)
    else:
        if not (0 < min_ar <= max_ar) or int(num_ar_buckets) != num_ar_buckets or num_ar_buckets < 1:
            raise OptionsError(
                f"diffusion-pipe: min_ar {min_ar}, max_ar {max_ar}, num_ar_buckets {num_ar_buckets}: "
                "need 0 < min_ar <= max_ar and a whole num_ar_buckets of at least 1"
            )
        ratios = ratio_buckets(min_ar, max_ar, int(num_ar_buckets))
    return replace(DIFFUSION_PIPE, per_image=partial(diffusion_pipe_rule, ratios=tuple(ratios.tolist())))


#: The ratio settings' defaults, for telling a configured dataset from the default profile.
_DEFAULTS = {
    "enable_ar_bucket": True,
    "min_ar": 0.5,
    "max_ar": 2.0,
    "num_ar_buckets": 7,
    "ar_buckets": None,
    "size_buckets": None,
}


def _positive(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _bad_ratio(ar) -> bool:
    if isinstance(ar, list | tuple):
        return len(ar) != 2 or not all(_positive(side) for side in ar)
    return not _positive(ar)


def resolution_entries(resolutions) -> list[tuple]:
    """``resolutions`` as the options' ``(W, H)`` sizes, in the trainer's order (by side, duplicates dropped).

    Place a dataset with :func:`~aspectbucket.profiles.per_resolution.place_per_resolution` over these.

    >>> resolution_entries([1024, [1280, 720], 512])
    [(512, 512), (1280, 720), (1024, 1024)]
    """
    by_side = {}
    for entry in resolutions:
        pair = tuple(entry) if isinstance(entry, list | tuple) else (entry, entry)
        by_side.setdefault(resolution_sides([pair])[0], pair)
    return [by_side[side] for side in sorted(by_side)]
