"""SimpleTuner: every image case of tests/data/vectors/simpletuner_reference.json, reproduced exactly.

The vectors come from the SimpleTuner 4.10.1 wheel's own code (see the file's ``source`` and ``generator``).
Each case is reproduced twice: by the vectorised :func:`simpletuner_prepare` (key, target, intermediary,
crop canvas and offset, skip reason) and through the public ``place`` with the case's settings (bucket and
resized size). Cases run in the order the generator fed the images (recipe or reversed), seeded as it was.
The one-image oracle is checked against the vectorised rule on drawn sizes and settings. The video case
belongs to the frame-count work.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aspectbucket import place
from aspectbucket.geometry.options import OptionsError
from aspectbucket.geometry.placement import PlacementError
from aspectbucket.geometry.simpletuner import from_config, round_decimals, simpletuner_prepare
from aspectbucket.geometry.simpletuner_batches import simpletuner_epoch
from aspectbucket.geometry.simpletuner_reference import SimpleTunerState, prepare_one
from aspectbucket.profiles import parse_assignments
from aspectbucket.profiles.profile import ExifHandling
from aspectbucket.profiles.simpletuner import SIMPLETUNER, simpletuner_profile
from conftest import load_vectors

VECTORS = load_vectors("simpletuner")
IMAGE_CASES = [case for case in VECTORS["cases"] if case["settings"].get("dataset_type") != "video"]
SETTING_NAMES = (
    "crop",
    "crop_aspect",
    "crop_style",
    "crop_aspect_buckets",
    "aspect_bucket_rounding",
    "aspect_bucket_alignment",
    "minimum_image_size",
    "maximum_image_size",
    "target_downsample_size",
)


def _settings(case) -> dict:
    return {name: case["settings"][name] for name in SETTING_NAMES if name in case["settings"]}


def _sizes(case) -> np.ndarray:
    """The size the trainer measured: EXIF-rotated where the case stored an orientation."""
    return np.array([row["extra"].get("original_size_used", row["image"]) for row in case["placements"]])


def _expected_error(row) -> int:
    if row["error"] is None:
        return PlacementError.OK
    if row["error"].startswith("too_small"):
        return PlacementError.TOO_SMALL
    assert row["error"] == "Error processing image: float division by zero"
    return PlacementError.TRAINER_CRASH


def test_every_image_case_is_covered():
    assert len(IMAGE_CASES) == 17
    reasons = {_expected_error(row) for case in IMAGE_CASES for row in case["placements"]}
    assert reasons == {PlacementError.OK, PlacementError.TOO_SMALL, PlacementError.TRAINER_CRASH}


@pytest.mark.parametrize("case", IMAGE_CASES, ids=lambda case: case["settings"]["id"])
def test_image_case(case):
    settings_ = case["settings"]
    st_settings = from_config(settings_["resolution_type"], settings_["resolution"], **_settings(case))
    sizes = _sizes(case)
    order = np.arange(len(sizes))[:: -1 if settings_["processing_order"] == "reversed" else 1]
    prepared = simpletuner_prepare(sizes[:, 0], sizes[:, 1], st_settings, order, seed=settings_["python_random_seed"])
    rows = case["placements"]
    assert prepared.error.tolist() == [_expected_error(row) for row in rows]
    ok = prepared.error == PlacementError.OK
    placed = [row for row in rows if row["error"] is None]
    assert [prepared.key_text(i) for i in np.flatnonzero(ok)] == [row["extra"]["key"] for row in placed]
    assert np.stack([prepared.target_width, prepared.target_height], 1)[ok].tolist() == [
        row["bucket"] for row in placed
    ]
    resized = np.stack([prepared.resized_width, prepared.resized_height], 1)[ok].tolist()
    assert resized == [row["extra"]["resized_wh"] for row in placed]
    crops = np.stack([prepared.crop_left, prepared.crop_top], 1)[ok].tolist()
    assert crops == [row["extra"]["crop_left_top"] for row in placed]
    # The canvas the crop is cut from: the intermediary unless stated; none when nothing is cropped.
    canvases = [
        [int(w), int(h)] if w else None
        for w, h in zip(prepared.canvas_width[ok], prepared.canvas_height[ok], strict=True)
    ]
    assert canvases == [row["extra"].get("crop_canvas_wh", row["extra"]["resized_wh"]) for row in placed]
    # The trainer's buckets: distinct keys in first-seen processing order, one size each.
    first_seen = {}
    for i in order.tolist():
        if ok[i]:
            first_seen.setdefault(prepared.key_text(i), [int(prepared.target_width[i]), int(prepared.target_height[i])])
    assert list(first_seen) == case["bucket_keys"] and list(first_seen.values()) == case["buckets"]


@pytest.mark.parametrize("case", IMAGE_CASES, ids=lambda case: case["settings"]["id"])
def test_image_case_through_place(case):
    settings_ = case["settings"]
    profile = simpletuner_profile(
        resolution=settings_["resolution"], resolution_type=settings_["resolution_type"], **_settings(case)
    )
    # place() takes the images in the order given: the reversed run is given reversed.
    step = -1 if settings_["processing_order"] == "reversed" else 1
    sizes = _sizes(case)[::step]
    p = place(sizes[:, 0], sizes[:, 1], profile=profile)
    rows = case["placements"][::step]
    assert p.error.tolist() == [_expected_error(row) for row in rows]
    placed = [row for row in rows if row["error"] is None]
    assert np.stack([p.bucket_width, p.bucket_height], 1)[p.ok].tolist() == [row["bucket"] for row in placed]
    resized = np.stack([p.resized_width, p.resized_height], 1)[p.ok].tolist()
    assert resized == [row["extra"]["resized_wh"] for row in placed]
    if settings_.get("crop_style") in ("center", "corner") and not settings_.get("target_downsample_size"):
        trims = np.stack([p.trim_left, p.trim_top], 1)[p.ok].tolist()
        assert trims == [row["extra"]["crop_left_top"] for row in placed]


SETTINGS = st.fixed_dictionaries(
    {
        "resolution_type": st.sampled_from(["pixel", "area", "pixel_area"]),
        "crop": st.booleans(),
        "crop_aspect": st.sampled_from(["square", "preserve", "closest", "random"]),
        "crop_style": st.sampled_from(["random", "center", "corner"]),
        "aspect_bucket_rounding": st.sampled_from([1, 2, 3]),
        "aspect_bucket_alignment": st.sampled_from([8, 16, 32, 64]),
        "minimum_image_size": st.sampled_from([None, 256, 512]),
        "downsample": st.sampled_from([None, 1024, 1536]),
        # An integer ratio makes the trainer raise for every image that picks it; none at all, for all.
        "buckets": st.sampled_from([(0.5, 0.75, 1.0, 1.33, 2.0), (0.5, 1, 2.0), ()]),
    }
)


@settings(max_examples=150, deadline=None)
@given(
    SETTINGS,
    st.lists(st.tuples(st.integers(16, 9000), st.integers(16, 9000)), min_size=1, max_size=30),
    st.integers(0, 2**16),
)
def test_vectorised_rule_matches_the_one_image_oracle(drawn, sizes, seed):
    settings_ = _drawn_settings(drawn, with_sizes=True)
    widths, heights = np.array(sizes).T
    prepared = simpletuner_prepare(widths, heights, settings_, seed=seed)
    state = SimpleTunerState(seed=seed)
    for row, (width, height) in enumerate(sizes):
        expected = prepare_one(width, height, settings_, state)
        if expected.error is not None:
            assert prepared.error[row] == _oracle_error(expected.error)
            continue
        assert prepared.key_text(row) == expected.key
        assert (int(prepared.target_width[row]), int(prepared.target_height[row])) == expected.target
        assert (int(prepared.resized_width[row]), int(prepared.resized_height[row])) == expected.intermediary
        assert (int(prepared.crop_left[row]), int(prepared.crop_top[row])) == expected.crop_left_top
        canvas = (int(prepared.canvas_width[row]), int(prepared.canvas_height[row]))
        assert (canvas if canvas[0] else None) == expected.crop_canvas


def _oracle_error(message: str) -> int:
    if message == "too_small":
        return PlacementError.TOO_SMALL
    if message == "Error processing image: float division by zero":
        return PlacementError.TRAINER_CRASH
    assert message.startswith("Error processing image: ")
    return PlacementError.TRAINER_ERROR


def test_an_integer_aspect_bucket_fails_the_images_that_pick_it():
    # JSON's 1 is an int: SimpleTuner's size calculators refuse it, so images whose closest ratio is 1 are skipped.
    profile = simpletuner_profile(crop=True, crop_aspect="closest", crop_aspect_buckets=[0.5, 1, 2.0])
    p = place([1000, 2000, 1000], [1000, 1000, 1900], profile=profile)
    assert p.error.tolist() == [PlacementError.TRAINER_ERROR, PlacementError.OK, PlacementError.OK]


def test_downsample_as_large_as_the_resolution_shares_the_aspect_map():
    # Both size calls of an image then read and write one map, image after image, as the trainer does.
    settings_ = from_config(
        "area",
        1.0,
        crop=True,
        crop_aspect="closest",
        crop_style="center",
        crop_aspect_buckets=(0.5, 1.0, 2.0),
        maximum_image_size=4.0,
        target_downsample_size=1.0,
    )
    sizes = [(1500, 1000), (1000, 1510), (3000, 1000), (800, 1700), (640, 480)]
    widths, heights = np.array(sizes).T
    prepared = simpletuner_prepare(widths, heights, settings_)
    state = SimpleTunerState()
    for row, (width, height) in enumerate(sizes):
        expected = prepare_one(width, height, settings_, state)
        assert (int(prepared.canvas_width[row]), int(prepared.canvas_height[row])) == expected.crop_canvas
        assert (int(prepared.target_width[row]), int(prepared.target_height[row])) == expected.target


@given(st.lists(st.floats(0.001, 200.0), min_size=1, max_size=50), st.integers(0, 4))
def test_round_decimals_is_pythons_round(values, digits):
    assert round_decimals(np.array(values), digits).tolist() == [round(value, digits) for value in values]


def test_round_decimals_on_exact_halves():
    halves = np.array([0.125, 0.375, 1.005, 2.675, 0.115, 1.125, 3.0049999999999999])
    assert round_decimals(halves, 2).tolist() == [round(float(value), 2) for value in halves]
    # Repeated and mixed (as bucket ratios are): each distinct half is rounded once, every row gets it back.
    mixed = np.random.default_rng(2).permutation(np.concatenate([np.repeat(halves, 300), np.arange(1, 900) / 7]))
    assert round_decimals(mixed, 2).tolist() == [round(float(value), 2) for value in mixed]


@pytest.mark.parametrize(
    ("settings_", "message"),
    [
        ({"resolution_type": "pixels"}, "resolution_type 'pixels' is not one of pixel, area, pixel_area"),
        ({"crop": True, "crop_aspect": "closest"}, "crop_aspect 'closest' needs crop_aspect_buckets"),
        ({"crop_style": "middle"}, "crop_style 'middle' is not one of"),
        ({"resolution": -5}, "resolution -5 must be a positive number"),
    ],
)
def test_bad_settings_are_one_line_errors(settings_, message):
    with pytest.raises(OptionsError, match=message):
        simpletuner_profile(**settings_)


def test_exif_orientation_is_applied_before_bucketing():
    (case,) = [case for case in IMAGE_CASES if case["settings"]["id"].startswith("exif6")]
    assert SIMPLETUNER.exif is ExifHandling.APPLY
    for row in case["placements"]:
        assert row["extra"]["exif_orientation"] == 6
        assert row["extra"]["original_size_used"] == row["image"][::-1]


def test_rows_without_a_size_do_not_move_the_random_draws_of_the_others():
    profile = simpletuner_profile(crop=True, crop_aspect="random", crop_aspect_buckets=[0.5, 1.0, 2.0])
    widths, heights = [3000, 1200, 800, 640], [2000, 1600, 800, 480]
    clean = place(widths, heights, profile=profile)
    broken = place([3000, None, 1200, 0, 800, 640], [2000, 500, 1600, 10, 800, 480], profile=profile)
    assert broken.error[[1, 3]].tolist() == [PlacementError.MISSING_SIZE, PlacementError.NOT_POSITIVE_INTEGER]
    kept = [0, 2, 4, 5]
    assert broken.bucket_width[kept].tolist() == clean.bucket_width.tolist()
    assert broken.bucket_height[kept].tolist() == clean.bucket_height.tolist()


BATCHED_CASES = [case for case in IMAGE_CASES if "batching" in case]


@pytest.mark.parametrize("case", BATCHED_CASES, ids=lambda case: case["settings"]["id"])
def test_epochs_of_every_batching_combination(case):
    settings_ = case["settings"]
    st_settings = from_config(settings_["resolution_type"], settings_["resolution"], **_settings(case))
    sizes = _sizes(case)
    prepared = simpletuner_prepare(sizes[:, 0], sizes[:, 1], st_settings, seed=settings_["python_random_seed"])
    keys = [prepared.key_text(row) for row in np.flatnonzero(prepared.error == PlacementError.OK)]
    buckets = list(dict.fromkeys(keys))
    images = [keys.count(key) for key in buckets]
    assert len(case["batching"]) == 24
    for batching in case["batching"]:
        epoch = simpletuner_epoch(
            images,
            batching["batch_size"],
            batching["world_size"],
            batching["grad_accum"],
            batching["repeats"],
            batching["allow_dataset_oversubscription"],
        )
        if batching.get("error"):
            assert batching["error"].startswith("ValueError: Dataset configuration will produce zero usable batches")
            assert epoch.refused.startswith("Dataset configuration will produce zero usable batches")
            continue
        assert epoch.refused is None
        assert epoch.length_per_process.tolist() == batching["len_metadata_backend_per_rank"]
        assert epoch.steps_per_epoch == batching["steps_per_epoch"]
        expected = batching["per_bucket"]
        assert [entry["key"] for entry in expected] == buckets
        assert [entry["images"] for entry in expected] == images
        assert epoch.batches.tolist() == [entry["batches"] for entry in expected]
        assert epoch.duplicated.tolist() == [entry["duplicated"] for entry in expected]
        # Nothing is dropped: every image is served, padded where short.
        assert all(entry["dropped"] == 0 and entry["trained"] == entry["images"] for entry in expected)


@pytest.mark.parametrize(
    "settings_",
    [
        {"resolution": 1024, "resolution_type": "pixel"},
        {"resolution": 1.0, "resolution_type": "area"},
        {"crop": True, "crop_aspect": "square", "crop_style": "center"},
        {"crop": True, "crop_aspect": "closest", "crop_style": "corner", "crop_aspect_buckets": [0.5, 1.0, 2.0]},
    ],
)
def test_the_intermediary_always_covers_the_target(settings_):
    # The crop then stays inside the resized image, so placements' trims are real windows.
    rng = np.random.default_rng(7)
    widths, heights = rng.integers(16, 9000, 20_000), rng.integers(16, 9000, 20_000)
    p = place(widths, heights, profile=simpletuner_profile(**settings_))
    ok = p.ok
    assert ok.mean() > 0.99
    assert (p.resized_width[ok] >= p.bucket_width[ok]).all() and (p.resized_height[ok] >= p.bucket_height[ok]).all()
    assert (p.trim_left[ok] + p.bucket_width[ok] <= p.resized_width[ok]).all()


@pytest.mark.parametrize(
    "case",
    [case for case in IMAGE_CASES if case["settings"]["processing_order"] == "recipe"],
    ids=lambda case: case["settings"]["id"],
)
def test_image_case_from_the_trainers_own_settings(case):
    # The multidatabackend.json keys of the case, given as trainer-native settings to the registered profile.
    native = {"resolution": case["settings"]["resolution"], "resolution_type": case["settings"]["resolution_type"]}
    native.update(_settings(case))
    sizes = _sizes(case)
    p = place(sizes[:, 0], sizes[:, 1], profile="simpletuner", settings=native)
    rows = case["placements"]
    assert p.error.tolist() == [_expected_error(row) for row in rows]
    placed = [row for row in rows if row["error"] is None]
    assert np.stack([p.bucket_width, p.bucket_height], 1)[p.ok].tolist() == [row["bucket"] for row in placed]
    resized = np.stack([p.resized_width, p.resized_height], 1)[p.ok].tolist()
    assert resized == [row["extra"]["resized_wh"] for row in placed]


def test_text_settings_keep_integers_in_bucket_lists():
    # --set crop_aspect_buckets=[0.5,1,2.0]: JSON's 1 is an integer, as SimpleTuner reads it from its JSON.
    text = parse_assignments(
        ["crop=true", "crop_aspect=closest", "crop_aspect_buckets=[0.5,1,2.0]", "crop_style=center"]
    )
    p = place([1000, 2000], [1000, 1000], profile="simpletuner", settings=text)
    assert p.error.tolist() == [PlacementError.TRAINER_ERROR, PlacementError.OK]


@pytest.mark.parametrize(
    ("crop_aspect", "crop_style"), [("preserve", "random"), ("square", "random"), ("random", "center")]
)
def test_bulk_random_draws_over_many_rows_match_the_one_image_oracle(crop_aspect, crop_style):
    """Hundreds of rows: the crop offsets and random aspects are drawn in bulk (replayed MT19937 words),
    and each row must still get what the oracle's one call per draw gives it."""
    settings_ = from_config(
        "pixel_area",
        1024,
        crop=True,
        crop_aspect=crop_aspect,
        crop_style=crop_style,
        crop_aspect_buckets=(0.5, 0.75, 1.0, 1.33, 2.0),
    )
    rng = np.random.default_rng(5)
    widths, heights = rng.integers(300, 6000, 500), rng.integers(300, 6000, 500)
    prepared = simpletuner_prepare(widths, heights, settings_, seed=1234)
    state = SimpleTunerState(seed=1234)
    drawn = 0
    for row, (width, height) in enumerate(zip(widths.tolist(), heights.tolist(), strict=True)):
        expected = prepare_one(width, height, settings_, state)
        assert expected.error is None
        assert (int(prepared.target_width[row]), int(prepared.target_height[row])) == expected.target
        assert (int(prepared.crop_left[row]), int(prepared.crop_top[row])) == expected.crop_left_top
        drawn += expected.crop_left_top != (0, 0)
    assert drawn > 100 or crop_style == "center"


