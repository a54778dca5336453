"""Rows split by bucket into a Parquet folder per bucket, and the manifest of what each bucket holds.

A bucket-pure shard writer (WebDataset, MosaicML, a trainer's own cache) wants every sample of one
bucket together: ``--split-by-bucket DIR`` writes ``DIR/bucket=WxH/part-00000.parquet`` (Hive-style,
so ``pyarrow.dataset``, Spark, DuckDB and Ray read the bucket back as a column) and rows that could
not be placed to ``DIR/bucket=unplaced/``. Each bucket's rows are gathered into row groups as large as
``assign``'s own (:data:`~aspectbucket.tables.writers.ROW_GROUP_ROWS` rows or
:data:`~aspectbucket.tables.writers.ROW_GROUP_BYTES`), encoded on every core by one queue that all
buckets share; when the rows waiting in all buckets reach :data:`PENDING_BYTES`, the largest bucket's go
first, so memory stays bounded however many buckets there are. (Writing each batch's slice as it came
made a row group of a few thousand rows per bucket per batch, three times slower to write and to read.)

Beside each bucket's Parquet file, ``_keys.txt`` lists its samples' keys, one a line in input order,
appended batch by batch as rows stream (never all keys in memory; the leading ``_`` makes Hive
readers skip it). A key is the row's ``shard``/``member`` (WebDataset tars, where ``key`` repeats
from shard to shard), else its ``key`` (img2dataset), else its ``url``, else its row number in the
input (from 0); ``_manifest.json`` says which (``keys_from``). A key column holds text, bytes (written
as text when they are UTF-8, else in base64) or whole numbers; one of another type is passed over for
the next source. A line break inside a key is written
as ``\\n`` (``\\r``), so every key is one line. The manifest lists each bucket's folder, keys file,
sample count and batches per epoch, and the epoch's steps, counted by the epoch ledger
(:func:`aspectbucket.geometry.ledger.bucket_epoch`) under the profile's trainer's own batching rule
at the batch size given, one process, no accumulation, each row one image trained once.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as arrow
import pyarrow.compute as compute

from aspectbucket.geometry.ledger import BatchSettings, bucket_epoch
from aspectbucket.profiles import Profile
from aspectbucket.profiles.batching import batching_rule
from aspectbucket.tables.formats import TableError
from aspectbucket.tables.parquet_parts import EncodingQueue, JoinedParquetFile
from aspectbucket.tables.pipeline import worker_count
from aspectbucket.tables.writers import ENCODING_THREADS, ROW_GROUP_BYTES, ROW_GROUP_ROWS

UNPLACED = "unplaced"
#: The manifest's name: led by ``_`` like the keys files, so Hive readers (``pyarrow.dataset``, Spark) skip it.
MANIFEST = "_manifest.json"
#: Each bucket folder's list of sample keys (Hive readers skip names starting with ``_``).
KEYS = "_keys.txt"
#: Where a sample's key comes from, in order of preference; ``row`` is its row number in the input.
KEY_SOURCES = ("shard/member", "key", "url", "row")
#: Rows (and their key lines) waiting in all buckets together before the largest bucket's are written.
PENDING_BYTES = 128 << 20


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
        self.keys_from = next(source for source in KEY_SOURCES if _has_key_source(schema, source))
        self._files: dict[str, tuple[object, JoinedParquetFile]] = {}
        self._queue = EncodingQueue(min(worker_count(), ENCODING_THREADS))
        self._pending: dict[str, _Pending] = {}
        self._pending_bytes = 0
        self._rows_seen = 0
        self.counts: dict[str, int] = {}

    def write(self, batch: arrow.RecordBatch) -> None:
        """Add the rows of ``batch`` (with the placement columns) to their buckets, and their keys to their
        buckets' key lists; a bucket's rows are written once a row group's worth has gathered."""
        placed = compute.equal(batch.column("error"), "").to_numpy(zero_copy_only=False)
        widths = batch.column("bucket_width").to_numpy()
        heights = batch.column("bucket_height").to_numpy()
        keys = np.where(placed, (widths << 32) | heights, -1)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        ends = np.r_[starts[1:], len(sorted_keys)]
        names = self._sample_keys(batch, arrow.array(order))
        self._rows_seen += batch.num_rows
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            key = int(sorted_keys[start])
            name = UNPLACED if key < 0 else f"{key >> 32}x{key & 0xFFFFFFFF}"
            pending = self._pending.setdefault(name, _Pending())
            count = end - start
            # A take per bucket, not slices of one: a slice would hold the whole batch until its bucket is written.
            rows = batch.take(arrow.array(order[start:end]))
            self._pending_bytes += pending.add(rows, key_lines(names.slice(start, count)))
            self.counts[name] = self.counts.get(name, 0) + count
            if pending.rows >= ROW_GROUP_ROWS or pending.bytes >= ROW_GROUP_BYTES:
                self._flush(name)
        while self._pending_bytes >= PENDING_BYTES:
            self._flush(max(self._pending, key=lambda name: self._pending[name].bytes))

    def _sample_keys(self, batch: arrow.RecordBatch, order: arrow.Array) -> arrow.Array:
        """Each row's key (see the module's docstring) as text, in ``order``."""
        if self.keys_from == "row":
            return compute.cast(compute.add(order, self._rows_seen), arrow.string())
        if self.keys_from == "shard/member":
            column = compute.binary_join_element_wise(batch.column("shard"), batch.column("member"), "/")
        else:
            column = batch.column(self.keys_from)
        text = compute.fill_null(_key_text(column), "")
        for mark, escaped in (("\n", "\\n"), ("\r", "\\r")):
            text = compute.replace_substring(text, mark, escaped)
        return text.take(order)

    def _flush(self, name: str) -> None:
        """Hand a bucket's waiting rows to the encoding queue as one row group, and append its key lines."""
        pending = self._pending.pop(name, None)
        if pending is None:
            return
        self._pending_bytes -= pending.bytes
        folder = self._staging / f"bucket={name}"
        if name not in self._files:
            folder.mkdir()
            stream = open(folder / "part-00000.parquet", "wb")  # noqa: SIM115 (closed by close or abandon)
            self._files[name] = (stream, JoinedParquetFile(stream, self.schema))
        self._queue.submit(self._files[name][1], arrow.Table.from_batches(pending.batches))
        with open(folder / KEYS, "ab") as listing:
            listing.writelines(pending.lines)

    def close(self, batch_size: int = 1, profile: str | Profile = "kohya") -> dict:
        """Finish every file, write the manifest and give the folder its name; returns the manifest."""
        for name in list(self._pending):
            self._flush(name)
        self._queue.close()
        for stream, file in self._files.values():
            file.close()
            stream.close()
        manifest = bucket_manifest(self.counts, batch_size, profile, self.keys_from)
        (self._staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        os.chmod(self._staging, 0o777 & ~_umask())
        if self.folder.exists():
            self.folder.rmdir()  # empty, checked when the split began
        os.replace(self._staging, self.folder)
        return manifest

    def abandon(self) -> None:
        """Remove what was written (the run failed)."""
        self._queue.abandon()
        for stream, _ in self._files.values():
            with contextlib.suppress(OSError):
                stream.close()
        shutil.rmtree(self._staging, ignore_errors=True)


class _Pending:
    """A bucket's rows and key lines gathered for its next row group."""

    def __init__(self):
        self.batches: list[arrow.RecordBatch] = []
        self.lines: list[bytes] = []
        self.rows = self.bytes = 0

    def add(self, rows: arrow.RecordBatch, lines: bytes) -> int:
        """Gather ``rows`` and their key ``lines``; returns the bytes they hold."""
        self.batches.append(rows)
        self.lines.append(lines)
        size = rows.nbytes + len(lines)
        self.rows += rows.num_rows
        self.bytes += size
        return size


def key_lines(text: arrow.Array) -> bytes:
    """The values of a text array (no nulls) as UTF-8 lines, each ending in a line break, made on the
    array's buffers in one pass (a Python string per key cost more than writing the rows)."""
    if len(text) == 0:
        return b""
    wide = arrow.types.is_large_string(text.type)
    _, offset_buffer, data_buffer = text.buffers()
    offsets = np.frombuffer(offset_buffer, dtype=np.int64 if wide else np.int32)
    offsets = offsets[text.offset : text.offset + len(text) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    return np.insert(data[offsets[0] : offsets[-1]], offsets[1:] - offsets[0], ord("\n")).tobytes()


def _has_key_source(schema: arrow.Schema, source: str) -> bool:
    """``source`` names columns of ``schema`` that hold keys (text, bytes or whole numbers), or is ``row``."""
    if source == "row":
        return True
    return all(name in schema.names and _is_key_type(schema.field(name).type) for name in source.split("/"))


def _is_key_type(kind: arrow.DataType) -> bool:
    if arrow.types.is_dictionary(kind):
        kind = kind.value_type
    return any(
        test(kind)
        for test in (
            arrow.types.is_string,
            arrow.types.is_large_string,
            arrow.types.is_integer,
            arrow.types.is_binary,
            arrow.types.is_large_binary,
            arrow.types.is_fixed_size_binary,
        )
    )


def _key_text(column: arrow.Array) -> arrow.Array:
    """Keys as text: bytes that are not UTF-8 as base64 (as JSONL output writes them), others as they read."""
    if arrow.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    kind = column.type
    if arrow.types.is_binary(kind) or arrow.types.is_large_binary(kind) or arrow.types.is_fixed_size_binary(kind):
        return arrow.array(
            [None if value is None else _bytes_key(value) for value in column.to_pylist()], arrow.string()
        )
    return compute.cast(column, arrow.string())


def _bytes_key(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(value).decode("ascii")


def bucket_manifest(
    counts: dict[str, int], batch_size: int = 1, profile: str | Profile = "kohya", keys_from: str = "row"
) -> dict:
    """Each bucket's folder, keys file, samples and batches per epoch at ``batch_size`` (largest buckets
    first), and the epoch's steps under ``profile``'s trainer's batching rule (one process, no gradient
    accumulation, each sample one image trained once); unplaced rows are counted apart and train nothing.

    Where the trainer refuses the whole dataset (SimpleTuner with a bucket smaller than a batch),
    ``refused`` says why and no step is counted.
    """
    buckets = sorted(((name, count) for name, count in counts.items() if name != UNPLACED), key=lambda item: -item[1])
    rule = batching_rule(profile)
    samples = np.array([count for _, count in buckets], dtype=np.int64)
    batches, steps, _, refused = bucket_epoch(samples, samples, rule, BatchSettings(batch_size))
    entries = []
    for (name, count), bucket_batches in zip(buckets, batches.tolist(), strict=True):
        width, height = (int(side) for side in name.split("x"))
        entries.append(
            {
                "bucket": name,
                "width": width,
                "height": height,
                "samples": count,
                "steps_per_epoch": bucket_batches,
                "path": f"bucket={name}",
                "keys": f"bucket={name}/{KEYS}",
            }
        )
    manifest = {
        "batch_size": batch_size,
        "batching": rule.value,
        "samples": int(samples.sum()),
        "unplaced": counts.get(UNPLACED, 0),
        "steps_per_epoch": steps,
        "keys_from": keys_from,
        "buckets": entries,
    }
    if UNPLACED in counts:
        manifest["unplaced_keys"] = f"bucket={UNPLACED}/{KEYS}"
    if refused:
        manifest["refused"] = refused
    return manifest


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current
