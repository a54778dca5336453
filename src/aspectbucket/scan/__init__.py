"""The scan stage: dataset sources -> file list -> image sizes and EXIF orientations, cached.

``sources`` reads folders and kohya dataset configs into subsets; ``scanner`` lists and stats each
subset's folder (``statx`` batches the stats on Linux) and reads headers (``headers``) for files the
header cache (``cache``) does not already know; ``clips`` does the same for video clips with PyAV.
"""

from aspectbucket.scan.clips import VIDEO_EXTENSIONS, ClipScan, scan_clips
from aspectbucket.scan.headers import IMAGE_EXTENSIONS, ScanReason
from aspectbucket.scan.scanner import PathList, ScanResult, scan
from aspectbucket.scan.sources import DatasetError, Subset, example_dataset_path, load_dataset, read_dataset

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "ClipScan",
    "DatasetError",
    "PathList",
    "ScanReason",
    "ScanResult",
    "Subset",
    "example_dataset_path",
    "load_dataset",
    "read_dataset",
    "scan",
    "scan_clips",
]
