"""What a trainer profile is: a declarative description of how one trainer buckets, and placement by it.

A profile names parts from :mod:`aspectbucket.geometry` (bucket-list rule, metric, tie-break,
upscale rule, crop rule, batch rule, EXIF handling, the SDXL coordinates it reports); :func:`place`
composes them. There is no class per trainer: adding a trainer means adding one :class:`Profile`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from aspectbucket.geometry.batches import BatchPolicy
from aspectbucket.geometry.nearest import Metric, TieBreak, nearest_bucket
from aspectbucket.geometry.no_upscale import corrected_no_upscale, kohya_no_upscale
from aspectbucket.geometry.options import BucketOptions, validate_options
from aspectbucket.geometry.placement import (
    Placement,
    PlacementError,
    SdxlCoordinates,
    assemble_placement,
    check_sizes,
    join_placements,
)
from aspectbucket.geometry.resize import cover_resize

#: Inputs are split into blocks of at least this many rows to place them on several cores.
_BLOCK_ROWS = 1 << 17


class NoUpscaleRule(StrEnum):
    """How a profile places images when upscaling is off (``bucket_no_upscale``)."""

    KOHYA = "kohya"  # sd-scripts' own rounding, with the step loss of issue 731
    CORRECTED = "corrected"  # the same idea without the step loss
    UNSUPPORTED = "unsupported"  # the trainer has no such mode


class ExifHandling(StrEnum):
    """Whether a trainer reads the EXIF orientation before measuring and decoding an image."""

    IGNORE = "ignore"
    APPLY = "apply"


@dataclass(frozen=True)
class Profile:
    """How one trainer buckets; every field is a rule from the geometry layer or a plain value.

    ``bucket_list`` returns the trainer's bucket list for some options, or is ``None`` for trainers
    with no fixed list. ``source`` cites the repository, file and commit the rules were read from.
    """

    name: str
    trainer: str
    source: str
    bucket_list: Callable[[BucketOptions], np.ndarray] | None
    metric: Metric = Metric.WIDTH_OVER_HEIGHT
    tie_break: TieBreak = TieBreak.FIRST
    exact_size_first: bool = False
    no_upscale: NoUpscaleRule = NoUpscaleRule.UNSUPPORTED
    random_crop: bool = True
    sdxl_coordinates: SdxlCoordinates = SdxlCoordinates.REAL
    batch_policy: BatchPolicy = BatchPolicy.SHORT
    exif: ExifHandling = ExifHandling.IGNORE
    defaults: BucketOptions = field(default_factory=BucketOptions)
    validate: Callable[[BucketOptions], tuple[BucketOptions, list[str]]] = validate_options


def profile_bucket_list(profile: Profile, options: BucketOptions) -> np.ndarray:
    """The profile's bucket list at validated ``options`` as an ``(n, 2)`` array; empty if it has none."""
    if profile.bucket_list is None or (
        options.bucket_no_upscale and profile.no_upscale is not NoUpscaleRule.UNSUPPORTED
    ):
        return np.zeros((0, 2), dtype=np.int64)
    return profile.bucket_list(options)


def place_by_profile(widths, heights, options: BucketOptions, profile: Profile) -> Placement:
    """Place every image ``(widths[i], heights[i])`` by ``profile`` at validated ``options``.

    Bad sizes never raise: their rows carry a :class:`PlacementError`. Large inputs are placed in
    blocks on a thread per core (numpy releases the GIL), then joined; the result is identical.
    """
    widths, heights, errors = check_sizes(widths, heights)
    blocks = min(os.cpu_count() or 1, len(widths) // _BLOCK_ROWS)
    if blocks < 2:
        return _place_block(widths, heights, errors, options, profile)
    bounds = np.linspace(0, len(widths), blocks + 1).astype(int)
    with ThreadPoolExecutor(blocks) as pool:
        parts = list(
            pool.map(
                lambda start, stop: _place_block(
                    widths[start:stop], heights[start:stop], errors[start:stop], options, profile
                ),
                bounds[:-1],
                bounds[1:],
            )
        )
    return join_placements(parts)


def _place_block(widths, heights, errors, options, profile) -> Placement:
    if options.bucket_no_upscale and profile.no_upscale is not NoUpscaleRule.UNSUPPORTED:
        return _place_without_upscale(widths, heights, errors, options, profile)
    buckets = profile_bucket_list(profile, options)
    index = nearest_bucket(buckets, widths, heights, profile.metric, profile.tie_break, profile.exact_size_first)
    bucket_w, bucket_h = buckets[index, 0], buckets[index, 1]
    resized_w, resized_h = cover_resize(widths, heights, bucket_w, bucket_h)
    return assemble_placement(
        widths, heights, errors, index, bucket_w, bucket_h, resized_w, resized_h, profile.sdxl_coordinates
    )


def _place_without_upscale(widths, heights, errors, options, profile) -> Placement:
    area, step = options.max_area, options.bucket_reso_steps
    if profile.no_upscale is NoUpscaleRule.KOHYA:
        bucket_w, bucket_h, resized_w, resized_h, crashes = kohya_no_upscale(widths, heights, area, step)
        errors = np.where((errors == PlacementError.OK) & crashes, np.int8(PlacementError.TRAINER_CRASH), errors)
    else:
        bucket_w, bucket_h, resized_w, resized_h = corrected_no_upscale(widths, heights, area, step)
    index = np.full(len(widths), -1, dtype=np.int64)
    return assemble_placement(
        widths, heights, errors, index, bucket_w, bucket_h, resized_w, resized_h, profile.sdxl_coordinates, (area, step)
    )
