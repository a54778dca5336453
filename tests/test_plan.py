"""Dataset plans (plan.py): a scan placed per dataset block, with the options each block has."""

from __future__ import annotations

import numpy as np
import pytest

from aspectbucket.geometry.options import BucketOptions, OptionsError
from aspectbucket.plan import plan_dataset
from aspectbucket.profiles import KOHYA, place
from aspectbucket.scan import scan
from aspectbucket.scan.headers import ScanReason
from aspectbucket.scan.sources import (
    example_dataset_path,
    read_dataset,
)
from test_scan_sources import save_image, two_block_dataset, write_config


def test_each_dataset_block_is_placed_with_its_own_options(tmp_path):
    result = scan(two_block_dataset(tmp_path), use_cache=False)
    plan = plan_dataset(result, "kohya", {})
    assert plan.options[0] == BucketOptions(resolution=(512, 512))
    assert plan.options[1] == BucketOptions(resolution=(1024, 1024), bucket_no_upscale=True)
    for block, options in enumerate(plan.options):
        rows = np.flatnonzero(result.dataset_index == block)
        alone = place(result.stored_width[rows], result.stored_height[rows], options)
        assert plan.placement.bucket_width[rows].tolist() == alone.bucket_width.tolist()
        assert plan.placement.resized_height[rows].tolist() == alone.resized_height.tolist()
    assert plan.errors == ["", "", "", "", "", ScanReason.EMPTY.value]


def test_given_options_override_the_config_which_overrides_the_profile(tmp_path):
    result = scan(two_block_dataset(tmp_path), use_cache=False)
    plan = plan_dataset(result, KOHYA, {"bucket_no_upscale": False, "max_bucket_reso": 2048})
    assert plan.options[0] == BucketOptions(resolution=(512, 512), max_bucket_reso=2048)
    assert plan.options[1] == BucketOptions(resolution=(1024, 1024), max_bucket_reso=2048)
    with pytest.raises(OptionsError, match="min_bucket_reso"):
        plan_dataset(result, KOHYA, {"min_bucket_reso": 4096})


def test_bucket_numbers_index_the_used_buckets_of_each_block_by_width_then_height(tmp_path):
    result = scan(two_block_dataset(tmp_path), use_cache=False)
    plan = plan_dataset(result, "kohya", {})
    numbers = plan.bucket_numbers()
    for block in (0, 1):
        rows = [row for row in np.flatnonzero(result.dataset_index == block) if not plan.errors[row]]
        widths, heights = plan.placement.bucket_width[rows], plan.placement.bucket_height[rows]
        used = sorted(set(zip(widths.tolist(), heights.tolist(), strict=True)))
        for row in rows:
            bucket = (int(plan.placement.bucket_width[row]), int(plan.placement.bucket_height[row]))
            assert numbers[row] == used.index(bucket)
    assert numbers[-1] == -1  # the empty file
    assert numbers[:3].tolist() == [2, 1, 0]  # landscape sorts after square, square after portrait


def test_respect_exif_places_the_upright_size(tmp_path):
    save_image(tmp_path / "p.jpg", (1024, 512), orientation=6)
    result = scan(tmp_path, use_cache=False)
    stored = plan_dataset(result, "kohya", {})
    upright = plan_dataset(result, "kohya", {}, respect_exif=True)
    assert stored.placement.bucket_width[0] > stored.placement.bucket_height[0]
    assert upright.placement.bucket_width[0] < upright.placement.bucket_height[0]
    assert upright.respect_exif and not stored.respect_exif


def test_enable_bucket_false_resizes_every_image_to_the_resolution(tmp_path):
    save_image(tmp_path / "imgs" / "wide.png", (1000, 300))
    save_image(tmp_path / "imgs" / "tall.png", (200, 900))
    config = write_config(
        tmp_path,
        "[[datasets]]\nresolution = [512, 768]\nenable_bucket = false\nbucket_no_upscale = true\n"
        '[[datasets.subsets]]\nimage_dir = "imgs"\n',
    )
    plan = plan_dataset(scan(config, use_cache=False), "kohya", {})
    assert plan.placement.bucket_width.tolist() == [512, 512]
    assert plan.placement.bucket_height.tolist() == [768, 768]
    assert plan.placement.resized_width.tolist() == [512, 2560]  # tall covers by width, wide by height
    assert plan.bucket_numbers().tolist() == [0, 0]


def test_an_empty_dataset_plans_to_nothing(tmp_path):
    plan = plan_dataset(scan(tmp_path, use_cache=False), "kohya", {})
    assert len(plan.placement) == 0 and plan.errors == [] and plan.bucket_numbers().tolist() == []


def test_the_bundled_example_shows_every_effect():
    root = example_dataset_path()
    subsets, warnings = read_dataset(root)
    assert [(subset.image_dir.name, subset.repeats) for subset in subsets] == [
        ("10_sks cat", 10),
        ("2_photos", 2),
        ("3_style", 3),
    ]
    assert warnings == []
    config = root / "dataset.toml"
    result = scan(config, use_cache=False)
    names = [path.name for path in result.paths]
    for path in result.paths:
        assert path.with_suffix(".txt").read_text(encoding="utf-8").strip()  # a caption sidecar
    assert [name for name, error in zip(names, result.error, strict=True) if error] == ["coffee_truncated.jpg"]
    assert set(result.orientation.tolist()) == {1, 3, 6, 8}
    plan = plan_dataset(result, "kohya", {})
    assert plan.options[1].bucket_no_upscale and not plan.options[0].bucket_no_upscale
    placement = plan.placement
    assert (placement.scale > 2).any() and placement.upscaled.sum() >= 3
    assert placement.step_loss.sum() >= 3  # issue 731 in the no-upscale block
    ratios = result.stored_width / np.maximum(result.stored_height, 1)
    assert ratios.max() >= 3 and ratios[ratios > 0].min() <= 1 / 3
    attribution = (root / "ATTRIBUTION.md").read_text(encoding="utf-8")
    assert all(f"{path.parent.name}/{path.name}" in attribution for path in result.paths)
    total = sum(path.stat().st_size for path in root.rglob("*") if path.is_file())
    assert total < 3_000_000


@pytest.mark.parametrize("profile", ["balanced", "simpletuner", "ai-toolkit", "kohya"])
def test_enable_bucket_false_uses_the_single_bucket_under_every_profile(tmp_path, profile):
    save_image(tmp_path / "imgs" / "wide.png", (1000, 300))
    config = write_config(
        tmp_path,
        '[[datasets]]\nresolution = [512, 512]\nenable_bucket = false\n[[datasets.subsets]]\nimage_dir = "imgs"\n',
    )
    plan = plan_dataset(scan(config, use_cache=False), profile, {})
    assert (plan.placement.bucket_width[0], plan.placement.bucket_height[0]) == (512, 512)


def test_a_training_folder_with_only_zero_repeat_subfolders_trains_nothing(tmp_path):
    save_image(tmp_path / "train" / "0_reg" / "a.png", (64, 64))
    subsets, warnings = read_dataset(tmp_path / "train")
    assert subsets == []
    assert any("0 repeats" in warning for warning in warnings)
