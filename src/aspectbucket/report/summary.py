"""The report as plain data: bucket and size tables, steps, warnings and advice for a dataset plan.

Everything the terminal, JSON, CSV and HTML outputs show is computed here once, from a
:class:`~aspectbucket.plan.DatasetPlan`, so the outputs only format and never disagree. Per-image
facts stay numpy columns (:class:`ImageColumns`) so that 100,000 images cost a few arrays.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aspectbucket.geometry.batches import BatchPolicy, batches_per_bucket, steps_per_epoch
from aspectbucket.geometry.ratios import nice_ratio_fraction, ratio_fraction
from aspectbucket.geometry.resize import covering_precrop
from aspectbucket.outputs import shown
from aspectbucket.profiles.profile import ExifHandling, profile_bucket_list
from aspectbucket.profiles.registry import PROFILES
from aspectbucket.report.explain import LOSS_WARNING as CROP_LOSS_WARNING  # shared with explain
from aspectbucket.report.explain import UPSCALE_WARNING, capped_buckets, precrop_targets
from aspectbucket.scan.scanner import IMAGE_EXTENSIONS

if TYPE_CHECKING:
    from aspectbucket.plan import DatasetPlan


class WarningKind(StrEnum):
    """The kinds of warning a report gives, in the order it shows them."""

    MISSING_FOLDER = "missing_folder"
    UNREADABLE = "unreadable"
    EXIF_ROTATED = "exif_rotated"
    STEP_LOSS = "step_loss"
    CROP_LOSS = "crop_loss"
    UPSCALED = "upscaled"
    SMALL_BUCKET = "small_bucket"
    CAPPED_BUCKET = "capped_bucket"


#: One line per kind, saying what the warning means to someone about to train.
WARNING_TITLES = {
    WarningKind.MISSING_FOLDER: "image folders that cannot be read (the trainer goes on without them)",
    WarningKind.UNREADABLE: "files that cannot be used (the trainer skips or crashes on them)",
    WarningKind.EXIF_ROTATED: "photos with an EXIF rotation, which the trainer ignores",
    WarningKind.STEP_LOSS: "images that lose a whole step to sd-scripts issue 731",
    WarningKind.CROP_LOSS: f"images losing over {CROP_LOSS_WARNING:.0%} of their pixels to the crop",
    WarningKind.UPSCALED: f"images upscaled over {UPSCALE_WARNING:g}x (the model learns the blur)",
    WarningKind.SMALL_BUCKET: "buckets holding fewer samples than the batch size",
    WarningKind.CAPPED_BUCKET: "buckets shrunk by max_bucket_reso = resolution (less of the area budget)",
}

#: What happens to a bucket's incomplete last batch, in the words of the report, per batch policy.
LAST_BATCH = {
    BatchPolicy.SHORT: "each bucket's last batch may be short",
    BatchPolicy.DROP: "each bucket's incomplete last batch is dropped",
    BatchPolicy.PAD: "each bucket's last batch is padded with repeated images",
    BatchPolicy.MERGE: "the buckets' leftovers are merged into mixed batches",
}
_SMALL_BUCKET = {
    BatchPolicy.SHORT: "its only batch is short",
    BatchPolicy.DROP: "the trainer drops it every epoch",
    BatchPolicy.PAD: "its only batch is padded with repeated images",
    BatchPolicy.MERGE: "its images are merged into a mixed batch",
}

_ORIENTATION_EFFECT = {
    2: "mirrored",
    3: "upside down",
    4: "upside down and mirrored",
    5: "lying on its side and mirrored",
    6: "lying on its side",
    7: "lying on its side and mirrored",
    8: "lying on its side",
}


#: Profiles whose trainer logs bucket numbers, and how a log line reads (sd-scripts'
#: BucketManager numbers the used buckets after sorting them; kohya-ss/sd-scripts@48d368fa
#: library/train_util.py:BaseDataset.make_buckets).
LOGGED_NUMBERS = {"kohya": 'sd-scripts logs the same numbers ("bucket 3: resolution (448, 576)")'}


def numbering_heading(profile: str) -> str:
    """The short words after "Buckets": how they are numbered."""
    return "numbered by width, then height" + (", as sd-scripts logs them" if profile in LOGGED_NUMBERS else "")


def numbering_legend(profile: str) -> str:
    """The one bucket numbering every output uses, explained once, in words true for ``profile``."""
    text = (
        "Bucket N is the Nth of the buckets in use, counted from 0 in order of width, then height; each "
        "dataset block counts its own"
    )
    if profile in LOGGED_NUMBERS:
        text += f"; {LOGGED_NUMBERS[profile]}"
    return text + ". The JSON also gives each image's place in the whole bucket list, as bucket_list_index."


@dataclass(frozen=True)
class BucketRow:
    """One used bucket of one dataset block, numbered as :func:`numbering_legend` says."""

    dataset: int
    number: int
    width: int
    height: int
    ratio: str
    images: int
    samples: int
    batches: int
    mean_loss: float
    worst_loss: float
    upscaled: int


@dataclass(frozen=True)
class SizeRow:
    """All images of one size in one dataset block (the seed article's table)."""

    dataset: int
    width: int
    height: int
    images: int
    ratio: str
    bucket_number: int
    bucket_width: int
    bucket_height: int


@dataclass(frozen=True)
class Finding:
    """One warning: about an image (``index`` >= 0) or about a bucket (``index`` == -1)."""

    kind: WarningKind
    index: int
    path: str
    detail: str


@dataclass(frozen=True)
class RatioAdvice:
    """A ratio worth cropping images to: the used buckets' of about that ratio, as a simple fraction."""

    ratio: str
    buckets: tuple[str, ...]
    images: int


@dataclass(frozen=True)
class PrecropAdvice:
    """For a badly cropped image, the box of its bucket's ratio to crop to before training.

    ``resize_to`` is the bucket size when the box alone is not enough (without upscaling the trainer floors
    a fitting image's sides to the step, so only an image of the bucket's exact size keeps everything).
    """

    index: int
    path: str
    width: int
    height: int
    box: tuple[int, int, int, int]
    bucket_width: int
    bucket_height: int
    lost_fraction: float
    resize_to: tuple[int, int] | None = None


@dataclass(frozen=True)
class ImageColumns:
    """Per-image facts the outputs share, aligned with ``plan.scan.paths``."""

    ok: np.ndarray
    dataset: np.ndarray
    repeats: np.ndarray
    upright_width: np.ndarray
    upright_height: np.ndarray
    placed_width: np.ndarray
    placed_height: np.ndarray
    bucket_number: np.ndarray
    precrop: np.ndarray
    display_path: list[str]
    warnings: dict[WarningKind, np.ndarray]
    #: The side each image trains at where the profile draws one per image (0: not placed); else ``None``.
    target_resolution: np.ndarray | None = None


@dataclass(frozen=True)
class ReportSummary:
    """The whole report as data; ``columns`` carries the per-image facts.

    ``notes`` are the dataset-level warnings: the trainer's option rounding, skipped folders, an
    unwritable cache.
    """

    profile: str
    batch_policy: BatchPolicy
    respect_exif: bool
    options: list
    batch_sizes: list[int]
    images: int
    placed: int
    samples: int
    steps_per_epoch: int
    error_counts: dict[str, int]
    buckets: list[BucketRow]
    sizes: list[SizeRow]
    warnings: list[Finding]
    ratio_advice: list[RatioAdvice]
    precrop_advice: list[PrecropAdvice]
    notes: list[str]
    columns: ImageColumns
    #: When the per-image target draw happens (once, or every epoch), one entry per distinct schedule.
    target_schedules: tuple[str, ...] = ()

    def warning_counts(self) -> dict[str, int]:
        """How many warnings of each kind, every kind listed."""
        counts = dict.fromkeys((kind.value for kind in WarningKind), 0)
        for finding in self.warnings:
            counts[finding.kind.value] += 1
        return counts


def settings_lines(summary: ReportSummary) -> list[str]:
    """The settings and counts in words: one line per dataset block, then the image counts."""
    several = len(summary.options) > 1
    lines = []
    for block, options in enumerate(summary.options):
        width, height = options.resolution
        where = f"dataset {block}: " if several else ""
        upscale = "no upscale" if options.bucket_no_upscale else "upscale allowed"
        lines.append(
            f"{where}profile {summary.profile}, resolution {width}x{height}, buckets "
            f"{options.min_bucket_reso}..{options.max_bucket_reso} step {options.bucket_reso_steps}, "
            f"{upscale}, batch size {summary.batch_sizes[block]}"
        )
    trainer = PROFILES.get(summary.profile)
    if summary.respect_exif:
        exif = "upright (EXIF applied)"
    elif trainer is not None and trainer.exif is ExifHandling.APPLY:
        exif = "upright (the trainer applies EXIF)"
    else:
        exif = "as stored (the trainer ignores EXIF)"
    lines.append(
        f"{plural(summary.images, 'image')}, {summary.placed} placed, {summary.images - summary.placed} "
        f"unusable; sizes {exif}"
    )
    if not summary.images:
        lines.append(f"No image files found; the trainer takes {', '.join(IMAGE_EXTENSIONS)} (any case).")
    target_line = target_resolution_line(summary)
    if target_line:
        lines.append(target_line)
    return lines


def target_resolution_line(summary: ReportSummary) -> str | None:
    """``trained at 512: 3 images, 768: 2, ...`` and when the draw happens, for profiles that draw a target
    resolution per image (OneTrainer with several); ``None`` for the others. Placed images only."""
    sides = summary.columns.target_resolution
    if sides is None:
        return None
    values, counts = np.unique(sides[sides > 0], return_counts=True)
    parts = [
        f"{value}: {plural(count, 'image') if i == 0 else count}"
        for i, (value, count) in enumerate(zip(values.tolist(), counts.tolist(), strict=True))
    ]
    drawn = "; ".join(summary.target_schedules)
    return f"trained at {', '.join(parts) or 'no resolution (nothing placed)'} ({drawn})"


def steps_line(summary: ReportSummary) -> str:
    """Samples and steps per epoch, with the batch size they hold for."""
    batch = ", ".join(str(size) for size in sorted(set(summary.batch_sizes)))
    return (
        f"{summary.samples} samples per epoch (images x repeats); {summary.steps_per_epoch} steps per epoch "
        f"at batch size {batch} ({LAST_BATCH[summary.batch_policy]})"
    )


def plural(count: int, noun: str) -> str:
    """``1 image``, ``2 images``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def path_text(path: Path | str) -> str:
    """A path as one line of printable text, for terminals and pages: bytes that are not valid UTF-8
    show as ``\\xNN``, control characters (escape sequences, newlines) as Python escapes, so a file
    name can neither forge a line nor drive the terminal (see :func:`aspectbucket.outputs.shown`)."""
    return shown(path)


def block_bucket_list(plan: DatasetPlan, block: int) -> np.ndarray:
    """The trainer's whole bucket list for one dataset block (``(n, 2)``; empty without upscaling).

    A block with ``enable_bucket = false`` has one bucket: the resolution itself.
    """
    options = plan.options[block]
    members = [subset for subset in plan.scan.subsets if subset.dataset == block]
    if members and not members[0].enable_bucket:
        return np.array([options.resolution], dtype=np.int64)
    return profile_bucket_list(plan.profile, options)


def batch_sizes(plan: DatasetPlan, batch_size: int | None) -> list[int]:
    """The batch size of each dataset block: the one given, else the config's, else 1."""
    return plan.batch_sizes(batch_size)


def summarize(plan: DatasetPlan, batch_size: int | None = None) -> ReportSummary:
    """Everything the report shows, from a dataset plan; ``batch_size`` overrides the config's."""
    if batch_size is not None and batch_size <= 0:
        raise ValueError(f"batch size {batch_size} must be positive")
    columns = image_columns(plan)
    missing_folders, notes = folder_findings(plan.scan.subsets, plan.scan.warnings)
    sizes_per_block = batch_sizes(plan, batch_size)
    buckets = bucket_rows(plan, columns, sizes_per_block, plan.profile.batch_policy)
    steps = 0
    for block, block_batch in enumerate(sizes_per_block):
        counts = [row.samples for row in buckets if row.dataset == block]
        steps += steps_per_epoch(counts, block_batch, plan.profile.batch_policy) if counts else 0
    error_counts: dict[str, int] = {}
    for error in plan.errors:
        if error:
            error_counts[error] = error_counts.get(error, 0) + 1
    return ReportSummary(
        profile=plan.profile.name,
        batch_policy=plan.profile.batch_policy,
        respect_exif=plan.respect_exif,
        options=list(plan.options),
        batch_sizes=sizes_per_block,
        images=len(plan.errors),
        placed=int(columns.ok.sum()),
        samples=int(columns.repeats[columns.ok].sum()),
        steps_per_epoch=steps,
        error_counts=dict(sorted(error_counts.items(), key=lambda item: -item[1])),
        buckets=buckets,
        sizes=size_rows(plan, columns),
        warnings=[*missing_folders, *findings(plan, columns, buckets, sizes_per_block)],
        ratio_advice=ratio_advice(buckets),
        precrop_advice=precrop_advice(plan, columns),
        notes=[*plan.warnings, *notes],
        columns=columns,
        target_schedules=tuple(plan.target_schedules()),
    )


def folder_findings(subsets, scan_warnings: list[str]) -> tuple[list[Finding], list[str]]:
    """The subsets whose image folder cannot be listed, as warnings; the scan's other notes.

    sd-scripts checks ``os.path.isdir(image_dir)``, logs "not directory" and trains on without the
    subset (kohya-ss/sd-scripts@48d368fa library/train_util.py:DreamBoothDataset.load_dreambooth_dir),
    so a mistyped ``image_dir`` silently drops images: a warning that ``--strict`` fails on, not a note.
    """
    folders = {os.path.abspath(subset.image_dir) for subset in subsets}
    found, notes = [], []
    for warning in scan_warnings:
        for prefix, what in (("folder not found: ", "does not exist"), ("cannot list folder ", "cannot be listed")):
            folder, _, reason = (
                warning.removeprefix(prefix).partition(": ") if warning.startswith(prefix) else ("", "", "")
            )
            if folder in folders:
                lost = sum(1 for subset in subsets if os.path.abspath(subset.image_dir) == folder)
                detail = f"{reason or what}; the trainer goes on without {plural(lost, 'subset')}"
                found.append(Finding(WarningKind.MISSING_FOLDER, -1, path_text(folder), detail))
                break
        else:
            notes.append(warning)
    return found, notes


def image_columns(plan: DatasetPlan) -> ImageColumns:
    """Per-image columns: placed and upright sizes, bucket number, suggested pre-crop, warning masks."""
    scan, placement = plan.scan, plan.placement
    ok = placement.ok & np.array([not error for error in plan.errors], dtype=bool)
    dataset = np.array([subset.dataset for subset in scan.subsets], dtype=np.int64)[scan.subset]
    upright_w, upright_h = scan.sizes(True)
    placed_w = np.where(ok, placement.width, 0)
    placed_h = np.where(ok, placement.height, 0)
    precrop = covering_precrop(
        np.maximum(placed_w, 1),
        np.maximum(placed_h, 1),
        np.maximum(placement.bucket_width, 1),
        np.maximum(placement.bucket_height, 1),
    )
    precrop = np.where(ok[:, None], precrop, 0)
    rotated = np.asarray(scan.orientation) != 1
    if plan.profile.exif is ExifHandling.APPLY:
        rotated = np.zeros_like(rotated)
    warnings = {
        WarningKind.UNREADABLE: ~ok,
        WarningKind.EXIF_ROTATED: ok & rotated,
        WarningKind.STEP_LOSS: ok & placement.step_loss,
        WarningKind.CROP_LOSS: ok & (placement.lost_fraction > CROP_LOSS_WARNING),
        WarningKind.UPSCALED: ok & (placement.scale > UPSCALE_WARNING),
    }
    return ImageColumns(
        ok=ok,
        dataset=dataset,
        repeats=np.asarray(scan.repeats, dtype=np.int64),
        upright_width=np.asarray(upright_w, dtype=np.int64),
        upright_height=np.asarray(upright_h, dtype=np.int64),
        placed_width=placed_w,
        placed_height=placed_h,
        bucket_number=np.where(ok, plan.bucket_numbers(), -1),
        precrop=precrop,
        display_path=display_paths(plan),
        warnings=warnings,
        target_resolution=_target_resolutions(plan, ok),
    )


def _target_resolutions(plan: DatasetPlan, ok: np.ndarray) -> np.ndarray | None:
    """Each image's drawn side, 0 where the image is not placed (a scan error as much as a rule's)."""
    sides = plan.target_resolutions()
    return None if sides is None else np.where(ok, sides, 0)


def path_strings(paths) -> list[str]:
    """The scan's paths as text, without building a Path per file (a ``PathList`` keeps its text)."""
    strings = getattr(paths, "strings", None)
    return list(strings) if strings is not None else [os.fspath(path) for path in paths]


def display_paths(plan: DatasetPlan) -> list[str]:
    """Paths as people read them: relative to the dataset's folder, as printable text (:func:`path_text`)."""
    return scan_display_paths(plan.scan)


def scan_display_paths(scan) -> list[str]:
    """A scan's paths relative to the subsets' common folder, as printable text, as the report and
    compare show them."""
    return [path_text(text) for text in relative_paths(scan)]


def relative_paths(scan) -> list[str]:
    """A scan's paths relative to the subsets' common folder, exactly as the file system names them
    (bytes that are not UTF-8 as Python's surrogate escapes): what the JSON and CSV hold."""
    folders = [os.path.abspath(subset.image_dir) for subset in scan.subsets]
    if not folders:
        return []
    root = os.path.commonpath(folders) if len(folders) > 1 else folders[0]
    prefix = root.rstrip(os.sep) + os.sep
    relative = []
    for text in path_strings(scan.paths):
        if not text.startswith(prefix):  # relative or unnormalised paths: normalise (slower, rare)
            text = os.path.abspath(text)
        relative.append(text[len(prefix) :] if text.startswith(prefix) else text)
    return relative


def bucket_rows(
    plan: DatasetPlan,
    columns: ImageColumns,
    sizes_per_block: list[int],
    policy: BatchPolicy = BatchPolicy.SHORT,
) -> list[BucketRow]:
    """The used buckets of every block in number order; batches as ``policy`` makes them."""
    placement = plan.placement
    rows = []
    for block, block_batch in enumerate(sizes_per_block):
        members = np.flatnonzero(columns.ok & (columns.dataset == block))
        if not len(members):
            continue
        numbers = columns.bucket_number[members]
        for number in np.unique(numbers):
            chosen = members[numbers == number]
            width, height = int(placement.bucket_width[chosen[0]]), int(placement.bucket_height[chosen[0]])
            samples = int(columns.repeats[chosen].sum())
            loss = placement.lost_fraction[chosen]
            rows.append(
                BucketRow(
                    dataset=block,
                    number=int(number),
                    width=width,
                    height=height,
                    ratio=ratio_fraction(width, height),
                    images=len(chosen),
                    samples=samples,
                    batches=int(batches_per_bucket([samples], block_batch, policy)[0]),
                    mean_loss=float(loss.mean()),
                    worst_loss=float(loss.max()),
                    upscaled=int(placement.upscaled[chosen].sum()),
                )
            )
    return rows


def size_rows(plan: DatasetPlan, columns: ImageColumns) -> list[SizeRow]:
    """Images grouped by size within each dataset block, most common size first within each bucket."""
    ok = np.flatnonzero(columns.ok)
    if not len(ok):
        return []
    keys = np.stack(
        [columns.dataset[ok], columns.bucket_number[ok], columns.placed_width[ok], columns.placed_height[ok]],
        axis=1,
    )
    unique, first, counts = np.unique(keys, axis=0, return_index=True, return_counts=True)
    order = np.lexsort((-counts, unique[:, 1], unique[:, 0]))
    images = ok[first[order]]
    columns_of_rows = zip(
        unique[order].tolist(),
        counts[order].tolist(),
        plan.placement.bucket_width[images].tolist(),
        plan.placement.bucket_height[images].tolist(),
        strict=True,
    )
    return [
        SizeRow(block, width, height, count, ratio_fraction(width, height), number, *bucket)
        for (block, number, width, height), count, *bucket in columns_of_rows
    ]


def findings(
    plan: DatasetPlan, columns: ImageColumns, buckets: list[BucketRow], sizes_per_block: list[int]
) -> list[Finding]:
    """Every warning, grouped by kind in :class:`WarningKind` order, worst first within a kind."""
    placement, paths = plan.placement, columns.display_path
    result: list[Finding] = []

    def add(kind: WarningKind, indices, detail, worst_first=None) -> None:
        if worst_first is not None:
            indices = indices[np.argsort(-worst_first[indices], kind="stable")]
        result.extend(Finding(kind, int(index), paths[index], detail(int(index))) for index in indices)

    masks = columns.warnings
    add(WarningKind.UNREADABLE, np.flatnonzero(masks[WarningKind.UNREADABLE]), lambda i: plan.errors[i])
    add(
        WarningKind.EXIF_ROTATED,
        np.flatnonzero(masks[WarningKind.EXIF_ROTATED]),
        lambda i: _exif_detail(plan, columns, i),
    )
    add(
        WarningKind.STEP_LOSS,
        np.flatnonzero(masks[WarningKind.STEP_LOSS]),
        lambda i: (
            f"bucket {placement.bucket_width[i]}x{placement.bucket_height[i]}; a correct rounding "
            f"gives {placement.corrected_width[i]}x{placement.corrected_height[i]}"
        ),
    )
    add(
        WarningKind.CROP_LOSS,
        np.flatnonzero(masks[WarningKind.CROP_LOSS]),
        lambda i: (
            f"{placement.lost_fraction[i]:.0%} cut: resized to {placement.resized_width[i]}x"
            f"{placement.resized_height[i]} for bucket {placement.bucket_width[i]}x{placement.bucket_height[i]}"
        ),
        worst_first=placement.lost_fraction,
    )
    add(
        WarningKind.UPSCALED,
        np.flatnonzero(masks[WarningKind.UPSCALED]),
        lambda i: (
            f"enlarged {placement.scale[i]:.2f}x: {placement.width[i]}x{placement.height[i]} resized to "
            f"{placement.resized_width[i]}x{placement.resized_height[i]}"
        ),
        worst_first=placement.scale,
    )
    several = len(sizes_per_block) > 1
    for row in buckets:
        block_batch = sizes_per_block[row.dataset]
        if row.samples < block_batch:
            where = f"dataset {row.dataset} " if several else ""
            result.append(
                Finding(
                    WarningKind.SMALL_BUCKET,
                    -1,
                    f"{where}bucket {row.number} ({row.width}x{row.height})",
                    f"{row.samples} samples for batch size {block_batch}: {_SMALL_BUCKET[plan.profile.batch_policy]}",
                )
            )
    for block, options in enumerate(plan.options):
        capped = {
            (width, height): share for width, height, share in capped_buckets(options, block_bucket_list(plan, block))
        }
        for row in buckets:
            share = capped.get((row.width, row.height)) if row.dataset == block else None
            if share is not None:
                where = f"dataset {row.dataset} " if several else ""
                result.append(
                    Finding(
                        WarningKind.CAPPED_BUCKET,
                        -1,
                        f"{where}bucket {row.number} ({row.width}x{row.height})",
                        f"{share:.0%} of the {options.resolution[0]}x{options.resolution[1]} budget for "
                        f"{plural(row.images, 'image')}: max_bucket_reso {options.max_bucket_reso} stops its long "
                        "side; raise max_bucket_reso (SDXL trainings commonly use 2048)",
                    )
                )
    return result


def _exif_detail(plan: DatasetPlan, columns: ImageColumns, index: int) -> str:
    orientation = int(plan.scan.orientation[index])
    effect = _ORIENTATION_EFFECT.get(orientation, "rotated")
    stored = f"stored {plan.scan.stored_width[index]}x{plan.scan.stored_height[index]}"
    if plan.respect_exif:
        return (
            f"EXIF orientation {orientation}: shown upright here, but {plan.profile.name} trains the "
            f"stored pixels ({stored}) {effect}; rotate the pixels before training"
        )
    upright = f"upright {columns.upright_width[index]}x{columns.upright_height[index]}"
    return (
        f"EXIF orientation {orientation}: trained {effect} ({stored}, {upright}); rotate the pixels "
        "before training, or see the upright placement with --respect-exif"
    )


def ratio_advice(buckets: list[BucketRow]) -> list[RatioAdvice]:
    """The used buckets' ratios as simple fractions, most used first: the shapes worth cropping to.

    Buckets of about the same ratio (448x448 and 512x512, or 640x384 and 576x384 with and without
    upscaling) share one line.
    """
    groups: dict[str, tuple[list[str], int]] = {}
    for row in sorted(buckets, key=lambda row: (row.width, row.height)):
        names, images = groups.get(nice_ratio_fraction(row.width, row.height), ([], 0))
        size = f"{row.width}x{row.height}"
        groups[nice_ratio_fraction(row.width, row.height)] = (
            names if size in names else [*names, size],
            images + row.images,
        )
    ranked = sorted(groups.items(), key=lambda item: (-item[1][1], item[0]))
    return [RatioAdvice(ratio, tuple(names), images) for ratio, (names, images) in ranked]


def precrop_words(advice: PrecropAdvice) -> str:
    """``crop to 267x200 (16, 0, 283, 200), then resize to 256x192``: the advice in words."""
    left, top, right, bottom = advice.box
    if advice.resize_to is not None and (right - left, bottom - top) == (advice.width, advice.height):
        return f"resize to {advice.resize_to[0]}x{advice.resize_to[1]} (or crop to it)"
    words = f"crop to {right - left}x{bottom - top} ({left}, {top}, {right}, {bottom})"
    if advice.resize_to is not None:
        words += f", then resize to {advice.resize_to[0]}x{advice.resize_to[1]}"
    return words


def precrop_advice(plan: DatasetPlan, columns: ImageColumns) -> list[PrecropAdvice]:
    """For every image losing over :data:`CROP_LOSS_WARNING`, the box to crop it to first, worst first."""
    placement = plan.placement
    bad = np.flatnonzero(columns.warnings[WarningKind.CROP_LOSS])
    bad = bad[np.argsort(-placement.lost_fraction[bad], kind="stable")]
    resize = np.zeros(len(placement), dtype=bool)
    for block, options in enumerate(plan.options):
        rows = bad[columns.dataset[bad] == block]
        if len(rows):
            _, resize[rows] = precrop_targets(
                columns.placed_width[rows],
                columns.placed_height[rows],
                placement.bucket_width[rows],
                placement.bucket_height[rows],
                options,
                plan.block_profile(block),
            )
    return [
        PrecropAdvice(
            index=int(index),
            path=columns.display_path[index],
            width=int(columns.placed_width[index]),
            height=int(columns.placed_height[index]),
            box=tuple(int(side) for side in columns.precrop[index]),
            bucket_width=int(placement.bucket_width[index]),
            bucket_height=int(placement.bucket_height[index]),
            lost_fraction=float(placement.lost_fraction[index]),
            resize_to=(int(placement.bucket_width[index]), int(placement.bucket_height[index]))
            if resize[index]
            else None,
        )
        for index in bad
    ]
