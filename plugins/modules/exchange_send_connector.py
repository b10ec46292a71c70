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
from ansible_collections.mailops.exchange.plugins.module_utils.quoting import ps_command

READ_SCRIPT = """$connectors = @(Get-SendConnector | ForEach-Object {
    [pscustomobject]@{
        Name = [string]$_.Name
        Identity = [string]$_.Identity
        AddressSpaces = @($_.AddressSpaces | ForEach-Object { [string]$_ })
        DNSRoutingEnabled = [bool]$_.DNSRoutingEnabled
        SmartHosts = @($_.SmartHosts | ForEach-Object { [string]$_ })
        SourceTransportServers = @($_.SourceTransportServers | ForEach-Object { [string]$_ })
        Fqdn = [string]$_.Fqdn
        Enabled = [bool]$_.Enabled
        MaxMessageSize = [string]$_.MaxMessageSize
        RequireTLS = [bool]$_.RequireTLS
        Comment = [string]$_.Comment
    }
})
$servers = @(Get-ExchangeServer | ForEach-Object { [string]$_.Name })
ConvertTo-Json -InputObject ([pscustomobject]@{ connectors = $connectors; servers = $servers }) -Depth 6 -Compress
"""

#: The address spaces of a new connector when the task sets none.
DEFAULT_ADDRESS_SPACES = ("*",)

_SMART_HOST_IP = r"^\[[0-9A-Fa-f:.]+\]\Z"


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def normalise(record):
    """A connector as read -> the module's options shape."""
    return {
        "name": record.get("Name"),
        "address_spaces": _as_list(record.get("AddressSpaces")),
        "dns_routing_enabled": bool(record.get("DNSRoutingEnabled")),
        "smart_hosts": _as_list(record.get("SmartHosts")),
        "source_transport_servers": _as_list(record.get("SourceTransportServers")),
        "fqdn": canonical.text(record.get("Fqdn")),
        "enabled": bool(record.get("Enabled")),
        "max_message_size": canonical.text(record.get("MaxMessageSize")),
        "require_tls": bool(record.get("RequireTLS")),
        "comment": canonical.text(record.get("Comment")),
        "state": "present",
    }


def _smart_host(value):
    value = canonical.text(value)
    if value is None:
        return None
    return value.lower().rstrip(".")


def _server(value):
    value = canonical.text(value)
    return value.casefold() if value else None


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


def _size_argument(value):
    size = canonical.byte_size(value)
    if size == "Unlimited":
        return "Unlimited"
    text_value = canonical.text(value)
    if text_value is not None and text_value.isdigit():
        return size
    return text_value.replace(" ", "")


