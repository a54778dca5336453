"""Every case of tests/data/vectors/trainers_reference.json (musubi-tuner, OneTrainer/mgds, diffusers,
NovelAI), reproduced through the public ``place`` and ``bucket_list`` with each trainer's own settings:
the bucket list in the trainer's order, each image's bucket, resized size, crop offset and skips.
OneTrainer's several resolutions are checked against the per-epoch draws of batching_reference.json.
"""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import load_vectors

from aspectbucket import PlacementError, bucket_list, place
from aspectbucket.geometry.several_resolutions import onetrainer_epoch_targets

VECTORS = load_vectors("trainers")
CASES = VECTORS["cases"]


def _profile_and_settings(case: dict) -> tuple[str, dict]:
    """The profile and the trainer's own settings a case was run with."""
    given = case["settings"]
    if case["trainer"] == "musubi-tuner":
        return "musubi-tuner", {"resolution": given["resolution"], "architecture": given["architecture"]}
    if case["trainer"] == "onetrainer-mgds":
        return "onetrainer", {"target_resolution": given["target_resolution"], "quantization": given["quantization"]}
    if case["trainer"] == "diffusers":
        assert given["mode"] == "dreambooth_on_the_fly" and given["base_resolutions"] is None
        return "diffusers", {
            "resolution": given["resolution"],
            "bucket_divisibility": given["divisibility"],
            "use_aspect_ratio_buckets": True,
        }
    assert case["trainer"] == "novelai" and given["base_res"] == [512, 512] and given["max_ar_error"] == 4
    return "novelai@6e977c5", {
        "max_size": given["max_size"],
        "divisible": given["divisible"],
        "min_dim": given["min_dim"],
        "dim_limit": given["dim_limit"],
    }


def _case_id(case: dict) -> str:
    return "-".join(str(value) for value in (case["trainer"], *_profile_and_settings(case)[1].values()))


def test_every_trainer_and_all_cases_are_present():
    assert [case["trainer"] for case in CASES].count("musubi-tuner") == 8
    assert {case["trainer"] for case in CASES} == {"musubi-tuner", "onetrainer-mgds", "diffusers", "novelai"}
    assert all(len(case["placements"]) == 415 for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_bucket_list_in_trainer_order(case):
    profile, settings = _profile_and_settings(case)
    if case["trainer"] == "diffusers":
        # The per-image ladder has no list; 'buckets' is the full ladder, which the list mode gives.
        settings = {**settings, "use_aspect_ratio_buckets": False}
    assert bucket_list(profile=profile, settings=settings).tolist() == case["buckets"]


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_every_image_is_placed_as_the_trainer_places_it(case):
    profile, settings = _profile_and_settings(case)
    sizes = np.array([row["image"] for row in case["placements"]])
    placement = place(sizes[:, 0], sizes[:, 1], profile=profile, settings=settings)
    for i, expected in enumerate(case["placements"]):
        got = placement.row(i)
        if expected["bucket"] is None:
            assert got["error"] == PlacementError.RATIO_TOO_EXTREME.reason, expected
            continue
        assert got["error"] == "", expected
        assert [got["bucket_width"], got["bucket_height"]] == expected["bucket"], expected
        extra = expected["extra"]
        resized = (
            extra.get("resize_image_to_bucket", {}).get("resized_wh")
            or extra.get("scale_resolution_wh")
            or extra.get("train_transform_resized_wh")
        )
        if resized is not None:
            assert [got["resized_width"], got["resized_height"]] == resized, expected
        crop = extra.get("resize_image_to_bucket", {}).get("crop_left_top") or extra.get("center_crop_offset_left_top")
        if crop is not None:
            assert [got["trim_left"], got["trim_top"]] == crop, expected


def test_novelai_skips_carry_the_trainers_error():
    case = next(case for case in CASES if case["trainer"] == "novelai")
    skipped = [row for row in case["placements"] if row["bucket"] is None]
    assert skipped and all(row["extra"]["ar_error"] >= 4 for row in skipped)


def test_diffusers_ladder_sides_are_the_trainers():
    case = next(case for case in CASES if case["trainer"] == "diffusers" and case["settings"]["resolution"] == 512)
    for row in case["placements"]:
        width, height = row["image"]
        assert row["extra"]["ladder_resolution"] == min(512, round((width * height) ** 0.5))


# --- OneTrainer's several resolutions (batching_reference.json: the mgds pipeline run for two epochs)

BATCHING = load_vectors("batching")
SEVERAL = [case for case in BATCHING["cases"] if case["trainer"] == "onetrainer-mgds"]


def _several_id(case: dict) -> str:
    settings = case["settings"]
    return f"batch{settings['batch_size']}-world{settings['world_size']}-caching{settings['latent_caching']}"


def test_several_resolution_cases_are_present():
    assert len(SEVERAL) == 4
    assert {case["settings"]["target_resolution"] for case in SEVERAL} == {"512,768,1024"}


@pytest.mark.parametrize("case", SEVERAL, ids=_several_id)
def test_the_target_each_image_draws_in_each_epoch(case):
    settings = case["settings"]
    assert settings["seed"] == 42 and settings["aspect_bucketing_module_index"] == 13
    targets = tuple(int(side) for side in settings["target_resolution"].split(","))
    for epoch in range(settings["epochs_run"]):
        drawn = onetrainer_epoch_targets(len(case["placements"]), targets, epoch, settings["latent_caching"])
        assert drawn.tolist() == [row["extra"]["targets"][epoch] for row in case["placements"]]


@pytest.mark.parametrize("case", SEVERAL, ids=_several_id)
def test_each_image_gets_the_bucket_of_its_drawn_target(case):
    settings = case["settings"]
    sizes = np.array([row["image"] for row in case["placements"]])
    placement = place(
        sizes[:, 0],
        sizes[:, 1],
        profile="onetrainer",
        settings={"target_resolution": settings["target_resolution"], "quantization": settings["quantization"]},
    )
    assert placement.ok.all()
    got = np.stack([placement.bucket_width, placement.bucket_height], axis=1).tolist()
    assert got == [row["bucket"] for row in case["placements"]]
    for target, buckets in case["buckets_by_target_wh"].items():
        listed = bucket_list(profile="onetrainer", settings={"target_resolution": target, "quantization": 64})
        assert listed.tolist() == buckets
