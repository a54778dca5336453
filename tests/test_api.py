"""The public verbs apply the library's own rules, so a Python user gets what the command line gets."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import aspectbucket
from aspectbucket.export.run import METADATA_NAME


def _dataset(folder):
    images = folder / "5_subject"
    images.mkdir(parents=True)
    for number, (width, height) in enumerate([(900, 500), (500, 900), (700, 700), (1200, 400)]):
        Image.fromarray(np.full((height, width, 3), 30 * number, np.uint8)).save(images / f"{number}.png")
    return folder


def _crops(out):
    records = [json.loads(line) for line in (out / METADATA_NAME).read_text().splitlines()]
    return sorted((record["relative"], tuple(record["trim"])) for record in records if not record.get("error"))


@pytest.mark.parametrize(("profile", "random"), [("kohya", False), ("everydream2", True)])
def test_export_keeps_the_window_where_the_trainer_puts_it(tmp_path, profile, random):
    plan = aspectbucket.plan(_dataset(tmp_path / "data"), profile, {"resolution": (512, 512)}, use_cache=False)
    assert plan.profile.random_crop is random
    aspectbucket.export(plan, tmp_path / "out")
    aspectbucket.export(plan, tmp_path / "centred", random_crop=False)
    assert (_crops(tmp_path / "out") != _crops(tmp_path / "centred")) is random


def test_export_refuses_pixels_turned_otherwise_than_the_plan_measured(tmp_path):
    plan = aspectbucket.plan(_dataset(tmp_path / "data"), "kohya", use_cache=False)
    with pytest.raises(ValueError, match="apply_exif must match the plan"):
        aspectbucket.export(plan, tmp_path / "out", apply_exif=True)


def test_export_refuses_an_output_inside_the_dataset(tmp_path):
    plan = aspectbucket.plan(_dataset(tmp_path / "data"), "kohya", use_cache=False)
    with pytest.raises(ValueError, match="inside"):
        aspectbucket.export(plan, tmp_path / "data" / "out")
    assert not (tmp_path / "data" / "out").exists()
