"""``aspectbucket explain WxH ...``: why each size goes to its bucket, in plain words."""

from __future__ import annotations

import json
import re

import click

from aspectbucket.cli.options import bucket_options, resolve_bucket_options, video_options, warn_capped_budget
from aspectbucket.cli.sources import load_trainer_config, trainer_config_options
from aspectbucket.plan import block_settings
from aspectbucket.profiles import get_profile, profile_bucket_list
from aspectbucket.report.clip_explain import explain_clip
from aspectbucket.report.explain import explain_size

_SIZE = re.compile(r"^\s*(\d+)\s*[x×X,]\s*(\d+)\s*$")
_CLIP = re.compile(r"^\s*(\d+)\s*[x×X]\s*(\d+)\s*[x×X]\s*(\d+)\s*@\s*(\d+(?:\.\d+)?)\s*$")


def parse_clip(text: str) -> tuple[int, int, int, float] | None:
    """``1280x720x81@24`` (width, height, frames, fps) as a tuple; ``None`` when it is no clip."""
    match = _CLIP.match(text)
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3)), float(match.group(4))


def parse_size(text: str) -> tuple[int, int]:
    """``576x768`` (or ``576,768``) as ``(width, height)``; a usage error otherwise."""
    match = _SIZE.match(text)
    if not match:
        raise click.BadParameter(f"{text!r} is not a size like 576x768", param_hint="SIZE")
    return int(match.group(1)), int(match.group(2))


@click.command()
@click.argument("sizes", nargs=-1, required=True, metavar="WxH|WxHxF@FPS...")
@bucket_options
@trainer_config_options
@video_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list with every fact instead of sentences.")
def explain(sizes, bucketing, trainer_config, video, as_json):
    """Explain where images of the given sizes go and what is done to them; clips too.

    A clip is WIDTHxHEIGHTxFRAMES@FPS: its bucket (w, h, frames), the frames each training item reads,
    the frames never used, or why the trainer skips it. Exit status 1 when a size cannot be placed (for
    example 50x400 with --bucket-no-upscale) or a clip yields no item.

    With --config (--config-file) or --kohya-args, the trainer and its dataset-wide settings come from
    the config you train with.

    \b
    Examples:
      aspectbucket explain 576x768 512x752 --resolution 512
      aspectbucket explain 1280x720x81@24 --video-profile musubi --video-setting target_frames=[1,25,45]
      aspectbucket explain 1920x1080 --config musubi_dataset.toml
    """
    clips = [parse_clip(text) for text in sizes]
    results = []
    if any(clip is None for clip in clips):
        config = load_trainer_config(None, bucketing, trainer_config)
        if config is not None:
            profile = get_profile(bucketing["profile"])
            merged = block_settings(profile, config.settings, bucketing["given"], bucketing["settings"])
            bucketing = {**bucketing, "settings": merged}
        profile, options, _ = resolve_bucket_options(bucketing)
        warn_capped_budget(options, profile_bucket_list(profile, options))
    for text, clip in zip(sizes, clips, strict=True):
        if clip is None:
            results.append(explain_size(*parse_size(text), options, profile))
            continue
        try:
            results.append(explain_clip(*clip, profile=video["profile"], settings=video["settings"]))
        except ValueError as error:
            raise click.UsageError(str(error)) from None
    if as_json:
        click.echo(json.dumps(results, indent=2))
    else:
        for number, result in enumerate(results):
            if number:
                click.echo()
            first, *rest = result["sentences"]
            click.echo(first)
            for sentence in rest:
                click.echo(f"  {sentence}")
    if any(result["error"] for result in results):
        raise SystemExit(1)
