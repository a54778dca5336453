"""The table engine: hostile input (issue 15), schemas from the whole input, size column conventions,
the same output from every format, and fuzzing of the readers."""

from __future__ import annotations

import csv
import datetime
import decimal
import io
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pyarrow as arrow
import pyarrow.dataset as dataset
import pyarrow.parquet as parquet
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aspectbucket import BucketOptions, place
from aspectbucket.cli import main
from aspectbucket.profiles import resolve
from aspectbucket.tables import PIXEL_COLUMNS, PLACEMENT_COLUMNS, TableError, TableFormat, assign_table, records
from aspectbucket.tables.assign import PlacedRows, placed_rows
from aspectbucket.tables.pipeline import in_order, read_ahead
from aspectbucket.tables.readers import ReadBatch, open_table
from aspectbucket.tables.records import split_records

BAD_SIZE = "width and height must be positive whole numbers"


def invoke(*args, input=None):
    """The CLI as a user runs it; an escaping exception fails the test with its traceback."""
    return CliRunner().invoke(main, ["assign", *args], input=input, catch_exceptions=False)


def assert_one_line_reason(result, text: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert any(text in line for line in lines), result.stderr
    assert "Traceback" not in result.output + result.stderr


def write_parquet(path, columns: dict, schema=None):
    parquet.write_table(arrow.table(columns, schema=schema), path)
    return path


# --- issue 15: hostile input


def test_a_csv_cell_over_128_kib_passes_through():
    caption = "x" * (200 << 10)
    result = invoke("--sizes", "-", "--format", "jsonl", input=f'width,height,caption\n576,768,"{caption}"\n')
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert row["caption"] == caption and row["bucket_width"] == 448


def test_a_lone_surrogate_in_jsonl_becomes_a_replacement_character():
    result = invoke(
        "--sizes", "-", "--input-format", "jsonl", input='{"width": 576, "height": 768, "t": "a\\ud800b"}\n'
    )
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout_bytes.decode("utf-8"))  # strict UTF-8: it would fail on a surrogate
    assert row["t"] == "a\ufffdb" and row["bucket_width"] == 448


def test_binary_decimal_and_timestamp_columns_pass_through_to_jsonl(tmp_path):
    source = write_parquet(
        tmp_path / "typed.parquet",
        {
            "width": [576],
            "height": [768],
            "blob": arrow.array([b"\x00\xff"], arrow.binary()),
            "price": arrow.array([decimal.Decimal("12.50")], arrow.decimal128(6, 2)),
            "seen": arrow.array([datetime.datetime(2024, 5, 6, 7, 8, 9)], arrow.timestamp("us")),
            "half": arrow.array([1.5], arrow.float16()),
        },
    )
    result = invoke("--sizes", str(source), "--format", "jsonl")
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert row["blob"] == "AP8=" and row["price"] == 12.5 and row["half"] == 1.5
    assert row["seen"].startswith("2024-05-06") and "07:08:09" in row["seen"]


def test_list_typed_and_boolean_widths_are_row_errors():
    lines = '{"width": [576], "height": 768}\n{"width": 576, "height": 768}\n{"width": true, "height": 5}\n'
    result = invoke("--sizes", "-", "--input-format", "jsonl", input=lines)
    assert result.exit_code == 1
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["error"] for row in rows] == [BAD_SIZE, "", BAD_SIZE]
    # a column of mixed JSON types is kept as each value's JSON text
    assert rows[0]["width"] == "[576]" and rows[1]["bucket_width"] == 448
    assert_one_line_reason(result, "2 of 3 rows could not be placed")


@pytest.mark.parametrize("table_format", ["jsonl", "csv"])
def test_an_endless_line_is_one_row_with_a_reason_and_the_rest_is_placed(monkeypatch, table_format):
    monkeypatch.setattr(records, "MAX_RECORD_BYTES", 1000)
    monkeypatch.setattr(records, "BLOCK_BYTES", 256)
    if table_format == "jsonl":
        text = '{"width": 576, "height": 768}\n{"width": 5, "note": "' + "z" * 5000 + '"}\n{"width": 5, "height": 5}\n'
    else:
        text = "width,height,note\n576,768,a\n5,5," + "z" * 5000 + "\n5,5,b"
    result = invoke("--sizes", "-", "--input-format", table_format, "--format", "jsonl", input=text)
    assert result.exit_code == 1
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 3
    assert rows[1]["error"].startswith("the row is") and rows[1]["error"].endswith(
        "over the limit of 1,000: its cells were not read"
    )
    assert rows[0]["error"] == rows[2]["error"] == "" and rows[2]["bucket_width"] == 512


