#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r'''
---
module: exchange_accepted_domain
short_description: Manage an Exchange accepted domain
version_added: "0.1.0"
description:
  - Creates, changes or removes an accepted domain (C(New-AcceptedDomain), C(Set-AcceptedDomain),
    C(Remove-AcceptedDomain)) and makes it the organisation's default domain.
  - Reads all accepted domains once, compares on the controller and runs at most one batch of commands.
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
      - Name of the accepted domain (its identity), for example C(Contoso).
    type: str
    required: true
  domain_name:
    description:
      - The SMTP domain, for example C(contoso.com); C(*.contoso.com) accepts the domain and its subdomains.
      - Required when the accepted domain does not exist yet. The domain of an existing accepted domain cannot be
        changed (Exchange has no parameter for it); the module refuses a different value.
    type: str
  domain_type:
    description:
      - C(Authoritative) - mailboxes for this domain are in this organisation.
      - C(InternalRelay) - some recipients are elsewhere; mail for unknown recipients is relayed.
      - C(ExternalRelay) - no recipient is here; all mail is relayed.
      - When creating, defaults to C(Authoritative) (Exchange's default). When omitted for an existing domain, the
        type is left as it is.
    type: str
    choices: [Authoritative, InternalRelay, ExternalRelay]
  make_default:
    description:
      - C(true) makes this domain the default accepted domain (C(Set-AcceptedDomain -MakeDefault $true)).
      - C(false) or omitted leaves the default alone; there is always exactly one default domain, so to move it,
        make another domain the default.
    type: bool
    default: false
  state:
    description:
      - C(present) creates or updates the accepted domain, C(absent) removes it.
      - The default accepted domain cannot be removed; make another domain the default first.
    type: str
    choices: [present, absent]
    default: present
seealso:
  - module: mailops.exchange.exchange_email_address_policy
  - name: Accepted domains in Exchange Server
    description: Microsoft's documentation of accepted domain types.
    link: https://learn.microsoft.com/exchange/mail-flow/accepted-domains/accepted-domains
'''

EXAMPLES = r'''
- name: Accept mail for contoso.com (authoritative) and make it the default domain
  mailops.exchange.exchange_accepted_domain:
    exchange_host: ex01.corp.contoso.com
    exchange_username: CORP\administrator
    exchange_password: "{{ vault_exchange_password }}"
    name: Contoso
    domain_name: contoso.com
    domain_type: Authoritative
    make_default: true

- name: Relay mail for a partner domain through this organisation
  mailops.exchange.exchange_accepted_domain:
    name: Fabrikam relay
    domain_name: fabrikam.com
    domain_type: InternalRelay

- name: Remove an accepted domain
  mailops.exchange.exchange_accepted_domain:
    name: Old domain
    state: absent
'''

RETURN = r'''
accepted_domain:
  description: The accepted domain after the run (predicted in check mode), in the shape of the module's options;
    empty when absent.
  returned: always
  type: dict
  contains:
    name:
      description: Name of the accepted domain.
      type: str
      sample: Contoso
    domain_name:
      description: The SMTP domain.
      type: str
      sample: contoso.com
    domain_type:
      description: Authoritative, InternalRelay or ExternalRelay.
      type: str
      sample: Authoritative
    make_default:
      description: Whether it is the default accepted domain.
      type: bool
      sample: true
    state:
      description: present or absent.
      type: str
      sample: present
commands:
  description: The Exchange Management Shell commands run (or, in check mode, that would run), in order.
  returned: always
  type: list
  elements: str
  sample:
    - New-AcceptedDomain -Name 'Contoso' -DomainName 'contoso.com' -DomainType 'Authoritative'
    - Set-AcceptedDomain -Identity 'Contoso' -MakeDefault:$true
diff:
  description: Before and after of the managed properties (with C(--diff)).
  returned: when diff mode is on
  type: dict
'''

from ansible_collections.mailops.exchange.plugins.module_utils import canonical
from ansible_collections.mailops.exchange.plugins.module_utils.exchange_module import ExchangeModule
from ansible_collections.mailops.exchange.plugins.module_utils.exchange_objects import ACCEPTED_DOMAIN

READ_SCRIPT = """$domains = @(Get-AcceptedDomain | ForEach-Object {
    [pscustomobject]@{
""" + ACCEPTED_DOMAIN.projection() + """
    }
})
ConvertTo-Json -InputObject $domains -Depth 4 -Compress
"""

DOMAIN_TYPES = ("Authoritative", "InternalRelay", "ExternalRelay")


def normalise(record):
    """An accepted domain as read (Exchange names) -> the module's options shape."""
    out = ACCEPTED_DOMAIN.read(record)
    out["domain_name"] = canonical.fqdn(out["domain_name"])
    return out


def validate(params):
    """Checks that need no Exchange: raise ValueError with the reason."""
    name = canonical.text(params.get("name"))
    if name is None:
        raise ValueError("name must not be empty")
    if params.get("domain_name") is not None and not canonical.valid_domain(params["domain_name"], wildcard=True):
        raise ValueError("domain_name %r is not a valid domain name (for example contoso.com or *.contoso.com)"
                         % params["domain_name"])
    if params.get("state") == "absent" and params.get("make_default"):
        raise ValueError("make_default=true cannot be combined with state=absent")


def plan(params, domains):
    """Pure planning: (commands, before, after) from the options and every accepted domain as read."""
    name = params["name"].strip()
    records = [normalise(d) for d in (domains or [])]
    current = ACCEPTED_DOMAIN.find(records, name)
    before = dict(current) if current else {"name": name, "state": "absent"}

    if params.get("state") == "absent":
        if current is not None and current["make_default"]:
            raise ValueError("accepted domain '%s' (%s) is the default accepted domain and cannot be removed; "
                             "make another accepted domain the default first" % (current["name"], current["domain_name"]))
        commands, after = ACCEPTED_DOMAIN.remove(current)
        return commands, before, after or dict(before)

    wanted = dict((option, params[option]) for option in ("domain_name", "domain_type") if params.get(option))
    if params.get("make_default"):
        wanted["make_default"] = True
    if current is None:
        if "domain_name" not in wanted:
            raise ValueError("accepted domain '%s' does not exist: domain_name is required to create it" % name)
        domain = canonical.fqdn(wanted["domain_name"])
        clash = next((r for r in records if r["domain_name"] == domain), None)
        if clash is not None:
            raise ValueError("domain %s is already the accepted domain '%s'" % (domain, clash["name"]))
        wanted.setdefault("domain_type", "Authoritative")
        # New-AcceptedDomain has no -MakeDefault: a new default is made so by Set-AcceptedDomain.
        make_default = wanted.pop("make_default", False)
        line, given = ACCEPTED_DOMAIN.create([("Name", name)], wanted)
        commands = [line]
        if make_default:
            commands.extend(ACCEPTED_DOMAIN.update(dict(given, name=name, make_default=False),
                                                   {"make_default": True})[0])
        after = dict(given, name=name, make_default=bool(make_default), state="present")
        return commands, before, after

    if "domain_name" in wanted and canonical.fqdn(wanted["domain_name"]) != current["domain_name"]:
        raise ValueError("accepted domain '%s' is for %s, not %s: Set-AcceptedDomain cannot change the domain; "
                         "remove it and create it again, or use another name"
                         % (current["name"], current["domain_name"], canonical.fqdn(wanted["domain_name"])))
    commands, after = ACCEPTED_DOMAIN.update(current, wanted)
    return commands, before, after


def main():
    module = ExchangeModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            domain_name=dict(type="str"),
            domain_type=dict(type="str", choices=list(DOMAIN_TYPES)),
            make_default=dict(type="bool", default=False),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
    )

    def run(module):
        validate(module.params)

        def shape(domains):
            return [domains] if isinstance(domains, dict) else domains  # one element, if a host unrolls the array

        # Organisation-wide: another run may create the same domain between the read and the write.
        commands, before, after = module.converge(lambda: shape(module.query(READ_SCRIPT)),
                                                  lambda domains: plan(module.params, domains),
                                                  read_back=READ_SCRIPT, shape=shape)
        module.exit(changed=bool(commands), before=before, after=after,
                    accepted_domain=after if after.get("state") == "present" else {})

    module.run(run)


if __name__ == "__main__":
    main()
