"""aspectbucket.place_clips: one row per training item, one error row per clip that yields none."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aspectbucket import CLIP_TRAINERS, place_clips
from aspectbucket.profiles.clips import COLUMNS
from conftest import load_vectors


def test_musubi_uniform_repeats_appear_once():
    clips = np.array(load_vectors("batching")["clips"])
    table = place_clips(
        clips[:, 0],
        clips[:, 1],
        clips[:, 2],
        clips[:, 3],
        profile="musubi",
        settings={"target_frames": [1, 25, 45], "frame_extraction": "uniform", "frame_sample": 3},
    )
    one_frame = np.flatnonzero(clips[:, 2] == 1)
    for clip in one_frame:  # np.linspace(0, 0, 3) repeats start 0: the trainer caches it once
        rows = np.flatnonzero(table.columns["clip"] == clip)
        assert table.columns["frame_count"][rows].tolist() == [1]
    assert list(table.columns) == list(COLUMNS)


def test_error_rows_carry_the_reason_and_zeros():
    table = place_clips(
        [1280, 640, None, 720],
        [720, 480, 10, 1280],
        [81, 3, 5, 0],
        [16, 24, 24, 30],
        profile="diffusion-pipe",
        settings={"frame_buckets": [33, 65], "enable_ar_bucket": True},
    )
    rows = table.rows()
    assert [row["clip"] for row in rows] == [0, 1, 2, 3]
    assert (rows[0]["bucket_width"], rows[0]["bucket_height"], rows[0]["bucket_frames"]) == (640, 400, 65)
    assert rows[1]["error"] == "too short: the trainer sees 2 frames; 50 source frames would fit"
    assert rows[2]["error"] == "missing width or height"
    assert rows[3]["error"] == "the clip has no frames"
    assert all(row["frame_count"] == 0 and row["bucket_width"] == 0 for row in rows[1:])


def test_settings_use_the_trainers_own_names():
    with pytest.raises(ValueError, match="musubi has no setting num_frames; its video settings are: architecture"):
        place_clips([640], [480], [81], [16], profile="musubi", settings={"num_frames": 81})
    with pytest.raises(ValueError, match="no video rules for profile 'kohya'"):
        place_clips([640], [480], [81], [16], profile="kohya")
    with pytest.raises(ValueError, match="one of resolutions at a time"):
        place_clips([640], [480], [81], [16], profile="diffusion-pipe", settings={"resolutions": [512, 768]})
    with pytest.raises(ValueError, match="one resolution at a time"):
        place_clips([640], [480], [81], [16], profile="ai-toolkit", settings={"resolution": [512, 768]})
    with pytest.raises(ValueError, match="architecture 'sdxl'"):
        place_clips([640], [480], [81], [16], profile="musubi", settings={"architecture": "sdxl"})


def test_ai_toolkit_stretches_short_clips_and_reports_the_stride():
    table = place_clips([1280, 1280], [720, 720], [161, 41], [24, 24], "ai-toolkit", {"num_frames": 81})
    assert table.columns["frame_stride"].tolist() == [2.0, 0.5]
    assert table.columns["bucket_frames"].tolist() == [81, 81]
    assert table.windows.frames_of(1).tolist()[:4] == [0, 0, 1, 2]  # round half to even: 0.5 -> 0, 1.5 -> 2


@settings(max_examples=40, deadline=None)
@given(
    profile=st.sampled_from(sorted(CLIP_TRAINERS)),
    clips=st.lists(
        st.tuples(st.integers(1, 4000), st.integers(1, 4000), st.integers(0, 300), st.sampled_from([0, 8, 24, 30])),
        min_size=1,
        max_size=20,
    ),
)
def test_every_clip_has_items_or_one_error_row(profile, clips):
    widths, heights, frames, fps = (list(column) for column in zip(*clips, strict=True))
    table = place_clips(widths, heights, frames, fps, profile=profile)
    clip = table.columns["clip"]
    assert sorted(set(clip.tolist())) == list(range(len(clips)))
    assert (np.diff(clip) >= 0).all()
    errors = np.array(table.columns["error"], dtype=object)
    for index in range(len(clips)):
        rows = np.flatnonzero(clip == index)
        failed = errors[rows] != ""
        assert failed.all() or not failed.any()
        assert not failed.any() or len(rows) == 1
        if not failed.any():
            assert (table.columns["frame_count"][rows] >= 1).all()
            assert (table.columns["bucket_width"][rows] > 0).all()


def test_odd_media_values_get_reasons():
    table = place_clips([10_000_000, 640, 640], [10, 480, 480], [10, 81, 10_000_000], [24, 0, 24], "diffusion-pipe")
    assert table.columns["error"] == [
        "a side is over 1048576 pixels: the size is not believable",
        "the clip's frame rate is missing or 0, and the trainer converts by frame rate",
        "the frame count is over 4194304: the header is not believable",
    ]
