"""The ``everydream2`` profile: EveryDream2trainer's hand-made bucket tables.

Read from victorchall/EveryDream2trainer@05817b1c ``data/aspects.py`` (one table per base side 512
to 1152 in steps of 64, ``get_aspect_buckets`` floors the resolution to 64) and @00ae25ae
``data/image_train_item.py`` (``__compute_target_width_height``: ``min`` over the table by
``|bucket w/h - w/h|``, first minimum, on the stored size; ``hydrate``: the crop to the bucket ratio
starts at the left/top edge plus up to 20 pixels of jitter, then the image is resized to the bucket,
enlarging small ones with an "undersized" warning). Runts are padded by duplication
(spec/trainers.md).
"""

from __future__ import annotations

from aspectbucket.geometry.batches import BatchPolicy
from aspectbucket.geometry.buckets import EVERYDREAM2_TABLES, everydream2_table
from aspectbucket.geometry.nearest import Metric, TieBreak
from aspectbucket.geometry.options import BucketOptions, OptionsError
from aspectbucket.profiles.profile import CropAnchor, Profile, SdxlCoordinates
from aspectbucket.profiles.validation import check_positive, check_square, drop_no_upscale


def validate_everydream2(options: BucketOptions) -> tuple[BucketOptions, list[str]]:
    """A square resolution whose 64-floor has a table (512 to 1152)."""
    check_positive(options, "EveryDream2")
    check_square(options, "EveryDream2", "--resolution")
    base = options.resolution[0] // 64 * 64
    if base not in EVERYDREAM2_TABLES:
        raise OptionsError(
            f"EveryDream2: resolution {options.resolution[0]} has no bucket table; choose 512 to 1152 "
            f"({', '.join(map(str, EVERYDREAM2_TABLES))})"
        )
    warnings: list[str] = []
    return drop_no_upscale(options, "EveryDream2", warnings), warnings


EVERYDREAM2 = Profile(
    name="everydream2",
    trainer="EveryDream2trainer",
    source="victorchall/EveryDream2trainer@05817b1c data/aspects.py, @00ae25ae data/image_train_item.py",
    bucket_list=everydream2_table,
    metric=Metric.WIDTH_OVER_HEIGHT,
    tie_break=TieBreak.FIRST,
    random_crop=True,
    sdxl_coordinates=SdxlCoordinates.REAL,
    crop_anchor=CropAnchor.START,
    batch_policy=BatchPolicy.PAD,
    defaults=BucketOptions(resolution=(512, 512), bucket_reso_steps=64),
    validate=validate_everydream2,
    option_names=(("resolution", "resolution"),),
    defects="the crop starts at the left/top edge (plus up to 20 px of jitter), not the centre; small images "
    "are enlarged (only warned about); runts are padded by duplicating images",
)
