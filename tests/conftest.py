"""Shared test fixtures: the reference vectors kept in tests/data (copied from the trainers' own runs)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import settings

# CI draws the same examples on every run, so a red run means a change broke something rather than a
# new random draw; sessions draw new ones and keep what they find in .hypothesis/.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

DATA = Path(__file__).resolve().parent / "data"
VECTORS = DATA / "vectors"


def load_vectors(name: str) -> dict:
    """One reference file of tests/data/vectors, by its stem (``kohya``, ``trainers``, ``batching``...)."""
    return json.loads((VECTORS / f"{name}_reference.json").read_text())


def kohya_case_ledger(case: dict, processes: int = 1, grad_accum: int = 1):
    """The public ledger of one sd-scripts case of the batching reference: its sizes, options, subsets
    with their repeats, batch size and ``reg`` regularization subset, as sd-scripts ran it."""
    from aspectbucket import BucketOptions, ledger

    s = case["settings"]
    names = ("min_bucket_reso", "max_bucket_reso", "bucket_reso_steps", "bucket_no_upscale")
    options = BucketOptions(tuple(s["resolution"]), *(s[name] for name in names))
    widths, heights = zip(*(p["image"] for p in case["placements"]), strict=True)
    subsets = [p["extra"]["subset"] for p in case["placements"]]
    repeats = {sub["name"]: sub["num_repeats"] for sub in s["subsets"]}
    return ledger(
        list(widths),
        list(heights),
        "kohya",
        options,
        repeats,
        subsets,
        s["batch_size"],
        processes,
        grad_accum,
        regularization={"reg"},
    )


@pytest.fixture(scope="session")
def kohya_vectors() -> dict:
    """The reference outputs of sd-scripts (see tests/data/vectors/README.md for where they come from)."""
    return load_vectors("kohya")


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray cluster of 2 CPUs per test module that asks for it (it takes seconds to start; stopped
    after the module, so no other test runs beside Ray's processes); the commands under test join it
    instead of starting their own. Without Ray installed those tests are skipped, unless CI (or
    ``ASPECTBUCKET_TEST_RAY``) asks for them."""
    if os.environ.get("ASPECTBUCKET_TEST_RAY") or os.environ.get("CI"):
        import ray
    else:
        ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    yield ray
    ray.shutdown()
