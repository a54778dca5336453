"""Issue 16's fixes: advice that removes the loss, one resolution in compare, warnings that count."""

from __future__ import annotations

import json
import re

import numpy as np
from click.testing import CliRunner
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from aspectbucket.cli import main
from aspectbucket.geometry.options import BucketOptions
from aspectbucket.profiles import PROFILES, place_by_profile, resolve
from aspectbucket.report.explain import PRECROP_ROUNDING, explain_size, precrop_targets
from report_plans import write_images


def invoke_report(*arguments, command="report"):
    arguments = [str(argument) for argument in arguments]
    return CliRunner().invoke(main, [command, *arguments, "--no-cache"], env={"COLUMNS": "120"})


def _kohya(**values):
    profile, options, _ = resolve(PROFILES["kohya"], BucketOptions(**values))
    return profile, options


def test_no_upscale_advice_resizes_to_the_bucket_instead_of_a_whole_image_box():
    profile, options = _kohya(resolution=(1024, 1024), bucket_no_upscale=True)
    result = explain_size(300, 300, options, profile)
    assert result["precrop_ltrb"] == [0, 0, 300, 300]
    assert result["precrop_resize_to"] == [256, 256]
    assert "resize the image to 256x256" in result["sentences"][-1]


def test_upscaling_advice_keeps_the_plain_box():
    profile, options = _kohya(resolution=(512, 512))
    result = explain_size(768, 512, options, profile)
    assert result["precrop_resize_to"] is None
    assert "pre-crop the image to the box left=0 top=25 right=768 bottom=486" in result["sentences"][-1]


@settings(max_examples=150, deadline=None)
@given(
    st.integers(64, 4000),
    st.integers(64, 4000),
    st.booleans(),
    st.sampled_from(["kohya", "musubi", "onetrainer", "balanced"]),
)
def test_following_the_precrop_advice_removes_the_loss(width, height, no_upscale, name):
    # balanced with upscaling turned on (not its default) is left out: an image whose listed bucket cuts
    # just over its 20 % limit gets its own bucket, but the pre-cropped box can cut just under it and go
    # back to the list (5 in 20,000 random sizes; 1001x200, 64x321). README, "The balanced profile".
    assume(not (name == "balanced" and not no_upscale))
    profile, options, _ = resolve(PROFILES[name], BucketOptions(resolution=(1024, 1024), bucket_no_upscale=no_upscale))
    placed = place_by_profile([width], [height], options, profile)
    if not placed.ok[0]:
        return
    bucket = (int(placed.bucket_width[0]), int(placed.bucket_height[0]))
    boxes, resize = precrop_targets([width], [height], [bucket[0]], [bucket[1]], options, profile)
    if resize[0]:
        after = place_by_profile([bucket[0]], [bucket[1]], options, profile)
        assert after.ok[0] and after.lost_fraction[0] == 0
    else:
        box_w, box_h = int(boxes[0, 2] - boxes[0, 0]), int(boxes[0, 3] - boxes[0, 1])
        after = place_by_profile([box_w], [box_h], options, profile)
        assert after.lost_fraction[0] <= PRECROP_ROUNDING
    assert np.all(boxes[0] >= 0) and boxes[0, 2] <= width and boxes[0, 3] <= height


def test_report_advice_without_upscale_resizes_to_the_bucket(tmp_path):
    write_images(tmp_path / "data", [("square.png", 300, 300), ("wide.png", 300, 200)])
    result = invoke_report(tmp_path / "data", "--bucket-no-upscale", "--resolution", "1024")
    assert result.exit_code == 0, result.output
    assert "square.png: 27% cut now; resize to 256x256 (or crop to it) for bucket 256x256" in result.stdout


def test_options_merge_in_one_order_command_line_over_config_over_defaults():
    from aspectbucket.profiles import merge_options

    assert merge_options("kohya").resolution == (512, 512)
    merged = merge_options("kohya", {"resolution": (1024, 1024), "max_bucket_reso": 2048}, {"max_bucket_reso": 1536})
    assert (merged.resolution, merged.max_bucket_reso, merged.min_bucket_reso) == ((1024, 1024), 1536, 256)
    assert merge_options("onetrainer").resolution == PROFILES["onetrainer"].defaults.resolution


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
