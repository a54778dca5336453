"""Nearest-bucket search: which bucket of a list an image goes to, for each trainer's metric.

Trainers compare ratios differently and the difference matters at the switching points:
sd-scripts and NovelAI take ``|bw/bh - w/h|``, OneTrainer ``|bh/bw - h/w|``, diffusers
``|h*bw - w*bh|``; this project's own default uses ``|log(bw/bh) - log(w/h)|``, the only one of
them under which a rotated image gets the rotated bucket. Ties go to the first (numpy ``argmin``)
or the last bucket in list order, as the trainer does.
"""

from __future__ import annotations

import functools
import itertools
import math
from enum import StrEnum
from fractions import Fraction

import numpy as np

_CHUNK = 1 << 16
#: Image-by-bucket costs computed at once by the direct cross-metric search (8 MB of float64).
_CHUNK_CELLS = 1 << 20


class Metric(StrEnum):
    """How a trainer measures the distance between an image's ratio and a bucket's."""

    WIDTH_OVER_HEIGHT = "w/h"
    HEIGHT_OVER_WIDTH = "h/w"
    LOG = "log"
    LOG_OF_RATIO = "log(w/h)"
    CROSS = "cross"


class TieBreak(StrEnum):
    """Which of several equally near buckets wins, in bucket-list order."""

    FIRST = "first"
    LAST = "last"
    SQUARER = "squarer"  # the bucket nearer to square, then the larger: rotation-symmetric


def ratio_keys(widths: np.ndarray, heights: np.ndarray, metric: Metric) -> np.ndarray:
    """The one-dimensional key in which ``metric`` is a plain absolute difference."""
    widths = np.asarray(widths, dtype=np.float64)
    heights = np.asarray(heights, dtype=np.float64)
    if metric is Metric.WIDTH_OVER_HEIGHT:
        return widths / heights
    if metric is Metric.HEIGHT_OVER_WIDTH:
        return heights / widths
    if metric is Metric.LOG:
        # The log of the ratio taken as >= 1, signed: equal ratios get the very same key (the
        # division is exactly rounded, where log(w) - log(h) of 2x3 and 4x6 differ in the last bit
        # and could tie with a different key), and a transposed size gets exactly the negated key.
        return np.copysign(np.log(np.maximum(widths, heights) / np.minimum(widths, heights)), widths - heights)
    if metric is Metric.LOG_OF_RATIO:
        return np.log(widths / heights)
    raise ValueError(f"metric {metric} has no one-dimensional key")


