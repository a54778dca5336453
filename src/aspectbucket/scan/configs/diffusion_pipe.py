"""diffusion-pipe's ``dataset.toml`` (and the training ``config.toml`` that names it), read as the trainer reads them.

From tdrussell/diffusion-pipe@8f83dbf2: ``utils/dataset.py:DirectoryDataset`` takes each ``[[directory]]``
value over the top-level one (``directory_config.get(key, dataset_config...)``; ``enable_ar_bucket`` off,
``num_repeats`` 1 and ``skip_empty_caption`` true by default, ``resolutions`` required unless
``size_buckets``, ``min_ar``/``max_ar``/``num_ar_buckets`` required when ratio buckets are on without
``ar_buckets``) and lists the directory's own files (``self.path.glob('*')``, no subfolders). The training
config gives ``dataset``, ``micro_batch_size_per_gpu`` (``train.py``) and ``[model] type``, whose
``pixels_round_to_multiple`` is 16 (``models/base.py``) except ``hunyuan_image`` and ``ltx-video`` (32;
Wan 2.2 5B also rounds to 32, but that is read from the checkpoint, not the config).

The trainer trains every image at every entry of ``resolutions`` (the dataset is duplicated per entry), so
each directory gives one subset (dataset block) per resolution, its ``resolutions`` setting that one entry.
The training config's ``gradient_accumulation_steps`` (``train.py``, handed to DeepSpeed) feeds the epoch
ledger; the GPU count is DeepSpeed's ``--num_gpus`` on the command line, not in the file.
"""

from __future__ import annotations

from pathlib import Path

from aspectbucket.scan.configs.common import ConfigError, Fields, TrainerConfig, load_document
from aspectbucket.scan.sources import Subset

#: Settings a ``[[directory]]`` may override (the rest of its keys are its own).
RATIO_KEYS = ("enable_ar_bucket", "min_ar", "max_ar", "num_ar_buckets", "ar_buckets", "size_buckets")
SHARED_KEYS = ("resolutions", *RATIO_KEYS, "frame_buckets")
#: Keys read but not modelled: they change captions, masks and caching, not sizes.
NOT_SIZES = (
    "cache_shuffle_num",
    "cache_shuffle_delimiter",
    "shuffle_tags",
    "caption_prefix",
    "shuffle_metadata",
    "online_captions",
    "mask_path",
    "control_path",
    "default_mask_file",
    "skip_empty_caption",
)
#: ``pixels_round_to_multiple`` of the model types that differ from ``models/base.py``'s 16.
MODEL_ROUNDING = {"hunyuan_image": 32, "ltx-video": 32}


def is_dataset_document(document) -> bool:
    """A ``dataset.toml``: a ``[[directory]]`` list."""
    return isinstance(document, dict) and isinstance(document.get("directory"), list)


def is_training_document(document) -> bool:
    """A training ``config.toml``: a ``dataset`` path and a ``[model]`` table."""
    return isinstance(document, dict) and isinstance(document.get("dataset"), str) and "model" in document


def read_diffusion_pipe(path: Path) -> TrainerConfig:
    """A ``dataset.toml``, or a training ``config.toml`` with the ``dataset.toml`` it names."""
    path = Path(path)
    fields = Fields(path)
    document = fields.table("the file", load_document(path))
    if not is_training_document(document):
        return _read_dataset(path, document, rounding={}, batch_size=None, ignored=[])
    model = fields.table("model", document["model"])
    model_type = fields.text("model.type", model.get("type", ""))
    batch = document.get("micro_batch_size_per_gpu", 1)
    if isinstance(batch, list):
        fields.ignore("micro_batch_size_per_gpu", "per-size batch sizes: the first one is used")
        batch = batch[0][1] if batch and isinstance(batch[0], list) and len(batch[0]) == 2 else batch
    batch_size = fields.integer("micro_batch_size_per_gpu", batch, 1)
    rounding = {"pixels_round_to_multiple": MODEL_ROUNDING.get(model_type, 16)}
    if model_type == "wan":
        fields.ignore("model.type", "Wan 2.2 5B (ti2v) rounds to 32, read from the checkpoint: --set it if so")
    modelled = ("dataset", "model", "micro_batch_size_per_gpu", "gradient_accumulation_steps")
    fields.unknown("", document, modelled, "does not change bucketing")
    grad_accum = fields.count("gradient_accumulation_steps", document.get("gradient_accumulation_steps"))
    fields.unknown("model.", model, ("type",), "does not change bucketing")
    dataset = _dataset_path(fields, path, document["dataset"])
    config = _read_dataset(dataset, load_document(dataset), rounding, batch_size, fields.ignored)
    config.grad_accum = grad_accum
    return config


def _dataset_path(fields: Fields, config: Path, value: str) -> Path:
    """``dataset``: train.py opens it from the working folder; the config's folder is tried first."""
    candidate = fields.path("dataset", value)
    for place in [candidate] if candidate.is_absolute() else [config.parent / candidate, Path.cwd() / candidate]:
        if place.is_file():
            return place
    raise fields.error("dataset", value, "the path of an existing dataset.toml")


