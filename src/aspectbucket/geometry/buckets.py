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
            # the height climb, counted instead of walked (the walk is quadratic in limit / step): it
            # takes k steps while first * height fits the area and height the limit
            climbs = max(0, min((area // first - minimum) // step, (limit - minimum) // step))
            second = minimum + climbs * step
            # the base square is passed when it is one of the heights the climb stood on before its last
            passes_base = first == base[0] and base[1] >= minimum and (base[1] - minimum) % step == 0
            if passes_base and (base[1] - minimum) // step < climbs and not swap:
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
    """diffusers' ``generate_aspect_ratio_buckets`` at ``resolution``: its ladder as ``(width, height)`` rows."""
    return np.array(diffusers_ladder(options.resolution[0], options.bucket_reso_steps), dtype=np.int64).reshape(-1, 2)


def diffusers_ladder(side: int, step: int) -> list[tuple[int, int]]:
    """The ladder of huggingface/diffusers@58eb52c0 ``training_utils.py:generate_aspect_ratio_buckets``.

    Each ratio ``w:h`` of :data:`DIFFUSERS_RATIOS` gives a height ``sqrt(side**2 / (w/h))`` and a width
    ``height * (w/h)``, each rounded to the nearest multiple of ``step`` (Python's ``round``: half to
    even) and at least one step; a size already listed is not listed again. In Python floats, with
    the trainer's order of operations, so that every rounding matches.
    """
    pixels = side * side
    ladder: list[tuple[int, int]] = []
    for ratio_w, ratio_h in DIFFUSERS_RATIOS:
        aspect = ratio_w / ratio_h
        height = (pixels / aspect) ** 0.5
        width = height * aspect
        size = (max(step, round(width / step) * step), max(step, round(height / step) * step))
        if size not in ladder:
            ladder.append(size)
    return ladder


def diffusers_ladders(sides: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`diffusers_ladder` at each of ``sides`` as ``(len(sides), 11)`` widths, heights and a mask.

    A ladder shorter than 11 (small sides merge ratios) fills its last columns with its last size,
    marked ``False`` in the mask; real entries keep the trainer's order, which breaks ties.
    """
    columns = len(DIFFUSERS_RATIOS)
    widths = np.zeros((len(sides), columns), dtype=np.int64)
    heights = np.zeros((len(sides), columns), dtype=np.int64)
    listed = np.zeros((len(sides), columns), dtype=bool)
    for row, side in enumerate(np.asarray(sides).tolist()):
        ladder = diffusers_ladder(int(side), step)
        padded = ladder + [ladder[-1]] * (columns - len(ladder))
        widths[row], heights[row] = zip(*padded, strict=True)
        listed[row, : len(ladder)] = True
    return widths, heights, listed


#: EveryDream2's hand-made tables (victorchall/EveryDream2trainer@5098db83 ``data/aspects.py``, last changed
#: in 53d0686), by base side, each in the trainer's own order (the first of equally near sizes wins).
#: Kept as written, quirks included: the 320 table lists 576x640 where 128x576 was meant, the 1280 table
#: 1408x1344 where 1152x1408 was meant. 1408 has a table that ``get_aspect_buckets`` never offers.
EVERYDREAM2_TABLES: dict[int, tuple[tuple[int, int], ...]] = {
    256: ((256, 256), (384, 192), (192, 384), (512, 128), (128, 512)),
    320: ((320, 320), (384, 256), (256, 384), (448, 192), (192, 448), (576, 128), (576, 640)),
    384: ((384, 384), (448, 320), (320, 448), (512, 256), (256, 512), (704, 192), (192, 704)),
    448: ((448, 448), (512, 384), (384, 512), (640, 320), (320, 640), (768, 256), (256, 768)),
    512: (
        (512, 512),
        (576, 448),
        (448, 576),
        (640, 384),
        (384, 640),
        (768, 320),
        (320, 768),
        (896, 256),
        (256, 896),
        (1024, 256),
        (256, 1024),
    ),
    576: (
        (576, 576),
        (640, 512),
        (512, 640),
        (704, 448),
        (448, 704),
        (832, 384),
        (384, 832),
        (960, 320),
        (320, 960),
        (1152, 256),
        (256, 1152),
    ),
    640: (
        (640, 640),
        (704, 576),
        (576, 704),
        (768, 512),
        (512, 768),
        (832, 448),
        (448, 832),
        (896, 448),
        (448, 896),
        (1024, 384),
        (384, 1024),
        (1152, 320),
        (320, 1152),
        (1280, 320),
        (320, 1280),
    ),
    704: (
        (704, 704),
        (768, 640),
        (640, 768),
        (832, 576),
        (576, 832),
        (960, 512),
        (512, 960),
        (1088, 448),
        (448, 1088),
        (1152, 384),
        (384, 1152),
        (1280, 384),
        (384, 1280),
        (1280, 320),
        (320, 1280),
    ),
    768: (
        (768, 768),
        (832, 704),
        (704, 832),
        (896, 640),
        (640, 896),
        (960, 576),
        (576, 960),
        (1024, 576),
        (576, 1024),
        (1152, 512),
        (512, 1152),
        (1280, 448),
        (448, 1280),
        (1408, 384),
        (384, 1408),
        (1472, 320),
        (320, 1472),
    ),
    832: (
        (832, 832),
        (896, 768),
        (768, 896),
        (960, 704),
        (704, 960),
        (1024, 640),
        (640, 1024),
        (1152, 576),
        (576, 1152),
        (1216, 512),
        (512, 1216),
        (1344, 512),
        (512, 1344),
        (1536, 448),
        (448, 1536),
        (1600, 384),
        (384, 1600),
    ),
    896: (
        (896, 896),
        (1024, 768),
        (768, 1024),
        (1088, 704),
        (704, 1088),
        (1216, 640),
        (640, 1216),
        (1344, 576),
        (576, 1344),
        (1536, 512),
        (512, 1536),
        (1792, 448),
        (448, 1792),
    ),
    960: (
        (960, 960),
        (1088, 832),
        (832, 1088),
        (1152, 768),
        (768, 1152),
        (1280, 704),
        (704, 1280),
        (1408, 640),
        (640, 1408),
        (1680, 576),
        (576, 1680),
        (1792, 512),
        (512, 1792),
        (2048, 448),
        (448, 2048),
    ),
    1024: (
        (1024, 1024),
        (1152, 896),
        (896, 1152),
        (1216, 832),
        (832, 1216),
        (1344, 768),
        (768, 1344),
        (1472, 704),
        (704, 1472),
        (1600, 640),
        (640, 1600),
        (1792, 576),
        (576, 1792),
        (2048, 512),
        (512, 2048),
    ),
    1088: (
        (1088, 1088),
        (1152, 1024),
        (1024, 1152),
        (1216, 896),
        (896, 1216),
        (1408, 832),
        (832, 1408),
        (1536, 768),
        (768, 1536),
        (1664, 704),
        (704, 1664),
        (1792, 640),
        (640, 1792),
        (2048, 576),
        (576, 2048),
        (2304, 512),
        (512, 2304),
    ),
    1152: (
        (1152, 1152),
        (1280, 1024),
        (1024, 1280),
        (1344, 960),
        (960, 1344),
        (1472, 896),
        (896, 1472),
        (1536, 832),
        (832, 1536),
        (1728, 768),
        (768, 1728),
        (1856, 704),
        (704, 1856),
        (2048, 640),
        (640, 2048),
        (2304, 576),
        (576, 2304),
    ),
    1280: (
        (1280, 1280),
        (1408, 1152),
        (1408, 1344),
        (1600, 1024),
        (1024, 1600),
        (1792, 896),
        (896, 1792),
        (1920, 832),
        (832, 1920),
        (2112, 768),
        (768, 2112),
        (2304, 704),
        (704, 2304),
        (2560, 640),
        (640, 2560),
    ),
    1536: (
        (1536, 1536),
        (1728, 1344),
        (1344, 1728),
        (1792, 1280),
        (1280, 1792),
        (2048, 1152),
        (1152, 2048),
        (2304, 1024),
        (1024, 2304),
        (2432, 960),
        (960, 2432),
        (2624, 896),
        (896, 2624),
        (2816, 832),
        (832, 2816),
        (3072, 768),
        (768, 3072),
    ),
}


def everydream2_table(options: BucketOptions) -> np.ndarray:
    """EveryDream2's ``get_aspect_buckets``: the table of ``resolution`` floored to 64 (``int(r / 64) * 64``).

    The caller validates that the table exists (the trainer stops otherwise).
    """
    base = int(options.resolution[0] / 64) * 64
    return np.array(EVERYDREAM2_TABLES[base], dtype=np.int64).reshape(-1, 2)
