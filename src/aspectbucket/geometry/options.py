"""Bucketing options, validated once, the way the kohya training scripts check them.

Every later stage trusts a :class:`BucketOptions` it is handed; only :func:`validate_options`
decides whether a combination is allowed. The names are sd-scripts' own (``--resolution``,
``--min_bucket_reso``, ...) so that a user can copy them from a training command line.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


class OptionsError(ValueError):
    """A bucketing option or combination of options that a trainer would refuse."""


#: The largest side, in pixels, that any size option may name. Far above what any trainer buckets
#: (their largest sides are a few thousand pixels), and small enough that a bucket list, a
#: placement's arithmetic (areas stay below 2**31) and ``explain`` stay quick and exact.
MAX_SIDE = 1 << 15

#: The largest count (repeats, batch size) accepted: images times repeats, summed over any dataset,
#: then stays far inside int64.
MAX_COUNT = (1 << 31) - 1


def check_bounds(options: BucketOptions) -> None:
    """Refuse, before any work, option values no trainer can use and the arithmetic cannot hold:
    non-integers, sizes outside 1..:data:`MAX_SIDE` (``min_bucket_reso`` may be 0), and a step larger
    than the resolution's smaller side (no bucket fits; several trainers divide by zero there)."""
    width, height = options.resolution
    sizes = {
        "resolution width": width,
        "resolution height": height,
        "min_bucket_reso": options.min_bucket_reso,
        "max_bucket_reso": options.max_bucket_reso,
        "bucket_reso_steps": options.bucket_reso_steps,
    }
    for name, value in sizes.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise OptionsError(f"{name} {value!r} must be a whole number of pixels")
        lowest = 0 if name == "min_bucket_reso" else 1  # 0: no minimum, where a trainer allows it (SimpleTuner)
        if not lowest <= value <= MAX_SIDE:
            raise OptionsError(f"{name} {value} must be from {lowest} to {MAX_SIDE} pixels")
    if not isinstance(options.bucket_no_upscale, bool):
        raise OptionsError(f"bucket_no_upscale {options.bucket_no_upscale!r} must be true or false")
    if options.bucket_reso_steps > min(width, height):
        raise OptionsError(
            f"bucket_reso_steps {options.bucket_reso_steps} is larger than the smaller side of resolution "
            f"{width},{height}: no bucket fits"
        )


def check_count(value, name: str) -> int:
    """``value`` when it is a whole number from 1 to :data:`MAX_COUNT`; else :class:`OptionsError`."""
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_COUNT:
        raise OptionsError(f"{name} {value!r} must be a whole number from 1 to {MAX_COUNT}")
    return value


@dataclass(frozen=True)
class BucketOptions:
    """What decides the buckets: area budget, side limits, step, and whether images may grow.

    ``resolution`` is ``(width, height)``; its product is the area budget. Profiles that name
    these differently (OneTrainer's quantization, for example) map their names onto these fields.
    """

    resolution: tuple[int, int] = (512, 512)
    min_bucket_reso: int = 256
    max_bucket_reso: int = 1024
    bucket_reso_steps: int = 64
    bucket_no_upscale: bool = False

    def __post_init__(self):
        # A single size means a square, as on sd-scripts' command line; a list (from JSON or TOML)
        # becomes a tuple, so options stay hashable and compare equal however they were written.
        resolution = self.resolution
        resolution = (resolution, resolution) if isinstance(resolution, int) else tuple(resolution)
        object.__setattr__(self, "resolution", resolution)

    @property
    def max_area(self) -> int:
        """The area budget ``W * H`` in pixels."""
        return self.resolution[0] * self.resolution[1]


def parse_resolution(text: str) -> tuple[int, int]:
    """Parse ``512`` (square) or ``512,768`` (width, height), as ``--resolution`` accepts them."""
    parts = [part.strip() for part in str(text).replace("x", ",").split(",")]
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        raise OptionsError(f"resolution {text!r} is not 'SIZE' or 'WIDTH,HEIGHT' in whole pixels")
    if any(len(part) > 9 for part in parts):
        raise OptionsError(f"resolution {text!r} must be at most {MAX_SIDE} pixels a side")
    width, height = (int(part) for part in parts)
    if width <= 0 or height <= 0:
        raise OptionsError(f"resolution {text!r} must be positive")
    return width, height


def validate_options(options: BucketOptions) -> tuple[BucketOptions, list[str]]:
    """Check ``options`` as sd-scripts does and return the options it would really use.

    The training scripts round ``min_bucket_reso`` down and ``max_bucket_reso`` up to multiples
    of the step, warning as they do so; then they assert ``min <= min(W, H)`` and
    ``max(W, H) <= max``. The warnings are returned so the caller can show them.
    """
    warnings: list[str] = []
    width, height = options.resolution
    step = options.bucket_reso_steps
    if width <= 0 or height <= 0:
        raise OptionsError(f"resolution {width},{height} must be positive")
    if step <= 0:
        raise OptionsError(f"bucket_reso_steps {step} must be a positive number of pixels")
    if options.min_bucket_reso <= 0:
        raise OptionsError(f"min_bucket_reso {options.min_bucket_reso} must be positive")
    minimum = options.min_bucket_reso
    maximum = options.max_bucket_reso
    if minimum % step:
        rounded = minimum - minimum % step
        warnings.append(
            f"min_bucket_reso {minimum} is not a multiple of bucket_reso_steps {step}: rounded down to {rounded}"
        )
        minimum = rounded
    if maximum % step:
        rounded = maximum + step - maximum % step
        warnings.append(
            f"max_bucket_reso {maximum} is not a multiple of bucket_reso_steps {step}: rounded up to {rounded}"
        )
        maximum = rounded
    if minimum <= 0:
        raise OptionsError(f"min_bucket_reso rounds down to {minimum}; it must be at least one step ({step})")
    if min(width, height) < minimum:
        raise OptionsError(f"min_bucket_reso {minimum} is larger than the smaller side of resolution {width},{height}")
    if max(width, height) > maximum:
        raise OptionsError(f"max_bucket_reso {maximum} is smaller than the larger side of resolution {width},{height}")
    return replace(options, min_bucket_reso=minimum, max_bucket_reso=maximum), warnings