@settings(max_examples=150, deadline=None)
@given(
    SETTINGS,
    st.lists(st.tuples(st.integers(16, 9000), st.integers(16, 9000)), min_size=1, max_size=60),
    st.integers(0, 2**16),
    st.randoms(use_true_random=False),
)
def test_blocks_of_the_processing_order_prepare_like_one_pass(drawn, sizes, seed, shuffler):
    """Many rows are prepared in blocks of the processing order (here blocks of 7 rows, the order shuffled):
    every column, and the aspect maps left behind, equal one pass over all rows."""
    from unittest import mock

    from aspectbucket.geometry import simpletuner as simpletuner_module

    settings_ = _drawn_settings(drawn)
    widths, heights = np.array(sizes).T
    order = list(range(len(sizes)))
    shuffler.shuffle(order)
    one_pass_maps, block_maps = {}, {}
    one_pass = simpletuner_prepare(widths, heights, settings_, order, seed, one_pass_maps)
    with mock.patch.object(simpletuner_module, "_BLOCK_ROWS", 7):
        blocks = simpletuner_prepare(widths, heights, settings_, order, seed, block_maps)
    for name in ("error", "key", "target_width", "target_height", "resized_width", "resized_height"):
        np.testing.assert_array_equal(getattr(blocks, name), getattr(one_pass, name), err_msg=name)
    for name in ("canvas_width", "canvas_height", "crop_left", "crop_top"):
        np.testing.assert_array_equal(getattr(blocks, name), getattr(one_pass, name), err_msg=name)
    assert block_maps == one_pass_maps


