"""The result of placing images: one column per fact, one row per image, plus per-image failures.

A :class:`Placement` is a struct of numpy arrays so that a million images cost a few arrays, not a
million objects. Images that cannot be placed keep their row, with a reason from
:class:`PlacementError` and zeros elsewhere: a failure is data, counted like any other column.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum, StrEnum
from functools import cached_property, partial
from typing import ClassVar

import numpy as np

from aspectbucket.geometry.no_upscale import corrected_no_upscale
from aspectbucket.geometry.resize import center_trim, center_trim_half_even, letterbox_crop_ltrb

#: Sides above this are treated as a corrupt header rather than a real image (over a megapixel per row).
MAX_SIDE = 1 << 20


class SdxlCoordinates(StrEnum):
    """What a trainer tells SDXL as ``crop_top_left``."""

    LETTERBOX = "letterbox"  # sd-scripts' get_crop_ltrb (issue 1443)
    REAL = "real"  # the real trim offset in the resized image


class CropAnchor(StrEnum):
    """Where the kept window sits in the resized image when the crop is not random."""

    CENTER = "center"  # half the overflow on each side (the odd pixel off the far end)
    START = "start"  # at the left/top edge (EveryDream2 crops from the edge plus a few pixels of jitter)
    CENTER_HALF_EVEN = "center_half_even"  # torchvision's CenterCrop: round(overflow / 2), half to even


def anchored_trim(resized, bucket, anchor: CropAnchor) -> np.ndarray:
    """Offset of the kept window along one axis under ``anchor``: the one place the anchors differ, so the
    placement, the sampler and the export agree."""
    if anchor is CropAnchor.START:
        return np.zeros_like(np.asarray(resized))
    if anchor is CropAnchor.CENTER_HALF_EVEN:
        return center_trim_half_even(resized, bucket)
    return center_trim(resized, bucket)


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
    NO_BUCKET = 8
    TRAINER_ERROR = 9

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
    PlacementError.NO_BUCKET: "none of the trainer's size buckets takes a single frame: it skips the image",
    PlacementError.TRAINER_ERROR: "the trainer raises an error preparing this image (a setting it cannot use): "
    "it skips the image",
}


def check_sizes(widths, heights) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate raw sizes and return ``(widths, heights, errors)`` as int64, int64, int8 arrays.

    Accepts anything numpy can turn into float arrays (``None`` and NaN count as missing). Rows that
    fail get size 1x1 so later arithmetic stays defined; their error code says they are not real.
    """
    if (
        isinstance(widths, np.ndarray)
        and isinstance(heights, np.ndarray)
        and widths.dtype.kind == heights.dtype.kind == "i"
    ):
        return _check_integer_sizes(widths, heights)
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


