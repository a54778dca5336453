"""Shared test fixtures: the reference vectors from ../shared, found from the repository root."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VECTORS = REPO.parent / "shared" / "vectors" / "kohya_reference.json"


@pytest.fixture(scope="session")
def kohya_vectors() -> dict:
    """The reference outputs of sd-scripts; the suite fails loudly if they are not beside the repo."""
    if not VECTORS.exists():
        pytest.fail(f"reference vectors not found at {VECTORS}")
    return json.loads(VECTORS.read_text())