def test_a_file_with_no_newline_at_all_is_one_row_with_a_reason(monkeypatch):
    monkeypatch.setattr(records, "MAX_RECORD_BYTES", 1000)
    monkeypatch.setattr(records, "BLOCK_BYTES", 256)
    result = invoke("--sizes", "-", "--input-format", "jsonl", input="{" + " " * 10_000)
    assert result.exit_code == 1
    assert (
        json.loads(result.stdout)["error"]
        == "the row is 10,001 bytes long, over the limit of 1,000: its cells were not read"
    )


def test_a_column_null_in_the_first_block_keeps_its_later_type_in_parquet(monkeypatch, tmp_path):
    monkeypatch.setattr(records, "BLOCK_BYTES", 64)
    lines = ['{"width": 5, "height": 5, "tag": null}'] * 20 + ['{"width": 5, "height": 5, "tag": "cat"}']
    target = tmp_path / "out.parquet"
    result = invoke("--sizes", "-", "--input-format", "jsonl", "-o", str(target), input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    table = parquet.read_table(target)
    assert table.schema.field("tag").type == arrow.string()
    assert table.column("tag").to_pylist()[-1] == "cat" and table.num_rows == 21


def test_decimal_and_float16_keep_their_types_in_parquet(tmp_path):
    schema = arrow.schema(
        [("width", arrow.int32()), ("height", arrow.int32()), ("d", arrow.decimal128(5, 1)), ("h", arrow.float16())]
    )
    source = write_parquet(
        tmp_path / "in.parquet",
        {
            "width": [576, 5],
            "height": [768, 5],
            "d": [decimal.Decimal("1.5"), None],
            "h": np.array([0.5, 2], np.float16),
        },
        schema,
    )
    target = tmp_path / "out.parquet"
    result = invoke("--sizes", str(source), "-o", str(target))
    assert result.exit_code == 0, result.output
    table = parquet.read_table(target)
    for field in schema:
        assert table.schema.field(field.name).type == field.type
    assert table.column("d").to_pylist() == [decimal.Decimal("1.5"), None]


@pytest.mark.parametrize(("table_format", "text"), [("jsonl", ""), ("jsonl", "\n\n"), ("csv", "width,height,file\n")])
def test_an_empty_table_gives_a_readable_parquet_file(tmp_path, table_format, text):
    target = tmp_path / "out.parquet"
    result = invoke("--sizes", "-", "--input-format", table_format, "-o", str(target), input=text)
    assert result.exit_code == 0, result.output
    table = parquet.read_table(target)
    assert table.num_rows == 0 and table.column_names[-len(PIXEL_COLUMNS) :] == list(PIXEL_COLUMNS)


def test_an_empty_parquet_table_gives_a_readable_parquet_file(tmp_path):
    source = write_parquet(
        tmp_path / "in.parquet", {"width": arrow.array([], arrow.int64()), "height": arrow.array([], arrow.int64())}
    )
    target = tmp_path / "out.parquet"
    assert invoke("--sizes", str(source), "-o", str(target)).exit_code == 0
    assert parquet.read_table(target).column_names[:2] == ["width", "height"]


def test_an_empty_csv_is_a_one_line_reason_and_no_output(tmp_path):
    target = tmp_path / "out.csv"
    result = CliRunner().invoke(main, ["assign", "--sizes", "-", "-o", str(target)], input="")
    assert result.exit_code == 2
    assert_one_line_reason(result, "the CSV is empty")
    assert list(tmp_path.iterdir()) == []


def test_malformed_csv_rows_keep_their_place_with_a_reason():
    text = "file,width,height\na.png,576,768\nb.png,5,5,extra\nc.png,5\nd.png,768,512\n"
    result = invoke("--sizes", "-", input=text)
    assert result.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["file"] for row in rows] == ["a.png", "b.png", "c.png", "d.png"]
    assert rows[1]["error"] == "the row has 4 cells; the header has 3"
    assert rows[2]["error"] == "the row has 2 cells; the header has 3"
    assert rows[0]["error"] == rows[3]["error"] == ""


