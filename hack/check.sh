#!/usr/bin/env bash
# shellcheck disable=SC2317  # the step functions are called through run_step
# `make check`: the collection's quality checks, as reviewers and Galaxy/Automation Hub run them.
#
#   build      ansible-galaxy collection build; the tarball keeps requirements.txt, bindep.txt and
#              meta/execution-environment.yml and leaves lab state, caches and dev tooling out
#   install    the tarball into an empty collections path; ansible-doc of every module, connection, filter, role;
#              ansible-playbook mailops.exchange.site --syntax-check
#   galaxy     galaxy-importer (what Galaxy and Automation Hub run on upload, ansible-lint inside) on the tarball:
#              no warning, no error (hack/galaxy_import.py)
#   sanity     ansible-test sanity on the tarball's content in <tmp>/ansible_collections/mailops/exchange
#   units      ansible-test units there
#   integration  ansible-test integration there (tests/integration/targets) against a fresh lab
#              (hack/integration.sh)
#   matrix     the support matrix with tox-ansible (tox-ansible.ini, hack/matrix.sh): here integration, units and
#              the sanity smoke on the minimum (2.17) and the newest (2.21) release, the sanity smoke on 2.18 and
#              2.20 (CHECK_MATRIX_ENVS; empty = hack/matrix.sh's full matrix: sanity, units and integration on every
#              release from 2.17 to 2.21)
#   lint       ansible-lint --profile production on a copy of the working tree (+ awx/configure.yml syntax check)
#   docs       antsibull-docs lint-collection-docs (plugin docs and docs/docsite included); roles/*/README.md are
#              what their argument specs generate (hack/role_readmes.py); the documentation site built as HTML
#              with antsibull-docs and Sphinx, offline (hack/docsite.sh)
#   changelog  antsibull-changelog lint; CHANGELOG.rst is what changelogs/changelog.yaml generates
#   ee         ansible-builder create on execution-environment.yml; the generated context is checked, and the EE's
#              Python requirements are built here: pywinrm's kerberos and credssp transports reach their libraries
#   lab        the installed tarball's playbook mailops.exchange.site against a fresh lab (Exchange 2019, EX01 and
#              EX02, inventory/lab), twice: the second run must change nothing; then a module reaches the lab
#              with nothing but the environment the AWX credential type injects (hack/awx_credential_run.py)
#
# Every step runs even when an earlier one failed (except those that need the tarball); the summary lists each
# step, its result and its time, and the exit status is non-zero when any failed.
#
# Environment: CHECK_STEPS (default: all, in the order above), CHECK_VENV (default .venv-check),
# SANITY_TESTS (e.g. "pylint validate-modules": only these sanity tests), CHECK_PYTHON (default python3.11, else
# python3),
# CHECK_KEEP=1 keeps the temporary directory.
#
# ansible-test keeps its virtual environments and downloads under ~/.ansible/test; two checks at once sharing that
# directory break each other's environments. Every ansible-test here runs with HOME set to this checkout's own
# directory (CHECK_ANSIBLE_TEST_HOME, default .cache/ansible-test-home in the checkout), so checkouts never share
# it, and a second check in the same checkout waits for the first's ansible-test steps (flock) instead of failing.
#
# Network: only the package index is reachable. ansible-test downloads its pip bootstrap script from elsewhere;
# hack/ansible_test_get_pip.py stands in for it (ensurepip + pip from the index), and ansible-test installs each
# sanity test's pinned requirements from the index itself. awx.awx (for linting awx/configure.yml) is taken from
# the `ansible` package on the index - the collection as it ships there, not Galaxy.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