@settings(max_examples=100, deadline=None)
@given(
    SETTINGS,
    st.lists(st.tuples(st.integers(16, 9000), st.integers(16, 9000)), min_size=1, max_size=40),
    st.integers(0, 2**16),
    st.sampled_from([7, 1 << 16]),
)
def test_without_crops_every_size_column_is_the_same(drawn, sizes, seed, block_rows):
    """``crops=False`` (what the profile asks: it shows the centred trim) skips the crop (canvas and draws),
    in one pass or in blocks, and changes nothing else: no size or random aspect depends on a crop's draw.
    ``keys=False`` as well (the profile does not read them) leaves the keys at 0 and the sizes as they are."""
    from unittest import mock

    from aspectbucket.geometry import simpletuner as simpletuner_module

    settings_ = _drawn_settings(drawn, with_sizes=True)
    widths, heights = np.array(sizes).T
    with mock.patch.object(simpletuner_module, "_BLOCK_ROWS", block_rows):
        full = simpletuner_prepare(widths, heights, settings_, seed=seed)
        sizes_only = simpletuner_prepare(widths, heights, settings_, seed=seed, crops=False)
        no_keys = simpletuner_prepare(widths, heights, settings_, seed=seed, crops=False, keys=False)
    for name in ("error", "key", "target_width", "target_height", "resized_width", "resized_height"):
        np.testing.assert_array_equal(getattr(sizes_only, name), getattr(full, name), err_msg=name)
        if name != "key":
            np.testing.assert_array_equal(getattr(no_keys, name), getattr(full, name), err_msg=name)
    for name in ("canvas_width", "canvas_height", "crop_left", "crop_top"):
        assert not getattr(sizes_only, name).any(), name
        assert not getattr(no_keys, name).any(), name
    assert not no_keys.key.any()