def test_text_that_is_not_utf8_is_replaced_and_the_row_kept():
    result = invoke("--sizes", "-", input=b"file,width,height\n\xff\xfe.png,576,768\n")
    assert result.exit_code == 0
    row = next(csv.DictReader(io.StringIO(result.stdout)))
    assert row["file"] == "\ufffd\ufffd.png" and row["bucket_width"] == "448"


def test_a_quoted_newline_across_blocks_stays_in_its_cell(monkeypatch):
    monkeypatch.setattr(records, "BLOCK_BYTES", 7)
    text = 'file,width,height\n"two\nlines ""quoted""",576,768\nb,5,5\n'
    result = invoke("--sizes", "-", "--format", "jsonl", input=text)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows[0]["file"] == 'two\nlines "quoted"' and rows[1]["file"] == "b"


# --- size columns


def test_laion_width_and_height_columns_are_used_with_a_note(tmp_path):
    source = write_parquet(tmp_path / "laion.parquet", {"URL": ["u"], "WIDTH": [576.0], "HEIGHT": [768.0]})
    result = invoke("--sizes", str(source), "--format", "jsonl")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["bucket_width"] == 448
    assert_one_line_reason(result, "note: sizes read from the columns WIDTH/HEIGHT")


def test_img2dataset_original_sizes_are_named_in_the_note_when_width_wins():
    result = invoke("--sizes", "-", input="width,height,original_width,original_height\n512,512,576,768\n")
    assert result.exit_code == 0
    assert next(csv.DictReader(io.StringIO(result.stdout)))["bucket_width"] == "512"
    assert_one_line_reason(result, "(also present: original_width/original_height)")


def test_named_size_columns_and_a_missing_one():
    result = invoke("--sizes", "-", "--width-column", "w", "--height-column", "h", input="w,h\n576,768\n")
    assert result.exit_code == 0 and next(csv.DictReader(io.StringIO(result.stdout)))["bucket_height"] == "576"
    result = CliRunner().invoke(main, ["assign", "--sizes", "-", "--width-column", "w"], input="w,h\n1,2\n")
    assert result.exit_code == 2 and "no column 'height'" in result.output


# --- the same answer from every format


def _sample_table() -> arrow.Table:
    rng = np.random.default_rng(3)
    widths, heights = rng.integers(1, 5000, 500), rng.integers(1, 5000, 500)
    widths[::50] = 0
    return arrow.table({"key": [f"{i:05d}" for i in range(500)], "width": widths, "height": heights})


def _encode(table: arrow.Table, table_format: TableFormat) -> bytes:
    sink = io.BytesIO()
    if table_format is TableFormat.PARQUET:
        parquet.write_table(table, sink)
    elif table_format is TableFormat.CSV:
        writer = csv.writer(text := io.StringIO(), lineterminator="\n")
        writer.writerow(table.column_names)
        writer.writerows(zip(*(column.to_pylist() for column in table.columns), strict=True))
        return text.getvalue().encode()
    else:
        return "".join(json.dumps(row) + "\n" for row in table.to_pylist()).encode()
    return sink.getvalue()


def _decode(data: bytes, table_format: TableFormat) -> list[dict]:
    if table_format is TableFormat.PARQUET:
        rows = parquet.read_table(io.BytesIO(data)).to_pylist()
    elif table_format is TableFormat.JSONL:
        rows = [json.loads(line) for line in data.splitlines()]
    else:
        rows = list(csv.DictReader(io.StringIO(data.decode())))
        for row in rows:
            row["crop_ltrb"] = [float(value) for value in row["crop_ltrb"].split()]
            row["upscaled"] = row["upscaled"] == "true"
    return [
        {
            name: (row[name] if name in ("crop_ltrb", "upscaled", "error") else float(row[name]))
            for name in PLACEMENT_COLUMNS
        }
        | {"key": row["key"]}
        for row in rows
    ]


