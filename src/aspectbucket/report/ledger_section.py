"""The epoch ledger in every report format: terminal tables, a JSON document, a CSV per image, HTML.

All four read one :class:`~aspectbucket.epoch_ledger.Ledger` and its fixes
(:func:`~aspectbucket.ledger_fixes.smallest_fixes`). ``labels`` name the images (file paths in a
report, row numbers for a size table). Where the trainer is random the counts are expectations
and every format says so.
"""

from __future__ import annotations

import csv
import dataclasses
import html
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text

from aspectbucket.epoch_ledger import Ledger
from aspectbucket.geometry.ledger import Reason
from aspectbucket.ledger_fixes import BucketFixes
from aspectbucket.outputs import atomic_open

#: Never-trained images listed by the terminal and HTML (all of them go to JSON and CSV).
SHOWN = 20

#: Columns of the per-image ledger CSV.
IMAGE_FIELDS = ("image", "width", "height", "subset", "bucket_width", "bucket_height", "repeats")
IMAGE_FIELDS += ("times_expected", "times_min", "times_max", "reason")


def totals_lines(book: Ledger) -> list[str]:
    """The run in a few sentences: steps, updates, what is dropped and padded, how sure the counts are."""
    t = book.totals()
    lines = [
        f"{t['profile']} ({t['batching']} batching): batch size {t['batch_size']} x {t['processes']} process(es), "
        f"gradient accumulation {t['grad_accum']}",
        f"{t['steps_per_epoch']} steps per epoch per process, {t['optimizer_steps_per_epoch']} optimizer steps per "
        f"epoch; {t['epochs']} epoch(s) = {t['total_optimizer_steps']} optimizer steps "
        f"(last epoch {t['last_epoch_optimizer_steps']})",
        f"{t['samples']} samples per epoch: {t['dropped_samples']} dropped, {t['padded_samples']} padded by "
        f"repetition; {t['never_trained']} image(s) never trained",
    ]
    if t["padded_batches"]:
        lines.append(f"accelerate repeats {t['padded_batches']} batch(es) from the epoch's start to even the processes")
    if t["trainer_estimate"] != t["steps_per_epoch"]:
        lines.append(f"OneTrainer's own estimate without latent caching: {t['trainer_estimate']} steps per epoch")
    if t["random"]:
        lines.append("which samples are dropped is random: per-image counts are expectations, with their range")
    if t["refused"]:
        lines.append(f"the trainer refuses this dataset: {t['refused']}")
    return lines


def print_ledger(
    book: Ledger, fixes: list[BucketFixes], console: Console, labels=None, shown: int = SHOWN, compact: bool = False
) -> None:
    """The ledger section of the terminal report: totals, the bucket table, never-trained images, fixes.

    ``compact`` (the report, which has its own bucket table) leaves the bucket table out when no
    bucket drops or pads anything.
    """
    console.print()
    console.print(Text("Epoch ledger", style="bold"))
    for line in totals_lines(book):
        console.print(Text(line))
    if not compact or book.counts.dropped.any() or book.counts.padded.any():
        console.print(bucket_table(book))
    never = book.never_trained
    if len(never):
        console.print(Text(f"Never trained ({len(never)}):", style="bold"))
        for index in never[:shown].tolist():
            console.print(Text(f"  {_label(labels, index)}: {book.reason_text(index)}"))
        if len(never) > shown:
            console.print(Text(f"  ... and {len(never) - shown} more (see the JSON or CSV)"))
    for line in fix_lines(fixes):
        console.print(Text(line))


def bucket_table(book: Ledger) -> Table:
    """Every bucket in use: images, samples, batches, and samples trained, dropped and padded."""
    table = Table(title="Per bucket, one epoch")
    for name in ("bucket", "images", "samples", "batches", "trained", "dropped", "padded"):
        table.add_column(name, justify="left" if name == "bucket" else "right")
    for row in book.per_bucket_rows():
        bucket = f"{row['bucket_width']}x{row['bucket_height']}" + (f" [{row['subset']}]" if "subset" in row else "")
        numbers = [row[key] for key in ("images", "samples", "batches", "trained", "dropped", "padded")]
        table.add_row(Text(bucket), *(str(number) for number in numbers))
    return table


def fix_lines(fixes: list[BucketFixes]) -> list[str]:
    """One line per bucket with never-trained images: its best fix and the before/after counts."""
    lines = []
    for bucket in fixes:
        best = bucket.best
        lines.append(
            f"fix {bucket.bucket_width}x{bucket.bucket_height} ({len(bucket.images)} image(s) never trained): "
            f"{best.description}; never trained {best.never_trained_before} -> {best.never_trained_after}, "
            f"steps per epoch {best.steps_before} -> {best.steps_after}"
        )
    return lines


def ledger_document(book: Ledger, fixes: list[BucketFixes], labels=None, image_limit: int | None = None) -> dict:
    """The ledger as JSON-ready data (:meth:`Ledger.to_json` plus ``fixes``, images labelled)."""
    document = book.to_json(image_limit)
    for row in document["images"]:
        row["image"] = _label(labels, row["index"])
    document["fixes"] = [
        {
            "bucket_width": bucket.bucket_width,
            "bucket_height": bucket.bucket_height,
            "images": [_label(labels, index) for index in bucket.images.tolist()],
            "fixes": [dataclasses.asdict(fix) for fix in bucket.fixes],
        }
        for bucket in fixes
    ]
    return document


