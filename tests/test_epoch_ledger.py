"""The public ledger: placement, repeats and batching together, its tables, and its one-line errors."""

from __future__ import annotations

import doctest

import pytest

import aspectbucket
from aspectbucket import BatchingError, ledger
from aspectbucket.profiles.batching import batching_rule
from conftest import kohya_case_ledger, load_vectors

CASES = load_vectors("batching")["cases"]
IMAGES = load_vectors("batching")["images"]


def test_module_examples_run():
    assert doctest.testmod(aspectbucket.epoch_ledger).failed == 0


@pytest.mark.parametrize("number", [0, 3, 5, 8, 9])
def test_kohya_reference_cases_end_to_end(number):
    """Placement by the kohya profile and batching by its rule give sd-scripts' own counts."""
    case = CASES[number]
    book = kohya_case_ledger(case)
    expected = case["batching"]
    assert book.steps_per_epoch == expected["steps_per_epoch"]
    rows = book.per_bucket_rows()
    assert [[r["bucket_width"], r["bucket_height"]] for r in rows] == [r["bucket"] for r in expected["per_bucket"]]
    assert [r["batches"] for r in rows] == [r["batches"] for r in expected["per_bucket"]]
    assert [r["samples"] for r in rows] == [r["images"] for r in expected["per_bucket"]]


def test_json_has_the_documented_keys():
    book = ledger([512, 768, 100], [512, 512, 3000], "onetrainer", batch_size=2, epochs=3)
    data = book.to_json()
    assert {"steps_per_epoch", "optimizer_steps_per_epoch", "per_bucket", "images"} <= set(data)
    assert set(data["per_bucket"][0]) >= {"bucket_width", "bucket_height", "images", "samples", "batches", "dropped"}
    assert "padded" in data["per_bucket"][0]
    assert data["epochs"] == 3 and data["total_optimizer_steps"] == 3 * data["optimizer_steps_per_epoch"]
    assert data["random"] is True
    assert data["images"][0]["times_max"] == 0  # the never-trained images come first


def test_max_train_steps_sets_the_run():
    book = ledger([512] * 10, [512] * 10, "kohya", batch_size=3, max_train_steps=10)
    assert (book.optimizer_steps_per_epoch, book.epochs, book.last_epoch_optimizer_steps) == (4, 3, 2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(batch_size=0), "batch size must be a positive whole number, got 0"),
        (dict(repeats=-1), "repeats must not be negative"),
        (dict(processes=5), "5 processes for 3 trainable samples"),
        (dict(grad_accum=0), "grad accum must be a positive whole number"),
        (dict(repeats={"a": 1}), "repeats by subset need subsets"),
        (dict(repeats={"a": 1}, subsets=["a", "b", "b"]), "no repeats given for subset(s): b"),
        (dict(batching="bogus"), "batching 'bogus' is not one of"),
        (dict(epochs=2, max_train_steps=3), "not both"),
    ],
)
def test_bad_values_are_one_line_errors(kwargs, message):
    with pytest.raises(BatchingError) as error:
        ledger([512, 768, 100], [512, 512, 3000], "kohya", **kwargs)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("profile", list(aspectbucket.PROFILES))
def test_empty_dataset_and_single_image_buckets_work_for_every_profile(profile):
    empty = ledger([], [], profile, batch_size=4, processes=2)
    assert empty.steps_per_epoch == 0 and empty.per_bucket_rows() == [] and empty.to_json()["images"] == []
    one = ledger([512, 4000, 0], [512, 300, 512], profile, batch_size=4)
    assert one.reason_text(2).startswith("no bucket")
    assert len(one.image_rows()) == 3


def test_musubi_keeps_buckets_per_dataset_and_kohya_merges_them():
    sizes = ([512, 512, 512], [512, 512, 512])
    musubi = ledger(*sizes, "musubi", subsets=["x", "y", "y"], batch_size=2)
    assert [(r["subset"], r["images"], r["batches"]) for r in musubi.per_bucket_rows()] == [("x", 1, 1), ("y", 2, 1)]
    kohya = ledger(*sizes, "kohya", subsets=["x", "y", "y"], batch_size=2)
    assert [(r["images"], r["batches"]) for r in kohya.per_bucket_rows()] == [(3, 2)]


def test_every_profile_has_a_batching_rule():
    for name in aspectbucket.PROFILES:
        assert batching_rule(name) in set(aspectbucket.BatchingRule)
    assert batching_rule("diffusers") is aspectbucket.BatchingRule.ONETRAINER
    assert batching_rule("kohya", "simpletuner") is aspectbucket.BatchingRule.SIMPLETUNER


def test_compare_counts_steps_and_never_trained_with_each_trainers_batching():
    from aspectbucket.compare import compare_sizes

    widths, heights = [1024, 1024, 1024, 1280, 1280, 832], [1024, 1024, 1024, 832, 832, 1280]
    comparison = compare_sizes(widths, heights, profiles=["kohya", "onetrainer", "simpletuner"], batch_size=2)
    by_name = {item.profile: item for item in comparison.summaries}
    for name in ("kohya", "onetrainer"):
        book = ledger(widths, heights, name, batch_size=2)
        assert by_name[name].steps_per_epoch == book.steps_per_epoch
        assert by_name[name].never_trained == book.never_trained_count
        assert by_name[name].batching == name
    assert by_name["onetrainer"].never_trained == 1
    assert "zero usable batches" in by_name["simpletuner"].batching_refused
    assert "never_trained" in comparison.to_dict()["summaries"][0]


def test_plan_ledger_keeps_buckets_per_dataset_block_only_where_the_trainer_does():
    import dataclasses

    from aspectbucket.epoch_ledger import plan_ledger
    from aspectbucket.plan import plan_dataset
    from report_plans import make_plan

    plan = make_plan([("a.png", 512, 512, 1, "", 0), ("b.png", 512, 512, 1, "", 1)], subsets=[("x", 1), ("y", 1)])
    scan = plan.scan
    scan.subsets[1] = dataclasses.replace(scan.subsets[1], dataset=1)
    for profile, buckets in (("kohya", 2), ("onetrainer", 1)):
        book = plan_ledger(plan_dataset(scan, profile, {"resolution": (512, 512)}), batch_size=2)
        assert len(book.per_bucket_rows()) == buckets, profile
    book = plan_ledger(plan_dataset(scan, "onetrainer", {"resolution": (512, 512)}), batch_size=2)
    assert book.never_trained_count == 0 and book.steps_per_epoch == 1