PYTHON="${CHECK_PYTHON:-$(command -v python3.11 || command -v python3)}"
VENV="${CHECK_VENV:-$ROOT/.venv-check}"
STEPS="${CHECK_STEPS:-build install galaxy sanity units integration matrix lint docs changelog ee lab}"
# The `ansible` package that carries the awx.awx collection used to lint awx/configure.yml (awx.awx 24.6.1).
AWX_FROM_PACKAGE="ansible==12.3.0"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/mailops-exchange-check"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/mailops-check.XXXXXX")"
cleanup() { if [ "${CHECK_KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi; }
trap cleanup EXIT

log() { printf '\n=== %s\n' "$*"; }

# --- tools --------------------------------------------------------------------------------------------------
stamp="$VENV/.check-installed"
want="$(cat requirements.txt requirements-dev.txt requirements-check.txt | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "preparing $VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -r requirements-check.txt
  echo "$want" > "$stamp"
fi
export PATH="$VENV/bin:$PATH"
PY="$VENV/bin/python"
# ansible-test runs on the venv's Python (3.11 here, as in CI).
SANITY_PYTHON="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

# ansible-test's pip bootstrap, offline (only when no real get-pip script is cached).
pip_version="$("$PY" -c 'import types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version="'"$SANITY_PYTHON"'"))["pip"])')"
AT_HOME="${CHECK_ANSIBLE_TEST_HOME:-$ROOT/.cache/ansible-test-home}"
mkdir -p "$AT_HOME"
REAL_HOME="$HOME"
# ansible-test with this checkout's own HOME (its ~/.ansible/test), pip's cache shared, one at a time per checkout.
ansible_test() {
  HOME="$AT_HOME" PIP_CACHE_DIR="${PIP_CACHE_DIR:-$REAL_HOME/.cache/pip}" flock "$AT_HOME/.lock" ansible-test "$@"
}
get_pip="$AT_HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
if [ ! -f "$get_pip" ]; then
  mkdir -p "$(dirname "$get_pip")"
  cp hack/ansible_test_get_pip.py "$get_pip"
fi

# awx.awx, from the `ansible` package on the index, into a cached collections path.
AWX_COLLECTIONS="$CACHE/${AWX_FROM_PACKAGE//[^a-zA-Z0-9.]/_}"
if [ ! -f "$AWX_COLLECTIONS/ansible_collections/awx/awx/MANIFEST.json" ]; then
  log "fetching awx.awx from $AWX_FROM_PACKAGE"
  rm -rf "$AWX_COLLECTIONS" "$CACHE/download"
  mkdir -p "$CACHE/download" "$AWX_COLLECTIONS"
  "$PY" -m pip download --quiet --disable-pip-version-check --no-deps -d "$CACHE/download" "$AWX_FROM_PACKAGE"
  "$PY" - "$CACHE/download" "$AWX_COLLECTIONS" <<'PYEOF'
import glob, os, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "ansible-*.whl"))[0]
with zipfile.ZipFile(wheel) as archive:
    members = [m for m in archive.namelist() if m.startswith("ansible_collections/awx/awx/")]
    archive.extractall(sys.argv[2], members)
PYEOF
  rm -rf "$CACHE/download"
fi

# --- steps --------------------------------------------------------------------------------------------------
declare -a SUMMARY=()
FAILED=0
run_step() {
  local name="$1"; shift
  case " $STEPS " in *" $name "*) ;; *) return 0 ;; esac
  log "$name"
  local start end status
  start=$(date +%s)
  # Not in an `if`: there bash would ignore `set -e` inside the step.
  set +e
  ( set -euo pipefail; "$@" )
  local rc=$?
  set -e
  if [ "$rc" -eq 0 ]; then status=passed; else status=FAILED; FAILED=1; fi
  end=$(date +%s)
  SUMMARY+=("$(printf '%-10s %-7s %5ss' "$name" "$status" "$((end - start))")")
}

DIST="$WORK/dist"
INSTALLED="$WORK/installed"
COLLECTION_DIR="$WORK/sanity/ansible_collections/mailops/exchange"
TARBALL=""

