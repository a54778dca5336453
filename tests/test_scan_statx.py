"""The batched statx against os.stat, entry by entry, and the scan without it."""

from __future__ import annotations

import os
import platform
import sys

import numpy as np
import pytest

from aspectbucket.scan import scan
from aspectbucket.scan import statx as module
from aspectbucket.scan.statx import stat_files


def glibc_with_statx() -> bool:
    name, version = platform.libc_ver()
    return sys.platform.startswith("linux") and name == "glibc" and tuple(map(int, version.split("."))) >= (2, 28)


needs_statx = pytest.mark.skipif(module._statx is None, reason="no statx here")


@pytest.fixture
def folder(tmp_path):
    """A folder of awkward entries, open: ``(descriptor, names)``."""
    root = tmp_path / "data"
    root.mkdir()
    for index, size in enumerate([0, 1, 4097, 1 << 20]):
        path = root / f"file{index}.jpg"
        path.write_bytes(b"x" * size)
        os.utime(path, ns=(0, 1_700_000_000_123_456_789 + 7 * index))
    os.utime(root / "file0.jpg", ns=(0, -1_500_000_000_999_999_999))  # before 1970, odd nanoseconds
    (root / "link.jpg").symlink_to("file2.jpg")
    (root / "sub.jpg").mkdir()
    if hasattr(os, "mkfifo"):
        os.mkfifo(root / "pipe.jpg")
    if sys.platform.startswith("linux"):
        (root / os.fsdecode(b"caf\xe9.jpg")).write_bytes(b"latin-1 name")
    descriptor = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    yield descriptor, sorted(os.listdir(descriptor))
    os.close(descriptor)


def test_statx_is_used_where_the_c_library_has_it():
    if glibc_with_statx():
        assert module._statx is not None


@needs_statx
def test_stat_files_equals_os_stat_for_every_kind_of_entry(folder):
    descriptor, names = folder
    modes, sizes, mtimes, ctimes, inodes = stat_files(descriptor, names)
    expected = [os.stat(name, dir_fd=descriptor) for name in names]
    assert modes.tolist() == [status.st_mode for status in expected]
    assert sizes.tolist() == [status.st_size for status in expected]
    assert mtimes.tolist() == [status.st_mtime_ns for status in expected]
    assert ctimes.tolist() == [status.st_ctime_ns for status in expected]
    assert inodes.tolist() == [status.st_ino for status in expected]
    assert mtimes.dtype == sizes.dtype == modes.dtype == ctimes.dtype == inodes.dtype == np.int64


@needs_statx
def test_an_entry_that_cannot_be_stat_ed_leaves_it_to_os_stat(folder, tmp_path):
    descriptor, names = folder
    os.symlink("nowhere.jpg", tmp_path / "data" / "broken.jpg")
    os.symlink("loop.jpg", tmp_path / "data" / "loop.jpg")
    for bad in ("missing.jpg", "broken.jpg", "loop.jpg"):
        assert stat_files(descriptor, [*names, bad]) is None
    assert stat_files(descriptor, []) is None


def test_without_statx_a_scan_finds_the_same(folder, tmp_path, monkeypatch):
    """A clean folder (one batch) and a messy one (os.stat for the reasons), with statx and without."""
    clean = tmp_path / "data" / "clean"
    clean.mkdir()
    png = "89504e470d0a1a0a0000000d49484452000000100000000808020000004b6d1a8c0000000049454e44ae426082"
    for index in range(5):
        (clean / f"{index}.png").write_bytes(bytes.fromhex(png))
    os.symlink("nowhere.jpg", tmp_path / "data" / "broken.jpg")
    batched = scan(tmp_path / "data", cache=tmp_path / "cache-1")
    monkeypatch.setattr(module, "_statx", None)
    one_by_one = scan(tmp_path / "data", cache=tmp_path / "cache-2")
    for column in ("paths", "error", "stored_width", "stored_height", "orientation"):
        assert list(getattr(batched, column)) == list(getattr(one_by_one, column)), column
    clean_rows = [row for row, path in enumerate(batched.paths) if path.parent == clean]
    assert len(clean_rows) == 5 and all(batched.error[row] == "" for row in clean_rows)
    assert {int(batched.stored_width[row]) for row in clean_rows} == {16}
