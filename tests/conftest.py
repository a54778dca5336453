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


@pytest.fixture(scope="session")
def kohya_vectors() -> dict:
    """The reference outputs of sd-scripts (see tests/data/vectors/README.md for where they come from)."""
    return load_vectors("kohya")
