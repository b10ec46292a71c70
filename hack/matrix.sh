#!/usr/bin/env bash
# The support matrix with tox-ansible (tox-ansible.ini): every ansible-core minor release from requires_ansible's
# lower bound to the newest, on Python 3.12. Prints each environment's result and time.
#
#   MATRIX_ENVS   the tox environments to run, each <type>-py3.12-<core>; a sanity environment written with
#                 ":smoke" runs only the sanity tests that exercise the collection against that ansible-core
#                 (ansible-doc, validate-modules, import, compile, action-plugin-docs, runtime-metadata).
#                 Default: everything - sanity, unit and integration on every release.
#   MATRIX_PYTHON the Python 3.12 interpreter's directory (default: pyenv's 3.12 if there, else PATH)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
default_envs="sanity-py3.12-2.17 unit-py3.12-2.17 integration-py3.12-2.17
sanity-py3.12-2.18 unit-py3.12-2.18 integration-py3.12-2.18
sanity-py3.12-2.19 unit-py3.12-2.19 integration-py3.12-2.19
sanity-py3.12-2.20 unit-py3.12-2.20 integration-py3.12-2.20
sanity-py3.12-2.21 unit-py3.12-2.21 integration-py3.12-2.21"
smoke_tests=(--test ansible-doc --test validate-modules --test import --test compile --test action-plugin-docs
             --test runtime-metadata)
envs="${MATRIX_ENVS:-$default_envs}"
py312="${MATRIX_PYTHON:-}"
if [ -z "$py312" ]; then
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin; do [ -x "$candidate/python3.12" ] && py312="$candidate"; done
fi
[ -z "$py312" ] || export PATH="$py312:$PATH"
command -v python3.12 >/dev/null || { echo "matrix: no python3.12 (set MATRIX_PYTHON)" >&2; exit 1; }
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$HOME/.cache/pip}"
# The lab (tests/lab) is test infrastructure, not the collection: it runs on the check's venv whatever ansible-core
# the environment under test has.
export LAB_PYTHON="${LAB_PYTHON:-$ROOT/.venv-check/bin/python}"
failed=0
results=()
for spec in $envs; do
  env="${spec%%:*}" args=()
  [ "$spec" = "$env:smoke" ] && args=(-- "${smoke_tests[@]}")
  start=$(date +%s)
  if tox --ansible -c tox-ansible.ini -e "$env" "${args[@]}"; then status=passed; else status=FAILED; failed=1; fi
  results+=("$(printf '%-34s %-7s %5ss' "$spec" "$status" "$(( $(date +%s) - start ))")")
done
printf '\n=== matrix\n'
printf '%s\n' "${results[@]}"
exit "$failed"
