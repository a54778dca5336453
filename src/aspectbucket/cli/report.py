"""``aspectbucket report``: what training will do to every image of a dataset, as tables, files and a page."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from aspectbucket.cli.options import ProfileListType, bucket_options, check_dataset_blocks, check_output_files
from aspectbucket.compare import common_resolution, compare_dataset
from aspectbucket.epoch_ledger import plan_ledger
from aspectbucket.geometry.ledger import BatchingError
from aspectbucket.geometry.options import OptionsError
from aspectbucket.ledger_fixes import smallest_fixes
from aspectbucket.plan import plan_dataset
from aspectbucket.report import (
    OutputInsideDatasetError,
    WarningKind,
    print_report,
    refuse_inside_dataset,
    summarize,
    write_csv,
    write_html,
    write_json,
)
from aspectbucket.report.compare_section import compare_section_html
from aspectbucket.report.html import PREVIEWS_PER_BUCKET, HtmlSection
from aspectbucket.report.ledger_section import (
    ledger_csv_columns,
    ledger_document,
    ledger_section_html,
    print_ledger,
    untrained_count,
)
from aspectbucket.report.summary import display_paths
from aspectbucket.scan import scan
from aspectbucket.scan.sources import DatasetError, example_dataset_path, read_dataset


@click.command("report")
@click.argument("source", required=False, type=click.Path(path_type=Path))
@bucket_options
@click.option(
    "--example", is_flag=True, help="Report on the bundled example dataset (its dataset.toml) instead of SOURCE."
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Batch size for steps per epoch. [default: the config's batch_size, else 1]",
)
@click.option(
    "--respect-exif",
    is_flag=True,
    help="Place photos upright (EXIF applied). kohya ignores EXIF; by default the report does too.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write everything (settings, buckets, summary, every image) as JSON to this file.",
)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write one row per image as CSV to this file.",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a self-contained HTML page (charts, gallery) to this file.",
)
@click.option(
    "--previews",
    type=click.IntRange(min=0),
    default=PREVIEWS_PER_BUCKET,
    show_default=True,
    help="Previews per bucket on the HTML page (the worst-cropped images; the rest in a table).",
)
@click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of the image-header cache. [default: the user cache folder]",
)
@click.option("--no-cache", is_flag=True, help="Neither read nor write the header cache.")
@click.option("--jobs", type=click.IntRange(min=1), default=None, help="Threads reading headers and previews.")
@click.option(
    "--compare",
    "compare_profiles",
    type=ProfileListType(),
    default=None,
    help="Add a section comparing these trainers' treatment of the dataset to the HTML page "
    "(comma-separated profile names, or 'all').",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Exit with status 1 when an image folder is missing or any image is unreadable or cannot be placed.",
)
@click.option("--processes", type=int, default=1, show_default=True, help="Processes (GPUs), for the epoch ledger.")
@click.option("--grad-accum", type=int, default=1, show_default=True, help="Gradient accumulation, for the ledger.")
@click.option("--epochs", type=int, default=None, help="Epochs to train, for the ledger's run length. [default: 1]")
@click.option("--max-train-steps", type=int, default=None, help="Optimizer steps to train instead of --epochs.")
def report(
    source,
    bucketing,
    example,
    batch_size,
    respect_exif,
    json_path,
    csv_path,
    html_path,
    previews,
    cache,
    no_cache,
    jobs,
    compare_profiles,
    strict,
    processes,
    grad_accum,
    epochs,
    max_train_steps,
):
    """Show what training will do to every image of SOURCE: bucket, resize, crop, steps, warnings, advice.

    SOURCE is a folder of images (searched recursively), a kohya DreamBooth folder (subfolders named
    N_name, N = repeats) or a kohya dataset config .toml; bucketing options given here override the
    config's. The epoch ledger (steps, what each bucket trains, drops and pads, never-trained images
    and their smallest fix) follows the trainer's own batching. Nothing is ever written into the dataset.

    \b
    Example:
      aspectbucket report train/ --resolution 1024 --batch-size 4 --html report.html
    """
    source = _source(source, example)
    check_output_files(json=json_path, csv=csv_path, html=html_path)
    try:
        subsets, folder_warnings = read_dataset(source)
    except DatasetError as error:
        raise click.BadParameter(str(error), param_hint="SOURCE") from None
    folders = [subset.image_dir for subset in subsets]
    if source.is_dir():
        folders.append(source)
    try:
        for output in (json_path, csv_path, html_path, cache):
            if output is not None:
                refuse_inside_dataset(output, folders)
    except OutputInsideDatasetError as error:
        raise click.UsageError(str(error)) from None
    check_dataset_blocks(bucketing, subsets)

    result = scan(subsets, cache=cache, use_cache=not no_cache, jobs=jobs, progress=sys.stderr.isatty())
    result.warnings[:0] = folder_warnings
    try:
        plan = plan_dataset(result, bucketing["profile"], bucketing["given"], respect_exif=respect_exif)
    except OptionsError as error:
        raise click.UsageError(str(error)) from None
    summary = summarize(plan, batch_size)
    try:
        book = plan_ledger(plan, batch_size, processes, grad_accum, epochs=epochs, max_train_steps=max_train_steps)
    except BatchingError as error:
        raise click.UsageError(str(error)) from None
    fixes = smallest_fixes(book)
    labels = display_paths(plan)
    console = Console(highlight=False)
    print_report(summary, console)
    print_ledger(book, fixes, console, labels, compact=True)

    try:
        if json_path:
            ledger = ledger_document(book, fixes, labels, image_limit=untrained_count(book))
            write_json(json_path, plan, summary, source, extra={"ledger": ledger})
            click.echo(f"wrote {json_path}", err=True)
        if csv_path:
            write_csv(csv_path, plan, summary, extra_columns=ledger_csv_columns(book))
            click.echo(f"wrote {csv_path}", err=True)
        if html_path:
            sections = [HtmlSection("ledger", "Epoch ledger", ledger_section_html(book, fixes, labels))]
            if compare_profiles:
                # The report's own resolution, batch sizes and paths, so the two parts of the page agree.
                comparison = compare_dataset(
                    result,
                    compare_profiles,
                    common_resolution(result, bucketing["given"], bucketing["profile"]),
                    batch_size,
                    respect_exif=respect_exif,
                    labels=summary.columns.display_path,
                )
                sections.append(HtmlSection("compare", "Trainers compared", compare_section_html(comparison)))
            write_html(
                html_path,
                plan,
                summary,
                sections=sections,
                source=source,
                previews_per_bucket=previews,
                jobs=jobs,
                progress=sys.stderr.isatty(),
            )
            click.echo(f"wrote {html_path}", err=True)
    except OSError as error:
        where = Path(error.filename).parent if error.filename else "the output folder"
        raise click.ClickException(f"cannot write in {where}: {error.strerror or error}") from None
    missing = summary.warning_counts()[WarningKind.MISSING_FOLDER.value]
    if strict and (summary.placed < summary.images or missing):
        sys.exit(1)


def _source(source: Path | None, example: bool) -> Path:
    if example and source is not None:
        raise click.UsageError("give either SOURCE or --example, not both")
    if example:
        # Its dataset config: two blocks, one without upscaling, so every warning shows up.
        return example_dataset_path() / "dataset.toml"
    if source is None:
        raise click.UsageError("missing SOURCE (a folder, a kohya N_name folder or a .toml) or --example")
    return source
