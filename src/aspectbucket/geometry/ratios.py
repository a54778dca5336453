"""Aspect ratios as people write them: reduced fractions (7:9) and decimals both ways."""

from __future__ import annotations

import math


def ratio_fraction(width: int, height: int) -> str:
    """``448, 576 -> '7:9'``: width and height divided by their greatest common divisor."""
    divisor = math.gcd(int(width), int(height)) or 1
    return f"{int(width) // divisor}:{int(height) // divisor}"


def nice_ratio_fraction(width: float, height: float, max_term: int = 32) -> str:
    """The simplest fraction close to ``width / height`` (within 1 %), for cropping advice.

    A bucket of 704x320 is exactly 11:5, which is also what a user should crop to; an image of
    1001x1500 is best described as about 2:3. Terms stay at or below ``max_term``.
    """
    target = width / height
    best = (math.inf, 1, 1)
    for denominator in range(1, max_term + 1):
        numerator = max(1, round(target * denominator))
        if numerator > max_term:
            continue
        error = abs(math.log(numerator / denominator / target))
        if error < best[0] - 1e-12:
            best = (error, numerator, denominator)
    if best[0] > math.log(1.01):  # no simple fraction within 1 %: say it exactly
        return ratio_fraction(round(width), round(height))
    return f"{best[1]}:{best[2]}"