@pytest.mark.parametrize("input_format", list(TableFormat))
@pytest.mark.parametrize("output_format", list(TableFormat))
def test_every_format_gives_the_same_rows_as_place(input_format, output_format):
    table = _sample_table()
    profile, options, _ = resolve("kohya", BucketOptions((1024, 1024), 256, 2048))
    sink = io.BytesIO()
    source = io.BytesIO(_encode(table, input_format))
    result = assign_table(source, sink, options, profile, input_format, output_format, columns=["all"])
    assert (result.rows, result.errors) == (500, 10)
    rows = _decode(sink.getvalue(), output_format)
    expected = place(table.column("width").to_numpy(), table.column("height").to_numpy(), options)
    assert [row["key"] for row in rows] == table.column("key").to_pylist()
    assert [row["bucket_width"] for row in rows] == expected.bucket_width.tolist()
    assert [row["ar_error"] for row in rows] == expected.ar_error.tolist()
    assert [row["crop_ltrb"] for row in rows] == expected.reported_crop_ltrb.tolist()
    assert [row["lost_fraction"] for row in rows] == expected.lost_fraction.tolist()
    assert [bool(row["error"]) for row in rows] == (expected.error != 0).tolist()


# --- fuzzing the readers


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.one_of(
        st.binary(max_size=400),
        st.text(',"\n\r{}[]:ab1 \\\ud7ff', max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass")),
    ),
    table_format=st.sampled_from(list(TableFormat)),
)
def test_readers_never_raise_on_arbitrary_bytes_except_a_table_error(data, table_format):
    try:
        table = open_table(io.BytesIO(data), table_format)
        for read in table.batches:
            assert read.errors is None or len(read.errors) == read.batch.num_rows
    except TableError as error:
        assert "\n" not in str(error)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(
        st.lists(
            st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"), max_size=12),
            min_size=3,
            max_size=3,
        ),
        max_size=12,
    ),
    block=st.integers(1, 40),
)
def test_csv_cells_survive_any_cut_into_blocks(rows, block):
    """(No carriage returns: the csv module leaves a lone one unquoted, and every reader takes it as a line end.)"""
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([["a", "width", "b"], *rows])
    records.BLOCK_BYTES, saved = block, records.BLOCK_BYTES
    try:
        table = open_table(io.BytesIO(text.getvalue().encode()), TableFormat.CSV)
        got = [list(row.values()) for read in table.batches for row in read.batch.to_pylist()]
    finally:
        records.BLOCK_BYTES = saved
    assert got == rows


@settings(max_examples=150, deadline=None)
@given(chunks=st.lists(st.binary(max_size=30), max_size=8), block=st.integers(1, 50))
def test_record_blocks_are_the_input_cut_at_newlines(chunks, block):
    data = b"\n".join(chunks)
    records.BLOCK_BYTES, saved = block, records.BLOCK_BYTES
    try:
        blocks = list(split_records(io.BytesIO(data), quoted=False))
    finally:
        records.BLOCK_BYTES = saved
    assert b"".join(piece.data for piece in blocks) == data
    assert all(piece.data.endswith(b"\n") for piece in blocks[:-1])


# --- metadata-only sources and outputs


def _img2dataset_folder(tmp_path):
    """Two shards as img2dataset writes them, one with a column null throughout, and a damaged one."""
    folder = tmp_path / "shards"
    folder.mkdir()
    write_parquet(
        folder / "00000.parquet",
        {"key": ["000", "001"], "width": [576, 768], "height": [768, 512], "caption": [None, None]},
    )
    write_parquet(
        folder / "00001.parquet",
        {"key": ["002", "003"], "width": [576, 0], "height": [768, 5], "caption": ["a cat", "b"]},
    )
    (folder / "00002.parquet").write_bytes(b"not parquet")
    return folder


def test_a_parquet_folder_is_one_table_in_name_order_and_a_damaged_shard_is_skipped(tmp_path):
    folder = _img2dataset_folder(tmp_path)
    target = tmp_path / "placed.parquet"
    result = invoke("--sizes", str(folder), "-o", str(target))
    assert result.exit_code == 1  # the 0-wide row
    table = parquet.read_table(target)
    assert table.column("key").to_pylist() == ["000", "001", "002", "003"]
    assert table.schema.field("caption").type == arrow.string()
    assert table.column("caption").to_pylist() == [None, None, "a cat", "b"]
    assert_one_line_reason(result, "warning: skipped")
    assert "00002.parquet" in result.stderr


