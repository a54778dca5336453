"""A trainer config made ready for one profile: settings it declares kept, the rest listed as ignored.

Readers keep every setting under the trainer's own name. :func:`settle` checks each against the profile
the file implies (its type and allowed values, as the trainer checks them) and derives the kohya-named
options (``Subset.given_options``) from the settings that have one, so that another profile chosen with
``--profile`` still sees the file's resolution. A setting no profile here models is listed, never dropped.
"""

from __future__ import annotations

import dataclasses

from aspectbucket.geometry.options import BucketOptions
from aspectbucket.profiles import Profile, SettingsError, get_profile
from aspectbucket.profiles.profile import declared_settings
from aspectbucket.scan.configs.common import ConfigError, Ignored, TrainerConfig


def settle(config: TrainerConfig, profile: str | Profile | None = None) -> TrainerConfig:
    """``config`` for ``profile`` (default: the profile the file implies).

    Raises :class:`ConfigError` for an unknown profile or a setting value the trainer refuses.
    """
    own = _profile_or_none(config.profile)
    try:
        chosen = get_profile(profile if profile is not None else config.profile)
    except ValueError as error:
        raise ConfigError(f"{config.source}: {error} (choose one with --profile)") from None
    same = own is not None and chosen.name == own.name
    declared = {setting.name: setting for setting in declared_settings(own)} if own else {}
    ignored = list(config.ignored)
    seen = {item.key for item in ignored}

    def keep(values: dict) -> tuple[dict, dict]:
        kept, options = {}, {}
        for name, value in values.items():
            setting = declared.get(name)
            if setting is None:
                why = f"the {config.profile} profile does not model it" if own else f"no {config.profile} profile here"
                _note(ignored, seen, config, name, why)
                continue
            try:
                parsed = setting.parse(value, config.profile)
            except SettingsError as error:
                raise ConfigError(f"{config.source}: {name} = {value!r} is not allowed: {error}") from None
            if setting.field is not None:
                options[setting.field] = getattr(setting.to_options(BucketOptions(), parsed), setting.field)
            if same:
                kept[name] = parsed
            elif setting.field is None:
                _note(ignored, seen, config, name, f"a {config.profile} setting; profile {chosen.name} has none")
        return kept, options

    settings, _ = keep(config.settings)
    subsets = []
    for subset in config.subsets:
        kept, options = keep(dict(subset.settings))
        subsets.append(
            dataclasses.replace(
                subset,
                settings=tuple(kept.items()),
                given_options=tuple({**options, **dict(subset.given_options)}.items()),
            )
        )
    return dataclasses.replace(config, profile=chosen.name, settings=settings, subsets=subsets, ignored=ignored)


def _profile_or_none(name: str) -> Profile | None:
    try:
        return get_profile(name)
    except ValueError:
        return None


def _note(ignored: list[Ignored], seen: set, config: TrainerConfig, key: str, reason: str) -> None:
    if key not in seen:
        seen.add(key)
        ignored.append(Ignored(config.source, key, reason))
