"""Benchmark: build and iterate a whole epoch of 10,000,000 samples as a DataLoader does, beside a dict-of-lists loop.

Run: ``python benchmarks/bench_sampler_iteration.py [--images 2000000] [--repeats 5] [--policy kohya]``.
Image sizes are drawn once (seeded) and placed by the kohya profile at 1024x1024 (not timed). Then:

- ours: :class:`aspectbucket.torch.BucketBatchSampler` constructed from the bucket widths and
  heights (as ``from_placement`` does) and iterated to the end, every batch a list of ``Draw``
  (what a ``DataLoader`` with ``batch_sampler=`` pulls), construction and iteration timed apart;
- baseline: the dict-of-lists loop trainers write (a list of image indices per bucket, repeated,
  ``random.shuffle``, sliced into batches, the batch list shuffled, then iterated), on the same
  images, yielding lists of ints.

Peak extra memory is the peak of traced allocations (``tracemalloc``) over construction, the epoch
build and the first ``--memory-batches`` batches, in a separate run: tracing slows every allocation
tenfold, and iteration holds one chunk of steps at a time, so the peak is reached by then (the
baseline is traced whole: its lists are all built before the first batch). Timings are one run each:
the machine these were first taken on was shared and busy, so compare the two columns.

Targets: at least as fast as the baseline loop, peak extra memory under 300 MB.
"""

from __future__ import annotations

import argparse
import itertools
import random
import time
import tracemalloc

import numpy as np

from aspectbucket import BucketOptions, place
from aspectbucket.torch import BucketBatchSampler
from measure import photo_sizes

BATCH_SIZE = 4
OPTIONS = BucketOptions(resolution=(1024, 1024), min_bucket_reso=256, max_bucket_reso=2048)


def placed_buckets(images: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    widths, heights = photo_sizes(images, seed)
    placement = place(widths, heights, OPTIONS)
    return placement.bucket_width, placement.bucket_height


def ours(
    widths, heights, repeats: int, policy: str, batches: int | None = None, batch_size: int = BATCH_SIZE
) -> tuple[float, float, int]:
    """Construct aspectbucket's sampler and iterate ``batches`` of it (all when ``None``): seconds and samples."""
    start = time.perf_counter()
    sampler = BucketBatchSampler(widths, heights, batch_size, repeats=repeats, policy=policy, seed=1)
    built = time.perf_counter()
    samples = sum(len(batch) for batch in itertools.islice(sampler, batches))
    return built - start, time.perf_counter() - built, samples


def dict_of_lists(widths, heights, repeats: int, seed: int = 1):
    """The loop trainers write: per-bucket index lists, shuffled, sliced, batch order shuffled."""
    generator = random.Random(seed)
    per_bucket: dict[tuple[int, int], list[int]] = {}
    for image, key in enumerate(zip(widths.tolist(), heights.tolist(), strict=True)):
        per_bucket.setdefault(key, []).extend([image] * repeats)
    batches = []
    for members in per_bucket.values():
        generator.shuffle(members)
        batches.extend(members[start : start + BATCH_SIZE] for start in range(0, len(members), BATCH_SIZE))
    generator.shuffle(batches)
    yield from batches


def baseline(widths, heights, repeats: int) -> tuple[float, int]:
    start = time.perf_counter()
    samples = sum(len(batch) for batch in dict_of_lists(widths, heights, repeats))
    return time.perf_counter() - start, samples


def peak_mib(function) -> float:
    tracemalloc.start()
    function()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--policy", default="kohya")
    parser.add_argument("--no-memory", action="store_true", help="Skip the (slow, traced) memory runs.")
    parser.add_argument("--memory-batches", type=int, default=50_000, help="Batches iterated in the traced run.")
    arguments = parser.parse_args()
    widths, heights = placed_buckets(arguments.images)
    print(f"{arguments.images:,} images x {arguments.repeats} repeats, batch {BATCH_SIZE}, policy {arguments.policy}")
    construct, iterate, samples = ours(widths, heights, arguments.repeats, arguments.policy)
    loop, loop_samples = baseline(widths, heights, arguments.repeats)
    print(f"{'':<16}{'construct s':>12}{'iterate s':>11}{'total s':>9}{'samples':>13}")
    print(f"{'BucketBatchSampler':<16}{construct:>12.2f}{iterate:>11.2f}{construct + iterate:>9.2f}{samples:>13,}")
    print(f"{'dict of lists':<16}{'':>12}{'':>11}{loop:>9.2f}{loop_samples:>13,}")
    print(f"ratio (dict of lists / ours): {loop / (construct + iterate):.2f}x (target >= 1)")
    if not arguments.no_memory:
        mine = peak_mib(lambda: ours(widths, heights, arguments.repeats, arguments.policy, arguments.memory_batches))
        theirs = peak_mib(lambda: baseline(widths, heights, arguments.repeats))
        print(f"peak extra memory: ours {mine:.0f} MiB (target < 300 MB), dict of lists {theirs:.0f} MiB")


if __name__ == "__main__":
    main()
