"""The epoch ledger counts with the processes and gradient accumulation a trainer's own config gives
(``report`` with a config, ``ledger --config``), the command line's ``--processes``/``--grad-accum``
winning; a refused count is a one-line usage error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from aspectbucket.cli import main

#: Eight images of one bucket: with 2 processes and accumulation 2 every trainer still trains them all.
IMAGES = 8


@pytest.fixture
def images(tmp_path) -> Path:
    folder = tmp_path / "data" / "1_photos"
    folder.mkdir(parents=True)
    for index in range(IMAGES):
        Image.new("RGB", (640, 640), "gray").save(folder / f"{index}.png")
    return folder


def invoke(*arguments: str):
    return CliRunner().invoke(main, list(arguments), env={"COLUMNS": "120"})


def ledger_totals(tmp_path: Path, *arguments: str) -> dict:
    """The report's ledger (its JSON), all but the per-bucket and per-image rows."""
    target = tmp_path / "report.json"
    result = invoke("report", *arguments, "--no-cache", "--json", str(target))
    assert result.exit_code == 0, result.output
    ledger = json.loads(target.read_text(encoding="utf-8"))["ledger"]
    return {key: value for key, value in ledger.items() if key not in ("per_bucket", "images")}


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def configs(tmp_path: Path, images: Path) -> dict[str, tuple[list[str], int, int]]:
    """Each trainer's config with its own count keys: ``(report arguments, processes, accumulation)``."""
    folder = str(images)
    gui = {"train_data_dir": str(images.parent), "resolution": "512,512", "train_batch_size": 1}
    gui |= {"gradient_accumulation_steps": "2", "num_processes": 2}  # the GUI saves some numbers as text
    kohya_line = (
        "accelerate launch --num_processes=2 sdxl_train_network.py "
        f"--train_data_dir={images.parent} --resolution=512 --enable_bucket --gradient_accumulation_steps 2"
    )
    diffusers_line = (
        "accelerate launch --num-processes 2 train_dreambooth_lora_sdxl.py "
        f"--instance_data_dir={folder} --resolution=512 --train_batch_size=1 --gradient_accumulation_steps=2"
    )
    concept = {"path": folder, "enabled": True, "balancing": 1.0, "include_subdirectories": False}
    onetrainer = {"model_type": "X", "training_method": "LORA", "resolution": "512", "concepts": [concept]}
    onetrainer |= {"gradient_accumulation_steps": 2, "multi_gpu": True, "device_indexes": "0,1"}
    backends = write(tmp_path / "multidatabackend.json", json.dumps([{"id": "photos", "instance_data_dir": folder}]))
    simpletuner = {"--data_backend_config": backends, "--train_batch_size": 1, "--resolution": 512}
    simpletuner |= {"--gradient_accumulation_steps": 2, "--num_processes": 2}
    dataset = write(tmp_path / "dataset.toml", f'resolutions = [512]\n[[directory]]\npath = "{folder}"\n')
    pipe = f'dataset = "{dataset}"\nmicro_batch_size_per_gpu = 1\ngradient_accumulation_steps = 2\n'
    pipe += '[model]\ntype = "flux"\n'
    toolkit = f"config:\n  process:\n    - datasets:\n        - folder_path: {folder}\n          resolution: 512\n"
    toolkit += "      train:\n        batch_size: 1\n        gradient_accumulation_steps: 2\n"
    return {
        "kohya-gui": (["--config", write(tmp_path / "kohya_gui.json", json.dumps(gui))], 2, 2),
        "kohya-args": (["--kohya-args", kohya_line], 2, 2),
        "diffusers": (["--kohya-args", diffusers_line], 2, 2),
        "onetrainer": ([write(tmp_path / "onetrainer.json", json.dumps(onetrainer))], 2, 2),
        "simpletuner": ([write(tmp_path / "config.json", json.dumps(simpletuner))], 2, 2),
        "diffusion-pipe": ([write(tmp_path / "config.toml", pipe)], 1, 2),
        "ai-toolkit": ([write(tmp_path / "job.yaml", toolkit)], 1, 2),
    }


@pytest.mark.parametrize(
    "kind", ["kohya-gui", "kohya-args", "diffusers", "onetrainer", "simpletuner", "diffusion-pipe", "ai-toolkit"]
)
def test_report_ledger_counts_with_the_configs_processes_and_accumulation(tmp_path, images, kind):
    arguments, processes, grad_accum = configs(tmp_path, images)[kind]
    from_config = ledger_totals(tmp_path, *arguments)
    assert (from_config["processes"], from_config["grad_accum"]) == (processes, grad_accum)
    # The optimizer steps are those of the same counts given on the command line, and fewer than one
    # process without accumulation would take.
    given = ledger_totals(tmp_path, *arguments, "--processes", str(processes), "--grad-accum", str(grad_accum))
    assert from_config == given
    single = ledger_totals(tmp_path, *arguments, "--processes", "1", "--grad-accum", "1")
    assert from_config["optimizer_steps_per_epoch"] < single["optimizer_steps_per_epoch"]
    assert from_config["image_count"] == IMAGES and from_config["never_trained"] == 0


def test_command_line_counts_win_over_the_configs_and_the_source_is_noted(tmp_path, images):
    arguments, _, _ = configs(tmp_path, images)["onetrainer"]
    result = invoke("report", *arguments, "--no-cache", "--grad-accum", "4")
    assert result.exit_code == 0, result.output
    assert "--processes 2, from onetrainer.json" in result.output
    assert "--grad-accum 2, from" not in result.output
    totals = ledger_totals(tmp_path, *arguments, "--grad-accum", "4")
    assert (totals["processes"], totals["grad_accum"]) == (2, 4)


def test_a_refused_count_in_the_config_is_a_one_line_usage_error(tmp_path, images):
    config = tmp_path / "kohya_gui.json"
    config.write_text(json.dumps({"train_data_dir": str(images.parent), "gradient_accumulation_steps": 0}))
    result = invoke("report", "--config", str(config), "--no-cache")
    assert result.exit_code == 2
    assert "gradient_accumulation_steps = 0 is not allowed" in result.output
    assert "Traceback" not in result.output


def test_onetrainer_multi_gpu_without_device_indexes_is_one_process_unless_given(tmp_path, images):
    arguments, _, _ = configs(tmp_path, images)["onetrainer"]
    document = json.loads(Path(arguments[0]).read_text())
    Path(arguments[0]).write_text(json.dumps(document | {"device_indexes": ""}))
    result = invoke("report", *arguments, "--no-cache")
    assert "device_indexes" in result.output and "give --processes" in result.output
    assert ledger_totals(tmp_path, *arguments)["processes"] == 1


def test_ledger_command_reads_counts_and_batch_size_from_config(tmp_path, images):
    arguments, _, _ = configs(tmp_path, images)["simpletuner"]
    sizes = tmp_path / "sizes.csv"
    sizes.write_text("width,height\n" + "640,640\n" * IMAGES)
    result = invoke("ledger", "--sizes", str(sizes), "--config", arguments[0], "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output.splitlines()[-1])
    assert (document["profile"], document["processes"], document["grad_accum"]) == ("simpletuner", 2, 2)
    plain = invoke("ledger", "--sizes", str(sizes), "--profile", "simpletuner", "--json")
    plain_document = json.loads(plain.output.splitlines()[-1])
    assert document["optimizer_steps_per_epoch"] < plain_document["optimizer_steps_per_epoch"]
