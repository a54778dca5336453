"""The report in a terminal: rich tables for buckets and sizes, then steps, warnings and advice.

Long lists are cut to their first lines with a count of the rest: the JSON, CSV and HTML outputs
hold everything. File names are printed as plain text, never as rich markup.
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from aspectbucket.report.summary import (
    WARNING_TITLES,
    ReportSummary,
    WarningKind,
    numbering_heading,
    path_text,
    plural,
    precrop_words,
    settings_lines,
    steps_line,
)

#: Lines shown per warning kind and per advice list before "... and N more".
SHOWN_PER_LIST = 10
#: Rows of the per-size table shown before "... and N more sizes".
SHOWN_SIZES = 30


def print_report(summary: ReportSummary, console: Console, shown: int = SHOWN_PER_LIST) -> None:
    """Print the whole report to ``console``."""
    print_settings(summary, console)
    if summary.buckets:
        console.print(bucket_table(summary))
        console.print(size_table(summary))
    print_steps(summary, console)
    print_warnings(summary, console, shown)
    print_advice(summary, console, shown)


def print_settings(summary: ReportSummary, console: Console) -> None:
    """One line per dataset block with its options, the image counts and the trainer's option warnings."""
    for line in settings_lines(summary):
        console.print(Text(line))
    for warning in summary.notes:
        console.print(Text(f"warning: {path_text(warning)}"))


def bucket_table(summary: ReportSummary) -> Table:
    """The used buckets, numbered as :func:`~aspectbucket.report.summary.numbering_legend` says."""
    several = len(summary.options) > 1
    table = _table(f"Buckets ({numbering_heading(summary.profile)})")
    if several:
        table.add_column("data-\nset", justify="right")
    names = (
        "bucket",
        "size",
        "ratio",
        "images",
        "images\nx repeats",
        "batches",
        "mean\nloss",
        "worst\nloss",
        "up-\nscaled",
    )
    for name in names:
        table.add_column(name, justify="left" if name in ("size", "ratio") else "right")
    for row in summary.buckets:
        cells = [str(row.dataset)] if several else []
        cells += [
            str(row.number),
            f"{row.width}x{row.height}",
            row.ratio,
            str(row.images),
            str(row.samples),
            str(row.batches),
            f"{row.mean_loss:.1%}",
            f"{row.worst_loss:.1%}",
            str(row.upscaled),
        ]
        table.add_row(*cells)
    return table


def _table(title: str, caption: str | None = None) -> Table:
    """A compact table that fits an 80-column terminal."""
    return Table(
        title=title,
        title_justify="left",
        caption=caption,
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )


def size_table(summary: ReportSummary, shown: int = SHOWN_SIZES) -> Table:
    """Image sizes with their count, ratio and bucket, as in the seed article."""
    several = len(summary.options) > 1
    rest = len(summary.sizes) - shown
    caption = f"... and {rest} more sizes (see --json or --csv)" if rest > 0 else None
    table = _table("Image sizes", caption)
    if several:
        table.add_column("data-\nset", justify="right")
    for name in ("image size", "images", "ratio", "bucket", "bucket size"):
        table.add_column(name, justify="right" if name in ("images", "bucket") else "left")
    for row in summary.sizes[:shown]:
        cells = [str(row.dataset)] if several else []
        cells += [
            f"{row.width}x{row.height}",
            str(row.images),
            row.ratio,
            str(row.bucket_number),
            f"{row.bucket_width}x{row.bucket_height}",
        ]
        table.add_row(*cells)
    return table


def print_steps(summary: ReportSummary, console: Console) -> None:
    """Samples and steps per epoch."""
    console.print(Text("\n" + steps_line(summary)))


def print_warnings(summary: ReportSummary, console: Console, shown: int = SHOWN_PER_LIST) -> None:
    """Warnings grouped by kind, worst first, ``shown`` lines per kind."""
    if not summary.warnings:
        console.print(Text("\nNo warnings."))
        return
    for kind in WarningKind:
        group = [finding for finding in summary.warnings if finding.kind is kind]
        if not group:
            continue
        console.print(Text(f"\nWarning ({len(group)}): {WARNING_TITLES[kind]}", style="bold yellow"))
        for finding in group[:shown]:
            console.print(Text(f"  {finding.path}: {finding.detail}"))
        if len(group) > shown:
            console.print(Text(f"  ... and {len(group) - shown} more"))


def print_advice(summary: ReportSummary, console: Console, shown: int = SHOWN_PER_LIST) -> None:
    """Ratios worth cropping to, then a pre-crop box for each badly cropped image."""
    if summary.ratio_advice:
        console.print(
            Text("\nAdvice: crop images to one of these ratios (the buckets in use) so nothing is cut:", style="bold")
        )
        for advice in summary.ratio_advice[:shown]:
            console.print(
                Text(
                    f"  {advice.ratio} -> {'bucket' if len(advice.buckets) == 1 else 'buckets'} "
                    f"{', '.join(advice.buckets)}; {plural(advice.images, 'image')} now"
                )
            )
        if len(summary.ratio_advice) > shown:
            console.print(Text(f"  ... and {len(summary.ratio_advice) - shown} more"))
    if summary.precrop_advice:
        console.print(
            Text(
                "\nAdvice: pre-crop these images yourself, moving the box to keep what matters "
                "(box = left, top, right, bottom; centred here):",
                style="bold",
            )
        )
        for advice in summary.precrop_advice[:shown]:
            console.print(
                Text(
                    f"  {advice.path}: {advice.lost_fraction:.0%} cut now; {precrop_words(advice)} "
                    f"for bucket {advice.bucket_width}x{advice.bucket_height}"
                )
            )
        if len(summary.precrop_advice) > shown:
            console.print(Text(f"  ... and {len(summary.precrop_advice) - shown} more (see --json)"))
