"""Benchmark: building one epoch of 10,000,000 samples (2,000,000 images x 5 repeats, ~40 buckets).

Run: ``python benchmarks/bench_sampler.py [--images 2000000] [--repeats 5] [--baseline-images 200000]``.
Image sizes are drawn once (seeded), placed by the kohya profile at 1024x1024 (38 of its 41 buckets
get images; not timed), then for each incomplete-batch policy, on 1 and 8 processes, it times
:func:`aspectbucket.geometry.epoch.build_epoch` (best of three) and measures its peak memory twice:
the peak of traced allocations (``tracemalloc``, which numpy reports its arrays to). That is the
memory the build needs; the resident size also depends on what the allocator keeps from earlier work.

Baseline, in the same run: the way trainers build an epoch in Python (a list of image indices per
bucket, ``random.shuffle``, slicing into lists of batches, shuffling the batch list), on
``--baseline-images`` images (it is too slow and large at full size), compared per sample.

Targets: under 2 seconds and under 200 MB for the 10,000,000-sample epoch.
"""

from __future__ import annotations

import argparse
import random

import numpy as np

from aspectbucket import BucketOptions, place
from aspectbucket.geometry.batches import BatchPolicy, steps_per_epoch
from aspectbucket.geometry.epoch import bucket_ids, build_epoch
from measure import best_time, peak_memory_mib, photo_sizes

BATCH_SIZE = 4
OPTIONS = BucketOptions(resolution=(1024, 1024), min_bucket_reso=256, max_bucket_reso=2048)


def bucket_shapes_of(images: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Bucket ids and shapes for ``images`` photo-like sizes (ratios log-normal around square)."""
    widths, heights = photo_sizes(images, seed)
    placement = place(widths, heights, OPTIONS)
    return bucket_ids(placement.bucket_width, placement.bucket_height)


def python_epoch(image_bucket: np.ndarray, repeats: int, batch_size: int, seed: int) -> list[list[int]]:
    """The list-of-lists baseline: per-bucket lists, shuffled, sliced into batches, batches shuffled."""
    generator = random.Random(seed)
    per_bucket: dict[int, list[int]] = {}
    for image, bucket in enumerate(image_bucket.tolist()):
        per_bucket.setdefault(bucket, []).extend([image] * repeats)
    batches = []
    for members in per_bucket.values():
        generator.shuffle(members)
        batches.extend(members[start : start + batch_size] for start in range(0, len(members), batch_size))
    generator.shuffle(batches)
    return batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline-images", type=int, default=200_000)
    arguments = parser.parse_args()

    image_bucket, shapes = bucket_shapes_of(arguments.images)
    counts = np.bincount(image_bucket, minlength=len(shapes)) * arguments.repeats
    samples = int(counts.sum())
    print(
        f"{arguments.images:,} images x {arguments.repeats} repeats = {samples:,} samples in "
        f"{np.count_nonzero(counts)} buckets, batch size {BATCH_SIZE}"
    )

    def build(policy=BatchPolicy.SHORT, replicas=1):
        return build_epoch(
            image_bucket, arguments.repeats, shapes, BATCH_SIZE, policy, seed=1, epoch=3, num_replicas=replicas
        )

    print(f"{'policy':<7}{'processes':>10}{'steps':>10}{'seconds':>9}{'Msamples/s':>12}{'MiB peak':>10}")
    worst = largest = 0.0
    for policy in BatchPolicy:
        for replicas in (1, 8):
            seconds = best_time(lambda policy=policy, replicas=replicas: build(policy, replicas))
            traced = peak_memory_mib(lambda policy=policy, replicas=replicas: build(policy, replicas))
            steps = len(build(policy, replicas))
            assert steps == steps_per_epoch(counts, BATCH_SIZE, policy, replicas)
            worst, largest = max(worst, seconds), max(largest, traced)
            rate = samples / seconds / 1e6
            print(f"{policy.value:<7}{replicas:>10}{steps:>10,}{seconds:>9.3f}{rate:>12.1f}{traced:>10.1f}")
    print(f"slowest build {worst:.3f} s (target < 2 s), largest peak {largest:.1f} MiB (target < 200 MB)")

    subset = image_bucket[: arguments.baseline_images]
    subset_samples = len(subset) * arguments.repeats

    def ours():
        return build_epoch(subset, arguments.repeats, shapes, BATCH_SIZE, seed=1)

    def theirs():
        return python_epoch(subset, arguments.repeats, BATCH_SIZE, seed=1)

    ours_seconds, baseline = best_time(ours), best_time(theirs, runs=1)
    ours_memory, baseline_memory = peak_memory_mib(ours), peak_memory_mib(theirs)
    print(
        f"baseline on {subset_samples:,} samples (short): Python lists {baseline:.3f} s, "
        f"{baseline_memory:.1f} MiB; build_epoch {ours_seconds:.3f} s, {ours_memory:.1f} MiB; "
        f"{baseline / ours_seconds:.1f}x faster, {baseline_memory / ours_memory:.1f}x less memory"
    )


if __name__ == "__main__":
    main()
