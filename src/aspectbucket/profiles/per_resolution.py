"""Trainers that copy the whole dataset once per resolution (ai-toolkit, diffusion-pipe): every image placed at each.

ai-toolkit turns a ``resolution`` list into one dataset per entry and diffusion-pipe buckets every item at
every entry of ``resolutions``; both then train the copies side by side. The result holds one row per
``(resolution, image)``, resolutions in the given order and images in theirs, as the trainers list them.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from aspectbucket.geometry.options import BucketOptions
from aspectbucket.geometry.placement import Placement, gather_placements
from aspectbucket.profiles.profile import place_by_profile
from aspectbucket.profiles.registry import get_profile, resolve


def place_per_resolution(
    widths, heights, resolutions, options: BucketOptions | None = None, profile="ai-toolkit"
) -> tuple[Placement, np.ndarray]:
    """``(placement, resolution_index)``: the images placed at each resolution in turn, rows concatenated.

    ``resolutions`` holds sizes as ``resolution`` accepts them (a side or ``(width, height)``); the other
    options are the profile's defaults unless given. ``resolution_index[row]`` says which entry a row
    was placed at.

    >>> p, which = place_per_resolution([1000], [1000], [512, 768])
    >>> p.bucket_width.tolist(), which.tolist()
    ([512, 768], [0, 1])
    """
    chosen = get_profile(profile)
    base = chosen.defaults if options is None else options
    count = len(np.asarray(widths))
    parts = []
    for position, resolution in enumerate(resolutions):
        _, validated, _ = resolve(chosen, replace(base, resolution=resolution))
        placement = place_by_profile(widths, heights, validated, chosen)
        parts.append((np.arange(position * count, (position + 1) * count), placement, np.arange(count)))
    resolution_index = np.repeat(np.arange(len(parts)), count)
    return gather_placements(parts, count * len(parts)), resolution_index
