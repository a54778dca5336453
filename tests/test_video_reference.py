"""Every video case of the reference vectors, reproduced: bucket (w, h, frames), frames read, skip reasons.

The vectors are the trainers' own code run on the clip recipe (tests/data/vectors/README.md):
ai-toolkit, diffusion-pipe and SimpleTuner video cases, and musubi-tuner's video cases of the
batching file (items, frames loaded, buckets and batches per bucket).
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from aspectbucket import BucketOptions, place, place_clips
from aspectbucket.geometry.ai_toolkit import ai_toolkit_bucket
from aspectbucket.geometry.clip_sizes import diffusion_pipe_listed_buckets
from aspectbucket.geometry.diffusion_pipe import bucket_sizes, nearest_ratio, ratio_buckets, resolution_sides
from aspectbucket.geometry.frames import (
    FrameError,
    ai_toolkit_frames,
    diffusion_pipe_converted_frames,
    diffusion_pipe_frames,
    musubi_frames,
    musubi_kept_frames,
    simpletuner_frames,
)
from conftest import load_vectors

AI_TOOLKIT = load_vectors("ai_toolkit")
DIFFUSION_PIPE = load_vectors("diffusion_pipe")
SIMPLETUNER = load_vectors("simpletuner")
BATCHING = load_vectors("batching")


def _video_cases(vectors, is_video):
    return [pytest.param(case, id=f"case{index}") for index, case in enumerate(vectors["cases"]) if is_video(case)]


def _one_item(windows, clip: int) -> int:
    items = np.flatnonzero(windows.clip == clip)
    assert len(items) <= 1
    return int(items[0]) if len(items) else -1


# -- ai-toolkit ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case", _video_cases(AI_TOOLKIT, lambda c: "num_frames" in c["settings"] or "auto_frame_count" in c["settings"])
)
def test_ai_toolkit_video_case(case):
    settings = case["settings"]
    clips = np.array(AI_TOOLKIT["video_clips"])
    windows = ai_toolkit_frames(
        clips[:, 2],
        clips[:, 3],
        num_frames=settings.get("num_frames", 1),
        auto_frame_count=settings.get("auto_frame_count", False),
        dataset_fps=settings.get("fps", 24),
        temporal_compression=settings["temporal_compression"],
        shrink_video_to_frames=settings.get("shrink_video_to_frames", True),
    )
    bucket_w, bucket_h = ai_toolkit_bucket(
        clips[:, 0], clips[:, 1], settings["resolution"], settings["bucket_tolerance"]
    )
    random_starts = 0
    for clip, placement in enumerate(case["placements"]):
        item = _one_item(windows, clip)
        assert placement["error"] is None and item >= 0
        assert [int(bucket_w[clip]), int(bucket_h[clip]), int(windows.bucket_frames[item])] == placement["bucket"]
        taken = windows.frames_of(item).tolist()
        expected = placement["extra"]["frames_taken"]
        if windows.start_max[item] > 0:  # drawn by random.randint from Python's global state
            random_starts += 1
            start = expected[0]
            assert 0 <= start <= windows.start_max[item]
            assert [start + frame for frame in taken] == expected
        else:
            assert taken == expected
    assert random_starts == 0 or not settings.get("shrink_video_to_frames", True)


# -- diffusion-pipe -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _video_cases(DIFFUSION_PIPE, lambda c: "video" in c["settings"]["media"]))
def test_diffusion_pipe_video_case(case):
    settings = case["settings"]
    clips = np.array(DIFFUSION_PIPE["videos"])
    model_fps = settings["model_framerate"]
    preprocess = settings["preprocess"]
    listed = None
    if "size_buckets" in settings:
        converted = diffusion_pipe_converted_frames(clips[:, 2], clips[:, 3].astype(float), model_fps)
        listed = diffusion_pipe_listed_buckets(clips[:, 0], clips[:, 1], converted, settings["size_buckets"])
        bucket_w, bucket_h, frame_bucket = listed[:, 0], listed[:, 1], listed[:, 2]
    else:
        ratios = ratio_buckets(settings["min_ar"], settings["max_ar"], settings["num_ar_buckets"])
        assert ratios.tolist() == case["effective"]["ars"]
        (side,) = resolution_sides(settings["resolutions"])
        ratio_w, ratio_h = bucket_sizes(ratios, side, settings["pixels_round_to_multiple"])
        nearest = nearest_ratio(clips[:, 0], clips[:, 1], ratios)
        bucket_w, bucket_h = ratio_w[nearest], ratio_h[nearest]
        frame_bucket = None
    windows = diffusion_pipe_frames(
        clips[:, 2],
        clips[:, 3],
        frame_buckets=settings.get("frame_buckets", [1]),
        model_fps=model_fps,
        round_frames=preprocess["round_frames"],
        video_clip_mode=preprocess["video_clip_mode"],
        bucket_frames=frame_bucket,
    )
    for clip, placement in enumerate(case["placements"]):
        item = _one_item(windows, clip)
        if placement["bucket"] is None:
            assert item < 0 and windows.error[clip] == FrameError.TOO_SHORT
            assert placement["error"] == (
                f"video with frames={windows.seen[clip]} is being skipped because it is too short"
            )
            continue
        extra = placement["extra"]
        assert [int(bucket_w[clip]), int(bucket_h[clip]), int(windows.bucket_frames[item])] == placement["bucket"]
        assert windows.seen[clip] == extra["frames_resampled"]
        assert windows.frame_count[item] == extra["frames_rounded"]
        assert windows.frames_of(item).tolist() == extra["frames_taken"]


# -- SimpleTuner --------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _video_cases(SIMPLETUNER, lambda c: c["settings"].get("dataset_type") == "video"))
def test_simpletuner_video_case(case):
    """Frames and skips by the frame rule; the (w, h) of the clips it keeps through place_clips, in order."""
    settings = case["settings"]
    video = settings["effective_backend_config"]["video"]
    clips = np.array(SIMPLETUNER["videos"])
    windows = simpletuner_frames(clips[:, 2], num_frames=video["num_frames"], min_frames=video["min_frames"])
    table = place_clips(
        clips[:, 0],
        clips[:, 1],
        clips[:, 2],
        clips[:, 3],
        "simpletuner",
        {
            "resolution": settings["resolution"],
            "resolution_type": settings["resolution_type"],
            "crop": settings["crop"],
            "num_frames": video["num_frames"],
            "min_frames": video["min_frames"],
        },
    )
    rows = table.rows()
    too_short = (
        "too_small: meets_resolution_requirements() False; minimum_image_size=None (area), "
        f"min_frames={float(video['min_frames'])}, max_frames=None"
    )
    for clip, placement in enumerate(case["placements"]):
        item = _one_item(windows, clip)
        if placement["bucket"] is None:
            assert placement["error"] == too_short
            assert item < 0 and windows.error[clip] == FrameError.TOO_SHORT
            assert windows.needed[clip] == video["min_frames"]
        else:
            (row,) = [row for row in rows if row["clip"] == clip]
            assert [row["bucket_width"], row["bucket_height"]] == placement["bucket"]
            assert windows.frame_count[item] == placement["extra"]["num_frames"]
            assert windows.frames_of(item).tolist() == list(range(placement["extra"]["num_frames"]))


# -- musubi-tuner -------------------------------------------------------------------------------------


def _runs(items):
    """Items ``(start, frames)`` as the vectors' runs ``[start, frames, step, count]`` (step > 0 to merge)."""
    runs = []
    for start, frames in items:
        if runs and runs[-1][1] == frames:
            run = runs[-1]
            if run[3] == 1 and start > run[0]:
                run[2] = start - run[0]
            if run[2] > 0 and start == run[0] + run[2] * run[3]:
                run[3] += 1
                continue
        runs.append([start, frames, 0, 1])
    return runs


