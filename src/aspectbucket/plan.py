"""Dataset plans: a scan placed by a profile, one kohya dataset block at a time.

Each block has its own bucket manager in sd-scripts (and so its own options and bucket numbers);
explicitly given options override a block's config values, which override the profile's defaults.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aspectbucket.geometry.options import BucketOptions, OptionsError
from aspectbucket.geometry.placement import Placement, gather_placements
from aspectbucket.profiles.profile import ExifHandling, NoUpscaleRule, Profile, declared_settings, place_by_profile
from aspectbucket.profiles.registry import apply_settings, get_profile, merge_options, resolve
from aspectbucket.scan.scanner import ScanResult
from aspectbucket.scan.sources import Subset


@dataclass
class DatasetPlan:
    """A scan placed by a profile: row i of `placement` is image i of `scan` (scan errors -> error rows).

    ``placement.bucket_index`` indexes the bucket list of the image's own dataset block.
    ``warnings`` holds the trainer's rounding warnings for each block's options; ``block_profiles`` the
    profile each block was placed by (resolved per block: a block without buckets has a one-bucket list).
    ``source`` is the folder or config the dataset was read from, when known: exports never write under it.
    """

    scan: ScanResult
    profile: Profile
    options: list[BucketOptions]
    placement: Placement
    respect_exif: bool
    errors: list[str]
    warnings: list[str] = field(default_factory=list)
    block_profiles: list[Profile] = field(default_factory=list)
    source: Path | None = None

    def block_profile(self, block: int) -> Profile:
        """The profile that placed dataset block ``block``."""
        return self.block_profiles[block] if block < len(self.block_profiles) else self.profile

    def target_resolutions(self) -> np.ndarray | None:
        """The side each image trains at where its block's profile draws one per image (OneTrainer with
        several resolutions; the first epoch's draw), 0 for unplaced images and other blocks; ``None``
        when no block draws. Block row j is mgds item j, as the placement drew it."""
        if not any(self.block_profile(block).target_draw for block in range(len(self.options))):
            return None
        sides = np.zeros(len(self.placement), dtype=np.int64)
        blocks = self.scan.dataset_index
        for block in range(len(self.options)):
            draw = self.block_profile(block).target_draw
            if draw is not None:
                rows = np.flatnonzero(blocks == block)
                sides[rows] = draw.draws(len(rows))
        return np.where(self.placement.ok, sides, 0)

    def target_schedules(self) -> list[str]:
        """How often each drawing block's draw happens, in words, without repeats (empty: no block draws)."""
        draws = (self.block_profile(block).target_draw for block in range(len(self.options)))
        return list(dict.fromkeys(draw.schedule() for draw in draws if draw is not None))

    def batch_sizes(self, batch_size: int | None = None) -> list[int]:
        """The batch size of each dataset block: ``batch_size`` when given, else the config's, else 1."""
        return block_batch_sizes(self.scan.subsets, len(self.options), batch_size)

    def bucket_numbers(self) -> np.ndarray:
        """sd-scripts' logged bucket number per image: its index among the USED buckets of its dataset
        block sorted by (width, height), as ``BucketManager.sort`` numbers them; -1 for errors."""
        numbers = np.full(len(self.placement), -1, dtype=np.int64)
        ok = np.array([not error for error in self.errors], dtype=bool) & self.placement.ok
        blocks = self.scan.dataset_index
        for block in np.unique(blocks):
            rows = np.flatnonzero(ok & (blocks == block))
            sizes = np.stack([self.placement.bucket_width[rows], self.placement.bucket_height[rows]], axis=1)
            _, inverse = np.unique(sizes, axis=0, return_inverse=True)  # unique rows sort by (w, h)
            numbers[rows] = inverse.reshape(-1)
        return numbers


