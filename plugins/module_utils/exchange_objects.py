# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tables of the Exchange objects the procedure configures (see :mod:`resource`): each property once.

The modules plan from these tables and ``exchange_info`` reads with them, so a property is read, compared and
written the same way everywhere. The property names and parameters are Exchange's (``exchange-cmdlets.json`` of the
project's reference, the cmdlets' documentation on learn.microsoft.com).
"""

import ipaddress
import re

from ansible_collections.mailops.exchange.plugins.module_utils import canonical
from ansible_collections.mailops.exchange.plugins.module_utils.resource import Field, Resource, flags


def _smart_host(value):
    value = canonical.text(value)
    return value.lower().rstrip(".") if value is not None else None


def _server(value):
    value = canonical.text(value)
    return value.casefold() if value else None


def _size_argument(value):
    """MaxMessageSize as written: bytes for a plain number, else Exchange's own unit syntax (35MB, Unlimited)."""
    size = canonical.byte_size(value)
    if size == "Unlimited":
        return "Unlimited"
    text_value = canonical.text(value)
    if text_value is not None and text_value.isdigit():
        return size
    return text_value.replace(" ", "")


def _current_size(value):
    try:
        return canonical.byte_size(value)
    except ValueError:
        return value


def _no_empty_text(value):
    return value if value != "" else None


SEND_CONNECTOR = Resource("SendConnector", [
    Field("name", "Name", kind="name"),
    Field("address_spaces", "AddressSpaces", kind="list", unordered=True, key=canonical.address_space,
          after=lambda wanted: [canonical.address_space(s) for s in wanted]),
    Field("dns_routing_enabled", "DNSRoutingEnabled", kind="bool"),
    Field("smart_hosts", "SmartHosts", kind="list", unordered=True, key=_smart_host,
          argument=lambda wanted: wanted or None),  # no smart hosts: $null
    Field("source_transport_servers", "SourceTransportServers", kind="list", unordered=True, key=_server),
    Field("fqdn", "Fqdn", key=canonical.fqdn),
    Field("enabled", "Enabled", kind="bool"),
    Field("max_message_size", "MaxMessageSize", argument=_size_argument,
          same=lambda wanted, current: canonical.byte_size(wanted) == _current_size(current)),
    Field("require_tls", "RequireTLS", kind="bool"),
    # Read as text (surrounding white space dropped): compared the same way, or a comment that ends in a space
    # would be "changed" on every run.
    Field("comment", "Comment", argument=_no_empty_text, after=_no_empty_text,
          same=lambda wanted, current: canonical.text(wanted) == canonical.text(current)),
])

ACCEPTED_DOMAIN = Resource("AcceptedDomain", [
    Field("name", "Name", kind="name"),
    Field("domain_name", "DomainName", key=canonical.fqdn, create_only=True,
          argument=lambda wanted: wanted.strip().rstrip("."), after=canonical.fqdn),
    Field("domain_type", "DomainType"),
    # Exchange has one default accepted domain: making another the default is the way to change it, so false
    # asks for nothing.
    Field("make_default", "Default", kind="bool", info="default", parameter="MakeDefault",
          same=lambda wanted, current: not wanted or bool(current)),
])


def _template(value):
    return canonical.address_template(value, primary=False)


EMAIL_ADDRESS_POLICY = Resource("EmailAddressPolicy", [
    Field("name", "Name", kind="name"),
    # The enabled templates as one list: "SMTP:" marks the primary address, "smtp:" the others; the order is
    # Exchange's, not a setting.
    Field("templates", "EnabledEmailAddressTemplates", kind="list", unordered=True, key=_template),
    Field("priority", "Priority", read_only=True),
    Field("recipient_filter_applied", "RecipientFilterApplied", kind="bool", read_only=True),
])


def _by_name(values):
    return sorted(values, key=str.casefold)


OFFLINE_ADDRESS_BOOK = Resource("OfflineAddressBook", [
    Field("name", "Name", kind="name"),
    Field("identity", "Identity", kind="name", read_only=True),
    Field("is_default", "IsDefault", kind="flag", read_only=True),
    Field("global_web_distribution_enabled", "GlobalWebDistributionEnabled", kind="flag"),
    # Exchange 2013's OAB web distribution: the OAB virtual directories that serve this address book (seed 005).
    Field("virtual_directories", "VirtualDirectories", kind="strings", unordered=True, key=str.casefold,
          reader=_by_name, after=_by_name, argument=lambda wanted: list(wanted) if wanted else None),
])


