"""Clip metadata speed: reading 1,000 short clips' headers (the scan) against decoding every frame of them.

One short clip (3 s at 24 fps, 640x360, MPEG-4 Part 2 in MP4; or VP8 in WebM, whose frame count must
be counted from packets) is encoded and copied into a temporary folder 1,000 times; both sides then
read the same files, on one thread, with no cache. The decode side is what counting frames by
decoding costs (diffusion-pipe counts frames by iterating them). Frame counts are compared, so a fast
wrong answer cannot pass. Target (issue 13): metadata at least 20x faster than decoding.

    python benchmarks/bench_clips.py [--clips 1000] [--frames 72] [--size 640x360]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from aspectbucket.scan.clips import scan_clips


def write_clips(folder: Path, count: int, frames: int, width: int, height: int, extension: str) -> None:
    """One clip (a moving gradient with some grain, so decoding does real work), copied ``count`` times."""
    codec = "libvpx" if extension == ".webm" else "mpeg4"
    rng = np.random.default_rng(0)
    ramp = np.add.outer(np.arange(height), np.arange(width)).astype(np.int64)
    first = folder / f"clip00000{extension}"
    with av.open(str(first), "w") as container:
        stream = container.add_stream(codec, rate=Fraction(24))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(frames):
            grain = rng.integers(0, 24, (height, width))
            pixels = np.repeat(((ramp + 4 * index + grain) % 256).astype(np.uint8)[:, :, None], 3, axis=2)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    for index in range(1, count):
        shutil.copyfile(first, folder / f"clip{index:05d}{extension}")


def decode_counts(paths: list[str]) -> list[int]:
    counts = []
    for path in paths:
        with av.open(path) as container:
            counts.append(sum(1 for _ in container.decode(video=0)))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=72)
    parser.add_argument("--size", default="640x360")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    print(
        f"{args.clips:,} clips of {args.frames} frames at {width}x{height}, one thread, no cache; "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}"
    )
    for extension in (".mp4", ".webm"):
        with tempfile.TemporaryDirectory() as temporary:
            folder = Path(temporary)
            write_clips(folder, args.clips, args.frames, width, height, extension)
            start = time.perf_counter()
            result = scan_clips(folder, use_cache=False, jobs=1)
            scan_seconds = time.perf_counter() - start
            start = time.perf_counter()
            decoded = decode_counts(result.paths)
            decode_seconds = time.perf_counter() - start
            same = decoded == result.frames.tolist()
            print(
                f"{extension:5}  metadata: {scan_seconds:7.3f} s {len(result) / scan_seconds:9,.0f} clips/s | "
                f"decode: {decode_seconds:7.3f} s {len(result) / decode_seconds:7,.0f} clips/s | "
                f"speed-up {decode_seconds / scan_seconds:5.1f}x | same frame counts: {same} "
                f"(from {sorted(set(result.frames_from))})"
            )


if __name__ == "__main__":
    main()
