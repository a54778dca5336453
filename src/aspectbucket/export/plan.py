"""What an export will write: one :class:`ExportItem` per image, from a dataset plan, before any pixel moves.

Planning is pure arithmetic on the placement (no decoding), so ``--dry-run`` shows exactly what a run
would do, the safety checks (never write into the dataset, never overwrite a source) happen before
the first write, and a resumed run can tell a finished output from one made with other settings.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

from aspectbucket.export.pixels import Anchor, anchored_precrop
from aspectbucket.geometry.choices import parse_choice
from aspectbucket.geometry.placement import Placement, gather_placements
from aspectbucket.geometry.resize import covering_precrop, random_trim
from aspectbucket.outputs import OutputRefused, real_path, shown
from aspectbucket.plan import DatasetPlan
from aspectbucket.profiles.profile import place_by_profile
from aspectbucket.scan.headers import is_image_name
from aspectbucket.scan.sources import Subset

#: Sidecar caption extensions copied with each image, besides the subset's own ``caption_extension``.
CAPTION_EXTENSIONS = (".caption", ".txt")


class ExportMode(StrEnum):
    """``train``: the trainer's exact pixels. ``precrop``: cut to the bucket's ratio at full resolution."""

    TRAIN = "train"
    PRECROP = "precrop"


class OutputFormat(StrEnum):
    """The encoding of exported images; ``keep`` keeps each source's own format."""

    KEEP = "keep"
    JPG = "jpg"
    PNG = "png"
    WEBP = "webp"


#: The format of a source by its extension, for ``keep``; anything else is written as PNG.
_KEPT_FORMATS = {".jpg": "jpg", ".jpeg": "jpg", ".png": "png", ".webp": "webp", ".bmp": "bmp"}
_SUFFIXES = {"jpg": ".jpg", "png": ".png", "webp": ".webp", "bmp": ".bmp"}


class ExportRefused(OutputRefused):
    """The export would write over a source file; nothing was written."""


class ItemError(StrEnum):
    """Why one image is not exported: a fixed set of reasons, counted in the summary."""

    NO_CROP_BOX = "no crop box given for this image"
    BAD_CROP_BOX = "the given crop box is not inside the image"
    NAME_COLLISION = "another image has the same output name"
    UNREADABLE = "the file cannot be read"
    CORRUPT = "not an image, or a corrupt or truncated one"
    TOO_LARGE_TO_DECODE = "too many pixels to decode safely"
    SIZE_CHANGED = "the image is not the size the scan found: it changed since"
    CANNOT_ENCODE = "the image cannot be saved in the chosen output format"
    CAPTION_UNREADABLE = "a caption file of the image cannot be read"
    UNSAFE_OUTPUT = "its output folder is a symlink or lies under an input; export does not write there"
    BAD_OUTPUT_NAME = "the file system refuses its output name (too long, or a file where a folder goes)"


@dataclass(frozen=True)
class ExportSettings:
    """How to export; validated on creation (the error names the bad value and the allowed ones)."""

    mode: ExportMode = ExportMode.TRAIN
    anchor: Anchor = Anchor.CENTER
    crops: dict[str, tuple[int, int, int, int]] | None = None
    random_crop: bool = False
    seed: int = 0
    output_format: OutputFormat = OutputFormat.KEEP
    quality: int = 95
    apply_exif: bool = True

    def __post_init__(self):
        for name, kind in (("mode", ExportMode), ("anchor", Anchor), ("output_format", OutputFormat)):
            object.__setattr__(self, name, parse_choice(kind, getattr(self, name), name))
        if not _is_whole(self.quality) or not 1 <= self.quality <= 100:
            raise ValueError(f"quality {self.quality!r} must be a whole number from 1 to 100")
        if self.random_crop and self.mode is not ExportMode.TRAIN:
            raise ValueError("random_crop applies to mode 'train' only")
        if self.crops is not None and self.mode is not ExportMode.PRECROP:
            raise ValueError("crops apply to mode 'precrop' only")


