"""The ``novelai`` profiles: NovelAI's aspect-ratio bucketing (``bucketmanager.py``), by version.

``novelai`` (= ``novelai@6e977c5``, the newest commit of NovelAI/novelai-aspect-ratio-bucketing,
2022-11-03, and the one the reference vectors ran): ``BucketManager.gen_buckets`` (the grid plus the
``base_res`` square, sorted by ``w * 4096 - h``), ``assign_buckets`` (nearest by LINEAR
``|bucket w/h - w/h|``, first minimum; images whose error is not below ``max_ar_error`` = 4 are
skipped) and ``start_epoch`` (per rank, the remainder of each bucket modulo the batch size is not
trained that epoch). Its two earlier commits (918e7d9, e93d0b4) assign the same way.

``novelai@352f7e0e``: the fork SwayStar123/novelai-aspect-ratio-bucketing@352f7e0e, which assigns by
LOG distance ``|log(bucket w/h) - log(w/h)|`` (the same ``max_ar_error`` test, in linear w/h) and
serves held-back leftovers from a pool in ``get_batch``. NovelAI's own repository never had it.
"""

from __future__ import annotations

from dataclasses import replace

from aspectbucket.geometry.batches import BatchPolicy
from aspectbucket.geometry.buckets import novelai_grid
from aspectbucket.geometry.nearest import Metric, TieBreak
from aspectbucket.geometry.options import BucketOptions, OptionsError
from aspectbucket.profiles.profile import Profile, SdxlCoordinates
from aspectbucket.profiles.settings import Kind, Setting
from aspectbucket.profiles.validation import check_positive, drop_no_upscale


def validate_novelai(options: BucketOptions) -> tuple[BucketOptions, list[str]]:
    """``max_size`` and ``divisible`` positive, ``min_dim`` at least one pixel and within ``dim_limit``."""
    check_positive(options, "NovelAI")
    if options.min_bucket_reso <= 0 or options.min_bucket_reso > options.max_bucket_reso:
        raise OptionsError(
            f"NovelAI: min_dim {options.min_bucket_reso} must be positive and at most dim_limit "
            f"{options.max_bucket_reso}"
        )
    if options.min_bucket_reso * options.min_bucket_reso > options.max_area:
        raise OptionsError(f"NovelAI: min_dim {options.min_bucket_reso} squared exceeds the max_size area")
    warnings: list[str] = []
    return drop_no_upscale(options, "NovelAI", warnings), warnings


NOVELAI = Profile(
    name="novelai",
    trainer="NovelAI aspect-ratio bucketing (bucketmanager.py)",
    source="NovelAI/novelai-aspect-ratio-bucketing@6e977c5 bucketmanager.py:BucketManager.assign_buckets",
    bucket_list=novelai_grid,
    metric=Metric.WIDTH_OVER_HEIGHT,
    tie_break=TieBreak.FIRST,
    random_crop=True,
    sdxl_coordinates=SdxlCoordinates.REAL,
    batch_policy=BatchPolicy.DROP,
    defaults=BucketOptions(resolution=(768, 512), min_bucket_reso=256, max_bucket_reso=1024, bucket_reso_steps=64),
    validate=validate_novelai,
    max_ar_error=4.0,
    settings=(
        Setting("max_size", Kind.SIZE, (768, 512), "W,H: the area budget", field="resolution", minimum=1),
        Setting("divisible", Kind.INT, 64, "bucket sides are multiples of it", field="bucket_reso_steps", minimum=1),
        Setting("min_dim", Kind.INT, 256, "smallest bucket side", field="min_bucket_reso", minimum=1),
        Setting("dim_limit", Kind.INT, 1024, "largest bucket side", field="max_bucket_reso", minimum=1),
    ),
    version="6e977c5",
    defects="the base square (512x512) shadows the same-ratio 1024x1024 bucket; wide images beyond about "
    "8:1 are dropped while tall ones never are; each bucket's remainder is held back every epoch; "
    "w/h distance is not rotation-symmetric",
)

NOVELAI_LOG_FORK = replace(
    NOVELAI,
    name="novelai@352f7e0e",
    source="SwayStar123/novelai-aspect-ratio-bucketing@352f7e0e bucketmanager.py:BucketManager.assign_buckets",
    trainer="NovelAI aspect-ratio bucketing, SwayStar123's fork (log distance)",
    metric=Metric.LOG_OF_RATIO,
    version="352f7e0e",
    defects="the base square (512x512) shadows the same-ratio 1024x1024 bucket; wide images beyond about "
    "8:1 are dropped while tall ones never are; leftovers of a bucket wait for a later batch",
)
