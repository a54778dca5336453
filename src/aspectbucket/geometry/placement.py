"""The result of placing images: one column per fact, one row per image, plus per-image failures.

A :class:`Placement` is a struct of numpy arrays so that a million images cost a few arrays, not a
million objects. Images that cannot be placed keep their row, with a reason from
:class:`PlacementError` and zeros elsewhere: a failure is data, counted like any other column.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntEnum

import numpy as np

#: Sides above this are treated as a corrupt header rather than a real image (over a megapixel per row).
MAX_SIDE = 1 << 20


class PlacementError(IntEnum):
    """Why an image has no bucket. ``OK`` (0) means it was placed."""

    OK = 0
    MISSING_SIZE = 1
    NOT_POSITIVE_INTEGER = 2
    TOO_LARGE = 3
    ZERO_SIDE = 4
    TRAINER_CRASH = 5
    RATIO_TOO_EXTREME = 6
    TOO_SMALL = 7

    @property
    def reason(self) -> str:
        """The one-line reason shown to users (empty for ``OK``)."""
        return _REASONS[self]


_REASONS = {
    PlacementError.OK: "",
    PlacementError.MISSING_SIZE: "missing width or height",
    PlacementError.NOT_POSITIVE_INTEGER: "width and height must be positive whole numbers",
    PlacementError.TOO_LARGE: f"a side is over {MAX_SIDE} pixels: the size is not believable",
    PlacementError.ZERO_SIDE: "the bucket would have a side of 0 pixels (the trainer would crash or train garbage)",
    PlacementError.TRAINER_CRASH: "the trainer divides by zero choosing a bucket for this thin image",
    PlacementError.RATIO_TOO_EXTREME: "the ratio is beyond what the trainer accepts: it drops the image",
    PlacementError.TOO_SMALL: "the image is smaller than the trainer's minimum size: it skips the image",
}


def check_sizes(widths, heights) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate raw sizes and return ``(widths, heights, errors)`` as int64, int64, int8 arrays.

    Accepts anything numpy can turn into float arrays (``None`` and NaN count as missing). Rows that
    fail get size 1x1 so later arithmetic stays defined; their error code says they are not real.
    """
    raw_w = np.asarray(widths, dtype=object if _has_none(widths) else None)
    raw_h = np.asarray(heights, dtype=object if _has_none(heights) else None)
    w = _to_float(raw_w)
    h = _to_float(raw_h)
    if w.shape != h.shape or w.ndim != 1:
        raise ValueError("widths and heights must be one-dimensional and of equal length")
    errors = np.zeros(w.shape, dtype=np.int8)
    with np.errstate(invalid="ignore"):
        missing = np.isnan(w) | np.isnan(h)
        integral = (w == np.floor(w)) & (h == np.floor(h)) & np.isfinite(w) & np.isfinite(h)
        positive = (w >= 1) & (h >= 1)
        too_large = (w > MAX_SIDE) | (h > MAX_SIDE)
    errors[too_large] = PlacementError.TOO_LARGE
    errors[~(integral & positive)] = PlacementError.NOT_POSITIVE_INTEGER
    errors[missing] = PlacementError.MISSING_SIZE
    good = errors == PlacementError.OK
    clean_w = np.where(good, np.nan_to_num(w, nan=1.0), 1).astype(np.int64)
    clean_h = np.where(good, np.nan_to_num(h, nan=1.0), 1).astype(np.int64)
    return clean_w, clean_h, errors


def _has_none(values) -> bool:
    return isinstance(values, list | tuple) and any(value is None for value in values)


def _to_float(values: np.ndarray) -> np.ndarray:
    if values.dtype == object:
        return np.array([np.nan if value is None else _float_or_nan(value) for value in values], dtype=np.float64)
    if values.dtype.kind in "iufb":
        return values.astype(np.float64)
    return np.array([_float_or_nan(value) for value in values.ravel()], dtype=np.float64).reshape(values.shape)


def _float_or_nan(value) -> float:
    text = str(value).strip()
    if text == "":
        return np.nan
    try:
        return float(text)
    except ValueError:
        return -1.0  # present but not a number: reported as not a positive integer