def _check_integer_sizes(widths: np.ndarray, heights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fast path for integer arrays: only the range needs checking."""
    if widths.shape != heights.shape or widths.ndim != 1:
        raise ValueError("widths and heights must be one-dimensional and of equal length")
    widths = widths.astype(np.int64, copy=False)
    heights = heights.astype(np.int64, copy=False)
    if len(widths) == 0 or (
        widths.min() >= 1 and heights.min() >= 1 and widths.max() <= MAX_SIDE and heights.max() <= MAX_SIDE
    ):  # four reductions, no temporaries: the usual case of a million good sizes costs a millisecond
        return widths, heights, np.zeros(widths.shape, dtype=np.int8)
    bad_range = (widths < 1) | (heights < 1)
    too_large = (widths > MAX_SIDE) | (heights > MAX_SIDE)
    errors = np.where(too_large, np.int8(PlacementError.TOO_LARGE), np.int8(PlacementError.OK))
    errors[bad_range] = PlacementError.NOT_POSITIVE_INTEGER
    good = errors == PlacementError.OK
    return np.where(good, widths, 1), np.where(good, heights, 1), errors


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

    The core columns are stored; every other column is derived from them on first access, so placing
    a million images costs only what the caller reads. Sizes are ``(width, height)`` in pixels.
    ``trim_left``/``trim_top`` are the real offsets of the kept window inside the resized image (what
    SDXL should be told); ``reported_crop_ltrb`` is what the trainer reports instead (``sdxl`` says
    which rule). ``step_loss`` marks images that lost a step to sd-scripts issue 731 and
    ``corrected_width``/``corrected_height`` is the bucket a corrected rounding gives them; both need
    ``no_upscale_budget`` (area, step), set when the images were placed without upscaling.
    ``known_ar_error`` is ``ar_error`` when placement computed it on the way (it had the ratios).
    """

    width: np.ndarray
    height: np.ndarray
    error: np.ndarray
    bucket_index: np.ndarray
    bucket_width: np.ndarray
    bucket_height: np.ndarray
    resized_width: np.ndarray
    resized_height: np.ndarray
    sdxl: SdxlCoordinates = SdxlCoordinates.REAL
    no_upscale_budget: tuple[int, int] | None = None
    corrected: tuple[np.ndarray, np.ndarray] | None = None
    anchor: CropAnchor = CropAnchor.CENTER
    known_ar_error: np.ndarray | None = None

    #: Every per-image column, stored or derived, in the order reports list them.
    COLUMNS: ClassVar[tuple[str, ...]] = (
        "width",
        "height",
        "error",
        "bucket_index",
        "bucket_width",
        "bucket_height",
        "resized_width",
        "resized_height",
        "scale",
        "upscaled",
        "ar_error",
        "trim_left",
        "trim_top",
        "reported_crop_ltrb",
        "lost_fraction",
        "pixels_cut",
        "step_loss",
        "corrected_width",
        "corrected_height",
    )

    def __len__(self) -> int:
        return len(self.width)

    @cached_property
    def ok(self) -> np.ndarray:
        """Mask of images that were placed."""
        return self.error == PlacementError.OK

    @cached_property
    def scale(self) -> np.ndarray:
        """How much the image is enlarged (> 1) or shrunk (< 1): the larger of the two axis factors."""
        return _by_blocks(_scale, np.float64, self.ok, self.width, self.height, self.resized_width, self.resized_height)

    @cached_property
    def upscaled(self) -> np.ndarray:
        """Images the trainer enlarges on at least one side."""
        return _by_blocks(_upscaled, bool, self.ok, self.width, self.height, self.resized_width, self.resized_height)

    @cached_property
    def ar_error(self) -> np.ndarray:
        """Signed ratio error ``bw/bh - w/h``, computed with sd-scripts' own float operations."""
        if self.known_ar_error is not None:
            return self.known_ar_error
        return _by_blocks(
            _ar_error, np.float64, self.ok, self.width, self.height, self.bucket_width, self.bucket_height
        )

    @cached_property
    def trim_left(self) -> np.ndarray:
        """Columns cut from the left of the resized image (centre trim; the odd pixel goes right)."""
        return _by_blocks(partial(anchored_trim, anchor=self.anchor), np.int64, self.resized_width, self.bucket_width)

    @cached_property
    def trim_top(self) -> np.ndarray:
        """Rows cut from the top of the resized image (centre trim; the odd pixel goes to the bottom)."""
        return _by_blocks(partial(anchored_trim, anchor=self.anchor), np.int64, self.resized_height, self.bucket_height)

    @cached_property
    def reported_crop_ltrb(self) -> np.ndarray:
        """``(left, top, right, bottom)`` floats the trainer reports for SDXL, per its rule."""
        if self.sdxl is SdxlCoordinates.LETTERBOX:
            columns = (self.ok, self.width, self.height, self.bucket_width, self.bucket_height)
            return _by_blocks(_letterbox_box, (np.float64, 4), *columns)
        columns = (self.ok, self.trim_left, self.trim_top, self.bucket_width, self.bucket_height)
        return _by_blocks(_trim_box, (np.float64, 4), *columns)

    @cached_property
    def pixels_cut(self) -> np.ndarray:
        """Resized pixels the crop throws away."""
        columns = (self.resized_width, self.resized_height, self.bucket_width, self.bucket_height)
        return _by_blocks(_pixels_cut, np.int64, *columns)

    @cached_property
    def lost_fraction(self) -> np.ndarray:
        """Share of the resized image that is cut away, 0 to 1."""
        columns = (self.ok, self.resized_width, self.resized_height, self.bucket_width, self.bucket_height)
        return _by_blocks(_lost_fraction, np.float64, *columns)

    @cached_property
    def _corrected(self) -> tuple[np.ndarray, np.ndarray]:
        if self.corrected is not None:
            return self.corrected
        if self.no_upscale_budget is None:
            return self.bucket_width, self.bucket_height
        corrected_w, corrected_h, _, _ = corrected_no_upscale(self.width, self.height, *self.no_upscale_budget)
        return np.where(self.ok, corrected_w, 0), np.where(self.ok, corrected_h, 0)

    @property
    def corrected_width(self) -> np.ndarray:
        """Bucket width under a rounding without the step loss of issue 731 (the bucket itself otherwise)."""
        return self._corrected[0]

    @property
    def corrected_height(self) -> np.ndarray:
        """Bucket height under a rounding without the step loss of issue 731."""
        return self._corrected[1]

    @cached_property
    def step_loss(self) -> np.ndarray:
        """Images whose bucket lost area to sd-scripts' flooring (issue 731)."""
        return self.ok & (self.corrected_width * self.corrected_height > self.bucket_width * self.bucket_height)

    def reasons(self) -> list[str]:
        """The error reason of every row, empty for placed images."""
        return [_REASONS[PlacementError(int(code))] for code in self.error]

    def row(self, index: int) -> dict:
        """One image as plain Python values (ints, floats, bools, lists), for reports and JSON."""
        values = {name: getattr(self, name)[index].tolist() for name in self.COLUMNS}
        values["error"] = PlacementError(values["error"]).reason
        return values

    def take(self, indices) -> Placement:
        """The placement of a subset of images, in the given order."""
        return gather_placements([(np.arange(len(indices)), self, indices)], len(indices))


#: Rows a derived column is computed for at a time: the temporaries of a block stay in the CPU caches
#: and in memory the process already holds, where whole-column temporaries are fresh pages every time.
DERIVE_ROWS = 1 << 16


def _by_blocks(compute, dtype, *columns) -> np.ndarray:
    """``compute(*columns)`` evaluated on blocks of :data:`DERIVE_ROWS` rows into one new array.

    ``dtype`` is the result's dtype, or ``(dtype, width)`` for a result of ``width`` values per row.
    """
    count = len(columns[0])
    dtype, *width = dtype if isinstance(dtype, tuple) else (dtype,)
    result = np.empty((count, *width), dtype=dtype)
    for start in range(0, count, DERIVE_ROWS):
        rows = slice(start, start + DERIVE_ROWS)
        result[rows] = compute(*(column[rows] for column in columns))
    return result


def _scale(ok, width, height, resized_w, resized_h) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, np.maximum(resized_w / width, resized_h / height), 0.0)


