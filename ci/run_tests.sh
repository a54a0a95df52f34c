#!/usr/bin/env bash
# Run each package's tests in its own pytest process (catches undeclared cross-package imports).
# TEST_JOBS packages run at a time (default 2, one per core), each with one OpenMP thread: the tests use tiny
# models, for which a second thread per process mostly adds contention. Each package's output is printed whole
# when it ends. pytest's exit code 5 ("no tests collected") is reported but is not a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
jobs="${TEST_JOBS:-2}"
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

run_package() {
  local pkg="$1" dir="packages/$1/tests" start rc
  start=$(date +%s)
  {
    echo "== $pkg: python -m pytest $dir"
    OMP_NUM_THREADS=1 python -m pytest "$dir" -q -m "not gpu"
    rc=$?
    if [ "$rc" -eq 5 ]; then
      echo "== $pkg: no tests collected"
      rc=0
    elif [ "$rc" -ne 0 ]; then
      echo "== $pkg: FAILED (pytest exit $rc)"
    fi
    echo "== $pkg: $(( $(date +%s) - start )) s"
    echo "${rc:-1}" > "$logs/$pkg.rc"
  } > "$logs/$pkg.log" 2>&1
  cat "$logs/$pkg.log"
}

ran=()
for pkg in "$@"; do
  if [ ! -d "packages/$pkg/tests" ]; then
    echo "== $pkg: no tests directory"
    continue
  fi
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
    wait -n
  done
  run_package "$pkg" &
  ran+=("$pkg")
done
wait
status=0
for pkg in "${ran[@]}"; do
  [ "$(cat "$logs/$pkg.rc" 2>/dev/null)" = "0" ] || status=1
done
exit $status
