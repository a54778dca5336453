"""``aspectbucket profiles`` and ``--set NAME=VALUE`` on the commands that take ``--profile``."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from aspectbucket import PROFILES
from aspectbucket.cli import main
from aspectbucket.profiles import VERSIONS
from report_plans import write_images


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False, env={"COLUMNS": "160"})


def test_profiles_json_lists_every_profile_with_settings_version_and_defects():
    result = run("profiles", "--json")
    assert result.exit_code == 0
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(PROFILES) <= set(rows) and "novelai@352f7e0e" in rows
    assert all(name in rows for name in VERSIONS if VERSIONS[name] is not PROFILES.get(VERSIONS[name].name))
    onetrainer = rows["onetrainer"]
    assert onetrainer["version"] == "3a6994ad" and "Nerogar/mgds@3a6994ad" in onetrainer["source"]
    assert onetrainer["aliases"] == ["mgds"]
    assert [(s["name"], s["default"]) for s in onetrainer["settings"]] == [
        ("target_resolution", [1024]),
        ("quantization", 64),
        ("latent_caching", True),
    ]
    assert "hv" in next(s for s in rows["musubi"]["settings"] if s["name"] == "architecture")["choices"]
    assert [s["name"] for s in rows["kohya"]["settings"]][:2] == ["resolution", "min_bucket_reso"]
    assert rows["novelai"]["newest"] and not rows["novelai@352f7e0e"]["newest"]
    assert all(row["defects"] for row in rows.values())


def test_profiles_table_names_profiles_commits_and_defaults():
    result = run("profiles")
    assert result.exit_code == 0
    for text in ("novelai@352f7e0e", "NovelAI/novelai-aspect-ratio-bucketing@6e977c5", "quantization (64)", "mgds"):
        assert text in result.output


def test_set_reaches_the_buckets_command():
    result = run(
        "buckets", "--profile", "musubi-tuner", "--set", "resolution=1024,1024", "--set", "architecture=ho1", "--json"
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 33 and all(row["width"] % 32 == 0 for row in rows)


def test_set_applies_over_the_kohya_options():
    result = run("buckets", "--resolution", "768", "--set", "resolution=1024", "--json")
    assert result.exit_code == 0
    assert max(row["area"] for row in json.loads(result.stdout)) <= 1024 * 1024
    assert any(row["width"] == 1024 and row["height"] == 1024 for row in json.loads(result.stdout))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "bogus=1"], "unknown setting 'bogus'; allowed: resolution, min_bucket_reso"),
        (["--set", "bucket_reso_steps"], "'bucket_reso_steps' is not NAME=VALUE"),
        (["--profile", "onetrainer", "--set", "quantization=x"], "quantization='x' is not a whole number"),
        (["--profile", "novelai@999"], "'novelai@999' is not one of"),
    ],
)
def test_bad_settings_are_one_line_usage_errors(args, message):
    result = CliRunner().invoke(main, ["explain", "800x600", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_a_version_is_chosen_by_commit():
    linear = run("explain", "371x300", "--profile", "novelai", "--json")
    log = run("explain", "371x300", "--profile", "novelai@352f7e0e", "--json")
    assert json.loads(linear.stdout)[0]["bucket_width"] == 640
    assert json.loads(log.stdout)[0]["bucket_width"] == 704


def test_set_reaches_report_and_compare(tmp_path):
    root = tmp_path / "train"
    write_images(root / "1_a", [("wide.jpg", 1000, 700), ("tall.jpg", 600, 900), ("small.jpg", 200, 150)])
    report = tmp_path / "report.json"
    result = CliRunner().invoke(
        main,
        [
            "report",
            str(root),
            "--no-cache",
            "--profile",
            "diffusers",
            "--set",
            "use_aspect_ratio_buckets=true",
            "--set",
            "resolution=512",
            "--json",
            str(report),
        ],
    )
    assert result.exit_code == 0, result.output
    images = json.loads(report.read_text())["images"]
    small = next(image for image in images if image["path"].endswith("small.jpg"))
    assert (small["bucket_width"], small["bucket_height"]) == (192, 144)  # its own ladder: never enlarged
    compared = CliRunner().invoke(
        main,
        ["compare", str(root), "--no-cache", "--profiles", "onetrainer,kohya", "--set", "quantization=16", "--json"],
    )
    assert compared.exit_code == 0, compared.output
    summaries = {item["profile"]: item for item in json.loads(compared.output)["summaries"]}
    assert summaries["onetrainer"]["trainer_settings"]["quantization"] == 16
    assert "unknown setting 'quantization'" in summaries["kohya"]["refused"]
