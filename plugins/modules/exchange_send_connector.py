#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r'''
---
module: exchange_send_connector
short_description: Manage an Exchange send connector
version_added: "0.1.0"
description:
  - Creates, changes or removes a send connector (C(New-SendConnector), C(Set-SendConnector),
    C(Remove-SendConnector)), for example the connector that sends mail to the Internet.
  - Reads the send connectors and the Exchange servers once, compares on the controller (address spaces in their
    canonical form, so C(*) equals Exchange's C(SMTP:*;1)) and runs at most one batch of commands.
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
      - Name of the send connector, for example C(To internet).
    type: str
    required: true
  state:
    description:
      - C(present) creates or updates the connector, C(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  usage:
    description:
      - The usage type of a new connector (C(New-SendConnector -Usage)), which sets Exchange's defaults for its
        permissions and authentication. Only used when the connector is created; Exchange cannot change it later.
    type: str
    choices: [Internet, Internal, Partner, Custom]
    default: Custom
  address_spaces:
    description:
      - Domains the connector sends to; C(*) is every domain. C(contoso.com;5) sets a cost.
      - Compared order-insensitively in Exchange's form (C(*) is C(SMTP:*;1)).
      - A new connector gets C(['*']) when this is not set; an existing connector's address spaces are changed only
        when this is set.
    type: list
    elements: str
  dns_routing_enabled:
    description:
      - C(true) routes by MX records; C(false) routes through O(smart_hosts).
      - Defaults to C(false) when O(smart_hosts) is set; cannot be C(true) together with O(smart_hosts).
    type: bool
  smart_hosts:
    description:
      - Smart hosts (FQDNs or IP addresses such as C([10.0.0.1])) to route through. Implies
        O(dns_routing_enabled=false). An empty list clears them.
    type: list
    elements: str
  source_transport_servers:
    description:
      - Mailbox (or Edge) servers that send through this connector, by name. Compared case-insensitively and
        order-insensitively; each must be an Exchange server of the organisation.
    type: list
    elements: str
  fqdn:
    description:
      - The FQDN the connector uses in HELO/EHLO. An empty string clears it.
    type: str
  enabled:
    description:
      - Whether the connector is enabled.
    type: bool
  max_message_size:
    description:
      - Largest message the connector sends, as bytes (C(36700160)), a size with a unit (C(35MB), binary units)
        or C(unlimited).
    type: str
  require_tls:
    description:
      - Whether TLS is required for mail sent through the connector.
    type: bool
  comment:
    description:
      - Free-text comment. An empty string clears it.
    type: str
notes:
  - Options that are not given are left as they are on an existing connector.
seealso:
  - module: mailops.exchange.exchange_receive_connector
  - name: Create a send connector to send mail to the Internet
    description: Microsoft's procedure.
    link: https://learn.microsoft.com/exchange/mail-flow/connectors/internet-mail-send-connectors
'''

EXAMPLES = r'''
- name: Send mail to the Internet from both Mailbox servers (MX lookup)
  mailops.exchange.exchange_send_connector:
    name: To internet
    usage: Internet
    address_spaces: ['*']
    dns_routing_enabled: true
    source_transport_servers: [EX01, EX02]
    fqdn: mail.contoso.com

- name: Route mail for fabrikam.com through a smart host
  mailops.exchange.exchange_send_connector:
    name: Fabrikam
    usage: Partner
    address_spaces: ['fabrikam.com']
    smart_hosts: ['relay.fabrikam.com']
    source_transport_servers: [EX01]
    require_tls: true
    max_message_size: 25MB

- name: Remove a connector
  mailops.exchange.exchange_send_connector:
    name: Old connector
    state: absent
'''

RETURN = r'''
send_connector:
  description: The connector after the run (predicted in check mode) in the shape of the module's options;
    empty when absent.
  returned: always
  type: dict
  contains:
    name:
      description: Connector name.
      type: str
      sample: To internet
    address_spaces:
      description: Address spaces as Exchange writes them.
      type: list
      elements: str
      sample: ['SMTP:*;1']
    dns_routing_enabled:
      description: Whether MX records are used.
      type: bool
    smart_hosts:
      description: Smart hosts.
      type: list
      elements: str
    source_transport_servers:
      description: Source servers by name.
      type: list
      elements: str
      sample: [EX01, EX02]
    fqdn:
      description: HELO/EHLO FQDN or null.
      type: str
    enabled:
      description: Whether enabled.
      type: bool
    max_message_size:
      description: Maximum message size as Exchange prints it (or as given, in check mode).
      type: str
      sample: 35 MB (36,700,160 bytes)
    require_tls:
      description: Whether TLS is required.
      type: bool
    comment:
      description: Comment or null.
      type: str
    state:
      description: present or absent.
      type: str
commands:
  description: The Exchange Management Shell commands run (or, in check mode, that would run), in order.
  returned: always
  type: list
  elements: str
  sample:
    - New-SendConnector -Name 'To internet' -Usage 'Internet' -AddressSpaces @('*') -DNSRoutingEnabled:$true
diff:
  description: Before and after of the managed properties (with C(--diff)).
  returned: when diff mode is on
  type: dict
'''

from ansible_collections.mailops.exchange.plugins.module_utils import canonical
from ansible_collections.mailops.exchange.plugins.module_utils.exchange_module import ExchangeModule
from ansible_collections.mailops.exchange.plugins.module_utils.exchange_objects import SEND_CONNECTOR
from ansible_collections.mailops.exchange.plugins.module_utils.resource import as_list

READ_SCRIPT = """$connectors = @(Get-SendConnector | ForEach-Object {
    [pscustomobject]@{
""" + SEND_CONNECTOR.projection() + """
    }
})
$servers = @(Get-ExchangeServer | ForEach-Object { [string]$_.Name })
ConvertTo-Json -InputObject ([pscustomobject]@{ connectors = $connectors; servers = $servers }) -Depth 6 -Compress
"""

#: The address spaces of a new connector when the task sets none.
DEFAULT_ADDRESS_SPACES = ("*",)

#: What a new connector reads when the task does not set it (Exchange's defaults, New-SendConnector).
CREATE_DEFAULTS = {"address_spaces": ["SMTP:*;1"], "dns_routing_enabled": True, "smart_hosts": [],
                   "source_transport_servers": [], "fqdn": None, "enabled": True, "max_message_size": None,
                   "require_tls": False, "comment": None}

_SMART_HOST_IP = r"^\[[0-9A-Fa-f:.]+\]\Z"


def normalise(record):
    """A connector as read -> the module's options shape."""
    return SEND_CONNECTOR.read(record)


def validate(params):
    """Input checks that need no Exchange (raise ValueError)."""
    import re

    if canonical.text(params.get("name")) is None:
        raise ValueError("name must not be empty")
    if params.get("state") == "absent":
        return
    if params.get("smart_hosts") and params.get("dns_routing_enabled"):
        raise ValueError("smart_hosts and dns_routing_enabled=true are mutually exclusive: a connector routes either "
                         "by MX records or through smart hosts")
    if params.get("dns_routing_enabled") is False and params.get("smart_hosts") == []:
        raise ValueError("dns_routing_enabled=false needs at least one smart host")
    for space in params.get("address_spaces") or []:
        value = canonical.address_space(space)
        if value is None:
            raise ValueError("address_spaces must not contain empty entries")
        domain = value.split(":", 1)[1].rsplit(";", 1)[0]
        if value.startswith("SMTP:") and domain != "*" and not canonical.valid_domain(domain, wildcard=True):
            raise ValueError("address space %r is not '*', a domain or *.domain (optionally ';cost')" % space)
    if params.get("address_spaces") is not None and not params.get("address_spaces"):
        raise ValueError("address_spaces must contain at least one address space")
    for host in params.get("smart_hosts") or []:
        if not (canonical.valid_domain(host) or re.match(_SMART_HOST_IP, host.strip())):
            raise ValueError("smart host %r is neither an FQDN nor an IP address in brackets like [10.0.0.1]" % host)
    if params.get("fqdn") and not canonical.valid_domain(params["fqdn"]):
        raise ValueError("fqdn %r is not a valid host name" % params["fqdn"])
    for server in params.get("source_transport_servers") or []:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}\Z", server.strip()):
            raise ValueError("source transport server %r is not a server name (like EX01)" % server)
    canonical.byte_size(params.get("max_message_size"))


def wanted_values(params, current, known):
    """What the task sets (options -> values); an update changes only these. Routing is by MX records or through
    smart hosts: giving smart hosts turns DNS routing off, turning DNS routing on clears the smart hosts."""
    wanted = {}
    if params.get("address_spaces") is not None:
        wanted["address_spaces"] = [s.strip() for s in params["address_spaces"]]
    dns = params.get("dns_routing_enabled")
    if params.get("smart_hosts") and dns is None:
        dns = False
    if dns is not None:
        wanted["dns_routing_enabled"] = dns
    if params.get("smart_hosts") is not None:
        wanted["smart_hosts"] = [h.strip() for h in params["smart_hosts"]]
    elif dns is True and current is not None and current["smart_hosts"]:
        wanted["smart_hosts"] = []
    if params.get("source_transport_servers") is not None:
        wanted["source_transport_servers"] = [known[s.strip().casefold()] for s in params["source_transport_servers"]]
    if params.get("fqdn") is not None:
        wanted["fqdn"] = canonical.text(params["fqdn"])
    for option in ("enabled", "max_message_size", "require_tls", "comment"):
        if params.get(option) is not None:
            wanted[option] = params[option]
    return wanted


def plan(params, read):
    """Pure planning: (commands, before, after) from the options and the read round."""
    read = read or {}
    connectors = [normalise(c) for c in as_list(read.get("connectors"))]
    servers = [s for s in as_list(read.get("servers")) if s]
    name = params["name"].strip()
    current = SEND_CONNECTOR.find(connectors, name)
    before = dict(current) if current else {"name": name, "state": "absent"}

    if params.get("state") == "absent":
        commands, after = SEND_CONNECTOR.remove(current)
        return commands, before, after or dict(before)

    known = {s.casefold(): s for s in servers}
    for server in params.get("source_transport_servers") or []:
        if server.strip().casefold() not in known:
            raise ValueError("source transport server '%s' is not an Exchange server of this organisation (servers: %s)"
                             % (server.strip(), ", ".join(servers) or "none found"))
    wanted = wanted_values(params, current, known)

    if current is None:
        # A new connector needs address spaces: every domain unless the task sets them.
        line, given = SEND_CONNECTOR.create([("Name", name), ("Usage", params.get("usage") or "Custom"),
                                             ("AddressSpaces", list(DEFAULT_ADDRESS_SPACES))], wanted)
        after = dict(CREATE_DEFAULTS, name=name, state="present")
        after.update(given)
        return [line], before, after

    commands, after = SEND_CONNECTOR.update(current, wanted)
    return commands, before, after


def main():
    module = ExchangeModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            usage=dict(type="str", choices=["Internet", "Internal", "Partner", "Custom"], default="Custom"),
            address_spaces=dict(type="list", elements="str"),
            dns_routing_enabled=dict(type="bool"),
            smart_hosts=dict(type="list", elements="str"),
            source_transport_servers=dict(type="list", elements="str"),
            fqdn=dict(type="str"),
            enabled=dict(type="bool"),
            max_message_size=dict(type="str"),
            require_tls=dict(type="bool"),
            comment=dict(type="str"),
        ),
        free_text=("comment",),
    )

    def run(module):
        validate(module.params)
        # Organisation-wide: another run may create the same connector between the read and the write.
        commands, before, after = module.converge(lambda: module.query(READ_SCRIPT),
                                                  lambda read: plan(module.params, read), read_back=READ_SCRIPT)
        module.exit(changed=bool(commands), before=before, after=after,
                    send_connector=after if after.get("state") == "present" else {})

    module.run(run)


if __name__ == "__main__":
    main()
