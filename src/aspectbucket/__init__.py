"""aspectbucket: see exactly what aspect-ratio bucketing does to an image training dataset.

>>> from aspectbucket import BucketOptions, place, bucket_list
>>> len(bucket_list(BucketOptions(resolution=(512, 512))))
17
>>> place([1920], [1080], profile="musubi-tuner", settings={"resolution": [1024, 1024], "architecture": "ho1"}).row(0)[
...     "bucket_width"
... ]
1344
"""

from __future__ import annotations

from aspectbucket.geometry import (
    BatchPolicy,
    BucketOptions,
    Metric,
    OptionsError,
    Placement,
    PlacementError,
    TieBreak,
    parse_resolution,
    ratio_fraction,
    steps_per_epoch,
    switching_points,
)
from aspectbucket.profiles import PROFILES, Profile, SettingsError, bucket_list, get_profile, place, resolve

__version__ = "0.1.0"

__all__ = [
    "PROFILES",
    "BatchPolicy",
    "BucketOptions",
    "Metric",
    "OptionsError",
    "Placement",
    "PlacementError",
    "Profile",
    "SettingsError",
    "TieBreak",
    "__version__",
    "bucket_list",
    "get_profile",
    "parse_resolution",
    "place",
    "ratio_fraction",
    "resolve",
    "steps_per_epoch",
    "switching_points",
]
