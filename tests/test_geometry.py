"""Properties of the geometry layer, and the vectorised code checked against the scalar oracle."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from aspectbucket import BucketOptions, PlacementError, place
from aspectbucket.geometry import (
    Metric,
    TieBreak,
    kohya_grid,
    nearest_bucket,
    nice_ratio_fraction,
    ratio_fraction,
    switching_points,
    validate_options,
)
from aspectbucket.geometry.nearest import ratio_keys
from aspectbucket.geometry.reference import ReferenceBucketManager, center_trim_offsets, get_crop_ltrb
from aspectbucket.geometry.resize import CoverRounding, covering_precrop

sides = st.integers(min_value=1, max_value=12_000)


@st.composite
def kohya_options(draw) -> BucketOptions:
    step = draw(st.sampled_from([8, 16, 32, 64, 128]))
    width = draw(st.integers(4, 32)) * 32
    height = draw(st.integers(4, 32)) * 32
    minimum = draw(st.integers(1, min(width, height) // step)) * step
    maximum = draw(st.integers(-(-max(width, height) // step), 4096 // step)) * step
    no_upscale = draw(st.booleans())
    options = BucketOptions((width, height), minimum, maximum, step, no_upscale)
    return validate_options(options)[0]


def _scalar(options: BucketOptions, width: int, height: int):
    """The oracle's answer for one image, or None where sd-scripts would crash or return a 0 side."""
    try:
        bucket, resized, ar_error = ReferenceBucketManager(options).select_bucket(width, height)
    except ZeroDivisionError:
        return None
    if min(bucket) <= 0:
        return None
    return bucket, resized, ar_error


@settings(max_examples=300, deadline=None)
@given(options=kohya_options(), sizes=st.lists(st.tuples(sides, sides), min_size=1, max_size=20))
def test_vectorised_equals_scalar(options, sizes):
    widths, heights = np.array(sizes).T
    _assert_equals_scalar(place(widths, heights, options), options, sizes)


def _assert_equals_scalar(placement, options, sizes) -> None:
    """Every row of ``placement`` is sd-scripts' own bucket, resize, ratio error, SDXL box and trim."""
    for i, (width, height) in enumerate(sizes):
        expected = _scalar(options, width, height)
        if expected is None:
            assert placement.error[i] in (PlacementError.ZERO_SIDE, PlacementError.TRAINER_CRASH)
            continue
        bucket, resized, ar_error = expected
        row = placement.row(i)
        assert row["error"] == ""
        assert (row["bucket_width"], row["bucket_height"]) == tuple(bucket)
        assert (row["resized_width"], row["resized_height"]) == tuple(resized)
        assert row["ar_error"] == ar_error
        assert tuple(row["reported_crop_ltrb"]) == get_crop_ltrb(bucket, (width, height))
        assert (row["trim_left"], row["trim_top"]) == center_trim_offsets(resized, bucket)


@settings(max_examples=200, deadline=None)
@given(options=kohya_options(), sizes=st.lists(st.tuples(sides, sides), min_size=1, max_size=30))
def test_placement_invariants(options, sizes):
    widths, heights = np.array(sizes).T
    p = place(widths, heights, options)
    ok = p.ok
    step = options.bucket_reso_steps
    # Resized covers the bucket; the trim stays inside the overflow.
    assert (p.resized_width[ok] >= p.bucket_width[ok]).all()
    assert (p.resized_height[ok] >= p.bucket_height[ok]).all()
    assert (p.trim_left[ok] + p.bucket_width[ok] <= p.resized_width[ok]).all()
    assert (p.trim_top[ok] + p.bucket_height[ok] <= p.resized_height[ok]).all()
    assert ((p.lost_fraction[ok] >= 0) & (p.lost_fraction[ok] < 1)).all()
    assert (p.bucket_width[ok] > 0).all() and (p.bucket_height[ok] > 0).all()
    if options.bucket_no_upscale:
        # Sides are floored to the step and nothing grows.
        assert (p.bucket_width[ok] % step == 0).all() and (p.bucket_height[ok] % step == 0).all()
        assert not p.upscaled[ok].any()
        # sd-scripts rounds one side half up before flooring, so its bucket may exceed the budget
        # by a sliver on thin images (102x2619 at 160x160/8 -> 32x816); the corrected one never does.
    else:
        buckets = {tuple(b) for b in kohya_grid(options).tolist()}
        assert all(width * height <= options.max_area for width, height in buckets)
        assert {(int(w), int(h)) for w, h in zip(p.bucket_width[ok], p.bucket_height[ok], strict=True)} <= buckets


