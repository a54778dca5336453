"""The scanner (scan/scanner.py): listing, stat, header cache and reasons, through scan()."""

from __future__ import annotations

import io
import os
import pickle
import struct
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from aspectbucket.scan import headers as headers_module
from aspectbucket.scan import scanner as scan_module
from aspectbucket.scan.headers import MAX_PIXELS, ScanReason, is_image_name, read_header
from aspectbucket.scan.scanner import (
    IMAGE_EXTENSIONS,
    PathList,
    ScanFailure,
    list_images,
    regularization_repeats,
    scan,
)
from aspectbucket.scan.sources import Subset


def save_image(path: Path, size: tuple[int, int], orientation: int | None = None, **kwargs) -> Path:
    """A real image file with a gradient (so JPEG has some data), optionally EXIF-rotated."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif
    image.save(path, **kwargs)
    return path


def png_with_size(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height``, with no pixel data worth decoding."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    ihdr = struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    iend = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + ihdr + iend


@pytest.fixture
def cache_dir(tmp_path) -> Path:
    return tmp_path / "cache"


def folder_scan(folder: Path, cache_dir: Path, **kwargs):
    return scan(folder, cache=cache_dir, **kwargs)


@pytest.mark.parametrize(
    ("name", "size", "options"),
    [
        ("a.png", (640, 480), {}),
        ("b.JPG", (333, 999), {"quality": 85}),
        ("c.jpeg", (1, 1), {}),
        ("d.webp", (1000, 250), {}),
        ("e.bmp", (17, 9), {}),
        ("f.WebP", (129, 65), {"lossless": True}),
    ],
)
def test_sizes_come_from_headers_of_every_accepted_format(tmp_path, cache_dir, name, size, options):
    save_image(tmp_path / "data" / name, size, **options)
    result = folder_scan(tmp_path / "data", cache_dir)
    assert result.error == [""]
    assert (result.stored_width[0], result.stored_height[0]) == size
    assert result.orientation[0] == 1


def test_only_sd_scripts_extensions_are_listed_in_any_case(tmp_path):
    names = [
        "x.png",
        "y.JPEG",
        "z.Bmp",
        "notes.txt",
        "x.txt",
        "anim.gif",
        "photo.tif",
        ".png",
        "._x.png",
        "noext",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    save_image(tmp_path / ".ipynb_checkpoints" / "copy.png", (5, 5))
    found, _ = list_images(tmp_path, recursive=False)
    assert [Path(path).name for path in found.paths] == ["x.png", "y.JPEG", "z.Bmp"]
    found, _ = list_images(tmp_path, recursive=True)
    assert [Path(path).name for path in found.paths] == ["x.png", "y.JPEG", "z.Bmp"]
    assert IMAGE_EXTENSIONS == (".png", ".jpg", ".jpeg", ".webp", ".bmp")
    assert not is_image_name(".jpg")


@pytest.mark.parametrize("orientation", [1, 2, 3, 4, 5, 6, 7, 8])
def test_exif_orientation_is_read_and_upright_sizes_swap_for_5_to_8(tmp_path, cache_dir, orientation):
    save_image(tmp_path / "data" / "photo.jpg", (400, 300), orientation)
    save_image(tmp_path / "data" / "photo.webp", (400, 300), orientation)
    result = folder_scan(tmp_path / "data", cache_dir)
    assert result.error == ["", ""]
    assert result.orientation.tolist() == [orientation, orientation]
    assert result.stored_width.tolist() == [400, 400]
    widths, heights = result.sizes(respect_exif=True)
    expected = (300, 400) if orientation >= 5 else (400, 300)
    assert (widths[0], heights[0]) == expected
    assert (widths[1], heights[1]) == expected
    assert result.rotated.tolist() == [orientation != 1] * 2


def test_upright_sizes_agree_with_pillow_exif_transpose(tmp_path, cache_dir):
    from PIL import ImageOps

    for orientation in range(1, 9):
        save_image(tmp_path / "data" / f"{orientation}.jpg", (64 + orientation, 32), orientation)
    result = folder_scan(tmp_path / "data", cache_dir)
    widths, heights = result.sizes(respect_exif=True)
    for path, width, height in zip(result.paths, widths, heights, strict=True):
        with Image.open(path) as image:
            assert ImageOps.exif_transpose(image).size == (width, height)


def bad_files(folder: Path) -> dict[str, ScanReason]:
    """Write one file per kind of bad input; returns name -> expected reason."""
    folder.mkdir(parents=True, exist_ok=True)
    good_jpeg = save_image(folder / "good.jpg", (300, 200), quality=85).read_bytes()
    good_png = save_image(folder / "good2.png", (50, 60)).read_bytes()
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.png").write_text("this is not an image\n")
    (folder / "cut.jpg").write_bytes(good_jpeg[: len(good_jpeg) // 2])
    (folder / "cut.png").write_bytes(good_png[: len(good_png) - 20])
    (folder / "header.jpg").write_bytes(good_jpeg[:40])
    (folder / "huge.png").write_bytes(png_with_size(100_000, 100_000))
    (folder / "zero.png").write_bytes(png_with_size(0, 10))
    (folder / "loop.jpg").symlink_to(folder / "loop.jpg")
    (folder / "broken.png").symlink_to(folder / "missing.png")
    return {
        "good.jpg": "",
        "good2.png": "",
        "empty.jpg": ScanReason.EMPTY,
        "text.png": ScanReason.NOT_AN_IMAGE,
        "cut.jpg": ScanReason.TRUNCATED,
        "cut.png": ScanReason.TRUNCATED,
        "header.jpg": ScanReason.CORRUPT,
        "huge.png": ScanReason.GIGANTIC,
        "zero.png": ScanReason.CORRUPT,
        "loop.jpg": ScanReason.SYMLINK_LOOP,
        "broken.png": ScanReason.BROKEN_LINK,
    }


def test_each_bad_file_gets_its_reason_and_the_scan_goes_on(tmp_path, cache_dir):
    expected = bad_files(tmp_path / "data")
    result = folder_scan(tmp_path / "data", cache_dir)
    got = {path.name: reason for path, reason in zip(result.paths, result.error, strict=True)}
    assert got == {name: str(reason) for name, reason in expected.items()}
    failed = np.array([bool(reason) for reason in result.error])
    assert (result.stored_width[failed] == 0).all() and (result.stored_height[failed] == 0).all()
    assert set(result.error) <= {""} | {reason.value for reason in ScanReason}


def test_a_gigantic_header_is_never_decoded(tmp_path, monkeypatch):
    path = tmp_path / "huge.jpg"
    path.write_bytes(png_with_size(60_000, 60_000))  # PNG content under a .jpg name: sniffed, not trusted
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded a gigantic image"))
    assert read_header(path, path.stat().st_size).reason == ScanReason.GIGANTIC
    assert MAX_PIXELS < 60_000 * 60_000


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file_gets_a_reason(tmp_path, cache_dir):
    path = save_image(tmp_path / "data" / "secret.png", (10, 10))
    path.chmod(0)
    try:
        result = folder_scan(tmp_path / "data", cache_dir)
    finally:
        path.chmod(0o644)
    assert result.error == [ScanReason.PERMISSION.value]


def test_non_utf8_file_names_are_scanned(tmp_path, cache_dir):
    folder = tmp_path / "data"
    folder.mkdir()
    raw_name = os.path.join(os.fsencode(folder), b"caf\xe9-\xff.png")
    with open(raw_name, "wb") as handle:
        handle.write(png_with_size(123, 45))
    result = folder_scan(folder, cache_dir)
    assert result.error == [""]
    assert (result.stored_width[0], result.stored_height[0]) == (123, 45)
    assert os.fsencode(result.paths[0]) == raw_name
    assert folder_scan(folder, cache_dir).from_cache == 1


def snapshot(folder: Path) -> dict:
    """Every entry under ``folder`` with its mtime, size and mode (symlinks not followed)."""
    state = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            status = os.lstat(os.path.join(root, name))
            state[os.path.join(root, name)] = (status.st_mtime_ns, status.st_size, status.st_mode)
    state[str(folder)] = os.lstat(folder).st_mtime_ns
    return state


def test_a_scan_never_writes_into_the_dataset(tmp_path, cache_dir):
    folder = tmp_path / "data"
    bad_files(folder / "10_things")
    save_image(folder / "2_more" / "deep.png", (90, 30))
    before = snapshot(folder)
    first = folder_scan(folder, cache_dir, progress=True)
    second = folder_scan(folder, cache_dir)
    assert snapshot(folder) == before
    assert first.error == second.error and second.from_cache > 0
    assert list(cache_dir.iterdir())  # the cache went to its own folder


def test_warm_rescan_uses_the_cache_and_notices_changes(tmp_path, cache_dir, monkeypatch):
    folder = tmp_path / "data"
    for index in range(5):
        save_image(folder / f"{index}.png", (100 + index, 50))
    cold = folder_scan(folder, cache_dir)
    assert cold.from_cache == 0

    monkeypatch.setattr(scan_module, "read_header", lambda *args: pytest.fail("read a cached file"))
    warm = folder_scan(folder, cache_dir)
    assert warm.from_cache == 5
    assert warm.stored_width.tolist() == cold.stored_width.tolist()
    monkeypatch.undo()

    save_image(folder / "3.png", (999, 20))  # new content: new size and mtime
    (folder / "0.png").unlink()
    changed = folder_scan(folder, cache_dir)
    assert changed.from_cache == 3
    assert changed.stored_width.tolist() == [101, 102, 999, 104]


def test_a_folder_listed_with_the_same_names_reuses_its_recorded_image_names(tmp_path, cache_dir, monkeypatch):
    folder = tmp_path / "data"
    for name in ("b.png", "a.JPG", "c.png"):
        save_image(folder / name, (10, 10))
    (folder / "a.txt").write_text("a caption")
    subsets = [Subset(folder)]  # a folder listed without subfolders, as DreamBooth subsets are
    cold = scan(subsets, cache=cache_dir)
    monkeypatch.setattr(scan_module, "_image_names", lambda names: pytest.fail("picked image names again"))
    warm = scan(subsets, cache=cache_dir)
    assert warm.paths == cold.paths and [path.name for path in warm.paths] == ["a.JPG", "b.png", "c.png"]
    monkeypatch.undo()

    (folder / "b.txt").write_text("a new caption")  # same images, other names: picked and sorted again
    save_image(folder / "0.png", (20, 10))
    again = scan(subsets, cache=cache_dir)
    assert [path.name for path in again.paths] == ["0.png", "a.JPG", "b.png", "c.png"]
    assert again.from_cache == 3 and again.stored_width.tolist() == [20, 10, 10, 10]


def test_use_cache_false_neither_reads_nor_writes(tmp_path, cache_dir):
    save_image(tmp_path / "data" / "a.png", (10, 20))
    result = folder_scan(tmp_path / "data", cache_dir, use_cache=False)
    assert result.from_cache == 0 and not cache_dir.exists()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "longer", "other format"])
def test_a_corrupt_cache_is_rebuilt(tmp_path, cache_dir, damage):
    save_image(tmp_path / "data" / "a.png", (10, 20))
    save_image(tmp_path / "data" / "b.png", (30, 20))
    folder_scan(tmp_path / "data", cache_dir)
    (cache_file,) = cache_dir.iterdir()
    good = cache_file.read_bytes()
    damaged = {
        "garbage": b"garbage",
        "truncated": good[:-3],
        "longer": good + b"x",
        "other format": good[:8] + (999).to_bytes(8, "little") + good[16:],
    }[damage]
    cache_file.write_bytes(damaged)
    result = folder_scan(tmp_path / "data", cache_dir)
    assert result.from_cache == 0 and result.error == ["", ""]
    assert result.stored_width.tolist() == [10, 30]
    assert folder_scan(tmp_path / "data", cache_dir).from_cache == 2


def test_an_unwritable_cache_is_a_warning(tmp_path):
    save_image(tmp_path / "data" / "a.png", (10, 20))
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    result = scan(tmp_path / "data", cache=blocker / "cache")
    assert result.error == [""]
    assert any("header cache not saved" in warning for warning in result.warnings)


def test_permission_errors_are_not_cached(tmp_path, cache_dir):
    save_image(tmp_path / "data" / "a.png", (10, 20))
    (tmp_path / "data" / "loop.png").symlink_to(tmp_path / "data" / "loop.png")
    folder_scan(tmp_path / "data", cache_dir)
    again = folder_scan(tmp_path / "data", cache_dir)
    assert again.from_cache == 1
    assert again.error == ["", ScanReason.SYMLINK_LOOP.value]


@pytest.mark.parametrize(("jobs", "slow_read"), [(1, 1.0), (3, 1.0), (None, 1.0), (None, 0.0)])
def test_thread_count_does_not_change_results(tmp_path, cache_dir, monkeypatch, jobs, slow_read):
    monkeypatch.setattr(scan_module, "CHUNK_FILES", 2)
    monkeypatch.setattr(scan_module, "SLOW_READ_SECONDS", slow_read)  # 0: every read counts as slow
    threads = []
    real_read = scan_module.read_header
    monkeypatch.setattr(
        scan_module, "read_header", lambda *args: threads.append(threading.current_thread()) or real_read(*args)
    )
    folder = tmp_path / "data"
    expected = bad_files(folder)
    result = folder_scan(folder, cache_dir, jobs=jobs, use_cache=False)
    assert [path.name for path in result.paths] == sorted(expected)
    assert result.error == [str(expected[path.name]) for path in result.paths]
    on_pool = {thread for thread in threads if thread is not threading.main_thread()}
    assert bool(on_pool) == (jobs == 3 or slow_read == 0.0)


def test_recursive_folders_and_symlink_loops_between_folders(tmp_path, cache_dir):
    folder = tmp_path / "data"
    save_image(folder / "a" / "b" / "deep.png", (5, 6))
    save_image(folder / "top.jpg", (7, 8))
    (folder / "a" / "b" / "back").symlink_to(folder)
    result = folder_scan(folder, cache_dir)
    assert sorted(path.name for path in result.paths) == ["deep.png", "top.jpg"]
    assert any("symlink loop" in warning for warning in result.warnings)


def test_subsets_can_be_given_directly_and_carry_repeats(tmp_path, cache_dir):
    save_image(tmp_path / "one" / "a.png", (10, 10))
    save_image(tmp_path / "two" / "b.png", (20, 10))
    save_image(tmp_path / "two" / "c.png", (30, 10))
    subsets = [Subset(tmp_path / "one", repeats=3), Subset(tmp_path / "two", repeats=5, dataset=1)]
    result = scan(subsets, cache=cache_dir)
    assert result.subset.tolist() == [0, 1, 1]
    assert result.repeats.tolist() == [3, 5, 5]
    assert result.dataset_index.tolist() == [0, 1, 1]
    assert all(path.is_absolute() for path in result.paths)


def test_a_missing_or_empty_subset_folder_is_a_warning(tmp_path, cache_dir):
    (tmp_path / "empty").mkdir()
    result = scan([Subset(tmp_path / "nowhere"), Subset(tmp_path / "empty")], cache=cache_dir)
    assert len(result) == 0
    assert result.warnings == [
        f"folder not found: {tmp_path / 'nowhere'}",
        f"no images in {tmp_path / 'empty'}: sd-scripts ignores this subset",
    ]


def test_raise_for_errors_lets_callers_stop_on_bad_files(tmp_path, cache_dir):
    save_image(tmp_path / "data" / "a.png", (10, 10))
    folder_scan(tmp_path / "data", cache_dir).raise_for_errors()
    (tmp_path / "data" / "b.png").write_bytes(b"")
    with pytest.raises(ScanFailure, match="empty file"):
        folder_scan(tmp_path / "data", cache_dir).raise_for_errors()


def test_path_list_behaves_as_a_list_of_paths():
    paths = PathList([Path("/a/b.png"), "/a/c.jpg"])
    assert paths == [Path("/a/b.png"), Path("/a/c.jpg")]
    assert paths[1] == Path("/a/c.jpg") and paths[-1].name == "c.jpg"
    assert paths[:1] == PathList(["/a/b.png"]) and len(paths) == 2
    assert [path.suffix for path in paths] == [".png", ".jpg"]
    assert paths.strings == ["/a/b.png", "/a/c.jpg"]
    assert pickle.loads(pickle.dumps(paths)) == paths  # data loader workers get it pickled


def encode(image: Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


FORMATS = [
    ("png", "PNG", {}),
    ("jpg", "JPEG", {"quality": 80}),
    ("jpg", "JPEG", {"progressive": True}),
    ("webp", "WEBP", {"lossless": True}),
    ("webp", "WEBP", {"quality": 70}),
    ("bmp", "BMP", {}),
]


def test_unreadable_file_reason_without_root(tmp_path, monkeypatch):
    save_image(tmp_path / "a.png", (10, 10))

    def refuse(path, flags, *args):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(headers_module.os, "open", refuse)
    assert read_header(tmp_path / "a.png", 10).reason == ScanReason.PERMISSION


def test_an_interrupted_scan_keeps_what_it_read(tmp_path, cache_dir, monkeypatch):
    folder = tmp_path / "data"
    for index in range(6):
        save_image(folder / f"{index}.png", (10 + index, 10))
    monkeypatch.setattr(scan_module, "CHUNK_FILES", 2)
    real_read = scan_module.read_header
    calls = []

    def interrupt_after_four(path, size):
        calls.append(path)
        if len(calls) > 4:
            raise KeyboardInterrupt
        return real_read(path, size)

    monkeypatch.setattr(scan_module, "read_header", interrupt_after_four)
    with pytest.raises(KeyboardInterrupt):
        folder_scan(folder, cache_dir, jobs=1)
    monkeypatch.undo()
    resumed = folder_scan(folder, cache_dir)
    assert resumed.from_cache == 4
    assert resumed.stored_width.tolist() == [10, 11, 12, 13, 14, 15]


def sd_scripts_reg_loop(repeats: list[int], trained: int) -> list[int]:
    """sd-scripts' own loop (DreamBoothDataset.__init__), transcribed as a test oracle."""
    registered = [0] * len(repeats)
    current = list(repeats)
    count, first_loop = 0, True
    while count < trained:
        for index in range(len(repeats)):
            if first_loop:
                registered[index] = 1
                count += current[index]
            else:
                current[index] += 1
                count += 1
            if count >= trained:
                break
        first_loop = False
    return [value if used else 0 for value, used in zip(current, registered, strict=True)]


