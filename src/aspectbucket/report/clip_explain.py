"""Why a clip of a given size, length and frame rate trains as it does: its bucket, its frame windows.

Like :func:`aspectbucket.report.explain.explain_size` for images, :func:`explain_clip` returns a
JSON-ready dict (what ``--json`` prints) with the sentences a person reads.
"""

from __future__ import annotations

from aspectbucket.profiles.clips import clip_settings, place_clips


def _ranges(frames: list[int]) -> str:
    """Sorted frame numbers as ``0-44, 60, 62-70``."""
    parts, start = [], None
    for index, frame in enumerate(frames):
        if start is None:
            start = frame
        if index + 1 == len(frames) or frames[index + 1] != frame + 1:
            parts.append(str(start) if start == frame else f"{start}-{frame}")
            start = None
    return ", ".join(parts)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _alike(other: dict, item: dict) -> bool:
    """Items told in one sentence: same bucket, consecutive frames, a fixed start."""
    return other["bucket"] == item["bucket"] and other["frame_stride"] == 1 and not other["random_start_up_to"]


def _item_sentences(items: list[dict]) -> list[str]:
    """One sentence per item, or per run of like items (same bucket, consecutive frames, evenly spaced starts)."""
    sentences, index = [], 0
    while index < len(items):
        item = items[index]
        end = index + 1

        if _alike(item, item) and end < len(items) and _alike(items[end], item):
            step = items[end]["start_frame"] - item["start_frame"]
            while (
                end < len(items)
                and _alike(items[end], item)
                and items[end]["start_frame"] - items[end - 1]["start_frame"] == step
            ):
                end += 1
        bucket = "x".join(map(str, item["bucket"]))
        if end - index > 1:
            sentences.append(
                f"Items {index + 1}-{end}: bucket {bucket}, {_plural(item['frame_count'], 'frame')} each, "
                f"starting at frames {item['start_frame']} to {items[end - 1]['start_frame']}, every {step}."
            )
        else:
            stride = item["frame_stride"]
            how = "consecutive" if stride == 1 else f"about every {stride:g}" if stride > 1 else "some repeated"
            sentences.append(
                f"Item {index + 1}: bucket {bucket}, {_plural(item['frame_count'], 'frame')} from frame "
                f"{item['start_frame']}, {how}: {_ranges(sorted(set(item['frames'])))}."
            )
            if item["random_start_up_to"] is not None:
                sentences.append(f"  Its start is drawn at random from 0 to {item['random_start_up_to']} each load.")
        index = end
    return sentences


def explain_clip(width: int, height: int, frames: int, fps: float, profile: str = "musubi", settings=None) -> dict:
    """One clip through one video trainer: each training item's bucket and frames, unused frames, skips."""
    trainer, chosen = clip_settings(profile, settings)
    table = place_clips([width], [height], [frames], [fps], profile=profile, settings=settings)
    windows = table.windows
    seconds = frames / fps if fps > 0 else None
    length = f", {seconds:.2f} s" if seconds is not None else ""
    sentences = [f"{width}x{height}, {frames} frames at {fps:g} fps{length} -> {trainer.trainer}:"]
    items = []
    for index, row in enumerate(table.rows()):
        if row["error"]:
            continue
        item = int(table.item[index])
        read = windows.frames_of(item).tolist()
        items.append(
            {
                "bucket": [row["bucket_width"], row["bucket_height"], row["bucket_frames"]],
                "start_frame": row["start_frame"],
                "frame_count": row["frame_count"],
                "frame_stride": row["frame_stride"],
                "frames": read,
                "random_start_up_to": int(windows.start_max[item]) if windows.start_max[item] > read[0] else None,
            }
        )
    error = next((row["error"] for row in table.rows() if row["error"]), "")
    seen = int(windows.seen[0])
    if profile == "musubi" and chosen["source_fps"] is None:
        sentences.append(f"musubi-tuner never reads the clip's {fps:g} fps: without source_fps it keeps every frame.")
    elif seen != frames and not error:
        sentences.append(f"The trainer counts {seen} frames after converting the frame rate.")
    sentences += _item_sentences(items)
    unused = [int(frame) for frame in (~windows.used_frames(0, frames)).nonzero()[0]]
    if items and unused:
        drawn = " (with the earliest start)" if any(item["random_start_up_to"] for item in items) else ""
        sentences.append(f"{len(unused)} of {frames} frames are never used{drawn} ({_ranges(unused)}).")
    if error:
        sentences.append(f"Skipped: {error}.")
    return {
        "width": width,
        "height": height,
        "frames": frames,
        "fps": fps,
        "profile": profile,
        "settings": chosen,
        "seen_frames": seen,
        "items": items,
        "unused_frames": len(unused) if items else int(max(frames, 0)),
        "error": error,
        "sentences": sentences,
    }
