"""The ``novelai`` profile: NovelAI's original aspect-ratio bucketing (``bucketmanager.py``).

Rules read from NovelAI/novelai-aspect-ratio-bucketing@67017f03 ``bucketmanager.py``:
``gen_buckets`` (the grid plus the ``base_res`` square, sorted by ``w * 4096 - h``),
``assign_buckets`` (nearest by ``|log(bucket w/h) - log(w/h)|``, first minimum; images whose linear
error ``|bucket w/h - w/h|`` is not below ``max_ar_error`` = 4 are dropped) and ``start_epoch``
(per rank, the remainder of each bucket modulo the batch size is held back as leftovers that
``get_batch`` serves from a catch-all pool or drops: counted here as dropped).
The source contradicts spec/trainers.md in one point: the assignment metric is the LOG distance,
not linear w/h.
"""

from __future__ import annotations

from aspectbucket.geometry.batches import BatchPolicy
from aspectbucket.geometry.buckets import novelai_grid
from aspectbucket.geometry.nearest import Metric, TieBreak
from aspectbucket.geometry.options import BucketOptions, OptionsError
from aspectbucket.profiles.profile import Profile, SdxlCoordinates
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
    source="NovelAI/novelai-aspect-ratio-bucketing@67017f03 bucketmanager.py",
    bucket_list=novelai_grid,
    metric=Metric.LOG_OF_RATIO,
    tie_break=TieBreak.FIRST,
    random_crop=True,
    sdxl_coordinates=SdxlCoordinates.REAL,
    batch_policy=BatchPolicy.DROP,
    defaults=BucketOptions(resolution=(768, 512), min_bucket_reso=256, max_bucket_reso=1024, bucket_reso_steps=64),
    validate=validate_novelai,
    max_ar_error=4.0,
    option_names=(
        ("max_size", "resolution"),
        ("divisible", "bucket_reso_steps"),
        ("min_dim", "min_bucket_reso"),
        ("dim_limit", "max_bucket_reso"),
    ),
    defects="the base square (512x512) shadows the same-ratio 1024x1024 bucket; wide images beyond about "
    "8:1 are dropped while tall ones never are; each bucket's remainder is held back every epoch",
)
