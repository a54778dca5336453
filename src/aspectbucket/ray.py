"""Ray Data adapter: add placement columns to a distributed table of image sizes.

A metadata table of hundreds of millions of rows (a LAION-style parquet of widths and heights) is
placed block by block on a Ray cluster; the work per block is :func:`placement_batch`, plain numpy,
so it is tested without Ray. Install with ``pip install 'aspectbucket[ray]'``.

>>> import ray.data
>>> from aspectbucket.ray import add_placement
>>> from aspectbucket import BucketOptions
>>> metadata = ray.data.read_parquet("s3://bucket/meta/")  # doctest: +SKIP
>>> placed = add_placement(metadata, BucketOptions(resolution=(1024, 1024)))  # doctest: +SKIP
>>> placed.write_parquet("s3://bucket/placed/")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from aspectbucket.geometry.options import BucketOptions
from aspectbucket.profiles import Profile, place_by_profile, resolve
from aspectbucket.tables.columns import placement_arrays

if TYPE_CHECKING:
    import ray.data

#: Rows per block handed to one task: large enough that numpy dominates, small enough for any worker.
BATCH_ROWS = 1 << 16


def placement_batch(
    batch: dict[str, np.ndarray], options: BucketOptions, profile: Profile, width: str = "width", height: str = "height"
) -> dict[str, np.ndarray]:
    """One batch of columns with the ``assign`` columns added; ``options`` already validated for ``profile``."""
    placement = place_by_profile(batch[width], batch[height], options, profile)
    return {**batch, **placement_arrays(placement)}


def add_placement(
    dataset: ray.data.Dataset,
    options: BucketOptions | None = None,
    profile: str | Profile = "kohya",
    *,
    width: str = "width",
    height: str = "height",
    batch_size: int = BATCH_ROWS,
) -> ray.data.Dataset:
    """``dataset`` with bucket, resize and crop columns added to every row (lazily, as Ray Data is).

    Options are validated here, once, before any task starts: a refused combination raises
    :class:`~aspectbucket.geometry.options.OptionsError` on the driver, not in a thousand workers.
    """
    try:
        import ray.data  # noqa: F401  (checked here so a missing extra fails with the install hint)
    except ImportError:
        raise ImportError("aspectbucket.ray needs Ray: pip install 'aspectbucket[ray]'") from None
    chosen, validated, _ = resolve(profile, options)
    return dataset.map_batches(
        placement_batch,
        batch_format="numpy",
        batch_size=batch_size,
        fn_kwargs={"options": validated, "profile": chosen, "width": width, "height": height},
    )
