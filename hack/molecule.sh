#!/usr/bin/env bash
# `make molecule`: run the molecule scenarios of extensions/molecule (Exchange 2019, 2016, 2013 against the lab):
# create (start the lab), converge (site.yml), idempotence, verify, destroy. Extra arguments go to `molecule test`,
# e.g. `hack/molecule.sh -s exchange2016`; without any, every scenario runs (--all).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV_BIN="${MOLECULE_VENV_BIN:-$PWD/.venv/bin}"
export PATH="$VENV_BIN:$PATH"
command -v molecule >/dev/null || { echo "molecule is not installed in $VENV_BIN (make venv)" >&2; exit 1; }
[ -e .collections/ansible_collections/mailops/exchange ] || { echo "the collection is not linked into .collections (make venv)" >&2; exit 1; }

# molecule runs from the repository root: it finds galaxy.yml (collection mode: scenarios in extensions/molecule,
# shared configuration in extensions/molecule/config.yml) and takes the root as MOLECULE_PROJECT_DIRECTORY.
export MOLECULE_PROJECT_DIRECTORY="$PWD"
# Ansible's own configuration is the one molecule writes (ansible.cfg of config.yml); the collection is found
# through ANSIBLE_COLLECTIONS_PATH (config.yml: .collections).
unset ANSIBLE_CONFIG
export ANSIBLE_FORCE_COLOR="${ANSIBLE_FORCE_COLOR:-0}"
export PY_COLORS="${PY_COLORS:-0}"
export NO_COLOR="${NO_COLOR:-1}"

if [ "$#" -eq 0 ]; then
  set -- --all
fi
start=$(date +%s)
status=0
molecule test "$@" || status=$?
echo "molecule test $*: exit $status after $(( $(date +%s) - start )) s"
exit $status