step_build() {
  ansible-galaxy collection build --output-path "$DIST" "$ROOT"
  TARBALL="$(ls "$DIST"/mailops-exchange-*.tar.gz)"
  "$PY" - "$TARBALL" <<'PYEOF'
import sys, tarfile
names = set(tarfile.open(sys.argv[1]).getnames())
required = ["MANIFEST.json", "FILES.json", "README.md", "requirements.txt", "bindep.txt", "meta/runtime.yml",
            "meta/execution-environment.yml", "changelogs/changelog.yaml", "CHANGELOG.rst", "playbooks/site.yml",
            "plugins/doc_fragments/connection.py"]
missing = [name for name in required if name not in names]
forbidden = (".venv", ".venv-check", ".lab", ".collections", ".pytest_cache", ".hypothesis", ".git", "tests/lab",
             "tests/output", "build", "hack")
stray = sorted(n for n in names if n.split("/")[0] in forbidden or n.startswith(forbidden)
               or "__pycache__" in n or n.endswith(".pyc"))
# The lab is not shipped, so what is shipped must not run it (signing with the lab CA is the lab inventories' hook).
tar = tarfile.open(sys.argv[1])
lab_bound = sorted(m.name for m in tar.getmembers() if m.isfile() and m.name.startswith(("roles/", "plugins/", "playbooks/"))
                   and b"exchange_lab" in tar.extractfile(m).read())
if missing or stray or lab_bound:
    sys.exit("tarball: missing %s; must not contain %s; must not reference the lab (exchange_lab): %s"
             % (missing, stray[:20], lab_bound))
print("tarball OK: %d files" % len(names))
PYEOF
}

step_install() {
  mkdir -p "$INSTALLED"
  (cd "$WORK" && ANSIBLE_COLLECTIONS_PATH="$INSTALLED" ansible-galaxy collection install -p "$INSTALLED" "$TARBALL")
  local installed="$INSTALLED/ansible_collections/mailops/exchange" kind name out count=0
  for kind in module connection filter role; do
    case "$kind" in
      connection) names=$(find "$installed/plugins/connection" -maxdepth 1 -name '*.py' ! -name '__init__.py' \
                        -printf '%f\n' | sed 's/\.py$//' | sort) ;;
      module) names=$(find "$installed/plugins/modules" -maxdepth 1 -name '*.py' ! -name '__init__.py' \
                        -printf '%f\n' | sed 's/\.py$//' | sort) ;;
      filter) names=$("$PY" -c 'import sys, yaml, glob, os
names = set()
for path in glob.glob(os.path.join(sys.argv[1], "plugins/filter/*.py")):
    text = open(path).read()
    if "class FilterModule" in text:
        import ast
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef) and node.name == "filters":
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Dict):
                        names.update(k.value for k in sub.keys if isinstance(k, ast.Constant))
print("\n".join(sorted(names)))' "$installed") ;;
      role) names=$(find "$installed/roles" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort) ;;
    esac
    # One ansible-doc per kind (it renders several names at once); each must be rendered, nothing warned.
    # shellcheck disable=SC2046,SC2086
    out=$(cd "$WORK" && ANSIBLE_COLLECTIONS_PATH="$INSTALLED" ANSIBLE_NOCOLOR=1 ansible-doc -t "$kind" \
          $(printf 'mailops.exchange.%s ' $names) 2>&1) || {
      echo "ansible-doc -t $kind failed:"; echo "$out" | tail -40; return 1; }
    if grep -qE '^\[(WARNING|ERROR)\]|ERROR!' <<<"$out"; then
      echo "ansible-doc -t $kind warned:"; grep -E -A3 '^\[(WARNING|ERROR)\]|ERROR!' <<<"$out"; return 1
    fi
    for name in $names; do
      if ! grep -qE "^> [A-Z]+:? \\*?mailops\\.exchange\\.$name\\*?( |\$)" <<<"$out"; then
        echo "ansible-doc -t $kind did not render mailops.exchange.$name"; return 1
      fi
      count=$((count + 1))
    done
    echo "ansible-doc -t $kind: $(echo "$names" | wc -w) rendered"
  done
  [ "$count" -gt 0 ]
  (cd "$WORK" && ANSIBLE_COLLECTIONS_PATH="$INSTALLED" ansible-playbook mailops.exchange.site --syntax-check \
     -i "$ROOT/inventory/example")
  # ansible.cfg: a clone with no .collections/ finds the collection installed in a default path (~/.ansible/collections).
  local clone="$WORK/clone" home="$WORK/home"
  mkdir -p "$clone" "$home/.ansible/collections"
  cp -r ansible.cfg site.yml inventory "$clone/"
  ln -s "$INSTALLED/ansible_collections" "$home/.ansible/collections/ansible_collections"
  (cd "$clone" && env -u ANSIBLE_COLLECTIONS_PATH HOME="$home" ansible-playbook site.yml --syntax-check \
     -i inventory/example)
}