@settings(max_examples=200, deadline=None)
@given(
    options=kohya_options().filter(lambda o: o.bucket_no_upscale),
    sizes=st.lists(st.tuples(sides, sides), min_size=1, max_size=30),
)
def test_corrected_no_upscale_is_never_worse_in_area(options, sizes):
    widths, heights = np.array(sizes).T
    p = place(widths, heights, options)
    ok = p.ok & (p.corrected_width > 0)
    corrected_area = p.corrected_width[ok] * p.corrected_height[ok]
    assert (p.corrected_width[ok] <= p.width[ok]).all() and (p.corrected_height[ok] <= p.height[ok]).all()
    over = (p.width[ok] * p.height[ok]) > options.max_area
    assert (corrected_area[over] <= options.max_area).all()
    assert (p.corrected_width[ok] % options.bucket_reso_steps == 0).all()


def test_kohya_grid_orders_by_width_then_height_and_has_the_square():
    grid = kohya_grid(BucketOptions((512, 512)))
    assert len(grid) == 17
    assert [tuple(row) for row in grid.tolist()] == sorted(tuple(row) for row in grid.tolist())
    assert [512, 512] in grid.tolist()


@pytest.mark.parametrize(
    ("size", "bucket"),
    [((576, 768), (448, 576)), ((512, 752), (384, 640)), ((768, 512), (640, 384)), ((512, 512), (512, 512))],
)
def test_article_examples(size, bucket):
    p = place([size[0]], [size[1]], BucketOptions((512, 512)))
    assert (int(p.bucket_width[0]), int(p.bucket_height[0])) == bucket


def test_sdxl_coordinates_are_the_letterbox_not_the_real_trim():
    # spec section 4.3: 768x512 -> bucket 640x384, resized 640x427, 21 rows trimmed, reported (0, 32).
    p = place([768], [512], BucketOptions((512, 512)))
    assert (p.resized_width[0], p.resized_height[0]) == (640, 427)
    assert (p.trim_left[0], p.trim_top[0]) == (0, 21)
    left, top = p.reported_crop_ltrb[0][:2]
    assert (top, left) == (0.0, 32.0)  # crop_top_left as sd-scripts reports it


@pytest.mark.parametrize(
    ("size", "resolution", "kohya", "corrected"),
    [
        ((520, 512), 512, (448, 448), (512, 512)),
        ((600, 580), 512, (448, 448), (512, 512)),
        ((3072, 3000), 1024, (960, 960), (1024, 1024)),
    ],
)
def test_issue_731_step_loss_is_flagged_with_the_corrected_bucket(size, resolution, kohya, corrected):
    options = BucketOptions((resolution, resolution), 256, 2048, 64, bucket_no_upscale=True)
    p = place([size[0]], [size[1]], options)
    assert (p.bucket_width[0], p.bucket_height[0]) == kohya
    assert (p.corrected_width[0], p.corrected_height[0]) == corrected
    assert p.step_loss[0]


def test_no_upscale_image_within_budget_has_no_step_loss():
    p = place([500], [300], BucketOptions(bucket_no_upscale=True))
    assert (p.bucket_width[0], p.bucket_height[0]) == (448, 256)
    assert not p.step_loss[0]


@pytest.mark.parametrize(
    ("sizes", "reason"),
    [
        (([50], [400]), PlacementError.ZERO_SIDE),
        (([400], [50]), PlacementError.ZERO_SIDE),
        (([20000], [40]), PlacementError.TRAINER_CRASH),
    ],
)
def test_degenerate_no_upscale_sizes_are_errors_not_zero_buckets(sizes, reason):
    p = place(*sizes, BucketOptions(bucket_no_upscale=True))
    assert p.error[0] == reason
    assert p.bucket_width[0] == 0 and p.bucket_height[0] == 0


@pytest.mark.parametrize(
    ("width", "height", "reason"),
    [
        (None, 10, PlacementError.MISSING_SIZE),
        (float("nan"), 10, PlacementError.MISSING_SIZE),
        (0, 10, PlacementError.NOT_POSITIVE_INTEGER),
        (-5, 10, PlacementError.NOT_POSITIVE_INTEGER),
        (10.5, 10, PlacementError.NOT_POSITIVE_INTEGER),
        ("abc", 10, PlacementError.NOT_POSITIVE_INTEGER),
        (10, 1 << 21, PlacementError.TOO_LARGE),
        (float("inf"), 10, PlacementError.NOT_POSITIVE_INTEGER),
    ],
)
def test_bad_sizes_get_a_reason_and_keep_their_row(width, height, reason):
    p = place([width, 512], [height, 512])
    assert p.error.tolist() == [reason, PlacementError.OK]
    assert p.bucket_width[1] == 512


