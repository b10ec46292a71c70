# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
name: address_space
short_description: An Exchange send connector address space in its canonical form
version_added: 0.1.0
author:
  - mailops.exchange contributors (!UNKNOWN)
description:
  - Exchange reads an address space back as C(SMTP:*;1) where it was set as C(*). This filter gives both the same
    canonical form (C(SMTP:<domain>;<cost>)), so playbooks compare what they asked for with what Exchange reports.
options:
  _input:
    description: An address space such as C(*), C(contoso.com) or C(SMTP:*;1).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Compare address spaces
  ansible.builtin.assert:
    that:
      - "'*' | mailops.exchange.address_space == 'SMTP:*;1' | mailops.exchange.address_space"
"""

RETURN = r"""
_value:
  description: The canonical address space, for example C(SMTP:*;1).
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.exchange.plugins.module_utils import canonical


def address_space(value):
    try:
        return canonical.address_space(value)
    except ValueError as error:
        raise AnsibleFilterError("address_space: %s" % error)


class FilterModule:
    def filters(self):
        return {"address_space": address_space}
