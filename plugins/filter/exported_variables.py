# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
name: exported_variables
short_description: A running Exchange organisation as the variables the site playbook takes
version_added: 0.2.0
author:
  - mailops.exchange contributors (!UNKNOWN)
description:
  - Pure computation on the controller, the inverse of the procedure. Takes what M(mailops.exchange.exchange_info)
    read (C(gather=all)) and returns C(mailops_namespace), C(mailops_accepted_domains),
    C(mailops_email_address_policy), C(mailops_send_connector) and C(mailops_certificate) such that the
    C(mailops.exchange.site) playbook with them reports no change on the same organisation.
  - What Exchange does not hold (the public address, the private DNS target, the certificate request directory)
    comes from O(keep), the inventory's current values. A PFX password is never exported.
  - Where the servers disagree, the value most servers have is exported and C(notes) says so.
  - The C(mailops.exchange.export) playbook writes the result as a group_vars file.
options:
  _input:
    description: The result of M(mailops.exchange.exchange_info) with C(gather=all).
    type: dict
    required: true
  keep:
    description:
      - The inventory's current C(mailops_namespace), C(mailops_email_address_policy), C(mailops_send_connector),
        C(mailops_certificate), and C(servers) (the names of the servers to export from; default all).
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Read the organisation
  mailops.exchange.exchange_info:
    gather: [all]
  register: organisation_read
  run_once: true

- name: Write the variables site.yml takes
  ansible.builtin.copy:
    content: "{{ (organisation_read | mailops.exchange.exported_variables).variables | to_nice_yaml }}"
    dest: inventory/yours/group_vars/all/organisation.yml
    mode: "0600"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
_value:
  description: C(variables) (the five variables) and C(notes) (what the export had to decide).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.exchange.plugins.module_utils.organisation_export import ExportError, exported_variables as export


def exported_variables(info, keep=None):
    try:
        variables, notes = export(info or {}, keep or {})
    except ExportError as error:
        raise AnsibleFilterError("exported_variables: %s" % error)
    return {"variables": variables, "notes": notes}


class FilterModule:
    def filters(self):
        return {"exported_variables": exported_variables}
