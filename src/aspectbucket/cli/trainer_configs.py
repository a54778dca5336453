"""``--config-file`` and ``--kohya-args``: the config a user already trains with, as the dataset source."""

from __future__ import annotations

import functools
from pathlib import Path

import click
from click.core import ParameterSource

from aspectbucket.scan.configs import TrainerConfig, read_kohya_args, read_kohya_gui_config
from aspectbucket.scan.sources import DatasetError


def trainer_config_options(command):
    """Add ``--config-file`` and ``--kohya-args`` to a command as one ``trainer_config`` (or ``None``)."""

    @functools.wraps(command)
    def wrapper(*args, config_file, kohya_args, **kwargs):
        if config_file is not None and kohya_args is not None:
            raise click.UsageError("give either --config-file or --kohya-args, not both")
        try:
            if config_file is not None:
                kwargs["trainer_config"] = read_kohya_gui_config(config_file)
            elif kohya_args is not None:
                kwargs["trainer_config"] = read_kohya_args(kohya_args)
            else:
                kwargs["trainer_config"] = None
        except DatasetError as error:
            raise click.UsageError(str(error)) from None
        return command(*args, **kwargs)

    wrapper = click.option(
        "--kohya-args",
        metavar="'ARGS'",
        default=None,
        help="A pasted sd-scripts command line ('accelerate launch ... train_network.py --train_data_dir=... "
        "--resolution=1024,1024 --enable_bucket ...'): its images and bucketing options.",
    )(wrapper)
    return click.option(
        "--config-file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="A Kohya_ss GUI config (JSON or TOML): its train_data_dir or dataset_config, resolution, "
        "bucket options and train_batch_size. Unused keys are listed as ignored.",
    )(wrapper)


def config_options(trainer_config: TrainerConfig | None) -> dict | None:
    """The bucketing options a training config sets (its first dataset block's), by field name."""
    if trainer_config is None or not trainer_config.subsets:
        return None
    return dict(trainer_config.subsets[0].given_options)


def echo_config_warnings(trainer_config: TrainerConfig | None) -> None:
    """What the config named but does not decide bucketing, one line each, on stderr."""
    for warning in trainer_config.warnings if trainer_config is not None else ():
        click.echo(f"warning: {warning}", err=True)


def adopt_detected_profile(bucketing: dict, trainer_config: TrainerConfig) -> None:
    """Place by the trainer the config file is for (a musubi-tuner dataset config), unless --profile says."""
    context = click.get_current_context()
    if trainer_config.profile == bucketing["profile"]:
        return
    if context.get_parameter_source("profile") is ParameterSource.COMMANDLINE:
        return
    bucketing["profile"] = trainer_config.profile
    click.echo(
        f"note: {trainer_config.origin} is a {trainer_config.profile} config: placed by that profile "
        "(--profile chooses another)",
        err=True,
    )
