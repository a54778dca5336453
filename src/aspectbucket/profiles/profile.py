"""What a trainer profile is: a declarative description of how one trainer buckets, and placement by it.

A profile names parts from :mod:`aspectbucket.geometry` (bucket-list rule, metric, tie-break,
upscale rule, crop rule, batch rule, EXIF handling, the SDXL coordinates it reports); :func:`place`
composes them. There is no class per trainer: adding a trainer means adding one :class:`Profile`.
"""

from __future__ import annotations

import ctypes
import os
import platform
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache, lru_cache

import numpy as np

from aspectbucket.geometry.batches import BatchPolicy
from aspectbucket.geometry.nearest import Metric, TieBreak, nearest_bucket
from aspectbucket.geometry.no_upscale import corrected_no_upscale, kohya_no_upscale
from aspectbucket.geometry.options import BucketOptions, validate_options
from aspectbucket.geometry.placement import (
    CropAnchor,
    Placement,
    PlacementError,
    SdxlCoordinates,
    assemble_placement,
    check_sizes,
)
from aspectbucket.geometry.resize import CoverRounding, cover_resize, cover_resize_rounded
from aspectbucket.geometry.several_resolutions import TargetDraw
from aspectbucket.profiles.settings import Kind, Setting


class NoUpscaleRule(StrEnum):
    """How a profile places images when upscaling is off (``bucket_no_upscale``)."""

    KOHYA = "kohya"  # no list: sd-scripts' own rounding, with the step loss of issue 731
    CORRECTED = "corrected"  # no list: the same idea without the step loss
    MUSUBI = "musubi"  # list kept; an image within the area budget keeps its size floored to the step
    FALLBACK = "fallback"  # list kept; an image its bucket would enlarge gets the corrected own-size bucket
    UNSUPPORTED = "unsupported"  # the trainer has no such mode


#: Rules under which the trainer has no bucket list when upscaling is off.
_LISTLESS = (NoUpscaleRule.KOHYA, NoUpscaleRule.CORRECTED)


class ExifHandling(StrEnum):
    """Whether a trainer reads the EXIF orientation before measuring and decoding an image."""

    IGNORE = "ignore"
    APPLY = "apply"


@dataclass(frozen=True)
class Profile:
    """How one trainer buckets; every field is a rule from the geometry layer or a plain value.

    ``bucket_list`` returns the trainer's bucket list for some options, or is ``None`` for trainers
    with no fixed list; those have a ``per_image`` rule (``geometry/ai_toolkit.py``, ``simpletuner.py``)
    instead. A rule returns ``(bucket_w, bucket_h, errors)``, or ``(..., resized_w, resized_h)`` when the
    trainer's resize is not a plain cover of the bucket (SimpleTuner) or the rule has it at hand, and may
    add the ratio error ``bucket_w / bucket_h - width / height`` it computed on the way (ai-toolkit: from its
    float sizes, which saves dividing the integer columns again). ``whole_dataset`` rules depend on
    the images placed before (SimpleTuner's aspect map), so the rows are never split into blocks.
    ``source`` cites the repository, file and commit the rules were read from.
    ``random_crop`` says whether the trainer, as configured, draws the kept window at random (else
    centred); the sampler's dataset and the Python export follow it unless told otherwise.
    ``max_ar_error`` drops images whose ``|bucket w/h - image w/h|`` reaches it (NovelAI);
    ``max_crop`` moves images whose bucket would cut more than that fraction of the resized image
    to their own-ratio bucket (``balanced``). ``defects`` is what users of this trainer should know.

    ``settings`` are the trainer's own settings (:mod:`aspectbucket.profiles.settings`); a profile
    that declares none gets one per ``option_names`` pair (trainer name, :class:`BucketOptions` field).
    ``configure`` turns the settings that change the rule itself into a variant of the profile:
    ``configure(profile, values, options) -> (profile, options)``. ``per_row`` is a per-image rule
    that also needs each image's position in the dataset (OneTrainer draws a resolution per item):
    ``per_row(widths, heights, rows, options)``. ``version`` is the commit reproduced, as in
    ``name@version``. ``target_draw`` is set when each image draws its target resolution (OneTrainer with
    several): reports show each image's side and whether it is drawn once or every epoch.
    """

    name: str
    trainer: str
    source: str
    bucket_list: Callable[[BucketOptions], np.ndarray] | None
    metric: Metric = Metric.WIDTH_OVER_HEIGHT
    tie_break: TieBreak = TieBreak.FIRST
    exact_size_first: bool = False
    no_upscale: NoUpscaleRule = NoUpscaleRule.UNSUPPORTED
    random_crop: bool = True
    sdxl_coordinates: SdxlCoordinates = SdxlCoordinates.REAL
    batch_policy: BatchPolicy = BatchPolicy.SHORT
    exif: ExifHandling = ExifHandling.IGNORE
    defaults: BucketOptions = field(default_factory=BucketOptions)
    validate: Callable[[BucketOptions], tuple[BucketOptions, list[str]]] = validate_options
    per_image: Callable[[np.ndarray, np.ndarray, BucketOptions], tuple] | None = None
    resize_rounding: CoverRounding = CoverRounding.HALF_UP
    crop_anchor: CropAnchor = CropAnchor.CENTER
    max_ar_error: float | None = None
    max_crop: float | None = None
    whole_dataset: bool = False
    option_names: tuple[tuple[str, str], ...] = ()
    defects: str = ""
    settings: tuple[Setting, ...] = ()
    configure: Callable | None = None
    per_row: Callable | None = None
    version: str = ""
    target_draw: TargetDraw | None = None