@dataclass(frozen=True)
class ExportItem:
    """One image of the export: where it comes from, where it goes, and the exact geometry.

    Sizes are ``(width, height)``; ``original_size`` is the size placed (upright with EXIF applied,
    as stored otherwise). ``crop_box`` is the kept window in original pixels ``(l, t, r, b)``: whole
    for a pre-crop, fractional for a train window. For a pre-crop, ``bucket``, ``resized_size`` and
    ``trim`` describe what the trainer will do to the exported image; ``target_bucket`` is the
    bucket whose ratio was cut to. SDXL coordinates are ``(top, left)`` as trainers pass them.
    """

    source: Path
    relative: str
    error: str = ""
    output: str = ""
    captions: tuple[tuple[Path, str], ...] = ()
    original_size: tuple[int, int] = (0, 0)
    stored_size: tuple[int, int] = (0, 0)
    orientation: int = 1
    bucket: tuple[int, int] = (0, 0)
    target_bucket: tuple[int, int] = (0, 0)
    resized_size: tuple[int, int] = (0, 0)
    trim: tuple[int, int] = (0, 0)
    crop_box: tuple[float, float, float, float] = (0, 0, 0, 0)
    output_size: tuple[int, int] = (0, 0)
    scale: float = 0.0
    sdxl_crop_top_left_reported: tuple[float, float] = (0.0, 0.0)
    sdxl_crop_top_left_true: tuple[int, int] = (0, 0)
    train_resolution: tuple[int, int] = (0, 0)
    output_format: str = ""

    def record(self) -> dict:
        """The JSON-ready metadata line of this item (without the written output's byte count)."""
        if self.error:
            return {"source": str(self.source), "relative": self.relative, "error": self.error}
        return {
            "source": str(self.source),
            "relative": self.relative,
            "output": self.output,
            "captions": [name for _, name in self.captions],
            "original_size": list(self.original_size),
            "stored_size": list(self.stored_size),
            "orientation": self.orientation,
            "bucket": list(self.bucket),
            "target_bucket": list(self.target_bucket),
            "resized_size": list(self.resized_size),
            "trim": list(self.trim),
            "crop_box": [round(float(value), 4) for value in self.crop_box],
            "output_size": list(self.output_size),
            "scale": round(float(self.scale), 8),
            "sdxl_crop_top_left_reported": [float(value) for value in self.sdxl_crop_top_left_reported],
            "sdxl_crop_top_left_true": list(self.sdxl_crop_top_left_true),
            "train_resolution": list(self.train_resolution),
            "format": self.output_format,
        }


def load_crops(path: Path) -> dict[str, tuple[int, int, int, int]]:
    """Pre-crop boxes ``[left, top, right, bottom]`` by image path, from JSON in any of these forms:

    ``{"10_dog/a.jpg": [l, t, r, b], ...}``; ``report --json``'s ``{"images": [{"path": ..., "precrop":
    [...]}, ...]}`` (a box for every placed image), or, without ``images``, its ``{"advice": {"precrops":
    [{"path": ..., "box": [...]}, ...]}}`` (boxes for badly cropped images only). Paths may be absolute
    or relative to the dataset folder; empty boxes (unplaced images) are left out. Raises
    ``ValueError`` naming the bad entry.
    """
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read crop boxes from {path}: {error}") from None
    if not isinstance(document, dict):
        raise ValueError(f"{path}: expected an object of path -> [left, top, right, bottom]")
    if isinstance(document.get("images"), list):
        pairs = [(entry.get("path"), entry.get("precrop")) for entry in document["images"] if isinstance(entry, dict)]
    elif isinstance(document.get("advice"), dict) and isinstance(document["advice"].get("precrops"), list):
        advice = [entry for entry in document["advice"]["precrops"] if isinstance(entry, dict)]
        pairs = [(entry.get("path"), entry.get("box")) for entry in advice]
    else:
        pairs = list(document.items())
    crops = {}
    for name, box in pairs:
        well_formed = isinstance(box, list) and len(box) == 4 and all(map(_is_whole, box))
        if not (isinstance(name, str) and well_formed):
            raise ValueError(f"{path}: the box of {name!r} must be [left, top, right, bottom], whole pixels")
        if box[2] > box[0] and box[3] > box[1]:
            crops[Path(name).as_posix()] = tuple(box)
    return crops


def _crop_box_for(crops: dict, path: Path, relative: str, display_root: Path):
    """The box given for an image under any of the names reports use for it, or ``None``."""
    for name in (relative, real_path(path).as_posix(), Path(path).as_posix(), _relative(path, display_root)):
        if name in crops:
            return crops[name]
    return None


def source_root(source: Path, subsets: list[Subset]) -> Path:
    """The folder the output tree mirrors: the source folder, or the common folder of a config's images."""
    source = Path(source)
    if source.is_dir():
        return real_path(source)
    folders = [str(real_path(subset.image_dir)) for subset in subsets]
    return Path(os.path.commonpath(folders)) if folders else real_path(source).parent


