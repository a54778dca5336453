"""The report as files: JSON (everything) and CSV (one row per image), written atomically.

A report file is written under a temporary name beside its target and renamed into place, so an
interrupted run never leaves half a file. No output may land inside the dataset being reported on.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aspectbucket import __version__
from aspectbucket.outputs import atomic_open
from aspectbucket.report.summary import ReportSummary, WarningKind, block_bucket_list, path_strings, relative_paths
from aspectbucket.tables.columns import placement_columns

if TYPE_CHECKING:
    from aspectbucket.plan import DatasetPlan

#: The per-image columns of the CSV, in order (the JSON objects have the same keys). ``target_resolution``
#: is there only for profiles that draw a side per image (see :func:`image_fields`).
IMAGE_FIELDS = (
    "path",
    "subset",
    "dataset",
    "repeats",
    "stored_width",
    "stored_height",
    "orientation",
    "upright_width",
    "upright_height",
    "width",
    "height",
    "bucket_number",
    "bucket_list_index",
    "target_resolution",
    "bucket_width",
    "bucket_height",
    "resized_width",
    "resized_height",
    "scale",
    "ar_error",
    "crop_left",
    "crop_top",
    "crop_ltrb",
    "lost_fraction",
    "upscaled",
    "step_loss",
    "corrected_width",
    "corrected_height",
    "precrop",
    "warnings",
    "error",
)


def image_fields(summary: ReportSummary) -> tuple[str, ...]:
    """The per-image columns of this report: :data:`IMAGE_FIELDS`, less ``target_resolution`` when no
    image draws its side (every other profile), so their files are as before."""
    if summary.columns.target_resolution is not None:
        return IMAGE_FIELDS
    return tuple(name for name in IMAGE_FIELDS if name != "target_resolution")


def dataset_folders(plan: DatasetPlan) -> list[Path]:
    """The folders a plan's images were scanned from: no report file may be written under them."""
    return [subset.image_dir for subset in plan.scan.subsets]


