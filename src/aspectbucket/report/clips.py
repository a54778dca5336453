"""The clips of a dataset through one video trainer: per clip, per bucket (w, h, frames), steps, warnings.

:func:`clip_report` turns a clip scan into a JSON-ready dict; :func:`print_clip_report` lays it out on
a terminal and :func:`clip_section_html` as a section of the HTML report, with a timeline strip per
clip (:mod:`aspectbucket.report.clip_timeline`).
"""

from __future__ import annotations

import html
import os

import numpy as np
from rich.console import Console
from rich.table import Table

from aspectbucket.geometry.batches import batches_per_bucket
from aspectbucket.profiles.clips import CLIP_TRAINERS, clip_settings, place_clips
from aspectbucket.report.clip_timeline import timeline_html
from aspectbucket.report.html import HtmlSection
from aspectbucket.scan.clips import ClipScan

#: Clips given a timeline strip in the HTML report (each decodes a few frames).
TIMELINES = 60


def clip_report(clips: ClipScan, profile: str = "musubi", settings: dict | None = None, batch_size: int = 1) -> dict:
    """Every clip's items, unused frames and skip reason, the buckets with their items and steps, warnings.

    Steps per epoch follow the trainer's batching of video items: each (w, h, frames) bucket's items
    times the subset's repeats, in batches of ``batch_size``, its last batch as the trainer treats it.
    """
    trainer, chosen = clip_settings(profile, settings)
    table = place_clips(clips.width, clips.height, clips.frames, clips.fps, profile=profile, settings=settings)
    windows = table.windows
    repeats = np.array([subset.repeats for subset in clips.subsets] or [1], dtype=np.int64)
    rows, buckets, warnings = [], {}, []
    columns = table.columns
    for index, path in enumerate(clips.paths):
        picked = np.flatnonzero(columns["clip"] == index)
        scan_error = clips.error[index]
        row_error = columns["error"][picked[0]] if len(picked) else ""
        items = [] if row_error else picked.tolist()
        used = windows.used_frames(index, int(clips.frames[index])) if items else np.zeros(0, dtype=bool)
        row = {
            "path": path,
            "width": int(clips.width[index]),
            "height": int(clips.height[index]),
            "frames": int(clips.frames[index]),
            "fps": float(clips.fps[index]),
            "duration": float(clips.duration[index]),
            "rotation": int(clips.rotation[index]),
            "frames_from": clips.frames_from[index],
            "seen_frames": int(windows.seen[index]),
            "items": [
                {
                    "bucket": [int(columns[name][row]) for name in ("bucket_width", "bucket_height", "bucket_frames")],
                    "start_frame": int(columns["start_frame"][row]),
                    "frame_count": int(columns["frame_count"][row]),
                    "frame_stride": float(columns["frame_stride"][row]),
                    "frames": windows.frames_of(int(table.item[row])).tolist(),
                }
                for row in items
            ],
            "unused_frames": int((~used).sum()) if items else int(clips.frames[index]),
            "error": scan_error or row_error,
            "warning": clips.warning[index],
        }
        rows.append(row)
        name = os.path.basename(path)
        if row["rotation"]:
            known = trainer.rotation or "whether it turns the frames is not reproduced here"
            warnings.append(
                f"{name}: its display matrix turns it {row['rotation']} degrees (stored {row['width']}x"
                f"{row['height']}; players show it turned); {trainer.name}: {known}"
            )
        if row["warning"]:
            warnings.append(f"{name}: {row['warning']}")
        for item in row["items"]:
            key = tuple(item["bucket"])
            buckets[key] = buckets.get(key, 0) + int(repeats[clips.subset[index]])
    keys = sorted(buckets)
    batches = batches_per_bucket([buckets[key] for key in keys], batch_size, trainer.batch_policy)
    bucket_rows = [
        {"bucket": list(key), "items": buckets[key], "batches": int(count)}
        for key, count in zip(keys, batches.tolist(), strict=True)
    ]
    return {
        "profile": profile,
        "trainer": trainer.trainer,
        "source": trainer.source,
        "settings": chosen,
        "batch_size": batch_size,
        "batch_policy": trainer.batch_policy.value,
        "clips": rows,
        "buckets": bucket_rows,
        "steps_per_epoch": sum(row["batches"] for row in bucket_rows),
        "skipped": sum(1 for row in rows if row["error"]),
        "warnings": warnings,
        "defects": trainer.defects,
    }


