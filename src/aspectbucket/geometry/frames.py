"""Which frames of each clip a video trainer trains on: frame buckets and frame windows, vectorised.

A clip is ``(frames, fps)`` from its container. Each rule below takes arrays of those plus the
trainer's own settings as explicit parameters and returns a :class:`FrameWindows`: one row per
training item (which clip, the bucket's frame count, the source frames it reads, in order) and per
clip the frame count the trainer itself sees (after any frame-rate conversion), an error code when
the clip yields no item, and the fewest source frames that would have yielded one.

Frames are always *source* frame indices (0 = the container's first frame), so a report can show
exactly what is read and what is never used, whatever conversion the trainer applies first.
The scalar oracle for every rule is :mod:`aspectbucket.geometry.frames_reference`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
from functools import cached_property

import numpy as np

#: Frame counts above this are treated as a corrupt header, not a real clip (46 hours at 25 fps).
MAX_FRAMES = 1 << 22


class FrameError(IntEnum):
    """Why a clip yields no training item. ``OK`` (0) means it yields at least one."""

    OK = 0
    NO_FRAMES = 1
    TOO_SHORT = 2
    TOO_LONG = 3
    NO_FPS = 4
    NOT_BELIEVABLE = 5


def frame_error_reason(code: int, seen: int, needed: int) -> str:
    """The one-line reason for a clip's error, with the frame count the trainer sees and what would fit."""
    code = FrameError(code)
    if code is FrameError.TOO_SHORT and needed > 0:
        return f"too short: the trainer sees {seen} frames; {needed} source frames would fit"
    if code is FrameError.TOO_SHORT:
        return f"too short: the trainer sees {seen} frames, and no longer clip at this frame rate would fit"
    if code is FrameError.TOO_LONG:
        return f"too long: the trainer sees {seen} frames, over its maximum"
    return _REASONS[code]


_REASONS = {
    FrameError.OK: "",
    FrameError.NO_FRAMES: "the clip has no frames",
    FrameError.NO_FPS: "the clip's frame rate is missing or 0, and the trainer converts by frame rate",
    FrameError.NOT_BELIEVABLE: f"the frame count is over {MAX_FRAMES}: the header is not believable",
}


@dataclass(frozen=True)
class FrameWindows:
    """Training items of a set of clips: a struct of arrays, the taken frames stored ragged.

    Item ``k`` reads source frames ``taken[offsets[k]:offsets[k + 1]]`` (repeats allowed: a trainer that
    stretches a short clip reads a frame twice). ``start_max`` is the latest first frame a random start
    could take (equal to the first taken frame when the start is fixed). ``repeat`` marks an item
    that reads exactly the frames of an earlier item of its clip (musubi-tuner writes both to one cache
    file, so training sees it once). Per clip: ``seen`` frames as the trainer counts them, ``error``
    (:class:`FrameError`) and ``needed``, the fewest source frames that would yield an item (0 when the
    clip yields one).
    """

    clip: np.ndarray
    bucket_frames: np.ndarray
    offsets: np.ndarray
    taken: np.ndarray
    start_max: np.ndarray
    repeat: np.ndarray
    seen: np.ndarray
    error: np.ndarray
    needed: np.ndarray

    def frames_of(self, item: int) -> np.ndarray:
        """The source frames item ``item`` reads, in training order."""
        return self.taken[self.offsets[item] : self.offsets[item + 1]]

    @cached_property
    def frame_count(self) -> np.ndarray:
        """Frames each item trains on."""
        return np.diff(self.offsets)

    @cached_property
    def start_frame(self) -> np.ndarray:
        """The first source frame of each item."""
        return self.taken[self.offsets[:-1]] if len(self.taken) else np.zeros(0, dtype=np.int64)

    @cached_property
    def frame_stride(self) -> np.ndarray:
        """Source frames per trained frame, over the item: exact for even steps, the mean step otherwise."""
        count = self.frame_count
        last = self.taken[self.offsets[1:] - 1] if len(self.taken) else np.zeros(0, dtype=np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):
            stride = (last - self.start_frame) / (count - 1)
        return np.where(count > 1, stride, 1.0)

    def used_frames(self, clip: int, frames: int) -> np.ndarray:
        """A mask over the clip's ``frames`` source frames: True where some item of the clip reads it."""
        used = np.zeros(max(frames, 0), dtype=bool)
        for item in np.flatnonzero(self.clip == clip):
            read = self.frames_of(int(item))
            used[read[read < frames]] = True
        return used


