"""Pure bucketing geometry: arrays of sizes in, arrays out; no I/O, no global state."""

from __future__ import annotations

from aspectbucket.geometry.batches import (
    BatchPolicy,
    batches_per_bucket,
    dropped_and_padded,
    parse_batch_policy,
    steps_per_epoch,
)
from aspectbucket.geometry.buckets import kohya_grid
from aspectbucket.geometry.epoch import Epoch, bucket_ids, build_epoch
from aspectbucket.geometry.nearest import Metric, TieBreak, nearest_bucket
from aspectbucket.geometry.options import BucketOptions, OptionsError, parse_resolution, validate_options
from aspectbucket.geometry.placement import MAX_SIDE, Placement, PlacementError, check_sizes
from aspectbucket.geometry.ratios import nice_ratio_fraction, ratio_fraction
from aspectbucket.geometry.resize import cover_resize, covering_precrop, letterbox_crop_ltrb
from aspectbucket.geometry.switching import SwitchingPoint, switching_points

__all__ = [
    "MAX_SIDE",
    "BatchPolicy",
    "BucketOptions",
    "Epoch",
    "Metric",
    "OptionsError",
    "Placement",
    "PlacementError",
    "SwitchingPoint",
    "TieBreak",
    "batches_per_bucket",
    "bucket_ids",
    "build_epoch",
    "check_sizes",
    "cover_resize",
    "covering_precrop",
    "dropped_and_padded",
    "kohya_grid",
    "letterbox_crop_ltrb",
    "nearest_bucket",
    "nice_ratio_fraction",
    "parse_batch_policy",
    "parse_resolution",
    "ratio_fraction",
    "steps_per_epoch",
    "switching_points",
    "validate_options",
]
