"""The ``musubi`` profile: kohya-ss musubi-tuner (video and DiT trainers by the sd-scripts author).

Rules read from kohya-ss/musubi-tuner@6247ca96 ``src/musubi_tuner/dataset/bucket.py``
(``BucketSelector``: the list from half the budget side to the side, ``get_bucket_resolution``:
nearest ``|bucket w/h - w/h|`` with numpy ``argmin``, and with ``no_upscale`` an image whose area
fits the budget keeps its own size floored to the step; ``BucketBatchManager``: ``ceil(n / batch)``
batches, the last one short) and @35667084 ``src/musubi_tuner/dataset/media_utils.py``
(``divisible_by`` floors; ``resize_image_to_bucket`` scales by ``max(bw/w, bh/h)`` with
``int(x + 0.5)`` and crops the centre). The step comes from ``architecture``
(``BucketSelector.ARCHITECTURE_STEPS_MAP``): 16 for every architecture at @6247ca96, and 32 for
HiDream-O1 (``ho1``) at @30c658c4, the commit the reference vectors ran.
"""

from __future__ import annotations

import math
from dataclasses import replace

from aspectbucket.geometry.batches import BatchPolicy
from aspectbucket.geometry.buckets import musubi_grid
from aspectbucket.geometry.nearest import Metric, TieBreak
from aspectbucket.geometry.options import BucketOptions, OptionsError
from aspectbucket.profiles.profile import NoUpscaleRule, Profile, SdxlCoordinates
from aspectbucket.profiles.settings import Kind, Setting
from aspectbucket.profiles.validation import check_positive

#: musubi-tuner's ``architecture`` short names and the bucket step each implies
#: (kohya-ss/musubi-tuner@30c658c4 src/musubi_tuner/dataset/bucket.py:BucketSelector).
MUSUBI_ARCHITECTURE_STEPS = {
    **dict.fromkeys(("hv", "wan", "fp", "fk", "f2d", "f2k4b", "f2k9b", "qi", "qie", "qil", "k5", "hv15", "zi"), 16),
    "ho1": 32,
}


def configure_musubi(profile: Profile, values: dict, options: BucketOptions):
    """``architecture`` chooses the step (``reso_steps``), as ``BucketSelector`` does."""
    if values["architecture"] is not None:
        options = replace(options, bucket_reso_steps=MUSUBI_ARCHITECTURE_STEPS[values["architecture"]])
    return profile, options


def validate_musubi(options: BucketOptions) -> tuple[BucketOptions, list[str]]:
    """Budget and step positive; musubi-tuner has no min/max side, so those options are unused.

    Its first width is half the budget side floored to the step: with a step above half the side that
    width is 0 and ``BucketSelector`` divides by it, so such a step is refused.
    """
    check_positive(options, "musubi-tuner")
    half_side = math.isqrt(options.max_area) // 2
    if options.bucket_reso_steps > half_side:
        raise OptionsError(
            f"musubi-tuner: step {options.bucket_reso_steps} is larger than half the budget's side ({half_side}): "
            "its first bucket would be 0 pixels wide"
        )
    return options, []


MUSUBI = Profile(
    name="musubi",
    trainer="kohya-ss musubi-tuner (HunyuanVideo, Wan, FramePack, FLUX.1 Kontext, Qwen-Image, ...)",
    source="kohya-ss/musubi-tuner@30c658c4 src/musubi_tuner/dataset/bucket.py:BucketSelector.get_bucket_resolution, "
    "media_utils.py:resize_image_to_bucket",
    bucket_list=musubi_grid,
    metric=Metric.WIDTH_OVER_HEIGHT,
    tie_break=TieBreak.FIRST,
    no_upscale=NoUpscaleRule.MUSUBI,
    random_crop=False,
    sdxl_coordinates=SdxlCoordinates.REAL,
    batch_policy=BatchPolicy.SHORT,
    defaults=BucketOptions(resolution=(960, 544), bucket_reso_steps=16),
    validate=validate_musubi,
    settings=(
        Setting("resolution", Kind.SIZE, (960, 544), "W,H of the area budget", field="resolution", minimum=1),
        Setting(
            "architecture",
            Kind.TEXT,
            None,
            "the model (hv, wan, fk, qi, ho1, ...): sets the step, 32 for ho1, else 16",
            choices=tuple(MUSUBI_ARCHITECTURE_STEPS),
        ),
        Setting("bucket_no_upscale", Kind.BOOL, False, "small images keep their size", field="bucket_no_upscale"),
        Setting("reso_steps", Kind.INT, 16, "bucket step (set by architecture)", field="bucket_reso_steps", minimum=1),
    ),
    configure=configure_musubi,
    version="30c658c4",
    defects="with no-upscale, an image larger than the budget still goes to a listed bucket and can be "
    "enlarged along one side (extreme ratios); linear w/h distance is not rotation-symmetric",
)
