"""Video clips by trainer: the (w, h, frames) bucket and the frame windows of every training item.

Each video trainer is described by its own setting names and defaults (:data:`CLIP_TRAINERS`) and
composed from the geometry layer: the spatial bucket of the clip's frame size (each trainer buckets it
as an image: the musubi and SimpleTuner profiles, :mod:`aspectbucket.geometry.ai_toolkit`,
:mod:`aspectbucket.geometry.diffusion_pipe`; diffusion-pipe's ``size_buckets`` in
:mod:`aspectbucket.geometry.clip_sizes`) and the frame rule (:mod:`aspectbucket.geometry.frames`).
:func:`place_clips` is the entry point.

>>> from aspectbucket import place_clips
>>> table = place_clips([1280], [720], [81], [16], profile="musubi", settings={"target_frames": [1, 25, 45]})
>>> [(row["bucket_width"], row["bucket_height"], row["bucket_frames"]) for row in table.rows()]
[(960, 544, 1), (960, 544, 25), (960, 544, 45)]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from aspectbucket.geometry.ai_toolkit import ai_toolkit_bucket
from aspectbucket.geometry.batches import BatchPolicy
from aspectbucket.geometry.clip_sizes import diffusion_pipe_listed_buckets
from aspectbucket.geometry.diffusion_pipe import (
    bucket_sizes,
    listed_ratio_buckets,
    nearest_ratio,
    ratio_buckets,
    resolution_sides,
)
from aspectbucket.geometry.frames import (
    FrameError,
    FrameWindows,
    ai_toolkit_frames,
    check_clips,
    diffusion_pipe_converted_frames,
    diffusion_pipe_frames,
    frame_error_reason,
    musubi_frames,
    simpletuner_frames,
)
from aspectbucket.geometry.options import BucketOptions
from aspectbucket.geometry.placement import PlacementError, check_sizes
from aspectbucket.profiles.musubi import MUSUBI
from aspectbucket.profiles.profile import place_by_profile
from aspectbucket.profiles.registry import resolve
from aspectbucket.profiles.simpletuner import simpletuner_profile

#: musubi-tuner's frame rate per architecture (``VideoDataset.TARGET_FPS_*``), kohya-ss/musubi-tuner@30c658c4.
MUSUBI_TARGET_FPS = {"hunyuan_video": 24.0, "wan": 16.0, "framepack": 30.0}

#: diffusion-pipe's video models: (framerate, pixels_round_to_multiple, round_width/height, round_frames),
#: read from tdrussell/diffusion-pipe@8f83dbf2 models/*.py (wan ti2v rounds the tensor to 32).
DIFFUSION_PIPE_MODELS = {
    "wan": (16, 16, 16, 4),
    "wan_ti2v": (24, 16, 32, 4),
    "hunyuan-video": (24, 16, 16, 4),
    "ltx-video": (25, 32, 32, 8),
    "cosmos": (24, 16, 16, 8),
}

#: SimpleTuner's frame trims by model family (``adjust_video_frames``), bghira/SimpleTuner@bc8e6ab7.
SIMPLETUNER_TRIMS = {
    "wan": "8n+1",
    "ltxvideo": "8n+1",
    "ltxvideo2": "8n+1",
    "longcat_video": "8n+1",
    "sanavideo": "8n+1",
    "minimaxh3": "17n+5",
}


@dataclass(frozen=True)
class ClipTrainer:
    """One video trainer: its settings (own names) with defaults, how it places clips, how it batches items
    (musubi-tuner trains a bucket's last batch short, ai-toolkit and SimpleTuner pad it with repeats,
    diffusion-pipe drops it), and what it does with a clip's display rotation (``rotation``: what is known,
    '' when not reproduced)."""

    name: str
    trainer: str
    source: str
    defaults: dict
    place: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict], tuple]
    batch_policy: BatchPolicy = BatchPolicy.SHORT
    rotation: str = ""
    defects: str = ""


def _musubi(widths, heights, frames, fps, s):
    if s["architecture"] not in MUSUBI_TARGET_FPS:
        raise ValueError(f"musubi architecture {s['architecture']!r} is not one of: {', '.join(MUSUBI_TARGET_FPS)}")
    resolution = tuple(s["resolution"]) if isinstance(s["resolution"], list | tuple) else (s["resolution"],) * 2
    options = BucketOptions(resolution=resolution, bucket_reso_steps=16, bucket_no_upscale=s["bucket_no_upscale"])
    spatial = place_by_profile(widths, heights, MUSUBI.validate(options)[0], MUSUBI)
    windows = musubi_frames(
        frames,
        target_frames=s["target_frames"],
        frame_extraction=s["frame_extraction"],
        frame_stride=s["frame_stride"],
        frame_sample=s["frame_sample"],
        max_frames=s["max_frames"],
        source_fps=s["source_fps"],
        target_fps=MUSUBI_TARGET_FPS[s["architecture"]],
    )
    return spatial.bucket_width, spatial.bucket_height, spatial.error, windows


def _diffusion_pipe(widths, heights, frames, fps, s):
    if s["model"] not in DIFFUSION_PIPE_MODELS:
        raise ValueError(f"diffusion-pipe model {s['model']!r} is not one of: {', '.join(DIFFUSION_PIPE_MODELS)}")
    model_fps, multiple, _, round_frames = DIFFUSION_PIPE_MODELS[s["model"]]
    if not s["size_buckets"] and len(resolution_sides(s["resolutions"])) != 1:
        raise ValueError("diffusion-pipe clips are placed at one of resolutions at a time: give one entry")
    counts, rates, _ = check_clips(frames, fps)
    if s["size_buckets"]:
        converted = diffusion_pipe_converted_frames(counts, rates, model_fps)
        chosen = diffusion_pipe_listed_buckets(widths, heights, converted, s["size_buckets"])
        bucket_w, bucket_h, frame_bucket = chosen[:, 0], chosen[:, 1], chosen[:, 2]
    else:
        if not s["enable_ar_bucket"]:
            ratios = np.array([1.0])
        elif s["ar_buckets"]:
            ratios = listed_ratio_buckets(s["ar_buckets"])
        else:
            ratios = ratio_buckets(s["min_ar"], s["max_ar"], s["num_ar_buckets"])
        ratio_w, ratio_h = bucket_sizes(ratios, resolution_sides(s["resolutions"])[0], multiple)
        nearest = nearest_ratio(widths, heights, ratios)
        bucket_w, bucket_h = ratio_w[nearest], ratio_h[nearest]
        frame_bucket = None
    windows = diffusion_pipe_frames(
        frames,
        fps,
        frame_buckets=s["frame_buckets"],
        model_fps=model_fps,
        round_frames=round_frames,
        video_clip_mode=s["video_clip_mode"],
        bucket_frames=frame_bucket,
    )
    return bucket_w, bucket_h, np.zeros(len(bucket_w), dtype=np.int8), windows


def _ai_toolkit(widths, heights, frames, fps, s):
    if not isinstance(s["resolution"], int):
        raise ValueError("ai-toolkit clips are placed at one resolution at a time: give one number")
    bucket_w, bucket_h = ai_toolkit_bucket(widths, heights, s["resolution"], s["bucket_tolerance"])
    windows = ai_toolkit_frames(
        frames,
        fps,
        num_frames=s["num_frames"],
        auto_frame_count=s["auto_frame_count"],
        dataset_fps=s["fps"],
        trim_auto_frame_count_tail=s["trim_auto_frame_count_tail"],
        temporal_compression=s["temporal_compression"],
        shrink_video_to_frames=s["shrink_video_to_frames"],
    )
    return bucket_w, bucket_h, np.zeros(len(bucket_w), dtype=np.int8), windows


def _simpletuner(widths, heights, frames, fps, s):
    windows = simpletuner_frames(
        frames,
        num_frames=s["num_frames"],
        min_frames=s["min_frames"],
        max_frames=s["max_frames"],
        bucket_strategy=s["bucket_strategy"],
        frame_interval=s["frame_interval"],
        trim=SIMPLETUNER_TRIMS.get(s["model_family"], "none"),
    )
    # Its aspect -> size map depends on the order clips arrive: only the clips it keeps, in order, fill it.
    kept = np.flatnonzero(windows.error == FrameError.OK)
    spatial_settings = {name: s[name] for name in _SIMPLETUNER_SPATIAL}
    profile, options, _ = resolve(simpletuner_profile(**spatial_settings))
    spatial = place_by_profile(widths[kept], heights[kept], options, profile)
    bucket_w, bucket_h = np.zeros(len(widths), dtype=np.int64), np.zeros(len(widths), dtype=np.int64)
    errors = np.zeros(len(widths), dtype=np.int8)
    bucket_w[kept], bucket_h[kept], errors[kept] = spatial.bucket_width, spatial.bucket_height, spatial.error
    return bucket_w, bucket_h, errors, windows


#: SimpleTuner settings that decide a clip's frame size bucket (passed to its image profile).
_SIMPLETUNER_SPATIAL = ("resolution", "resolution_type", "crop", "aspect_bucket_rounding", "aspect_bucket_alignment")


CLIP_TRAINERS: dict[str, ClipTrainer] = {
    trainer.name: trainer
    for trainer in (
        ClipTrainer(
            name="musubi",
            trainer="kohya-ss musubi-tuner (Wan, HunyuanVideo, FramePack)",
            source="kohya-ss/musubi-tuner@30c658c4 src/musubi_tuner/dataset/image_video_dataset.py",
            defaults={
                "architecture": "wan",
                "resolution": [960, 544],
                "bucket_no_upscale": False,
                "target_frames": [1],
                "frame_extraction": "head",
                "frame_stride": 1,
                "frame_sample": 1,
                "max_frames": 129,
                "source_fps": None,
            },
            place=_musubi,
            rotation="it decodes with PyAV and never applies the display matrix (media_utils.load_video): "
            "it buckets and trains the stored frames",
            defects="source_fps converts by dropping frames and is never read from the container; with head "
            "extraction and a raised frame rate the load stops early, so long targets can never fit",
        ),
        ClipTrainer(
            name="diffusion-pipe",
            trainer="tdrussell diffusion-pipe (Wan, HunyuanVideo, LTX-Video, Cosmos)",
            source="tdrussell/diffusion-pipe@8f83dbf2 utils/dataset.py, models/base.py",
            defaults={
                "model": "wan",
                "resolutions": [512],
                "enable_ar_bucket": False,
                "ar_buckets": None,
                "min_ar": 0.5,
                "max_ar": 2.0,
                "num_ar_buckets": 7,
                "frame_buckets": [1],
                "size_buckets": None,
                "video_clip_mode": "single_beginning",
            },
            place=_diffusion_pipe,
            batch_policy=BatchPolicy.DROP,
            defects="only the first frames of a clip are used; a video shorter than the smallest frame bucket "
            "above 1 is skipped; size_buckets can swap orientations",
        ),
        ClipTrainer(
            name="ai-toolkit",
            trainer="ostris ai-toolkit (Wan, LTX)",
            source="ostris/ai-toolkit@27a03a91 toolkit/buckets.py, toolkit/dataloader_mixins.py",
            defaults={
                "resolution": 512,
                "bucket_tolerance": 16,
                "num_frames": 1,
                "auto_frame_count": False,
                "fps": 24,
                "trim_auto_frame_count_tail": True,
                "temporal_compression": 4,
                "shrink_video_to_frames": True,
            },
            place=_ai_toolkit,
            batch_policy=BatchPolicy.PAD,
            defects="num_frames is spread over the whole clip whatever its frame rate (slow motion or "
            "time-lapse); a short clip is stretched by repeating frames",
        ),
        ClipTrainer(
            name="simpletuner",
            trainer="SimpleTuner (video datasets)",
            source="bghira/SimpleTuner@bc8e6ab7 simpletuner/helpers/metadata/backends/base.py",
            defaults={
                "resolution": 512,
                "resolution_type": "pixel_area",
                "crop": False,
                "aspect_bucket_rounding": 2,
                "aspect_bucket_alignment": 64,
                "num_frames": 150,
                "min_frames": None,
                "max_frames": None,
                "bucket_strategy": "aspect_ratio",
                "frame_interval": None,
                "model_family": None,
            },
            place=_simpletuner,
            batch_policy=BatchPolicy.PAD,
            defects="clips below min_frames (num_frames by default) are dropped; frame sizes are bucketed as its "
            "images are, in the order clips arrive",
        ),
    )
}


def clip_settings(profile: str, settings: dict | None) -> tuple[ClipTrainer, dict]:
    """The trainer called ``profile`` and its settings with defaults filled; unknown names raise ``ValueError``."""
    if profile not in CLIP_TRAINERS:
        raise ValueError(f"no video rules for profile {profile!r}; choose one of: {', '.join(CLIP_TRAINERS)}")
    trainer = CLIP_TRAINERS[profile]
    unknown = sorted(set(settings or {}) - set(trainer.defaults))
    if unknown:
        allowed = ", ".join(trainer.defaults)
        raise ValueError(f"{profile} has no setting {', '.join(unknown)}; its video settings are: {allowed}")
    return trainer, {**trainer.defaults, **(settings or {})}


#: The columns of a :class:`ClipTable`, in order.
COLUMNS = (
    "clip",
    "bucket_width",
    "bucket_height",
    "bucket_frames",
    "start_frame",
    "frame_stride",
    "frame_count",
    "error",
)


@dataclass(frozen=True)
class ClipTable:
    """One row per training item, plus one row with ``error`` set for each clip that yields none.

    Columns are numpy arrays (``error`` a list of strings, empty for items). ``windows`` keeps the exact
    source frames of every item (:meth:`FrameWindows.frames_of`; item rows map to windows by ``item``,
    -1 on error rows) and, per clip, the frame count the trainer sees.
    """

    columns: dict
    item: np.ndarray
    windows: FrameWindows

    def __len__(self) -> int:
        return len(self.item)

    def rows(self) -> list[dict]:
        """The table as a list of dicts (plain Python values)."""
        return [
            {name: (values[row] if name == "error" else values[row].item()) for name, values in self.columns.items()}
            for row in range(len(self))
        ]


def place_clips(widths, heights, frames, fps, profile: str = "musubi", settings: dict | None = None) -> ClipTable:
    """Place video clips as the trainer of ``profile`` would, under its own ``settings`` names.

    ``frames`` and ``fps`` are the containers' counts and rates (``fps`` is ignored by musubi-tuner,
    which converts only by its ``source_fps`` setting). Bad sizes or frame counts never raise: the clip
    gets an error row with a one-line reason. Items musubi-tuner would write to one cache file twice
    (``uniform`` repeating a start) appear once.
    """
    trainer, chosen = clip_settings(profile, settings)
    widths, heights, size_errors = check_sizes(widths, heights)
    counts, _, _ = check_clips(frames)
    rates = np.asarray([np.nan if r is None else r for r in np.atleast_1d(fps)], dtype=np.float64)
    if rates.shape != counts.shape:
        raise ValueError("fps must have one value per clip")
    bucket_w, bucket_h, spatial_errors, windows = trainer.place(widths, heights, frames, rates, chosen)
    size_errors = np.where(size_errors == PlacementError.OK, spatial_errors, size_errors)
    kept = np.flatnonzero(~windows.repeat & (size_errors[windows.clip] == PlacementError.OK))
    failed = np.flatnonzero((windows.error != FrameError.OK) | (size_errors != PlacementError.OK))
    clip = np.concatenate([windows.clip[kept], failed])
    item = np.concatenate([kept, np.full(len(failed), -1)])
    order = np.lexsort((item < 0, clip))
    clip, item = clip[order], item[order]
    on_item = item >= 0
    safe = np.where(on_item, item, 0)

    def per_item(values, dtype):
        values = np.asarray(values)
        if len(values) == 0:
            return np.zeros(len(item), dtype=dtype)
        return np.where(on_item, values[safe] if len(values) else 0, 0).astype(dtype)

    errors = []
    for row_clip, row_item in zip(clip.tolist(), item.tolist(), strict=True):
        if row_item >= 0:
            errors.append("")
        elif size_errors[row_clip] != PlacementError.OK:
            errors.append(PlacementError(size_errors[row_clip]).reason)
        else:
            code = windows.error[row_clip]
            errors.append(frame_error_reason(code, windows.seen[row_clip], windows.needed[row_clip]))
    columns = {
        "clip": clip.astype(np.int64),
        "bucket_width": np.where(on_item, bucket_w[clip], 0).astype(np.int64),
        "bucket_height": np.where(on_item, bucket_h[clip], 0).astype(np.int64),
        "bucket_frames": per_item(windows.bucket_frames, np.int64),
        "start_frame": per_item(windows.start_frame, np.int64),
        "frame_stride": per_item(windows.frame_stride, np.float64),
        "frame_count": per_item(windows.frame_count, np.int64),
        "error": errors,
    }
    return ClipTable(columns=columns, item=item, windows=windows)
