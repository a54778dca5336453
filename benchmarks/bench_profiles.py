"""Placement speed of every profile against the kohya profile, on the same random sizes in the same run.

Prints seconds per profile (best of a few runs) and the ratio to kohya, plus ``compare`` over all
profiles. SimpleTuner's rule depends on the images before (its aspect map), so it runs as one block
instead of a thread per core.

    python benchmarks/bench_profiles.py [--images 1000000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from aspectbucket import PROFILES, place
from aspectbucket.compare import compare_sizes


def best_of(repeats: int, run) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    widths = rng.integers(64, 6000, args.images)
    heights = np.clip((widths / np.exp(rng.uniform(-1.5, 1.5, args.images))).astype(np.int64), 64, None)
    baseline = best_of(args.repeats, lambda: place(widths, heights, profile="kohya"))
    print(f"{args.images:,} images, best of {args.repeats}")
    print(f"{'profile':<12} {'seconds':>8} {'x kohya':>8}")
    for name in PROFILES:
        seconds = best_of(args.repeats, lambda name=name: place(widths, heights, profile=name))
        print(f"{name:<12} {seconds:8.3f} {seconds / baseline:8.2f}")
    seconds = best_of(1, lambda: compare_sizes(widths, heights, batch_size=4))
    print(f"{'compare all':<12} {seconds:8.3f} {seconds / baseline:8.2f}")


if __name__ == "__main__":
    main()
