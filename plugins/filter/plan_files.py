# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
name: plan_files
short_description: The plan of an Exchange organisation as files for DNS, PKI and client-settings teams
version_added: 0.2.0
author:
  - mailops.exchange contributors (!UNKNOWN)
description:
  - Pure computation on the controller. Takes the model of P(mailops.exchange.organisation#filter) and the certificate
    requests found so far, and returns each file of the plan as text, by file name - C(urls.csv) (every virtual
    directory's internal and external URL per server), C(dns-public.zone) and C(dns-private.zone) (zone-file
    lines), C(dns.csv), C(certificate.txt) (subject, names and each server's request), C(client-settings.txt)
    (authenticated SMTP for POP3 and IMAP4 clients), C(plan.json) and C(plan.html) (one self-contained page).
  - The C(mailops.exchange.plan) playbook writes them.
options:
  _input:
    description: The model returned by P(mailops.exchange.organisation#filter).
    type: dict
    required: true
  requests:
    description:
      - The certificate requests on the controller, each a mapping with C(file) (its path, named C(<server>.req))
        and C(pem) (its content). Requests of servers that are not in the model are left out.
    type: list
    elements: dict
    default: []
"""

EXAMPLES = r"""
- name: Write the plan
  ansible.builtin.copy:
    content: "{{ item.value }}"
    dest: "/srv/plan/{{ item.key }}"
    mode: "0644"
  loop: "{{ mailops_model | mailops.exchange.plan_files | dict2items }}"
  loop_control:
    label: "{{ item.key }}"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
_value:
  description: File name to content (text).
  type: dict
"""

import os

from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.exchange.plugins.module_utils import certificate_info as ci
from ansible_collections.mailops.exchange.plugins.module_utils.plan_document import plan_files as render


def _decoded(model, requests):
    servers = dict((s["name"].lower(), s["name"]) for s in model.get("servers") or [])
    decoded = {}
    for request in requests or []:
        path = request.get("file") or ""
        base = os.path.basename(path)
        name = base[:-len(".req")] if base.lower().endswith(".req") else base
        if name.lower() not in servers:
            continue
        try:
            facts = ci.describe_request(ci.load_request(request.get("pem") or ""))
        except ci.CertificateError as error:
            raise AnsibleFilterError("plan_files: %s is not a certificate request: %s" % (path, error))
        facts.update(file=path, pem=ci.request_pem(ci.load_request(request.get("pem") or "")))
        decoded[servers[name.lower()]] = facts
    return decoded


def plan_files(model, requests=None):
    if not isinstance(model, dict) or "plan" not in model:
        raise AnsibleFilterError("plan_files: the input must be the model of the mailops.exchange.organisation filter")
    if not ci.HAS_CRYPTOGRAPHY:
        raise AnsibleFilterError("plan_files: the Python library cryptography is required to read certificate requests")
    return render(model, _decoded(model, requests))


class FilterModule:
    def filters(self):
        return {"plan_files": plan_files}