@dataclass(frozen=True)
class Placement:
    """Where each image goes and what happens to its pixels. All arrays share one length.

    Sizes are ``(width, height)`` in pixels. ``trim_left``/``trim_top`` are the real offsets of the
    kept window inside the resized image (what SDXL should be told); ``reported_crop_ltrb`` is what
    the trainer reports instead. ``step_loss`` marks images that lost a step to sd-scripts issue 731;
    ``corrected_width``/``corrected_height`` is the bucket a corrected rounding gives them.
    """

    width: np.ndarray
    height: np.ndarray
    error: np.ndarray
    bucket_index: np.ndarray
    bucket_width: np.ndarray
    bucket_height: np.ndarray
    resized_width: np.ndarray
    resized_height: np.ndarray
    scale: np.ndarray
    upscaled: np.ndarray
    ar_error: np.ndarray
    trim_left: np.ndarray
    trim_top: np.ndarray
    reported_crop_ltrb: np.ndarray
    lost_fraction: np.ndarray
    pixels_cut: np.ndarray
    step_loss: np.ndarray
    corrected_width: np.ndarray
    corrected_height: np.ndarray

    def __len__(self) -> int:
        return len(self.width)

    @property
    def ok(self) -> np.ndarray:
        """Mask of images that were placed."""
        return self.error == PlacementError.OK

    def reasons(self) -> list[str]:
        """The error reason of every row, empty for placed images."""
        return [PlacementError(int(code)).reason for code in self.error]

    def row(self, index: int) -> dict:
        """One image as plain Python values (ints, floats, bools, lists), for reports and JSON."""
        values = {}
        for field in fields(self):
            value = getattr(self, field.name)[index]
            values[field.name] = value.tolist() if isinstance(value, np.ndarray | np.generic) else value
        values["error"] = PlacementError(values["error"]).reason
        return values

    def take(self, indices) -> Placement:
        """The placement of a subset of images, in the given order."""
        return Placement(**{field.name: getattr(self, field.name)[indices] for field in fields(self)})


def assemble_placement(
    widths: np.ndarray,
    heights: np.ndarray,
    errors: np.ndarray,
    bucket_index: np.ndarray,
    bucket_w: np.ndarray,
    bucket_h: np.ndarray,
    resized_w: np.ndarray,
    resized_h: np.ndarray,
    trim_left: np.ndarray,
    trim_top: np.ndarray,
    reported_crop_ltrb: np.ndarray,
    corrected_w: np.ndarray | None = None,
    corrected_h: np.ndarray | None = None,
) -> Placement:
    """Derive the remaining columns from the core ones and blank out failed rows."""
    errors = np.asarray(errors, dtype=np.int8).copy()
    errors[(errors == PlacementError.OK) & ((bucket_w <= 0) | (bucket_h <= 0))] = PlacementError.ZERO_SIDE
    ok = errors == PlacementError.OK
    corrected_w = bucket_w if corrected_w is None else corrected_w
    corrected_h = bucket_h if corrected_h is None else corrected_h

    def blank(values, fill=0):
        return np.where(ok, values, fill)

    bucket_w, bucket_h = blank(bucket_w), blank(bucket_h)
    resized_w, resized_h = blank(resized_w), blank(resized_h)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = blank(np.maximum(resized_w / widths, resized_h / heights), 0.0)
        ar_error = blank(bucket_w / bucket_h - widths / heights, 0.0)
        resized_area = resized_w * resized_h
        pixels_cut = blank(resized_area - bucket_w * bucket_h)
        lost_fraction = blank(pixels_cut / resized_area, 0.0)
    corrected_w, corrected_h = blank(corrected_w), blank(corrected_h)
    return Placement(
        width=widths,
        height=heights,
        error=errors,
        bucket_index=blank(bucket_index, -1),
        bucket_width=bucket_w,
        bucket_height=bucket_h,
        resized_width=resized_w,
        resized_height=resized_h,
        scale=scale,
        upscaled=ok & ((resized_w > widths) | (resized_h > heights)),
        ar_error=ar_error,
        trim_left=blank(trim_left),
        trim_top=blank(trim_top),
        reported_crop_ltrb=np.where(ok[:, None], reported_crop_ltrb, 0.0),
        lost_fraction=lost_fraction,
        pixels_cut=pixels_cut,
        step_loss=ok & (corrected_w * corrected_h > bucket_w * bucket_h),
        corrected_width=corrected_w,
        corrected_height=corrected_h,
    )
