"""Side by side: what each trainer's bucketing does to the same images.

All profiles run at one resolution (the one given, else the dataset config's, else the default of
the profile the command runs as), so the table compares rules rather than each trainer's default size.
For every profile: how many buckets it fills, how much it crops (mean and worst), how many images it
enlarges and by how much, what its incomplete-batch rule drops or repeats at a batch size, and the
steps per epoch; then the images whose treatment differs most between profiles. Works on plain
arrays of sizes (:func:`compare_sizes`) or on a scanned dataset (:func:`compare_dataset`, which
places each kohya dataset block with its own options). Presentation-free: the CLI and the HTML
report render a :class:`Comparison`.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from aspectbucket.geometry.ledger import BatchingError, BatchingRule, BatchSettings, count_epoch
from aspectbucket.geometry.options import BucketOptions, OptionsError
from aspectbucket.geometry.placement import Placement, PlacementError
from aspectbucket.profiles.batching import batching_rule
from aspectbucket.profiles.profile import Profile, place_by_profile, trainer_settings
from aspectbucket.profiles.registry import PROFILES, get_profile, merge_options, resolve

#: A dropped or refused image counts as losing everything when treatments are compared.
_LOST_ALL = 1.0


@dataclass(frozen=True)
class ProfileSummary:
    """What one profile does to the whole dataset. ``refused`` is set (and the rest empty) when the
    trainer would refuse the options; ``errors`` counts images it cannot place, by reason."""

    profile: str
    trainer: str
    batch_policy: str
    defects: str
    refused: str = ""
    resolution: str = ""
    options: dict = field(default_factory=dict)
    trainer_settings: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    images: int = 0
    placed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    buckets_used: int = 0
    mean_crop: float = 0.0
    worst_crop: float = 0.0
    upscaled: int = 0
    mean_upscale: float = 1.0
    max_upscale: float = 1.0
    samples: int = 0
    dropped: int = 0
    padded: int = 0
    steps_per_epoch: int = 0
    batching: str = ""
    never_trained: int = 0
    batching_refused: str = ""


@dataclass(frozen=True)
class Treatment:
    """One image under one profile: its bucket, crop and scale, or why it has none."""

    bucket_width: int
    bucket_height: int
    crop: float
    scale: float
    error: str


@dataclass(frozen=True)
class ImageDifference:
    """An image that profiles treat very differently; ``spread`` is the range of crop loss across
    profiles (a dropped image counts as losing everything)."""

    index: int
    label: str
    width: int
    height: int
    spread: float
    treatments: dict[str, Treatment]


@dataclass(frozen=True)
class Comparison:
    """Every compared profile's summary, and the images they disagree on most.

    ``batch_sizes`` holds one batch size per dataset block (a kohya config may set several)."""

    batch_sizes: list[int]
    summaries: list[ProfileSummary]
    differences: list[ImageDifference]

    def to_dict(self) -> dict:
        """Plain JSON-ready values."""
        return dataclasses.asdict(self)


def compare_sizes(
    widths,
    heights,
    repeats=None,
    profiles=None,
    given: dict | None = None,
    batch_size: int = 1,
    top: int = 10,
    labels: list[str] | None = None,
    settings: Mapping | None = None,
) -> Comparison:
    """Compare profiles on images of the given sizes (each repeated ``repeats[i]`` times per epoch).

    ``profiles`` are names or :class:`Profile` objects (default: all); ``given`` holds options that
    override every profile's defaults (``{"resolution": (1024, 1024)}``) and ``settings`` trainer-native
    settings applied to each (a profile without one of those keys refuses them). A profile that
    refuses the options gets a summary with ``refused`` set; nothing raises for a bad image.
    """
    chosen = _profiles(profiles)
    _check_batch_size(batch_size)
    count = len(np.asarray(widths))
    repeats = np.ones(count, dtype=np.int64) if repeats is None else np.asarray(repeats, dtype=np.int64)
    blocks = np.zeros(count, dtype=np.int64)
    placements, summaries = {}, []
    for profile in chosen:
        try:
            resolved, options, warnings = resolve(profile, merge_options(profile, None, given), settings)
        except OptionsError as error:
            summaries.append(_refused(profile, str(error)))
            continue
        placement = place_by_profile(widths, heights, options, resolved)
        placements[profile.name] = placement
        summaries.append(summarise(resolved, placement, repeats, blocks, [batch_size], [options], warnings))
    labels = labels or [f"#{index}" for index in range(count)]
    return Comparison([batch_size], summaries, most_different(placements, labels, top))


def compare_dataset(
    scan_result,
    profiles=None,
    given: dict | None = None,
    batch_size: int | None = None,
    top: int = 10,
    respect_exif: bool = False,
    labels: list[str] | None = None,
    settings: Mapping | None = None,
) -> Comparison:
    """Compare profiles on a scanned dataset (see :func:`aspectbucket.scan.scanner`).

    Each kohya dataset block is placed with its own options (``given`` overrides them, then
    ``settings``, as in :func:`compare_sizes`) and batched at its own batch size (``batch_size`` when
    given, else the config's, else 1), as the report does; images the scan could not read keep their
    reason under every profile and are left out of the differences. ``labels`` name the images (aligned
    with the scan's paths; default: the paths as scanned).
    """
    from aspectbucket.plan import block_batch_sizes, plan_dataset

    chosen = _profiles(profiles)
    if batch_size is not None:
        _check_batch_size(batch_size)
    blocks = max((subset.dataset for subset in scan_result.subsets), default=0) + 1
    sizes = block_batch_sizes(scan_result.subsets, blocks, batch_size)
    readable = np.flatnonzero(np.array([not reason for reason in scan_result.error], dtype=bool))
    placements, summaries = {}, []
    for profile in chosen:
        try:
            plan = plan_dataset(scan_result, profile, given or {}, respect_exif, settings)
        except OptionsError as error:
            summaries.append(_refused(profile, str(error)))
            continue
        placements[profile.name] = plan.placement.take(readable)
        groups, group_sizes = scan_result.dataset_index, sizes
        if batching_rule(profile) is BatchingRule.SIMPLETUNER and scan_result.subsets:
            # Each SimpleTuner dataset (a subset here, with its own repeats) has buckets of its own.
            groups = scan_result.subset
            group_sizes = [sizes[subset.dataset] for subset in scan_result.subsets]
        summaries.append(
            summarise(
                profile,
                plan.placement,
                scan_result.repeats,
                groups,
                group_sizes,
                plan.options,
                plan.warnings,
                plan.errors,
            )
        )
    names = labels if labels is not None else [str(path) for path in scan_result.paths]
    differences = most_different(placements, [names[index] for index in readable], top)
    differences = [dataclasses.replace(item, index=int(readable[item.index])) for item in differences]
    return Comparison(sizes, summaries, differences)


def common_resolution(scan_result, given: dict, profile: Profile | str = "kohya") -> dict:
    """``given`` with a resolution every profile shares: unchanged when it names one or a dataset config
    sets one, else ``profile``'s default (each trainer's own default would compare different sizes)."""
    if "resolution" in given or any(
        "resolution" in dict(subset.given_options) for subset in scan_result.subsets if subset.enable_bucket
    ):
        return dict(given)
    return {**given, "resolution": get_profile(profile).defaults.resolution}


def summarise(
    profile: Profile,
    placement: Placement,
    repeats: np.ndarray,
    blocks: np.ndarray,
    batch_sizes: list[int],
    options: list[BucketOptions],
    warnings,
    reasons: list[str] | None = None,
) -> ProfileSummary:
    """One profile's summary from its placement; ``batch_sizes`` are per group of ``blocks`` (dataset
    blocks; SimpleTuner's datasets), ``options`` per dataset block.

    ``reasons`` is the per-image failure ('' = placed) when more than placement can fail (a scan);
    by default the placement's own error codes are counted.
    """
    if reasons is None:
        ok = placement.ok
        codes, counts = np.unique(placement.error[~ok], return_counts=True)
        pairs = zip(codes.tolist(), counts.tolist(), strict=True)
        errors = {PlacementError(code).reason: count for code, count in pairs}
    else:
        ok = np.array([not reason for reason in reasons], dtype=bool) & placement.ok
        errors = dict(Counter(reason for reason in reasons if reason))
    repeats, blocks = np.asarray(repeats, dtype=np.int64), np.asarray(blocks)
    rule = batching_rule(profile)
    # The scan's repeats count passes; SimpleTuner's own repeats count the extra ones.
    rule_repeats = np.maximum(repeats - 1, 0) if rule is BatchingRule.SIMPLETUNER else repeats
    dropped = padded = steps = buckets = never = 0
    refused = ""
    for block, block_batch in enumerate(batch_sizes):
        rows = ok & (blocks == block)
        image_bucket = _bucket_ids(placement, rows)
        try:
            epoch = count_epoch(image_bucket, rule_repeats, rule, BatchSettings(block_batch))
        except BatchingError as error:  # the trainer refuses this batching: say so instead of counting
            refused = refused or f"steps not counted: {error}"
            continue
        dropped, padded = dropped + int(epoch.dropped.sum()), padded + int(epoch.padded.sum())
        steps, buckets = steps + epoch.steps_per_epoch, buckets + int((epoch.images > 0).sum())
        never += int(((epoch.times_max == 0) & rows & (repeats > 0)).sum())
        refused = refused or epoch.refused
    single = options[0] if len(options) == 1 else None
    crop = placement.lost_fraction[ok]
    enlarged = ok & placement.upscaled
    scales = placement.scale[enlarged]
    return ProfileSummary(
        profile=profile.name,
        trainer=profile.trainer,
        batch_policy=str(profile.batch_policy),
        defects=profile.defects,
        resolution=", ".join(dict.fromkeys(f"{item.resolution[0]}x{item.resolution[1]}" for item in options)),
        options=dataclasses.asdict(single) if single is not None else {},
        trainer_settings=trainer_settings(profile, single) if single is not None else {},
        warnings=tuple(warnings),
        images=len(placement),
        placed=int(ok.sum()),
        errors=errors,
        buckets_used=buckets,
        mean_crop=float(crop.mean()) if len(crop) else 0.0,
        worst_crop=float(crop.max()) if len(crop) else 0.0,
        upscaled=int(enlarged.sum()),
        mean_upscale=float(scales.mean()) if len(scales) else 1.0,
        max_upscale=float(scales.max()) if len(scales) else 1.0,
        samples=int(np.where(ok, repeats, 0).sum()),
        dropped=dropped,
        padded=padded,
        steps_per_epoch=steps,
        batching=rule.value,
        never_trained=never,
        batching_refused=refused,
    )


def most_different(placements: dict[str, Placement], labels: list[str], top: int) -> list[ImageDifference]:
    """The ``top`` images with the widest range of crop loss across profiles (largest first)."""
    if len(placements) < 2 or top <= 0:
        return []
    names = list(placements)
    loss = np.stack([np.where(placements[name].ok, placements[name].lost_fraction, _LOST_ALL) for name in names])
    scale = np.stack([np.where(placements[name].ok, placements[name].scale, 1.0) for name in names])
    spread = loss.max(axis=0) - loss.min(axis=0)
    scale_spread = scale.max(axis=0) - scale.min(axis=0)
    order = np.lexsort((np.arange(len(spread)), -scale_spread, -spread))[:top]
    first = placements[names[0]]
    return [
        ImageDifference(
            index=int(row),
            label=labels[row],
            width=int(first.width[row]),
            height=int(first.height[row]),
            spread=float(spread[row]),
            treatments={name: _treatment(placements[name], int(row)) for name in names},
        )
        for row in order
    ]


def _treatment(placement: Placement, row: int) -> Treatment:
    return Treatment(
        bucket_width=int(placement.bucket_width[row]),
        bucket_height=int(placement.bucket_height[row]),
        crop=float(placement.lost_fraction[row]),
        scale=float(placement.scale[row]),
        error=PlacementError(int(placement.error[row])).reason,
    )


def _bucket_ids(placement: Placement, rows) -> np.ndarray:
    """Each image's bucket id among ``rows`` (one dataset block's; -1 elsewhere)."""
    ids = np.full(len(placement), -1, dtype=np.int64)
    if not rows.any():
        return ids
    # One int64 key per (width, height); sides stay far below 2**21.
    keys = (placement.bucket_width[rows].astype(np.int64) << 21) | placement.bucket_height[rows]
    _, inverse = np.unique(keys, return_inverse=True)
    ids[rows] = inverse.ravel()
    return ids


def _profiles(profiles) -> list[Profile]:
    if profiles is None:
        return list(PROFILES.values())
    if isinstance(profiles, str):
        profiles = [name.strip() for name in profiles.split(",") if name.strip()]
    chosen = [get_profile(name) for name in profiles]
    if not chosen:
        raise ValueError(f"no profiles to compare; choose from: {', '.join(PROFILES)}")
    return chosen


def _check_batch_size(batch_size: int) -> None:
    if batch_size <= 0:
        raise ValueError(f"batch size {batch_size} must be positive")


def _refused(profile: Profile, reason: str) -> ProfileSummary:
    return ProfileSummary(
        profile=profile.name,
        trainer=profile.trainer,
        batch_policy=str(profile.batch_policy),
        defects=profile.defects,
        refused=reason,
    )