def nearest_bucket(
    buckets: np.ndarray,
    widths: np.ndarray,
    heights: np.ndarray,
    metric: Metric = Metric.WIDTH_OVER_HEIGHT,
    tie_break: TieBreak = TieBreak.FIRST,
    exact_size_first: bool = False,
    image_ratio: np.ndarray | None = None,
    float_sizes: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Index into ``buckets`` of the nearest bucket for every image.

    ``exact_size_first`` reproduces sd-scripts: an image whose size is exactly a listed bucket
    uses that bucket even when another has the same ratio earlier in the list. ``image_ratio``
    (``widths / heights``) and ``float_sizes`` (the sizes as float64) may be passed when the caller has
    them already.
    """
    widths = np.asarray(widths, dtype=np.int64)
    heights = np.asarray(heights, dtype=np.int64)
    if metric is Metric.CROSS:
        index, on_ratio = _nearest_by_cross_product(buckets, widths, heights, tie_break)
    else:
        if image_ratio is not None and metric is Metric.WIDTH_OVER_HEIGHT:
            image_keys = image_ratio
        elif float_sizes is not None:
            image_keys = ratio_keys(*float_sizes, metric)
        else:
            image_keys = ratio_keys(widths, heights, metric)
        index, on_ratio = _nearest_by_key(buckets, image_keys, metric, tie_break)
    if exact_size_first:
        # An exact size has distance 0 to its bucket, so only images whose nearest bucket has exactly
        # their ratio (a handful) can be re-pointed to a same-ratio bucket of their own size.
        candidates = np.flatnonzero(on_ratio)
        if len(candidates):
            exact = exact_bucket_index(buckets, widths[candidates], heights[candidates])
            index[candidates] = np.where(exact >= 0, exact, index[candidates])
    return index


def exact_bucket_index(buckets: np.ndarray, widths: np.ndarray, heights: np.ndarray) -> np.ndarray:
    """Index of the bucket whose size equals the image's, or -1."""
    codes = buckets[:, 0] * (1 << 32) + buckets[:, 1]
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    image_codes = np.asarray(widths, dtype=np.int64) * (1 << 32) + np.asarray(heights, dtype=np.int64)
    position = np.clip(np.searchsorted(sorted_codes, image_codes), 0, len(codes) - 1)
    return np.where(sorted_codes[position] == image_codes, order[position], -1)


def nearest_key(keys, image_keys, tie_break: TieBreak = TieBreak.FIRST) -> np.ndarray:
    """``argmin |keys - key|`` for every image key (first, or last, of equals), without the matrix.

    The distance is computed with the same float operations as ``np.abs(keys - key)``, so the result,
    ties included, equals the brute-force ``argmin`` (``TieBreak.LAST``: the last minimum); a table answers
    keys away from the midpoints between neighbouring keys, two comparisons the others.

    >>> nearest_key(np.log([0.5, 1.0, 2.0]), np.log([0.8, 1.5, 3.0])).tolist()
    [1, 2, 2]
    """
    if tie_break is TieBreak.SQUARER:
        raise ValueError("nearest_key breaks ties by list order only")
    keys = np.asarray(keys, dtype=np.float64)
    return _nearest_in_keys(keys, np.asarray(image_keys, dtype=np.float64), tie_break)[0]


def _nearest_by_key(buckets, image_keys, metric, tie_break) -> tuple[np.ndarray, np.ndarray]:
    """Nearest in a one-dimensional key via a search over the distinct bucket keys.

    The distance is computed with the same float operations as the trainers' ``abs(keys - key)``,
    so the choice, ties included, equals a brute-force ``argmin``. Also returns the mask of images
    at distance 0 (the nearest bucket has their very ratio).
    """
    bucket_keys = ratio_keys(buckets[:, 0], buckets[:, 1], metric)
    if tie_break is TieBreak.SQUARER:
        order = np.argsort(bucket_keys, kind="stable")
        distinct, starts = np.unique(bucket_keys[order], return_index=True)
        return _nearest_squarer(buckets, image_keys, order, distinct, starts)
    return _nearest_in_keys(bucket_keys, image_keys, tie_break)


def _nearest_in_keys(bucket_keys, image_keys, tie_break) -> tuple[np.ndarray, np.ndarray]:
    """:func:`nearest_key` with the mask of images at distance 0."""
    order = np.argsort(bucket_keys, kind="stable")
    sorted_keys = bucket_keys[order]
    distinct, starts = np.unique(sorted_keys, return_index=True)
    # Among buckets sharing a key, the first (or last) in list order represents them.
    reducer = np.minimum if tie_break is TieBreak.FIRST else np.maximum
    representative = reducer.reduceat(order, starts)
    # Most images sit well inside one key's interval: a table answers them; the few near a switching
    # point get the exact float comparison below.
    intervals = _key_intervals(distinct.tobytes())
    group = intervals.group(image_keys)
    chosen = representative.take(np.maximum(group, 0))
    on_ratio = distinct.take(np.maximum(group, 0)) == image_keys
    near_switch = np.flatnonzero(group < 0)
    if len(near_switch):
        chosen[near_switch], on_ratio[near_switch] = _nearest_exactly(
            intervals.sorted_keys, representative, image_keys[near_switch], reducer
        )
    return chosen, on_ratio


def _nearest_exactly(sorted_keys, representative, image_keys, reducer) -> tuple[np.ndarray, np.ndarray]:
    """The trainers' ``argmin |keys - key|`` between the two neighbouring keys, ties by ``reducer``."""
    distinct = sorted_keys.keys
    last = len(distinct) - 1
    right = np.minimum(sorted_keys.position(image_keys), last)
    left = np.maximum(right - 1, 0)
    distance_left = np.abs(distinct.take(left) - image_keys)
    distance_right = np.abs(distinct.take(right) - image_keys)
    pick_left = representative.take(left)
    pick_right = representative.take(right)
    chosen = np.where(distance_right < distance_left, pick_right, pick_left)
    tied = distance_left == distance_right
    if tied.any():
        chosen[tied] = reducer(pick_left[tied], pick_right[tied])
    return chosen, np.minimum(distance_left, distance_right) == 0


@functools.lru_cache(maxsize=32)
def _key_intervals(distinct_keys: bytes) -> KeyIntervals:
    """The interval table of a bucket list's keys, built once for all the blocks of a large input.

    Its ``sorted_keys`` answers the values near a switching point.
    """
    return KeyIntervals(np.frombuffer(distinct_keys, dtype=np.float64))


class KeyIntervals:
    """Which key interval (between switching points) each value falls in, by table lookup.

    The switching points are the midpoints of neighbouring keys. Values map to cells of their
    order-preserving bit pattern (see :class:`SortedKeys`); a cell that holds no midpoint, nor one
    within a few units in the last place, lies inside one interval and stores it; any other cell
    stores -1, and its values need the exact comparison. Cells are far wider than those few units,
    so almost every value is answered by the table.
    """

    MAX_CELLS = 1 << 15
    _MARGIN_ULPS = 4

    def __init__(self, keys: np.ndarray, margin_ulps: int = _MARGIN_ULPS):
        keys = np.asarray(keys, dtype=np.float64)
        self.sorted_keys = SortedKeys(keys)
        if len(keys) < 2:
            self.table = np.zeros(1, dtype=np.int64)
            self.origin = self.end = self.shift = 0
            return
        midpoints = [int(bits) for bits in _ordered_bits((keys[:-1] + keys[1:]) / 2)]
        span = midpoints[-1] - midpoints[0]
        self.shift = max(0, span.bit_length() - 14)
        width = 1 << self.shift
        # One pure cell below the first midpoint and one above the last catch every value outside.
        self.origin = max(0, midpoints[0] - margin_ulps - width)
        self.end = min((1 << 64) - 1, midpoints[-1] + margin_ulps + width)
        cells = ((self.end - self.origin) >> self.shift) + 1
        starts = [self.origin + (cell << self.shift) for cell in range(cells)]
        table = np.searchsorted(np.array(midpoints, dtype=np.uint64), np.array(starts, dtype=np.uint64))
        table = table.astype(np.int64)
        for midpoint in midpoints:
            first = (max(midpoint - margin_ulps, self.origin) - self.origin) >> self.shift
            last = (min(midpoint + margin_ulps, self.end) - self.origin) >> self.shift
            table[first : last + 1] = -1
        self.table = table

    def group(self, values: np.ndarray) -> np.ndarray:
        """Index of the key whose interval holds each value, or -1 near a switching point."""
        if len(self.table) == 1:
            return np.zeros(len(values), dtype=np.int64)
        return self.table.take(_cells(values, self.origin, self.end, self.shift))


def _nearest_squarer(buckets, image_keys, order, distinct, starts) -> tuple[np.ndarray, np.ndarray]:
    """Nearest key; among buckets of one key the largest; on a distance tie the key nearer to 0.

    Every choice depends only on ``|key|`` and area, which rotation keeps, so with a list closed
    under transposition the bucket of a rotated image is the transposed bucket (``Metric.LOG`` keys
    are exactly antisymmetric in floating point).
    """
    area = (buckets[:, 0] * buckets[:, 1])[order]
    group = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(order))))
    # Within each group of equal keys, the largest area (the first in key order on equal area).
    rank = np.lexsort((np.arange(len(order)), -area, group))
    first_of_group = np.searchsorted(group[rank], np.arange(len(starts)))
    representative = order[rank[first_of_group]]
    # Most images sit well inside one key's interval (no tie is possible there): the interval table of
    # the shifted keys answers them; the rest get the exact comparison and the squarer tie-break.
    interval = _shifted_intervals(distinct.tobytes()).group(image_keys)
    inside = np.maximum(interval, 0)
    chosen, on_ratio = representative.take(inside), distinct.take(inside) == image_keys
    near = np.flatnonzero(interval < 0)
    if len(near):
        chosen[near], on_ratio[near] = _nearest_squarer_exactly(distinct, representative, image_keys[near])
    return chosen, on_ratio


