"""The trainer's own config in: a Kohya_ss GUI config file, a pasted kohya/accelerate command line, and
a musubi-tuner dataset config.

Both name the images (``train_data_dir``, ``reg_data_dir`` or a ``dataset_config`` .toml) and the
bucketing settings under sd-scripts' own names (``resolution`` "1024,1024", ``enable_bucket``,
``min_bucket_reso``, ``max_bucket_reso``, ``bucket_reso_steps``, ``bucket_no_upscale``,
``train_batch_size``). They become the same :class:`~aspectbucket.scan.sources.Subset` list a dataset
folder or .toml gives, so every command reports them alike. As sd-scripts does
(kohya-ss/sd-scripts@48d368fa ``library/config_util.py:BlueprintGenerator.generate``), a
``dataset_config`` wins over ``train_data_dir`` and takes the command line's bucketing values only where
the .toml sets none. Every key that does not affect bucketing is listed as ignored, never dropped
silently; a bad value is a :class:`~aspectbucket.scan.sources.DatasetError` naming the file, the key,
the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from aspectbucket.geometry.options import OptionsError, parse_resolution
from aspectbucket.scan.sources import BUCKET_KEYS, DatasetError, Subset, read_config, read_dataset, read_folder

#: The keys that decide the images and their buckets; every other key is listed as ignored.
IMAGE_KEYS = ("train_data_dir", "reg_data_dir", "dataset_config")
MODELLED_KEYS = (*IMAGE_KEYS, *BUCKET_KEYS, "enable_bucket", "train_batch_size")


@dataclass(frozen=True)
class TrainerConfig:
    """Where a training config's images are, with which bucketing settings, and what was not used.

    ``subsets`` carry the config's bucketing values as their ``given_options`` (so ``--resolution`` and
    ``--set`` still override them); ``folders`` are the image folders (nothing is written under them);
    ``ignored`` names every key that does not affect bucketing.
    """

    origin: str
    subsets: list[Subset]
    warnings: list[str] = field(default_factory=list)
    ignored: tuple[str, ...] = ()
    profile: str = "kohya"

    @property
    def folders(self) -> list[Path]:
        """The image folders the config names."""
        return [subset.image_dir for subset in self.subsets]


def read_kohya_gui_config(path: Path) -> TrainerConfig:
    """A Kohya_ss GUI config saved with "Save as" (``--config_file``): JSON or TOML, flat keys."""
    path = Path(path)
    values = _load_document(path, "Kohya_ss GUI config")
    # The GUI saves empty strings for unset paths and options.
    values = {key: value for key, value in values.items() if value != ""}
    return _trainer_config(values, str(path), path.parent)


def read_kohya_args(text: str, base: Path | None = None) -> TrainerConfig:
    """A pasted sd-scripts command line, with or without ``accelerate launch ... script.py`` in front.

    ``--key=value`` and ``--key value`` are both read; dashes and underscores are the same
    (``--min_bucket_reso``, ``--min-bucket-reso``). Relative paths are taken from ``base`` (default:
    the current folder).
    """
    try:
        tokens = shlex.split(text)
    except ValueError as error:
        raise DatasetError(f"--kohya-args: cannot split the command line: {error}") from None
    scripts = [index for index, token in enumerate(tokens) if token.endswith(".py")]
    if scripts:
        tokens = tokens[scripts[0] + 1 :]  # accelerate's own options come before the script
    values: dict[str, object] = {}
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if not token.startswith("--"):
            raise DatasetError(f"--kohya-args: {token!r} is not an option (expected --name or --name=value)")
        name, equals, value = token[2:].partition("=")
        name = name.replace("-", "_")
        if not equals:
            if index < len(tokens) and not tokens[index].startswith("--"):
                value = tokens[index]
                index += 1
            else:
                value = True  # a switch: --enable_bucket, --bucket_no_upscale, or one listed as ignored
        values[name] = value
    return _trainer_config(values, "--kohya-args", Path(base or Path.cwd()))


def _trainer_config(values: dict, origin: str, base: Path) -> TrainerConfig:
    """Subsets and settings from flat sd-scripts keys (a GUI config or a command line)."""
    given = _bucket_values(values, origin)
    batch_size = _whole(values, "train_batch_size", origin) if "train_batch_size" in values else None
    ignored = tuple(sorted(key for key in values if key not in MODELLED_KEYS))
    warnings = [f"{origin}: ignored (not about bucketing): {', '.join(ignored)}"] if ignored else []
    if "dataset_config" in values:
        config = _path(values, "dataset_config", origin, base)
        try:
            subsets = read_config(config)
        except DatasetError as error:
            raise DatasetError(f"{origin}: dataset_config {config}: {error}") from None
        unused = [key for key in ("train_data_dir", "reg_data_dir") if key in values]
        if unused:
            warnings.append(f"{origin}: {', '.join(unused)} ignored: dataset_config names the images (as sd-scripts)")
        subsets = [_fallback(subset, given, batch_size) for subset in subsets]
        return TrainerConfig(origin, subsets, warnings, ignored)
    if "train_data_dir" not in values:
        raise DatasetError(f"{origin}: names no images: set train_data_dir or dataset_config")
    # Without a dataset config sd-scripts buckets only with --enable_bucket.
    enable_bucket = _switch(values, "enable_bucket", origin) if "enable_bucket" in values else False
    subsets = []
    for key, is_reg in (("train_data_dir", False), ("reg_data_dir", True)):
        if key not in values:
            continue
        folder = _path(values, key, origin, base)
        if not folder.is_dir():
            raise DatasetError(f"{origin}: {key} {folder} is not a folder")
        found, folder_warnings = read_folder(folder)
        warnings.extend(f"{key}: {warning}" for warning in folder_warnings)
        subsets += [
            dataclasses.replace(
                subset,
                is_reg=is_reg,
                enable_bucket=enable_bucket,
                batch_size=batch_size,
                given_options=tuple(given.items()),
            )
            for subset in found
        ]
    return TrainerConfig(origin, subsets, warnings, ignored)


def _fallback(subset: Subset, given: dict, batch_size: int | None) -> Subset:
    """A .toml subset with the command line's values where the .toml sets none."""
    merged = {**given, **dict(subset.given_options)}
    return dataclasses.replace(
        subset,
        given_options=tuple(merged.items()),
        batch_size=subset.batch_size if subset.batch_size is not None else batch_size,
    )