def export_inputs(source: Path | None, subsets: list[Subset]) -> list[Path]:
    """Every place the export reads: the source, each image folder, and each folder or file that a
    symlink inside a searched folder leads to (the scan follows them), resolved, dangling ones included.

    An output folder reached through such a symlink would put the exported copies among the training
    images of the next scan, so it counts as an input too.
    """
    inputs = [*([Path(source)] if source is not None else []), *(subset.image_dir for subset in subsets)]
    seen: set[str] = set()
    pending = [os.path.realpath(subset.image_dir) for subset in subsets if subset.recursive]
    while pending:
        folder = pending.pop()
        if folder in seen:
            continue
        seen.add(folder)
        try:
            with os.scandir(folder) as entries:
                listed = list(entries)
        except OSError:
            continue
        for entry in listed:
            if entry.name.startswith("."):
                continue
            if entry.is_symlink():
                target = os.path.realpath(entry.path)
                inputs.append(Path(target))
                if os.path.isdir(target):
                    pending.append(target)
            elif _is_folder(entry):
                pending.append(entry.path)
    return inputs


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def plan_export(plan: DatasetPlan, root: Path, out_dir: Path, settings: ExportSettings) -> list[ExportItem]:
    """One item per scanned image, in scan order; failures keep their row with a reason.

    Random trims are drawn in scan order from ``settings.seed``, so a resumed or repeated run cuts the
    same windows. Raises :class:`ExportRefused` when an output would replace a source file.
    """
    scan, placement = plan.scan, plan.placement
    out_dir = real_path(out_dir)
    widths, heights = placement.width, placement.height
    relatives = [_relative(Path(path), Path(root)) for path in scan.paths]
    if settings.mode is ExportMode.PRECROP:
        geometry = _precrop_geometry(plan, relatives, settings)
    else:
        geometry = _train_geometry(plan, settings)
    items, taken = [], {}
    sources = {real_path(path) for path in scan.paths}
    for index, path in enumerate(scan.paths):
        path, relative = Path(path), relatives[index]
        error = plan.errors[index] or geometry["error"][index]
        if error:
            items.append(ExportItem(source=path, relative=relative, error=error))
            continue
        output_format = _output_format(path, settings.output_format)
        output = Path(relative).with_suffix(_SUFFIXES[output_format]).as_posix()
        if output.lower() in taken:
            items.append(ExportItem(source=path, relative=relative, error=ItemError.NAME_COLLISION.value))
            continue
        taken[output.lower()] = index
        subset = scan.subsets[int(scan.subset[index])]
        captions = _captions(path, Path(output), subset.caption_extension)
        for target in (output, *(name for _, name in captions)):
            if real_path(out_dir / target) in sources:
                raise ExportRefused(f"refusing to overwrite the source file {shown(out_dir / target)}")
        items.append(
            ExportItem(
                source=path,
                relative=relative,
                output=output,
                captions=captions,
                original_size=(int(widths[index]), int(heights[index])),
                stored_size=(int(scan.stored_width[index]), int(scan.stored_height[index])),
                orientation=int(scan.orientation[index]) if settings.apply_exif else 1,
                output_format=output_format,
                **{name: values[index] for name, values in geometry.items() if name != "error"},
            )
        )
    return items


def _is_whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _relative(path: Path, root: Path) -> str:
    try:
        return real_path(path).relative_to(real_path(root)).as_posix()
    except ValueError:
        return (Path(path.parent.name) / path.name).as_posix()


def _output_format(path: Path, chosen: OutputFormat) -> str:
    if chosen is OutputFormat.KEEP:
        return _KEPT_FORMATS.get(path.suffix.lower(), "png")
    return chosen.value


def _captions(path: Path, output: Path, caption_extension: str) -> tuple[tuple[Path, str], ...]:
    """Sidecars ``stem + ext`` beside the image, each with its output name beside the exported image.

    A sidecar named like an image (``caption_extension = ".jpg"``) is an image, not a caption: copying
    it would put its raw bytes over an exported image, so it is left out. An extension holding a path
    separator names no sidecar.
    """
    found = []
    for extension in dict.fromkeys((caption_extension, *CAPTION_EXTENSIONS)):
        if not extension or "/" in extension or os.sep in extension or "\0" in extension:
            continue
        sidecar = path.with_name(path.stem + extension)
        if is_image_name(sidecar.name) or sidecar == path:
            continue
        if _is_file(sidecar):
            found.append((sidecar, output.with_name(output.stem + extension).as_posix()))
    return tuple(found)


