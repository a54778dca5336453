"""The report as one self-contained HTML page: charts, tables, warnings, advice and a preview gallery.

Nothing on the page is fetched: charts are SVG and previews JPEG, both embedded as base64 data URIs;
style and the small sorting script are inline. Every file name is HTML-escaped. To stay quick to
open at 100,000 images, only the worst-cropped images of each bucket get a preview; the rest are
listed in a plain table that travels as JSON and is built when its ``<details>`` is opened.

The page is a list of :class:`HtmlSection`; callers may pass more (a trainer comparison, say), which
are placed before the gallery.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aspectbucket import __version__
from aspectbucket.report import charts
from aspectbucket.report.files import write_text_atomic
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
from aspectbucket.report.thumbnails import previews

if TYPE_CHECKING:
    from aspectbucket.plan import DatasetPlan

#: Previews per bucket by default: the worst-cropped images get one, the rest a table row.
PREVIEWS_PER_BUCKET = 12
#: Warning lists longer than this start closed.
_OPEN_LIST = 20
#: Tables longer than this travel as JSON inside the page and are built only when opened.
INLINE_ROWS = 50


@dataclass(frozen=True)
class HtmlSection:
    """One part of the page: ``anchor`` for the contents list, a ``title`` and ready, escaped HTML."""

    anchor: str
    title: str
    body: str


def escape(value) -> str:
    """Any value as HTML text, quotes included (safe inside attributes)."""
    return html.escape(str(value), quote=True)


def render_html(
    plan: DatasetPlan,
    summary: ReportSummary | None = None,
    *,
    sections: Sequence[HtmlSection] = (),
    previews_per_bucket: int = PREVIEWS_PER_BUCKET,
    source: Path | str | None = None,
    jobs: int | None = None,
    progress: bool = False,
) -> str:
    """The whole page as a string; ``sections`` are added before the gallery.

    ``jobs`` threads make the previews; ``progress`` shows their progress bar on stderr.
    """
    summary = summary or summarize(plan)
    parts = [
        overview_section(summary, source),
        buckets_section(summary),
        charts_section(plan, summary),
        warnings_section(summary),
        advice_section(summary),
        *sections,
        gallery_section(plan, summary, previews_per_bucket, jobs, progress),
    ]
    contents = "".join(f'<li><a href="#{escape(part.anchor)}">{escape(part.title)}</a></li>' for part in parts)
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
        f"{contents}</ol></nav></header><main>{body}</main><script>{_SCRIPT}</script></body></html>\n"
    )


def write_html(path: Path, plan: DatasetPlan, summary: ReportSummary | None = None, **options) -> None:
    """Write :func:`render_html` to ``path`` atomically."""
    write_text_atomic(path, render_html(plan, summary, **options))


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
    images = []
    for block in range(len(summary.options)):
        if not any(row.dataset == block for row in summary.buckets):
            continue
        label = f" (dataset {block})" if len(summary.options) > 1 else ""
        images.append((charts.switching_chart(plan, summary, block), f"Switching points and images{label}"))
    if summary.buckets:
        images.append((charts.bucket_chart(summary), "Images per bucket"))
        images.append((charts.loss_chart(plan, summary), "Crop loss distribution"))
    body = "".join(
        f'<figure class="chart"><img src="{uri}" alt="{escape(alt)}"><figcaption>{escape(alt)}</figcaption></figure>'
        for uri, alt in images
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


def gallery_section(
    plan: DatasetPlan,
    summary: ReportSummary,
    previews_per_bucket: int,
    jobs: int | None = None,
    progress: bool = False,
) -> HtmlSection:
    """Images grouped by bucket, worst crop first: previews for the first few, a table for the rest."""
    columns, placement = summary.columns, plan.placement
    groups, chosen = [], []
    for row in summary.buckets:
        members = np.flatnonzero(columns.ok & (columns.dataset == row.dataset) & (columns.bucket_number == row.number))
        order = np.lexsort((members, -placement.lost_fraction[members]))
        members = members[order]
        groups.append((row, members))
        chosen.extend(members[:previews_per_bucket].tolist())
    encoded = dict(zip(chosen, previews(plan, chosen, jobs, progress), strict=True))
    several = len(summary.options) > 1
    parts = [
        '<p class="sortbar">Sort by: <button type="button" data-sort="loss-desc">most cut first</button> '
        '<button type="button" data-sort="loss-asc">least cut first</button> '
        '<button type="button" data-sort="name">name</button></p>'
        '<p class="muted">Bright: the window the trainer keeps (centre crop). Dimmed: what it cuts.</p>'
    ]
    for row, members in groups:
        label = f"dataset {row.dataset}, " if several else ""
        figures = "".join(
            _preview_figure(
                columns.display_path[index],
                float(placement.lost_fraction[index]),
                float(placement.scale[index]),
                encoded.get(index),
            )
            for index in members[:previews_per_bucket]
        )
        rest = members[previews_per_bucket:]
        table = ""
        if len(rest):
            rows = zip(
                [columns.display_path[index] for index in rest],
                columns.placed_width[rest].tolist(),
                columns.placed_height[rest].tolist(),
                placement.lost_fraction[rest].tolist(),
                placement.scale[rest].tolist(),
                strict=True,
            )
            table = _lazy_table(
                ["image", "size", "cut", "scale"],
                [
                    [name, f"{width}x{height}", f"{loss:.1%}", f"{scale:.2f}x"]
                    for name, width, height, loss, scale in rows
                ],
                f"{plural(len(rest), 'more image')} (table)",
                keys=[round(loss, 6) for loss in placement.lost_fraction[rest].tolist()],
            )
        parts.append(
            f'<div class="bucket" id="bucket-{row.dataset}-{row.number}"><h3>{label}bucket {row.number}: '
            f"{row.width}x{row.height} ({row.ratio}), {plural(row.images, 'image')}</h3>"
            f'<div class="thumbs sortable">{figures}</div>{table}</div>'
        )
    return HtmlSection("gallery", "Gallery", "".join(parts))


def _preview_figure(name: str, loss: float, scale: float, data: str | None) -> str:
    picture = (
        f'<img class="preview" src="data:image/jpeg;base64,{data}" alt="{escape(name)}">'
        if data
        else '<div class="nopreview">no preview</div>'
    )
    return (
        f'<figure class="thumb" data-loss="{loss:.6f}" data-name="{escape(name)}">{picture}'
        f"<figcaption>{escape(name)}<br>{loss:.1%} cut, {scale:.2f}x</figcaption></figure>"
    )


def _table(head: list[str], rows: list[list], label: str = "") -> str:
    """A plain table, or beyond :data:`INLINE_ROWS` rows a closed one built when opened."""
    if len(rows) > INLINE_ROWS:
        return _lazy_table(head, rows, label)
    header = "".join(f"<th>{escape(name)}</th>" for name in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _lazy_table(head: list[str], rows: list[list], label: str, keys: list[float] | None = None) -> str:
    """A closed ``<details>`` whose rows are JSON, turned into a table by the page's script when opened.

    A page with 100,000 rows of HTML takes seconds to open; the same rows as JSON cost nothing until a
    reader asks for them. ``keys`` (crop loss) make the rows sortable with the gallery's buttons; the
    script inserts every cell as text, never as HTML.
    """
    data = {"head": head, "rows": [[str(cell) for cell in row] for row in rows], "keys": keys}
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    return (
        f'<details class="lazy"><summary>{escape(label)}</summary>'
        f'<script type="application/json">{text}</script></details>'
    )


_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header{background:#1f2937;color:#f9fafb;padding:12px 24px}header h1{margin:0;font-size:20px}
header .muted{color:#cbd5e1}
nav ol{margin:6px 0 0;padding:0;list-style:none;display:flex;flex-wrap:wrap;gap:14px}
nav a{color:#93c5fd}
main{padding:8px 24px 40px;max-width:1200px}h2{border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:6px 0 12px}th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#eef2f7}td:first-child{text-align:left}code{font-size:13px}.muted{color:#6b7280}
figure.chart{margin:10px 0}
figure.chart img{max-width:100%;height:auto;background:#fff;border:1px solid #e5e7eb}
.thumbs{display:flex;flex-wrap:wrap;gap:10px}figure.thumb{margin:0;width:190px;background:#fff;
border:1px solid #e5e7eb;padding:5px;font-size:12px;overflow-wrap:anywhere}
figure.thumb img{display:block;max-width:180px;max-height:180px;margin:auto}
.nopreview{height:90px;display:flex;align-items:center;justify-content:center;background:#eee;color:#777}
details{margin:6px 0}summary{cursor:pointer}.warning summary{font-weight:600}
.sortbar button{margin-right:4px}
"""

