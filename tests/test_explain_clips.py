"""``aspectbucket explain WxHxF@FPS``: a clip's bucket, frame windows, unused frames and skips."""

from __future__ import annotations

import json

from click.testing import CliRunner

from aspectbucket.cli import main
from aspectbucket.report.clip_explain import explain_clip


def run(*args):
    return CliRunner().invoke(main, ["explain", *args])


def test_musubi_chunks_are_told_as_runs():
    result = run(
        "1280x720x81@24", "--video-setting", "target_frames=[1,25,45]", "--video-setting", "frame_extraction=chunk"
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "1280x720, 81 frames at 24 fps, 3.38 s -> kohya-ss musubi-tuner (Wan, HunyuanVideo, FramePack):",
        "  musubi-tuner never reads the clip's 24 fps: without source_fps it keeps every frame.",
        "  Items 1-81: bucket 960x544x1, 1 frame each, starting at frames 0 to 80, every 1.",
        "  Items 82-84: bucket 960x544x25, 25 frames each, starting at frames 0 to 50, every 25.",
        "  Item 85: bucket 960x544x45, 45 frames from frame 0, consecutive: 0-44.",
    ]


def test_unused_frames_and_conversion_are_named():
    facts = explain_clip(1280, 720, 81, 24, "diffusion-pipe", {"frame_buckets": [33, 65]})
    assert facts["seen_frames"] == 54
    assert facts["items"][0]["bucket"] == [512, 512, 33]
    assert facts["unused_frames"] == 48
    assert "The trainer counts 54 frames after converting the frame rate." in facts["sentences"]
    assert facts["sentences"][-1].startswith("48 of 81 frames are never used (2, 5, 8,")


def test_a_too_short_clip_exits_1_with_the_length_that_fits():
    result = run("1280x720x20@30", "--video-profile", "diffusion-pipe", "--video-setting", "frame_buckets=[33]")
    assert result.exit_code == 1
    assert "Skipped: too short: the trainer sees 10 frames; 62 source frames would fit." in result.output


def test_json_mixes_images_and_clips():
    result = run("576x768", "1280x720x161@24", "--video-profile", "ai-toolkit", "--video-setting", "num_frames=33",
                 "--video-setting", "shrink_video_to_frames=false", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    image, clip = json.loads(result.output)
    assert (image["bucket_width"], image["bucket_height"]) == (448, 576)
    assert clip["items"][0]["random_start_up_to"] == 128
    assert clip["items"][0]["frames"] == list(range(33))


def test_bad_settings_are_usage_errors():
    result = run("1280x720x81@24", "--video-setting", "frames=3")
    assert result.exit_code == 2
    assert "musubi has no setting frames; its video settings are: architecture" in result.output
    assert run("1280x720x81@24", "--video-setting", "nonsense").exit_code == 2
