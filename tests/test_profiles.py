"""Every trainer profile: bucket lists worked out by hand from each trainer's rule, placement rules,
invariants on the reference sizes, and the rotation symmetry of ``balanced``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aspectbucket import PROFILES, BucketOptions, OptionsError, PlacementError, bucket_list, place


def sizes_of(profile: str, **options) -> list[tuple[int, int]]:
    chosen = PROFILES[profile]
    merged = chosen.defaults if not options else BucketOptions(**{**chosen.defaults.__dict__, **options})
    return [tuple(row) for row in bucket_list(merged, profile).tolist()]


def square(side: int, **extra) -> dict:
    return {"resolution": (side, side), **extra}


def test_kohya_stays_first_and_default():
    assert next(iter(PROFILES)) == "kohya"
    assert set(PROFILES) == {
        "kohya",
        "balanced",
        "novelai",
        "musubi",
        "onetrainer",
        "diffusers",
        "simpletuner",
        "everydream2",
        "ai-toolkit",
        "diffusion-pipe",
    }


# --- OneTrainer: ratios 1..4 (h:w) and inverses, scaled to target**2, sides rounded to the quantization.


def test_onetrainer_1024_q64_has_17_buckets():
    landscape = [
        (1024, 1024),
        (1152, 896),
        (1280, 832),
        (1344, 768),
        (1472, 704),
        (1600, 640),
        (1792, 576),
        (1920, 576),
        (2048, 512),
    ]
    expected = set(landscape) | {(h, w) for w, h in landscape}
    got = sizes_of("onetrainer", **square(1024, bucket_reso_steps=64))
    assert len(got) == 17 and set(got) == expected
    assert (1920, 576) in got  # 1.105 x the area budget: quantization overshoots


def test_onetrainer_512_q64_merges_ratios_1_75_and_2():
    # 1.75 -> h 387 -> 384, w 677 -> 704; 2.0 -> h 362 -> 384, w 724 -> 704: the same bucket.
    landscape = [(576, 448), (640, 448), (704, 384), (832, 320), (896, 320), (960, 256), (1024, 256)]
    expected = {(512, 512)} | set(landscape) | {(h, w) for w, h in landscape}
    got = sizes_of("onetrainer", **square(512, bucket_reso_steps=64))
    assert len(got) == 15 and set(got) == expected


def test_onetrainer_measures_height_over_width():
    # The bucket is the argmin of |bucket h/w - image h/w|, as mgds computes it.
    buckets = np.array(sizes_of("onetrainer", **square(1024, bucket_reso_steps=64)))
    image_key = 700 / 1000
    keys = buckets[:, 1] / buckets[:, 0]
    expected = tuple(buckets[np.argmin(np.abs(keys - image_key))])
    p = place([1000], [700], BucketOptions(resolution=(1024, 1024), bucket_reso_steps=64), "onetrainer")
    assert (p.bucket_width[0], p.bucket_height[0]) == expected == (1280, 832)


def test_onetrainer_refuses_a_non_square_target():
    with pytest.raises(OptionsError, match="target resolution"):
        bucket_list(BucketOptions(resolution=(1024, 768), bucket_reso_steps=64), "onetrainer")


# --- musubi-tuner: widths from floor_step(side / 2) to side, h = floor_step(A // w), both orientations.


def test_musubi_1024_step16_has_65_buckets():
    got = sizes_of("musubi", **square(1024, bucket_reso_steps=16))
    assert len(got) == 65  # 33 widths 512..1024, the last one square
    assert got[0] == (512, 2048) and got[-1] == (2048, 512)
    assert (528, 1984) in got  # 1048576 // 528 = 1985 -> 1984


def test_musubi_512_step16_has_33_buckets():
    got = sizes_of("musubi", **square(512, bucket_reso_steps=16))
    assert len(got) == 33
    assert (256, 1024) in got and (272, 960) in got  # 262144 // 272 = 963 -> 960
    assert got == sorted(got)


def test_musubi_no_upscale_keeps_small_images_and_lists_large_ones():
    options = BucketOptions(resolution=(512, 512), bucket_reso_steps=16, bucket_no_upscale=True)
    p = place([300, 1000], [200, 1000], options, "musubi")
    assert (p.bucket_width[0], p.bucket_height[0]) == (288, 192)  # own size floored to 16
    assert p.bucket_index[0] == -1 and not p.upscaled[0]
    assert (p.bucket_width[1], p.bucket_height[1]) == (512, 512) and p.bucket_index[1] >= 0


# --- diffusers: 11 ratios scaled to resolution**2, each side rounded to 16.


def test_diffusers_1024_has_the_11_ratios():
    assert sizes_of("diffusers", **square(1024)) == [
        (1024, 1024),
        (912, 1152),
        (1152, 912),
        (832, 1248),
        (1248, 832),
        (880, 1184),
        (1184, 880),
        (768, 1360),
        (1360, 768),
        (720, 1456),
        (1456, 720),
    ]


def test_diffusers_512():
    assert sizes_of("diffusers", **square(512)) == [
        (512, 512),
        (464, 576),
        (576, 464),
        (416, 624),
        (624, 416),
        (448, 592),
        (592, 448),
        (384, 688),
        (688, 384),
        (368, 720),
        (720, 368),
    ]


def test_diffusers_tie_goes_to_the_last_bucket():
    # A 2x1 list where 1:1 and 4:1 are equally far from 2:1 under |h*bw - w*bh| (w=2, h=1).
    from aspectbucket.geometry.nearest import Metric, TieBreak, nearest_bucket

    buckets = np.array([[3, 1], [1, 1]])
    assert nearest_bucket(buckets, np.array([2]), np.array([1]), Metric.CROSS, TieBreak.LAST)[0] == 1
    assert nearest_bucket(buckets, np.array([2]), np.array([1]), Metric.CROSS, TieBreak.FIRST)[0] == 0


# --- EveryDream2: hand-made tables.


def test_everydream2_tables():
    at_1024 = sizes_of("everydream2", **square(1024))
    assert len(at_1024) == 15 and at_1024[0] == (1024, 1024) and at_1024[-2:] == [(2048, 512), (512, 2048)]
    at_512 = sizes_of("everydream2", **square(512))
    assert len(at_512) == 11 and (896, 256) in at_512 and (832, 256) not in at_512
    assert sizes_of("everydream2", **square(1000)) == sizes_of("everydream2", **square(960))  # floored to 64


def test_everydream2_refuses_a_resolution_without_table():
    # victorchall/EveryDream2trainer@5098db83 has tables 256..1152, 1280 and 1536 (1408's is never offered).
    for side in (1216, 1408, 200):
        with pytest.raises(OptionsError, match="no bucket table"):
            bucket_list(BucketOptions(resolution=(side, side)), "everydream2")
    assert len(sizes_of("everydream2", **square(448))) == 7
    assert sizes_of("everydream2", **square(1599))[-1] == (768, 3072)


def test_everydream2_tables_keep_the_trainers_quirks():
    assert sizes_of("everydream2", **square(320))[-1] == (576, 640)  # written where 128x576 was meant
    assert (1408, 1344) in sizes_of("everydream2", **square(1280))
    assert (1088, 512) not in sizes_of("everydream2", **square(768))  # commented out in the trainer's table


def test_everydream2_crop_is_centred_on_average_and_sizes_are_upright():
    # _trim_to_aspect cuts at random.triangular(0, overflow): the centre is its mode and mean.
    p = place([1000], [500], BucketOptions(resolution=(512, 512)), "everydream2")
    assert (p.bucket_width[0], p.bucket_height[0]) == (640, 384)
    assert p.trim_left[0] == (p.resized_width[0] - 640) // 2 and p.trim_top[0] == 0
    assert PROFILES["everydream2"].exif == "apply" and PROFILES["everydream2"].random_crop


# --- NovelAI: kohya-like grid plus the base square, log distance, drops |ar error| >= 4.


def test_novelai_default_grid_has_19_buckets():
    got = sizes_of("novelai")  # max_size 768x512, divisible 64, min_dim 256, dim_limit 1024
    assert len(got) == 19
    assert got[:3] == [(256, 1024), (320, 1024), (384, 1024)]
    assert (512, 512) in got and (512, 704) in got and (1024, 256) in got


def test_novelai_base_square_shadows_1024_square():
    got = sizes_of("novelai", **square(1024))
    assert len(got) == 26  # 13 widths x 1024 tall, the base square, 12 heights x 1024 wide
    assert got.index((512, 512)) < got.index((1024, 1024))
    p = place([2000], [2000], BucketOptions(resolution=(1024, 1024)), "novelai")
    assert (p.bucket_width[0], p.bucket_height[0]) == (512, 512)


def test_novelai_drops_very_wide_images_only():
    p = place([8000, 100], [1000, 8000], profile="novelai")
    assert p.error[0] == PlacementError.RATIO_TOO_EXTREME  # widest bucket 4:1, error 4
    assert p.error[1] == PlacementError.OK


# --- SimpleTuner: per-image bucket from the image's rounded ratio and the megapixel budget.


def test_simpletuner_sizes_by_hand():
    options = BucketOptions(resolution=(1024, 1024), min_bucket_reso=0, bucket_reso_steps=64)
    p = place([1000, 1500, 1000], [1000, 1000, 1500], options, "simpletuner")
    # 1.5: sqrt(1572864) = 1254 -> 1280, sqrt(699051) = 836 -> 832; 1280 * 832 >= 1048576.
    assert list(zip(p.bucket_width.tolist(), p.bucket_height.tolist(), strict=True)) == [
        (1024, 1024),
        (1280, 832),
        (832, 1280),
    ]
    assert (p.bucket_index == -1).all() and len(bucket_list(profile="simpletuner")) == 0


def test_simpletuner_minimum_image_size():
    # With pixel_area the minimum is an area too: 512 px means 512**2 pixels, so 400x600 is skipped.
    options = BucketOptions(resolution=(1024, 1024), min_bucket_reso=512, bucket_reso_steps=64)
    p = place([400, 600], [600, 800], options, "simpletuner")
    assert p.error.tolist() == [PlacementError.TOO_SMALL, PlacementError.OK]


# --- ai-toolkit: each image scaled to at most the resolution's area, four snapped candidates, nearest area.


def test_ai_toolkit_sizes_by_hand():
    p = place([1024, 300, 2000], [1024, 300, 1000], BucketOptions(resolution=(512, 512)), "ai-toolkit")
    # 300x300 keeps its area 90000: of 256x256, 256x320, 320x256, 320x320 the first nearest is 256x320.
    # 2000x1000 shrinks to 262144 px (724x362): 704x320 and 768x320 fit, 768x320 is nearer.
    assert list(zip(p.bucket_width.tolist(), p.bucket_height.tolist(), strict=True)) == [
        (512, 512),
        (256, 320),
        (768, 320),
    ]


# --- every profile on the reference sizes.


@pytest.mark.parametrize("name", list(PROFILES))
@pytest.mark.parametrize("no_upscale", [False, True])
def test_reference_sizes_place_under_every_profile(kohya_vectors, name, no_upscale):
    sizes = np.array([case["image"] for config in kohya_vectors["configs"] for case in config["cases"]])
    options = PROFILES[name].defaults
    options = BucketOptions(**{**options.__dict__, "bucket_no_upscale": no_upscale})
    p = place(sizes[:, 0], sizes[:, 1], options, name)
    allowed = {PlacementError.OK, PlacementError.ZERO_SIDE, PlacementError.TRAINER_CRASH}
    allowed |= {PlacementError.RATIO_TOO_EXTREME} if name == "novelai" else set()
    assert set(p.error.tolist()) <= allowed
    assert p.ok.mean() > 0.85
    ok = p.ok
    assert (p.resized_width[ok] >= p.bucket_width[ok]).all()
    assert (p.resized_height[ok] >= p.bucket_height[ok]).all()
    assert (p.trim_left[ok] <= p.resized_width[ok] - p.bucket_width[ok]).all()
    assert (p.trim_top[ok] <= p.resized_height[ok] - p.bucket_height[ok]).all()
    assert (p.bucket_width[ok] > 0).all() and (p.bucket_height[ok] > 0).all()


def test_balanced_never_upscales(kohya_vectors):
    sizes = np.array([case["image"] for config in kohya_vectors["configs"] for case in config["cases"]])
    p = place(sizes[:, 0], sizes[:, 1], profile="balanced")
    assert p.ok.all() and not p.upscaled.any()


def test_ai_toolkit_never_upscales_images_above_its_resolution():
    rng = np.random.default_rng(3)
    widths = rng.integers(512, 4000, 3000)
    heights = np.clip((widths * rng.uniform(0.25, 4.0, 3000)).astype(np.int64), 512, None)
    p = place(widths, heights, profile="ai-toolkit")
    assert p.ok.all() and not p.upscaled.any()


def test_ai_toolkit_enlarges_small_images_a_little():
    # sqrt(392 * 380) = 385 -> ladder 385 -> 384x384, taller than the image: 397x384.
    p = place([392], [380], profile="ai-toolkit")
    assert (p.bucket_width[0], p.bucket_height[0]) == (384, 384)
    assert (p.resized_width[0], p.resized_height[0]) == (397, 384)
    assert p.upscaled[0]


def test_balanced_keeps_crop_under_its_limit_for_large_images():
    rng = np.random.default_rng(5)
    widths = rng.integers(1100, 9000, 2000)
    heights = np.clip((widths * rng.uniform(0.25, 4.0, 2000)).astype(np.int64), 1100, None)
    p = place(widths, heights, profile="balanced")
    assert p.ok.all() and (p.lost_fraction <= 0.2).all() and not p.upscaled.any()
    assert (p.bucket_width * p.bucket_height <= 1024 * 1024).all()


def test_balanced_fallback_respects_the_largest_side():
    p = place([4000, 300], [300, 4000], profile="balanced")  # own-ratio bucket would be 3712x256
    assert p.bucket_width.tolist() == [2048, 256] and p.bucket_height.tolist() == [256, 2048]
    assert not p.upscaled.any()


# --- balanced: the bucket of a rotated image is the rotated bucket.


@settings(max_examples=400, deadline=None)
@given(
    st.integers(1, 12000),
    st.integers(1, 12000),
    st.sampled_from([512, 768, 1024]),
    st.booleans(),
)
def test_balanced_is_rotation_symmetric(width, height, side, no_upscale):
    options = BucketOptions(
        resolution=(side, side),
        min_bucket_reso=256,
        max_bucket_reso=2048,
        bucket_reso_steps=64,
        bucket_no_upscale=no_upscale,
    )
    p = place([width, height], [height, width], options, "balanced")
    assert p.error[0] == p.error[1]
    assert (p.bucket_width[0], p.bucket_height[0]) == (p.bucket_height[1], p.bucket_width[1])
    assert (p.resized_width[0], p.resized_height[0]) == (p.resized_height[1], p.resized_width[1])
    assert (p.trim_left[0], p.trim_top[0]) == (p.trim_top[1], p.trim_left[1])


def test_balanced_symmetry_on_a_dense_grid():
    sides = np.arange(200, 3200, 7)
    widths, heights = (grid.ravel() for grid in np.meshgrid(sides, sides))
    options = BucketOptions(
        resolution=(512, 512), min_bucket_reso=256, max_bucket_reso=1024, bucket_reso_steps=64, bucket_no_upscale=False
    )
    forward = place(widths, heights, options, "balanced")
    rotated = place(heights, widths, options, "balanced")
    assert np.array_equal(forward.bucket_width, rotated.bucket_height)
    assert np.array_equal(forward.bucket_height, rotated.bucket_width)
    # kohya's linear w/h distance fails this for some of the same sizes.
    kohya_forward = place(widths, heights, options, "kohya")
    kohya_rotated = place(heights, widths, options, "kohya")
    assert not np.array_equal(kohya_forward.bucket_width, kohya_rotated.bucket_height)


@pytest.mark.parametrize("name", list(PROFILES))
@pytest.mark.parametrize("no_upscale", [False, True])
def test_explain_works_under_every_profile(name, no_upscale):
    from aspectbucket.profiles import resolve
    from aspectbucket.report.explain import explain_size

    profile, options, _ = resolve(
        name, BucketOptions(**{**PROFILES[name].defaults.__dict__, "bucket_no_upscale": no_upscale})
    )
    for width, height in [(768, 512), (300, 200), (5000, 300), (1024, 1024)]:
        result = explain_size(width, height, options, profile)
        assert result["sentences"] and result["sentences"][0].startswith(f"{width}x{height}")


@pytest.mark.parametrize("no_upscale", [False, True])
@pytest.mark.parametrize("name", list(PROFILES))
def test_blocks_on_threads_place_like_one_block(monkeypatch, name, no_upscale):
    """Large inputs are placed in blocks on a thread pool; every column must equal the one-block result."""
    from aspectbucket.geometry.placement import Placement
    from aspectbucket.profiles import profile as profile_module

    rng = np.random.default_rng(7)
    widths = rng.integers(16, 5000, 997)
    heights = rng.integers(16, 5000, 997)
    widths[::50], heights[1::50] = 0, 100_000  # bad rows in several blocks
    widths[2::50], heights[2::50] = 50, 400  # thin images: trainer crashes, 0-pixel sides
    options = BucketOptions(**{**PROFILES[name].defaults.__dict__, "bucket_no_upscale": no_upscale})
    whole = place(widths, heights, options, name)
    monkeypatch.setattr(profile_module, "BLOCK_ROWS", 64)
    blocked = place(widths, heights, options, name)
    for column in Placement.COLUMNS:
        np.testing.assert_array_equal(getattr(blocked, column), getattr(whole, column), err_msg=column)
    assert blocked.error.any() and blocked.ok.any()


def _place_many_in_child(queue) -> None:
    rng = np.random.default_rng(1)
    placement = place(rng.integers(64, 4000, 200_000), rng.integers(64, 4000, 200_000), BucketOptions())
    queue.put(int(placement.bucket_width.sum()))


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_a_forked_child_places_large_inputs_with_its_own_threads():
    """A child forked after the parent's placement threads started must not wait on threads it lacks."""
    import multiprocessing

    rng = np.random.default_rng(1)
    expected = int(
        place(rng.integers(64, 4000, 200_000), rng.integers(64, 4000, 200_000), BucketOptions()).bucket_width.sum()
    )
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_place_many_in_child, args=(queue,))
    child.start()
    try:
        assert queue.get(timeout=60) == expected
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0


def test_options_merge_in_one_order_command_line_over_config_over_defaults():
    from aspectbucket.profiles import merge_options

    assert merge_options("kohya").resolution == (512, 512)
    merged = merge_options("kohya", {"resolution": (1024, 1024), "max_bucket_reso": 2048}, {"max_bucket_reso": 1536})
    assert (merged.resolution, merged.max_bucket_reso, merged.min_bucket_reso) == ((1024, 1024), 1536, 256)
    assert merge_options("onetrainer").resolution == PROFILES["onetrainer"].defaults.resolution
