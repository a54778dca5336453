"""SimpleTuner's ``multidatabackend.json`` (with the ``config.json`` that names it, for the batch size and defaults).

Keys and checks as SimpleTuner 4.10.1 reads them (files as bghira/SimpleTuner@bc8e6ab7): each image backend's
``instance_data_dir`` (walked with its subfolders), ``resolution``, ``resolution_type`` (``pixel``, ``area``,
``pixel_area``), ``minimum_image_size``, ``maximum_image_size``, ``target_downsample_size``, ``crop``,
``crop_aspect`` (``square``, ``preserve``, ``closest``, ``random``; the last two need
``crop_aspect_buckets``), ``crop_style`` and ``repeats`` (extra passes: 0 means each image once). A value a
backend leaves out comes from the training config (``--resolution``...), then SimpleTuner's default.
``disabled`` backends and non-image ones (``text_embeds``, ``image_embeds``...) are listed as ignored.
The training config's ``gradient_accumulation_steps`` (``helpers/configuration/cmd_args.py``) and
``num_processes`` (the GPUs its launcher starts: bghira/SimpleTuner@main
``simpletuner/simpletuner_sdk/server/services/training_service.py:get_gpu_requirements``) feed the epoch ledger.
"""

from __future__ import annotations

from pathlib import Path

from aspectbucket.scan.configs.common import Fields, TrainerConfig, load_document
from aspectbucket.scan.sources import Subset

RESOLUTION_TYPES = ("pixel", "area", "pixel_area")
CROP_ASPECTS = ("square", "preserve", "closest", "random")
CROP_STYLES = ("random", "center", "centre", "corner")
#: Settings a backend may give, or inherit from the training config.
BACKEND_SETTINGS = (
    "resolution",
    "resolution_type",
    "minimum_image_size",
    "maximum_image_size",
    "target_downsample_size",
    "crop",
    "crop_aspect",
    "crop_aspect_buckets",
    "crop_style",
)
#: Training-config settings that apply to every backend.
GLOBAL_SETTINGS = ("aspect_bucket_rounding", "aspect_bucket_alignment")
MODELLED = (*BACKEND_SETTINGS, "id", "type", "dataset_type", "instance_data_dir", "repeats", "disabled")


def is_backends_document(document) -> bool:
    """A list of backends, one of them with ``instance_data_dir`` or a ``type``."""
    return isinstance(document, list) and any(
        isinstance(entry, dict) and ("instance_data_dir" in entry or "dataset_type" in entry) for entry in document
    )


def is_training_document(document) -> bool:
    """A ``config.json`` naming its backends (``--data_backend_config`` or ``data_backend_config``)."""
    return isinstance(document, dict) and any(key.lstrip("-") == "data_backend_config" for key in document)


def read_simpletuner(path: Path) -> TrainerConfig:
    """A ``multidatabackend.json``, or a ``config.json`` with the backends file it names."""
    path = Path(path)
    fields = Fields(path)
    document = load_document(path)
    training = {}
    if is_training_document(document):
        training = {key.lstrip("-"): value for key, value in document.items()}
        modelled = (*BACKEND_SETTINGS, *GLOBAL_SETTINGS, "data_backend_config", "train_batch_size")
        modelled += ("gradient_accumulation_steps", "num_processes")
        fields.unknown("", training, modelled, "does not change bucketing")
        backends_path = _backends_path(fields, path, training["data_backend_config"])
        return _read_backends(backends_path, load_document(backends_path), training, fields.ignored)
    return _read_backends(path, document, training, [])


def _backends_path(fields: Fields, config: Path, value) -> Path:
    candidate = Path(fields.text("data_backend_config", value)).expanduser()
    for place in [candidate] if candidate.is_absolute() else [config.parent / candidate, Path.cwd() / candidate]:
        if place.is_file():
            return place
    raise fields.error("data_backend_config", value, "the path of an existing multidatabackend.json")