def _upscaled(ok, width, height, resized_w, resized_h) -> np.ndarray:
    return ok & ((resized_w > width) | (resized_h > height))


def _ar_error(ok, width, height, bucket_w, bucket_h) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, bucket_w / bucket_h - width / height, 0.0)


def _letterbox_box(ok, width, height, bucket_w, bucket_h) -> np.ndarray:
    box = letterbox_crop_ltrb(np.maximum(bucket_w, 1), np.maximum(bucket_h, 1), width, height)
    return np.where(ok[:, None], box, 0.0)


def _trim_box(ok, trim_left, trim_top, bucket_w, bucket_h) -> np.ndarray:
    box = np.stack([trim_left, trim_top, trim_left + bucket_w, trim_top + bucket_h], axis=-1).astype(np.float64)
    return np.where(ok[:, None], box, 0.0)


def _pixels_cut(resized_w, resized_h, bucket_w, bucket_h) -> np.ndarray:
    return resized_w * resized_h - bucket_w * bucket_h


def _lost_fraction(ok, resized_w, resized_h, bucket_w, bucket_h) -> np.ndarray:
    resized_area = resized_w * resized_h
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, (resized_area - bucket_w * bucket_h) / resized_area, 0.0)


def assemble_placement(
    widths: np.ndarray,
    heights: np.ndarray,
    errors: np.ndarray,
    bucket_index: np.ndarray,
    bucket_w: np.ndarray,
    bucket_h: np.ndarray,
    resized_w: np.ndarray,
    resized_h: np.ndarray,
    sdxl: SdxlCoordinates = SdxlCoordinates.REAL,
    no_upscale_budget: tuple[int, int] | None = None,
    anchor: CropAnchor = CropAnchor.CENTER,
    ar_error: np.ndarray | None = None,
    out: dict[str, np.ndarray] | None = None,
) -> Placement:
    """Build a :class:`Placement`, turning 0-pixel buckets into errors and zeroing failed rows.

    ``ar_error``, when the caller computed it on the way, saves deriving it again. ``out`` maps the
    columns ``error``, ``bucket_index``, ``bucket_width``, ``bucket_height``, ``resized_width``,
    ``resized_height`` and ``ar_error`` to arrays (views of a larger placement's columns) that receive
    them; a column the caller already computed into its ``out`` array is not copied.
    """
    errors = np.asarray(errors, dtype=np.int8)
    # Two reductions first: the rows are only looked for when a bucket has a 0-pixel side at all. They are
    # few (rules that zero their failed rows, SimpleTuner's, have some in most datasets): found by row
    # number, and only those still placed change, which spares a selection over every row.
    if len(bucket_w) and (bucket_w.min() <= 0 or bucket_h.min() <= 0):
        zero = np.flatnonzero((bucket_w <= 0) | (bucket_h <= 0))
        zero = zero[errors.take(zero) == PlacementError.OK]
        if len(zero):
            errors = errors.copy()  # the caller's codes stay as they are
            errors[zero] = PlacementError.ZERO_SIDE
    if out is not None:
        return _assemble_into(
            widths,
            heights,
            errors,
            (bucket_index, bucket_w, bucket_h, resized_w, resized_h),
            sdxl,
            no_upscale_budget,
            anchor,
            ar_error,
            out,
        )
    if errors.any():
        failed = _failed_rows(errors)
        bucket_index = _failed_rows_set(bucket_index, failed, -1)
        bucket_w, bucket_h, resized_w, resized_h = (
            _failed_rows_set(values, failed, 0) for values in (bucket_w, bucket_h, resized_w, resized_h)
        )
        if ar_error is not None:
            ar_error = _failed_rows_set(ar_error, failed, 0.0)
    return Placement(
        widths,
        heights,
        errors,
        bucket_index,
        bucket_w,
        bucket_h,
        resized_w,
        resized_h,
        sdxl,
        no_upscale_budget,
        anchor=anchor,
        known_ar_error=ar_error,
    )


