"""The per-image rules of ai-toolkit, SimpleTuner and diffusion-pipe against their one-image oracles.

Each rule places the same random sizes once vectorised and once image by image with the oracle that
restates the trainer (Python numbers, the trainer's order of operations); the results must be equal,
so a fast wrong answer cannot pass. Prints seconds (vectorised: best of 3) and the speed-up per rule.

    python benchmarks/bench_trainer_rules.py [--images 200000] [--loop-images 20000]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from aspectbucket.geometry.ai_toolkit import ai_toolkit_bucket, ai_toolkit_bucket_one
from aspectbucket.geometry.diffusion_pipe import bucket_one, bucket_sizes, nearest_ratio, ratio_buckets
from aspectbucket.geometry.simpletuner import from_config, simpletuner_prepare
from aspectbucket.geometry.simpletuner_reference import SimpleTunerState, prepare_one


def timed(run, repeats: int = 1):
    """``(best seconds, result)`` over ``repeats`` runs (a busy machine only ever slows a run down)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def ai_toolkit(widths, heights, loop):
    seconds, (bucket_w, bucket_h) = timed(lambda: ai_toolkit_bucket(widths, heights, 1024, 16), 3)
    loop_seconds, expected = timed(lambda: [ai_toolkit_bucket_one(w, h, 1024, 16) for w, h in loop])
    same = list(zip(bucket_w[: len(loop)].tolist(), bucket_h[: len(loop)].tolist(), strict=True)) == expected
    return seconds, loop_seconds, same


def simpletuner(widths, heights, loop, crop_style="center"):
    settings = from_config("pixel_area", 1024, crop=True, crop_aspect="preserve", crop_style=crop_style)
    seconds, prepared = timed(lambda: simpletuner_prepare(widths, heights, settings), 3)

    def one_by_one():
        state = SimpleTunerState()
        return [prepare_one(w, h, settings, state).target for w, h in loop]

    loop_seconds, expected = timed(one_by_one)
    got = list(zip(prepared.target_width.tolist(), prepared.target_height.tolist(), strict=True))[: len(loop)]
    return seconds, loop_seconds, got == expected


def diffusion_pipe(widths, heights, loop):
    ratios = ratio_buckets(0.5, 2.0, 7)
    seconds, (bucket_w, bucket_h) = timed(
        lambda: bucket_sizes(ratios[nearest_ratio(widths, heights, ratios)], 1024, 16), 3
    )
    loop_seconds, expected = timed(lambda: [bucket_one(w, h, ratios, 1024, 16)[1:] for w, h in loop])
    same = list(zip(bucket_w[: len(loop)].tolist(), bucket_h[: len(loop)].tolist(), strict=True)) == expected
    return seconds, loop_seconds, same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200_000)
    parser.add_argument("--loop-images", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    widths = rng.integers(64, 9000, args.images)
    heights = rng.integers(64, 9000, args.images)
    loop = list(zip(widths[: args.loop_images].tolist(), heights[: args.loop_images].tolist(), strict=True))
    print(
        f"{args.images:,} random sizes 64..9000 px (oracle loop on the first {len(loop):,}), "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    rules = (
        ("ai-toolkit", ai_toolkit),
        ("simpletuner", simpletuner),
        # Random crops draw from one Python generator image after image, as the trainer does.
        ("simpletuner rnd", lambda w, h, loop: simpletuner(w, h, loop, "random")),
        ("diffusion-pipe", diffusion_pipe),
    )
    for name, rule in rules:
        seconds, loop_seconds, same = rule(widths, heights, loop)
        vector_rate = args.images / seconds
        loop_rate = len(loop) / loop_seconds
        print(
            f"{name:15} vectorised {seconds:7.3f} s {vector_rate:12,.0f} images/s | oracle loop "
            f"{loop_seconds:7.3f} s {loop_rate:10,.0f} images/s | x{vector_rate / loop_rate:6.1f} | same: {same}"
        )


if __name__ == "__main__":
    main()
