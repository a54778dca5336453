"""Trainers' own config files: each reader's parsed output (profile, trainer-native settings, subsets,
batch size, ignored fields) and its one-line errors, on small files and folders of tiny images."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from aspectbucket.plan import plan_dataset
from aspectbucket.profiles import place
from aspectbucket.scan import scan
from aspectbucket.scan.configs import ConfigError, detect, read_command_line, read_source, read_trainer_config
from aspectbucket.scan.configs.ai_toolkit import read_ai_toolkit
from aspectbucket.scan.configs.diffusion_pipe import read_diffusion_pipe
from aspectbucket.scan.configs.musubi import read_musubi
from aspectbucket.scan.configs.onetrainer import read_onetrainer
from aspectbucket.scan.configs.simpletuner import read_simpletuner

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


def assert_one_line_error(call, path_text: str, *parts: str) -> None:
    with pytest.raises(ConfigError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message and path_text in message, message
    for part in parts:
        assert part in message, message


# diffusion-pipe --------------------------------------------------------------------------------------------


DIFFUSION_PIPE = """
resolutions = [512, [640, 384]]
enable_ar_bucket = true
min_ar = 0.5
max_ar = 2.0
num_ar_buckets = 7
frame_buckets = [1, 33]
cache_shuffle_num = 10

[[directory]]
path = "images"
num_repeats = 2

[[directory]]
path = "small"
ar_buckets = [1.0, 1.5]
resolutions = [256]
"""


def test_diffusion_pipe_dataset_toml_with_directory_overrides(tmp_path):
    path = write(tmp_path / "dataset.toml", DIFFUSION_PIPE)
    assert detect(path) == "diffusion-pipe"
    config = read_diffusion_pipe(path)
    assert config.profile == "diffusion-pipe" and config.batch_size is None
    assert config.settings["resolutions"] == (512, (640, 384))
    assert config.settings["num_ar_buckets"] == 7 and config.settings["frame_buckets"] == (1, 33)
    first, first_wide, second = config.subsets  # one block per directory and resolution
    assert (first.image_dir, first.repeats, first.recursive) == (tmp_path / "images", 2, False)
    assert dict(first.settings)["resolutions"] == (512,) and dict(first_wide.settings)["resolutions"] == ((640, 384),)
    assert [subset.dataset for subset in config.subsets] == [0, 1, 2]
    assert dict(second.settings)["ar_buckets"] == (1.0, 1.5) and dict(second.settings)["resolutions"] == (256,)
    assert dict(second.settings)["min_ar"] == 0.5  # top-level values reach every directory
    assert [item.key for item in config.ignored] == ["cache_shuffle_num"]
    assert any("caption" in warning for warning in config.warnings)


def test_diffusion_pipe_training_config_gives_batch_size_and_model_rounding(tmp_path):
    write(tmp_path / "examples" / "dataset.toml", DIFFUSION_PIPE)
    path = write(
        tmp_path / "config.toml",
        'dataset = "examples/dataset.toml"\nmicro_batch_size_per_gpu = 4\n[model]\ntype = "ltx-video"\n',
    )
    assert detect(path) == "diffusion-pipe"
    config = read_diffusion_pipe(path)
    assert config.batch_size == 4 and config.settings["pixels_round_to_multiple"] == 32
    assert config.subsets[0].image_dir == tmp_path / "examples" / "images"
    flux = read_diffusion_pipe(write(path, path.read_text().replace("ltx-video", "flux")))
    assert flux.settings["pixels_round_to_multiple"] == 16


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (
            'resolutions = [512]\nenable_ar_bucket = true\nmin_ar = 0.5\nnum_ar_buckets = 3\n[[directory]]\npath = "i"',
            "max_ar",
        ),
        ('resolutions = [512]\nmin_ar = -1\n[[directory]]\npath = "i"', "min_ar"),
        ('resolutions = [512]\n[[directory]]\npath = "i"\nnum_repeats = 0', "directory[0].num_repeats"),
        ('resolutions = "512"\n[[directory]]\npath = "i"', "resolutions"),
        ('[[directory]]\npath = "i"', "resolutions"),
    ],
)
def test_diffusion_pipe_bad_values_are_one_line_errors(tmp_path, text, key):
    path = write(tmp_path / "dataset.toml", text)
    assert_one_line_error(lambda: read_diffusion_pipe(path), str(path), key)


def test_diffusion_pipe_settings_reach_its_profile_one_block_per_resolution(tmp_path):
    make_images(tmp_path / "images")
    make_images(tmp_path / "small")
    path = write(tmp_path / "dataset.toml", DIFFUSION_PIPE)
    placed = placed_sizes_by_dataset(read_trainer_config(path))
    blocks = [
        (0, {"resolutions": [512], "min_ar": 0.5, "max_ar": 2.0, "num_ar_buckets": 7}),
        (1, {"resolutions": [[640, 384]], "min_ar": 0.5, "max_ar": 2.0, "num_ar_buckets": 7}),
        (2, {"resolutions": [256], "ar_buckets": [1.0, 1.5]}),
    ]
    for dataset, settings in blocks:
        for name, (width, height) in SIZES.items():
            expected = place([width], [height], profile="diffusion-pipe", settings=settings)
            assert placed[dataset, name] == (expected.bucket_width[0], expected.bucket_height[0]), (dataset, name)
    off = read_trainer_config(write(tmp_path / "off.toml", 'resolutions = [512]\n[[directory]]\npath = "images"\n'))
    assert set(placed_sizes_by_dataset(off).values()) == {(512, 512)}  # enable_ar_bucket is off by default


# ai-toolkit -----------------------------------------------------------------------------------------------


AI_TOOLKIT = """
job: extension
config:
  name: my_lora
  process:
    - type: sd_trainer
      train:
        batch_size: 2
        steps: 1000
      datasets:
        - folder_path: images
          caption_ext: txt
          resolution: [256, 512]
          num_repeats: 2
          random_crop: true
          bucket_tolerance: 64
          shuffle_tokens: false
