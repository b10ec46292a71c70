# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
name: url_plan_step
short_description: The external (step 4) or internal (step 5) part of a URL plan
version_added: 0.1.0
author:
  - mailops.exchange contributors (!UNKNOWN)
description:
  - Takes the result of P(mailops.exchange.url_plan#filter) and keeps what one step of the procedure configures -
    the external URLs and Outlook Anywhere external host name (step 4), or the internal URLs, Outlook Anywhere
    internal host name and Autodiscover internal URI (step 5) - in the option shapes of
    M(mailops.exchange.exchange_vdir_url).
options:
  _input:
    description: A URL plan.
    type: dict
    required: true
  side:
    description: Which step.
    type: str
    choices: [external, internal]
    required: true
  require_ssl:
    description: The SSL requirement to set with the Outlook Anywhere host name.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Step 4
  mailops.exchange.exchange_vdir_url:
    server: EX01
    urls: "{{ plan_external.urls }}"
    outlook_anywhere: "{{ plan_external.outlook_anywhere }}"
  vars:
    plan_external: "{{ {'external_fqdn': 'mail.contoso.com'} | mailops.exchange.url_plan | mailops.exchange.url_plan_step('external') }}"
"""

RETURN = r"""
_value:
  description: C(urls), C(outlook_anywhere) and, for the internal side, C(autodiscover_internal_uri).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.exchange.plugins.module_utils.plan_views import step_view


def url_plan_step(plan, side, require_ssl=True):
    try:
        return step_view(plan, side, require_ssl)
    except ValueError as error:
        raise AnsibleFilterError("url_plan_step: %s" % error)


class FilterModule:
    def filters(self):
        return {"url_plan_step": url_plan_step}
