"""Placement speed: the vectorised public API against a per-image loop written the way sd-scripts does it.

Both place the same random sizes with the same options; the loop calls ``select_bucket`` once per
image (numpy argmin over the bucket ratios, as sd-scripts' BucketManager does). Results are also
compared, so a fast wrong answer cannot pass. Target (issue 2): at least 100x faster than the loop.

    python benchmarks/bench_place.py [--images 1000000] [--loop-images 1000000]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from aspectbucket import BucketOptions, place
from aspectbucket.geometry.reference import ReferenceBucketManager
from aspectbucket.profiles.profile import BLOCK_ROWS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--loop-images", type=int, default=None, help="images for the loop (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5, help="runs of the vectorised call; the best counts")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    widths = rng.integers(64, 6000, args.images)
    heights = rng.integers(64, 6000, args.images)
    loop_count = args.loop_images or args.images
    print(
        f"{args.images:,} random sizes 64..6000 px, budget 1024x1024, steps 64; loop measured on {loop_count:,}; "
        f"{os.cpu_count()} cores (placement: blocks of {BLOCK_ROWS:,} rows on a thread per core), "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    for no_upscale in (False, True):
        options = BucketOptions((1024, 1024), 256, 2048, 64, no_upscale)
        place(widths[:1000], heights[:1000], options)  # warm-up: imports, caches
        vector_seconds = float("inf")
        for _ in range(args.repeats):  # best of several: the loop below is long enough not to need it
            start = time.perf_counter()
            placement = place(widths, heights, options)
            _ = placement.ar_error  # the loop returns it too
            vector_seconds = min(vector_seconds, time.perf_counter() - start)
        manager = ReferenceBucketManager(options)
        buckets = np.empty((loop_count, 2), dtype=np.int64)
        start = time.perf_counter()
        for i in range(loop_count):
            buckets[i] = manager.select_bucket(int(widths[i]), int(heights[i]))[0]
        loop_seconds = time.perf_counter() - start
        same = np.array_equal(buckets[:, 0], placement.bucket_width[:loop_count]) and np.array_equal(
            buckets[:, 1], placement.bucket_height[:loop_count]
        )
        vector_rate = args.images / vector_seconds
        loop_rate = loop_count / loop_seconds
        print(
            f"no_upscale={no_upscale!s:5}  vectorised: {vector_seconds:7.3f} s  {vector_rate:12,.0f} images/s | "
            f"sd-scripts loop: {loop_seconds:7.2f} s  {loop_rate:9,.0f} images/s | "
            f"speed-up {vector_rate / loop_rate:6.0f}x | same buckets: {same}"
        )


if __name__ == "__main__":
    main()