def _drawn_settings(drawn: dict, with_sizes: bool = False):
    """The SimpleTuner settings a ``SETTINGS`` draw names; ``with_sizes`` adds its minimum and downsample sizes."""
    resolution = {"pixel": 768, "area": 0.5, "pixel_area": 1024}[drawn["resolution_type"]]
    sizes = {}
    if with_sizes:
        minimum, downsample = drawn["minimum_image_size"], drawn["downsample"]
        if drawn["resolution_type"] == "area":
            minimum = None if minimum is None else minimum**2 / 1e6
            downsample = None if downsample is None else downsample**2 / 1e6
        sizes = {
            "minimum_image_size": minimum,
            "maximum_image_size": downsample and downsample * 2,
            "target_downsample_size": downsample,
        }
    return from_config(
        drawn["resolution_type"],
        resolution,
        crop=drawn["crop"],
        crop_aspect=drawn["crop_aspect"],
        crop_style=drawn["crop_style"],
        crop_aspect_buckets=drawn["buckets"],
        aspect_bucket_rounding=drawn["aspect_bucket_rounding"],
        aspect_bucket_alignment=drawn["aspect_bucket_alignment"],
        **sizes,
    )


@settings(max_examples=200, deadline=None)
@given(
    codes=st.lists(st.integers(0, 3000), min_size=1, max_size=80),
    rounding=st.sampled_from([0, 1, 2, 3]),
    known=st.lists(st.integers(0, 3000), max_size=10),
    odd_key=st.booleans(),
    shuffler=st.randoms(use_true_random=False),
)
def test_the_aspect_map_by_counted_codes_equals_the_sorted_one(codes, rounding, known, odd_key, shuffler):
    """``apply_aspect_map`` with ``rounding`` (keys grouped by their integer codes, first rows found only for
    keys the map lacks) against the sort of every key: the rows' sizes and the map left behind. A key that
    is no ``rounding``-decimal number (``odd_key``) makes the codes refuse, and the sort is used."""
    from aspectbucket.geometry.simpletuner import apply_aspect_map

    scale = 10.0**rounding
    keys = np.array([code / scale for code in codes])
    if odd_key:
        keys[0] = 1.0 / 3.0
    targets_w = np.arange(len(keys), dtype=np.int64) * 64 + 64
    targets_h = targets_w[::-1].copy()
    order = np.array([row for row in range(len(keys)) if shuffler.random() < 0.8], dtype=np.int64)
    shuffler.shuffle(order)
    sorted_map = {code / scale: (code, code + 1) for code in known}
    counted_map = dict(sorted_map)
    by_sort = apply_aspect_map(keys, targets_w, targets_h, order, sorted_map)
    by_codes = apply_aspect_map(keys, targets_w, targets_h, order, counted_map, rounding)
    np.testing.assert_array_equal(by_codes[0], by_sort[0])
    np.testing.assert_array_equal(by_codes[1], by_sort[1])
    assert counted_map == sorted_map


