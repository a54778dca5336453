"""The sampler's trainer policies: each epoch has the counts of that trainer's ledger, on every process."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aspectbucket.geometry.epoch import TRAINER_EPOCHS, bucket_ids
from aspectbucket.geometry.ledger import BatchingError, BatchingRule, BatchSettings, count_epoch
from aspectbucket.torch import BucketBatchSampler

SHAPES = [(512, 512), (576, 448), (448, 576), (640, 384), (704, 320)]


def all_ranks(widths, heights, repeats, batch, rule, processes, accum):
    samplers = [
        BucketBatchSampler(
            widths, heights, batch, repeats=repeats, policy=rule, num_replicas=processes, rank=rank, grad_accum=accum
        )
        for rank in range(processes)
    ]
    return samplers, [list(sampler) for sampler in samplers]


@settings(max_examples=120, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 4), st.integers(0, 3)), min_size=1, max_size=40),
    st.sampled_from(sorted(TRAINER_EPOCHS)),
    st.integers(1, 4),
    st.integers(1, 3),
    st.integers(1, 3),
)
def test_each_trainer_policy_has_its_ledger_counts(rows, rule, batch, processes, accum):
    shape_index, repeats = np.array(rows).T
    widths = np.array([SHAPES[i][0] for i in shape_index])
    heights = np.array([SHAPES[i][1] for i in shape_index])
    trained = int((repeats > 0).sum())
    if trained and repeats.sum() < processes:
        return
    image_bucket, _ = bucket_ids(widths, heights)
    if rule is BatchingRule.SIMPLETUNER:
        # One repeats value per dataset (here per bucket); its ledger takes SimpleTuner's repeats (extra
        # passes), the sampler passes.
        first = {}
        for shape, count in zip(shape_index.tolist(), repeats.tolist(), strict=True):
            first.setdefault(shape, count)
        repeats = np.array([first[shape] for shape in shape_index.tolist()]) + 1
        ledger_repeats = repeats - 1
    else:
        ledger_repeats = repeats
    try:
        ledger = count_epoch(image_bucket, ledger_repeats, rule, BatchSettings(batch, processes, accum))
    except BatchingError as error:  # SimpleTuner: a bucket mixing repeats; the sampler refuses it too
        with pytest.raises(ValueError, match="one repeats value"):
            all_ranks(widths, heights, repeats, batch, rule, processes, accum)
        assert "one repeats value" in str(error)
        return
    if ledger.refused:  # SimpleTuner stops before training ("zero usable batches"); so does the sampler
        with pytest.raises(ValueError, match="zero usable batches"):
            all_ranks(widths, heights, repeats, batch, rule, processes, accum)
        return
    samplers, batches = all_ranks(widths, heights, repeats, batch, rule, processes, accum)
    for sampler, rank_batches in zip(samplers, batches, strict=True):
        assert len(sampler) == len(rank_batches) == ledger.steps_per_epoch
    if TRAINER_EPOCHS[rule].lockstep:  # every step, all processes see one bucket shape
        for step in zip(*batches, strict=True):
            assert len({(draw.width, draw.height) for batch_ in step for draw in batch_}) <= 1
    seen = Counter((draw.epoch, draw.slot) for rank_batches in batches for batch_ in rank_batches for draw in batch_)
    per_bucket = Counter()
    for rank_batches in batches:
        for batch_ in rank_batches:
            for draw in batch_:
                per_bucket[(draw.width, draw.height)] += 1
    if TRAINER_EPOCHS[rule].lockstep:
        # Each sample once; padding only where the trainer pads.
        for j, shape in enumerate(_shapes(widths, heights)):
            assert per_bucket[shape] == ledger.trained[j]
    else:
        # Dealt batches: accelerate repeats whole batches from the start; without them, the ledger's samples.
        assert ledger.padded_batches == sum(len(b) for b in batches) - int(ledger.batches.sum())
        assert len(seen) == int(ledger.trained.sum())


def _shapes(widths, heights):
    _, shapes = bucket_ids(widths, heights)
    return [tuple(shape) for shape in shapes.tolist()]


def test_trainer_policies_are_named_in_errors_and_state():
    with pytest.raises(ValueError, match="kohya"):
        BucketBatchSampler([512], [512], 1, policy="bogus")
    sampler = BucketBatchSampler([512, 512, 512], [512, 512, 512], 2, policy="onetrainer")
    assert sampler.state_dict()["policy"] == "onetrainer" and len(sampler) == 1
    assert [len(batch) for batch in sampler] == [2]
    ai_toolkit = BucketBatchSampler([512, 512, 512], [512, 512, 512], 2, policy="ai-toolkit")
    assert [len(batch) for batch in ai_toolkit] == [2, 2]


def test_simpletuner_policy_splits_each_bucket_between_processes_and_pads_the_shorter_share():
    # simpletuner_epoch([21, 166], batch_size=4, processes=2): 6 + 42 batches, one padded sample, 24 steps.
    widths, heights = [512] * 21 + [576] * 166, [512] * 21 + [448] * 166
    samplers, batches = all_ranks(widths, heights, 1, 4, "simpletuner", 2, 1)
    assert [len(sampler) for sampler in samplers] == [len(rank) for rank in batches] == [24, 24]
    for step in zip(*batches, strict=True):
        assert len({(draw.width, draw.height) for batch_ in step for draw in batch_}) == 1
        assert len(step[0]) == len(step[1])
    draws = [draw.image for rank in batches for batch_ in rank for draw in batch_]
    assert len(draws) == 21 + 1 + 166 and set(draws) == set(range(187))
    with pytest.raises(ValueError, match="zero usable batches"):
        BucketBatchSampler([512] * 3, [512] * 3, 4, policy="simpletuner")
    with pytest.raises(ValueError, match="one repeats value"):
        BucketBatchSampler([512] * 3, [512] * 3, 1, repeats=[1, 1, 2], policy="simpletuner")