def compare_clip_trainers(clips: ClipScan, batch_size: int = 1) -> list[dict]:
    """Every video trainer at its defaults on the same clips: items, clips skipped, frames never read, steps."""
    rows = []
    for name in CLIP_TRAINERS:
        report = clip_report(clips, name, None, batch_size)
        trained = [row for row in report["clips"] if not row["error"]]
        rows.append(
            {
                "trainer": name,
                "items": sum(len(row["items"]) for row in trained),
                "buckets": len(report["buckets"]),
                "skipped": report["skipped"],
                "unused_frames": sum(row["unused_frames"] for row in trained),
                "frames": sum(row["frames"] for row in trained),
                "steps_per_epoch": report["steps_per_epoch"],
            }
        )
    return rows


def print_clip_comparison(rows: list[dict], console: Console, batch_size: int = 1) -> None:
    """The video trainers side by side, each at its own defaults."""
    table = Table(title=f"Video trainers compared (each at its defaults), batch size {batch_size}")
    for column in ("trainer", "items", "buckets", "clips skipped", "frames never read", "steps/epoch"):
        table.add_column(column, justify="left" if column == "trainer" else "right")
    for row in rows:
        unused = f"{row['unused_frames']} of {row['frames']}"
        cells = (row["items"], row["buckets"], row["skipped"], unused, row["steps_per_epoch"])
        table.add_row(row["trainer"], *map(str, cells))
    console.print(table)


def print_clip_report(report: dict, console: Console) -> None:
    """The clip report on a terminal: buckets, steps, skipped clips, warnings."""
    clips = report["clips"]
    console.print(
        f"\n[bold]Clips[/bold]: {len(clips)} through {report['trainer']} ({report['source']}); "
        f"{report['skipped']} yield no item; {report['steps_per_epoch']} steps per epoch at batch size "
        f"{report['batch_size']}"
    )
    if report["buckets"]:
        table = Table("bucket (w x h x frames)", "items", "batches")
        for row in report["buckets"]:
            table.add_row("x".join(map(str, row["bucket"])), str(row["items"]), str(row["batches"]))
        console.print(table)
    for row in clips:
        if row["error"]:
            console.print(f"skipped: {os.path.basename(row['path'])}: {row['error']}", markup=False)
        elif row["unused_frames"]:
            console.print(
                f"unused: {os.path.basename(row['path'])}: {row['unused_frames']} of {row['frames']} frames "
                "are never read",
                markup=False,
            )
    for warning in report["warnings"]:
        console.print(f"warning: {warning}", markup=False)


def clip_section_html(report: dict, timelines: int = TIMELINES) -> HtmlSection:
    """The clips as an HTML section: buckets, then one row per clip with its timeline strip."""
    escape = html.escape
    parts = [
        f"<p>{len(report['clips'])} clips through {escape(report['trainer'])} "
        f"(<code>{escape(report['source'])}</code>); {report['skipped']} yield no item; "
        f"{report['steps_per_epoch']} steps per epoch at batch size {report['batch_size']}.</p>"
    ]
    if report["defects"]:
        parts.append(f'<p class="muted">{escape(report["defects"])}</p>')
    if report["buckets"]:
        cells = "".join(
            f"<tr><td>{'x'.join(map(str, row['bucket']))}</td><td>{row['items']}</td><td>{row['batches']}</td></tr>"
            for row in report["buckets"]
        )
        parts.append(f"<table><thead><tr><th>bucket (w x h x frames)</th><th>items</th><th>batches</th></tr></thead>"
                     f"<tbody>{cells}</tbody></table>")  # fmt: skip
    for index, row in enumerate(report["clips"]):
        name = escape(os.path.basename(row["path"]))
        facts = f"{row['width']}x{row['height']}, {row['frames']} frames at {row['fps']:g} fps"
        if row["error"]:
            parts.append(f'<p><b>{name}</b> ({facts}): <span class="bad">{escape(row["error"])}</span></p>')
            continue
        windows = [
            f"{'x'.join(map(str, item['bucket']))} from frame {item['start_frame']} ({item['frame_count']} frames, "
            f"step {item['frame_stride']:g})"
            for item in row["items"]
        ]
        strip = timeline_html(row["path"], row["frames"], [item["frames"] for item in row["items"]], index < timelines)
        parts.append(
            f'<div class="clip"><p><b>{name}</b> ({facts}): {escape("; ".join(windows))}; '
            f"{row['unused_frames']} frames never used</p>{strip}</div>"
        )
    for warning in report["warnings"]:
        parts.append(f"<p>warning: {escape(warning)}</p>")
    return HtmlSection("clips", "Video clips", "".join(parts))
