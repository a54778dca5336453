"""compare: per-profile summaries worked out by hand, refused options, the most different images,
the dataset path (with an unreadable file), the HTML fragment and the command."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from PIL import Image

from aspectbucket.cli import main
from aspectbucket.compare import compare_dataset, compare_sizes
from aspectbucket.report.compare_section import compare_section_html
from aspectbucket.scan import scan
from report_plans import invoke_report, write_images


def by_name(comparison):
    return {summary.profile: summary for summary in comparison.summaries}


def test_batch_rules_on_three_squares():
    # Three 512x512 images, one bucket each profile; batch size 2.
    comparison = compare_sizes(
        [512] * 3,
        [512] * 3,
        profiles="kohya,onetrainer,ai-toolkit",
        given={"resolution": (512, 512)},
        batch_size=2,
    )
    summaries = by_name(comparison)
    assert [summaries[name].buckets_used for name in summaries] == [1, 1, 1]
    kohya = summaries["kohya"]
    assert (kohya.steps_per_epoch, kohya.dropped, kohya.padded) == (2, 0, 0)
    assert (summaries["onetrainer"].steps_per_epoch, summaries["onetrainer"].dropped) == (1, 1)
    assert summaries["onetrainer"].trainer_settings == {"target_resolution": [512, 512], "quantization": 64}
    assert (summaries["ai-toolkit"].steps_per_epoch, summaries["ai-toolkit"].padded) == (2, 1)
    assert all(summary.mean_crop == 0.0 and summary.upscaled == 0 for summary in summaries.values())


def test_repeats_count_as_samples():
    comparison = compare_sizes([512, 640], [512, 384], repeats=[3, 2], profiles=["kohya"], batch_size=4)
    kohya = by_name(comparison)["kohya"]
    assert kohya.samples == 5 and kohya.buckets_used == 2 and kohya.steps_per_epoch == 2


def test_upscale_is_measured():
    kohya = by_name(compare_sizes([256], [256], profiles=["kohya"]))["kohya"]
    assert kohya.upscaled == 1
    assert kohya.max_upscale == pytest.approx(2.0) and kohya.mean_upscale == pytest.approx(2.0)


def test_a_profile_refusing_the_options_is_reported_not_raised():
    comparison = compare_sizes([800], [600], profiles="kohya,onetrainer", given={"resolution": (1024, 768)})
    summaries = by_name(comparison)
    assert summaries["kohya"].refused == "" and summaries["kohya"].placed == 1
    assert summaries["kohya"].trainer_settings == {}
    assert "target resolution" in summaries["onetrainer"].refused
    assert comparison.differences == []  # only one profile placed anything


def test_most_different_images_come_first_and_drops_count_fully():
    widths, heights = [1000, 8000, 1200], [1000, 1000, 900]
    comparison = compare_sizes(widths, heights, profiles="kohya,novelai", top=2)
    first = comparison.differences[0]
    assert first.index == 1 and first.width == 8000
    assert first.treatments["novelai"].error  # dropped: ratio beyond 4:1 error
    assert first.spread == pytest.approx(1.0 - first.treatments["kohya"].crop)
    assert len(comparison.differences) == 2


def test_bad_sizes_are_counted_not_raised():
    comparison = compare_sizes([512, 0, None], [512, 10, 512], profiles=["kohya"])
    kohya = by_name(comparison)["kohya"]
    assert kohya.placed == 1 and sum(kohya.errors.values()) == 2


def test_unknown_profile_and_bad_batch_size_raise():
    with pytest.raises(ValueError, match="unknown profile"):
        compare_sizes([512], [512], profiles=["nope"])
    with pytest.raises(ValueError, match="batch size"):
        compare_sizes([512], [512], batch_size=0)


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "data"
    (root / "2_cat").mkdir(parents=True)
    (root / "1_dog").mkdir()
    sizes = {"2_cat/a.png": (1024, 768), "2_cat/b.png": (3000, 400), "1_dog/c.png": (600, 900)}
    for name, size in sizes.items():
        Image.new("RGB", size).save(root / name)
    (root / "1_dog" / "broken.jpg").write_bytes(b"not an image")
    return root


def test_compare_dataset(dataset, tmp_path):
    scanned = scan(dataset, cache=tmp_path / "cache")
    comparison = compare_dataset(scanned, "kohya,balanced", batch_size=2, top=5)
    kohya = by_name(comparison)["kohya"]
    assert kohya.images == 4 and kohya.placed == 3 and kohya.samples == 5  # 2 cats x 2 + 1 dog
    labels = [item.label for item in comparison.differences]
    assert len(labels) == 3 and not any("broken" in label for label in labels)
    for item in comparison.differences:
        assert str(scanned.paths[item.index]) == item.label


def test_html_fragment_escapes_labels():
    labels = ["<b>x</b>", "y & z"]
    comparison = compare_sizes([512, 4000], [512, 500], profiles="kohya,balanced", labels=labels)
    fragment = compare_section_html(comparison)
    assert "&lt;b&gt;x&lt;/b&gt;" in fragment and "<b>x</b>" not in fragment and "y &amp; z" in fragment
    assert fragment.count("<table>") == 2 and "steps/epoch" in fragment


def test_command_json_and_errors(dataset, tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["compare", str(dataset), "--profiles", "kohya,diffusers", "--batch-size", "2", "--json", "--no-cache"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [item["profile"] for item in data["summaries"]] == ["kohya", "diffusers"]
    assert data["batch_sizes"] == [2] and data["summaries"][1]["batch_policy"] == "drop"
    single = runner.invoke(main, ["compare", str(dataset), "--profile", "musubi", "--json", "--no-cache"])
    assert [item["profile"] for item in json.loads(single.output)["summaries"]] == ["musubi"]
    bad = runner.invoke(main, ["compare", str(dataset), "--profiles", "kohya,nope"])
    assert bad.exit_code == 2 and "choose from" in bad.output
    table = runner.invoke(main, ["compare", str(dataset), "--quantization", "32", "--no-cache"])
    assert table.exit_code == 0 and "steps" in table.output and "refused" not in table.output


def _compare_json(*arguments):
    result = invoke_report(*arguments, "--json", command="compare")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_compare_runs_every_profile_at_one_resolution_with_paths_relative_to_the_dataset(tmp_path):
    write_images(tmp_path / "data" / "sub", [("wide.png", 1500, 250), ("tall.png", 512, 752)])
    data = _compare_json(tmp_path / "data")
    assert {item["resolution"] for item in data["summaries"] if not item["refused"]} == {"512x512"}
    assert {item["label"] for item in data["differences"]} <= {"sub/wide.png", "sub/tall.png"}
    assert data["batch_sizes"] == [1]
    at_1024 = _compare_json(tmp_path / "data", "--resolution", "1024", "--profiles", "kohya,onetrainer")
    assert [item["resolution"] for item in at_1024["summaries"]] == ["1024x1024", "1024x1024"]
    table = invoke_report(tmp_path / "data", "--profiles", "kohya,musubi", command="compare")
    assert "resolution" in table.stdout and "512x512" in table.stdout and str(tmp_path) not in table.stdout


def test_compare_takes_the_configs_batch_size_and_resolution(tmp_path):
    write_images(tmp_path / "a", [(f"{index}.png", 640, 384) for index in range(5)])
    config = tmp_path / "set.toml"
    config.write_text('[[datasets]]\nbatch_size = 2\nresolution = 768\n[[datasets.subsets]]\nimage_dir = "a"\n')
    data = _compare_json(config, "--profiles", "kohya,musubi")
    assert data["batch_sizes"] == [2]
    assert [item["resolution"] for item in data["summaries"]] == ["768x768", "768x768"]
    assert data["summaries"][0]["steps_per_epoch"] == 3  # 5 images at batch size 2
    assert _compare_json(config, "--profiles", "kohya", "--batch-size", "5")["summaries"][0]["steps_per_epoch"] == 1


def test_html_compare_section_and_overview_agree_on_steps(tmp_path):
    page = tmp_path / "page.html"
    result = CliRunner().invoke(main, ["report", "--example", "--html", str(page), "--compare", "kohya", "--no-cache"])
    assert result.exit_code == 0, result.output
    text = page.read_text(encoding="utf-8")
    overview = re.search(r"(\d+) steps per epoch", text).group(1)
    section = text[text.index('id="compare"') :]
    kohya_row = re.search(r"<tr><td>kohya</td>((?:<td>[^<]*</td>)+)</tr>", section).group(1)
    assert re.findall(r"<td>([^<]*)</td>", kohya_row)[-1] == overview
    assert "batch sizes 4, 2 (per dataset block)" in section and "example/" not in section