@settings(max_examples=150, deadline=None)
@given(
    SETTINGS,
    st.lists(st.tuples(st.integers(1, 9000), st.integers(1, 9000)), min_size=1, max_size=80),
    st.integers(0, 2**16),
    st.randoms(use_true_random=False),
    st.booleans(),
)
def test_area_sizes_by_ratio_codes_equal_the_row_by_row_rules(drawn, sizes, seed, shuffler, squares):
    """``area`` mode from the images' own ratios is computed in tables per ratio code (``_area_sizes``);
    against the row-by-row rules (``_own_area`` off): every column and the map left behind, in a shuffled
    order, from a map already holding some keys, with square images (ratio 1, never mapped) among them."""
    from unittest import mock

    from aspectbucket.geometry import simpletuner as simpletuner_module

    area_type = "pixel_area" if drawn["resolution_type"] == "pixel_area" else "area"
    drawn = {**drawn, "resolution_type": area_type, "downsample": None}
    settings_ = _drawn_settings(drawn, with_sizes=True)
    widths, heights = np.array(sizes).T
    if squares:
        heights[::3] = widths[::3]
    order = list(range(len(sizes)))
    shuffler.shuffle(order)
    start = {settings_.resolution: {1.5: (1280, 832), 0.67: (832, 1280), 2.0: (1408, 704)}}
    by_codes_maps, by_rows_maps = {k: dict(v) for k, v in start.items()}, {k: dict(v) for k, v in start.items()}
    by_codes = simpletuner_prepare(widths, heights, settings_, order, seed, by_codes_maps)
    with mock.patch.object(simpletuner_module, "_own_area", lambda settings: False):
        by_rows = simpletuner_prepare(widths, heights, settings_, order, seed, by_rows_maps)
    for name in simpletuner_module._COLUMNS:
        np.testing.assert_array_equal(getattr(by_codes, name), getattr(by_rows, name), err_msg=name)
    assert by_codes_maps == by_rows_maps


