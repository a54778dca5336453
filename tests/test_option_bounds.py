"""Option values at and past their bounds, for every profile: a one-line OptionsError or a result, never a
crash, a hang or an overflow (issue 15: steps larger than the resolution crashed several profiles)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aspectbucket.geometry.options import MAX_COUNT, MAX_SIDE, BucketOptions, OptionsError, check_count
from aspectbucket.profiles import PROFILES
from aspectbucket.profiles.registry import bucket_list, place

#: Image sizes every accepted combination must place without an exception (errors are rows' reasons).
SIZES = ([1, 64, 640, 4000, 1], [1, 640, 480, 30, 4000])

GRID = list(
    itertools.product(
        (64, 256, 768, 1024),  # resolution
        (8, 64, 100, 128, 1024, 2048),  # step, some larger than the resolution
        (1, 64, 256),  # min_bucket_reso
        (512, 1024, 4096),  # max_bucket_reso
        (False, True),  # bucket_no_upscale
    )
)


def try_profile(name: str, options: BucketOptions) -> bool:
    """True when the profile accepts ``options`` and then lists and places without an exception."""
    try:
        buckets = bucket_list(options, name)
    except OptionsError as error:
        assert "\n" not in str(error) and str(error)
        return False
    assert buckets.ndim == 2 and (buckets > 0).all()
    placement = place(*SIZES, options, name)
    assert len(placement) == len(SIZES[0])
    return True


@pytest.mark.parametrize("name", list(PROFILES))
def test_every_combination_of_the_grid_is_refused_or_works(name):
    accepted = 0
    for resolution, step, minimum, maximum, no_upscale in GRID:
        options = BucketOptions((resolution, resolution), minimum, maximum, step, no_upscale)
        accepted += try_profile(name, options)
        if step > resolution:
            with pytest.raises(OptionsError, match="larger than the smaller side"):
                bucket_list(options, name)
    assert accepted or name == "everydream2"  # EveryDream2 has fixed tables from 512: the grid rarely hits one


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(list(PROFILES)),
    width=st.integers(-2, 3 * MAX_SIDE),
    height=st.integers(-2, 3 * MAX_SIDE),
    step=st.integers(-2, 2 * MAX_SIDE),
    minimum=st.integers(-2, 2 * MAX_SIDE),
    maximum=st.integers(-2, 2 * MAX_SIDE),
    no_upscale=st.booleans(),
)
def test_any_values_are_refused_or_work(name, width, height, step, minimum, maximum, no_upscale):
    options = BucketOptions((width, height), minimum, maximum, step, no_upscale)
    if try_profile(name, options):
        assert max(width, height, minimum, maximum, step) <= MAX_SIDE and step <= min(width, height)


@pytest.mark.parametrize("value", [0, -1, MAX_COUNT + 1, 2**63, 2**64, True, 1.5, "3"])
def test_counts_outside_int64_safe_bounds_are_refused(value):
    with pytest.raises(OptionsError, match="whole number from 1"):
        check_count(value, "num_repeats")


def test_the_largest_counts_cannot_overflow_a_step_count():
    images = np.full(10_000, MAX_COUNT, dtype=np.int64)  # repeats of 10,000 images, all at the bound
    assert int(images.sum()) == 10_000 * MAX_COUNT  # int64 holds it exactly
