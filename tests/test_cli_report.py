"""``aspectbucket report``: golden terminal and JSON output on a tiny dataset made here, exit codes, files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from aspectbucket.cli import main
from aspectbucket.scan.sources import example_dataset_path
from report_plans import invoke_report, write_images

GOLDEN = Path(__file__).parent / "golden"
#: Set to rewrite the golden files after a deliberate change; review the diff before committing.
UPDATE = bool(os.environ.get("ASPECTBUCKET_UPDATE_GOLDEN"))


@pytest.fixture
def dataset(tmp_path) -> Path:
    """A kohya DreamBooth folder: two N_name subsets, a skipped folder, a rotated photo, broken files."""
    root = tmp_path / "train"
    write_images(
        root / "10_dog",
        [
            ("wide.jpg", 768, 512),
            ("wide2.jpg", 768, 512),
            ("tall.jpg", 512, 752),
            ("turned.jpg", 800, 600, 6),
            ("strip.png", 1500, 250),
        ],
    )
    write_images(root / "2_cat", [("tiny.jpg", 200, 150), ("square.png", 520, 512)])
    (root / "2_cat" / "empty.jpg").write_bytes(b"")
    (root / "2_cat" / "notes.png").write_text("these are notes, not a picture")
    write_images(root / "misc", [("ignored.jpg", 64, 64)])
    return root


def invoke(*arguments: str):
    return CliRunner().invoke(main, ["report", *arguments, "--no-cache"], env={"COLUMNS": "100"})


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"differs from {path}"


def test_terminal_report_matches_golden(dataset):
    result = invoke(str(dataset), "--batch-size", "4")
    assert result.exit_code == 0, result.output
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    check_golden("report_terminal.txt", "\n".join(lines) + "\n")


def test_json_report_matches_golden(dataset, tmp_path):
    target = tmp_path / "out" / "report.json"
    target.parent.mkdir()
    result = invoke(str(dataset), "--batch-size", "4", "--json", str(target))
    assert result.exit_code == 0, result.output
    text = target.read_text(encoding="utf-8").replace(str(dataset), "<dataset>")
    check_golden("report.json", text)
    document = json.loads(text)
    assert document["summary"]["steps_per_epoch"] == 15  # 10, 2, 12, 20, 10 samples at 4: 3+1+3+5+3
    assert {image["path"].split("/")[-1] for image in document["images"] if image["error"]} == {
        "empty.jpg",
        "notes.png",
    }


def test_strict_fails_only_on_unusable_images(dataset):
    assert invoke(str(dataset)).exit_code == 0
    assert invoke(str(dataset), "--strict").exit_code == 1
    assert invoke(str(dataset / "10_dog"), "--strict").exit_code == 0


def test_outputs_inside_the_dataset_are_refused_before_scanning(dataset):
    for option in ("--json", "--csv", "--html"):
        result = invoke(str(dataset), option, str(dataset / "10_dog" / "report.out"))
        assert result.exit_code == 2 and "never writes under an input" in result.output
    result = invoke(str(dataset), "--cache", str(dataset / "cache"))
    assert result.exit_code == 2
    assert sorted(path.name for path in (dataset / "10_dog").iterdir()) == [
        "strip.png",
        "tall.jpg",
        "turned.jpg",
        "wide.jpg",
        "wide2.jpg",
    ]


def test_bad_sources_and_options_are_usage_errors(dataset, tmp_path):
    assert invoke(str(tmp_path / "missing")).exit_code == 2
    assert invoke().exit_code == 2
    assert invoke(str(dataset), "--example").exit_code == 2
    result = invoke(str(dataset), "--resolution", "512", "--min-bucket-reso", "1024")
    assert result.exit_code == 2 and "min_bucket_reso 1024" in result.output
    assert invoke(str(dataset), "--batch-size", "0").exit_code == 2


def test_config_batch_size_and_overrides(dataset, tmp_path):
    config = tmp_path / "dataset.toml"
    config.write_text(
        "[general]\nresolution = 512\nbatch_size = 2\n\n[[datasets]]\n\n[[datasets.subsets]]\n"
        f"image_dir = '{dataset / '10_dog'}'\nnum_repeats = 3\n",
        encoding="utf-8",
    )
    target = tmp_path / "r.json"
    assert invoke(str(config), "--json", str(target)).exit_code == 0
    document = json.loads(target.read_text(encoding="utf-8"))
    assert document["settings"]["datasets"][0]["batch_size"] == 2
    assert invoke(str(config), "--batch-size", "5", "--json", str(target)).exit_code == 0
    assert json.loads(target.read_text(encoding="utf-8"))["settings"]["datasets"][0]["batch_size"] == 5
    assert invoke(str(config), "--resolution", "1024", "--json", str(target)).exit_code == 0
    settings = json.loads(target.read_text(encoding="utf-8"))["settings"]
    assert settings["datasets"][0]["resolution"] == [1024, 1024]


def test_respect_exif_csv_and_html(dataset, tmp_path):
    csv_path, html_path = tmp_path / "r.csv", tmp_path / "r.html"
    result = invoke(str(dataset / "10_dog"), "--respect-exif", "--csv", str(csv_path), "--html", str(html_path))
    assert result.exit_code == 0, result.output
    assert "shown upright here" in result.stdout
    rows = csv_path.read_text(encoding="utf-8").splitlines()
    assert len(rows) == 6
    turned = next(row for row in rows if "turned.jpg" in row).split(",")
    # width, height, bucket number, whole-list index, bucket size
    assert turned[9:15] == ["600", "800", "1", "7", "448", "576"]
    page = html_path.read_text(encoding="utf-8")
    data = json.loads(page.split('<script type="application/json" id="report-data">')[1].split("</script>")[0])
    assert len(data["images"]["name"]) == 5 and sum(slot >= 0 for slot in data["images"]["p"]) == 5


@pytest.mark.skipif(not example_dataset_path().exists(), reason="the example dataset is not bundled yet")
def test_example_dataset_reports(tmp_path):
    result = invoke("--example", "--html", str(tmp_path / "example.html"))
    assert result.exit_code == 0, result.output
    assert "Buckets" in result.stdout and (tmp_path / "example.html").exists()


def test_odd_file_names_reach_every_output_exactly_or_escaped(tmp_path):
    folder = tmp_path / "odd"
    write_images(folder, [("<script>x.jpg", 768, 512), ("plain.jpg", 512, 768)])
    os.rename(folder / "plain.jpg", os.path.join(os.fsencode(folder), b"caf\xe9.jpg"))
    outputs = {kind: tmp_path / f"r.{kind}" for kind in ("json", "csv", "html")}
    options = [item for kind, path in outputs.items() for item in (f"--{kind}", str(path))]
    result = invoke(str(folder), *options)
    assert result.exit_code == 0, result.output
    images = json.loads(outputs["json"].read_text("utf-8"))["images"]
    names = {os.fsencode(image["path"]).rsplit(b"/", 1)[1] for image in images}
    assert names == {b"<script>x.jpg", b"caf\xe9.jpg"}  # the bytes on disk, as \udcXX escapes in the JSON
    assert b"\\udce9" in outputs["json"].read_bytes()
    assert b"/caf\xe9.jpg," in outputs["csv"].read_bytes()  # the CSV holds the very bytes
    page = outputs["html"].read_text("utf-8")
    # Names travel in the page's JSON with < escaped, and the script inserts them as text.
    assert "\\u003cscript\\u003ex.jpg" in page and "<script>x" not in page and "caf\\\\xe9.jpg" in page


def test_a_block_without_buckets_has_one_bucket_the_resolution(dataset, tmp_path):
    config = tmp_path / "fixed.toml"
    config.write_text(
        "[[datasets]]\nresolution = 512\nenable_bucket = false\n\n[[datasets.subsets]]\n"
        f"image_dir = '{dataset / '10_dog'}'\n",
        encoding="utf-8",
    )
    target = tmp_path / "fixed.json"
    assert invoke(str(config), "--json", str(target)).exit_code == 0
    document = json.loads(target.read_text(encoding="utf-8"))
    assert document["settings"]["datasets"][0]["bucket_list"] == [[512, 512]]
    assert {(bucket["width"], bucket["height"]) for bucket in document["buckets"]} == {(512, 512)}


def test_an_empty_folder_says_so(tmp_path):
    (tmp_path / "nothing").mkdir()
    result = invoke(str(tmp_path / "nothing"), "--html", str(tmp_path / "r.html"))
    assert result.exit_code == 0 and "0 images, 0 placed" in result.stdout
    assert "No image files found" in result.stdout and (tmp_path / "r.html").exists()


def test_html_compare_section_lists_each_chosen_trainer(dataset, tmp_path):
    page = tmp_path / "report.html"
    result = invoke(str(dataset), "--html", str(page), "--compare", "kohya,onetrainer")
    assert result.exit_code == 0, result.output
    html = page.read_text()
    assert 'id="compare"' in html and "Trainers compared" in html
    section = html[html.index('id="compare"') :]
    assert ">kohya<" in section and ">onetrainer<" in section and ">diffusers<" not in section
    assert invoke(str(dataset), "--html", str(page), "--compare", "nonesuch").exit_code == 2


def test_html_without_compare_has_no_compare_section(dataset, tmp_path):
    page = tmp_path / "report.html"
    assert invoke(str(dataset), "--html", str(page)).exit_code == 0
    assert 'id="compare"' not in page.read_text()


def test_an_output_folder_that_does_not_exist_is_one_clear_line(dataset, tmp_path):
    result = invoke(str(dataset), "--json", str(tmp_path / "missing" / "report.json"))
    assert result.exit_code == 2  # refused before the scan, as a usage error
    assert "does not exist" in result.output and "Traceback" not in result.output


def test_a_missing_image_dir_is_a_counted_warning_and_fails_strict(tmp_path):
    write_images(tmp_path / "here", [("a.png", 512, 512)])
    config = tmp_path / "set.toml"
    subsets = '[[datasets.subsets]]\nimage_dir = "gone"\n[[datasets.subsets]]\nimage_dir = "here"\n'
    config.write_text("[[datasets]]\n" + subsets)
    json_path = tmp_path / "out" / "r.json"
    json_path.parent.mkdir()
    result = invoke_report(config, "--json", json_path)
    assert result.exit_code == 0, result.output
    assert "Warning (1): image folders that cannot be read" in result.stdout
    assert "No warnings" not in result.stdout
    document = json.loads(json_path.read_text())
    assert document["summary"]["warnings"]["missing_folder"] == 1
    assert [item["kind"] for item in document["warnings"]] == ["missing_folder"]
    assert not any("gone" in note for note in document["notes"])  # a warning, not also a note
    assert invoke_report(config, "--strict").exit_code == 1
    assert invoke_report(tmp_path / "here", "--strict").exit_code == 0


def test_one_bucket_numbering_explained_in_words_true_for_the_profile(tmp_path):
    write_images(tmp_path / "data", [("wide.png", 768, 512), ("tall.png", 512, 768)])
    kohya = invoke_report(tmp_path / "data")
    assert "Buckets (numbered by width, then height, as sd-scripts logs them)" in kohya.stdout
    onetrainer = invoke_report(tmp_path / "data", "--profile", "onetrainer", "--html", tmp_path / "o.html")
    assert onetrainer.exit_code == 0, onetrainer.output
    assert "Buckets (numbered by width, then height)" in onetrainer.stdout
    assert "sd-scripts" not in onetrainer.stdout
    page = (tmp_path / "o.html").read_text(encoding="utf-8")
    assert "Bucket N is the Nth of the buckets in use" in page and "sd-scripts logs" not in page
    rows = json.loads(CliRunner().invoke(main, ["buckets", "--json"]).stdout)
    assert "list_index" in rows[0] and "index" not in rows[0]
    explained = json.loads(CliRunner().invoke(main, ["explain", "768x512", "--json"]).stdout)[0]
    assert explained["bucket_list_index"] >= 0 and "bucket_index" not in explained


def test_max_bucket_reso_equal_to_resolution_warns_with_each_buckets_share(tmp_path):
    write_images(tmp_path / "data", [("strip.png", 1500, 250), ("square.png", 1024, 1024)])
    sdxl = ["--resolution", "1024", "--max-bucket-reso", "1024"]
    report = invoke_report(tmp_path / "data", *sdxl)
    assert "buckets shrunk by max_bucket_reso = resolution" in report.stdout
    assert "25% of the 1024x1024 budget for 1 image" in report.stdout
    assert "512x512" not in report.stdout.split("buckets shrunk")[1]  # a full bucket is not listed
    listed = CliRunner().invoke(main, ["buckets", *sdxl])
    assert "warning: max_bucket_reso 1024 is not above the resolution 1024x1024" in listed.stderr
    assert "256x1024/1024x256 25%" in listed.stderr and "1024x1024 100%" not in listed.stderr
    explained = CliRunner().invoke(main, ["explain", "1500x250", *sdxl])
    assert "256x1024/1024x256 25%" in explained.stderr
    fine = CliRunner().invoke(main, ["buckets", "--resolution", "1024", "--max-bucket-reso", "2048"])
    assert "max_bucket_reso" not in fine.stderr


def test_output_paths_are_checked_before_any_work(tmp_path):
    write_images(tmp_path / "data", [("a.png", 512, 512)])
    missing = invoke_report(tmp_path / "data", "--html", tmp_path / "no" / "page.html")
    assert missing.exit_code == 2
    assert "does not exist" in missing.output and "Buckets" not in missing.output
    (tmp_path / "file").write_text("x")
    under_file = invoke_report(tmp_path / "data", "--csv", tmp_path / "file" / "r.csv")
    assert under_file.exit_code == 2 and "not a folder" in under_file.output
    assert not (tmp_path / "no").exists()


def test_html_prints_its_file_url_and_open_launches_it(tmp_path, monkeypatch):
    write_images(tmp_path / "data", [("a.png", 512, 512)])
    launched = []
    monkeypatch.setattr("click.launch", lambda url, **options: launched.append(url))
    page = tmp_path / "out" / "page.html"
    page.parent.mkdir()
    result = invoke_report(tmp_path / "data", "--html", page, "--open")
    assert result.exit_code == 0, result.output
    assert page.resolve().as_uri() in result.stderr and launched == [page.resolve().as_uri()]
    assert invoke_report(tmp_path / "data", "--open").exit_code == 2  # --open without --html
