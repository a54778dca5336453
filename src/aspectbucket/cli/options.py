"""Command-line options shared by every command: the profile, kohya's bucketing options and ``--set``.

Each option defaults to "not given" so that a dataset config file or the profile's own defaults
fill it; ``--set NAME=VALUE`` gives any setting under the trainer's own name (``aspectbucket
profiles`` lists them) and applies last. :func:`resolve_bucket_options` merges them and validates
once, turning a refused combination into a usage error (exit status 2) that names the bad value.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import click

from aspectbucket.geometry.options import BucketOptions, OptionsError, parse_resolution
from aspectbucket.plan import block_settings
from aspectbucket.profiles import (
    PROFILES,
    Profile,
    get_profile,
    merge_options,
    parse_assignments,
    profile_names,
    resolve,
)
from aspectbucket.profiles.clips import CLIP_TRAINERS
from aspectbucket.report.explain import capped_budget_warning
from aspectbucket.tables.ray_engine import RayCluster

#: The most threads ``--jobs`` may ask for: more only add contention (and a huge number, memory).
MAX_JOBS = 256


class ResolutionType(click.ParamType):
    """``512`` or ``512,768`` (width, height), as sd-scripts' ``--resolution``."""

    name = "W[,H]"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            return parse_resolution(value)
        except OptionsError as error:
            self.fail(str(error), param, ctx)


def bucket_options(command):
    """Add ``--profile`` and the bucketing options to a click command as one ``bucketing`` dict."""
    decorators = [
        click.option(
            "--profile",
            type=click.Choice(profile_names()),
            default="kohya",
            show_default=True,
            help="Trainer whose bucketing to reproduce (balanced: this project's own); NAME@COMMIT picks a "
            "version ('aspectbucket profiles' lists them). A trainer's own config chooses its trainer unless "
            "this is given.",
        ),
        click.option(
            "--set",
            "assignments",
            metavar="NAME=VALUE",
            multiple=True,
            help="A setting under the trainer's own name (repeatable), e.g. --set architecture=ho1 or "
            "--set target_resolution=512,768,1024; applied over the options above.",
        ),
        click.option(
            "--resolution",
            "--target-resolution",
            "--max-size",
            "resolution",
            type=ResolutionType(),
            default=None,
            help="Area budget: SIZE (square) or WIDTH,HEIGHT (OneTrainer: target resolution; NovelAI: "
            "max_size). [default: the profile's, 512 for kohya]",
        ),
        click.option(
            "--min-bucket-reso",
            "--minimum-image-size",
            "--min-dim",
            "min_bucket_reso",
            type=int,
            default=None,
            help="Smallest bucket side (SimpleTuner: minimum_image_size; NovelAI: min_dim). [kohya: 256]",
        ),
        click.option(
            "--max-bucket-reso",
            "--dim-limit",
            "max_bucket_reso",
            type=int,
            default=None,
            help="Largest bucket side (NovelAI: dim_limit). [kohya: 1024]",
        ),
        click.option(
            "--bucket-reso-steps",
            "--quantization",
            "--aspect-bucket-alignment",
            "--bucket-tolerance",
            "--divisible",
            "bucket_reso_steps",
            type=int,
            default=None,
            help="Bucket sides are multiples of this (OneTrainer: quantization; SimpleTuner: "
            "aspect_bucket_alignment; ai-toolkit: bucket_tolerance; NovelAI: divisible). [kohya: 64]",
        ),
        click.option(
            "--bucket-no-upscale/--bucket-upscale",
            default=None,
            help='Never enlarge images (Kohya_ss GUI: "Don\'t upscale bucket resolution"). [kohya: off]',
        ),
    ]

    @functools.wraps(command)
    def wrapper(
        *args,
        profile,
        assignments,
        resolution,
        min_bucket_reso,
        max_bucket_reso,
        bucket_reso_steps,
        bucket_no_upscale,
        **kwargs,
    ):
        given = {
            "resolution": resolution,
            "min_bucket_reso": min_bucket_reso,
            "max_bucket_reso": max_bucket_reso,
            "bucket_reso_steps": bucket_reso_steps,
            "bucket_no_upscale": bucket_no_upscale,
        }
        try:
            settings = parse_assignments(assignments)
        except OptionsError as error:
            raise click.UsageError(str(error)) from None
        kwargs["bucketing"] = {
            "profile": profile,
            "given": {k: v for k, v in given.items() if v is not None},
            "settings": settings,
        }
        return command(*args, **kwargs)

    for decorate in reversed(decorators):
        wrapper = decorate(wrapper)
    return wrapper


def resolve_bucket_options(bucketing: dict, config: dict | None = None) -> tuple[Profile, BucketOptions, list[str]]:
    """Merge command-line values over ``config`` (what a config file set) over the profile's defaults
    (:func:`~aspectbucket.profiles.merge_options`), then validate.

    Prints the trainer's rounding warnings to stderr; a refused combination raises
    :class:`click.UsageError`, which click turns into exit status 2.
    """
    profile = get_profile(bucketing["profile"])
    try:
        merged = merge_options(profile, config, bucketing["given"])
        profile, options, warnings = resolve(profile, merged, bucketing.get("settings"))
    except OptionsError as error:
        raise click.UsageError(str(error)) from None
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    return profile, options, warnings


