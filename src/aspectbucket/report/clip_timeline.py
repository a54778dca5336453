"""A clip's timeline for the HTML report: a strip of a few decoded frames over bars of the frames each item reads.

The bars are an inline SVG, one row per training item (items beyond :data:`MAX_ROWS` share the last
row), frames read in colour and the rest of the clip grey, so dropped heads, tails and skipped frames
show at a glance. The thumbnails are decoded with PyAV at evenly spaced frames; a clip that cannot
be decoded gets the bars alone.
"""

from __future__ import annotations

import base64
import io

import numpy as np

#: Thumbnails per strip, and their height in pixels.
THUMBNAILS = 6
THUMB_HEIGHT = 54
#: Item rows drawn before the rest are merged into one.
MAX_ROWS = 8
_ROW = 8
_COLOURS = ("#3b7dd8", "#d8823b", "#3bb273", "#b23bd8")


def _runs(frames: np.ndarray) -> list[tuple[int, int]]:
    """Sorted distinct frames as (first, count) runs of consecutive numbers."""
    if len(frames) == 0:
        return []
    breaks = np.flatnonzero(np.diff(frames) != 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(frames)]])
    return [(int(frames[s]), int(e - s)) for s, e in zip(starts, ends, strict=True)]


def timeline_svg(frames: int, windows: list[list[int]]) -> str:
    """The bars: one row per item, the frames it reads coloured over the clip's length."""
    length = max(frames, 1)
    rows = [np.unique(np.asarray(read, dtype=np.int64)) for read in windows[:MAX_ROWS]]
    if len(windows) > MAX_ROWS:
        rest = np.concatenate([np.asarray(read, dtype=np.int64) for read in windows[MAX_ROWS:]])
        rows[-1] = np.unique(np.concatenate([rows[-1], rest]))
    height = max(len(rows), 1) * _ROW
    shapes = [f'<rect x="0" y="0" width="{length}" height="{height}" fill="#ddd"/>']
    for number, read in enumerate(rows):
        colour = _COLOURS[number % len(_COLOURS)]
        y = number * _ROW + 1
        for first, count in _runs(read[(read >= 0) & (read < length)]):
            shapes.append(f'<rect x="{first}" y="{y}" width="{count}" height="{_ROW - 2}" fill="{colour}"/>')
    return (
        f'<svg class="timeline" viewBox="0 0 {length} {height}" preserveAspectRatio="none" width="100%" '
        f'height="{height * 2}" role="img" aria-label="frames read per item">{"".join(shapes)}</svg>'
    )


def thumbnails_html(path: str, frames: int, count: int = THUMBNAILS) -> str:
    """``count`` evenly spaced frames of the clip as small inline JPEGs ('' if it cannot be decoded)."""
    import av

    wanted = sorted(set(np.linspace(0, max(frames - 1, 0), count).astype(int).tolist())) if frames > 0 else []
    images = []
    try:
        with av.open(path) as container:
            for index, frame in enumerate(container.decode(video=0)):
                if index in wanted:
                    picture = frame.to_image()
                    picture.thumbnail((THUMB_HEIGHT * 4, THUMB_HEIGHT))
                    buffer = io.BytesIO()
                    picture.convert("RGB").save(buffer, "JPEG", quality=70)
                    data = base64.b64encode(buffer.getvalue()).decode("ascii")
                    images.append(
                        f'<img src="data:image/jpeg;base64,{data}" alt="frame {index}" title="frame {index}">'
                    )
                if index >= wanted[-1]:
                    break
    except (av.FFmpegError, OSError, IndexError, ValueError):
        return ""
    return f'<div class="strip">{"".join(images)}</div>'


def timeline_html(path: str, frames: int, windows: list[list[int]], with_thumbnails: bool = True) -> str:
    """The strip (when ``with_thumbnails``) over the bars."""
    strip = thumbnails_html(path, frames) if with_thumbnails else ""
    return f"{strip}{timeline_svg(frames, windows)}"
