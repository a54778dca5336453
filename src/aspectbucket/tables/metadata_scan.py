"""A metadata-only dataset as a scan: ``report`` on a Parquet table or WebDataset shards, no pixel read.

img2dataset's Parquet shards and WebDataset tar shards already say (or, for tars, their headers say)
every sample's size. :func:`scan_table` turns such a source into the :class:`~aspectbucket.scan.ScanResult`
a folder scan gives, so the whole report (placement, steps, warnings, advice, JSON/CSV/HTML) runs on
it unchanged. Each sample's path is the source's, then its shard and member (tars) or its
``key``/``url`` column. The
report holds one row per sample in memory: for hundreds of millions, ``assign`` with
``--split-by-bucket`` streams instead.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pyarrow as arrow
import pyarrow.compute as compute

from aspectbucket.scan.headers import is_image_name
from aspectbucket.scan.scanner import PathList, ScanResult
from aspectbucket.scan.sources import Subset
from aspectbucket.tables.formats import TableFormat
from aspectbucket.tables.readers import open_table
from aspectbucket.tables.sizes import size_columns, size_values
from aspectbucket.tables.webdataset import open_tar_shards

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


def scan_table(source: Path, width_column: str | None = None, height_column: str | None = None) -> ScanResult:
    """Every row of a metadata-only source as a scanned image (stored size, EXIF orientation for tars).

    Raises :class:`~aspectbucket.tables.TableError` when the source is not such a table at all.
    """
    tars = source.suffix.lower() == ".tar" or (source.is_dir() and not any(source.rglob("*.parquet")))
    if tars:
        table = open_tar_shards(source)
    else:
        table = open_table(source if source.is_dir() else source.open("rb"), TableFormat.PARQUET)
    sizes = size_columns(table.schema.names, width_column, height_column)
    prefix = str(source.resolve())  # a sample's path: where it lives, then its shard/member or key
    names, widths, heights, orientations, errors = [], [], [], [], []
    start = 0
    for read in table.batches:
        batch = read.batch
        names += [f"{prefix}/{name}" for name in _names(batch, tars, start)]
        start += batch.num_rows
        for values, column in ((widths, sizes.width), (heights, sizes.height)):
            values.append(_sides(size_values(batch.column(column))))
        orientation = batch.column("orientation").to_numpy() if tars else np.ones(batch.num_rows)
        orientations.append(orientation.astype(np.int64))
        errors += read.errors or [""] * batch.num_rows
    subset = Subset(image_dir=source, name=source.name)
    joined = [np.concatenate(parts) if parts else np.zeros(0, np.int64) for parts in (widths, heights, orientations)]
    warnings = list(table.warnings) + ([sizes.note] if sizes.note else [])
    return ScanResult([subset], PathList.of_strings(names), np.zeros(len(names), np.int64), *joined, errors, warnings)


def _names(batch: arrow.RecordBatch, tars: bool, start: int) -> list[str]:
    if tars:
        return compute.binary_join_element_wise(batch.column("shard"), batch.column("member"), "/").to_pylist()
    for name in NAME_COLUMNS:
        if name in batch.schema.names:
            column = compute.cast(batch.column(name), arrow.string())
            return compute.fill_null(column, "").to_pylist()
    return [f"row {index}" for index in range(start, start + batch.num_rows)]


def _sides(values: np.ndarray) -> np.ndarray:
    """Sizes as stored integers; a missing or unusable one is 0 (placement then says why)."""
    with np.errstate(invalid="ignore"):
        usable = np.isfinite(values) & (values >= 1) & (values == np.floor(values)) & (values <= 1 << 31)
    return np.where(usable, np.nan_to_num(values), 0).astype(np.int64)
