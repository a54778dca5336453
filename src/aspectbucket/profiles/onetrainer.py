"""The ``onetrainer`` profile: OneTrainer, whose data pipeline is Nerogar's mgds.

Rules read from Nerogar/mgds@0ad64a64 ``src/mgds/pipelineModules/AspectBucketing.py``: the nine
height:width ratios 1..4 and their inverses scaled to ``target**2`` and quantized with Python
``round`` (``__create_automatic_buckets``; deduplicated through a ``set``), nearest by
``|bucket h/w - h/w|`` (``bucket_for_aspect``, numpy ``argmin``) and the covering resize that sets
the matched side to the bucket side and rounds the other (``get_item``). The crop offset it reports
is the real one. That incomplete batches are dropped (``AspectBatchSorting``) is taken from
spec/trainers.md; that module was not in the searchable snapshot.

Several resolutions (``target_resolution`` "512,768,1024") follow Nerogar/mgds@3a6994ad
``AspectBucketing.get_item``: each image draws its target (see
:mod:`aspectbucket.geometry.several_resolutions`; the i-th size given is mgds item i), then takes the
nearest bucket of that target's list. Placement shows the first epoch's draw, which is every epoch's
with latent caching (OneTrainer's default, the ``latent_caching`` setting); without it mgds draws again
each epoch (``variation`` is the epoch), and reports say so beside each image's ``target_resolution``.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from aspectbucket.geometry.batches import BatchPolicy
from aspectbucket.geometry.buckets import onetrainer_list
from aspectbucket.geometry.nearest import Metric, TieBreak
from aspectbucket.geometry.options import BucketOptions, OptionsError, check_bounds
from aspectbucket.geometry.resize import CoverRounding
from aspectbucket.geometry.several_resolutions import TargetDraw, onetrainer_several_resolutions
from aspectbucket.profiles.profile import Profile, SdxlCoordinates
from aspectbucket.profiles.settings import Kind, Setting
from aspectbucket.profiles.validation import square_budget

_square_target = square_budget("OneTrainer", "the target resolution")


def validate_onetrainer(options: BucketOptions) -> tuple[BucketOptions, list[str]]:
    """One square target and a positive quantization, no no-upscale mode; and a quantization small
    enough that no bucket side rounds to 0 (the 4:1 buckets' short side is half the target; mgds
    would then divide by a zero side)."""
    options, warnings = _square_target(options)
    if (onetrainer_list(options) <= 0).any():
        raise OptionsError(
            f"OneTrainer: quantization {options.bucket_reso_steps} rounds the short side of the 4:1 buckets "
            f"(half of {options.resolution[0]}) to 0 pixels"
        )
    return options, warnings


def configure_onetrainer(profile: Profile, values: dict, options: BucketOptions):
    """Several ``target_resolution`` values: each image draws one (the budget shown is the first), once
    with ``latent_caching``, else every epoch; the draw is kept on the profile for the reports."""
    targets = values["target_resolution"]
    if len(targets) == 1:
        return profile, options
    for target in targets:  # the options carry the first target only: check every one with its bounds
        each = replace(options, resolution=(target, target))
        check_bounds(each)
        validate_onetrainer(each)
    rule = partial(onetrainer_several_resolutions, targets=targets)
    draw = TargetDraw(tuple(targets), bool(values["latent_caching"]))
    variant = replace(profile, per_row=rule, bucket_list=None, target_draw=draw)
    return variant, replace(options, resolution=(targets[0], targets[0]))


ONETRAINER = Profile(
    name="onetrainer",
    trainer="OneTrainer (mgds AspectBucketing)",
    source="Nerogar/mgds@3a6994ad src/mgds/pipelineModules/AspectBucketing.py:AspectBucketing.get_item",
    bucket_list=onetrainer_list,
    metric=Metric.HEIGHT_OVER_WIDTH,
    tie_break=TieBreak.FIRST,
    random_crop=False,
    sdxl_coordinates=SdxlCoordinates.REAL,
    batch_policy=BatchPolicy.DROP,
    defaults=BucketOptions(resolution=(1024, 1024), bucket_reso_steps=64),
    validate=validate_onetrainer,
    resize_rounding=CoverRounding.MATCHED_HALF_EVEN,
    settings=(
        Setting(
            "target_resolution",
            Kind.SIDES,
            (1024,),
            "one side, or several (512,768,1024): each image draws one",
            field="resolution",
            minimum=1,
        ),
        Setting(
            "quantization",
            Kind.INT,
            64,
            "bucket sides are rounded to multiples of it",
            field="bucket_reso_steps",
            minimum=1,
        ),
        Setting(
            "latent_caching",
            Kind.BOOL,
            True,
            "with several target resolutions: on, each image's draw is made once; off, every epoch",
        ),
    ),
    configure=configure_onetrainer,
    version="3a6994ad",
    defects="always upscales small images; quantization can exceed the area budget (576x1920 at 1024); "
    "drops the remainder of every bucket each epoch; h/w distance is not rotation-symmetric",
)
