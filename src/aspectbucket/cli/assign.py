"""``aspectbucket assign``: add bucket, resize and crop columns to a table of image sizes."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import click

from aspectbucket.cli.options import bucket_options, engine_options, resolve_bucket_options
from aspectbucket.outputs import OutputRefused, atomic_open
from aspectbucket.tables import TableError, TableFormat, assign_table, guess_format
from aspectbucket.tables.formats import TABLE_SUFFIXES


@click.command()
@click.option(
    "--sizes",
    "sizes_path",
    required=True,
    metavar="FILE",
    help="CSV with a header, JSONL, or Parquet with the image sizes; a folder of Parquet files "
    "(img2dataset's output) read as one table; WebDataset .tar shards (a shard or a folder: sizes from "
    "each image's header, nothing decoded); '-' for stdin.",
)
@click.option(
    "--width-column",
    default=None,
    metavar="NAME",
    help="Column holding the widths. [default: width, else WIDTH, else original_width]",
)
@click.option(
    "--height-column",
    default=None,
    metavar="NAME",
    help="Column holding the heights. [default: height, else HEIGHT, else original_height]",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice([f.value for f in TableFormat]),
    default=None,
    help="Output format. [default: from the --output file name, else the input's]",
)
@click.option(
    "--output",
    "-o",
    "output_path",
    default=None,
    metavar="FILE",
    help="Where to write; '-' for stdout. Written atomically. [default: stdout, or nothing with --split-by-bucket]",
)
@click.option(
    "--columns",
    "placement_names",
    default=None,
    metavar="LIST",
    help="Placement columns to add, comma-separated, or 'all' (error is always added). The default, 'pixels', is "
    "what makes each image's pixels: bucket_width, bucket_height, resized_width, resized_height, crop_left, "
    "crop_top; 'all' adds ar_error, crop_ltrb, lost_fraction and upscaled, which take 2-3x as long to write. "
    "[default: pixels]",
)
@click.option(
    "--split-by-bucket",
    "split_folder",
    default=None,
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write the rows as Parquet, one folder per bucket (DIR/bucket=WxH/part-00000.parquet, "
    "DIR/bucket=unplaced/), with DIR/_manifest.json (samples and steps per epoch per bucket) and each "
    "bucket's sample keys in its _keys.txt. "
    "DIR must be new or empty. Without --output, only the split is written.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Batch size for the manifest's steps per epoch (the profile's trainer's batching, as the ledger counts it).",
)
@engine_options("placement runs (Ray: Parquet input, a file or a folder of shards; the same rows)")
@click.option(
    "--input-format",
    type=click.Choice([f.value for f in TableFormat]),
    default=None,
    help="Input format when the file name does not tell. [default: guessed]",
)
@bucket_options
def assign(
    sizes_path,
    width_column,
    height_column,
    output_format,
    output_path,
    placement_names,
    split_folder,
    batch_size,
    cluster,
    input_format,
    bucketing,
):
    """Place every row of a size table; other columns pass through, in input order, with their types.

    Adds bucket_width, bucket_height, resized_width, resized_height, crop_left and crop_top (the real
    crop in the resized image) and error; with --columns all also ar_error, crop_ltrb (what the trainer
    reports to SDXL), lost_fraction and upscaled. Sizes come from width/height, else WIDTH/HEIGHT (LAION), else
    original_width/original_height (img2dataset), or the columns named; a note says which when it is
    not width/height. A row that cannot be read or placed keeps its place with a reason in 'error'.
    Exit status 0 when every row was placed, 1 when some rows carry an error (all rows are still
    written), 2 when the table cannot be read at all (a one-line reason; nothing is written).

    \b
    Example:
      printf 'file,width,height\\na.png,576,768\\n' | aspectbucket assign --sizes - --format jsonl
      aspectbucket assign --sizes laion.parquet -o placed.parquet --resolution 1024
      aspectbucket assign --sizes sizes.csv -o placed.csv --columns all
      aspectbucket assign --sizes img2dataset-out/ --split-by-bucket by-bucket/ --batch-size 8
      aspectbucket assign --sizes shards/ -o placed.parquet --engine ray --address 10.0.0.1:6379
    """
    profile, options, _ = resolve_bucket_options(bucketing)
    columns = [name.strip() for name in placement_names.split(",") if name.strip()] if placement_names else None
    if output_path is None:
        output_path = None if split_folder is not None else "-"
    given = Path(sizes_path)
    folder = given if sizes_path != "-" and (given.is_dir() or given.suffix.lower() == ".tar") else None
    for target in (output_path, split_folder):
        inside = folder is not None and folder.is_dir() and target not in (None, "-")
        if inside and Path(target).resolve().is_relative_to(folder.resolve()):
            raise click.UsageError(f"{target} is inside the input folder {folder}: nothing is written under an input")
    settings = {
        "width_column": width_column,
        "height_column": height_column,
        "split_folder": split_folder,
        "batch_size": batch_size,
        "columns": columns,
    }
    if cluster is not None:
        where = {"address": cluster.address, "workers": cluster.workers}
        result = _assign_on_ray(sizes_path, output_path, output_format, profile, options, settings | where)
        _tell(result, split_folder, batch_size)
        return
    source = folder or _open_input(sizes_path)
    sample = b"PAR1" if folder else source.peek(4)[:4]
    in_format = TableFormat(input_format) if input_format else guess_format(sizes_path, sample)
    out_format = TableFormat(output_format) if output_format else _output_format(output_path or "-", in_format)
    try:
        if output_path is None:
            result = assign_table(source, None, options, profile, in_format, out_format, **settings)
        elif output_path == "-":
            result = assign_table(source, sys.stdout.buffer, options, profile, in_format, out_format, **settings)
            sys.stdout.buffer.flush()
        else:
            target = Path(output_path)
            result = _assign_to_file(source, target, options, profile, in_format, out_format, settings, sizes_path)
    except TableError as error:
        raise click.UsageError(str(error)) from None
    finally:
        if folder is None:
            source.close()
    _tell(result, split_folder, batch_size)


def _tell(result, split_folder, batch_size: int) -> None:
    """Warnings, the size-column note, the split's summary on stderr; exit status 1 when rows carry an error."""
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if result.sizes.note:
        click.echo(f"note: {result.sizes.note}", err=True)
    if result.manifest is not None:
        manifest = result.manifest
        click.echo(
            f"{split_folder}: {len(manifest['buckets'])} buckets, {manifest['samples']} samples, "
            f"{manifest['steps_per_epoch']} steps per epoch at batch size {batch_size}",
            err=True,
        )
    if result.errors:
        click.echo(f"{result.errors} of {result.rows} rows could not be placed; see their 'error' column.", err=True)
        raise SystemExit(1)