def check_clips(frames, fps=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame counts as int64, fps as float64 (NaN when unknown), and a :class:`FrameError` per clip.

    Missing, negative or fractional counts and counts over :data:`MAX_FRAMES` get an error and a count
    of 0 so later arithmetic stays defined; a count of 0 is ``NO_FRAMES``.
    """
    raw = np.asarray(frames, dtype=object if _has_none(frames) else None)
    counts = (
        np.asarray([np.nan if value is None else value for value in raw], dtype=np.float64)
        if raw.dtype == object
        else raw.astype(np.float64)
    )
    if counts.ndim != 1:
        raise ValueError("frames must be one-dimensional")
    rates = np.full(len(counts), np.nan) if fps is None else _float_column(fps, len(counts))
    errors = np.zeros(len(counts), dtype=np.int8)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(counts) | (counts < 0) | (counts != np.floor(counts))
        errors[counts > MAX_FRAMES] = FrameError.NOT_BELIEVABLE
        errors[counts == 0] = FrameError.NO_FRAMES
    errors[bad] = FrameError.NO_FRAMES
    clean = np.where(errors == FrameError.OK, np.nan_to_num(counts), 0).astype(np.int64)
    return clean, rates, errors


def _has_none(values) -> bool:
    return isinstance(values, list | tuple) and any(value is None for value in values)


def _float_column(values, length: int) -> np.ndarray:
    if np.ndim(values) == 0:
        return np.full(length, np.nan if values is None else float(values))
    column = np.asarray([np.nan if value is None else value for value in values], dtype=np.float64)
    if column.shape != (length,):
        raise ValueError("fps must be one value or one per clip")
    return column


def _segments(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For ragged rows of ``counts`` elements: offsets, each element's row, its position in the row."""
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    row = np.repeat(np.arange(len(counts)), counts)
    position = np.arange(offsets[-1], dtype=np.int64) - offsets[:-1][row]
    return offsets, row, position


def _build(clip, bucket_frames, starts, counts, source_of, n_clips, seen, error, needed, start_max=None):
    """Assemble windows that read ``counts`` consecutive *seen* frames from ``starts``; ``source_of``
    maps (clip per element, seen index per element) to source frames."""
    order = np.argsort(clip, kind="stable")  # per clip, in the order the rule produced them
    clip, bucket_frames, starts, counts = clip[order], bucket_frames[order], starts[order], counts[order]
    offsets, row, position = _segments(counts)
    taken = source_of(clip[row], starts[row] + position)
    first = taken[offsets[:-1]] if len(taken) else np.zeros(0, dtype=np.int64)
    start_max = first if start_max is None else np.maximum(start_max[order], first)
    return FrameWindows(
        clip=clip.astype(np.int64),
        bucket_frames=bucket_frames.astype(np.int64),
        offsets=offsets,
        taken=taken.astype(np.int64),
        start_max=start_max.astype(np.int64),
        repeat=_repeats(clip, starts, counts),
        seen=seen.astype(np.int64),
        error=error.astype(np.int8),
        needed=needed.astype(np.int64),
    )


def _repeats(clip, starts, counts) -> np.ndarray:
    """Items whose (clip, start, count) already occurred earlier."""
    repeat = np.ones(len(clip), dtype=bool)
    if len(clip):
        keys = np.stack([clip, starts, counts], axis=1)
        _, first = np.unique(keys, axis=0, return_index=True)
        repeat[first] = False
    return repeat


def _identity(_clip, index):
    return index


# -- musubi-tuner -------------------------------------------------------------------------------------


class FrameExtraction(StrEnum):
    """musubi-tuner's ``frame_extraction``."""

    HEAD = "head"
    CHUNK = "chunk"
    SLIDE = "slide"
    UNIFORM = "uniform"
    FULL = "full"


def musubi_target_frames(target_frames) -> tuple[int, ...]:
    """``target_frames`` as musubi-tuner keeps them: each rounded down to 4N+1, deduplicated, sorted.

    kohya-ss/musubi-tuner@30c658c4 src/musubi_tuner/dataset/image_video_dataset.py:VideoDataset.__init__
    (``vae_frame_stride`` 4 for every architecture).
    """
    return tuple(sorted({(int(f) - 1) // 4 * 4 + 1 for f in target_frames}))


def musubi_kept_frames(source_fps: float, target_fps: float, length: int) -> np.ndarray:
    """Per source frame ``i < length``: the target-frame index it becomes, or -1 when dropped.

    musubi-tuner converts with a running float: frame ``i`` takes index ``int(acc)`` and ``acc`` grows
    by ``target / source`` after each frame; a frame whose index did not advance is dropped.
    kohya-ss/musubi-tuner@30c658c4 src/musubi_tuner/dataset/media_utils.py:load_video. The running sum
    is accumulated sequentially, exactly as the trainer's loop adds it.
    """
    delta = target_fps / source_fps
    steps = np.full(length, delta)
    steps[:1] = 0.0
    index = np.add.accumulate(steps).astype(np.int64) if length else np.zeros(0, dtype=np.int64)
    advanced = np.ones(length, dtype=bool)
    advanced[1:] = index[1:] != index[:-1]
    return np.where(advanced, index, -1)


def musubi_frames(
    frames,
    *,
    target_frames=(1,),
    frame_extraction: str = "head",
    frame_stride: int = 1,
    frame_sample: int = 1,
    max_frames: int = 129,
    source_fps=None,
    target_fps: float = 16.0,
) -> FrameWindows:
    """musubi-tuner's video items: each clip cut into windows of each ``target_frames`` count.

    ``source_fps`` is the *dataset's* setting (one value, or one per clip; ``None``/NaN = no
    conversion): musubi-tuner never reads the container's frame rate. ``target_fps`` is the
    architecture's (16 Wan, 24 HunyuanVideo, 30 FramePack). ``head`` loads only the first
    ``max(target_frames)`` converted frames; ``uniform`` with ``frame_sample`` 1 is ``head``.
    kohya-ss/musubi-tuner@30c658c4 src/musubi_tuner/dataset/image_video_dataset.py:
    VideoDataset.__init__ and VideoDataset.retrieve_latent_cache_batches.
    """
    counts, _, errors = check_clips(frames)
    targets = musubi_target_frames(target_frames)
    mode = FrameExtraction(frame_extraction)
    if mode is FrameExtraction.UNIFORM and frame_sample == 1:
        mode = FrameExtraction.HEAD
    end = max(targets) if mode is FrameExtraction.HEAD else None
    n = len(counts)
    source = _float_column(source_fps, n)
    converts = np.isfinite(source)
    bad_rate = converts & ~(source > 0)
    errors = np.where((errors == FrameError.OK) & bad_rate, np.int8(FrameError.NO_FPS), errors)
    ok = errors == FrameError.OK
    loaded = np.where(ok, counts if end is None else np.minimum(counts, end), 0)
    kept_by_rate: dict[float, np.ndarray] = {}
    for rate in np.unique(source[converts & ok]):
        rows = converts & ok & (source == rate)
        longest = int(counts[rows].max())
        target_index = musubi_kept_frames(float(rate), target_fps, longest)
        kept = np.flatnonzero((target_index >= 0) & (target_index < (end if end is not None else np.inf)))
        kept_by_rate[float(rate)] = kept
        loaded[rows] = np.searchsorted(kept, counts[rows])

    clips, buckets, starts, lengths = [], [], [], []
    for target in targets if mode is not FrameExtraction.FULL else (None,):
        if mode is FrameExtraction.FULL:
            length = (np.minimum(loaded, max_frames) - 1) // 4 * 4 + 1
            per_clip = (loaded >= 1).astype(np.int64)
            first = np.zeros(n, dtype=np.int64)
            _, row, position = _segments(per_clip)
            item_start, item_length = first[row], length[row]
        else:
            item_length = None
            if mode is FrameExtraction.HEAD:
                per_clip = (loaded >= target).astype(np.int64)
                step = np.zeros(n, dtype=np.int64)
            elif mode is FrameExtraction.CHUNK:
                per_clip = loaded // target
                step = np.full(n, target, dtype=np.int64)
            elif mode is FrameExtraction.SLIDE:
                per_clip = np.where(loaded >= target, (loaded - target) // frame_stride + 1, 0)
                step = np.full(n, frame_stride, dtype=np.int64)
            else:
                per_clip = np.where(loaded >= target, frame_sample, 0)
                step = None
            _, row, position = _segments(per_clip)
            if step is not None:
                item_start = step[row] * position
            else:  # the trainer's own np.linspace(0, loaded - target, frame_sample, dtype=int)
                spans, inverse = np.unique(loaded[row] - target, return_inverse=True)
                table = np.array([np.linspace(0, span, frame_sample, dtype=int) for span in spans]).reshape(
                    len(spans), frame_sample
                )
                item_start = table[inverse.ravel(), position] if len(row) else np.zeros(0, dtype=np.int64)
            item_length = np.full(len(row), target, dtype=np.int64)
        clips.append(row)
        buckets.append(item_length)
        starts.append(item_start.astype(np.int64))
        lengths.append(item_length)

    def source_of(clip_of, index):
        result = index.copy()
        rates = source[clip_of]
        for rate, kept in kept_by_rate.items():
            rows = rates == rate
            result[rows] = kept[index[rows]]
        return result

    item_clip = np.concatenate(clips)
    has_item = np.bincount(item_clip, minlength=n) > 0
    errors = np.where((errors == FrameError.OK) & ~has_item, np.int8(FrameError.TOO_SHORT), errors)
    needed = _musubi_needed(counts, errors, source, targets, mode, target_fps, end)
    return _build(
        item_clip,
        np.concatenate(buckets),
        np.concatenate(starts),
        np.concatenate(lengths),
        source_of,
        n,
        loaded,
        errors,
        needed,
    )


def _musubi_needed(counts, errors, source, targets, mode, target_fps, end) -> np.ndarray:
    """Fewest source frames giving a too-short clip one item: the shortest target, after conversion.

    0 when no length would do: with ``head`` and a frame rate raised by conversion, the load stops at
    converted index ``max(target_frames)`` while skipping indices, so fewer frames than that arrive.
    """
    needed = np.zeros(len(counts), dtype=np.int64)
    short = errors == FrameError.TOO_SHORT
    shortest = 1 if mode is FrameExtraction.FULL else min(targets)
    needed[short & ~np.isfinite(source)] = shortest
    for rate in np.unique(source[short & np.isfinite(source)]):
        length = int(shortest * max(1.0, float(rate) / target_fps)) + 2
        index = musubi_kept_frames(float(rate), target_fps, length)
        kept = np.flatnonzero((index >= 0) & (index < (np.inf if end is None else end)))
        needed[short & (source == rate)] = kept[shortest - 1] + 1 if len(kept) >= shortest else 0
    return needed


# -- diffusion-pipe -----------------------------------------------------------------------------------


def diffusion_pipe_converted_frames(counts: np.ndarray, fps: np.ndarray, model_fps: float) -> np.ndarray:
    """Frames after conversion to the model's frame rate: ``int(frames * model_fps / fps)``; -1 where fps
    is not positive. tdrussell/diffusion-pipe@8f83dbf2 utils/dataset.py:DirectoryDataset._metadata_map_fn."""
    with np.errstate(divide="ignore", invalid="ignore"):
        converted = np.floor(counts * model_fps / fps)
    return np.where(fps > 0, np.nan_to_num(converted, nan=-1.0), -1).astype(np.int64)


def diffusion_pipe_frame_bucket(converted: np.ndarray, frame_buckets) -> np.ndarray:
    """The largest frame bucket not above ``converted`` (1 always in the list), 0 when none may be used.

    A clip whose converted count is over 1 is a video and never takes the 1-frame bucket; a count of 1
    is trained as an image. tdrussell/diffusion-pipe@8f83dbf2 utils/dataset.py:DirectoryDataset.__init__
    (``frame_buckets`` gets 1 appended, then sorted) and ``_find_closest_ar_bucket``.
    """
    buckets = diffusion_pipe_frame_buckets(frame_buckets)
    index = np.searchsorted(buckets, converted, side="right") - 1
    bucket = np.where(index >= 0, buckets[np.maximum(index, 0)], 0)
    return np.where((converted > 1) & (bucket == 1), 0, bucket)


def diffusion_pipe_frame_buckets(frame_buckets) -> np.ndarray:
    """``frame_buckets`` as diffusion-pipe keeps them: 1 added when missing, sorted."""
    return np.array(sorted({*map(int, frame_buckets), 1}), dtype=np.int64)


def torch_linspace_int(end: np.ndarray, steps: np.ndarray, position: np.ndarray) -> np.ndarray:
    """``torch.linspace(0, end, steps)`` (float32 on CPU) at ``position``, truncated as ``.to(torch.int32)``.

    PyTorch computes the first half from the start (``step * i``) and the second half from the end
    (``end - step * (steps - 1 - i)``), ``step = end / (steps - 1)`` in float32, each value rounded
    once (a fused multiply-add). A float32 product is exact in float64, so one float64 operation and
    one rounding to float32 give the same value. pytorch/pytorch aten/src/ATen/native/cpu/
    RangeFactoriesKernel.cpp:linspace_kernel; checked against torch 2.13 in tests/test_frames.py.
    """
    end32 = end.astype(np.float32)
    step = (end32 / np.maximum(steps - 1, 1).astype(np.float32)).astype(np.float64)
    from_start = position < steps // 2
    value = np.where(
        from_start,
        step * position,
        end32.astype(np.float64) - step * (steps - 1 - position),
    ).astype(np.float32)
    return np.where(steps > 1, value.astype(np.int64), 0)


def diffusion_pipe_frames(
    frames,
    fps,
    *,
    frame_buckets=(1,),
    model_fps: float = 16.0,
    round_frames: int = 4,
    video_clip_mode: str = "single_beginning",
    bucket_frames=None,
) -> FrameWindows:
    """diffusion-pipe's video item: one per clip, the first (or middle) frames of its frame bucket.

    The clip is converted to ``model_fps`` by ``torch.linspace(0, n - 1, converted)`` (source frames
    repeated or skipped), the bucket's count is rounded down to ``round_frames * k + 1`` and that many
    converted frames are taken from the start (``single_beginning``) or the middle (``single_middle``).
    ``bucket_frames`` overrides the frame bucket per clip (0 = skipped), for ``size_buckets``, whose
    choice depends on the clip's ratio too. tdrussell/diffusion-pipe@8f83dbf2 models/base.py:
    PreprocessMediaFile.convert_framerate / extract_clips / __call__.
    """
    counts, rates, errors = check_clips(frames, fps)
    errors = np.where((errors == FrameError.OK) & ~(rates > 0), np.int8(FrameError.NO_FPS), errors)
    converted = np.where(errors == FrameError.OK, diffusion_pipe_converted_frames(counts, rates, model_fps), 0)
    if bucket_frames is None:
        bucket = diffusion_pipe_frame_bucket(converted, frame_buckets)
    else:
        bucket = np.asarray(bucket_frames, dtype=np.int64)
    errors = np.where((errors == FrameError.OK) & (bucket == 0), np.int8(FrameError.TOO_SHORT), errors)
    ok = errors == FrameError.OK
    length = (bucket - 1) // round_frames * round_frames + 1
    if video_clip_mode == "single_beginning":
        start = np.zeros(len(counts), dtype=np.int64)
    elif video_clip_mode == "single_middle":
        start = (converted - length) // 2
    else:
        raise ValueError(f"video_clip_mode {video_clip_mode!r} is not one of: single_beginning, single_middle")
    rows = np.flatnonzero(ok)

    def source_of(clip_of, index):
        return torch_linspace_int(counts[clip_of] - 1, converted[clip_of], index)

    video_buckets = diffusion_pipe_frame_buckets(frame_buckets)
    video_buckets = video_buckets[video_buckets > 1]
    as_video = _fewest_for_converted(int(video_buckets[0]), rates, model_fps) if len(video_buckets) else 0
    as_image = _fewest_for_converted(1, rates, model_fps)
    image_fits = (converted < 1) & (np.floor(as_image * model_fps / np.where(rates > 0, rates, 1)) == 1)
    needed = np.where(image_fits, as_image, as_video)
    needed = np.where(errors == FrameError.TOO_SHORT, needed, 0)
    return _build(rows, bucket[rows], start[rows], length[rows], source_of, len(counts), converted, errors, needed)


def _fewest_for_converted(target: int, rates: np.ndarray, model_fps: float) -> np.ndarray:
    """Fewest source frames ``n`` with ``int(n * model_fps / fps) >= target`` for each fps (0 where fps is bad).

    A clip whose count converts to 0 fits as an image at the first count converting to exactly 1;
    otherwise it needs the smallest frame bucket above 1 (none: no length fits, 0).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        guess = np.nan_to_num(np.ceil(target * rates / model_fps), nan=0.0).astype(np.int64)
    guess = np.maximum(guess - 1, 1)
    for _ in range(3):  # float rounding can leave the estimate one short
        short = np.floor(guess * model_fps / np.where(rates > 0, rates, 1)) < target
        guess = np.where(short & (rates > 0), guess + 1, guess)
    return np.where(rates > 0, guess, 0)


# -- ai-toolkit ---------------------------------------------------------------------------------------


def ai_toolkit_auto_frame_count(
    counts: np.ndarray, fps: np.ndarray, dataset_fps: float, temporal_compression: int, trim_tail: bool
) -> np.ndarray:
    """ai-toolkit's ``auto_frame_count``: the clip's duration at ``dataset_fps``, snapped to ``k * tc + 1``.

    ostris/ai-toolkit@27a03a91 toolkit/dataloader_mixins.py:ImageProcessingDTOMixin.get_auto_frame_count
    (``trim_auto_frame_count_tail`` keeps the snapped count inside the clip).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        desired = np.nan_to_num(np.trunc(counts / fps * dataset_fps), nan=0.0, posinf=0.0).astype(np.int64)
    if trim_tail:
        desired = np.maximum(0, desired - 1) // temporal_compression * temporal_compression
    else:
        desired = desired // temporal_compression * temporal_compression
    return desired + 1


def ai_toolkit_frames(
    frames,
    fps,
    *,
    num_frames: int = 1,
    auto_frame_count: bool = False,
    dataset_fps: float = 24.0,
    trim_auto_frame_count_tail: bool = True,
    temporal_compression: int = 8,
    shrink_video_to_frames: bool = True,
) -> FrameWindows:
    """ai-toolkit's video item: one per clip, ``num_frames`` (or the automatic count) spread over it.

    Shrinking (the default, or a clip shorter than the count) picks ``round(i * (n - 1) / (F - 1))``;
    without it frames are ``round(fps / dataset_fps)`` apart from a random start (``start_max`` holds the
    latest); the automatic count with its tail trimmed reads frames at ``dataset_fps`` from the start.
    No clip is ever too short: a short one is stretched (frames repeat).
    ostris/ai-toolkit@27a03a91 toolkit/dataloader_mixins.py:ImageProcessingDTOMixin.load_and_process_video.
    """
    counts, rates, errors = check_clips(frames, fps)
    if auto_frame_count:
        errors = np.where((errors == FrameError.OK) & ~(rates > 0), np.int8(FrameError.NO_FPS), errors)
        bucket = ai_toolkit_auto_frame_count(
            counts, rates, dataset_fps, temporal_compression, trim_auto_frame_count_tail
        )
    else:
        bucket = np.full(len(counts), num_frames, dtype=np.int64)
    ok = errors == FrameError.OK
    rows = np.flatnonzero(ok)
    last = counts - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        rate_ratio = rates / dataset_fps
    step = np.maximum(1, np.nan_to_num(np.rint(rate_ratio), nan=1.0)).astype(np.int64)
    trims_tail = auto_frame_count and trim_auto_frame_count_tail
    # stepped: frames ``step`` apart from a random start; otherwise spread: round(i * ratio)
    stepped = np.zeros(len(counts), dtype=bool)
    if trims_tail:
        ratio = np.where(rates > 0, rate_ratio, 1.0)
    else:
        stepped = (not shrink_video_to_frames) & (counts >= bucket) & (counts // step >= bucket)
        ratio = np.where(bucket > 1, last / np.maximum(bucket - 1, 1), 0.0)
    start_max = np.where(stepped, np.maximum(0, last - (bucket - 1) * step), 0)

    def source_of(clip_of, index):
        position = index.astype(np.float64)
        spread = np.rint(position * ratio[clip_of]).astype(np.int64)
        picked = np.where(stepped[clip_of], index * step[clip_of], spread)
        return np.minimum(picked, last[clip_of])

    zero = np.zeros(len(counts), dtype=np.int64)
    return _build(
        rows, bucket[rows], zero[rows], bucket[rows], source_of, len(counts), counts, errors, zero, start_max[rows]
    )


# -- SimpleTuner --------------------------------------------------------------------------------------


class FrameTrim(StrEnum):
    """SimpleTuner's per-model frame-count adjustment (``adjust_video_frames``)."""

    NONE = "none"  # the base model class leaves counts alone
    EIGHT_N_PLUS_ONE = "8n+1"  # Wan, LTX-Video, LTX-2, LongCat-Video, Sana-Video: round down to 8k+1
    SEVENTEEN_N_PLUS_FIVE = "17n+5"  # MiniMax-H3: round up to 17k+5 (1 stays 1)


def simpletuner_adjusted_frames(counts: np.ndarray, trim: str) -> np.ndarray:
    """Frame counts after the model's ``adjust_video_frames``.

    bghira/SimpleTuner@bc8e6ab7 simpletuner/helpers/models/wan/model.py (and ltxvideo, ltxvideo2,
    longcat_video, sanavideo):adjust_video_frames; minimaxh3/model.py:adjust_video_frames.
    """
    trim = FrameTrim(trim)
    if trim is FrameTrim.EIGHT_N_PLUS_ONE:
        return np.where(counts % 8 == 1, counts, np.maximum((counts - 1) // 8 * 8 + 1, 1))
    if trim is FrameTrim.SEVENTEEN_N_PLUS_FIVE:
        return np.where(counts <= 1, counts, counts + (5 - counts) % 17)
    return counts


def simpletuner_frames(
    frames,
    *,
    num_frames: int = 150,
    min_frames: int | None = None,
    max_frames: int | None = None,
    bucket_strategy: str = "aspect_ratio",
    frame_interval: int | None = None,
    trim: str = "none",
) -> FrameWindows:
    """SimpleTuner's video item: the whole clip after the model's frame trim, kept when long enough.

    ``min_frames`` defaults to ``num_frames`` (a clip below it is skipped, as is one above
    ``max_frames``). With ``bucket_strategy`` ``resolution_frames`` the bucket key is ``WxH@F`` where F
    is the count floored to ``frame_interval`` (the count itself when that floors to 0); otherwise the
    bucket has no frame count and ``bucket_frames`` is the clip's own. bghira/SimpleTuner@bc8e6ab7
    simpletuner/helpers/metadata/backends/base.py:meets_resolution_requirements, _compute_video_bucket;
    data_backend/factory.py (``min_frames`` default). The reference vectors (4.10.1) agree.
    """
    counts, _, errors = check_clips(frames)
    adjusted = np.where(errors == FrameError.OK, simpletuner_adjusted_frames(counts, trim), 0)
    minimum = num_frames if min_frames is None else min_frames
    ok = errors == FrameError.OK
    errors = np.where(ok & (adjusted < minimum), np.int8(FrameError.TOO_SHORT), errors)
    if max_frames is not None:
        errors = np.where((errors == FrameError.OK) & (adjusted > max_frames), np.int8(FrameError.TOO_LONG), errors)
    if bucket_strategy == "resolution_frames" and frame_interval:
        floored = adjusted // frame_interval * frame_interval
        bucket = np.where(floored > 0, floored, adjusted)
    elif bucket_strategy in ("resolution_frames", "aspect_ratio"):
        bucket = adjusted
    else:
        raise ValueError(f"bucket_strategy {bucket_strategy!r} is not one of: aspect_ratio, resolution_frames")
    rows = np.flatnonzero(errors == FrameError.OK)
    zero = np.zeros(len(counts), dtype=np.int64)
    needed = np.where(errors == FrameError.TOO_SHORT, minimum, 0)
    length = bucket if bucket_strategy == "resolution_frames" else adjusted
    return _build(rows, bucket[rows], zero[rows], length[rows], _identity, len(counts), adjusted, errors, needed)
