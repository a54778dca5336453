"""The report as one self-contained HTML page: interactive charts, tables, warnings, advice and a gallery.

Nothing on the page is fetched: charts are inline SVG, previews JPEG data URIs, style and script
inline (plain JavaScript, no library). Every file name reaches the page escaped, or as JSON that the
script inserts as text, never as HTML. The facts of every image travel once, as JSON columns; the
gallery (filters, search, worst-first order, click to enlarge with the crop overlay) and the chart
tooltips are built from them in the browser, a page of cards at a time, so the page stays quick to
open at 100,000 images. Only the worst-cropped images of each bucket carry a preview picture.

The page is a list of :class:`HtmlSection`; callers may pass more (a trainer comparison, say), which
are placed before the gallery.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from aspectbucket import __version__
from aspectbucket.report import charts
from aspectbucket.report.files import dataset_folders, write_text_atomic
from aspectbucket.report.gallery import gallery_section, json_for_script
from aspectbucket.report.sections import HtmlSection, escape
from aspectbucket.report.summary import (
    WARNING_TITLES,
    ReportSummary,
    WarningKind,
    numbering_legend,
    path_text,
    plural,
    precrop_words,
    settings_lines,
    steps_line,
    summarize,
)
from aspectbucket.report.thumbnails import PreviewCache

if TYPE_CHECKING:
    from aspectbucket.plan import DatasetPlan

#: Preview pictures per bucket by default: the worst-cropped images get one; the other cards show their shape.
PREVIEWS_PER_BUCKET = 12
#: Warning lists longer than this start closed.
_OPEN_LIST = 20
#: Tables longer than this travel as JSON inside the page and are built only when opened.
INLINE_ROWS = 50


def render_html(
    plan: DatasetPlan,
    summary: ReportSummary | None = None,
    *,
    sections: Sequence[HtmlSection] = (),
    previews_per_bucket: int = PREVIEWS_PER_BUCKET,
    source: Path | str | None = None,
    jobs: int | None = None,
    progress: bool = False,
    preview_cache: PreviewCache | None = None,
) -> str:
    """The whole page as a string; ``sections`` are added before the gallery.

    ``jobs`` threads make the previews, reusing ``preview_cache``'s; ``progress`` shows their progress
    bar on stderr.
    """
    summary = summary or summarize(plan)
    parts = [
        overview_section(summary, source),
        buckets_section(summary),
        charts_section(plan, summary),
        warnings_section(summary),
        advice_section(summary),
        *sections,
        gallery_section(plan, summary, previews_per_bucket, jobs, progress, preview_cache),
    ]
    contents = "".join(f'<li><a href="#{escape(part.anchor)}">{escape(part.title)}</a></li>' for part in parts)
    contents += '<li><a id="worst-link" href="#gallery">Worst crops</a></li>'
    body = "".join(
        f'<section id="{escape(part.anchor)}"><h2>{escape(part.title)}</h2>{part.body}</section>' for part in parts
    )
    title = "aspectbucket report" + ("" if source is None else f": {path_text(source)}")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f'<header><h1>{escape(title)}</h1><p class="muted">made by aspectbucket {escape(__version__)}; '
        "what the trainer will do to every image</p><nav><ol>"
        f"{contents}</ol></nav></header><main>{body}</main>"
        '<div id="tip" hidden></div><div id="lightbox" hidden><div class="inner" role="dialog" aria-label="image">'
        '<button type="button" class="close" aria-label="close">close</button></div></div>'
        f"<script>{_SCRIPT}</script></body></html>\n"
    )


def write_html(path: Path, plan: DatasetPlan, summary: ReportSummary | None = None, **options) -> None:
    """Write :func:`render_html` to ``path`` atomically (``-``: standard output), never under the dataset."""
    write_text_atomic(path, render_html(plan, summary, **options), dataset_folders(plan))


def overview_section(summary: ReportSummary, source) -> HtmlSection:
    lines = [*settings_lines(summary), steps_line(summary)]
    lines += [f"warning: {warning}" for warning in summary.notes]
    where = "" if source is None else f"<p>Dataset: <code>{escape(path_text(source))}</code></p>"
    return HtmlSection("overview", "Overview", where + "".join(f"<p>{escape(line)}</p>" for line in lines))


def buckets_section(summary: ReportSummary) -> HtmlSection:
    several = len(summary.options) > 1
    head = (["dataset"] if several else []) + [
        "bucket",
        "size",
        "ratio",
        "images",
        "x repeats",
        "batches",
        "mean loss",
        "worst loss",
        "upscaled",
    ]
    rows = [
        ([row.dataset] if several else [])
        + [
            row.number,
            f"{row.width}x{row.height}",
            row.ratio,
            row.images,
            row.samples,
            row.batches,
            f"{row.mean_loss:.1%}",
            f"{row.worst_loss:.1%}",
            row.upscaled,
        ]
        for row in summary.buckets
    ]
    size_head = (["dataset"] if several else []) + ["image size", "images", "ratio", "bucket", "bucket size"]
    size_rows = [
        ([row.dataset] if several else [])
        + [
            f"{row.width}x{row.height}",
            row.images,
            row.ratio,
            row.bucket_number,
            f"{row.bucket_width}x{row.bucket_height}",
        ]
        for row in summary.sizes
    ]
    sizes = _table(size_head, size_rows, plural(len(size_rows), "image size"))
    body = (
        f'<p class="muted">{escape(numbering_legend(summary.profile))}</p>'
        f"{_table(head, rows)}<h3>Image sizes</h3>{sizes}"
    )
    return HtmlSection("buckets", "Buckets", body)


def charts_section(plan: DatasetPlan, summary: ReportSummary) -> HtmlSection:
    figures = []
    for block in range(len(summary.options)):
        if not any(row.dataset == block for row in summary.buckets):
            continue
        label = f" (dataset {block})" if len(summary.options) > 1 else ""
        figures.append((charts.switching_chart(plan, summary, block), f"Switching points and images{label}"))
    if summary.buckets:
        figures.append((charts.bucket_chart(summary), "Images per bucket"))
        figures.append((charts.loss_chart(plan, summary), "Crop loss distribution"))
    body = "".join(
        f'<figure class="chart"><figcaption>{escape(caption)}</figcaption><div class="scroll">{svg}</div></figure>'
        for svg, caption in figures
    )
    return HtmlSection("charts", "Charts", body or "<p>No image could be placed.</p>")


def warnings_section(summary: ReportSummary) -> HtmlSection:
    parts = []
    for kind in WarningKind:
        group = [finding for finding in summary.warnings if finding.kind is kind]
        if not group:
            continue
        title = f"{WARNING_TITLES[kind]} ({len(group)})"
        if len(group) > INLINE_ROWS:
            rows = [[finding.path, finding.detail] for finding in group]
            parts.append(
                f'<div class="warning {escape(kind.value)}">{_lazy_table(["image", "why"], rows, title)}</div>'
            )
            continue
        items = "".join(f"<li><code>{escape(finding.path)}</code>: {escape(finding.detail)}</li>" for finding in group)
        opened = " open" if len(group) <= _OPEN_LIST else ""
        parts.append(
            f'<details class="warning {escape(kind.value)}"{opened}><summary>{escape(title)}</summary>'
            f"<ul>{items}</ul></details>"
        )
    return HtmlSection("warnings", "Warnings", "".join(parts) or "<p>No warnings.</p>")


def advice_section(summary: ReportSummary) -> HtmlSection:
    ratios = _table(
        ["crop to", "buckets", "images now"],
        [[advice.ratio, ", ".join(advice.buckets), advice.images] for advice in summary.ratio_advice],
    )
    body = (
        f"<p>Ratios worth cropping to (the buckets in use): an image of one of these ratios is only scaled.</p>{ratios}"
    )
    if summary.precrop_advice:
        rows = []
        for advice in summary.precrop_advice:
            rows.append(
                [
                    advice.path,
                    f"{advice.width}x{advice.height}",
                    f"{advice.lost_fraction:.1%}",
                    precrop_words(advice),
                    f"{advice.bucket_width}x{advice.bucket_height}",
                ]
            )
        body += (
            "<h3>Pre-crop these images yourself</h3><p>Crop each to a box of this size (centred below; move"
            " it to keep what matters) and the trainer cuts almost nothing more.</p>"
            + _table(
                ["image", "size", "cut now", "what to do (box = left, top, right, bottom)", "bucket"],
                rows,
                plural(len(rows), "image"),
            )
        )
    return HtmlSection("advice", "Advice", body)


def _table(head: list[str], rows: list[list], label: str = "") -> str:
    """A plain table, or beyond :data:`INLINE_ROWS` rows a closed one built when opened."""
    if len(rows) > INLINE_ROWS:
        return _lazy_table(head, rows, label)
    header = "".join(f"<th>{escape(name)}</th>" for name in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _lazy_table(head: list[str], rows: list[list], label: str) -> str:
    """A closed ``<details>`` whose rows are JSON, turned into a table by the page's script when opened.

    A page with 100,000 rows of HTML takes seconds to open; the same rows as JSON cost nothing until a
    reader asks for them. The script inserts every cell as text, never as HTML.
    """
    data = {"head": head, "rows": [[str(cell) for cell in row] for row in rows]}
    return (
        f'<details class="lazy"><summary>{escape(label)}</summary>'
        f'<script type="application/json">{json_for_script(data)}</script></details>'
    )


#: The page's style and script, kept as real .css and .js files beside this module and inlined.
_STYLE = (files("aspectbucket.report") / "page.css").read_text(encoding="utf-8")
_SCRIPT = (files("aspectbucket.report") / "page.js").read_text(encoding="utf-8")
