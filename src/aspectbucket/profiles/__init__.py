"""Trainer profiles: one declarative description per trainer, and placement by any of them."""

from __future__ import annotations

from aspectbucket.profiles.kohya import KOHYA
from aspectbucket.profiles.profile import (
    CropAnchor,
    ExifHandling,
    NoUpscaleRule,
    Profile,
    SdxlCoordinates,
    place_by_profile,
    profile_bucket_list,
)
from aspectbucket.profiles.registry import PROFILES, bucket_list, get_profile, merge_options, place, resolve

__all__ = [
    "KOHYA",
    "PROFILES",
    "CropAnchor",
    "ExifHandling",
    "NoUpscaleRule",
    "Profile",
    "SdxlCoordinates",
    "bucket_list",
    "get_profile",
    "merge_options",
    "place",
    "place_by_profile",
    "profile_bucket_list",
    "resolve",
]
