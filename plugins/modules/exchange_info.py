#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r'''
---
module: exchange_info
short_description: Read an Exchange organisation's mail flow and client access configuration
version_added: "0.1.0"
description:
  - Reads the organisation and its servers - versions, send and receive connectors, accepted domains, email
    address policies, virtual directory URLs, Outlook Anywhere, the Autodiscover service internal URI, certificates
    (with names and expiry) and offline address books - and returns them in the shapes the other
    mailops.exchange modules take as options, so the output can be fed back as their input (an export of the
    current configuration) or asserted on.
  - Read-only; one Exchange session and one read script for everything chosen with O(gather).
  - Certificate facts (thumbprint, subject, issuer, names, expiry, the connector TLS name) are computed on the
    controller from the certificate bytes.
author:
  - mailops.exchange developers (!UNKNOWN)
extends_documentation_fragment:
  - mailops.exchange.connection
  - mailops.exchange.attributes.info
options:
  gather:
    description:
      - What to read. C(all) is everything.
      - C(servers) - name, FQDN and version of the chosen servers (always included when any per-server part is read).
      - C(client_access) - per server C(urls) (the exchange_vdir_url shape), C(outlook_anywhere) and
        C(autodiscover_internal_uri).
      - C(certificates) - per server, every certificate and pending request.
      - C(receive_connectors) - the chosen servers' receive connectors.
      - C(send_connectors), C(accepted_domains), C(email_address_policies), C(offline_address_books) - organisation-wide.
    type: list
    elements: str
    choices: [all, servers, client_access, certificates, receive_connectors, send_connectors, accepted_domains,
              email_address_policies, offline_address_books]
    default: [all]
  servers:
    description:
      - The Exchange servers whose per-server parts are read (names). Default is every server of the organisation.
    type: list
    elements: str
notes:
  - C(services) of a certificate is null when Exchange's remote PowerShell returned no Services value.
seealso:
  - module: mailops.exchange.exchange_vdir_url
  - module: mailops.exchange.exchange_certificate
  - module: mailops.exchange.exchange_receive_connector
  - module: mailops.exchange.exchange_send_connector
'''

EXAMPLES = r'''
- name: Everything
  mailops.exchange.exchange_info:
  register: exchange

- name: Only the client access URLs and certificates of EX01
  mailops.exchange.exchange_info:
    gather: [client_access, certificates]
    servers: [EX01]
  register: ex01

- name: Check that the step "Configure external URLs" worked
  ansible.builtin.assert:
    that:
      - ex01.servers[0].urls.owa.external_url == 'https://owa.contoso.com/owa'
      - ex01.servers[0].urls.powershell.external_url == 'http://mail.contoso.com/PowerShell'
    fail_msg: "EX01's URLs differ from the procedure's table: {{ ex01.servers[0].urls }}"

- name: Feed the read URLs of EX01 to EX02
  mailops.exchange.exchange_vdir_url:
    server: EX02
    urls: "{{ ex01.servers[0].urls }}"