def _nearest_squarer_exactly(distinct, representative, image_keys) -> tuple[np.ndarray, np.ndarray]:
    """The squarer rule between the two neighbouring keys, with the trainers' float distances."""
    right = np.minimum(np.searchsorted(distinct, image_keys), len(distinct) - 1)
    left = np.maximum(right - 1, 0)
    key_left, key_right = distinct.take(left), distinct.take(right)
    distance_left = np.abs(key_left - image_keys)
    distance_right = np.abs(key_right - image_keys)
    squarer = np.where(np.abs(key_left) <= np.abs(key_right), left, right)
    chosen = np.where(distance_left < distance_right, left, np.where(distance_right < distance_left, right, squarer))
    return representative.take(chosen), np.minimum(distance_left, distance_right) == 0


class ShiftedIntervals:
    """:class:`KeyIntervals` of keys moved up by a power of two ``offset``, for signed keys (``Metric.LOG``).

    Float bit patterns are far from uniform around 0, so the table of keys on both sides of it has cells
    too coarse to separate them; shifted into one or two binades, the cells are fine. The shift rounds a
    key or a value by under an ulp of the shifted magnitude, well inside the table's margin of 16 ulps
    there, so values it answers are in the same interval as unshifted. Keys closer together than a few
    dozen such ulps (never those of real bucket sizes) would merge: then no value is answered.
    """

    MARGIN_ULPS = 16

    def __init__(self, keys: np.ndarray):
        largest = float(np.max(np.abs(keys))) if len(keys) else 0.0
        self.offset = 2.0 ** (math.frexp(largest)[1] + 1)
        closest = float(np.min(np.diff(keys))) if len(keys) > 1 else math.inf
        separable = closest > 4 * self.MARGIN_ULPS * math.ulp(2 * self.offset)
        self.intervals = KeyIntervals(keys + self.offset, self.MARGIN_ULPS) if separable else None

    def group(self, values: np.ndarray) -> np.ndarray:
        """Index of the key whose interval holds each value, or -1 near a switching point (or always)."""
        if self.intervals is None:
            return np.full(len(values), -1, dtype=np.int64)
        return self.intervals.group(values + self.offset)