@settings(max_examples=200, deadline=None)
@given(repeats=st.lists(st.integers(1, 5), min_size=1, max_size=12), trained=st.integers(0, 200))
def test_regularization_repeats_follow_sd_scripts_loop(repeats, trained):
    assert regularization_repeats(np.array(repeats), trained).tolist() == sd_scripts_reg_loop(repeats, trained)


def test_regularization_images_are_repeated_per_dataset_block(tmp_path, cache_dir):
    for index in range(2):
        save_image(tmp_path / "train" / f"{index}.png", (10, 10))
    for index in range(4):
        save_image(tmp_path / "reg" / f"{index}.png", (10, 10))
    save_image(tmp_path / "other" / "x.png", (10, 10))
    subsets = [
        Subset(tmp_path / "train", repeats=3),
        Subset(tmp_path / "reg", repeats=1, is_reg=True),
        Subset(tmp_path / "other", repeats=7, dataset=1),
    ]
    result = scan(subsets, cache=cache_dir)
    assert result.repeats.tolist() == [3, 3, 2, 2, 1, 1, 7]


def exif_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(Image.new("RGB", (40, 30)), "JPEG", exif=exif)


def exif_webp() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 8
    return encode(Image.new("RGB", (40, 30)), "WEBP", exif=exif)


