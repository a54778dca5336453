"""Switching points: the image ratio at which placement moves from one bucket to its neighbour.

Under sd-scripts' metric ``|bw/bh - w/h|`` the switch between two neighbouring buckets lies at the
arithmetic mean of their width/height ratios. The widely read bucketing article draws these points as
means of height/width ratios instead; the two agree for landscape neighbours only approximately and
differ noticeably for portrait ones (a 512x752 image goes to 384x640, not 448x576), so both are given.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from aspectbucket.geometry.nearest import Metric, TieBreak, ratio_keys


@dataclass(frozen=True)
class SwitchingPoint:
    """Images with ``w/h`` below ``width_over_height`` go to ``lower``, above it to ``upper``.

    ``lower`` and ``upper`` index the bucket list. ``article_width_over_height`` is where the article's
    height/width midpoint would put the switch (shown where it differs from the real one).
    """

    lower: int
    upper: int
    width_over_height: float
    article_width_over_height: float

    @property
    def height_over_width(self) -> float:
        """The same switch expressed as ``h/w``, as portrait-minded users read it."""
        return 1.0 / self.width_over_height


def switching_points(
    buckets: np.ndarray, metric: Metric = Metric.WIDTH_OVER_HEIGHT, tie_break: TieBreak = TieBreak.FIRST
) -> list[SwitchingPoint]:
    """Switching points between ratio-neighbouring buckets, in ascending ``w/h`` order.

    Buckets sharing a ratio are one step of the ladder, represented by the one the tie-break picks.
    """
    ratios = buckets[:, 0] / buckets[:, 1]
    order = np.argsort(ratios, kind="stable")
    groups: list[int] = []
    for index in order:
        if groups and ratios[groups[-1]] == ratios[index]:
            if tie_break is TieBreak.LAST:
                groups[-1] = int(index)
            continue
        groups.append(int(index))
    points = []
    for lower, upper in itertools.pairwise(groups):
        lower_w, lower_h = (int(side) for side in buckets[lower])
        upper_w, upper_h = (int(side) for side in buckets[upper])
        switch = _switch_ratio(lower_w, lower_h, upper_w, upper_h, metric)
        article = 2.0 / (lower_h / lower_w + upper_h / upper_w)
        points.append(SwitchingPoint(lower, upper, switch, article))
    return points


def _switch_ratio(lower_w: int, lower_h: int, upper_w: int, upper_h: int, metric: Metric) -> float:
    if metric is Metric.CROSS:
        # |h*bw - w*bh| / h = |bw - r*bh|: equal for both buckets at the mediant ratio.
        return (lower_w + upper_w) / (lower_h + upper_h)
    keys = ratio_keys(np.array([lower_w, upper_w]), np.array([lower_h, upper_h]), metric)
    middle = float(keys.mean())
    if metric is Metric.WIDTH_OVER_HEIGHT:
        return middle
    if metric is Metric.HEIGHT_OVER_WIDTH:
        return 1.0 / middle
    return math.exp(middle)
