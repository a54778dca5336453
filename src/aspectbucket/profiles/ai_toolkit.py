"""The ``ai-toolkit`` profile: ostris/ai-toolkit, one bucket per image from its own size and the resolution's area.

Reproduces ostris/ai-toolkit@27a03a91 ``toolkit/buckets.py:get_bucket_for_image_size`` and
``toolkit/dataloader_mixins.py:BucketsMixin.setup_buckets`` (the rule is in
:mod:`aspectbucket.geometry.ai_toolkit`): no list; an image larger than ``resolution**2`` shrinks to about
that area, a smaller one keeps about its own (so it may grow by less than a divisor step); resize by ``ceil``;
centre crop, or a random crop drawn once at epoch 0. ``bucket_tolerance`` is whatever the model's
``get_bucket_divisibility()`` returns (``toolkit/data_loader.py:AiToolkitDataset.__init__`` overwrites the
dataset's value): 16 for the SD/SDXL model class (``toolkit/stable_diffusion_model.py``), 16 for Wan and
Flux 2, 32 for Chroma; the default here is 16. A ``resolution`` list makes one dataset per resolution
(``toolkit/config_modules.py:preprocess_dataset_raw_config``): place each with
:func:`aspectbucket.profiles.per_resolution.place_per_resolution`. Short batches are padded by cycling the
bucket's own images (``BucketsMixin.build_batch_indices``).
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import numpy as np

from aspectbucket.geometry.ai_toolkit import ai_toolkit_bucket_float
from aspectbucket.geometry.batches import BatchPolicy
from aspectbucket.geometry.options import BucketOptions
from aspectbucket.geometry.resize import CoverRounding, cover_resize_rounded
from aspectbucket.profiles.profile import ExifHandling, Profile, SdxlCoordinates
from aspectbucket.profiles.settings import Kind, Setting
from aspectbucket.profiles.validation import square_budget

SOURCE = (
    "ostris/ai-toolkit@27a03a91 toolkit/buckets.py:get_bucket_for_image_size, "
    "toolkit/dataloader_mixins.py:BucketsMixin.setup_buckets"
)


def ai_toolkit_rule(widths, heights, options: BucketOptions, square_crop: bool = False):
    """The profile's per-image rule: ``resolution`` is ai-toolkit's one side, ``bucket_reso_steps`` the divisor.

    With ``square_crop`` every image goes to the ``resolution`` square (enlarged if smaller). Otherwise the
    ``ceil`` cover resize and the ratio error are computed from the same float sizes as the bucket:
    ``(bucket_w, bucket_h, errors, resized_w, resized_h, ar_error)``.
    """
    side = options.resolution[0]
    count = len(np.asarray(widths))
    if square_crop:
        square = np.full(count, side, dtype=np.int64)
        return square, square.copy(), np.zeros(count, dtype=np.int8)
    width_f = np.asarray(widths, dtype=np.int64).astype(np.float64)
    height_f = np.asarray(heights, dtype=np.int64).astype(np.float64)
    bucket_w, bucket_h = ai_toolkit_bucket_float(width_f, height_f, side, options.bucket_reso_steps)
    resized_w, resized_h = cover_resize_rounded(width_f, height_f, bucket_w, bucket_h, CoverRounding.CEIL)
    with np.errstate(divide="ignore", invalid="ignore"):  # a 0-pixel side is an error row, zeroed later
        ar_error = np.subtract(bucket_w / bucket_h, np.divide(width_f, height_f, out=width_f), out=height_f)
    int_w, int_h = bucket_w.astype(np.int64), bucket_h.astype(np.int64)
    return int_w, int_h, np.zeros(count, dtype=np.int8), resized_w, resized_h, ar_error


def configure_ai_toolkit(profile: Profile, values: dict, options: BucketOptions):
    """``square_crop`` and ``random_crop`` select the variant; ``resolution`` and ``bucket_tolerance`` are options."""
    if not values["square_crop"] and not values["random_crop"]:
        return profile, options
    rule = partial(ai_toolkit_rule, square_crop=values["square_crop"])
    return replace(profile, per_image=rule, random_crop=values["random_crop"]), options


AI_TOOLKIT = Profile(
    name="ai-toolkit",
    trainer="ostris ai-toolkit",
    source=SOURCE,
    bucket_list=None,
    per_image=ai_toolkit_rule,
    random_crop=False,
    sdxl_coordinates=SdxlCoordinates.REAL,
    batch_policy=BatchPolicy.PAD,
    exif=ExifHandling.APPLY,
    defaults=BucketOptions(resolution=(512, 512), bucket_reso_steps=16),
    validate=square_budget("ai-toolkit", "resolution"),
    resize_rounding=CoverRounding.CEIL,
    option_names=(("resolution", "resolution"), ("bucket_tolerance", "bucket_reso_steps")),
    settings=(
        Setting(
            "resolution",
            Kind.SIDE,
            512,
            "one side: the area budget is its square (a list is one dataset per side: place_per_resolution)",
            field="resolution",
            minimum=1,
        ),
        Setting(
            "bucket_tolerance",
            Kind.INT,
            16,
            "the divisor; the trainer replaces the dataset's value with the model's (16 SD/SDXL, 32 Chroma)",
            field="bucket_reso_steps",
            minimum=1,
        ),
        Setting("square_crop", Kind.BOOL, False, "train a resolution square, centre-cropped"),
        Setting("random_crop", Kind.BOOL, False, "crop offsets drawn once at random (placements show the centre)"),
    ),
    configure=configure_ai_toolkit,
    version="27a03a91",
    defects="bucket_tolerance in the dataset config is ignored: the model's divisibility replaces it; the random "
    "crop is drawn once and never changes after the first epoch; an image smaller than the resolution's area "
    "can grow a little to reach the nearest divisor step, and very thin ones get a bucket above the area; "
    "fast_image_size reads the header size, so EXIF-rotated photos are squashed; a short last batch repeats images",
)


def ai_toolkit_profile(square_crop: bool = False, random_crop: bool = False) -> Profile:
    """The profile for ai-toolkit's dataset switches of the same names (both off by default).

    ``random_crop`` changes where the crop sits, not the bucket or the resize; the offsets are
    :func:`aspectbucket.geometry.ai_toolkit.random_crop_offsets`.

    >>> from aspectbucket import BucketOptions, place
    >>> options = BucketOptions(resolution=512, bucket_reso_steps=16)
    >>> p = place([3000], [2000], options, ai_toolkit_profile(square_crop=True))
    >>> p.bucket_width.tolist(), p.resized_width.tolist(), p.trim_left.tolist()
    ([512], [768], [128])
    """
    values = {"square_crop": square_crop, "random_crop": random_crop}
    return configure_ai_toolkit(AI_TOOLKIT, values, AI_TOOLKIT.defaults)[0]