def declared_settings(profile: Profile) -> tuple[Setting, ...]:
    """The trainer's own settings of ``profile``: declared ones, or one per ``option_names`` pair."""
    if profile.settings:
        return profile.settings
    kinds = {"resolution": Kind.SIZE, "bucket_no_upscale": Kind.BOOL}
    # A profile without names of its own takes kohya's (the BucketOptions fields).
    pairs = profile.option_names or tuple((name, name) for name in _KOHYA_NAMES)
    return tuple(
        Setting(
            name,
            kinds.get(field_name, Kind.INT),
            getattr(profile.defaults, field_name),
            f"sets {field_name}",
            field=field_name,
        )
        for name, field_name in pairs
    )


_KOHYA_NAMES = ("resolution", "min_bucket_reso", "max_bucket_reso", "bucket_reso_steps", "bucket_no_upscale")


def trainer_settings(profile: Profile, options: BucketOptions) -> dict:
    """``options`` under the trainer's own names where they differ from kohya's (``{"quantization": 64}``)."""
    pairs = [(setting.name, setting.field) for setting in profile.settings if setting.field is not None]
    values = {}
    for trainer_name, field_name in pairs or profile.option_names:
        value = getattr(options, field_name)
        values[trainer_name] = list(value) if isinstance(value, tuple) else value
    return values


@lru_cache(maxsize=64)
def profile_bucket_list(profile: Profile, options: BucketOptions) -> np.ndarray:
    """The profile's bucket list at validated ``options`` as an ``(n, 2)`` array; empty if it has none.

    Cached and read-only: every block of a large placement asks for it.
    """
    listless = options.bucket_no_upscale and profile.no_upscale in _LISTLESS
    if profile.bucket_list is None or profile.per_row is not None or listless:
        buckets = np.zeros((0, 2), dtype=np.int64)
    else:
        buckets = profile.bucket_list(options)
    buckets.flags.writeable = False
    return buckets


#: Rows placed as one block. A block's temporaries (a few dozen arrays of this length) stay in the
#: CPU caches instead of streaming through memory, and blocks run on every core (numpy releases the GIL).
BLOCK_ROWS = 65_536

#: The columns each block computes; width and height are the caller's own arrays. ``ar_error`` is
#: derived, but every caller reads it (sd-scripts' ``select_bucket`` returns it too), so blocks fill it.
_BLOCK_COLUMNS = (
    ("error", np.int8),
    ("bucket_index", np.int64),
    ("bucket_width", np.int64),
    ("bucket_height", np.int64),
    ("resized_width", np.int64),
    ("resized_height", np.int64),
    ("ar_error", np.float64),
)


