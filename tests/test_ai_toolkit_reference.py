"""ai-toolkit: every image case of tests/data/vectors/ai_toolkit_reference.json, reproduced exactly.

The vectors come from ostris/ai-toolkit@27a03a91's own dataloader (see the file's ``source`` and
``generator``). Each case is checked through the public :func:`aspectbucket.place` (bucket, resized size,
centre crop) and, for the random crop, through the geometry rule's seeded offsets. Video cases belong to
the frame-count work and are left out here.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aspectbucket import BucketOptions, SettingsError, place
from aspectbucket.geometry.ai_toolkit import ai_toolkit_bucket, ai_toolkit_bucket_one, random_crop_offsets
from aspectbucket.geometry.batches import batches_per_bucket, dropped_and_padded, steps_per_epoch
from aspectbucket.profiles.ai_toolkit import AI_TOOLKIT, ai_toolkit_profile
from aspectbucket.profiles.per_resolution import place_per_resolution
from aspectbucket.profiles.profile import ExifHandling
from conftest import load_vectors

VECTORS = load_vectors("ai_toolkit")
IMAGE_CASES = [
    case
    for case in VECTORS["cases"]
    if "num_frames" not in case["settings"] and "auto_frame_count" not in case["settings"]
]


def _case_id(case) -> str:
    settings = case["settings"]
    flags = [name for name in ("square_crop", "random_crop") if settings.get(name)]
    return f"res{settings['resolution']}-d{settings['bucket_tolerance']}-bs{settings['batch_size']}{''.join(flags)}"


def test_every_image_case_is_covered():
    assert len(IMAGE_CASES) == 20 and all(len(case["placements"]) >= 415 for case in IMAGE_CASES)
    assert all(placement["error"] is None for case in IMAGE_CASES for placement in case["placements"])


@pytest.mark.parametrize("case", IMAGE_CASES, ids=_case_id)
def test_image_case(case):
    settings = case["settings"]
    resolutions = settings["resolution"] if isinstance(settings["resolution"], list) else [settings["resolution"]]
    profile = ai_toolkit_profile(
        square_crop=settings.get("square_crop", False), random_crop=settings.get("random_crop", False)
    )
    rows = case["placements"]
    count = len(rows) // len(resolutions)
    sizes = np.array([row["image"] for row in rows[:count]])
    options = BucketOptions(resolution=resolutions[0], bucket_reso_steps=settings["bucket_tolerance"])
    p, resolution_index = place_per_resolution(sizes[:, 0], sizes[:, 1], resolutions, options, profile)

    assert np.array([row["image"] for row in rows]).tolist() == np.stack([p.width, p.height], 1).tolist()
    assert p.ok.all()
    assert np.stack([p.bucket_width, p.bucket_height], 1).tolist() == [row["bucket"] for row in rows]
    assert np.stack([p.resized_width, p.resized_height], 1).tolist() == [row["extra"]["resized_wh"] for row in rows]
    if len(resolutions) > 1:
        assert [resolutions[i] for i in resolution_index] == [row["extra"]["resolution"] for row in rows]
    if settings.get("random_crop"):
        left, top = random_crop_offsets(
            p.resized_width, p.resized_height, p.bucket_width, p.bucket_height, settings["seed"]
        )
    else:
        left, top = p.trim_left, p.trim_top
    assert np.stack([left, top], 1).tolist() == [row["extra"]["crop_left_top"] for row in rows]
    # The bucket keys in first-appearance order, as the trainer's bucket dict lists them.
    seen = dict.fromkeys(zip(p.bucket_width.tolist(), p.bucket_height.tolist(), strict=True))
    assert [list(bucket) for bucket in seen] == case["buckets"]


@given(
    st.integers(1, 20_000),
    st.integers(1, 20_000),
    st.sampled_from([256, 512, 768, 1000, 1024, 1536]),
    st.sampled_from([8, 16, 32, 64]),
)
def test_vectorised_rule_matches_the_one_image_oracle(width, height, resolution, divisibility):
    bucket_w, bucket_h = ai_toolkit_bucket([width], [height], resolution, divisibility)
    assert (int(bucket_w[0]), int(bucket_h[0])) == ai_toolkit_bucket_one(width, height, resolution, divisibility)


@given(
    st.lists(st.tuples(st.integers(1, 20_000), st.integers(1, 20_000)), min_size=1, max_size=40),
    st.sampled_from([(512, 16), (1024, 64), (768, 128), (256, 1)]),
)
def test_vectorised_rule_matches_the_oracle_on_many_rows(sizes, setting):
    """Rows side by side (thin ones, whose floored side is 0, among them) each get the oracle's bucket."""
    resolution, divisibility = setting
    widths, heights = np.array(sizes).T
    bucket_w, bucket_h = ai_toolkit_bucket(widths, heights, resolution, divisibility)
    assert list(zip(bucket_w.tolist(), bucket_h.tolist(), strict=True)) == [
        ai_toolkit_bucket_one(w, h, resolution, divisibility) for w, h in sizes
    ]


