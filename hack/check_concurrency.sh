#!/usr/bin/env bash
# Two `make check` at once on one machine: two fresh clones of this repository run the same sanity tests at the
# same moment, from cold ansible-test caches and with one HOME between them (as two checkouts of one user). Before
# each check had its own ansible-test home (hack/check.sh, CHECK_ANSIBLE_TEST_HOME), one of the two failed inside
# pip of the virtual environment the other was still building under ~/.ansible/test. Both must pass. Not part of
# `make check` (about 5 minutes on 2 cores); run it when hack/check.sh's use of ansible-test changes.
#
# usage: check_concurrency.sh [SANITY_TESTS]    (default: pylint validate-modules ansible-doc import)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
tests="${1:-pylint validate-modules ansible-doc import}"
work="$(mktemp -d "${TMPDIR:-/tmp}/mailops-concurrency.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/home"
for clone in a b; do git clone -q "$ROOT" "$work/$clone"; done
start=$(date +%s)
pids=()
for clone in a b; do
  (cd "$work/$clone" && HOME="$work/home" XDG_CACHE_HOME="${XDG_CACHE_HOME:-$HOME/.cache}" \
     CHECK_VENV="${CHECK_VENV:-$ROOT/.venv-check}" CHECK_STEPS="build sanity" SANITY_TESTS="$tests" \
     bash hack/check.sh >"$work/$clone.log" 2>&1) &
  pids+=($!)
done
failed=0
for i in 0 1; do
  if wait "${pids[$i]}"; then echo "clone $i: passed"; else echo "clone $i: FAILED"; failed=1; fi
done
echo "both finished after $(( $(date +%s) - start )) s"
if [ "$failed" -ne 0 ]; then tail -40 "$work"/a.log "$work"/b.log; fi
exit "$failed"