step_sanity() {
  mkdir -p "$COLLECTION_DIR"
  tar -xzf "$TARBALL" -C "$COLLECTION_DIR"
  local tests=() t
  for t in ${SANITY_TESTS:-}; do tests+=(--test "$t"); done
  (cd "$COLLECTION_DIR" && ansible_test sanity --local --python "$SANITY_PYTHON" --color no "${tests[@]}")
}

step_units() {
  extract_collection
  (cd "$COLLECTION_DIR" && ansible_test units --venv --python "$SANITY_PYTHON" --color no)
}

extract_collection() {
  if [ ! -d "$COLLECTION_DIR/plugins" ]; then mkdir -p "$COLLECTION_DIR"; tar -xzf "$TARBALL" -C "$COLLECTION_DIR"; fi
}

step_galaxy() {
  "$PY" hack/galaxy_import.py "$TARBALL" "$ROOT" "$WORK/galaxy"
}

step_integration() {
  extract_collection
  # hack/integration.sh runs ansible-test itself: this checkout's HOME for it, as above.
  HOME="$AT_HOME" PIP_CACHE_DIR="${PIP_CACHE_DIR:-$REAL_HOME/.cache/pip}" LAB_PYTHON="$PY" \
    flock "$AT_HOME/.lock" bash hack/integration.sh --python "$SANITY_PYTHON" --collection "$COLLECTION_DIR"
}

# CI's share of the support matrix (2.19 is what every other step runs): on the minimum (2.17) and the newest (2.21)
# release every integration target, the units and the sanity tests that exercise the collection against that
# ansible-core (":smoke": ansible-doc, validate-modules, import, compile, action-plugin-docs, runtime-metadata); the
# same smoke on the releases between (2.18, 2.20). About 7.5 minutes on 2 cores (each environment's time is printed);
# `make matrix` (MATRIX_ENVS unset) runs everything - full sanity too - on every release.
CHECK_MATRIX_ENVS="${CHECK_MATRIX_ENVS-integration-py3.12-2.17 unit-py3.12-2.17 sanity-py3.12-2.17:smoke
integration-py3.12-2.21 unit-py3.12-2.21 sanity-py3.12-2.21:smoke sanity-py3.12-2.18:smoke sanity-py3.12-2.20:smoke}"
step_matrix() {
  MATRIX_ENVS="$CHECK_MATRIX_ENVS" LAB_PYTHON="$PY" bash hack/matrix.sh
}

step_lint() {
  local copy="$WORK/lint/exchange" lintcollections="$WORK/lint-collections"
  mkdir -p "$copy" "$lintcollections/ansible_collections/mailops"
  tar -c --exclude=./.git --exclude=./.venv --exclude='./.venv-*' --exclude=./.collections --exclude=./.lab \
      --exclude=./build --exclude=./tests/output --exclude=.pytest_cache --exclude=.hypothesis \
      --exclude=__pycache__ --exclude='./*.tar.gz' . | tar -x -C "$copy"
  ln -s "$copy" "$lintcollections/ansible_collections/mailops/exchange"
  local paths="$lintcollections:$AWX_COLLECTIONS"
  (cd "$copy" && ANSIBLE_COLLECTIONS_PATH="$paths" ansible-playbook awx/configure.yml --syntax-check)
  (cd "$copy" && ANSIBLE_COLLECTIONS_PATH="$paths" ansible-lint --profile production --nocolor)
}

step_docs() {
  "$PY" hack/role_readmes.py --check
  "$PY" hack/connection_docs.py --check
  (cd "$WORK" && ANSIBLE_COLLECTIONS_PATH="$INSTALLED" antsibull-docs lint-collection-docs --plugin-docs \
     "$INSTALLED/ansible_collections/mailops/exchange")
  bash hack/docsite.sh "$INSTALLED" "$WORK/docsite"
}

step_changelog() {
  antsibull-changelog lint
  local copy="$WORK/changelog"
  mkdir -p "$copy"
  cp -r galaxy.yml changelogs "$copy/"
  (cd "$copy" && antsibull-changelog generate)
  if ! diff -u CHANGELOG.rst "$copy/CHANGELOG.rst"; then
    echo "CHANGELOG.rst is not what changelogs/changelog.yaml generates: run antsibull-changelog generate"
    return 1
  fi
}

