"""SimpleTuner's image preparation for one image at a time, in its own order of operations: the test oracle.

Restates, statement for statement, what SimpleTuner 4.10.1 does to an image's size when it builds its
aspect buckets from the header alone (``DiscoveryMetadataBackend._process_for_bucket`` with no pixels):
``MetadataBackend.meets_resolution_requirements``, then ``TrainingSample.prepare`` through
``calculate_target_size`` (``simpletuner/helpers/image_manipulation/training_sample.py``),
``MultiaspectImage.calculate_new_size_by_pixel_edge``/``calculate_new_size_by_pixel_area``
(``simpletuner/helpers/multiaspect/image.py``) and the croppers of
``simpletuner/helpers/image_manipulation/cropping.py``. Those four files are byte-identical in the 4.10.1
wheel and at bghira/SimpleTuner@bc8e6ab7 (see ``tests/data/vectors/simpletuner_reference.json``). The
vectorised :mod:`aspectbucket.geometry.simpletuner` is checked against this.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import numpy as np

from aspectbucket.geometry.simpletuner import AREA_SQUARES, SimpleTunerSettings


@dataclass
class PreparedImage:
    """What SimpleTuner stores for one image; a skipped one has ``None`` sizes and ``error`` as the trainer counts
    or logs it (``"too_small"``, ``"Error processing image: float division by zero"``)."""

    key: str | None = None
    target: tuple[int, int] | None = None
    intermediary: tuple[int, int] | None = None
    crop_left_top: tuple[int, int] | None = None
    crop_canvas: tuple[int, int] | None = None
    error: str | None = None


@dataclass
class SimpleTunerState:
    """What carries from one image to the next: the aspect->size map (per resolution) and Python's generator."""

    seed: int = 42
    aspect_map: dict = field(default_factory=dict)
    generator: random.Random = field(init=False)

    def __post_init__(self):
        self.generator = random.Random(self.seed)


def round_to_alignment(value: float, alignment: int) -> int:
    """``MultiaspectImage._round_to_nearest_multiple``: Python's round (half to even), at least one step."""
    return max(round(value / alignment) * alignment, alignment)


def size_by_pixel_edge(aspect: float, resolution: int, original: tuple[int, int], s: SimpleTunerSettings):
    """``calculate_new_size_by_pixel_edge``: the shorter original side becomes ``resolution``."""
    if type(aspect) is not float:
        raise ValueError(f"Aspect ratio must be a float, not {type(aspect)}")
    width, height = original
    raw = width / height
    if width < height:
        target_w = resolution
        target_h = int(target_w / aspect)
    else:
        target_h = resolution
        target_w = int(target_h * aspect)
    adjusted_w = round_to_alignment(target_w, s.aspect_bucket_alignment)
    adjusted_h = round_to_alignment(target_h, s.aspect_bucket_alignment)
    if raw >= 1.0:
        inter_h = max(adjusted_h, target_h)
        inter_w = int(inter_h * raw)
        if inter_w < adjusted_w:
            inter_w = adjusted_w
            inter_h = int(inter_w / raw)
    else:
        inter_w = max(adjusted_w, target_w)
        inter_h = int(inter_w / raw)
        if inter_h < adjusted_h:
            inter_h = adjusted_h
            inter_w = int(inter_h * raw)
    return (adjusted_w, adjusted_h), (inter_w, inter_h), round(adjusted_w / adjusted_h, s.aspect_bucket_rounding)


def size_by_area(aspect, megapixels, original, s: SimpleTunerSettings, state: SimpleTunerState):
    """``calculate_new_size_by_pixel_area``, including its order-dependent aspect->size map."""
    if type(aspect) not in (float, np.float64):
        raise ValueError(f"Aspect ratio must be a float, not {type(aspect)}")
    align = s.aspect_bucket_alignment
    edge = round_to_alignment(int(math.sqrt(megapixels * 1e6)), align)
    width, height = original
    if aspect == 1.0 and width == height:
        return (edge, edge), (edge, edge), aspect
    target_w = round_to_alignment(edge * math.sqrt(aspect), align)
    target_h = round_to_alignment(edge / math.sqrt(aspect), align)
    raw = width / height
    if target_w < target_h:
        inter_w = target_w
        inter_h = int(inter_w / raw)
    else:
        inter_h = target_h
        inter_w = int(inter_h * raw)
    adjusted = round(target_w / target_h, s.aspect_bucket_rounding)
    stored = state.aspect_map.setdefault(megapixels, {}).get(str(adjusted))
    if stored:
        target_w, target_h = stored
    if target_w > inter_w or target_h > inter_h:
        if target_w > inter_w:
            grow_w = target_w - inter_w
            grow_h = int(grow_w / raw)
        else:
            grow_h = target_h - inter_h
            grow_w = int(grow_h * raw)
        inter_w += grow_w
        inter_h += grow_h
    if not stored:
        state.aspect_map[megapixels][str(adjusted)] = (target_w, target_h)
    return (target_w, target_h), (inter_w, inter_h), adjusted


