"""``aspectbucket assign``: add bucket, resize and crop columns to a table of image sizes."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import click

from aspectbucket.cli.options import bucket_options, resolve_bucket_options
from aspectbucket.outputs import atomic_open
from aspectbucket.tables.assign import CHUNK_ROWS, TABLE_SUFFIXES, TableError, TableFormat, assign_table, guess_format


@click.command()
@click.option(
    "--sizes",
    "sizes_path",
    required=True,
    metavar="FILE",
    help="CSV with a header, JSONL, or Parquet with 'width' and 'height' columns; '-' for stdin.",
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
def assign(sizes_path, output_format, output_path, input_format, bucketing):
    """Place every row of a size table; other columns pass through, in input order.

    Adds bucket_width, bucket_height, resized_width, resized_height, ar_error, crop_left and crop_top
    (the real crop in the resized image), crop_ltrb (what the trainer reports to SDXL), lost_fraction,
    upscaled and error. Exit status 0 when every row was placed, 1 when some rows carry an error (all
    rows are still written), 2 on a usage error.

    \b
    Example:
      printf 'file,width,height\\na.png,576,768\\n' | aspectbucket assign --sizes - --format jsonl
    """
    profile, options, _ = resolve_bucket_options(bucketing)
    source = _open_input(sizes_path)
    sample = source.peek(4)[:4]
    in_format = TableFormat(input_format) if input_format else guess_format(sizes_path, sample)
    out_format = TableFormat(output_format) if output_format else _output_format(output_path, in_format)
    try:
        if output_path == "-":
            rows, errors, dropped = assign_table(source, sys.stdout.buffer, options, profile, in_format, out_format)
            sys.stdout.buffer.flush()
        else:
            rows, errors, dropped = _assign_to_file(source, Path(output_path), options, profile, in_format, out_format)
    except TableError as error:
        raise click.UsageError(str(error)) from None
    finally:
        source.close()
    if dropped:
        click.echo(
            f"warning: columns {', '.join(dropped)} first appear after the first {CHUNK_ROWS:,} rows and are not "
            f"in the {out_format.value} header; write JSONL to keep them.",
            err=True,
        )
    if errors:
        click.echo(f"{errors} of {rows} rows could not be placed; see their 'error' column.", err=True)
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


def _assign_to_file(source, target: Path, options, profile, in_format, out_format):
    """Write under a temporary name and rename, so a reader never sees half a table."""
    try:
        with atomic_open(target, "wb") as sink:
            return assign_table(source, sink, options, profile, in_format, out_format)
    except OSError as error:
        raise click.ClickException(f"cannot write {target}: {error.strerror or error}") from None