def test_split_by_bucket_writes_a_hive_folder_per_bucket_and_a_manifest(tmp_path):
    folder = _img2dataset_folder(tmp_path)
    split = tmp_path / "by-bucket"
    result = invoke("--sizes", str(folder), "--split-by-bucket", str(split), "--batch-size", "2")
    assert result.exit_code == 1 and result.stdout == ""
    assert sorted(path.name for path in split.iterdir()) == [
        "_manifest.json",
        "bucket=448x576",
        "bucket=640x384",
        "bucket=unplaced",
    ]
    portrait = parquet.read_table(split / "bucket=448x576").column("key").to_pylist()
    assert portrait == ["000", "002"]
    # the whole folder reads as one Hive-partitioned dataset (the manifest and key lists are skipped)
    whole = dataset.dataset(split, format="parquet", partitioning="hive").to_table()
    assert sorted(zip(whole.column("key").to_pylist(), whole.column("bucket").to_pylist(), strict=True)) == [
        ("000", "448x576"),
        ("001", "640x384"),
        ("002", "448x576"),
        ("003", "unplaced"),
    ]
    manifest = json.loads((split / "_manifest.json").read_text())
    assert manifest["samples"] == 3 and manifest["unplaced"] == 1 and manifest["steps_per_epoch"] == 2
    assert manifest["buckets"][0] == {
        "bucket": "448x576",
        "width": 448,
        "height": 576,
        "samples": 2,
        "steps_per_epoch": 1,
        "path": "bucket=448x576",
        "keys": "bucket=448x576/_keys.txt",
    }
    assert (split / "bucket=448x576" / "_keys.txt").read_text() == "000\n002\n"
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []


def test_split_by_bucket_refuses_a_folder_with_files_and_one_inside_the_input(tmp_path):
    folder = _img2dataset_folder(tmp_path)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    result = CliRunner().invoke(main, ["assign", "--sizes", str(folder), "--split-by-bucket", str(busy)])
    assert result.exit_code == 2 and "must be new or empty" in result.output
    assert [path.name for path in busy.iterdir()] == ["keep.txt"]
    result = CliRunner().invoke(main, ["assign", "--sizes", str(folder), "--split-by-bucket", str(folder / "out")])
    assert result.exit_code == 2 and "inside the input folder" in result.output
    assert not (folder / "out").exists()