def check_output_files(**outputs) -> None:
    """Refuse, before any work, output files that cannot be written: a missing folder, a folder in the
    file's place, or a parent that is not a folder (a usage error, exit status 2, naming the option).

    ``outputs`` maps option names (``html``) to paths or ``None``.
    """
    for option, path in outputs.items():
        if path is None:
            continue
        path = Path(path).expanduser()
        parent = path.parent if str(path.parent) else Path(".")
        if path.is_dir():
            problem = "is a folder; give a file name"
        elif not parent.exists():
            problem = f"is in a folder that does not exist ({parent}); create it first"
        elif not parent.is_dir():
            problem = f"is under {parent}, which is not a folder"
        else:
            continue
        raise click.BadParameter(f"{path} {problem}", param_hint=f"--{option}")


def warn_capped_budget(options: BucketOptions, buckets) -> None:
    """Print the max_bucket_reso = resolution warning (each shrunk bucket's share of the budget) to stderr."""
    warning = capped_budget_warning(options, buckets)
    if warning:
        click.echo(f"warning: {warning}", err=True)


class ProfileListType(click.ParamType):
    """A comma-separated list of profile names, or ``all``; the error lists the valid ones."""

    name = "NAME[,NAME...]"

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        if str(value).strip() == "all":
            return list(PROFILES)
        names = [name.strip() for name in str(value).split(",") if name.strip()]
        unknown = [name for name in names if name not in profile_names()]
        if unknown or not names:
            bad = ", ".join(unknown) or repr(value)
            self.fail(f"unknown profile {bad}; choose from: {', '.join(profile_names())}")
        return names


def check_dataset_blocks(bucketing: dict, subsets) -> None:
    """Check every dataset block's options before the scan, so a refused option costs no waiting."""
    profile = get_profile(bucketing["profile"])
    seen = set()
    for subset in subsets:
        if subset.dataset in seen or not subset.enable_bucket:
            continue
        seen.add(subset.dataset)
        own = block_settings(profile, dict(subset.settings), bucketing["given"], bucketing.get("settings"))
        resolve_bucket_options({**bucketing, "settings": own}, dict(subset.given_options))
    if not seen:  # nothing to scan, or no block with buckets: the command line's options still count
        resolve_bucket_options(bucketing)


def parse_setting(text: str) -> tuple[str, object]:
    """``NAME=VALUE`` with VALUE read as JSON when it parses (``[1, 25, 45]``, ``24``), else as text."""
    name, equals, value = text.partition("=")
    if not equals or not name.strip():
        raise click.BadParameter(f"{text!r} is not NAME=VALUE", param_hint="--video-setting")
    try:
        return name.strip(), json.loads(value)
    except ValueError:
        return name.strip(), value


def video_options(command):
    """Add ``--video-profile`` and ``--video-setting`` (the video trainer's own settings) as ``video``."""

    @functools.wraps(command)
    def wrapper(*args, video_profile, video_settings, **kwargs):
        kwargs["video"] = {"profile": video_profile, "settings": dict(map(parse_setting, video_settings))}
        return command(*args, **kwargs)

    wrapper = click.option(
        "--video-setting",
        "video_settings",
        multiple=True,
        metavar="NAME=VALUE",
        help="A video trainer setting under its own name, VALUE as JSON or text, e.g. target_frames=[1,25,45] "
        "(repeatable).",
    )(wrapper)
    return click.option(
        "--video-profile",
        type=click.Choice(list(CLIP_TRAINERS)),
        default="musubi",
        show_default=True,
        help="Video trainer whose frame rules clips follow.",
    )(wrapper)


def engine_options(runs: str):
    """Add ``--engine``, ``--address`` and ``--workers`` as one ``cluster`` argument: None for the local
    engine, else the :class:`~aspectbucket.tables.ray_engine.RayCluster` to run on. ``runs`` says, for
    ``--help``, what runs on the cluster."""

    def decorate(command):
        @functools.wraps(command)
        def wrapper(*args, engine, address, workers, **kwargs):
            if engine == "local" and (address is not None or workers is not None):
                raise click.UsageError("--address and --workers go with --engine ray")
            kwargs["cluster"] = RayCluster(address, workers) if engine == "ray" else None
            return command(*args, **kwargs)

        wrapper = click.option(
            "--workers",
            type=click.IntRange(min=1),
            default=None,
            help="With --engine ray and no --address: CPUs of the local cluster. [default: every core]",
        )(wrapper)
        wrapper = click.option(
            "--address",
            default=None,
            metavar="HOST:PORT",
            help="With --engine ray: the cluster to join (what 'ray start --head' printed). [default: a local cluster]",
        )(wrapper)
        return click.option(
            "--engine",
            type=click.Choice(["local", "ray"]),
            default="local",
            show_default=True,
            help=f"Where {runs}: this process, or a Ray cluster's workers. Needs pip install 'aspectbucket[ray]'.",
        )(wrapper)

    return decorate
