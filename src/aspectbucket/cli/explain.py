"""``aspectbucket explain WxH ...``: why each size goes to its bucket, in plain words."""

from __future__ import annotations

import json
import re

import click

from aspectbucket.cli.options import bucket_options, resolve_bucket_options, warn_capped_budget
from aspectbucket.cli.trainer_configs import config_options, echo_config_warnings, trainer_config_options
from aspectbucket.profiles import profile_bucket_list
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

    --config-file or --kohya-args take the bucketing options from the config you train with.

    \b
    Example:
      aspectbucket explain 576x768 512x752 --resolution 512
    """
    parsed = [parse_size(text) for text in sizes]
    echo_config_warnings(trainer_config)
    profile, options, _ = resolve_bucket_options(bucketing, config_options(trainer_config))
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
