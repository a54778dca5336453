"""A metadata-only dataset as a scan: ``report`` on a Parquet table or WebDataset shards, no pixel read.

img2dataset's Parquet shards and WebDataset tar shards already say (or, for tars, their headers say)
every sample's size. :func:`scan_table` turns such a source into the :class:`~aspectbucket.scan.ScanResult`
a folder scan gives, so the whole report (placement, steps, warnings, advice, JSON/CSV/HTML) runs on
it unchanged. Each sample's path is the source's, then its shard and member (tars) or its
``key``/``url`` column. The
report holds one row per sample in memory: for hundreds of millions, ``assign`` with
``--split-by-bucket`` streams instead.

Each shard (a Parquet file, a tar) is read on its own (:func:`read_shard`), so ``--engine ray`` reads
them as Ray tasks (:class:`~aspectbucket.tables.ray_engine.RayCluster`) and joins them in shard order:
the same scan, warnings included, as the local engine's.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as arrow
import pyarrow.compute as compute

from aspectbucket.scan.headers import is_image_name
from aspectbucket.scan.scanner import PathList, ScanResult
from aspectbucket.scan.sources import Subset
from aspectbucket.tables.formats import TableError
from aspectbucket.tables.ray_engine import RayCluster
from aspectbucket.tables.readers import BATCH_ROWS, conform, parquet_shards
from aspectbucket.tables.sizes import SizeColumns, size_columns, size_values
from aspectbucket.tables.webdataset import TAR_SCHEMA, read_tar_shard, tar_shards

#: Folder entries looked at to tell a metadata-only dataset from a folder of images.
IMAGES_LOOKED_FOR = 10_000
#: Columns that name a sample, in order of preference, when the table has no shard/member.
NAME_COLUMNS = ("key", "url", "URL", "path", "file")


def is_metadata_source(source: Path) -> bool:
    """A ``.parquet`` or ``.tar`` file, or a folder holding such files and no image file (a folder of
    images with a stray table in it stays a folder of images; only its first entries are looked at)."""
    if source.is_file():
        return source.suffix.lower() in (".parquet", ".pq", ".tar")
    if not source.is_dir():
        return False
    entries = list(itertools.islice(source.rglob("*"), IMAGES_LOOKED_FOR))
    if any(is_image_name(entry.name) for entry in entries):
        return False
    return any(entry.suffix.lower() in (".parquet", ".tar") for entry in entries)


def scan_table(
    source: Path,
    width_column: str | None = None,
    height_column: str | None = None,
    *,
    cluster: RayCluster | None = None,
) -> ScanResult:
    """Every row of a metadata-only source as a scanned image (stored size, EXIF orientation for tars).

    ``cluster`` reads the shards as Ray tasks instead of one after another here. Raises
    :class:`~aspectbucket.tables.TableError` when the source is not such a table at all.
    """
    tars = source.suffix.lower() == ".tar" or (source.is_dir() and not any(source.rglob("*.parquet")))
    if tars:
        shards, warnings = tar_shards(source), []
        if not shards:
            raise TableError(f"{source} holds no .tar shards")
        base = source if source.is_dir() else source.parent
        names = [shard.relative_to(base).as_posix() for shard in shards]
        sizes = size_columns(TAR_SCHEMA.names, width_column, height_column)
        read = partial(read_shard, sizes=sizes)
    else:
        shards, schema, warnings = parquet_shards(source)
        names = [None] * len(shards)
        sizes = size_columns(schema.names, width_column, height_column)
        read = partial(read_shard, sizes=sizes, schema=schema)
    # Opened by absolute path (a Ray worker's working folder is not this process's, nor on its machine),
    # named in warnings as given, so both engines say the same.
    jobs = [(Path(shard).absolute(), name, str(shard)) for shard, name in zip(shards, names, strict=True)]
    parts = cluster.map(read, jobs) if cluster is not None else [read(job) for job in jobs]
    prefix = str(source.resolve())  # a sample's path: where it lives, then its shard/member or key
    labels, errors, start = [], [], 0
    for part in parts:
        numbered = [f"row {index}" for index in range(start, start + len(part.errors))]
        labels += [f"{prefix}/{name}" for name in (numbered if part.names is None else part.names)]
        errors += part.errors
        warnings += part.warnings
        start += len(part.errors)
    joined = [np.concatenate([getattr(part, side) for part in parts] or [np.zeros(0, np.int64)]) for side in SIDES]
    subset = Subset(image_dir=source, name=source.name)
    warnings += [sizes.note] if sizes.note else []
    return ScanResult([subset], PathList.of_strings(labels), np.zeros(len(labels), np.int64), *joined, errors, warnings)


#: The arrays of a :class:`ShardSizes`, in :class:`ScanResult`'s order.
SIDES = ("widths", "heights", "orientations")


@dataclass
class ShardSizes:
    """What one shard holds, as a scan needs it: each sample's name (None: number the rows), sides,
    EXIF orientation and reason, and the shard's warnings."""

    names: list[str] | None
    widths: np.ndarray
    heights: np.ndarray
    orientations: np.ndarray
    errors: list[str]
    warnings: list[str]


