"""Dataset sources (scan/sources.py): plain folders, kohya DreamBooth folders and dataset configs,
read as sd-scripts reads them."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from aspectbucket.geometry.options import BucketOptions
from aspectbucket.scan import scan
from aspectbucket.scan.sources import (
    DatasetError,
    Subset,
    dreambooth_repeats,
    load_dataset,
    read_dataset,
)


def save_image(path: Path, size: tuple[int, int], orientation: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif
    Image.new("RGB", size, "gray").save(path, **kwargs)
    return path


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("10_sks dog", (10, "sks dog")),
        ("3_style_anime", (3, "style_anime")),
        ("1_", (1, "")),
        ("5", (5, "")),
        (" 7_x", (7, "x")),  # int() accepts the space, as in sd-scripts
        ("0_zero", (0, "zero")),  # parsed, then skipped silently (repeats < 1)
        ("-2_neg", (-2, "neg")),
        ("dog", None),
        ("dog_10", None),
        ("x10_dog", None),
    ],
)
def test_dreambooth_folder_names_parse_as_sd_scripts_does(name, expected):
    assert dreambooth_repeats(name) == expected


def test_plain_folder_is_one_recursive_subset(tmp_path):
    save_image(tmp_path / "a" / "b.png", (10, 10))
    subsets, warnings = read_dataset(tmp_path)
    assert subsets == [Subset(image_dir=tmp_path, name=tmp_path.name, recursive=True)]
    assert warnings == []


def test_dreambooth_folder_takes_n_name_subfolders_and_warns_about_others(tmp_path):
    save_image(tmp_path / "10_sks dog" / "a.png", (10, 10))
    save_image(tmp_path / "2_style" / "nested" / "deep.png", (10, 10))
    save_image(tmp_path / "2_style" / "b.png", (10, 10))
    save_image(tmp_path / "raw" / "c.png", (10, 10))
    save_image(tmp_path / "0_off" / "d.png", (10, 10))
    save_image(tmp_path / "root.png", (10, 10))
    subsets, warnings = read_dataset(tmp_path)
    assert [(s.image_dir.name, s.repeats, s.name, s.recursive) for s in subsets] == [
        ("10_sks dog", 10, "sks dog", False),
        ("2_style", 2, "style", False),
    ]
    assert warnings == [
        "ignored folder 'raw': not named N_name, so sd-scripts skips it",
        "ignored folder '0_off': 0 repeats, so sd-scripts trains nothing from it",
        f"1 image(s) lie directly in {tmp_path.name!r}: sd-scripts only trains N_name subfolders",
    ]
    result = scan(tmp_path, use_cache=False)
    assert [path.name for path in result.paths] == ["a.png", "b.png"]  # not nested, not root, not 0_
    assert result.repeats.tolist() == [10, 2]
    assert result.warnings == warnings


def write_config(folder: Path, text: str) -> Path:
    path = folder / "dataset.toml"
    path.write_text(text)
    return path


def test_toml_settings_are_inherited_general_to_dataset_to_subset(tmp_path):
    config = write_config(
        tmp_path,
        """
[general]
resolution = 768
batch_size = 4
caption_extension = ".txt"
bucket_no_upscale = true

[[datasets]]
resolution = [1024, 512]
min_bucket_reso = 320
  [[datasets.subsets]]
  image_dir = "imgs/a"
  num_repeats = 3
  class_tokens = "sks dog"
  [[datasets.subsets]]
  image_dir = "/abs/b"
  caption_extension = ".caption"

[[datasets]]
batch_size = 2
enable_bucket = false
  [[datasets.subsets]]
  image_dir = "c"
  is_reg = true
""",
    )
    first, second, third = load_dataset(config)
    assert first.image_dir == tmp_path / "imgs" / "a"
    assert (first.repeats, first.name, first.dataset, first.batch_size) == (3, "sks dog", 0, 4)
    assert first.caption_extension == ".txt"
    assert first.options == BucketOptions(resolution=(1024, 512), min_bucket_reso=320, bucket_no_upscale=True)
    assert dict(first.given_options) == {
        "resolution": (1024, 512),
        "min_bucket_reso": 320,
        "bucket_no_upscale": True,
    }
    assert second.image_dir == Path("/abs/b") and second.repeats == 1 and second.name == "b"
    assert second.caption_extension == ".caption"
    assert (third.dataset, third.batch_size, third.enable_bucket, third.is_reg) == (1, 2, False, True)
    assert third.options == BucketOptions(resolution=(768, 768), bucket_no_upscale=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[general]\nresolution = 512\n", "no \\[\\[datasets\\]\\]"),
        ("[[datasets]]\nresolution = 512\n", "has no \\[\\[datasets.subsets\\]\\]"),
        ("[[datasets]]\n[[datasets.subsets]]\nmetadata_file = 'm.json'\n", "has no image_dir"),
        ("[[datasets]]\nresolution = 'big'\n[[datasets.subsets]]\nimage_dir = 'a'\n", "resolution 'big'"),
        ("[[datasets]]\n[[datasets.subsets]]\nimage_dir = 'a'\nnum_repeats = 0\n", "num_repeats 0"),
        ("[[datasets]]\nbucket_no_upscale = 1\n[[datasets.subsets]]\nimage_dir = 'a'\n", "true or false"),
        ("[[datasets]\n", "not valid TOML"),
    ],
)
def test_bad_configs_are_refused_with_the_bad_value_named(tmp_path, text, message):
    with pytest.raises(DatasetError, match=message):
        load_dataset(write_config(tmp_path, text))


def test_missing_source_is_an_error(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nothing")
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(DatasetError, match="neither a folder"):
        load_dataset(tmp_path / "file.png")


def two_block_dataset(tmp_path) -> Path:
    for name, size in [("a.png", (1024, 512)), ("b.png", (512, 512)), ("c.png", (512, 1024))]:
        save_image(tmp_path / "one" / name, size)
    for name, size in [("d.png", (2000, 1000)), ("e.png", (600, 580))]:
        save_image(tmp_path / "two" / name, size)
    (tmp_path / "two" / "f.png").write_bytes(b"")
    return write_config(
        tmp_path,
        """
[general]
resolution = 512
[[datasets]]
  [[datasets.subsets]]
  image_dir = "one"
[[datasets]]
resolution = 1024
bucket_no_upscale = true
  [[datasets.subsets]]
  image_dir = "two"
  num_repeats = 2
""",
    )
