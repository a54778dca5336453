"""Where placement spends its time, per profile and upscale mode, on one core.

For every profile, with upscaling on and off, places the same random sizes on a single thread
(the rate per core that issue 14 asks about), then profiles that run with ``cProfile`` and prints the
functions that take most of it, and the cost of the derived columns ``assign`` writes (trims, the
SDXL crop box, lost fraction). Rates are sizes per second of the placing thread's CPU time
(``time.thread_time``, kernel time for page faults included), best of ``--repeats``: a rate per core that
other work on a shared machine does not lower much; wall seconds are printed beside it.

    python benchmarks/bench_place_profile.py [--images 10000000] [--repeats 2] [--top 3] [--profiles a,b]

Issue 14 asks for 20 M sizes/s per core at 10 M rows for every profile. Rates per CPU second on a shared
two-core machine; a 65,536-row block in cache is faster than the 10 M-row rate, which also pays for writing
7 columns of 8 bytes a row into fresh memory: the kernel's cost of those pages varies from run to run, so a
single run of a fast profile can read half its usual rate; ``--repeats 2`` or more takes the best. Where the
time goes in the three profiles that were below it (issue 14 item 2; before -> after, upscale/no-upscale,
best of 3, the two runs one after the other on the same machine):

* simpletuner (2.0/2.2 -> 22.0/21.5 M/s; then, best of 5, load average 0.9, 17.4/19.5 -> 29.7/31.3 M/s):
  the whole dataset is one pass in processing order (the aspect map keeps the first target of each bucket
  key), in blocks of 65,536 rows. Everything that depends only on an image's rounded ratio (the target,
  its map key, the mapped target, the final key and target, whether it is square) is computed once per
  ratio code, in tables built once for the pass and kept for every block
  (``simpletuner._RatioCodeTables``: rebuilding them per block was a fifth of the time); the map is read
  when they are built, and a block looks up only keys it lacks (one bool gather says whether it has any).
  Per row: the ratio and its code (Python's ``round`` at halves, decided exactly in numpy by Dekker's
  product instead of calling it per value), the intermediary size from the exact ratio (the target's
  shorter side and a 0/1 orientation, two gathers) and its growth to the mapped target (two gathers), the
  rows near ratio 1 found by one comparison of a code range; the sizes are gathered or copied straight
  into the result's columns (``mode="wrap"``: numpy's default gathers into a temporary first), and the
  key column, which a placement does not read, is not written.
  Where the time goes after (ms per 10 M rows on one core, line timings, best of 5, load average 2,
  total 341 ms):

      the four size columns written (two gathers, two float->int copies), the keys   67   20 %
      growth of the intermediary to the mapped target (2 gathers, 14 passes)        58   17 %
      outside the blocks: size validation, index column, zero-side check, errors    48   14 %
      the intermediary from the exact ratio (2 gathers, 10 passes)                  46   13 %
      the ratio, its code and table entry                                           38   11 %
      size check (an area minimum), error codes, the block's assembly               26    8 %
      rows near ratio 1 (square images of ratio 1, the small-square rule)           22    6 %
      ratio-code tables and the aspect map                                          12    4 %
      Python per block (153 blocks) and the rest                                    24    7 %

  The random crop offsets (one ``randint`` per image and side, replayed bit for bit; compiled with the
  ``fast`` extra, about 11 ns a draw against 130-290 in Python, ``bench_random_replay.py``) are not drawn
  for a placement, which shows the centred trim. SimpleTuner's other settings (``pixel`` mode, crops to
  listed or square aspects, downsampling) take the row-by-row rules, which share the counted aspect map and
  take about 2.4 times as long.
* ai-toolkit (19.6/18.4 -> 27.6/27.3 M/s): no bucket list; the nearest in area of four floor/ceil
  candidates, chosen by arithmetic, comparisons and ``minimum`` only (numpy's masked copies and ``argmin``
  over the candidates cost ten times a plain pass; they remain only for the rows of thin images whose
  floored pair is not kept); the ``ceil`` cover resize and the ratio error come from the rule's own float
  sizes. About half of what is left is writing the output columns.
* balanced (21.4/19.5 -> 25.3/23.6 M/s): the log-ratio search with its interval table; the exact half-up
  cover takes the larger of each fitted side and the bucket's (no masks); the 8 to 14 % of images over the
  crop limit (or enlarged without upscaling) are placed again with the corrected no-upscale rule, four
  candidates whose sides' logs are taken once each (4 logs, not 8): logs are most of that.

Every profile finds its failed rows by ``np.flatnonzero`` of a comparison, not of the int8 codes (numpy's
nonzero is fast for booleans only: 17 -> 2 ms per 10 M rows; everydream2 36.6 -> 48.6 M/s in the same runs).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import os
import pstats
import time

import numpy as np

import aspectbucket.profiles.profile as profile_module
from aspectbucket import PROFILES, BucketOptions, OptionsError
from aspectbucket.profiles import place_by_profile, resolve

#: The columns ``assign`` reads beyond the placement itself.
DERIVED = ("trim_left", "trim_top", "reported_crop_ltrb", "lost_fraction", "upscaled", "ar_error")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--top", type=int, default=3, help="functions listed per run")
    parser.add_argument("--profiles", default=",".join(PROFILES), help="comma-separated profiles (default: all)")
    args = parser.parse_args()
    unknown = sorted(set(args.profiles.split(",")) - set(PROFILES))
    if unknown:
        parser.error(f"unknown profiles {', '.join(unknown)} (known: {', '.join(PROFILES)})")
    profile_module._worker_count = lambda: 1  # one core: the rate per core
    rng = np.random.default_rng(0)
    widths, heights = rng.integers(64, 6000, args.images), rng.integers(64, 6000, args.images)
    print(f"{args.images:,} random sizes 64..6000, one thread, load average {os.getloadavg()[0]:.2f}")
    # The first large placement of a process pays the kernel for the memory it touches first (about a
    # second per GiB here, huge pages compacted on demand), once: not placement, and not the first profile's.
    warm_up, warm_options, _ = resolve("kohya", BucketOptions())
    _derived_columns(place_by_profile(widths, heights, warm_options, warm_up))
    for name in args.profiles.split(","):
        for no_upscale in (False, True):
            try:
                chosen, options, _ = resolve(name, BucketOptions((1024, 1024), 256, 2048, 64, no_upscale))
            except OptionsError as error:
                print(f"\n{name} no_upscale={no_upscale}: refused ({error})")
                continue
            run = functools.partial(place_by_profile, widths, heights, options, chosen)
            best, wall = min(_timed(run) for _ in range(args.repeats))
            placement = run()
            derived, _ = _timed(functools.partial(_derived_columns, placement))
            print(
                f"\n{name} no_upscale={no_upscale}: {args.images / best / 1e6:.1f} M sizes/s per core "
                f"({best:.2f} s CPU, {wall:.2f} s wall); assign's derived columns +{derived:.2f} s CPU"
            )
            profiler = cProfile.Profile()
            profiler.runcall(place_by_profile, widths, heights, options, chosen)
            stats = pstats.Stats(profiler).sort_stats("tottime")
            total = stats.total_tt
            ranked = sorted(stats.stats.items(), key=lambda item: -item[1][2])[: args.top]
            for (file, line, function), row in ranked:
                print(f"    {row[2] / total:5.0%}  {os.path.basename(file)}:{line} {function}")


def _derived_columns(placement) -> list:
    return [getattr(placement, column) for column in DERIVED]


def _timed(run) -> tuple[float, float]:
    """CPU seconds of this thread (placement runs on it: one worker) and wall seconds of ``run()``."""
    start, wall = time.thread_time(), time.perf_counter()
    run()
    return time.thread_time() - start, time.perf_counter() - wall


if __name__ == "__main__":
    main()
