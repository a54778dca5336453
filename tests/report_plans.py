"""Dataset plans built in memory for the report tests: a real ``ScanResult`` without touching the disk."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from aspectbucket.dataset import Subset, plan_dataset
from aspectbucket.geometry.options import BucketOptions
from aspectbucket.scan import ScanResult


def make_plan(
    images, root=Path("/data/set"), options=None, subsets=None, respect_exif=False, batch_size=None
):
    """A kohya plan of ``images``: tuples ``(name, width, height[, orientation[, error[, subset]]])``.

    ``subsets`` are ``(folder, repeats)`` pairs under ``root`` (default: ``root`` itself, 1 repeat);
    ``options`` are given as if on the command line (default: kohya's 512x512 defaults).
    """
    subsets = subsets or [("", 1)]
    subset_objects = [
        Subset(root / folder if folder else root, repeats, folder, 0, None, batch_size)
        for folder, repeats in subsets
    ]
    rows = [tuple(image) + (1, "", 0)[len(image) - 3:] for image in images]
    scan = ScanResult(
        subsets=subset_objects,
        paths=[subset_objects[row[5]].image_dir / row[0] for row in rows],
        subset=np.array([row[5] for row in rows], dtype=np.int64),
        stored_width=np.array([0 if row[4] else row[1] for row in rows], dtype=np.int64),
        stored_height=np.array([0 if row[4] else row[2] for row in rows], dtype=np.int64),
        orientation=np.array([row[3] for row in rows], dtype=np.int8),
        error=[row[4] for row in rows],
    )
    given = dataclasses.asdict(options) if options else {}
    return plan_dataset(scan, "kohya", given, respect_exif=respect_exif)
