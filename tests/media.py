"""Small test clips made with PyAV: sizes, frame rates, rotations, and the broken kinds a dataset meets."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def write_clip(
    path: Path,
    width: int = 64,
    height: int = 48,
    frames: int = 5,
    fps: int = 24,
    rotation: float | None = None,
    codec: str = "mpeg4",
    frame_times: list[float] | None = None,
) -> Path:
    """Encode ``frames`` frames (frame ``i`` painted grey level ``8 * i``) into ``path``.

    ``rotation`` sets the display matrix (degrees counter-clockwise, as FFmpeg states it);
    ``frame_times`` (seconds) gives each frame its own time, for a variable frame rate.
    """
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = 8_000_000  # near-lossless: tests read the grey levels back
        if frame_times is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for index in range(frames):
            pixels = np.full((height, width, 3), (8 * index) % 256, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            if frame_times is not None:
                frame.pts, frame.time_base = round(frame_times[index] * 1000), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_audio_only(path: Path, seconds: float = 0.2) -> Path:
    """A container with one audio stream and no video."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        stream.layout = "mono"
        samples = int(16000 * seconds)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, samples), dtype=np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut ``path`` to ``keep`` of its bytes, as an interrupted copy leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path
