"""Dataset sources: which folders hold the images, and with which settings.

Three inputs are understood, as kohya-ss sd-scripts reads them (``library/config_util.py``):

* a plain folder of images, searched recursively: one subset, one repeat;
* a DreamBooth-style training folder whose subfolders are named ``N_name`` (``N`` repeats; sd-scripts
  skips other subfolders with a warning, and ignores images lying directly in the root);
* a dataset config ``.toml`` with ``[general]``, ``[[datasets]]`` and ``[[datasets.subsets]]``.

:func:`aspectbucket.plan.plan_dataset` then places a scan of these subsets.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from aspectbucket.geometry.options import MAX_COUNT, BucketOptions, OptionsError, parse_resolution
from aspectbucket.scan.headers import is_image_name

#: The bucketing settings a kohya dataset config may set in ``[general]`` or a ``[[datasets]]`` block.
BUCKET_KEYS = ("resolution", "min_bucket_reso", "max_bucket_reso", "bucket_reso_steps", "bucket_no_upscale")


class DatasetError(ValueError):
    """A dataset source that cannot be read at all: missing, or a config file sd-scripts would refuse."""


@dataclass(frozen=True)
class Subset:
    """One folder of images with its own settings: a kohya [[datasets.subsets]] entry or an N_name folder.

    ``options`` holds the dataset block's bucket options from a TOML over sd-scripts' defaults;
    ``given_options`` names only the values the TOML really set, so that another profile's defaults
    can fill the rest. ``recursive`` is true only for a plain folder: sd-scripts lists a DreamBooth
    subset's own folder, not its subfolders. ``enable_bucket=False`` makes sd-scripts resize every
    image of the block to the resolution itself (a single bucket).
    """

    image_dir: Path
    repeats: int = 1
    name: str = ""
    dataset: int = 0
    options: BucketOptions | None = None
    batch_size: int | None = None
    caption_extension: str = ".caption"
    given_options: tuple[tuple[str, object], ...] = ()
    enable_bucket: bool = True
    is_reg: bool = False
    recursive: bool = False
    settings: tuple[tuple[str, object], ...] = ()


def load_dataset(source: Path) -> list[Subset]:
    """A folder (recursive, one subset), a kohya DreamBooth folder (subfolders N_name), or a kohya
    dataset config .toml. Raises :class:`DatasetError` when the source cannot be used at all."""
    return read_dataset(source)[0]


def read_dataset(source: Path) -> tuple[list[Subset], list[str]]:
    """Like :func:`load_dataset`, also returning the warnings sd-scripts would print (skipped folders)."""
    source = Path(source)
    if source.is_file() and source.suffix.lower() == ".toml":
        return read_config(source), []
    if source.is_dir():
        return read_folder(source)
    if source.exists():
        raise DatasetError(f"{source} is neither a folder of images nor a dataset config .toml")
    raise DatasetError(f"{source} does not exist")


def dreambooth_repeats(folder_name: str) -> tuple[int, str] | None:
    """``(repeats, name)`` for a folder named like ``10_sks dog``; ``None`` when the name has no count.

    sd-scripts splits the name at ``_`` and reads the first part with ``int()`` (so ``" 3"`` counts);
    a name that does not parse is skipped with a warning, and a count below 1 is skipped silently.
    """
    first, _, rest = folder_name.partition("_")
    if len(first.strip()) > 30:  # int() of thousands of digits is slow, and no count is that long
        return None
    try:
        return int(first), rest
    except ValueError:
        return None


def read_folder(root: Path) -> tuple[list[Subset], list[str]]:
    """A DreamBooth folder when at least one subfolder is named ``N_name``, else one recursive subset."""
    entries = sorted(_scandir_or_fail(root), key=lambda entry: entry.name)
    parsed = [(Path(entry.path), dreambooth_repeats(entry.name)) for entry in entries if is_dir_entry(entry)]
    subsets = [
        Subset(image_dir=child, repeats=repeats[0], name=repeats[1])
        for child, repeats in parsed
        if repeats and 1 <= repeats[0] <= MAX_COUNT
    ]
    if all(repeats is None for _, repeats in parsed):
        return [Subset(image_dir=root, name=root.name, recursive=True)], []
    warnings = [
        f"ignored folder {child.name!r}: not named N_name, so sd-scripts skips it"
        for child, repeats in parsed
        if repeats is None
    ]
    warnings += [
        f"ignored folder {child.name!r}: {repeats[0]} repeats, so sd-scripts trains nothing from it"
        for child, repeats in parsed
        if repeats is not None and repeats[0] < 1
    ]
    warnings += [
        f"ignored folder {child.name!r}: more than {MAX_COUNT} repeats"
        for child, repeats in parsed
        if repeats is not None and repeats[0] > MAX_COUNT
    ]
    loose = sum(1 for entry in entries if is_image_name(entry.name) and not is_dir_entry(entry))
    if loose:
        warnings.append(f"{loose} image(s) lie directly in {root.name!r}: sd-scripts only trains N_name subfolders")
    return subsets, warnings


def _scandir_or_fail(root: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(root) as entries:
            return list(entries)
    except OSError as error:
        raise DatasetError(f"cannot list {root}: {error.strerror}") from None


def is_dir_entry(entry) -> bool:
    """``entry.is_dir()``, False where the entry cannot be examined (a vanished or unreadable one)."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def read_config(path: Path) -> list[Subset]:
    """The subsets of a kohya dataset config: ``[general]`` values are inherited by every dataset block,
    a block's values by its subsets. A relative ``image_dir`` is taken relative to the config's folder."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"cannot read {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise DatasetError(f"{path} is not valid TOML: {error}") from None
    general = _table(document.get("general", {}), "[general]")
    blocks = document.get("datasets")
    if not isinstance(blocks, list) or not blocks:
        raise DatasetError(f"{path} has no [[datasets]] block")
    subsets = []
    for block_index, raw_block in enumerate(blocks):
        block = _table(raw_block, f"[[datasets]] #{block_index + 1}")
        inherited = {**general, **{key: value for key, value in block.items() if key != "subsets"}}
        given = _bucket_settings(inherited, f"[[datasets]] #{block_index + 1}")
        options = dataclasses.replace(BucketOptions(), **given)
        entries = block.get("subsets")
        if not isinstance(entries, list) or not entries:
            raise DatasetError(f"{path}: [[datasets]] #{block_index + 1} has no [[datasets.subsets]]")
        for subset_index, raw_subset in enumerate(entries):
            where = f"[[datasets]] #{block_index + 1}, subset #{subset_index + 1}"
            values = {**inherited, **_table(raw_subset, where)}
            subsets.append(_config_subset(values, path.parent, block_index, options, given, where))
    return subsets


def _config_subset(values, base: Path, block_index, options, given, where) -> Subset:
    image_dir = values.get("image_dir")
    if not isinstance(image_dir, str) or not image_dir:
        raise DatasetError(
            f"{where} has no image_dir (fine-tuning subsets with only a metadata_file are not supported)"
        )
    if "\0" in image_dir:
        raise DatasetError(f"{where}: image_dir {image_dir!r} holds a NUL character, which no path can")
    try:
        directory = Path(image_dir).expanduser()
    except RuntimeError:  # "~someone" for a user this system does not know
        raise DatasetError(f"{where}: image_dir {image_dir!r} names an unknown user's home folder") from None
    caption_extension = values.get("caption_extension", ".caption")
    if not isinstance(caption_extension, str) or any(char in caption_extension for char in ("/", "\\", "\0")):
        raise DatasetError(
            f"{where}: caption_extension {caption_extension!r} must be text without '/', '\\' or NUL "
            "(an extension such as .txt)"
        )
    repeats = _integer(values.get("num_repeats", 1), "num_repeats", where, minimum=1)
    batch_size = values.get("batch_size")
    return Subset(
        image_dir=directory if directory.is_absolute() else base / directory,
        repeats=repeats,
        name=str(values.get("class_tokens") or directory.name),
        dataset=block_index,
        options=options,
        batch_size=None if batch_size is None else _integer(batch_size, "batch_size", where, minimum=1),
        caption_extension=caption_extension,
        given_options=tuple(given.items()),
        enable_bucket=_boolean(values.get("enable_bucket", True), "enable_bucket", where),
        is_reg=_boolean(values.get("is_reg", False), "is_reg", where),
    )


def _bucket_settings(values: dict, where: str) -> dict:
    """The bucketing settings a block sets, checked for type (their combination is checked later)."""
    settings = {}
    for key in BUCKET_KEYS:
        if key not in values:
            continue
        value = values[key]
        if key == "resolution":
            settings[key] = _resolution(value, where)
        elif key == "bucket_no_upscale":
            settings[key] = _boolean(value, key, where)
        else:
            settings[key] = _integer(value, key, where, minimum=1)
    return settings


def _resolution(value, where: str) -> tuple[int, int]:
    if isinstance(value, list) and len(value) == 2 and all(_is_int(side) for side in value):
        return value[0], value[1]
    if _is_int(value) or isinstance(value, str):
        try:
            return parse_resolution(str(value))
        except OptionsError:
            pass
    raise DatasetError(f"{where}: resolution {value!r} is not SIZE or [WIDTH, HEIGHT] in whole pixels")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _integer(value, key: str, where: str, minimum: int) -> int:
    """``value`` when it is a whole number from ``minimum`` to :data:`MAX_COUNT` (counts and sizes alike:
    sizes have a smaller bound, checked with the other options)."""
    if not _is_int(value) or not minimum <= value <= MAX_COUNT:
        raise DatasetError(f"{where}: {key} {value!r} must be a whole number from {minimum} to {MAX_COUNT}")
    return value


def _boolean(value, key: str, where: str) -> bool:
    if not isinstance(value, bool):
        raise DatasetError(f"{where}: {key} {value!r} must be true or false")
    return value


def _table(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise DatasetError(f"{where} must be a table")
    return value


def example_dataset_path() -> Path:
    """The bundled example dataset: a kohya DreamBooth folder of public-domain photographs.

    Its ``dataset.toml`` (beside the ``N_name`` folders) describes the same images as a dataset config.
    """
    return Path(str(importlib.resources.files("aspectbucket") / "example"))
