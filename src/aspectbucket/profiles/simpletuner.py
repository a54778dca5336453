"""The ``simpletuner`` profile: SimpleTuner 4.10.1, one bucket per rounded ratio of each image's target size.

Reproduces SimpleTuner 4.10.1 (PyPI wheel; the bucketing files match bghira/SimpleTuner@bc8e6ab7):
``simpletuner/helpers/image_manipulation/training_sample.py:TrainingSample.calculate_target_size``,
``simpletuner/helpers/multiaspect/image.py:MultiaspectImage.calculate_new_size_by_pixel_edge`` and
``calculate_new_size_by_pixel_area``, ``simpletuner/helpers/image_manipulation/cropping.py`` and
``simpletuner/helpers/metadata/backends/base.py:MetadataBackend.meets_resolution_requirements``; the rule is
:mod:`aspectbucket.geometry.simpletuner`. The profile's default is the trainer's: ``resolution_type``
``pixel_area`` at 1024, ``aspect_bucket_alignment`` 64, ``aspect_bucket_rounding`` 2, no crop (the
intermediary size is trimmed to the target at a random offset; placements show the centred trim),
``minimum_image_size`` off (0 here). :func:`simpletuner_profile` takes the dataset's other settings under
SimpleTuner's names. Images are taken in the order given, which decides the area mode's aspect->size map;
the trainer itself discovers files in an arbitrary order over worker threads. EXIF orientation is applied.
Its epoch (refusals, per-GPU split and padding) is :func:`aspectbucket.geometry.simpletuner_batches.simpletuner_epoch`;
``batch_policy`` ``PAD`` is the single-GPU, large-enough-bucket case of it.
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import partial

import numpy as np

from aspectbucket.geometry.batches import BatchPolicy
from aspectbucket.geometry.options import BucketOptions, OptionsError
from aspectbucket.geometry.simpletuner import SimpleTunerSettings, from_config, simpletuner_prepare
from aspectbucket.profiles.profile import CropAnchor, ExifHandling, Profile, SdxlCoordinates
from aspectbucket.profiles.settings import Kind, Setting
from aspectbucket.profiles.validation import check_positive, drop_no_upscale

SOURCE = (
    "simpletuner==4.10.1 (files as bghira/SimpleTuner@bc8e6ab7) "
    "simpletuner/helpers/image_manipulation/training_sample.py:TrainingSample.calculate_target_size, "
    "simpletuner/helpers/multiaspect/image.py:MultiaspectImage.calculate_new_size_by_pixel_area"
)

RESOLUTION_TYPES = ("pixel", "area", "pixel_area")
CROP_ASPECTS = ("square", "preserve", "closest", "random")
CROP_STYLES = ("random", "center", "centre", "corner")


def validate_simpletuner(options: BucketOptions) -> tuple[BucketOptions, list[str]]:
    """A positive square resolution and alignment; ``minimum_image_size`` zero (off) or positive."""
    check_positive(options, "SimpleTuner")
    width, height = options.resolution
    if width != height:
        raise OptionsError(f"SimpleTuner: resolution is one size (for example 1024), not {width},{height}")
    if options.min_bucket_reso < 0:
        raise OptionsError(f"SimpleTuner: minimum_image_size {options.min_bucket_reso} must be 0 (off) or positive")
    warnings: list[str] = []
    return drop_no_upscale(options, "SimpleTuner", warnings), warnings


def settings_from_options(options: BucketOptions) -> SimpleTunerSettings:
    """The ``pixel_area`` dataset the options describe: ``resolution``, alignment and ``minimum_image_size``."""
    return from_config(
        "pixel_area",
        options.resolution[0],
        aspect_bucket_alignment=options.bucket_reso_steps,
        minimum_image_size=options.min_bucket_reso or None,
    )


def simpletuner_rule(widths, heights, options: BucketOptions, settings: SimpleTunerSettings | None = None):
    """The profile's per-image rule: ``(target_w, target_h, errors, intermediary_w, intermediary_h)``.

    Without ``settings`` the options give a ``pixel_area`` dataset; with them (from :func:`simpletuner_profile`)
    they are used as they are and the options are not read: the settings hold the resolution too (in
    megapixels for ``area``, which whole-pixel options cannot hold).
    """
    settings = settings_from_options(options) if settings is None else settings
    # A placement shows the centred trim: the random crop offsets are not drawn; nor does it read the keys.
    prepared = simpletuner_prepare(np.asarray(widths), np.asarray(heights), settings, crops=False, keys=False)
    return (
        prepared.target_width,
        prepared.target_height,
        prepared.error,
        prepared.resized_width,
        prepared.resized_height,
    )


def configure_simpletuner(profile: Profile, values: dict, options: BucketOptions):
    """SimpleTuner's dataset settings choose the variant; unset sizes come from the options (as ``pixel_area``)."""
    rule_settings = {setting.name: values[setting.name] for setting in _SETTINGS if setting.field is None}
    if all(rule_settings[setting.name] == setting.default for setting in _SETTINGS if setting.field is None):
        return profile, options
    resolution_type = rule_settings.pop("resolution_type")
    resolution = rule_settings.pop("resolution")
    minimum = rule_settings.pop("minimum_image_size")
    side = options.resolution[0]
    if resolution is None:
        resolution = side * side / 1e6 if resolution_type == "area" else side
    elif resolution_type != "area" and float(resolution).is_integer():
        resolution = int(resolution)
    if minimum is None and options.min_bucket_reso:
        minimum = options.min_bucket_reso**2 / 1e6 if resolution_type == "area" else options.min_bucket_reso
    variant = simpletuner_profile(
        resolution=resolution,
        resolution_type=resolution_type,
        aspect_bucket_alignment=options.bucket_reso_steps,
        minimum_image_size=minimum,
        crop_aspect_buckets=rule_settings.pop("crop_aspect_buckets") or (),
        **rule_settings,
    )
    return variant, replace(options, resolution=variant.defaults.resolution)


