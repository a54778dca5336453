"""The ``diffusers`` profile: the Hugging Face diffusers DreamBooth training scripts' aspect-ratio buckets.

Read from huggingface/diffusers@58eb52c0 ``src/diffusers/training_utils.py``
(``generate_aspect_ratio_buckets``: 11 ratios 1:1 4:5 5:4 2:3 3:2 3:4 4:3 9:16 16:9 1:2 2:1 scaled to
``resolution**2``, sides rounded to ``bucket_divisibility``; ``find_nearest_bucket``: buckets are
``(height, width)`` and the least ``|h * bucket_w - w * bucket_h|`` wins with ``<=``, so ties go to
the LAST bucket) and ``examples/dreambooth/train_dreambooth_lora_flux2.py``
(``DreamBoothDataset._bucket_for_image`` and ``train_transform``, the same in every DreamBooth script
that has them). Three modes, as the script chooses:

* ``aspect_ratio_buckets`` given ("h,w;h,w;..."): that list, nearest as above;
* ``use_aspect_ratio_buckets`` on: a ladder per image at ``min(resolution, round(sqrt(h * w)))``, so
  small images get small buckets instead of being enlarged;
* neither (the default here): the full ladder at ``resolution``.

``train_transform`` resizes by ``max(bucket_h / h, bucket_w / w)`` with Python's ``round`` (half to
even), after ``DreamBoothDataset.__init__`` has applied the EXIF orientation (``exif_transpose``).
``drop_last=True`` is from spec/trainers.md.

The crop: ``train_transform`` crops at random (``transforms.RandomCrop.get_params``) unless
``center_crop`` is on, when it uses torchvision's ``CenterCrop``, whose offsets are
``int(round((h - th) / 2.0))`` with Python's round, half to even (pytorch/vision@b6ca3917
``torchvision/transforms/functional.py:center_crop``): an odd overflow of ``2k + 1`` starts the window
at ``k + 1`` when ``k`` is odd, one pixel right of the floor that other trainers use.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import numpy as np

from aspectbucket.geometry.batches import BatchPolicy
from aspectbucket.geometry.buckets import diffusers_list
from aspectbucket.geometry.ladders import diffusers_dreambooth_buckets
from aspectbucket.geometry.nearest import Metric, TieBreak
from aspectbucket.geometry.options import BucketOptions
from aspectbucket.geometry.placement import CropAnchor
from aspectbucket.geometry.resize import CoverRounding
from aspectbucket.profiles.profile import ExifHandling, Profile, SdxlCoordinates
from aspectbucket.profiles.settings import Kind, Setting, SettingsError
from aspectbucket.profiles.validation import square_budget


def parse_bucket_list(text: str) -> tuple[tuple[int, int], ...]:
    """``--aspect_ratio_buckets`` "h1,w1;h2,w2;..." as ``(width, height)`` pairs in the user's order."""
    sizes = []
    for pair in str(text).split(";"):
        if not pair.strip():
            continue
        parts = [part.strip() for part in pair.split(",")]
        if len(parts) != 2 or not all(part.isdigit() and int(part) > 0 for part in parts):
            raise SettingsError(f"diffusers: aspect_ratio_buckets entry {pair.strip()!r} is not HEIGHT,WIDTH")
        height, width = (int(part) for part in parts)
        sizes.append((width, height))
    if not sizes:
        raise SettingsError(f"diffusers: aspect_ratio_buckets {text!r} lists no bucket")
    return tuple(sizes)


def given_list(options: BucketOptions, sizes: tuple[tuple[int, int], ...]) -> np.ndarray:
    """The user's own bucket list, whatever the options."""
    return np.array(sizes, dtype=np.int64).reshape(-1, 2)


def configure_diffusers(profile: Profile, values: dict, options: BucketOptions):
    """An explicit list wins over the per-image ladder, which wins over the full ladder (as the script);
    ``center_crop`` swaps the random crop for torchvision's centred one, whatever the list."""
    if values.get("center_crop"):
        profile = replace(profile, random_crop=False, crop_anchor=CropAnchor.CENTER_HALF_EVEN)
    if values["aspect_ratio_buckets"]:
        return replace(
            profile, bucket_list=partial(given_list, sizes=parse_bucket_list(values["aspect_ratio_buckets"]))
        ), options
    if values["use_aspect_ratio_buckets"]:
        return replace(profile, bucket_list=None, per_image=diffusers_dreambooth_buckets), options
    return profile, options


DIFFUSERS = Profile(
    name="diffusers",
    trainer="Hugging Face diffusers DreamBooth scripts",
    source="huggingface/diffusers@58eb52c0 src/diffusers/training_utils.py:find_nearest_bucket, "
    "examples/dreambooth/train_dreambooth_lora_flux2.py:DreamBoothDataset._bucket_for_image",
    bucket_list=diffusers_list,
    metric=Metric.CROSS,
    tie_break=TieBreak.LAST,
    random_crop=True,
    sdxl_coordinates=SdxlCoordinates.REAL,
    batch_policy=BatchPolicy.DROP,
    exif=ExifHandling.APPLY,
    defaults=BucketOptions(resolution=(1024, 1024), bucket_reso_steps=16),
    validate=square_budget("diffusers", "--resolution"),
    resize_rounding=CoverRounding.MAX_SCALE_HALF_EVEN,
    settings=(
        Setting("resolution", Kind.SIDE, 1024, "the ladder's side", field="resolution", minimum=1),
        Setting(
            "bucket_divisibility",
            Kind.INT,
            16,
            "bucket sides are multiples of it",
            field="bucket_reso_steps",
            minimum=1,
        ),
        Setting("use_aspect_ratio_buckets", Kind.BOOL, False, "a ladder per image, capped at its own size"),
        Setting("aspect_ratio_buckets", Kind.TEXT, "", "your own list, 'h1,w1;h2,w2;...'"),
        Setting("center_crop", Kind.BOOL, False, "torchvision's CenterCrop (round half to even), not a random crop"),
    ),
    configure=configure_diffusers,
    version="58eb52c0",
    defects="buckets only cover 1:2 to 2:1, so wider or taller images lose a lot; drops the remainder of "
    "every bucket (drop_last=True); the crop is random unless --center_crop",
)
