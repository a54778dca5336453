#!/usr/bin/env bash
# Install aspectbucket with its test dependencies into .venv and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
.venv/bin/ruff check .
# The HTML report's end-to-end test opens the page in headless Chromium (Debian's package).
command -v chromium || (apt-get update && apt-get install -y chromium)
.venv/bin/python -m pytest -q "$@"
