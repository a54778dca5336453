#!/usr/bin/env bash
# Install aspectbucket with its test dependencies into .venv and run the whole test suite.
# torch is the CPU build 2.13.0 (the pip configuration of our machines finds its wheel); with CI set,
# the torch tests fail instead of skipping when torch is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test,torch,ray]' 'torch==2.13.0'
.venv/bin/ruff check .
# The HTML report's end-to-end test opens the page in headless Chromium (Debian's package).
command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)
# CI=1 makes the torch and Chromium tests fail, not skip, when their dependencies are missing.
CI="${CI:-1}" .venv/bin/python -m pytest -q "$@"
