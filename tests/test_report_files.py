"""JSON and CSV outputs: every image with assign's columns, atomic writes, never inside the dataset."""

from __future__ import annotations

import csv
import json
import os
import stat

import pytest

from aspectbucket.outputs import OutputRefused, atomic_open, refuse_inside
from aspectbucket.report.files import (
    IMAGE_FIELDS,
    image_fields,
    image_records,
    report_document,
    write_csv,
    write_json,
)
from aspectbucket.report.summary import summarize
from report_plans import make_plan

ASSIGN_COLUMNS = (
    "bucket_width",
    "bucket_height",
    "resized_width",
    "resized_height",
    "ar_error",
    "crop_left",
    "crop_top",
    "crop_ltrb",
    "lost_fraction",
    "upscaled",
    "error",
)


@pytest.fixture
def plan():
    images = [("wide.jpg", 768, 512), ("turned.jpg", 800, 600, 6), ("bad.jpg", 0, 0, 1, "empty file")]
    return make_plan(images, subsets=[("10_dog", 10)])


def test_image_records_carry_assign_columns_sizes_and_precrop(plan):
    records = list(image_records(plan, summarize(plan)))
    assert all(set(IMAGE_FIELDS) - {"target_resolution"} == set(record) for record in records)
    assert set(ASSIGN_COLUMNS) <= set(IMAGE_FIELDS)
    wide, turned, bad = records
    assert (wide["path"], wide["subset"], wide["repeats"]) == ("/data/set/10_dog/wide.jpg", "10_dog", 10)
    # 768x512 at 512x512: bucket 640x384, resized 640x427, 21 rows really trimmed from the top,
    # while sd-scripts reports the letterbox (0, 32) to SDXL (spec section 4).
    assert (wide["bucket_width"], wide["bucket_height"], wide["resized_width"], wide["resized_height"]) == (
        640,
        384,
        640,
        427,
    )
    assert (wide["crop_left"], wide["crop_top"]) == (0, 21)
    assert wide["crop_ltrb"] == [32.0, 0.0, 608.0, 384.0]
    assert wide["bucket_number"] == 1 and wide["precrop"] == [0, 25, 768, 486] and wide["error"] == ""
    assert (turned["stored_width"], turned["upright_width"], turned["width"]) == (800, 600, 800)
    assert turned["warnings"] == ["exif_rotated"]
    assert bad["error"] == "empty file" and bad["bucket_number"] == -1 and bad["bucket_width"] == 0


def test_json_document_holds_settings_summary_buckets_and_images(plan, tmp_path):
    summary = summarize(plan, batch_size=4)
    target = tmp_path / "report.json"
    write_json(target, plan, summary, source="/data/set")
    document = json.loads(target.read_text(encoding="utf-8"))
    assert document == json.loads(json.dumps(report_document(plan, summary, "/data/set")))
    assert document["settings"]["datasets"][0]["resolution"] == [512, 512]
    assert document["settings"]["datasets"][0]["batch_size"] == 4
    assert len(document["settings"]["datasets"][0]["bucket_list"]) == 17  # kohya at 512x512 (spec, 1)
    assert document["settings"]["datasets"][0]["bucket_list"][0] == [256, 832]
    assert document["summary"]["steps_per_epoch"] == 6 and document["summary"]["unusable"] == 1
    assert [bucket["number"] for bucket in document["buckets"]] == [0, 1]
    assert len(document["images"]) == 3


