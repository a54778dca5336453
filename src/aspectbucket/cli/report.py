"""``aspectbucket report``: what training will do to every image of a dataset, as tables, files and a page."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
from rich.console import Console

from aspectbucket.cli.options import (
    MAX_JOBS,
    ProfileListType,
    bucket_options,
    check_dataset_blocks,
    check_output_files,
    engine_options,
    video_options,
)
from aspectbucket.cli.sources import dataset_source, run_counts, trainer_config_options
from aspectbucket.compare import common_resolution, compare_dataset
from aspectbucket.epoch_ledger import plan_ledger
from aspectbucket.geometry.ledger import BatchingError
from aspectbucket.geometry.options import MAX_COUNT, OptionsError
from aspectbucket.ledger_fixes import smallest_fixes
from aspectbucket.outputs import STDOUT, OutputRefused, refuse_inside, refuse_special, shown
from aspectbucket.plan import plan_dataset
from aspectbucket.report import (
    WarningKind,
    print_report,
    summarize,
    write_csv,
    write_html,
    write_json,
)
from aspectbucket.report.clips import clip_report, clip_section_html, print_clip_report
from aspectbucket.report.compare_section import compare_section_html
from aspectbucket.report.files import write_text_atomic
from aspectbucket.report.html import PREVIEWS_PER_BUCKET, HtmlSection
from aspectbucket.report.ledger_section import (
    ledger_csv_columns,
    ledger_document,
    ledger_section_html,
    print_ledger,
    untrained_count,
)
from aspectbucket.report.summary import display_paths
from aspectbucket.report.thumbnails import PreviewCache
from aspectbucket.scan import scan, scan_clips
from aspectbucket.scan.cache import default_cache_dir
from aspectbucket.scan.sources import example_dataset_path
from aspectbucket.tables import TableError
from aspectbucket.tables.metadata_scan import is_metadata_source, scan_table
from aspectbucket.tables.ray_engine import RayCluster, RayUnavailable


@click.command("report")
@click.argument("source", required=False, type=click.Path(path_type=Path))
@bucket_options
@trainer_config_options
@click.option(
    "--example", is_flag=True, help="Report on the bundled example dataset (its dataset.toml) instead of SOURCE."
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, MAX_COUNT),
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
    help="Write everything (settings, buckets, summary, every image) as JSON to this file ('-': stdout).",
)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write one row per image as CSV to this file ('-': stdout).",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a self-contained HTML page (interactive charts, gallery with filters) to this file ('-': stdout).",
)
@click.option("--open", "open_page", is_flag=True, help="Open the HTML page in the default browser when written.")
@click.option(
    "--previews",
    type=click.IntRange(min=0),
    default=PREVIEWS_PER_BUCKET,
    show_default=True,
    help="Preview pictures per bucket on the HTML page (the worst-cropped images; the other cards show "
    "the image's shape with the same crop overlay).",
)
@click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of the image-header and preview cache. [default: the user cache folder]",
)
@click.option("--no-cache", is_flag=True, help="Neither read nor write the header and preview caches.")
@click.option("--jobs", type=click.IntRange(1, MAX_JOBS), default=None, help="Threads reading headers and previews.")
@click.option(
    "--compare",
    "compare_profiles",
    type=ProfileListType(),
    default=None,
    help="Add a section comparing these trainers' treatment of the dataset to the HTML page "
    "(comma-separated profile names, or 'all').",
)
@video_options
@click.option(
    "--clips-json",
    "clips_json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the video clips' report (items, frames read, buckets, steps) as JSON to this file.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Exit with status 1 when an image folder is missing or any image or clip is unreadable or cannot be placed.",
)
@click.option(
    "--processes",
    type=int,
    default=None,
    help="Processes (GPUs), for the epoch ledger. [default: the config's, else 1]",
)
@click.option(
    "--grad-accum",
    type=int,
    default=None,
    help="Gradient accumulation, for the ledger. [default: the config's, else 1]",
)
@click.option("--epochs", type=int, default=None, help="Epochs to train, for the ledger's run length. [default: 1]")
@click.option("--max-train-steps", type=int, default=None, help="Optimizer steps to train instead of --epochs.")
@engine_options(
    "a metadata-only dataset's shards are read (a folder of images is always scanned here; on a cluster of "
    "several machines the shards must be on a file system they all share)"
)
def report(
    source,
    bucketing,
    trainer_config,
    example,
    batch_size,
    respect_exif,
    json_path,
    csv_path,
    html_path,
    open_page,
    previews,
    cache,
    no_cache,
    jobs,
    compare_profiles,
    video,
    clips_json_path,
    strict,
    processes,
    grad_accum,
    epochs,
    max_train_steps,
    cluster,
):
    """Show what training will do to every image of SOURCE: bucket, resize, crop, steps, warnings, advice.

    SOURCE is a folder of images (searched recursively), a kohya DreamBooth folder (subfolders named
    N_name, N = repeats), a kohya dataset config .toml, or a trainer's own config (musubi-tuner,
    diffusion-pipe, ai-toolkit, SimpleTuner, OneTrainer, Kohya_ss GUI; also --config, or --kohya-args
    for a pasted command line): the trainer is detected from it and --profile overrides. A metadata-only
    dataset works too, no pixel read: a Parquet table or a folder of Parquet shards (img2dataset's
    output; sizes from width/height, WIDTH/HEIGHT or original_width/original_height) or WebDataset .tar
    shards (sizes from each image's header); --engine ray reads its shards as tasks on a Ray cluster
    (the same report). Bucketing options given here override the config's.
    The epoch ledger (steps, what each bucket trains, drops and pads, never-trained images and their
    smallest fix) follows the trainer's own batching. Video clips found beside the images are reported
    through --video-profile: their buckets (w, h, frames), the frames each item reads, and the clips too
    short to train. Nothing is ever written into the dataset.

    \b
    Examples:
      aspectbucket report train/ --resolution 1024 --batch-size 4 --html report.html
      aspectbucket report musubi_dataset.toml
      aspectbucket report --kohya-args "sdxl_train_network.py --train_data_dir=img --enable_bucket"
      aspectbucket report img2dataset-out/ --json report.json --engine ray --address 10.0.0.1:6379
    """
    if open_page and html_path is None:
        raise click.UsageError("--open needs --html FILE")
    source = _source(source, example, trainer_config)
    check_output_files(json=json_path, csv=csv_path, html=html_path, clips_json=clips_json_path)
    from_table = source is not None and is_metadata_source(source)  # Parquet or WebDataset shards: no pixel
    if cluster is not None and not from_table:
        raise click.UsageError(
            "--engine ray reads metadata-only sources (Parquet or WebDataset .tar shards); a folder of images "
            "or a config is scanned here: leave out --engine ray"
        )
    subsets, folder_warnings = [], []
    if not from_table:
        source, subsets, folder_warnings, config = dataset_source(source, bucketing, trainer_config)
        processes, grad_accum = run_counts(processes, grad_accum, config)
    else:
        processes, grad_accum = run_counts(processes, grad_accum, None)
    folders = [source, *(subset.image_dir for subset in subsets)]
    outputs = [path for path in (json_path, csv_path, html_path, clips_json_path) if path is not None]
    if sum(str(path) == STDOUT for path in outputs) > 1:
        raise click.UsageError("only one of --json, --csv and --html can be '-' (standard output)")
    try:
        for output in outputs:
            refuse_inside(output, folders)
            refuse_special(output)
        if cache is not None:
            refuse_inside(cache, folders)
    except OutputRefused as error:
        raise click.UsageError(str(error)) from None
    check_dataset_blocks(bucketing, subsets)
    if cache is None and not no_cache:
        no_cache, cache_note = _default_cache_inside(folders)
        folder_warnings = [*folder_warnings, *cache_note]

    if from_table:
        result, previews = _scan_table(source, cluster), 0  # no image file to preview
    else:
        result = scan(subsets, cache=cache, use_cache=not no_cache, jobs=jobs, progress=sys.stderr.isatty())
    result.warnings[:0] = folder_warnings
    try:
        plan = plan_dataset(
            result, bucketing["profile"], bucketing["given"], respect_exif=respect_exif, settings=bucketing["settings"]
        )
    except OptionsError as error:
        raise click.UsageError(str(error)) from None
    summary = summarize(plan, batch_size)
    try:
        book = plan_ledger(plan, batch_size, processes, grad_accum, epochs=epochs, max_train_steps=max_train_steps)
    except BatchingError as error:
        raise click.UsageError(str(error)) from None
    fixes = smallest_fixes(book)
    labels = display_paths(plan)
    to_stdout = any(str(path) == STDOUT for path in outputs)
    console = Console(highlight=False, stderr=to_stdout)  # stdout carries the file when '-'
    print_report(summary, console)
    print_ledger(book, fixes, console, labels, compact=True)
    clips = scan_clips(subsets, cache=cache, use_cache=not no_cache, jobs=jobs)
    clips_report = None
    if len(clips):
        try:
            clips_report = clip_report(clips, video["profile"], video["settings"], batch_size or 1)
        except ValueError as error:
            raise click.UsageError(str(error)) from None
        print_clip_report(clips_report, console)

    try:
        if json_path:
            ledger = ledger_document(book, fixes, labels, image_limit=untrained_count(book))
            write_json(json_path, plan, summary, source, extra={"ledger": ledger})
            click.echo(f"wrote {shown(json_path)}", err=True)
        if csv_path:
            write_csv(csv_path, plan, summary, extra_columns=ledger_csv_columns(book))
            click.echo(f"wrote {shown(csv_path)}", err=True)
        if clips_json_path and clips_report is not None:
            write_text_atomic(clips_json_path, json.dumps(clips_report, indent=1) + "\n", inputs=folders)
            click.echo(f"wrote {shown(clips_json_path)}", err=True)
        if html_path:
            sections = [HtmlSection("ledger", "Epoch ledger", ledger_section_html(book, fixes, labels))]
            if clips_report is not None:
                sections.append(clip_section_html(clips_report))
            if compare_profiles:
                # The report's own resolution, batch sizes and paths, so the two parts of the page agree.
                comparison = compare_dataset(
                    result,
                    compare_profiles,
                    common_resolution(result, bucketing["given"], bucketing["profile"]),
                    batch_size,
                    respect_exif=respect_exif,
                    settings=bucketing["settings"],
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
                preview_cache=None if no_cache else PreviewCache(cache or default_cache_dir()),
            )
            if str(html_path) != STDOUT:
                url = html_path.resolve().as_uri()
                click.echo(f"wrote {shown(html_path)}: {url}", err=True)
                if open_page:
                    click.launch(url)
    except OutputRefused as error:
        raise click.UsageError(str(error)) from None
    except OSError as error:
        where = shown(Path(error.filename).parent) if error.filename else "the output folder"
        raise click.ClickException(f"cannot write in {where}: {error.strerror or error}") from None
    missing = summary.warning_counts()[WarningKind.MISSING_FOLDER.value]
    if strict and (summary.placed < summary.images or missing or (clips_report and clips_report["skipped"])):
        sys.exit(1)


def _scan_table(source: Path, cluster: RayCluster | None):
    try:
        return scan_table(source, cluster=cluster)
    except RayUnavailable as error:
        raise click.UsageError(str(error)) from None
    except TableError as error:
        raise click.BadParameter(str(error), param_hint="SOURCE") from None


def _default_cache_inside(folders: list[Path]) -> tuple[bool, list[str]]:
    """``(skip, notes)``: the default cache folder (headers, previews) is not used when it lies inside
    the dataset (a dataset that holds the user's home folder, for example), since nothing is written there."""
    try:
        refuse_inside(default_cache_dir(), folders)
    except OutputRefused:
        note = f"cache not used: its folder {shown(default_cache_dir())} lies inside the dataset"
        return True, [note + "; give --cache elsewhere to keep one"]
    return False, []


def _source(source: Path | None, example: bool, trainer_config: dict) -> Path | None:
    if example and source is not None:
        raise click.UsageError("give either SOURCE or --example, not both")
    if example:
        # Its dataset config: two blocks, one without upscaling, so every warning shows up.
        return example_dataset_path() / "dataset.toml"
    if source is None and not any(trainer_config.values()):
        raise click.UsageError(
            "missing SOURCE (a folder, a kohya N_name folder, a .toml or a trainer config), --config, "
            "--kohya-args or --example"
        )
    if source is not None and not os.path.lexists(source):  # before any engine choice: the same one line
        raise click.BadParameter(f"{source} does not exist", param_hint="SOURCE")
    return source
