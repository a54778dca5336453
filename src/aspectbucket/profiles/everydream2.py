"""The ``everydream2`` profile: EveryDream2trainer's hand-made bucket tables.

Read from victorchall/EveryDream2trainer@5098db83 (the repository's newest commit):
``data/aspects.py:get_aspect_buckets`` (the table of ``int(resolution / 64) * 64``; 256 to 1152 in
steps of 64, 1280 and 1536; below 256 it stops) and ``data/image_train_item.py``:
``__compute_target_width_height`` (the EXIF-upright size; ``min`` over the table by
``|bucket w/h - w/h|``, so the first of equally near buckets; small images are enlarged and only
flagged ``is_undersized``) and ``hydrate`` (up to 2 % of random jitter off each side, then
``_trim_to_aspect`` cuts the overflow at ``random.triangular(0, overflow)``: random, centred on
average, shown here as the centre; then a resize to the bucket). Runts are padded by duplication
(spec/trainers.md).
"""

from __future__ import annotations

from aspectbucket.geometry.batches import BatchPolicy
from aspectbucket.geometry.buckets import EVERYDREAM2_TABLES, everydream2_table
from aspectbucket.geometry.nearest import Metric, TieBreak
from aspectbucket.geometry.options import BucketOptions, OptionsError
from aspectbucket.geometry.resize import CoverRounding
from aspectbucket.profiles.profile import ExifHandling, Profile, SdxlCoordinates
from aspectbucket.profiles.settings import Kind, Setting
from aspectbucket.profiles.validation import check_positive, check_square, drop_no_upscale


def validate_everydream2(options: BucketOptions) -> tuple[BucketOptions, list[str]]:
    """A square resolution of at least 256 whose 64-floor has a table, as ``get_aspect_buckets`` demands."""
    check_positive(options, "EveryDream2")
    check_square(options, "EveryDream2", "--resolution")
    base = int(options.resolution[0] / 64) * 64
    if options.resolution[0] < 256 or base not in EVERYDREAM2_TABLES:
        raise OptionsError(
            f"EveryDream2: resolution {options.resolution[0]} has no bucket table; choose one of "
            f"{', '.join(map(str, EVERYDREAM2_TABLES))} (or up to 63 more)"
        )
    warnings: list[str] = []
    return drop_no_upscale(options, "EveryDream2", warnings), warnings


EVERYDREAM2 = Profile(
    name="everydream2",
    trainer="EveryDream2trainer",
    source="victorchall/EveryDream2trainer@5098db83 data/aspects.py:get_aspect_buckets, "
    "data/image_train_item.py:ImageTrainItem.__compute_target_width_height",
    bucket_list=everydream2_table,
    metric=Metric.WIDTH_OVER_HEIGHT,
    tie_break=TieBreak.FIRST,
    random_crop=True,
    sdxl_coordinates=SdxlCoordinates.REAL,
    batch_policy=BatchPolicy.PAD,
    exif=ExifHandling.APPLY,
    defaults=BucketOptions(resolution=(512, 512), bucket_reso_steps=64),
    validate=validate_everydream2,
    resize_rounding=CoverRounding.EXACT_HALF_UP,
    settings=(Setting("resolution", Kind.SIDE, 512, "base side: picks the table", field="resolution", minimum=256),),
    version="5098db83",
    defects="small images are enlarged (only flagged as undersized); the crop is random (a triangular "
    "distribution around the centre, plus up to 2 % jitter); runts are padded by duplicating images; "
    "w/h distance is not rotation-symmetric",
)
