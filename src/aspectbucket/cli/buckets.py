"""``aspectbucket buckets``: the bucket list with ratios, areas and switching points."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from aspectbucket.cli.options import bucket_options, resolve_bucket_options, warn_capped_budget
from aspectbucket.report.explain import bucket_table


@click.command()
@bucket_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of buckets instead of a table.")
def buckets(bucketing, as_json):
    """List the buckets a trainer makes, tallest to widest, with the ratios that land in each.

    \b
    Example:
      aspectbucket buckets --resolution 1024 --max-bucket-reso 2048
    """
    profile, options, _ = resolve_bucket_options(bucketing)
    rows = bucket_table(options, profile)
    warn_capped_budget(options, [(row["width"], row["height"]) for row in rows])
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(
            f"{profile.trainer} has no bucket list with these options: each image gets its own bucket "
            f"(try 'aspectbucket explain WxH')."
        )
        return
    table = Table(title=f"{len(rows)} buckets, {profile.name}, budget {options.resolution[0]}x{options.resolution[1]}")
    for name in ("bucket", "ratio", "w/h", "h/w", "area", "budget", "images with w/h from", "to"):
        table.add_column(name, justify="left" if name in ("bucket", "ratio") else "right")
    for row in sorted(rows, key=lambda row: row["w_over_h"]):
        table.add_row(
            f"{row['width']}x{row['height']}",
            row["ratio"],
            f"{row['w_over_h']:.3f}",
            f"{row['h_over_w']:.3f}",
            f"{row['area']:,}",
            f"{row['budget_share'] * 100:.0f} %",
            _bound(row["from_w_over_h"]),
            _bound(row["to_w_over_h"]),
        )
    console = Console(width=max(100, Console().width))
    console.print(table)
    console.print(
        "Switching points are midpoints of width/height ratios (the trainer's metric); charts drawn with "
        "height/width midpoints misplace portrait images."
    )


def _bound(value) -> str:
    return "-" if value is None else f"{value:.4f}"
