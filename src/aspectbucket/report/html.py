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

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aspectbucket import __version__
from aspectbucket.profiles.profile import ExifHandling
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
from aspectbucket.report.thumbnails import PreviewCache, kept_window, previews

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


def gallery_section(
    plan: DatasetPlan,
    summary: ReportSummary,
    previews_per_bucket: int,
    jobs: int | None = None,
    progress: bool = False,
    preview_cache: PreviewCache | None = None,
) -> HtmlSection:
    """Every image as a card the page's script builds from JSON: filters, search, worst-first, enlarge.

    The worst-cropped ``previews_per_bucket`` images of each bucket carry a preview picture; the others
    show their shape with the same crop overlay. Cards are built a page at a time, so 100,000 images
    cost the browser no more than the first page until a reader asks for more.
    """
    chosen = []
    for row in summary.buckets:
        members = _bucket_members(plan, summary, row)
        chosen.extend(members[:previews_per_bucket].tolist())
    encoded = previews(plan, chosen, jobs, progress, preview_cache)
    pictures = [data for data in encoded if data is not None]
    slots = dict.fromkeys(range(len(summary.columns.ok)), -1)
    slot = 0
    for index, data in zip(chosen, encoded, strict=True):
        if data is not None:
            slots[index] = slot
            slot += 1
    controls = (
        '<div class="filters" role="search">'
        '<label>Bucket <select id="f-bucket"><option value="">all buckets</option></select></label>'
        '<label><input type="checkbox" id="f-up"> upscaled</label>'
        '<label>cut over <input type="number" id="f-cut" min="0" max="100" step="1" value="0"> %</label>'
        '<label><input type="checkbox" id="f-warn"> with warnings</label>'
        '<label>Sort <select id="f-sort"><option value="bucket">by bucket, worst first</option>'
        '<option value="worst">worst crop first, all buckets</option><option value="least">least cut first</option>'
        '<option value="name">name</option></select></label>'
        '<input type="search" id="f-search" placeholder="search by name" aria-label="search by name">'
        '<span id="f-count" class="muted"></span></div>'
        '<p class="muted">Bright: the window the trainer keeps. Dimmed: what it cuts. Click a card to enlarge it.</p>'
        '<div id="cards"></div><p><button type="button" id="more" hidden>show more</button></p>'
    )
    data = _json_script("report-data", gallery_data(plan, summary, slots))
    return HtmlSection("gallery", "Gallery", controls + data + _json_script("report-previews", pictures))


def _bucket_members(plan: DatasetPlan, summary: ReportSummary, row) -> np.ndarray:
    """The images of one used bucket, worst crop first (ties in scan order)."""
    columns = summary.columns
    members = np.flatnonzero(columns.ok & (columns.dataset == row.dataset) & (columns.bucket_number == row.number))
    return members[np.lexsort((members, -plan.placement.lost_fraction[members]))]


