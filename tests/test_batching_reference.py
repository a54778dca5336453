"""Every batching case the trainers' own code produced, reproduced by the epoch ledger's counting rules.

The bucket of each image comes from the reference file itself (placement is tested elsewhere); what is
checked here is everything batching decides: steps, per-bucket batches, trained, dropped and padded
samples, batches per process with accelerate's even-out, and optimizer updates with accumulation.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from aspectbucket.geometry.ledger import (
    BatchingRule,
    BatchSettings,
    count_epoch,
    kohya_regularization_repeats,
    onetrainer_updates,
    training_length,
)
from conftest import load_vectors

BATCHING = load_vectors("batching")
CASES = BATCHING["cases"]


def _ids(buckets: list) -> tuple[np.ndarray, dict]:
    """Bucket id per entry (-1 for none) and the id of each bucket key, numbered in sorted order."""
    keys = sorted({tuple(b) for b in buckets if b is not None})
    index = {key: i for i, key in enumerate(keys)}
    return np.array([index[tuple(b)] if b is not None else -1 for b in buckets], dtype=np.int64), index


def _rows_from_counts(per_bucket: list[dict], repeats_key: str | None = None):
    """One entry per listed image of each bucket row, so counting rebuilds the row's totals."""
    bucket, repeats = [], []
    for j, row in enumerate(per_bucket):
        count = row["images"]
        each = row["samples"] // row["images"] if repeats_key else 1
        bucket += [j] * count
        repeats += [each] * count
    return np.array(bucket, dtype=np.int64), np.array(repeats, dtype=np.int64)


def _kohya_inputs(case):
    repeats_by_subset = {s["name"]: s["num_repeats"] for s in case["settings"]["subsets"]}
    reg_names = {s["name"] for s in case["settings"]["subsets"] if s.get("is_reg")}
    placements = case["placements"]
    ids, index = _ids([p["bucket"] for p in placements])
    repeats = np.array([repeats_by_subset[p["extra"]["subset"]] for p in placements])
    regularization = np.array([p["extra"]["subset"] in reg_names for p in placements])
    return ids, index, kohya_regularization_repeats(repeats, regularization, ids >= 0), regularization


@pytest.mark.parametrize("number", [i for i, c in enumerate(CASES) if c["trainer"] == "kohya"])
def test_kohya_case(number):
    case = CASES[number]
    expected = case["batching"]
    ids, index, repeats, regularization = _kohya_inputs(case)
    placed = ids >= 0
    assert repeats[placed].tolist() == [p["extra"]["num_repeats"] for p in case["placements"] if p["bucket"]]
    assert int(repeats[placed & ~regularization].sum()) == expected["num_train_images"]
    assert int(repeats[placed].sum()) == expected["images_with_repeats"]
    for variant in expected["variants"]:
        settings = BatchSettings(expected["batch_size"], variant["world_size"], variant["grad_accum"])
        epoch = count_epoch(ids, repeats, BatchingRule.KOHYA, settings, bucket_count=len(index))
        _assert_variant_counts(epoch, expected, variant)
        epochs, total, last = training_length(epoch.optimizer_steps_per_epoch, max_train_steps=1600)
        assert (epochs, total, last) == (
            variant["num_train_epochs_if_max_train_steps_1600"],
            1600,
            variant["last_epoch_update_steps_if_max_train_steps_1600"],
        )
    settings = BatchSettings(expected["batch_size"])
    epoch = count_epoch(ids, repeats, BatchingRule.KOHYA, settings, bucket_count=len(index))
    for row in expected["per_bucket"]:
        j = index[tuple(row["bucket"])]
        assert (epoch.samples[j], epoch.batches[j], epoch.trained[j]) == (row["images"], row["batches"], row["trained"])
        assert (epoch.dropped[j], epoch.padded[j]) == (row["dropped"], row["duplicated"])
    assert len(expected["per_bucket"]) == len(index)
    assert np.allclose(epoch.times_expected[placed], repeats[placed])
    assert (epoch.times_min[placed] == repeats[placed]).all()


def _assert_variant_counts(epoch, expected: dict, variant: dict) -> None:
    """The steps of one processes x accumulation variant, as the trainer's own run counted them."""
    assert int(epoch.batches.sum()) == expected["steps_per_epoch"]
    assert [epoch.steps_per_epoch] * variant["world_size"] == variant["dataloader_len_per_process"]
    assert epoch.padded_batches == variant["padded_batches"]
    assert epoch.optimizer_steps_per_epoch == variant["update_steps_per_epoch"]
    assert (
        training_length(epoch.optimizer_steps_per_epoch, epochs=10)[1]
        == (variant["max_train_steps_if_max_train_epochs_10"])
    )


@pytest.mark.parametrize("number", [i for i, c in enumerate(CASES) if c["trainer"] == "musubi-tuner"])
def test_musubi_case(number):
    expected = CASES[number]["batching"]
    bucket, repeats = _rows_from_counts(expected["per_bucket"])
    for variant in expected["variants"]:
        settings = BatchSettings(expected["batch_size"], variant["world_size"], variant["grad_accum"])
        epoch = count_epoch(bucket, repeats, BatchingRule.MUSUBI, settings, bucket_count=len(expected["per_bucket"]))
        _assert_variant_counts(epoch, expected, variant)
    assert int(epoch.trained.sum()) == expected["items_trained"]
    for j, row in enumerate(expected["per_bucket"]):
        assert (epoch.batches[j], epoch.trained[j], epoch.dropped[j], epoch.padded[j]) == (
            row["batches"],
            row["trained"],
            row["dropped"],
            row["duplicated"],
        )