@settings(max_examples=200, deadline=None)
@given(
    buckets=st.lists(st.tuples(st.integers(1, 4000), st.integers(1, 4000)), min_size=1, max_size=40, unique=True),
    sizes=st.lists(st.tuples(sides, sides), min_size=1, max_size=40),
    metric=st.sampled_from([Metric.WIDTH_OVER_HEIGHT, Metric.HEIGHT_OVER_WIDTH, Metric.LOG, Metric.CROSS]),
    tie_break=st.sampled_from(list(TieBreak)),
)
def test_nearest_bucket_equals_brute_force_argmin(buckets, sizes, metric, tie_break):
    assume(tie_break is not TieBreak.SQUARER or metric is Metric.LOG)  # the pair the balanced profile uses
    _assert_nearest_is_argmin(buckets, sizes, metric, tie_break)


@settings(max_examples=20, deadline=None)
@given(
    buckets=st.lists(st.tuples(st.integers(1, 4000), st.integers(1, 4000)), min_size=65, max_size=150, unique=True),
    sizes=st.lists(st.tuples(sides, sides), min_size=1, max_size=20),
    tie_break=st.sampled_from([TieBreak.FIRST, TieBreak.LAST]),
)
def test_a_long_cross_metric_list_is_costed_directly_and_still_the_argmin(buckets, sizes, tie_break):
    """Past ENVELOPE_MAX_BUCKETS (a user's own diffusers list) the crossings are not built; same answer."""
    _assert_nearest_is_argmin(buckets, sizes, Metric.CROSS, tie_break)


def _assert_nearest_is_argmin(buckets, sizes, metric, tie_break) -> None:
    bucket_array = np.array(buckets, dtype=np.int64)
    widths, heights = np.array(sizes, dtype=np.int64).T
    got = nearest_bucket(bucket_array, widths, heights, metric, tie_break)
    area = bucket_array[:, 0] * bucket_array[:, 1]
    for i, (width, height) in enumerate(sizes):
        if metric is Metric.CROSS:
            cost = np.abs(height * bucket_array[:, 0] - width * bucket_array[:, 1])
        else:
            keys = ratio_keys(bucket_array[:, 0], bucket_array[:, 1], metric)
            cost = np.abs(keys - ratio_keys(np.array([width]), np.array([height]), metric)[0])
        best = np.flatnonzero(cost == cost.min())
        if tie_break is TieBreak.SQUARER:  # nearer square (the taller of two mirrored), larger, first
            expected = min(best, key=lambda j: (abs(keys[j]), keys[j], -area[j], j))
        else:
            expected = best[0] if tie_break is TieBreak.FIRST else best[-1]
        assert got[i] == expected


def test_switching_points_are_arithmetic_means_of_width_over_height():
    grid = kohya_grid(BucketOptions((512, 512)))
    points = switching_points(grid)
    assert len(points) == 16
    between = next(p for p in points if tuple(grid[p.lower]) == (384, 640))
    assert tuple(grid[between.upper]) == (448, 576)
    assert between.width_over_height == pytest.approx((384 / 640 + 448 / 576) / 2)
    # The article's height/width midpoint puts the switch elsewhere: 512x752 lies between the two.
    assert between.article_width_over_height < 512 / 752 < between.width_over_height
    widths = np.array([round(between.width_over_height * 10_000) - 1, round(between.width_over_height * 10_000) + 1])
    p = place(widths, [10_000, 10_000], BucketOptions((512, 512)))
    assert [tuple(row) for row in zip(p.bucket_width.tolist(), p.bucket_height.tolist(), strict=True)] == [
        (384, 640),
        (448, 576),
    ]


