#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r'''
---
module: exchange_receive_connector
short_description: Manage an Exchange receive connector
version_added: "0.1.0"
description:
  - Changes a receive connector (C(Set-ReceiveConnector)), for example the C(Client Frontend <SERVER>) connector
    that authenticated SMTP clients (POP3/IMAP4 users) send through, or creates and removes custom connectors
    (C(New-ReceiveConnector), C(Remove-ReceiveConnector)).
  - Can set the connector's TLS certificate from a thumbprint; the module reads the certificate on the server in
    the same read round and builds C(TlsCertificateName) (C(<I>issuer<S>subject)) from its bytes.
  - Reads the connectors, the servers and (when needed) the server's certificates once, compares on the controller
    and runs at most one batch of commands.
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
  identity:
    description:
      - The connector as C(SERVER\Name), for example C(EX01\Client Frontend EX01).
      - A bare name (without C(SERVER\)) is looked up on every server and must be unique.
      - Mutually exclusive with O(name); one of them is required.
    type: str
  name:
    description:
      - Name of the connector; requires O(server).
    type: str
  server:
    description:
      - The Exchange server the connector belongs to (with O(name), or to create a connector).
    type: str
  state:
    description:
      - C(present) updates (or creates) the connector, C(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  usage:
    description:
      - Usage type of a new connector (C(New-ReceiveConnector -Usage)). Only used when the connector is created.
    type: str
    choices: [Custom, Internet, Internal, Partner, Client]
    default: Custom
  transport_role:
    description:
      - The transport service the connector belongs to. C(FrontendTransport) (Client Access services) or
        C(HubTransport) (the Transport service on the Mailbox server).
    type: str
    choices: [FrontendTransport, HubTransport]
  fqdn:
    description:
      - FQDN the connector announces in its SMTP banner and EHLO answer (and, with O(advertise_client_settings),
        shows users as the SMTP server), for example C(mail.contoso.com). An empty string clears it.
    type: str
  tls_certificate_name:
    description:
      - The certificate the connector uses for STARTTLS, as C(<I>issuer<S>subject).
      - Mutually exclusive with O(tls_certificate_thumbprint). An empty string clears it.
    type: str
  tls_certificate_thumbprint:
    description:
      - Thumbprint of a certificate installed on the connector's server; the module builds
        C(<I>issuer<S>subject) from the certificate itself.
      - Mutually exclusive with O(tls_certificate_name).
    type: str
  advertise_client_settings:
    description:
      - Whether Outlook on the web shows users this connector's FQDN and port as their SMTP settings.
    type: bool
  bindings:
    description:
      - Local IP addresses and ports the connector listens on, for example C(0.0.0.0:587) and C([::]:587).
      - Compared order-insensitively. Required to create a connector.
    type: list
    elements: str
  remote_ip_ranges:
    description:
      - Remote IP addresses the connector accepts mail from (an address, a range C(a-b) or a CIDR block).
      - Compared order-insensitively. Required to create a connector.
    type: list
    elements: str
  auth_mechanism:
    description:
      - The authentication mechanisms offered.
    type: list
    elements: str
    choices: [None, Tls, Integrated, BasicAuth, BasicAuthRequireTLS, ExchangeServer, ExternalAuthoritative]
  permission_groups:
    description:
      - Who is allowed to use the connector.
    type: list
    elements: str
    choices: [None, AnonymousUsers, ExchangeUsers, ExchangeServers, ExchangeLegacyServers, Partners, Custom]
notes:
  - Options that are not given are left as they are.
seealso:
  - module: mailops.exchange.exchange_certificate
  - module: mailops.exchange.exchange_send_connector
  - name: Configure authenticated SMTP settings for POP3 and IMAP4 clients
    description: Microsoft's procedure that this module automates.
    link: https://learn.microsoft.com/exchange/clients/pop3-and-imap4/configure-authenticated-smtp
'''

EXAMPLES = r'''
- name: Authenticated SMTP for POP3/IMAP4 clients on EX01 (Microsoft's procedure)
  mailops.exchange.exchange_receive_connector:
    identity: EX01\Client Frontend EX01
    fqdn: mail.contoso.com
    tls_certificate_thumbprint: 434AC224C8459924B26521298DE8AC3FA4F5A12E
    advertise_client_settings: true

- name: A relay connector for an application server
  mailops.exchange.exchange_receive_connector:
    name: Relay from APP01
    server: EX01
    usage: Custom
    transport_role: FrontendTransport
    bindings: ['0.0.0.0:25']
    remote_ip_ranges: ['10.0.5.20']
    permission_groups: [AnonymousUsers]

- name: Remove it again
  mailops.exchange.exchange_receive_connector:
    identity: EX01\Relay from APP01
    state: absent
'''

RETURN = r'''
receive_connector:
  description: The connector after the run (predicted in check mode) in the shape of the module's options;
    empty when absent.
  returned: always
  type: dict
  contains:
    identity:
      description: C(SERVER\Name).
      type: str
      sample: EX01\Client Frontend EX01
    name:
      description: Connector name.
      type: str
    server:
      description: Server name.
      type: str
    fqdn:
      description: FQDN or null.
      type: str
    tls_certificate_name:
      description: C(<I>issuer<S>subject) or null.
      type: str
    advertise_client_settings:
      description: Whether the settings are advertised.
      type: bool
    bindings:
      description: Bindings as Exchange prints them.
      type: list
      elements: str
    remote_ip_ranges:
      description: Remote IP ranges as Exchange prints them.
      type: list
      elements: str
    auth_mechanism:
      description: Authentication mechanisms.
      type: list
      elements: str
    permission_groups:
      description: Permission groups.
      type: list
      elements: str
    transport_role:
      description: FrontendTransport or HubTransport.
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
    - Set-ReceiveConnector -Identity 'EX01\Client Frontend EX01' -Fqdn 'mail.contoso.com' -AdvertiseClientSettings:$true
diff:
  description: Before and after of the managed properties (with C(--diff)).
  returned: when diff mode is on
  type: dict
'''

import base64
import re

from ansible_collections.mailops.exchange.plugins.module_utils import canonical
from ansible_collections.mailops.exchange.plugins.module_utils.exchange_module import ExchangeModule
from ansible_collections.mailops.exchange.plugins.module_utils.exchange_objects import (
    RECEIVE_CONNECTOR, binding, ip_range, read_receive_connector)
from ansible_collections.mailops.exchange.plugins.module_utils.quoting import ps_script
from ansible_collections.mailops.exchange.plugins.module_utils.resource import as_list

READ_TEMPLATE = """$connectors = @(Get-ReceiveConnector | ForEach-Object {
    [pscustomobject]@{
""" + RECEIVE_CONNECTOR.projection() + """
    }
})
$servers = @(Get-ExchangeServer | ForEach-Object { [string]$_.Name })
$certificates = @()
if ({read_certificates}) {
    $certificates = @(Get-ExchangeCertificate -Server {server} | ForEach-Object {
        [pscustomobject]@{ Thumbprint = [string]$_.Thumbprint; RawData = [System.Convert]::ToBase64String($_.RawData) }
    })
}
ConvertTo-Json -InputObject ([pscustomobject]@{ connectors = $connectors; servers = $servers; certificates = $certificates }) -Depth 6 -Compress
"""

AUTH_MECHANISMS = ["None", "Tls", "Integrated", "BasicAuth", "BasicAuthRequireTLS", "ExchangeServer",
                   "ExternalAuthoritative"]
PERMISSION_GROUPS = ["None", "AnonymousUsers", "ExchangeUsers", "ExchangeServers", "ExchangeLegacyServers", "Partners",
                     "Custom"]
_SERVER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}\Z")


def target(params):
    """(server or None, name) from identity / name + server."""
    identity = canonical.text(params.get("identity"))
    if identity is not None:
        if "\\" in identity:
            server, name = identity.split("\\", 1)
            if params.get("server") and params["server"].strip().casefold() != server.strip().casefold():
                raise ValueError("identity %r names server %s but server is %s" % (identity, server, params["server"]))
            return server.strip(), name.strip()
        return canonical.text(params.get("server")), identity
    return canonical.text(params.get("server")), canonical.text(params.get("name"))


def validate(params):
    identity, name = canonical.text(params.get("identity")), canonical.text(params.get("name"))
    if (identity is None) == (name is None):
        raise ValueError("give either identity (SERVER\\Name) or name together with server")
    server, name = target(params)
    if not name:
        raise ValueError("the connector name must not be empty")
    if identity is None and server is None:
        raise ValueError("name requires server")
    if server is not None and not _SERVER_RE.match(server):
        raise ValueError("%r is not an Exchange server name (like EX01)" % server)
    if params.get("state") == "absent":
        return
    if params.get("tls_certificate_name") is not None and params.get("tls_certificate_thumbprint") is not None:
        raise ValueError("tls_certificate_name and tls_certificate_thumbprint are mutually exclusive")
    name_value = canonical.text(params.get("tls_certificate_name"))
    if name_value is not None and not re.match(r"^<I>.+<S>.+\Z", name_value, re.DOTALL):
        raise ValueError("tls_certificate_name must look like <I>issuer<S>subject, got %r" % name_value)
    if params.get("tls_certificate_thumbprint") is not None:
        normalise_thumbprint(params["tls_certificate_thumbprint"])
    if params.get("fqdn") and not canonical.valid_domain(params["fqdn"]):
        raise ValueError("fqdn %r is not a valid host name" % params["fqdn"])
    for item in params.get("bindings") or []:
        binding(item)
    for item in params.get("remote_ip_ranges") or []:
        ip_range(item)
    if params.get("bindings") == []:
        raise ValueError("bindings must not be empty")
    if params.get("remote_ip_ranges") == []:
        raise ValueError("remote_ip_ranges must not be empty")
    for option in ("auth_mechanism", "permission_groups"):
        values = params.get(option) or []
        if len(values) > 1 and "None" in values:
            raise ValueError("%s: None cannot be combined with other values" % option)


def normalise_thumbprint(value):
    cleaned = re.sub(r"[\s:]", "", value or "").upper().lstrip("\u200e")
    if not re.match(r"^[0-9A-F]{40}\Z", cleaned):
        raise ValueError("%r is not a certificate thumbprint (40 hexadecimal characters)" % value)
    return cleaned


def certificate_tls_name(certificates, thumbprint, server):
    """``<I>issuer<S>subject`` of the certificate with this thumbprint, computed from its bytes."""
    from ansible_collections.mailops.exchange.plugins.module_utils import certificate_info

    wanted = normalise_thumbprint(thumbprint)
    seen = []
    for record in as_list(certificates):
        raw = record.get("RawData")
        if not raw:
            continue
        certificate = certificate_info.load_certificate(base64.b64decode(raw))
        actual = certificate_info.thumbprint(certificate)
        seen.append(actual)
        if actual == wanted:
            return certificate_info.tls_certificate_name(certificate)
    raise ValueError("no certificate with thumbprint %s on server %s (certificates there: %s)"
                     % (wanted, server, ", ".join(seen) or "none"))


def normalise(record):
    return read_receive_connector(record)


def read_script(params):
    server, _unused = target(params)
    wants_certificate = params.get("state") != "absent" and params.get("tls_certificate_thumbprint") is not None
    return ps_script(READ_TEMPLATE, read_certificates=bool(wants_certificate and server), server=server or "")


def plan(params, read):
    """Pure planning: (commands, before, after) from the options and the read round."""
    read = read or {}
    connectors = [normalise(c) for c in as_list(read.get("connectors"))]
    servers = [s for s in as_list(read.get("servers")) if s]
    server, name = target(params)
    if server is not None:
        known = {s.casefold(): s for s in servers}
        if server.casefold() not in known:
            raise ValueError("server '%s' is not an Exchange server of this organisation (servers: %s)"
                             % (server, ", ".join(servers) or "none found"))
        server = known[server.casefold()]
        matches = [c for c in connectors if (c["server"] or "").casefold() == server.casefold()
                   and (c["name"] or "").casefold() == name.casefold()]
    else:
        matches = [c for c in connectors if (c["name"] or "").casefold() == name.casefold()]
        if len(matches) > 1:
            raise ValueError("receive connector name '%s' exists on several servers (%s): use SERVER\\Name"
                             % (name, ", ".join(c["identity"] for c in matches)))
    current = matches[0] if matches else None
    identity = current["identity"] if current else ("%s\\%s" % (server, name) if server else name)
    before = dict(current) if current else {"identity": identity, "state": "absent"}

    if params.get("state") == "absent":
        if current is None:
            return [], before, dict(before)
        commands, after = RECEIVE_CONNECTOR.remove(current)
        return commands, before, after

    wanted_tls = None
    if params.get("tls_certificate_thumbprint") is not None:
        wanted_tls = certificate_tls_name(read.get("certificates"), params["tls_certificate_thumbprint"],
                                          server or (current or {}).get("server"))
    elif params.get("tls_certificate_name") is not None:
        wanted_tls = params["tls_certificate_name"].strip()

    if current is None:
        if server is None:
            raise ValueError("receive connector '%s' does not exist; give server (or identity SERVER\\Name) to create "
                             "it" % name)
        missing = [o for o in ("bindings", "remote_ip_ranges") if not params.get(o)]
        if missing:
            raise ValueError("receive connector '%s' does not exist; creating it needs %s"
                             % (identity, " and ".join(missing)))
        line, given = RECEIVE_CONNECTOR.create(
            [("Name", name), ("Server", server), ("Usage", params.get("usage") or "Custom"),
             ("Bindings", None), ("RemoteIPRanges", None)], wanted_values(params, wanted_tls))
        after = dict(CREATE_DEFAULTS, identity=identity, name=name, server=server, state="present")
        after.update(given)
        return [line], before, after

    commands, after = RECEIVE_CONNECTOR.update(current, wanted_values(params, wanted_tls))
    return commands, before, after


#: What a new connector reads where the task sets nothing (New-ReceiveConnector's defaults as the module reports them).
CREATE_DEFAULTS = {"transport_role": None, "fqdn": None, "tls_certificate_name": None,
                   "advertise_client_settings": False, "auth_mechanism": [], "permission_groups": []}


def wanted_values(params, wanted_tls):
    """What the task sets (options -> values); an update changes only these."""
    wanted = {}
    if params.get("transport_role"):
        wanted["transport_role"] = params["transport_role"]
    if params.get("fqdn") is not None:
        wanted["fqdn"] = canonical.text(params["fqdn"])
    if wanted_tls is not None:
        wanted["tls_certificate_name"] = wanted_tls
    for option in ("advertise_client_settings", "auth_mechanism", "permission_groups"):
        if params.get(option) is not None:
            wanted[option] = params[option]
    for option in ("bindings", "remote_ip_ranges"):
        if params.get(option) is not None:
            wanted[option] = [v.strip() for v in params[option]]
    return wanted


def main():
    module = ExchangeModule(
        argument_spec=dict(
            identity=dict(type="str"),
            name=dict(type="str"),
            server=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            usage=dict(type="str", choices=["Custom", "Internet", "Internal", "Partner", "Client"], default="Custom"),
            transport_role=dict(type="str", choices=["FrontendTransport", "HubTransport"]),
            fqdn=dict(type="str"),
            tls_certificate_name=dict(type="str"),
            tls_certificate_thumbprint=dict(type="str"),
            advertise_client_settings=dict(type="bool"),
            bindings=dict(type="list", elements="str"),
            remote_ip_ranges=dict(type="list", elements="str"),
            auth_mechanism=dict(type="list", elements="str", choices=AUTH_MECHANISMS),
            permission_groups=dict(type="list", elements="str", choices=PERMISSION_GROUPS),
        ),
        mutually_exclusive=[["identity", "name"], ["tls_certificate_name", "tls_certificate_thumbprint"]],
        required_one_of=[["identity", "name"]],
        required_by={"name": "server"},
    )

    def run(module):
        validate(module.params)
        # Two runs on the same server (two jobs started together) may create the same connector.
        commands, before, after = module.converge(lambda: module.query(read_script(module.params)),
                                                  lambda read: plan(module.params, read),
                                                  read_back=read_script(module.params))
        module.exit(changed=bool(commands), before=before, after=after,
                    receive_connector=after if after.get("state") == "present" else {})

    module.run(run)


if __name__ == "__main__":
    main()