@pytest.mark.parametrize(
    ("sizes", "order"),
    [
        ([(1500, 1000), (2000, 1000)], [0]),  # a part of the rows: row 1's key has no first row in the order
        ([(1500, 1000), (2000, 1000), (1000, 1300)], [0, 1]),
        ([(1500, 1000), (2000, 1000)], [0, 0]),  # a row twice
        ([(1500, 1000), (2000, 1000)], []),
    ],
)
def test_an_order_that_is_not_every_row_once_prepares_as_the_row_by_row_rules(sizes, order):
    """The ratio-code tables count every row's key for the map; a part of the rows goes row by row."""
    from unittest import mock

    from aspectbucket.geometry import simpletuner as simpletuner_module

    settings_ = from_config("area", 1.0)
    widths, heights = np.array(sizes).T
    maps, row_maps = {}, {}
    prepared = simpletuner_prepare(widths, heights, settings_, np.array(order, dtype=np.int64), 0, maps, crops=False)
    with mock.patch.object(simpletuner_module, "_own_area", lambda settings: False):
        rows = simpletuner_prepare(
            widths, heights, settings_, np.array(order, dtype=np.int64), 0, row_maps, crops=False
        )
    for name in ("key", "target_width", "target_height", "error"):
        np.testing.assert_array_equal(getattr(prepared, name), getattr(rows, name), err_msg=name)
    assert maps == row_maps