_SETTINGS = (
    Setting(
        "resolution",
        Kind.FLOAT,
        None,
        "pixels (pixel, pixel_area) or megapixels (area); unset: the options' resolution",
        minimum=0,
    ),
    Setting("resolution_type", Kind.TEXT, "pixel_area", "how resolution is read", choices=RESOLUTION_TYPES),
    Setting(
        "aspect_bucket_alignment",
        Kind.INT,
        64,
        "bucket sides are rounded to multiples of it",
        field="bucket_reso_steps",
        minimum=1,
    ),
    Setting("aspect_bucket_rounding", Kind.INT, 2, "decimals of the ratio key", minimum=0),
    Setting("minimum_image_size", Kind.FLOAT, None, "smaller images are skipped (a side; an area except for pixel)"),
    Setting("maximum_image_size", Kind.FLOAT, None, "with target_downsample_size: crop from a downsampled canvas"),
    Setting("target_downsample_size", Kind.FLOAT, None, "the size of that canvas"),
    Setting("crop", Kind.BOOL, False, "crop to crop_aspect (else the intermediary is trimmed to the target)"),
    Setting("crop_aspect", Kind.TEXT, "square", "the cropped ratio", choices=CROP_ASPECTS),
    Setting("crop_style", Kind.TEXT, "random", "where the crop sits", choices=CROP_STYLES),
    Setting("crop_aspect_buckets", Kind.LIST, None, "ratios for crop_aspect closest or random ([0.75, 1.0, 1.33])"),
)


SIMPLETUNER = Profile(
    name="simpletuner",
    trainer="SimpleTuner 4.10.1",
    source=SOURCE,
    bucket_list=None,
    per_image=simpletuner_rule,
    random_crop=True,
    sdxl_coordinates=SdxlCoordinates.REAL,
    batch_policy=BatchPolicy.PAD,
    exif=ExifHandling.APPLY,
    defaults=BucketOptions(resolution=(1024, 1024), min_bucket_reso=0, bucket_reso_steps=64),
    validate=validate_simpletuner,
    whole_dataset=True,
    option_names=(
        ("resolution", "resolution"),
        ("aspect_bucket_alignment", "bucket_reso_steps"),
        ("minimum_image_size", "min_bucket_reso"),
    ),
    settings=_SETTINGS,
    configure=configure_simpletuner,
    version="bc8e6ab7",
    defects="one bucket per 0.01 of ratio: many small buckets, so many padded batches (repeated images); "
    "no cap on the long side in pixel mode (3000x100 trains at 30720x1024); in area mode the first size "
    "computed for a ratio key is reused for later images, so sizes depend on file order; a ratio that "
    "rounds to 0 crashes the image's preparation and it is skipped, and so does an integer in "
    "crop_aspect_buckets (1 instead of 1.0) for every image that picks it; small images are enlarged unless "
    "minimum_image_size skips them",
)


