"""A plain, one-image-at-a-time reimplementation of sd-scripts' bucketing: the test oracle.

It follows ``BucketManager.select_bucket``, ``trim_and_resize_if_required`` and ``get_crop_ltrb``
statement by statement, with Python floats and ``numpy.argmin`` exactly where sd-scripts uses them,
so that the vectorised code can be checked against it. It is also the "per-image loop" the
benchmark compares against. It raises ``ZeroDivisionError`` where sd-scripts would.
"""

from __future__ import annotations

import math

import numpy as np

from aspectbucket.geometry.options import BucketOptions


class ReferenceBucketManager:
    """sd-scripts' ``BucketManager`` reduced to bucket selection (no image lists)."""

    def __init__(self, options: BucketOptions):
        self.no_upscale = options.bucket_no_upscale
        self.max_area = options.max_area
        self.reso_steps = options.bucket_reso_steps
        self.predefined_resos = make_bucket_resolutions(
            options.resolution, options.min_bucket_reso, options.max_bucket_reso, options.bucket_reso_steps
        )
        self.predefined_resos_set = set(self.predefined_resos)
        self.predefined_aspect_ratios = np.array([w / h for w, h in self.predefined_resos])
        # The buckets in use, numbered in order of first use, as select_bucket registers them.
        self.reso_to_id: dict[tuple[int, int], int] = {}
        self.resos: list[tuple[int, int]] = []

    def round_to_steps(self, x: float) -> int:
        x = int(x + 0.5)
        return x - x % self.reso_steps

    def select_bucket(self, image_width: int, image_height: int):
        """``(bucket, resized_size, ar_error)`` exactly as sd-scripts computes them."""
        aspect_ratio = image_width / image_height
        if not self.no_upscale:
            reso = (image_width, image_height)
            if reso not in self.predefined_resos_set:
                bucket_id = np.abs(self.predefined_aspect_ratios - aspect_ratio).argmin()
                reso = self.predefined_resos[bucket_id]
            ar_reso = reso[0] / reso[1]
            scale = reso[1] / image_height if aspect_ratio > ar_reso else reso[0] / image_width
            resized_size = (int(image_width * scale + 0.5), int(image_height * scale + 0.5))
        else:
            if image_width * image_height > self.max_area:
                resized_width = math.sqrt(self.max_area * aspect_ratio)
                resized_height = self.max_area / resized_width
                b_width_rounded = self.round_to_steps(resized_width)
                b_height_in_wr = self.round_to_steps(b_width_rounded / aspect_ratio)
                ar_width_rounded = b_width_rounded / b_height_in_wr
                b_height_rounded = self.round_to_steps(resized_height)
                b_width_in_hr = self.round_to_steps(b_height_rounded * aspect_ratio)
                ar_height_rounded = b_width_in_hr / b_height_rounded
                if abs(ar_width_rounded - aspect_ratio) < abs(ar_height_rounded - aspect_ratio):
                    resized_size = (b_width_rounded, int(b_width_rounded / aspect_ratio + 0.5))
                else:
                    resized_size = (int(b_height_rounded * aspect_ratio + 0.5), b_height_rounded)
            else:
                resized_size = (image_width, image_height)
            bucket_width = resized_size[0] - resized_size[0] % self.reso_steps
            bucket_height = resized_size[1] - resized_size[1] % self.reso_steps
            reso = (bucket_width, bucket_height)
        self.add_if_new_reso(reso)
        ar_error = (reso[0] / reso[1]) - aspect_ratio
        return reso, resized_size, ar_error

    def add_if_new_reso(self, reso) -> None:
        """Register a bucket on first use (sd-scripts later sorts these to number its log lines)."""
        if reso not in self.reso_to_id:
            self.reso_to_id[reso] = len(self.resos)
            self.resos.append(reso)


def make_bucket_resolutions(max_reso, min_size=256, max_size=1024, divisible=64):
    """sd-scripts' ``model_util.make_bucket_resolutions``."""
    max_width, max_height = max_reso
    max_area = max_width * max_height
    resos = set()
    width = int(math.sqrt(max_area) // divisible) * divisible
    resos.add((width, width))
    width = min_size
    while width <= max_size:
        height = min(max_size, int((max_area // width) // divisible) * divisible)
        if height >= min_size:
            resos.add((width, height))
            resos.add((height, width))
        width += divisible
    return sorted(resos)


def get_crop_ltrb(bucket_reso, image_size):
    """sd-scripts' ``BucketManager.get_crop_ltrb``: the letterbox box it reports to SDXL."""
    bucket_ar = bucket_reso[0] / bucket_reso[1]
    image_ar = image_size[0] / image_size[1]
    if bucket_ar > image_ar:
        resized_width = bucket_reso[1] * image_ar
        resized_height = bucket_reso[1]
    else:
        resized_width = bucket_reso[0]
        resized_height = bucket_reso[0] / image_ar
    crop_left = (bucket_reso[0] - resized_width) // 2
    crop_top = (bucket_reso[1] - resized_height) // 2
    return (crop_left, crop_top, crop_left + resized_width, crop_top + resized_height)


def center_trim_offsets(resized_size, reso):
    """Where ``trim_and_resize_if_required`` starts the kept window, without random crop."""
    left = (resized_size[0] - reso[0]) // 2 if resized_size[0] > reso[0] else 0
    top = (resized_size[1] - reso[1]) // 2 if resized_size[1] > reso[1] else 0
    return left, top
