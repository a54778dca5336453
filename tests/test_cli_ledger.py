"""``aspectbucket ledger``: tables, JSON with the documented keys, CSV, HTML, kohya's log lines, errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from aspectbucket.cli import main

SIZES = "width,height,repeats,subset\n" + "1024,1024,1,a\n" * 3 + "1280,832,1,a\n1280,832,x,b\n832,1280,1,b\n"


@pytest.fixture
def sizes(tmp_path):
    path = tmp_path / "sizes.csv"
    path.write_text(SIZES)
    return path


def run(*args):
    return CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False)


def test_json_has_the_issue_keys_and_the_fix(sizes):
    result = run("ledger", "--sizes", sizes, "--profile", "onetrainer", "--batch-size", "2", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["steps_per_epoch"], data["optimizer_steps_per_epoch"]) == (2, 2)
    keys = {"bucket_width", "bucket_height", "images", "samples", "batches", "dropped", "padded"}
    assert all(keys <= set(row) for row in data["per_bucket"])
    assert data["images"][0] == {**data["images"][0], "image": "5", "times_max": 0}
    assert data["fixes"][0]["fixes"][0]["kind"] == "duplicate"
    assert "row 5: repeats 'x' is not a whole number" in result.stderr


def test_terminal_tables_and_kohya_log(sizes):
    result = run("ledger", "--sizes", sizes, "--batch-size", "2", "--epochs", "3", "--kohya-log")
    assert result.exit_code == 0
    assert "Per bucket, one epoch" in result.stdout
    assert "bucket 1: resolution (512, 512), count: 3" in result.stdout
    assert "override steps. steps for 3 epochs is / 指定エポックまでのステップ数: 12" in result.stdout


def test_csv_and_html_are_written(sizes, tmp_path):
    out_csv, out_html = tmp_path / "ledger.csv", tmp_path / "ledger.html"
    result = run(
        "ledger", "--sizes", sizes, "--profile", "onetrainer", "--batch-size", "2", "--csv", out_csv, "--html", out_html
    )
    assert result.exit_code == 0
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 6 and rows[5]["times_max"] == "0" and rows[5]["reason"].startswith("bucket smaller")
    page = out_html.read_text()
    assert "<svg" in page and "Never trained (1)" in page and "Smallest fixes" in page


@pytest.mark.parametrize(
    "args, message",
    [
        (("--batch-size", "0"), "batch size must be a positive whole number, got 0"),
        (("--processes", "99"), "99 processes for 6 trainable samples"),
        (("--epochs", "2", "--max-train-steps", "5"), "not both"),
    ],
)
def test_bad_values_are_one_line_usage_errors(sizes, args, message):
    result = run("ledger", "--sizes", sizes, *args)
    assert result.exit_code == 2 and message in result.stderr


def test_the_input_is_never_overwritten_and_an_empty_table_works(sizes, tmp_path):
    result = run("ledger", "--sizes", sizes, "--csv", sizes)
    assert result.exit_code == 2 and "never writes under an input" in result.stderr
    assert sizes.read_text() == SIZES
    empty = tmp_path / "empty.csv"
    empty.write_text("width,height\n")
    result = run("ledger", "--sizes", empty, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["steps_per_epoch"] == 0


def test_a_table_without_sizes_is_a_usage_error(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("w,h\n1,2\n")
    result = run("ledger", "--sizes", bad)
    assert result.exit_code == 2 and "'width' and 'height'" in result.stderr


def test_report_carries_the_ledger_in_every_format(tmp_path):
    out = {name: tmp_path / f"report.{name}" for name in ("json", "csv", "html")}
    args = ["report", "--example", "--no-cache", "--profile", "onetrainer", "--batch-size", 4]
    result = run(*args, "--json", out["json"], "--csv", out["csv"], "--html", out["html"])
    assert result.exit_code == 0, result.output
    assert "Epoch ledger" in result.stdout and "Never trained" in result.stdout
    ledger = json.loads(out["json"].read_text())["ledger"]
    assert ledger["batching"] == "onetrainer" and ledger["never_trained"] > 0 and ledger["fixes"]
    rows = list(csv.DictReader(out["csv"].open()))
    assert sum(row["times_max"] == "0" for row in rows) == ledger["never_trained"]
    page = out["html"].read_text()
    assert 'id="ledger"' in page or "Epoch ledger" in page
    assert "Smallest fixes" in page


def test_report_rejects_more_processes_than_samples():
    result = run("report", "--example", "--no-cache", "--processes", 10_000)
    assert result.exit_code == 2 and "processes for" in result.stderr


def test_help_and_the_readme_example_run():
    result = run("ledger", "--help")
    assert result.exit_code == 0 and "Example" in result.output and "--kohya-log" in result.output
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("### `aspectbucket ledger --sizes FILE`") :]
    code = section[section.index("```python\n") + 10 : section.index("```\n", section.index("```python\n") + 10)]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # the documented example runs as written
    book = namespace["book"]
    assert (book.steps_per_epoch, book.optimizer_steps_per_epoch, book.total_optimizer_steps) == (2, 2, 20)
