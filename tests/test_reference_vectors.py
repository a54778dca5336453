"""Every case of tests/data/vectors/kohya_reference.json, reproduced by the vectorised and the scalar code."""

from __future__ import annotations

import numpy as np
import pytest

from aspectbucket import BucketOptions, bucket_list, place
from aspectbucket.geometry.reference import ReferenceBucketManager, get_crop_ltrb


def _options(config: dict, no_upscale: bool) -> BucketOptions:
    return BucketOptions(
        resolution=tuple(config["max_reso"]),
        min_bucket_reso=config["min_bucket_reso"],
        max_bucket_reso=config["max_bucket_reso"],
        bucket_reso_steps=config["bucket_reso_steps"],
        bucket_no_upscale=no_upscale,
    )


def test_vectors_cover_both_modes_and_four_settings(kohya_vectors):
    configs = kohya_vectors["configs"]
    assert len(configs) == 4
    assert sum(len(config["cases"]) for config in configs) == 1200


def test_bucket_lists_match(kohya_vectors):
    for config in kohya_vectors["configs"]:
        expected = [tuple(bucket) for bucket in config["buckets"]]
        assert [tuple(row) for row in bucket_list(_options(config, False)).tolist()] == expected
        assert ReferenceBucketManager(_options(config, False)).predefined_resos == expected


@pytest.mark.parametrize("no_upscale", [False, True])
def test_vectorised_placement_matches_every_case(kohya_vectors, no_upscale):
    for config in kohya_vectors["configs"]:
        cases = [case for case in config["cases"] if case["no_upscale"] == no_upscale]
        sizes = np.array([case["image"] for case in cases])
        placement = place(sizes[:, 0], sizes[:, 1], _options(config, no_upscale))
        assert placement.ok.all()
        for i, case in enumerate(cases):
            got = placement.row(i)
            assert [got["bucket_width"], got["bucket_height"]] == case["bucket"], case
            assert [got["resized_width"], got["resized_height"]] == case["resized"], case
            assert got["ar_error"] == pytest.approx(case["ar_error"], abs=1e-9), case
            assert got["reported_crop_ltrb"] == case["crop_ltrb"], case


def test_scalar_reference_matches_every_case(kohya_vectors):
    for config in kohya_vectors["configs"]:
        for no_upscale in (False, True):
            manager = ReferenceBucketManager(_options(config, no_upscale))
            for case in (case for case in config["cases"] if case["no_upscale"] == no_upscale):
                bucket, resized, ar_error = manager.select_bucket(*case["image"])
                assert list(bucket) == case["bucket"]
                assert list(resized) == case["resized"]
                assert ar_error == pytest.approx(case["ar_error"], abs=1e-9)
                assert list(get_crop_ltrb(bucket, case["image"])) == case["crop_ltrb"]
