#!/usr/bin/env bash
# Install aspectbucket with its test dependencies into .venv and run the whole test suite.
# numba (extra fast) is installed so that the tests run the compiled random replay beside the Python one.
# torch is the CPU build 2.13.0 (the pip configuration of our machines finds its wheel).
# With CI set (as .ci/run sets it), Debian's Chromium is installed for the browser tests, and the torch,
# Ray and browser tests fail instead of skipping when what they need is missing; elsewhere they skip
# with the reason when Chromium is not installed.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test,torch,ray,fast]' 'torch==2.13.0'
.venv/bin/ruff check .
if [ -n "${CI:-}" ] && ! command -v chromium >/dev/null; then
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
.venv/bin/python -m pytest -q "$@"
