"""CSV encoding of one batch: the project's encoder (:func:`~aspectbucket.tables.csv_text.csv_rows`) against
pyarrow's CSV writer, on the same batch, with the bytes checked equal.

Three batches of 65,536 rows (``assign``'s batch), as ``encode_batch`` sees them:

- ``input``: the columns ``bench_assign.py`` reads (key, url, width, height, similarity), what its floor writes;
- ``assign``: those and the columns ``assign`` adds by default (six sizes and offsets, an empty ``error``);
- ``all``: those and ``--columns all``'s (``ar_error``, ``crop_ltrb`` as text, ``lost_fraction``, ``upscaled``).

Each time is the best of ``--repeats`` on one thread (both encoders run on the engine's worker threads,
one batch each); CPU seconds beside it.

    python benchmarks/bench_csv_text.py [--rows 65536] [--repeats 30]
"""

from __future__ import annotations

import argparse
import os
import time

import pyarrow as arrow

from aspectbucket.profiles import place_by_profile
from aspectbucket.tables import PIXEL_COLUMNS, PLACEMENT_COLUMNS, placement_batch
from aspectbucket.tables.csv_text import csv_rows, writer_rows
from aspectbucket.tables.writers import csv_batch
from bench_assign import OPTIONS, PROFILE, make_table


def batches(rows: int) -> dict[str, arrow.RecordBatch]:
    """The three batches, as CSV cells (``csv_batch`` applied, as ``encode_batch`` does first)."""
    table = make_table(rows).combine_chunks()
    read = table.to_batches()[0]
    placement = place_by_profile(table.column("width").to_numpy(), table.column("height").to_numpy(), OPTIONS, PROFILE)
    made = {"input": read}
    for name, columns in (("assign", PIXEL_COLUMNS), ("all", PLACEMENT_COLUMNS)):
        added = placement_batch(placement, columns=columns)
        made[name] = arrow.RecordBatch.from_arrays(
            read.columns + added.columns, names=read.schema.names + added.schema.names
        )
    return {name: csv_batch(batch) for name, batch in made.items()}


def best(function, batch: arrow.RecordBatch, repeats: int) -> tuple[float, float]:
    """Least wall and least CPU seconds of ``repeats`` calls."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        function(batch)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(wall), min(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1 << 16)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, pyarrow {arrow.__version__}")
    print(f"one batch of {args.rows:,} rows (best of {args.repeats}):")
    print(f"{'batch':8} {'columns':>7} {'pyarrow ms':>10} {'project ms':>10} {'project/pyarrow':>15} {'CPU ratio':>9}")
    for name, batch in batches(args.rows).items():
        assert csv_rows(batch) == writer_rows(batch), name
        writer_wall, writer_cpu = best(writer_rows, batch, args.repeats)
        project_wall, project_cpu = best(csv_rows, batch, args.repeats)
        print(
            f"{name:8} {batch.num_columns:7} {writer_wall * 1e3:10.2f} {project_wall * 1e3:10.2f} "
            f"{project_wall / writer_wall:14.2f}x {project_cpu / writer_cpu:8.2f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
