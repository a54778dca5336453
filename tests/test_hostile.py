"""Attacks a hostile user tries, each run as a real command (``python -m aspectbucket ...``).

Every case asserts the exit status, a one-line reason on stderr where the command refuses, no Python
traceback, and that the dataset tree (names, modes, bytes, symlink targets) is the same before and
after the command: nothing is ever written under an input.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from aspectbucket.outputs import TEMP_SUFFIX, OutputTree

NAME_MAX = os.pathconf("/", "PC_NAME_MAX") if hasattr(os, "pathconf") else 255


def tree_hash(root: Path) -> str:
    """A digest of everything under ``root`` without following symlinks: each entry's name (as bytes),
    type and permission bits, a file's bytes, a symlink's target."""
    digest = hashlib.sha256()
    root_bytes = os.fsencode(root)
    for folder, folders, files in os.walk(root_bytes, followlinks=False):
        folders.sort()
        for name in sorted(folders + files):
            path = os.path.join(folder, name)
            status = os.lstat(path)
            digest.update(os.path.relpath(path, root_bytes) + b"\0" + str(status.st_mode).encode())
            if stat.S_ISLNK(status.st_mode):
                digest.update(b"->" + os.readlink(path))
            elif stat.S_ISREG(status.st_mode):
                with open(path, "rb") as stream:
                    digest.update(hashlib.sha256(stream.read()).digest())
    return digest.hexdigest()


def make_dataset(root: Path) -> Path:
    """Two images with captions, one in a subfolder: a small dataset an attacker starts from."""
    (root / "sub").mkdir(parents=True)
    Image.new("RGB", (640, 480), "red").save(root / "a.jpg")
    Image.new("RGB", (480, 640), "blue").save(root / "sub" / "b.png")
    (root / "a.txt").write_text("caption a")
    (root / "sub" / "b.txt").write_text("caption b")
    return root


@pytest.fixture
def data(tmp_path) -> Path:
    return make_dataset(tmp_path / "data")


def run(tmp_path: Path, *args, stdin: bytes | None = None, cache: Path | None = None) -> subprocess.CompletedProcess:
    """The command line, in a child process with a private cache; never a traceback."""
    environment = {**os.environ, "XDG_CACHE_HOME": str(cache or tmp_path / "cache"), "COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "aspectbucket", *map(os.fsdecode, args)],
        capture_output=True,
        cwd=tmp_path,
        env=environment,
        input=stdin,
        timeout=120,
    )
    stderr = result.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr, stderr
    return result


def refused(result: subprocess.CompletedProcess, status: int, reason: str) -> str:
    """Assert a refusal: ``status``, and exactly one error line on stderr, which holds ``reason``."""
    stderr = result.stderr.decode("utf-8", "replace")
    errors = [line for line in stderr.splitlines() if line.lower().startswith("error")]
    assert result.returncode == status, stderr
    assert len(errors) == 1 and reason in errors[0], stderr
    return errors[0]


def unchanged(root: Path, command, *args, **options) -> subprocess.CompletedProcess:
    """Run ``command(*args, **options)`` and assert that the tree under ``root`` did not change."""
    before = tree_hash(root)
    result = command(*args, **options)
    assert tree_hash(root) == before, "the command changed the dataset"
    return result


# --- outputs: symlinks, special files, paths that are other outputs ---------------------------------


def test_a_symlinked_folder_inside_out_is_not_followed_back_into_the_dataset(tmp_path, data):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "sub").symlink_to(data / "sub")
    result = unchanged(data, run, tmp_path, "export", data, tmp_path / "out", "--format", "jpg")
    assert result.returncode == 0
    assert b"1 failed" in result.stdout and b"symlink" in result.stdout
    assert (tmp_path / "out" / "a.jpg").is_file() and (tmp_path / "out" / "a.txt").read_text() == "caption a"


@pytest.mark.parametrize("existing", [True, False])
def test_out_reached_through_a_symlink_the_scan_follows_is_refused(tmp_path, data, existing):
    if existing:
        (tmp_path / "out").mkdir()
    (data / "link").symlink_to(tmp_path / "out")  # dangling when OUT does not exist yet
    result = unchanged(data, run, tmp_path, "export", data, tmp_path / "out")
    refused(result, 2, "inside the input")
    assert not any((tmp_path / "out").glob("*")) if existing else not (tmp_path / "out").exists()


def test_a_symlink_loop_in_the_dataset_is_listed_once_and_exported(tmp_path, data):
    (data / "sub" / "loop").symlink_to(data)
    result = unchanged(data, run, tmp_path, "export", data, tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert b"symlink loop" in result.stderr and b"2 written" in result.stdout


def test_image_names_that_are_symlink_loops_fail_alone(tmp_path, data):
    (data / "self.jpg").symlink_to("self.jpg")
    (data / "ping.jpg").symlink_to("pong.jpg")
    (data / "pong.jpg").symlink_to("ping.jpg")
    result = unchanged(data, run, tmp_path, "export", data, tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert b"2 written" in result.stdout and b"3 failed: symlink loop" in result.stdout
    result = unchanged(data, run, tmp_path, "report", data, "--json", tmp_path / "r.json")
    assert result.returncode == 0 and b"symlink loop" in result.stdout


@pytest.mark.parametrize("option", ["--json", "--csv", "--html"])
def test_a_report_to_a_fifo_or_device_is_refused(tmp_path, data, option):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for target in (fifo, Path(os.devnull)):
        result = unchanged(data, run, tmp_path, "report", data, option, target)
        refused(result, 2, "not a regular file")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_assign_and_export_metadata_to_a_device_are_refused(tmp_path, data):
    table = tmp_path / "sizes.csv"
    table.write_text("width,height\n640,480\n")
    refused(run(tmp_path, "assign", "--sizes", table, "-o", os.devnull), 2, "not a regular file")
    refused(run(tmp_path, "assign", "--sizes", table, "-o", table), 2, "inside the input")
    assert table.read_text() == "width,height\n640,480\n"
    result = unchanged(data, run, tmp_path, "export", data, tmp_path / "out", "--kohya-metadata", os.devnull)
    refused(result, 2, "not a regular file")
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


@pytest.mark.parametrize("option", ["--json", "--csv", "--html"])
def test_a_dash_writes_the_report_file_to_stdout(tmp_path, data, option):
    result = unchanged(data, run, tmp_path, "report", data, option, "-")
    assert result.returncode == 0, result.stderr
    if option == "--json":
        assert len(json.loads(result.stdout)["images"]) == 2
    elif option == "--csv":
        assert result.stdout.decode().splitlines()[0].startswith("path,")
    else:
        assert result.stdout.lstrip().lower().startswith(b"<!doctype html")
    assert b"Buckets" in result.stderr or b"bucket" in result.stderr.lower()  # the terminal report moved aside


def test_export_kohya_metadata_to_stdout(tmp_path, data):
    result = unchanged(data, run, tmp_path, "export", data, tmp_path / "out", "--kohya-metadata", "-")
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)) == {"a", "b"} or len(json.loads(result.stdout)) == 2


def test_metadata_given_the_path_of_an_exported_file_or_the_journal_is_refused(tmp_path, data):
    out = tmp_path / "out"
    refused(unchanged(data, run, tmp_path, "export", data, out, "--metadata", out / "a.jpg"), 2, "exported file")
    result = unchanged(data, run, tmp_path, "export", data, out, "--metadata", out / "sub" / "b.txt")
    refused(result, 2, "exported file")
    result = unchanged(data, run, tmp_path, "export", data, out, "--kohya-metadata", out / "aspectbucket-export.jsonl")
    refused(result, 2, "exported file")
    refused(run(tmp_path, "export", data, out, "--metadata", "-"), 2, "--metadata cannot be '-'")
    assert not out.exists()


def test_a_caption_extension_equal_to_the_image_extension_copies_no_raw_image(tmp_path, data):
    config = tmp_path / "dataset.toml"
    config.write_text(f'[[datasets]]\n[[datasets.subsets]]\nimage_dir = "{data}"\ncaption_extension = ".jpg"\n')
    result = unchanged(data, run, tmp_path, "export", config, tmp_path / "out", "--resolution", "256")
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "out" / "a.jpg") as exported:
        assert exported.size != (640, 480)  # the exported pixels, not the source copied over them


def test_an_output_name_over_the_name_limit_fails_that_image_only(tmp_path, data):
    long_name = "x" * (NAME_MAX - 4) + ".png"  # the source fits; its .webp output is one byte too long
    Image.new("RGB", (300, 300), "green").save(data / long_name)
    result = unchanged(data, run, tmp_path, "export", data, tmp_path / "out", "--format", "webp")
    assert result.returncode == 0, result.stderr
    assert b"2 written" in result.stdout and b"1 failed: the file system refuses its output name" in result.stdout


def test_a_second_export_into_a_folder_in_use_is_refused_and_its_temporaries_survive(tmp_path, data):
    out = tmp_path / "out"
    with OutputTree(out):  # a running export holds the folder
        running = out / f".999-0{TEMP_SUFFIX}"
        running.write_bytes(b"half an image")
        result = unchanged(data, run, tmp_path, "export", data, out)
        refused(result, 2, "another aspectbucket run is writing")
        assert running.read_bytes() == b"half an image"
    result = run(tmp_path, "export", data, out)
    assert result.returncode == 0 and not running.exists()  # the lock is free: a killed run's leftovers go


def test_an_unreadable_caption_fails_its_image_only(tmp_path, data, monkeypatch):
    from click.testing import CliRunner

    from aspectbucket.cli import main

    if os.geteuid() != 0:
        (data / "sub" / "b.txt").chmod(0)
    else:  # root reads any file: make this one caption fail as a permission error would
        read_bytes = Path.read_bytes

        def refusing(path):
            if path.name == "b.txt":
                raise PermissionError(13, "Permission denied", str(path))
            return read_bytes(path)

        monkeypatch.setattr(Path, "read_bytes", refusing)
    result = CliRunner().invoke(main, ["export", str(data), str(tmp_path / "out")])
    assert result.exit_code == 0 and "1 written" in result.output, result.output
    assert "1 failed: a caption file of the image cannot be read" in result.output
    assert not (tmp_path / "out" / "sub" / "b.png").exists()


# --- option values and configs, checked with bounds before any work --------------------------------


@pytest.mark.parametrize("profile", ["kohya", "onetrainer", "musubi", "novelai", "balanced", "diffusers"])
def test_a_step_larger_than_the_resolution_is_a_usage_error(tmp_path, profile):
    refused(run(tmp_path, "buckets", "--profile", profile, "--resolution", "64", "--bucket-reso-steps", "128"), 2, "")


@pytest.mark.parametrize(
    "args",
    [
        ("buckets", "--resolution", "99999999999999999999999"),
        ("buckets", "--resolution", "40000", "--max-bucket-reso", "40000"),
        ("buckets", "--max-bucket-reso", str(2**63)),
        ("explain", "512x512", "--bucket-reso-steps", str(2**64)),
        ("buckets", "--profile", "novelai", "--resolution", "32768", "--bucket-reso-steps", "1", "--min-dim", "0"),
        ("explain", "512x512", "--profile", "onetrainer", "--set", "target_resolution=512,99999999999"),
        ("explain", "512x512", "--profile", "onetrainer", "--set", "target_resolution=512,8"),
    ],
)
def test_huge_sizes_are_usage_errors(tmp_path, args):
    refused(run(tmp_path, *args), 2, "")


def test_huge_counts_are_usage_errors(tmp_path, data):
    refused(unchanged(data, run, tmp_path, "report", data, "--batch-size", str(2**63)), 2, "")
    refused(unchanged(data, run, tmp_path, "export", data, tmp_path / "out", "--jobs", str(2**63)), 2, "")
    refused(unchanged(data, run, tmp_path, "export", data, tmp_path / "out", "--random-crop", "--seed", "-1"), 2, "")


def write_config(tmp_path: Path, subset: str, general: str = "resolution = 256") -> Path:
    config = tmp_path / "dataset.toml"
    config.write_text(f"[general]\n{general}\n[[datasets]]\n[[datasets.subsets]]\n{subset}\n")
    return config


@pytest.mark.parametrize(
    ("subset", "reason"),
    [
        ('image_dir = "DATA"\nnum_repeats = 9223372036854775807', "num_repeats"),
        ('image_dir = "DATA"\nbatch_size = 9223372036854775807', "batch_size"),
        ('image_dir = "~nosuchuser-aspectbucket/x"', "unknown user"),
        ('image_dir = "DATA\\u0000x"', "NUL"),
        ('image_dir = "DATA"\ncaption_extension = "/../../etc/passwd"', "caption_extension"),
        ('image_dir = "DATA"\n[general]\nresolution = 9999999999', "resolution"),
        ('image_dir = "DATA"\n[general]\nresolution = [64, 64]\nbucket_reso_steps = 128', "bucket_reso_steps"),
    ],
)
def test_hostile_config_values_are_one_line_errors(tmp_path, data, subset, reason):
    subset, _, general = subset.replace("DATA", str(data)).partition("\n[general]\n")
    config = write_config(tmp_path, subset, general or "resolution = 256")
    for command in (("report", config), ("export", config, tmp_path / "out")):
        result = unchanged(data, run, tmp_path, *command)
        refused(result, 2, reason)
    assert not (tmp_path / "out").exists()


def test_a_dreambooth_folder_with_a_huge_count_is_skipped_with_a_warning(tmp_path):
    root = tmp_path / "train"
    make_dataset(root / f"{2**63}_huge")
    make_dataset(root / "2_fine")
    result = unchanged(root, run, tmp_path, "report", root)
    assert result.returncode == 0 and b"more than 2147483647 repeats" in result.stdout + result.stderr


def test_subsets_in_unrelated_folders_still_export(tmp_path, data):
    elsewhere = Path("/var/tmp")
    if not elsewhere.is_dir() or os.path.commonpath([elsewhere, tmp_path]) != "/":
        pytest.skip("needs a second top-level temporary folder")
    import tempfile

    with tempfile.TemporaryDirectory(dir=elsewhere) as other:
        second = make_dataset(Path(other) / "more")
        config = tmp_path / "dataset.toml"
        subsets = "".join(f'[[datasets.subsets]]\nimage_dir = "{folder}"\n' for folder in (data, second))
        config.write_text(f"[general]\nresolution = 256\n[[datasets]]\n{subsets}")
        result = unchanged(second, run, tmp_path, "export", config, tmp_path / "out")
        assert result.returncode == 0 and b"2 written" in result.stdout, result.stderr  # a.jpg of each folder
        assert len(list((tmp_path / "out").rglob("a.jpg"))) == 2


# --- the header cache and the export journal: outside the dataset, keyed beyond size and mtime -----


def replace_keeping_size_and_mtime(path: Path, size: tuple[int, int]) -> None:
    """Put another picture of the same byte size at ``path`` and set its mtime back, as ``cp -p`` or
    ``touch -r`` would: a 640x480 and a 480x640 BMP have the same number of bytes."""
    status = path.stat()
    replacement = path.with_name("replacement.tmp")
    Image.new("RGB", size, "white").save(replacement, "BMP")
    assert replacement.stat().st_size == status.st_size
    os.replace(replacement, path)
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))


def test_a_same_size_replacement_with_its_mtime_restored_is_seen_by_the_cache(tmp_path, data):
    Image.new("RGB", (640, 480), "red").save(data / "c.bmp")
    assert run(tmp_path, "report", data, "--json", tmp_path / "first.json").returncode == 0
    replace_keeping_size_and_mtime(data / "c.bmp", (480, 640))
    assert run(tmp_path, "report", data, "--json", tmp_path / "second.json").returncode == 0
    images = json.loads((tmp_path / "second.json").read_text())["images"]
    sizes = {Path(image["path"]).name: (image["stored_width"], image["stored_height"]) for image in images}
    assert sizes["c.bmp"] == (480, 640)


def test_a_same_size_replacement_with_its_mtime_restored_is_exported_again(tmp_path, data):
    Image.new("RGB", (640, 480), "red").save(data / "c.bmp")
    assert run(tmp_path, "export", data, tmp_path / "out").returncode == 0
    replace_keeping_size_and_mtime(data / "c.bmp", (640, 480))
    result = run(tmp_path, "export", data, tmp_path / "out")
    assert b"1 written, 2 already done" in result.stdout, result.stdout
    with Image.open(tmp_path / "out" / "c.bmp") as exported:
        assert exported.convert("RGB").getpixel((0, 0)) == (255, 255, 255)


def test_a_default_cache_inside_the_dataset_is_not_used(tmp_path, data):
    result = unchanged(data, run, tmp_path, "report", data, cache=data / ".cache")
    assert result.returncode == 0 and b"cache not used" in result.stdout + result.stderr
    assert not (data / ".cache").exists()
    refused(unchanged(data, run, tmp_path, "report", data, "--cache", data / "sub" / "c"), 2, "inside the input")


# --- what reaches the terminal, and names that must come back exactly -------------------------------

FORGED = b"x\x1b]0;owned\x07\x1b[2J\nerror: forged line\r.png"


def test_escape_sequences_and_newlines_in_names_never_reach_the_terminal(tmp_path, data):
    Image.new("RGB", (900, 300), "red").save(os.path.join(os.fsencode(data), FORGED), "PNG")
    (data / "sub" / "broken\n[bold]x.jpg").write_bytes(b"not an image")
    for args in (("report", data), ("export", data, tmp_path / "out"), ("export", data, tmp_path / "o", "--dry-run")):
        result = unchanged(data, run, tmp_path, *args)
        assert result.returncode == 0, result.stderr
        shown = result.stdout + result.stderr
        assert b"\x1b" not in shown and b"\x07" not in shown and b"\r" not in shown
        assert not any(line.startswith(b"error") for line in shown.splitlines())
    assert (tmp_path / "out" / os.fsdecode(FORGED)).is_file()  # the file itself keeps its name


def test_non_utf8_names_round_trip_from_the_report_to_export_crops(tmp_path, data):
    Image.new("RGB", (900, 300), "green").save(os.path.join(os.fsencode(data), b"caf\xe9.png"), "PNG")
    report = tmp_path / "report.json"
    assert unchanged(data, run, tmp_path, "report", data, "--json", report).returncode == 0
    paths = {os.fsencode(image["path"]) for image in json.loads(report.read_text("utf-8"))["images"]}
    assert os.path.join(os.fsencode(data), b"caf\xe9.png") in paths
    out = tmp_path / "out"
    result = unchanged(data, run, tmp_path, "export", data, out, "--mode", "precrop", "--crops", report)
    assert result.returncode == 0 and b"3 written" in result.stdout and b"0 failed" in result.stdout, result.stdout
    assert os.path.exists(os.path.join(os.fsencode(out), b"caf\xe9.png"))


def exif_with_orientation(orientation: int, damaged: bool = False) -> bytes:
    """TIFF-structured EXIF with an orientation tag; ``damaged`` adds a tag whose data lies past the end
    (Pillow warns "Tag data larger than file")."""
    import struct

    entries = [struct.pack("<HHII", 0x0112, 3, 1, orientation)]
    if damaged:
        entries.append(struct.pack("<HHII", 0x010F, 2, 1000, 5000))
    ifd = struct.pack("<H", len(entries)) + b"".join(entries) + struct.pack("<I", 0)
    return b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + ifd


@pytest.mark.parametrize("orientation", [0, 9, 255])
def test_invalid_exif_orientations_are_not_exported_and_pillow_warnings_stay_quiet(tmp_path, data, orientation):
    Image.new("RGB", (640, 480), "red").save(data / "a.jpg", exif=exif_with_orientation(orientation, damaged=True))
    for args in (("report", data), ("export", data, tmp_path / "out", "--format", "jpg")):
        result = unchanged(data, run, tmp_path, *args)
        assert result.returncode == 0 and b"Warning" not in result.stderr and b"warn" not in result.stderr.lower()
    with Image.open(tmp_path / "out" / "a.jpg") as exported:
        assert exported.size == (576, 448) and 0x0112 not in exported.getexif()  # placed as stored: landscape


def test_an_output_path_over_path_max_is_written_through_its_folders(tmp_path, data):
    """The source path fits PATH_MAX; its output under a longer OUT does not: written folder by folder
    through descriptors, it needs no whole path (it stopped the whole export before)."""
    path_max = os.pathconf("/", "PC_PATH_MAX") if hasattr(os, "pathconf") else 4096
    depth = (path_max - len(os.fsencode(data)) - 40) // 201
    deep = os.open(data, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir("d" * 200, dir_fd=deep)
            inner = os.open("d" * 200, os.O_RDONLY, dir_fd=deep)
            os.close(deep)
            deep = inner
        Image.new("RGB", (300, 200), "blue").save(f"/proc/self/fd/{deep}/deep.png")
    finally:
        os.close(deep)
    out = tmp_path / ("o" * 250)
    result = unchanged(data, run, tmp_path, "export", data, out)
    assert result.returncode == 0 and b"3 written" in result.stdout, result.stdout + result.stderr
    records = [json.loads(line) for line in (out / "aspectbucket-export.jsonl").read_text().splitlines()]
    longest = max(len(os.fsencode(out / record["output"])) for record in records)
    assert longest > path_max


def test_planted_file_symlinks_are_replaced_or_refused_never_followed(tmp_path, data):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").symlink_to(data / "sub" / "b.txt")  # an output name planted as a link into the dataset
    result = unchanged(data, run, tmp_path, "export", data, out)
    assert result.returncode == 0 and b"2 written" in result.stdout, result.stderr
    assert not (out / "a.txt").is_symlink() and (out / "a.txt").read_text() == "caption a"  # the link replaced
    (out / "a.jpg").unlink()
    (out / "a.jpg").symlink_to(data / "sub" / "b.png")  # a link to a source image: refused before any write
    refused(unchanged(data, run, tmp_path, "export", data, out), 2, "overwrite the source")
    (out / "a.jpg").unlink()
    (out / "aspectbucket-export.jsonl").unlink()
    (out / "aspectbucket-export.jsonl").symlink_to(data / "a.txt")  # the journal planted the same way
    refused(unchanged(data, run, tmp_path, "export", data, out), 2, "inside the input")
    (tmp_path / "innocent.json").symlink_to(data / "a.txt")
    refused(unchanged(data, run, tmp_path, "report", data, "--json", tmp_path / "innocent.json"), 2, "inside the input")


@pytest.mark.parametrize(
    ("name", "text", "reason"),
    [
        ("config.toml", 'dataset = "~nosuchuser-aspectbucket/d.toml"\n[model]\ntype = "sdxl"\n', "~user"),
        ("config.toml", 'dataset = "a\\u0000b.toml"\n[model]\ntype = "sdxl"\n', "NUL"),
        (
            "multidatabackend.json",
            '[{"id": "x", "type": "local", "instance_data_dir": "~nosuchuser-aspectbucket/x"}]',
            "~user",
        ),
    ],
)
def test_trainer_configs_with_hostile_paths_are_one_line_errors(tmp_path, name, text, reason):
    (tmp_path / name).write_text(text)
    refused(run(tmp_path, "report", "--config-file", tmp_path / name), 2, reason)


def test_clips_are_written_through_the_output_tree_too(tmp_path):
    """Video clips go through the same guarded writer: a symlinked folder in OUT fails that clip only,
    and a folder another export holds is refused."""
    from aspectbucket import place_clips
    from aspectbucket.export.clips import plan_clip_export, run_clip_export
    from aspectbucket.outputs import OutputRefused
    from aspectbucket.scan.clips import scan_clips
    from media import write_clip

    data = tmp_path / "videos"
    (data / "sub").mkdir(parents=True)
    write_clip(data / "a.mp4", 128, 72, 12, 24)
    write_clip(data / "sub" / "b.mp4", 128, 72, 12, 24)
    clips = scan_clips(data, cache=tmp_path / "cache")
    table = place_clips(clips.width, clips.height, clips.frames, clips.fps, "musubi", {"target_frames": [9]})
    jobs = plan_clip_export(clips, table, data, "train")
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").symlink_to(data / "sub")
    before = tree_hash(data)
    with OutputTree(out), pytest.raises(OutputRefused, match="another aspectbucket run"):
        run_clip_export(jobs, out)
    summary = run_clip_export(jobs, out)
    assert summary.written == 1 and len(summary.failed) == 1 and "symlink" in summary.failed[0]
    assert tree_hash(data) == before
