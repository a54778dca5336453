"""musubi-tuner's dataset config (``--dataset_config``, TOML or JSON): ``[general]`` and ``[[datasets]]``.

Read as kohya-ss/musubi-tuner@1a1f7246 ``src/musubi_tuner/dataset/config_utils.py`` reads it (the reference
vectors ran @30c658c4; the schema is the same): ``ConfigSanitizer`` accepts exactly the keys below and
refuses others, a ``[[datasets]]`` value falls back to ``[general]`` and then to ``BaseDatasetParams``'
default (``BlueprintGenerator.search_value``; ``enable_bucket`` is off by default, so without it every
image is resized to ``resolution`` itself: ``bucket.py:BucketSelector``). A dataset with
``image_directory`` lists that one folder, not its subfolders (``image_video_dataset.py:glob_images``).
The architecture (and so the bucket step) is the training script's, not the file's: ``--set
architecture=ho1``.
"""

from __future__ import annotations

from pathlib import Path

from aspectbucket.scan.configs.common import Fields, TrainerConfig, load_document
from aspectbucket.scan.sources import Subset

#: Keys ``[general]`` and every dataset accept (``ConfigSanitizer.DATASET_ASCENDABLE_SCHEMA``).
ASCENDABLE = (
    "caption_extension",
    "batch_size",
    "num_repeats",
    "resolution",
    "enable_bucket",
    "bucket_no_upscale",
    "skip_corrupted_cache",
)
#: Keys only an image dataset accepts (``IMAGE_DATASET_DISTINCT_SCHEMA``).
IMAGE_ONLY = (
    "image_directory",
    "image_jsonl_file",
    "cache_directory",
    "control_directory",
    "multiple_target",
    "fp_latent_window_size",
    "fp_1f_clean_indices",
    "fp_1f_target_index",
    "fp_1f_no_post",
    "no_resize_control",
    "control_resolution",
)
#: Keys only a video dataset accepts (``VIDEO_DATASET_DISTINCT_SCHEMA``).
VIDEO_ONLY = (
    "video_directory",
    "video_jsonl_file",
    "control_directory",
    "target_frames",
    "frame_extraction",
    "frame_stride",
    "frame_sample",
    "max_frames",
    "cache_directory",
    "source_fps",
    "fp_latent_window_size",
)
#: Keys read here; the others are accepted by musubi-tuner but do not change bucketing.
MODELLED = ("image_directory", "resolution", "enable_bucket", "bucket_no_upscale", "num_repeats", "batch_size")
MODELLED += ("caption_extension",)


def is_musubi_document(document) -> bool:
    """A ``[[datasets]]`` list whose entries name ``image_directory``/``video_directory`` (kohya's have subsets)."""
    datasets = document.get("datasets") if isinstance(document, dict) else None
    keys = ("image_directory", "video_directory", "image_jsonl_file", "video_jsonl_file")
    return isinstance(datasets, list) and any(isinstance(entry, dict) and set(keys) & set(entry) for entry in datasets)


def read_musubi(path: Path) -> TrainerConfig:
    """The image datasets of a musubi-tuner dataset config; video datasets are listed as ignored."""
    path = Path(path)
    fields = Fields(path)
    document = fields.table("the file", load_document(path))
    _refuse_unknown(fields, "", document, ("general", "datasets"))
    general = fields.table("[general]", document.get("general", {}))
    _refuse_unknown(fields, "general.", general, ASCENDABLE)
    settings = _settings(fields, "general.", general)  # checked here, so an error names [general]
    datasets = document.get("datasets")
    if not isinstance(datasets, list) or not datasets:
        raise fields.error("datasets", datasets, "a list of [[datasets]] tables")
    subsets = []
    for index, raw in enumerate(datasets):
        where = f"datasets[{index}]."
        dataset = fields.table(f"datasets[{index}]", raw)
        is_video = "video_directory" in dataset or "video_jsonl_file" in dataset
        _refuse_unknown(fields, where, dataset, ASCENDABLE + (VIDEO_ONLY if is_video else IMAGE_ONLY))
        values = {**general, **{key: value for key, value in dataset.items() if value is not None}}
        if is_video:
            fields.ignore(f"datasets[{index}]", "a video dataset: video clips are not modelled yet")
            continue
        if "image_directory" not in dataset:
            fields.ignore(f"{where}image_jsonl_file", "a metadata file, not a folder: not supported")
            continue
        subsets.append(_subset(fields, path.parent, where, index, values))
        fields.unknown(where, dataset, MODELLED, "does not change bucketing")
    fields.unknown("general.", general, MODELLED, "does not change bucketing")
    batch = general.get("batch_size")
    return TrainerConfig(
        profile="musubi",
        settings=settings,
        subsets=subsets,
        batch_size=None if batch is None else fields.integer("general.batch_size", batch, 1),
        ignored=fields.ignored,
        source=path,
    )


def _subset(fields: Fields, base: Path, where: str, index: int, values: dict) -> Subset:
    folder = fields.folder(f"{where}image_directory", values["image_directory"], base)
    caption = values.get("caption_extension")
    return Subset(
        image_dir=folder,
        repeats=fields.integer(f"{where}num_repeats", values.get("num_repeats", 1), 1),
        name=folder.name,
        dataset=index,
        batch_size=fields.integer(f"{where}batch_size", values.get("batch_size", 1), 1),
        caption_extension=".txt" if caption is None else fields.text(f"{where}caption_extension", caption),
        enable_bucket=fields.boolean(f"{where}enable_bucket", values.get("enable_bucket", False)),
        settings=tuple(_settings(fields, where, values).items()),
    )


def _settings(fields: Fields, where: str, values: dict) -> dict:
    """The bucketing settings under musubi-tuner's names: ``resolution`` as (width, height)."""
    settings = {}
    if values.get("resolution") is not None:
        settings["resolution"] = fields.size(f"{where}resolution", values["resolution"])
    if values.get("bucket_no_upscale") is not None:
        settings["bucket_no_upscale"] = fields.boolean(f"{where}bucket_no_upscale", values["bucket_no_upscale"])
    return settings


def _refuse_unknown(fields: Fields, where: str, values: dict, allowed: tuple[str, ...]) -> None:
    """musubi-tuner's schema refuses keys it does not know (``voluptuous.Schema``); so does this reader."""
    for key in values:
        if key not in allowed:
            raise fields.error(f"{where}{key}", values[key], "a musubi-tuner key: " + ", ".join(dict.fromkeys(allowed)))