def place_by_profile(widths, heights, options: BucketOptions, profile: Profile) -> Placement:
    """Place every image ``(widths[i], heights[i])`` by ``profile`` at validated ``options``.

    Bad sizes never raise: their rows carry a :class:`PlacementError`. More than :data:`BLOCK_ROWS`
    images are placed block by block on a thread per core; every row depends on its own size only,
    so the result is the same.
    """
    widths, heights, errors = check_sizes(widths, heights)
    if len(widths) > BLOCK_ROWS:
        keep_freed_block_memory()  # whole-dataset rules work in blocks of their own too (SimpleTuner's)
    if len(widths) <= BLOCK_ROWS or profile.whole_dataset:
        return _place_block(widths, heights, errors, options, profile, 0)
    columns = {name: np.empty(len(widths), dtype) for name, dtype in _BLOCK_COLUMNS}

    def place_rows(start: int) -> dict:
        rows = slice(start, start + BLOCK_ROWS)
        # The block writes its columns into these views of the output: no block arrays, no copies.
        out = {name: column[rows] for name, column in columns.items()}
        block = _place_block(widths[rows], heights[rows], errors[rows], options, profile, start, out)
        return {"sdxl": block.sdxl, "no_upscale_budget": block.no_upscale_budget, "anchor": block.anchor}

    mapper = _thread_pool().map if _worker_count() > 1 else map
    settings, *_ = mapper(place_rows, range(0, len(widths), BLOCK_ROWS))
    columns["known_ar_error"] = columns.pop("ar_error")
    return Placement(widths, heights, **columns, **settings)


#: glibc's ``mallopt`` parameters (``malloc.h``) and the values :func:`keep_freed_block_memory` gives them.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_BYTES = 32 << 20  # the most glibc's own adaptive threshold reaches
_TRIM_THRESHOLD_BYTES = 64 << 20  # twice it, as glibc's adaptive rule sets it


@cache
def keep_freed_block_memory() -> bool:
    """Let glibc keep the memory of freed block temporaries instead of handing it back to the kernel.

    By default glibc maps each array over 128 KiB on its own and unmaps it when freed, and trims the heap
    whenever more than about 1 MiB at its top is free. A block's few dozen 512 KiB temporaries are then
    page-faulted in again (and zeroed by the kernel) in every block: measured, that took 70% of the time
    of placing a block (3.5 ms of 4.5 ms for kohya's rule). glibc raises both thresholds by itself once
    a large enough array has been freed (up to 32 MiB and 64 MiB), so how fast placement ran depended on
    what the process did before. Here they are set to those values at once: block temporaries (and
    diffusers' 20 MiB distance matrices) come from the heap and stay there, arrays of 32 MiB and more
    (the output columns of millions of rows) get their own mapping and go back to the kernel when freed.
    Done once per process, at the first placement large enough to be split into blocks; elsewhere than
    glibc nothing changes (returns False).
    """
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES) and mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES))


def _worker_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@cache
def _thread_pool() -> ThreadPoolExecutor:
    """One pool for the process, made on first use: placement is called often and must not pay for threads."""
    return ThreadPoolExecutor(max_workers=_worker_count(), thread_name_prefix="aspectbucket-place")


if hasattr(os, "register_at_fork"):
    # A forked child (a DataLoader worker, say) inherits the pool object but not its threads: it makes its own.
    os.register_at_fork(after_in_child=_thread_pool.cache_clear)