def _read_dataset(path: Path, document: dict, rounding: dict, batch_size, ignored: list) -> TrainerConfig:
    fields = Fields(path)
    fields.ignored[:0] = ignored
    if not is_dataset_document(document):
        raise fields.error("directory", document.get("directory"), "a list of [[directory]] tables")
    top = _shared(fields, "", document)
    _list_unmodelled(fields, "", document, (*SHARED_KEYS, "directory"))
    subsets = []
    for index, raw in enumerate(document["directory"]):
        where = f"directory[{index}]."
        directory = fields.table(f"directory[{index}]", raw)
        own = {"enable_ar_bucket": False, **top, **_shared(fields, where, directory)}  # off unless set
        _check_complete(fields, where, own)
        folder = fields.folder(f"{where}path", directory.get("path"), path.parent)
        repeats = fields.integer(f"{where}num_repeats", directory.get("num_repeats", 1), 1)
        # Every image trains at every resolution: one block per directory and resolution.
        for resolution in own.get("resolutions") if "size_buckets" not in own else [None]:
            one = own if resolution is None else {**own, "resolutions": (resolution,)}
            label = folder.name if resolution is None else f"{folder.name} @{_label(resolution)}"
            subsets.append(
                Subset(
                    image_dir=folder,
                    repeats=repeats,
                    name=label,
                    dataset=len(subsets),
                    batch_size=batch_size,
                    caption_extension=".txt",
                    settings=tuple({**one, **rounding}.items()),
                )
            )
        _list_unmodelled(fields, where, directory, (*SHARED_KEYS, "path", "num_repeats"))
    warnings = []
    if document.get("skip_empty_caption", True):
        warnings.append("diffusion-pipe skips images without a .txt caption (skip_empty_caption is on)")
    return TrainerConfig("diffusion-pipe", {**top, **rounding}, subsets, batch_size, fields.ignored, path, warnings)


def _label(resolution) -> str:
    return "x".join(map(str, resolution)) if isinstance(resolution, tuple) else str(resolution)


def _list_unmodelled(fields: Fields, where: str, values: dict, modelled: tuple[str, ...]) -> None:
    for key in values:
        if key in NOT_SIZES:
            fields.ignore(f"{where}{key}", "captions, masks or caching: not sizes")
        elif key not in modelled:
            fields.ignore(f"{where}{key}", "not a diffusion-pipe key; the trainer ignores it too")


def _shared(fields: Fields, where: str, values: dict) -> dict:
    """The size settings ``values`` give, checked as the trainer uses them."""
    settings = {}
    if "resolutions" in values:
        settings["resolutions"] = _resolutions(fields, f"{where}resolutions", values["resolutions"])
    if "enable_ar_bucket" in values:
        settings["enable_ar_bucket"] = fields.boolean(f"{where}enable_ar_bucket", values["enable_ar_bucket"])
    for key in ("min_ar", "max_ar"):
        if key in values:
            settings[key] = fields.number(f"{where}{key}", values[key], positive=True)
    if "num_ar_buckets" in values:
        settings["num_ar_buckets"] = fields.integer(f"{where}num_ar_buckets", values["num_ar_buckets"], 1)
    if "ar_buckets" in values:
        settings["ar_buckets"] = _ar_buckets(fields, f"{where}ar_buckets", values["ar_buckets"])
    if "size_buckets" in values:
        settings["size_buckets"] = _triples(fields, f"{where}size_buckets", values["size_buckets"])
    if "frame_buckets" in values:
        frames = values["frame_buckets"]
        if not isinstance(frames, list):
            raise fields.error(f"{where}frame_buckets", frames, "a list of frame counts")
        settings["frame_buckets"] = tuple(fields.integer(f"{where}frame_buckets", frame, 1) for frame in frames)
    return settings


def _check_complete(fields: Fields, where: str, own: dict) -> None:
    """What the trainer would fail on with a KeyError, as a one-line error instead."""
    if "size_buckets" in own:
        return
    if "resolutions" not in own:
        raise ConfigError(f"{fields.file}: {where}resolutions is missing: diffusion-pipe needs resolutions")
    if own.get("enable_ar_bucket") and "ar_buckets" not in own:
        missing = [key for key in ("min_ar", "max_ar", "num_ar_buckets") if key not in own]
        if missing:
            raise ConfigError(
                f"{fields.file}: {where}{missing[0]} is missing: enable_ar_bucket without ar_buckets needs "
                "min_ar, max_ar and num_ar_buckets"
            )
        if own["min_ar"] > own["max_ar"]:
            raise fields.error(f"{where}min_ar", own["min_ar"], f"at most max_ar ({own['max_ar']})")


def _resolutions(fields: Fields, key: str, value) -> tuple:
    """Sides or ``[width, height]`` pairs (the area is what counts)."""
    if not isinstance(value, list) or not value:
        raise fields.error(key, value, "a list of sizes or [width, height] pairs")
    return tuple(
        fields.size(key, entry) if isinstance(entry, list) else fields.integer(key, entry, 1) for entry in value
    )


def _ar_buckets(fields: Fields, key: str, value) -> tuple:
    """Width/height ratios or ``[width, height]`` pairs."""
    if not isinstance(value, list) or not value:
        raise fields.error(key, value, "a list of ratios or [width, height] pairs")
    return tuple(
        fields.size(key, entry) if isinstance(entry, list) else fields.number(key, entry, positive=True)
        for entry in value
    )


def _triples(fields: Fields, key: str, value) -> tuple:
    """``[width, height, frames]`` triples."""
    triples = isinstance(value, list) and value and all(isinstance(entry, list) and len(entry) == 3 for entry in value)
    if not triples:
        raise fields.error(key, value, "a list of [width, height, frames] triples")
    return tuple(tuple(fields.integer(key, side, 1) for side in entry) for entry in value)
