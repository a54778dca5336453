"""Pasted training command lines: the diffusers DreamBooth scripts' flags and kohya sd-scripts' (``--kohya-args``).

A command line is split as a shell splits it (line continuations ``\\``, ``^`` and ``` ` ``` joined first);
``--name=value``, ``--name value`` and bare ``--flag`` are read, dashes and underscores alike
(``--min-bucket-reso`` is ``--min_bucket_reso``). The script name (``train_dreambooth_lora_flux2.py``,
``sdxl_train_network.py``) says which trainer; without one, kohya-only flags say kohya.

diffusers (huggingface/diffusers@58eb52c0 ``examples/dreambooth/train_dreambooth_lora_flux2.py:parse_args``):
``--instance_data_dir`` (its own files, no subfolders: ``DreamBoothDataset`` lists ``iterdir()``),
``--class_data_dir`` with ``--with_prior_preservation``, ``--resolution`` (512 when not given),
``--aspect_ratio_buckets``, ``--train_batch_size`` (4 when not given), ``--repeats``,
``--gradient_accumulation_steps``; ``--dataset_name`` (a Hub dataset) cannot be read. Before the script,
``accelerate launch --num_processes N`` gives the number of processes (both trainers).
kohya: see :mod:`aspectbucket.scan.configs.kohya`.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from aspectbucket.scan.configs.common import ConfigError, Fields, TrainerConfig
from aspectbucket.scan.sources import Subset

#: Flags only sd-scripts takes: a command line without a script name that has one is kohya's.
KOHYA_ONLY = ("train_data_dir", "dataset_config", "min_bucket_reso", "max_bucket_reso", "bucket_reso_steps")
KOHYA_ONLY += ("enable_bucket", "bucket_no_upscale", "reg_data_dir", "config_file")
DIFFUSERS_MODELLED = ("instance_data_dir", "class_data_dir", "with_prior_preservation", "resolution", "repeats")
DIFFUSERS_MODELLED += ("aspect_ratio_buckets", "use_aspect_ratio_buckets", "train_batch_size", "center_crop")
DIFFUSERS_MODELLED += ("bucket_divisibility", "gradient_accumulation_steps", "num_processes")
_CONTINUATION = re.compile(r"[\\^`]\r?\n")


def parse_command_line(text: str) -> tuple[str, dict[str, object]]:
    """``(script, flags)``: the first ``*.py`` word and every ``--flag`` after it with its value (``True`` if
    bare); a word that is neither an option nor an option's value is refused."""
    try:
        words = shlex.split(_CONTINUATION.sub(" ", text))
    except ValueError as error:
        raise ConfigError(f"the command line cannot be split: {error}") from None
    scripts = [number for number, word in enumerate(words) if word.endswith(".py")]
    script = Path(words[scripts[0]]).name if scripts else ""
    flags: dict[str, object] = {}
    if scripts:
        flags.update(launcher_processes(words[: scripts[0]]))
        words = words[scripts[0] + 1 :]  # the launcher's own options (accelerate's) come before the script
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if not word.startswith("--"):
            raise ConfigError(f"the command line: {word!r} is not an option (--name or --name=value)")
        name, equals, value = word[2:].partition("=")
        name = name.replace("-", "_")
        if not equals:
            if index < len(words) and not words[index].startswith("--"):
                value, index = words[index], index + 1
            else:
                value = True
        flags[name] = value
    return script, flags


def launcher_processes(words: list[str]) -> dict[str, str]:
    """``{"num_processes": N}`` when the launcher's words (``accelerate launch --num_processes 2``) give it.

    accelerate's ``launch`` takes ``--num_processes`` (huggingface/accelerate@v1.10.0
    ``src/accelerate/commands/launch.py:launch_command_parser``); the script's flags come after the script
    name, so this is the one launcher option the epoch ledger needs.
    """
    for index, word in enumerate(words):
        name, equals, value = word.lstrip("-").partition("=")
        if word.startswith("--") and name.replace("-", "_") == "num_processes":
            if equals:
                return {"num_processes": value}
            if index + 1 < len(words):
                return {"num_processes": words[index + 1]}
    return {}


def trainer_of(script: str, flags: dict) -> str:
    """``"kohya"`` or ``"diffusers"``, from the script name, else from the flags."""
    if script.startswith(("train_dreambooth", "train_text_to_image")):
        return "diffusers"
    if script or any(name in flags for name in KOHYA_ONLY):
        return "kohya"
    return "diffusers" if "instance_data_dir" in flags else "kohya"


def read_diffusers_flags(flags: dict, source: Path) -> TrainerConfig:
    """The DreamBooth script's dataset: instance images (and class images with prior preservation)."""
    fields = Fields(source)
    if "dataset_name" in flags:
        name = flags["dataset_name"]
        raise ConfigError(f"{source}: --dataset_name {name!r} is a Hub dataset: give --instance_data_dir")
    if "instance_data_dir" not in flags:
        raise ConfigError(f"{source}: --instance_data_dir is missing: the folder of training images")
    settings = {"resolution": _whole(fields, flags, "resolution", 512)}
    if "aspect_ratio_buckets" in flags:
        settings["aspect_ratio_buckets"] = fields.text("--aspect_ratio_buckets", flags["aspect_ratio_buckets"])
    if flags.get("use_aspect_ratio_buckets") is True:
        settings["use_aspect_ratio_buckets"] = True
    if "bucket_divisibility" in flags:
        settings["bucket_divisibility"] = _whole(fields, flags, "bucket_divisibility", 16)
    if flags.get("center_crop") is True:
        settings["center_crop"] = True
    else:
        fields.ignore("--center_crop", "absent, so the script crops at random; placements show the centred crop")
    batch_size = _whole(fields, flags, "train_batch_size", 4)
    repeats = _whole(fields, flags, "repeats", 1)
    folders = [("instance_data_dir", False)]
    if flags.get("with_prior_preservation") is True and "class_data_dir" in flags:
        folders.append(("class_data_dir", True))
    elif "class_data_dir" in flags:
        fields.ignore("--class_data_dir", "used only with --with_prior_preservation")
    subsets = [
        Subset(
            image_dir=fields.folder(f"--{key}", flags[key], Path.cwd()),
            repeats=1 if is_reg else repeats,
            name=Path(str(flags[key])).name,
            batch_size=batch_size,
            is_reg=is_reg,
            settings=tuple(settings.items()),
        )
        for key, is_reg in folders
    ]
    fields.unknown("--", flags, DIFFUSERS_MODELLED, "does not change bucketing")
    config = TrainerConfig("diffusers", settings, subsets, batch_size, fields.ignored, source)
    config.processes = fields.count("--num_processes", flags.get("num_processes"))
    config.grad_accum = fields.count("--gradient_accumulation_steps", flags.get("gradient_accumulation_steps"))
    return config


def _whole(fields: Fields, flags: dict, name: str, default: int) -> int:
    """``--name`` as a whole number of at least 1 (argparse's ``type=int``), ``default`` when absent."""
    value = flags.get(name, default)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return fields.integer(f"--{name}", value, 1)
