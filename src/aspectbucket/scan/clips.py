"""Video clips in a dataset: size, frame count, frame rate, duration and display rotation, never decoded.

PyAV (FFmpeg) opens each container and reads its video stream's header: the size, the container's
frame count and rates. Where the container gives no frame count, or one its duration and frame rate
contradict, the packets are counted instead (demuxed, not decoded); where even that fails (a
truncated file) the count is marked as an estimate. The display rotation of MP4/MOV files (the
display matrix a phone writes in the track header) is read from the file's boxes directly, as
FFmpeg's ``av_display_rotation_get`` reports it: degrees counter-clockwise.

Clips are listed beside images in each subset's folder and cached like image headers: one small JSON
file per folder in the cache folder, keyed by path, size and mtime, written atomically. A clip that
cannot be read keeps its row with a one-line reason, and the scan goes on.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from aspectbucket.outputs import atomic_open
from aspectbucket.scan.cache import default_cache_dir
from aspectbucket.scan.sources import Subset, read_dataset

#: File name endings read as video clips (any case).
VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi")
#: Bump when what a clip read yields changes, so old clip caches are dropped.
CLIP_CACHE_FORMAT = 1
#: A container frame count further than this fraction from duration x fps is not trusted.
COUNT_TOLERANCE = 0.05


class FrameSource:
    """Where a clip's frame count came from."""

    CONTAINER = "container"  # the stream header's own count
    PACKETS = "packets"  # the video packets, counted without decoding
    ESTIMATE = "estimate"  # duration x fps, or the packets before damage: not exact


class ClipHeader(NamedTuple):
    """What one clip's container says. ``error`` is '' or a one-line reason (the clip is unusable);
    ``warning`` is '' or a note about a usable clip (variable frame rate, truncated, no frame rate)."""

    width: int = 0
    height: int = 0
    frames: int = 0
    fps: float = 0.0
    duration: float = 0.0
    rotation: int = 0
    frames_from: str = ""
    error: str = ""
    warning: str = ""


