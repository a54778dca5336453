"""``aspectbucket ledger``: what each epoch of a trainer trains, drops, repeats and pads, and the smallest fix."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console

from aspectbucket.cli.options import bucket_options, resolve_bucket_options
from aspectbucket.cli.sources import load_trainer_config, run_counts
from aspectbucket.epoch_ledger import ledger
from aspectbucket.geometry.ledger import BatchingError, BatchingRule
from aspectbucket.ledger_fixes import smallest_fixes
from aspectbucket.outputs import OutputRefused, atomic_open, refuse_inside
from aspectbucket.report.kohya_log import kohya_log_lines
from aspectbucket.report.ledger_section import (
    ledger_document,
    ledger_section_html,
    print_ledger,
    write_ledger_csv,
)
from aspectbucket.tables.formats import TableError
from aspectbucket.tables.ledger_input import read_size_table


def run_options(command):
    """``--batch-size``, ``--processes``, ``--grad-accum``, ``--epochs``/``--max-train-steps``, shared with report."""
    options = [
        click.option("--batch-size", type=int, default=None, help="Batch size per process. [default: 1]"),
        click.option(
            "--processes",
            type=int,
            default=None,
            help="Processes (GPUs) training together. [default: --config's, else 1]",
        ),
        click.option(
            "--grad-accum", type=int, default=None, help="Gradient accumulation steps. [default: --config's, else 1]"
        ),
        click.option("--epochs", type=int, default=None, help="Epochs to train (the run's length). [default: 1]"),
        click.option("--max-train-steps", type=int, default=None, help="Optimizer steps to train instead of --epochs."),
    ]
    for decorate in reversed(options):
        command = decorate(command)
    return command


@click.command("ledger")
@click.option(
    "--sizes",
    "sizes_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="CSV, JSONL or Parquet with 'width' and 'height' columns, optional 'repeats' and 'subset'.",
)
@bucket_options
@run_options
@click.option(
    "--batching",
    type=click.Choice([rule.value for rule in BatchingRule]),
    default=None,
    help="Count batches by this trainer's rule. [default: the profile's]",
)
@click.option(
    "--regularization",
    multiple=True,
    metavar="SUBSET",
    help="A subset of regularization images (kohya repeats them to match the training count); repeatable.",
)
@click.option(
    "--allow-oversubscription", is_flag=True, help="SimpleTuner's allow_dataset_oversubscription (approximate)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the ledger as JSON instead of tables.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="Write one row per image.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the ledger page.")
@click.option("--kohya-log", is_flag=True, help="Print the bucket and step lines sd-scripts would log.")
@click.option(
    "--config",
    "--config-file",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The trainer's own config: its trainer, batch size, processes and gradient accumulation "
    "unless given here (the sizes still come from --sizes).",
)
def ledger_command(
    sizes_path,
    bucketing,
    batch_size,
    processes,
    grad_accum,
    epochs,
    max_train_steps,
    batching,
    regularization,
    allow_oversubscription,
    as_json,
    csv_path,
    html_path,
    kohya_log,
    config_file,
):
    """Count one epoch of a trainer over the image sizes in FILE: per image, per bucket and in total.

    Shows steps and optimizer steps per epoch and for the whole run, each bucket's batches and its
    dropped and padded samples, the images never trained and why, and for them the cheapest fix
    (more repeats, a copy, a crop to a neighbouring bucket, another batch size), recounted.
    Where the trainer drops at random (OneTrainer, diffusion-pipe, NovelAI) counts are expectations.

    \b
    Example:
      aspectbucket ledger --sizes sizes.csv --profile onetrainer --batch-size 4 --processes 2
      aspectbucket ledger --sizes sizes.csv --batch-size 2 --epochs 10 --kohya-log
      aspectbucket ledger --sizes sizes.csv --config onetrainer_config.json
    """
    try:
        for output in (csv_path, html_path):
            if output is not None:
                refuse_inside(output, [sizes_path])
    except OutputRefused as error:
        raise click.UsageError(str(error)) from None
    config = None
    if config_file is not None:
        config = load_trainer_config(None, bucketing, {"path": config_file, "command_line": None})
        batch_size = batch_size if batch_size is not None else config.batch_size
    processes, grad_accum = run_counts(processes, grad_accum, config)
    profile, options, _ = resolve_bucket_options(bucketing)
    try:
        table = read_size_table(sizes_path)
    except (TableError, OSError) as error:
        raise click.BadParameter(str(error), param_hint="--sizes") from None
    for warning in table.warnings:
        click.echo(f"warning: {warning}", err=True)
    try:
        book = ledger(
            table.widths,
            table.heights,
            profile,
            options,
            table.repeats,
            table.subsets,
            1 if batch_size is None else batch_size,
            processes,
            grad_accum,
            regularization=set(regularization) if regularization else None,
            epochs=epochs,
            max_train_steps=max_train_steps,
            batching=batching,
            allow_oversubscription=allow_oversubscription,
        )
    except BatchingError as error:
        raise click.UsageError(str(error)) from None
    fixes = smallest_fixes(book)
    if csv_path:
        write_ledger_csv(csv_path, book)
        click.echo(f"wrote {csv_path}", err=True)
    if html_path:
        body = ledger_section_html(book, fixes)
        with atomic_open(html_path) as stream:
            stream.write(f"<!doctype html><meta charset='utf-8'><title>Epoch ledger</title>{body}")
        click.echo(f"wrote {html_path}", err=True)
    log = kohya_log_lines(book, max_train_epochs=epochs, max_train_steps=max_train_steps) if kohya_log else []
    if as_json:
        document = ledger_document(book, fixes)
        if kohya_log:
            document["kohya_log"] = log
        click.echo(json.dumps(document))
        return
    print_ledger(book, fixes, Console(highlight=False))
    for line in log:
        click.echo(line)