@functools.lru_cache(maxsize=32)
def _shifted_intervals(distinct_keys: bytes) -> ShiftedIntervals:
    return ShiftedIntervals(np.frombuffer(distinct_keys, dtype=np.float64))


class SortedKeys:
    """``numpy.searchsorted(keys, x)`` for a short sorted float array, several times faster.

    Binary search over random queries stalls on branch mispredictions. Instead, each float is mapped
    to an order-preserving integer (its bit pattern, sign-corrected), whose top bits index a table of
    cells holding at most one key each; the answer is the table entry plus one comparison. Key sets
    too crowded for a table of :data:`MAX_CELLS` fall back to ``searchsorted``.
    """

    MAX_CELLS = 1 << 16

    def __init__(self, keys: np.ndarray):
        self.keys = np.asarray(keys, dtype=np.float64)
        self.padded = np.append(self.keys, np.inf)
        self.table = None
        if len(self.keys) < 2:
            return
        ordered = [int(bits) for bits in _ordered_bits(self.keys)]
        self.origin, self.end = ordered[0], ordered[-1]
        self.shift = max(0, (self.end - self.origin).bit_length() - 16)
        cells = [(bits - self.origin) >> self.shift for bits in ordered]
        if all(later > earlier for earlier, later in itertools.pairwise(cells)):
            self.table = np.searchsorted(np.array(cells), np.arange(cells[-1] + 1), side="left")

    def position(self, values: np.ndarray) -> np.ndarray:
        """How many keys are strictly below each value (``searchsorted(..., side='left')``)."""
        if self.table is None:
            return np.searchsorted(self.keys, values, side="left")
        below = self.table.take(_cells(values, self.origin, self.end, self.shift))
        return below + (self.padded.take(below) < values)


