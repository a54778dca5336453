"""The sampler's trainer policies: each epoch has the counts of that trainer's ledger, on every process."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aspectbucket.geometry.epoch import TRAINER_EPOCHS, bucket_ids
from aspectbucket.geometry.ledger import BatchSettings, count_epoch
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


@settings(max_examples=60, deadline=None)
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
    ledger = count_epoch(image_bucket, repeats, rule, BatchSettings(batch, processes, accum))
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
