"""``aspectbucket assign``: add bucket, resize and crop columns to a table of image sizes."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import click

from aspectbucket.cli.options import bucket_options, resolve_bucket_options
from aspectbucket.outputs import atomic_open
from aspectbucket.tables import TableError, TableFormat, assign_table, guess_format
from aspectbucket.tables.formats import TABLE_SUFFIXES


@click.command()
@click.option(
    "--sizes",
    "sizes_path",
    required=True,
    metavar="FILE",
    help="CSV with a header, JSONL, or Parquet with the image sizes; '-' for stdin.",
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
    default="-",
    show_default=True,
    metavar="FILE",
    help="Where to write; '-' for stdout. Written atomically.",
)
@click.option(
    "--input-format",
    type=click.Choice([f.value for f in TableFormat]),
    default=None,
    help="Input format when the file name does not tell. [default: guessed]",
)
@bucket_options
def assign(sizes_path, width_column, height_column, output_format, output_path, input_format, bucketing):
    """Place every row of a size table; other columns pass through, in input order, with their types.

    Adds bucket_width, bucket_height, resized_width, resized_height, ar_error, crop_left and crop_top
    (the real crop in the resized image), crop_ltrb (what the trainer reports to SDXL), lost_fraction,
    upscaled and error. Sizes come from width/height, else WIDTH/HEIGHT (LAION), else
    original_width/original_height (img2dataset), or the columns named; a note says which when it is
    not width/height. A row that cannot be read or placed keeps its place with a reason in 'error'.
    Exit status 0 when every row was placed, 1 when some rows carry an error (all rows are still
    written), 2 when the table cannot be read at all (a one-line reason; nothing is written).

    \b
    Example:
      printf 'file,width,height\\na.png,576,768\\n' | aspectbucket assign --sizes - --format jsonl
      aspectbucket assign --sizes laion.parquet -o placed.parquet --resolution 1024
    """
    profile, options, _ = resolve_bucket_options(bucketing)
    source = _open_input(sizes_path)
    sample = source.peek(4)[:4]
    in_format = TableFormat(input_format) if input_format else guess_format(sizes_path, sample)
    out_format = TableFormat(output_format) if output_format else _output_format(output_path, in_format)
    columns = {"width_column": width_column, "height_column": height_column}
    try:
        if output_path == "-":
            result = assign_table(source, sys.stdout.buffer, options, profile, in_format, out_format, **columns)
            sys.stdout.buffer.flush()
        else:
            result = _assign_to_file(source, Path(output_path), options, profile, in_format, out_format, columns)
    except TableError as error:
        raise click.UsageError(str(error)) from None
    finally:
        source.close()
    if result.sizes.note:
        click.echo(f"note: {result.sizes.note}", err=True)
    if result.errors:
        click.echo(f"{result.errors} of {result.rows} rows could not be placed; see their 'error' column.", err=True)
        raise SystemExit(1)


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


def _assign_to_file(source, target: Path, options, profile, in_format, out_format, columns):
    """Write under a temporary name and rename, so a reader never sees half a table."""
    try:
        with atomic_open(target, "wb") as sink:
            return assign_table(source, sink, options, profile, in_format, out_format, **columns)
    except OSError as error:
        raise click.ClickException(f"cannot write {target}: {error.strerror or error}") from None
