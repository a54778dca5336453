"""Every docstring example in the package runs and prints what it says (the API's documentation)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import aspectbucket

#: Not imported here: the integrations need their extras (tested in their own files), and ``__main__`` runs the CLI.
SKIPPED = ("aspectbucket.torch", "aspectbucket.ray", "aspectbucket.__main__")
MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(aspectbucket.__path__, "aspectbucket.")
    if ".example" not in info.name and info.name not in SKIPPED
)


@pytest.mark.parametrize(
    "name",
    [name for name in MODULES if name not in ("aspectbucket.torch", "aspectbucket.ray", "aspectbucket.__main__")],
)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_the_public_verbs_each_have_a_running_example():
    for verb in ("place", "bucket_list", "explain", "scan", "plan", "report", "compare", "export", "assign"):
        function = getattr(aspectbucket, verb)
        examples = doctest.DocTestFinder().find(function, verb, globs={})
        assert sum(len(test.examples) for test in examples) > 0, f"aspectbucket.{verb} has no example"
