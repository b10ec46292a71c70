#!/usr/bin/env bash
# `make demo`: start a fresh lab (Exchange 2019, EX01 and EX02, DNS views, TLS listeners), run site.yml against it,
# run it again to show that nothing changes, print the validation report, stop the lab.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV_BIN="$PWD/.venv/bin"
export MAILOPS_LAB_STATE="$PWD/.lab/demo"
export PATH="$VENV_BIN:$PATH"
export ANSIBLE_CONFIG="$PWD/ansible.cfg"
VERSION="${LAB_VERSION:-2019}"
SERVERS=EX01,EX02  # the hosts of inventory/lab/hosts.yml

rm -rf "$MAILOPS_LAB_STATE"
mkdir -p "$MAILOPS_LAB_STATE"
# The lab's DNS views hold the demo organisation's records, transcribed from the seeds' tables (tests/lab/zones).
PYTHONPATH="$PWD/tests/lab" python -m exchange_lab serve --state "$MAILOPS_LAB_STATE" --version "$VERSION" \
  --servers "$SERVERS" --domain corp.contoso.com --base-port 0 --zones "$PWD/tests/lab/zones/demo.json" \
  >"$MAILOPS_LAB_STATE/lab.log" 2>&1 &
LAB_PID=$!
trap 'kill -TERM $LAB_PID 2>/dev/null; wait $LAB_PID 2>/dev/null || true' EXIT

for _ in $(seq 1 300); do
  [ -s "$MAILOPS_LAB_STATE/endpoints.json" ] && break
  if ! kill -0 $LAB_PID 2>/dev/null; then cat "$MAILOPS_LAB_STATE/lab.log" >&2; exit 1; fi
  sleep 0.2
done
[ -s "$MAILOPS_LAB_STATE/endpoints.json" ] || { echo "the lab did not start" >&2; cat "$MAILOPS_LAB_STATE/lab.log" >&2; exit 1; }
echo "== first run: configure the lab organisation"
ansible-playbook site.yml -i inventory/lab 2>&1 | tee "$MAILOPS_LAB_STATE/run1.log"
echo "== second run: nothing may change"
ansible-playbook site.yml -i inventory/lab 2>&1 | tee "$MAILOPS_LAB_STATE/run2.log"
if grep -E '^[A-Za-z0-9]+ +: ok=' "$MAILOPS_LAB_STATE/run2.log" | grep -vq 'changed=0'; then
  echo "the second run changed something (see $MAILOPS_LAB_STATE/run2.log)" >&2
  exit 1
fi
echo "== validation report ($MAILOPS_LAB_STATE/validation)"
cat "$MAILOPS_LAB_STATE/validation/report.txt"
