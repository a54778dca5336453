"""A trainer's own config through the command line: report, compare, export and explain read it, the
trainer detected from it and ``--profile`` overriding; the same tiny dataset, given as each trainer's
config, reports the same images, each placed as that trainer places it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from aspectbucket.cli import main
from aspectbucket.profiles import place

SIZES = {"wide.png": (900, 500), "tall.png": (500, 900), "square.png": (640, 640)}


@pytest.fixture
def images(tmp_path) -> Path:
    folder = tmp_path / "data" / "4_photos"
    folder.mkdir(parents=True)
    for name, size in SIZES.items():
        Image.new("RGB", size, "gray").save(folder / name)
    return folder


def invoke(*arguments: str):
    return CliRunner().invoke(main, list(arguments), env={"COLUMNS": "120"})


def report_json(tmp_path: Path, *arguments: str) -> dict:
    target = tmp_path / "report.json"
    result = invoke("report", *arguments, "--no-cache", "--json", str(target))
    assert result.exit_code == 0, result.output
    return json.loads(target.read_text(encoding="utf-8"))


def buckets_by_name(document: dict) -> dict[str, tuple[int, int]]:
    return {Path(image["path"]).name: (image["bucket_width"], image["bucket_height"]) for image in document["images"]}


def expected(profile: str, settings: dict) -> dict[str, tuple[int, int]]:
    widths, heights = zip(*SIZES.values(), strict=True)
    placed = place(list(widths), list(heights), profile=profile, settings=settings)
    sizes = zip(placed.bucket_width.tolist(), placed.bucket_height.tolist(), strict=True)
    return dict(zip(SIZES, sizes, strict=True))


def configs(tmp_path: Path, images: Path) -> dict[str, tuple[list[str], str, dict]]:
    """Each trainer's own config for the same folder: ``(report arguments, profile, settings)``."""
    folder = str(images)
    musubi = tmp_path / "musubi.toml"
    musubi.write_text(
        f'[general]\nresolution = 512\nenable_bucket = true\n[[datasets]]\nimage_directory = "{folder}"\n'
    )
    onetrainer = tmp_path / "onetrainer.json"
    concept = {"path": folder, "enabled": True, "balancing": 1.0, "include_subdirectories": False}
    onetrainer.write_text(
        json.dumps({"model_type": "X", "training_method": "LORA", "resolution": "512", "concepts": [concept]})
    )
    gui = tmp_path / "kohya_gui.json"
    gui.write_text(json.dumps({"train_data_dir": str(images.parent), "resolution": "512,512", "train_batch_size": 2}))
    flags = f"train_dreambooth_lora_sdxl.py --instance_data_dir={folder} --resolution=512"
    kohya_flags = f"sdxl_train_network.py --train_data_dir={images.parent} --resolution=512 --enable_bucket"
    toolkit = tmp_path / "job.yaml"
    toolkit.write_text(
        f"config:\n  process:\n    - datasets:\n        - folder_path: {folder}\n          resolution: 512\n"
    )
    pipe = tmp_path / "dataset.toml"
    pipe.write_text(
        "resolutions = [512]\nenable_ar_bucket = true\nar_buckets = [0.75, 1.0, 1.5]\n"
        f'[[directory]]\npath = "{folder}"\n'
    )
    return {
        "musubi": ([str(musubi)], "musubi", {"resolution": 512}),
        "diffusion-pipe": ([str(pipe)], "diffusion-pipe", {"resolutions": [512], "ar_buckets": [0.75, 1.0, 1.5]}),
        "onetrainer": ([str(onetrainer)], "onetrainer", {"target_resolution": 512}),
        "kohya-gui": (["--config", str(gui)], "kohya", {"resolution": "512,512"}),
        "kohya-args": (["--kohya-args", kohya_flags], "kohya", {"resolution": "512,512"}),
        "diffusers": (["--kohya-args", flags], "diffusers", {"resolution": 512}),
        "ai-toolkit": ([str(toolkit)], "ai-toolkit", {"resolution": 512}),
    }


@pytest.mark.parametrize(
    "kind", ["musubi", "onetrainer", "kohya-gui", "kohya-args", "diffusers", "ai-toolkit", "diffusion-pipe"]
)
def test_each_trainer_config_reports_the_same_images_placed_by_that_trainer(tmp_path, images, kind):
    arguments, profile, settings = configs(tmp_path, images)[kind]
    document = report_json(tmp_path, *arguments)
    assert document["settings"]["profile"] == profile
    assert buckets_by_name(document) == expected(profile, settings)


def test_profile_overrides_the_detected_trainer_and_keeps_the_resolution(tmp_path, images):
    arguments, _, _ = configs(tmp_path, images)["musubi"]
    document = report_json(tmp_path, *arguments, "--profile", "kohya")
    assert document["settings"]["profile"] == "kohya"
    assert buckets_by_name(document) == expected("kohya", {"resolution": "512,512"})


def test_ignored_fields_are_printed_as_notes(tmp_path, images):
    gui = tmp_path / "kohya_gui.json"
    gui.write_text(json.dumps({"train_data_dir": str(images.parent), "train_batch_size": 1, "learning_rate": 1e-4}))
    result = invoke("report", "--no-cache", "--config", str(gui))
    assert result.exit_code == 0, result.output
    assert "note: kohya_gui.json: ignored (does not change bucketing): learning_rate" in result.stderr


def test_a_bad_config_value_is_a_usage_error_naming_file_key_and_value(tmp_path, images):
    musubi = tmp_path / "musubi.toml"
    musubi.write_text(f'[[datasets]]\nimage_directory = "{images}"\nnum_repeats = -1\n')
    result = invoke("report", "--no-cache", str(musubi))
    assert result.exit_code == 2
    assert "musubi.toml: datasets[0].num_repeats = -1 is not allowed" in result.stderr


def test_compare_explain_and_export_read_trainer_configs(tmp_path, images):
    arguments, _, settings = configs(tmp_path, images)["onetrainer"]
    result = invoke("compare", *arguments, "--no-cache", "--profiles", "onetrainer,kohya", "--json")
    assert result.exit_code == 0, result.output
    assert [item["profile"] for item in json.loads(result.stdout)["summaries"]] == ["onetrainer", "kohya"]

    result = invoke("explain", "900x500", "--config", arguments[0], "--json")
    assert result.exit_code == 0, result.output
    (facts,) = json.loads(result.stdout)
    assert (facts["bucket_width"], facts["bucket_height"]) == expected("onetrainer", settings)["wide.png"]

    out = tmp_path / "out"
    result = invoke("export", "--config", arguments[0], str(out), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "wide.png" in result.stdout
    both = invoke("export", arguments[0], "--config", arguments[0], str(out))
    assert both.exit_code == 2


def test_simpletuner_backends_report_under_its_profile(tmp_path, images):
    backend = {"id": "photos", "instance_data_dir": str(images), "resolution": 512, "resolution_type": "pixel_area"}
    path = tmp_path / "multidatabackend.json"
    path.write_text(json.dumps([backend, {"id": "te", "dataset_type": "text_embeds"}]))
    document = report_json(tmp_path, str(path))
    assert document["settings"]["profile"] == "simpletuner"
    assert buckets_by_name(document) == expected("simpletuner", {"resolution": 512})
