"""Image headers (scan/headers.py): sizes, EXIF orientations and damage, read from a file's first and last bytes."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from aspectbucket.scan import headers as headers_module
from aspectbucket.scan.headers import ScanReason, read_header, read_header_with_pillow
from aspectbucket.scan.scanner import (
    scan,
)
from test_scan_scanner import FORMATS, SAMPLES, encode, save_image


@settings(max_examples=40, deadline=None)
@given(
    width=st.integers(1, 700),
    height=st.integers(1, 700),
    form=st.sampled_from(FORMATS),
    mode=st.sampled_from(["RGB", "L", "RGBA"]),
)
def test_header_sizes_equal_pillows_for_every_format(tmp_path_factory, width, height, form, mode):
    extension, name, options = form
    if mode == "RGBA" and name == "JPEG":
        mode = "RGB"
    path = tmp_path_factory.mktemp("img") / f"x.{extension}"
    path.write_bytes(encode(Image.new(mode, (width, height), "white"), name, **options))
    header = read_header(path, path.stat().st_size)
    with Image.open(path) as image:
        assert header == (image.size[0], image.size[1], 1, "")


def test_top_down_bmp_and_other_formats_under_image_names(tmp_path):
    top_down = bytearray(encode(Image.new("RGB", (30, 20)), "BMP"))
    top_down[22:26] = struct.pack("<i", -20)
    (tmp_path / "top_down.bmp").write_bytes(bytes(top_down))
    (tmp_path / "gif_inside.png").write_bytes(encode(Image.new("P", (44, 33)), "GIF"))
    (tmp_path / "tiff_inside.jpg").write_bytes(encode(Image.new("RGB", (55, 66)), "TIFF"))
    (tmp_path / "ico_inside.png").write_bytes(encode(Image.new("RGB", (48, 48)), "ICO"))
    result = scan(tmp_path, use_cache=False)
    got = {
        path.name: (int(w), int(h), reason)
        for path, w, h, reason in zip(
            result.paths, result.stored_width, result.stored_height, result.error, strict=True
        )
    }
    assert got == {
        "gif_inside.png": (44, 33, ""),
        "ico_inside.png": (48, 48, ""),  # neither our parsers nor imagesize: Pillow's lazy open
        "tiff_inside.jpg": (55, 66, ""),
        "top_down.bmp": (30, 20, ""),
    }


def test_jpeg_metadata_longer_than_the_first_read(tmp_path):
    """An EXIF block and an ICC profile pushing the frame header far beyond the first 16 KB."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010E] = "x" * 40_000  # ImageDescription: a long EXIF segment
    icc = bytes(60_000)
    path = tmp_path / "long.jpg"
    path.write_bytes(encode(Image.new("RGB", (321, 123)), "JPEG", exif=exif, icc_profile=icc))
    assert path.stat().st_size > 100_000
    assert read_header(path, path.stat().st_size) == (321, 123, 6, "")


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(sorted(SAMPLES)),
    cut=st.integers(0, 2000),
    flips=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=4),
)
def test_damaged_files_never_raise_and_get_a_size_or_a_known_reason(tmp_path_factory, kind, cut, flips):
    data = bytearray(SAMPLES[kind][: max(0, len(SAMPLES[kind]) - cut)])
    for position, value in flips:
        if position < len(data):
            data[position] = value
    path = tmp_path_factory.mktemp("bad") / f"x.{kind}"
    path.write_bytes(bytes(data))
    header = read_header(path, len(data))
    if header is None:
        header = read_header_with_pillow(path, len(data))
    assert header.reason in {"", *(reason.value for reason in ScanReason)}
    assert (header.width > 0 and header.height > 0) == (header.reason == "")
    assert 1 <= header.orientation <= 8


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_png_exif_orientation_is_read(tmp_path, orientation):
    path = save_image(tmp_path / "p.png", (40, 30), orientation)
    with Image.open(path) as image:
        assert image.getexif().get(0x0112) == orientation  # Pillow wrote an eXIf chunk
    assert read_header(path, path.stat().st_size) == (40, 30, orientation, "")


def test_lengths_claimed_by_damaged_chunks_are_not_trusted(tmp_path, monkeypatch):
    png = bytearray(encode(Image.new("RGB", (40, 30)), "PNG"))
    chunk = struct.pack(">I", 0xFFFFFFF0) + b"eXIf"  # an eXIf chunk claiming 4 GB, before IDAT
    damaged = bytes(png[:33]) + chunk + bytes(png[33:])
    path = tmp_path / "claims.png"
    path.write_bytes(damaged)
    reads = []
    real_read_at = headers_module._read_at
    monkeypatch.setattr(headers_module, "_read_at", lambda *args: reads.append(args[2]) or real_read_at(*args))
    header = read_header(path, len(damaged))
    assert header.width == 40 and max(reads, default=0) <= headers_module.MAX_EXIF_BYTES


def test_data_appended_after_a_jpeg_is_not_truncation(tmp_path):
    """Motion photos append a video after the JPEG's end marker; a cut download ends inside the scan."""
    jpeg = encode(Image.linear_gradient("L").resize((200, 150)).convert("RGB"), "JPEG", quality=90)
    video = b"\x00\x00\x00\x18ftypmp42" + np.random.default_rng(7).bytes(8192)  # compressed video: any bytes
    motion = tmp_path / "motion.jpg"
    motion.write_bytes(jpeg + video)
    assert read_header(motion, motion.stat().st_size) == (200, 150, 1, "")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(jpeg[: len(jpeg) * 2 // 3])
    assert read_header(cut, cut.stat().st_size).reason == ScanReason.TRUNCATED
    zero_filled = tmp_path / "preallocated.jpg"  # an unfinished download, the rest still zeros
    zero_filled.write_bytes(jpeg[: len(jpeg) // 2] + bytes(4096))
    assert read_header(zero_filled, zero_filled.stat().st_size).reason == ScanReason.TRUNCATED
