"""Trainer-native settings: each profile's own keys, checked as the trainer checks them, and the
versioned names ``trainer@commit``."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aspectbucket import PROFILES, BucketOptions, OptionsError, SettingsError, bucket_list, get_profile, place
from aspectbucket.profiles import VERSIONS, apply_settings, declared_settings, parse_assignments, profile_names


def test_every_profile_declares_its_settings_with_defaults():
    for profile in PROFILES.values():
        declared = declared_settings(profile)
        assert declared, profile.name
        assert len({setting.name for setting in declared}) == len(declared)
        for setting in declared:
            if setting.default is not None:  # the default is a value the trainer accepts
                assert setting.parse(setting.default, profile.name) == setting.default


def test_unknown_keys_name_the_allowed_ones():
    with pytest.raises(
        SettingsError, match=r"unknown setting 'quantisation'; allowed: target_resolution, quantization"
    ):
        place([100], [100], profile="onetrainer", settings={"quantisation": 64})
    with pytest.raises(OptionsError, match="allowed: resolution, min_bucket_reso"):
        place([100], [100], settings={"min_bucket_res": 256})


@pytest.mark.parametrize(
    ("profile", "given", "message"),
    [
        ("musubi-tuner", {"architecture": "sdxl"}, "architecture='sdxl' is not one of: hv, wan"),
        ("onetrainer", {"quantization": "sixty-four"}, "quantization='sixty-four' is not a whole number"),
        ("onetrainer", {"target_resolution": "512,x"}, "target_resolution='512,x' is not one size or several"),
        ("onetrainer", {"quantization": 0}, "quantization=0 must be at least 1"),
        ("diffusers", {"use_aspect_ratio_buckets": "maybe"}, "use_aspect_ratio_buckets='maybe' is not true or false"),
        ("diffusers", {"aspect_ratio_buckets": "1024x1024"}, "entry '1024x1024' is not HEIGHT,WIDTH"),
        ("kohya", {"resolution": "big"}, "resolution='big' is not SIZE or WIDTH,HEIGHT"),
        ("kohya", {"resolution": 1.5}, "resolution=1.5 is not SIZE or WIDTH,HEIGHT"),
    ],
)
def test_bad_values_name_the_key_the_value_and_what_is_allowed(profile, given, message):
    with pytest.raises(SettingsError, match=message):
        place([100], [100], profile=profile, settings=given)


def test_text_values_from_the_command_line_parse_like_native_ones():
    assert parse_assignments(["resolution=1024,1024", "bucket_no_upscale=true"]) == {
        "resolution": "1024,1024",
        "bucket_no_upscale": "true",
    }
    with pytest.raises(SettingsError, match="is not NAME=VALUE"):
        parse_assignments(["resolution"])
    text = place([3000], [2000], settings=parse_assignments(["resolution=1024,1024", "bucket_no_upscale=true"]))
    native = place([3000], [2000], settings={"resolution": [1024, 1024], "bucket_no_upscale": True})
    assert text.row(0) == native.row(0)


@settings(max_examples=60, deadline=None)
@given(
    side=st.integers(256, 2048),
    step=st.sampled_from([8, 16, 32, 64]),
    no_upscale=st.booleans(),
    width=st.integers(1, 8000),
    height=st.integers(1, 8000),
)
def test_kohya_settings_are_the_bucket_options(side, step, no_upscale, width, height):
    options = BucketOptions(
        resolution=(side, side), max_bucket_reso=4096, bucket_reso_steps=step, bucket_no_upscale=no_upscale
    )
    by_options = place([width], [height], options)
    by_settings = place(
        [width],
        [height],
        settings={
            "resolution": side,
            "max_bucket_reso": 4096,
            "bucket_reso_steps": step,
            "bucket_no_upscale": no_upscale,
        },
    )
    assert by_options.row(0) == by_settings.row(0)


def test_settings_apply_over_given_options():
    options = BucketOptions(resolution=(1024, 1024), bucket_reso_steps=16)
    _, merged = apply_settings("musubi-tuner", {"architecture": "ho1"}, options)
    assert merged.bucket_reso_steps == 32 and merged.resolution == (1024, 1024)
    _, untouched = apply_settings("musubi-tuner", {}, options)
    assert untouched == options  # an unset architecture leaves the step as given
    assert len(bucket_list(options, "musubi")) == 65


def test_one_target_resolution_is_the_single_resolution_profile():
    single = place([1000], [700], profile="onetrainer", settings={"target_resolution": "768", "quantization": 16})
    same = place([1000], [700], BucketOptions(resolution=(768, 768), bucket_reso_steps=16), "onetrainer")
    assert single.row(0) == same.row(0)
    several = bucket_list(profile="onetrainer", settings={"target_resolution": "512,768,1024"})
    assert len(several) == 0  # each image draws its own target: no one list


def test_the_same_settings_reuse_one_variant():
    first, _ = apply_settings("diffusers", {"use_aspect_ratio_buckets": True})
    second, _ = apply_settings("diffusers", {"use_aspect_ratio_buckets": "yes"})
    assert first is second and first.per_image is not None


def test_versions_are_chosen_by_commit_and_the_default_is_the_newest():
    assert get_profile("novelai") is get_profile("novelai@6e977c5")
    assert get_profile("novelai@352f7e0e").version == "352f7e0e"
    assert get_profile("musubi-tuner") is PROFILES["musubi"]
    assert "novelai@352f7e0e" in profile_names() and "novelai@352f7e0e" in VERSIONS
    with pytest.raises(ValueError, match="unknown profile 'novelai@123'; choose one of: kohya"):
        get_profile("novelai@123")
    # 371x300 (w/h 1.237) lies between the 640x576 (1.111) and 704x512 (1.375) buckets: linear w/h picks
    # the first, log distance the second.
    linear = place([371], [300], profile="novelai")
    log = place([371], [300], profile="novelai@352f7e0e")
    assert (linear.bucket_width[0], linear.bucket_height[0]) == (640, 576)
    assert (log.bucket_width[0], log.bucket_height[0]) == (704, 512)
