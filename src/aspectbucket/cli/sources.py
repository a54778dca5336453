"""A command's dataset from a trainer's own config: ``SOURCE`` detected as one, ``--config FILE`` or
``--kohya-args "..."``; the trainer it implies becomes the profile unless ``--profile`` is given.

Fields the config has but the tool does not model are printed as notes, grouped by reason; a value the
trainer refuses is a usage error (exit status 2) naming the file, key and value.
"""

from __future__ import annotations

import functools
import os
from collections import defaultdict
from pathlib import Path

import click
from click.core import ParameterSource

from aspectbucket.scan.configs import ConfigError, TrainerConfig, detect, read_command_line, read_trainer_config
from aspectbucket.scan.sources import DatasetError, Subset, read_dataset


def trainer_config_options(command):
    """Add ``--config`` and ``--kohya-args``; the command receives them as ``trainer_config``."""

    @functools.wraps(command)
    def wrapper(*args, config_file, kohya_args, **kwargs):
        kwargs["trainer_config"] = {"path": config_file, "command_line": kohya_args}
        return command(*args, **kwargs)

    wrapper = click.option(
        "--kohya-args",
        "--trainer-args",
        "kohya_args",
        metavar="'COMMAND LINE'",
        default=None,
        help="A pasted training command line (sd-scripts, accelerate launch ..., or a diffusers DreamBooth script); "
        "its folders and bucket options are read as the trainer reads them (--min_bucket_reso or --min-bucket-reso).",
    )(wrapper)
    return click.option(
        "--config",
        "--config-file",
        "config_file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="The trainer's own config (musubi-tuner or diffusion-pipe TOML, ai-toolkit YAML, SimpleTuner or "
        "OneTrainer JSON, Kohya_ss GUI config); the trainer is detected from it. SOURCE may also be such a file.",
    )(wrapper)


def load_trainer_config(source: Path | None, bucketing: dict, trainer_config: dict) -> TrainerConfig | None:
    """The trainer config that ``source``, ``--config`` or ``--kohya-args`` give (``None`` if none does).

    Sets ``bucketing["profile"]`` to the config's trainer unless ``--profile`` was given, and prints the
    ignored fields as notes. Raises :class:`click.UsageError` for a refused value.
    """
    path, text = trainer_config.get("path"), trainer_config.get("command_line")
    if path is not None and text is not None:
        raise click.UsageError("give either --config or --kohya-args, not both")
    if source is not None and (path is not None or text is not None):
        raise click.UsageError("give either SOURCE or --config/--kohya-args, not both")
    context = click.get_current_context(silent=True)
    given = context is not None and context.get_parameter_source("profile") is ParameterSource.COMMANDLINE
    override = bucketing["profile"] if given else None
    try:
        if text is not None:
            config = read_command_line(text, override)
        elif path is not None or (source is not None and detect(source)):
            config = read_trainer_config(path or source, override)
        else:
            return None
    except ConfigError as error:
        raise click.UsageError(str(error)) from None
    if override is None and config.profile != bucketing["profile"]:
        click.echo(
            f"note: {config.source.name} is a {config.profile} config: placed by that profile "
            "(--profile chooses another)",
            err=True,
        )
    bucketing["profile"] = config.profile
    for line in grouped_notes(config):
        click.echo(f"note: {line}", err=True)
    return config


def run_counts(processes: int | None, grad_accum: int | None, config: TrainerConfig | None) -> tuple[int, int]:
    """``(processes, gradient accumulation)`` for the epoch ledger: the command line's, else the trainer
    config's (so a report of a 2-GPU config counts 2 GPUs without repeating it), else 1.

    Prints a note for each value taken from the config, so the reader knows where the count came from.
    """
    chosen = []
    for given, configured, flag in (
        (processes, config and config.processes, "processes"),
        (grad_accum, config and config.grad_accum, "grad-accum"),
    ):
        if given is None and configured:
            click.echo(f"note: --{flag} {configured}, from {config.source.name} (the command line's wins)", err=True)
        chosen.append(given if given is not None else configured or 1)
    return chosen[0], chosen[1]


def grouped_notes(config: TrainerConfig) -> list[str]:
    """The ignored fields, one line per file and reason (a GUI config has hundreds of unmodelled keys)."""
    groups = defaultdict(list)
    for item in config.ignored:
        groups[item.file.name, item.reason].append(item.key)
    return [f"{name}: ignored ({reason}): {', '.join(keys)}" for (name, reason), keys in groups.items()]


def dataset_source(
    source: Path | None, bucketing: dict, trainer_config: dict
) -> tuple[Path, list[Subset], list[str], TrainerConfig | None]:
    """``(source, subsets, warnings, config)``: a trainer config's, else a folder's or kohya TOML's.

    ``source`` comes back as the config file, or for a pasted command line the folder its images share.
    """
    config = load_trainer_config(source, bucketing, trainer_config)
    if config is None:
        if source is None:
            raise click.UsageError("missing SOURCE (a folder, a kohya N_name folder, a .toml or a trainer config)")
        try:
            subsets, warnings = read_dataset(source)
        except DatasetError as error:
            raise click.BadParameter(str(error), param_hint="SOURCE") from None
        return source, subsets, warnings, None
    where = config.source
    if not where.is_file():
        folders = [str(subset.image_dir) for subset in config.subsets]
        where = Path(os.path.commonpath(folders)) if folders else Path.cwd()
    return where, config.subsets, config.warnings, config
