#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r'''
---
module: exchange_email_address_policy
short_description: Set the address templates of an Exchange email address policy and apply it
version_added: "0.1.0"
description:
  - Sets the email address templates of an existing email address policy (C(Set-EmailAddressPolicy
    -EnabledEmailAddressTemplates)) and applies the policy to its recipients (C(Update-EmailAddressPolicy)) when the
    policy changed or when O(force_apply=true).
  - Every template's domain must be an accepted domain. The module reads the policies and the accepted domains in
    one round and refuses a template for any other domain before it writes anything, with a message naming the
    domain.
  - A task that writes reads its object back in the same round trip as the writes; what it returns (and its diff's
    C(after)) is what Exchange reads. A write that ran without an error but did not take fails the task, naming the
    cmdlet, the object and each parameter still to change (C(still_to_change) in the result); a task that writes
    nothing reads once.
author:
  - mailops.exchange developers (!UNKNOWN)
extends_documentation_fragment:
  - mailops.exchange.connection
  - mailops.exchange.attributes
options:
  name:
    description:
      - Name of the email address policy.
    type: str
    default: Default Policy
  primary_smtp_address_template:
    description:
      - The template of the primary SMTP address, for example C(@contoso.com) (alias@contoso.com) or
        C(%g.%s@contoso.com) (first name.last name). C(SMTP:) may be written in front of it.
      - The variables are Exchange's (C(%g) given name, C(%s) surname, C(%i) initials, C(%d) display name,
        C(%m) alias, C(%1g) the first letter of the given name, C(%rxy) replaces x by y).
    type: str
    required: true
  extra_templates:
    description:
      - Secondary SMTP address templates (proxy addresses), for example C(@fabrikam.com) or C(smtp:%m@fabrikam.com).
      - The list replaces the policy's secondary SMTP templates (an empty list removes them); templates of other
        address types (X400, EUM, ...) are kept. When omitted, the secondary templates are left as they are.
    type: list
    elements: str
  apply:
    description:
      - Apply the policy to its recipients with C(Update-EmailAddressPolicy) after changing it.
    type: bool
    default: true
  force_apply:
    description:
      - Run C(Update-EmailAddressPolicy) even when the policy did not change (for example after adding recipients
        that have not been stamped). This always reports a change.
    type: bool
    default: false
  check_mode_accepted_domains:
    description:
      - In check mode only, domains to count as accepted in addition to those Exchange lists - the accepted domains
        an earlier task of the same check run would add (the C(email_address_policy) role passes step 2's domains).
        Without it, a whole play in check mode on a new organisation would refuse every template of a domain that
        step 2 has not yet really added.
      - Ignored in a real run, where only the accepted domains Exchange lists count.
    type: list
    elements: str
    version_added: 0.2.0
notes:
  - The policy must exist (C(Default Policy) always does); creating policies with recipient filters is not in scope.
seealso:
  - module: mailops.exchange.exchange_accepted_domain
  - name: Email address policies in Exchange Server
    description: Microsoft's documentation.
    link: https://learn.microsoft.com/exchange/email-addresses-and-address-books/email-address-policies/email-address-policies
'''

EXAMPLES = r'''
- name: Everyone gets alias@contoso.com, the policy is applied to existing recipients
  mailops.exchange.exchange_email_address_policy:
    primary_smtp_address_template: "@contoso.com"

- name: first.last@contoso.com as primary, alias@fabrikam.com as secondary
  mailops.exchange.exchange_email_address_policy:
    name: Default Policy
    primary_smtp_address_template: "%g.%s@contoso.com"
    extra_templates:
      - "@fabrikam.com"

- name: Re-stamp recipients without changing the policy
  mailops.exchange.exchange_email_address_policy:
    primary_smtp_address_template: "@contoso.com"
    force_apply: true
'''

RETURN = r'''
email_address_policy:
  description: The policy after the run (predicted in check mode) in the shape of the module's options.
  returned: success
  type: dict
  contains:
    name:
      description: Policy name.
      type: str
      sample: Default Policy
    primary_smtp_address_template:
      description: The primary template as Exchange stores it.
      type: str
      sample: SMTP:@contoso.com
    extra_templates:
      description: The other enabled templates as Exchange stores them.
      type: list
      elements: str
      sample: ['smtp:@fabrikam.com']
    applied:
      description: Whether Update-EmailAddressPolicy ran (or would run) in this run.
      type: bool
commands:
  description: The Exchange Management Shell commands run (or, in check mode, that would run), in order.
  returned: always
  type: list
  elements: str
  sample:
    - Set-EmailAddressPolicy -Identity 'Default Policy' -EnabledEmailAddressTemplates @('SMTP:@contoso.com')
    - Update-EmailAddressPolicy -Identity 'Default Policy'
accepted_domains:
  description: The accepted domains read, against which the templates were checked.
  returned: success
  type: list
  elements: str
diff:
  description: Before and after of the templates (with C(--diff)).
  returned: when diff mode is on
  type: dict
'''

import re

from ansible_collections.mailops.exchange.plugins.module_utils import canonical
from ansible_collections.mailops.exchange.plugins.module_utils.exchange_module import ExchangeModule
from ansible_collections.mailops.exchange.plugins.module_utils.exchange_objects import EMAIL_ADDRESS_POLICY
from ansible_collections.mailops.exchange.plugins.module_utils.quoting import ps_command
from ansible_collections.mailops.exchange.plugins.module_utils.resource import as_list

READ_SCRIPT = """$policies = @(Get-EmailAddressPolicy | ForEach-Object {
    [pscustomobject]@{
""" + EMAIL_ADDRESS_POLICY.projection() + """
    }
})
$domains = @(Get-AcceptedDomain | ForEach-Object {
    [pscustomobject]@{ DomainName = [string]$_.DomainName; DomainType = [string]$_.DomainType }
})
ConvertTo-Json -InputObject ([pscustomobject]@{ policies = $policies; domains = $domains }) -Depth 6 -Compress
"""

# A local part: literal address characters and Exchange's variables (%g %s %i %d %m, %<n>g, %rxy).
_LOCAL_RE = re.compile(r"^(?:[A-Za-z0-9!#$&*+/=?^_`{|}~.\-]|%\d*[gsidmGSIDM]|%r..)*\Z")


def validate_template(template, primary):
    """Syntax check of one SMTP template (raises ValueError); returns its canonical form."""
    value = canonical.address_template(template, primary=primary)
    if value is None:
        raise ValueError("an email address template must not be empty")
    prefix, _unused, rest = value.partition(":")
    if prefix.upper() != "SMTP":
        raise ValueError("%r is not an SMTP address template" % template)
    if primary and prefix != "SMTP":
        raise ValueError("primary_smtp_address_template %r is marked secondary (smtp:)" % template)
    if not primary and prefix != "smtp":
        raise ValueError("extra template %r is marked primary (SMTP:); the primary address is "
                         "primary_smtp_address_template" % template)
    if "@" not in rest:
        raise ValueError("email address template %r has no @domain (for example @contoso.com or %%g.%%s@contoso.com)"
                         % template)
    local, _unused, domain = rest.rpartition("@")
    if not _LOCAL_RE.match(local):
        raise ValueError("the part before @ of template %r may only hold address characters and Exchange's "
                         "variables (%%g %%s %%i %%d %%m %%1g %%rxy)" % template)
    if not canonical.valid_domain(domain):
        raise ValueError("template %r: %r is not a valid domain name" % (template, domain))
    return value


def validate(params):
    if canonical.text(params.get("name")) is None:
        raise ValueError("name must not be empty")
    validate_template(params.get("primary_smtp_address_template"), True)
    for template in params.get("extra_templates") or []:
        validate_template(template, False)


def plan(params, read, assumed_domains=None):
    """Pure planning: (commands, before, after, accepted domain names) from the options and the read round.

    ``assumed_domains`` (check mode only) count as accepted besides those Exchange lists.
    """
    read = read or {}
    policies = as_list(read.get("policies"))
    domains = [d.get("DomainName") for d in as_list(read.get("domains")) if d.get("DomainName")]
    for domain in assumed_domains or []:
        if canonical.fqdn(domain) not in [canonical.fqdn(d) for d in domains]:
            domains.append(canonical.fqdn(domain))
    name = params["name"].strip()
    policy = EMAIL_ADDRESS_POLICY.find([EMAIL_ADDRESS_POLICY.read(p) for p in policies], name)
    if policy is None:
        raise ValueError("email address policy '%s' does not exist (policies: %s)"
                         % (name, ", ".join(p.get("Name") or "" for p in policies) or "none"))

    primary = validate_template(params["primary_smtp_address_template"], True)
    extras = [validate_template(t, False) for t in params.get("extra_templates") or []] \
        if params.get("extra_templates") is not None else None
    wanted_templates = [primary] + (extras or [])
    not_accepted = []
    for template in wanted_templates:
        domain = canonical.domain_of_template(template)
        if not canonical.domain_covered(domain, domains) and domain not in not_accepted:
            not_accepted.append(domain)
    if not_accepted:
        raise ValueError("email address policy '%s': %s %s not an accepted domain of this organisation (accepted "
                         "domains: %s); add it with exchange_accepted_domain first. Nothing was changed."
                         % (name, ", ".join(not_accepted), "is" if len(not_accepted) == 1 else "are",
                            ", ".join(domains) or "none"))

    current = [t for t in (canonical.address_template(t, primary=False) for t in policy["templates"]) if t]
    current_primary = next((t for t in current if canonical.is_primary_template(t)), None)
    current_extras = [t for t in current if not canonical.is_primary_template(t)]
    others = [t for t in current_extras if not t.lower().startswith("smtp:")]
    if extras is None:
        desired = [primary] + current_extras
    else:
        desired = [primary] + extras + others

    before = {"name": policy["name"], "primary_smtp_address_template": current_primary,
              "extra_templates": current_extras}
    after = {"name": policy["name"], "primary_smtp_address_template": primary,
             "extra_templates": [t for t in desired if t != primary]}
    commands, _unused = EMAIL_ADDRESS_POLICY.update(dict(policy, templates=current), {"templates": desired})
    changed = bool(commands)
    applied = bool(params.get("apply", True)) and (changed or bool(params.get("force_apply")))
    if applied:
        commands.append(ps_command("Update-EmailAddressPolicy", {"Identity": policy["name"]}))
    after["applied"] = applied
    return commands, before, after, domains


def main():
    module = ExchangeModule(
        argument_spec=dict(
            name=dict(type="str", default="Default Policy"),
            primary_smtp_address_template=dict(type="str", required=True),
            extra_templates=dict(type="list", elements="str"),
            apply=dict(type="bool", default=True),
            force_apply=dict(type="bool", default=False),
            check_mode_accepted_domains=dict(type="list", elements="str"),
        ),
    )

    def run(module):
        validate(module.params)
        assumed = module.params.get("check_mode_accepted_domains") if module.check_mode else None
        # Organisation-wide: another run may create the same policy between the read and the write.
        # Read back in the write's round trip; force_apply would apply again whatever is read.
        commands, before, after, domains = module.converge(
            lambda: module.query(READ_SCRIPT), lambda read: plan(module.params, read, assumed), read_back=READ_SCRIPT,
            replan=lambda read: plan(dict(module.params, force_apply=False), read, assumed))
        after = dict(after, applied=any(line.startswith("Update-EmailAddressPolicy ") for line in commands))
        diff_after = dict(after)
        diff_after.pop("applied", None)
        module.exit(changed=bool(commands), before=before, after=diff_after, email_address_policy=after,
                    accepted_domains=domains)

    module.run(run)


if __name__ == "__main__":
    main()
