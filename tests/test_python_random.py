"""Bulk replays of Python's ``random`` draws against the ``random`` module itself."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aspectbucket.geometry import python_random, python_random_compiled
from aspectbucket.geometry.python_random import randbelow_many
from aspectbucket.geometry.python_random_compiled import compiled_replay, replay_draws

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
    monkeypatch.setattr(python_random, "compiled_replay", lambda load: None)  # the Python replay's chunks
    monkeypatch.setattr(python_random, "_words_wanted", lambda expected: 3)
    monkeypatch.setattr(python_random, "_CHUNK", 50)
    bounds = np.random.default_rng(4).integers(1, 300, 1000)
    bulk, calls = random.Random(21), random.Random(21)
    assert randbelow_many(bulk, bounds).tolist() == [calls.randrange(int(bound)) for bound in bounds]
    assert bulk.getstate() == calls.getstate()


# The compiled replay (numba, the optional extra "fast"). The README's test command installs it; elsewhere
# these tests skip, unless CI asks for them.
def _compiled_or_skip():
    if not os.environ.get("CI"):
        pytest.importorskip("numba")
    compiled = compiled_replay()
    assert compiled is not None, "numba is installed but the replay did not compile"
    return compiled


edge_bounds = st.lists(
    st.one_of(
        st.sampled_from([1, 2, 3]),
        st.integers(1, 1 << 20),
        st.integers(2**31, 2**32 - 1),
        st.sampled_from([2**k for k in range(32)] + [2**k + 1 for k in range(31)]),
    ),
    min_size=0,
    max_size=400,
)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**64), bounds=edge_bounds, warm_up=st.integers(0, 1300))
def test_compiled_and_python_replays_equal_the_calls_and_leave_the_same_state(seed, bounds, warm_up):
    """Both paths of ``randbelow_many`` (numba forced on, numba left out) against one ``randrange`` call per
    bound: bounds of 1 (no bits), 2**31 to 2**32-1 (a whole word, rejected up to half the time) and every
    power of two and one above it, from any position across the 624-word refills."""
    _compiled_or_skip()
    compiled, python, calls = (random.Random(seed) for _ in range(3))
    for generator in (compiled, python, calls):
        generator.getrandbits(32 * warm_up + 1)
    with patch.object(python_random, "COMPILE_WORTH", 0):
        compiled_values = randbelow_many(compiled, bounds)
    with patch.object(python_random, "compiled_replay", lambda load: None):
        python_values = randbelow_many(python, bounds)
    expected = [calls.randrange(bound) for bound in bounds]
    assert compiled_values.tolist() == python_values.tolist() == expected
    assert compiled.getstate() == python.getstate() == calls.getstate()
    assert compiled.random() == calls.random()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), bounds=edge_bounds.filter(len), position=st.integers(0, 624))
def test_the_compiled_replay_equals_its_own_source_run_by_python(seed, bounds, position):
    """``replay_draws`` compiled and interpreted give the same values, key and position, from any position
    (624: the key is used up and regenerated before the first draw)."""
    compiled = _compiled_or_skip()
    key = np.array(random.Random(seed).getstate()[1][:-1], dtype=np.int64)
    bounds = np.array(bounds, dtype=np.int64)
    shifts = 32 - np.frexp(bounds.astype(np.float64))[1].astype(np.int64)
    runs = []
    for replay in (compiled, replay_draws):
        run_key, values = key.copy(), np.empty(len(bounds), dtype=np.int64)
        runs.append((replay(run_key, position, bounds, shifts, values), run_key.tolist(), values.tolist()))
    assert runs[0] == runs[1]


def test_millions_of_compiled_draws_equal_the_calls():
    """A replay long enough to load numba by itself (no forcing): many refills, the state after them."""
    _compiled_or_skip()
    bounds = np.random.default_rng(5).integers(1, 2**32, python_random.COMPILE_WORTH, dtype=np.int64)
    bulk, calls = random.Random(13), random.Random(13)
    assert randbelow_many(bulk, bounds).tolist() == [calls.randrange(bound) for bound in bounds.tolist()]
    assert bulk.getstate() == calls.getstate()


def test_numba_is_not_imported_with_the_package_nor_for_few_draws():
    script = (
        "import random, sys; import aspectbucket; from aspectbucket.geometry.python_random import randbelow_many;"
        "randbelow_many(random.Random(1), [5] * 1000); print('numba' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_without_numba_every_replay_runs_in_python(monkeypatch):
    monkeypatch.setattr(python_random_compiled, "_compiled", [])
    monkeypatch.setitem(sys.modules, "numba", None)  # makes "import numba" raise ImportError
    monkeypatch.setattr(python_random, "COMPILE_WORTH", 0)
    bounds = np.random.default_rng(6).integers(1, 5000, 3000)
    bulk, calls = random.Random(17), random.Random(17)
    assert randbelow_many(bulk, bounds).tolist() == [calls.randrange(int(bound)) for bound in bounds]
    assert bulk.getstate() == calls.getstate()
    assert python_random_compiled._compiled == [None]


def test_a_numba_that_cannot_compile_here_leaves_every_replay_in_python(monkeypatch):
    """``cache=True`` raises where no cache folder is writable (a read-only container without a home)."""
    numba = pytest.importorskip("numba")

    def no_cache_folder(*args, **kwargs):
        raise RuntimeError("cannot cache function 'replay_draws': no locator available")

    monkeypatch.setattr(python_random_compiled, "_compiled", [])
    monkeypatch.setattr(numba, "njit", no_cache_folder)
    monkeypatch.setattr(python_random, "COMPILE_WORTH", 0)  # this replay tries to compile
    bounds = [7, 1, 2**32 - 1] * 1000
    first, second = random.Random(3), random.Random(3)
    assert python_random.randbelow_many(first, bounds).tolist() == [second.randrange(n) for n in bounds]
    assert compiled_replay() is None and python_random_compiled._compiled == [None]
    assert first.random() == second.random()