def _ordered_bits(values: np.ndarray) -> np.ndarray:
    """uint64 values ordered like the float64 inputs (negatives flipped, the sign bit set for the rest)."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    negative = bits >> np.uint64(63)
    return bits ^ (np.negative(negative) | np.uint64(1 << 63))


def _nearest_by_cross_product(buckets, widths, heights, tie_break) -> tuple[np.ndarray, np.ndarray]:
    """diffusers' ``argmin |h*bw - w*bh|`` (first or last of equals), with the mask of images at cost 0.

    Dividing by ``h`` makes the cost of bucket ``j`` a V in the image ratio ``r``: ``|bw_j - r * bh_j|``.
    Which bucket is cheapest can only change where two V's cross, at ``(bw_i + bw_j) / (bh_i + bh_j)`` or
    ``(bw_i - bw_j) / (bh_i - bh_j)``; between neighbouring crossings one bucket wins throughout. So each
    image's ratio is looked up among the crossings (:class:`CrossEnvelope`), and the images within a
    hair of a crossing, where float ratios could land on the wrong side, are costed exactly in integers.
    """
    if tie_break is TieBreak.SQUARER:
        tie_break = TieBreak.FIRST  # the cross metric keeps list order on ties
    if len(buckets) > ENVELOPE_MAX_BUCKETS:
        index = _cross_product_brute_force(buckets, widths, heights, tie_break)
        return index, buckets[:, 0].take(index) * heights == buckets[:, 1].take(index) * widths
    envelope = _cross_envelope(np.ascontiguousarray(buckets, dtype=np.int64).tobytes(), tie_break)
    ratio = widths / heights
    below = envelope.crossings.position(ratio * (1.0 - _HAIR))
    above = envelope.crossings.position(ratio * (1.0 + _HAIR))
    index = envelope.winner.take(below)
    near = np.flatnonzero(below != above)
    if len(near):
        index[near] = _cross_product_brute_force(buckets, widths[near], heights[near], tie_break)
    return index, buckets[:, 0].take(index) * heights == buckets[:, 1].take(index) * widths


#: Longest list placed through a :class:`CrossEnvelope`: building one costs about n**3 exact fraction
#: operations (0.1 s at 64 buckets, minutes at 1,000: a user's own ``aspect_ratio_buckets`` may be that
#: long), so longer lists are costed directly, bucket by bucket (diffusers' own lists hold about 10).
ENVELOPE_MAX_BUCKETS = 64

#: Relative distance to a crossing under which an image is costed exactly: far above the float error of
#: a ratio or a crossing (about 1e-16), far below the gap between two distinct crossings of real lists.
_HAIR = 1e-9


class CrossEnvelope:
    """Where the cheapest bucket under diffusers' cross metric changes, and which bucket wins in between.

    ``crossings`` (a :class:`SortedKeys` of floats) are every ratio at which two buckets' costs are equal;
    ``winner[k]`` is the bucket chosen for ratios between crossing ``k - 1`` and ``k``, found with exact
    integer costs at a fraction strictly inside that interval (the mediant of its two ends).
    """

    def __init__(self, buckets: np.ndarray, tie_break: TieBreak):
        sides = [(int(width), int(height)) for width, height in buckets]
        points = set()
        for (width_i, height_i), (width_j, height_j) in itertools.combinations(sides, 2):
            points.add(Fraction(width_i + width_j, height_i + height_j))
            if height_i != height_j:
                points.add(Fraction(width_i - width_j, height_i - height_j))
        crossings = sorted(point for point in points if point > 0)
        self.crossings = SortedKeys(np.array([float(point) for point in crossings], dtype=np.float64))
        if not crossings:
            inside = [Fraction(1)]
        else:
            ends = [Fraction(crossings[0].numerator, crossings[0].denominator + 1)]
            mediants = [
                Fraction(a.numerator + b.numerator, a.denominator + b.denominator)
                for a, b in itertools.pairwise(crossings)
            ]
            inside = ends + mediants + [Fraction(crossings[-1].numerator + 1, crossings[-1].denominator)]
        self.winner = np.array([_cheapest(sides, point, tie_break) for point in inside], dtype=np.int64)


def _cheapest(sides, ratio: Fraction, tie_break: TieBreak) -> int:
    """The bucket the trainer's argmin picks for an image of exactly ``ratio`` (integer costs)."""
    costs = [abs(ratio.denominator * width - ratio.numerator * height) for width, height in sides]
    lowest = min(costs)
    tied = [j for j, cost in enumerate(costs) if cost == lowest]
    return tied[-1] if tie_break is TieBreak.LAST else tied[0]