def _place_block(widths, heights, errors, options, profile, first_row: int, out: dict | None = None) -> Placement:
    """Place one block of rows; ``out`` (views of the output's columns, by name) receives its columns."""
    if options.bucket_no_upscale and profile.no_upscale in _LISTLESS:
        return _place_without_upscale(widths, heights, errors, options, profile, out)
    if profile.per_image is not None or profile.per_row is not None:
        if profile.per_row is not None:
            rows = np.arange(first_row, first_row + len(widths))
            bucket_w, bucket_h, rule_errors, *rule_extra = profile.per_row(widths, heights, rows, options)
        else:
            bucket_w, bucket_h, rule_errors, *rule_extra = _per_image_rule(widths, heights, errors, options, profile)
        # Rows that failed the size check keep their reason; without any (the usual case) the rule's codes
        # are copied as they are, a quarter of the selection's time (the rule's array stays the rule's).
        if errors.any():
            errors = np.where(errors == PlacementError.OK, rule_errors, errors)
        else:
            errors = np.array(rule_errors, dtype=np.int8)
        index = np.full(len(widths), -1, dtype=np.int64)
        rule_resized, ar_error = tuple(rule_extra[:2]), (rule_extra[2] if len(rule_extra) > 2 else None)
        image_ratio = bucket_ratio = None
        width_f, height_f = widths, heights
    else:
        rule_resized = ()
        buckets = profile_bucket_list(profile, options)
        table = _bucket_table(profile, options)
        # The sizes as floats once: every float operation below would convert them again.
        width_f, height_f = widths.astype(np.float64), heights.astype(np.float64)
        image_ratio = np.divide(width_f, height_f)  # computed once: the search and the resize both need it
        index = nearest_bucket(
            buckets,
            widths,
            heights,
            profile.metric,
            profile.tie_break,
            profile.exact_size_first,
            image_ratio,
            (width_f, height_f),
        )
        # mode="wrap" (the indices are all valid) lets take write into out without a temporary copy of it.
        bucket_w = table.widths.take(index, out=_column(out, "bucket_width", len(index)), mode="wrap")
        bucket_h = table.heights.take(index, out=_column(out, "bucket_height", len(index)), mode="wrap")
        bucket_ratio = table.ratios.take(index)
        # The same float operations as the trainers' own.
        ar_error = np.subtract(bucket_ratio, image_ratio, out=_column(out, "ar_error", len(index), np.float64))
    if profile.max_ar_error is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            signed_error = bucket_w / bucket_h - widths / heights if ar_error is None else ar_error
            too_far = np.abs(signed_error) >= profile.max_ar_error
        errors = np.where((errors == PlacementError.OK) & too_far, np.int8(PlacementError.RATIO_TOO_EXTREME), errors)
    if rule_resized:
        resized_w, resized_h = rule_resized
    else:
        resized_w, resized_h = _cover_block(
            (width_f, height_f), (bucket_w, bucket_h), profile, image_ratio, bucket_ratio, out
        )
    own = _own_size_rows(widths, heights, resized_w, resized_h, bucket_w, bucket_h, options, profile)
    if own.any():
        # Only the few rows that leave the list are computed again (every rule here works row by row).
        rows = np.flatnonzero(own)
        own_sizes = widths[rows], heights[rows]
        own_bucket, own_resized = _own_size_buckets(*own_sizes, options, profile)
        bucket_w, bucket_h, resized_w, resized_h = (
            _with_rows(column, rows, values, out)
            for column, values in zip(
                (bucket_w, bucket_h, resized_w, resized_h), (*own_bucket, *own_resized), strict=True
            )
        )
        index[rows] = -1
        if ar_error is not None:
            # Those rows' ratio error, with the float operations Placement.ar_error derives it with (a
            # 0-pixel side is an error row, zeroed when the placement is assembled).
            with np.errstate(divide="ignore", invalid="ignore"):
                ar_error[rows] = own_bucket[0] / own_bucket[1] - own_sizes[0] / own_sizes[1]
    return assemble_placement(
        widths,
        heights,
        errors,
        index,
        bucket_w,
        bucket_h,
        resized_w,
        resized_h,
        profile.sdxl_coordinates,
        anchor=profile.crop_anchor,
        ar_error=ar_error,
        out=out,
    )


def _own_size_buckets(widths, heights, options, profile) -> tuple[tuple, tuple]:
    """``((bucket_w, bucket_h), (resized_w, resized_h))`` of images placed in a bucket of their own size."""
    area, step = options.max_area, options.bucket_reso_steps
    if profile.no_upscale is NoUpscaleRule.MUSUBI:
        own_w, own_h = widths - widths % step, heights - heights % step
    else:
        own_w, own_h, _, _ = corrected_no_upscale(widths, heights, area, step)
        # The largest side the user allows still holds (the rest of a very long side is cropped).
        own_w = np.minimum(own_w, options.max_bucket_reso)
        own_h = np.minimum(own_h, options.max_bucket_reso)
    # Scaled down to cover its own bucket (never enlarged: the bucket fits inside the image).
    resized = cover_resize_rounded(widths, heights, np.maximum(own_w, 1), np.maximum(own_h, 1), profile.resize_rounding)
    return (own_w, own_h), resized


