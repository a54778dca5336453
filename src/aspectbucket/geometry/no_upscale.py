"""Placement without upscaling ("Don't upscale bucket resolution"): sd-scripts' rule and a corrected one.

sd-scripts has no bucket list in this mode. An image over the area budget is shrunk to about the
budget with one side rounded to the step; then both sides are FLOORED to the step. Because the
rounding itself floors (``1011.93 -> 1012 -> 960``), a near-square image over the budget loses a whole
step on both sides (issue 731). The corrected rule here rounds the ideal size down or up to the step,
whichever keeps the area within the budget and the ratio nearest, and never enlarges the image.
"""

from __future__ import annotations

import numpy as np

from aspectbucket.geometry.resize import cover_resize, half_up_in_place


def floor_to_step(values: np.ndarray, step: int, out: np.ndarray | None = None) -> np.ndarray:
    """``floor(values / step) * step`` for float arrays of whole numbers (into ``out`` if given).

    Exact in float64: the values are whole numbers far below 2**53, and ``floor(n / step)`` of a
    whole ``n`` cannot be pushed over an integer by rounding. A power-of-two step multiplies by its
    reciprocal instead, which is exact too and several times cheaper than dividing.
    """
    power_of_two = step & (step - 1) == 0
    out = np.multiply(values, 1.0 / step, out=out) if power_of_two else np.divide(values, step, out=out)
    np.floor(out, out=out)
    return np.multiply(out, step, out=out)


def kohya_no_upscale(
    widths: np.ndarray, heights: np.ndarray, max_area: int, step: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """sd-scripts' ``select_bucket`` with ``bucket_no_upscale``, for arrays of image sizes.

    Returns ``(bucket_w, bucket_h, resized_w, resized_h, ar_error, crashes)``, as sd-scripts returns
    the size, resized size and signed ratio error ``bw/bh - w/h``. ``crashes`` marks images for
    which sd-scripts divides by zero while choosing (a thin image over the budget whose rounded
    short side is 0); they keep their own size here, for the caller to reject. A 0-pixel bucket
    side is left for the caller to reject too.

    Every image is computed as if over the budget (cheaper than gathering the ones that are), then
    those within it keep their own size. The float operations are sd-scripts' own, in its order;
    choices are blended arithmetically (``a + m * (b - a)``, exact on whole numbers) rather than with
    ``np.where``, which is several times slower on unpredictable masks, and temporaries are reused:
    on a million images this function is mostly memory traffic.
    """
    width_f = np.asarray(widths).astype(np.float64)
    height_f = np.asarray(heights).astype(np.float64)
    ratio = width_f / height_f
    with np.errstate(divide="ignore", invalid="ignore"):
        ideal_w = np.sqrt(np.multiply(max_area, ratio))
        # The width rounded to the step leads, and the height follows from the ratio; or the reverse.
        by_width_w = floor_to_step(half_up_in_place(ideal_w.copy()), step)
        by_height_h = floor_to_step(half_up_in_place(np.divide(max_area, ideal_w, out=ideal_w)), step, out=ideal_w)
        width_led_h = half_up_in_place(by_width_w / ratio)  # int(x + 0.5): the resized height, and its step floor below
        height_led_w = half_up_in_place(by_height_h * ratio)
        by_width_h = floor_to_step(width_led_h, step)
        by_height_w = floor_to_step(height_led_w, step)
        error_w = np.abs(np.subtract(np.divide(by_width_w, by_width_h), ratio))
        error_h = np.abs(np.subtract(np.divide(by_height_w, by_height_h), ratio))
    use_width = np.less(error_w, error_h, out=error_w)  # 1.0 where the width leads
    over = width_f * height_f > max_area
    crashes = over & ((by_width_h == 0) | (by_height_h == 0))
    shrink = (over & ~crashes).astype(np.float64)
    resized_w = _blend(width_f, _blend(height_led_w, by_width_w, use_width), shrink)
    resized_h = _blend(height_f, _blend(by_height_h, width_led_h, use_width), shrink)
    bucket_w = floor_to_step(resized_w, step, out=by_width_h)
    bucket_h = floor_to_step(resized_h, step, out=by_height_w)
    with np.errstate(divide="ignore", invalid="ignore"):  # 0-pixel buckets: rejected by the caller
        ar_error = np.divide(bucket_w, bucket_h, out=shrink)
    ar_error -= ratio
    return (
        bucket_w.astype(np.int64),
        bucket_h.astype(np.int64),
        resized_w.astype(np.int64),
        resized_h.astype(np.int64),
        ar_error,
        crashes,
    )


def _blend(where_0: np.ndarray, where_1: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``where_1`` where ``mask`` (0.0 or 1.0) is 1, else ``where_0``, written over ``where_1``.

    Exact for whole numbers: ``where_0 + mask * (where_1 - where_0)``.
    """
    where_1 -= where_0
    where_1 *= mask
    where_1 += where_0
    return where_1


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
    # Two widths and two heights make the four candidates: each side's log is taken once (logs are most of
    # the time here), the very values a log per candidate gives.
    sides_w = [(side, np.log(np.maximum(side, 1))) for side in (floor_w, floor_w + step)]
    sides_h = [(side, np.log(np.maximum(side, 1))) for side in (floor_h, floor_h + step)]
    for candidate_w, log_w in sides_w:
        for candidate_h, log_h in sides_h:
            area = candidate_w * candidate_h
            fits = (
                over
                & (candidate_w > 0)
                & (candidate_h > 0)
                & (candidate_w <= widths)
                & (candidate_h <= heights)
                & (area <= max_area)
            )
            error = np.abs(log_w - log_h - log_ratio)
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
