"""diffusion-pipe: every image case of tests/data/vectors/diffusion_pipe_reference.json, reproduced exactly.

The vectors come from tdrussell/diffusion-pipe@8f83dbf2's own dataset code (see the file's ``source`` and
``generator``). Each image case is checked through the public ``place`` (bucket, per resolution) and the
geometry (the ratio list, the chosen ratio, ``ImageOps.fit``'s source box). Video cases belong to the
frame-count work.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aspectbucket import BucketOptions, SettingsError, place
from aspectbucket.geometry.batches import batches_per_bucket, dropped_and_padded
from aspectbucket.geometry.diffusion_pipe import (
    bucket_one,
    bucket_sizes,
    fit_crop_box,
    fit_crop_box_one,
    listed_ratio_buckets,
    nearest_ratio,
    ratio_buckets,
    resolution_sides,
    round_to_multiple,
)
from aspectbucket.geometry.options import OptionsError
from aspectbucket.geometry.placement import PlacementError
from aspectbucket.profiles.diffusion_pipe import DIFFUSION_PIPE, diffusion_pipe_profile, resolution_entries
from aspectbucket.profiles.per_resolution import place_per_resolution
from aspectbucket.profiles.profile import ExifHandling
from conftest import load_vectors

VECTORS = load_vectors("diffusion_pipe")
IMAGE_CASES = [case for case in VECTORS["cases"] if case["settings"]["media"].startswith("recipe images")]
RATIO_SETTINGS = ("enable_ar_bucket", "min_ar", "max_ar", "num_ar_buckets", "ar_buckets", "size_buckets")


def test_every_image_case_is_covered():
    assert len(IMAGE_CASES) == 11
    assert all(row["error"] is None for case in IMAGE_CASES for row in case["placements"])


@pytest.mark.parametrize("case", IMAGE_CASES, ids=lambda case: case["run"])
def test_image_case(case):
    settings = case["settings"]
    ratio_settings = {name: settings[name] for name in RATIO_SETTINGS if name in settings}
    profile = diffusion_pipe_profile(**ratio_settings)
    per_item = case["placements_per_item"]
    rows = case["placements"]
    sizes = np.array([row["image"] for row in rows[::per_item]])
    count = len(sizes)
    entries = resolution_entries(settings.get("resolutions", [512]))
    if "size_buckets" not in settings:
        assert resolution_sides(settings["resolutions"]) == case["effective"]["resolutions"]
    options = BucketOptions(resolution=entries[0], bucket_reso_steps=settings["pixels_round_to_multiple"])
    p, _ = place_per_resolution(sizes[:, 0], sizes[:, 1], entries, options, profile)
    assert p.ok.all()
    # The trainer lists each item's placements together, one per resolution; place_per_resolution lists
    # each resolution's images together.
    item_major = np.arange(count * per_item).reshape(per_item, count).T.ravel()
    buckets = np.stack([p.bucket_width, p.bucket_height], 1)[item_major]
    assert buckets.tolist() == [row["bucket"] for row in rows]
    rounding = settings["preprocess"]["round_width"], settings["preprocess"]["round_height"]
    output_w, output_h = round_to_multiple(buckets[:, 0], rounding[0]), round_to_multiple(buckets[:, 1], rounding[1])
    box = fit_crop_box(np.repeat(sizes[:, 0], per_item), np.repeat(sizes[:, 1], per_item), output_w, output_h)
    assert np.round(box, 4).tolist() == [row["extra"]["crop_box_src"] for row in rows]
    assert {tuple(bucket) for bucket in buckets.tolist()} <= {tuple(bucket) for bucket in case["buckets"]}
    if "size_buckets" not in settings:
        ratios = (
            ratio_buckets(settings["min_ar"], settings["max_ar"], settings["num_ar_buckets"])
            if "min_ar" in settings
            else listed_ratio_buckets(settings["ar_buckets"])
        )
        assert ratios.tolist() == case["effective"]["ars"]
        chosen = ratios[nearest_ratio(sizes[:, 0], sizes[:, 1], ratios)]
        assert chosen.tolist() == [row["extra"]["ar_bucket"] for row in rows[::per_item]]


@given(
    st.integers(1, 20_000),
    st.integers(1, 20_000),
    st.sampled_from([(0.5, 2.0, 7), (0.25, 4.0, 9), (0.3, 3.3, 12)]),
    st.sampled_from([256, 512, 960.0, 1024]),
    st.sampled_from([16, 32]),
)
def test_vectorised_bucket_matches_the_one_image_oracle(width, height, spacing, side, multiple):
    ratios = ratio_buckets(*spacing)
    chosen = ratios[nearest_ratio([width], [height], ratios)]
    bucket_w, bucket_h = bucket_sizes(chosen, side, multiple)
    assert (float(chosen[0]), int(bucket_w[0]), int(bucket_h[0])) == bucket_one(width, height, ratios, side, multiple)


@given(st.integers(1, 20_000), st.integers(1, 20_000), st.integers(1, 200), st.integers(1, 200))
def test_fit_box_matches_pillows_arithmetic(width, height, out_w, out_h):
    box = fit_crop_box([width], [height], [out_w * 16], [out_h * 16])[0]
    assert tuple(box.tolist()) == fit_crop_box_one(width, height, out_w * 16, out_h * 16)
    assert 0 <= box[0] <= box[2] <= width and 0 <= box[1] <= box[3] <= height


def test_ratio_switch_off_makes_every_bucket_square():
    p = place(
        [3000, 500],
        [1000, 1500],
        BucketOptions(resolution=(512, 512), bucket_reso_steps=16),
        diffusion_pipe_profile(enable_ar_bucket=False),
    )
    assert p.bucket_width.tolist() == [512, 512] and p.bucket_height.tolist() == [512, 512]


def test_images_skip_when_no_size_bucket_has_one_frame():
    profile = diffusion_pipe_profile(size_buckets=[[512, 512, 33], [640, 384, 33]])
    p = place([600], [400], profile=profile)
    assert p.error.tolist() == [PlacementError.NO_BUCKET]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"min_ar": 2.0, "max_ar": 0.5}, "need 0 < min_ar <= max_ar"),
        ({"ar_buckets": [[16, 9, 1]]}, "ar_buckets"),
        ({"size_buckets": [[512, 512]]}, r"size_buckets .* must be \[width, height, frames\] triples"),
    ],
)
def test_bad_settings_are_one_line_errors(settings, message):
    with pytest.raises(OptionsError, match=message):
        diffusion_pipe_profile(**settings)


@pytest.mark.parametrize("case", [case for case in IMAGE_CASES if "batching" in case], ids=lambda case: case["run"])
def test_batches_drop_each_bucket_remainder_of_the_global_batch(case):
    # Dataset.post_init: per size bucket (ratio, w, h), samples = images x repeats cut to a multiple of
    # micro batch x accumulation x world size; the rest is dropped every epoch.
    settings = case["settings"]
    profile = diffusion_pipe_profile(**{name: settings[name] for name in RATIO_SETTINGS if name in settings})
    per_item = case["placements_per_item"]
    sizes = np.array([row["image"] for row in case["placements"][::per_item]])
    entries = resolution_entries(settings["resolutions"])
    options = BucketOptions(resolution=entries[0], bucket_reso_steps=settings["pixels_round_to_multiple"])
    p, _ = place_per_resolution(sizes[:, 0], sizes[:, 1], entries, options, profile)
    ratios = np.tile([row["extra"]["ar_bucket"] for row in case["placements"][::per_item]], per_item)
    keys = sorted(zip(ratios.tolist(), p.bucket_width.tolist(), p.bucket_height.tolist(), strict=True))
    buckets = list(dict.fromkeys(keys))
    images = np.array([keys.count(bucket) for bucket in buckets])
    for batching in case["batching"]:
        expected = batching["per_bucket"]
        assert [[w, h] for _, w, h in buckets] == [entry["bucket"] for entry in expected]
        samples = images * batching["repeats"]
        micro = batching["batch_size"] * batching["grad_accum"]
        batches = batches_per_bucket(samples, micro, profile.batch_policy, batching["world_size"])
        assert batches.tolist() == [entry["batches"] for entry in expected]
        assert int(batches.sum()) == batching["steps_per_epoch"]
        dropped, padded = dropped_and_padded(samples, micro, profile.batch_policy, batching["world_size"])
        assert (dropped, padded) == (sum(entry["dropped"] for entry in expected), 0)


def test_exif_orientation_is_ignored():
    # The reference run's check: a 600x300 JPEG with Orientation 6 is bucketed as stored, 720x368 at 512.
    assert (
        "600x300 JPEG with Orientation=6 is bucketed and cropped as 600x300 landscape (720x368 at 512)"
        in (VECTORS["source"]["diffusion-pipe"]["conventions"])
    )
    assert DIFFUSION_PIPE.exif is ExifHandling.IGNORE
    p = place([600], [300], BucketOptions(resolution=512, bucket_reso_steps=16), DIFFUSION_PIPE)
    assert (p.bucket_width[0], p.bucket_height[0]) == (720, 368)


@pytest.mark.parametrize(
    "case", [case for case in IMAGE_CASES if case["placements_per_item"] == 1], ids=lambda c: c["run"]
)
def test_image_case_from_the_trainers_own_settings(case):
    # The dataset.toml's keys (one resolution) and the model's rounding, as --set or a config would give them.
    settings = case["settings"]
    native = {name: settings[name] for name in (*RATIO_SETTINGS, "resolutions") if name in settings}
    native["pixels_round_to_multiple"] = settings["pixels_round_to_multiple"]
    sizes = np.array([row["image"] for row in case["placements"]])
    p = place(sizes[:, 0], sizes[:, 1], profile="diffusion-pipe", settings=native)
    assert np.stack([p.bucket_width, p.bucket_height], 1).tolist() == [row["bucket"] for row in case["placements"]]


def test_several_resolutions_in_settings_point_to_place_per_resolution():
    with pytest.raises(SettingsError, match=r"resolutions=\[512, 1024\] has several entries; give one per run"):
        place([100], [100], profile="diffusion-pipe", settings={"resolutions": [512, 1024]})
    with pytest.raises(SettingsError, match=r"ar_buckets='\[1.5' is not a list, as JSON"):
        place([100], [100], profile="diffusion-pipe", settings={"ar_buckets": "[1.5"})


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 20_000), st.integers(1, 20_000)), min_size=1, max_size=40),
    st.lists(st.sampled_from([0.25, 0.5, 9 / 16, 2 / 3, 0.75, 1.0, 4 / 3, 1.5, 16 / 9, 2.0, 4.0]), min_size=1),
)
def test_nearest_ratio_equals_the_trainers_argmin(sizes, ratios):
    """The table search gives ``np.argmin(np.abs(log(w / h) - log(ratios)))``, first of equals, duplicates too."""
    widths, heights = np.array(sizes).T
    brute = np.abs(np.log(widths / heights)[:, None] - np.log(np.array(ratios))[None, :]).argmin(axis=1)
    np.testing.assert_array_equal(nearest_ratio(widths, heights, np.array(ratios)), brute)
