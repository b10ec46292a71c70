#!/usr/bin/env bash
# `make molecule`: run the molecule scenarios of extensions/molecule (Exchange 2019, 2016, 2013 against the lab):
# destroy, syntax, create (start the lab), converge (site.yml), idempotence, verify, destroy (stop the lab).
# Extra arguments go to `molecule test`, e.g. `hack/molecule.sh -s exchange2016`; without any, every scenario runs
# (--all). Ends with the line "molecule: N passed, M failed" (scenarios).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV_BIN="${MOLECULE_VENV_BIN:-$PWD/.venv/bin}"
export PATH="$VENV_BIN:$PATH"
command -v molecule >/dev/null || { echo "molecule is not installed in $VENV_BIN (make venv)" >&2; exit 1; }
[ -e .collections/ansible_collections/mailops/exchange ] || { echo "the collection is not linked into .collections (make venv)" >&2; exit 1; }

# molecule runs from the repository root: it finds galaxy.yml (collection mode: scenarios in extensions/molecule,
# shared configuration in extensions/molecule/config.yml) and takes the root as MOLECULE_PROJECT_DIRECTORY.
export MOLECULE_PROJECT_DIRECTORY="$PWD"
# Ansible's configuration is the one molecule writes from config.yml's ansible.cfg section; the collection is found
# through ANSIBLE_COLLECTIONS_PATH (config.yml: .collections). A caller's ANSIBLE_CONFIG must not override it.
unset ANSIBLE_CONFIG
# Plain output: CI logs, and the scenario recap parsed below.
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0 NO_COLOR=1

if [ "$#" -eq 0 ]; then
  set -- --all
fi
mkdir -p .lab/molecule
log=.lab/molecule/molecule-test.log
start=$(date +%s)
set +e
molecule test "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# molecule's SCENARIO RECAP: "<scenario>   : actions=7  successful=7  disabled=0  skipped=0  missing=0  failed=0"
passed=$(grep -cE '^[^ ]+ +: actions=[0-9]+ +successful=[0-9]+ .* missing=0 +failed=0 *$' "$log" || true)
failed=$(grep -E '^[^ ]+ +: actions=[0-9]+ ' "$log" | grep -cvE ' missing=0 +failed=0 *$' || true)
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1  # molecule stopped before its recap (a broken configuration, an interrupted run)
fi
echo "molecule test $* exited $status after $(( $(date +%s) - start )) s (log: $log)"
echo "molecule: $passed passed, $failed failed"
exit "$status"
