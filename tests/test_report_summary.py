"""The report's data: bucket numbers, tables, steps, warnings and advice, on plans built in memory."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from aspectbucket.geometry.batches import BatchPolicy
from aspectbucket.geometry.options import BucketOptions
from aspectbucket.profiles import KOHYA
from aspectbucket.report.summary import WarningKind, path_text, settings_lines, steps_line, summarize
from report_plans import make_plan


def kinds(summary, kind):
    return [finding for finding in summary.warnings if finding.kind is kind]


def test_bucket_numbers_count_only_used_buckets_sorted_by_width_then_height():
    plan = make_plan([("wide.jpg", 768, 512), ("tall.jpg", 512, 752), ("square.jpg", 512, 512)])
    summary = summarize(plan)
    assert [(row.number, row.width, row.height) for row in summary.buckets] == [
        (0, 384, 640),
        (1, 512, 512),
        (2, 640, 384),
    ]
    assert summary.columns.bucket_number.tolist() == [2, 0, 1]
    assert [row.ratio for row in summary.buckets] == ["3:5", "1:1", "5:3"]


def test_steps_per_epoch_count_repeats_and_short_last_batches():
    # Bucket sample counts 30, 10, 5, 1 at batch size 4: 8 + 3 + 2 + 1 = 14 steps, as sd-scripts.
    images = (
        [(f"a{i}.jpg", 768, 512, 1, "", 0) for i in range(3)]
        + [(f"b{i}.jpg", 512, 768, 1, "", 0) for i in range(1)]
        + [(f"c{i}.jpg", 512, 512, 1, "", 1) for i in range(5)]
        + [("d.jpg", 1024, 256, 1, "", 1)]
    )
    plan = make_plan(images, subsets=[("10_x", 10), ("1_y", 1)])
    summary = summarize(plan, batch_size=4)
    assert sorted(row.samples for row in summary.buckets) == [1, 5, 10, 30]
    assert summary.steps_per_epoch == 14
    assert summary.samples == 46
    small = kinds(summary, WarningKind.SMALL_BUCKET)
    assert [finding.path for finding in small] == ["bucket 3 (1024x256)"]


def test_batches_follow_the_profiles_incomplete_batch_policy():
    dropping = dataclasses.replace(KOHYA, batch_policy=BatchPolicy.DROP)
    images = [(f"a{i}.jpg", 768, 512) for i in range(5)] + [("b.jpg", 512, 768)]
    summary = summarize(make_plan(images, profile=dropping), batch_size=2)
    assert [row.batches for row in summary.buckets] == [0, 2] and summary.steps_per_epoch == 2
    assert "dropped" in steps_line(summary)
    assert "the trainer drops it every epoch" in kinds(summary, WarningKind.SMALL_BUCKET)[0].detail


def test_batch_size_comes_from_the_config_unless_given():
    images = [(f"a{i}.jpg", 768, 512) for i in range(5)]
    assert summarize(make_plan(images, batch_size=2)).steps_per_epoch == 3
    assert summarize(make_plan(images, batch_size=2), batch_size=5).steps_per_epoch == 1
    assert summarize(make_plan(images)).batch_sizes == [1]
    with pytest.raises(ValueError, match="batch size 0"):
        summarize(make_plan(images), batch_size=0)


def test_every_warning_kind_names_its_image():
    plan = make_plan(
        [
            ("broken.jpg", 0, 0, 1, "truncated: the file ends inside the header"),
            ("turned.jpg", 800, 600, 6),
            ("strip.png", 1500, 250),
            ("tiny.jpg", 200, 150),
            ("fine.jpg", 768, 512),
        ]
    )
    summary = summarize(plan, batch_size=2)
    assert [f.path for f in kinds(summary, WarningKind.UNREADABLE)] == ["broken.jpg"]
    assert "truncated" in kinds(summary, WarningKind.UNREADABLE)[0].detail
    exif = kinds(summary, WarningKind.EXIF_ROTATED)
    assert [f.path for f in exif] == ["turned.jpg"]
    assert "lying on its side" in exif[0].detail and "--respect-exif" in exif[0].detail
    assert [f.path for f in kinds(summary, WarningKind.CROP_LOSS)] == ["strip.png"]
    assert [f.path for f in kinds(summary, WarningKind.UPSCALED)] == ["tiny.jpg"]
    assert "2.99x" in kinds(summary, WarningKind.UPSCALED)[0].detail
    assert summary.error_counts == {"truncated: the file ends inside the header": 1}
    assert (summary.images, summary.placed) == (5, 4)
    assert summary.warning_counts()["unreadable"] == 1


def test_issue_731_names_the_corrected_bucket():
    plan = make_plan(
        [("near_square.jpg", 520, 512), ("fine.jpg", 512, 512)], options=BucketOptions(bucket_no_upscale=True)
    )
    summary = summarize(plan)
    hit = kinds(summary, WarningKind.STEP_LOSS)
    assert [f.path for f in hit] == ["near_square.jpg"]
    assert "bucket 448x448" in hit[0].detail and "gives 512x512" in hit[0].detail


def test_respect_exif_places_the_upright_size_and_still_warns():
    stored = summarize(make_plan([("turned.jpg", 800, 600, 6)]))
    upright = summarize(make_plan([("turned.jpg", 800, 600, 6)], respect_exif=True))
    assert (stored.buckets[0].width, stored.buckets[0].height) == (576, 448)
    assert (upright.buckets[0].width, upright.buckets[0].height) == (448, 576)
    detail = kinds(upright, WarningKind.EXIF_ROTATED)[0].detail
    assert "shown upright here" in detail and "stored 800x600" in detail


def test_settings_say_the_trainer_applies_exif_for_profiles_that_do():
    lines = {
        profile: settings_lines(summarize(make_plan([("turned.jpg", 800, 600, 6)], profile=profile)))[-1]
        for profile in ("kohya", "ai-toolkit", "simpletuner")
    }
    assert lines["kohya"].endswith("sizes as stored (the trainer ignores EXIF)")
    assert lines["ai-toolkit"].endswith("sizes upright (the trainer applies EXIF)")
    assert lines["simpletuner"].endswith("sizes upright (the trainer applies EXIF)")


def test_size_table_groups_sizes_with_their_bucket():
    plan = make_plan([("a.jpg", 768, 512), ("b.jpg", 768, 512), ("c.jpg", 600, 400), ("d.jpg", 512, 752)])
    rows = [(r.width, r.height, r.images, r.ratio, r.bucket_number) for r in summarize(plan).sizes]
    assert rows == [(512, 752, 1, "32:47", 0), (768, 512, 2, "3:2", 1), (600, 400, 1, "3:2", 1)]


def test_advice_gives_bucket_ratios_and_a_precrop_box_of_the_bucket_ratio():
    plan = make_plan([("strip.png", 1500, 250), ("wide.jpg", 768, 512), ("wide2.jpg", 768, 512)])
    summary = summarize(plan)
    assert [(a.ratio, a.buckets, a.images) for a in summary.ratio_advice] == [
        ("5:3", ("640x384",), 2),
        ("4:1", ("1024x256",), 1),
    ]
    [advice] = summary.precrop_advice
    left, top, right, bottom = advice.box
    assert (advice.path, advice.box) == ("strip.png", (250, 0, 1250, 250))
    assert (right - left) * advice.bucket_height == (bottom - top) * advice.bucket_width
    assert left >= 0 and right <= 1500 and top >= 0 and bottom <= 250


def test_ratio_advice_merges_buckets_of_one_ratio_across_blocks_and_sizes():
    plan = make_plan(
        [("big.jpg", 700, 700), ("near.jpg", 600, 580), ("tall.jpg", 512, 752)],
        options=BucketOptions(bucket_no_upscale=True),
    )
    advice = summarize(plan).ratio_advice
    assert [(a.ratio, a.buckets, a.images) for a in advice] == [
        ("1:1", ("448x448", "512x512"), 2),
        ("2:3", ("384x576",), 1),
    ]


def test_precrop_boxes_stay_inside_their_images():
    rng = np.random.default_rng(7)
    sizes = rng.integers(64, 4000, size=(300, 2))
    plan = make_plan([(f"{i}.jpg", int(w), int(h)) for i, (w, h) in enumerate(sizes)])
    columns = summarize(plan).columns
    box = columns.precrop
    assert (box[:, 0] >= 0).all() and (box[:, 1] >= 0).all()
    assert (box[:, 2] <= columns.placed_width).all() and (box[:, 3] <= columns.placed_height).all()
    assert (box[:, 2] > box[:, 0]).all() and (box[:, 3] > box[:, 1]).all()


def test_paths_show_relative_to_the_dataset_and_bad_bytes_escaped():
    plan = make_plan(
        [("a.jpg", 768, 512, 1, "", 0), ("b.jpg", 768, 512, 1, "", 1)], subsets=[("10_dog", 10), ("3_cat", 3)]
    )
    assert summarize(plan).columns.display_path == ["10_dog/a.jpg", "3_cat/b.jpg"]
    assert path_text(Path("caf\udce9.jpg")) == "caf\\xe9.jpg"
    assert path_text("plain.jpg") == "plain.jpg"


def test_an_empty_or_all_broken_dataset_still_summarizes():
    summary = summarize(make_plan([("x.jpg", 0, 0, 1, "empty file")]))
    assert summary.buckets == [] and summary.steps_per_epoch == 0 and summary.placed == 0
    assert summarize(make_plan([])).images == 0


def test_settings_lines_count_the_images_trained_at_each_drawn_resolution():
    from aspectbucket.geometry.several_resolutions import onetrainer_epoch_targets

    images = [(f"{index}.jpg", 1000, 600 + 13 * index) for index in range(20)]
    several = {"target_resolution": "512,768,1024"}
    plan = make_plan(images, profile="onetrainer", settings=several)
    drawn = onetrainer_epoch_targets(20, (512, 768, 1024), epoch=0).tolist()
    counts = {side: drawn.count(side) for side in (512, 768, 1024)}
    line = settings_lines(summarize(plan))[-1]
    first = "image" if counts[512] == 1 else "images"
    assert line == (
        f"trained at 512: {counts[512]} {first}, 768: {counts[768]}, 1024: {counts[1024]} "
        "(drawn once: latent caching reuses the first draw every epoch)"
    )
    redrawn = make_plan(images, profile="onetrainer", settings={**several, "latent_caching": False})
    assert "drawn again every epoch" in settings_lines(summarize(redrawn))[-1]
    single = make_plan(images, profile="onetrainer", settings={"target_resolution": "768"})
    assert not any(line.startswith("trained at") for line in settings_lines(summarize(single)))
