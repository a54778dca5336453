"""The vectorised epoch counts against the batch-by-batch reference, and the edge cases of counting."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aspectbucket.geometry.ledger import (
    BatchingError,
    BatchingRule,
    BatchSettings,
    Reason,
    count_epoch,
    kohya_regularization_repeats,
    onetrainer_updates,
    training_length,
)
from aspectbucket.geometry.ledger_reference import reference_epoch

REFERENCE_RULES = [rule for rule in BatchingRule if rule is not BatchingRule.NOVELAI]


@st.composite
def datasets(draw):
    n = draw(st.integers(0, 40))
    buckets = draw(st.lists(st.integers(-1, 5), min_size=n, max_size=n))
    repeats = draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))
    batch = BatchSettings(draw(st.integers(1, 5)), draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    return np.array(buckets, dtype=np.int64), np.array(repeats, dtype=np.int64), batch


@settings(max_examples=300, deadline=None)
@given(datasets(), st.sampled_from(REFERENCE_RULES), st.integers(0, 3))
def test_counts_match_the_batch_by_batch_reference(data, rule, seed):
    buckets, repeats, batch = data
    if rule is BatchingRule.SIMPLETUNER:  # one repeats value per dataset: per bucket here
        repeats = np.where(buckets >= 0, np.maximum(buckets, 0) % 3, repeats)
    epoch = count_epoch(buckets, repeats, rule, batch, bucket_count=6)
    reference = reference_epoch(buckets, repeats, rule, batch, seed=seed)
    assert bool(epoch.refused) == reference["refused"]
    assert epoch.steps_per_epoch == reference["steps"]
    assert epoch.optimizer_steps_per_epoch == reference["optimizer_steps"]
    for bucket, row in reference["per_bucket"].items():
        assert epoch.batches[bucket] == row["batches"]
        assert epoch.dropped[bucket] == row["dropped"]
        assert epoch.padded[bucket] == row["padded"]
        assert epoch.trained[bucket] == row["trained"]
    times = np.array(reference["times"], dtype=np.int64)
    assert (epoch.times_min <= times).all() and (times <= epoch.times_max).all()
    assert np.isclose(epoch.times_expected.sum(), times.sum())


@settings(max_examples=100, deadline=None)
@given(datasets())
def test_novelai_delivers_its_fixed_step_count(data):
    buckets, repeats, batch = data
    epoch = count_epoch(buckets, repeats, BatchingRule.NOVELAI, batch, bucket_count=6)
    total = int(np.where(buckets >= 0, repeats, 0).sum())
    assert epoch.steps_per_epoch == total // (batch.batch_size * batch.processes)
    assert np.isclose(epoch.times_expected.sum(), epoch.steps_per_epoch * batch.batch_size * batch.processes)
    assert epoch.random


def test_bad_settings_are_one_line_errors():
    for bad in (dict(batch_size=0), dict(processes=-1), dict(grad_accum=1.5), dict(batch_size=True)):
        with pytest.raises(BatchingError) as error:
            BatchSettings(**bad)
        assert "\n" not in str(error.value)
    with pytest.raises(BatchingError, match="negative"):
        count_epoch([0, 0], [1, -1], "kohya", BatchSettings())
    with pytest.raises(BatchingError, match="3 values for 2 images"):
        count_epoch([0, 0], [1, 1, 1], "kohya", BatchSettings())
    with pytest.raises(BatchingError, match="whole numbers"):
        count_epoch([0], [1.5], "kohya", BatchSettings())
    with pytest.raises(BatchingError, match="not both"):
        training_length(10, epochs=2, max_train_steps=5)
    with pytest.raises(BatchingError, match="one repeats value per dataset"):
        count_epoch([0, 0], [1, 2], "simpletuner", BatchSettings())
    two_datasets = count_epoch([0, 1], [0, 2], "simpletuner", BatchSettings())  # repeats per bucket: fine
    assert two_datasets.steps_per_epoch == 1 + 3


@pytest.mark.parametrize("rule", list(BatchingRule))
def test_empty_dataset_and_one_image_buckets(rule):
    empty = count_epoch([], [], rule, BatchSettings(4, 2, 2))
    assert empty.steps_per_epoch == 0 and len(empty.batches) == 0 and len(empty.times_expected) == 0
    one = count_epoch([0, 1, -1], [1, 1, 1], rule, BatchSettings(4))
    assert one.reason[2] == Reason.NO_BUCKET
    assert one.images.tolist() == [1, 1]


def test_drop_rules_say_why_an_image_is_never_trained():
    epoch = count_epoch([0, 1, 1, 1, 1, 1], 1, "onetrainer", BatchSettings(2, 2))
    assert epoch.reason[0] == Reason.BUCKET_TOO_SMALL and epoch.times_max[0] == 0
    assert (epoch.reason[1:] == Reason.REMAINDER_DROPPED).all()
    assert np.allclose(epoch.times_expected[1:], 4 / 5)
    zero = count_epoch([0, 0], [0, 1], "kohya", BatchSettings())
    assert zero.reason.tolist() == [Reason.ZERO_REPEATS, Reason.TRAINED]


def test_kohya_regularization_expansion():
    repeats = np.array([10, 3, 1, 1, 1])
    reg = np.array([False, False, True, True, True])
    # 13 training samples: three reg images take 1 each in the first pass, then one at a time in turn.
    assert kohya_regularization_repeats(repeats, reg, np.ones(5, bool)).tolist() == [10, 3, 5, 4, 4]
    # Reg repeats already above the training count: images past it are never registered.
    big = kohya_regularization_repeats([2, 5, 5], [False, True, True], np.ones(3, bool))
    assert big.tolist() == [2, 5, 0]


def test_onetrainer_accumulation_runs_across_epochs():
    assert onetrainer_updates([30, 30], 4) == [7, 8]
    assert onetrainer_updates([196, 197], 4) == [49, 49]