step_ee() {
  local ee="$WORK/ee"
  mkdir -p "$ee/build"
  cp execution-environment.yml "$ee/"
  cp "$TARBALL" "$ee/build/"
  (cd "$ee" && ansible-builder create -f execution-environment.yml --context "$ee/context" \
     --output-filename Containerfile)
  "$PY" hack/check_ee_context.py "$ee/context" "$TARBALL" "$INSTALLED" "$ROOT"
  # The EE's Python requirements, built as the builder stage builds them (pykerberos against the Kerberos headers;
  # hack/system-deps.sh installs them here); cached per content of meta/ee-requirements.txt.
  local key venv
  key="$(cat meta/ee-requirements.txt | sha256sum | cut -c1-16)"
  venv="$CACHE/ee-python-$key"
  if [ ! -f "$venv/.installed" ]; then
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r meta/ee-requirements.txt
    touch "$venv/.installed"
  fi
  "$venv/bin/python" hack/check_ee_transports.py
}

step_lab() {
  local state="$WORK/lab" run
  mkdir -p "$state"
  PYTHONPATH="$ROOT/tests/lab" "$PY" -m exchange_lab serve --state "$state" --version 2019 --servers EX01,EX02 \
    --domain corp.contoso.com --base-port 0 --zones "$ROOT/tests/lab/zones/demo.json" >"$state/lab.log" 2>&1 &
  LAB_PID=$!
  trap 'kill -TERM "$LAB_PID" 2>/dev/null; wait "$LAB_PID" 2>/dev/null || true' EXIT
  for _ in $(seq 1 300); do
    [ -s "$state/endpoints.json" ] && break
    kill -0 "$LAB_PID" 2>/dev/null || { cat "$state/lab.log"; return 1; }
    sleep 0.2
  done
  [ -s "$state/endpoints.json" ] || { echo "the lab did not start"; cat "$state/lab.log"; return 1; }
  for run in 1 2; do
    echo "--- run $run"
    (cd "$WORK" && MAILOPS_LAB_STATE="$state" ANSIBLE_COLLECTIONS_PATH="$INSTALLED" \
       ansible-playbook mailops.exchange.site -i "$ROOT/inventory/lab") | tee "$state/run$run.log"
  done
  if grep -E '^[A-Za-z0-9]+ +: ok=' "$state/run2.log" | grep -vq 'changed=0'; then
    echo "the second run changed something"; return 1
  fi
  echo "--- a module with only the AWX credential's environment"
  ANSIBLE_COLLECTIONS_PATH="$INSTALLED" "$PY" hack/awx_credential_run.py "$state/endpoints.json" EX01 "$WORK"
}

run_step build step_build
if [ -z "$TARBALL" ]; then TARBALL="$(ls "$DIST"/mailops-exchange-*.tar.gz 2>/dev/null || true)"; fi
if [ -z "$TARBALL" ]; then
  case " $STEPS " in *" install "*|*" galaxy "*|*" sanity "*|*" units "*|*" integration "*|*" docs "*|*" ee "*|*" lab "*)
    ansible-galaxy collection build --output-path "$DIST" "$ROOT" >/dev/null
    TARBALL="$(ls "$DIST"/mailops-exchange-*.tar.gz)" ;;
  esac
fi
case " $STEPS " in *" docs "*|*" ee "*|*" lab "*)
  case " $STEPS " in *" install "*) ;; *)
    mkdir -p "$INSTALLED"
    ANSIBLE_COLLECTIONS_PATH="$INSTALLED" ansible-galaxy collection install -p "$INSTALLED" "$TARBALL" >/dev/null ;;
  esac ;;
esac
run_step install step_install
run_step galaxy step_galaxy
run_step sanity step_sanity
run_step units step_units
run_step integration step_integration
run_step matrix step_matrix
run_step lint step_lint
run_step docs step_docs
run_step changelog step_changelog
run_step ee step_ee
run_step lab step_lab

log "summary"
printf '%s\n' "${SUMMARY[@]}"
exit "$FAILED"
