"""The page's gallery: every image's facts as JSON columns, and the controls the page's script fills.

The page's script (``page.js``) builds the cards from these columns a page at a time, applies the
filters, search and order, and shows the enlarged view; the switching chart's tooltips read the same
columns. Only the ``previews_per_bucket`` worst-cropped images of each bucket carry a preview picture.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np

from aspectbucket.profiles.profile import ExifHandling
from aspectbucket.report import charts
from aspectbucket.report.sections import HtmlSection, escape
from aspectbucket.report.summary import WARNING_TITLES, ReportSummary
from aspectbucket.report.thumbnails import PreviewCache, kept_window, previews

if TYPE_CHECKING:
    from aspectbucket.plan import DatasetPlan


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
            **_target_column(summary),
        },
        "wd": details,
    }


def _target_column(summary: ReportSummary) -> dict:
    """``tr``: each image's drawn target side (0: not placed), only for profiles that draw one per image."""
    sides = summary.columns.target_resolution
    return {} if sides is None else {"tr": sides.tolist()}


def _json_script(element_id: str, data) -> str:
    """``data`` as a JSON script element the page parses."""
    return f'<script type="application/json" id="{escape(element_id)}">{json_for_script(data)}</script>'


def json_for_script(data) -> str:
    """Compact JSON safe inside ``<script>``: ``<``, ``>`` and ``&`` are written as ``\\u`` escapes."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
