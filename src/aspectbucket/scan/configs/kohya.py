"""kohya's own settings outside a dataset TOML: a Kohya_ss GUI config file and a pasted sd-scripts command line.

Both give the same names (sd-scripts' arguments, ``library/train_util.py:add_dataset_arguments`` at
kohya-ss/sd-scripts@48d368fa): ``train_data_dir`` (a DreamBooth folder of ``N_name`` subfolders),
``reg_data_dir``, ``resolution`` ("1024,1024"), ``enable_bucket``, ``min_bucket_reso``, ``max_bucket_reso``,
``bucket_reso_steps``, ``bucket_no_upscale``, ``train_batch_size``, ``caption_extension`` and
``dataset_config``. With ``dataset_config`` sd-scripts reads the folders from that TOML and ignores
``train_data_dir``; the command line's bucket options fill what the TOML leaves out
(``library/config_util.py:BlueprintGenerator``). On the command line buckets are off unless
``--enable_bucket`` (sd-scripts' default); the GUI's "Enable buckets" box is on by default. A GUI config
(JSON, or TOML with tables that are flattened as sd-scripts' ``--config_file`` does) stores some numbers as
text; they are accepted. ``gradient_accumulation_steps`` is sd-scripts' own argument
(``library/train_util.py:add_training_arguments``); ``num_processes`` is accelerate's, which the GUI saves
in its config (bmaltais/kohya_ss@master ``kohya_gui/class_accelerate_launch.py:AccelerateLaunch``) and a
pasted command line gives as ``accelerate launch --num_processes N``: the epoch ledger counts with both.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from aspectbucket.geometry.options import OptionsError, parse_resolution
from aspectbucket.scan.configs.common import ConfigError, Fields, TrainerConfig, load_document
from aspectbucket.scan.sources import BUCKET_KEYS, DatasetError, read_config, read_folder

#: What a GUI config file is recognised by: the arguments that name its images.
GUI_KEYS = ("train_data_dir", "dataset_config")
MODELLED = (*BUCKET_KEYS, "train_data_dir", "reg_data_dir", "dataset_config", "enable_bucket", "train_batch_size")
MODELLED += ("caption_extension", "gradient_accumulation_steps", "num_processes")


def is_gui_document(document) -> bool:
    """A table of sd-scripts' arguments naming ``train_data_dir`` or ``dataset_config`` (a dataset TOML's
    ``[[datasets]]`` list is kohya's dataset config instead)."""
    if not isinstance(document, dict) or isinstance(document.get("datasets"), list):
        return False
    return any(key in flatten(document) for key in GUI_KEYS)


def read_kohya_gui(path: Path) -> TrainerConfig:
    """A Kohya_ss GUI config (``--config_file``, TOML or JSON)."""
    path = Path(path)
    return read_kohya_values(gui_values(path), Fields(path), path.parent, enable_bucket_default=True)


def gui_values(path: Path) -> dict:
    """A GUI config's (or sd-scripts ``--config_file``'s) values, tables flattened."""
    return flatten(Fields(path).table("the file", load_document(path)))


def flatten(document: dict) -> dict:
    """One level of tables merged into the top (the GUI's TOML sections, as sd-scripts reads ``--config_file``)."""
    flat = {}
    for key, value in document.items():
        flat.update(value if isinstance(value, dict) else {key: value})
    return flat


def read_kohya_args(flags: dict, source: Path) -> TrainerConfig:
    """A pasted sd-scripts command line (already split into flags); relative paths from the working folder."""
    return read_kohya_values(flags, Fields(source), Path.cwd(), enable_bucket_default=False)


