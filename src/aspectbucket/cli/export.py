"""``aspectbucket export``: write the pixels the trainer will see, or pre-crops that it will not cut."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from aspectbucket.cli.options import MAX_JOBS, bucket_options, check_dataset_blocks, engine_options, video_options
from aspectbucket.cli.sources import dataset_source, trainer_config_options
from aspectbucket.export.clips import plan_clip_export, run_clip_export
from aspectbucket.export.pixels import Anchor
from aspectbucket.export.plan import (
    ExportItem,
    ExportMode,
    ExportSettings,
    OutputFormat,
    export_inputs,
    load_crops,
    plan_export,
    source_root,
)
from aspectbucket.export.ray_run import RayRunner
from aspectbucket.export.run import (
    METADATA_NAME,
    ExportAborted,
    ThreadRunner,
    refuse_overlap,
    run_export,
    write_kohya_metadata,
)
from aspectbucket.geometry.options import OptionsError
from aspectbucket.outputs import STDOUT, OutputRefused, refuse_inside, refuse_special, shown
from aspectbucket.plan import plan_dataset
from aspectbucket.profiles.clips import place_clips
from aspectbucket.scan import scan, scan_clips
from aspectbucket.tables.ray_engine import RayUnavailable


def _choice(kind) -> click.Choice:
    return click.Choice([member.value for member in kind])


@click.command("export")
@click.argument("paths", nargs=-1, required=True, metavar="[SOURCE] OUT", type=click.Path(path_type=Path))
@bucket_options
@trainer_config_options
@click.option(
    "--mode",
    type=_choice(ExportMode),
    default="train",
    show_default=True,
    help="train: resize and trim exactly as the trainer does. precrop: cut each image to its "
    "bucket's ratio at full resolution, so the trainer only scales it.",
)
@click.option(
    "--anchor",
    type=_choice(Anchor),
    default="center",
    show_default=True,
    help="precrop: which part of the image to keep along the cut side.",
)
@click.option(
    "--crops",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='precrop: JSON of boxes by relative path, {"a/b.jpg": [l, t, r, b]} '
    "or report --json's suggested precrops; images without a box are skipped.",
)
@click.option("--random-crop", is_flag=True, help="train: trim at a random offset, as --random_crop.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of --random-crop.")
@click.option(
    "--format",
    "output_format",
    type=_choice(OutputFormat),
    default="keep",
    show_default=True,
    help="Output encoding; keep writes each image in its own format.",
)
@click.option(
    "--quality",
    type=click.IntRange(1, 100),
    default=95,
    show_default=True,
    help="JPEG and WebP quality (100 is lossless WebP).",
)
@click.option(
    "--ignore-exif",
    is_flag=True,
    help="Use the stored pixels and size, ignoring the EXIF orientation, as sd-scripts does.",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, MAX_JOBS),
    default=None,
    help="Images processed at once (threads). [default: one per core]",
)
@click.option(
    "--metadata",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"Metadata JSONL, one line per image; a file (read back to resume), not '-'. [default: OUT/{METADATA_NAME}]",
)
@click.option(
    "--kohya-metadata",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write sd-scripts fine-tuning metadata JSON (captions, train_resolution); '-' for stdout.",
)
@video_options
@click.option("--dry-run", is_flag=True, help="Print what would be written and write nothing.")
@engine_options(
    "images are decoded, cut and encoded (video clips stay here); Ray workers write into OUT by its path, "
    "so on a cluster of several machines OUT and SOURCE must be on a file system they all share"
)
def export_command(
    paths,
    bucketing,
    trainer_config,
    mode,
    anchor,
    crops,
    random_crop,
    seed,
    output_format,
    quality,
    ignore_exif,
    jobs,
    metadata,
    kohya_metadata,
    video,
    dry_run,
    cluster,
):
    """Export the images of SOURCE to OUT as the trainer will see them, or pre-cropped.

    SOURCE is a folder, a kohya DreamBooth folder (N_name subfolders), a kohya dataset .toml or a
    trainer's own config (the trainer detected from it; --profile overrides); with --config or
    --kohya-args, give only OUT. OUT mirrors its tree; caption sidecars (.txt, .caption) are copied
    along. SOURCE is never written to. An interrupted export, run again, skips the images already finished.
    With --engine ray the images are exported by the workers of a Ray cluster, byte for byte as here;
    this process keeps the journal, and either engine resumes the other's run.

    Video clips beside the images follow --video-profile: train writes each window the trainer
    reads as its own clip (NAME_START-COUNTxWxH.mp4, its frames scaled and cropped to the bucket);
    precrop cuts each clip to its bucket's ratio at full resolution, every frame kept.

    \b
    Examples:
      aspectbucket export train_data out --resolution 1024
      aspectbucket export train_data out --mode precrop --anchor top --format png
      aspectbucket export ai_toolkit_job.yaml out
      aspectbucket export /shared/train_data /shared/out --engine ray --address 10.0.0.1:6379
    """
    source, out = _paths(paths, trainer_config)
    if cluster is not None:
        if jobs is not None:
            raise click.UsageError("--jobs sets the local engine's threads; with --engine ray, --workers sets the CPUs")
        try:
            cluster.installed()
        except RayUnavailable as error:
            raise click.UsageError(str(error)) from None
    try:
        settings = ExportSettings(
            mode=mode,
            anchor=anchor,
            crops=load_crops(crops) if crops else None,
            random_crop=random_crop,
            seed=seed,
            output_format=output_format,
            quality=quality,
            apply_exif=not ignore_exif,
        )
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    source, subsets, warnings, _ = dataset_source(source, bucketing, trainer_config)
    check_dataset_blocks(bucketing, subsets)  # every block's options, before the scan
    inputs = export_inputs(source, subsets) + ([crops] if crops else [])
    try:
        if metadata is not None and str(metadata) == STDOUT:
            raise OutputRefused("--metadata cannot be '-': the journal is read back to resume a stopped export")
        refuse_inside(out, inputs)
        for target in (metadata, kohya_metadata):
            if target is not None:
                refuse_inside(target, inputs)
                refuse_special(target)
        scanned = scan(subsets, progress=sys.stderr.isatty())
        plan = plan_dataset(
            scanned,
            bucketing["profile"],
            bucketing["given"],
            respect_exif=not ignore_exif,
            settings=bucketing["settings"],
        )
        items = plan_export(plan, source_root(source, subsets), out, settings)
        if kohya_metadata is not None and str(kohya_metadata) != STDOUT:
            journal = metadata or out / METADATA_NAME
            refuse_overlap(kohya_metadata, items, out, "the kohya metadata", journal)
    except OptionsError as error:
        raise click.UsageError(str(error)) from None
    except OutputRefused as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    for warning in [*warnings, *scanned.warnings, *(plan.warnings if subsets and subsets[0].options else [])]:
        click.echo(f"warning: {shown(warning)}", err=True)
    clips = scan_clips(subsets)
    clip_jobs = []
    if len(clips):
        try:
            table = place_clips(clips.width, clips.height, clips.frames, clips.fps, video["profile"], video["settings"])
        except ValueError as error:
            raise click.UsageError(str(error)) from None
        clip_jobs = plan_clip_export(clips, table, source_root(source, subsets), mode)
        for clip, reason in zip(table.columns["clip"].tolist(), table.columns["error"], strict=True):
            if reason:
                click.echo(f"skip  {clips.paths[clip]}: {clips.error[clip] or reason}", err=True)
    if dry_run:
        _print_plan(items, out)
        for job in clip_jobs:
            click.echo(
                f"write {job.source} -> {out / job.output}  {job.size[0]}x{job.size[1]}  {len(job.frames)} frames"
            )
        return
    try:
        runner = ThreadRunner(jobs) if cluster is None else RayRunner(cluster)
        summary = run_export(
            items, settings, out, metadata=metadata, runner=runner, progress=sys.stderr.isatty(), inputs=inputs
        )
        if kohya_metadata:
            write_kohya_metadata(kohya_metadata, summary.records, out, inputs)
    except (OutputRefused, RayUnavailable) as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    except ExportAborted as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted: finished images are kept; run the same command again to resume", err=True)
        sys.exit(130)
    except OSError as error:
        click.echo(f"error: cannot write {shown(error.filename or kohya_metadata)}: {error.strerror}", err=True)
        sys.exit(1)
    done = f"{summary.written} written, {summary.skipped} already done, {summary.failed_count} failed -> {shown(out)}"
    click.echo(done, err=str(kohya_metadata) == STDOUT)
    for reason, count in summary.failed.most_common():
        click.echo(f"  {count} failed: {reason}", err=str(kohya_metadata) == STDOUT)
    if clip_jobs:
        clip_summary = run_clip_export(clip_jobs, out, progress=sys.stderr.isatty(), inputs=inputs)
        click.echo(
            f"clips: {clip_summary.written} written, {clip_summary.skipped} already done, "
            f"{len(clip_summary.failed)} failed -> {shown(out)}",
            err=str(kohya_metadata) == STDOUT,
        )
        for reason in clip_summary.failed:
            click.echo(f"  failed: {shown(reason)}", err=str(kohya_metadata) == STDOUT)


def _paths(paths: tuple[Path, ...], trainer_config: dict) -> tuple[Path | None, Path]:
    """``(SOURCE, OUT)``: both given, or only OUT when ``--config``/``--kohya-args`` name the dataset."""
    from_option = any(value is not None for value in trainer_config.values())
    if len(paths) == 2 and not from_option:
        if not paths[0].exists():
            raise click.BadParameter(f"{paths[0]} does not exist", param_hint="SOURCE")
        return paths[0], paths[1]
    if len(paths) == 1 and from_option:
        return None, paths[0]
    raise click.UsageError("give SOURCE and OUT, or OUT alone with --config or --kohya-args")


def _print_plan(items: list[ExportItem], out: Path) -> None:
    """One line per image: what would be written, the bucket, and the kept box in source pixels."""
    failed = 0
    for item in items:
        if item.error:
            failed += 1
            click.echo(f"skip  {shown(item.relative)}: {item.error}")
            continue
        box = ",".join(f"{value:g}" for value in item.crop_box)
        click.echo(
            f"write {shown(item.relative)} -> {shown(out / item.output)}  {item.output_size[0]}x{item.output_size[1]}"
            f"  bucket {item.bucket[0]}x{item.bucket[1]}  keep {box}"
        )
    click.echo(f"dry run: {len(items) - failed} to write, {failed} skipped; nothing written")