def test_the_readme_laion_recipe_runs_end_to_end(tmp_path):
    """The README's LAION-scale recipe, as written, on two small img2dataset-like shards."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- laion-recipe -->\n```sh\n(.*?)```", readme, re.S).group(1)
    (tmp_path / "shards").mkdir()
    for index in range(2):
        write_parquet(
            tmp_path / "shards" / f"{index:05d}.parquet",
            {"key": [f"{index}{i}" for i in range(3)], "width": [576, 1024, 768], "height": [768, 1024, 512]},
        )
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", "-e", "-c", block], cwd=tmp_path, env=environment, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    manifest = json.loads((tmp_path / "by-bucket" / "_manifest.json").read_text())
    assert manifest["samples"] == 6 and manifest["batch_size"] == 8
    assert parquet.read_table(tmp_path / "placed.parquet").num_rows == 6


def _image_bytes(size, kind="PNG", orientation=None) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    image = Image.new("RGB", size)
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        image.save(buffer, kind, exif=exif.tobytes())
    else:
        image.save(buffer, kind)
    return buffer.getvalue()


def _add(archive, name: str, data: bytes) -> None:
    import tarfile

    member = tarfile.TarInfo(name)
    member.size = len(data)
    archive.addfile(member, io.BytesIO(data))


def _webdataset(tmp_path):
    """Two shards: images with JSON sidecars, one turned by EXIF, one damaged; a third shard cut short."""
    import tarfile

    folder = tmp_path / "wds"
    folder.mkdir()
    with tarfile.open(folder / "shard-000.tar", "w") as archive:
        _add(archive, "s/000.png", _image_bytes((576, 768)))
        _add(archive, "s/000.json", b'{"caption": "x"}')
        _add(archive, "s/001.jpg", _image_bytes((768, 576), "JPEG", orientation=6))
    with tarfile.open(folder / "shard-001.tar", "w") as archive:
        _add(archive, "002.tar.png", b"\x89PNG\r\n\x1a\n broken")
        _add(archive, "003.webp", _image_bytes((640, 640), "WEBP"))
    whole = (folder / "shard-001.tar").read_bytes()
    (folder / "shard-002.tar").write_bytes(whole[:700])  # ends inside its first member
    return folder


def test_webdataset_shards_are_sized_from_headers_in_order_without_decoding(tmp_path):
    folder = _webdataset(tmp_path)
    result = invoke("--sizes", str(folder), "--format", "jsonl", "--profile", "kohya")
    assert result.exit_code == 1, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(row["shard"], row["key"]) for row in rows[:4]] == [
        ("shard-000.tar", "s/000"),
        ("shard-000.tar", "s/001"),
        ("shard-001.tar", "002"),
        ("shard-001.tar", "003"),
    ]
    assert (rows[0]["width"], rows[0]["height"], rows[0]["bucket_width"]) == (576, 768, 448)
    assert (rows[1]["width"], rows[1]["height"], rows[1]["orientation"]) == (768, 576, 6)  # kohya ignores EXIF
    assert rows[2]["error"] == "corrupt header: the image size cannot be read"
    assert rows[3]["bucket_width"] == 512 and rows[3]["error"] == ""
    assert_one_line_reason(result, "warning: stopped reading shard-002.tar")


def test_webdataset_sizes_are_upright_where_the_trainer_applies_exif(tmp_path):
    folder = _webdataset(tmp_path)
    result = invoke("--sizes", str(folder / "shard-000.tar"), "--format", "jsonl", "--profile", "simpletuner")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert (rows[1]["width"], rows[1]["height"]) == (576, 768)


# --- report on a metadata-only dataset


def test_report_on_parquet_shards_reads_no_pixel_and_writes_json_and_html(tmp_path):
    folder = _img2dataset_folder(tmp_path)
    report_json, report_html = tmp_path / "report.json", tmp_path / "report.html"
    result = CliRunner().invoke(
        main, ["report", str(folder), "--json", str(report_json), "--html", str(report_html)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    data = json.loads(report_json.read_text())
    assert data["warnings"][0]["path"] == "003"  # a sample is named by its key, under the source
    assert "warning: skipped" in result.output  # the damaged shard
    assert report_html.stat().st_size > 1000


def test_report_on_webdataset_shards_and_an_output_inside_them(tmp_path):
    folder = _webdataset(tmp_path)
    result = CliRunner().invoke(main, ["report", str(folder), "--csv", str(tmp_path / "r.csv")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text())))
    assert [row for row in rows if "shard-000.tar/s/000.png" in json.dumps(row)]
    result = CliRunner().invoke(main, ["report", str(folder), "--csv", str(folder / "r.csv")])
    assert result.exit_code == 2 and not (folder / "r.csv").exists()


# --- the pipeline


def test_read_ahead_keeps_order_and_raises_where_the_producer_failed():
    assert list(read_ahead(iter(range(50)), depth=1)) == list(range(50))

    def failing():
        yield from (0, 1, 2)
        raise TableError("the table broke at row 3")

    seen = []
    with pytest.raises(TableError, match="row 3"):
        for item in read_ahead(failing()):
            seen.append(item)
    assert seen == [0, 1, 2]
    assert list(in_order(lambda item: item * 2, read_ahead(iter(range(200))), workers=3)) == list(range(0, 400, 2))


def test_read_ahead_lets_a_consumer_stop_early():
    produced = []
    stream = read_ahead((produced.append(item) or item for item in range(10_000)), depth=2)
    assert next(stream) == 0
    stream.close()  # the producer stops at its next item instead of reading everything
    for thread in threading.enumerate():
        if thread.name == "aspectbucket-read":
            thread.join(timeout=10)
            assert not thread.is_alive()
    assert len(produced) < 10


def test_a_repeated_csv_header_name_keeps_both_columns_with_a_warning():
    result = invoke("--sizes", "-", "--format", "jsonl", input="a,width,height,a,a_2\nx,576,768,y,z\n")
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert (row["a"], row["a_3"], row["a_2"], row["bucket_width"]) == ("x", "y", "z", 448)
    assert_one_line_reason(result, "warning: the CSV header repeats 'a': column 4 is read as 'a_3'")


def test_a_folder_of_images_with_a_stray_table_is_still_a_folder_of_images(tmp_path):
    from aspectbucket.tables.metadata_scan import is_metadata_source

    (tmp_path / "photo.png").write_bytes(_image_bytes((576, 768)))
    write_parquet(tmp_path / "notes.parquet", {"width": [1], "height": [1]})
    assert not is_metadata_source(tmp_path)
    (tmp_path / "photo.png").unlink()
    assert is_metadata_source(tmp_path) and is_metadata_source(tmp_path / "notes.parquet")


def test_columns_chooses_the_placement_columns_added():
    text = "width,height,ar_error\n576,768,mine\n0,5,x\n"
    result = invoke("--sizes", "-", "--format", "jsonl", "--columns", "bucket_width, bucket_height", input=text)
    assert result.exit_code == 1
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert list(rows[0]) == ["width", "height", "ar_error", "bucket_width", "bucket_height", "error"]
    assert rows[0]["ar_error"] == "mine" and rows[1]["error"] == BAD_SIZE  # only added columns replace inputs
    result = CliRunner().invoke(main, ["assign", "--sizes", "-", "--columns", "bucket"], input=text)
    assert result.exit_code == 2 and "no placement column 'bucket'" in result.output
    for chosen, added in (("all", PLACEMENT_COLUMNS), ("pixels,upscaled", (*PIXEL_COLUMNS[:-1], "upscaled", "error"))):
        result = invoke("--sizes", "-", "--format", "jsonl", "--columns", chosen, input="width,height\n576,768\n")
        assert list(json.loads(result.stdout))[2:] == list(added)


# --- Parquet output layout (issue 14)


def test_parquet_rows_are_gathered_into_row_groups_of_the_writers_size(monkeypatch):
    from aspectbucket.tables import readers, writers

    monkeypatch.setattr(readers, "BATCH_ROWS", 40)
    monkeypatch.setattr(writers, "ROW_GROUP_ROWS", 100)
    monkeypatch.setattr(writers, "FIRST_ROW_GROUP_ROWS", 30)
    table = _sample_table()
    profile, options, _ = resolve("kohya", BucketOptions((1024, 1024), 256, 2048))
    sink = io.BytesIO()
    parquet_in = _encode(table, TableFormat.PARQUET)
    assign_table(io.BytesIO(parquet_in), sink, options, profile, TableFormat.PARQUET, TableFormat.PARQUET)
    written = parquet.ParquetFile(io.BytesIO(sink.getvalue()))
    # at least 30 rows, then 60, then 100 (the largest), each group holding the 40-row batches that reached it
    assert [written.metadata.row_group(i).num_rows for i in range(written.num_row_groups)] == [
        40,
        80,
        120,
        120,
        120,
        20,
    ]
    expected = place(table.column("width").to_numpy(), table.column("height").to_numpy(), options)
    placed = written.read()
    assert placed.column("key").to_pylist() == table.column("key").to_pylist()
    assert placed.column("crop_left").to_pylist() == expected.trim_left.tolist()
    assert placed.column("resized_height").type == arrow.int64()


def test_an_input_column_named_like_an_unchosen_placement_column_keeps_its_text_in_parquet(tmp_path):
    target = tmp_path / "out.parquet"
    text = "width,height,crop_left\n576,768,mine\n"
    result = invoke("--sizes", "-", "--columns", "bucket_width", "-o", str(target), input=text)
    assert result.exit_code == 0, result.output
    assert parquet.read_table(target).column("crop_left").to_pylist() == ["mine"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    distinct=st.lists(
        st.one_of(st.floats(allow_nan=True), st.integers(-(2**20), 2**20).map(float), st.none()),
        min_size=1,
        max_size=50,
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_floats_formatted_once_per_distinct_value_read_as_each_formatted_alone(distinct, seed):
    """Every finite float's text is JSON that reads back the same (1e10 was written "1e+10.0")."""
    from aspectbucket.tables.json_text import float_text

    picks = np.random.default_rng(seed).integers(0, len(distinct), 5000)  # over the sample: few distinct values
    column = arrow.array([distinct[pick] for pick in picks], arrow.float64())
    text = float_text(column).to_pylist()
    alone = [float_text(arrow.array([value], arrow.float64())).to_pylist()[0] for value in distinct]
    assert text == [alone[pick] for pick in picks]
    finite = [value for value in distinct if value is not None and np.isfinite(value)]
    assert [json.loads(alone[distinct.index(value)]) for value in finite] == finite  # reads back the same


