"""``aspectbucket explain WxH ...``: why each size goes to its bucket, in plain words."""

from __future__ import annotations

import json
import re

import click

from aspectbucket.cli.options import bucket_options, resolve_bucket_options, warn_capped_budget
from aspectbucket.cli.sources import load_trainer_config, trainer_config_options
from aspectbucket.plan import block_settings
from aspectbucket.profiles import get_profile, profile_bucket_list
from aspectbucket.report.explain import explain_size

_SIZE = re.compile(r"^\s*(\d+)\s*[x×X,]\s*(\d+)\s*$")


def parse_size(text: str) -> tuple[int, int]:
    """``576x768`` (or ``576,768``) as ``(width, height)``; a usage error otherwise."""
    match = _SIZE.match(text)
    if not match:
        raise click.BadParameter(f"{text!r} is not a size like 576x768", param_hint="SIZE")
    return int(match.group(1)), int(match.group(2))


@click.command()
@click.argument("sizes", nargs=-1, required=True, metavar="WxH...")
@bucket_options
@trainer_config_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list with every fact instead of sentences.")
def explain(sizes, bucketing, trainer_config, as_json):
    """Explain where images of the given sizes go and what is done to them.

    Exit status 1 when a size cannot be placed (for example 50x400 with --bucket-no-upscale).
    With --config (--config-file) or --kohya-args, the trainer and its dataset-wide settings come from
    the config you train with.

    \b
    Examples:
      aspectbucket explain 576x768 512x752 --resolution 512
      aspectbucket explain 1920x1080 --config musubi_dataset.toml
    """
    parsed = [parse_size(text) for text in sizes]
    config = load_trainer_config(None, bucketing, trainer_config)
    if config is not None:
        profile = get_profile(bucketing["profile"])
        merged = block_settings(profile, config.settings, bucketing["given"], bucketing["settings"])
        bucketing = {**bucketing, "settings": merged}
    profile, options, _ = resolve_bucket_options(bucketing)
    warn_capped_budget(options, profile_bucket_list(profile, options))
    results = [explain_size(width, height, options, profile) for width, height in parsed]
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