_SCRIPT = """
var sortMode = 'loss-desc';
function sortBox(box) {
  var items = Array.prototype.slice.call(box.children);
  items.sort(function (a, b) {
    if (sortMode === 'name') { return a.dataset.name.localeCompare(b.dataset.name); }
    var difference = parseFloat(a.dataset.loss) - parseFloat(b.dataset.loss);
    return sortMode === 'loss-asc' ? difference : -difference;
  });
  items.forEach(function (item) { box.appendChild(item); });
}
function buildTable(details) {
  var data = JSON.parse(details.querySelector('script[type="application/json"]').textContent);
  var table = document.createElement('table');
  var headRow = table.createTHead().insertRow();
  data.head.forEach(function (name) {
    var cell = document.createElement('th'); cell.textContent = name; headRow.appendChild(cell);
  });
  var body = table.createTBody();
  data.rows.forEach(function (cells, index) {
    var row = body.insertRow();
    cells.forEach(function (text) { row.insertCell().textContent = text; });
    if (data.keys) { row.dataset.loss = data.keys[index]; row.dataset.name = cells[0]; }
  });
  if (data.keys) { body.className = 'sortable'; sortBox(body); }
  details.appendChild(table);
}
document.querySelectorAll('details.lazy').forEach(function (details) {
  details.addEventListener('toggle', function () {
    if (details.open && !details.querySelector('table')) { buildTable(details); }
  });
});
document.querySelectorAll('[data-sort]').forEach(function (button) {
  button.addEventListener('click', function () {
    sortMode = button.getAttribute('data-sort');
    document.querySelectorAll('.sortable').forEach(sortBox);
  });
});
"""
