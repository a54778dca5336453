"""The ``balanced`` profile: this project's own bucketing, designed from what users of every trainer hit.

* Nearest ratio in log space over a list closed under transposition (sd-scripts' grid), ties to the
  bucket nearer to square: a rotated image gets exactly the rotated bucket (the linear w/h or h/w
  distance of the trainers fails this for 2.5 to 4.6 % of sizes).
* No upscaling (on by default): an image its bucket would enlarge gets its own-ratio bucket by the
  corrected rule of issue 731 (its size floored to the step; nothing is enlarged, no step is lost).
* A crop limit: if the nearest bucket would cut more than ``max_crop`` (20 %) of the resized image,
  the image also takes its own-ratio bucket under the area budget instead of losing its edges; its
  sides stay within ``max_bucket_reso``, so beyond that ratio the long side is still cropped.
* The real crop offsets are reported to SDXL (not sd-scripts' letterbox, issue 1443).
* Short last batches are trained short (nothing dropped, nothing repeated).
See the README section "The balanced profile" for the trade-offs.
"""

from __future__ import annotations

from aspectbucket.geometry.batches import BatchPolicy
from aspectbucket.geometry.buckets import kohya_grid
from aspectbucket.geometry.nearest import Metric, TieBreak
from aspectbucket.geometry.options import BucketOptions, OptionsError, validate_options
from aspectbucket.geometry.resize import CoverRounding
from aspectbucket.profiles.profile import ExifHandling, NoUpscaleRule, Profile, SdxlCoordinates

#: The largest fraction of the resized image a listed bucket may cut before the image gets its own bucket.
BALANCED_MAX_CROP = 0.2


def validate_balanced(options: BucketOptions) -> tuple[BucketOptions, list[str]]:
    """sd-scripts' checks (the grid is the same), and a minimum side no larger than the maximum."""
    validated, warnings = validate_options(options)
    if validated.min_bucket_reso > validated.max_bucket_reso:
        raise OptionsError(
            f"min_bucket_reso {validated.min_bucket_reso} is above max_bucket_reso {validated.max_bucket_reso}"
        )
    return validated, warnings


BALANCED = Profile(
    name="balanced",
    trainer="aspectbucket's own profile (rotation-symmetric, no upscaling, crop limit)",
    source="this project; grid from kohya-ss/sd-scripts@48d368fa library/model_util.py",
    bucket_list=kohya_grid,
    metric=Metric.LOG,
    tie_break=TieBreak.SQUARER,
    no_upscale=NoUpscaleRule.FALLBACK,
    random_crop=False,
    sdxl_coordinates=SdxlCoordinates.REAL,
    batch_policy=BatchPolicy.SHORT,
    exif=ExifHandling.APPLY,
    defaults=BucketOptions(
        resolution=(1024, 1024),
        min_bucket_reso=256,
        max_bucket_reso=2048,
        bucket_reso_steps=64,
        bucket_no_upscale=True,
    ),
    validate=validate_balanced,
    resize_rounding=CoverRounding.EXACT_HALF_UP,
    max_crop=BALANCED_MAX_CROP,
    defects="images that leave the list (small or extreme) get buckets of their own size: more distinct "
    "buckets, so more short batches",
)
