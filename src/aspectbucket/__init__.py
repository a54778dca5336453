"""aspectbucket: see exactly what aspect-ratio bucketing does to an image training dataset.

The public API is a few verbs, one per stage (:mod:`aspectbucket.api`): ``place`` and ``bucket_list``
(sizes), ``explain`` (one size), ``scan``, ``plan``, ``report``, ``compare``, ``export`` (a dataset) and
``assign`` (a table of sizes). The verbs ``scan``, ``plan``, ``report``, ``compare`` and ``export`` share
their names with stage modules: import a stage's own names from the module (``from aspectbucket.scan
import ScanResult``), and call the verb from here (``aspectbucket.scan(folder)``).

>>> from aspectbucket import BucketOptions, place, bucket_list
>>> len(bucket_list(BucketOptions(resolution=(512, 512))))
17
>>> place([1920], [1080], profile="musubi-tuner", settings={"resolution": [1024, 1024], "architecture": "ho1"}).row(0)[
...     "bucket_width"
... ]
1344
"""

from __future__ import annotations

__version__ = "0.1.0"  # before the imports below: stage modules read it

# Last: every stage module is imported by now, so these verbs are not replaced by a later first import
# of the module of the same name.
from aspectbucket.api import assign, compare, explain, export, plan, report, scan
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
from aspectbucket.profiles import PROFILES, Profile, SettingsError, bucket_list, get_profile, place, resolve
from aspectbucket.profiles.clips import CLIP_TRAINERS, ClipTable, place_clips

__all__ = [
    "CLIP_TRAINERS",
    "PROFILES",
    "BatchPolicy",
    "BatchingError",
    "BatchingRule",
    "BucketOptions",
    "ClipTable",
    "Ledger",
    "Metric",
    "OptionsError",
    "Placement",
    "PlacementError",
    "Profile",
    "SettingsError",
    "TieBreak",
    "__version__",
    "assign",
    "bucket_list",
    "compare",
    "explain",
    "export",
    "get_profile",
    "ledger",
    "parse_resolution",
    "place",
    "place_clips",
    "plan",
    "ratio_fraction",
    "report",
    "resolve",
    "scan",
    "steps_per_epoch",
    "switching_points",
]
