"""Exports end to end through the library: re-placement, pre-crops, sidecars, formats, safety and resume."""

from __future__ import annotations

import errno
import json
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aspectbucket.export import run as export_run
from aspectbucket.export.pixels import Anchor
from aspectbucket.export.plan import (
    ExportRefused,
    ExportSettings,
    ItemError,
    export_inputs,
    load_crops,
    plan_export,
    source_root,
)
from aspectbucket.export.run import ExportAborted, kohya_metadata, run_export
from aspectbucket.outputs import OutputRefused, OutputTree, refuse_inside
from aspectbucket.plan import plan_dataset
from aspectbucket.scan import scan
from aspectbucket.scan.sources import example_dataset_path, read_dataset
from test_export_pixels import coordinate_pixels, decode_coordinates, smooth_pixels

#: (folder, name, stored size, EXIF orientation, format): odd ratios, rotations, every writer.
DATASET = [
    ("10_dog", "wide.jpg", (800, 450), 1, "JPEG"),
    ("10_dog", "tall.jpg", (350, 667), 6, "JPEG"),
    ("10_dog", "square.png", (320, 320), 1, "PNG"),
    ("10_dog", "thin.webp", (1000, 151), 8, "WEBP"),
    ("3_cat", "small.png", (333, 250), 3, "PNG"),
    ("3_cat", "big.jpg", (1200, 750), 5, "JPEG"),
    ("3_cat", "odd.bmp", (517, 389), 1, "BMP"),
]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def make_dataset(root: Path, entries=DATASET) -> Path:
    for index, (folder, name, size, orientation, kind) in enumerate(entries):
        (root / folder).mkdir(parents=True, exist_ok=True)
        exif = Image.Exif()
        if orientation != 1:
            exif[0x0112] = orientation
        options = {"exif": exif.tobytes()} if kind != "BMP" else {}
        Image.fromarray(smooth_pixels(*size, seed=index)).save(root / folder / name, kind, **options)
        (root / folder / name).with_suffix(".txt").write_text(f"caption of {name}")
    return root


def export(source: Path, out: Path, given: dict | None = None, **settings):
    settings = ExportSettings(**settings)
    subsets, _ = read_dataset(source)
    refuse_inside(out, export_inputs(source, subsets))
    scanned = scan(subsets, use_cache=False)
    plan = plan_dataset(scanned, "kohya", given or {}, respect_exif=settings.apply_exif)
    items = plan_export(plan, source_root(source, subsets), out, settings)
    return items, run_export(items, settings, out, jobs=2)


def journal(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / export_run.METADATA_NAME).read_text().splitlines()]


def place_again(folder: Path, given: dict, respect_exif: bool):
    subsets, _ = read_dataset(folder)
    return plan_dataset(scan(subsets, use_cache=False), "kohya", given, respect_exif=respect_exif)


GIVEN = [
    {},
    {"resolution": (1024, 1024)},
    {"resolution": (768, 512), "bucket_reso_steps": 32},
    {"bucket_no_upscale": True, "resolution": (1024, 1024)},
]


@pytest.mark.parametrize("given", GIVEN)
@pytest.mark.parametrize("apply_exif", [True, False])
def test_an_exported_train_image_lands_in_its_own_bucket_untouched(tmp_path, given, apply_exif):
    source = make_dataset(tmp_path / "data")
    items, summary = export(source, tmp_path / "out", given, apply_exif=apply_exif)
    assert summary.written == len(DATASET) and not summary.failed
    again = place_again(tmp_path / "out", given, apply_exif)
    assert len(again.scan.paths) == len(DATASET)
    placement = again.placement
    by_output = {item.output: item for item in items}
    for row, path in enumerate(again.scan.paths):
        item = by_output[path.relative_to(tmp_path / "out").as_posix()]
        size = (int(placement.width[row]), int(placement.height[row]))
        assert size == item.bucket
        assert (int(placement.bucket_width[row]), int(placement.bucket_height[row])) == size
        assert (int(placement.resized_width[row]), int(placement.resized_height[row])) == size
        assert placement.pixels_cut[row] == 0 and placement.trim_left[row] == placement.trim_top[row] == 0


@pytest.mark.parametrize("apply_exif", [True, False])
def test_every_example_image_lands_in_its_own_bucket_untouched(tmp_path, apply_exif):
    example = example_dataset_path()
    if not example.is_dir():
        pytest.skip("the example dataset is not in this checkout")
    items, summary = export(example, tmp_path / "out", apply_exif=apply_exif)
    assert summary.written == sum(not item.error for item in items) > 0
    placement = place_again(tmp_path / "out", {}, apply_exif).placement
    assert placement.ok.all() and (placement.pixels_cut == 0).all()
    assert (placement.bucket_width == placement.width).all()
    assert (placement.bucket_height == placement.height).all()