@settings(max_examples=200)
@given(
    st.lists(st.tuples(st.integers(1, 20_000), st.integers(1, 20_000)), min_size=1, max_size=60),
    st.sampled_from([(512, 16), (1024, 64), (768, 128), (256, 1), (1000, 8)]),
)
def test_the_fast_choice_equals_every_rule_of_the_trainer_where_the_floored_pair_is_kept(sizes, setting):
    """``_nearest_kept`` (arithmetic only, for rows whose floored pair is kept) against ``_nearest_or_floored``
    (every rule, masked copies), on the same floored and ceiled sides of those rows."""
    from aspectbucket.geometry import ai_toolkit as rule

    resolution, divisor = setting
    widths, heights = (np.array(side, dtype=np.float64) for side in zip(*sizes, strict=True))
    max_pixels, step = float(resolution * resolution), float(divisor)
    target = np.minimum(widths * heights, max_pixels)
    scaler = np.sqrt(target / (widths * heights))
    w_raw, h_raw = widths * scaler / step, heights * scaler / step
    sides = np.floor(w_raw) * step, np.ceil(w_raw) * step, np.floor(h_raw) * step, np.ceil(h_raw) * step
    floors_area = sides[0] * sides[2]
    kept = (sides[0] > 0) & (sides[2] > 0) & (floors_area <= max_pixels)
    sides, floors_area, target = tuple(side[kept] for side in sides), floors_area[kept], target[kept]
    fast = rule._nearest_kept(*sides, floors_area, target, max_pixels)
    every_rule = rule._nearest_or_floored(*sides, target, max_pixels, step)
    np.testing.assert_array_equal(fast[0], every_rule[0])
    np.testing.assert_array_equal(fast[1], every_rule[1])


@given(
    st.lists(st.tuples(st.integers(1, 20_000), st.integers(1, 20_000)), min_size=1, max_size=40),
    st.sampled_from([(512, 16), (1024, 64), (256, 1)]),
)
def test_placement_resizes_and_ratio_errors_equal_the_trainers_python(sizes, setting):
    """The rule's own resize (``ceil`` of the larger scale) and ratio error, from its float sizes, against
    Python numbers from the oracle's bucket."""
    resolution, divisor = setting
    widths, heights = np.array(sizes).T
    p = place(widths, heights, BucketOptions(resolution=resolution, bucket_reso_steps=divisor), AI_TOOLKIT)
    for row, (width, height) in enumerate(sizes):
        bucket_w, bucket_h = ai_toolkit_bucket_one(width, height, resolution, divisor)
        scale = max(bucket_w / width, bucket_h / height)
        assert (int(p.resized_width[row]), int(p.resized_height[row])) == (
            math.ceil(width * scale),
            math.ceil(height * scale),
        )
        assert float(p.ar_error[row]) == bucket_w / bucket_h - width / height


@given(st.integers(1, 20_000), st.integers(1, 20_000), st.sampled_from([512, 1024]), st.sampled_from([16, 32, 64]))
def test_bucket_stays_within_the_area_unless_the_image_is_thinner_than_a_step(width, height, resolution, divisor):
    bucket_w, bucket_h = (int(side[0]) for side in ai_toolkit_bucket([width], [height], resolution, divisor))
    assert bucket_w % divisor == 0 and bucket_h % divisor == 0 and bucket_w > 0 and bucket_h > 0
    if bucket_w * bucket_h > resolution * resolution:
        # Only the fallback exceeds the area: no candidate fitted, so one side was below a step.
        assert min(bucket_w, bucket_h) == divisor


def test_divisor_defaults_to_the_sd_model_class():
    assert ai_toolkit_profile().defaults.bucket_reso_steps == 16


def test_random_crops_of_later_datasets_follow_the_bucket_shuffles():
    # Two datasets (a resolution list): the first draws its crops, then shuffles each bucket's images, then
    # the second draws. Restated here with Python's own random module on real lists.
    resized_w, resized_h = [700, 520, 700, 900], [500, 530, 520, 700]
    bucket_w, bucket_h = [640, 512, 640, 768], [448, 512, 448, 640]
    left, top = random_crop_offsets(resized_w, resized_h, bucket_w, bucket_h, 5, dataset_lengths=[3, 1])
    generator = random.Random(5)
    expected = [
        (generator.randint(0, w - bw), generator.randint(0, h - bh))
        for w, h, bw, bh in zip(resized_w[:3], resized_h[:3], bucket_w[:3], bucket_h[:3], strict=True)
    ]
    generator.shuffle([0, 2])  # bucket 640x448, first used by image 0
    generator.shuffle([1])  # bucket 512x512
    expected.append((generator.randint(0, 900 - 768), generator.randint(0, 700 - 640)))
    assert list(zip(left.tolist(), top.tolist(), strict=True)) == expected
    single = random_crop_offsets(resized_w[:3], resized_h[:3], bucket_w[:3], bucket_h[:3], 5)
    assert np.stack(single, 1).tolist() == [list(pair) for pair in expected[:3]]


