"""The buckets, explain and assign commands: output, exit codes and errors, through click's runner."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from aspectbucket.cli import main


@pytest.fixture
def run():
    def invoke(*args, input=None):
        return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)

    return invoke


def test_buckets_json_lists_the_kohya_grid(run):
    result = run("buckets", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert len(rows) == 17
    assert {"width", "height", "ratio", "w_over_h", "h_over_w", "area", "budget_share"} <= set(rows[0])
    assert (rows[7]["width"], rows[7]["height"], rows[7]["ratio"]) == (448, 576, "7:9")
    assert rows[7]["from_w_over_h"] == pytest.approx((384 / 640 + 448 / 576) / 2)


def test_buckets_table_names_every_bucket_and_switch(run):
    result = run("buckets", "--resolution", "1024", "--max-bucket-reso", "2048")
    assert result.exit_code == 0
    assert "41 buckets" in result.output
    assert "1024x1024" in result.output and "1:1" in result.output


def test_buckets_without_upscale_says_there_is_no_list(run):
    result = run("buckets", "--bucket-no-upscale")
    assert result.exit_code == 0
    assert "no bucket list" in result.output
    assert json.loads(run("buckets", "--bucket-no-upscale", "--json").output) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--resolution", "100,2000"], "min_bucket_reso 256 is larger than the smaller side"),
        (["--resolution", "2048"], "max_bucket_reso 1024 is smaller than the larger side"),
        (["--resolution", "abc"], "is not 'SIZE' or 'WIDTH,HEIGHT'"),
        (["--bucket-reso-steps", "0"], "bucket_reso_steps 0 must be from 1 to"),
        (["--profile", "nonesuch"], "nonesuch"),
        (["--min-bucket-reso", "30"], "must be at least one step"),
    ],
)
def test_refused_options_exit_2_with_the_reason(run, args, message):
    result = CliRunner().invoke(main, ["buckets", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_min_and_max_are_rounded_to_the_step_with_a_warning(run):
    result = CliRunner().invoke(main, ["buckets", "--min-bucket-reso", "300", "--max-bucket-reso", "1000", "--json"])
    assert result.exit_code == 0
    assert "rounded down to 256" in result.stderr and "rounded up to 1024" in result.stderr
    assert len(json.loads(result.stdout)) == 17


def test_explain_tells_the_bucket_resize_crop_and_sdxl_coordinates(run):
    result = run("explain", "768x512")
    assert result.exit_code == 0
    text = result.output
    assert "Bucket 640x384" in text
    assert "768x512 -> 640x427" in text
    assert "43 rows (21 from the top, 22 from the bottom)" in text
    assert "crop_top_left (0, 32)" in text and "the real crop is (21, 0)" in text
    assert "pre-crop" in text


def test_explain_warns_about_the_article_for_portrait_images(run):
    text = run("explain", "512x752").output
    assert "Bucket 384x640" in text
    assert "it would place this image differently" in text


def test_explain_json_and_issue_731(run):
    result = run("explain", "520x512", "--bucket-no-upscale", "--json")
    assert result.exit_code == 0
    [fact] = json.loads(result.output)
    assert (fact["bucket_width"], fact["bucket_height"]) == (448, 448)
    assert fact["step_loss"] is True
    assert (fact["corrected_width"], fact["corrected_height"]) == (512, 512)
    assert any("issue 731" in warning for warning in fact["warnings"])


def test_explain_warns_about_upscaling_and_loss(run):
    text = run("explain", "100x400").output
    assert "enlarged" in text and "Warning" in text


def test_explain_unplaceable_size_exits_1(run):
    result = run("explain", "50x400", "--bucket-no-upscale")
    assert result.exit_code == 1
    assert "cannot be placed" in result.output


def test_explain_malformed_size_is_a_usage_error(run):
    result = CliRunner().invoke(main, ["explain", "576by768"])
    assert result.exit_code == 2
    assert "is not a size like 576x768" in result.output


SIZES_CSV = "file,width,height,note\na.png,576,768,first\nb.png,,5,\nc.png,768,512,third\n"


def test_assign_csv_keeps_order_and_columns_and_exits_1_on_bad_rows(run):
    result = CliRunner().invoke(main, ["assign", "--sizes", "-", "--columns", "all"], input=SIZES_CSV)
    assert result.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["file"] for row in rows] == ["a.png", "b.png", "c.png"]
    assert rows[0]["note"] == "first"
    assert (rows[0]["bucket_width"], rows[0]["bucket_height"]) == ("448", "576")
    assert (rows[0]["crop_left"], rows[0]["crop_top"]) == ("0", "10")
    assert rows[0]["crop_ltrb"] == "8.0 0.0 440.0 576.0"
    assert rows[0]["upscaled"] == "false" and rows[0]["error"] == ""
    assert rows[1]["error"] == "missing width or height"
    assert rows[2]["resized_height"] == "427"


def test_assign_all_placed_exits_0_and_writes_jsonl_file(run, tmp_path):
    source = tmp_path / "sizes.jsonl"
    source.write_text('{"width": 576, "height": 768, "id": 7}\n\n{"width": 512, "height": 512}\n')
    target = tmp_path / "out.jsonl"
    result = run("assign", "--sizes", str(source), "--output", str(target), "--columns", "pixels,crop_ltrb,upscaled")
    assert result.exit_code == 0
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert lines[0]["id"] == 7 and lines[0]["crop_ltrb"] == [8.0, 0.0, 440.0, 576.0]
    assert lines[1]["bucket_width"] == 512 and lines[1]["upscaled"] is False
    assert [path.name for path in tmp_path.iterdir() if path.name.endswith(".tmp")] == []


def test_assign_adds_the_pixel_columns_by_default(run):
    result = CliRunner().invoke(main, ["assign", "--sizes", "-"], input=SIZES_CSV)
    added = next(csv.reader(io.StringIO(result.stdout)))[4:]
    assert added == [
        "bucket_width",
        "bucket_height",
        "resized_width",
        "resized_height",
        "crop_left",
        "crop_top",
        "error",
    ]


def test_assign_jsonl_bad_lines_become_error_rows(run):
    lines = '{"width": 576, "height": 768}\nnot json\n{"width": true, "height": 3}\n'
    result = CliRunner().invoke(main, ["assign", "--sizes", "-"], input=lines)
    assert result.exit_code == 1
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows[0]["error"] == ""
    assert rows[1]["error"] == "the line is not a JSON object"
    assert rows[2]["error"] == "width and height must be positive whole numbers"


def test_assign_no_upscale_zero_side_rows_are_errors_never_zero_buckets(run):
    result = CliRunner().invoke(
        main,
        ["assign", "--sizes", "-", "--format", "jsonl", "--bucket-no-upscale"],
        input="width,height\n50,400\n400,50\n500,300\n",
    )
    assert result.exit_code == 1
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [bool(row["error"]) for row in rows] == [True, True, False]
    assert rows[2]["bucket_width"] == 448 and rows[2]["bucket_height"] == 256


def test_assign_without_size_columns_is_a_usage_error(run):
    result = CliRunner().invoke(main, ["assign", "--sizes", "-"], input="w,h\n1,2\n")
    assert result.exit_code == 2
    assert "'width' and 'height'" in result.output


def test_assign_missing_file_is_a_usage_error(run, tmp_path):
    result = CliRunner().invoke(main, ["assign", "--sizes", str(tmp_path / "none.csv")])
    assert result.exit_code == 2
    assert "cannot read" in result.output


def test_assign_parquet_round_trip(run, tmp_path):
    parquet = pytest.importorskip("pyarrow.parquet")
    import pyarrow as arrow

    source = tmp_path / "sizes.parquet"
    parquet.write_table(arrow.table({"url": ["u1", "u2"], "width": [576, 0], "height": [768, 10]}), source)
    target = tmp_path / "placed.parquet"
    result = run("assign", "--sizes", str(source), "--output", str(target))
    assert result.exit_code == 1
    rows = parquet.read_table(target).to_pylist()
    assert rows[0]["url"] == "u1" and rows[0]["bucket_height"] == 576
    assert rows[1]["error"] == "width and height must be positive whole numbers"


def test_help_of_every_command(run):
    for command in ("buckets", "explain", "assign"):
        result = run(command, "--help")
        assert result.exit_code == 0
        assert "Example" in result.output


def test_assign_keeps_columns_that_a_bad_first_row_lacks():
    lines = 'not json\n{"width": 576, "height": 768, "file": "a.png"}\n'
    result = CliRunner().invoke(
        main, ["assign", "--sizes", "-", "--input-format", "jsonl", "--format", "csv"], input=lines
    )
    assert result.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows[1]["file"] == "a.png" and rows[1]["bucket_width"] == "448"


def test_assign_output_file_gets_a_normal_mode(tmp_path):
    import os
    import stat

    target = tmp_path / "placed.csv"
    result = CliRunner().invoke(main, ["assign", "--sizes", "-", "-o", str(target)], input="width,height\n5,5\n")
    assert result.exit_code == 0
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_assign_unknown_output_suffix_keeps_the_input_format(tmp_path):
    target = tmp_path / "out.data"
    result = CliRunner().invoke(
        main, ["assign", "--sizes", "-", "-o", str(target)], input='{"width": 5, "height": 5}\n'
    )
    assert result.exit_code == 0
    assert json.loads(target.read_text())["bucket_width"] == 512


def test_assign_parquet_from_a_pipe_and_a_bad_parquet_file(tmp_path):
    parquet = pytest.importorskip("pyarrow.parquet")
    import pyarrow as arrow

    source = tmp_path / "sizes.parquet"
    parquet.write_table(arrow.table({"width": [576], "height": [768]}), source)
    result = CliRunner().invoke(main, ["assign", "--sizes", "-", "--format", "jsonl"], input=source.read_bytes())
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["bucket_height"] == 576
    bad = tmp_path / "bad.parquet"
    bad.write_text("width,height\n1,2\n")
    result = CliRunner().invoke(main, ["assign", "--sizes", str(bad)])
    assert result.exit_code == 2
    assert "not a readable Parquet table" in result.output


def test_assign_keeps_columns_that_first_appear_in_a_later_block(monkeypatch):
    from aspectbucket.tables import records

    monkeypatch.setattr(records, "BLOCK_BYTES", 8)
    lines = '{"width": 5, "height": 5}\n{"width": 5, "height": 5, "late": 1}\n'
    result = CliRunner().invoke(main, ["assign", "--sizes", "-", "--format", "csv"], input=lines)
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["late"] for row in rows] == ["", "1"]