def prepare_one(width: int, height: int, s: SimpleTunerSettings, state: SimpleTunerState) -> PreparedImage:
    """One image through ``meets_resolution_requirements`` and ``TrainingSample.prepare`` (header only)."""
    if not meets_resolution_requirements(width, height, s):
        return PreparedImage(error="too_small")
    try:
        return _prepare(width, height, s, state)
    except (ZeroDivisionError, ValueError) as error:
        return PreparedImage(error=f"Error processing image: {error}")


def meets_resolution_requirements(width: int, height: int, s: SimpleTunerSettings) -> bool:
    """``MetadataBackend.meets_resolution_requirements`` for an image's size."""
    if s.minimum_image_size is None:
        return True
    if s.resolution_type == "pixel":
        return s.minimum_image_size <= width and s.minimum_image_size <= height
    minimum = s.minimum_image_size * 1_000_000
    if s.crop and s.crop_aspect == "square":
        edge = math.floor(math.sqrt(minimum))
        if not (edge <= width and edge <= height):
            return False
    return minimum <= width * height


def _calculator(s: SimpleTunerSettings, state: SimpleTunerState):
    if s.resolution_type == "pixel":
        return lambda aspect, resolution, original: size_by_pixel_edge(aspect, resolution, original, s)
    return lambda aspect, resolution, original: size_by_area(aspect, resolution, original, s, state)


def _pixel_resolution(s: SimpleTunerSettings) -> tuple[int, float]:
    """``TrainingSample._set_resolution``: ``(pixel_resolution, target_area)``."""
    if s.resolution_type == "pixel":
        return int(s.resolution), s.resolution
    target_area = next((area for key, area in AREA_SQUARES.items() if abs(s.resolution - key) < 0.05), None)
    if target_area is None:
        target_area = s.resolution * 1e6
    return int(round_to_alignment(math.sqrt(target_area), s.aspect_bucket_alignment)), target_area


def _prepare(width: int, height: int, s: SimpleTunerSettings, state: SimpleTunerState) -> PreparedImage:
    original = (width, height)
    calculate = _calculator(s, state)
    pixel_resolution, target_area = _pixel_resolution(s)
    rounding = s.aspect_bucket_rounding
    aspect = round(width / height, rounding)

    # calculate_target_size
    if s.crop and s.crop_aspect == "square":
        target = (pixel_resolution, pixel_resolution)
        _, intermediary, _ = calculate(1.0, s.resolution, original)
        aspect = 1.0
        if intermediary[0] < pixel_resolution:
            intermediary = (pixel_resolution, pixel_resolution)
    else:
        if s.crop and s.crop_aspect in ("closest", "random") and not s.crop_aspect_buckets:
            raise ValueError("Aspect buckets are not defined in the data backend config.")
        if s.crop and s.crop_aspect == "closest":
            aspect = min(s.crop_aspect_buckets, key=lambda bucket: abs(bucket - aspect))
        elif s.crop and s.crop_aspect == "random":
            aspect = state.generator.choice(list(s.crop_aspect_buckets))
        target, intermediary, aspect = calculate(aspect, s.resolution, original)
        aspect = round(target[0] / target[1], rounding)
        if aspect == 1.0 and intermediary[0] < pixel_resolution:
            intermediary = (pixel_resolution, pixel_resolution)
        if aspect == 1.0:
            target = (pixel_resolution, pixel_resolution)
    intermediary = (int(intermediary[0]), int(intermediary[1]))

    if s.crop:
        canvas = intermediary
        if s.maximum_image_size and s.target_downsample_size and _resize_before_crop(original, target, s, target_area):
            _, canvas, _ = calculate(round(width / height, rounding), s.target_downsample_size, original)
            if canvas[0] < target[0]:
                canvas = (target[0], int(canvas[1] * (target[0] / canvas[0])))
            elif canvas[1] < target[1]:
                canvas = (int(canvas[0] * (target[1] / canvas[1])), target[1])
        left, top = _crop(canvas, target, s.crop_style, state)
        return PreparedImage(
            str(aspect if s.crop_aspect != "square" else 1.0), target, intermediary, (left, top), canvas
        )
    if target == intermediary:
        return PreparedImage(str(aspect), target, intermediary, (0, 0), None)
    left, top = _crop(intermediary, target, s.crop_style, state)
    return PreparedImage(str(aspect), target, intermediary, (left, top), intermediary)


def _resize_before_crop(original, target, s: SimpleTunerSettings, target_area: float) -> bool:
    """``TrainingSample._should_resize_before_crop`` once crop, maximum and downsample sizes are all set."""
    width, height = original
    if s.resolution_type == "pixel":
        side = int(s.resolution)
        return width != side or height != side
    area = width * height
    return area > target_area or area < target_area or width < target[0] or height < target[1]


def _crop(canvas, target, style: str, state: SimpleTunerState) -> tuple[int, int]:
    """The cropper's ``(left, top)`` in the canvas: centre, corner or random (``randint`` only where there is room)."""
    if style in ("center", "centre"):
        return max(0, int((canvas[0] - target[0]) / 2)), max(0, int((canvas[1] - target[1]) / 2))
    if style == "corner":
        return 0, 0
    room_w = max(0, canvas[0] - target[0])
    room_h = max(0, canvas[1] - target[1])
    left = state.generator.randint(0, room_w) if room_w > 0 else 0
    top = state.generator.randint(0, room_h) if room_h > 0 else 0
    return left, top