def same_flags(a, b):
    """Two values of a flags enum (``'Tls, Integrated'`` or lists): the same names, in any order and case."""
    return canonical.same_set(flags(a), flags(b), key=lambda v: v.casefold())


def flags_argument(values):
    """A flags enum as written: its names joined (``Tls, BasicAuth``), or ``None``."""
    names = flags(values)
    return ", ".join(names) if names else "None"


def binding(value):
    """Canonical IP binding: ``0.0.0.0:25``, ``[::]:25`` (addresses compressed, lower-case)."""
    value = canonical.text(value)
    if value is None:
        return None
    match = re.match(r"^\[?(?P<ip>[0-9A-Fa-f:.]+?)\]?:(?P<port>\d{1,5})\Z", value)
    if not match:
        raise ValueError("binding %r is not IP:port (for example 0.0.0.0:587 or [::]:587)" % value)
    port = int(match.group("port"))
    if not 0 < port < 65536:
        raise ValueError("binding %r: port out of range" % value)
    try:
        address = ipaddress.ip_address(match.group("ip"))
    except ValueError:
        raise ValueError("binding %r: %r is not an IP address" % (value, match.group("ip")))
    if address.version == 6:
        return "[%s]:%d" % (address.compressed, port)
    return "%s:%d" % (address.compressed, port)


def ip_range(value):
    """Canonical remote IP range: an address, ``a-b`` or a CIDR block, compressed."""
    value = canonical.text(value)
    if value is None:
        return None
    try:
        if "-" in value:
            low, high = [ipaddress.ip_address(part.strip()) for part in value.split("-", 1)]
            if low.version != high.version or int(low) > int(high):
                raise ValueError
            return "%s-%s" % (low.compressed, high.compressed)
        if "/" in value:
            network = ipaddress.ip_network(value, strict=False)
            return "%s/%d" % (network.network_address.compressed, network.prefixlen)
        return ipaddress.ip_address(value).compressed
    except ValueError:
        raise ValueError("remote IP range %r is not an address, a range like 10.0.0.1-10.0.0.9 or a CIDR block "
                         "like 10.0.0.0/24" % value)


RECEIVE_CONNECTOR = Resource("ReceiveConnector", [
    Field("identity", "Identity", kind="name", read_only=True),
    Field("name", "Name", kind="name"),
    Field("server", "Server", read_only=True),
    Field("transport_role", "TransportRole"),
    Field("fqdn", "Fqdn", key=canonical.fqdn),
    # <I>issuer<S>subject, as Exchange prints it; Exchange compares it without case.
    Field("tls_certificate_name", "TlsCertificateName", argument=canonical.text, after=canonical.text,
          same=lambda wanted, current: canonical.same_text(wanted, current, casefold=True)),
    Field("advertise_client_settings", "AdvertiseClientSettings", kind="bool"),
    Field("bindings", "Bindings", kind="list", unordered=True, key=binding),
    Field("remote_ip_ranges", "RemoteIPRanges", kind="list", unordered=True, key=ip_range),
    Field("auth_mechanism", "AuthMechanism", kind="flags", same=same_flags, argument=flags_argument, after=flags),
    Field("permission_groups", "PermissionGroups", kind="flags", same=same_flags, argument=flags_argument,
          after=flags),
], name="identity")


def read_receive_connector(record, keys="exchange"):
    """A receive connector as read; its server, where Exchange does not print it, from its identity (SERVER\\Name)."""
    current = RECEIVE_CONNECTOR.read(record, keys=keys)
    identity = current["identity"] = current["identity"] or ""
    current["server"] = current["server"] or (identity.split("\\", 1)[0] if "\\" in identity else None)
    return current


# --- Client access (steps 4 and 5): the virtual directories, Outlook Anywhere, the Autodiscover internal URI -------
# Read as their string forms (the same for live objects and for what a plain Import-PSSession delivers); the
# module's read (vdir_plan.SERVER_BLOCK) and exchange_info's per-server view are built from these tables.

def _url_fields():
    return [
        Field("name", "Name", kind="name", read_only=True),
        Field("identity", "Identity", kind="name", read_only=True),
        Field("internal_url", "InternalUrl", key=canonical.url),
        Field("external_url", "ExternalUrl", key=canonical.url),
    ]


def _lower(value):
    return (value or "").lower()


VIRTUAL_DIRECTORY = dict(
    (key, Resource(noun + "VirtualDirectory", _url_fields()))
    for key, noun in (("owa", "Owa"), ("ecp", "Ecp"), ("ews", "WebServices"), ("eas", "ActiveSync"),
                      ("oab", "Oab"), ("powershell", "PowerShell")))
