"""The ``diffusers`` profile: the Hugging Face diffusers training scripts' aspect-ratio buckets.

Read from huggingface/diffusers@953dcb1d ``src/diffusers/training_utils.py``: buckets are
``(height, width)`` pairs and ``find_nearest_bucket`` takes ``|h * bucket_w - w * bucket_h|`` with
``<=``, so ties go to the LAST bucket. The default ladder of 11 ratios (1:1 4:5 5:4 2:3 3:2 3:4 4:3
9:16 16:9 1:2 2:1, scaled to ``resolution**2``, sides rounded to 16) and ``drop_last=True`` are from
spec/trainers.md; they were not in the searchable snapshot of that file.
"""

from __future__ import annotations

from aspectbucket.geometry.batches import BatchPolicy
from aspectbucket.geometry.buckets import diffusers_list
from aspectbucket.geometry.nearest import Metric, TieBreak
from aspectbucket.geometry.options import BucketOptions
from aspectbucket.profiles.profile import Profile, SdxlCoordinates
from aspectbucket.profiles.validation import square_budget

DIFFUSERS = Profile(
    name="diffusers",
    trainer="Hugging Face diffusers training scripts",
    source="huggingface/diffusers@953dcb1d src/diffusers/training_utils.py (find_nearest_bucket)",
    bucket_list=diffusers_list,
    metric=Metric.CROSS,
    tie_break=TieBreak.LAST,
    random_crop=False,
    sdxl_coordinates=SdxlCoordinates.REAL,
    batch_policy=BatchPolicy.DROP,
    defaults=BucketOptions(resolution=(1024, 1024), bucket_reso_steps=16),
    validate=square_budget("diffusers", "--resolution"),
    option_names=(("resolution", "resolution"),),
    defects="buckets only cover 1:2 to 2:1, so wider or taller images lose a lot; drops the remainder of "
    "every bucket (drop_last=True)",
)
