"""aspectbucket: see exactly what aspect-ratio bucketing does to an image training dataset.

>>> from aspectbucket import BucketOptions, place, bucket_list
>>> len(bucket_list(BucketOptions(resolution=(512, 512))))
17
"""

from __future__ import annotations

from aspectbucket.epoch_ledger import Ledger, ledger
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
from aspectbucket.geometry.ledger import BatchingError, BatchingRule
from aspectbucket.profiles import PROFILES, Profile, bucket_list, get_profile, place, resolve

__version__ = "0.1.0"

__all__ = [
    "PROFILES",
    "BatchPolicy",
    "BatchingError",
    "BatchingRule",
    "BucketOptions",
    "Ledger",
    "Metric",
    "OptionsError",
    "Placement",
    "PlacementError",
    "Profile",
    "TieBreak",
    "__version__",
    "bucket_list",
    "get_profile",
    "ledger",
    "parse_resolution",
    "place",
    "ratio_fraction",
    "resolve",
    "steps_per_epoch",
    "switching_points",
]
