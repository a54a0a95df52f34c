#!/usr/bin/env bash
# Each package installs alone (on top of vislite-common) into a fresh venv and trains a tiny model.
set -euo pipefail
cd "$(dirname "$0")/.."
python ci/check_standalone.py "$@"
