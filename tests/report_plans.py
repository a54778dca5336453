"""Dataset plans built in memory for the report tests, with the fields CONTRACTS.md fixes.

The report reads only the contracted attributes of ``ScanResult`` and ``DatasetPlan``; these small
stand-ins carry exactly those, so the report is tested without touching the disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aspectbucket.geometry.options import BucketOptions
from aspectbucket.profiles import get_profile, place_by_profile, resolve


@dataclass(frozen=True)
class FakeSubset:
    image_dir: Path
    repeats: int = 1
    name: str = ""
    dataset: int = 0
    options: BucketOptions | None = None
    batch_size: int | None = None


@dataclass
class FakeScan:
    subsets: list
    paths: list
    subset: np.ndarray
    stored_width: np.ndarray
    stored_height: np.ndarray
    orientation: np.ndarray
    error: list

    def sizes(self, respect_exif: bool):
        swap = respect_exif & (self.orientation >= 5)
        return (np.where(swap, self.stored_height, self.stored_width),
                np.where(swap, self.stored_width, self.stored_height))

    @property
    def repeats(self):
        return np.array([subset.repeats for subset in self.subsets], dtype=np.int64)[self.subset]


@dataclass
class FakePlan:
    scan: FakeScan
    profile: object
    options: list
    placement: object
    respect_exif: bool
    errors: list
    warnings: list = field(default_factory=list)

    def bucket_numbers(self):
        numbers = np.full(len(self.errors), -1, dtype=np.int64)
        ok = self.placement.ok & np.array([not error for error in self.errors], dtype=bool)
        blocks = np.array([subset.dataset for subset in self.scan.subsets])[self.scan.subset]
        for block in np.unique(blocks):
            rows = np.flatnonzero(ok & (blocks == block))
            sizes = np.stack([self.placement.bucket_width[rows], self.placement.bucket_height[rows]], axis=1)
            _, inverse = np.unique(sizes, axis=0, return_inverse=True)
            numbers[rows] = inverse.reshape(-1)
        return numbers


def make_plan(
    images, root=Path("/data/set"), options=None, subsets=None, respect_exif=False, batch_size=None
):
    """A plan of ``images``: tuples ``(name, width, height[, orientation[, error[, subset]]])``.

    One dataset block with ``options`` (512x512 kohya defaults); ``subsets`` as ``(folder, repeats)``.
    """
    subsets = subsets or [("", 1)]
    subset_objects = [
        FakeSubset(root / folder if folder else root, repeats, folder, 0, None, batch_size)
        for folder, repeats in subsets
    ]
    rows = [tuple(image) + (1, "", 0)[len(image) - 3:] for image in images]
    scan = FakeScan(
        subsets=subset_objects,
        paths=[subset_objects[row[5]].image_dir / row[0] for row in rows],
        subset=np.array([row[5] for row in rows], dtype=np.int64),
        stored_width=np.array([0 if row[4] else row[1] for row in rows], dtype=np.int64),
        stored_height=np.array([0 if row[4] else row[2] for row in rows], dtype=np.int64),
        orientation=np.array([row[3] for row in rows], dtype=np.int8),
        error=[row[4] for row in rows],
    )
    profile, validated, _ = resolve("kohya", options or BucketOptions())
    widths, heights = scan.sizes(respect_exif)
    widths = [None if row[4] else width for row, width in zip(rows, widths, strict=True)]
    heights = [None if row[4] else height for row, height in zip(rows, heights, strict=True)]
    placement = place_by_profile(widths, heights, validated, get_profile(profile))
    errors = [row[4] or reason for row, reason in zip(rows, placement.reasons(), strict=True)]
    return FakePlan(scan, profile, [validated], placement, respect_exif, errors)
