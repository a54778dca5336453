"""``--engine ray``: the cluster session every command shares, and ``assign``'s placement through Ray Data.

:class:`RayCluster` joins a cluster (``--address``) or starts a local one of ``--workers`` CPUs for
one call, and runs plain tasks in input order (``report`` reads metadata shards with it, ``export``
writes pixels). ``assign`` places rows through Ray Data, the same rows as the local engine:

Ray Data runs one task per Parquet shard on the cluster's workers (``map_batches`` over the shard
paths: each worker reads its shard with the local reader and places it with the same functions
the local engine calls, each batch first given the whole input's unified schema); the driver
receives the placed shards in input order and writes them with the local writers, so every output
(CSV, JSONL, Parquet, ``--split-by-bucket``) is the local engine's, row for row. (A shard that
breaks off part-way keeps its rows read so far on both engines; only the local one warns of it.)
The input is Parquet, a file or a folder of shards: what a cluster's tables are. Ray is an optional
extra (``pip install 'aspectbucket[ray]'``).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

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
from aspectbucket.tables.readers import BATCH_ROWS, ReadBatch, parquet_shards

RAY_HINT = "--engine ray needs Ray: pip install 'aspectbucket[ray]'"


class RayUnavailable(TableError):
    """Ray is not installed (the one-line install hint), or the cluster asked for cannot be joined."""


class RayTaskFailed(RayUnavailable):
    """Work sent to the cluster failed there; the message is one line (the commands exit 2 with it)."""


#: Seconds an ``--address`` has to accept a connection before Ray is asked to join it: Ray itself keeps
#: retrying an address that never answers (a firewalled or mistyped host) for minutes.
CONNECT_SECONDS = 10.0


def check_reachable(address: str) -> None:
    """Raise :class:`RayUnavailable` in one line when ``address`` (``host:port`` or ``ray://host:port``)
    does not accept a TCP connection within :data:`CONNECT_SECONDS`.

    Other forms (``auto``, a name without a port) are left to Ray, which reads them its own way.
    """
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if not colon or not host or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS):
            pass
    except TimeoutError:
        raise RayUnavailable(
            f"cannot join the Ray cluster at {address}: no answer within {CONNECT_SECONDS:g} s"
        ) from None
    except OSError as error:  # refused, unreachable, a name that does not resolve
        reason = error.strerror or str(error) or type(error).__name__
        raise RayUnavailable(f"cannot join the Ray cluster at {address}: {reason.lower()}") from None


@dataclass(frozen=True)
class RayCluster:
    """Where ``--engine ray`` runs: ``address`` joins an existing cluster (what ``ray start --head``
    printed); without it a local cluster of ``workers`` CPUs (default: every core) starts and stops
    with each call. A Ray already initialised in this process (a notebook's, a test's) is used as it is."""

    address: str | None = None
    workers: int | None = None

    @staticmethod
    def installed() -> Any:
        """The ``ray`` module; raises :class:`RayUnavailable` when Ray is not installed (checked before any
        work, so nothing is written by a run that cannot start)."""
        try:
            import ray
            import ray.data  # the extra's other half, which assign needs
        except ImportError:
            raise RayUnavailable(RAY_HINT) from None
        return ray

    @contextlib.contextmanager
    def session(self) -> Iterator[Any]:
        """The ``ray`` module, connected; raises :class:`RayUnavailable` when Ray is not installed or the
        cluster cannot be joined (an address that does not answer within :data:`CONNECT_SECONDS` included)."""
        ray = self.installed()
        started = not ray.is_initialized()
        if started:
            workers = None if self.address else self.workers
            if self.address:
                check_reachable(self.address)
            try:
                ray.init(address=self.address, num_cpus=workers, include_dashboard=False, log_to_driver=False)
            except (ValueError, ConnectionError, RuntimeError) as error:  # a bad or dead --address
                where = f"the Ray cluster at {self.address}" if self.address else "a local Ray cluster"
                raise RayUnavailable(f"cannot join {where}: {' '.join(str(error).split())}") from None
        try:
            yield ray
        finally:
            if started:
                ray.shutdown()

    def map(self, function: Callable, items: Sequence) -> list:
        """``[function(item) for item in items]`` with each call a Ray task (one CPU), results in input order.

        A task that fails (an error no reader turned into a warning, a worker that died) raises
        :class:`RayTaskFailed` with the first line of what Ray reported, not Ray's multi-line traceback.
        """
        with self.session() as ray:
            task = ray.remote(_call)
            try:
                return ray.get([task.remote(function, item) for item in items])
            except ray.exceptions.RayError as error:
                cause = getattr(error, "cause", None) or error
                reason = next((line.strip() for line in str(cause).splitlines() if line.strip()), type(cause).__name__)
                raise RayTaskFailed(f"a task on the Ray cluster failed: {type(cause).__name__}: {reason}") from None


def _call(function: Callable, item: Any) -> Any:
    """On a worker: one call of :meth:`RayCluster.map` (Ray takes plain functions, not partials)."""
    return function(item)


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
    files, schema, warnings = parquet_shards(source)
    added = chosen_columns(columns, split_folder is not None)
    plan = PlacedRows.prepare(schema, options, profile, width_column, height_column, columns=added)
    with RayCluster(address, workers).session() as ray:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        # One task per shard, read by the worker with the local reader: the same batches as the local
        # engine, and no trip through Ray's own file listing (whose fsspec probe races in threads).
        # Absolute paths: a worker's working folder is not this process's (nor on its machine).
        paths = [{"path": str(Path(path).absolute())} for path in files]
        shards = ray.data.from_items(paths, override_num_blocks=len(files))
        dataset = shards.map_batches(_place_shard, batch_size=1, batch_format="pyarrow", fn_kwargs={"plan": plan})
        blocks = (_as_placed(block) for block in dataset.iter_batches(batch_format="pyarrow", batch_size=None))
        return write_placed(blocks, plan, sink, output_format, split_folder, batch_size, warnings)


def _place_shard(paths: arrow.Table, plan: PlacedRows) -> arrow.Table:
    """On a worker: every row of one Parquet shard, placed (a shard that breaks off keeps what was read)."""
    import pyarrow.parquet as parquet

    placed = []
    for path in paths.column("path").to_pylist():
        with contextlib.suppress(arrow.ArrowException, OSError):  # the driver's schema pass warned of it
            for batch in parquet.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=BATCH_ROWS):
                placed.append(placed_rows(ReadBatch(batch), plan)[0])
    return arrow.Table.from_batches(placed, schema=plan.output_schema)


def _as_placed(block: arrow.Table) -> tuple[arrow.RecordBatch, int, None]:
    """On the driver: a placed block as the writer takes it (its errors counted again: a count is cheap)."""
    batch = _one_batch(block)
    return batch, count_reasons(batch.column("error")), None


def _one_batch(table: arrow.Table) -> arrow.RecordBatch:
    batches = table.combine_chunks().to_batches()
    return batches[0] if batches else arrow.RecordBatch.from_pylist([], schema=table.schema)