def test_ratio_fractions():
    assert ratio_fraction(448, 576) == "7:9"
    assert ratio_fraction(1024, 256) == "4:1"
    assert nice_ratio_fraction(1001, 1500) == "2:3"


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.tuples(sides, sides), min_size=1, max_size=20),
    buckets=st.lists(st.tuples(st.integers(1, 4000), st.integers(1, 4000)), min_size=1, max_size=1),
)
def test_covering_precrop_stays_inside_the_image_and_matches_the_ratio(sizes, buckets):
    widths, heights = np.array(sizes).T
    bw = np.full(len(sizes), buckets[0][0])
    bh = np.full(len(sizes), buckets[0][1])
    box = covering_precrop(widths, heights, bw, bh)
    assert (box[:, 0] >= 0).all() and (box[:, 1] >= 0).all()
    assert (box[:, 2] <= widths).all() and (box[:, 3] <= heights).all()
    box_w, box_h = box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]
    assert ((box_w == widths) | (box_h == heights)).all()
    # Within one pixel of rounding the box has the bucket's ratio.
    assert (np.abs(box_w * bh - box_h * bw) <= np.maximum(bw, bh)).all()


@settings(max_examples=300, deadline=None)
@given(
    keys=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=50, unique=True),
    values=st.lists(st.floats(allow_nan=False), min_size=1, max_size=50),
)
def test_sorted_keys_position_equals_searchsorted(keys, values):
    from aspectbucket.geometry.nearest import SortedKeys

    keys = np.unique(np.array(keys, dtype=np.float64))
    values = np.array(values + keys.tolist() + np.nextafter(keys, np.inf).tolist(), dtype=np.float64)
    assert SortedKeys(keys).position(values).tolist() == np.searchsorted(keys, values).tolist()


def test_gathering_blocks_placed_with_different_options_keeps_every_column():
    from aspectbucket.geometry.placement import gather_placements

    sizes = np.array([[520, 512], [3072, 3000], [100, 400], [768, 512]])
    with_upscale = place(sizes[:2, 0], sizes[:2, 1], BucketOptions((512, 512)))
    without = place(sizes[2:, 0], sizes[2:, 1], BucketOptions((512, 512), bucket_no_upscale=True))
    joined = gather_placements(
        [(np.array([0, 2]), with_upscale, slice(None)), (np.array([1, 3]), without, slice(None))], 4
    )
    for name in ("bucket_width", "resized_height", "corrected_width", "step_loss", "reported_crop_ltrb", "ar_error"):
        assert getattr(joined, name)[[0, 2]].tolist() == getattr(with_upscale, name).tolist()
        assert getattr(joined, name)[[1, 3]].tolist() == getattr(without, name).tolist()
    assert joined.take([3, 0]).row(0) == without.row(1)


def test_options_take_a_list_or_a_single_size_as_resolution():
    assert BucketOptions([512, 768]) == BucketOptions((512, 768))
    assert BucketOptions(1024).resolution == (1024, 1024)
    assert hash(BucketOptions([512, 768])) == hash(BucketOptions((512, 768)))


@settings(max_examples=150, deadline=None)
@given(options=kohya_options(), sizes=st.lists(st.tuples(sides, sides), min_size=5, max_size=40))
def test_blocks_written_into_the_output_equal_scalar(options, sizes):
    """Blocks of 4 rows write straight into the output's columns; each row still equals the oracle."""
    from unittest import mock

    from aspectbucket.profiles import profile as profile_module

    widths, heights = np.array(sizes).T
    with mock.patch.object(profile_module, "BLOCK_ROWS", 4):
        placement = place(widths, heights, options)
    _assert_equals_scalar(placement, options, sizes)


@settings(max_examples=200, deadline=None)
@given(sizes=st.lists(st.tuples(sides, sides, st.integers(1, 64), st.integers(1, 64)), min_size=1, max_size=30))
def test_cover_resize_of_float_sizes_into_out_equals_integer_sizes(sizes):
    """Float64 sizes and ``out`` arrays (the block path) give the integer path's resize, bit for bit."""
    from aspectbucket.geometry.resize import cover_resize

    widths, heights, bucket_w, bucket_h = (np.array(column, dtype=np.int64) for column in zip(*sizes, strict=True))
    bucket_w, bucket_h = bucket_w * 64, bucket_h * 64
    expected = cover_resize(widths, heights, bucket_w, bucket_h)
    out = (np.full(len(widths), -7), np.full(len(widths), -7))
    got = cover_resize(
        widths.astype(float), heights.astype(float), bucket_w.astype(float), bucket_h.astype(float), out=out
    )
    assert got[0] is out[0] and got[1] is out[1]
    for want, have, bucket in zip(expected, got, (bucket_w, bucket_h), strict=True):
        np.testing.assert_array_equal(have, want)
        assert (want >= bucket).all()
    # The scalar rule: int(side * scale + 0.5) with sd-scripts' choice of scale.
    for i in range(len(widths)):
        w, h, bw, bh = (int(column[i]) for column in (widths, heights, bucket_w, bucket_h))
        scale = bh / h if w / h > bw / bh else bw / w
        assert (expected[0][i], expected[1][i]) == (int(w * scale + 0.5), int(h * scale + 0.5))