def _bucket_values(values: dict, origin: str) -> dict:
    given = {}
    for key in BUCKET_KEYS:
        if key not in values:
            continue
        if key == "resolution":
            given[key] = _resolution(values[key], origin)
        elif key == "bucket_no_upscale":
            given[key] = _switch(values, key, origin)
        else:
            given[key] = _whole(values, key, origin)
    return given


def _resolution(value, origin: str) -> tuple[int, int]:
    try:
        if isinstance(value, list | tuple) and len(value) == 2:
            return parse_resolution(f"{value[0]},{value[1]}")
        if isinstance(value, str | int) and not isinstance(value, bool):
            return parse_resolution(str(value))
    except OptionsError:
        pass
    raise DatasetError(f"{origin}: resolution {value!r} is not SIZE or WIDTH,HEIGHT in whole pixels (e.g. 1024,1024)")


def _whole(values: dict, key: str, origin: str) -> int:
    value = values[key]
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise DatasetError(f"{origin}: {key} {values[key]!r} must be a whole number of at least 1")
    return value


def _switch(values: dict, key: str, origin: str) -> bool:
    value = values[key]
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise DatasetError(f"{origin}: {key} {value!r} must be true or false")


def _path(values: dict, key: str, origin: str, base: Path) -> Path:
    value = values[key]
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(f"{origin}: {key} {value!r} must be a path")
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


#: musubi-tuner's dataset keys (kohya-ss/musubi-tuner@30c658c4 src/musubi_tuner/dataset/config_utils.py:
#: ConfigSanitizer): those that decide the images and buckets, and the rest it accepts (listed as ignored).
MUSUBI_MODELLED_KEYS = (
    "image_directory",
    "resolution",
    "enable_bucket",
    "bucket_no_upscale",
    "batch_size",
    "num_repeats",
)
MUSUBI_OTHER_KEYS = (
    "caption_extension",
    "skip_corrupted_cache",
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
    "video_directory",
    "video_jsonl_file",
    "target_frames",
    "frame_extraction",
    "frame_stride",
    "frame_sample",
    "max_frames",
    "source_fps",
)
_MUSUBI_IMAGES = ("image_directory", "image_jsonl_file", "video_directory", "video_jsonl_file")