def _with_rows(column: np.ndarray, rows: np.ndarray, values: np.ndarray, out: dict | None) -> np.ndarray:
    """``column`` with ``rows`` set to ``values``: in place in the output's own view, else in a copy (a
    rule's array is not ours to change)."""
    if out is None or not any(column is view for view in out.values()):
        column = column.copy()
    column[rows] = values
    return column


def _column(out: dict | None, name: str, length: int, dtype=np.int64) -> np.ndarray:
    """The output's own view for column ``name`` when placing into one, else a new array."""
    return np.empty(length, dtype) if out is None else out[name]


class _BucketTable:
    """A bucket list as the columns placement gathers from: int64 sides, float64 sides and ratios."""

    def __init__(self, buckets: np.ndarray):
        self.widths = np.ascontiguousarray(buckets[:, 0], dtype=np.int64)
        self.heights = np.ascontiguousarray(buckets[:, 1], dtype=np.int64)
        self.ratios = self.widths / self.heights


@lru_cache(maxsize=64)
def _bucket_table(profile: Profile, options: BucketOptions) -> _BucketTable:
    return _BucketTable(profile_bucket_list(profile, options))


def _cover_block(float_sizes, buckets, profile, image_ratio, bucket_ratio, out) -> tuple:
    """The covering resize of a block from the sizes as floats; sd-scripts' rounding writes into ``out``."""
    if profile.resize_rounding is CoverRounding.HALF_UP:
        targets = None if out is None else (out["resized_width"], out["resized_height"])
        return cover_resize(*float_sizes, *buckets, image_ratio, bucket_ratio, targets)
    return cover_resize_rounded(*float_sizes, *buckets, profile.resize_rounding, image_ratio, bucket_ratio)


def _per_image_rule(widths, heights, errors, options, profile) -> tuple:
    """The profile's per-image rule on the rows with a real size; the others get zeros.

    Rows that failed the size check hold a 1x1 placeholder, which must not reach a rule whose result
    depends on the rows before it (SimpleTuner's aspect map and random draws).
    """
    valid = errors == PlacementError.OK
    if valid.all():
        return profile.per_image(widths, heights, options)
    columns = profile.per_image(widths[valid], heights[valid], options)
    full = []
    for column in columns:
        values = np.zeros(len(widths), dtype=np.asarray(column).dtype)
        values[valid] = column
        full.append(values)
    return tuple(full)


def _own_size_rows(widths, heights, resized_w, resized_h, bucket_w, bucket_h, options, profile) -> np.ndarray:
    """Images that leave the list for a bucket of their own size (no-upscale rules, crop limit)."""
    own = np.zeros(len(widths), dtype=bool)
    if options.bucket_no_upscale and profile.no_upscale is NoUpscaleRule.MUSUBI:
        own |= widths * heights <= options.max_area
    if options.bucket_no_upscale and profile.no_upscale is NoUpscaleRule.FALLBACK:
        own |= (resized_w > widths) | (resized_h > heights)
    if profile.max_crop is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            cut = 1.0 - (bucket_w * bucket_h) / (resized_w * resized_h)
        own |= cut > profile.max_crop
    return own


def _place_without_upscale(widths, heights, errors, options, profile, out: dict | None) -> Placement:
    area, step = options.max_area, options.bucket_reso_steps
    if profile.no_upscale is NoUpscaleRule.KOHYA:
        bucket_w, bucket_h, resized_w, resized_h, ar_error, crashes = kohya_no_upscale(widths, heights, area, step)
        if crashes.any():
            errors = np.where((errors == PlacementError.OK) & crashes, np.int8(PlacementError.TRAINER_CRASH), errors)
    else:
        bucket_w, bucket_h, resized_w, resized_h = corrected_no_upscale(widths, heights, area, step)
        ar_error = None
    index = np.full(len(widths), -1, dtype=np.int64)
    return assemble_placement(
        widths,
        heights,
        errors,
        index,
        bucket_w,
        bucket_h,
        resized_w,
        resized_h,
        profile.sdxl_coordinates,
        (area, step),
        ar_error=ar_error,
        out=out,
    )