def test_every_example_image_exported_by_its_config_lands_in_its_own_bucket(tmp_path):
    """Each dataset block keeps its own options (block 1 without upscaling), in and out."""
    config = example_dataset_path() / "dataset.toml"
    if not config.is_file():
        pytest.skip("the example dataset is not in this checkout")
    items, summary = export(config, tmp_path / "out")
    assert summary.written == sum(not item.error for item in items) > 0
    (tmp_path / "out" / "dataset.toml").write_text(config.read_text())  # same folders, relative paths
    again = place_again(tmp_path / "out" / "dataset.toml", {}, True)
    placement = again.placement
    assert len(again.scan.paths) == summary.written and placement.ok.all()
    assert (placement.pixels_cut == 0).all()
    assert (placement.bucket_width == placement.width).all()
    assert (placement.bucket_height == placement.height).all()


@pytest.mark.parametrize("given", [*GIVEN, {"bucket_no_upscale": True}])
@pytest.mark.parametrize("anchor", list(Anchor))
def test_a_precropped_image_loses_at_most_one_steps_rounding(tmp_path, given, anchor):
    source = make_dataset(tmp_path / "data")
    items, summary = export(source, tmp_path / "out", given, mode="precrop", anchor=anchor)
    assert summary.written == len(DATASET)
    steps = given.get("bucket_reso_steps", 64)
    placement = place_again(tmp_path / "out", given, True).placement
    assert placement.ok.all()
    overflow_w = placement.resized_width - placement.bucket_width
    overflow_h = placement.resized_height - placement.bucket_height
    assert (overflow_w < steps).all() and (overflow_h < steps).all()
    if not given.get("bucket_no_upscale"):  # a fixed bucket list: the same bucket, at most a pixel cut
        assert (np.minimum(overflow_w, overflow_h) == 0).all()
        assert (np.maximum(overflow_w, overflow_h) <= 1).all()
        by_output = {item.output: item for item in items}
        for row, path in enumerate(place_again(tmp_path / "out", given, True).scan.paths):
            item = by_output[path.relative_to(tmp_path / "out").as_posix()]
            bucket = (int(placement.bucket_width[row]), int(placement.bucket_height[row]))
            assert bucket == item.target_bucket == item.bucket


def test_a_precrop_keeps_full_resolution_pixels_at_the_anchor(tmp_path):
    (tmp_path / "data").mkdir()
    Image.fromarray(coordinate_pixels(1000, 300)).save(tmp_path / "data" / "c.png")
    for anchor, expected_left in ((Anchor.LEFT, 0), (Anchor.CENTER, None), (Anchor.RIGHT, None)):
        items, _ = export(tmp_path / "data", tmp_path / anchor.value, mode="precrop", anchor=anchor)
        left, top, right, bottom = items[0].crop_box
        x, y = decode_coordinates(np.asarray(Image.open(tmp_path / anchor.value / "c.png")))
        assert x.shape == (bottom - top, right - left) and x[0, 0] == left and x[-1, -1] == right - 1
        assert y[0, 0] == 0 and y[-1, 0] == 299
        if expected_left is not None:
            assert left == expected_left
        assert items[0].bucket == (832, 256)
    assert items[0].crop_box[2] == 1000


def test_crops_file_boxes_are_used_and_missing_ones_reported(tmp_path):
    source = make_dataset(tmp_path / "data", DATASET[:3])
    crops_file = tmp_path / "crops.json"
    crops_file.write_text(
        json.dumps(
            {
                "images": [
                    {"path": "10_dog/wide.jpg", "precrop": [100, 50, 500, 450]},
                    {"path": "10_dog/square.png", "precrop": [0, 0, 641, 10]},
                ]
            }
        )
    )
    _, summary = export(source, tmp_path / "out", mode="precrop", crops=load_crops(crops_file))
    assert summary.written == 1
    assert summary.failed == {ItemError.NO_CROP_BOX.value: 1, ItemError.BAD_CROP_BOX.value: 1}
    assert Image.open(tmp_path / "out" / "10_dog" / "wide.jpg").size == (400, 400)