def gallery_data(plan: DatasetPlan, summary: ReportSummary, slots: dict[int, int]) -> dict:
    """Everything the gallery, the chart tooltips and the enlarged view show, as JSON-ready columns.

    One list per fact (names, sizes, bucket, loss, ...) instead of one object per image keeps the page
    small; ``b`` indexes ``buckets``, ``p`` the preview list (-1: none), ``win`` is the kept window as
    fractions of the image, and ``wd`` the warning details of the images that have any.
    """
    columns, placement = summary.columns, plan.placement
    ok = columns.ok
    several = len(summary.options) > 1
    buckets, bucket_of = [], {}
    for row in summary.buckets:
        bucket_of[(row.dataset, row.number)] = len(buckets)
        where = f"dataset {row.dataset}, " if several else ""
        buckets.append(
            {
                "key": charts.bucket_key(row.dataset, row.number),
                "label": f"{where}bucket {row.number}: {row.width}x{row.height} ({row.ratio})",
                "images": row.images,
            }
        )
    width = np.where(ok, columns.placed_width, plan.scan.stored_width)
    height = np.where(ok, columns.placed_height, plan.scan.stored_height)
    windows = []
    for index in range(len(ok)):
        if not ok[index]:
            windows.append(None)
            continue
        left, top, right, bottom = kept_window(
            int(width[index]),
            int(height[index]),
            int(placement.resized_width[index]),
            int(placement.resized_height[index]),
            int(placement.trim_left[index]),
            int(placement.trim_top[index]),
            int(placement.bucket_width[index]),
            int(placement.bucket_height[index]),
        )
        w, h = int(width[index]), int(height[index])
        windows.append([round(left / w, 4), round(top / h, 4), round(right / w, 4), round(bottom / h, 4)])
    warned = np.zeros(len(ok), dtype=bool)
    for mask in columns.warnings.values():
        warned |= mask
    details: dict[str, list[str]] = {}
    for finding in summary.warnings:
        if finding.index >= 0:
            details.setdefault(str(finding.index), []).append(f"{WARNING_TITLES[finding.kind]}: {finding.detail}")
    apply_exif = bool(plan.respect_exif) or plan.profile.exif is ExifHandling.APPLY
    return {
        "buckets": buckets,
        "exif": "applied" if apply_exif else "ignored by the trainer",
        "images": {
            "name": columns.display_path,
            "w": width.tolist(),
            "h": height.tolist(),
            "b": [
                bucket_of.get((int(block), int(number)), -1)
                for block, number in zip(columns.dataset.tolist(), columns.bucket_number.tolist(), strict=True)
            ],
            "loss": np.round(np.where(ok, placement.lost_fraction, 0.0), 4).tolist(),
            "scale": np.round(np.where(ok, placement.scale, 1.0), 3).tolist(),
            "up": (ok & placement.upscaled).astype(int).tolist(),
            "rw": np.where(ok, placement.resized_width, 0).tolist(),
            "rh": np.where(ok, placement.resized_height, 0).tolist(),
            "exif": np.asarray(plan.scan.orientation).astype(int).tolist(),
            "warn": warned.astype(int).tolist(),
            "win": windows,
            "p": [slots[index] for index in range(len(ok))],
            "err": list(plan.errors),
        },
        "wd": details,
    }


def _json_script(element_id: str, data) -> str:
    """``data`` as a JSON script element the page parses."""
    return f'<script type="application/json" id="{escape(element_id)}">{_json_text(data)}</script>'


def _json_text(data) -> str:
    """Compact JSON safe inside ``<script>``: ``<``, ``>`` and ``&`` are written as ``\\u`` escapes."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


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
        f'<script type="application/json">{_json_text(data)}</script></details>'
    )


_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header{background:#1f2937;color:#f9fafb;padding:12px 24px}header h1{margin:0;font-size:20px;overflow-wrap:anywhere}
header .muted{color:#cbd5e1}
nav ol{margin:6px 0 0;padding:0;list-style:none;display:flex;flex-wrap:wrap;gap:14px}
nav a{color:#93c5fd}
main{padding:8px 24px 40px;max-width:1240px}h2{border-bottom:1px solid #ddd;padding-bottom:4px}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:6px 0 12px;display:block;overflow-x:auto;max-width:100%}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#eef2f7}td:first-child{text-align:left;overflow-wrap:anywhere;min-width:8em}
code{font-size:13px;overflow-wrap:anywhere}.muted{color:#6b7280}
figure.chart{margin:10px 0}figure.chart figcaption{font-weight:600;margin:14px 0 4px}
svg.chart{background:#fafafa;max-width:none}
svg .tick{font-size:11px;fill:#374151}svg .axis{font-size:12px;fill:#4b5563}svg .blabel{font-size:10px;fill:#111}
svg .dot{stroke:#333;stroke-width:.4;cursor:pointer}svg .dot:hover{stroke:#000;stroke-width:2}
svg .bar{cursor:pointer}svg .bar:hover rect{opacity:.75}
#tip{position:fixed;pointer-events:none;background:#111827;color:#f9fafb;padding:6px 8px;border-radius:4px;
font-size:12px;white-space:pre-line;max-width:420px;z-index:20;overflow-wrap:anywhere}
.filters{display:flex;flex-wrap:wrap;gap:10px 16px;align-items:center;margin:8px 0;padding:8px;background:#fff;
border:1px solid #e5e7eb;position:sticky;top:0;z-index:5}
.filters input[type=number]{width:4em}.filters input[type=search]{min-width:14em}
#cards{display:flex;flex-wrap:wrap;gap:10px}#cards h3{flex-basis:100%;margin:14px 0 0}
figure.card{margin:0;width:184px;background:#fff;border:1px solid #e5e7eb;padding:6px;font-size:12px;
overflow-wrap:anywhere;cursor:zoom-in}
figure.card.flash{outline:3px solid #2563eb}
.pic{position:relative;overflow:hidden;background:#d1d5db;margin:auto}
.pic img{display:block;width:100%;height:100%}
.keep{position:absolute;outline:2px solid #facc15;box-shadow:0 0 0 9999px rgba(0,0,0,.6)}
.badge{display:inline-block;border-radius:3px;padding:0 4px;margin:2px 2px 0 0;font-size:11px;background:#e5e7eb}
.badge.up{background:#fde68a}.badge.exif{background:#bfdbfe}.badge.warn{background:#fecaca}
.badge.err{background:#fca5a5}
#lightbox{position:fixed;inset:0;background:rgba(17,24,39,.88);z-index:30;display:flex;align-items:center;
justify-content:center}#lightbox[hidden]{display:none}
#lightbox .inner{background:#fff;padding:12px;max-width:96vw;max-height:96vh;overflow:auto;position:relative}
#lightbox .close{position:absolute;right:8px;top:6px}
#lightbox .facts{max-width:90vw;font-size:13px;overflow-wrap:anywhere}
details{margin:6px 0}summary{cursor:pointer}.warning summary{font-weight:600}
"""

