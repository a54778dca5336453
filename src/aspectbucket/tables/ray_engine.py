"""``assign --engine ray``: placement on a Ray cluster through Ray Data, the same rows as the local engine.

Ray Data reads the Parquet shards (``ray.data.read_parquet``) and runs the placement of each block
on the cluster's workers (``map_batches``: the same functions the local engine calls, each block
first given the whole input's unified schema); the driver receives the blocks in input order and
writes them with the local writers, so every output (CSV, JSONL, Parquet, ``--split-by-bucket``)
is the local engine's, row for row. The input is Parquet, a file or a folder of shards: what a
cluster's tables are. Ray is an optional extra (``pip install 'aspectbucket[ray]'``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import IO

import pyarrow as arrow

from aspectbucket.geometry.options import BucketOptions
from aspectbucket.profiles import Profile
from aspectbucket.tables.assign import (
    AssignResult,
    PlacedRows,
    chosen_columns,
    count_reasons,
    placed_rows,
    write_placed,
)
from aspectbucket.tables.formats import TableError, TableFormat
from aspectbucket.tables.readers import ReadBatch, parquet_shards

RAY_HINT = "--engine ray needs Ray: pip install 'aspectbucket[ray]'"


def assign_on_ray(
    source: Path,
    sink: IO[bytes] | None,
    options: BucketOptions,
    profile: Profile,
    output_format: TableFormat,
    *,
    address: str | None = None,
    workers: int | None = None,
    width_column: str | None = None,
    height_column: str | None = None,
    split_folder: Path | None = None,
    batch_size: int = 1,
    columns: Sequence[str] | None = None,
) -> AssignResult:
    """:func:`~aspectbucket.tables.assign_table` for a Parquet file or folder, placed on a Ray cluster.

    ``address`` joins an existing cluster (``ray start --head`` printed it); without it a local
    cluster of ``workers`` CPUs starts and stops with the call.
    """
    try:
        import ray
        import ray.data
    except ImportError:
        raise TableError(RAY_HINT) from None
    files, schema, warnings = parquet_shards(source)
    added = chosen_columns(columns, split_folder is not None)
    plan = PlacedRows.prepare(schema, options, profile, width_column, height_column, columns=added)
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, num_cpus=None if address else workers, include_dashboard=False, log_to_driver=False)
    try:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        dataset = ray.data.read_parquet([str(path) for path in files]).map_batches(
            _place_block, batch_format="pyarrow", fn_kwargs={"plan": plan}
        )
        blocks = (_as_placed(block) for block in dataset.iter_batches(batch_format="pyarrow", batch_size=None))
        return write_placed(blocks, plan, sink, output_format, split_folder, batch_size, warnings)
    finally:
        if started:
            ray.shutdown()


def _place_block(block: arrow.Table, plan: PlacedRows) -> arrow.Table:
    """On a worker: one block of input rows, placed."""
    merged, _ = placed_rows(ReadBatch(_one_batch(block)), plan)
    return arrow.Table.from_batches([merged])


def _as_placed(block: arrow.Table) -> tuple[arrow.RecordBatch, int, None]:
    """On the driver: a placed block as the writer takes it (its errors counted again: a count is cheap)."""
    batch = _one_batch(block)
    return batch, count_reasons(batch.column("error")), None


def _one_batch(table: arrow.Table) -> arrow.RecordBatch:
    batches = table.combine_chunks().to_batches()
    return batches[0] if batches else arrow.RecordBatch.from_pylist([], schema=table.schema)
