"""Without torch, ``aspectbucket.torch`` fails at import with the install command, and nothing else does."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest


def test_missing_torch_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # what an absent package looks like to import
    monkeypatch.delitem(sys.modules, "aspectbucket.torch", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'aspectbucket\[torch\]'"):
        importlib.import_module("aspectbucket.torch")


def test_the_rest_of_the_package_needs_no_torch():
    # a fresh interpreter, so that no module already imported here can hide a torch import
    script = (
        "import sys; sys.modules['torch'] = None\n"
        "import aspectbucket, aspectbucket.geometry.epoch as epoch\n"
        "print(aspectbucket.steps_per_epoch([3], 2), len(epoch.build_epoch([0, 0, 0], 1, [[64, 64]], 2)))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout.split()) == (0, ["2", "2"]), result.stderr
