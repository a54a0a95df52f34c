#!/usr/bin/env bash
# Run each package's tests in its own pytest process (catches undeclared cross-package imports).
# pytest's exit code 5 ("no tests collected") is reported but is not a failure for a package without tests yet.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
for pkg in "$@"; do
  dir="packages/$pkg/tests"
  if [ ! -d "$dir" ]; then
    echo "== $pkg: no tests directory"
    continue
  fi
  echo "== $pkg: python -m pytest $dir"
  python -m pytest "$dir" -q -m "not gpu"
  rc=$?
  if [ "$rc" -eq 5 ]; then
    echo "== $pkg: no tests collected"
  elif [ "$rc" -ne 0 ]; then
    echo "== $pkg: FAILED (pytest exit $rc)"
    status=1
  fi
done
exit $status
