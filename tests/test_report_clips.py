"""The report on a folder mixing images and clips: both reported; clip buckets, steps, timelines, skips."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner
from PIL import Image

from aspectbucket.cli import main
from aspectbucket.report.clip_timeline import timeline_svg
from aspectbucket.report.clips import clip_report
from aspectbucket.scan.clips import scan_clips
from media import write_audio_only, write_clip


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    Image.new("RGB", (96, 64), "red").save(folder / "photo.jpg")
    write_clip(folder / "a.mp4", 128, 72, 60, 24)
    write_clip(folder / "b_phone.mp4", 72, 128, 30, 30, rotation=90)
    write_clip(folder / "c_short.mkv", 64, 48, 5, 24)
    write_audio_only(folder / "d_audio.mp4")
    return folder


def test_clip_buckets_items_and_steps(dataset, tmp_path):
    clips = scan_clips(dataset, cache=tmp_path)
    report = clip_report(clips, "musubi", {"target_frames": [1, 25], "frame_extraction": "chunk"}, batch_size=2)
    buckets = {tuple(row["bucket"]): (row["items"], row["batches"]) for row in report["buckets"]}
    assert buckets == {
        (960, 544, 1): (60, 30),
        (960, 544, 25): (2, 1),
        (544, 960, 1): (30, 15),
        (544, 960, 25): (1, 1),
        (832, 624, 1): (5, 3),
    }
    assert report["steps_per_epoch"] == 50
    by_name = {os.path.basename(row["path"]): row for row in report["clips"]}
    assert by_name["a.mp4"]["unused_frames"] == 0
    assert by_name["d_audio.mp4"]["error"] == "no video stream (only audio)"
    assert (
        "b_phone.mp4: its display matrix turns it 90 degrees (stored 72x128; players show it turned); musubi: it "
        "decodes with PyAV and never applies the display matrix (media_utils.load_video): it buckets and trains the "
        "stored frames" in report["warnings"]
    )


def test_head_extraction_leaves_the_tail_unused(dataset, tmp_path):
    report = clip_report(scan_clips(dataset, cache=tmp_path), "musubi", {"target_frames": [25]})
    by_name = {os.path.basename(row["path"]): row for row in report["clips"]}
    assert by_name["a.mp4"]["unused_frames"] == 35
    assert by_name["c_short.mkv"]["error"] == "too short: the trainer sees 5 frames; 25 source frames would fit"


def test_report_command_reports_images_and_clips(dataset, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    before = sorted(os.listdir(dataset))
    result = CliRunner().invoke(
        main,
        [
            "report",
            str(dataset),
            "--no-cache",
            "--video-profile",
            "diffusion-pipe",
            "--video-setting",
            "frame_buckets=[17,33]",
            "--html",
            str(out / "report.html"),
            "--clips-json",
            str(out / "clips.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "1 image, 1 placed" in result.output
    assert "Clips: 4 through tdrussell diffusion-pipe" in result.output
    page = (out / "report.html").read_text()
    assert '<section id="clips"><h2>Video clips</h2>' in page
    assert page.count('class="timeline"') == 1  # only a.mp4 is long enough: 60 frames at 24 fps are 40 at 16
    assert page.count("data:image/jpeg;base64") >= 6
    data = json.loads((out / "clips.json").read_text())
    assert data["profile"] == "diffusion-pipe" and len(data["clips"]) == 4
    assert sorted(os.listdir(dataset)) == before


def test_strict_fails_on_a_skipped_clip(dataset):
    result = CliRunner().invoke(main, ["report", str(dataset), "--no-cache", "--strict"])
    assert result.exit_code == 1


def test_timeline_bars_mark_the_frames_read():
    svg = timeline_svg(10, [[0, 1, 2, 5], [7, 7, 8]])
    assert '<rect x="0" y="1" width="3"' in svg and '<rect x="5" y="1" width="1"' in svg
    assert '<rect x="7" y="9" width="2"' in svg
    many = timeline_svg(100, [[index] for index in range(20)])
    assert many.count("<rect") == 1 + 8  # the grey clip, 7 rows of one frame, then frames 7-19 merged in one run


def test_steps_follow_each_trainers_last_batch(dataset, tmp_path):
    clips = scan_clips(dataset, cache=tmp_path)
    settings = {"target_frames": [1], "frame_extraction": "chunk"}
    short = clip_report(clips, "musubi", settings, batch_size=4)  # 60, 30 and 5 one-frame items
    assert [row["batches"] for row in short["buckets"]] == [8, 2, 15]
    dropped = clip_report(clips, "diffusion-pipe", {"frame_buckets": [1, 17]}, batch_size=4)
    assert dropped["batch_policy"] == "drop"
    assert all(row["batches"] == row["items"] // 4 for row in dropped["buckets"])


def test_compare_puts_the_video_trainers_side_by_side(dataset):
    result = CliRunner().invoke(main, ["compare", str(dataset), "--no-cache", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["trainer"]: row for row in json.loads(result.output)["video_trainers"]}
    assert list(rows) == ["musubi", "diffusion-pipe", "ai-toolkit", "simpletuner"]
    assert (rows["musubi"]["items"], rows["musubi"]["skipped"]) == (3, 1)  # one first frame of each video
    assert rows["diffusion-pipe"]["skipped"] == 4  # frame_buckets defaults to [1]: no video fits
    table = CliRunner().invoke(main, ["compare", str(dataset), "--no-cache"]).output
    assert "Video trainers compared (each at its defaults), batch size 1" in table