def _failed_rows(errors: np.ndarray) -> np.ndarray:
    """Row numbers of the failed rows: ``np.flatnonzero`` of a comparison, about 7 times as fast as of the
    int8 codes themselves (numpy's nonzero has a fast path for booleans only)."""
    return np.flatnonzero(errors != PlacementError.OK)


def _failed_rows_set(column: np.ndarray, failed: np.ndarray, value) -> np.ndarray:
    """``column`` with the ``failed`` rows set to ``value``: a copy when one of them is not already (the
    caller's array is not changed), else the column itself, which saves a pass over every row (rules that
    zero failed rows themselves, SimpleTuner's, over millions of rows)."""
    if not (column.take(failed) != value).any():
        return column
    column = column.copy()
    column[failed] = value
    return column


#: The columns :func:`assemble_placement` writes into ``out``, with the value of a failed row.
_OUT_COLUMNS = (
    ("bucket_index", -1),
    ("bucket_width", 0),
    ("bucket_height", 0),
    ("resized_width", 0),
    ("resized_height", 0),
)


def _assemble_into(widths, heights, errors, values, sdxl, no_upscale_budget, anchor, ar_error, out) -> Placement:
    """:func:`assemble_placement` into the ``out`` arrays: copied unless computed there, failed rows zeroed in place."""
    np.copyto(out["error"], errors)
    failed = _failed_rows(errors) if errors.any() else None
    for (name, failed_value), column in zip(_OUT_COLUMNS, values, strict=True):
        if column is not out[name]:
            np.copyto(out[name], column, casting="unsafe")
        if failed is not None:
            out[name][failed] = failed_value
    placement = Placement(
        widths,
        heights,
        out["error"],
        *(out[name] for name, _ in _OUT_COLUMNS),
        sdxl,
        no_upscale_budget,
        anchor=anchor,
    )
    if ar_error is None:
        np.copyto(out["ar_error"], placement.ar_error)  # derived from the zeroed buckets, as before
    else:
        if ar_error is not out["ar_error"]:
            np.copyto(out["ar_error"], ar_error)
        if failed is not None:
            out["ar_error"][failed] = 0.0
    return replace(placement, known_ar_error=out["ar_error"])


