"""The pre-crop advice of ``explain`` and of the report: a box to crop to, or a size to resize to."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from aspectbucket.geometry.options import BucketOptions
from aspectbucket.profiles import PROFILES, place_by_profile, resolve
from aspectbucket.report.explain import PRECROP_ROUNDING, explain_size, precrop_targets
from report_plans import invoke_report, write_images


def _kohya(**values):
    profile, options, _ = resolve(PROFILES["kohya"], BucketOptions(**values))
    return profile, options


def test_no_upscale_advice_resizes_to_the_bucket_instead_of_a_whole_image_box():
    profile, options = _kohya(resolution=(1024, 1024), bucket_no_upscale=True)
    result = explain_size(300, 300, options, profile)
    assert result["precrop_ltrb"] == [0, 0, 300, 300]
    assert result["precrop_resize_to"] == [256, 256]
    assert "resize the image to 256x256" in result["sentences"][-1]


def test_upscaling_advice_keeps_the_plain_box():
    profile, options = _kohya(resolution=(512, 512))
    result = explain_size(768, 512, options, profile)
    assert result["precrop_resize_to"] is None
    assert "pre-crop the image to the box left=0 top=25 right=768 bottom=486" in result["sentences"][-1]


@settings(max_examples=150, deadline=None)
@given(
    st.integers(64, 4000),
    st.integers(64, 4000),
    st.booleans(),
    st.sampled_from(["kohya", "musubi", "onetrainer", "balanced"]),
)
def test_following_the_precrop_advice_removes_the_loss(width, height, no_upscale, name):
    # balanced with upscaling turned on (not its default) is left out: an image whose listed bucket cuts
    # just over its 20 % limit gets its own bucket, but the pre-cropped box can cut just under it and go
    # back to the list (5 in 20,000 random sizes; 1001x200, 64x321). README, "The balanced profile".
    assume(not (name == "balanced" and not no_upscale))
    profile, options, _ = resolve(PROFILES[name], BucketOptions(resolution=(1024, 1024), bucket_no_upscale=no_upscale))
    placed = place_by_profile([width], [height], options, profile)
    if not placed.ok[0]:
        return
    bucket = (int(placed.bucket_width[0]), int(placed.bucket_height[0]))
    boxes, resize = precrop_targets([width], [height], [bucket[0]], [bucket[1]], options, profile)
    if resize[0]:
        after = place_by_profile([bucket[0]], [bucket[1]], options, profile)
        assert after.ok[0] and after.lost_fraction[0] == 0
    else:
        box_w, box_h = int(boxes[0, 2] - boxes[0, 0]), int(boxes[0, 3] - boxes[0, 1])
        after = place_by_profile([box_w], [box_h], options, profile)
        assert after.lost_fraction[0] <= PRECROP_ROUNDING
    assert np.all(boxes[0] >= 0) and boxes[0, 2] <= width and boxes[0, 3] <= height


def test_report_advice_without_upscale_resizes_to_the_bucket(tmp_path):
    write_images(tmp_path / "data", [("square.png", 300, 300), ("wide.png", 300, 200)])
    result = invoke_report(tmp_path / "data", "--bucket-no-upscale", "--resolution", "1024")
    assert result.exit_code == 0, result.output
    assert "square.png: 27% cut now; resize to 256x256 (or crop to it) for bucket 256x256" in result.stdout