@pytest.mark.parametrize("form", ["images", "advice", "plain"])
def test_crops_from_a_report_document_match_by_absolute_or_displayed_path(tmp_path, form):
    source = make_dataset(tmp_path / "data", DATASET[:2])
    box = [10, 20, 330, 340]
    wide = (source / "10_dog" / "wide.jpg").resolve().as_posix()
    document = {
        "images": {"images": [{"path": wide, "precrop": box}, {"path": "x", "precrop": [0, 0, 0, 0]}]},
        "advice": {"advice": {"precrops": [{"path": "wide.jpg", "box": box}]}},  # relative to the one folder
        "plain": {"10_dog/wide.jpg": box},
    }[form]
    (tmp_path / "crops.json").write_text(json.dumps(document))
    items, summary = export(source, tmp_path / "out", mode="precrop", crops=load_crops(tmp_path / "crops.json"))
    assert summary.written == 1 and summary.failed == {ItemError.NO_CROP_BOX.value: 1}
    assert next(item for item in items if item.output).crop_box == tuple(box)


def test_random_crop_is_reproducible_and_stays_in_range(tmp_path):
    source = make_dataset(tmp_path / "data")
    first, _ = export(source, tmp_path / "a", random_crop=True, seed=7)
    second, _ = export(source, tmp_path / "b", random_crop=True, seed=7)
    other, _ = export(source, tmp_path / "c", random_crop=True, seed=8)
    assert [item.trim for item in first] == [item.trim for item in second]
    assert [item.trim for item in first] != [item.trim for item in other]
    for item in first:
        assert 0 <= item.trim[0] <= item.resized_size[0] - item.bucket[0]
        assert 0 <= item.trim[1] <= item.resized_size[1] - item.bucket[1]
        assert item.sdxl_crop_top_left_true == (item.trim[1], item.trim[0])
    for name in ("10_dog/wide.jpg", "3_cat/big.jpg"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_tree_sidecars_formats_exif_and_icc(tmp_path):
    source = make_dataset(tmp_path / "data")
    with Image.open(source / "10_dog" / "wide.jpg") as image:
        image.load()
        image.save(source / "10_dog" / "wide.jpg", quality=95, icc_profile=b"profile-bytes")
    export(source, tmp_path / "out", output_format="webp", quality=90)
    out = tmp_path / "out"
    outputs = sorted(path.relative_to(out).as_posix() for path in out.rglob("*.*"))
    stems = [f"{folder}/{Path(name).stem}" for folder, name, *_ in DATASET]
    expected = [stem + ext for stem in stems for ext in (".webp", ".txt")]
    assert outputs == sorted([*expected, export_run.METADATA_NAME])
    assert (tmp_path / "out" / "3_cat" / "odd.txt").read_text() == "caption of odd.bmp"
    with Image.open(tmp_path / "out" / "10_dog" / "wide.webp") as wide:
        assert wide.format == "WEBP" and wide.info.get("icc_profile") == b"profile-bytes"
    with Image.open(tmp_path / "out" / "10_dog" / "tall.webp") as tall:
        assert tall.getexif().get(0x0112, 1) == 1 and tall.width > tall.height  # stored tall, upright wide
    records = journal(tmp_path / "out")
    tall_record = next(record for record in records if record["relative"] == "10_dog/tall.jpg")
    assert tall_record["original_size"] == [667, 350] and tall_record["stored_size"] == [350, 667]
    assert tall_record["orientation"] == 6 and len(records) == len(DATASET)


def test_ignore_exif_exports_the_stored_pixels(tmp_path):
    (tmp_path / "data").mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6
    stored_pixels = coordinate_pixels(640, 384)
    Image.fromarray(stored_pixels).save(tmp_path / "data" / "r.webp", lossless=True, exif=exif.tobytes())
    export(tmp_path / "data", tmp_path / "stored", apply_exif=False, output_format="png")
    export(tmp_path / "data", tmp_path / "upright", output_format="png")
    with Image.open(tmp_path / "stored/r.png") as stored, Image.open(tmp_path / "upright/r.png") as up:
        assert stored.size == (640, 384) and stored.getexif().get(0x0112) == 6
        assert up.size == (384, 640) and up.getexif().get(0x0112, 1) == 1
        np.testing.assert_array_equal(np.asarray(stored), stored_pixels)
        np.testing.assert_array_equal(np.asarray(up), stored_pixels[::-1].transpose(1, 0, 2))


def test_a_png_exif_orientation_is_applied_as_the_scan_reads_it(tmp_path):
    (tmp_path / "data").mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(coordinate_pixels(640, 384)).save(tmp_path / "data" / "r.png", exif=exif.tobytes())
    items, _ = export(tmp_path / "data", tmp_path / "out")
    with Image.open(tmp_path / "out" / "r.png") as image:
        assert image.size == items[0].bucket == (384, 640) and items[0].orientation == 6
        np.testing.assert_array_equal(np.asarray(image), coordinate_pixels(640, 384)[::-1].transpose(1, 0, 2))


def test_corrupt_and_truncated_inputs_are_reported_and_skipped(tmp_path):
    source = make_dataset(tmp_path / "data", DATASET[:3])
    (source / "10_dog" / "junk.png").write_bytes(b"not a picture")
    whole = (source / "10_dog" / "wide.jpg").read_bytes()
    (source / "10_dog" / "cut.jpg").write_bytes(whole[: len(whole) // 3])
    png = bytearray((source / "10_dog" / "square.png").read_bytes())
    png[len(png) // 2 : len(png) // 2 + 64] = bytes(64)  # a whole file whose compressed data is broken
    (source / "10_dog" / "square.png").write_bytes(bytes(png))
    _, summary = export(source, tmp_path / "out")
    assert summary.written == 2 and summary.failed_count == 3
    assert summary.failed[ItemError.CORRUPT.value] == 1  # found only when decoding; the others by the scan
    assert not (tmp_path / "out" / "10_dog" / "square.png").exists()
    records = journal(tmp_path / "out")
    assert len(records) == 5
    assert {record["relative"] for record in records if record.get("error")} == {
        "10_dog/junk.png",
        "10_dog/cut.jpg",
        "10_dog/square.png",
    }


def test_the_dataset_folder_is_refused_as_destination(tmp_path):
    source = make_dataset(tmp_path / "data", DATASET[:1])
    subsets, _ = read_dataset(source)
    for destination in (source, source / "out", source / "10_dog" / "x"):
        with pytest.raises(OutputRefused, match="inside the input"):
            refuse_inside(destination, export_inputs(source, subsets))
    items, _ = export(source, tmp_path / "out")
    with pytest.raises(OutputRefused, match="inside the input"):  # the items' own folders, always
        run_export(items, ExportSettings(), tmp_path / "out2", metadata=source / "10_dog" / "metadata.jsonl")
    with pytest.raises(OutputRefused, match="inside the input"):
        inputs = export_inputs(source, subsets)
        run_export(items, ExportSettings(), tmp_path / "out2", metadata=source / "metadata.jsonl", inputs=inputs)
    assert not (tmp_path / "out2").exists()


def test_an_output_that_would_replace_a_source_is_refused(tmp_path):
    source = make_dataset(tmp_path / "data", DATASET[:1])
    subsets, _ = read_dataset(source / "10_dog")
    plan = plan_dataset(scan(subsets, use_cache=False), "kohya", {})
    with pytest.raises(ExportRefused, match="overwrite the source"):
        plan_export(plan, source, source / "10_dog" / "..", ExportSettings())


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        path.relative_to(folder).as_posix(): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.rglob("*")
        if path.is_file()
    }


class FailingWrites:
    """A stand-in for ``OutputTree.write`` whose image writes fail with ``code`` after the first ``after``
    images, half-way through the file (so a temporary file exists when the error comes)."""

    def __init__(self, code: int, after: int):
        self.code, self.after, self.opened = code, after, 0
        self.write = OutputTree.write
        self.lock = threading.Lock()

    def install(self, monkeypatch) -> None:
        failing = self

        def write(tree, relative, data):
            if relative.endswith((".txt", ".caption")):  # count image files only, as the tests reason in images
                return failing.write(tree, relative, data)
            with failing.lock:
                failing.opened += 1
                fails = failing.opened > failing.after
            return failing.write(tree, relative, failing._half(data) if fails else data)

        monkeypatch.setattr(OutputTree, "write", write)

    def _half(self, data: bytes):
        yield data[: len(data) // 2]
        raise OSError(self.code, "simulated")


@pytest.mark.parametrize(("code", "message"), [(errno.ENOSPC, "disk is full"), (errno.EACCES, "no permission")])
def test_a_write_failure_stops_cleanly_and_a_rerun_resumes(tmp_path, monkeypatch, code, message):
    source = make_dataset(tmp_path / "data")
    before = snapshot(source)
    FailingWrites(code, after=2).install(monkeypatch)
    with pytest.raises(ExportAborted, match=message):
        export(source, tmp_path / "out", output_format="png")
    monkeypatch.undo()
    left = sorted(path.name for path in (tmp_path / "out").rglob("*") if path.is_file())
    assert not [name for name in left if name.endswith(export_run.TEMP_SUFFIX)]
    finished = [name for name in left if name.endswith(".png")]
    assert 1 <= len(finished) <= 2  # two file writes succeeded: images, never half of one
    for path in (tmp_path / "out").rglob("*.png"):
        with Image.open(path) as image:
            image.load()
    # an image a second thread finished while the first one failed is on disk but not journaled: redone
    journaled = sum("output_bytes" in record for record in journal(tmp_path / "out"))
    assert 1 <= journaled <= len(finished)
    _, summary = export(source, tmp_path / "out", output_format="png")
    assert summary.skipped == journaled and summary.written == len(DATASET) - journaled
    assert snapshot(source) == before


def test_a_rerun_with_other_settings_rewrites_and_same_settings_skips(tmp_path):
    source = make_dataset(tmp_path / "data", DATASET[:3])
    export(source, tmp_path / "out", quality=90)
    first = snapshot(tmp_path / "out")
    _, same = export(source, tmp_path / "out", quality=90)
    assert same.skipped == 3 and same.written == 0
    assert {k: v for k, v in snapshot(tmp_path / "out").items() if not k.endswith(".jsonl")} == {
        k: v for k, v in first.items() if not k.endswith(".jsonl")
    }
    _, changed = export(source, tmp_path / "out", quality=80)
    assert changed.written == 3
    (tmp_path / "out" / "10_dog" / "square.png").write_bytes(b"damaged")
    _, repaired = export(source, tmp_path / "out", quality=80)
    assert repaired.written == 1 and repaired.skipped == 2


def test_kohya_metadata_keys_by_stem_when_flat_else_full_path(tmp_path):
    entries = [("", "a.png", (640, 480), 1, "PNG"), ("", "b.jpg", (480, 640), 1, "JPEG")]
    flat = make_dataset(tmp_path / "flat", entries)
    _, summary = export(flat, tmp_path / "out_flat")
    metadata = kohya_metadata(summary.records, tmp_path / "out_flat")
    assert metadata == {
        "a": {"train_resolution": [576, 448], "caption": "caption of a.png"},
        "b": {"train_resolution": [448, 576], "caption": "caption of b.jpg"},
    }
    nested = make_dataset(tmp_path / "nested", DATASET[:2])
    _, summary = export(nested, tmp_path / "out_nested")
    keys = set(kohya_metadata(summary.records, tmp_path / "out_nested"))
    out = (tmp_path / "out_nested").resolve()
    assert keys == {str(out / "10_dog" / name) for name in ("wide.jpg", "tall.jpg")}


def test_the_metadata_line_of_the_spec_example(tmp_path):
    """768x512 at 512: bucket 640x384, resized 640x427, 21 rows off the top; SDXL is told (0, 32)."""
    (tmp_path / "data").mkdir()
    Image.fromarray(coordinate_pixels(768, 512)).save(tmp_path / "data" / "e.png")
    export(tmp_path / "data", tmp_path / "out")
    (record,) = journal(tmp_path / "out")
    assert record["bucket"] == [640, 384] and record["resized_size"] == [640, 427]
    assert record["trim"] == [0, 21] and record["output_size"] == [640, 384]
    assert record["sdxl_crop_top_left_true"] == [21, 0]
    assert record["sdxl_crop_top_left_reported"] == [0.0, 32.0]
    assert record["crop_box"] == [0.0, round(21 * 512 / 427, 4), 768.0, round(405 * 512 / 427, 4)]
    assert record["scale"] == pytest.approx(640 / 768, abs=1e-3) and record["original_size"] == [768, 512]
    _, y = decode_coordinates(np.asarray(Image.open(tmp_path / "out" / "e.png")))
    assert abs(y[0, 300] - (21 + 0.5) * 512 / 427) < 1.5 and abs(y[-1, 300] - (404 + 0.5) * 512 / 427) < 1.5


def test_an_image_that_cannot_be_encoded_is_skipped_and_the_rest_export(tmp_path, monkeypatch):
    source = make_dataset(tmp_path / "data", DATASET[:3])
    real_encode = export_run.encode_image
    calls = []

    def refuse_first(pixels, output_format, quality):
        calls.append(output_format)
        if len(calls) == 1:
            raise OSError("cannot write mode P as JPEG")
        return real_encode(pixels, output_format, quality)

    monkeypatch.setattr(export_run, "encode_image", refuse_first)
    _, summary = export(source, tmp_path / "out")
    assert summary.failed == {ItemError.CANNOT_ENCODE.value: 1}
    assert summary.written == 2
