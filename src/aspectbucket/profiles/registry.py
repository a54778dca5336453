"""The profiles by name, and the public entry points that take a profile name and raw options."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from aspectbucket.geometry.options import BucketOptions
from aspectbucket.geometry.placement import Placement
from aspectbucket.profiles.ai_toolkit import AI_TOOLKIT
from aspectbucket.profiles.balanced import BALANCED
from aspectbucket.profiles.diffusers import DIFFUSERS
from aspectbucket.profiles.diffusion_pipe import DIFFUSION_PIPE
from aspectbucket.profiles.everydream2 import EVERYDREAM2
from aspectbucket.profiles.kohya import KOHYA
from aspectbucket.profiles.musubi import MUSUBI
from aspectbucket.profiles.novelai import NOVELAI
from aspectbucket.profiles.onetrainer import ONETRAINER
from aspectbucket.profiles.profile import Profile, place_by_profile, profile_bucket_list
from aspectbucket.profiles.simpletuner import SIMPLETUNER

#: Every profile by name, in the order commands list them.
PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        KOHYA,
        BALANCED,
        NOVELAI,
        MUSUBI,
        ONETRAINER,
        DIFFUSERS,
        SIMPLETUNER,
        EVERYDREAM2,
        AI_TOOLKIT,
        DIFFUSION_PIPE,
    )
}


def get_profile(name: str | Profile) -> Profile:
    """The profile called ``name`` (a :class:`Profile` passes through); the error lists valid names."""
    if isinstance(name, Profile):
        return name
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of: {', '.join(PROFILES)}") from None


def merge_options(profile: str | Profile, config: Mapping | None = None, given: Mapping | None = None) -> BucketOptions:
    """The options a run uses, before the trainer's checks: ``given`` (the command line) over ``config``
    (what a dataset config set) over the profile's defaults.

    The one place they are merged, so report, compare, export, explain and the sampler agree on what
    wins; :func:`resolve` then validates the result.

    >>> merge_options("kohya", {"resolution": (1024, 1024)}, {"bucket_no_upscale": True}).resolution
    (1024, 1024)
    """
    return dataclasses.replace(get_profile(profile).defaults, **{**(config or {}), **(given or {})})


def resolve(profile: str | Profile = "kohya", options: BucketOptions | None = None):
    """``(profile, validated options, warnings)``; missing options take the profile's defaults.

    Raises :class:`~aspectbucket.geometry.options.OptionsError` for options the trainer refuses.
    """
    chosen = get_profile(profile)
    validated, warnings = chosen.validate(chosen.defaults if options is None else options)
    return chosen, validated, warnings


def place(widths, heights, options: BucketOptions | None = None, profile: str | Profile = "kohya") -> Placement:
    """Place images of the given widths and heights as the trainer of ``profile`` would.

    >>> from aspectbucket import BucketOptions, place
    >>> p = place([576, 768], [768, 512], BucketOptions(resolution=(512, 512)))
    >>> p.bucket_width.tolist(), p.bucket_height.tolist()
    ([448, 640], [576, 384])
    """
    chosen, validated, _ = resolve(profile, options)
    return place_by_profile(widths, heights, validated, chosen)


def bucket_list(options: BucketOptions | None = None, profile: str | Profile = "kohya") -> np.ndarray:
    """The bucket list of ``profile`` at ``options`` (``(n, 2)`` widths and heights, trainer order).

    >>> from aspectbucket import BucketOptions, bucket_list
    >>> buckets = bucket_list(BucketOptions(resolution=(1024, 1024), bucket_reso_steps=64), "onetrainer")
    >>> len(buckets), buckets[0].tolist()
    (17, [640, 1600])
    """
    chosen, validated, _ = resolve(profile, options)
    return profile_bucket_list(chosen, validated)