def test_a_negative_size_beside_a_thin_image_does_not_hide_its_crash():
    """A ratio that rounds to 0 crashes the trainer; a negative ratio (a failed row) in the same block must
    not move the tables so that the crash is missed."""
    settings_ = from_config("area", 1.0)
    alone = simpletuner_prepare(np.array([10]), np.array([3000]), settings_, crops=False)
    beside = simpletuner_prepare(np.array([10, -5]), np.array([3000, 7]), settings_, crops=False)
    assert alone.error[0] == beside.error[0] == PlacementError.TRAINER_CRASH
    assert beside.key[0] == alone.key[0]


@settings(max_examples=150, deadline=None)
@given(
    SETTINGS,
    st.lists(st.tuples(st.integers(1, 9000), st.integers(1, 9000)), min_size=1, max_size=80),
    st.randoms(use_true_random=False),
    st.booleans(),
    st.sampled_from([0.5, 1.0, 2.0]),
)
def test_ratio_code_tables_kept_across_blocks_equal_the_row_by_row_rules(drawn, sizes, shuffler, shuffled, scale):
    """The ratio-code tables are built once per pass and kept, widened and filled block by block (here
    blocks of 5 rows, in input order as the profile asks or shuffled), while the map is read once when
    they are built: against the row-by-row rules, every column and the map left behind. The map starts
    holding targets ``scale`` times the rules' own for the keys of some rows, so that mapped targets are
    wider, taller or smaller than the rows' own on their fitted side."""
    from unittest import mock

    from aspectbucket.geometry import simpletuner as simpletuner_module

    area_type = "pixel_area" if drawn["resolution_type"] == "pixel_area" else "area"
    settings_ = _drawn_settings({**drawn, "resolution_type": area_type, "downsample": None}, with_sizes=True)
    widths, heights = np.array(sizes).T
    order = list(range(len(sizes)))
    if shuffled:
        shuffler.shuffle(order)
    # Some rows' own targets and keys, from a run of the rules on a fresh map, scaled into the starting map.
    own = simpletuner_prepare(widths, heights, settings_, crops=False)
    start = {}
    for row in range(0, len(sizes), 3):
        if own.error[row] == PlacementError.OK:
            target = (int(own.target_width[row] * scale) or 1, int(own.target_height[row] * scale) or 1)
            start[float(own.key[row])] = target
    by_codes_maps = {settings_.resolution: dict(start)}
    by_rows_maps = {settings_.resolution: dict(start)}
    with mock.patch.object(simpletuner_module, "_BLOCK_ROWS", 5):
        by_codes = simpletuner_prepare(widths, heights, settings_, order if shuffled else None, 0, by_codes_maps, False)
        with mock.patch.object(simpletuner_module, "_own_area", lambda settings: False):
            by_rows = simpletuner_prepare(
                widths, heights, settings_, order if shuffled else None, 0, by_rows_maps, False
            )
    for name in simpletuner_module._SIZE_COLUMNS:
        np.testing.assert_array_equal(getattr(by_codes, name), getattr(by_rows, name), err_msg=name)
    assert by_codes_maps == by_rows_maps


