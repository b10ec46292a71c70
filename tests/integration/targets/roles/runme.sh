#!/usr/bin/env bash
# The collection's roles through its playbook mailops.exchange.site against the Exchange integration_config.yml
# describes (a lab: the inventory is the lab's), twice - the second run must change nothing - and then the
# procedure's proof, mailops.exchange.exchange_validate, in check mode and for real.
set -eux -o pipefail
config="$(cd ../.. && pwd)/integration_config.yml"
export ANSIBLE_CALLBACK_RESULT_FORMAT=yaml ANSIBLE_SHOW_CUSTOM_STATS=true
ansible-playbook mailops.exchange.site -i inventory -e "@$config" "$@" | tee "${OUTPUT_DIR:-/tmp}/site-run1.log"
ansible-playbook mailops.exchange.site -i inventory -e "@$config" "$@" | tee "${OUTPUT_DIR:-/tmp}/site-run2.log"
if grep -E '^EX0[12] +: ok=' "${OUTPUT_DIR:-/tmp}/site-run2.log" | grep -v 'changed=0'; then
  echo "the second run of mailops.exchange.site changed something" >&2
  exit 1
fi
ansible-playbook validate.yml -i inventory -e "@$config" "$@"
