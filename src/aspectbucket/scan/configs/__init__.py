"""Trainers' own config files in: one reader per trainer, and :func:`detect` choosing the reader from the file.

Each reader turns a trainer's config into a :class:`TrainerConfig` (profile, trainer-native settings,
subsets, batch size, ignored fields); :func:`read_trainer_config` detects, reads and settles it for a
profile (:func:`~aspectbucket.scan.configs.settle.settle`). kohya dataset TOML stays with
:func:`aspectbucket.scan.sources.read_dataset`; :func:`read_source` takes either.
"""

from __future__ import annotations

from pathlib import Path

from aspectbucket.profiles import Profile
from aspectbucket.scan.configs.common import ConfigError, Ignored, TrainerConfig, load_document
from aspectbucket.scan.configs.musubi import is_musubi_document, read_musubi
from aspectbucket.scan.configs.settle import settle
from aspectbucket.scan.sources import read_dataset

#: Reader of each trainer, by the name :func:`detect` returns.
READERS = {
    "musubi": read_musubi,
}


def detect(path: Path) -> str | None:
    """The trainer whose config ``path`` is (a key of :data:`READERS`), from its extension and top-level keys.

    ``None`` for a folder, a kohya dataset TOML (``[[datasets.subsets]]``) or anything else
    :func:`aspectbucket.scan.sources.read_dataset` reads.
    """
    path = Path(path)
    if not path.is_file():
        return None
    if path.suffix.lower() not in (".toml", ".json"):
        return None
    document = load_document(path)
    if is_musubi_document(document):
        return "musubi"
    return None


def read_trainer_config(path: Path, profile: str | Profile | None = None, trainer: str | None = None) -> TrainerConfig:
    """Read a trainer's own config (``trainer``: detected when not given) and settle it for ``profile``.

    Raises :class:`ConfigError` (one line: file, key, value, what is allowed) for a value the trainer
    refuses, or when the file is no trainer config this tool reads.
    """
    path = Path(path)
    trainer = trainer or detect(path)
    if trainer not in READERS:
        raise ConfigError(f"{path}: not a trainer config this tool reads ({', '.join(READERS)})")
    return settle(READERS[trainer](path), profile)


def read_source(source: Path, profile: str | Profile | None = None) -> tuple[list, list[str], TrainerConfig | None]:
    """``(subsets, warnings, config)`` of any dataset source: a trainer's own config (``config`` set), or a
    folder or kohya dataset TOML as :func:`~aspectbucket.scan.sources.read_dataset` reads it (``None``)."""
    if detect(source) is None:
        subsets, warnings = read_dataset(Path(source))
        return subsets, warnings, None
    config = read_trainer_config(source, profile)
    return config.subsets, config.warnings, config


__all__ = [
    "READERS",
    "ConfigError",
    "Ignored",
    "TrainerConfig",
    "detect",
    "read_source",
    "read_trainer_config",
    "settle",
]
