"""What every trainer-config reader shares: the result, the error, and checks that name file, key and value.

A reader turns one trainer's own config file into a :class:`TrainerConfig`: the profile it implies, the
settings under the trainer's own names, one :class:`~aspectbucket.scan.sources.Subset` per image folder and
the batch size. Every field the tool does not model is listed in ``ignored`` (file and key), so nothing is
dropped silently. A value the trainer would refuse is a :class:`ConfigError` whose one line names the file,
the key, the value and what is allowed.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from aspectbucket.scan.sources import DatasetError, Subset


class ConfigError(DatasetError):
    """A trainer config the tool cannot use: unreadable, or a value the trainer would refuse."""


@dataclass(frozen=True)
class Ignored:
    """One field of a config that is not modelled, and why."""

    file: Path
    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file.name}: {self.key} ignored ({self.reason})"


@dataclass
class TrainerConfig:
    """A trainer's own config, read: what the rest of the pipeline needs to plan its dataset.

    ``profile`` is the profile the file implies (``"musubi"``, ``"diffusion-pipe"``...). ``settings``
    are its dataset-wide settings under the trainer's own names; each subset's ``settings`` hold its
    own (dataset-wide ones included, the dataset's own winning). ``batch_size`` is ``None`` when the
    file does not say. ``warnings`` are what the trainer would print (folders it skips). ``processes``
    (GPUs training together) and ``grad_accum`` (gradient accumulation steps) are the file's, ``None``
    when it does not say: the epoch ledger counts optimizer steps with them.
    """

    profile: str
    settings: dict
    subsets: list[Subset]
    batch_size: int | None
    ignored: list[Ignored]
    source: Path
    warnings: list[str] = field(default_factory=list)
    processes: int | None = None
    grad_accum: int | None = None

    def notes(self) -> list[str]:
        """One line per ignored field, then the trainer's warnings."""
        return [str(item) for item in self.ignored] + list(self.warnings)


class Fields:
    """Checks values of one file as the trainer checks them; every error names the file and the key."""

    def __init__(self, file: Path):
        self.file = Path(file)
        self.ignored: list[Ignored] = []

    def error(self, key: str, value, allowed: str) -> ConfigError:
        """The one-line error for ``key = value``, saying what is allowed."""
        return ConfigError(f"{self.file}: {key} = {value!r} is not allowed: expected {allowed}")

    def ignore(self, key: str, reason: str) -> None:
        """List ``key`` as read but not modelled."""
        self.ignored.append(Ignored(self.file, key, reason))

    def integer(self, key: str, value, minimum: int | None = None) -> int:
        """A whole number (a bool is not one), at least ``minimum``."""
        whole = isinstance(value, int) and not isinstance(value, bool)
        if not whole and isinstance(value, float) and value.is_integer():
            value, whole = int(value), True
        if not whole or (minimum is not None and value < minimum):
            raise self.error(key, value, "a whole number" + (f" of at least {minimum}" if minimum is not None else ""))
        return value

    def count(self, key: str, value) -> int | None:
        """A count of at least 1 (processes, accumulation steps), or ``None`` when absent (``None`` or "").

        GUIs and JSON configs write some numbers as text ("2"), which their trainers convert; so is it here.
        """
        if value is None or value == "":
            return None
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        return self.integer(key, value, 1)

    def number(self, key: str, value, positive: bool = False) -> float:
        """A finite number, above zero when ``positive``."""
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.error(key, value, "a positive number" if positive else "a number")
        if positive and value <= 0:
            raise self.error(key, value, "a positive number")
        return value

    def boolean(self, key: str, value) -> bool:
        """``true`` or ``false`` (no other truthy values: the trainers' schemas refuse them)."""
        if not isinstance(value, bool):
            raise self.error(key, value, "true or false")
        return value

    def text(self, key: str, value) -> str:
        """A string."""
        if not isinstance(value, str):
            raise self.error(key, value, "text")
        return value

    def choice(self, key: str, value, allowed: tuple[str, ...]) -> str:
        """One of ``allowed``."""
        if value not in allowed:
            raise self.error(key, value, "one of " + ", ".join(allowed))
        return value

    def table(self, key: str, value) -> dict:
        """A table (TOML) or object (JSON, YAML)."""
        if not isinstance(value, dict):
            raise self.error(key, value, "a table of settings")
        return value

    def size(self, key: str, value) -> tuple[int, int]:
        """One side (a square) or ``[width, height]`` in whole pixels."""
        if isinstance(value, list | tuple) and len(value) == 2:
            return self.integer(key, value[0], 1), self.integer(key, value[1], 1)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value, value
        raise self.error(key, value, "one size or [width, height] in whole pixels")

    def folder(self, key: str, value, base: Path) -> Path:
        """A folder path; a relative one is taken relative to ``base`` (the config's folder)."""
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, value, "the path of a folder of images")
        path = self.path(key, value)
        return path if path.is_absolute() else base / path

    def path(self, key: str, value: str) -> Path:
        """``value`` as a path, ``~`` expanded; an error for a NUL character (no path holds one) or the
        home folder of a user this system does not know (``Path.expanduser`` raises there)."""
        if "\0" in value:
            raise self.error(key, value, "a path without NUL characters")
        try:
            return Path(value).expanduser()
        except RuntimeError:
            raise self.error(key, value, "a path whose ~user exists on this system") from None

    def unknown(self, where: str, values: dict, known, reason: str) -> None:
        """List every key of ``values`` not in ``known`` as ignored."""
        for key in values:
            if key not in known:
                self.ignore(f"{where}{key}", reason)


def read_text(path: Path) -> str:
    """The file's text; a :class:`ConfigError` if it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from None


def load_document(path: Path):
    """A TOML, JSON or YAML file as plain values, by its extension; a :class:`ConfigError` if malformed."""
    path = Path(path)
    text = read_text(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            return tomllib.loads(text)
        if suffix == ".json":
            return json.loads(text)
        if suffix in (".yaml", ".yml"):
            import yaml

            return yaml.safe_load(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path} is not valid JSON: {error}") from None
    except Exception as error:  # yaml.YAMLError, without importing yaml for TOML and JSON files
        if type(error).__module__.startswith("yaml"):
            raise ConfigError(f"{path} is not valid YAML: {str(error).splitlines()[0]}") from None
        raise
    raise ConfigError(f"{path}: not a .toml, .json or .yaml file")