def plan(params, read):
    """Pure planning: (commands, before, after) from the options and the read round."""
    read = read or {}
    connectors = [normalise(c) for c in _as_list(read.get("connectors"))]
    servers = [s for s in _as_list(read.get("servers")) if s]
    name = params["name"].strip()
    current = next((c for c in connectors if (c["name"] or "").casefold() == name.casefold()), None)
    before = dict(current) if current else {"name": name, "state": "absent"}

    if params.get("state") == "absent":
        if current is None:
            return [], before, dict(before)
        return ([ps_command("Remove-SendConnector", {"Identity": current["name"], "Confirm": False})], before,
                {"name": current["name"], "state": "absent"})

    known = {s.casefold(): s for s in servers}
    for server in params.get("source_transport_servers") or []:
        if server.strip().casefold() not in known:
            raise ValueError("source transport server '%s' is not an Exchange server of this organisation (servers: %s)"
                             % (server.strip(), ", ".join(servers) or "none found"))

    wanted = {}
    if params.get("address_spaces") is not None:
        wanted["AddressSpaces"] = [s.strip() for s in params["address_spaces"]]
    dns = params.get("dns_routing_enabled")
    if params.get("smart_hosts") and dns is None:
        dns = False
    if dns is not None:
        wanted["DNSRoutingEnabled"] = dns
    if params.get("smart_hosts") is not None:
        wanted["SmartHosts"] = [h.strip() for h in params["smart_hosts"]]
    elif dns is True and current is not None and current["smart_hosts"]:
        wanted["SmartHosts"] = []
    if params.get("source_transport_servers") is not None:
        wanted["SourceTransportServers"] = [known[s.strip().casefold()] for s in params["source_transport_servers"]]
    if params.get("fqdn") is not None:
        wanted["Fqdn"] = canonical.text(params["fqdn"])
    if params.get("enabled") is not None:
        wanted["Enabled"] = params["enabled"]
    if params.get("max_message_size") is not None:
        wanted["MaxMessageSize"] = _size_argument(params["max_message_size"])
    if params.get("require_tls") is not None:
        wanted["RequireTLS"] = params["require_tls"]
    if params.get("comment") is not None:
        wanted["Comment"] = params["comment"] if params["comment"] != "" else None

    if current is None:
        # An update changes only what the task sets; a new connector needs address spaces: every domain by default.
        new = {"Name": name, "Usage": params.get("usage") or "Custom", "AddressSpaces": list(DEFAULT_ADDRESS_SPACES)}
        new.update(wanted)
        if "SmartHosts" in new and not new["SmartHosts"]:
            del new["SmartHosts"]
        for key in ("Fqdn", "Comment"):
            if key in new and new[key] is None:
                del new[key]
        after = {
            "name": name,
            "address_spaces": [canonical.address_space(s) for s in new["AddressSpaces"]],
            "dns_routing_enabled": new.get("DNSRoutingEnabled", True),
            "smart_hosts": new.get("SmartHosts", []),
            "source_transport_servers": new.get("SourceTransportServers", []),
            "fqdn": new.get("Fqdn"),
            "enabled": new.get("Enabled", True),
            "max_message_size": params.get("max_message_size"),
            "require_tls": new.get("RequireTLS", False),
            "comment": new.get("Comment"),
            "state": "present",
        }
        return [ps_command("New-SendConnector", new)], before, after

    changes = {}
    after = dict(current)
    if "AddressSpaces" in wanted and not canonical.same_set(wanted["AddressSpaces"], current["address_spaces"],
                                                            key=canonical.address_space):
        changes["AddressSpaces"] = wanted["AddressSpaces"]
        after["address_spaces"] = [canonical.address_space(s) for s in wanted["AddressSpaces"]]
    if "DNSRoutingEnabled" in wanted and wanted["DNSRoutingEnabled"] != current["dns_routing_enabled"]:
        changes["DNSRoutingEnabled"] = wanted["DNSRoutingEnabled"]
        after["dns_routing_enabled"] = wanted["DNSRoutingEnabled"]
    if "SmartHosts" in wanted and not canonical.same_set(wanted["SmartHosts"], current["smart_hosts"], key=_smart_host):
        changes["SmartHosts"] = wanted["SmartHosts"] or None
        after["smart_hosts"] = wanted["SmartHosts"]
    if "SourceTransportServers" in wanted and not canonical.same_set(
            wanted["SourceTransportServers"], current["source_transport_servers"], key=_server):
        changes["SourceTransportServers"] = wanted["SourceTransportServers"]
        after["source_transport_servers"] = wanted["SourceTransportServers"]
    if "Fqdn" in wanted and canonical.fqdn(wanted["Fqdn"]) != canonical.fqdn(current["fqdn"]):
        changes["Fqdn"] = wanted["Fqdn"]
        after["fqdn"] = wanted["Fqdn"]
    if "Enabled" in wanted and wanted["Enabled"] != current["enabled"]:
        changes["Enabled"] = wanted["Enabled"]
        after["enabled"] = wanted["Enabled"]
    if "MaxMessageSize" in wanted and (canonical.byte_size(params["max_message_size"])
                                       != _current_size(current["max_message_size"])):
        changes["MaxMessageSize"] = wanted["MaxMessageSize"]
        after["max_message_size"] = params["max_message_size"]
    if "RequireTLS" in wanted and wanted["RequireTLS"] != current["require_tls"]:
        changes["RequireTLS"] = wanted["RequireTLS"]
        after["require_tls"] = wanted["RequireTLS"]
    if "Comment" in wanted and (wanted["Comment"] or None) != (current["comment"] or None):
        changes["Comment"] = wanted["Comment"]
        after["comment"] = wanted["Comment"]
    if not changes:
        return [], before, after
    line = {"Identity": current["name"]}
    line.update(changes)
    return [ps_command("Set-SendConnector", line)], before, after


def _current_size(value):
    try:
        return canonical.byte_size(value)
    except ValueError:
        return value


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
                                                  lambda read: plan(module.params, read))
        module.exit(changed=bool(commands), before=before, after=after,
                    send_connector=after if after.get("state") == "present" else {})

    module.run(run)


if __name__ == "__main__":
    main()