def read_kohya_values(values: dict, fields: Fields, base: Path, enable_bucket_default: bool) -> TrainerConfig:
    """The dataset that sd-scripts' arguments describe."""
    settings = _bucket_settings(fields, values)
    enable_bucket = _flag(fields, values, "enable_bucket", enable_bucket_default)
    batch = values.get("train_batch_size")
    batch_size = None if batch in (None, "") else _whole(fields, "train_batch_size", batch)
    caption = values.get("caption_extension") or ".caption"
    dataset_config = values.get("dataset_config")
    if dataset_config:
        config_path = fields.folder("dataset_config", dataset_config, base)
        for key in ("train_data_dir", "reg_data_dir"):
            if values.get(key):
                fields.ignore(key, "sd-scripts ignores it when dataset_config is given")
        subsets, warnings = _read(lambda: read_config(config_path)), []
        subsets = [_fill(subset, settings, batch_size) for subset in subsets]
    else:
        if not values.get("train_data_dir"):
            raise ConfigError(f"{fields.file}: train_data_dir is missing: give it or dataset_config")
        subsets, warnings = _folders(fields, values, base)
        subsets = [
            dataclasses.replace(
                subset,
                batch_size=batch_size,
                caption_extension=str(caption),
                enable_bucket=enable_bucket,
                settings=tuple(settings.items()),
            )
            for subset in subsets
        ]
    for key, value in values.items():
        if key not in MODELLED and value not in (None, "", False):
            fields.ignore(key, "does not change bucketing")
    config = TrainerConfig("kohya", settings, subsets, batch_size, fields.ignored, fields.file, warnings)
    config.processes = fields.count("num_processes", values.get("num_processes"))
    config.grad_accum = fields.count("gradient_accumulation_steps", values.get("gradient_accumulation_steps"))
    return config


def _folders(fields: Fields, values: dict, base: Path):
    root = _existing(fields, "train_data_dir", values["train_data_dir"], base)
    subsets, warnings = _read(lambda: read_folder(root))
    if len(subsets) == 1 and subsets[0].image_dir == root:
        warnings.append(f"{root.name!r} has no N_name subfolders, so sd-scripts finds no images; read as one folder")
    if values.get("reg_data_dir"):
        reg_root = _existing(fields, "reg_data_dir", values["reg_data_dir"], base)
        regs, reg_warnings = _read(lambda: read_folder(reg_root))
        subsets += [dataclasses.replace(subset, is_reg=True, recursive=False) for subset in regs]
        warnings += reg_warnings
    return [dataclasses.replace(subset, recursive=False) for subset in subsets], warnings


def _existing(fields: Fields, key: str, value, base: Path) -> Path:
    folder = fields.folder(key, value, base)
    if not folder.is_dir():
        raise fields.error(key, value, "an existing folder")
    return folder


def _fill(subset, settings: dict, batch_size):
    """A dataset-TOML subset with the command line's values where the TOML gives none."""
    given = dict(subset.given_options)
    return dataclasses.replace(
        subset,
        settings=tuple((key, value) for key, value in settings.items() if key not in given),
        batch_size=subset.batch_size if subset.batch_size is not None else batch_size,
    )


def _read(reader):
    try:
        return reader()
    except DatasetError as error:
        raise ConfigError(str(error)) from None


def _bucket_settings(fields: Fields, values: dict) -> dict:
    settings = {}
    if values.get("resolution") not in (None, ""):
        try:
            settings["resolution"] = parse_resolution(str(values["resolution"]).strip("[]() "))
        except OptionsError:
            raise fields.error("resolution", values["resolution"], 'SIZE or "WIDTH,HEIGHT" in whole pixels') from None
    for key in ("min_bucket_reso", "max_bucket_reso", "bucket_reso_steps"):
        if values.get(key) not in (None, ""):
            settings[key] = _whole(fields, key, values[key])
    if "bucket_no_upscale" in values:
        settings["bucket_no_upscale"] = _flag(fields, values, "bucket_no_upscale", False)
    return settings


def _whole(fields: Fields, key: str, value) -> int:
    """A whole number of at least 1; the GUI writes some as text ("64")."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return fields.integer(key, value, 1)


def _flag(fields: Fields, values: dict, key: str, default: bool) -> bool:
    """A switch: a bare command-line flag (``True``), a JSON/TOML bool, or the GUI's "true"/"false"."""
    value = values.get(key, default)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        value = value.lower() == "true"
    return fields.boolean(key, value)
