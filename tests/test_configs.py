"""Trainers' own config files: each reader's parsed output (profile, trainer-native settings, subsets,
batch size, ignored fields) and its one-line errors, on small files and folders of tiny images."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from aspectbucket.plan import plan_dataset
from aspectbucket.profiles import place
from aspectbucket.scan import scan
from aspectbucket.scan.configs import ConfigError, detect, read_source, read_trainer_config
from aspectbucket.scan.configs.musubi import read_musubi

#: The tiny dataset every trainer's config points at: sizes chosen to land in different buckets.
SIZES = {"wide.png": (300, 200), "tall.png": (200, 300), "square.png": (256, 256)}


def make_images(folder: Path, sizes=SIZES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, size in sizes.items():
        Image.new("RGB", size, "gray").save(folder / name)
    return folder


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def placed_sizes(config) -> dict[str, tuple[int, int]]:
    """Each image's bucket when the config's dataset is planned by its own profile and settings."""
    plan = plan_dataset(scan(config.subsets, use_cache=False), config.profile, {})
    names = [Path(path).name for path in plan.scan.paths]
    widths, heights = plan.placement.bucket_width.tolist(), plan.placement.bucket_height.tolist()
    return {name: (w, h) for name, w, h in zip(names, widths, heights, strict=True)}


def placed_sizes_by_dataset(config) -> dict[tuple[int, str], tuple[int, int]]:
    """``(dataset, file name) -> bucket`` when the config's dataset is planned by its own profile."""
    plan = plan_dataset(scan(config.subsets, use_cache=False), config.profile, {})
    rows = zip(plan.scan.dataset_index.tolist(), plan.scan.paths, strict=True)
    sizes = zip(plan.placement.bucket_width.tolist(), plan.placement.bucket_height.tolist(), strict=True)
    return {(dataset, Path(path).name): size for (dataset, path), size in zip(rows, sizes, strict=True)}


# musubi-tuner ---------------------------------------------------------------------------------------------


MUSUBI = """
[general]
resolution = [512, 512]
caption_extension = ".txt"
batch_size = 2
enable_bucket = true
bucket_no_upscale = false

[[datasets]]
image_directory = "images"
num_repeats = 3
cache_directory = "cache"

[[datasets]]
image_directory = "small"
resolution = 256
batch_size = 1

[[datasets]]
video_directory = "videos"
target_frames = [1, 25]
"""


def test_musubi_reads_image_datasets_with_general_fallbacks(tmp_path):
    make_images(tmp_path / "images")
    make_images(tmp_path / "small")
    config = read_musubi(write(tmp_path / "dataset.toml", MUSUBI))
    assert config.profile == "musubi"
    assert config.batch_size == 2
    assert config.settings == {"resolution": (512, 512), "bucket_no_upscale": False}
    first, second = config.subsets
    assert (first.image_dir, first.repeats, first.batch_size, first.dataset) == (tmp_path / "images", 3, 2, 0)
    assert dict(first.settings) == {"resolution": (512, 512), "bucket_no_upscale": False}
    assert (second.image_dir, second.batch_size) == (tmp_path / "small", 1)
    assert dict(second.settings)["resolution"] == (256, 256)
    assert first.enable_bucket and not first.recursive
    ignored = {item.key: item.reason for item in config.ignored}
    assert "video" in ignored["datasets[2]"]
    assert ignored["datasets[0].cache_directory"] == "does not change bucketing"


def test_musubi_is_detected_and_placed_as_musubi_tuner_places_it(tmp_path):
    make_images(tmp_path / "images")
    make_images(tmp_path / "small")
    path = write(tmp_path / "dataset.toml", MUSUBI)
    assert detect(path) == "musubi"
    placed = placed_sizes_by_dataset(read_trainer_config(path))
    for dataset, resolution in ((0, [512, 512]), (1, 256)):
        for name, (width, height) in SIZES.items():
            expected = place([width], [height], profile="musubi", settings={"resolution": resolution})
            assert placed[dataset, name] == (expected.bucket_width[0], expected.bucket_height[0])


def test_musubi_without_enable_bucket_trains_at_the_resolution_itself(tmp_path):
    make_images(tmp_path / "images")
    path = write(tmp_path / "d.toml", '[general]\nresolution = 256\n[[datasets]]\nimage_directory = "images"\n')
    assert set(placed_sizes(read_trainer_config(path)).values()) == {(256, 256)}


@pytest.mark.parametrize(
    ("text", "key", "allowed"),
    [
        ('[general]\nresolution = "big"\n[[datasets]]\nimage_directory = "i"', "general.resolution", "one size"),
        ('[[datasets]]\nimage_directory = "i"\nnum_repeats = 0', "datasets[0].num_repeats", "at least 1"),
        ('[[datasets]]\nimage_directory = "i"\nenable_bucket = "yes"', "datasets[0].enable_bucket", "true or false"),
        ('[[datasets]]\nimage_directory = "i"\nresolutoin = 512', "datasets[0].resolutoin", "a musubi-tuner key"),
    ],
)
def test_musubi_bad_values_are_one_line_errors_naming_file_key_value(tmp_path, text, key, allowed):
    path = write(tmp_path / "dataset.toml", text)
    with pytest.raises(ConfigError) as caught:
        read_musubi(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message and key in message and allowed in message


def test_a_profile_override_keeps_the_resolution_and_drops_the_trainer_specific_settings(tmp_path):
    make_images(tmp_path / "images")
    path = write(tmp_path / "d.toml", '[general]\nresolution = 768\n[[datasets]]\nimage_directory = "images"\n')
    config = read_trainer_config(path, profile="kohya")
    assert config.profile == "kohya"
    assert dict(config.subsets[0].given_options)["resolution"] == (768, 768)
    assert config.subsets[0].settings == ()


def test_kohya_dataset_toml_and_folders_still_read_as_before(tmp_path):
    make_images(tmp_path / "1_x")
    kohya = write(tmp_path / "k.toml", '[[datasets]]\n[[datasets.subsets]]\nimage_dir = "1_x"\n')
    assert detect(kohya) is None
    subsets, _, config = read_source(kohya)
    assert config is None and subsets[0].image_dir == tmp_path / "1_x"
    subsets, _, config = read_source(tmp_path)
    assert config is None and subsets[0].repeats == 1
