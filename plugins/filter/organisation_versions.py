# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
name: organisation_versions
short_description: Add each server's Exchange version, as the server reports it, to the organisation's model
version_added: 0.2.0
author:
  - mailops.exchange contributors (!UNKNOWN)
description:
  - Takes the model of P(mailops.exchange.organisation#filter) and the C(servers) that
    M(mailops.exchange.exchange_info) read, and sets C(version) on every server of the model, and C(versions), the
    set of versions. The version is the server's C(AdminDisplayVersion) - 15.0 is 2013, 15.1 is 2016, 15.2 is 2019,
    15.2 build 2562 or later is Subscription Edition.
  - Refuses a server Exchange does not know, a version the collection does not support and a declared
    C(exchange_version) that differs from what the server runs, saying both.
options:
  _input:
    description: The model returned by P(mailops.exchange.organisation#filter).
    type: dict
    required: true
  servers:
    description: The C(servers) returned by M(mailops.exchange.exchange_info) with C(gather=[servers]).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: Read the servers' versions
  mailops.exchange.exchange_info:
    gather: [servers]
  register: preflight_servers
  run_once: true

- name: Add them to the model
  ansible.builtin.set_fact:
    mailops_model: "{{ mailops_model | mailops.exchange.organisation_versions(preflight_servers.servers) }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: The model, each server with C(version) and C(admin_display_version), and C(versions).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.exchange.plugins.module_utils.organisation import OrganisationError, with_server_versions


def organisation_versions(model, servers):
    try:
        return with_server_versions(model, servers)
    except OrganisationError as error:
        raise AnsibleFilterError(str(error))


class FilterModule:
    def filters(self):
        return {"organisation_versions": organisation_versions}
