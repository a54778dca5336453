"""``aspectbucket compare``: the same dataset under several trainers' bucketing, side by side."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from click.core import ParameterSource
from rich.console import Console
from rich.table import Table
from rich.text import Text

from aspectbucket.cli.options import ProfileListType, bucket_options
from aspectbucket.cli.sources import dataset_source, trainer_config_options
from aspectbucket.compare import Comparison, common_resolution, compare_dataset
from aspectbucket.geometry.options import MAX_COUNT
from aspectbucket.report.clips import compare_clip_trainers, print_clip_comparison
from aspectbucket.report.compare_section import batch_words, describe
from aspectbucket.report.summary import scan_display_paths
from aspectbucket.scan import scan, scan_clips
from aspectbucket.scan.sources import DatasetError


@click.command()
@click.argument("dataset", required=False, type=click.Path(exists=True, path_type=Path))
@bucket_options
@trainer_config_options
@click.option(
    "--profiles",
    type=ProfileListType(),
    default=None,
    help="Profiles to compare, comma-separated. [default: all; a lone --profile NAME compares just that one]",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, MAX_COUNT),
    default=None,
    help="Batch size for dropped/repeated samples, steps per epoch and never-trained images (each trainer's "
    "batching). [default: the config's batch_size, else 1]",
)
@click.option(
    "--top",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="How many of the most differently treated images to list.",
)
@click.option("--respect-exif", is_flag=True, help="Place images upright (EXIF orientation) everywhere.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the header cache.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON instead of tables.")
def compare(dataset, bucketing, trainer_config, profiles, batch_size, top, respect_exif, no_cache, as_json):
    """Compare how each trainer buckets DATASET: crop, upscaling, dropped images, steps per epoch.

    DATASET is a folder of images, a kohya DreamBooth folder (N_name subfolders), a kohya dataset
    .toml or a trainer's own config (or --config / --kohya-args: its folders, batch sizes and options).
    Every profile runs at one resolution: --resolution, else the config's, else the default of
    --profile (kohya: 512). Other options such as --bucket-reso-steps apply to every profile (a profile
    that refuses them is shown as refused); without them each profile uses its trainer's defaults.
    Paths are shown relative to the dataset's folder. Video clips beside the images are compared
    through every video trainer at its own defaults.

    \b
    Example:
      aspectbucket compare ./train --profiles kohya,onetrainer,balanced --batch-size 4
      aspectbucket compare onetrainer_config.json --profiles onetrainer,kohya
    """
    context = click.get_current_context()
    if profiles is None and context.get_parameter_source("profile") is ParameterSource.COMMANDLINE:
        profiles = [bucketing["profile"]]
    _, subsets, warnings, _ = dataset_source(dataset, bucketing, trainer_config)
    try:
        scanned = scan(subsets, use_cache=not no_cache, progress=not as_json and sys.stderr.isatty())
    except DatasetError as error:
        raise click.UsageError(str(error)) from None
    scanned.warnings[:0] = warnings
    given = common_resolution(scanned, bucketing["given"], bucketing["profile"])
    labels = scan_display_paths(scanned)
    comparison = compare_dataset(
        scanned, profiles, given, batch_size, top, respect_exif, labels=labels, settings=bucketing["settings"]
    )
    clips = scan_clips(scanned.subsets, use_cache=not no_cache)
    clip_rows = compare_clip_trainers(clips, batch_size or 1) if len(clips) else []
    if as_json:
        data = comparison.to_dict()
        if clip_rows:
            data["video_trainers"] = clip_rows
        click.echo(json.dumps(data, indent=2))
        return
    console = Console(width=max(_TABLE_WIDTH, Console().width))
    print_comparison(comparison, console)
    if clip_rows:
        print_clip_comparison(clip_rows, console, batch_size or 1)


#: Characters the per-profile table needs with every column whole.
_TABLE_WIDTH = 136


def print_comparison(comparison: Comparison, console: Console) -> None:
    """The per-profile table, then the most differently treated images, then the known defects."""
    table = Table(title=f"Trainers compared at {batch_words(comparison)}")
    for name in (
        "profile",
        "resolution",
        "buckets",
        "mean crop",
        "worst crop",
        "upscaled",
        "max up",
        "not placed",
        "dropped",
        "repeated",
        "never trained",
        "steps/epoch",
    ):
        table.add_column(name, justify="left" if name == "profile" else "right", no_wrap=True)
    for item in comparison.summaries:
        if item.refused:
            table.add_row(item.profile, "", "refused", *[""] * 9)
            continue
        table.add_row(
            item.profile,
            item.resolution,
            str(item.buckets_used),
            f"{item.mean_crop * 100:.1f} %",
            f"{item.worst_crop * 100:.1f} %",
            str(item.upscaled),
            f"{item.max_upscale:.2f}x",
            str(item.images - item.placed),
            str(item.dropped),
            str(item.padded),
            "all" if item.batching_refused else str(item.never_trained),
            str(item.steps_per_epoch),
        )
    console.print(table)
    for item in comparison.summaries:
        if item.refused:
            console.print(f"{item.profile} refuses these options: {item.refused}", highlight=False)
        elif item.batching_refused:
            console.print(f"{item.profile} refuses this dataset: {item.batching_refused}", highlight=False)
    if comparison.differences:
        differences = Table(title="Images treated most differently (crop range across profiles)")
        for name in ("image", "size", "range", "profile", "treatment"):
            justify = "right" if name in ("size", "range") else "left"
            differences.add_column(name, overflow="fold", justify=justify)
        for item in comparison.differences:
            for row, (name, treatment) in enumerate(item.treatments.items()):
                first = row == 0
                differences.add_row(
                    Text(item.label) if first else "",  # a file name, never rich markup
                    f"{item.width}x{item.height}" if first else "",
                    f"{item.spread * 100:.0f} %" if first else "",
                    name,
                    Text(describe(treatment)),
                    end_section=row == len(item.treatments) - 1,
                )
        console.print(differences)
    for item in comparison.summaries:
        settings = ", ".join(f"{name} {value}" for name, value in item.trainer_settings.items())
        if settings:
            console.print(f"{item.profile} settings: {settings}", highlight=False)
    for item in comparison.summaries:
        if item.defects:
            console.print(f"[bold]{item.profile}[/bold]: {item.defects}", highlight=False)