def gather_placements(parts: list[tuple[np.ndarray, Placement, object]], count: int) -> Placement:
    """One placement of ``count`` rows: rows ``targets`` get rows ``source[selection]`` of each part.

    Parts may come from different options (dataset blocks with their own settings); anything derived
    from those options (the issue-731 correction) is materialised first. All parts must share the SDXL
    rule, as they come from one profile.
    """
    rules = {part.sdxl for _, part, _ in parts}
    anchors = {part.anchor for _, part, _ in parts}
    if len(rules) > 1 or len(anchors) > 1:
        raise ValueError("placements with different SDXL coordinate or crop rules cannot be joined")
    anchor = anchors.pop() if anchors else CropAnchor.CENTER
    columns = {}
    for name in _STORED_ARRAYS:
        pieces = [getattr(part, name)[selection] for _, part, selection in parts]
        columns[name] = _scatter(pieces, [targets for targets, _, _ in parts], count, np.int64)
    columns["error"] = columns["error"].astype(np.int8)
    sdxl = rules.pop() if rules else SdxlCoordinates.REAL
    budgets = {part.no_upscale_budget for _, part, _ in parts}
    if len(budgets) == 1 and all(part.corrected is None for _, part, _ in parts):
        return Placement(**columns, sdxl=sdxl, no_upscale_budget=budgets.pop(), anchor=anchor)  # still lazy
    corrected = tuple(
        _scatter(
            [part._corrected[axis][selection] for _, part, selection in parts],
            [targets for targets, _, _ in parts],
            count,
            np.int64,
        )
        for axis in (0, 1)
    )
    return Placement(**columns, sdxl=sdxl, corrected=corrected, anchor=anchor)


_STORED_ARRAYS = (
    "width",
    "height",
    "error",
    "bucket_index",
    "bucket_width",
    "bucket_height",
    "resized_width",
    "resized_height",
)


def _scatter(pieces: list[np.ndarray], targets: list[np.ndarray], count: int, dtype) -> np.ndarray:
    column = np.zeros(count, dtype=pieces[0].dtype if pieces else dtype)
    for rows, piece in zip(targets, pieces, strict=True):
        column[rows] = piece
    return column
