"""Clips in the scan: headers read without decoding, odd and broken media, the clip cache."""

from __future__ import annotations

import os

import av
import numpy as np
import pytest
from PIL import Image

from aspectbucket import place_clips
from aspectbucket.scan import scan
from aspectbucket.scan.clips import FrameSource, clip_cache_file, read_clip_header, scan_clips
from media import truncate, write_audio_only, write_clip


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory):
    """A folder of images and clips of every kind the scan must survive."""
    folder = tmp_path_factory.mktemp("mixed")
    Image.new("RGB", (96, 64)).save(folder / "photo.jpg")
    write_clip(folder / "a_plain.mp4", 64, 48, 7, 24)
    write_clip(folder / "b_phone.mp4", 64, 48, 5, 30, rotation=90)
    write_clip(folder / "c_wide.mkv", 80, 32, 9, 25)
    write_clip(folder / "d_vfr.mp4", 64, 48, 6, 30, frame_times=[0, 0.03, 0.06, 0.5, 0.53, 1.2])
    write_audio_only(folder / "e_audio.mp4")
    truncate(write_clip(folder / "f_cut.mp4", 64, 48, 30, 24))
    truncate(write_clip(folder / "g_cut.mkv", 64, 48, 30, 24))
    (folder / "h_text.mp4").write_text("not a video")
    with av.open(str(folder / "i_empty.mp4"), "w") as container:  # a video track that never got a frame
        stream = container.add_stream("mpeg4", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()
    write_clip(folder / "j_webm.webm", 80, 32, 4, 16, codec="libvpx")
    return folder


def _by_name(result):
    return {os.path.basename(path): row for row, path in enumerate(result.paths)}


def test_headers_of_good_clips(mixed_folder, tmp_path):
    result = scan_clips(mixed_folder, cache=tmp_path)
    rows = _by_name(result)
    plain = rows["a_plain.mp4"]
    assert (result.width[plain], result.height[plain], result.frames[plain], result.fps[plain]) == (64, 48, 7, 24)
    assert result.frames_from[plain] == FrameSource.CONTAINER
    assert result.duration[plain] == pytest.approx(7 / 24, abs=0.02)
    wide = rows["c_wide.mkv"]  # Matroska records no frame count: the packets are counted
    assert (result.frames[wide], result.frames_from[wide]) == (9, FrameSource.PACKETS)
    assert result.frames[rows["j_webm.webm"]] == 4
    assert result.error[plain] == result.error[wide] == ""


def test_broken_and_odd_media_get_one_line_reasons(mixed_folder, tmp_path):
    result = scan_clips(mixed_folder, cache=tmp_path)
    rows = _by_name(result)
    assert len(result) == 10  # every clip keeps its row; the image is not a clip
    assert result.error[rows["e_audio.mp4"]] == "no video stream (only audio)"
    assert result.error[rows["f_cut.mp4"]] == "not a video PyAV can open: Invalid data found when processing input"
    assert result.error[rows["h_text.mp4"]].startswith("not a video PyAV can open")
    assert result.error[rows["i_empty.mp4"]] == "no video stream"
    cut = rows["g_cut.mkv"]
    assert result.error[cut] == "" and 0 < result.frames[cut] < 30
    assert "variable frame rate or dropped frames" in result.warning[cut]
    assert result.warning[rows["d_vfr.mp4"]].startswith("variable frame rate")
    assert all("\n" not in text for text in result.error + result.warning)


@pytest.mark.parametrize("degrees", [90, -90, 180, 45])
def test_rotation_matches_what_decoding_reports(tmp_path, degrees):
    path = write_clip(tmp_path / "turned.mov", rotation=degrees)
    with av.open(str(path)) as container:
        decoded = next(container.decode(video=0)).rotation
    assert read_clip_header(path).rotation == round(decoded) % 360


def test_rotated_clips_swap_their_displayed_size(mixed_folder, tmp_path):
    result = scan_clips(mixed_folder, cache=tmp_path)
    phone = _by_name(result)["b_phone.mp4"]
    assert result.rotated[phone] and result.rotation[phone] == 90
    widths, heights = result.sizes(respect_rotation=True)
    assert (widths[phone], heights[phone]) == (48, 64)
    assert result.sizes(respect_rotation=False)[0][phone] == 64


def test_cache_reuses_unchanged_clips_and_rereads_changed_ones(mixed_folder, tmp_path):
    first = scan_clips(mixed_folder, cache=tmp_path)
    assert first.from_cache == 0 and clip_cache_file(tmp_path, mixed_folder).exists()
    again = scan_clips(mixed_folder, cache=tmp_path)
    assert again.from_cache == len(first)
    assert again.frames.tolist() == first.frames.tolist() and again.error == first.error
    stat = os.stat(mixed_folder / "a_plain.mp4")
    os.utime(mixed_folder / "a_plain.mp4", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert scan_clips(mixed_folder, cache=tmp_path).from_cache == len(first) - 1


def test_nothing_is_written_under_the_input(mixed_folder, tmp_path):
    before = sorted(os.listdir(mixed_folder))
    scan_clips(mixed_folder, cache=tmp_path / "cache")
    scan_clips(mixed_folder, use_cache=False, cache=tmp_path / "unused")
    assert sorted(os.listdir(mixed_folder)) == before
    assert not (tmp_path / "unused").exists()


def test_an_unwritable_cache_is_a_warning(mixed_folder, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    result = scan_clips(mixed_folder, cache=blocker / "cache")
    assert len(result) == 10
    assert any("clip cache" in warning for warning in result.warnings)


def test_a_mixed_folder_gives_images_and_clips(mixed_folder, tmp_path):
    images = scan(mixed_folder, cache=tmp_path)
    clips = scan_clips(mixed_folder, cache=tmp_path)
    assert [os.path.basename(path) for path in images.paths.strings] == ["photo.jpg"]
    table = place_clips(clips.width, clips.height, clips.frames, clips.fps, profile="diffusion-pipe")
    assert set(table.columns["clip"].tolist()) == set(range(len(clips)))
    errors = np.array(table.columns["error"], dtype=object)
    assert (errors[table.columns["clip"] == _by_name(clips)["e_audio.mp4"]] != "").all()