def ledger_csv_columns(book: Ledger) -> dict[str, list]:
    """The ledger's per-image columns for the report's CSV: times trained per epoch and why not."""
    return {
        "times_expected": np.round(book.counts.times_expected, 6).tolist(),
        "times_min": book.counts.times_min.tolist(),
        "times_max": book.counts.times_max.tolist(),
        "ledger_reason": [book.reason_text(i) for i in range(len(book.image_bucket))],
    }


def untrained_count(book: Ledger) -> int:
    """Images trained less than asked (or maybe so, where random): the ones a report lists."""
    return int((book.counts.reason != Reason.TRAINED).sum())


def write_ledger_csv(path: Path | str, book: Ledger, labels=None) -> None:
    """One row per image (written atomically): its bucket, repeats, times trained per epoch and why not."""
    with atomic_open(path, newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(IMAGE_FIELDS)
        for row in book.image_rows():
            row["image"] = _label(labels, row["index"])
            writer.writerow(["" if row[name] is None else row[name] for name in IMAGE_FIELDS])


def ledger_chart(book: Ledger, limit: int = 60) -> str:
    """One horizontal bar per bucket (the ``limit`` with most samples): samples trained, dropped, padded.

    Plain inline SVG like the page's other charts (no library, nothing fetched); each bar names its
    numbers on hover.
    """
    rows = sorted(book.per_bucket_rows(), key=lambda row: -row["samples"])[:limit]
    width, label_width, row_height, top = 960, 150, 18, 8
    height = top + row_height * len(rows) + 30
    most = max((row["samples"] + row["padded"] for row in rows), default=1) or 1
    scale = (width - label_width - 140) / most
    body = []
    for position, row in enumerate(rows):
        y = top + position * row_height
        name = f"{row['bucket_width']}x{row['bucket_height']}" + (f" [{row['subset']}]" if "subset" in row else "")
        kept = row["trained"] - row["padded"]
        title = f"{name}: {kept} trained, {row['dropped']} dropped, {row['padded']} padded, {row['batches']} batches"
        x = label_width
        bars = []
        for value, colour in ((kept, "#2ca02c"), (row["dropped"], "#d62728"), (row["padded"], "#ff7f0e")):
            if value:
                bars.append(
                    f'<rect x="{x:.1f}" y="{y + 2}" width="{max(value * scale, 1):.1f}" height="{row_height - 4}" '
                    f'fill="{colour}"/>'
                )
                x += value * scale
        body.append(
            f"<g><title>{html.escape(title)}</title>"
            f'<text x="{label_width - 6}" y="{y + 13}" text-anchor="end" class="tick">{html.escape(name)}</text>'
            f'{"".join(bars)}<text x="{x + 4:.1f}" y="{y + 13}" class="tick">{kept}/{row["samples"]}</text></g>'
        )
    body.append(
        f'<text x="{label_width}" y="{height - 8}" class="axis">samples per epoch: trained (green), '
        "dropped (red), padded by repetition (orange)</text>"
    )
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="trained and dropped samples per bucket" xmlns="http://www.w3.org/2000/svg">{"".join(body)}</svg>'
    )


def ledger_section_html(book: Ledger, fixes: list[BucketFixes], labels=None, shown: int = SHOWN) -> str:
    """The ledger section of the HTML page: totals, the chart, the bucket table, never-trained files, fixes."""
    parts = [f"<p>{html.escape(line)}</p>" for line in totals_lines(book)]
    if len(book.bucket_shapes):
        parts.append(ledger_chart(book))
    head = ("bucket", "images", "samples", "batches", "trained", "dropped", "padded")
    rows = [
        [f"{row['bucket_width']}x{row['bucket_height']}", *(row[key] for key in head[1:])]
        for row in book.per_bucket_rows()
    ]
    parts.append(_table(head, rows))
    never = book.never_trained
    if len(never):
        parts.append(f"<h3>Never trained ({len(never)})</h3>")
        items = [[_label(labels, i), book.reason_text(i)] for i in never[:shown].tolist()]
        parts.append(_table(("image", "why"), items))
        if len(never) > shown:
            parts.append(f"<p>... and {len(never) - shown} more (see the JSON or CSV).</p>")
    if fixes:
        parts.append("<h3>Smallest fixes</h3>")
        fix_rows = []
        for bucket in fixes:
            for fix in bucket.fixes:
                fix_rows.append(
                    [
                        f"{bucket.bucket_width}x{bucket.bucket_height}",
                        fix.description,
                        f"{fix.never_trained_before} -> {fix.never_trained_after}",
                        f"{fix.steps_before} -> {fix.steps_after}",
                        fix.extra_samples,
                    ]
                )
        parts.append(
            _table(("bucket", "fix (cheapest first)", "never trained", "steps/epoch", "extra samples"), fix_rows)
        )
    return "".join(parts)


def _table(head, rows) -> str:
    header = "".join(f"<th>{html.escape(str(name))}</th>" for name in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _label(labels, index: int) -> str:
    return str(index) if labels is None else str(labels[index])
