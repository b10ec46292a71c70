#!/usr/bin/env bash
# tox-ansible.ini's unit command: `ansible-test units` on the installed collection (as `make check` runs them), and a
# failure when no test ran - ansible-test takes pytest's "no tests ran" (exit 5) for success, which would let a
# collection error in every test module pass unseen.
#
# pytest-ansible, which tox-ansible installs for its own (plain pytest) unit command, loads itself into every pytest
# and rewrites ANSIBLE_COLLECTIONS_PATH inside ansible-test's run, so that no test module imports; it is removed from
# the environment first (this command replaces tox-ansible's).
#
# usage: tox_units.sh COLLECTION_DIR PYTHON_VERSION
set -euo pipefail
python -m pip uninstall --quiet --yes pytest-ansible >/dev/null 2>&1 || true
cd "$1"
rm -rf tests/output/junit
ansible-test units --local --python "$2" --color no
python - <<'PYEOF'
import glob, sys
import xml.etree.ElementTree as ET
tests = failures = 0
for path in glob.glob("tests/output/junit/*.xml"):
    root = ET.parse(path).getroot()
    for suite in ([root] if root.tag == "testsuite" else root.iter("testsuite")):
        tests += int(suite.get("tests", 0))
        failures += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
if tests == 0 or failures:
    sys.exit("ansible-test units: %d tests ran, %d failed or errored" % (tests, failures))
print("ansible-test units: %d tests ran, none failed" % tests)
PYEOF
