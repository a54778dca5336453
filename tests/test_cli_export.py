"""``aspectbucket export`` on the command line: inputs, refusals, dry runs, and a real killed run resumed."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from aspectbucket.cli import main
from aspectbucket.export.run import METADATA_NAME, TEMP_SUFFIX
from test_export_pixels import smooth_pixels
from test_export_run import FailingWrites


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def make_images(folder: Path, count: int, size=(600, 400)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        width, height = size[0] + 7 * index, size[1]
        Image.fromarray(smooth_pixels(width, height, seed=index)).save(folder / f"img{index:03d}.png")
        (folder / f"img{index:03d}.caption").write_text(f"caption {index}")
    return folder


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        path.relative_to(folder).as_posix(): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.rglob("*")
        if path.is_file()
    }


def invoke(*args: str):
    return CliRunner().invoke(main, ["export", *map(str, args)])


def test_export_writes_the_mirrored_tree_and_reports(tmp_path):
    make_images(tmp_path / "data" / "5_sks dog", 2)
    make_images(tmp_path / "data" / "1_other", 1)
    result = invoke(
        tmp_path / "data",
        tmp_path / "out",
        "--resolution",
        "512",
        "--jobs",
        "2",
        "--kohya-metadata",
        tmp_path / "meta.json",
    )
    assert result.exit_code == 0, result.output
    assert "3 written, 0 already done, 0 failed" in result.output
    images = ["5_sks dog/img000", "5_sks dog/img001", "1_other/img000"]
    expected = [image + suffix for image in images for suffix in (".png", ".caption")]
    assert sorted(snapshot(tmp_path / "out")) == sorted([*expected, METADATA_NAME])
    metadata = json.loads((tmp_path / "meta.json").read_text())
    assert sorted(entry["caption"] for entry in metadata.values()) == ["caption 0", "caption 0", "caption 1"]
    assert all(len(entry["train_resolution"]) == 2 for entry in metadata.values())


def test_a_kohya_config_is_exported_relative_to_its_image_folders(tmp_path):
    make_images(tmp_path / "sets" / "a", 1)
    make_images(tmp_path / "sets" / "b", 1, size=(400, 700))
    config = tmp_path / "dataset.toml"
    config.write_text(
        '[general]\nresolution = 512\n[[datasets]]\n[[datasets.subsets]]\nimage_dir = "sets/a"\n'
        '[[datasets.subsets]]\nimage_dir = "sets/b"\nnum_repeats = 3\n'
    )
    result = invoke(config, tmp_path / "out", "--format", "jpg", "--quality", "90")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out/a/img000.jpg").is_file() and (tmp_path / "out/b/img000.jpg").is_file()


def test_the_dataset_folder_is_refused_and_left_untouched(tmp_path):
    make_images(tmp_path / "data" / "10_x", 1)
    before = snapshot(tmp_path / "data")
    for destination in (tmp_path / "data", tmp_path / "data" / "out", tmp_path / "data" / "10_x"):
        result = invoke(tmp_path / "data", destination)
        assert result.exit_code == 2 and "refusing to write" in result.output
    assert snapshot(tmp_path / "data") == before


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path):
    make_images(tmp_path / "data", 2)
    (tmp_path / "data" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n junk")
    result = invoke(tmp_path / "data", tmp_path / "out", "--dry-run", "--mode", "precrop", "--anchor", "left")
    assert result.exit_code == 0, result.output
    assert result.output.count("write ") == 2 and "skip  broken.png" in result.output
    assert "2 to write, 1 skipped; nothing written" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--quality", "0"], "quality"),
        (["--mode", "square"], "square"),
        (["--mode", "precrop", "--random-crop"], "random_crop applies to mode 'train' only"),
        (["--bucket-reso-steps", "0"], "bucket_reso_steps"),
    ],
)
def test_bad_options_are_refused_naming_the_value(tmp_path, args, message):
    make_images(tmp_path / "data", 1)
    result = invoke(tmp_path / "data", tmp_path / "out", *args)
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "out").exists()


def test_a_killed_export_run_again_skips_finished_images_and_completes(tmp_path):
    count = 40  # enough that the kill lands midway even on a fast machine
    make_images(tmp_path / "data" / "2_kill", count, size=(640, 480))
    command = [
        sys.executable,
        "-m",
        "aspectbucket",
        "export",
        str(tmp_path / "data"),
        str(tmp_path / "out"),
        "--jobs",
        "2",
        "--format",
        "png",
    ]
    journal = tmp_path / "out" / METADATA_NAME
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
    deadline = time.monotonic() + 120
    finished = 0
    while finished < 3 and process.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError):
            finished = journal.read_bytes().count(b"\n")
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL, "the export finished before it could be killed"
    written_before = {path.name for path in (tmp_path / "out" / "2_kill").glob("*.png")}
    assert 3 <= len(written_before) < count
    kept = {name: (tmp_path / "out" / "2_kill" / name).stat().st_mtime_ns for name in written_before}

    rerun = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    assert rerun.returncode == 0, rerun.stderr
    skipped = int(rerun.stdout.split(" written, ")[1].split(" already done")[0])
    assert 3 <= skipped <= len(written_before)
    assert f"{count - skipped} written" in rerun.stdout
    assert not list((tmp_path / "out").rglob(f"*{TEMP_SUFFIX}"))
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    assert len(records) == count and all(record.get("output_bytes") for record in records)
    untouched = sum((tmp_path / "out" / "2_kill" / name).stat().st_mtime_ns == mtime for name, mtime in kept.items())
    assert untouched == skipped
    fresh = subprocess.run(
        [*command[:-6], str(tmp_path / "data"), str(tmp_path / "fresh"), *command[-4:]],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    )
    assert fresh.returncode == 0, fresh.stderr
    for index in range(count):
        name = f"2_kill/img{index:03d}.png"
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes()


def test_a_full_disk_ends_with_a_clear_message_and_exit_status_1(tmp_path, monkeypatch):
    make_images(tmp_path / "data", 4)
    FailingWrites(errno.ENOSPC, after=1).install(monkeypatch)
    result = invoke(tmp_path / "data", tmp_path / "out", "--jobs", "1")
    assert result.exit_code == 1
    assert "error: export stopped: the disk is full" in result.output and "run again to resume" in result.output
    assert not list((tmp_path / "out").rglob(f"*{TEMP_SUFFIX}"))


def test_a_source_with_nothing_to_train_exports_nothing(tmp_path):
    from PIL import Image

    (tmp_path / "train" / "0_reg").mkdir(parents=True)
    Image.new("RGB", (64, 64)).save(tmp_path / "train" / "0_reg" / "a.png")
    result = CliRunner().invoke(main, ["export", str(tmp_path / "train"), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "0 repeats" in result.output
