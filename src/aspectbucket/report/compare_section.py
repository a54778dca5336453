"""The HTML fragment of a trainer comparison, for the report page's ``sections=`` hook.

Returns escaped HTML (two tables and a note per profile) with no page around it; the page wraps it
in a section with a title and anchor.
"""

from __future__ import annotations

import html

from aspectbucket.compare import Comparison, ProfileSummary, Treatment


def compare_section_html(comparison: Comparison) -> str:
    """The comparison as an HTML fragment: the per-profile table, then the most different images."""
    parts = [
        f"<p>At {_e(batch_words(comparison))}. Crop is the share of the resized image cut away; "
        "upscaled counts images the trainer enlarges.</p>",
        _summary_table(comparison.summaries),
    ]
    if comparison.differences:
        parts.append(_differences_table(comparison))
    defects = [summary for summary in comparison.summaries if summary.defects]
    if defects:
        items = "".join(f"<li><b>{_e(item.profile)}</b>: {_e(item.defects)}</li>" for item in defects)
        parts.append(f"<h3>Known defects</h3><ul>{items}</ul>")
    return "".join(parts)


def _summary_table(summaries: list[ProfileSummary]) -> str:
    head = "".join(
        f"<th>{_e(name)}</th>"
        for name in (
            "profile",
            "resolution",
            "buckets",
            "mean crop",
            "worst crop",
            "upscaled",
            "max upscale",
            "not placed",
            "dropped",
            "repeated",
            "never trained",
            "steps/epoch",
        )
    )
    rows = []
    for item in summaries:
        if item.refused:
            refused = f"refused: {_e(item.refused)}"
            rows.append(f'<tr><td>{_e(item.profile)}</td><td colspan="11">{refused}</td></tr>')
            continue
        cells = (
            item.profile,
            item.resolution,
            item.buckets_used,
            _percent(item.mean_crop),
            _percent(item.worst_crop),
            item.upscaled,
            f"{item.max_upscale:.2f}x",
            item.images - item.placed,
            item.dropped,
            item.padded,
            f"all: {item.batching_refused}" if item.batching_refused else item.never_trained,
            item.steps_per_epoch,
        )
        rows.append("<tr>" + "".join(f"<td>{_e(cell)}</td>" for cell in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _differences_table(comparison: Comparison) -> str:
    names = list(comparison.differences[0].treatments)
    head = "<th>image</th><th>size</th>" + "".join(f"<th>{_e(name)}</th>" for name in names)
    rows = []
    for item in comparison.differences:
        cells = [f"<td>{_e(item.label)}</td><td>{item.width}x{item.height}</td>"]
        cells += [f"<td>{_e(describe(item.treatments[name]))}</td>" for name in names]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        "<h3>Images treated most differently</h3>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def batch_words(comparison: Comparison) -> str:
    """``batch size 4``, or ``batch sizes 4, 2 (per dataset block)`` when a config sets several."""
    sizes = comparison.batch_sizes
    if len(set(sizes)) <= 1:
        return f"batch size {sizes[0] if sizes else 1}"
    return f"batch sizes {', '.join(str(size) for size in sizes)} (per dataset block)"


def describe(treatment: Treatment) -> str:
    """``'640x384, crop 12 %, up 1.50x'`` or the reason the image has no bucket."""
    if treatment.error:
        return f"not placed: {treatment.error}"
    text = f"{treatment.bucket_width}x{treatment.bucket_height}, crop {_percent(treatment.crop)}"
    return text + (f", up {treatment.scale:.2f}x" if treatment.scale > 1 else "")


def _percent(value: float) -> str:
    return f"{value * 100:.1f} %"


def _e(value) -> str:
    return html.escape(str(value), quote=True)