def test_a_parquet_row_group_that_cannot_be_encoded_is_raised_and_the_writer_still_closes(monkeypatch):
    from aspectbucket.tables import writers

    monkeypatch.setattr(writers, "FIRST_ROW_GROUP_ROWS", 2)
    schema = arrow.schema([("side", arrow.int64())])
    writer = writers.TableWriter(io.BytesIO(), TableFormat.PARQUET, schema)
    writer.write(arrow.record_batch([arrow.array([1, 2])], schema=schema))
    with pytest.raises(ValueError, match="schema"):  # another schema: refused on the encoding thread, raised here
        writer.write(arrow.record_batch([arrow.array(["a", "b"])], names=["side"]))
        writer.close()
    writer.close()  # after the failure: nothing new raised, and no footer
    assert not writer.stream.getvalue().endswith(b"PAR1")


def test_a_table_cut_short_by_a_failure_gets_no_parquet_footer(monkeypatch):
    """On stdout no temporary file is thrown away: a reader must fail on the part rather than take it whole."""
    from aspectbucket.tables import writers
    from aspectbucket.tables.assign import write_placed

    monkeypatch.setattr(writers, "FIRST_ROW_GROUP_ROWS", 2)  # each batch is a row group of its own

    profile, options, _ = resolve("kohya", BucketOptions((1024, 1024), 256, 2048))
    table = _sample_table()
    plan = PlacedRows.prepare(table.schema, options, profile)
    batch = table.to_batches()[0]

    def rows():
        for _ in range(6):  # more groups than encoding threads: some are written before the failure
            yield (*placed_rows(ReadBatch(batch), plan), None)
        raise TableError("the Parquet table is damaged: cut short")

    sink = io.BytesIO()
    with pytest.raises(TableError, match="cut short"):
        write_placed(rows(), plan, sink, TableFormat.PARQUET, None, 1, [])
    assert len(sink.getvalue()) > 100  # the first group was written...
    with pytest.raises(arrow.ArrowInvalid):  # ...and no footer makes it look whole
        parquet.read_table(io.BytesIO(sink.getvalue()))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(st.integers(-(10**6), 10**6).map(str), st.sampled_from(["", " 7", "8 ", "1.5", "x", "1e3", "007"])),
        min_size=1,
        max_size=30,
    )
)
def test_size_text_is_read_as_each_cell_alone(cells):
    from aspectbucket.tables.sizes import size_values

    def alone(cell: str) -> float:
        try:
            return float(cell.strip()) if cell.strip() else np.nan
        except ValueError:
            return -1.0

    values = size_values(arrow.array(cells, arrow.string()))
    np.testing.assert_array_equal(np.asarray(values, dtype=np.float64), [alone(cell) for cell in cells])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(0, 70_000), st.none()), max_size=40))
