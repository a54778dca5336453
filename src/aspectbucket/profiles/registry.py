"""The profiles by name and version, and the public entry points that take a profile name and settings.

A name is ``trainer`` (the newest version reproduced) or ``trainer@commit`` (that version):
``novelai`` is ``novelai@6e977c5``; ``novelai@352f7e0e`` is the log-distance fork.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from functools import lru_cache

import numpy as np

from aspectbucket.geometry.options import BucketOptions, check_bounds
from aspectbucket.geometry.placement import Placement
from aspectbucket.profiles.ai_toolkit import AI_TOOLKIT
from aspectbucket.profiles.balanced import BALANCED
from aspectbucket.profiles.diffusers import DIFFUSERS
from aspectbucket.profiles.diffusion_pipe import DIFFUSION_PIPE
from aspectbucket.profiles.everydream2 import EVERYDREAM2
from aspectbucket.profiles.kohya import KOHYA
from aspectbucket.profiles.musubi import MUSUBI
from aspectbucket.profiles.novelai import NOVELAI, NOVELAI_LOG_FORK
from aspectbucket.profiles.onetrainer import ONETRAINER
from aspectbucket.profiles.profile import Profile, declared_settings, place_by_profile, profile_bucket_list
from aspectbucket.profiles.settings import check_names
from aspectbucket.profiles.simpletuner import SIMPLETUNER

#: Every profile by name, in the order commands list them (one entry per trainer: its newest version).
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

#: Older or other versions, by ``name@version``; ``name@version`` of a newest version names it too.
VERSIONS: dict[str, Profile] = {
    **{f"{profile.name}@{profile.version}": profile for profile in PROFILES.values() if profile.version},
    NOVELAI_LOG_FORK.name: NOVELAI_LOG_FORK,
}

#: Other spellings users type: the trainer's own name.
ALIASES: dict[str, str] = {"musubi-tuner": "musubi", "sd-scripts": "kohya", "mgds": "onetrainer"}


def profile_names() -> list[str]:
    """Every name a profile can be chosen by: trainers, then versions, then aliases."""
    return [*PROFILES, *(name for name in VERSIONS if name not in PROFILES), *ALIASES]


def get_profile(name: str | Profile) -> Profile:
    """The profile called ``name`` (a :class:`Profile` passes through); the error lists valid names."""
    if isinstance(name, Profile):
        return name
    name = ALIASES.get(name, name)
    if name in PROFILES:
        return PROFILES[name]
    if name in VERSIONS:
        return VERSIONS[name]
    raise ValueError(f"unknown profile {name!r}; choose one of: {', '.join(profile_names())}")


def merge_options(profile: str | Profile, config: Mapping | None = None, given: Mapping | None = None) -> BucketOptions:
    """The options a run uses, before the trainer's checks: ``given`` (the command line) over ``config``
    (what a dataset config set) over the profile's defaults.

    The one place they are merged, so report, compare, export, explain and the sampler agree on what
    wins; :func:`resolve` then validates the result (with the trainer-native ``settings`` over it).

    >>> merge_options("kohya", {"resolution": (1024, 1024)}, {"bucket_no_upscale": True}).resolution
    (1024, 1024)
    """
    return dataclasses.replace(get_profile(profile).defaults, **{**(config or {}), **(given or {})})


def apply_settings(
    profile: str | Profile, settings: Mapping | None = None, options: BucketOptions | None = None
) -> tuple[Profile, BucketOptions]:
    """The profile variant and (unvalidated) options that ``settings``, in the trainer's own names, select.

    Settings apply over ``options`` (or the profile's defaults). An unknown key or a value the trainer
    refuses raises :class:`~aspectbucket.profiles.settings.SettingsError`, naming what is allowed.
    """
    chosen = get_profile(profile)
    declared = declared_settings(chosen)
    settings = dict(settings or {})
    check_names(chosen.name, declared, settings)
    base = chosen.defaults if options is None else options
    parsed = tuple(
        (setting.name, setting.parse(settings[setting.name], chosen.name))
        for setting in declared
        if setting.name in settings
    )
    return _configured(chosen, parsed, base)


@lru_cache(maxsize=64)
def _configured(profile: Profile, parsed: tuple, base: BucketOptions) -> tuple[Profile, BucketOptions]:
    """One variant per distinct profile, settings and options, so the bucket-list cache keeps working."""
    given = dict(parsed)
    options = base
    values = {}
    for setting in declared_settings(profile):
        if setting.name in given:
            options = setting.to_options(options, given[setting.name])
            values[setting.name] = given[setting.name]
        else:
            values[setting.name] = setting.from_options(base)
    if profile.configure is not None:
        return profile.configure(profile, values, options)
    return profile, options


def resolve(profile: str | Profile = "kohya", options: BucketOptions | None = None, settings: Mapping | None = None):
    """``(profile, validated options, warnings)``; missing options take the profile's defaults.

    ``settings`` (the trainer's own keys) apply over ``options``. Raises
    :class:`~aspectbucket.geometry.options.OptionsError` for options the trainer refuses, and before
    that for values outside the bounds every profile shares (see
    :func:`~aspectbucket.geometry.options.check_bounds`).
    """
    chosen, merged = apply_settings(profile, settings, options)
    check_bounds(merged)
    validated, warnings = chosen.validate(merged)
    return chosen, validated, warnings


def place(
    widths,
    heights,
    options: BucketOptions | None = None,
    profile: str | Profile = "kohya",
    settings: Mapping | None = None,
) -> Placement:
    """Place images of the given widths and heights as the trainer of ``profile`` would.

    ``settings`` use the trainer's own keys (``aspectbucket profiles`` lists them); unknown keys are
    an error naming the allowed ones. ``options`` (kohya's names) remain accepted.

    >>> from aspectbucket import BucketOptions, place
    >>> p = place([576, 768], [768, 512], BucketOptions(resolution=(512, 512)))
    >>> p.bucket_width.tolist(), p.bucket_height.tolist()
    ([448, 640], [576, 384])
    >>> p = place([1000], [700], profile="onetrainer", settings={"target_resolution": 512, "quantization": 64})
    >>> p.bucket_width.tolist(), p.bucket_height.tolist()
    ([640], [448])
    """
    chosen, validated, _ = resolve(profile, options, settings)
    return place_by_profile(widths, heights, validated, chosen)


def bucket_list(
    options: BucketOptions | None = None, profile: str | Profile = "kohya", settings: Mapping | None = None
) -> np.ndarray:
    """The bucket list of ``profile`` at ``options`` (``(n, 2)`` widths and heights, trainer order; empty if
    per image); ``settings`` use the trainer's own keys.

    >>> from aspectbucket import BucketOptions, bucket_list
    >>> buckets = bucket_list(BucketOptions(resolution=(1024, 1024), bucket_reso_steps=64), "onetrainer")
    >>> len(buckets), buckets[0].tolist()
    (17, [640, 1600])
    """
    chosen, validated, _ = resolve(profile, options, settings)
    return profile_bucket_list(chosen, validated)


def describe_profiles() -> list[dict]:
    """Every profile and version as plain values: name, trainer, commit reproduced, settings, defects.

    What ``aspectbucket profiles`` prints; newest versions first, in :data:`PROFILES` order.
    """
    rows = []
    for name in profile_names():
        if name in ALIASES:
            continue
        profile = get_profile(name)
        if name in VERSIONS and VERSIONS[name] is PROFILES.get(profile.name):
            continue  # name@version of a newest version: listed under its plain name
        rows.append(
            {
                "name": name,
                "trainer": profile.trainer,
                "version": profile.version,
                "source": profile.source,
                "newest": name in PROFILES,
                "aliases": [alias for alias, target in ALIASES.items() if target == name],
                "settings": [
                    {
                        "name": setting.name,
                        "type": str(setting.kind),
                        "default": list(setting.default) if isinstance(setting.default, tuple) else setting.default,
                        "choices": list(setting.choices),
                        "help": setting.help,
                    }
                    for setting in declared_settings(profile)
                ],
                "defects": profile.defects,
            }
        )
    return rows
