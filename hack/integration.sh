#!/usr/bin/env bash
# `ansible-test integration` against a fresh lab: starts tests/lab's Exchange (2019, EX01 and EX02), writes
# tests/integration/integration_config.yml in the collection under test (the variables every target reads), runs
# the targets, and stops the lab (also when they fail). Used by `make check` (step integration, on the built
# tarball's content) and by tox-ansible.ini's integration environments (on the collection ade installed).
#
# usage: integration.sh [--python X.Y] [--collection DIR] [--version 2019] [TARGET...]
#   DIR: a collection root inside .../ansible_collections/mailops/exchange (default: the working tree, built with
#   ansible-galaxy into a temporary directory - ansible-test needs a real ansible_collections/ parent). The lab runs
#   on LAB_PYTHON (default: the python on PATH, which needs tests/lab's packages).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
python_version="" collection="" version=2019
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --python) python_version="$2"; shift 2 ;;
    --collection) collection="$2"; shift 2 ;;
    --version) version="$2"; shift 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ -n "$python_version" ] || python_version="$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
state="$(mktemp -d "${TMPDIR:-/tmp}/mailops-integration-lab.XXXXXX")"
lab_pid=""
stop_lab() {
  if [ -n "$lab_pid" ]; then kill -TERM "$lab_pid" 2>/dev/null || true; wait "$lab_pid" 2>/dev/null || true; fi
  [ -z "$collection" ] || rm -f "$collection/tests/integration/integration_config.yml"
  rm -rf "$state"
}
trap stop_lab EXIT
if [ -z "$collection" ]; then
  collection="$state/content/ansible_collections/mailops/exchange"
  mkdir -p "$collection"
  ansible-galaxy collection build --output-path "$state/dist" "$ROOT" >/dev/null
  tar -xzf "$state"/dist/mailops-exchange-*.tar.gz -C "$collection"
fi
# The roles target's organisation is the demo organisation (inventory/lab): its DNS records from tests/lab/zones.
PYTHONPATH="$ROOT/tests/lab" "${LAB_PYTHON:-python}" -m exchange_lab serve --state "$state" --version "$version" \
  --servers EX01,EX02 --domain corp.contoso.com --base-port 0 --zones "$ROOT/tests/lab/zones/demo.json" \
  >"$state/lab.log" 2>&1 &
lab_pid=$!
for _ in $(seq 1 300); do
  [ -s "$state/endpoints.json" ] && break
  kill -0 "$lab_pid" 2>/dev/null || { cat "$state/lab.log"; exit 1; }
  sleep 0.2
done
[ -s "$state/endpoints.json" ] || { echo "the lab did not start"; cat "$state/lab.log"; exit 1; }
"${LAB_PYTHON:-python}" - "$state" "$ROOT" "$collection/tests/integration/integration_config.yml" <<'PYEOF'
import json, os, sys
from urllib.parse import urlsplit
state, root, target = sys.argv[1:]
lab = json.load(open(os.path.join(state, "endpoints.json")))
def connection(server):
    url = urlsplit(lab["servers"][server]["https"])
    return {"exchange_host": url.hostname, "exchange_port": url.port, "exchange_scheme": "https",
            "exchange_transport": "ntlm", "exchange_username": lab["username"], "exchange_password": lab["password"],
            "exchange_ca_trust_path": lab["ca_bundle"], "exchange_server_fqdn": lab["servers"][server]["fqdn"]}
config = {
    # The server the module targets talk to, and how (the modules' connection options).
    "exchange_server": "EX01",
    "exchange_connection": connection("EX01"),
    # The roles target: an inventory of the lab's Mailbox servers (tests/lab; inventory/lab reads the same file).
    "mailops_lab_state": state,
    "mailops_lab_pythonpath": os.path.join(root, "tests", "lab"),
}
with open(target, "w") as handle:
    json.dump(config, handle, indent=2)
PYEOF
cd "$collection"
ansible-test integration --local --python "$python_version" --color no "${targets[@]}"
