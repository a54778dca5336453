"""Bulk replays of Python's ``random`` draws against the ``random`` module itself."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aspectbucket.geometry.python_random import randbelow_many

bounds_lists = st.lists(
    st.one_of(st.integers(1, 8), st.integers(1, 1 << 20), st.sampled_from([2**k for k in range(32)] + [2**32 - 1])),
    min_size=0,
    max_size=300,
)


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**64), bounds=bounds_lists, warm_up=st.integers(0, 700))
def test_bulk_draws_equal_randrange_calls_and_leave_the_same_state(seed, bounds, warm_up):
    """Same values as one ``randrange`` call per bound, from any position of the generator (``warm_up``
    words in, across the 624-word refills), and the generator ends where the calls leave it."""
    bulk, calls = random.Random(seed), random.Random(seed)
    for generator in (bulk, calls):
        generator.getrandbits(32 * warm_up + 1)
    values = randbelow_many(bulk, bounds)
    assert values.dtype == np.int64
    assert values.tolist() == [calls.randrange(bound) for bound in bounds]
    assert bulk.getstate() == calls.getstate()
    assert [bulk.random() for _ in range(3)] == [calls.random() for _ in range(3)]


def test_many_draws_over_several_chunks_equal_the_calls():
    bounds = np.random.default_rng(3).integers(1, 6000, 200_000)
    bulk, calls = random.Random(11), random.Random(11)
    assert randbelow_many(bulk, bounds).tolist() == [calls.randrange(int(bound)) for bound in bounds]
    assert bulk.getstate() == calls.getstate()


def test_the_gaussian_carry_survives_and_subclasses_draw_call_by_call():
    class Counting(random.Random):
        calls = 0

        def randrange(self, *args):
            Counting.calls += 1
            return super().randrange(*args)

    bulk, calls = random.Random(5), random.Random(5)
    bulk.gauss(0, 1), calls.gauss(0, 1)  # leaves a second normal value in the state
    assert randbelow_many(bulk, [7] * 100).tolist() == [calls.randrange(7) for _ in range(100)]
    assert bulk.gauss(0, 1) == calls.gauss(0, 1)
    counting, reference = Counting(5), random.Random(5)
    assert randbelow_many(counting, [9] * 50).tolist() == [reference.randrange(9) for _ in range(50)]
    assert Counting.calls == 50


def test_bounds_below_one_are_refused():
    with pytest.raises(ValueError):
        randbelow_many(random.Random(0), [3, 0])


def test_too_few_words_made_are_made_up_for(monkeypatch):
    """When a chunk runs out of words it is replayed with more: the draws and the state still match."""
    from aspectbucket.geometry import python_random

    monkeypatch.setattr(python_random, "_words_wanted", lambda expected: 3)
    monkeypatch.setattr(python_random, "_CHUNK", 50)
    bounds = np.random.default_rng(4).integers(1, 300, 1000)
    bulk, calls = random.Random(21), random.Random(21)
    assert randbelow_many(bulk, bounds).tolist() == [calls.randrange(int(bound)) for bound in bounds]
    assert bulk.getstate() == calls.getstate()
