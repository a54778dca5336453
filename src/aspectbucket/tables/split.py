"""Rows split by bucket into a Parquet folder per bucket, and the manifest of what each bucket holds.

A bucket-pure shard writer (WebDataset, MosaicML, a trainer's own cache) wants every sample of one
bucket together: ``--split-by-bucket DIR`` writes ``DIR/bucket=WxH/part-00000.parquet`` (Hive-style,
so ``pyarrow.dataset``, Spark, DuckDB and Ray read the bucket back as a column) and rows that could
not be placed to ``DIR/bucket=unplaced/``. One writer per bucket stays open while the table streams,
so memory is one batch per bucket at most. ``manifest.json`` beside them lists each bucket's folder,
sample count and steps per epoch at a batch size.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as arrow

from aspectbucket.geometry.batches import BatchPolicy, steps_per_epoch
from aspectbucket.tables.formats import TableError

UNPLACED = "unplaced"
MANIFEST = "manifest.json"


class BucketSplitter:
    """Receives placed record batches and appends each row to its bucket's Parquet file.

    Everything is written in a temporary folder beside ``folder`` that takes its name only in
    :meth:`close` (after a failure it is removed): a reader never sees half a split.
    """

    def __init__(self, folder: Path, schema: arrow.Schema):
        self.folder = Path(folder)
        if self.folder.exists() and (not self.folder.is_dir() or any(self.folder.iterdir())):
            raise TableError(f"--split-by-bucket {self.folder}: the folder must be new or empty")
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        self._staging = Path(tempfile.mkdtemp(prefix=f".{self.folder.name}.", dir=self.folder.parent))
        self.schema = schema
        self._writers: dict[str, object] = {}
        self.counts: dict[str, int] = {}

    def write(self, batch: arrow.RecordBatch) -> None:
        """Append the rows of ``batch`` (with the placement columns) to their buckets' files."""
        placed = np.asarray(batch.column("error").to_numpy(zero_copy_only=False) == "")
        widths = batch.column("bucket_width").to_numpy()
        heights = batch.column("bucket_height").to_numpy()
        keys = np.where(placed, (widths << 32) | heights, -1)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        ends = np.r_[starts[1:], len(sorted_keys)]
        rows = batch.take(arrow.array(order))
        for start, end in zip(starts, ends, strict=True):
            key = int(sorted_keys[start])
            name = UNPLACED if key < 0 else f"{key >> 32}x{key & 0xFFFFFFFF}"
            self._writer(name).write_batch(rows.slice(start, end - start))
            self.counts[name] = self.counts.get(name, 0) + int(end - start)

    def _writer(self, name: str):
        if name not in self._writers:
            import pyarrow.parquet as parquet

            part = self._staging / f"bucket={name}" / "part-00000.parquet"
            part.parent.mkdir()
            self._writers[name] = parquet.ParquetWriter(part, self.schema)
        return self._writers[name]

    def close(self, batch_size: int = 1, policy: BatchPolicy = BatchPolicy.SHORT) -> dict:
        """Finish every file, write the manifest and give the folder its name; returns the manifest."""
        for writer in self._writers.values():
            writer.close()
        manifest = bucket_manifest(self.counts, batch_size, policy)
        (self._staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        os.chmod(self._staging, 0o777 & ~_umask())
        if self.folder.exists():
            self.folder.rmdir()  # empty, checked when the split began
        os.replace(self._staging, self.folder)
        return manifest

    def abandon(self) -> None:
        """Remove what was written (the run failed)."""
        for writer in self._writers.values():
            with contextlib.suppress(OSError, arrow.ArrowException):
                writer.close()
        shutil.rmtree(self._staging, ignore_errors=True)


def bucket_manifest(counts: dict[str, int], batch_size: int = 1, policy: BatchPolicy = BatchPolicy.SHORT) -> dict:
    """Each bucket's folder, samples and steps per epoch at ``batch_size`` (largest buckets first).

    Steps come from :func:`aspectbucket.geometry.batches.steps_per_epoch` under ``policy`` (one
    process); unplaced rows are counted apart and train nothing.
    """
    buckets = sorted(((name, count) for name, count in counts.items() if name != UNPLACED), key=lambda item: -item[1])
    entries = []
    for name, count in buckets:
        width, height = (int(side) for side in name.split("x"))
        steps = steps_per_epoch([count], batch_size, policy)
        entries.append(
            {
                "bucket": name,
                "width": width,
                "height": height,
                "samples": count,
                "steps_per_epoch": steps,
                "path": f"bucket={name}",
            }
        )
    return {
        "batch_size": batch_size,
        "batch_policy": BatchPolicy(policy).value,
        "samples": sum(count for _, count in buckets),
        "unplaced": counts.get(UNPLACED, 0),
        "steps_per_epoch": steps_per_epoch([count for _, count in buckets], batch_size, policy),
        "buckets": entries,
    }


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current
