"""Placement without upscaling ("Don't upscale bucket resolution"): sd-scripts' rule and a corrected one.

sd-scripts has no bucket list in this mode. An image over the area budget is shrunk to about the
budget with one side rounded to the step; then both sides are FLOORED to the step. Because the
rounding itself floors (``1011.93 -> 1012 -> 960``), a near-square image over the budget loses a whole
step on both sides (issue 731). The corrected rule here rounds the ideal size down or up to the step,
whichever keeps the area within the budget and the ratio nearest, and never enlarges the image.
"""

from __future__ import annotations

import numpy as np

from aspectbucket.geometry.resize import cover_resize


def round_to_steps(values: np.ndarray, step: int) -> np.ndarray:
    """sd-scripts' ``round_to_steps``: ``int(x + 0.5)``, then floored to a multiple of ``step``.

    Computed in float64, which is exact here: the values are whole numbers far below 2**53, and
    ``floor(n / step)`` of a whole ``n`` cannot be pushed over an integer by rounding.
    """
    rounded = np.floor(np.asarray(values, dtype=np.float64) + 0.5)
    return np.floor(rounded / step) * step


def kohya_no_upscale(
    widths: np.ndarray, heights: np.ndarray, max_area: int, step: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """sd-scripts' ``select_bucket`` with ``bucket_no_upscale``, for arrays of image sizes.

    Returns ``(bucket_w, bucket_h, resized_w, resized_h, crashes)``. ``crashes`` marks images for
    which sd-scripts divides by zero while choosing (a thin image over the budget whose rounded
    short side is 0); their other outputs are meaningless. A 0-pixel bucket side is left for the
    caller to reject. Every image is computed as if over the budget (cheaper than gathering the
    ones that are), then those within it keep their own size.
    """
    widths = np.asarray(widths, dtype=np.int64)
    heights = np.asarray(heights, dtype=np.int64)
    over = widths * heights > max_area
    ratio = widths / heights
    with np.errstate(divide="ignore", invalid="ignore"):
        ideal_w = np.sqrt(max_area * ratio)
        by_width_w = round_to_steps(ideal_w, step)
        by_height_h = round_to_steps(max_area / ideal_w, step)
        # int(x + 0.5) of the other side, shared by its step rounding and the resized size.
        width_led_h = np.floor(by_width_w / ratio + 0.5)
        height_led_w = np.floor(by_height_h * ratio + 0.5)
        by_width_h = np.floor(width_led_h / step) * step
        by_height_w = np.floor(height_led_w / step) * step
        crashes = over & ((by_width_h == 0) | (by_height_h == 0))
        use_width = np.abs(by_width_w / by_width_h - ratio) < np.abs(by_height_w / by_height_h - ratio)
        keep = ~over | crashes
        resized_w = np.where(keep, widths, np.where(use_width, by_width_w, height_led_w).astype(np.int64))
        resized_h = np.where(keep, heights, np.where(use_width, width_led_h, by_height_h).astype(np.int64))
    bucket_w = resized_w - resized_w % step
    bucket_h = resized_h - resized_h % step
    return bucket_w, bucket_h, resized_w, resized_h, crashes


def corrected_no_upscale(
    widths: np.ndarray, heights: np.ndarray, max_area: int, step: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """No-upscale placement without the step loss of sd-scripts issue 731.

    For an image over the budget, the ideal size ``sqrt(A * r) x sqrt(A / r)`` has each side rounded
    down and up to the step; of the four combinations whose area fits the budget and whose sides fit
    inside the image, the one nearest in log ratio wins (the larger area on a tie). The image is then
    scaled to cover that bucket, which never enlarges it. An image within the budget keeps its size,
    floored to the step, as in sd-scripts. Returns ``(bucket_w, bucket_h, resized_w, resized_h)``;
    a side of 0 means no bucket fits.
    """
    widths = np.asarray(widths, dtype=np.int64)
    heights = np.asarray(heights, dtype=np.int64)
    over = widths * heights > max_area
    # Each side from integer products, so a rotated image gets exactly the swapped ideal size.
    ideal_w = np.sqrt((max_area * widths) / heights)
    ideal_h = np.sqrt((max_area * heights) / widths)
    floor_w = (np.floor(ideal_w).astype(np.int64) // step) * step
    floor_h = (np.floor(ideal_h).astype(np.int64) // step) * step
    best_w = widths - widths % step
    best_h = heights - heights % step
    best_error = np.full(len(widths), np.inf)
    best_area = np.zeros(len(widths), dtype=np.int64)
    log_ratio = np.log(widths) - np.log(heights)
    for candidate_w in (floor_w, floor_w + step):
        for candidate_h in (floor_h, floor_h + step):
            area = candidate_w * candidate_h
            fits = (
                over
                & (candidate_w > 0)
                & (candidate_h > 0)
                & (candidate_w <= widths)
                & (candidate_h <= heights)
                & (area <= max_area)
            )
            with np.errstate(divide="ignore", invalid="ignore"):
                error = np.abs(np.log(np.maximum(candidate_w, 1)) - np.log(np.maximum(candidate_h, 1)) - log_ratio)
            better = fits & ((error < best_error) | ((error == best_error) & (area > best_area)))
            best_w = np.where(better, candidate_w, best_w)
            best_h = np.where(better, candidate_h, best_h)
            best_error = np.where(better, error, best_error)
            best_area = np.where(better, area, best_area)
    # An image over the budget that no candidate fits keeps the floored size: reject it upstream.
    best_w = np.where(over & np.isinf(best_error), 0, best_w)
    best_h = np.where(over & np.isinf(best_error), 0, best_h)
    safe_w = np.maximum(best_w, 1)
    safe_h = np.maximum(best_h, 1)
    resized_w, resized_h = cover_resize(widths, heights, safe_w, safe_h)
    resized_w = np.where(over, resized_w, widths)
    resized_h = np.where(over, resized_h, heights)
    return best_w, best_h, resized_w, resized_h