@pytest.mark.parametrize("case", _video_cases(BATCHING, lambda c: c["trainer"] == "musubi-tuner"))
def test_musubi_video_case(case):
    settings = case["settings"]
    clips = np.array(BATCHING["clips"])
    per_clip_fps = settings["source_fps"] is not None
    source_fps = clips[:, 3].astype(float) if per_clip_fps else None
    target_fps = settings["target_fps"] or 16.0
    windows = musubi_frames(
        clips[:, 2],
        target_frames=settings["target_frames"],
        frame_extraction=settings["frame_extraction"],
        frame_stride=settings["frame_stride"],
        frame_sample=settings["frame_sample"],
        max_frames=settings["max_frames"],
        source_fps=source_fps,
        target_fps=target_fps,
    )
    spatial = place(
        clips[:, 0],
        clips[:, 1],
        BucketOptions(resolution=tuple(settings["resolution"]), bucket_reso_steps=16),
        "musubi",
    )
    trained = Counter()
    for clip, placement in enumerate(case["placements"]):
        extra = placement["extra"]
        assert windows.seen[clip] == extra["loaded"]
        items = np.flatnonzero(windows.clip == clip)
        if placement["bucket"] is None:
            assert placement["error"] == "no item: too few frames"
            assert len(items) == 0 and windows.error[clip] == FrameError.TOO_SHORT
            continue
        bucket = [int(spatial.bucket_width[clip]), int(spatial.bucket_height[clip])]
        assert bucket == placement["bucket"]
        converted = np.arange(clips[clip, 2])
        if per_clip_fps:
            converted = np.flatnonzero(musubi_kept_frames(clips[clip, 3], target_fps, clips[clip, 2]) >= 0)
        starts = [int(np.searchsorted(converted, windows.start_frame[item])) for item in items]
        assert _runs(zip(starts, windows.frame_count[items].tolist(), strict=True)) == extra["runs"]
        for item in items:  # each window reads consecutive converted frames
            start = int(np.searchsorted(converted, windows.start_frame[item]))
            assert windows.frames_of(item).tolist() == converted[start : start + windows.frame_count[item]].tolist()
        distinct = items[~windows.repeat[items]]
        assert len(distinct) == extra.get("distinct", len(items))
        group = clips[clip, 3] if per_clip_fps else None
        for item in distinct:
            trained[(group, *bucket, int(windows.bucket_frames[item]))] += 1
    batching = case["batching"]
    repeats, batch_size = batching["repeats"], batching["batch_size"]
    expected = Counter()
    for row in batching["per_bucket"]:
        expected[(row.get("source_fps"), *row["bucket"])] += row["images"]
        assert row["batches"] == math.ceil(row["images"] * repeats / batch_size)
    assert trained == expected
    steps = sum(math.ceil(count * repeats / batch_size) for count in trained.values())
    assert steps == batching["steps_per_epoch"]
