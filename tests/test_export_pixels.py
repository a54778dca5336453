"""Pixel tests for the export layer: images whose pixels encode their own coordinates prove every window."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from aspectbucket.export.pixels import (
    SOURCE_BOX_KEY,
    Anchor,
    anchored_precrop,
    open_image,
    precrop_pixels,
    train_pixels,
)
from aspectbucket.geometry.resize import covering_precrop, random_trim

#: Orientation -> the upright array from the stored one (numpy only, independent of Pillow).
UPRIGHT = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1, :],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: a[::-1, :].transpose(1, 0, 2),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: a[:, ::-1].transpose(1, 0, 2),
}


def coordinate_pixels(width: int, height: int) -> np.ndarray:
    """R = x % 256, G = y % 256, B = (x // 256) * 16 + y // 256: each pixel names its place."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x % 256, y % 256, (x // 256) * 16 + y // 256], axis=-1).astype(np.uint8)


def decode_coordinates(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` arrays back from :func:`coordinate_pixels` values."""
    pixels = np.asarray(pixels, dtype=np.int64)
    return pixels[..., 0] + 256 * (pixels[..., 2] // 16), pixels[..., 1] + 256 * (pixels[..., 2] % 16)


def smooth_pixels(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Photo-like content: gradients, blobs and mild texture, so filters and JPEG behave as on photos."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    channels = []
    for _ in range(3):
        fx, fy, phase = rng.uniform(2, 9, size=3)
        wave = np.sin(fx * x * 6.28 + phase) * np.cos(fy * y * 6.28)
        channels.append(128 + 80 * wave + 40 * (x - y) + rng.normal(0, 3, size=x.shape))
    return np.clip(np.stack(channels, axis=-1), 0, 255).astype(np.uint8)


def save(tmp_path, name: str, pixels: np.ndarray, orientation: int = 1, **options) -> object:
    path = tmp_path / name
    image = Image.fromarray(pixels)
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    image.save(path, exif=exif.tobytes(), **options)
    return path


def psnr(a, b) -> float:
    error = np.mean((np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)) ** 2)
    return float("inf") if error == 0 else 10 * np.log10(255.0**2 / error)


@pytest.mark.parametrize(
    ("resized", "bucket", "trim"),
    [
        ((300, 200), (256, 200), (22, 0)),
        ((300, 200), (300, 128), (0, 72)),
        ((300, 200), (300, 200), (0, 0)),
        ((300, 200), (64, 64), (236, 136)),
    ],
)
def test_window_at_full_scale_is_exactly_the_trimmed_pixels(tmp_path, resized, bucket, trim):
    image = open_image(save(tmp_path, "c.png", coordinate_pixels(*resized)))
    x, y = decode_coordinates(train_pixels(image, resized, bucket, trim))
    assert x.shape == (bucket[1], bucket[0])
    expected_y, expected_x = np.mgrid[0 : bucket[1], 0 : bucket[0]]
    np.testing.assert_array_equal(x, expected_x + trim[0])
    np.testing.assert_array_equal(y, expected_y + trim[1])


def test_window_after_a_shrink_samples_the_mapped_source_positions(tmp_path):
    image = open_image(save(tmp_path, "c.png", coordinate_pixels(1200, 800)))
    resized, bucket, trim = (600, 400), (512, 400), (44, 0)
    pixels = np.asarray(train_pixels(image, resized, bucket, trim), dtype=np.int64)
    x, y = decode_coordinates(pixels)
    columns, rows = np.arange(bucket[0]), np.arange(bucket[1])
    expected_x = (columns + trim[0] + 0.5) * 2 - 0.5
    expected_y = (rows + trim[1] + 0.5) * 2 - 0.5
    # only where the filter's support (6 source pixels) stays clear of the wrap of the low byte
    clear_x = (expected_x % 256 > 8) & (expected_x % 256 < 247)
    clear_y = (expected_y % 256 > 8) & (expected_y % 256 < 247)
    assert np.abs(x[0, clear_x] - expected_x[clear_x]).max() <= 1
    assert np.abs(y[clear_y, 0] - expected_y[clear_y]).max() <= 1
    assert clear_x.sum() > 400 and clear_y.sum() > 300


def test_window_flip_mirrors_the_kept_pixels(tmp_path):
    image = open_image(save(tmp_path, "c.png", coordinate_pixels(300, 200)))
    plain = np.asarray(train_pixels(image, (300, 200), (256, 200), (10, 0)))
    flipped = np.asarray(train_pixels(image, (300, 200), (256, 200), (10, 0), flip=True))
    np.testing.assert_array_equal(flipped, plain[:, ::-1])


@pytest.mark.parametrize("trim", [(-1, 0), (45, 0), (0, 1)])
def test_window_outside_the_resized_image_is_refused(tmp_path, trim):
    image = open_image(save(tmp_path, "c.png", coordinate_pixels(300, 200)))
    with pytest.raises(ValueError, match="outside"):
        train_pixels(image, (300, 200), (256, 200), trim)


def test_fused_crop_equals_resize_then_crop(tmp_path):
    image = open_image(save(tmp_path, "s.png", smooth_pixels(1000, 700)))
    resized, bucket, trim = (731, 512), (704, 512), (13, 0)
    fused = train_pixels(image, resized, bucket, trim)
    reference = image.resize(resized, Image.Resampling.LANCZOS).crop(
        (trim[0], trim[1], trim[0] + bucket[0], trim[1] + bucket[1])
    )
    assert psnr(fused, reference) >= 45


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_gives_upright_pixels(tmp_path, orientation):
    stored = coordinate_pixels(40, 24)
    path = save(tmp_path, f"o{orientation}.png", stored, orientation)
    image = open_image(path)
    np.testing.assert_array_equal(np.asarray(image), UPRIGHT[orientation](stored))
    assert image.getexif().get(0x0112, 1) == 1
    np.testing.assert_array_equal(np.asarray(open_image(path, apply_exif=False)), stored)


@pytest.mark.parametrize(("landscape", "eighths"), [((400, 300), 2), ((600, 450), 3), ((900, 675), 5)])
@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_jpeg_draft_keeps_the_window_of_a_full_decode(tmp_path, orientation, landscape, eighths):
    """Decoding at n/8 scale (1/4, and the 3/8 and 5/8 that Pillow's own draft lacks) keeps the window."""
    path = save(tmp_path, "big.jpg", smooth_pixels(1603, 1201, seed=orientation), orientation, quality=95)
    full = open_image(path)
    resized = landscape if full.width > full.height else landscape[::-1]
    bucket = (resized[0] - 16, resized[1]) if full.width > full.height else (resized[0], resized[1] - 16)
    trim = ((resized[0] - bucket[0]) // 2, (resized[1] - bucket[1]) // 2)
    drafted = open_image(path, draft=resized)
    assert max(drafted.size) == -(-1603 * eighths // 8) and SOURCE_BOX_KEY in drafted.info
    assert (drafted.width > drafted.height) == (full.width > full.height)
    fast = train_pixels(drafted, resized, bucket, trim)
    assert SOURCE_BOX_KEY not in fast.info
    assert psnr(fast, train_pixels(full, resized, bucket, trim)) >= 45


@pytest.mark.parametrize("mode", ["L", "CMYK"])
def test_grey_and_cmyk_jpegs_decode_at_reduced_scale_as_rgb(tmp_path, mode):
    """Grey JPEGs take the n/8 decoder; CMYK ones, which it cannot convert, Pillow's 1/2-1/8 draft."""
    path = tmp_path / f"{mode}.jpg"
    Image.fromarray(smooth_pixels(1603, 1201)).convert(mode).save(path, quality=95, icc_profile=b"p")
    full = open_image(path)
    drafted = open_image(path, draft=(600, 450))
    assert drafted.mode == full.mode == "RGB" and SOURCE_BOX_KEY in drafted.info
    assert drafted.width == (602 if mode == "L" else 802)  # 3/8 scale, or Pillow's 1/2
    assert drafted.info.get("icc_profile") == full.info.get("icc_profile")
    assert (
        psnr(
            train_pixels(drafted, (600, 450), (576, 448), (12, 1)), train_pixels(full, (600, 450), (576, 448), (12, 1))
        )
        >= 40
    )


def test_a_damaged_jpeg_is_left_to_pillow(tmp_path):
    path = save(tmp_path, "cut.jpg", smooth_pixels(1603, 1201), 1, quality=95)
    path.write_bytes(path.read_bytes()[:4000])
    with pytest.raises(OSError):
        open_image(path, draft=(600, 450))


def test_transparency_and_icc_profile_survive_decoding(tmp_path):
    rgba = np.dstack([smooth_pixels(50, 30), np.full((30, 50), 7, np.uint8)])
    path = tmp_path / "a.png"
    Image.fromarray(rgba).save(path, icc_profile=b"fake-profile")
    image = open_image(path)
    assert image.mode == "RGBA" and image.info["icc_profile"] == b"fake-profile"
    assert train_pixels(image, (50, 30), (48, 30), (1, 0)).info["icc_profile"] == b"fake-profile"
    grey = tmp_path / "g.png"
    Image.fromarray(smooth_pixels(50, 30)[..., 0]).save(grey, icc_profile=b"grey-profile")
    converted = open_image(grey)
    assert converted.mode == "RGB" and "icc_profile" not in converted.info


def test_random_trim_covers_exactly_the_overflow_and_repeats_by_seed():
    draws = [random_trim((300, 200), (256, 200), np.random.default_rng(seed)) for seed in range(400)]
    lefts = {left for left, _ in draws}
    assert lefts == set(range(45)) and {top for _, top in draws} == {0}
    again = [random_trim((300, 200), (256, 200), np.random.default_rng(seed)) for seed in range(400)]
    assert draws == again
    rng = np.random.default_rng(5)
    assert {random_trim((64, 90), (64, 64), rng)[1] for _ in range(500)} == set(range(27))


def test_random_trim_window_holds_the_drawn_pixels(tmp_path):
    image = open_image(save(tmp_path, "c.png", coordinate_pixels(64, 90)))
    rng = np.random.default_rng(3)
    for _ in range(5):
        trim = random_trim((64, 90), (64, 64), rng)
        x, y = decode_coordinates(train_pixels(image, (64, 90), (64, 64), trim))
        assert x[0, 0] == 0 and y[0, 0] == trim[1] and y[-1, 0] == trim[1] + 63


@pytest.mark.parametrize(
    ("anchor", "expected"),
    [
        (Anchor.CENTER, [[22, 0, 278, 200], [0, 50, 100, 150]]),
        (Anchor.LEFT, [[0, 0, 256, 200], [0, 50, 100, 150]]),
        (Anchor.RIGHT, [[44, 0, 300, 200], [0, 50, 100, 150]]),
        (Anchor.TOP, [[22, 0, 278, 200], [0, 0, 100, 100]]),
        (Anchor.BOTTOM, [[22, 0, 278, 200], [0, 100, 100, 200]]),
    ],
)
def test_precrop_anchor_moves_the_box_along_the_cut_axis(tmp_path, anchor, expected):
    widths, heights = np.array([300, 100]), np.array([200, 200])
    centred = covering_precrop(widths, heights, np.array([1024, 512]), np.array([800, 512]))
    boxes = anchored_precrop(centred, widths, heights, anchor)
    assert boxes.tolist() == expected
    image = open_image(save(tmp_path, "c.png", coordinate_pixels(300, 200)))
    x, y = decode_coordinates(precrop_pixels(image, tuple(boxes[0])))
    assert (x[0, 0], y[0, 0], x[-1, -1], y[-1, -1]) == (boxes[0][0], 0, boxes[0][2] - 1, 199)


def test_precrop_box_outside_the_image_is_refused(tmp_path):
    image = open_image(save(tmp_path, "c.png", coordinate_pixels(30, 20)))
    with pytest.raises(ValueError, match="not inside"):
        precrop_pixels(image, (0, 0, 31, 20))


@settings(max_examples=40, deadline=None)
@given(
    width=st.integers(8, 300),
    height=st.integers(8, 300),
    bucket_w=st.integers(1, 300),
    bucket_h=st.integers(1, 300),
    data=st.data(),
)
def test_any_window_at_full_scale_is_exactly_the_trimmed_pixels(width, height, bucket_w, bucket_h, data):
    bucket = (min(bucket_w, width), min(bucket_h, height))
    trim = random_trim((width, height), bucket, np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))))
    assert 0 <= trim[0] <= width - bucket[0] and 0 <= trim[1] <= height - bucket[1]
    image = Image.fromarray(coordinate_pixels(width, height))
    x, y = decode_coordinates(train_pixels(image, (width, height), bucket, trim))
    expected_y, expected_x = np.mgrid[0 : bucket[1], 0 : bucket[0]]
    np.testing.assert_array_equal(x, expected_x + trim[0])
    np.testing.assert_array_equal(y, expected_y + trim[1])


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(1, 5000),
    height=st.integers(1, 5000),
    bucket_w=st.integers(1, 2048),
    bucket_h=st.integers(1, 2048),
    anchor=st.sampled_from(list(Anchor)),
)
def test_any_precrop_box_is_inside_the_image_and_of_the_buckets_ratio(width, height, bucket_w, bucket_h, anchor):
    widths, heights = np.array([width]), np.array([height])
    centred = covering_precrop(widths, heights, np.array([bucket_w]), np.array([bucket_h]))
    ((left, top, right, bottom),) = anchored_precrop(centred, widths, heights, anchor).tolist()
    assert 0 <= left < right <= width and 0 <= top < bottom <= height
    assert right - left == width or bottom - top == height  # only one side is cut
    box_w, box_h = right - left, bottom - top
    # the box's ratio is the bucket's up to the rounding of its cut side by half a pixel
    if box_w < width:
        assert abs(box_w - box_h * bucket_w / bucket_h) <= 0.5 or box_w == 1
    if box_h < height:
        assert abs(box_h - box_w * bucket_h / bucket_w) <= 0.5 or box_h == 1


def test_an_image_turned_differently_from_its_placement_is_refused(tmp_path):
    image = open_image(save(tmp_path, "c.png", coordinate_pixels(300, 200)))
    with pytest.raises(ValueError, match="stretched"):
        train_pixels(image, (200, 300), (192, 300), (4, 0))
    assert train_pixels(image, (451, 301), (448, 301), (1, 0)).size == (448, 301)  # rounding is fine


def test_a_given_orientation_overrides_the_files_tag(tmp_path):
    """The scan's orientation is the authority: the export cuts what was placed, whatever the tag says."""
    stored = coordinate_pixels(40, 24)
    tagged = save(tmp_path, "t.png", stored, 6)
    untagged = save(tmp_path, "u.png", stored)
    np.testing.assert_array_equal(np.asarray(open_image(tagged, orientation=1)), stored)
    np.testing.assert_array_equal(np.asarray(open_image(untagged, orientation=6)), UPRIGHT[6](stored))
    np.testing.assert_array_equal(np.asarray(open_image(tagged, apply_exif=False, orientation=6)), stored)
