"""``assign`` speed on size tables: the engine against a per-image loop and against its own I/O floor.

For each format (CSV, JSONL, Parquet) one table of random image sizes (key, url, width, height,
similarity) goes through, side by side in one run:

- ``loop``: a per-image loop with the standard library's readers and writers (``csv.DictReader`` /
  ``DictWriter``, ``json.loads`` / ``dumps`` per line; Parquet, which the standard library cannot read,
  through pyarrow's ``to_pylist``/``from_pylist``), placing each chunk of 65,536 sizes with the project's
  own placement: the per-row Python that ``assign`` used to be;
- ``floor``: the same table read and written by the engine alone (pyarrow, and the project's JSONL
  writer) on the engine's own threads, no placement: the I/O floor. Its Parquet writer is the project's
  (:class:`~aspectbucket.tables.parquet_parts.ParallelParquetWriter`, a row group per core), the same one
  ``assign`` writes with, so this is the stricter floor;
- ``pyarrow``: the same table read and written by pyarrow's own streaming reader and writer with no
  project code (``ParquetFile`` row group by row group into one ``ParquetWriter``, which encodes on one
  thread; ``pyarrow.csv.open_csv`` into a ``CSVWriter``; pyarrow writes no JSON), the floor as the
  engine alone gives it;
- ``wide``: the floor writing the output's columns, all of them: the placement columns, computed
  beforehand, are joined to each batch as it is read, so ``wide - floor`` is the cost of writing 11
  more columns and ``all - wide`` that of placement itself (where the time goes);
- ``assign``: :func:`aspectbucket.tables.assign_table` with its default columns (the pixel columns:
  bucket, resized size, crop offsets, error);
- ``all``: the same with ``columns=["all"]`` (``--columns all``: also ``ar_error``, ``crop_ltrb``,
  ``lost_fraction``, ``upscaled``), what the loop writes;
- ``narrow``: the same with ``columns=("bucket_width", "bucket_height")``, the bucket alone.

From Parquet into Parquet, ``assign`` decodes only the sizes and copies the other columns' encoded bytes
(:mod:`aspectbucket.tables.parquet_copy`; the inputs here are written in row groups it copies), while
both floors and ``wide`` decode and encode every column: that is why it can run faster than a floor.

Done when (issue 14): ``assign`` is at least 6x the loop and within 1.5x of the floor for each format
(``loop/all`` compares the same columns written). ``--stream-rows`` then streams a Parquet table of
that many rows through ``aspectbucket assign`` (default columns, ``--columns all``, the bucket alone)
and through both floors, each in a child process, and prints their rates and peak memory (target: under
1 GB, at least 0.7x the floor's rate). Timings are wall-clock seconds, best of ``--repeats``.

``--csv-encoder pyarrow`` encodes CSV rows as the project did before issue 14 item 5, with pyarrow's
writer alone (:func:`~aspectbucket.tables.csv_text.writer_rows`), instead of
:func:`~aspectbucket.tables.csv_text.csv_rows` (same bytes), to measure what that encoder saves.

    python benchmarks/bench_assign.py [--rows 1000000] [--stream-rows 20000000] [--stream-input img2dataset]
        [--formats csv,jsonl,parquet] [--csv-encoder project|pyarrow]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as arrow
import pyarrow.parquet as parquet

from aspectbucket import BucketOptions
from aspectbucket.profiles import place_by_profile, resolve
from aspectbucket.tables import TableFormat, assign_table, placement_batch, placement_columns, writers
from aspectbucket.tables.assign import PLACEMENT_PARQUET_ENCODINGS
from aspectbucket.tables.csv_text import writer_rows
from aspectbucket.tables.json_text import json_lines
from aspectbucket.tables.pipeline import in_order, read_ahead
from aspectbucket.tables.readers import open_table
from aspectbucket.tables.writers import TableWriter, encode_batch

CHUNK = 1 << 16
PROFILE, OPTIONS, _ = resolve("kohya", BucketOptions((1024, 1024), 256, 2048))


def make_table(rows: int, seed: int = 0) -> arrow.Table:
    rng = np.random.default_rng(seed)
    keys = np.char.zfill(np.arange(rows).astype(str), 9)
    return arrow.table(
        {
            "key": keys,
            "url": np.char.add("https://example.com/img/", np.char.add(keys, ".jpg")),
            "width": rng.integers(64, 6000, rows),
            "height": rng.integers(64, 6000, rows),
            "similarity": rng.random(rows),
        }
    )


def write_inputs(table: arrow.Table, folder: Path) -> dict[TableFormat, Path]:
    import pyarrow.csv as arrow_csv

    paths = {fmt: folder / f"sizes.{fmt.value}" for fmt in TableFormat}
    parquet.write_table(table, paths[TableFormat.PARQUET])
    arrow_csv.write_csv(table, paths[TableFormat.CSV])
    with open(paths[TableFormat.JSONL], "wb") as sink:
        for batch in table.to_batches(CHUNK):
            sink.write(json_lines(batch))
    return paths


def loop(path: Path, target: Path, table_format: TableFormat) -> None:
    """The per-image loop: one Python dict per row, read and written by the standard library."""
    with open(target, "wb") as sink:
        writer = None
        for rows in _loop_rows(path, table_format):
            placement = place_by_profile(
                [row["width"] for row in rows], [row["height"] for row in rows], OPTIONS, PROFILE
            )
            columns = placement_columns(placement)
            merged = [{**row, **{name: values[i] for name, values in columns.items()}} for i, row in enumerate(rows)]
            if table_format is TableFormat.CSV:
                if writer is None:
                    text = io.TextIOWrapper(sink, encoding="utf-8", newline="", write_through=True)
                    writer = csv.DictWriter(text, fieldnames=list(merged[0]), lineterminator="\n")
                    writer.writeheader()
                for row in merged:
                    row["crop_ltrb"] = " ".join(repr(value) for value in row["crop_ltrb"])
                writer.writerows(merged)
            elif table_format is TableFormat.JSONL:
                sink.write("".join(json.dumps(row) + "\n" for row in merged).encode())
            else:
                batch = arrow.Table.from_pylist(merged)
                writer = writer or parquet.ParquetWriter(sink, batch.schema)
                writer.write_table(batch)
        if table_format is TableFormat.PARQUET and writer is not None:
            writer.close()


def _loop_rows(path: Path, table_format: TableFormat):
    if table_format is TableFormat.PARQUET:
        for batch in parquet.ParquetFile(path).iter_batches(CHUNK):
            yield batch.to_pylist()
        return
    with open(path, encoding="utf-8", newline="") as source:
        rows = csv.DictReader(source) if table_format is TableFormat.CSV else map(json.loads, source)
        chunk = []
        for row in rows:
            chunk.append(row)
            if len(chunk) == CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def floor(path: Path, target: Path, table_format: TableFormat) -> None:
    """The engine's reading and writing alone, same table in and out, on the engine's own pipeline
    (parsing on its thread, encoding on the pool, writing here)."""
    with open(path, "rb") as source, open(target, "wb") as sink:
        table = open_table(source, table_format)
        writer = TableWriter(sink, table_format, table.schema)
        for encoded in in_order(partial(encode_batch, table_format=table_format), _batches(table)):
            writer.write_encoded(encoded)
        writer.close()


def floor_pyarrow(path: Path, target: Path, table_format: TableFormat) -> None:
    """pyarrow's own streaming reader and writer, no project code (Parquet: row group by row group, the
    same dictionary choice as the project's writer: none for floats)."""
    import pyarrow.csv as arrow_csv

    if table_format is TableFormat.CSV:
        reader = arrow_csv.open_csv(path)
        with arrow_csv.CSVWriter(target, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
        return
    source = parquet.ParquetFile(path)
    schema = source.schema_arrow
    dictionary = [field.name for field in schema if not arrow.types.is_floating(field.type)]
    with parquet.ParquetWriter(target, schema, use_dictionary=dictionary) as writer:
        for index in range(source.num_row_groups):
            writer.write_table(source.read_row_group(index))


def wide(path: Path, target: Path, table_format: TableFormat, placed: arrow.RecordBatch) -> None:
    """The floor, writing the input joined to placement columns computed beforehand."""
    with open(path, "rb") as source, open(target, "wb") as sink:
        table = open_table(source, table_format)
        schema = arrow.schema([*table.schema, *placed.schema]) if table.schema is not None else None  # JSONL: none
        writer = TableWriter(sink, table_format, schema, PLACEMENT_PARQUET_ENCODINGS)
        joined = _joined(_batches(table), placed)
        for encoded in in_order(partial(encode_batch, table_format=table_format), joined):
            writer.write_encoded(encoded)
        writer.close()


def _batches(table):
    return read_ahead(read.batch for read in table.batches)


def _joined(batches, placed: arrow.RecordBatch):
    start = 0
    for batch in batches:
        columns = batch.columns + placed.slice(start, batch.num_rows).columns
        yield arrow.RecordBatch.from_arrays(columns, schema=arrow.schema([*batch.schema, *placed.schema]))
        start += batch.num_rows


def assign(path: Path, target: Path, table_format: TableFormat, columns=None) -> None:
    columns = [columns] if isinstance(columns, str) else columns
    with open(path, "rb") as source, open(target, "wb") as sink:
        assign_table(source, sink, OPTIONS, PROFILE, table_format, table_format, columns=columns)


def best(function, repeats: int, *args) -> float:
    """The least wall seconds of ``repeats`` runs; the least CPU seconds (every thread) go to ``CPU``."""
    times, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        function(*args)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    CPU[function.__name__, *map(str, args[3:])] = min(cpu)
    return min(times)


#: CPU seconds of the last :func:`best` per function and extra arguments: the work, whatever else runs.
CPU: dict[tuple, float] = {}


def compare_formats(
    rows: int, repeats: int, folder: Path, with_loop: bool = True, formats: tuple[TableFormat, ...] = tuple(TableFormat)
) -> None:
    table = make_table(rows)
    paths = {fmt: path for fmt, path in write_inputs(table, folder).items() if fmt in formats}
    sizes = (table.column("width").to_numpy(), table.column("height").to_numpy())
    placed = placement_batch(place_by_profile(*sizes, OPTIONS, PROFILE))
    print(f"\nassign, {rows:,} rows, same format in and out (best of {repeats}; loop once):")
    print(
        f"{'format':8} {'loop s':>7} {'floor s':>7} {'pyarrow s':>9} {'wide s':>7} {'assign s':>8} {'all s':>7} "
        f"{'narrow s':>8} {'loop/all':>9} {'assign/floor':>12} {'assign/pyarrow':>14} {'all/floor':>10} "
        f"{'all/wide':>9} {'narrow/floor':>12} "
        f"{'CPU s: assign/floor':>20} {'all/floor':>10}"
    )
    for table_format, path in paths.items():
        target = folder / f"out.{table_format.value}"
        seconds_loop = best(loop, 1, path, target, table_format) if with_loop else float("nan")
        seconds_floor = best(floor, repeats, path, target, table_format)
        has_pyarrow = table_format is not TableFormat.JSONL
        seconds_pyarrow = best(floor_pyarrow, repeats, path, target, table_format) if has_pyarrow else float("nan")
        seconds_wide = best(wide, repeats, path, target, table_format, placed)
        seconds_assign = best(assign, repeats, path, target, table_format)
        seconds_all = best(assign, repeats, path, target, table_format, "all")
        seconds_narrow = best(assign, repeats, path, target, table_format, ("bucket_width", "bucket_height"))
        print(
            f"{table_format.value:8} {seconds_loop:7.2f} {seconds_floor:7.2f} {seconds_pyarrow:9.2f} "
            f"{seconds_wide:7.2f} {seconds_assign:8.2f} {seconds_all:7.2f} {seconds_narrow:8.2f} "
            f"{seconds_loop / seconds_all:8.1f}x {seconds_assign / seconds_floor:11.2f}x "
            f"{seconds_assign / seconds_pyarrow:13.2f}x {seconds_all / seconds_floor:9.2f}x "
            f"{seconds_all / seconds_wide:8.2f}x "
            f"{seconds_narrow / seconds_floor:11.2f}x "
            f"{CPU['assign',] / CPU['floor',]:19.2f}x {CPU['assign', 'all'] / CPU['floor',]:9.2f}x",
            flush=True,
        )


def write_stream_input(rows: int, path: Path, shape: str = "numeric") -> None:
    """A Parquet table of ``rows`` sizes written group by group, so making it needs little memory.

    ``numeric``: key, width, height, similarity, four numbers a row (narrower than the seven columns
    ``assign`` adds, so the output is most of the work); ``img2dataset``: the columns img2dataset writes
    for each sample (url, caption, key, status, error_message, width, height, original_width,
    original_height, sha256), where the added columns are a smaller share of what is written.
    """
    rng = np.random.default_rng(1)
    group = 1 << 20
    writer = None
    for start in range(0, rows, group):
        count = min(group, rows - start)
        sizes = {
            "width": rng.integers(64, 6000, count).astype(np.int32),
            "height": rng.integers(64, 6000, count).astype(np.int32),
        }
        if shape == "numeric":
            columns = {
                "key": np.arange(start, start + count),
                **sizes,
                "similarity": rng.random(count).astype(np.float32),
            }
        else:
            numbers = np.arange(start, start + count).astype(str)
            columns = {
                "url": np.char.add(np.char.add("https://images.example.com/photos/", numbers), "/full.jpg"),
                "caption": np.char.add("a photograph of a quiet street at dusk, number ", numbers),
                "key": np.char.zfill(numbers, 9),
                "status": np.full(count, "success"),
                "error_message": arrow.nulls(count, arrow.string()),
                **sizes,
                "original_width": sizes["width"] * 2,
                "original_height": sizes["height"] * 2,
                "sha256": _hex_texts(rng, count, 32),
            }
        batch = arrow.table(columns)
        writer = writer or parquet.ParquetWriter(path, batch.schema)
        writer.write_table(batch)
    writer.close()


def _hex_texts(rng: np.random.Generator, count: int, size: int) -> arrow.Array:
    """``count`` random hex strings of ``size`` bytes, made as one buffer."""
    data = np.frombuffer(rng.bytes(count * size).hex().encode(), dtype=np.uint8)
    offsets = np.arange(0, (count + 1) * 2 * size, 2 * size, dtype=np.int32)
    return arrow.StringArray.from_buffers(count, arrow.py_buffer(offsets), arrow.py_buffer(data))


#: A floor of the stream (``floor`` or ``floor_pyarrow``), run in a child so its peak memory is its own.
FLOOR_CHILD = """
import sys
from aspectbucket.tables import TableFormat
import bench_assign
getattr(bench_assign, sys.argv[1])(sys.argv[2], sys.argv[3], TableFormat.PARQUET)
"""


def run_child(command: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system, every thread) and peak resident memory (MiB) of a child.

    The CPU seconds say how much work the run was whatever else the machine runs (other engineers'
    benchmarks stretch wall time, not work). The peak is the child's own ``VmHWM`` read while it runs:
    ``ru_maxrss`` would also count this process's memory, which a forked child carries until it execs.
    """
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=Path(__file__).parent)
    peak_kib = 0
    while True:
        peak_kib = max(peak_kib, _high_water_kib(process.pid))
        done, status, usage = os.wait4(process.pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{command[:4]} failed")
    return seconds, usage.ru_utime + usage.ru_stime, peak_kib / 1024


def _high_water_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            return next((int(line.split()[1]) for line in status if line.startswith("VmHWM:")), 0)
    except (OSError, ValueError):
        return 0


def compare_stream(rows: int, folder: Path, shape: str = "numeric") -> None:
    source = folder / "stream.parquet"
    write_stream_input(rows, source, shape)
    size = source.stat().st_size / 2**20
    print(f"\nParquet -> Parquet stream, {rows:,} rows of {shape} columns ({size:,.0f} MiB in), each in a child:")
    target = folder / "out.parquet"  # removed after each run: at 10^8 img2dataset rows each is 9 GB
    cli = [sys.executable, "-m", "aspectbucket", "assign", "--sizes", str(source), "-o", str(target)]
    commands = {
        "floor": [sys.executable, "-c", FLOOR_CHILD, "floor", str(source), str(target)],
        "floor_pyarrow": [sys.executable, "-c", FLOOR_CHILD, "floor_pyarrow", str(source), str(target)],
        "assign": cli,
        "all": [*cli, "--columns", "all"],
        "narrow": [*cli, "--columns", "bucket_width,bucket_height"],
    }
    runs = {}
    for name, command in commands.items():
        runs[name] = run_child(command)
        target.unlink()
    notes = {
        "assign": "(default: the pixel columns)",
        "all": "(--columns all)",
        "narrow": "(--columns: the bucket only)",
    }
    notes_floor = {"floor": "(the project's writer: a row group per core)", "floor_pyarrow": "(pyarrow alone)"}
    print(f"{'':13} {'seconds':>8} {'M rows/s':>9} {'CPU s':>7} {'peak MiB':>9}")
    for name, (seconds, cpu, mib) in runs.items():
        note = {**notes, **notes_floor}.get(name, "")
        print(f"{name:13} {seconds:8.1f} {rows / seconds / 1e6:9.2f} {cpu:7.1f} {mib:9.0f}  {note}")
    for floor_name in notes_floor:
        floor_s, floor_cpu = runs[floor_name][:2]
        print(
            f"rate / {floor_name} rate: "
            + ", ".join(f"{name} {floor_s / runs[name][0]:.2f}x" for name in notes)
            + " (target >= 0.7x); by CPU seconds: "
            + ", ".join(f"{name} {floor_cpu / runs[name][1]:.2f}x" for name in notes)
        )
    peak = max(mib for _, _, mib in runs.values())
    print(f"peak under 1 GB: {peak < 1024}; load average now {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--stream-rows", type=int, default=0, help="rows of the Parquet stream (0: skip it)")
    parser.add_argument(
        "--stream-input",
        choices=["numeric", "img2dataset"],
        default="numeric",
        help="the stream's columns: four numbers, or img2dataset's (see write_stream_input)",
    )
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-loop", action="store_true", help="skip the per-image loop (minutes at a million rows)")
    parser.add_argument(
        "--formats", default="csv,jsonl,parquet", help="comma-separated formats of the side-by-side table"
    )
    parser.add_argument(
        "--csv-encoder",
        choices=["project", "pyarrow"],
        default="project",
        help="pyarrow: floor, wide and assign encode CSV rows with pyarrow's writer, as before issue 14 item 5",
    )
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, pyarrow {arrow.__version__}")
    if args.csv_encoder == "pyarrow":
        writers.csv_rows = writer_rows
    formats = tuple(TableFormat(name) for name in args.formats.split(","))
    with tempfile.TemporaryDirectory(prefix="bench_assign.") as folder:
        if args.rows:
            compare_formats(args.rows, args.repeats, Path(folder), with_loop=not args.no_loop, formats=formats)
        if args.stream_rows:
            compare_stream(args.stream_rows, Path(folder), args.stream_input)


if __name__ == "__main__":
    main()
