"""Charts for the HTML report, drawn with matplotlib and returned as self-contained SVG data URIs.

matplotlib is an optional dependency (the ``report`` extra) and is imported only when a chart is
drawn. Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot state), so
drawing is safe in any thread. The switching chart draws at most :data:`MAX_POINTS` images (a seeded
sample beyond that), so the page stays light at 100,000 images.
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

import numpy as np

from aspectbucket.geometry.switching import switching_points
from aspectbucket.report.summary import CROP_LOSS_WARNING, ReportSummary, block_bucket_list

if TYPE_CHECKING:
    from aspectbucket.plan import DatasetPlan

#: Images drawn in the switching chart; beyond this a seeded random sample keeps the SVG light.
MAX_POINTS = 5000
#: Beyond this many points the scatter is embedded in the SVG as one bitmap (drawn 20x faster).
RASTER_POINTS = 500
_RATIO_TICKS = ((1, 4), (1, 3), (1, 2), (2, 3), (3, 4), (1, 1), (4, 3), (3, 2), (2, 1), (3, 1), (4, 1))


def _figure(width: float, height: float):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "the HTML report draws its charts with matplotlib: pip install 'aspectbucket[report]'"
        ) from None
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def svg_data_uri(figure) -> str:
    """The figure as an ``data:image/svg+xml;base64,...`` URI, byte-identical for identical input."""
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "aspectbucket", "svg.fonttype": "path"}):
        figure.savefig(buffer, format="svg", dpi=150, metadata={"Date": None, "Creator": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def switching_chart(plan: DatasetPlan, summary: ReportSummary, block: int = 0) -> str:
    """Bucket ratios, the switching points between them, and every image of one dataset block.

    The horizontal axis is the image's width/height on a log scale (so portrait and landscape are
    mirror images); the vertical axis is its size in megapixels. Each bucket is a vertical line,
    each switching point a dashed one; images take the colour of their bucket.
    """
    columns = summary.columns
    members = np.flatnonzero(columns.ok & (columns.dataset == block))
    figure = _figure(10, 4.2)
    axes = figure.add_subplot()
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    axes.set_xscale("log")
    axes.set_yscale("log")
    listed = block_bucket_list(plan, block)
    used = [(row.width, row.height) for row in summary.buckets if row.dataset == block]
    for width, height in (map(int, size) for size in listed):
        if (width, height) not in used:
            axes.axvline(width / height, color="#e3e3e3", linewidth=0.8, zorder=1)
    if len(listed) > 1:
        for point in switching_points(listed, plan.profile.metric, plan.profile.tie_break):
            axes.axvline(point.width_over_height, color="#9a9a9a", linewidth=0.7, linestyle=(0, (4, 3)), zorder=1)
    colours = _bucket_colours(len(used))
    # Buckets of one ratio (448x448 and 512x512 without upscaling) share a line and a label.
    labels: dict[float, list[str]] = {}
    for (width, height), colour in zip(used, colours, strict=True):
        if width / height not in labels:
            axes.axvline(width / height, color=colour, linewidth=1.6, zorder=2)
        labels.setdefault(width / height, []).append(f"{width}x{height}")
    shown = _sample(members, MAX_POINTS)
    if len(shown):
        ratio = columns.placed_width[shown] / columns.placed_height[shown]
        megapixels = columns.placed_width[shown] * columns.placed_height[shown] / 1e6
        palette = np.array(colours)
        axes.scatter(
            ratio,
            megapixels,
            s=22,
            c=palette[columns.bucket_number[shown] % len(palette)],
            edgecolors="#333333",
            linewidths=0.3,
            alpha=0.8,
            zorder=3,
            rasterized=len(shown) > RASTER_POINTS,
        )
    low, high = _ratio_limits(listed, used, columns, members)
    axes.set_xlim(low, high)
    ticks = [(w, h) for w, h in _RATIO_TICKS if low <= w / h <= high]
    axes.set_xticks([w / h for w, h in ticks], [f"{w}:{h}" for w, h in ticks], fontsize=8)
    axes.minorticks_off()
    sampled = f"; a random {len(shown):,} of {len(members):,} images" if len(shown) < len(members) else ""
    lines = "dashed: switching points" if len(listed) > 1 else "no list: each image's size sets its bucket"
    axes.set_xlabel(f"image ratio, width : height (log scale); solid: buckets in use, {lines}{sampled}")
    axes.set_ylabel("image size, megapixels (log scale)")
    axes.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axes.yaxis.set_major_formatter(ScalarFormatter())
    axes.margins(y=0.2)
    axes.yaxis.set_minor_formatter(NullFormatter())
    top = axes.secondary_xaxis("top")
    top.set_xticks(list(labels), [" ".join(names) for names in labels.values()], rotation=60, fontsize=7)
    top.minorticks_off()
    return svg_data_uri(figure)


def _sample(indices: np.ndarray, limit: int) -> np.ndarray:
    """At most ``limit`` of ``indices``, the same ones on every run (seeded), in their original order."""
    if len(indices) <= limit:
        return indices
    return np.sort(np.random.default_rng(0).choice(indices, size=limit, replace=False))


def _ratio_limits(listed, used, columns, members) -> tuple[float, float]:
    ratios = [w / h for w, h in used] + [w / h for w, h in (map(int, size) for size in listed)]
    if len(members):
        image_ratios = columns.placed_width[members] / columns.placed_height[members]
        ratios += [float(image_ratios.min()), float(image_ratios.max())]
    if not ratios:
        return 0.25, 4.0
    return min(ratios) / 1.15, max(ratios) * 1.15


def _bucket_colours(count: int) -> list:
    from matplotlib import colormaps

    palette = colormaps["tab20"].colors
    return [palette[index % len(palette)] for index in range(max(count, 1))]


def bucket_chart(summary: ReportSummary) -> str:
    """Samples (images x repeats) per used bucket, with the image count on each bar."""
    rows = summary.buckets
    several = len(summary.options) > 1
    figure = _figure(10, 3.6)
    axes = figure.add_subplot()
    labels = [f"{f'{row.dataset}/' if several else ''}{row.number}: {row.width}x{row.height}" for row in rows]
    positions = np.arange(len(rows))
    bars = axes.bar(positions, [row.samples for row in rows], color="#4c78a8")
    axes.bar_label(bars, [f"{row.images} img" for row in rows], fontsize=7, padding=2)
    axes.set_xticks(positions, labels, rotation=60, ha="right", fontsize=8)
    axes.set_ylabel("samples per epoch\n(images x repeats)")
    axes.set_title("Images per bucket", loc="left")
    return svg_data_uri(figure)


def loss_chart(plan: DatasetPlan, summary: ReportSummary) -> str:
    """How much of each image the crop removes: a histogram in percent, with the warning threshold."""
    loss = plan.placement.lost_fraction[summary.columns.ok] * 100
    figure = _figure(10, 3.2)
    axes = figure.add_subplot()
    top = max(float(loss.max()) if len(loss) else 0.0, CROP_LOSS_WARNING * 100) * 1.05
    axes.hist(loss, bins=np.linspace(0, top, 41), color="#f58518")
    axes.axvline(CROP_LOSS_WARNING * 100, color="#b22222", linestyle="--", linewidth=1)
    axes.set_xlabel("share of the resized image cut away by the crop (%); dashed: warning threshold")
    axes.set_ylabel("images")
    axes.set_title("Crop loss", loc="left")
    return svg_data_uri(figure)
