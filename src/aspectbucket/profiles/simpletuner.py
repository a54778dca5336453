"""The ``simpletuner`` profile: SimpleTuner, with one bucket per rounded image ratio.

Read from bghira/SimpleTuner@00db59b4 ``helpers/multiaspect/image.py``: the bucket key is the
image ratio rounded to 2 decimals (``calculate_image_aspect_ratio``) and the size comes from
``calculate_new_size_by_pixel_area`` (round each side to ``aspect_bucket_alignment``, then grow the
width until the area reaches the budget; 1024, 768 and 512 squares are special-cased). Modelled
here: ``resolution_type`` area (``pixel_area``), a covering resize with a centre crop (SimpleTuner's
default crop is random), ``minimum_image_size`` as a shorter-side minimum, short batches padded with
repeats (spec/trainers.md).
"""

from __future__ import annotations

from aspectbucket.geometry.batches import BatchPolicy
from aspectbucket.geometry.options import BucketOptions, OptionsError
from aspectbucket.geometry.per_image import simpletuner_buckets
from aspectbucket.profiles.profile import Profile, SdxlCoordinates
from aspectbucket.profiles.validation import check_positive, drop_no_upscale


def validate_simpletuner(options: BucketOptions) -> tuple[BucketOptions, list[str]]:
    """Budget and alignment positive; ``minimum_image_size`` zero (off) or positive."""
    check_positive(options, "SimpleTuner")
    if options.min_bucket_reso < 0:
        raise OptionsError(f"SimpleTuner: minimum_image_size {options.min_bucket_reso} must be 0 (off) or positive")
    warnings: list[str] = []
    return drop_no_upscale(options, "SimpleTuner", warnings), warnings


SIMPLETUNER = Profile(
    name="simpletuner",
    trainer="SimpleTuner (multi-aspect, pixel_area)",
    source="bghira/SimpleTuner@00db59b4 helpers/multiaspect/image.py",
    bucket_list=None,
    per_image=simpletuner_buckets,
    random_crop=True,
    sdxl_coordinates=SdxlCoordinates.REAL,
    batch_policy=BatchPolicy.PAD,
    defaults=BucketOptions(resolution=(1024, 1024), min_bucket_reso=0, bucket_reso_steps=64),
    validate=validate_simpletuner,
    option_names=(
        ("resolution", "resolution"),
        ("aspect_bucket_alignment", "bucket_reso_steps"),
        ("minimum_image_size", "min_bucket_reso"),
    ),
    defects="one bucket per 0.01 of ratio: many small buckets, so many padded batches (repeated images); "
    "small images are enlarged unless minimum_image_size skips them",
)