@pytest.mark.parametrize("number", [i for i, c in enumerate(CASES) if c["trainer"] == "onetrainer-mgds"])
def test_onetrainer_case(number):
    case = CASES[number]
    expected = case["batching"]
    settings = BatchSettings(expected["batch_size"], expected["world_size"])
    steps = []
    for record in expected["epochs"]:
        e = record["epoch"]
        ids, index = _ids([p["extra"]["buckets"][e] for p in case["placements"]])
        epoch = count_epoch(ids, 1, BatchingRule.ONETRAINER, settings, bucket_count=len(index))
        steps.append(epoch.steps_per_epoch)
        assert [epoch.steps_per_epoch] * expected["world_size"] == record["steps_per_rank"]
        shown = epoch.steps_per_epoch if case["settings"]["latent_caching"] else epoch.trainer_estimate
        assert [shown] * expected["world_size"] == record["approximate_length_per_rank"]
        assert len(record["per_bucket"]) == len(index)
        trained_per_image = np.array([p["extra"]["trained"][e] for p in case["placements"]])
        assert ((epoch.times_min <= trained_per_image) & (trained_per_image <= epoch.times_max)).all()
        for row in record["per_bucket"]:
            j = index[tuple(row["bucket"])]
            assert (epoch.images[j], epoch.batches[j], epoch.trained[j], epoch.dropped[j]) == (
                row["images"],
                row["batches"],
                row["trained"],
                row["dropped"],
            )
            assert epoch.padded[j] == row["duplicated"]
            assert int(trained_per_image[ids == j].sum()) == row["trained"]
        assert math.isclose(epoch.times_expected.sum(), epoch.trained.sum())
    assert steps[0] == expected["steps_per_epoch"]
    for variant in expected["grad_accum_variants"]:
        assert onetrainer_updates(steps, variant["grad_accum"]) == variant["update_steps_per_epoch"]


def test_every_case_is_checked():
    trainers = {c["trainer"] for c in CASES}
    assert trainers == {"kohya", "musubi-tuner", "onetrainer-mgds"}
    assert len(CASES) == 32


def _other_batching(name: str) -> list[dict]:
    entries = []
    for case in load_vectors(name)["cases"]:
        batching = case.get("batching")
        if batching:
            entries += batching if isinstance(batching, list) else [batching]
    return entries


@pytest.mark.parametrize("entry", _other_batching("diffusion_pipe"), ids=lambda e: e["dataset"][:12])
def test_diffusion_pipe_batching(entry):
    bucket, repeats = _rows_from_counts(entry["per_bucket"], "samples")
    settings = BatchSettings(entry["batch_size"], entry["world_size"], entry["grad_accum"])
    epoch = count_epoch(bucket, repeats, BatchingRule.DIFFUSION_PIPE, settings, bucket_count=len(entry["per_bucket"]))
    assert epoch.optimizer_steps_per_epoch == entry["steps_per_epoch"]
    for j, row in enumerate(entry["per_bucket"]):
        assert (epoch.samples[j], epoch.batches[j], epoch.trained[j], epoch.dropped[j], epoch.padded[j]) == (
            row["samples"],
            row["batches"],
            row["trained"],
            row["dropped"],
            row["duplicated"],
        )


@pytest.mark.parametrize("entry", _other_batching("ai_toolkit"), ids=lambda e: str(e["batch_size"]))
def test_ai_toolkit_batching(entry):
    bucket, repeats = _rows_from_counts(entry["per_bucket"])
    settings = BatchSettings(entry["batch_size"], entry["world_size"], entry["grad_accum"])
    epoch = count_epoch(bucket, repeats, BatchingRule.AI_TOOLKIT, settings, bucket_count=len(entry["per_bucket"]))
    assert epoch.steps_per_epoch == entry["steps_per_epoch"]
    for j, row in enumerate(entry["per_bucket"]):
        assert (epoch.batches[j], epoch.trained[j] - epoch.padded[j], epoch.dropped[j], epoch.padded[j]) == (
            row["batches"],
            row["trained"],
            row["dropped"],
            row["duplicated"],
        )


def _simpletuner_entries() -> list[tuple[dict, list[dict]]]:
    """Each batching entry (all 72 combinations, oversubscription too), with the bucket counts of its case."""
    entries = []
    for case in load_vectors("simpletuner")["cases"]:
        batching = case.get("batching") or []
        counted = next((e["per_bucket"] for e in batching if e["per_bucket"]), None)
        entries += [(e, counted) for e in batching]
    return entries


@pytest.mark.parametrize("entry, per_bucket", _simpletuner_entries(), ids=lambda e: str(e)[:0])
def test_simpletuner_batching(entry, per_bucket):
    bucket = np.repeat(np.arange(len(per_bucket)), [row["images"] for row in per_bucket])
    settings = BatchSettings(entry["batch_size"], entry["world_size"], entry["grad_accum"])
    oversubscription = entry["allow_dataset_oversubscription"]
    epoch = count_epoch(
        bucket, entry["repeats"], BatchingRule.SIMPLETUNER, settings, allow_oversubscription=oversubscription
    )
    if entry["error"]:
        assert "zero usable batches" in entry["error"]
        assert f"zero usable batches: {entry['failing_buckets']} bucket(s)" in epoch.refused
        assert epoch.optimizer_steps_per_epoch == 0 and epoch.times_max.max() == 0
        return
    assert not epoch.refused
    assert epoch.steps_per_epoch == entry["len_metadata_backend_per_rank"][0]
    assert epoch.optimizer_steps_per_epoch == entry["steps_per_epoch"]
    assert epoch.batches.tolist() == [row["batches"] for row in entry["per_bucket"]]
    assert epoch.padded.tolist() == [row["duplicated"] for row in entry["per_bucket"]]