def write_text_atomic(path: Path, text: str, inputs=()) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8; ``-`` is standard output), never under ``inputs``."""
    with atomic_open(path, inputs=inputs) as stream:
        stream.write(text)


def image_records(plan: DatasetPlan, summary: ReportSummary) -> Iterator[dict]:
    """One plain dict per image (keys :func:`image_fields`), in scan order; an unplaced image's
    ``target_resolution`` is ``None``."""
    scan, placement, columns = plan.scan, plan.placement, summary.columns
    kinds_per_image: list[list[str]] = [[] for _ in range(len(scan.paths))]
    for kind, mask in columns.warnings.items():
        if kind is WarningKind.UNREADABLE:
            continue
        for index in np.flatnonzero(mask):
            kinds_per_image[index].append(kind.value)
    subset_names = [subset.name for subset in scan.subsets]
    values = {
        "subset": [subset_names[index] for index in np.asarray(scan.subset).tolist()],
        "dataset": columns.dataset.tolist(),
        "repeats": columns.repeats.tolist(),
        "stored_width": np.asarray(scan.stored_width).tolist(),
        "stored_height": np.asarray(scan.stored_height).tolist(),
        "orientation": np.asarray(scan.orientation).tolist(),
        "upright_width": columns.upright_width.tolist(),
        "upright_height": columns.upright_height.tolist(),
        "width": columns.placed_width.tolist(),
        "height": columns.placed_height.tolist(),
        "bucket_number": columns.bucket_number.tolist(),
        "bucket_list_index": np.where(columns.ok, placement.bucket_index, -1).tolist(),
        **{name: column for name, column in placement_columns(placement).items() if name != "error"},
        "scale": placement.scale.tolist(),
        "step_loss": placement.step_loss.tolist(),
        "corrected_width": placement.corrected_width.tolist(),
        "corrected_height": placement.corrected_height.tolist(),
        "precrop": columns.precrop.tolist(),
    }
    if columns.target_resolution is not None:
        values["target_resolution"] = [side or None for side in columns.target_resolution.tolist()]
    names = [name for name in image_fields(summary) if name in values]
    values = {name: values[name] for name in names}
    paths = path_strings(scan.paths)
    rows = zip(paths, zip(*values.values(), strict=True), kinds_per_image, plan.errors, strict=True)
    for path, row, kinds, error in rows:
        record = {"path": path, **dict(zip(names, row, strict=True))}
        record["warnings"], record["error"] = kinds, error
        yield record


def report_document(plan: DatasetPlan, summary: ReportSummary, source: Path | str | None = None) -> dict:
    """The whole report as one JSON-ready dict: settings, summary, tables, warnings, advice, images.

    Paths are the file system's own names (see :func:`dump_json` for how bytes that are not UTF-8 are
    written), so that ``export --crops`` finds each image again.
    """
    relative = relative_paths(plan.scan)
    return {
        "aspectbucket": __version__,
        "source": None if source is None else os.fspath(source),
        "settings": settings_dict(plan, summary),
        "notes": summary.notes,
        "summary": {
            "images": summary.images,
            "placed": summary.placed,
            "unusable": summary.images - summary.placed,
            "samples": summary.samples,
            "steps_per_epoch": summary.steps_per_epoch,
            "errors": summary.error_counts,
            "warnings": summary.warning_counts(),
        },
        "buckets": [dict(vars(row)) for row in summary.buckets],
        "sizes": [dict(vars(row)) for row in summary.sizes],
        "warnings": [
            {
                "kind": finding.kind.value,
                "path": relative[finding.index] if finding.index >= 0 else finding.path,
                "detail": finding.detail,
            }
            for finding in summary.warnings
        ],
        "advice": {
            "ratios": [{**vars(advice), "buckets": list(advice.buckets)} for advice in summary.ratio_advice],
            "precrops": [
                {**vars(advice), "path": relative[advice.index], "box": list(advice.box)}
                for advice in summary.precrop_advice
            ],
        },
        "images": list(image_records(plan, summary)),
    }


def settings_dict(plan: DatasetPlan, summary: ReportSummary) -> dict:
    """The settings the report was made with, per dataset block, with the block's whole bucket list;
    ``target_resolution_draw`` says when a per-image target draw happens (absent without one)."""
    draw = {"target_resolution_draw": "; ".join(summary.target_schedules)} if summary.target_schedules else {}
    return {
        "profile": summary.profile,
        "respect_exif": summary.respect_exif,
        **draw,
        "datasets": [
            {
                **{
                    key: (list(value) if isinstance(value, tuple) else value)
                    for key, value in dataclasses.asdict(options).items()
                },
                "batch_size": batch,
                "bucket_list": block_bucket_list(plan, block).tolist(),
            }
            for block, (options, batch) in enumerate(zip(summary.options, summary.batch_sizes, strict=True))
        ],
    }


def write_json(
    path: Path,
    plan: DatasetPlan,
    summary: ReportSummary,
    source: Path | str | None = None,
    extra: dict | None = None,
) -> None:
    """Write :func:`report_document` to ``path`` atomically (``-``: standard output; never under the
    dataset's folders): one line per key, per image, per table row.

    Each item is encoded by the json module's C encoder (an indented dump runs in pure Python and
    takes ten times longer at 100,000 images); the file stays easy to read and to grep. ``extra``
    keys (the epoch ledger) are added after the report's own.
    """
    document = {**report_document(plan, summary, source), **(extra or {})}
    with atomic_open(path, inputs=dataset_folders(plan)) as stream:
        stream.write("{\n")
        for position, (key, value) in enumerate(document.items()):
            stream.write(f" {json.dumps(key)}: ")
            if isinstance(value, list) and value:
                stream.write("[\n  ")
                stream.write(",\n  ".join(dump_json(item) for item in value))
                stream.write("\n ]")
            else:
                stream.write(dump_json(value))
            stream.write(",\n" if position < len(document) - 1 else "\n")
        stream.write("}\n")


_NOT_UTF8 = re.compile("[\udc80-\udcff]")


def dump_json(value) -> str:
    """``value`` as JSON text, non-ASCII characters as themselves (the file is UTF-8).

    A path byte that is not valid UTF-8 reaches Python as a lone surrogate U+DC80..U+DCFF (the
    ``surrogateescape`` error handler of ``os.fsdecode``); it is written as the JSON escape ``\\udcXX``,
    which any JSON reader accepts. ``os.fsencode(json.loads(...)["path"])`` gives the file's bytes back.
    """
    text = json.dumps(value, ensure_ascii=False)
    return _NOT_UTF8.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def write_csv(path: Path, plan: DatasetPlan, summary: ReportSummary, extra_columns: dict | None = None) -> None:
    """Write one CSV row per image to ``path`` atomically (``-``: standard output; never under the
    dataset's folders).

    As ``aspectbucket assign`` writes them, ``crop_ltrb`` (and ``precrop``) are four space-separated
    numbers and booleans are ``true``/``false``; ``warnings`` are joined by ``;``. The file is UTF-8,
    except that a path holding bytes that are not valid UTF-8 is written with those very bytes (read
    it back with Python's ``errors="surrogateescape"`` to get the names the file system has).
    ``extra_columns`` (name -> one value per image; the epoch ledger's) follow the report's own columns.
    """
    extra_columns = extra_columns or {}
    fields = image_fields(summary)
    count = len(plan.placement)
    extra_rows = zip(*extra_columns.values(), strict=True) if extra_columns else [()] * count
    with atomic_open(path, newline="", errors="surrogateescape", inputs=dataset_folders(plan)) as stream:
        writer = csv.writer(stream)
        writer.writerow((*fields, *extra_columns))
        for record, extra in zip(image_records(plan, summary), extra_rows, strict=True):
            record["crop_ltrb"] = " ".join(repr(float(value)) for value in record["crop_ltrb"])
            record["upscaled"] = "true" if record["upscaled"] else "false"
            record["step_loss"] = "true" if record["step_loss"] else "false"
            record["precrop"] = " ".join(str(value) for value in record["precrop"])
            record["warnings"] = ";".join(record["warnings"])
            if record.get("target_resolution", "") is None:
                record["target_resolution"] = ""
            writer.writerow((*(record[name] for name in fields), *extra))