"""


def test_ai_toolkit_yaml_gives_one_subset_per_resolution(tmp_path):
    path = write(tmp_path / "train.yaml", AI_TOOLKIT)
    assert detect(path) == "ai-toolkit"
    config = read_ai_toolkit(path)
    assert config.profile == "ai-toolkit" and config.batch_size == 2
    assert [dict(subset.settings)["resolution"] for subset in config.subsets] == [256, 512]
    assert [subset.dataset for subset in config.subsets] == [0, 1]
    assert all(subset.recursive and subset.repeats == 2 for subset in config.subsets)
    assert dict(config.subsets[0].settings)["random_crop"] is True
    assert config.subsets[0].caption_extension == ".txt"
    ignored = {item.key: item.reason for item in config.ignored}
    assert "model" in ignored["config.process[0].datasets[0].bucket_tolerance"]
    assert "config.process[0].datasets[0].shuffle_tokens" in ignored


@pytest.mark.parametrize(
    ("replace", "key"),
    [
        (("resolution: [256, 512]", "resolution: [256, big]"), "resolution"),
        (("num_repeats: 2", "num_repeats: two"), "num_repeats"),
        (("batch_size: 2", "batch_size: 0"), "train.batch_size"),
        (("random_crop: true", "random_crop: maybe"), "random_crop"),
    ],
)
def test_ai_toolkit_bad_values_are_one_line_errors(tmp_path, replace, key):
    path = write(tmp_path / "train.yaml", AI_TOOLKIT.replace(*replace))
    assert_one_line_error(lambda: read_ai_toolkit(path), str(path), key)


def test_malformed_yaml_is_a_config_error(tmp_path):
    path = write(tmp_path / "train.yaml", "config: [unclosed\n")
    assert_one_line_error(lambda: read_ai_toolkit(path), str(path), "YAML")


# SimpleTuner ----------------------------------------------------------------------------------------------


SIMPLETUNER = [
    {
        "id": "photos",
        "type": "local",
        "instance_data_dir": "images",
        "resolution": 1024,
        "resolution_type": "pixel_area",
        "minimum_image_size": 256,
        "crop": True,
        "crop_aspect": "closest",
        "crop_aspect_buckets": [1.0, 1.5],
        "crop_style": "center",
        "repeats": 2,
        "cache_dir_vae": "cache/vae",
    },
    {"id": "off", "type": "local", "instance_data_dir": "other", "disabled": True},
    {"id": "text-embeds", "dataset_type": "text_embeds", "default": True, "type": "local"},
]


def test_simpletuner_backends_with_training_config_defaults(tmp_path):
    import json

    write(tmp_path / "config" / "multidatabackend.json", json.dumps(SIMPLETUNER))
    path = write(
        tmp_path / "config" / "config.json",
        json.dumps(
            {
                "--data_backend_config": "multidatabackend.json",
                "--train_batch_size": 3,
                "--aspect_bucket_rounding": 2,
                "--resolution_type": "area",
                "--learning_rate": 1e-4,
            }
        ),
    )
    assert detect(path) == "simpletuner" and detect(tmp_path / "config" / "multidatabackend.json") == "simpletuner"
    config = read_simpletuner(path)
    assert config.profile == "simpletuner" and config.batch_size == 3
    assert config.settings == {"resolution_type": "area", "aspect_bucket_rounding": 2}
    (subset,) = config.subsets
    own = dict(subset.settings)
    assert own["resolution_type"] == "pixel_area"  # the backend's value wins over the config's
    assert own["crop_aspect_buckets"] == (1.0, 1.5) and own["aspect_bucket_rounding"] == 2
    assert (subset.repeats, subset.recursive, subset.name) == (3, True, "photos")
    keys = {item.key for item in config.ignored}
    assert {"[1] (off)", "[2] (text-embeds)", "[0].cache_dir_vae"} <= keys


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"resolution_type": "pixels"}, "resolution_type"),
        ({"crop_aspect_buckets": []}, "crop_aspect"),
        ({"repeats": -1}, "repeats"),
        ({"crop": "yes"}, "crop"),
    ],
)
def test_simpletuner_bad_values_are_one_line_errors(tmp_path, change, key):
    import json

    path = write(tmp_path / "multidatabackend.json", json.dumps([{**SIMPLETUNER[0], **change}]))
    assert_one_line_error(lambda: read_simpletuner(path), str(path), f"[0].{key}")


# OneTrainer -----------------------------------------------------------------------------------------------


def onetrainer_concept(path: str, **extra) -> dict:
    return {"name": "c", "path": path, "enabled": True, "include_subdirectories": False, "balancing": 2.0, **extra}


def test_onetrainer_config_with_concept_file_and_resolution_override(tmp_path):
    import json

    concepts = [
        onetrainer_concept("images"),
        onetrainer_concept("small", image={"enable_resolution_override": True, "resolution_override": "256"}),
        onetrainer_concept("val", type="VALIDATION"),
        onetrainer_concept("off", enabled=False),
    ]
    write(tmp_path / "training_concepts" / "concepts.json", json.dumps(concepts))
    path = write(
        tmp_path / "training_presets" / "mine.json",
        json.dumps(
            {
                "model_type": "STABLE_DIFFUSION_XL_10_BASE",
                "training_method": "LORA",
                "resolution": "512,768",
                "batch_size": 4,
                "concept_file_name": "training_concepts/concepts.json",
                "latent_caching": False,
            }
        ),
    )
    assert detect(path) == "onetrainer" and detect(tmp_path / "training_concepts" / "concepts.json") == "onetrainer"
    config = read_onetrainer(path)
    assert config.profile == "onetrainer" and config.batch_size == 4
    assert config.settings == {"target_resolution": (512, 768), "latent_caching": False}
    first, second = config.subsets
    assert first.image_dir == tmp_path / "images" and first.repeats == 2  # from OneTrainer's folder
    assert dict(second.settings) == {"target_resolution": (256,), "latent_caching": False}
    assert {"concepts[2]", "concepts[3]"} <= {item.key for item in config.ignored}
    assert {(item.key, item.file.name) for item in config.ignored} >= {("model_type", "mine.json")}
    assert any("every epoch" in warning for warning in config.warnings)


@pytest.mark.parametrize(
    ("change", "key"), [({"resolution": "512,big"}, "resolution"), ({"batch_size": 0}, "batch_size")]
)
def test_onetrainer_bad_values_are_one_line_errors(tmp_path, change, key):
    import json

    document = {"model_type": "X", "training_method": "LORA", "concepts": [onetrainer_concept("i")], **change}
    path = write(tmp_path / "config.json", json.dumps(document))
    assert_one_line_error(lambda: read_onetrainer(path), str(path), key)


# diffusers and kohya command lines -------------------------------------------------------------------------


def test_diffusers_flags_from_a_pasted_command_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = (
        "accelerate launch train_dreambooth_lora_flux2.py \\\n  --pretrained_model_name_or_path=black-forest-labs/x "
        '--instance_data_dir="images" --class_data_dir reg --with_prior_preservation \\\n'
        "  --resolution=768 --train-batch-size 2 --center_crop --repeats=3"
    )
    config = read_command_line(text)
    assert config.profile == "diffusers" and config.batch_size == 2
    assert config.settings == {"resolution": 768, "center_crop": True}
    instance, reg = config.subsets
    assert (instance.image_dir, instance.repeats, instance.is_reg) == (tmp_path / "images", 3, False)
    assert (reg.image_dir, reg.is_reg) == (tmp_path / "reg", True)
    assert "--pretrained_model_name_or_path" in {item.key for item in config.ignored}
    default = read_command_line("train_dreambooth_lora_sdxl.py --instance_data_dir images")
    assert default.settings == {"resolution": 512} and default.batch_size == 4  # the script's defaults
    assert "--center_crop" in {item.key for item in default.ignored}


def test_kohya_command_line_with_underscore_and_dash_spellings(tmp_path, monkeypatch):
    make_images(tmp_path / "train" / "5_dog")
    monkeypatch.chdir(tmp_path)
    text = (
        "accelerate launch --num_cpu_threads_per_process 1 sdxl_train_network.py --train_data_dir=train "
        "--resolution 1024,768 --enable_bucket --min_bucket_reso=256 --max-bucket-reso 2048 "
        "--bucket_reso_steps 64 --bucket_no_upscale --train_batch_size=4 --network_dim 32"
    )
    config = read_command_line(text)
    assert config.profile == "kohya" and config.batch_size == 4
    assert config.settings == {
        "resolution": (1024, 768),
        "min_bucket_reso": 256,
        "max_bucket_reso": 2048,
        "bucket_reso_steps": 64,
        "bucket_no_upscale": True,
    }
    (subset,) = config.subsets
    assert (subset.image_dir, subset.repeats, subset.enable_bucket) == (tmp_path / "train" / "5_dog", 5, True)
    assert dict(subset.given_options)["resolution"] == (1024, 768)
    off = read_command_line("train_network.py --train_data_dir train")
    assert not off.subsets[0].enable_bucket  # sd-scripts' default: no buckets without --enable_bucket


def test_kohya_command_line_bad_value_is_a_one_line_error(tmp_path):
    assert_one_line_error(
        lambda: read_command_line("train_network.py --train_data_dir t --min_bucket_reso=lots"),
        "command line",
        "min_bucket_reso",
        "'lots'",
    )


def test_kohya_gui_config_json_and_toml(tmp_path):
    import json

    make_images(tmp_path / "img" / "10_cat")
    values = {
        "train_data_dir": str(tmp_path / "img"),
        "resolution": "768,768",
        "enable_bucket": True,
        "min_bucket_reso": "256",
        "max_bucket_reso": 1024,
        "bucket_reso_steps": 64,
        "bucket_no_upscale": False,
        "train_batch_size": 2,
        "dataset_config": "",
        "pretrained_model_name_or_path": "sd.safetensors",
        "learning_rate": 0.0001,
    }
    path = write(tmp_path / "gui.json", json.dumps(values))
    assert detect(path) == "kohya-gui"
    config = read_trainer_config(path)
    assert config.profile == "kohya" and config.batch_size == 2
    assert config.settings["resolution"] == (768, 768) and config.settings["min_bucket_reso"] == 256
    assert config.subsets[0].repeats == 10 and config.subsets[0].enable_bucket
    assert "learning_rate" in {item.key for item in config.ignored}
    toml_path = write(
        tmp_path / "gui.toml",
        f'[basic]\ntrain_data_dir = "{tmp_path / "img"}"\nresolution = "512,512"\ntrain_batch_size = 1\n',
    )
    assert detect(toml_path) == "kohya-gui"
    assert read_trainer_config(toml_path).settings == {"resolution": (512, 512)}


def test_kohya_gui_config_naming_a_dataset_config_reads_its_folders(tmp_path):
    import json

    make_images(tmp_path / "a")
    write(tmp_path / "ds.toml", '[general]\nresolution = 640\n[[datasets]]\n[[datasets.subsets]]\nimage_dir = "a"\n')
    path = write(
        tmp_path / "gui.json",
        json.dumps(
            {"train_data_dir": "ignored", "dataset_config": "ds.toml", "resolution": "512,512", "max_bucket_reso": 2048}
        ),
    )
    config = read_trainer_config(path)
    (subset,) = config.subsets
    assert subset.image_dir == tmp_path / "a"
    assert dict(subset.given_options)["resolution"] == (640, 640)  # the TOML's value wins over the GUI's
    assert dict(subset.settings) == {"max_bucket_reso": 2048}  # the GUI's fills what the TOML leaves out
    assert "train_data_dir" in {item.key for item in config.ignored}


def test_simpletuner_settings_reach_its_profile_area_in_megapixels(tmp_path):
    import json

    make_images(tmp_path / "images")
    backend = {"id": "a", "instance_data_dir": "images", "resolution": 0.25, "resolution_type": "area"}
    crop = {**backend, "id": "b", "crop": True, "crop_aspect": "closest", "crop_aspect_buckets": [1.0, 1.5]}
    path = write(tmp_path / "multidatabackend.json", json.dumps([backend, crop]))
    config = read_trainer_config(path)
    assert not config.ignored
    placed = placed_sizes_by_dataset(config)
    for dataset, settings in enumerate((backend, crop)):
        own = {key: value for key, value in settings.items() if key not in ("id", "instance_data_dir")}
        for name, (width, height) in SIZES.items():
            expected = place([width], [height], profile="simpletuner", settings=own)
            assert placed[dataset, name] == (expected.bucket_width[0], expected.bucket_height[0])
    assert placed[0, "square.png"] == (512, 512)  # 0.25 megapixels, not 0.25 pixels


def test_kohya_command_line_config_file_values_under_the_command_lines_own(tmp_path, monkeypatch):
    make_images(tmp_path / "train" / "2_cat")
    write(tmp_path / "args.toml", '[model]\ntrain_data_dir = "train"\nresolution = "512,512"\nmax_bucket_reso = 1536\n')
    monkeypatch.chdir(tmp_path)
    config = read_command_line("train_network.py --config_file args.toml --resolution 640 --enable_bucket")
    assert config.settings == {"resolution": (640, 640), "max_bucket_reso": 1536}
    assert config.subsets[0].image_dir == tmp_path / "train" / "2_cat" and config.subsets[0].repeats == 2


def test_diffusers_explicit_bucket_list_reaches_the_profile(tmp_path, monkeypatch):
    make_images(tmp_path / "dog")
    monkeypatch.chdir(tmp_path)
    config = read_command_line(
        "train_dreambooth_lora_flux2.py --instance_data_dir dog --aspect_ratio_buckets '512,512;384,640;640,384'"
    )
    placed = placed_sizes_by_dataset(config)
    assert placed[0, "wide.png"] == (640, 384) and placed[0, "tall.png"] == (384, 640)
    assert placed[0, "square.png"] == (512, 512)


def test_ai_toolkit_square_crop_from_the_yaml_reaches_its_profile(tmp_path):
    make_images(tmp_path / "images")
    path = write(tmp_path / "train.yaml", AI_TOOLKIT.replace("random_crop: true", "square_crop: true"))
    placed = placed_sizes_by_dataset(read_trainer_config(path))
    assert {size for (dataset, _), size in placed.items() if dataset == 0} == {(256, 256)}
    assert {size for (dataset, _), size in placed.items() if dataset == 1} == {(512, 512)}
    config = read_trainer_config(write(tmp_path / "plain.yaml", AI_TOOLKIT.replace("random_crop: true", "")))
    for name, (width, height) in SIZES.items():
        expected = place([width], [height], profile="ai-toolkit", settings={"resolution": 512})
        assert placed_sizes_by_dataset(config)[1, name] == (expected.bucket_width[0], expected.bucket_height[0])


def test_launcher_processes_reads_accelerates_num_processes_before_the_script():
    from aspectbucket.scan.configs.command_line import parse_command_line

    _, flags = parse_command_line("accelerate launch --num_processes 3 --mixed_precision bf16 train_network.py --x=1")
    assert flags["num_processes"] == "3"
    _, flags = parse_command_line("accelerate launch --mixed_precision bf16 train_network.py --x=1")
    assert "num_processes" not in flags


def test_ai_toolkit_whole_epoch_accumulation_is_noted_not_counted(tmp_path):
    from aspectbucket.scan.configs import read_trainer_config

    (tmp_path / "img").mkdir()
    job = tmp_path / "job.yaml"
    job.write_text(
        f"config:\n  process:\n    - datasets:\n        - folder_path: {tmp_path / 'img'}\n"
        "      train:\n        gradient_accumulation_steps: -1\n"
    )
    config = read_trainer_config(job)
    assert config.grad_accum is None and config.processes is None
    assert any("gradient_accumulation_steps" in note and "-1" in note for note in config.notes())
