"""The SIMD LANCZOS path against Pillow's, and the cases that stay with Pillow."""

from __future__ import annotations

import platform
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from aspectbucket.export import resample as module
from aspectbucket.export.resample import lanczos, simd_lanczos
from test_export_pixels import psnr, smooth_pixels

#: Where pyproject.toml installs cykooz.resizer: there the fast path must really be the one taken.
WHEEL_PLATFORMS = {("linux", "x86_64"), ("win32", "AMD64"), ("darwin", "arm64")}


def pillow(image, size, box):
    return image.resize(size, Image.Resampling.LANCZOS, box=box, reducing_gap=module.REDUCING_GAP)


def test_the_simd_resampler_is_installed_where_the_project_promises_it():
    if (sys.platform, platform.machine()) in WHEEL_PLATFORMS:
        assert module.cykooz_resizer is not None


@settings(max_examples=60, deadline=None)
@given(
    st.integers(64, 300),
    st.integers(64, 300),
    st.sampled_from(["RGB", "L"]),
    st.tuples(*[st.floats(0, 1)] * 4),
    st.floats(0.17, 3.0),
)
def test_simd_lanczos_matches_pillow_within_rounding(width, height, mode, corners, scale):
    """Boxes and sizes as training uses them: one scale on both axes (up to rounding), shrinks below 6x,
    images of 64 px a side and more, boxes and outputs of 16 px and more (no trainer makes a smaller
    bucket). Tiny images differ more at their edges: a 19x39 image shrunk to 3x7 differs by 5 levels in
    its last row, a 20x16 image's right 16 columns enlarged 3x by 18 in a corner; from 64 px the worst of
    3,000 edge-heavy draws differs by 2."""
    image = Image.fromarray(smooth_pixels(width, height, seed=width * height)).convert(mode)
    a, b, c, d = corners
    left, top = a * (width - 16), c * (height - 16)
    right, bottom = left + 16 + b * (width - 16 - left), top + 16 + d * (height - 16 - top)
    size = (max(1, round((right - left) * scale)), max(1, round((bottom - top) * scale)))
    assume(min(size) >= 16)
    box = (left, top, right, bottom)
    fast, reference = simd_lanczos(image, size, box), pillow(image, size, box)
    assert fast.mode == reference.mode and fast.size == reference.size
    assert np.abs(np.asarray(fast, dtype=np.int64) - np.asarray(reference)).max() <= 4  # 3 seen in 4,000 cases


def test_the_filter_reads_source_pixels_beyond_the_box_as_pillow_does():
    """A bright band just outside the box bleeds into the edge through the filter's support, in both."""
    pixels = np.full((100, 100, 3), 40, dtype=np.uint8)
    pixels[:, 60:64] = 250
    image = Image.fromarray(pixels)
    box = (10.25, 10.5, 59.75, 90.0)
    fast, reference = simd_lanczos(image, (33, 53), box), pillow(image, (33, 53), box)
    assert (np.asarray(reference)[:, -1, 0] != 40).all()  # the band reaches the edge (a lobe)...
    assert (np.asarray(fast)[:, -1, 0] != 40).all()  # ... in the fast path too, and alike
    assert np.abs(np.asarray(fast, dtype=np.int64) - np.asarray(reference)).max() <= 2


def test_lanczos_takes_the_simd_path_for_rgb_and_grey(monkeypatch):
    taken = []
    monkeypatch.setattr(module, "simd_lanczos", lambda *args: taken.append(args) or Image.new("RGB", (1, 1)))
    if module.cykooz_resizer is None:
        pytest.skip("no cykooz.resizer wheel on this platform")
    for mode in ("RGB", "L"):
        lanczos(Image.new(mode, (300, 200)), (100, 50), (10.5, 0, 290.5, 140))
    assert len(taken) == 2


@pytest.mark.parametrize(
    ("mode", "size", "box"),
    [
        ("RGBA", (100, 50), (10.5, 0, 290.5, 140)),  # alpha: Pillow premultiplies
        ("RGB", (40, 30), (0, 0, 300, 200)),  # 7.5x shrink: Pillow reduces by whole factors first
        ("I;16", (100, 50), (0, 0, 300, 200)),
    ],
)
def test_pillow_keeps_alpha_large_shrinks_and_other_modes(mode, size, box):
    image = Image.fromarray(smooth_pixels(300, 200)).convert(mode)
    np.testing.assert_array_equal(np.asarray(lanczos(image, size, box)), np.asarray(pillow(image, size, box)))


def test_without_the_wheel_pillow_resamples_everything(monkeypatch):
    monkeypatch.setattr(module, "cykooz_resizer", None)
    image = Image.fromarray(smooth_pixels(300, 200))
    box = (10.5, 0.25, 290.5, 140)
    np.testing.assert_array_equal(np.asarray(lanczos(image, (100, 50), box)), np.asarray(pillow(image, (100, 50), box)))


def test_identity_is_a_copy_and_info_is_carried():
    image = Image.fromarray(smooth_pixels(64, 48))
    image.info["icc_profile"] = b"profile"
    same = lanczos(image, (64, 48), (0, 0, 64, 48))
    assert same is not image and np.array_equal(np.asarray(same), np.asarray(image))
    assert lanczos(image, (32, 24), (0.5, 0, 64, 48)).info["icc_profile"] == b"profile"


def test_a_box_past_the_edge_by_rounding_is_clipped():
    image = Image.fromarray(smooth_pixels(90, 60))
    result = lanczos(image, (45, 30), (0, 0, 90 + 1e-9, 60 + 1e-9))
    assert psnr(result, pillow(image, (45, 30), (0, 0, 90, 60))) >= 45


def test_threads_resample_independently():
    images = [Image.fromarray(smooth_pixels(200 + i, 150, seed=i)) for i in range(8)]
    jobs = [(image, (120, 90), (3.5, 2.25, 190.0, 140.5)) for image in images]
    serial = [np.asarray(lanczos(*job)) for job in jobs]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda job: np.asarray(lanczos(*job)), jobs * 4))
    for index, result in enumerate(threaded):
        np.testing.assert_array_equal(result, serial[index % len(jobs)])