'''

RETURN = r'''
servers:
  description: The chosen servers, with the per-server parts gathered.
  returned: when a per-server part is gathered
  type: list
  elements: dict
  contains:
    name:
      description: Server name.
      type: str
      sample: EX01
    fqdn:
      description: Server FQDN.
      type: str
      sample: ex01.corp.contoso.com
    version:
      description: C(2013), C(2016), C(2019) or C(SE).
      type: str
      sample: "2019"
    admin_display_version:
      description: AdminDisplayVersion.
      type: str
      sample: Version 15.2 (Build 1118.7)
    urls:
      description: Internal and external URL per virtual directory (owa, ecp, ews, eas, oab, mapi, powershell) - the
        O(mailops.exchange.exchange_vdir_url#module:urls) shape.
      type: dict
      returned: with client_access
    outlook_anywhere:
      description: Outlook Anywhere in the O(mailops.exchange.exchange_vdir_url#module:outlook_anywhere) shape.
      type: dict
      returned: with client_access
    autodiscover_internal_uri:
      description: The Autodiscover service internal URI.
      type: str
      returned: with client_access
    certificates:
      description: Certificates and pending requests (thumbprint, subject, issuer, sans, not_before, not_after,
        days_remaining, expired, status, services, friendly_name, pending, usable, key_size, signature_hash,
        tls_certificate_name, ...). C(status) is null where Exchange does not return it (a plain remote PowerShell
        session); C(usable) is true when Status is Valid or, without Status, the certificate is installed with its
        private key and within its validity.
      type: list
      elements: dict
      returned: with certificates
send_connectors:
  description: Send connectors in the exchange_send_connector options shape.
  returned: with send_connectors
  type: list
  elements: dict
receive_connectors:
  description: Receive connectors of the chosen servers in the exchange_receive_connector options shape.
  returned: with receive_connectors
  type: list
  elements: dict
accepted_domains:
  description: Accepted domains in the exchange_accepted_domain options shape.
  returned: with accepted_domains
  type: list
  elements: dict
email_address_policies:
  description: Email address policies in the exchange_email_address_policy options shape
    (C(primary_smtp_address_template), C(extra_templates)).
  returned: with email_address_policies
  type: list
  elements: dict
offline_address_books:
  description: Offline address books in the exchange_offline_address_book options shape.
  returned: with offline_address_books
  type: list
  elements: dict
commands:
  description: Always empty (nothing is changed).
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.mailops.exchange.plugins.module_utils import canonical
from ansible_collections.mailops.exchange.plugins.module_utils.certificate_store_read import STORE_READ
from ansible_collections.mailops.exchange.plugins.module_utils import vdir_plan
from ansible_collections.mailops.exchange.plugins.module_utils.exchange_module import ExchangeModule
from ansible_collections.mailops.exchange.plugins.module_utils.exchange_objects import (
    ACCEPTED_DOMAIN, EMAIL_ADDRESS_POLICY, OFFLINE_ADDRESS_BOOK, RECEIVE_CONNECTOR, SEND_CONNECTOR, read_receive_connector)
from ansible_collections.mailops.exchange.plugins.module_utils.quoting import ps_script

PARTS = ("servers", "client_access", "certificates", "receive_connectors", "send_connectors", "accepted_domains",
         "email_address_policies", "offline_address_books")
PER_SERVER = ("client_access", "certificates")

# One read for everything; each part is guarded by a boolean so that only what is asked for runs.
READ_TEMPLATE = """$allServers = @(Get-ExchangeServer | ForEach-Object { [ordered]@{
    name = [string]$_.Name
    fqdn = [string]$_.Fqdn
    version = [string]$_.AdminDisplayVersion
} })
if ({servers_given}) { $names = {servers} } else { $names = @($allServers | ForEach-Object { $_.name }) }
$perServer = @()
if ({per_server}) {
    $perServer = @($names | ForEach-Object {
        $server = $_
        $serverState = $null
        if ({client_access}) {
""" + vdir_plan.SERVER_BLOCK + """        }
        $__store = $null
        if ({certificates}) {
""" + STORE_READ + """        }
        [ordered]@{ name = $server; client_access = $serverState; certificates = $__store }
    })
}
$send = @()
if ({send_connectors}) {
    $send = @(Get-SendConnector | ForEach-Object { [ordered]@{
""" + SEND_CONNECTOR.projection(keys="info") + """
    } })
}
$receive = @()
if ({receive_connectors}) {
    $receive = @(Get-ReceiveConnector | ForEach-Object { [ordered]@{
""" + RECEIVE_CONNECTOR.projection(keys="info") + """
    } })
}
$domains = @()
if ({accepted_domains}) {
    $domains = @(Get-AcceptedDomain | ForEach-Object { [ordered]@{
""" + ACCEPTED_DOMAIN.projection(keys="info") + """
    } })
}
$policies = @()
if ({email_address_policies}) {
    $policies = @(Get-EmailAddressPolicy | ForEach-Object { [ordered]@{
""" + EMAIL_ADDRESS_POLICY.projection(keys="info") + """
    } })
}
$oabs = @()
if ({offline_address_books}) {
    $oabs = @(Get-OfflineAddressBook | ForEach-Object { [ordered]@{
""" + OFFLINE_ADDRESS_BOOK.projection(keys="info") + """
    } })
}
ConvertTo-Json -Depth 12 -Compress -InputObject ([ordered]@{
    servers = $allServers
    per_server = $perServer
    send_connectors = $send
    receive_connectors = $receive
    accepted_domains = $domains
    email_address_policies = $policies
    offline_address_books = $oabs
})
"""


def _list(value):
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    if isinstance(value, str):
        return [value] if value else []
    return list(value)


def chosen_parts(gather):
    gather = list(gather or ["all"])
    if "all" in gather:
        return set(PARTS)
    parts = set(gather)
    if parts & set(PER_SERVER):
        parts.add("servers")
    return parts


def validate(params):
    servers = params.get("servers")
    if servers is not None:
        for name in servers:
            if not isinstance(name, str) or not vdir_plan.valid_hostname(name.strip()):
                raise ValueError("servers: %r is not a server name" % (name,))
    return chosen_parts(params.get("gather"))


def read_script(parts, servers):
    wanted = dict((part, part in parts) for part in PARTS if part != "servers")
    return ps_script(READ_TEMPLATE, servers_given=servers is not None, servers=[s.strip() for s in servers or []],
                     per_server=bool(parts & set(PER_SERVER)), **wanted)


def shape_server(record, state, certificates, parts):
    version = vdir_plan.exchange_version(record.get("version"))
    out = {"name": record.get("name"), "fqdn": canonical.text(record.get("fqdn")), "version": version,
           "admin_display_version": canonical.text(record.get("version"))}
    if "client_access" in parts and state is not None:
        current = vdir_plan.current_state(state)
        out["urls"] = dict((key, {"internal_url": vdir["internal_url"], "external_url": vdir["external_url"]})
                           for key, vdir in current["vdirs"].items() if vdir is not None)
        oa = current["outlook_anywhere"]
        out["outlook_anywhere"] = dict((k, oa[k]) for k in vdir_plan.OUTLOOK_ANYWHERE_KEYS) if oa else {}
        cas = current["client_access"]
        out["autodiscover_internal_uri"] = cas["autodiscover_internal_uri"] if cas else None
    if "certificates" in parts:
        # Imported here: cryptography is loaded only by a task that reads certificates.
        from ansible_collections.mailops.exchange.plugins.module_utils import certificate_plan as cp
        out["certificates"] = [entry.facts() for entry in cp.store_from_answer(certificates or {})]
    return out


def shape_send_connector(record):
    return SEND_CONNECTOR.read(record, keys="info")


def shape_receive_connector(record):
    return read_receive_connector(record, keys="info")


def shape_accepted_domain(record):
    out = ACCEPTED_DOMAIN.read(record, keys="info")
    out["domain_name"] = canonical.fqdn(out["domain_name"])
    return out


def shape_policy(record):
    policy = EMAIL_ADDRESS_POLICY.read(record, keys="info")
    templates = policy["templates"]
    primary = next((t for t in templates if t.startswith("SMTP:")), None)
    extras = [t for t in templates if t != primary and t.lower().startswith("smtp:")]
    others = [t for t in templates if t != primary and not t.lower().startswith("smtp:")]
    return {
        "name": policy["name"],
        "primary_smtp_address_template": primary[len("SMTP:"):] if primary else None,
        "extra_templates": extras,
        "other_templates": others,
        "priority": policy["priority"],
    }


def shape_offline_address_book(record):
    book = OFFLINE_ADDRESS_BOOK.read(record, keys="info")
    for key in ("identity", "state"):
        del book[key]
    return book


def shape(answer, parts, servers=None):
    """The module's result from the read answer (pure)."""
    answer = answer or {}
    result = {}
    records = dict(((r.get("name") or "").casefold(), r) for r in _list(answer.get("servers")))
    if "servers" in parts:
        chosen = []
        per_server = _list(answer.get("per_server"))
        if per_server:
            for item in per_server:
                name = item.get("name") or ""
                record = records.get(name.casefold(), {"name": name})
                chosen.append(shape_server(record, item.get("client_access"), item.get("certificates"), parts))
        else:
            wanted = set(s.strip().casefold() for s in servers) if servers is not None else None
            for record in _list(answer.get("servers")):
                if wanted is None or (record.get("name") or "").casefold() in wanted:
                    chosen.append(shape_server(record, None, [], parts))
        result["servers"] = chosen
    if "send_connectors" in parts:
        result["send_connectors"] = [shape_send_connector(r) for r in _list(answer.get("send_connectors"))]
    if "receive_connectors" in parts:
        connectors = [shape_receive_connector(r) for r in _list(answer.get("receive_connectors"))]
        if servers is not None:
            wanted = set(s.strip().casefold() for s in servers)
            connectors = [c for c in connectors if (c["server"] or "").casefold() in wanted]
        result["receive_connectors"] = connectors
    if "accepted_domains" in parts:
        result["accepted_domains"] = [shape_accepted_domain(r) for r in _list(answer.get("accepted_domains"))]
    if "email_address_policies" in parts:
        result["email_address_policies"] = [shape_policy(r) for r in _list(answer.get("email_address_policies"))]
    if "offline_address_books" in parts:
        result["offline_address_books"] = [shape_offline_address_book(r)
                                           for r in _list(answer.get("offline_address_books"))]
    return result


def run(module):
    parts = validate(module.params)
    if "certificates" in parts:
        from ansible_collections.mailops.exchange.plugins.module_utils import certificate_info as ci
        if not ci.HAS_CRYPTOGRAPHY:
            module.fail(missing_required_lib("cryptography"), exception=str(ci.CRYPTOGRAPHY_IMPORT_ERROR))
    servers = module.params.get("servers")
    answer = module.query(read_script(parts, servers))
    module.exit(changed=False, **shape(answer, parts, servers))


def main():
    module = ExchangeModule(
        argument_spec=dict(
            gather=dict(type="list", elements="str", default=["all"], choices=["all"] + list(PARTS)),
            servers=dict(type="list", elements="str"),
        ),
    )
    module.run(run)


if __name__ == "__main__":
    main()