def read_clip_header(path: str | os.PathLike) -> ClipHeader:
    """Read one clip's header with PyAV; never raises for a bad file (the reason is in ``error``)."""
    import av  # a core dependency, imported here so image-only runs do not load FFmpeg

    try:
        container = av.open(os.fspath(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError) as error:
        return ClipHeader(error=f"not a video PyAV can open: {_first_line(error)}")
    with container:
        if not container.streams.video:
            kinds = sorted({stream.type for stream in container.streams})
            has = f" (only {', '.join(kinds)})" if kinds else ""
            return ClipHeader(error=f"no video stream{has}")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        if width <= 0 or height <= 0:
            return ClipHeader(error="the video stream has no frame size")
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        duration = _duration(stream, container)
        warnings = []
        if not fps > 0:
            warnings.append("no frame rate in the container")
        elif stream.base_rate and abs(float(stream.base_rate) - fps) > 0.01 * fps:
            warnings.append(f"variable frame rate (average {fps:g}, nominal {float(stream.base_rate):g} fps)")
        frames, frames_from = stream.frames, FrameSource.CONTAINER
        expected = duration * fps
        if frames <= 0 or (expected > 0 and abs(frames - expected) > max(2.0, COUNT_TOLERANCE * expected)):
            frames, frames_from, damage = _count_packets(container, stream)
            if damage:
                warnings.append(f"damaged after {frames} frames ({damage}): the count is an estimate")
            elif expected > 0 and abs(frames - expected) > max(2.0, COUNT_TOLERANCE * expected):
                warnings.append(
                    f"{frames} frames where duration x fps says {expected:.0f}: variable frame rate or dropped frames"
                )
    rotation = _mp4_rotation(path) if str(path).lower().endswith((".mp4", ".mov", ".m4v")) else 0
    return ClipHeader(width, height, frames, fps, duration, rotation, frames_from, "", "; ".join(warnings))


def _first_line(error: Exception) -> str:
    """The error's own words, without the path FFmpeg appends (the scan shows paths apart)."""
    text = getattr(error, "strerror", None) or str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def _duration(stream, container) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000
    return 0.0


def _count_packets(container, stream) -> tuple[int, str, str]:
    """Video packets holding data, demuxed but not decoded; the reason if demuxing broke off."""
    import av

    count = 0
    try:
        for packet in container.demux(stream):
            if packet.size > 0:
                count += 1
    except (av.FFmpegError, OSError) as error:
        return count, FrameSource.ESTIMATE, _first_line(error)
    return count, FrameSource.PACKETS, ""


def _mp4_rotation(path) -> int:
    """The video track's display rotation in an MP4/MOV file (0 if none or unreadable).

    Walks ``moov/trak`` boxes to the track whose ``mdia/hdlr`` is ``vide`` and reads its ``tkhd``
    matrix, the display matrix FFmpeg's mov demuxer exports: rotation = -atan2(b, a), as
    ``av_display_rotation_get`` computes it, rounded to whole degrees in [0, 360).
    """
    try:
        with open(path, "rb") as stream:
            moov = _find_box(stream, b"moov", 0, os.fstat(stream.fileno()).st_size)
            if moov is None:
                return 0
            for trak_start, trak_end in _boxes(stream, *moov, b"trak"):
                mdia = _find_box(stream, b"mdia", trak_start, trak_end)
                hdlr = mdia and _find_box(stream, b"hdlr", *mdia)
                if not hdlr:
                    continue
                stream.seek(hdlr[0] + 8)
                if stream.read(4) != b"vide":
                    continue
                tkhd = _find_box(stream, b"tkhd", trak_start, trak_end)
                if tkhd is None:
                    return 0
                stream.seek(tkhd[0])
                version = stream.read(1)[0]
                stream.seek(tkhd[0] + 4 + (32 if version == 1 else 20) + 8 + 8)
                a, b, _, c, d = struct.unpack(">iiiii", stream.read(20))
                scale_a, scale_b = math.hypot(a, c), math.hypot(b, d)
                if not scale_a or not scale_b:
                    return 0
                angle = -math.degrees(math.atan2(b / scale_b, a / scale_a))
                return round(angle) % 360
    except (OSError, struct.error, IndexError):
        return 0
    return 0


def _boxes(stream, start: int, end: int, kind: bytes):
    """``(content start, end)`` of each box of ``kind`` directly inside ``[start, end)``."""
    position = start
    while position + 8 <= end:
        stream.seek(position)
        header = stream.read(8)
        if len(header) < 8:
            return
        size, name = struct.unpack(">I4s", header)
        content = position + 8
        if size == 1:
            size = struct.unpack(">Q", stream.read(8))[0]
            content += 8
        elif size == 0:
            size = end - position
        if size < 8:
            return
        if name == kind:
            yield content, min(position + size, end)
        position += size


def _find_box(stream, kind: bytes, start: int, end: int) -> tuple[int, int] | None:
    return next(_boxes(stream, start, end, kind), None)


# -- listing, caching, scanning -----------------------------------------------------------------------


@dataclass
class ClipScan:
    """Every clip found, one row each, in subset order, sorted within a subset (struct of arrays)."""

    subsets: list[Subset]
    paths: list[str]
    subset: np.ndarray
    width: np.ndarray
    height: np.ndarray
    frames: np.ndarray
    fps: np.ndarray
    duration: np.ndarray
    rotation: np.ndarray
    frames_from: list[str]
    error: list[str]
    warning: list[str]
    warnings: list[str] = field(default_factory=list)
    from_cache: int = 0

    def __len__(self) -> int:
        return len(self.paths)

    def sizes(self, respect_rotation: bool) -> tuple[np.ndarray, np.ndarray]:
        """``(widths, heights)``: as stored, or as displayed (swapped for a quarter turn)."""
        if not respect_rotation:
            return self.width, self.height
        turned = (self.rotation % 180) == 90
        return np.where(turned, self.height, self.width), np.where(turned, self.width, self.height)

    @property
    def rotated(self) -> np.ndarray:
        """Clips whose display matrix turns them: players show them turned, trainers decode them stored."""
        return self.rotation != 0


def list_clips(directory: Path, recursive: bool) -> list[str]:
    """The video files in ``directory`` (absolute, sorted), searching subfolders when ``recursive``."""
    found = []
    try:
        if recursive:
            for root, _, names in os.walk(directory):
                found += [os.path.join(root, name) for name in names if name.lower().endswith(VIDEO_EXTENSIONS)]
        else:
            with os.scandir(directory) as entries:
                found = [entry.path for entry in entries if entry.name.lower().endswith(VIDEO_EXTENSIONS)]
    except OSError:
        return []
    return sorted(os.path.abspath(path) for path in found)


def clip_cache_file(cache_dir: Path, folder: Path) -> Path:
    """The clip cache file of one folder (named by a hash of its absolute path)."""
    key = os.fsencode(os.path.abspath(folder))
    return Path(cache_dir) / f"clips-{hashlib.sha256(key).hexdigest()[:20]}.json"


def _load_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != CLIP_CACHE_FORMAT:
        return {}
    entries = data.get("clips")
    return entries if isinstance(entries, dict) else {}


def scan_clips(
    source: Path | Sequence[Subset],
    *,
    cache: Path | None = None,
    use_cache: bool = True,
    jobs: int | None = None,
) -> ClipScan:
    """Scan the clips of a dataset source (a folder or kohya config, as :func:`aspectbucket.scan.scan`).

    Unchanged clips (same path, size and mtime) come from the clip cache; ``use_cache=False`` neither
    reads nor writes it. ``jobs`` threads read headers (default: one per core).
    """
    if isinstance(source, list | tuple):
        subsets, warnings = list(source), []
    else:
        subsets, warnings = read_dataset(Path(source))
    cache_dir = Path(cache or default_cache_dir())
    paths, owner, stats = [], [], []
    for index, subset in enumerate(subsets):
        for path in list_clips(Path(subset.image_dir), subset.recursive):
            try:
                info = os.stat(path)
                stats.append((info.st_size, info.st_mtime_ns))
            except OSError:
                stats.append((-1, -1))
            paths.append(path)
            owner.append(index)
    headers: list[ClipHeader | None] = [None] * len(paths)
    caches: dict[str, dict] = {}
    from_cache = 0
    if use_cache:
        for row, path in enumerate(paths):
            folder = os.path.dirname(path)
            if folder not in caches:
                caches[folder] = _load_cache(clip_cache_file(cache_dir, Path(folder)))
            entry = caches[folder].get(path)
            if entry and entry[:2] == list(stats[row]):
                headers[row] = ClipHeader(*entry[2])
                from_cache += 1
    todo = [row for row, header in enumerate(headers) if header is None]
    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
        for row, header in zip(todo, pool.map(lambda row: _read(paths[row], stats[row]), todo), strict=True):
            headers[row] = header
    if use_cache and todo:
        warnings += _save_caches(cache_dir, paths, stats, headers)
    columns = list(zip(*headers, strict=True)) if headers else [[] for _ in ClipHeader._fields]
    value = dict(zip(ClipHeader._fields, columns, strict=True))
    return ClipScan(
        subsets=subsets,
        paths=paths,
        subset=np.array(owner, dtype=np.int64),
        width=np.array(value["width"], dtype=np.int64),
        height=np.array(value["height"], dtype=np.int64),
        frames=np.array(value["frames"], dtype=np.int64),
        fps=np.array(value["fps"], dtype=np.float64),
        duration=np.array(value["duration"], dtype=np.float64),
        rotation=np.array(value["rotation"], dtype=np.int64),
        frames_from=list(value["frames_from"]),
        error=list(value["error"]),
        warning=list(value["warning"]),
        warnings=warnings,
        from_cache=from_cache,
    )


def _read(path: str, stat: tuple[int, int]) -> ClipHeader:
    if stat[0] < 0:
        return ClipHeader(error="cannot be read (it vanished or is not accessible)")
    return read_clip_header(path)


def _save_caches(cache_dir: Path, paths, stats, headers) -> list[str]:
    """Write each folder's clip cache (the entries read now, plus those still valid); warnings if it cannot."""
    by_folder: dict[str, dict] = {}
    for path, stat, header in zip(paths, stats, headers, strict=True):
        if stat[0] >= 0:
            by_folder.setdefault(os.path.dirname(path), {})[path] = [*stat, list(header)]
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        for folder, entries in by_folder.items():
            with atomic_open(clip_cache_file(cache_dir, Path(folder))) as stream:
                json.dump({"format": CLIP_CACHE_FORMAT, "clips": entries}, stream)
    except OSError as error:
        return [f"the clip cache in {cache_dir} cannot be written ({error.strerror or error}): clips are re-read"]
    return []