def _is_file(path: Path) -> bool:
    """``path.is_file()``, False where the file system refuses the question (a name too long)."""
    try:
        return path.is_file()
    except OSError:
        return False


def _pairs(first: np.ndarray, second: np.ndarray) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in zip(first, second, strict=True)]


def _train_geometry(plan: DatasetPlan, settings: ExportSettings) -> dict[str, list]:
    placement = plan.placement
    count = len(placement)
    bucket = _pairs(placement.bucket_width, placement.bucket_height)
    resized = _pairs(placement.resized_width, placement.resized_height)
    trim = _pairs(placement.trim_left, placement.trim_top)
    if settings.random_crop:
        rng = np.random.default_rng(settings.seed)
        trim = [
            random_trim(resized[index], bucket[index], rng) if not plan.errors[index] else trim[index]
            for index in range(count)
        ]
    boxes = []
    for index in range(count):
        (rw, rh), (bw, bh), (left, top) = resized[index], bucket[index], trim[index]
        sx = placement.width[index] / rw if rw else 0.0
        sy = placement.height[index] / rh if rh else 0.0
        boxes.append((left * sx, top * sy, (left + bw) * sx, (top + bh) * sy))
    reported = placement.reported_crop_ltrb
    return {
        "error": [""] * count,
        "bucket": bucket,
        "target_bucket": bucket,
        "resized_size": resized,
        "trim": trim,
        "crop_box": boxes,
        "output_size": bucket,
        "scale": [float(value) for value in placement.scale],
        "sdxl_crop_top_left_reported": [(float(row[1]), float(row[0])) for row in reported],
        "sdxl_crop_top_left_true": [(top, left) for left, top in trim],
        "train_resolution": [(w - w % 8, h - h % 8) for w, h in bucket],
    }


def _precrop_geometry(plan: DatasetPlan, relatives: list[str], settings: ExportSettings) -> dict[str, list]:
    """Boxes of the bucket's ratio, then where the trainer puts each cropped image (placed again)."""
    placement = plan.placement
    count = len(placement)
    widths, heights = placement.width, placement.height
    boxes = anchored_precrop(
        covering_precrop(
            widths, heights, np.maximum(placement.bucket_width, 1), np.maximum(placement.bucket_height, 1)
        ),
        widths,
        heights,
        settings.anchor,
    )
    errors = [""] * count
    if settings.crops is not None:
        folders = [str(real_path(subset.image_dir)) for subset in plan.scan.subsets]
        display_root = Path(os.path.commonpath(folders)) if folders else Path()
        for index, relative in enumerate(relatives):
            box = _crop_box_for(settings.crops, plan.scan.paths[index], relative, display_root)
            if box is None:
                errors[index] = ItemError.NO_CROP_BOX.value
            elif not (0 <= box[0] < box[2] <= widths[index] and 0 <= box[1] < box[3] <= heights[index]):
                errors[index] = ItemError.BAD_CROP_BOX.value
            else:
                boxes[index] = box
    crop_w, crop_h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    again = _place_again(plan, np.maximum(crop_w, 1), np.maximum(crop_h, 1))
    reported = again.reported_crop_ltrb
    return {
        "error": errors,
        "bucket": _pairs(again.bucket_width, again.bucket_height),
        "target_bucket": _pairs(placement.bucket_width, placement.bucket_height),
        "resized_size": _pairs(again.resized_width, again.resized_height),
        "trim": _pairs(again.trim_left, again.trim_top),
        "crop_box": [tuple(int(value) for value in box) for box in boxes],
        "output_size": _pairs(crop_w, crop_h),
        "scale": [float(value) for value in again.scale],
        "sdxl_crop_top_left_reported": [(float(row[1]), float(row[0])) for row in reported],
        "sdxl_crop_top_left_true": _pairs(again.trim_top, again.trim_left),
        "train_resolution": [(w - w % 8, h - h % 8) for w, h in _pairs(again.bucket_width, again.bucket_height)],
    }


def _place_again(plan: DatasetPlan, widths: np.ndarray, heights: np.ndarray) -> Placement:
    """Where the trainer puts images of these sizes, each by its own dataset block's options."""
    blocks = plan.scan.dataset_index
    parts = []
    for block, options in enumerate(plan.options):
        rows = np.flatnonzero(blocks == block)
        parts.append((rows, place_by_profile(widths[rows], heights[rows], options, plan.profile), slice(None)))
    return gather_placements(parts, len(widths))
