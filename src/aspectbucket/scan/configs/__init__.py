"""Trainers' own config files in: one reader per trainer, and :func:`detect` choosing the reader from the file.

Each reader turns a trainer's config into a :class:`TrainerConfig` (profile, trainer-native settings,
subsets, batch size, ignored fields); :func:`read_trainer_config` detects, reads and settles it for a
profile (:func:`~aspectbucket.scan.configs.settle.settle`). A pasted command line (diffusers' script flags,
kohya's ``--kohya-args``) goes through :func:`read_command_line`. kohya dataset TOML stays with
:func:`aspectbucket.scan.sources.read_dataset`; :func:`read_source` takes either.

>>> from aspectbucket.scan.configs import read_command_line
>>> config = read_command_line("train_network.py --train_data_dir=. --resolution=768,768 --enable_bucket")
>>> config.profile, config.settings
('kohya', {'resolution': (768, 768)})
"""

from __future__ import annotations

from pathlib import Path

from aspectbucket.profiles import Profile
from aspectbucket.scan.configs import ai_toolkit, diffusion_pipe, kohya, musubi, onetrainer, simpletuner
from aspectbucket.scan.configs.command_line import parse_command_line, read_diffusers_flags, trainer_of
from aspectbucket.scan.configs.common import ConfigError, Ignored, TrainerConfig, load_document, read_text
from aspectbucket.scan.configs.settle import settle
from aspectbucket.scan.sources import Subset, read_dataset

#: Reader of each kind of file, by the name :func:`detect` returns.
READERS = {
    "musubi": musubi.read_musubi,
    "diffusion-pipe": diffusion_pipe.read_diffusion_pipe,
    "ai-toolkit": ai_toolkit.read_ai_toolkit,
    "simpletuner": simpletuner.read_simpletuner,
    "onetrainer": onetrainer.read_onetrainer,
    "kohya-gui": kohya.read_kohya_gui,
    "command-line": lambda path: _command_line(read_text(path), Path(path)),
}

#: Extensions of a saved command line (a shell or batch script, or text).
COMMAND_LINE_SUFFIXES = (".sh", ".bat", ".cmd", ".ps1", ".txt")

#: Which reader takes a parsed document, first match wins (a kohya dataset TOML matches none).
_DOCUMENT_TESTS = (
    ("musubi", musubi.is_musubi_document),
    ("diffusion-pipe", diffusion_pipe.is_dataset_document),
    ("diffusion-pipe", diffusion_pipe.is_training_document),
    ("ai-toolkit", ai_toolkit.is_ai_toolkit_document),
    ("simpletuner", simpletuner.is_backends_document),
    ("simpletuner", simpletuner.is_training_document),
    ("onetrainer", onetrainer.is_concepts_document),
    ("onetrainer", onetrainer.is_training_document),
    ("kohya-gui", kohya.is_gui_document),
)


def detect(path: Path) -> str | None:
    """Which reader of :data:`READERS` takes ``path``, from its extension and top-level keys.

    ``None`` for a folder, a kohya dataset TOML (``[[datasets.subsets]]``) or anything else
    :func:`aspectbucket.scan.sources.read_dataset` reads. Raises :class:`ConfigError` for a config
    file that cannot be parsed.
    """
    path = Path(path)
    if not path.is_file():
        return None
    suffix = path.suffix.lower()
    if suffix in COMMAND_LINE_SUFFIXES:
        return "command-line" if "--" in read_text(path) else None
    if suffix not in (".toml", ".json", ".yaml", ".yml"):
        return None
    document = load_document(path)
    return next((name for name, test in _DOCUMENT_TESTS if test(document)), None)


def read_trainer_config(path: Path, profile: str | Profile | None = None, trainer: str | None = None) -> TrainerConfig:
    """Read a trainer's own config (``trainer``: a key of :data:`READERS`, detected when not given) and
    settle it for ``profile`` (default: the trainer's).

    Raises :class:`ConfigError` (one line: file, key, value, what is allowed) for a value the trainer
    refuses, or when the file is no trainer config this tool reads.
    """
    path = Path(path)
    trainer = trainer or detect(path)
    if trainer not in READERS:
        raise ConfigError(f"{path}: not a trainer config this tool reads")
    return settle(READERS[trainer](path), profile)


def read_command_line(text: str, profile: str | Profile | None = None) -> TrainerConfig:
    """A pasted training command line (kohya sd-scripts or a diffusers script), settled for ``profile``."""
    return settle(_command_line(text, Path("command line")), profile)


def _command_line(text: str, source: Path) -> TrainerConfig:
    script, flags = parse_command_line(text)
    if trainer_of(script, flags) == "diffusers":
        return read_diffusers_flags(flags, source)
    if isinstance(flags.get("config_file"), str):
        flags = {**kohya.gui_values(Path(flags.pop("config_file"))), **flags}  # the command line's win
    return kohya.read_kohya_args(flags, source)


def read_source(
    source: Path, profile: str | Profile | None = None
) -> tuple[list[Subset], list[str], TrainerConfig | None]:
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
    "read_command_line",
    "read_source",
    "read_trainer_config",
    "settle",
]
