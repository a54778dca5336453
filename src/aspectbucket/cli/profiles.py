"""``aspectbucket profiles``: every trainer profile with its settings, defaults, version and defects."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from aspectbucket.profiles.registry import describe_profiles


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the profiles as JSON instead of a table.")
def profiles(as_json):
    """List the trainer profiles: the settings each takes (its trainer's own names, with defaults),
    the trainer version it reproduces (repository and commit) and its known defects.

    Use a name with --profile (NAME@COMMIT picks a version) and a setting with --set NAME=VALUE.

    \b
    Example:
      aspectbucket profiles
      aspectbucket report ./train --profile onetrainer --set target_resolution=512,768,1024
    """
    rows = describe_profiles()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="Trainer profiles", show_lines=True)
    for column in ("profile", "reproduces", "settings (default)", "known defects"):
        table.add_column(column, overflow="fold")
    for row in rows:
        name = row["name"] + "".join(f"\n(also {alias})" for alias in row["aliases"])
        settings = "\n".join(f"{setting['name']} ({_shown(setting['default'])})" for setting in row["settings"])
        table.add_row(name, f"{row['trainer']}\n{row['source']}", settings, row["defects"] or "-")
    Console(width=max(120, Console().width)).print(table)


def _shown(value) -> str:
    if value is None:
        return "unset"
    if isinstance(value, list | tuple):  # a list, as --set takes it: 512,768 or 1280x720 (an area) or none
        return (
            ",".join("x".join(map(str, item)) if isinstance(item, list | tuple) else str(item) for item in value)
            or "none"
        )
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if value != "" else "empty"
