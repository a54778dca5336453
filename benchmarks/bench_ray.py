"""``--engine ray`` against the local engine on the same input: Ray with 1 and 2 workers, side by side.

Three jobs, each run by the local engine and by a local Ray cluster of 1 and then 2 worker CPUs:

- ``assign``: a folder of Parquet shards (img2dataset-like: key, url, width, height) placed and
  written as one Parquet table (:func:`aspectbucket.tables.assign_table` against
  :func:`aspectbucket.tables.ray_engine.assign_on_ray`);
- ``report scan``: the same shards read as a metadata-only scan (:func:`aspectbucket.tables.metadata_scan.scan_table`,
  what ``report --engine ray`` distributes);
- ``export``: a few hundred JPEGs exported in train mode, each run into a new folder
  (:func:`aspectbucket.export.run.run_export` with a :class:`ThreadRunner` of ``--threads`` threads
  against :class:`aspectbucket.export.ray_run.RayRunner`).

Each Ray cluster is started once per worker count (its start-up printed apart) and each job timed on
it, best of ``--repeats``, wall-clock seconds; the ratio is local time over Ray time (above 1: Ray is
faster). Every Ray output is checked equal to the local one. Ray pays for task start-up and moving
results to the driver; it is for clusters of many machines, and on one small machine the ratio says
what that overhead costs. Numbers taken on a shared machine move with its other load.

    python benchmarks/bench_ray.py [--shards 64] [--rows-per-shard 50000] [--images 300] [--threads 2] 2>/dev/null

(Ray and Ray Data log their progress on stderr; the table is on stdout.)
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from itertools import count
from pathlib import Path

import numpy as np
import pyarrow as arrow
import pyarrow.parquet as parquet
from PIL import Image

from aspectbucket import BucketOptions
from aspectbucket.export.plan import ExportSettings, plan_export
from aspectbucket.export.ray_run import RayRunner
from aspectbucket.export.run import ThreadRunner, run_export
from aspectbucket.plan import plan_dataset
from aspectbucket.profiles import resolve
from aspectbucket.scan import scan
from aspectbucket.scan.sources import Subset
from aspectbucket.tables import TableFormat, assign_table
from aspectbucket.tables.metadata_scan import scan_table
from aspectbucket.tables.ray_engine import RayCluster, assign_on_ray
from measure import best_time, photo_sizes

PROFILE, OPTIONS, _ = resolve("kohya", BucketOptions((1024, 1024), 256, 2048))


def make_shards(folder: Path, shards: int, rows: int) -> None:
    """``shards`` img2dataset-like Parquet files of ``rows`` photo-like sizes each."""
    folder.mkdir(parents=True)
    for index in range(shards):
        widths, heights = photo_sizes(rows, seed=index)
        keys = [f"{index:05d}{row:04d}" for row in range(rows)]
        table = {"key": keys, "url": [f"https://example.com/{key}.jpg" for key in keys], "width": widths}
        parquet.write_table(arrow.table({**table, "height": heights}), folder / f"{index:05d}.parquet")


def make_images(folder: Path, images: int) -> None:
    """``images`` JPEGs of 1200-2400 px with smooth gradients and noise (a few seconds to make)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for index in range(images):
        width, height = (int(side) for side in rng.integers(1200, 2400, 2))
        ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None] * np.ones((height, 1, 3), np.float32)
        pixels = ramp * 0.7 + rng.normal(0, 12, (height, width, 3)).astype(np.float32) + index % 60
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / f"photo{index:04d}.jpg", quality=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", type=int, default=64)
    parser.add_argument("--rows-per-shard", type=int, default=50_000)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2, help="the local export's threads")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="aspectbucket-bench-ray-"))
    try:
        run(args, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run(args, scratch: Path) -> None:
    shards, photos = scratch / "shards", scratch / "photos"
    make_shards(shards, args.shards, args.rows_per_shard)
    make_images(photos, args.images)
    plan = plan_dataset(scan([Subset(image_dir=photos, name="photos")], use_cache=False), "kohya", {"resolution": 1024})
    settings = ExportSettings(apply_exif=False)
    runs = count()

    def place(engine):
        with (scratch / f"placed-{next(runs)}.parquet").open("wb") as sink:
            if engine is None:
                assign_table(shards, sink, OPTIONS, PROFILE, TableFormat.PARQUET, TableFormat.PARQUET)
            else:
                assign_on_ray(shards, sink, OPTIONS, PROFILE, TableFormat.PARQUET)
        return Path(sink.name)

    def export(engine):
        out = scratch / f"out-{next(runs)}"
        items = plan_export(plan, photos, out, settings)
        runner = ThreadRunner(args.threads) if engine is None else RayRunner(engine)
        summary = run_export(items, settings, out, runner=runner)
        assert summary.written == args.images, summary.failed
        return out

    jobs = {
        "assign": place,
        "report scan": lambda engine: scan_table(shards, cluster=engine),
        "export": export,
    }
    local = {name: best_time(lambda job=job: job(None), args.repeats) for name, job in jobs.items()}
    expected = {"assign": parquet.read_table(place(None)), "export": _files(export(None))}
    timings = {1: {}, 2: {}}
    started = {}
    import ray

    for workers in (1, 2):
        begin = time.perf_counter()
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        started[workers] = time.perf_counter() - begin
        cluster = RayCluster(workers=workers)  # uses the session started here
        try:
            for name, job in jobs.items():
                timings[workers][name] = best_time(lambda job=job, cluster=cluster: job(cluster), args.repeats)
            assert parquet.read_table(place(cluster)).equals(expected["assign"])
            assert _files(export(cluster)) == expected["export"]
        finally:
            ray.shutdown()
    rows = args.shards * args.rows_per_shard
    print(f"{os.cpu_count()} cores seen (this machine is shared: its other load moves every number)")
    print(f"assign and report scan: {args.shards} Parquet shards, {rows:,} rows; export: {args.images} JPEGs")
    print(f"Ray start-up (not in the times below): 1 worker {started[1]:.1f} s, 2 workers {started[2]:.1f} s")
    print(f"local export threads: {args.threads}; every Ray output equal to the local engine's: yes")
    columns = ("local s", "ray1 s", "ray2 s", "local/ray1", "local/ray2", "ray1/ray2")
    print(f"{'job':<12}" + "".join(f"{column:>11}" for column in columns))
    for name, seconds in local.items():
        one, two = timings[1][name], timings[2][name]
        values = (seconds, one, two, seconds / one, seconds / two, one / two)
        print(f"{name:<12}" + "".join(f"{value:11.2f}" for value in values))


def _files(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*.jpg"))}


if __name__ == "__main__":
    main()
