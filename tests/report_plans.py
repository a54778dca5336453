"""Dataset plans built in memory for the report tests: a real ``ScanResult`` without touching the disk."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from aspectbucket.cli import main
from aspectbucket.plan import plan_dataset
from aspectbucket.scan.scanner import ScanResult
from aspectbucket.scan.sources import Subset


def make_plan(
    images,
    root=Path("/data/set"),
    options=None,
    subsets=None,
    respect_exif=False,
    batch_size=None,
    profile="kohya",
    settings=None,
):
    """A kohya plan of ``images``: tuples ``(name, width, height[, orientation[, error[, subset]]])``.

    ``subsets`` are ``(folder, repeats)`` pairs under ``root`` (default: ``root`` itself, 1 repeat);
    ``options`` are given as if on the command line (default: the profile's defaults, 512x512 for kohya);
    ``settings`` are trainer-native ones, as ``--set`` gives them.
    """
    subsets = subsets or [("", 1)]
    subset_objects = [
        Subset(root / folder if folder else root, repeats, folder, 0, None, batch_size) for folder, repeats in subsets
    ]
    rows = [tuple(image) + (1, "", 0)[len(image) - 3 :] for image in images]
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
    return plan_dataset(scan, profile, given, respect_exif=respect_exif, settings=settings)


def write_images(folder: Path, images) -> None:
    """Write small real files for ``images`` (as :func:`make_plan` takes them) into ``folder``.

    Placed images become gradients (JPEG or PNG by extension, with the EXIF orientation given); rows
    with an error become a few bytes of text named like an image.
    """
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for image in images:
        name, width, height = image[:3]
        orientation = image[3] if len(image) > 3 else 1
        error = image[4] if len(image) > 4 else ""
        if error:
            (folder / name).write_bytes(b"not an image")
            continue
        across = np.linspace(0, 255, width, dtype=np.float64)[None, :]
        down = np.linspace(0, 255, height, dtype=np.float64)[:, None]
        pixels = np.stack(np.broadcast_arrays(across, down, np.full((height, width), 96.0)), axis=-1)
        picture = Image.fromarray(pixels.astype(np.uint8))
        exif = Image.Exif()
        if orientation != 1:
            exif[0x0112] = orientation
        picture.save(folder / name, exif=exif)


def invoke_report(*arguments, command: str = "report"):
    """``aspectbucket COMMAND ARGUMENTS --no-cache`` in a 120-column terminal (its lines unwrapped)."""
    arguments = [str(argument) for argument in arguments]
    return CliRunner().invoke(main, [command, *arguments, "--no-cache"], env={"COLUMNS": "120"})
