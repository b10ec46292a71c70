# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
name: organisation
short_description: Check the organisation's variables once, before anything is written, and normalise them
version_added: 0.2.0
author:
  - mailops.exchange contributors (!UNKNOWN)
description:
  - Pure computation on the controller - no connection to anything. The C(preflight) role and the C(plan) playbook
    call it once per play; every step then works from the model it returns.
  - Normalises every name (lower case, no trailing dot) and refuses, naming the variable and the rule, anything
    that cannot work - control characters, invalid labels, URLs or paths or IP addresses where a host name belongs,
    unknown options, duplicate servers or domains, more than one default domain, email address templates outside the
    accepted domains, Send connector source servers that are not Mailbox servers, certificate names that do not
    cover the URL plan (the Client Frontend FQDN included), a certificate with neither a request directory nor a PFX,
    an unsupported declared C(exchange_version). Every refusal is listed at once.
options:
  _input:
    description:
      - The variables, a mapping with C(mailops_namespace), C(mailops_accepted_domains),
        C(mailops_email_address_policy), C(mailops_send_connector), C(mailops_certificate) (optional),
        C(mailops_servers) and C(exchange_versions) (server name to its declared C(exchange_version), optional).
    type: dict
    required: true
seealso:
  - plugin: mailops.exchange.url_plan
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Check the organisation's variables before the first write
  ansible.builtin.set_fact:
    mailops_model: >-
      {{ {'mailops_namespace': mailops_namespace, 'mailops_accepted_domains': mailops_accepted_domains,
          'mailops_email_address_policy': mailops_email_address_policy,
          'mailops_send_connector': mailops_send_connector, 'mailops_servers': mailops_servers}
         | mailops.exchange.organisation }}
  run_once: true
"""

RETURN = r"""
_value:
  description:
    - The model - C(namespace) (normalised), C(plan) (the P(mailops.exchange.url_plan#filter) filter's result),
      C(servers) (C(name), C(fqdn), C(declared_version)), C(accepted_domains), C(email_address_policy),
      C(send_connector), C(certificate) (with C(domain_names) defaulting to the plan's names) and
      C(client_frontend_fqdn).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.exchange.plugins.module_utils.organisation import OrganisationError, check_organisation


def organisation(variables):
    try:
        return check_organisation(variables)
    except OrganisationError as error:
        raise AnsibleFilterError(str(error))


class FilterModule:
    def filters(self):
        return {"organisation": organisation}
