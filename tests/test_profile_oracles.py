"""Differential tests: each vectorised profile against a plain loop written from the trainer's rule.

The loops restate, one image at a time and in the trainer's own arithmetic, the rule cited in the
profile's docstring (nearest-bucket search, tie order, resize rounding), so a vectorisation slip
(a wrong tie, an off-by-one rounding) shows up as a mismatch on random sizes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from aspectbucket import BucketOptions, bucket_list, place
from aspectbucket.geometry.ai_toolkit import ai_toolkit_bucket_one
from aspectbucket.geometry.simpletuner import round_decimals


@pytest.fixture(scope="module")
def sizes() -> np.ndarray:
    rng = np.random.default_rng(20260216)
    widths = rng.integers(16, 6000, 3000)
    ratios = np.exp(rng.uniform(-2.3, 2.3, 3000))
    heights = np.clip(np.round(widths / ratios), 8, None).astype(np.int64)
    near_square = rng.integers(200, 3000, 400)
    return np.concatenate([np.stack([widths, heights], axis=1), np.stack([near_square, near_square + 1], axis=1)])


def _first_argmin(costs) -> int:
    best, best_cost = 0, math.inf
    for index, cost in enumerate(costs):
        if cost < best_cost:
            best, best_cost = index, cost
    return best


@pytest.mark.parametrize("version", ["novelai", "novelai@352f7e0e"])
def test_novelai_distance_first_minimum(sizes, version):
    # NovelAI's own code measures linear w/h; the fork at 352f7e0e measures log distance.
    options = BucketOptions(resolution=(768, 512))
    buckets = bucket_list(options, version).tolist()
    aspects = np.array([w / h for w, h in buckets])
    p = place(sizes[:, 0], sizes[:, 1], options, version)
    for row, (w, h) in enumerate(sizes.tolist()):
        if version == "novelai":
            index = int(np.abs(aspects - w / h).argmin())
        else:
            index = int(np.abs(np.log(aspects) - np.log(w / h)).argmin())
        dropped = abs(aspects[index] - w / h) >= 4
        assert p.ok[row] == (not dropped)
        if not dropped:
            assert [p.bucket_width[row], p.bucket_height[row]] == buckets[index]


@pytest.mark.parametrize("no_upscale", [False, True])
def test_musubi_selector(sizes, no_upscale):
    options = BucketOptions(resolution=(1024, 1024), bucket_reso_steps=16, bucket_no_upscale=no_upscale)
    buckets = bucket_list(options, "musubi").tolist()
    p = place(sizes[:, 0], sizes[:, 1], options, "musubi")
    for row, (w, h) in enumerate(sizes.tolist()):
        if no_upscale and w * h <= 1024 * 1024:
            bucket = [w - w % 16, h - h % 16]
        else:
            bucket = buckets[_first_argmin([abs(bw / bh - w / h) for bw, bh in buckets])]
        if 0 in bucket:
            assert not p.ok[row]
            continue
        scale = max(bucket[0] / w, bucket[1] / h)
        assert [p.bucket_width[row], p.bucket_height[row]] == bucket
        assert [p.resized_width[row], p.resized_height[row]] == [int(w * scale + 0.5), int(h * scale + 0.5)]


def test_onetrainer_bucket_and_scale(sizes):
    options = BucketOptions(resolution=(1024, 1024), bucket_reso_steps=64)
    buckets = bucket_list(options, "onetrainer").tolist()
    aspects = np.array([bh / bw for bw, bh in buckets])
    p = place(sizes[:, 0], sizes[:, 1], options, "onetrainer")
    for row, (w, h) in enumerate(sizes.tolist()):
        bw, bh = buckets[int(np.argmin(abs(aspects - h / w)))]
        taller = h / w > bh / bw
        resized = [bw, round(h * (bw / w))] if taller else [round(w * (bh / h)), bh]
        assert [p.bucket_width[row], p.bucket_height[row]] == [bw, bh]
        assert [p.resized_width[row], p.resized_height[row]] == resized


def test_diffusers_cross_metric_last_tie(sizes):
    options = BucketOptions(resolution=(1024, 1024), bucket_reso_steps=16)
    buckets = bucket_list(options, "diffusers").tolist()
    p = place(sizes[:, 0], sizes[:, 1], options, "diffusers")
    for row, (w, h) in enumerate(sizes.tolist()):
        best, best_metric = None, math.inf
        for index, (bw, bh) in enumerate(buckets):
            metric = abs(h * bw - w * bh)
            if metric <= best_metric:
                best, best_metric = index, metric
        assert [p.bucket_width[row], p.bucket_height[row]] == buckets[best]


def test_everydream2_first_minimum(sizes):
    options = BucketOptions(resolution=(768, 768))
    buckets = bucket_list(options, "everydream2").tolist()
    p = place(sizes[:, 0], sizes[:, 1], options, "everydream2")
    for row, (w, h) in enumerate(sizes.tolist()):
        expected = min(buckets, key=lambda bucket, r=w / h: abs(bucket[0] / bucket[1] - r))
        assert [p.bucket_width[row], p.bucket_height[row]] == expected


def test_ai_toolkit_nearest_area_and_ceil_resize(sizes):
    options = BucketOptions(resolution=(768, 768), bucket_reso_steps=32)
    p = place(sizes[:, 0], sizes[:, 1], options, "ai-toolkit")
    assert p.ok.all()
    for row, (w, h) in enumerate(sizes.tolist()):
        chosen = list(ai_toolkit_bucket_one(w, h, 768, 32))
        scale = max(chosen[0] / w, chosen[1] / h)
        assert [p.bucket_width[row], p.bucket_height[row]] == chosen
        assert [p.resized_width[row], p.resized_height[row]] == [math.ceil(w * scale), math.ceil(h * scale)]


def test_simpletuner_ratio_rounding_is_pythons(sizes):
    ratios = sizes[:, 0] / sizes[:, 1]
    halves = np.array([0.125, 0.375, 1.005, 2.675, 0.115, 1.125, 3.0049999999999999])
    values = np.concatenate([ratios, halves, np.arange(1, 4000) / 400])
    assert round_decimals(values, 2).tolist() == [round(float(value), 2) for value in values]
