"""Exporting clips: each training window as its own clip (``train``), or each clip cut to its bucket's ratio.

``train`` writes, for every item a video trainer builds, the frames it reads (in its order, repeats
included), scaled to cover the bucket and centre-cropped to it. ``precrop`` keeps every frame at full
resolution and cuts the clip to the largest centred box of its first bucket's ratio (rounded down to
even sides, which the encoder needs), so the trainer only scales it. Frames are decoded once per clip
with PyAV and encoded with it (H.264). Each output appears only when complete (a temporary name, then
a rename); a journal in the output folder records what was written from which source state, so a
second run skips clips already done and an interrupted one resumes.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from aspectbucket.geometry.resize import covering_precrop
from aspectbucket.outputs import OutputTree, atomic_open
from aspectbucket.profiles.clips import ClipTable
from aspectbucket.progress import progress_bar
from aspectbucket.scan.clips import ClipScan

#: The journal of finished clip outputs, one JSON object per line, in the output folder.
CLIP_JOURNAL = "aspectbucket-clips.jsonl"


@dataclass(frozen=True)
class ClipJob:
    """One output clip: which source frames, the box kept in source pixels, the output size and rate."""

    source: str
    output: str  # relative to the output folder
    frames: tuple[int, ...]
    box: tuple[float, float, float, float]
    size: tuple[int, int]
    fps: float

    def signature(self) -> dict:
        """What must match for an earlier output to count as this one."""
        try:
            status = os.stat(self.source)
            state = [status.st_size, status.st_mtime_ns]
        except OSError:
            state = None
        return {"source_state": state, "frames": list(self.frames), "box": list(self.box), "size": list(self.size)}


def _relative(path: str, root: Path) -> Path:
    try:
        return Path(path).resolve().relative_to(root.resolve())
    except ValueError:
        return Path(Path(path).name)


def plan_clip_export(clips: ClipScan, table: ClipTable, root: Path, mode: str = "train") -> list[ClipJob]:
    """The output clips of ``mode`` (``train`` or ``precrop``) for every clip that yields an item."""
    columns, windows = table.columns, table.windows
    jobs = []
    for row in np.flatnonzero(np.array(columns["error"], dtype=object) == ""):
        clip = int(columns["clip"][row])
        width, height = int(clips.width[clip]), int(clips.height[clip])
        bucket_w, bucket_h = int(columns["bucket_width"][row]), int(columns["bucket_height"][row])
        relative = _relative(clips.paths[clip], root)
        if mode == "precrop":
            if any(job.source == clips.paths[clip] for job in jobs):
                continue  # one pre-crop per clip, to its first item's bucket
            left, top, right, bottom = covering_precrop([width], [height], [bucket_w], [bucket_h])[0].tolist()
            even_w, even_h = (right - left) // 2 * 2, (bottom - top) // 2 * 2
            box = (float(left), float(top), float(left + even_w), float(top + even_h))
            frames = tuple(range(int(clips.frames[clip])))
            output = str(relative.with_suffix(".mp4"))
            jobs.append(ClipJob(clips.paths[clip], output, frames, box, (even_w, even_h), float(clips.fps[clip])))
            continue
        read = windows.frames_of(int(table.item[row]))
        scale = max(bucket_w / width, bucket_h / height)
        keep_w, keep_h = bucket_w / scale, bucket_h / scale  # the bucket's window in source pixels, centred
        box = ((width - keep_w) / 2, (height - keep_h) / 2, (width + keep_w) / 2, (height + keep_h) / 2)
        stride = float(columns["frame_stride"][row]) or 1.0
        start, count = int(columns["start_frame"][row]), int(columns["frame_count"][row])
        name = relative.with_name(f"{relative.stem}_{start:05d}-{count:03d}x{bucket_w}x{bucket_h}.mp4")
        fps = float(clips.fps[clip]) / stride if clips.fps[clip] > 0 else 16.0
        jobs.append(ClipJob(clips.paths[clip], str(name), tuple(read.tolist()), box, (bucket_w, bucket_h), fps))
    return jobs


def _read_journal(path: Path) -> dict[str, dict]:
    records = {}
    try:
        with open(path, encoding="utf-8") as stream:
            for line in stream:
                try:
                    record = json.loads(line)
                    records[record["output"]] = record
                except (ValueError, KeyError, TypeError):
                    continue
    except OSError:
        pass
    return records


def write_clip(job: ClipJob, tree: OutputTree) -> None:
    """Decode the source once, keep the job's frames, crop and scale them, encode to ``job.output`` in ``tree``."""
    import av

    wanted = set(job.frames)
    last = max(job.frames)
    pictures: dict[int, Image.Image] = {}
    with av.open(job.source) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                picture = frame.to_image().resize(job.size, Image.Resampling.LANCZOS, box=job.box)
                pictures[index] = picture
            if index >= last:
                break
    missing = wanted - set(pictures)
    if missing:
        raise ValueError(f"the clip ends before frame {min(missing)}")
    encoded = io.BytesIO()  # encoded in memory, then written through the output tree (atomic, no symlinks)
    with av.open(encoded, "w", format="mp4") as output:
        stream = output.add_stream("libx264", rate=Fraction(job.fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = job.size[0], job.size[1], "yuv420p"
        stream.options = {"crf": "16"}
        for index in job.frames:
            for packet in stream.encode(av.VideoFrame.from_image(pictures[index])):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    tree.write(job.output, encoded.getvalue())


@dataclass
class ClipExportSummary:
    written: int = 0
    skipped: int = 0
    failed: list[str] | None = None


def run_clip_export(
    jobs: list[ClipJob], out_dir: Path, progress: bool = False, inputs: tuple | list = ()
) -> ClipExportSummary:
    """Write every job not already finished (same output, same signature, file present); never raises for
    one bad clip: its one-line reason is in ``failed``. The journal is rewritten atomically at the end.

    Clips are written through :class:`aspectbucket.outputs.OutputTree` (never under ``inputs`` or the
    clips' own folders, no symlink inside ``out_dir`` followed, one run per folder at a time)."""
    out_dir = Path(out_dir)
    inputs = [*inputs, *{Path(job.source).parent for job in jobs}]
    with OutputTree(out_dir, inputs) as tree:
        return _run_clip_jobs(jobs, tree, out_dir / CLIP_JOURNAL, progress)


def _run_clip_jobs(jobs: list[ClipJob], tree: OutputTree, journal: Path, progress: bool) -> ClipExportSummary:
    import av

    earlier = _read_journal(journal)
    summary = ClipExportSummary(failed=[])
    records = {}
    with progress_bar("exporting clips", len(jobs), progress, unit="clip") as advance:
        for job in jobs:
            signature = job.signature()
            record = earlier.get(job.output)
            if record and record.get("signature") == signature and tree.size(job.output) is not None:
                summary.skipped += 1
                records[job.output] = record
            else:
                try:
                    write_clip(job, tree)
                    summary.written += 1
                    records[job.output] = {"output": job.output, "source": job.source, "signature": signature}
                except (av.FFmpegError, OSError, ValueError) as error:  # OutputRefused is a ValueError
                    summary.failed.append(f"{job.source}: {str(error).splitlines()[0] if str(error) else error}")
            advance()
    with atomic_open(journal) as stream:
        for record in records.values():
            stream.write(json.dumps(record) + "\n")
    return summary