def simpletuner_profile(
    resolution: float = 1024,
    resolution_type: str = "pixel_area",
    crop: bool = False,
    crop_aspect: str = "square",
    crop_style: str = "random",
    crop_aspect_buckets=(),
    aspect_bucket_rounding: int = 2,
    aspect_bucket_alignment: int = 64,
    minimum_image_size: float | None = None,
    maximum_image_size: float | None = None,
    target_downsample_size: float | None = None,
) -> Profile:
    """The profile for a SimpleTuner dataset with these settings (its own names, defaults and checks).

    ``resolution`` and the three sizes are pixels for ``pixel`` and ``pixel_area``, megapixels for ``area``.
    Raises :class:`~aspectbucket.geometry.options.OptionsError` naming the setting for values SimpleTuner
    refuses.

    >>> from aspectbucket import place
    >>> p = place([3000, 100], [2000, 3000], profile=simpletuner_profile(resolution=1024, resolution_type="pixel"))
    >>> p.bucket_width.tolist(), p.bucket_height.tolist()  # the short side is 1024, the long one is not capped
    ([1536, 1024], [1024, 34112])
    """
    _check_choice("resolution_type", resolution_type, RESOLUTION_TYPES)
    _check_choice("crop_aspect", crop_aspect, CROP_ASPECTS)
    _check_choice("crop_style", crop_style, CROP_STYLES)
    if crop and crop_aspect in ("closest", "random") and not crop_aspect_buckets:
        raise OptionsError(f"SimpleTuner: crop_aspect {crop_aspect!r} needs crop_aspect_buckets (a list of ratios)")
    if any(not isinstance(bucket, int | float) or bucket <= 0 for bucket in crop_aspect_buckets):
        raise OptionsError(f"SimpleTuner: crop_aspect_buckets {list(crop_aspect_buckets)} must be positive ratios")
    if not (isinstance(resolution, int | float) and resolution > 0):
        raise OptionsError(f"SimpleTuner: resolution {resolution!r} must be a positive number")
    if resolution_type == "area" and minimum_image_size is not None and minimum_image_size > 5:
        raise OptionsError(f"SimpleTuner: minimum_image_size {minimum_image_size} is megapixels with area: under 5")
    if aspect_bucket_rounding < 0 or aspect_bucket_alignment <= 0:
        raise OptionsError("SimpleTuner: aspect_bucket_rounding must be >= 0 and aspect_bucket_alignment positive")
    settings = from_config(
        resolution_type,
        resolution,
        crop=crop,
        crop_aspect=crop_aspect,
        crop_style=crop_style,
        crop_aspect_buckets=tuple(crop_aspect_buckets),
        aspect_bucket_rounding=aspect_bucket_rounding,
        aspect_bucket_alignment=aspect_bucket_alignment,
        minimum_image_size=minimum_image_size,
        maximum_image_size=maximum_image_size,
        target_downsample_size=target_downsample_size,
    )
    side = int(resolution) if resolution_type != "area" else math.isqrt(int(resolution * 1e6))
    defaults = BucketOptions(resolution=(side, side), min_bucket_reso=0, bucket_reso_steps=aspect_bucket_alignment)
    # The corner cropper keeps the top-left window; the placement's trims say so (random ones show the centre).
    anchor = CropAnchor.START if crop_style == "corner" else CropAnchor.CENTER
    return replace(
        SIMPLETUNER,
        per_image=partial(simpletuner_rule, settings=settings),
        defaults=defaults,
        random_crop=crop_style == "random",
        crop_anchor=anchor,
    )


def _check_choice(name: str, value, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise OptionsError(f"SimpleTuner: {name} {value!r} is not one of {', '.join(allowed)}")
