"""Exporting clips: each training window as a clip of the bucket's size, or the clip pre-cropped; resumable."""

from __future__ import annotations

import os
from dataclasses import replace

import av
import numpy as np
import pytest
from click.testing import CliRunner

from aspectbucket import place_clips
from aspectbucket.cli import main
from aspectbucket.export.clips import CLIP_JOURNAL, plan_clip_export, run_clip_export
from aspectbucket.scan.clips import scan_clips
from media import write_clip


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    write_clip(folder / "wide.mp4", 128, 72, 30, 24)  # frame i is painted grey level 8 * i
    write_clip(folder / "tall.mkv", 72, 128, 12, 16)
    return folder


def _levels(path) -> list[float]:
    with av.open(str(path)) as container:
        return [float(frame.to_ndarray(format="gray").mean()) for frame in container.decode(video=0)]


def _jobs(dataset, tmp_path, mode="train", **settings):
    clips = scan_clips(dataset, cache=tmp_path / "cache")
    table = place_clips(clips.width, clips.height, clips.frames, clips.fps, "musubi", settings)
    return plan_clip_export(clips, table, dataset, mode)


def test_train_windows_hold_the_frames_read_at_the_bucket_size(dataset, tmp_path):
    jobs = _jobs(dataset, tmp_path, target_frames=[9], frame_extraction="chunk")
    outputs = sorted(job.output for job in jobs)
    assert outputs == [
        "tall_00000-009x544x960.mp4",
        "wide_00000-009x960x544.mp4",
        "wide_00009-009x960x544.mp4",
        "wide_00018-009x960x544.mp4",
    ]
    summary = run_clip_export(jobs, tmp_path / "out")
    assert (summary.written, summary.failed) == (4, [])
    with av.open(str(tmp_path / "out" / "wide_00009-009x960x544.mp4")) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (960, 544)
    levels = _levels(tmp_path / "out" / "wide_00009-009x960x544.mp4")
    assert np.allclose(levels, [8 * frame for frame in range(9, 18)], atol=3)


def test_precrop_keeps_every_frame_at_full_resolution(dataset, tmp_path):
    jobs = _jobs(dataset, tmp_path, mode="precrop", target_frames=[9])
    by_name = {job.output: job for job in jobs}
    assert sorted(by_name) == ["tall.mp4", "wide.mp4"]
    assert by_name["wide.mp4"].size == (126, 72) and len(by_name["wide.mp4"].frames) == 30
    run_clip_export(jobs, tmp_path / "out")
    assert len(_levels(tmp_path / "out" / "wide.mp4")) == 30


def test_a_second_run_resumes_and_a_changed_source_is_redone(dataset, tmp_path):
    jobs = _jobs(dataset, tmp_path, target_frames=[9])
    out = tmp_path / "out"
    assert run_clip_export(jobs, out).written == 2
    again = run_clip_export(jobs, out)
    assert (again.written, again.skipped) == (0, 2)
    (out / jobs[0].output).unlink()  # as if interrupted before this one
    assert run_clip_export(jobs, out).written == 1
    assert (out / CLIP_JOURNAL).read_text().count("\n") == 2
    assert not [name for name in os.listdir(out) if name.endswith(".tmp.mp4")]


def test_a_clip_that_cannot_give_its_frames_fails_alone(dataset, tmp_path):
    jobs = _jobs(dataset, tmp_path, target_frames=[9])
    broken = replace(jobs[0], frames=(0, 1, 500), output="broken.mp4")
    summary = run_clip_export([broken, *jobs], tmp_path / "out")
    assert summary.written == 2
    assert summary.failed == [f"{broken.source}: the clip ends before frame 500"]
    assert not (tmp_path / "out" / "broken.mp4").exists()


def test_export_command_writes_clips_and_never_into_the_source(dataset, tmp_path):
    before = sorted(os.listdir(dataset))
    out = tmp_path / "out"
    args = ["export", str(dataset), str(out), "--video-setting", "target_frames=[9]"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "clips: 2 written, 0 already done, 0 failed" in result.output
    assert "clips: 0 written, 2 already done" in CliRunner().invoke(main, args).output
    assert sorted(os.listdir(dataset)) == before
    assert CliRunner().invoke(main, ["export", str(dataset), str(dataset / "out")]).exit_code == 2
