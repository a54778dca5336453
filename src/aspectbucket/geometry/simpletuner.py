"""SimpleTuner's buckets for arrays of image sizes: ratio keys, target and intermediary sizes, crops, skips.

SimpleTuner 4.10.1 (``simpletuner/helpers/image_manipulation/training_sample.py:TrainingSample.calculate_target_size``,
``simpletuner/helpers/multiaspect/image.py:MultiaspectImage.calculate_new_size_by_pixel_edge`` and
``calculate_new_size_by_pixel_area``, ``simpletuner/helpers/image_manipulation/cropping.py``,
``simpletuner/helpers/metadata/backends/base.py:MetadataBackend.meets_resolution_requirements``; these files
match bghira/SimpleTuner@bc8e6ab7) gives each image a bucket key ``str(round(target_w / target_h,
aspect_bucket_rounding))``, a target (the bucket size) and an intermediary size (what it is resized to before
the crop). Its sizes per ``resolution_type``:

- ``pixel``: the shorter side becomes ``resolution``, the other follows the rounded ratio; both are rounded
  to ``aspect_bucket_alignment`` (Python's round, at least one step); no cap on the long side.
- ``area`` (megapixels; ``pixel_area`` converts ``edge**2 / 1e6``): a square edge rounded to the alignment,
  ``edge * sqrt(ratio)`` by ``edge / sqrt(ratio)``, rounded. The first target computed for a key is stored in
  an aspect->size map and reused for every later image with that key, so sizes depend on the order images
  are processed in (:func:`simpletuner_prepare` takes it; the trainer's own order is its worker threads').
- ``crop_aspect``: ``square`` (the ``resolution`` square), ``preserve`` (the image's own rounded ratio),
  ``closest`` (nearest of ``crop_aspect_buckets``, first on ties) or ``random`` (``random.choice`` of them).
- a ratio that rounds to 0 makes the trainer divide by zero and skip the image; ``minimum_image_size`` skips
  small images (a side in ``pixel`` mode, an area in ``area`` mode); ``maximum_image_size`` with
  ``target_downsample_size`` moves the crop onto a downsampled canvas.

Random draws (``crop_style`` random, ``crop_aspect`` random) come from one Python generator seeded once, in
processing order, as the trainer's global ``random`` does, replayed in bulk (:mod:`.python_random`; compiled
when numba is installed, the ``fast`` extra). Everything else is computed on whole arrays, in blocks of the
processing order; in ``area`` mode from the images' own ratios (the default) whatever depends only on the
rounded ratio is computed once per ratio code, in tables kept for every block of a pass, and gathered
(:func:`_area_sizes`, about 2.4 times the row-by-row rules' speed). The one-image oracle is
:mod:`aspectbucket.geometry.simpletuner_reference`. A frame count would only extend the bucket key
(``WxH@F``), so video can reuse these sizes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import numpy as np

from aspectbucket.geometry.placement import PlacementError
from aspectbucket.geometry.python_random import randbelow_many

#: ``TrainingSample._set_resolution``: megapixel settings within 0.05 of these use the exact square area.
AREA_SQUARES = {0.25: 512**2, 0.5: 768**2, 1.0: 1024**2, 2.0: 1536**2, 4.0: 2048**2}


@dataclass(frozen=True)
class SimpleTunerSettings:
    """A dataset's bucketing settings under SimpleTuner's own names, after ``pixel_area`` became ``area``.

    ``resolution`` is pixels (``pixel``) or megapixels (``area``); so are ``minimum_image_size``,
    ``maximum_image_size`` and ``target_downsample_size``. :func:`from_config` converts ``pixel_area``.
    """

    resolution: float = 1.048576
    resolution_type: str = "area"
    crop: bool = False
    crop_aspect: str = "square"
    crop_style: str = "random"
    crop_aspect_buckets: tuple[float, ...] = ()
    aspect_bucket_rounding: int = 2
    aspect_bucket_alignment: int = 64
    minimum_image_size: float | None = None
    maximum_image_size: float | None = None
    target_downsample_size: float | None = None


def from_config(resolution_type: str, resolution: float, **settings) -> SimpleTunerSettings:
    """Settings as a dataset config writes them; ``pixel_area`` sizes become megapixels (edge**2 / 1e6).

    This is ``FactoryRegistry._handle_resolution_conversion``: ``resolution``, ``minimum_image_size``,
    ``maximum_image_size`` and ``target_downsample_size`` are all converted.
    """
    if resolution_type == "pixel_area":
        resolution_type = "area"
        resolution = resolution * resolution / 1e6
        for name in ("minimum_image_size", "maximum_image_size", "target_downsample_size"):
            if settings.get(name) is not None:
                settings[name] = settings[name] * settings[name] / 1e6
    if "crop_aspect_buckets" in settings:
        settings["crop_aspect_buckets"] = tuple(settings["crop_aspect_buckets"] or ())
    return SimpleTunerSettings(resolution=resolution, resolution_type=resolution_type, **settings)


@dataclass(frozen=True)
class SimpleTunerPrepared:
    """Per-image results, one row per input image (in input order); failed rows hold zeros.

    ``key`` is the bucket key as a float (the trainer's key is ``str`` of it); ``target`` is the bucket size,
    ``resized`` the intermediary size the image is resized to, ``canvas`` the image the crop is cut from
    (``resized`` unless a downsample moved it; zeros when nothing is cropped) and ``crop_left``/``crop_top``
    the crop's offset in that canvas.
    """

    error: np.ndarray
    key: np.ndarray
    target_width: np.ndarray
    target_height: np.ndarray
    resized_width: np.ndarray
    resized_height: np.ndarray
    canvas_width: np.ndarray
    canvas_height: np.ndarray
    crop_left: np.ndarray
    crop_top: np.ndarray

    def key_text(self, row: int) -> str:
        """The trainer's bucket key of one placed image (``"1.5"``)."""
        return str(float(self.key[row]))


def round_decimals(values, digits: int) -> np.ndarray:
    """Python's ``round(x, digits)`` on an array: exact decimal rounding, half to even, as doubles.

    ``x * 10**digits`` rounded to an integer ``k`` gives ``k / 10**digits``, the double nearest the decimal,
    as Python returns; values within float noise of a half go through Python itself.
    """
    values = np.asarray(values, dtype=np.float64)
    scale = 10.0**digits
    scaled = values * scale
    result = np.floor(scaled + 0.5) / scale
    near_half = np.flatnonzero(np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6)
    if len(near_half):
        # Bucket sizes give few distinct ratios, and true halves (1.125) are common among them: Python
        # rounds each distinct value once, not every row.
        distinct, inverse = np.unique(values[near_half], return_inverse=True)
        rounded = np.array([round(value, digits) for value in distinct.tolist()], dtype=np.float64)
        result[near_half] = rounded[inverse.ravel()]
    return result


def round_to_alignment(values, alignment: int) -> np.ndarray:
    """``MultiaspectImage._round_to_nearest_multiple``: half to even, at least one step."""
    return np.maximum(np.round(np.asarray(values, dtype=np.float64) / alignment) * alignment, alignment).astype(
        np.int64
    )


def _truncate(values) -> np.ndarray:
    """Python's ``int()`` of positive floats."""
    return np.trunc(values).astype(np.int64)


def pixel_resolution(settings: SimpleTunerSettings) -> tuple[int, float]:
    """``TrainingSample._set_resolution``: the square side and the target area (megapixels near a known square)."""
    if settings.resolution_type == "pixel":
        return int(settings.resolution), settings.resolution
    target_area = next((area for key, area in AREA_SQUARES.items() if abs(settings.resolution - key) < 0.05), None)
    target_area = settings.resolution * 1e6 if target_area is None else target_area
    return int(round_to_alignment(np.sqrt(target_area), settings.aspect_bucket_alignment)), target_area


def size_by_pixel_edge(aspects, resolution, widths, heights, settings: SimpleTunerSettings):
    """``calculate_new_size_by_pixel_edge`` per row: ``(target_w, target_h, inter_w, inter_h, crashes)``.

    ``crashes`` marks rows where the trainer divides by a ratio rounded to 0 (portrait images only).
    """
    align = settings.aspect_bucket_alignment
    portrait = widths < heights
    crashes = portrait & (aspects == 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        raw_w = np.where(portrait, resolution, _truncate(np.where(crashes, 1.0, resolution * aspects)))
        raw_h = np.where(portrait, _truncate(resolution / np.where(crashes, 1.0, aspects)), resolution)
    target_w, target_h = round_to_alignment(raw_w, align), round_to_alignment(raw_h, align)
    ratio = widths / heights
    # Landscape or square originals fit the height first, portraits the width; the other side follows.
    inter_h = np.maximum(target_h, raw_h)
    inter_w = _truncate(inter_h * ratio)
    short_w = inter_w < target_w
    inter_w = np.where(short_w, target_w, inter_w)
    inter_h = np.where(short_w, _truncate(inter_w / ratio), inter_h)
    portrait_w = np.maximum(target_w, raw_w)
    portrait_h = _truncate(portrait_w / ratio)
    short_h = portrait_h < target_h
    portrait_h = np.where(short_h, target_h, portrait_h)
    portrait_w = np.where(short_h, _truncate(portrait_h * ratio), portrait_w)
    landscape = ratio >= 1.0
    inter_w = np.where(landscape, inter_w, portrait_w)
    inter_h = np.where(landscape, inter_h, portrait_h)
    return target_w, target_h, inter_w, inter_h, crashes


def size_by_area(aspects, megapixels, widths, heights, settings: SimpleTunerSettings):
    """``calculate_new_size_by_pixel_area`` per row before the aspect map.

    ``(target_w, target_h, inter_w, inter_h, key, square_shortcut, crashes)``: ``key`` is the map key (the
    target's rounded ratio); ``square_shortcut`` rows (ratio 1.0 and a square image) return the edge and
    never touch the map; ``crashes`` rows divide by a zero ratio.
    """
    align = settings.aspect_bucket_alignment
    edge = int(round_to_alignment(int(np.sqrt(megapixels * 1e6)), align))
    crashes = aspects == 0.0
    root = np.sqrt(np.where(crashes, 1.0, aspects))
    target_w = round_to_alignment(edge * root, align)
    target_h = round_to_alignment(edge / root, align)
    ratio = widths / heights
    by_width = target_w < target_h
    inter_w = np.where(by_width, target_w, _truncate(target_h * ratio))
    inter_h = np.where(by_width, _truncate(target_w / ratio), target_h)
    key = round_decimals(target_w / target_h, settings.aspect_bucket_rounding)
    shortcut = (aspects == 1.0) & (widths == heights)
    target_w, target_h = np.where(shortcut, edge, target_w), np.where(shortcut, edge, target_h)
    inter_w, inter_h = np.where(shortcut, edge, inter_w), np.where(shortcut, edge, inter_h)
    key = np.where(shortcut, aspects, key)
    return target_w, target_h, inter_w, inter_h, key, shortcut, crashes


def grow_to_target(target_w, target_h, inter_w, inter_h, widths, heights):
    """The end of ``calculate_new_size_by_pixel_area``: an intermediary smaller than the (mapped) target grows."""
    ratio = widths / heights
    wider = target_w > inter_w
    taller = ~wider & (target_h > inter_h)
    grow_w = np.where(wider, target_w - inter_w, np.where(taller, _truncate((target_h - inter_h) * ratio), 0))
    grow_h = np.where(wider, _truncate((target_w - inter_w) / ratio), np.where(taller, target_h - inter_h, 0))
    return inter_w + grow_w, inter_h + grow_h


def apply_aspect_map(
    keys, targets_w, targets_h, order, aspect_map: dict, rounding: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The aspect->size map: every row gets the target first stored for its key (rows listed in ``order``).

    ``aspect_map`` (``{key: (w, h)}``, one resolution's map) is read and extended in place; rows not in
    ``order`` neither read nor store. Keys that are ``rounding``-decimal numbers (the map's keys are) are
    grouped by their integer codes in one counting pass (:func:`_decimal_codes`); others are sorted.
    """
    out_w, out_h = targets_w.copy(), targets_h.copy()
    if len(order) == 0:
        return out_w, out_h
    ordered_keys = keys[order]
    coded = None if rounding is None else _decimal_codes(ordered_keys, rounding)
    if coded is None:
        distinct, first, inverse = np.unique(ordered_keys, return_index=True, return_inverse=True)
        inverse = inverse.ravel()
        stored_w, stored_h = targets_w[order][first], targets_h[order][first]
        missing = [position for position, key in enumerate(distinct.tolist()) if key not in aspect_map]
    else:
        # Only keys the map does not hold yet need their first row; after the first blocks there are few.
        inverse, distinct = coded
        stored_w = np.zeros(len(distinct), dtype=np.int64)
        stored_h = np.zeros(len(distinct), dtype=np.int64)
        missing = [position for position, key in enumerate(distinct.tolist()) if key not in aspect_map]
        if missing:
            is_missing = np.zeros(len(distinct), dtype=bool)
            is_missing[missing] = True
            rows = np.flatnonzero(is_missing.take(inverse))  # positions in processing order
            _, first = np.unique(inverse.take(rows), return_index=True)  # positions ascending, as missing
            stored_w[missing] = targets_w.take(order.take(rows.take(first)))
            stored_h[missing] = targets_h.take(order.take(rows.take(first)))
    _store_or_read(aspect_map, distinct, missing, stored_w, stored_h)
    out_w[order] = stored_w.take(inverse)
    out_h[order] = stored_h.take(inverse)
    return out_w, out_h


#: Code ranges up to this many times the row count are counted densely (a key beyond is sorted instead).
_DENSE_CODES_PER_ROW = 4


def _decimal_codes(keys: np.ndarray, rounding: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``(inverse, distinct)`` as ``np.unique`` gives them for keys that are ``rounding``-decimal numbers
    (``round(x, rounding)``: the double nearest ``k / 10**rounding``), found by counting their integer codes
    ``k`` instead of sorting; ``None`` when a key is not such a number or the codes spread too widely."""
    scale = 10.0**rounding
    codes = np.rint(keys * scale)
    low, high = float(codes.min()), float(codes.max())
    if not high - low < _DENSE_CODES_PER_ROW * len(keys) + 1024:
        return None
    shifted = (codes - low).astype(np.int64)
    present = np.flatnonzero(np.bincount(shifted, minlength=int(high - low) + 1))
    distinct = (present + low) / scale
    position = np.zeros(int(high - low) + 1, dtype=np.int64)
    position[present] = np.arange(len(present))
    inverse = position.take(shifted)
    if not np.array_equal(distinct.take(inverse), keys):  # a key of another form: the codes do not apply
        return None
    return inverse, distinct


def meets_resolution_requirements(widths, heights, settings: SimpleTunerSettings) -> np.ndarray:
    """``MetadataBackend.meets_resolution_requirements``: which images are large enough to keep."""
    minimum = settings.minimum_image_size
    if minimum is None:
        return np.ones(len(widths), dtype=bool)
    if settings.resolution_type == "pixel":
        return (minimum <= widths) & (minimum <= heights)
    area = minimum * 1_000_000
    keep = area <= widths * heights
    if settings.crop and settings.crop_aspect == "square":
        edge = int(np.floor(np.sqrt(area)))
        keep &= (edge <= widths) & (edge <= heights)
    return keep


def simpletuner_prepare(
    widths,
    heights,
    settings: SimpleTunerSettings,
    order=None,
    seed: int = 42,
    aspect_maps: dict | None = None,
    crops: bool = True,
    keys: bool = True,
) -> SimpleTunerPrepared:
    """Every image through SimpleTuner's bucketing, processed in ``order`` (default: as given).

    ``seed`` seeds the generator the random crop and random aspect draw from; ``aspect_maps`` (``{megapixels:
    {key: (w, h)}}``) is the persisted aspect->size map, empty for a fresh run, extended in place. Without
    ``crops`` the crop columns (canvas and offsets) are left at 0 and no crop is drawn (sizes and keys are
    the same: no size depends on a crop, and a crop draw is the last draw of an image); that saves the
    ``randint`` replay of random crops and two columns of every row. Without ``keys`` the key column is
    left at 0 (no size depends on it): a placement, which reads the sizes, saves writing a column.

    >>> prepared = simpletuner_prepare([3000, 1500], [2000, 1000], from_config("area", 1.0))
    >>> [prepared.key_text(row) for row in range(2)], prepared.target_width.tolist(), prepared.target_height.tolist()
    (['1.54', '1.54'], [1280, 1280], [832, 832])
    """
    widths = np.asarray(widths, dtype=np.int64)
    heights = np.asarray(heights, dtype=np.int64)
    count = len(widths)
    # Input order stays None as long as it can: a dataset's rows in order are blocks of slices, and an
    # index array of every row is one more large array to write.
    in_input_order = order is None
    order = None if order is None else np.asarray(order, dtype=np.int64)
    aspect_maps = {} if aspect_maps is None else aspect_maps
    generator = random.Random(seed)
    random_aspect = settings.crop and settings.crop_aspect == "random"
    if (random_aspect and settings.crop_style == "random") or _shares_map(settings):
        # Crop draws and later images' draws or map entries interleave: every crop is drawn, then dropped.
        prepared = _prepare_one_by_one(widths, heights, settings, _indices(order, count), generator, aspect_maps)
        return _without(prepared, crops, keys)
    chosen = None
    if random_aspect:
        kept = meets_resolution_requirements(widths, heights, settings)
        chosen = _random_choices(settings, _indices(order, count), kept, generator)
    crop_generator = generator if crops else None
    whole_order = in_input_order or _is_permutation(order, count)
    if count <= _BLOCK_ROWS or not whole_order:
        rows_order = _indices(order, count)
        prepared = _prepare_rows(
            widths, heights, settings, rows_order, chosen, crop_generator, aspect_maps, crops, whole_order=whole_order
        )
        return _without(prepared, crops, keys)
    in_input_order = in_input_order or bool((order == np.arange(count)).all())
    return _prepare_in_blocks(
        widths, heights, settings, order, chosen, crop_generator, aspect_maps, in_input_order, keys
    )


def _indices(order: np.ndarray | None, count: int) -> np.ndarray:
    """The processing order as row numbers (``None``: the input's)."""
    return np.arange(count) if order is None else order


def _without(prepared: SimpleTunerPrepared, crops: bool, keys: bool) -> SimpleTunerPrepared:
    """``prepared`` with the columns not asked for at 0: the crop columns without ``crops``, the key without
    ``keys``."""
    names = (() if crops else _CROP_COLUMNS) + (() if keys else ("key",))
    count = len(prepared.error)
    return replace(prepared, **{name: np.zeros(count, dtype=_COLUMN_TYPES.get(name, np.int64)) for name in names})


#: Rows prepared at a time when there are many: a block's temporaries stay in the CPU caches.
_BLOCK_ROWS = 1 << 16


def _is_permutation(order: np.ndarray, count: int) -> bool:
    if len(order) != count or count == 0:
        return len(order) == count
    if order.min() < 0 or order.max() >= count:
        return False
    return bool((np.bincount(order, minlength=count) == 1).all())


def _prepare_in_blocks(
    widths, heights, settings, order, chosen, generator, aspect_maps, in_input_order: bool, keys: bool = True
) -> SimpleTunerPrepared:
    """:func:`_prepare_rows` on consecutive blocks of the processing order, which gives the same rows.

    Only two things depend on the rows before: the aspect map (its first target per key, in processing
    order: each block reads and extends the same map, in order) and the generator. A pass draws either the
    random aspects (drawn for every row before this) or the random crops, never both (both at once go one
    by one), so the crops are drawn after all blocks, in one replay over all rows in processing order: the
    very draws of one pass, in one replay long enough to run compiled (:mod:`.python_random`).
    ``in_input_order``: ``order`` is ``0, 1, 2...`` or ``None`` (blocks are then slices). Without
    ``keys`` each block's keys go to one scratch block, and the key column is never written (nor its memory
    touched: it stays 0).
    """
    columns = {name: np.zeros(len(widths), dtype=_COLUMN_TYPES.get(name, np.int64)) for name in _COLUMNS}
    codes_pass = _RatioCodePass(settings)
    scratch_keys = None if keys else np.empty(min(_BLOCK_ROWS, len(widths)))
    copied = tuple(name for name in _SIZE_COLUMNS if keys or name != "key")
    copied += () if generator is None else ("canvas_width", "canvas_height")
    for start in range(0, len(widths), _BLOCK_ROWS):
        # Slices where the order is the input's (the profile's case): no gathering and scattering by index.
        rows = slice(start, start + _BLOCK_ROWS) if in_input_order else order[start : start + _BLOCK_ROWS]
        block_chosen = None if chosen is None else chosen[rows]
        block_widths, block_heights = widths[rows], heights[rows]
        # Slices of the columns are views: the block's sizes may be written straight into them.
        views = {name: columns[name][rows] for name in _SIZE_COLUMNS[1:]} if in_input_order else {}
        if not keys:
            views["key"] = scratch_keys[: len(block_widths)]
        block = _prepare_rows(
            block_widths,
            block_heights,
            settings,
            np.arange(len(block_widths)),
            block_chosen,
            None,
            aspect_maps,
            generator is not None,
            views or None,
            codes_pass=codes_pass,
        )
        for name in copied:
            if getattr(block, name) is not views.get(name):
                columns[name][rows] = getattr(block, name)
    if generator is not None:
        # Every column is 0 on failed rows, and the canvas is 0 where nothing is cropped: no room, no draw.
        columns["crop_left"], columns["crop_top"] = _crop_offsets(
            *(columns[name] for name in ("canvas_width", "canvas_height", "target_width", "target_height")),
            columns["error"] == PlacementError.OK,
            settings.crop_style,
            _indices(order, len(widths)),
            generator,
        )
    return SimpleTunerPrepared(**columns)


def _shares_map(settings: SimpleTunerSettings) -> bool:
    """The downsample call uses the main call's map when both sizes are the same number of megapixels."""
    return _downsamples(settings) and settings.target_downsample_size == settings.resolution


def _downsamples(settings: SimpleTunerSettings) -> bool:
    return settings.crop and bool(settings.maximum_image_size) and bool(settings.target_downsample_size)


def _random_choices(settings, order, kept, generator) -> np.ndarray:
    """``random.choice`` of ``crop_aspect_buckets`` (its index) for each kept image, drawn in processing order.

    With no buckets the trainer raises before drawing; every index stays 0 and the rows fail later.
    """
    chosen = np.zeros(len(kept), dtype=np.int64)
    if settings.crop_aspect_buckets:
        # choice(seq) is seq[_randbelow(len(seq))]: the draws of every kept row, in order, in bulk.
        drawing = order[kept[order]]
        chosen[drawing] = randbelow_many(generator, np.full(len(drawing), len(settings.crop_aspect_buckets)))
    return chosen


def _prepare_one_by_one(widths, heights, settings, order, generator, aspect_maps) -> SimpleTunerPrepared:
    """Images one at a time, for when each image's draws or map entries must follow the previous image's.

    Random aspects and random crops draw from one generator in turn; a downsample size equal to the
    resolution makes both size calls of an image share one map.
    """
    kept = meets_resolution_requirements(widths, heights, settings)
    columns = {name: np.zeros(len(widths), dtype=_COLUMN_TYPES.get(name, np.int64)) for name in _COLUMNS}
    first = np.array([0])
    for row in order.tolist():
        rows = slice(row, row + 1)
        chosen = None
        if settings.crop and settings.crop_aspect == "random":
            chosen = _random_choices(settings, first, kept[rows], generator)
        one = _prepare_rows(widths[rows], heights[rows], settings, first, chosen, generator, aspect_maps)
        for name in _COLUMNS:
            columns[name][row] = getattr(one, name)[0]
    return SimpleTunerPrepared(**columns)


_COLUMNS = (
    "error",
    "key",
    "target_width",
    "target_height",
    "resized_width",
    "resized_height",
    "canvas_width",
    "canvas_height",
    "crop_left",
    "crop_top",
)
_CROP_COLUMNS = ("canvas_width", "canvas_height", "crop_left", "crop_top")
_SIZE_COLUMNS = tuple(name for name in _COLUMNS if name not in _CROP_COLUMNS)
_COLUMN_TYPES = {"error": np.int8, "key": np.float64}  # the others are int64


def _calculate(aspects, resolution, widths, heights, settings, live, order, aspect_map):
    """One call of the resolution's size calculator for every row: ``(tw, th, iw, ih, crashes)``.

    ``live`` rows take part (others are ignored and never touch the map); in ``area`` mode the map is applied
    in processing ``order`` among live rows that do not crash.
    """
    if settings.resolution_type == "pixel":
        return size_by_pixel_edge(aspects, resolution, widths, heights, settings)
    target_w, target_h, inter_w, inter_h, key, shortcut, crashes = size_by_area(
        aspects, resolution, widths, heights, settings
    )
    uses_map = live & ~shortcut & ~crashes
    mapped_w, mapped_h = apply_aspect_map(
        key, target_w, target_h, order[uses_map[order]], aspect_map, settings.aspect_bucket_rounding
    )
    inter_w, inter_h = grow_to_target(mapped_w, mapped_h, inter_w, inter_h, widths, heights)
    return mapped_w, mapped_h, inter_w, inter_h, crashes


def _own_area(settings: SimpleTunerSettings) -> bool:
    """``area`` sizes from each image's own rounded ratio, no downsample: what :func:`_area_sizes` computes."""
    own_ratio = not settings.crop or settings.crop_aspect == "preserve"
    return settings.resolution_type == "area" and own_ratio and not _downsamples(settings)


def _ratio_codes(ratio: np.ndarray, rounding: int) -> np.ndarray:
    """``round(ratio, rounding) * 10**rounding`` as whole float64 numbers: the integer code ``k`` of each
    rounded ratio (which is the double nearest ``k / 10**rounding``), as Python's ``round`` gives it.

    Away from a half, the scaled ratio's nearest whole number (its float error is far smaller than the
    distance to the half); within float noise of one (the test of :func:`round_decimals`) the exact
    scaled value decides (:func:`_codes_at_halves`).
    """
    scale = 10.0**rounding
    scaled = ratio * scale
    codes = np.rint(scaled)
    # The distance to the nearest whole number is that to the half, taken from 0.5; in the scaled array.
    distance = np.abs(np.subtract(scaled, codes, out=scaled), out=scaled)
    near_half = np.flatnonzero(distance > 0.5 - 1e-6)
    if len(near_half):
        codes[near_half] = _codes_at_halves(ratio.take(near_half), scale)
    return codes


def _codes_at_halves(ratio: np.ndarray, scale: float) -> np.ndarray:
    """The codes of ratios whose scaled value is within float noise of a half ``m + 0.5``, as Python's
    ``round`` gives them: it rounds the exact value of the double, half to even.

    ``ratio * scale`` is exactly ``product + error`` (Dekker's product), and ``product - (m + 0.5)`` is
    exact (two doubles this close subtract exactly), so comparing it with ``-error`` tells exactly whether
    the scaled ratio is above, below or at the half; at it, ``m`` is kept when even. About a thousandth of
    random sizes land here; Python's own ``round`` on each took a third of the codes' time.
    """
    product = ratio * scale
    error = _product_error(ratio, scale, product)
    floor = np.floor(product)
    offset = product - (floor + 0.5)
    return floor + ((offset > -error) | ((offset == -error) & (floor % 2 == 1)))


def _product_error(a, b, product) -> np.ndarray:
    """Dekker's exact error of ``product = a * b`` rounded: ``a * b == product + error`` exactly (both
    factors split in halves of 26 bits, whose products are exact)."""
    a_high, a_low = _split(a)
    b_high, b_low = _split(b)
    return ((a_high * b_high - product) + a_high * b_low + a_low * b_high) + a_low * b_low


def _split(values):
    """Veltkamp's split: ``high + low == values`` exactly, each of at most 26 significant bits."""
    spread = values * 134217729.0  # 2**27 + 1
    high = spread - (spread - values)
    return high, values - high


class _RatioCodeTables:
    """What ``area`` mode derives from a rounded ratio alone, per ratio code ``low .. low + len - 1``, kept
    for every block of one pass: building the tables cost as much as a block's rows, and their range is
    the same in every block.

    The own target (``size_by_area``'s, from the rounded ratio) and its map key are fixed. The mapped
    target (and the final key and target after the square rule) is whatever the aspect map holds for that
    key, and the map keeps the first target stored, so once a key is in the map its codes' entries never
    change. The keys the map holds are read when the tables are built, and ``pending`` marks the codes
    whose key it lacks; :meth:`resolve` stores those keys for a block's rows, in processing order, and
    recomputes the mapped entries.
    """

    def __init__(self, settings: SimpleTunerSettings, low: int, high: int, aspect_map: dict):
        self.low, self.high = low, high
        self.rounding = settings.aspect_bucket_rounding
        align = settings.aspect_bucket_alignment
        self.side, _ = pixel_resolution(settings)
        self.edge = int(round_to_alignment(int(np.sqrt(settings.resolution * 1e6)), align))
        aspects = np.arange(low, high + 1) / 10.0**self.rounding  # the rounded ratio of each code
        # size_by_area's per-ratio part; a ratio of 0 (its rows crash) takes 1 so that the tables stay finite.
        root = np.sqrt(np.where(aspects == 0.0, 1.0, aspects))
        self.positive = aspects > 0  # the others' rows fail: a ratio of 0 crashes, below it a size is negative
        self.own_w = round_to_alignment(self.edge * root, align)
        self.own_h = round_to_alignment(self.edge / root, align)
        # Whether the image is fitted by its width (a narrower target) as a 0/1 float (a blend by
        # multiplication is cheaper than a selection), and the side it is fitted by, the shorter, as a float
        # for the rows' arithmetic (a whole number: exact): one gather serves both orientations.
        self.by_width = (self.own_w < self.own_h).astype(np.float64)
        self.short_side = np.minimum(self.own_w, self.own_h).astype(np.float64)
        self.map_keys, self.key_of_code = np.unique(
            round_decimals(self.own_w / self.own_h, self.rounding), return_inverse=True
        )
        self.key_of_code = self.key_of_code.ravel()
        one = round(10.0**self.rounding) - low  # the entry of ratio 1, whose square images skip the map
        self.ratio_one = one if 0 <= one <= high - low else -1  # -1: outside the tables (no entry is -1)
        self.key_known = np.zeros(len(self.map_keys), dtype=bool)
        self.key_w = np.zeros(len(self.map_keys), dtype=np.int64)
        self.key_h = np.zeros(len(self.map_keys), dtype=np.int64)
        for position, key in enumerate(self.map_keys.tolist()):
            if key in aspect_map:
                self.key_known[position] = True
                self.key_w[position], self.key_h[position] = aspect_map[key]
        self._mapped_entries()

    def covers(self, low: float, high: float) -> bool:
        """Whether codes ``low .. high`` all have an entry."""
        return self.low <= low and high <= self.high

    def resolve(self, index: np.ndarray, uses_map: np.ndarray, order: np.ndarray, aspect_map: dict) -> None:
        """The map's side for a block: each key of a map row (``uses_map``) with a pending code, which the
        map lacks, is stored with the own target of its first row in ``order`` (as :func:`apply_aspect_map`
        does); ``index`` is each row's entry."""
        pending = self.pending.take(index)
        if not pending.any() or not (pending := pending & uses_map).any():
            return  # most blocks: the keys of all their codes are known
        rows = order.compress(pending.take(order))  # in processing order
        codes = index.take(rows)
        keys, first = np.unique(self.key_of_code.take(codes), return_index=True)  # keys ascending, as listed
        first_codes = codes.take(first)
        for key, code in zip(keys.tolist(), first_codes.tolist(), strict=True):
            stored = aspect_map.setdefault(float(self.map_keys[key]), (int(self.own_w[code]), int(self.own_h[code])))
            self.key_w[key], self.key_h[key] = stored
        self.key_known[keys] = True
        self._mapped_entries()

    def _mapped_entries(self) -> None:
        """Each code's mapped target (its own while its key is pending), final key, square flag and final
        target (the resolution's square for key 1), from the keys looked up so far."""
        known = self.key_known.take(self.key_of_code)
        self.pending = ~known
        mapped_w = np.where(known, self.key_w.take(self.key_of_code), self.own_w)
        mapped_h = np.where(known, self.key_h.take(self.key_of_code), self.own_h)
        self.mapped_w_f, self.mapped_h_f = mapped_w.astype(np.float64), mapped_h.astype(np.float64)
        self.key = round_decimals(mapped_w / mapped_h, self.rounding)
        self.square = self.key == 1.0
        self.target_w = np.where(self.square, self.side, mapped_w)
        self.target_h = np.where(self.square, self.side, mapped_h)
        # The entries whose rows may be squares, as a range: those of key 1, and ratio 1 (its square images
        # skip the map). A pending code's final key is its map key, and stays so once that key is stored
        # (the target stored for a key has that key): the range holds for the block that stores it. A few
        # codes around ratio 1 (failed rows' codes, whose targets may be square too, are left out): a block
        # finds their rows in one pass.
        entries = np.flatnonzero(self.square & self.positive)
        if self.ratio_one >= 0:
            entries = np.append(entries, self.ratio_one)
        self.near_square = (int(entries.min()), int(entries.max())) if len(entries) else None

    def near_square_rows(self, index: np.ndarray) -> np.ndarray:
        """The rows whose entry is in :attr:`near_square` (every square row, and a few others)."""
        if self.near_square is None:
            return np.zeros(0, dtype=np.intp)
        first, last = self.near_square
        # Entries below the range wrap to large unsigned numbers: one comparison tests both ends.
        return np.flatnonzero(np.subtract(index, first).view(np.uint64) <= last - first)


class _RatioCodePass:
    """The ratio-code tables of one pass over the rows, widened when a block's codes leave their range."""

    def __init__(self, settings: SimpleTunerSettings):
        self.settings = settings
        self.tables: _RatioCodeTables | None = None

    def tables_for(self, low: float, high: float, aspect_map: dict) -> _RatioCodeTables:
        """Tables covering codes ``low .. high`` (a block's); built again over both ranges and an eighth
        more on the side that grew when they do not (blocks of one dataset reach a little further now and
        then), unless that spans more than half the codes one block may (then over the block's own)."""
        tables = self.tables
        if tables is not None and tables.covers(low, high):
            return tables
        if tables is not None and max(high, tables.high) - min(low, tables.low) < _MOST_TABLE_CODES // 2:
            margin = (max(high, tables.high) - min(low, tables.low)) // 8
            # Not below 0 unless the block is: a negative ratio gives no target (a failed row's).
            low = min(low, tables.low) if low >= tables.low else min(low, max(low - margin, 0))
            high = max(high, tables.high) if high <= tables.high else high + margin
        self.tables = _RatioCodeTables(self.settings, int(low), int(high), aspect_map)
        return self.tables


def _area_sizes(widths, heights, settings, order, live, aspect_map, out: dict | None = None, codes_pass=None):
    """``(key, target_w, target_h, inter_w, inter_h, crashes)`` of ``area`` mode from each image's own
    ratio, as :func:`_calculate` and the key rules after it give them, or ``None`` when the ratio codes
    spread too widely (then the caller computes row by row). ``out`` (arrays by column name: views of the
    caller's result) receives the five size columns, which are then those very arrays. ``codes_pass``
    keeps the tables for the next block of the same pass.

    Everything that depends on the rounded ratio alone (the target, its map key, the mapped target and
    the final key) is computed once per ratio code, in :class:`_RatioCodeTables`, and gathered by each
    row's code; only the intermediary size (from the image's exact ratio) and its growth to the mapped
    target are computed per row. The aspect map is read and extended as :func:`apply_aspect_map` does: a
    key it lacks takes the target of its first row in ``order``.
    """
    count = len(widths)
    if count == 0:
        return None
    ratio = np.divide(widths, heights)  # as float64 / float64
    codes = _ratio_codes(ratio, settings.aspect_bucket_rounding)
    low, high = float(codes.min()), float(codes.max())
    if not high - low < _DENSE_CODES_PER_ROW * count + 1024:
        return None
    tables = (codes_pass or _RatioCodePass(settings)).tables_for(low, high, aspect_map)
    side, edge = tables.side, tables.edge
    index = np.subtract(codes, tables.low, out=np.empty(count, dtype=np.intp), casting="unsafe")  # each row's entry
    # Square images of ratio 1 never touch the map (their target is the edge); ratio 0 crashes (divides by
    # 0). Both are rare: found as row numbers, and only they are taken out of the map's rows.
    near_square = tables.near_square_rows(index)  # square and ratio-1 rows among them
    near_entries = index.take(near_square)
    shortcut = near_square[(near_entries == tables.ratio_one) & (widths.take(near_square) == heights.take(near_square))]
    crashes = np.zeros(count, dtype=bool)
    has_zero = low <= 0 <= high  # a ratio of 0; codes below it (negative sizes) are failed rows
    uses_map = live
    if len(shortcut) or has_zero:
        uses_map = live.copy()
        uses_map[shortcut] = False
    if has_zero:
        crash_rows = np.flatnonzero(index == -tables.low)
        crashes[crash_rows] = True
        uses_map[crash_rows] = False
    tables.resolve(index, uses_map, order, aspect_map)
    # Per row: the intermediary size from the image's own ratio, grown to the mapped target.
    # Fitted by the width: (target_w, trunc(target_w / ratio)), else (trunc(target_h * ratio), target_h);
    # the fitted side is the target's shorter, so both are (short, trunc(short / ratio)) and
    # (trunc(short * ratio), short), blended with a 0/1 float per row (exact on whole numbers; cheaper than
    # two selections). Gathers write into fresh arrays, or with mode="wrap" (every entry is valid) straight
    # into out: numpy's default mode gathers into a temporary and copies it there.
    short, by_w = tables.short_side.take(index), tables.by_width.take(index)
    inter_w = np.trunc(np.multiply(short, ratio))
    inter_w += np.multiply(np.subtract(short, inter_w), by_w)
    inter_h = np.trunc(np.divide(short, ratio))
    inter_h -= short
    inter_h *= by_w
    inter_h += short
    # Grown to the mapped target, in floats (the same whole numbers: no conversion in every operation).
    grow_w, grow_h = tables.mapped_w_f.take(index), tables.mapped_h_f.take(index)
    inter_w, inter_h = _grow(grow_w, grow_h, inter_w, inter_h, ratio)
    # The key of the mapped target; ratio 1 buckets are the resolution's square, and enlarge small images.
    out = out or {}
    key = tables.key.take(index, out=out.get("key"), mode="wrap")
    small = near_square[tables.square.take(near_entries) & (inter_w.take(near_square) < side)]
    inter_w[small] = inter_h[small] = side
    # The final targets, whole.
    target_w = tables.target_w.take(index, out=out.get("target_width"), mode="wrap")
    target_h = tables.target_h.take(index, out=out.get("target_height"), mode="wrap")
    # shortcut rows: edge-sized, key 1, then the same square rule.
    key[shortcut], target_w[shortcut], target_h[shortcut] = 1.0, side, side
    inter_w[shortcut] = inter_h[shortcut] = max(edge, side)
    resized = (
        _as_int(inter, out.get(name)) for inter, name in ((inter_w, "resized_width"), (inter_h, "resized_height"))
    )
    return key, target_w, target_h, *resized, crashes


#: The most codes a table spans when it is widened for a block (one block may span this many by itself).
_MOST_TABLE_CODES = _DENSE_CODES_PER_ROW * _BLOCK_ROWS + 1024


def _as_int(values: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """Whole float64 numbers as int64, written into ``out`` when there is one."""
    if out is None:
        return values.astype(np.int64)
    np.copyto(out, values, casting="unsafe")
    return out


def _store_or_read(aspect_map: dict, distinct: np.ndarray, missing: list, stored_w, stored_h) -> None:
    """The map's side of a pass: keys it lacked (their positions in ``distinct``, ``missing``) get the
    targets found for them; the others' targets are read from it into ``stored_w``/``stored_h``."""
    missing_set = set(missing)
    for position, key in enumerate(distinct.tolist()):
        if position in missing_set:
            aspect_map[key] = (int(stored_w[position]), int(stored_h[position]))
        else:
            stored_w[position], stored_h[position] = aspect_map[key]


def _grow(target_w, target_h, inter_w, inter_h, ratio):
    """:func:`grow_to_target` in float64 (whole numbers), without masks.

    ``short_w = max(target_w - inter_w, 0)`` is the width's growth where the target is wider (else 0); the
    height's growth counts only where it is not, which ``short_h - 2**32 * short_w`` (negative as soon as
    ``short_w >= 1``) clips to 0. A wider row grows ``short_w`` and ``trunc(short_w / ratio)``, a taller one
    ``trunc(short_h * ratio)`` and ``short_h``; in the others both are 0, so one formula serves all rows.
    """
    short_w = np.maximum(np.subtract(target_w, inter_w), 0.0)
    short_h = np.subtract(target_h, inter_h)
    short_h = np.maximum(np.subtract(short_h, np.multiply(short_w, 2.0**32), out=short_h), 0.0, out=short_h)
    inter_w += short_w
    inter_w += np.trunc(np.multiply(short_h, ratio))
    inter_h += short_h
    inter_h += np.trunc(np.divide(short_w, ratio, out=short_w), out=short_w)
    return inter_w, inter_h


def _prepare_rows(
    widths,
    heights,
    settings,
    order,
    chosen,
    generator,
    aspect_maps,
    canvas: bool = True,
    out: dict | None = None,
    whole_order: bool = True,
    codes_pass: _RatioCodePass | None = None,
) -> SimpleTunerPrepared:
    """All images in one pass; ``chosen`` holds the random ``crop_aspect_buckets`` index of each, if drawn.

    Without a ``generator`` the crop offsets are left at 0 (the caller draws them, or does not want them);
    without ``canvas`` the canvas too. ``out``: where :func:`_area_sizes` may write the size columns.
    ``whole_order``: ``order`` holds every row once (:func:`_area_sizes` counts every row's key for the
    map, so a part of the rows, or a row twice, goes row by row). ``codes_pass``: the ratio-code tables
    of the pass this block belongs to.
    """
    count = len(widths)
    rounding = settings.aspect_bucket_rounding
    side, target_area = pixel_resolution(settings)
    live = meets_resolution_requirements(widths, heights, settings)
    errors = np.where(live, np.int8(PlacementError.OK), np.int8(PlacementError.TOO_SMALL))
    main_map = aspect_maps.setdefault(settings.resolution, {})
    tables = whole_order and _own_area(settings)
    by_codes = _area_sizes(widths, heights, settings, order, live, main_map, out, codes_pass) if tables else None
    if by_codes is not None:
        key, target_w, target_h, inter_w, inter_h, crashes = by_codes
        if crashes.any():
            errors = np.where(live & crashes, np.int8(PlacementError.TRAINER_CRASH), errors)
            live = errors == PlacementError.OK
        sizes = (key, target_w, target_h, inter_w, inter_h)
        return _crop_and_assemble(widths, settings, order, generator, errors, live, sizes, canvas)
    own_aspect = round_decimals(widths / heights, rounding)
    square = settings.crop and settings.crop_aspect == "square"
    if square:
        aspects = np.ones(count)
    elif settings.crop and settings.crop_aspect in ("closest", "random"):
        aspects, refused = _bucket_aspects(settings, own_aspect, chosen)
        errors = np.where(live & refused, np.int8(PlacementError.TRAINER_ERROR), errors)
        live = errors == PlacementError.OK
    else:
        aspects = own_aspect
    target_w, target_h, inter_w, inter_h, crashes = _calculate(
        aspects, settings.resolution, widths, heights, settings, live, order, main_map
    )
    errors = np.where(live & crashes, np.int8(PlacementError.TRAINER_CRASH), errors)
    live = errors == PlacementError.OK
    key = np.ones(count) if square else round_decimals(target_w / target_h, rounding)
    small_square = (key == 1.0) & (inter_w < side)
    inter_w, inter_h = np.where(small_square, side, inter_w), np.where(small_square, side, inter_h)
    if not square:
        target_w, target_h = np.where(key == 1.0, side, target_w), np.where(key == 1.0, side, target_h)
    else:
        target_w, target_h = np.full(count, side), np.full(count, side)
    canvas_w, canvas_h = inter_w.copy(), inter_h.copy()
    if _downsamples(settings):
        before = _resize_before_crop(widths, heights, target_w, target_h, settings, target_area)
        down_map = aspect_maps.setdefault(settings.target_downsample_size, {})
        down = _calculate(
            own_aspect, settings.target_downsample_size, widths, heights, settings, live & before, order, down_map
        )
        errors = np.where(live & before & down[4], np.int8(PlacementError.TRAINER_CRASH), errors)
        live = errors == PlacementError.OK
        down_w, down_h = _fit_canvas(down[2], down[3], target_w, target_h)
        canvas_w, canvas_h = np.where(before, down_w, canvas_w), np.where(before, down_h, canvas_h)
    sizes = (key, target_w, target_h, inter_w, inter_h)
    return _crop_and_assemble(widths, settings, order, generator, errors, live, sizes, canvas, (canvas_w, canvas_h))


def _crop_and_assemble(
    widths, settings, order, generator, errors, live, sizes, canvas: bool, downsampled=None
) -> SimpleTunerPrepared:
    """The crop (the canvas, ``inter`` unless a ``downsampled`` one replaces it, and its offsets) and the
    failed rows zeroed, as the trainer skips them. Without ``canvas`` the crop columns are not computed:
    all four are one read-only view of a zero, which costs no memory (the blocks of a pass drop them,
    :func:`simpletuner_prepare` hands out columns of their own)."""
    count = len(widths)
    _, target_w, target_h, inter_w, inter_h = sizes
    # Every size column is an array of this call's own, none shared: failed rows are zeroed in place.
    failed = np.flatnonzero(~live)
    for column in sizes:
        column[failed] = 0
    if not canvas:  # (without the canvas there is no generator either: nothing is drawn)
        return SimpleTunerPrepared(errors, *sizes, *[np.broadcast_to(np.int64(0), (count,))] * len(_CROP_COLUMNS))
    canvas_w, canvas_h = downsampled or (inter_w, inter_h)
    cropped = live if settings.crop else live & ((target_w != inter_w) | (target_h != inter_h))
    crop_columns = [np.where(cropped, canvas_w, 0), np.where(cropped, canvas_h, 0)]
    if generator is None:
        crop_columns += [np.zeros(count, dtype=np.int64), np.zeros(count, dtype=np.int64)]
    else:
        crop_columns += _crop_offsets(*crop_columns, target_w, target_h, cropped, settings.crop_style, order, generator)
    return SimpleTunerPrepared(errors, *sizes, *crop_columns)


def _bucket_aspects(settings, own_aspect, chosen) -> tuple[np.ndarray, np.ndarray]:
    """The ``crop_aspect_buckets`` ratio of each image (closest, or the ``chosen`` index) and which the trainer refuses.

    Its size calculators raise for a ratio that is not a Python float (an integer such as ``1`` in the
    config), and ``_select_random_aspect`` raises when there are no buckets; those images are skipped.
    """
    buckets = settings.crop_aspect_buckets
    if not buckets:
        return np.ones(len(own_aspect)), np.ones(len(own_aspect), dtype=bool)
    values = np.asarray(buckets, dtype=np.float64)
    if chosen is None:
        chosen = np.abs(values[None, :] - own_aspect[:, None]).argmin(axis=1)
    not_float = np.array([type(bucket) is not float for bucket in buckets])
    return values[chosen], not_float[chosen]


def _resize_before_crop(widths, heights, target_w, target_h, settings, target_area) -> np.ndarray:
    """``TrainingSample._should_resize_before_crop`` (crop, maximum and downsample sizes all set)."""
    if settings.resolution_type == "pixel":
        side = int(settings.resolution)
        return (widths != side) | (heights != side)
    area = widths * heights
    return (area != target_area) | (widths < target_w) | (heights < target_h)


def _fit_canvas(canvas_w, canvas_h, target_w, target_h):
    """``_calculate_target_downsample_size``: a canvas narrower or shorter than the target is scaled up to it."""
    narrow = canvas_w < target_w
    short = ~narrow & (canvas_h < target_h)
    with np.errstate(divide="ignore", invalid="ignore"):
        wide_h = _truncate(canvas_h * (target_w / np.maximum(canvas_w, 1)))
        tall_w = _truncate(canvas_w * (target_h / np.maximum(canvas_h, 1)))
    return np.where(narrow, target_w, np.where(short, tall_w, canvas_w)), np.where(
        narrow, wide_h, np.where(short, target_h, canvas_h)
    )


def _crop_offsets(canvas_w, canvas_h, target_w, target_h, cropped, style, order, generator):
    """The croppers: centre ``int((canvas - target) / 2)``, corner ``(0, 0)``, ``randint`` where there is room."""
    if style in ("center", "centre"):
        left = np.maximum(0, _truncate((canvas_w - target_w) / 2))
        top = np.maximum(0, _truncate((canvas_h - target_h) / 2))
        return np.where(cropped, left, 0), np.where(cropped, top, 0)
    left = np.zeros(len(canvas_w), dtype=np.int64)
    top = np.zeros(len(canvas_w), dtype=np.int64)
    if style == "corner":
        return left, top
    room_w = np.where(cropped, np.maximum(0, canvas_w - target_w), 0)
    room_h = np.where(cropped, np.maximum(0, canvas_h - target_h), 0)
    # The trainer's draws in its order: for each row, randint(0, room) (randrange(room + 1)) for the left
    # offset, then for the top, each only where there is room; made in bulk, then put back in their rows.
    rooms = np.stack([room_w[order], room_h[order]], axis=1).ravel()
    drawn = rooms > 0
    offsets = np.zeros(len(rooms), dtype=np.int64)
    offsets[drawn] = randbelow_many(generator, rooms[drawn] + 1)
    left[order], top[order] = offsets[0::2], offsets[1::2]
    return left, top