def _assign_on_ray(sizes_path, output_path, output_format, profile, options, settings: dict):
    """``--engine ray``: Parquet in (a file or a folder), any output, written here as the local engine writes."""
    from aspectbucket.tables.ray_engine import assign_on_ray

    source = Path(sizes_path)
    if sizes_path == "-" or not (source.is_dir() or guess_format(sizes_path) is TableFormat.PARQUET):
        raise click.UsageError("--engine ray reads Parquet: a .parquet file or a folder of shards")
    out_format = (
        TableFormat(output_format) if output_format else _output_format(output_path or "-", TableFormat.PARQUET)
    )
    try:
        if output_path is None:
            return assign_on_ray(source, None, options, profile, out_format, **settings)
        if output_path == "-":
            result = assign_on_ray(source, sys.stdout.buffer, options, profile, out_format, **settings)
            sys.stdout.buffer.flush()
            return result
        with atomic_open(Path(output_path), "wb", inputs=[source]) as sink:
            return assign_on_ray(source, sink, options, profile, out_format, **settings)
    except (TableError, OutputRefused) as error:
        raise click.UsageError(str(error)) from None


def _open_input(path: str):
    if path == "-":
        stream = sys.stdin.buffer
        return stream if hasattr(stream, "peek") else io.BufferedReader(stream)
    try:
        return open(path, "rb")
    except OSError as error:
        raise click.BadParameter(f"cannot read {path}: {error.strerror}", param_hint="--sizes") from None


def _output_format(output_path: str, input_format: TableFormat) -> TableFormat:
    """The format a known suffix of ``--output`` names (``.csv``, ``.jsonl``, ``.parquet``...), else the input's."""
    if output_path != "-" and Path(output_path).suffix.lower() in TABLE_SUFFIXES:
        return guess_format(output_path)
    return input_format


def _assign_to_file(source, target: Path, options, profile, in_format, out_format, settings, sizes_path: str):
    """Write under a temporary name and rename, so a reader never sees half a table; never over the input
    table, nor over a device or pipe."""
    inputs = [] if sizes_path == "-" else [sizes_path]
    try:
        with atomic_open(target, "wb", inputs=inputs) as sink:
            return assign_table(source, sink, options, profile, in_format, out_format, **settings)
    except OutputRefused as error:
        raise click.UsageError(str(error)) from None
    except OSError as error:
        raise click.ClickException(f"cannot write {target}: {error.strerror or error}") from None
