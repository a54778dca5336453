"""CSV encoding of one batch: the project's encoder (:func:`~aspectbucket.tables.csv_text.csv_rows`) against
pyarrow's CSV writer, on the same batch, with the bytes checked equal.

Contenders: ``pyarrow``, pyarrow's writer alone (:func:`~aspectbucket.tables.csv_text.writer_rows`), what
``encode_batch`` did before issue 14 item 5 and what the encoder leaves a batch with nothing to gather to;
``project``, the encoder.

Batches of 65,536 rows (``assign``'s batch), as ``encode_batch`` sees them, for the table
``bench_assign.py`` reads (key, url, width, height, similarity) as Parquet or JSONL give it (``typed``)
and as CSV gives it (``text``: every cell a string):

- ``input``: its columns alone, what the floor writes;
- ``assign``: with the columns ``assign`` adds by default (six sizes and offsets, an empty ``error``);
- ``all``: with ``--columns all``'s (also ``ar_error``, ``crop_ltrb`` as text, ``lost_fraction``, ``upscaled``).

Each time is the best of ``--repeats`` on one thread (the engine encodes a batch a worker thread).

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
    """The six batches, as CSV cells (``csv_batch`` applied, as ``encode_batch`` does first)."""
    table = make_table(rows).combine_chunks()
    typed = table.to_batches()[0]
    text = arrow.RecordBatch.from_arrays([column.cast(arrow.string()) for column in typed.columns], typed.schema.names)
    placement = place_by_profile(table.column("width").to_numpy(), table.column("height").to_numpy(), OPTIONS, PROFILE)
    made = {}
    for kind, read in (("typed", typed), ("text", text)):
        made[f"{kind} input"] = read
        for name, columns in (("assign", PIXEL_COLUMNS), ("all", PLACEMENT_COLUMNS)):
            added = placement_batch(placement, columns=columns)
            made[f"{kind} {name}"] = arrow.RecordBatch.from_arrays(
                read.columns + added.columns, names=read.schema.names + added.schema.names
            )
    return {name: csv_batch(batch) for name, batch in made.items()}


def best(function, batch: arrow.RecordBatch, repeats: int) -> float:
    """Least wall seconds of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(batch)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1 << 16)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, pyarrow {arrow.__version__}")
    print(f"one batch of {args.rows:,} rows, milliseconds (best of {args.repeats}):")
    print(f"{'batch':13} {'columns':>7} {'pyarrow':>7} {'project':>7} {'project/pyarrow':>15}")
    for name, batch in batches(args.rows).items():
        assert csv_rows(batch) == writer_rows(batch), name
        writer, project = (best(encode, batch, args.repeats) for encode in (writer_rows, csv_rows))
        print(
            f"{name:13} {batch.num_columns:7} {writer * 1e3:7.2f} {project * 1e3:7.2f} {project / writer:14.2f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
