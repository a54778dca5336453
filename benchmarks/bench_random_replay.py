"""Python's ``random`` draws in bulk: one ``randrange`` call per draw, the Python replay and the compiled one.

``randbelow_many`` replays ``random.Random.randrange`` bit for bit (SimpleTuner's random crops draw one
per image and side). Its loop is sequential (how many generator words a draw uses depends on every draw
before it); with the optional extra ``fast`` (numba) it is compiled. All three runs start from the same
generator and are checked to give the same values and leave the same state. The compiled replay's first
call (importing numba, loading or compiling the cached code) is printed apart.

    python benchmarks/bench_random_replay.py [--draws 4000000]
"""

from __future__ import annotations

import argparse
import random
import time
from unittest.mock import patch

import numpy as np

from aspectbucket.geometry import python_random
from aspectbucket.geometry.python_random_compiled import compiled_replay


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=4_000_000)
    args = parser.parse_args()
    # Crop rooms as SimpleTuner's: up to a few thousand pixels, about a quarter of them rejected per word.
    bounds = np.random.default_rng(0).integers(1, 6000, args.draws)
    listed = bounds.tolist()
    generators = {name: random.Random(42) for name in ("calls", "python", "compiled")}
    seconds, values = {}, {}
    start = time.perf_counter()
    values["calls"] = [generators["calls"].randrange(bound) for bound in listed]
    seconds["calls"] = time.perf_counter() - start
    with patch.object(python_random, "compiled_replay", lambda load: None):
        start = time.perf_counter()
        values["python"] = python_random.randbelow_many(generators["python"], bounds)
        seconds["python"] = time.perf_counter() - start
    start = time.perf_counter()
    loaded = compiled_replay() is not None
    if loaded:  # the first call with these argument types loads the machine code (compiles it, the first time)
        python_random.randbelow_many(random.Random(0), np.full(python_random.COMPILE_WORTH, 7))
    first_call = time.perf_counter() - start
    if loaded:
        start = time.perf_counter()
        values["compiled"] = python_random.randbelow_many(generators["compiled"], bounds)
        seconds["compiled"] = time.perf_counter() - start
    for name, taken in seconds.items():
        assert np.array_equal(values[name], values["calls"]), f"{name} differs from the calls"
        assert generators[name].getstate() == generators["calls"].getstate(), f"{name} left another state"
        print(
            f"{name:>9}: {taken:6.2f} s, {taken / args.draws * 1e9:6.1f} ns a draw, "
            f"{seconds['calls'] / taken:5.1f}x the calls"
        )
    if loaded:
        print(f"numba import and load of the compiled replay (once per process): {first_call:.2f} s")
    else:
        print("compiled: numba is not installed (pip install 'aspectbucket[fast]')")


if __name__ == "__main__":
    main()
