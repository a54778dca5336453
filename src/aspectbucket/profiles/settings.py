"""Trainer-native settings: each profile's own keys, types, defaults and checks.

A profile declares its settings under the trainer's own names (``quantization`` for OneTrainer,
``architecture`` for musubi-tuner, kohya's ``min_bucket_reso``...). :func:`apply_settings` checks a
mapping of them as the trainer would and returns the :class:`BucketOptions` and the profile variant
they select. Values may be native (Python, JSON, TOML) or text (``--set NAME=VALUE``).

Most settings set one :class:`BucketOptions` field (``field``). Settings that change the rule itself
(OneTrainer's several resolutions, diffusers' per-image ladder) are read by the profile's
``configure``, which returns the variant. A video frame count is one more setting of this kind: a
video profile declares it (``target_frames``, say) and its ``configure`` hands it to its rule.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from aspectbucket.geometry.options import BucketOptions, OptionsError, parse_resolution


class SettingsError(OptionsError):
    """A setting the trainer would refuse, or one it does not have; the message names the allowed ones."""


class Kind(StrEnum):
    """The type of a setting's value, as the trainer reads it."""

    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    TEXT = "text"
    SIZE = "size"  # one side (a square) or [width, height]: kohya's resolution "1024,1024"
    SIDE = "side"  # one side only: a square budget
    SIDES = "sides"  # one side or several, "512,768,1024" (OneTrainer's several resolutions)
    LIST = "list"  # a list as config files hold it (numbers, pairs...); text is read as JSON: [0.75, 1, 1.33]


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class Setting:
    """One setting under the trainer's own name: its type, default, allowed values and what it does.

    ``field`` is the :class:`BucketOptions` field it sets (``None``: the profile's ``configure`` reads
    it). ``default`` is the trainer's own default (``None``: unset, the options decide).
    """

    name: str
    kind: Kind
    default: object
    help: str
    field: str | None = None
    choices: tuple = ()
    minimum: float | None = None

    def parse(self, value, trainer: str) -> object:
        """The value in this setting's type; a bad one raises :class:`SettingsError` naming what is allowed."""
        try:
            parsed = _PARSERS[self.kind](value)
        except (TypeError, ValueError, OptionsError):
            raise SettingsError(f"{trainer}: {self.name}={value!r} is not {_EXPECTED[self.kind]}") from None
        if self.choices and parsed not in self.choices:
            allowed = ", ".join(map(str, self.choices))
            raise SettingsError(f"{trainer}: {self.name}={value!r} is not one of: {allowed}")
        numbers = parsed if isinstance(parsed, tuple) else (parsed,)
        if self.minimum is not None and any(number < self.minimum for number in numbers):
            raise SettingsError(f"{trainer}: {self.name}={value!r} must be at least {self.minimum:g}")
        return parsed

    def to_options(self, options: BucketOptions, value) -> BucketOptions:
        """``options`` with this setting's field set to ``value`` (unchanged if it has no field)."""
        if self.field is None:
            return options
        if self.field == "resolution" and self.kind is Kind.SIDE:
            value = (value, value)
        elif self.field == "resolution" and self.kind is Kind.SIDES:
            value = (value[0], value[0])
        return dataclasses.replace(options, **{self.field: value})

    def from_options(self, options: BucketOptions):
        """This setting's value as ``options`` hold it (its default if it has no field)."""
        if self.field is None:
            return self.default
        value = getattr(options, self.field)
        if self.field == "resolution" and self.kind is Kind.SIDE:
            return value[0]
        if self.field == "resolution" and self.kind is Kind.SIDES:
            return (value[0],)
        return value


def _int(value) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(value)
    return int(str(value).strip()) if isinstance(value, str) else int(value)


def _bool(value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise ValueError(value)


def _size(value) -> tuple[int, int]:
    if isinstance(value, list | tuple):
        if len(value) == 1:
            value = [value[0], value[0]]
        width, height = (_int(part) for part in value)
        return width, height
    return parse_resolution(str(value))


def _sides(value) -> tuple[int, ...]:
    parts = value if isinstance(value, list | tuple) else str(value).split(",")
    sides = tuple(_int(part) for part in parts if str(part).strip())
    if not sides:
        raise ValueError(value)
    return sides


def _list(value) -> tuple:
    """A list kept as written (JSON's ``1`` stays an integer, as the trainers see it), nested as tuples.

    Text is read as JSON; a single value is a list of one.
    """
    if isinstance(value, str):
        value = json.loads(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list | tuple):
        raise TypeError(value)
    return tuple(_list(item) if isinstance(item, list | tuple) else item for item in value)


def _text(value) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise TypeError(value)
    return str(value).strip()


_PARSERS = {
    Kind.INT: _int,
    Kind.FLOAT: lambda value: float(str(value).strip()) if isinstance(value, str) else float(value),
    Kind.BOOL: _bool,
    Kind.TEXT: _text,
    Kind.SIZE: _size,
    Kind.SIDE: _int,
    Kind.SIDES: _sides,
    Kind.LIST: _list,
}

_EXPECTED = {
    Kind.INT: "a whole number",
    Kind.FLOAT: "a number",
    Kind.BOOL: "true or false",
    Kind.TEXT: "text",
    Kind.SIZE: "SIZE or WIDTH,HEIGHT in whole pixels",
    Kind.SIDE: "one size in whole pixels",
    Kind.SIDES: "one size or several, comma-separated (512,768,1024)",
    Kind.LIST: "a list, as JSON ([0.75, 1.0, 1.33])",
}


def parse_assignments(pairs) -> dict[str, str]:
    """``["NAME=VALUE", ...]`` (``--set``) as a dict of text values; a pair without ``=`` is refused."""
    settings = {}
    for pair in pairs:
        name, equals, value = str(pair).partition("=")
        if not equals or not name.strip():
            raise SettingsError(f"--set {pair!r} is not NAME=VALUE")
        settings[name.strip()] = value.strip()
    return settings


def check_names(trainer: str, declared: tuple[Setting, ...], settings: Mapping) -> None:
    """Refuse keys the trainer does not have, naming the ones it has."""
    names = [setting.name for setting in declared]
    unknown = [name for name in settings if name not in names]
    if unknown:
        allowed = ", ".join(names) or "none"
        raise SettingsError(f"{trainer}: unknown setting {', '.join(map(repr, unknown))}; allowed: {allowed}")