def test_integers_gathered_from_made_texts_read_as_python_writes_them(values):
    from aspectbucket.tables.json_text import json_text

    for kind in (arrow.int64(), arrow.uint16()):
        fits = [value for value in values if value is None or 0 <= value < 2**16] if kind == arrow.uint16() else values
        text = json_text(arrow.array(fits, kind)).to_pylist()
        assert text == [json.dumps(value) for value in fits]


def test_an_empty_batch_of_binary_is_no_bytes():
    """Binary cells are JSON text; with no rows that text once had pyarrow's null type and failed to fill."""
    from aspectbucket.tables import writers

    batch = arrow.RecordBatch.from_arrays([arrow.array([], arrow.binary()), arrow.array([], arrow.int64())], ["a", "b"])
    assert writers.encode_batch(batch, TableFormat.CSV) == b""


TRICKY_SIZES = [
    *("0x400", "0X10", "+5", "1_000", "1e3", " 7 ", "0b11", "٣", "inf", "nan", "-0", "007", "5.0", "", "x", None),
    "9007199254740993",  # over 2^53: the nearest float, not a crash beside a null or a blank
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(TRICKY_SIZES), st.integers(0, 9000).map(str)), min_size=1, max_size=12))
def test_a_text_size_means_the_same_whatever_the_cells_beside_it(cells):
    """Parsed alone or among others, a cell is the number Python's float() reads in it (pyarrow's integer
    cast alone also read "0x400" as 1024, in a batch where every other cell was a whole number)."""
    from aspectbucket.tables.sizes import size_values

    together = size_values(arrow.array(cells, arrow.string()))
    alone = np.concatenate([size_values(arrow.array([cell], arrow.string())) for cell in cells])
    np.testing.assert_array_equal(together, alone)


def test_whole_numbers_over_2_53_beside_a_null_are_the_nearest_float():
    from aspectbucket.tables.sizes import size_values

    for column in (
        arrow.array([2**53 + 1, None]),
        arrow.array([2**53 + 1, None], arrow.uint64()),
        arrow.array([str(2**53 + 1), None]),
    ):
        np.testing.assert_array_equal(size_values(column), [float(2**53 + 1), np.nan])
