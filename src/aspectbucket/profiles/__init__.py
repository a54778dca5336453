"""Trainer profiles: one declarative description per trainer, and placement by any of them."""

from __future__ import annotations

from aspectbucket.profiles.kohya import KOHYA
from aspectbucket.profiles.profile import (
    CropAnchor,
    ExifHandling,
    NoUpscaleRule,
    Profile,
    SdxlCoordinates,
    declared_settings,
    place_by_profile,
    profile_bucket_list,
)
from aspectbucket.profiles.registry import (
    ALIASES,
    PROFILES,
    VERSIONS,
    apply_settings,
    bucket_list,
    get_profile,
    merge_options,
    place,
    profile_names,
    resolve,
)
from aspectbucket.profiles.settings import Kind, Setting, SettingsError, parse_assignments

__all__ = [
    "ALIASES",
    "KOHYA",
    "PROFILES",
    "VERSIONS",
    "CropAnchor",
    "ExifHandling",
    "Kind",
    "NoUpscaleRule",
    "Profile",
    "SdxlCoordinates",
    "Setting",
    "SettingsError",
    "apply_settings",
    "bucket_list",
    "declared_settings",
    "get_profile",
    "merge_options",
    "parse_assignments",
    "place",
    "place_by_profile",
    "profile_bucket_list",
    "profile_names",
    "resolve",
]
