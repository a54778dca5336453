"""The Ray adapter: the per-batch work in numpy, and a real local Ray Data pipeline when Ray is installed."""

from __future__ import annotations

import numpy as np
import pytest

from aspectbucket import BucketOptions, OptionsError, place
from aspectbucket.profiles import resolve
from aspectbucket.ray import placement_batch


def test_placement_batch_adds_the_assign_columns_and_keeps_the_others():
    profile, options, _ = resolve("kohya", BucketOptions((512, 512)))
    batch = {"url": np.array(["a", "b"], dtype=object), "w": np.array([768, 50]), "h": np.array([512, 0])}
    placed = placement_batch(batch, options, profile, width="w", height="h")
    assert placed["url"].tolist() == ["a", "b"]
    assert placed["bucket_width"].tolist() == [640, 0]
    assert placed["crop_ltrb"].shape == (2, 4)
    assert placed["error"].tolist() == ["", "width and height must be positive whole numbers"]


@pytest.mark.ray
def test_add_placement_on_a_local_ray_cluster_equals_place(ray_cluster):
    from aspectbucket.ray import add_placement

    rng = np.random.default_rng(0)
    widths, heights = rng.integers(1, 4000, 5000), rng.integers(1, 4000, 5000)
    dataset = ray_cluster.data.from_numpy(np.stack([widths, heights], axis=1)).map_batches(
        lambda batch: {"width": batch["data"][:, 0], "height": batch["data"][:, 1]}, batch_format="numpy"
    )
    rows = add_placement(dataset, BucketOptions((1024, 1024), 256, 2048), batch_size=1000).take_all()
    expected = place(widths, heights, BucketOptions((1024, 1024), 256, 2048))
    by_size = {(row["width"], row["height"]): (row["bucket_width"], row["bucket_height"]) for row in rows}
    assert len(rows) == 5000
    for i in range(0, 5000, 7):
        size = (int(widths[i]), int(heights[i]))
        assert by_size[size] == (expected.bucket_width[i], expected.bucket_height[i])


def test_add_placement_refuses_bad_options_before_any_task():
    pytest.importorskip("ray")
    from aspectbucket.ray import add_placement

    with pytest.raises(OptionsError):
        add_placement(object(), BucketOptions((100, 2000)))