_SCRIPT = """
(function () {
'use strict';
function byId(id) { return document.getElementById(id); }
function buildTable(details) {
  var data = JSON.parse(details.querySelector('script[type="application/json"]').textContent);
  var table = document.createElement('table');
  var headRow = table.createTHead().insertRow();
  data.head.forEach(function (name) {
    var cell = document.createElement('th'); cell.textContent = name; headRow.appendChild(cell);
  });
  var body = table.createTBody();
  data.rows.forEach(function (cells) {
    var row = body.insertRow();
    cells.forEach(function (text) { row.insertCell().textContent = text; });
  });
  var wrap = document.createElement('div'); wrap.className = 'scroll'; wrap.appendChild(table);
  details.appendChild(wrap);
}
document.querySelectorAll('details.lazy').forEach(function (details) {
  details.addEventListener('toggle', function () {
    if (details.open && !details.querySelector('table')) { buildTable(details); }
  });
});
var dataNode = byId('report-data');
if (!dataNode) { return; }
var D = JSON.parse(dataNode.textContent);
var P = JSON.parse(byId('report-previews').textContent);
var I = D.images, B = D.buckets, COUNT = I.name.length, PAGE = 60;
var state = {bucket: '', up: false, cut: 0, warn: false, q: '', sort: 'bucket', limit: PAGE};
function pct(value) { return (value * 100).toFixed(1) + ' %'; }
function bucketName(i) { return I.b[i] < 0 ? 'not placed' : B[I.b[i]].label; }
function el(tag, className, text) {
  var node = document.createElement(tag);
  if (className) { node.className = className; }
  if (text !== undefined) { node.textContent = text; }
  return node;
}
function badges(i) {
  var list = [];
  if (I.err[i]) { list.push(['not placed', 'err']); }
  if (I.up[i]) { list.push(['upscaled ' + I.scale[i].toFixed(2) + 'x', 'up']); }
  if (I.exif[i] > 1) { list.push(['EXIF ' + I.exif[i] + ' ' + D.exif, 'exif']); }
  if (I.warn[i] && !I.err[i]) { list.push(['warning', 'warn']); }
  return list;
}
function picture(i, most) {
  var w = I.w[i] || 1, h = I.h[i] || 1, scale = Math.min(most[0] / w, most[1] / h);
  var box = el('div', 'pic');
  box.style.width = Math.max(1, Math.round(w * scale)) + 'px';
  box.style.height = Math.max(1, Math.round(h * scale)) + 'px';
  if (I.p[i] >= 0) {
    var img = el('img'); img.src = 'data:image/jpeg;base64,' + P[I.p[i]]; img.alt = I.name[i]; box.appendChild(img);
  }
  var win = I.win[i];
  if (win) {
    var keep = el('div', 'keep');
    keep.style.left = win[0] * 100 + '%'; keep.style.top = win[1] * 100 + '%';
    keep.style.width = (win[2] - win[0]) * 100 + '%'; keep.style.height = (win[3] - win[1]) * 100 + '%';
    box.appendChild(keep);
  }
  return box;
}
function summaryLine(i) {
  if (I.err[i]) { return I.w[i] + 'x' + I.h[i] + ': ' + I.err[i]; }
  return I.w[i] + 'x' + I.h[i] + ' -> ' + bucketName(i) + ', cut ' + pct(I.loss[i]);
}
function card(i) {
  var figure = el('figure', 'card'); figure.id = 'img-' + i; figure.dataset.i = i;
  figure.appendChild(picture(i, [172, 172]));
  var caption = el('figcaption');
  caption.appendChild(el('div', 'name', I.name[i]));
  caption.appendChild(el('div', '', summaryLine(i)));
  badges(i).forEach(function (badge) { caption.appendChild(el('span', 'badge ' + badge[1], badge[0])); });
  figure.appendChild(caption);
  figure.addEventListener('click', function () { enlarge(i); });
  return figure;
}
function matches(i) {
  if (state.bucket === 'none' && I.b[i] >= 0) { return false; }
  if (state.bucket && state.bucket !== 'none' && (I.b[i] < 0 || B[I.b[i]].key !== state.bucket)) { return false; }
  if (state.up && !I.up[i]) { return false; }
  if (state.cut > 0 && !(I.loss[i] * 100 > state.cut)) { return false; }
  if (state.warn && !I.warn[i]) { return false; }
  return !state.q || I.name[i].toLowerCase().indexOf(state.q) >= 0;
}
function ordered() {
  var list = [];
  for (var i = 0; i < COUNT; i++) { if (matches(i)) { list.push(i); } }
  var by = {
    bucket: function (a, b) {
      var x = I.b[a] < 0 ? 1e9 : I.b[a], y = I.b[b] < 0 ? 1e9 : I.b[b];
      return x - y || I.loss[b] - I.loss[a] || a - b;
    },
    worst: function (a, b) { return I.loss[b] - I.loss[a] || a - b; },
    least: function (a, b) { return I.loss[a] - I.loss[b] || a - b; },
    name: function (a, b) { return I.name[a] < I.name[b] ? -1 : I.name[a] > I.name[b] ? 1 : a - b; }
  };
  return list.sort(by[state.sort]);
}
function render() {
  var list = ordered(), box = byId('cards'), shown = list.slice(0, state.limit), last = null;
  box.textContent = '';
  var fragment = document.createDocumentFragment();
  shown.forEach(function (i) {
    if (state.sort === 'bucket' && I.b[i] !== last) {
      last = I.b[i];
      var count = I.b[i] >= 0 ? B[I.b[i]].images : 0;
      var heading = el('h3', '', bucketName(i) + (count ? ', ' + count + (count === 1 ? ' image' : ' images') : ''));
      if (I.b[i] >= 0) { heading.id = 'bucket-' + B[I.b[i]].key; }
      fragment.appendChild(heading);
    }
    fragment.appendChild(card(i));
  });
  box.appendChild(fragment);
  byId('f-count').textContent = 'showing ' + shown.length + ' of ' + list.length + ' matching images (' +
    COUNT + ' in all)';
  var more = byId('more');
  more.hidden = shown.length >= list.length;
  more.textContent = 'show ' + Math.min(PAGE, list.length - shown.length) + ' more';
  return list;
}
function update() { state.limit = PAGE; render(); }
function enlarge(i) {
  var box = byId('lightbox'), inner = box.querySelector('.inner');
  inner.querySelectorAll('.pic, .facts').forEach(function (node) { node.remove(); });
  inner.appendChild(picture(i, [window.innerWidth * 0.9, window.innerHeight * 0.72]));
  var facts = el('div', 'facts');
  facts.appendChild(el('h3', 'name', I.name[i]));
  facts.appendChild(el('div', '', summaryLine(i)));
  if (!I.err[i]) {
    facts.appendChild(el('div', '', 'resized to ' + I.rw[i] + 'x' + I.rh[i] + ' (scale ' + I.scale[i].toFixed(3) +
      '), then cropped to the bucket' + (I.p[i] < 0 ? '; no preview for this image, its shape is shown' : '')));
  }
  badges(i).forEach(function (badge) { facts.appendChild(el('span', 'badge ' + badge[1], badge[0])); });
  (D.wd[String(i)] || []).forEach(function (text) { facts.appendChild(el('div', 'muted', text)); });
  inner.appendChild(facts);
  box.hidden = false;
  box.querySelector('.close').focus();
}
function closeBox() { byId('lightbox').hidden = true; }
function reveal(i) {
  state = {bucket: I.b[i] >= 0 ? B[I.b[i]].key : 'none', up: false, cut: 0, warn: false, q: '', sort: 'bucket',
    limit: PAGE};
  syncControls();
  var list = ordered(), position = list.indexOf(i);
  state.limit = Math.max(PAGE, position + 1);
  render();
  var target = byId('img-' + i);
  target.scrollIntoView({block: 'center'});
  target.classList.add('flash');
  setTimeout(function () { target.classList.remove('flash'); }, 1600);
}
function syncControls() {
  byId('f-bucket').value = state.bucket; byId('f-up').checked = state.up; byId('f-cut').value = state.cut;
  byId('f-warn').checked = state.warn; byId('f-search').value = state.q; byId('f-sort').value = state.sort;
}
var select = byId('f-bucket');
B.forEach(function (bucket) { select.appendChild(new Option(bucket.label, bucket.key)); });
if (I.b.indexOf(-1) >= 0) { select.appendChild(new Option('not placed', 'none')); }
select.addEventListener('change', function () { state.bucket = select.value; update(); });
byId('f-up').addEventListener('change', function (event) { state.up = event.target.checked; update(); });
byId('f-warn').addEventListener('change', function (event) { state.warn = event.target.checked; update(); });
byId('f-cut').addEventListener('input', function (event) { state.cut = +event.target.value || 0; update(); });
byId('f-search').addEventListener('input', function (event) {
  state.q = event.target.value.trim().toLowerCase(); update();
});
byId('f-sort').addEventListener('change', function (event) { state.sort = event.target.value; update(); });
byId('more').addEventListener('click', function () { state.limit += PAGE; render(); });
var tip = byId('tip');
document.querySelectorAll('svg .dot').forEach(function (dot) {
  var i = +dot.dataset.i;
  dot.addEventListener('mouseenter', function (event) {
    tip.textContent = I.name[i] + '\\n' + I.w[i] + 'x' + I.h[i] + ', ' + bucketName(i) + '\\ncut ' + pct(I.loss[i]) +
      (I.up[i] ? ', upscaled ' + I.scale[i].toFixed(2) + 'x' : '');
    tip.hidden = false;
    tip.style.left = Math.min(event.clientX + 12, window.innerWidth - 300) + 'px';
    tip.style.top = event.clientY + 12 + 'px';
  });
  dot.addEventListener('mouseleave', function () { tip.hidden = true; });
  dot.addEventListener('click', function () { tip.hidden = true; reveal(i); });
});
document.querySelectorAll('svg .bar').forEach(function (bar) {
  bar.addEventListener('click', function () {
    state.bucket = bar.dataset.b; state.sort = 'bucket'; syncControls(); update();
    byId('gallery').scrollIntoView();
  });
});
byId('lightbox').addEventListener('click', function (event) {
  if (event.target.id === 'lightbox' || event.target.classList.contains('close')) { closeBox(); }
});
document.addEventListener('keydown', function (event) { if (event.key === 'Escape') { closeBox(); } });
if (location.hash === '#worst') { state.sort = 'worst'; syncControls(); }
byId('worst-link').addEventListener('click', function () { state.sort = 'worst'; syncControls(); update(); });
render();
})();
"""