SAMPLES = {
    "jpg": exif_jpeg(),
    "png": encode(Image.new("RGB", (40, 30)), "PNG"),
    "webp": exif_webp(),
    "bmp": encode(Image.new("RGB", (40, 30)), "BMP"),
}


def test_each_folder_has_its_own_cache_shared_by_every_source_naming_it(tmp_path, cache_dir):
    for folder, count in (("10_a", 3), ("2_b", 2)):
        for index in range(count):
            save_image(tmp_path / "data" / folder / f"{index}.png", (20 + index, 10))
    config = tmp_path / "dataset.toml"
    config.write_text(
        '[[datasets]]\n[[datasets.subsets]]\nimage_dir = "data/10_a"\n'
        '[[datasets.subsets]]\nimage_dir = "data/10_a"\nnum_repeats = 2\n'
    )
    assert folder_scan(tmp_path / "data", cache_dir).from_cache == 0
    assert len(list(cache_dir.iterdir())) == 2  # one file per folder
    twice = scan(config, cache=cache_dir)
    assert twice.from_cache == 6 and twice.stored_width.tolist() == [20, 21, 22] * 2
    before = {path: path.stat().st_mtime_ns for path in cache_dir.iterdir()}
    scan(config, cache=cache_dir)
    assert {path: path.stat().st_mtime_ns for path in cache_dir.iterdir()} == before  # nothing to rewrite
    assert folder_scan(tmp_path / "data", cache_dir).from_cache == 5


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_with_an_image_name_does_not_hang_the_scan(tmp_path, cache_dir):
    save_image(tmp_path / "data" / "a.png", (10, 10))
    os.mkfifo(tmp_path / "data" / "pipe.jpg")
    result = folder_scan(tmp_path / "data", cache_dir)
    assert result.error == ["", ScanReason.NOT_A_FILE.value]