@pytest.mark.skipif(__import__("platform").libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_freed_block_memory_is_kept_on_glibc():
    from aspectbucket.profiles.profile import keep_freed_block_memory

    assert keep_freed_block_memory() is True


@settings(max_examples=100, deadline=None)
@given(
    buckets=st.lists(st.tuples(st.integers(1, 40), st.integers(1, 40)), min_size=1, max_size=12),
    scale=st.integers(1, 64),
    tie_break=st.sampled_from([TieBreak.FIRST, TieBreak.LAST]),
)
def test_cross_metric_at_and_around_every_crossing_equals_brute_force(buckets, scale, tie_break):
    """Images exactly on a ratio where two buckets cost the same, and a pixel off it, are where a table
    lookup of float ratios could go wrong: each must get the brute-force integer argmin."""
    import itertools

    bucket_array = np.array(buckets, dtype=np.int64) * 16
    sizes = []
    for (width_i, height_i), (width_j, height_j) in itertools.combinations(bucket_array.tolist(), 2):
        for width, height in ((width_i + width_j, height_i + height_j), (width_i - width_j, height_i - height_j)):
            if width * height > 0:
                width, height = abs(width) * scale, abs(height) * scale
                sizes += [(width, height), (width + 1, height), (width, height + 1), (max(1, width - 1), height)]
    sizes += [(width * scale, height * scale) for width, height in bucket_array.tolist()]
    widths, heights = np.array(sizes, dtype=np.int64).T
    got = nearest_bucket(bucket_array, widths, heights, Metric.CROSS, tie_break)
    cost = np.abs(heights[:, None] * bucket_array[None, :, 0] - widths[:, None] * bucket_array[None, :, 1])
    for i in range(len(sizes)):
        best = np.flatnonzero(cost[i] == cost[i].min())
        assert got[i] == (best[0] if tie_break is TieBreak.FIRST else best[-1])


def _cover_one(width, height, bucket_w, bucket_h, rounding):
    """Each trainer's covering resize for one image, in Python numbers (the scalar oracle)."""
    import math

    if rounding is CoverRounding.MATCHED_HALF_EVEN:
        if height / width > bucket_h / bucket_w:
            return bucket_w, round(height * (bucket_w / width))
        return round(width * (bucket_h / height)), bucket_h
    if rounding is CoverRounding.CEIL:
        scale = max(bucket_w / width, bucket_h / height)
        return math.ceil(width * scale), math.ceil(height * scale)
    if rounding is CoverRounding.MAX_SCALE_HALF_EVEN:
        scale = max(bucket_h / height, bucket_w / width)
        return round(width * scale), round(height * scale)
    if rounding is CoverRounding.EXACT_HALF_UP:
        if width * bucket_h > height * bucket_w:
            return int(width * bucket_h / height + 0.5), bucket_h
        return bucket_w, int(height * bucket_w / width + 0.5)
    scale = bucket_h / height if width / height > bucket_w / bucket_h else bucket_w / width
    return int(width * scale + 0.5), int(height * scale + 0.5)


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.tuples(sides, sides, st.integers(1, 64), st.integers(1, 64)), min_size=1, max_size=30),
    rounding=st.sampled_from(list(CoverRounding)),
    as_float=st.booleans(),
)
def test_every_cover_rounding_equals_its_scalar_rule(sizes, rounding, as_float):
    """Integer or float64 sizes (the block path passes floats): each row is the trainer's own arithmetic."""
    from aspectbucket.geometry.resize import cover_resize_rounded

    columns = [np.array(column, dtype=np.int64) for column in zip(*sizes, strict=True)]
    columns[2], columns[3] = columns[2] * 32, columns[3] * 32
    given_columns = [column.astype(np.float64) for column in columns] if as_float else columns
    resized_w, resized_h = cover_resize_rounded(*given_columns, rounding)
    assert resized_w.dtype == resized_h.dtype == np.int64
    for i, row in enumerate(zip(*(column.tolist() for column in columns), strict=True)):
        assert (resized_w[i], resized_h[i]) == _cover_one(*row, rounding)


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.tuples(st.integers(1, 64), st.integers(1, 64), st.integers(1, 200)), min_size=1, max_size=30),
    nudge=st.sampled_from([-1, 0, 1]),
    as_float=st.booleans(),
)
def test_exact_cover_at_and_next_to_the_bucket_ratio_equals_its_scalar_rule(sizes, nudge, as_float):
    """EXACT_HALF_UP takes the larger of each fitted side and the bucket's side instead of choosing by
    ``w * bh > h * bw``: images of exactly the bucket's ratio (scaled by a factor) and one pixel off it."""
    from aspectbucket.geometry.resize import cover_resize_rounded

    bucket_w, bucket_h, factor = (np.array(column, dtype=np.int64) for column in zip(*sizes, strict=True))
    bucket_w, bucket_h = bucket_w * 32, bucket_h * 32
    widths, heights = np.maximum(bucket_w * factor // 8 + nudge, 1), np.maximum(bucket_h * factor // 8, 1)
    columns = [widths, heights, bucket_w, bucket_h]
    given_columns = [column.astype(np.float64) for column in columns] if as_float else columns
    resized_w, resized_h = cover_resize_rounded(*given_columns, CoverRounding.EXACT_HALF_UP)
    for i, row in enumerate(zip(*(column.tolist() for column in columns), strict=True)):
        assert (resized_w[i], resized_h[i]) == _cover_one(*row, CoverRounding.EXACT_HALF_UP)


@settings(max_examples=200, deadline=None)
@given(
    buckets=st.lists(st.tuples(st.integers(1, 4096), st.integers(1, 4096)), min_size=2, max_size=40),
    offsets=st.lists(st.integers(-40, 40), min_size=1, max_size=20),
)
def test_shifted_intervals_answer_only_values_with_a_strictly_nearest_key(buckets, offsets):
    """Signed log keys of bucket sizes (the balanced profile's): a value the table answers, even a few ulps
    from a midpoint, has that key strictly nearest by the float distance; ties always go to the exact path."""
    from aspectbucket.geometry.nearest import ShiftedIntervals

    sides = np.array(buckets, dtype=np.int64)
    keys = np.unique(ratio_keys(sides[:, 0], sides[:, 1], Metric.LOG))
    assume(len(keys) >= 2)
    table = ShiftedIntervals(keys)
    midpoints = (keys[:-1] + keys[1:]) / 2
    values = [keys, np.linspace(-9, 9, 101), midpoints]
    for offset in offsets:  # a few ulps either side of every midpoint
        values.append(midpoints + offset * np.spacing(midpoints))
    values = np.concatenate(values)
    group = table.group(values)
    for value, answer in zip(values.tolist(), group.tolist(), strict=True):
        if answer < 0:
            continue
        distance = np.abs(keys - value)
        assert np.flatnonzero(distance == distance.min()).tolist() == [answer]


def test_assembling_zeroes_failed_rows_without_changing_the_callers_arrays():
    """Failed rows already zero are left as they are (no copy); a failed row that is not is zeroed in a copy."""
    from aspectbucket.geometry.placement import assemble_placement

    sizes = np.array([100, 200, 300])
    errors = np.array([0, PlacementError.TOO_SMALL, 0], dtype=np.int8)
    zeroed, dirty = np.array([64, 0, 128]), np.array([64, 999, 128])
    index = np.array([-1, -1, -1])
    placement = assemble_placement(sizes, sizes, errors, index, zeroed, dirty, zeroed, dirty)
    assert placement.bucket_width is zeroed and placement.bucket_index is index
    assert placement.bucket_height.tolist() == [64, 0, 128] and dirty.tolist() == [64, 999, 128]
    assert placement.resized_height.tolist() == [64, 0, 128]


def test_a_zero_side_fails_placed_rows_only_and_leaves_the_callers_codes():
    """A 0-pixel bucket side turns a placed row into ZERO_SIDE; a row that failed before keeps its reason,
    and the caller's error array is not changed."""
    from aspectbucket.geometry.placement import assemble_placement

    sizes = np.array([100, 200, 300, 400])
    errors = np.array([0, PlacementError.TOO_SMALL, 0, 0], dtype=np.int8)
    bucket_w, bucket_h = np.array([0, 0, 64, 64]), np.array([64, 0, 64, 0])
    placement = assemble_placement(sizes, sizes, errors, np.full(4, -1), bucket_w, bucket_h, sizes, sizes)
    zero, too_small = PlacementError.ZERO_SIDE, PlacementError.TOO_SMALL
    assert placement.error.tolist() == [zero, too_small, PlacementError.OK, zero]
    assert errors.tolist() == [0, too_small, 0, 0]
