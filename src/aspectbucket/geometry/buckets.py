"""Bucket lists: the fixed sets of (width, height) that a trainer sorts images into.

A bucket list is an ``(n, 2)`` int64 array of ``(width, height)`` rows in the trainer's own order,
because that order breaks ties when two buckets are equally near an image.
"""

from __future__ import annotations

import math

import numpy as np

from aspectbucket.geometry.options import BucketOptions


def kohya_grid(options: BucketOptions) -> np.ndarray:
    """sd-scripts' ``make_bucket_resolutions``: the bucket list used when upscaling is allowed.

    One square of side ``floor(sqrt(A) / s) * s``; then for every width from the minimum to the
    maximum side in steps, the tallest height that fits the area budget (capped at the maximum
    side), in both orientations; deduplicated and sorted by ``(width, height)``.
    """
    area = options.max_area
    step = options.bucket_reso_steps
    minimum, maximum = options.min_bucket_reso, options.max_bucket_reso
    side = int(math.sqrt(area) // step) * step
    sizes = {(side, side)}
    for width in range(minimum, maximum + 1, step):
        height = min(maximum, int((area // width) // step) * step)
        if height >= minimum:
            sizes.add((width, height))
            sizes.add((height, width))
    return np.array(sorted(sizes), dtype=np.int64).reshape(-1, 2)


def novelai_grid(options: BucketOptions, base: tuple[int, int] = (512, 512)) -> np.ndarray:
    """NovelAI's ``BucketManager.gen_buckets``, in its own order (width up, then height down).

    ``resolution`` is its ``max_size`` (area budget), ``bucket_reso_steps`` its ``divisible``,
    ``min_bucket_reso`` its ``min_dim`` and ``max_bucket_reso`` its ``dim_limit``. For each width
    from ``min_dim`` in steps while ``width * min_dim`` fits the budget and the limit, the tallest
    height ``min_dim + k * step`` that fits; then the same with the roles swapped. The base square
    is inserted when the height climb of its width passes it, so at a 1024x1024 budget 512x512 is
    listed (before 1024x1024, same ratio): square images go to 512x512.
    """
    area, step = options.max_area, options.bucket_reso_steps
    minimum, limit = options.min_bucket_reso, options.max_bucket_reso
    sizes: list[tuple[int, int]] = []
    for swap in (False, True):
        first = minimum
        while first * minimum <= area and first <= limit:
            second = minimum
            passes_base = False
            while first * (second + step) <= area and second + step <= limit:
                passes_base |= (first, second) == base
                second += step
            if passes_base and not swap:
                sizes.append(base)
            sizes.append((second, first) if swap else (first, second))
            first += step
    unique = sorted(set(sizes), key=lambda size: size[0] * 4096 - size[1])
    return np.array(unique, dtype=np.int64).reshape(-1, 2)


def musubi_grid(options: BucketOptions) -> np.ndarray:
    """musubi-tuner's ``BucketSelector``: widths from half the budget side to the side, both orientations.

    ``side = int(sqrt(A))``; widths run from ``side // 2`` floored to the step up to below
    ``side + step``; each height is ``A // w`` floored to the step. No min/max side. Sorted by
    ``(width, height)``. 65 buckets at 1024x1024 with step 16.
    """
    area, step = options.max_area, options.bucket_reso_steps
    side = math.isqrt(area)
    start = (side // 2) - (side // 2) % step
    sizes = set()
    for width in range(start, side + step, step):
        height = area // width - (area // width) % step
        sizes.update({(width, height), (height, width)})
    return np.array(sorted(sizes), dtype=np.int64).reshape(-1, 2)


#: OneTrainer's height:width ratios (mgds ``AspectBucketing``), each also used inverted.
ONETRAINER_RATIOS = (1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0)


def onetrainer_list(options: BucketOptions) -> np.ndarray:
    """OneTrainer/mgds ``AspectBucketing``: fixed ratios scaled to ``target**2`` and quantized.

    ``resolution`` is the square target resolution, ``bucket_reso_steps`` the quantization. For each
    ratio ``r`` the size is ``(h, w) = (target / sqrt(r), target * sqrt(r))`` and its transpose, each
    side rounded to the nearest multiple (Python's ``round``, half to even). Duplicates are removed
    through a Python ``set`` exactly as mgds does, so the list order, which breaks exact ties, is
    CPython's set order. Quantization may overshoot the budget (576x1920 at 1024/64).
    """
    target, step = options.resolution[0], options.bucket_reso_steps
    sizes_hw = []
    for ratio in ONETRAINER_RATIOS:
        norm = math.sqrt(1.0 * ratio)
        sizes_hw.append((1.0 / norm * target, ratio / norm * target))
    sizes_hw += [(w, h) for h, w in sizes_hw]
    quantized = list({(round(h / step) * step, round(w / step) * step) for h, w in sizes_hw})
    return np.array([(w, h) for h, w in quantized], dtype=np.int64).reshape(-1, 2)


#: The 11 width:height ratios of the diffusers training scripts, in their order.
DIFFUSERS_RATIOS = ((1, 1), (4, 5), (5, 4), (2, 3), (3, 2), (3, 4), (4, 3), (9, 16), (16, 9), (1, 2), (2, 1))


def diffusers_list(options: BucketOptions) -> np.ndarray:
    """The diffusers 11 ratios scaled to ``resolution**2``, sides rounded to the step (min one step)."""
    side, step = options.resolution[0], options.bucket_reso_steps
    sizes = []
    for ratio_w, ratio_h in DIFFUSERS_RATIOS:
        width = side * math.sqrt(ratio_w / ratio_h)
        height = side * math.sqrt(ratio_h / ratio_w)
        sizes.append((max(step, round(width / step) * step), max(step, round(height / step) * step)))
    return np.array(sizes, dtype=np.int64).reshape(-1, 2)


#: EveryDream2's hand-made tables (data/aspects.py): per base side, the square, then the landscape
#: sizes of each ratio; every landscape size is followed by its transpose in the trainer's list.
EVERYDREAM2_TABLES: dict[int, tuple[tuple[int, int], ...]] = {
    512: ((576, 448), (640, 384), (768, 320), (896, 256), (1024, 256)),
    576: ((640, 512), (704, 448), (832, 384), (960, 320), (1152, 256)),
    640: ((704, 576), (768, 512), (832, 448), (896, 448), (1024, 384), (1152, 320), (1280, 320)),
    704: (
        (768, 640),
        (832, 576),
        (896, 512),
        (960, 512),
        (1024, 448),
        (1088, 448),
        (1152, 384),
        (1280, 384),
        (1280, 320),
    ),
    768: (
        (832, 704),
        (896, 640),
        (960, 576),
        (1024, 576),
        (1088, 512),
        (1152, 512),
        (1280, 448),
        (1408, 384),
        (1472, 320),
    ),
    832: ((896, 768), (960, 704), (1024, 640), (1152, 576), (1216, 512), (1344, 512), (1536, 448), (1600, 384)),
    896: ((960, 832), (1024, 768), (1088, 704), (1216, 640), (1344, 576), (1536, 512), (1792, 448)),
    960: (
        (1024, 896),
        (1088, 832),
        (1152, 768),
        (1280, 704),
        (1408, 640),
        (1680, 576),
        (1728, 512),
        (1792, 512),
        (2048, 448),
    ),
    1024: ((1152, 896), (1216, 832), (1344, 768), (1472, 704), (1600, 640), (1792, 576), (2048, 512)),
    1088: ((1152, 1024), (1216, 896), (1408, 832), (1536, 768), (1664, 704), (1792, 640), (2048, 576), (2304, 512)),
    1152: ((1280, 1024), (1344, 960), (1472, 896), (1536, 832), (1728, 768), (1856, 704), (2048, 640), (2304, 576)),
}


def everydream2_table(options: BucketOptions) -> np.ndarray:
    """EveryDream2's ``get_aspect_buckets``: the table of ``resolution`` floored to 64 (512..1152).

    The caller validates that the table exists (the trainer stops otherwise).
    """
    base = options.resolution[0] // 64 * 64
    sizes = [(base, base)]
    for width, height in EVERYDREAM2_TABLES[base]:
        sizes += [(width, height), (height, width)]
    return np.array(sizes, dtype=np.int64).reshape(-1, 2)
