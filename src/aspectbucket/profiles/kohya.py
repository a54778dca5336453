"""The ``kohya`` profile: kohya-ss sd-scripts (and the Kohya_ss GUI that drives it), quirks included.

Rules read from kohya-ss/sd-scripts at commit 48d368fa (2026-02-16): ``make_bucket_resolutions`` in
``library/model_util.py``; ``BucketManager.select_bucket``, ``get_crop_ltrb`` and
``trim_and_resize_if_required`` in ``library/train_util.py``. See ``spec/kohya-bucketing.md``.
"""

from __future__ import annotations

from aspectbucket.geometry.batches import BatchPolicy
from aspectbucket.geometry.buckets import kohya_grid
from aspectbucket.geometry.nearest import Metric, TieBreak
from aspectbucket.geometry.options import BucketOptions
from aspectbucket.profiles.profile import ExifHandling, NoUpscaleRule, Profile, SdxlCoordinates

KOHYA = Profile(
    name="kohya",
    trainer="kohya-ss sd-scripts / Kohya_ss GUI",
    source="kohya-ss/sd-scripts@48d368fa library/model_util.py, library/train_util.py",
    bucket_list=kohya_grid,
    metric=Metric.WIDTH_OVER_HEIGHT,
    tie_break=TieBreak.FIRST,
    exact_size_first=True,
    no_upscale=NoUpscaleRule.KOHYA,
    random_crop=False,  # sd-scripts crops at the centre unless --random_crop
    sdxl_coordinates=SdxlCoordinates.LETTERBOX,
    batch_policy=BatchPolicy.SHORT,
    exif=ExifHandling.IGNORE,
    defaults=BucketOptions(),
    version="48d368fa",
    defects="no-upscale loses a whole step on near-square images over the budget (issue 731); the SDXL "
    "crop coordinates are a letterbox, not the real trim (issue 1443); w/h distance is not "
    "rotation-symmetric",
)
