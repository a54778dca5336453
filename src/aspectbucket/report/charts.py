"""Charts for the HTML report as plain inline SVG that the page's script makes interactive.

No chart library and nothing fetched: each chart is a few hundred lines of SVG text. Every dot of the
switching chart carries its image's row (``data-i``), so the page can show that image's file, size,
bucket and loss on hover and jump to its card on click; every bar of the bucket chart carries its
bucket (``data-b``), and a click filters the gallery to it. The bucket chart has one row per bucket and
grows downwards, and bucket labels above the switching chart are thinned to a minimum spacing (the
rest are named on hover), so both stay readable at 40 and more buckets. The switching chart draws at
most :data:`MAX_POINTS` images (a seeded sample beyond that), so the page stays light at 100,000.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

import numpy as np

from aspectbucket.geometry.switching import switching_points
from aspectbucket.report.summary import CROP_LOSS_WARNING, ReportSummary, block_bucket_list

if TYPE_CHECKING:
    from aspectbucket.plan import DatasetPlan

#: Images drawn in the switching chart; beyond this a seeded random sample keeps the page light.
MAX_POINTS = 5000
#: Horizontal pixels between two bucket labels above the switching chart; closer ones are left to hover.
LABEL_SPACING = 13
#: Twenty distinct colours (Tableau 20), cycled by bucket number.
PALETTE = (
    "#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#d62728", "#ff9896", "#9467bd", "#c5b0d5",
    "#8c564b", "#c49c94", "#e377c2", "#f7b6d2", "#7f7f7f", "#c7c7c7", "#bcbd22", "#dbdb8d", "#17becf", "#9edae5",
)  # fmt: skip
_RATIO_TICKS = ((1, 4), (1, 3), (1, 2), (2, 3), (3, 4), (1, 1), (4, 3), (3, 2), (2, 1), (3, 1), (4, 1))
_WIDTH = 960
_LEFT, _RIGHT = 64, 16


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _svg(width: int, height: int, label: str, body: list[str]) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{_e(label)}" xmlns="http://www.w3.org/2000/svg">{"".join(body)}</svg>'
    )


def bucket_key(dataset: int, number: int) -> str:
    """How the page names a bucket of a dataset block (``0-3``): charts, filters and cards share it."""
    return f"{dataset}-{number}"


def spaced_labels(positions: list[float], spacing: float = LABEL_SPACING) -> list[bool]:
    """Which of the sorted x ``positions`` get a label: each at least ``spacing`` from the last labelled one."""
    shown, last = [], -math.inf
    for position in positions:
        keep = position - last >= spacing
        shown.append(keep)
        if keep:
            last = position
    return shown


def switching_chart(plan: DatasetPlan, summary: ReportSummary, block: int = 0) -> str:
    """Bucket ratios, the switching points between them, and every image of one dataset block.

    The horizontal axis is the image's width/height on a log scale (so portrait and landscape mirror
    each other); the vertical axis is its size in megapixels, also log. Each bucket in use is a coloured
    line, unused buckets faint ones, switching points dashed; images are dots in their bucket's colour.
    """
    columns = summary.columns
    members = np.flatnonzero(columns.ok & (columns.dataset == block))
    listed = [tuple(int(side) for side in size) for size in block_bucket_list(plan, block)]
    rows = [row for row in summary.buckets if row.dataset == block]
    shown = _sample(members, MAX_POINTS)
    ratios = columns.placed_width[shown] / columns.placed_height[shown]
    megapixels = columns.placed_width[shown] * columns.placed_height[shown] / 1e6
    low, high = _ratio_limits(listed, rows, ratios)
    pixels_low, pixels_high = _pixel_limits(megapixels)
    top, bottom = 96, 330
    height = bottom + 56

    def x(ratio: float) -> float:
        return _LEFT + (math.log(ratio) - math.log(low)) / (math.log(high) - math.log(low)) * (_WIDTH - _LEFT - _RIGHT)

    def y(value: float) -> float:
        span = math.log(pixels_high) - math.log(pixels_low)
        return bottom - (math.log(value) - math.log(pixels_low)) / span * (bottom - top)

    body = [f'<rect x="{_LEFT}" y="{top}" width="{_WIDTH - _LEFT - _RIGHT}" height="{bottom - top}" fill="#fff"/>']
    used = {(row.width, row.height) for row in rows}
    for width, height_ in listed:
        if (width, height_) not in used:
            position = x(width / height_)
            body.append(
                f'<line x1="{position:.1f}" x2="{position:.1f}" y1="{top}" y2="{bottom}" stroke="#e5e7eb">'
                f"<title>{width}x{height_} (not used)</title></line>"
            )
    if len(listed) > 1:
        for point in switching_points(np.array(listed), plan.profile.metric, plan.profile.tie_break):
            position = x(point.width_over_height)
            body.append(
                f'<line x1="{position:.1f}" x2="{position:.1f}" y1="{top}" y2="{bottom}" stroke="#9ca3af" '
                f'stroke-dasharray="4 3"><title>switch at w/h {point.width_over_height:.4f}</title></line>'
            )
    for tick in _ratio_ticks(low, high):
        body.append(
            f'<text x="{x(tick[0] / tick[1]):.1f}" y="{bottom + 16}" text-anchor="middle" class="tick">'
            f"{tick[0]}:{tick[1]}</text>"
        )
    for value in _megapixel_ticks(pixels_low, pixels_high):
        body.append(
            f'<text x="{_LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" class="tick">{value:g}</text>'
            f'<line x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#f3f4f6"/>'
        )
    # One label per ratio (448x448 and 512x512 without upscaling share a line), thinned to stay readable.
    by_ratio: dict[float, list] = {}
    for row in rows:
        by_ratio.setdefault(row.width / row.height, []).append(row)
    ordered = sorted(by_ratio.items())
    labelled = spaced_labels([x(ratio) for ratio, _ in ordered])
    for (ratio, group), label in zip(ordered, labelled, strict=True):
        position = x(ratio)
        names = " ".join(f"{row.width}x{row.height}" for row in group)
        colour = PALETTE[group[0].number % len(PALETTE)]
        keys = " ".join(bucket_key(row.dataset, row.number) for row in group)
        title = ", ".join(f"bucket {row.number}: {row.width}x{row.height}, {row.images} images" for row in group)
        body.append(
            f'<g class="bucketline" data-b="{keys}"><line x1="{position:.1f}" x2="{position:.1f}" y1="{top}" '
            f'y2="{bottom}" stroke="{colour}" stroke-width="2"/><title>{_e(title)}</title></g>'
        )
        if label:
            body.append(
                f'<text class="blabel" transform="translate({position + 3:.1f},{top - 4}) rotate(-60)">{names}</text>'
            )
    dots = zip(shown.tolist(), ratios.tolist(), megapixels.tolist(), strict=True)
    for index, ratio, value in dots:
        colour = PALETTE[int(columns.bucket_number[index]) % len(PALETTE)]
        body.append(
            f'<circle class="dot" data-i="{index}" cx="{x(ratio):.1f}" cy="{y(value):.1f}" r="4" fill="{colour}"/>'
        )
    sampled = f"; a random {len(shown):,} of {len(members):,} images" if len(shown) < len(members) else ""
    body.append(
        f'<text x="{_LEFT}" y="{height - 14}" class="axis">image ratio, width : height (log scale); coloured: '
        f"buckets in use, dashed: switching points{sampled}. Hover a dot for its image, click to see it.</text>"
        f'<text transform="translate(14,{bottom}) rotate(-90)" class="axis">megapixels (log scale)</text>'
    )
    return _svg(_WIDTH, height, "Switching points and images", body)


def bucket_chart(summary: ReportSummary) -> str:
    """Samples (images x repeats) per used bucket: one horizontal bar per bucket, clickable."""
    rows = summary.buckets
    several = len(summary.options) > 1
    row_height, top, label_width = 18, 8, 190
    height = top + row_height * len(rows) + 30
    most = max((row.samples for row in rows), default=1) or 1
    scale = (_WIDTH - label_width - 120) / most
    body = []
    for position, row in enumerate(rows):
        y = top + position * row_height
        name = f"{f'dataset {row.dataset}, ' if several else ''}bucket {row.number}: {row.width}x{row.height}"
        colour = PALETTE[row.number % len(PALETTE)]
        title = f"{name}, {row.images} images, {row.samples} samples per epoch; click to show them"
        body.append(
            f'<g class="bar" data-b="{bucket_key(row.dataset, row.number)}"><title>{_e(title)}</title>'
            f'<text x="{label_width - 6}" y="{y + 13}" text-anchor="end" class="tick">{_e(name)}</text>'
            f'<rect x="{label_width}" y="{y + 2}" width="{max(row.samples * scale, 1):.1f}" '
            f'height="{row_height - 4}" fill="{colour}"/>'
            f'<text x="{label_width + row.samples * scale + 4:.1f}" y="{y + 13}" class="tick">'
            f"{row.samples} ({row.images} img)</text></g>"
        )
    body.append(
        f'<text x="{label_width}" y="{height - 8}" class="axis">samples per epoch (images x repeats); '
        "click a bar to show its images</text>"
    )
    return _svg(_WIDTH, height, "Images per bucket", body)


def loss_chart(plan: DatasetPlan, summary: ReportSummary) -> str:
    """How much of each image the crop removes: a histogram in percent, with the warning threshold dashed."""
    loss = plan.placement.lost_fraction[summary.columns.ok] * 100
    top_value = max(float(loss.max()) if len(loss) else 0.0, CROP_LOSS_WARNING * 100) * 1.05
    edges = np.linspace(0, top_value, 41)
    counts, _ = np.histogram(loss, bins=edges)
    top, bottom, height = 10, 190, 230
    most = max(int(counts.max()) if len(counts) else 1, 1)
    span = _WIDTH - _LEFT - _RIGHT

    def x(value: float) -> float:
        return _LEFT + value / top_value * span

    body = [f'<rect x="{_LEFT}" y="{top}" width="{span}" height="{bottom - top}" fill="#fff"/>']
    for count, start, end in zip(counts.tolist(), edges[:-1].tolist(), edges[1:].tolist(), strict=True):
        bar = count / most * (bottom - top)
        body.append(
            f'<rect x="{x(start) + 0.5:.1f}" y="{bottom - bar:.1f}" width="{max(x(end) - x(start) - 1, 1):.1f}" '
            f'height="{bar:.1f}" fill="#f58518"><title>{count} images cut {start:.1f} to {end:.1f} %</title></rect>'
        )
    threshold = x(CROP_LOSS_WARNING * 100)
    body.append(
        f'<line x1="{threshold:.1f}" x2="{threshold:.1f}" y1="{top}" y2="{bottom}" stroke="#b22222" '
        f'stroke-dasharray="5 3"><title>warning threshold {CROP_LOSS_WARNING:.0%}</title></line>'
    )
    for value in np.linspace(0, top_value, 6).tolist():
        body.append(
            f'<text x="{x(value):.1f}" y="{bottom + 16}" text-anchor="middle" class="tick">{value:.0f} %</text>'
        )
    body.append(
        f'<text x="{_LEFT - 6}" y="{top + 10}" text-anchor="end" class="tick">{most}</text>'
        f'<text x="{_LEFT}" y="{height - 6}" class="axis">share of the resized image cut away (%); dashed: '
        "the warning threshold; bar height: images</text>"
    )
    return _svg(_WIDTH, height, "Crop loss distribution", body)


def _sample(indices: np.ndarray, limit: int) -> np.ndarray:
    """At most ``limit`` of ``indices``, the same ones on every run (seeded), in their original order."""
    if len(indices) <= limit:
        return indices
    return np.sort(np.random.default_rng(0).choice(indices, size=limit, replace=False))


def _ratio_limits(listed, rows, image_ratios: np.ndarray) -> tuple[float, float]:
    ratios = [row.width / row.height for row in rows] + [width / height for width, height in listed]
    if len(image_ratios):
        ratios += [float(image_ratios.min()), float(image_ratios.max())]
    if not ratios:
        return 0.25, 4.0
    return min(ratios) / 1.15, max(ratios) * 1.15


def _pixel_limits(megapixels: np.ndarray) -> tuple[float, float]:
    if not len(megapixels):
        return 0.1, 10.0
    return float(megapixels.min()) / 1.5, float(megapixels.max()) * 1.5


def _ratio_ticks(low: float, high: float) -> list[tuple[int, int]]:
    return [(width, height) for width, height in _RATIO_TICKS if low <= width / height <= high]


def _megapixel_ticks(low: float, high: float) -> list[float]:
    ticks = []
    for exponent in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1):
        ticks += [step * 10.0**exponent for step in (1, 2, 5)]
    return [round(tick, 6) for tick in ticks if low <= tick <= high]
