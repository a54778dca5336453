"""diffusers with ``center_crop``: torchvision's ``CenterCrop`` offsets, Python's round half to even.

pytorch/vision@b6ca3917 ``torchvision/transforms/functional.py:center_crop`` computes
``crop_top = int(round((image_height - crop_height) / 2.))`` and the same for the left; the reimplementation
below is that line, in plain Python, to check the profile against.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from aspectbucket import place
from aspectbucket.geometry.placement import CropAnchor
from aspectbucket.geometry.resize import center_trim_half_even
from aspectbucket.profiles.registry import resolve


def torchvision_center_offset(image_side: int, crop_side: int) -> int:
    """torchvision's ``center_crop`` offset for a crop no larger than the image (as after a cover resize)."""
    return int(round((image_side - crop_side) / 2.0))  # noqa: RUF046 -- torchvision's line, as written


sides = st.integers(min_value=1, max_value=9000)


@settings(max_examples=300, deadline=None)
@given(width=sides, height=sides, resolution=st.sampled_from([256, 512, 768, 1024]), ladder=st.booleans())
def test_center_crop_offsets_are_torchvisions(width, height, resolution, ladder):
    chosen = {"resolution": resolution, "center_crop": True, "use_aspect_ratio_buckets": ladder}
    p = place([width], [height], profile="diffusers", settings=chosen)
    resized_w, resized_h = int(p.resized_width[0]), int(p.resized_height[0])
    bucket_w, bucket_h = int(p.bucket_width[0]), int(p.bucket_height[0])
    assert int(p.trim_left[0]) == torchvision_center_offset(resized_w, bucket_w)
    assert int(p.trim_top[0]) == torchvision_center_offset(resized_h, bucket_h)
    assert p.reported_crop_ltrb[0].tolist()[:2] == [p.trim_left[0], p.trim_top[0]]


@settings(max_examples=500, deadline=None)
@given(resized=st.integers(min_value=0, max_value=1 << 40), bucket=st.integers(min_value=0, max_value=1 << 40))
def test_half_even_trim_is_pythons_round_on_any_overflow(resized, bucket):
    expected = torchvision_center_offset(resized, bucket) if resized > bucket else 0
    assert int(center_trim_half_even(resized, bucket)) == expected


def test_odd_overflow_with_odd_half_moves_one_pixel_from_the_floor():
    # An overflow of 3 is 1.5 -> round gives 2, where the floor (the default, and other trainers) gives 1.
    assert int(center_trim_half_even(515, 512)) == 2 and int(center_trim_half_even(513, 512)) == 0
    widths, heights = list(range(1000, 1400)), [1024] * 400
    on = place(widths, heights, profile="diffusers", settings={"center_crop": True})
    off = place(widths, heights, profile="diffusers")
    assert (on.bucket_width == off.bucket_width).all() and (on.resized_width == off.resized_width).all()
    overflow = on.resized_width - on.bucket_width
    moved = (overflow % 2 == 1) & ((overflow // 2) % 2 == 1)
    assert moved.any()
    assert (on.trim_left[moved] == off.trim_left[moved] + 1).all()
    assert (on.trim_left[~moved] == off.trim_left[~moved]).all()


def test_center_crop_setting_turns_the_random_crop_off():
    default, _, _ = resolve("diffusers")
    centred, _, _ = resolve("diffusers", settings={"center_crop": True})
    assert default.random_crop is True and default.crop_anchor is CropAnchor.CENTER
    assert centred.random_crop is False and centred.crop_anchor is CropAnchor.CENTER_HALF_EVEN
    listed, _, _ = resolve("diffusers", settings={"center_crop": True, "aspect_ratio_buckets": "512,768"})
    assert listed.crop_anchor is CropAnchor.CENTER_HALF_EVEN and listed.bucket_list is not None