def _read_backends(path: Path, document, training: dict, ignored: list) -> TrainerConfig:
    fields = Fields(path)
    fields.ignored[:0] = ignored
    if not is_backends_document(document):
        raise fields.error("the file", type(document).__name__, "a list of data backends")
    general = _settings(fields, "config.", {key: training[key] for key in BACKEND_SETTINGS if key in training})
    for key in GLOBAL_SETTINGS:
        if key in training:
            general[key] = fields.integer(key, training[key], 0 if key == "aspect_bucket_rounding" else 1)
    batch = training.get("train_batch_size")
    batch_size = None if batch is None else fields.integer("train_batch_size", batch, 1)
    subsets = []
    for index, raw in enumerate(document):
        where = f"[{index}]."
        backend = fields.table(f"[{index}]", raw)
        label = backend.get("id", index)
        kind = backend.get("dataset_type", "image")
        if backend.get("disabled", False) is True or kind != "image":
            why = "disabled" if kind == "image" else f"a {kind} backend, not training images"
            fields.ignore(f"[{index}] ({label})", why)
            continue
        if backend.get("type", "local") != "local":
            fields.ignore(f"[{index}] ({label})", f"a {backend.get('type')!r} backend: only local folders are read")
            continue
        own = {**general, **_settings(fields, where, backend)}
        _check_crop(fields, where, own)
        folder = fields.folder(f"{where}instance_data_dir", backend.get("instance_data_dir"), path.parent)
        subsets.append(
            Subset(
                image_dir=folder,
                repeats=fields.integer(f"{where}repeats", backend.get("repeats", 0), 0) + 1,
                name=str(label),
                dataset=len(subsets),
                batch_size=batch_size,
                caption_extension=".txt",
                recursive=True,
                settings=tuple(own.items()),
            )
        )
        fields.unknown(where, backend, MODELLED, "does not change bucketing")
    config = TrainerConfig("simpletuner", general, subsets, batch_size, fields.ignored, path)
    config.processes = fields.count("num_processes", training.get("num_processes"))
    config.grad_accum = fields.count("gradient_accumulation_steps", training.get("gradient_accumulation_steps"))
    return config


def _settings(fields: Fields, where: str, values: dict) -> dict:
    """The bucketing settings ``values`` give, checked as SimpleTuner checks them."""
    settings = {}
    if "resolution" in values:
        settings["resolution"] = fields.number(f"{where}resolution", values["resolution"], positive=True)
    if "resolution_type" in values:
        kind = values["resolution_type"]
        settings["resolution_type"] = fields.choice(f"{where}resolution_type", kind, RESOLUTION_TYPES)
    for key in ("minimum_image_size", "maximum_image_size", "target_downsample_size"):
        if values.get(key) is not None:
            settings[key] = fields.number(f"{where}{key}", values[key], positive=True)
    if "crop" in values:
        settings["crop"] = fields.boolean(f"{where}crop", values["crop"])
    if "crop_aspect" in values:
        settings["crop_aspect"] = fields.choice(f"{where}crop_aspect", values["crop_aspect"], CROP_ASPECTS)
    if "crop_style" in values:
        settings["crop_style"] = fields.choice(f"{where}crop_style", values["crop_style"], CROP_STYLES)
    if "crop_aspect_buckets" in values:
        buckets = values["crop_aspect_buckets"]
        if not isinstance(buckets, list):
            raise fields.error(f"{where}crop_aspect_buckets", buckets, "a list of ratios")
        settings["crop_aspect_buckets"] = tuple(
            fields.number(f"{where}crop_aspect_buckets", ratio, positive=True) for ratio in buckets
        )
    return settings


def _check_crop(fields: Fields, where: str, own: dict) -> None:
    """``crop_aspect`` closest or random picks among ``crop_aspect_buckets``: SimpleTuner refuses it without them."""
    if own.get("crop") and own.get("crop_aspect") in ("closest", "random") and not own.get("crop_aspect_buckets"):
        raise fields.error(f"{where}crop_aspect", own["crop_aspect"], "square or preserve without crop_aspect_buckets")
