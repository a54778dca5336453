"""The vectorised frame rules against their one-clip-at-a-time oracle, and their invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aspectbucket.geometry.clip_sizes import diffusion_pipe_listed_buckets
from aspectbucket.geometry.frames import (
    MAX_FRAMES,
    FrameError,
    ai_toolkit_frames,
    diffusion_pipe_frames,
    frame_error_reason,
    musubi_frames,
    simpletuner_frames,
    torch_linspace_int,
)
from aspectbucket.geometry.frames_reference import (
    ai_toolkit_reference,
    diffusion_pipe_listed_reference,
    diffusion_pipe_reference,
    musubi_reference,
    simpletuner_reference,
)

frame_counts = st.lists(st.integers(1, 400), min_size=1, max_size=12)
rates = st.sampled_from([8.0, 12.0, 15.0, 16.0, 23.976, 24.0, 25.0, 29.97, 30.0, 50.0, 60.0, 120.0])


#: Every clip length up to one that fits any target drawn below, at any rate drawn below.
LENGTHS = np.arange(1, 1000)


def _fewest(windows, at_least: int = 1) -> int:
    """The shortest of :data:`LENGTHS`, from ``at_least`` on, that yields an item (0 if none)."""
    has_item = np.isin(np.arange(len(LENGTHS)), windows.clip) & (at_least <= LENGTHS)
    return int(LENGTHS[has_item.argmax()]) if has_item.any() else 0


def _check_needed(windows, longer):
    for clip in np.flatnonzero(windows.error == FrameError.TOO_SHORT):
        assert windows.needed[clip] == _fewest(longer)


def _items(windows, clip):
    return [
        (int(windows.bucket_frames[item]), windows.frames_of(int(item)).tolist())
        for item in np.flatnonzero(windows.clip == clip)
    ]


@settings(max_examples=60, deadline=None)
@given(
    frames=frame_counts,
    targets=st.lists(st.integers(1, 90), min_size=1, max_size=3),
    extraction=st.sampled_from(["head", "chunk", "slide", "uniform", "full"]),
    stride=st.integers(1, 30),
    sample=st.integers(1, 5),
    max_frames=st.integers(1, 200),
    source_fps=st.none() | rates,
    target_fps=st.sampled_from([16.0, 24.0, 30.0]),
)
def test_musubi_matches_reference(frames, targets, extraction, stride, sample, max_frames, source_fps, target_fps):
    rules = {
        "target_frames": targets,
        "frame_extraction": extraction,
        "frame_stride": stride,
        "frame_sample": sample,
        "max_frames": max_frames,
        "source_fps": source_fps,
        "target_fps": target_fps,
    }
    windows = musubi_frames(frames, **rules)
    for clip, count in enumerate(frames):
        seen, items = musubi_reference(count, targets, extraction, stride, sample, max_frames, source_fps, target_fps)
        assert windows.seen[clip] == seen
        assert _items(windows, clip) == items
        if not items:
            assert windows.error[clip] == FrameError.TOO_SHORT
    _check_needed(windows, musubi_frames(LENGTHS, **rules))


@settings(max_examples=60, deadline=None)
@given(
    frames=frame_counts,
    fps=st.lists(rates, min_size=12, max_size=12),
    buckets=st.lists(st.integers(1, 120), min_size=1, max_size=4),
    model_fps=st.sampled_from([16.0, 24.0, 25.0]),
    round_frames=st.sampled_from([4, 8]),
    middle=st.booleans(),
)
def test_diffusion_pipe_matches_reference(frames, fps, buckets, model_fps, round_frames, middle):
    fps = fps[: len(frames)]
    windows = diffusion_pipe_frames(
        frames,
        fps,
        frame_buckets=buckets,
        model_fps=model_fps,
        round_frames=round_frames,
        video_clip_mode="single_middle" if middle else "single_beginning",
    )
    for clip, count in enumerate(frames):
        seen, items = diffusion_pipe_reference(count, fps[clip], buckets, model_fps, round_frames, middle)
        assert windows.seen[clip] == seen
        assert _items(windows, clip) == items
    for clip, rate in enumerate(fps):
        longer = diffusion_pipe_frames(LENGTHS, np.full(len(LENGTHS), rate), frame_buckets=buckets, model_fps=model_fps)
        if windows.error[clip] == FrameError.TOO_SHORT:
            assert windows.needed[clip] == _fewest(longer, frames[clip])


@settings(max_examples=60, deadline=None)
@given(
    frames=frame_counts,
    fps=st.lists(rates, min_size=12, max_size=12),
    num_frames=st.integers(1, 120),
    auto=st.booleans(),
    dataset_fps=st.sampled_from([16.0, 24.0]),
    trim=st.booleans(),
    tc=st.sampled_from([4, 8]),
    shrink=st.booleans(),
)
def test_ai_toolkit_matches_reference(frames, fps, num_frames, auto, dataset_fps, trim, tc, shrink):
    fps = fps[: len(frames)]
    windows = ai_toolkit_frames(
        frames,
        fps,
        num_frames=num_frames,
        auto_frame_count=auto,
        dataset_fps=dataset_fps,
        trim_auto_frame_count_tail=trim,
        temporal_compression=tc,
        shrink_video_to_frames=shrink,
    )
    for clip, count in enumerate(frames):
        seen, items = ai_toolkit_reference(count, fps[clip], num_frames, auto, dataset_fps, trim, tc, shrink)
        assert windows.seen[clip] == seen
        assert _items(windows, clip) == items
        (item,) = np.flatnonzero(windows.clip == clip)
        assert 0 <= windows.start_max[item] <= count - 1


@settings(max_examples=60, deadline=None)
@given(
    frames=frame_counts,
    num_frames=st.integers(1, 200),
    extra_min=st.none() | st.integers(0, 50),
    max_frames=st.none() | st.integers(1, 400),
    strategy=st.sampled_from(["aspect_ratio", "resolution_frames"]),
    interval=st.none() | st.integers(1, 40),
    trim=st.sampled_from(["none", "8n+1", "17n+5"]),
)
def test_simpletuner_matches_reference(frames, num_frames, extra_min, max_frames, strategy, interval, trim):
    min_frames = None if extra_min is None else num_frames + extra_min
    windows = simpletuner_frames(
        frames,
        num_frames=num_frames,
        min_frames=min_frames,
        max_frames=max_frames,
        bucket_strategy=strategy,
        frame_interval=interval,
        trim=trim,
    )
    for clip, count in enumerate(frames):
        seen, items = simpletuner_reference(count, num_frames, min_frames, max_frames, strategy, interval, trim)
        assert windows.seen[clip] == seen
        assert _items(windows, clip) == items


def test_torch_linspace_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    ends = rng.integers(0, 2000, 400)
    steps = rng.integers(1, 3000, 400)
    for end, count in zip(ends.tolist(), steps.tolist(), strict=True):
        expected = torch.linspace(0, end, count).to(torch.int32).tolist()
        position = np.arange(count)
        ours = torch_linspace_int(np.full(count, end), np.full(count, count), position)
        assert ours.tolist() == expected, (end, count)


def test_odd_clips_get_an_error_not_a_crash():
    frames = [0, None, -3, 2.5, MAX_FRAMES + 1, 10, 10]
    fps = [24, 24, 24, 24, 24, 0, float("nan")]
    for windows in (
        musubi_frames(frames, target_frames=[1]),
        diffusion_pipe_frames(frames, fps, frame_buckets=[1, 5]),
        ai_toolkit_frames(frames, fps, num_frames=5, auto_frame_count=True),
        simpletuner_frames(frames, num_frames=5),
    ):
        assert windows.error[:5].tolist() == [FrameError.NO_FRAMES] * 4 + [FrameError.NOT_BELIEVABLE]
        assert not np.isin(windows.clip, range(5)).any()
    assert diffusion_pipe_frames(frames, fps).error[5:].tolist() == [FrameError.NO_FPS] * 2
    assert musubi_frames([10], source_fps=0.0).error.tolist() == [FrameError.NO_FPS]
    assert musubi_frames([10], source_fps=float("nan")).seen.tolist() == [1]  # NaN: no conversion, head of 1


def test_reasons_name_what_the_trainer_sees():
    windows = diffusion_pipe_frames([20], [30], frame_buckets=[33], model_fps=16)
    assert windows.seen.tolist() == [10]
    reason = frame_error_reason(windows.error[0], windows.seen[0], windows.needed[0])
    assert reason == "too short: the trainer sees 10 frames; 62 source frames would fit"


def test_unused_frames_and_strides():
    windows = musubi_frames([100], target_frames=[25], frame_extraction="chunk")
    assert windows.frame_count.tolist() == [25] * 4
    assert windows.start_frame.tolist() == [0, 25, 50, 75]
    assert windows.frame_stride.tolist() == [1.0] * 4
    assert windows.used_frames(0, 100).all()
    head = musubi_frames([100], target_frames=[25])
    assert np.flatnonzero(~head.used_frames(0, 100)).tolist() == list(range(25, 100))
    spread = ai_toolkit_frames([161], [24], num_frames=81)
    assert spread.frame_stride.tolist() == [2.0]


@settings(max_examples=80, deadline=None)
@given(
    sizes=st.lists(st.tuples(st.integers(16, 4000), st.integers(16, 4000), st.integers(0, 120)), min_size=1),
    buckets=st.lists(
        st.tuples(st.sampled_from([256, 384, 512, 640, 832]), st.sampled_from([256, 384, 512, 640, 832]),
                  st.sampled_from([1, 17, 33, 65, 81])),
        min_size=1,
        max_size=7,
    ),
)  # fmt: skip
def test_diffusion_pipe_listed_buckets_match_reference(sizes, buckets):
    widths, heights, converted = (np.array(column) for column in zip(*sizes, strict=True))
    chosen = diffusion_pipe_listed_buckets(widths, heights, converted, buckets)
    for row, (width, height, frames) in enumerate(sizes):
        expected = diffusion_pipe_listed_reference(width, height, frames, buckets)
        assert tuple(chosen[row].tolist()) == (expected or (0, 0, 0))
