# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
name: url_plan_differences
short_description: What differs between the client access URLs Exchange reads and one step of a URL plan
version_added: 0.2.0
author:
  - mailops.exchange contributors (!UNKNOWN)
description:
  - The check of steps 4 and 5 (I(How do you know this step worked?)) in one expression - every virtual directory's
    URL, Outlook Anywhere's host name and, for the internal step, the Autodiscover internal URI - instead of a task
    per virtual directory.
  - Takes what M(mailops.exchange.exchange_vdir_url) returns (what Exchange reads after its writes, or in check mode
    what the module says the state will be) and the step's view from P(mailops.exchange.url_plan_step#filter).
  - URLs are compared as written; the host name and the Autodiscover URI without case.
options:
  _input:
    description: The result of M(mailops.exchange.exchange_vdir_url) (its C(urls), C(outlook_anywhere) and
      C(autodiscover_internal_uri)).
    type: dict
    required: true
  wanted:
    description: The step's view of the URL plan (P(mailops.exchange.url_plan_step#filter)).
    type: dict
    required: true
  side:
    description: Which step.
    type: str
    choices: [external, internal]
    required: true
"""

EXAMPLES = r"""
- name: Check every external URL and the Outlook Anywhere external host name (step 4)
  ansible.builtin.assert:
    that: differences | length == 0
    fail_msg: "{{ differences | join('; ') }}"
  vars:
    differences: "{{ step4_result | mailops.exchange.url_plan_differences(step4_wanted, 'external') }}"
"""

RETURN = r"""
_value:
  description: One sentence per difference (empty when the step worked), for example C(the ews virtual directory's
    external URL is not set, the procedure (step 4) wants https://mail.contoso.com/EWS/Exchange.asmx).
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.exchange.plugins.module_utils.plan_views import step_differences


def url_plan_differences(found, wanted, side):
    try:
        return step_differences(found, wanted, side)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise AnsibleFilterError("url_plan_differences: %s" % error) from None


class FilterModule:
    def filters(self):
        return {"url_plan_differences": url_plan_differences}