def read_musubi_config(path: Path) -> TrainerConfig:
    """A musubi-tuner dataset config (TOML or JSON): ``[general]`` values inherited by each ``[[datasets]]``.

    Each image dataset with an ``image_directory`` is one block (its folder listed, not searched
    recursively). musubi-tuner's own defaults hold where the file is silent: 960x544, ``enable_bucket``
    off (every image then covers the resolution itself), batch size 1. The model's step comes from the
    training script's architecture, not the file: ``--set architecture=...``. Datasets read from a
    JSONL file or made of videos are listed as not placed; a key musubi-tuner does not know is refused.
    """
    path = Path(path)
    document = _load_document(path, "musubi-tuner dataset config")
    general = document.get("general", {})
    datasets = document.get("datasets")
    if not isinstance(general, dict) or not isinstance(datasets, list) or not datasets:
        raise DatasetError(f"{path}: a musubi-tuner dataset config has [general] and at least one [[datasets]]")
    allowed = (*MUSUBI_MODELLED_KEYS, *MUSUBI_OTHER_KEYS)
    subsets, warnings, ignored = [], [], set()
    for index, dataset in enumerate(datasets):
        where = f"{path} [[datasets]] #{index + 1}"
        if not isinstance(dataset, dict):
            raise DatasetError(f"{where} must be a table")
        values = {**general, **dataset}
        unknown = sorted(key for key in values if key not in allowed)
        if unknown:
            raise DatasetError(f"{where}: musubi-tuner has no key {', '.join(unknown)}; allowed: {', '.join(allowed)}")
        ignored.update(key for key in values if key not in MUSUBI_MODELLED_KEYS)
        if "image_directory" not in values:
            kind = next((key for key in _MUSUBI_IMAGES if key in values), "no image_directory")
            warnings.append(f"{where} is not placed ({kind}: only image folders are read)")
            continue
        given = {"resolution": _resolution(values.get("resolution", [960, 544]), where)}
        if "bucket_no_upscale" in values:
            given["bucket_no_upscale"] = _switch(values, "bucket_no_upscale", where)
        folder = _path(values, "image_directory", where, path.parent)
        subsets.append(
            Subset(
                image_dir=folder,
                repeats=_whole(values, "num_repeats", where) if "num_repeats" in values else 1,
                name=folder.name,
                dataset=len({subset.dataset for subset in subsets}),
                batch_size=_whole(values, "batch_size", where) if "batch_size" in values else 1,
                caption_extension=str(values.get("caption_extension") or ".txt"),
                given_options=tuple(given.items()),
                enable_bucket=_switch(values, "enable_bucket", where) if "enable_bucket" in values else False,
            )
        )
    if ignored:
        warnings.insert(0, f"{path}: ignored (not about bucketing): {', '.join(sorted(ignored))}")
    if not subsets:
        raise DatasetError(f"{path}: no image dataset with an image_directory to place")
    return TrainerConfig(str(path), subsets, warnings, tuple(sorted(ignored)), profile="musubi")


def _load_document(path: Path, what: str) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"cannot read {path}: {error}") from None
    try:
        document = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        raise DatasetError(f"{path} is not a {what} (JSON or TOML): {error}") from None
    if not isinstance(document, dict):
        raise DatasetError(f"{path} is not a {what}: it holds no table of settings")
    return document


def read_source(source: Path) -> TrainerConfig:
    """Any dataset source, the trainer detected from the file: a musubi-tuner dataset config (its
    ``[[datasets]]`` name ``image_directory`` or ``video_directory``), a Kohya_ss GUI config (a .json, or
    a .toml of flat keys naming ``train_data_dir`` or ``dataset_config``), else what
    :func:`~aspectbucket.scan.sources.read_dataset` reads (a folder or a kohya dataset .toml).
    ``profile`` names the trainer the file is for."""
    source = Path(source)
    if source.is_file() and source.suffix.lower() in (".json", ".toml"):
        kind = _config_kind(source)
        if kind == "musubi":
            return read_musubi_config(source)
        if kind == "kohya-gui":
            return read_kohya_gui_config(source)
    subsets, warnings = read_dataset(source)
    return TrainerConfig(str(source), subsets, warnings)


def _config_kind(path: Path) -> str:
    """``musubi``, ``kohya-gui`` or ``kohya`` (a dataset .toml, or a file read_dataset explains)."""
    try:
        document = _load_document(path, "config")
    except DatasetError:
        return "kohya" if path.suffix.lower() == ".toml" else "kohya-gui"  # the reader says what is wrong
    datasets = document.get("datasets")
    if isinstance(datasets, list) and any(
        isinstance(entry, dict) and any(key in entry for key in _MUSUBI_IMAGES) for entry in datasets
    ):
        return "musubi"
    if "datasets" not in document and (path.suffix.lower() == ".json" or any(key in document for key in IMAGE_KEYS)):
        return "kohya-gui"
    return "kohya"
