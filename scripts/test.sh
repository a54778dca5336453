#!/usr/bin/env bash
# Install aspectbucket with its test dependencies into .venv and run the whole test suite.
# torch is the CPU build 2.13.0 (the pip configuration of our machines finds its wheel); with CI set,
# the torch tests fail instead of skipping when torch is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test,torch]' 'torch==2.13.0'
.venv/bin/ruff check .
CI="${CI:-1}" .venv/bin/python -m pytest -q "$@"
