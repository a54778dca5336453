"""The columns ``assign`` adds to a table, as numpy arrays, Python lists, or one Arrow record batch."""

from __future__ import annotations

import numpy as np

from aspectbucket.geometry.placement import Placement, PlacementError

#: The columns ``assign`` adds to every row, in output order.
PLACEMENT_COLUMNS = (
    "bucket_width",
    "bucket_height",
    "resized_width",
    "resized_height",
    "ar_error",
    "crop_left",
    "crop_top",
    "crop_ltrb",
    "lost_fraction",
    "upscaled",
    "error",
)

#: The columns added unless others are chosen: what makes each image's training pixels exactly (its bucket,
#: the size it is resized to, where the crop starts) and, for a row not placed, why. The others (ar_error,
#: crop_ltrb, lost_fraction, upscaled) explain the choice and follow from these, the image's size and the
#: profile; with them a Parquet table takes 1.8x as long to write and a CSV or JSONL one 2-3x (six float
#: texts a row), so a 10^8-row table gets them only when asked for (``--columns all``).
PIXEL_COLUMNS = ("bucket_width", "bucket_height", "resized_width", "resized_height", "crop_left", "crop_top", "error")

#: Names of sets of placement columns, accepted wherever column names are.
COLUMN_SETS = {"pixels": PIXEL_COLUMNS, "all": PLACEMENT_COLUMNS}

#: Every reason by its :class:`PlacementError` code, so a column of codes becomes text in one ``take``.
REASONS = np.array([PlacementError(code).reason for code in range(max(PlacementError) + 1)], dtype=object)


def placement_arrays(placement: Placement) -> dict[str, np.ndarray]:
    """The ``assign`` columns of every image as numpy arrays (``crop_ltrb`` is ``(n, 4)``).

    ``crop_left``/``crop_top`` are the real trim offsets in the resized image; ``crop_ltrb`` is what
    the trainer reports to SDXL (for kohya, its letterbox box); ``error`` is empty for placed images.
    """
    return {
        "bucket_width": placement.bucket_width,
        "bucket_height": placement.bucket_height,
        "resized_width": placement.resized_width,
        "resized_height": placement.resized_height,
        "ar_error": placement.ar_error,
        "crop_left": placement.trim_left,
        "crop_top": placement.trim_top,
        "crop_ltrb": placement.reported_crop_ltrb,
        "lost_fraction": placement.lost_fraction,
        "upscaled": placement.upscaled,
        "error": REASONS[placement.error],
    }


def placement_columns(placement: Placement, row_errors: list[str] | None = None) -> dict[str, list]:
    """:func:`placement_arrays` as plain Python lists (JSON-ready values).

    ``row_errors`` override placement reasons for rows that could not even be read.
    """
    columns = {name: values.tolist() for name, values in placement_arrays(placement).items()}
    if row_errors:
        columns["error"] = [row or placed for row, placed in zip(row_errors, columns["error"], strict=True)]
    return columns