def test_csv_has_one_row_per_image(plan, tmp_path):
    target = tmp_path / "report.csv"
    write_csv(target, plan, summarize(plan))
    with open(target, newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == list(image_fields(summarize(plan)))
    assert [row["path"].rsplit("/", 1)[1] for row in rows] == ["wide.jpg", "turned.jpg", "bad.jpg"]
    assert (rows[0]["crop_ltrb"], rows[0]["precrop"]) == ("32.0 0.0 608.0 384.0", "0 25 768 486")
    assert rows[1]["warnings"] == "exif_rotated" and rows[2]["error"] == "empty file"


def test_atomic_writes_leave_no_partial_file(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target) as stream:
        stream.write("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.json"]
    with atomic_open(target) as stream:
        stream.write("new")
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["out.json"]
    current_umask = os.umask(0o022)
    os.umask(current_umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~current_umask  # not mkstemp's private 0600


def test_outputs_inside_the_dataset_are_refused(tmp_path):
    dataset = tmp_path / "data"
    (dataset / "10_dog").mkdir(parents=True)
    for inside in (dataset / "report.json", dataset / "10_dog" / "deep" / "r.csv", dataset):
        with pytest.raises(OutputRefused, match="never writes under an input"):
            refuse_inside(inside, [dataset / "10_dog", dataset])
    link = tmp_path / "link"
    link.symlink_to(dataset)
    with pytest.raises(OutputRefused):
        refuse_inside(link / "r.json", [dataset])
    planted = tmp_path / "innocent.json"  # a file symlink whose target lies in the dataset
    planted.symlink_to(dataset / "10_dog" / "a.txt")
    with pytest.raises(OutputRefused):
        refuse_inside(planted, [dataset])
    refuse_inside(tmp_path / "data-report.json", [dataset])


def test_the_writers_refuse_a_path_under_the_plans_image_folders_themselves(tmp_path):
    """A Python caller gets the guard the command line has: the writers check their own paths."""
    from aspectbucket.report.html import write_html

    plan = make_plan([("wide.jpg", 768, 512)], root=tmp_path / "set", subsets=[("10_dog", 10)])
    (tmp_path / "set" / "10_dog").mkdir(parents=True)
    summary = summarize(plan)
    for write in (write_json, write_csv, write_html):
        with pytest.raises(OutputRefused, match="never writes under an input"):
            write(tmp_path / "set" / "10_dog" / "report.out", plan, summary)
    assert os.listdir(tmp_path / "set" / "10_dog") == []


# OneTrainer with several resolutions: each image's drawn side --------------------------------------------

SEVERAL = {"target_resolution": "512,768,1024"}


def several_plan(settings=SEVERAL):
    images = [(f"{index}.jpg", 900 + 37 * index, 700) for index in range(12)] + [("bad.jpg", 0, 0, 1, "empty file")]
    return make_plan(images, profile="onetrainer", settings=settings)


def test_json_and_csv_rows_carry_each_images_drawn_target_resolution(tmp_path):
    from aspectbucket.geometry.several_resolutions import onetrainer_epoch_targets

    plan = several_plan()
    summary = summarize(plan)
    expected = onetrainer_epoch_targets(13, (512, 768, 1024), epoch=0).tolist()
    write_json(tmp_path / "r.json", plan, summary)
    document = json.loads((tmp_path / "r.json").read_text())
    sides = [record["target_resolution"] for record in document["images"]]
    assert sides == [*expected[:12], None] and len(set(expected[:12])) == 3
    assert document["settings"]["target_resolution_draw"].startswith("drawn once")
    # the bucket is one of that side's list: its area is within a quantization step of side**2
    for record in document["images"][:12]:
        side = record["target_resolution"]
        assert abs(record["bucket_width"] * record["bucket_height"] - side * side) < 0.3 * side * side
    write_csv(tmp_path / "r.csv", plan, summary)
    with open(tmp_path / "r.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["target_resolution"] for row in rows] == [*(str(side) for side in expected[:12]), ""]


def test_without_a_per_image_draw_the_column_is_absent(tmp_path, plan):
    summary = summarize(plan)
    assert "target_resolution" not in image_fields(summary)
    write_csv(tmp_path / "r.csv", plan, summary)
    assert "target_resolution" not in (tmp_path / "r.csv").read_text().splitlines()[0].split(",")
    write_json(tmp_path / "r.json", plan, summary)
    document = json.loads((tmp_path / "r.json").read_text())
    assert "target_resolution_draw" not in document["settings"]
    one = summarize(several_plan({"target_resolution": "768"}))
    assert "target_resolution" not in image_fields(one)


def test_latent_caching_off_says_the_draw_changes_every_epoch(tmp_path):
    plan = several_plan({**SEVERAL, "latent_caching": False})
    write_json(tmp_path / "r.json", plan, summarize(plan))
    draw = json.loads((tmp_path / "r.json").read_text())["settings"]["target_resolution_draw"]
    assert draw.startswith("drawn again every epoch")