@pytest.mark.parametrize(("order", "target"), [([0, 1], [256, 4160]), ([1, 0], [256, 4608])])
def test_a_key_of_two_ratios_stores_the_target_of_its_first_row_in_processing_order(order, target):
    """Ratios 0.06 and 0.05 have targets 256x4160 and 256x4608 at 1024 pixels, both key 0.06: whichever
    comes first in the processing order (not in the rows) stores its target, and the other reads it."""
    from unittest import mock

    from aspectbucket.geometry import simpletuner as simpletuner_module

    settings_ = from_config("pixel_area", 1024)
    widths, heights = np.array([300, 250]), np.array([5000, 5000])
    maps, row_maps = {}, {}
    prepared = simpletuner_prepare(widths, heights, settings_, np.array(order), 0, maps, crops=False)
    with mock.patch.object(simpletuner_module, "_own_area", lambda settings: False):
        rows = simpletuner_prepare(widths, heights, settings_, np.array(order), 0, row_maps, crops=False)
    assert prepared.target_width.tolist() == [target[0]] * 2
    assert prepared.target_height.tolist() == [target[1]] * 2
    assert maps == row_maps == {settings_.resolution: {0.06: tuple(target)}}
    for name in simpletuner_module._SIZE_COLUMNS:
        np.testing.assert_array_equal(getattr(prepared, name), getattr(rows, name), err_msg=name)


def test_square_images_of_ratio_1_skip_a_map_whose_key_1_is_not_square():
    """Square images of ratio 1 never touch the map; here its key 1 holds a target that is no square (a
    persisted map may hold anything), so ratio 1 is not among the square keys, and its square images are
    still edge-sized while the other image of ratio 1 reads the map."""
    from unittest import mock

    from aspectbucket.geometry import simpletuner as simpletuner_module

    settings_ = from_config("pixel_area", 1024)
    widths, heights = np.array([1000, 1003, 3000]), np.array([1000, 1000, 2000])
    maps = {settings_.resolution: {1.0: (1280, 832)}}
    row_maps = {settings_.resolution: {1.0: (1280, 832)}}
    prepared = simpletuner_prepare(widths, heights, settings_, None, 0, maps, crops=False)
    with mock.patch.object(simpletuner_module, "_own_area", lambda settings: False):
        rows = simpletuner_prepare(widths, heights, settings_, None, 0, row_maps, crops=False)
    assert prepared.target_width.tolist()[:2] == [1024, 1280]
    for name in simpletuner_module._SIZE_COLUMNS:
        np.testing.assert_array_equal(getattr(prepared, name), getattr(rows, name), err_msg=name)
    assert maps == row_maps


@pytest.mark.parametrize("rounding", [0, 1, 2, 3, 4])
def test_ratio_codes_at_halves_are_pythons_round(rounding):
    """The ratio code of every size up to 500x500 whose scaled ratio is within float noise of a half
    (thousands, most of them exact halves such as 1/8), and of a sample of the others, is Python's
    ``round(ratio, rounding)`` times ``10**rounding``."""
    from aspectbucket.geometry.simpletuner import _ratio_codes

    widths, heights = (grid.ravel() for grid in np.meshgrid(np.arange(1, 501), np.arange(1, 501)))
    ratio = widths / heights
    scaled = ratio * 10.0**rounding
    near_half = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    rows = np.flatnonzero(near_half | (np.arange(len(ratio)) % 97 == 0))
    assert near_half.sum() > 1000
    codes = _ratio_codes(ratio, rounding)
    expected = [round(round(value, rounding) * 10.0**rounding) for value in ratio[rows].tolist()]
    assert codes[rows].tolist() == expected
