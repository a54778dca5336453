"""Timing and memory helpers the benchmarks share: best of a few runs, and the peak of traced allocations."""

from __future__ import annotations

import time
import tracemalloc


def best_time(function, runs: int = 3) -> float:
    """The fastest of ``runs`` calls, in seconds (the least disturbed by other work on the machine)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def peak_memory_mib(function) -> float:
    """Peak of traced allocations in MiB while ``function`` runs, its result kept (numpy reports its arrays)."""
    tracemalloc.start()
    result = function()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del result
    return peak / 2**20


def photo_sizes(images: int, seed: int = 0):
    """``(widths, heights)`` of ``images`` photo-like sizes: widths 512..4000, ratios log-normal around square."""
    import numpy as np

    rng = np.random.default_rng(seed)
    widths = rng.integers(512, 4000, images)
    heights = np.maximum(1, (widths / np.exp(rng.normal(0.0, 0.35, images))).astype(np.int64))
    return widths, heights


#: Chromium's switches for a quiet, offline, unprivileged headless run (no sandbox: benchmarks may run as root).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
