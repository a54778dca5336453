"""Benchmark: the epoch ledger of 10,000,000 images, beside a plain Python loop on the same data.

Run: ``python benchmarks/bench_ledger.py [--images 10000000] [--repeats 5] [--baseline-images 500000]``.
Image sizes are drawn once (seeded, photo-like ratios) and placed by the kohya profile at 1024x1024
(timed apart: placement is not the ledger). Then, for several trainers' batching at batch size 4 on
2 processes with accumulation 2, it times :func:`aspectbucket.epoch_ledger.ledger_from_placement`
(bucket numbering, counting, every per-image column; best of three) and its peak of traced
allocations (``tracemalloc``, which numpy reports its arrays to), outputs included.

Baseline, in the same run: :func:`aspectbucket.geometry.ledger_reference.reference_epoch`, the
batch-by-batch loop over Python lists the ledger is tested against, on ``--baseline-images`` images
(it is too slow at full size); the ratio is per image.

Targets: under 2 seconds and under 500 MB for 10,000,000 images.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from aspectbucket import BucketOptions, place
from aspectbucket.epoch_ledger import ledger_from_placement
from aspectbucket.geometry.ledger import BatchSettings
from aspectbucket.geometry.ledger_reference import reference_epoch
from aspectbucket.profiles.batching import batching_rule
from measure import best_time, peak_memory_mib, photo_sizes

OPTIONS = BucketOptions(resolution=(1024, 1024), min_bucket_reso=256, max_bucket_reso=2048)
SETTINGS = BatchSettings(batch_size=4, processes=2, grad_accum=2)
PROFILES = ("kohya", "onetrainer", "ai-toolkit", "simpletuner", "novelai")


def sizes(images: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    widths, heights = photo_sizes(images, seed)
    return widths, heights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline-images", type=int, default=500_000)
    arguments = parser.parse_args()

    widths, heights = sizes(arguments.images)
    start = time.perf_counter()
    placement = place(widths, heights, OPTIONS)
    placing = time.perf_counter() - start
    repeats = np.full(arguments.images, arguments.repeats, dtype=np.int64)
    print(
        f"{arguments.images:,} images x {arguments.repeats} repeats, batch {SETTINGS.batch_size} x "
        f"{SETTINGS.processes} processes, accumulation {SETTINGS.grad_accum} (placement, not timed below: "
        f"{placing:.2f} s)"
    )
    print(f"{'profile':<13}{'batching':<14}{'steps':>11}{'never trained':>15}{'seconds':>9}{'MiB peak':>10}")
    worst = largest = 0.0
    for name in PROFILES:
        build = lambda name=name: ledger_from_placement(placement, name, repeats, SETTINGS)  # noqa: E731
        seconds, traced = best_time(build), peak_memory_mib(build)
        book = build()
        worst, largest = max(worst, seconds), max(largest, traced)
        rule = batching_rule(name).value
        never = book.never_trained_count
        note = "  (refused: a bucket below batch x GPUs x accumulation)" if book.counts.refused else ""
        print(f"{name:<13}{rule:<14}{book.steps_per_epoch:>11,}{never:>15,}{seconds:>9.3f}{traced:>10.1f}{note}")
    print(f"slowest ledger {worst:.3f} s (target < 2 s), largest peak {largest:.1f} MiB (target < 500 MB)")

    count = min(arguments.baseline_images, arguments.images)
    subset = placement.take(np.arange(count))
    image_bucket = ledger_from_placement(subset, "kohya", repeats[:count], SETTINGS).image_bucket
    ours = best_time(lambda: ledger_from_placement(subset, "kohya", repeats[:count], SETTINGS))
    loop = best_time(lambda: reference_epoch(image_bucket, repeats[:count], "kohya", SETTINGS), runs=1)
    print(
        f"on {count:,} images: ledger {ours:.3f} s, plain Python loop {loop:.3f} s: {loop / ours:.0f}x; "
        f"the loop at {arguments.images:,} images would take about {loop * arguments.images / count:.0f} s"
    )


if __name__ == "__main__":
    main()