# Set-MapiVirtualDirectory: "When you use the InternalUrl or ExternalUrl parameters, you need to specify one or more
# authentication values by using the IISAuthenticationMethods parameter" - sent with every URL change: the task's
# methods, else the server's.
VIRTUAL_DIRECTORY["mapi"] = Resource("MapiVirtualDirectory", _url_fields() + [
    Field("iis_authentication_methods", "IISAuthenticationMethods", kind="strings", unordered=True, key=_lower,
          sent_with=("internal_url", "external_url")),
])

# Exchange wants each client's SSL requirement with the host name it belongs to: sent with a host name that is set
# (the task's value, else the server's, else true).
OUTLOOK_ANYWHERE = Resource("OutlookAnywhere", [
    Field("name", "Name", kind="name", read_only=True),
    Field("identity", "Identity", kind="name", read_only=True),
    Field("internal_hostname", "InternalHostname", key=canonical.fqdn),
    Field("external_hostname", "ExternalHostname", key=canonical.fqdn),
    Field("internal_clients_require_ssl", "InternalClientsRequireSsl", kind="flag",
          same=lambda wanted, current: current is wanted, sent_with=("internal_hostname",),
          sent_if=lambda host: host is not None, sent_default=True),
    Field("external_clients_require_ssl", "ExternalClientsRequireSsl", kind="flag",
          same=lambda wanted, current: current is wanted, sent_with=("external_hostname",),
          sent_if=lambda host: host is not None, sent_default=True),
    Field("internal_client_authentication_method", "InternalClientAuthenticationMethod", key=_lower),
    Field("external_client_authentication_method", "ExternalClientAuthenticationMethod", key=_lower),
])


def _client_access(noun):
    return Resource(noun, [
        Field("identity", "Identity", kind="name", read_only=True),
        Field("autodiscover_internal_uri", "AutoDiscoverServiceInternalUri", key=canonical.url),
    ], name="identity")


# AutoDiscoverServiceInternalUri: Set-ClientAccessService from Exchange 2016 on, Set-ClientAccessServer on 2013.
CLIENT_ACCESS = {"ClientAccessService": _client_access("ClientAccessService"),
                 "ClientAccessServer": _client_access("ClientAccessServer")}


# --- The certificate (step 6) ------------------------------------------------------------------------------------
# Exchange's AllowedServices, in the order Exchange prints them.
CERTIFICATE_SERVICES = ("IMAP", "POP", "UM", "IIS", "SMTP", "Federation", "UMCallRouter")


def certificate_services_list(names):
    """Services in Exchange's order and spelling (unknown names after them, sorted); None stays None."""
    if names is None:
        return None
    names = set(names)
    return [s for s in CERTIFICATE_SERVICES if s in names] + sorted(n for n in names if n not in CERTIFICATE_SERVICES)


def certificate_services_text(names):
    """Services as Exchange writes and prints them, comma-joined (``IIS, SMTP``); ``None`` for no service."""
    return ", ".join(certificate_services_list(names or ())) or "None"


# How each property of a certificate is written: requested with New-ExchangeCertificate -GenerateRequest (subject,
# names, friendly name, key size, exportable key - none of them can be changed afterwards), imported with
# Import-ExchangeCertificate (friendly name), enabled for services with Enable-ExchangeCertificate (which only adds),
# removed with Remove-ExchangeCertificate; each line names the certificate by -Server and -Thumbprint. The read is
# not a projection of Get-ExchangeCertificate: through a plain remote PowerShell session its objects arrive with
# RawData only, so the facts come from the certificate's bytes and the server's own stores (certificate_store_read,
# certificate_plan.StoreEntry) - the same read for the module and exchange_info. ``info`` is the key of those facts.
CERTIFICATE = Resource("ExchangeCertificate", [
    Field("thumbprint", "Thumbprint", kind="name", read_only=True),
    Field("subject_name", "Subject", parameter="SubjectName", info="subject", create_only=True),
    Field("domain_names", "CertificateDomains", kind="list", parameter="DomainName", info="sans", create_only=True,
          key=canonical.fqdn, unordered=True, argument=lambda names: list(names) if names else None),
    Field("friendly_name", "FriendlyName", create_only=True),
    Field("key_size", "PublicKeySize", parameter="KeySize", create_only=True),
    Field("private_key_exportable", "PrivateKeyExportable", kind="bool", create_only=True,
          argument=lambda value: None if value is None else bool(value)),
    Field("services", "Services", kind="flags", additive=True, argument=certificate_services_text,
          after=certificate_services_list),
], name="thumbprint")