@functools.lru_cache(maxsize=32)
def _cross_envelope(buckets: bytes, tie_break: TieBreak) -> CrossEnvelope:
    return CrossEnvelope(np.frombuffer(buckets, dtype=np.int64).reshape(-1, 2), tie_break)


def _cross_product_brute_force(buckets, widths, heights, tie_break) -> np.ndarray:
    """``argmin |h*bw - w*bh|`` over the whole list, in integers, in chunks (for the images near a crossing)."""
    result = np.empty(len(widths), dtype=np.int64)
    bucket_w = buckets[:, 0][None, :]
    bucket_h = buckets[:, 1][None, :]
    rows = max(1, _CHUNK_CELLS // len(buckets))  # images per chunk: a few MB of costs, whatever the list
    for start in range(0, len(widths), rows):
        w = widths[start : start + rows, None]
        h = heights[start : start + rows, None]
        cost = np.abs(h * bucket_w - w * bucket_h)
        if tie_break is not TieBreak.LAST:
            result[start : start + rows] = cost.argmin(axis=1)
        else:
            result[start : start + rows] = len(buckets) - 1 - cost[:, ::-1].argmin(axis=1)
    return result


def _cells(values: np.ndarray, origin: int, end: int, shift: int) -> np.ndarray:
    """Table cell of each value: its ordered bits, clipped to ``[origin, end]``, offset and shifted.

    When the table starts among positive floats (ratio keys always do), a value's plain int64 bit
    pattern orders it just as well (negative values fall below, into the first cell), which saves
    the sign correction.
    """
    values = np.ascontiguousarray(values, dtype=np.float64)
    if origin >= _SIGN:
        cell = np.clip(values.view(np.int64), origin - _SIGN, end - _SIGN)
        cell -= origin - _SIGN
        cell >>= shift
        return cell
    ordered = np.clip(_ordered_bits(values), np.uint64(origin), np.uint64(end))
    ordered -= np.uint64(origin)
    ordered >>= np.uint64(shift)
    return ordered.view(np.int64)


_SIGN = 1 << 63