def block_batch_sizes(subsets: list[Subset], blocks: int, batch_size: int | None = None) -> list[int]:
    """Per dataset block: ``batch_size`` when given (the command line's), else the block's config
    ``batch_size``, else 1 (sd-scripts' default)."""
    if batch_size is not None:
        return [batch_size] * blocks
    configured = {subset.dataset: subset.batch_size for subset in reversed(subsets) if subset.batch_size is not None}
    return [configured.get(block, 1) for block in range(blocks)]


def plan_dataset(
    scan: ScanResult,
    profile: Profile | str,
    given: dict,
    respect_exif: bool = False,
    settings: Mapping | None = None,
) -> DatasetPlan:
    """Place every scanned image by ``profile``, each dataset block with its own options.

    ``given`` holds explicitly chosen options (the command line's), which override each block's config
    values, which override the profile's defaults; a block's own trainer-native settings (a trainer
    config's, see :func:`block_settings`) and then ``settings`` (``--set``) apply last.
    Raises :class:`OptionsError` for refused options.
    ``respect_exif`` places the upright size; a profile whose trainer applies EXIF always does.
    """
    profile = get_profile(profile)
    upright = respect_exif or profile.exif is ExifHandling.APPLY
    widths, heights = scan.sizes(upright)
    blocks = scan.dataset_index
    options, warnings, parts, profiles = [], [], [], []
    for block in range(max((subset.dataset for subset in scan.subsets), default=0) + 1):
        members = [subset for subset in scan.subsets if subset.dataset == block]
        block_profile, block_options, block_warnings = _block_settings(profile, members, given, settings)
        options.append(block_options)
        profiles.append(block_profile)
        warnings.extend(f"dataset {block}: {warning}" for warning in block_warnings)
        rows = np.flatnonzero(blocks == block)
        parts.append((rows, place_by_profile(widths[rows], heights[rows], block_options, block_profile)))
    placement = _gather(parts, len(scan.paths))
    placement_reasons = placement.reasons()
    errors = [scan_error or placed for scan_error, placed in zip(scan.error, placement_reasons, strict=True)]
    return DatasetPlan(scan, profile, options, placement, respect_exif, errors, warnings, profiles)


def block_settings(profile: Profile, own: Mapping, given: dict, settings: Mapping | None) -> dict:
    """The trainer-native settings of one block: its config's own (``own``, a subset's ``settings``) that ``profile``
    declares (another profile, as in ``compare``, sees the config only through ``given_options``), less
    those whose option the command line gives (``given``), under ``settings`` (``--set``), which win."""
    fields = {setting.name: setting.field for setting in declared_settings(profile)}
    kept = {name: value for name, value in own.items() if name in fields and fields[name] not in given}
    return {**kept, **dict(settings or {})}


def _block_settings(profile: Profile, members: list[Subset], given: dict, settings: Mapping | None):
    """The profile, validated options and warnings of one dataset block."""
    merged = merge_options(profile, dict(members[0].given_options) if members else {}, given)
    settings = block_settings(profile, dict(members[0].settings) if members else {}, given, settings)
    if members and not members[0].enable_bucket:
        profile, merged = apply_settings(profile, settings, merged)
        # sd-scripts without buckets: one bucket, the resolution itself; images cover it and are cropped.
        width, height = merged.resolution
        if width <= 0 or height <= 0:
            raise OptionsError(f"resolution {width},{height} must be positive")
        single = dataclasses.replace(
            profile,
            bucket_list=lambda _options: np.array([[width, height]], dtype=np.int64),
            no_upscale=NoUpscaleRule.UNSUPPORTED,
            per_image=None,
            max_crop=None,
        )
        return single, dataclasses.replace(merged, bucket_no_upscale=False), []
    return resolve(profile, merged, settings)


def _gather(parts: list[tuple[np.ndarray, Placement]], count: int) -> Placement:
    """One placement in scan order from per-block placements of the given rows."""
    return gather_placements([(rows, placement, slice(None)) for rows, placement in parts], count)
