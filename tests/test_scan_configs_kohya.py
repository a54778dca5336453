"""kohya's own configs in: a Kohya_ss GUI config (JSON or TOML), a pasted kohya/accelerate command line and
a musubi-tuner dataset config give the same images and settings as the dataset folder with the same options.

(These cases came with the trainers branch's first reader of these files; they now run against
:mod:`aspectbucket.scan.configs`.)
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from aspectbucket.cli import main
from aspectbucket.scan.configs import ConfigError, read_command_line, read_source, read_trainer_config
from report_plans import write_images


@pytest.fixture
def train(tmp_path):
    root = tmp_path / "train"
    write_images(root / "10_dog", [("wide.jpg", 1536, 640), ("tall.jpg", 600, 1400), ("small.jpg", 300, 200)])
    write_images(root / "2_cat", [("square.png", 1100, 1000)])
    write_images(tmp_path / "reg" / "1_dog", [("reg.jpg", 1024, 1024)])
    return root


GUI = {
    "resolution": "1024,1024",
    "enable_bucket": True,
    "min_bucket_reso": 256,
    "max_bucket_reso": 2048,
    "bucket_reso_steps": 64,
    "bucket_no_upscale": True,
    "train_batch_size": 2,
    "learning_rate": 0.0001,
    "output_dir": "/somewhere/else",
    "dataset_config": "",
    "reg_data_dir": "",
}


def ignored_keys(config) -> list[str]:
    return [item.key for item in config.ignored]


def test_a_gui_json_config_names_the_folders_settings_and_ignored_keys(train, tmp_path):
    path = tmp_path / "lora.json"
    path.write_text(json.dumps({**GUI, "train_data_dir": str(train)}))
    config = read_trainer_config(path)
    assert [subset.name for subset in config.subsets] == ["dog", "cat"]
    assert {subset.repeats for subset in config.subsets} == {10, 2}
    assert all(subset.enable_bucket and subset.batch_size == 2 for subset in config.subsets)
    assert dict(config.subsets[0].given_options) == {
        "resolution": (1024, 1024),
        "min_bucket_reso": 256,
        "max_bucket_reso": 2048,
        "bucket_reso_steps": 64,
        "bucket_no_upscale": True,
    }
    assert ignored_keys(config) == ["learning_rate", "output_dir"]  # the GUI's empty strings are unset, not ignored


def test_a_gui_toml_config_and_a_reg_folder(train, tmp_path):
    path = tmp_path / "lora.toml"
    reg = tmp_path / "reg"
    path.write_text(
        f'train_data_dir = "{train}"\nreg_data_dir = "{reg}"\nresolution = "768,768"\nenable_bucket = true\n'
    )
    config = read_trainer_config(path)
    assert [(subset.name, subset.is_reg) for subset in config.subsets] == [
        ("dog", False),
        ("cat", False),
        ("dog", True),
    ]
    assert dict(config.subsets[2].given_options) == {"resolution": (768, 768)}


def test_a_dataset_config_wins_and_takes_the_config_values_as_fallback(train, tmp_path):
    toml = tmp_path / "dataset.toml"
    toml.write_text(
        f'[[datasets]]\nresolution = 512\n[[datasets.subsets]]\nimage_dir = "{train / "10_dog"}"\nnum_repeats = 3\n'
    )
    path = tmp_path / "lora.json"
    path.write_text(json.dumps({**GUI, "train_data_dir": str(train), "dataset_config": str(toml)}))
    config = read_trainer_config(path)
    assert [(subset.name, subset.repeats) for subset in config.subsets] == [("10_dog", 3)]
    given = dict(config.subsets[0].given_options)
    assert given["resolution"] == (512, 512) and given["bucket_no_upscale"] is True  # the .toml's, then the GUI's
    assert config.subsets[0].batch_size == 2
    assert "sd-scripts ignores it" in {item.key: item.reason for item in config.ignored}["train_data_dir"]


def test_a_pasted_command_line_with_the_launcher_and_both_spellings(train):
    args = (
        f"accelerate launch --num_cpu_threads_per_process 1 sdxl_train_network.py --train_data_dir='{train}' "
        "--resolution=1024,768 --enable_bucket --min_bucket_reso 320 --bucket-reso-steps=32 --cache_latents "
        "--learning_rate 1e-4 --train_batch_size=4"
    )
    config = read_command_line(args)
    given = dict(config.subsets[0].given_options)
    assert given == {"resolution": (1024, 768), "min_bucket_reso": 320, "bucket_reso_steps": 32}
    assert config.subsets[0].enable_bucket and config.subsets[0].batch_size == 4
    assert ignored_keys(config) == ["cache_latents", "learning_rate"]  # accelerate's own options are not listed


def test_without_enable_bucket_sd_scripts_does_not_bucket(train):
    config = read_command_line(f"--train_data_dir {train} --resolution 512")
    assert not any(subset.enable_bucket for subset in config.subsets)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"resolution": "big"}, "lora.json: resolution = 'big' is not allowed"),
        ({"min_bucket_reso": -3}, "lora.json: min_bucket_reso = -3 is not allowed: expected a whole number of at"),
        ({"bucket_no_upscale": "maybe"}, "lora.json: bucket_no_upscale = 'maybe' is not allowed: expected true or"),
        ({"train_data_dir": "missing"}, "lora.json: train_data_dir = 'missing' is not allowed: expected an existing"),
        ({"train_data_dir": None}, "train_data_dir is missing: give it or dataset_config"),
    ],
)
def test_bad_values_name_the_file_key_value_and_what_is_allowed(train, tmp_path, values, message):
    path = tmp_path / "lora.json"
    merged = {**GUI, "train_data_dir": str(train), **values}
    path.write_text(json.dumps({key: value for key, value in merged.items() if value is not None}))
    with pytest.raises(ConfigError) as caught:
        read_trainer_config(path, trainer="kohya-gui")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_unreadable_configs_are_one_clear_error(tmp_path):
    path = tmp_path / "lora.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="is not valid JSON"):
        read_trainer_config(path, trainer="kohya-gui")
    with pytest.raises(ConfigError, match="'stray' is not an option"):
        read_command_line("--resolution 512 stray words")


def _report(*args):
    return CliRunner().invoke(main, ["report", *args, "--no-cache"], catch_exceptions=False)


def test_the_same_dataset_reports_the_same_images_from_each_config(train, tmp_path):
    def images(*args):
        out = tmp_path / f"{len(list(tmp_path.glob('*out.json')))}_out.json"
        result = _report(*args, "--json", str(out))
        assert result.exit_code == 0, result.output
        document = json.loads(out.read_text())
        return sorted((image["path"], image["bucket_width"], image["bucket_height"]) for image in document["images"])

    flags = ["--resolution", "1024", "--max-bucket-reso", "2048", "--bucket-no-upscale"]
    from_folder = images(str(train), *flags)
    gui = tmp_path / "lora.json"
    gui.write_text(json.dumps({**GUI, "train_data_dir": str(train)}))
    assert images("--config-file", str(gui)) == from_folder
    args = f"--train_data_dir {train} --resolution 1024,1024 --enable_bucket --max_bucket_reso 2048 --bucket_no_upscale"
    assert images("--kohya-args", args) == from_folder


def test_commands_take_the_configs_and_refuse_bad_ones(train, tmp_path):
    gui = tmp_path / "lora.json"
    gui.write_text(json.dumps({**GUI, "train_data_dir": str(train)}))
    compared = CliRunner().invoke(
        main, ["compare", "--config-file", str(gui), "--profiles", "kohya", "--json", "--no-cache"]
    )
    assert compared.exit_code == 0, compared.output
    assert json.loads(compared.stdout)["summaries"][0]["placed"] == 4
    assert "ignored (does not change bucketing): learning_rate, output_dir" in compared.stderr
    explained = CliRunner().invoke(
        main, ["explain", "3000x1000", "--json", "--kohya-args", f"--train_data_dir {train} --resolution 768"]
    )
    assert explained.exit_code == 0, explained.output
    facts = json.loads(explained.stdout)[0]
    assert (facts["bucket_width"], facts["bucket_height"]) == (1024, 320)  # 768, max_bucket_reso 1024
    bad = CliRunner().invoke(main, ["report", "--kohya-args", f"--train_data_dir {train} --resolution big"])
    assert bad.exit_code == 2 and "command line: resolution = 'big' is not allowed" in bad.output
    both = CliRunner().invoke(main, ["report", str(train), "--config-file", str(gui)])
    assert both.exit_code == 2 and "not both" in both.output


def test_a_gui_config_is_detected_as_the_source_of_every_command(train, tmp_path):
    gui = tmp_path / "lora.json"
    gui.write_text(json.dumps({**GUI, "train_data_dir": str(train)}))
    out = tmp_path / "report.json"
    reported = _report(str(gui), "--json", str(out))
    assert reported.exit_code == 0, reported.output
    assert len(json.loads(out.read_text())["images"]) == 4
    flat_toml = tmp_path / "lora.toml"
    flat_toml.write_text(f'train_data_dir = "{train}"\nresolution = "1024,1024"\nenable_bucket = true\n')
    compared = CliRunner().invoke(main, ["compare", str(flat_toml), "--profiles", "kohya", "--json", "--no-cache"])
    assert compared.exit_code == 0, compared.output
    assert json.loads(compared.stdout)["summaries"][0]["placed"] == 4
    exported = CliRunner().invoke(main, ["export", str(gui), str(tmp_path / "out")])
    assert exported.exit_code == 0, exported.output
    assert sorted(path.name for path in (tmp_path / "out").rglob("*.jpg")) == ["small.jpg", "tall.jpg", "wide.jpg"]


def _musubi_toml(tmp_path, train, extra: str = ""):
    path = tmp_path / "musubi.toml"
    path.write_text(
        "[general]\nresolution = [1024, 1024]\nenable_bucket = true\nbatch_size = 2\ncaption_extension = '.txt'\n"
        f"[[datasets]]\nimage_directory = '{train / '10_dog'}'\ncache_directory = 'cache'\nnum_repeats = 3\n{extra}"
        f"[[datasets]]\nvideo_directory = '{tmp_path / 'videos'}'\ntarget_frames = [1, 25]\n"
    )
    return path


def test_a_musubi_dataset_config_is_detected_and_read(train, tmp_path):
    subsets, _, config = read_source(_musubi_toml(tmp_path, train))
    assert config.profile == "musubi"
    [subset] = subsets
    assert (subset.image_dir, subset.repeats, subset.batch_size, subset.enable_bucket) == (train / "10_dog", 3, 2, True)
    assert dict(subset.given_options) == {"resolution": (1024, 1024)}
    reasons = {item.key: item.reason for item in config.ignored}
    assert reasons["datasets[0].cache_directory"] == "does not change bucketing"
    assert "video" in reasons["datasets[1]"]
    assert read_source(train)[2] is None  # a folder stays kohya's


def test_a_musubi_config_refuses_keys_musubi_does_not_know(train, tmp_path):
    with pytest.raises(ConfigError, match=r"datasets\[0\].image_dir = 'x' is not allowed: expected a musubi-tuner key"):
        read_source(_musubi_toml(tmp_path, train, "image_dir = 'x'\n"))
    with pytest.raises(ConfigError, match=r"datasets\[0\].resolution = 'big' is not allowed"):
        read_source(_musubi_toml(tmp_path, train, "resolution = 'big'\n"))


def test_a_musubi_config_reports_under_musubi_unless_profile_says(train, tmp_path):
    path = _musubi_toml(tmp_path, train)

    def buckets(*args):
        out = tmp_path / "musubi.json"
        result = CliRunner().invoke(main, ["report", str(path), "--no-cache", "--json", str(out), *args])
        assert result.exit_code == 0, result.output
        return result, sorted(
            (image["bucket_width"], image["bucket_height"]) for image in json.loads(out.read_text())["images"]
        )

    detected, placed = buckets()
    assert "is a musubi config: placed by that profile" in detected.stderr
    as_folder = ["report", str(train / "10_dog"), "--no-cache", "--profile", "musubi", "--resolution", "1024"]
    folder = CliRunner().invoke(main, [*as_folder, "--json", str(tmp_path / "f.json")])
    assert folder.exit_code == 0
    assert placed == sorted(
        (image["bucket_width"], image["bucket_height"])
        for image in json.loads((tmp_path / "f.json").read_text())["images"]
    )
    _, as_kohya = buckets("--profile", "kohya")
    assert as_kohya != placed
