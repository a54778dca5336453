"""Option checks shared by the trainer profiles (each profile's ``validate`` composes them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from aspectbucket.geometry.options import BucketOptions, OptionsError


def check_positive(options: BucketOptions, trainer: str) -> None:
    """The budget and the step must be positive whole pixels."""
    width, height = options.resolution
    if width <= 0 or height <= 0:
        raise OptionsError(f"{trainer}: resolution {width},{height} must be positive")
    if options.bucket_reso_steps <= 0:
        raise OptionsError(f"{trainer}: step {options.bucket_reso_steps} must be a positive number of pixels")


def check_square(options: BucketOptions, trainer: str, name: str) -> None:
    """Trainers whose resolution is one number (a square budget) refuse ``W,H``."""
    width, height = options.resolution
    if width != height:
        raise OptionsError(f"{trainer}: {name} is one size (for example 1024), not {width},{height}")


def drop_no_upscale(options: BucketOptions, trainer: str, warnings: list[str]) -> BucketOptions:
    """Trainers without a no-upscale switch: turn it off and say so."""
    if not options.bucket_no_upscale:
        return options
    warnings.append(f"{trainer} has no no-upscale option: bucket_no_upscale is ignored")
    return replace(options, bucket_no_upscale=False)


def square_budget(trainer: str, name: str) -> Callable[[BucketOptions], tuple[BucketOptions, list[str]]]:
    """The ``validate`` of trainers with one square size, a positive step and no no-upscale switch."""

    def validate(options: BucketOptions) -> tuple[BucketOptions, list[str]]:
        check_positive(options, trainer)
        check_square(options, trainer, name)
        warnings: list[str] = []
        return drop_no_upscale(options, trainer, warnings), warnings

    validate.__doc__ = f"{trainer}: one square {name}, a positive step; there is no no-upscale mode."
    return validate