@pytest.mark.parametrize("case", [case for case in IMAGE_CASES if "batching" in case], ids=_case_id)
def test_batches_pad_each_bucket_by_cycling_its_images(case):
    # build_batch_indices: each bucket's file-list entries (num_repeats copies each) cut into runs of
    # batch_size, the short last run padded with the bucket's own items; nothing is dropped.
    batching = case["batching"]
    settings = case["settings"]
    sizes = np.array([row["image"] for row in case["placements"]])
    profile = ai_toolkit_profile(square_crop=settings.get("square_crop", False))
    options = BucketOptions(resolution=settings["resolution"], bucket_reso_steps=settings["bucket_tolerance"])
    p = place(sizes[:, 0], sizes[:, 1], options, profile)
    keys = list(zip(p.bucket_width.tolist(), p.bucket_height.tolist(), strict=True))
    buckets = list(dict.fromkeys(keys))
    counts = np.array([keys.count(bucket) for bucket in buckets]) * batching["repeats"]
    assert [list(bucket) for bucket in buckets] == [entry["bucket"] for entry in batching["per_bucket"]]
    assert counts.tolist() == [entry["images"] for entry in batching["per_bucket"]]
    batches = batches_per_bucket(counts, batching["batch_size"], profile.batch_policy)
    assert batches.tolist() == [entry["batches"] for entry in batching["per_bucket"]]
    assert steps_per_epoch(counts, batching["batch_size"], profile.batch_policy) == batching["steps_per_epoch"]
    padded = dropped_and_padded(counts, batching["batch_size"], profile.batch_policy)
    assert padded == (0, sum(entry["duplicated"] for entry in batching["per_bucket"]))


def test_exif_orientation_is_applied_before_bucketing():
    # The default path sizes images with exif_transpose (fast_image_size reads the header and does not).
    checks = VECTORS["source"]["ai-toolkit"]["exif_checks"]["results"]
    assert AI_TOOLKIT.exif is ExifHandling.APPLY
    for name, result in checks.items():
        if name.endswith("fast_image_size=False"):
            rotated = "orient6" in name or "orient8" in name
            assert result["size_used"] == ([2000, 3000] if rotated else [3000, 2000])
            p = place(
                [result["size_used"][0]],
                [result["size_used"][1]],
                BucketOptions(resolution=512, bucket_reso_steps=64),
                AI_TOOLKIT,
            )
            assert [p.bucket_width[0], p.bucket_height[0]] == result["bucket"]
            assert [p.resized_width[0], p.resized_height[0]] == result["resized_wh"]


@pytest.mark.parametrize("case", [case for case in IMAGE_CASES if not isinstance(case["settings"]["resolution"], list)])
def test_image_case_from_the_trainers_own_settings(case):
    # The same case given as the dataset config's keys (as --set or a config file would give them).
    settings = case["settings"]
    native = {name: settings[name] for name in ("resolution", "bucket_tolerance", "square_crop") if name in settings}
    sizes = np.array([row["image"] for row in case["placements"]])
    p = place(sizes[:, 0], sizes[:, 1], profile="ai-toolkit", settings=native)
    assert np.stack([p.bucket_width, p.bucket_height], 1).tolist() == [row["bucket"] for row in case["placements"]]
    resized = np.stack([p.resized_width, p.resized_height], 1).tolist()
    assert resized == [row["extra"]["resized_wh"] for row in case["placements"]]


def test_bad_settings_name_the_key_and_what_is_allowed():
    with pytest.raises(SettingsError, match="square_crop='maybe' is not true or false"):
        place([100], [100], profile="ai-toolkit", settings={"square_crop": "maybe"})
    with pytest.raises(
        SettingsError, match="unknown setting 'bucket_tolerence'; allowed: resolution, bucket_tolerance"
    ):
        place([100], [100], profile="ai-toolkit", settings={"bucket_tolerence": 64})


def test_no_images_get_no_buckets():
    bucket_w, bucket_h = ai_toolkit_bucket([], [], 512, 16)
    assert bucket_w.tolist() == bucket_h.tolist() == [] and bucket_w.dtype == np.int64


def test_a_thin_image_beside_a_zero_side_still_goes_through_every_rule():
    """A 0 side makes a NaN in the batch; the check for rows the shortcut cannot place must still see the thin one."""
    alone = ai_toolkit_bucket(np.array([1.0]), np.array([100000.0]), 512, 16)
    beside = ai_toolkit_bucket(np.array([1.0, 0.0]), np.array([100000.0, 1.0]), 512, 16)
    assert (int(beside[0][0]), int(beside[1][0])) == (int(alone[0][0]), int(alone[1][0])) != (0, 100000)
