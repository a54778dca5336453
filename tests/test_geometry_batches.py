"""Steps per epoch and the epoch builder: every policy's batches, counted and checked sample by sample."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aspectbucket.geometry.batches import (
    BatchPolicy,
    batches_per_bucket,
    dropped_and_padded,
    parse_batch_policy,
    steps_per_epoch,
)
from aspectbucket.geometry.epoch import bucket_ids, build_epoch, ratio_order

SHAPES = np.array([[512, 512], [576, 448], [448, 576], [640, 384], [384, 640], [704, 320]])


def test_sd_scripts_example_counts_short_batches():
    assert steps_per_epoch([30, 10, 5, 1], 4) == 14
    assert steps_per_epoch([30, 10, 5, 1], 4, "drop") == 7 + 2 + 1 + 0
    assert steps_per_epoch([30, 10, 5, 1], 4, "pad") == 14
    assert steps_per_epoch([30, 10, 5, 1], 4, "merge") == 12
    assert dropped_and_padded([30, 10, 5, 1], 4, BatchPolicy.DROP) == (2 + 2 + 1 + 1, 0)
    assert dropped_and_padded([30, 10, 5, 1], 4, BatchPolicy.PAD) == (0, 2 + 2 + 3 + 3)


def test_several_processes_count_global_batches():
    assert steps_per_epoch([30, 10, 5, 1], 4, "short", num_replicas=2) == 4 + 2 + 1 + 1
    assert batches_per_bucket([30, 10, 5, 1], 4, "merge", num_replicas=2).tolist() == [3, 1, 0, 0]
    # a last batch of one sample on three processes repeats it for the two others
    assert dropped_and_padded([1], 4, "short", num_replicas=3) == (0, 2)
    assert dropped_and_padded([13, 2], 4, "merge", num_replicas=3) == (0, 0)
    assert dropped_and_padded([13, 1], 4, "merge", num_replicas=3) == (0, 1)


def test_bad_policy_and_sizes_name_the_problem():
    with pytest.raises(ValueError, match="'longest' is not one of: short, drop, pad, merge"):
        parse_batch_policy("longest")
    with pytest.raises(ValueError, match="batch size 0"):
        steps_per_epoch([3], 0)
    with pytest.raises(ValueError, match="processes -1"):
        steps_per_epoch([3], 2, num_replicas=-1)


def test_bucket_ids_number_shapes_and_skip_failures():
    ids, shapes = bucket_ids([768, 512, 0, 768], [512, 512, 0, 512])
    assert ids.tolist() == [1, 0, -1, 1]
    assert shapes.tolist() == [[512, 512], [768, 512]]


def test_ratio_order_goes_from_tall_to_wide():
    assert SHAPES[ratio_order(SHAPES)].tolist() == [
        [384, 640],
        [448, 576],
        [512, 512],
        [576, 448],
        [640, 384],
        [704, 320],
    ]


def _epoch_samples(epoch) -> list[tuple[int, int, int]]:
    """(step, rank, image) of every sample the epoch hands out."""
    return [
        (step, rank, int(image))
        for step in range(len(epoch))
        for rank in range(epoch.num_replicas)
        for image in epoch.batch(step, rank)
    ]


datasets = st.integers(1, 40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(-1, len(SHAPES) - 1), min_size=n, max_size=n),
        st.lists(st.integers(0, 4), min_size=n, max_size=n),
    )
)


@settings(max_examples=150, deadline=None)
@given(
    datasets,
    st.integers(1, 6),
    st.sampled_from(list(BatchPolicy)),
    st.integers(1, 4),
    st.integers(0, 3),
)
def test_epoch_matches_counts_and_keeps_every_rule(data, batch_size, policy, num_replicas, seed):
    buckets, repeats = np.array(data[0]), np.array(data[1])
    trained = buckets >= 0
    counts = np.bincount(buckets[trained], weights=repeats[trained], minlength=len(SHAPES)).astype(int)
    epoch = build_epoch(buckets, repeats, SHAPES, batch_size, policy, seed=seed, num_replicas=num_replicas)

    assert len(epoch) == steps_per_epoch(counts, batch_size, policy, num_replicas)
    dropped, padded = dropped_and_padded(counts, batch_size, policy, num_replicas)
    handed_out = _epoch_samples(epoch)
    assert len(handed_out) == counts.sum() - dropped + padded
    seen = Counter(image for _, _, image in handed_out)
    expected = Counter({image: int(repeats[image]) for image in np.flatnonzero(trained & (repeats > 0))})
    if policy is BatchPolicy.DROP:
        assert not seen - expected  # nothing extra, nothing repeated
    else:
        assert not expected - seen  # every repeat of every image is trained
    if padded == 0:
        assert not seen - expected
    for step in range(len(epoch)):
        lengths = [len(epoch.batch(step, rank)) for rank in range(num_replicas)]
        assert min(lengths) >= 1 and max(lengths) <= batch_size and max(lengths) - min(lengths) <= 1
        own = {int(buckets[image]) for rank in range(num_replicas) for image in epoch.batch(step, rank)}
        if policy is BatchPolicy.MERGE:
            assert int(epoch.bucket[step]) in own
        else:
            assert own == {int(epoch.bucket[step])}


def test_only_the_last_merged_batch_is_short():
    buckets = np.repeat(np.arange(6), [5, 6, 7, 1, 2, 3])
    epoch = build_epoch(buckets, 1, SHAPES, 4, "merge", shuffle=False)
    assert sorted(epoch.length.tolist()) == [4] * 6
    epoch = build_epoch(buckets[:-1], 1, SHAPES, 4, "merge", shuffle=False)
    assert sorted(epoch.length.tolist()) == [3] + [4] * 5


def test_merged_leftovers_go_to_the_middle_neighbour_by_ratio():
    # leftovers: one 384x640, two 448x576, one 512x512 -> one batch cropped to 448x576
    buckets = np.array([4, 2, 2, 0, 0, 0, 0, 0])
    epoch = build_epoch(buckets, 1, SHAPES, 4, "merge", shuffle=False)
    last = [step for step in range(len(epoch)) if sorted(epoch.batch(step).tolist()) != [3, 4, 5, 6]]
    merged = last[0]
    assert SHAPES[epoch.bucket[merged]].tolist() == [448, 576]
    assert sorted(epoch.batch(merged).tolist()) == [0, 1, 2, 7]


def test_same_seed_and_epoch_give_the_same_epoch_and_another_epoch_reshuffles():
    buckets = np.arange(300) % 3
    first = build_epoch(buckets, 2, SHAPES, 4, "short", seed=7, epoch=1)
    again = build_epoch(buckets, 2, SHAPES, 4, "short", seed=7, epoch=1)
    other = build_epoch(buckets, 2, SHAPES, 4, "short", seed=7, epoch=2)
    order = [first.batch(step).tolist() for step in range(len(first))]
    assert order == [again.batch(step).tolist() for step in range(len(again))]
    assert order != [other.batch(step).tolist() for step in range(len(other))]


def test_without_shuffle_batches_follow_the_bucket_order():
    epoch = build_epoch([0, 0, 0, 1, 1], 1, SHAPES, 2, "short", shuffle=False)
    assert [epoch.batch(step).tolist() for step in range(len(epoch))] == [[0, 1], [3, 4], [2]]


def test_inputs_are_checked():
    with pytest.raises(ValueError, match="bucket id 9"):
        build_epoch([9], 1, SHAPES, 2)
    with pytest.raises(ValueError, match="repeats"):
        build_epoch([0], -1, SHAPES, 2)
    with pytest.raises(ValueError, match="rank 2"):
        build_epoch([0, 0], 1, SHAPES, 1, num_replicas=2).batch(0, 2)
