"""The diffusers profile against diffusers' own ``training_utils`` functions on hypothesis-drawn sizes.

diffusers is installable from the package index, so this runs the trainer's own code (CI installs it
with the ``test`` extra); elsewhere the test skips when diffusers is missing.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aspectbucket import bucket_list, place

if os.environ.get("CI"):  # CI installs diffusers: a missing one must fail there, not skip
    from diffusers import training_utils
else:
    training_utils = pytest.importorskip("diffusers.training_utils")

sides = st.integers(min_value=1, max_value=9000)
resolutions = st.sampled_from([256, 512, 768, 1024, 1328])
divisibilities = st.sampled_from([8, 16, 32, 64])


@settings(max_examples=300, deadline=None)
@given(resolution=st.integers(min_value=64, max_value=2048), divisibility=divisibilities)
def test_ladder_is_generate_aspect_ratio_buckets(resolution, divisibility):
    # From 64 up: a resolution below the step is refused up front (aspectbucket's option bounds).
    theirs = training_utils.generate_aspect_ratio_buckets(resolution, divisibility=divisibility)
    ours = bucket_list(profile="diffusers", settings={"resolution": resolution, "bucket_divisibility": divisibility})
    assert ours.tolist() == [[width, height] for height, width in theirs]


@settings(max_examples=300, deadline=None)
@given(width=sides, height=sides, resolution=resolutions, divisibility=divisibilities)
def test_per_image_ladder_is_bucket_for_image(width, height, resolution, divisibility):
    # DreamBoothDataset._bucket_for_image with use_aspect_ratio_buckets on (huggingface/diffusers@58eb52c0).
    side = min(resolution, round((height * width) ** 0.5))
    ladder = training_utils.generate_aspect_ratio_buckets(side, divisibility=divisibility)
    bucket_h, bucket_w = ladder[training_utils.find_nearest_bucket(height, width, ladder)]
    p = place(
        [width],
        [height],
        profile="diffusers",
        settings={"resolution": resolution, "bucket_divisibility": divisibility, "use_aspect_ratio_buckets": True},
    )
    assert (p.bucket_width[0], p.bucket_height[0]) == (bucket_w, bucket_h)
    # train_transform: scale by the larger factor, Python's round of each side.
    scale = max(bucket_h / height, bucket_w / width)
    assert (p.resized_width[0], p.resized_height[0]) == (round(width * scale), round(height * scale))


@settings(max_examples=300, deadline=None)
@given(width=sides, height=sides, resolution=resolutions)
def test_full_ladder_nearest_is_find_nearest_bucket(width, height, resolution):
    ladder = training_utils.generate_aspect_ratio_buckets(resolution, divisibility=16)
    bucket_h, bucket_w = ladder[training_utils.find_nearest_bucket(height, width, ladder)]
    p = place([width], [height], profile="diffusers", settings={"resolution": resolution})
    assert (p.bucket_width[0], p.bucket_height[0]) == (bucket_w, bucket_h)