def read_shard(job: tuple[Path, str | None, str], sizes: SizeColumns, schema: arrow.Schema | None = None) -> ShardSizes:
    """One shard's samples: a tar (``job`` is its path, its name under the source and the path as the
    user gave it) or, given the whole input's unified ``schema``, a Parquet file (a shard that breaks
    off keeps its rows so far, with a warning naming it as given)."""
    path, name, shown = job
    if schema is None:
        batch, warnings = read_tar_shard(path, name)
        batches = [] if batch is None else [(batch.batch, batch.errors)]
    else:
        batches, warnings = _parquet_batches(path, schema, shown)
    columns: dict[str, list] = {side: [] for side in SIDES}
    labels: list[str] | None = None if schema is not None and not _name_column(schema) else []
    errors: list[str] = []
    for batch, reasons in batches:
        if labels is not None:
            labels += _names(batch, schema is None)
        columns["widths"].append(_sides(size_values(batch.column(sizes.width))))
        columns["heights"].append(_sides(size_values(batch.column(sizes.height))))
        orientation = batch.column("orientation").to_numpy() if schema is None else np.ones(batch.num_rows)
        columns["orientations"].append(orientation.astype(np.int64))
        errors += reasons or [""] * batch.num_rows
    arrays = {side: np.concatenate(parts) if parts else np.zeros(0, np.int64) for side, parts in columns.items()}
    return ShardSizes(labels, **arrays, errors=errors, warnings=warnings)


def _parquet_batches(path: Path, schema: arrow.Schema, shown: str) -> tuple[list, list[str]]:
    """The batches of one Parquet file in the unified schema, and a warning (naming it ``shown``) where it
    broke off."""
    import pyarrow.parquet as parquet

    batches = []
    try:
        for batch in parquet.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=BATCH_ROWS):
            batches.append((batch if batch.schema.equals(schema) else conform(batch, schema), None))
    except (arrow.ArrowException, OSError) as error:
        return batches, [f"stopped reading {shown}: {' '.join(str(error).split())}"]
    return batches, []


def _name_column(schema: arrow.Schema) -> str | None:
    return next((name for name in NAME_COLUMNS if name in schema.names), None)


def _names(batch: arrow.RecordBatch, tars: bool) -> list[str]:
    if tars:
        return compute.binary_join_element_wise(batch.column("shard"), batch.column("member"), "/").to_pylist()
    column = compute.cast(batch.column(_name_column(batch.schema)), arrow.string())
    return compute.fill_null(column, "").to_pylist()


def _sides(values: np.ndarray) -> np.ndarray:
    """Sizes as stored integers; a missing or unusable one is 0 (placement then says why)."""
    with np.errstate(invalid="ignore"):
        usable = np.isfinite(values) & (values >= 1) & (values == np.floor(values)) & (values <= 1 << 31)
    return np.where(usable, np.nan_to_num(values), 0).astype(np.int64)
