"""Benchmark: aspectbucket's torch sampler against bucketsampler's, on the same 10,000,000 samples.

Run: ``python benchmarks/bench_sampler_vs_bucketsampler.py [--images 2000000] [--repeats 5]
[--policy kohya]`` (needs the ``bench`` extra, which installs ``bucketsampler``, and torch).

bucketsampler (PyPI, 0.1.0a3) is a third-party baseline only: nothing in aspectbucket imports it.
Image sizes are drawn once (seeded) and placed by the kohya profile at 1024x1024 (not timed). Both
samplers then get the same epoch of ``images x repeats`` samples, batch size 8, one process:

- ours: :class:`aspectbucket.torch.BucketBatchSampler` from the bucket widths and heights with
  ``repeats`` (as ``from_placement`` does), yielding lists of ``Draw``;
- bucketsampler: its ``BucketBatchSampler`` from one bucket index per sample (it has no repeats,
  so each image's index is repeated ``repeats`` times, as a dataset listing every repeat would be;
  not timed), ``drop_last=False`` so it yields every sample as ours does, yielding lists of ints.

Each is constructed and then iterated to the end as a ``DataLoader`` iterates its
``batch_sampler`` (``for batch in sampler``), construction and iteration timed apart (bucketsampler
builds its whole batch list when iteration starts, so its work is in the iteration column).

Peak extra memory is the peak of traced allocations (``tracemalloc``) over construction and the
first ``--memory-batches`` batches, in a separate run (tracing slows every allocation tenfold):
ours holds one chunk of steps at a time, so its peak is reached by then; bucketsampler builds all
its batches before yielding the first. Timings are one run each on a possibly shared machine, so
compare the two rows of one run.

Targets (issue 12, item 7): ours at least as fast as bucketsampler, peak extra memory under 300 MB.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time

import numpy as np

from bench_sampler_iteration import ours, placed_buckets
from measure import peak_memory_mib

BATCH_SIZE = 8


def sample_buckets(widths, heights, repeats: int) -> np.ndarray:
    """One bucket index per sample, each image's repeated ``repeats`` times: bucketsampler's input."""
    _, bucket = np.unique(np.stack([widths, heights], axis=1), axis=0, return_inverse=True)
    return np.repeat(bucket.ravel().astype(np.int64), repeats)


def theirs(bucket_of_sample: np.ndarray, batches: int | None = None) -> tuple[float, float, int]:
    """Construct bucketsampler's sampler and iterate ``batches`` of it (all when ``None``): seconds and samples."""
    from bucketsampler.torch import BucketBatchSampler as ThirdPartySampler

    start = time.perf_counter()
    sampler = ThirdPartySampler(bucket_of_sample, BATCH_SIZE, shuffle=True, drop_last=False, seed=1)
    built = time.perf_counter()
    samples = sum(len(batch) for batch in itertools.islice(sampler, batches))
    return built - start, time.perf_counter() - built, samples


def row(name: str, construct: float, iterate: float, samples: int) -> str:
    """One line of the timing table."""
    return f"{name:<22}{construct:>12.2f}{iterate:>11.2f}{construct + iterate:>9.2f}{samples:>13,}"


def main() -> None:
    """Parse the sizes, run both samplers, print times, memory and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2_000_000, help="Images placed (default 2,000,000).")
    parser.add_argument("--repeats", type=int, default=5, help="Times each image is seen per epoch (default 5).")
    parser.add_argument("--policy", default="kohya", help="aspectbucket's batch policy (default kohya).")
    parser.add_argument("--no-memory", action="store_true", help="Skip the (slow, traced) memory runs.")
    parser.add_argument("--memory-batches", type=int, default=50_000, help="Batches iterated in the traced run.")
    arguments = parser.parse_args()
    if arguments.images < 1 or arguments.repeats < 1 or arguments.memory_batches < 1:
        parser.error("--images, --repeats and --memory-batches must be positive")
    try:
        import bucketsampler.torch  # noqa: F401
    except ImportError:
        sys.exit("bucketsampler is not installed: pip install 'aspectbucket[bench]'")
    widths, heights = placed_buckets(arguments.images)
    bucket_of_sample = sample_buckets(widths, heights, arguments.repeats)
    samples = arguments.images * arguments.repeats
    print(f"{arguments.images:,} images x {arguments.repeats} repeats = {samples:,} samples, batch {BATCH_SIZE},")
    print(f"{len(np.unique(bucket_of_sample))} buckets, one process, aspectbucket policy {arguments.policy}")
    mine = ours(widths, heights, arguments.repeats, arguments.policy, batch_size=BATCH_SIZE)
    other = theirs(bucket_of_sample)
    print(f"{'':<22}{'construct s':>12}{'iterate s':>11}{'total s':>9}{'samples':>13}")
    print(row("aspectbucket", *mine))
    print(row("bucketsampler 0.1.0a3", *other))
    print(f"speed ratio (bucketsampler / aspectbucket): {sum(other[:2]) / sum(mine[:2]):.2f}x (target >= 1)")
    if not arguments.no_memory:
        batches = arguments.memory_batches
        my_peak = peak_memory_mib(
            lambda: ours(widths, heights, arguments.repeats, arguments.policy, batches, batch_size=BATCH_SIZE)
        )
        other_peak = peak_memory_mib(lambda: theirs(bucket_of_sample, batches))
        print(f"peak extra memory: aspectbucket {my_peak:.0f} MiB (target < 300 MB), ", end="")
        print(f"bucketsampler {other_peak:.0f} MiB")
        print(f"memory ratio (bucketsampler / aspectbucket): {other_peak / my_peak:.2f}x")


if __name__ == "__main__":
    main()
