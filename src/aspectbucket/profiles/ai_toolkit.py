"""The ``ai-toolkit`` profile: ostris/ai-toolkit, whose bucket ladder never exceeds the image's own size.

Read from ostris/ai-toolkit@0bc4d555 ``toolkit/buckets.py`` (``get_bucket_for_image_size``: the SDXL
list scaled to ``min(resolution, int(sqrt(w*h)))``, truncated and floored to ``bucket_tolerance``;
an exact match first, else the fewest removed pixels) and @a8365157 ``toolkit/dataloader_mixins.py``
(``setup_buckets``: resize by ``ceil(side * max(scale_w, scale_h))``, centre crop ``int(overflow / 2)``
or a random crop chosen once; buckets are not rebuilt after epoch 0). Newer ai-toolkit pads a short
last batch by repeating its images (``build_batch_indices``); that is the policy used here.
The source contradicts spec/trainers.md: there IS a list (the scaled SDXL one), and extreme ratios
can be enlarged (the 8192x128 bucket).
"""

from __future__ import annotations

from aspectbucket.geometry.batches import BatchPolicy
from aspectbucket.geometry.options import BucketOptions
from aspectbucket.geometry.per_image import ai_toolkit_buckets
from aspectbucket.geometry.resize import CoverRounding
from aspectbucket.profiles.profile import Profile, SdxlCoordinates
from aspectbucket.profiles.validation import square_budget

AI_TOOLKIT = Profile(
    name="ai-toolkit",
    trainer="ostris ai-toolkit",
    source="ostris/ai-toolkit@0bc4d555 toolkit/buckets.py, @a8365157 toolkit/dataloader_mixins.py",
    bucket_list=None,
    per_image=ai_toolkit_buckets,
    random_crop=False,
    sdxl_coordinates=SdxlCoordinates.REAL,
    batch_policy=BatchPolicy.PAD,
    defaults=BucketOptions(resolution=(512, 512), bucket_reso_steps=64),
    validate=square_budget("ai-toolkit", "resolution"),
    resize_rounding=CoverRounding.CEIL,
    option_names=(("resolution", "resolution"), ("bucket_tolerance", "bucket_reso_steps")),
    defects="a random crop is chosen once and never changes after the first epoch; very wide or tall "
    "images can still be enlarged; a short last batch repeats images",
)
