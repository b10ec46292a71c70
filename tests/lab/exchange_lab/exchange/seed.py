"""What a freshly installed Exchange 2013/2016/2019 organisation contains (FACTS.md §3, issue 2 §3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .organization import STATE_SCHEMA

if TYPE_CHECKING:  # pragma: no cover
    from .organization import Organization

# The build a lab server reports (the last cumulative update of each version).
BUILDS = {
    "2013": "Version 15.0 (Build 1497.2)",
    "2016": "Version 15.1 (Build 2507.6)",
    "2019": "Version 15.2 (Build 1118.7)",
}
SERVER_ROLES = {"2013": "Mailbox, ClientAccess", "2016": "Mailbox", "2019": "Mailbox"}
SITE = "Default-First-Site-Name"
EXCHANGE_PATH = r"C:\Program Files\Microsoft\Exchange Server\V15"

ALL_IPV4 = "0.0.0.0-255.255.255.255"
ALL_IPV6 = "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
DEFAULT_AUTH = "Tls, Integrated, BasicAuth, BasicAuthRequireTLS, ExchangeServer"
RECEIVE_CONNECTOR_SIZE = 36 * 1024 * 1024  # 36 MB on the default receive connectors
SEND_CONNECTOR_SIZE = 35 * 1024 * 1024  # 35 MB for a new send connector

# name pattern, port, transport role, permission groups, auth mechanisms, max recipients
DEFAULT_RECEIVE_CONNECTORS = (
    ("Default {server}", 2525, "HubTransport", "ExchangeUsers, ExchangeServers, ExchangeLegacyServers", DEFAULT_AUTH, 5000),
    ("Client Proxy {server}", 465, "HubTransport", "ExchangeUsers, ExchangeServers", DEFAULT_AUTH, 200),
    ("Default Frontend {server}", 25, "FrontendTransport", "AnonymousUsers, ExchangeServers, ExchangeLegacyServers", DEFAULT_AUTH, 200),
    ("Outbound Proxy Frontend {server}", 717, "FrontendTransport", "ExchangeServers", DEFAULT_AUTH, 200),
    ("Client Frontend {server}", 587, "FrontendTransport", "ExchangeUsers", "Tls, Integrated, BasicAuth, BasicAuthRequireTLS", 200),
)

# kind: (name, URL path, scheme, .NET type, Get cmdlet noun); Autodiscover has no URL of its own.
VIRTUAL_DIRECTORIES = {
    "owa": ("owa (Default Web Site)", "/owa", "https", "ADOwaVirtualDirectory"),
    "ecp": ("ecp (Default Web Site)", "/ecp", "https", "ADEcpVirtualDirectory"),
    "ews": ("EWS (Default Web Site)", "/EWS/Exchange.asmx", "https", "ADWebServicesVirtualDirectory"),
    "eas": ("Microsoft-Server-ActiveSync (Default Web Site)", "/Microsoft-Server-ActiveSync", "https", "ADMobileVirtualDirectory"),
    "oab": ("OAB (Default Web Site)", "/OAB", "https", "ADOabVirtualDirectory"),
    "mapi": ("mapi (Default Web Site)", "/mapi", "https", "ADMapiVirtualDirectory"),
    "powershell": ("PowerShell (Default Web Site)", "/powershell", "http", "ADPowerShellVirtualDirectory"),
    "autodiscover": ("Autodiscover (Default Web Site)", None, "https", "ADAutodiscoverVirtualDirectory"),
}
# Set-MapiVirtualDirectory -IISAuthenticationMethods: "The default values are NTLM, OAuth, and Negotiate."
# (office-docs-powershell, ExchangePowerShell/Set-MapiVirtualDirectory.md; applicable 2013 to SE).
MAPI_IIS_AUTH = ["Ntlm", "OAuth", "Negotiate"]
# Outlook Anywhere, on every version (office-docs-powershell, ExchangePowerShell/Set-OutlookAnywhere.md, applicable
# 2013 to SE): ExternalClientAuthenticationMethod "Negotiate (default value)", InternalClientAuthenticationMethod
# "Ntlm (default value)", IISAuthenticationMethods "By default, all values are used." (Basic, Ntlm, Negotiate).
OUTLOOK_ANYWHERE_AUTH = {"internal": "Ntlm", "external": "Negotiate", "iis": ["Basic", "Ntlm", "Negotiate"]}
VDIR_AUTH = {
    "owa": (["Basic", "Fba", "Ntlm", "WindowsIntegrated"], ["Fba"]),
    "ecp": (["Basic", "Fba"], ["Fba"]),
    "ews": (["Ntlm", "WindowsIntegrated", "WSSecurity", "OAuth"], ["Ntlm", "WindowsIntegrated", "WSSecurity", "OAuth"]),
    "eas": (["Basic"], ["Basic"]),
    "oab": (["WindowsIntegrated", "OAuth"], ["WindowsIntegrated", "OAuth"]),
    "mapi": (["Ntlm", "OAuth", "Negotiate"], ["Ntlm", "OAuth", "Negotiate"]),
    "powershell": (["Kerberos"], ["Kerberos"]),
    "autodiscover": (["Basic", "Ntlm", "WindowsIntegrated", "WSSecurity", "OAuth"], ["Basic", "Ntlm", "WindowsIntegrated", "WSSecurity", "OAuth"]),
}

# A few recipients, so that Update-EmailAddressPolicy visibly changes addresses.
MAILBOXES = (
    ("Administrator", "Administrator", "", ""),
    ("David Hamilton", "david", "David", "Hamilton"),
    ("Ana Trujillo", "ana", "Ana", "Trujillo"),
    ("Mail Relay", "relay", "", ""),
)


def seed_organization(org: "Organization", version: str, servers: list[str], domain: str) -> None:
    org.state.clear()
    org.state.update({
        "schema": STATE_SCHEMA,
        "version": version,
        "domain": domain,
        "organization_guid": org.new_guid(),
        "servers": {},
        "send_connectors": [],
        "accepted_domains": [],
        "email_address_policies": [],
        "offline_address_books": [],
        "recipients": [],
    })
    for name in servers:
        seed_server(org, name)
    seed_accepted_domain(org)
    seed_email_address_policy(org)
    seed_offline_address_book(org)
    seed_recipients(org)


def seed_server(org: "Organization", name: str) -> None:
    version = org.version
    org.state["servers"][name] = {
        "name": name,
        "guid": org.new_guid(),
        "AdminDisplayVersion": BUILDS[version],
        "ServerRole": SERVER_ROLES[version],
        "Edition": "StandardEvaluation",
        "Site": f"{org.domain}/Configuration/Sites/{SITE}",
        "receive_connectors": [],
        "virtual_directories": [],
        "client_access": {
            "guid": org.new_guid(),
            "AutoDiscoverServiceInternalUri": f"https://{name.lower()}.{org.domain}/Autodiscover/Autodiscover.xml",
            "AutoDiscoverSiteScope": [SITE],
        },
    }
    fqdn = org.server_fqdn(name)
    for pattern, port, role, groups, auth, recipients in DEFAULT_RECEIVE_CONNECTORS:
        org.server(name)["receive_connectors"].append(receive_connector_record(
            org, name, pattern.format(server=name), bindings=[f"[::]:{port}", f"0.0.0.0:{port}"],
            remote_ip_ranges=[ALL_IPV6, ALL_IPV4], role=role, permission_groups=groups, auth=auth,
            fqdn=fqdn, max_recipients=recipients,
        ))
    for kind in VIRTUAL_DIRECTORIES:
        org.server(name)["virtual_directories"].append(vdir_record(org, name, kind))
    org.server(name)["virtual_directories"].append(outlook_anywhere_record(org, name))
    _seed_certificates(org, name)


def _seed_certificates(org: "Organization", name: str) -> None:
    try:
        from .certificates import seed_certificates
    except ImportError:
        # The certificates module is another part of the lab; without it the server has no certificate store.
        return
    seed_certificates(org, name)


def receive_connector_record(org: "Organization", server: str, name: str, *, bindings: list[str], remote_ip_ranges: list[str],
                             role: str, permission_groups: str, auth: str, fqdn: str, max_recipients: int = 200,
                             usage: str | None = None) -> dict:
    return {
        "name": name,
        "server": server,
        "guid": org.new_guid(),
        "dn": f"CN={name},CN=SMTP Receive Connectors,CN=Protocols,{org.server_dn(server)}",
        "usage": usage,
        "props": {
            "Bindings": bindings,
            "RemoteIPRanges": remote_ip_ranges,
            "TransportRole": role,
            "PermissionGroups": permission_groups,
            "AuthMechanism": auth,
            "Fqdn": fqdn,
            "AdvertiseClientSettings": False,
            "TlsCertificateName": None,
            "Enabled": True,
            "RequireTLS": False,
            "Banner": None,
            "Comment": None,
            "MaxMessageSize": RECEIVE_CONNECTOR_SIZE,
            "MaxRecipientsPerMessage": max_recipients,
            "MaxInboundConnection": 5000,
            "MaxInboundConnectionPerSource": 20 if role == "FrontendTransport" else "Unlimited",
            "ConnectionTimeout": "00:10:00" if role == "FrontendTransport" else "00:05:00",
            "ProtocolLoggingLevel": "None",
            "DomainSecureEnabled": role == "FrontendTransport" and name.startswith("Default Frontend"),
            "LongAddressesEnabled": False,
            "OrarEnabled": False,
            "EnableAuthGSSAPI": False,
            "SizeEnabled": "Enabled",
            "TarpitInterval": "00:00:05",
            "ServiceDiscoveryFqdn": None,
            "TlsDomainCapabilities": [],
        },
    }


def vdir_url(org: "Organization", server: str, kind: str) -> str | None:
    _, path, scheme, _ = VIRTUAL_DIRECTORIES[kind]
    if path is None:
        return None
    return f"{scheme}://{org.server_fqdn(server)}{path}"


def vdir_record(org: "Organization", server: str, kind: str) -> dict:
    name, _, _, _ = VIRTUAL_DIRECTORIES[kind]
    internal_auth, external_auth = VDIR_AUTH[kind]
    site_path = name.split(" (")[0]
    return {
        "kind": kind,
        "name": name,
        "server": server,
        "guid": org.new_guid(),
        "dn": f"CN={name},CN=HTTP,CN=Protocols,{org.server_dn(server)}",
        "props": {
            "InternalUrl": vdir_url(org, server, kind),
            "ExternalUrl": None,
            "InternalAuthenticationMethods": internal_auth,
            "ExternalAuthenticationMethods": external_auth,
            "BasicAuthentication": "Basic" in internal_auth,
            "WindowsAuthentication": "WindowsIntegrated" in internal_auth or "Ntlm" in internal_auth,
            "DigestAuthentication": False,
            "OAuthAuthentication": "OAuth" in internal_auth,
            "FormsAuthentication": "Fba" in internal_auth,
            "ExtendedProtectionTokenChecking": "None",
            "ExtendedProtectionFlags": [],
            "ExtendedProtectionSPNList": [],
            "MetabasePath": f"IIS://{org.server_fqdn(server)}/W3SVC/1/ROOT/{site_path}",
            "Path": rf"{EXCHANGE_PATH}\FrontEnd\HttpProxy\{site_path.lower()}",
            **({"IISAuthenticationMethods": list(MAPI_IIS_AUTH)} if kind == "mapi" else {}),
        },
    }


def outlook_anywhere_record(org: "Organization", server: str) -> dict:
    name = "Rpc (Default Web Site)"
    return {
        "kind": "rpc",
        "name": name,
        "server": server,
        "guid": org.new_guid(),
        "dn": f"CN={name},CN=HTTP,CN=Protocols,{org.server_dn(server)}",
        "props": {
            "InternalHostname": org.server_fqdn(server),
            "ExternalHostname": None,
            "InternalClientsRequireSsl": False,
            "ExternalClientsRequireSsl": False,
            "InternalClientAuthenticationMethod": OUTLOOK_ANYWHERE_AUTH["internal"],
            "ExternalClientAuthenticationMethod": OUTLOOK_ANYWHERE_AUTH["external"],
            "IISAuthenticationMethods": list(OUTLOOK_ANYWHERE_AUTH["iis"]),
            "SSLOffloading": True,
            "ExtendedProtectionTokenChecking": "None",
            "ExtendedProtectionFlags": [],
            "ExtendedProtectionSPNList": [],
            "MetabasePath": f"IIS://{org.server_fqdn(server)}/W3SVC/1/ROOT/Rpc",
            "Path": rf"{EXCHANGE_PATH}\FrontEnd\HttpProxy\rpc",
        },
    }


def seed_accepted_domain(org: "Organization") -> None:
    org.state["accepted_domains"].append(accepted_domain_record(org, org.domain, org.domain, "Authoritative", default=True))


def accepted_domain_record(org: "Organization", name: str, domain: str, domain_type: str, default: bool = False) -> dict:
    return {
        "name": name,
        "guid": org.new_guid(),
        "dn": f"CN={name},CN=Accepted Domains,CN=Transport Settings,{org.organization_dn}",
        "props": {
            "DomainName": domain,
            "DomainType": domain_type,
            "Default": default,
            "AddressBookEnabled": domain_type == "Authoritative",
            "MatchSubDomains": False,
            "PendingRemoval": False,
            "PendingCompletion": False,
        },
    }


def seed_email_address_policy(org: "Organization") -> None:
    org.state["email_address_policies"].append({
        "name": "Default Policy",
        "guid": org.new_guid(),
        "dn": f"CN=Default Policy,CN=Recipient Policies,{org.organization_dn}",
        "props": {
            "EnabledEmailAddressTemplates": [f"SMTP:@{org.domain}"],
            "DisabledEmailAddressTemplates": [],
            "Priority": "Lowest",
            "IncludedRecipients": "AllRecipients",
            "RecipientFilter": "Alias -ne $null",
            "LdapRecipientFilter": "(mailNickname=*)",
            "RecipientContainer": None,
            "RecipientFilterApplied": True,
        },
    })


def seed_offline_address_book(org: "Organization") -> None:
    oab_vdirs = [
        vdir["guid"]
        for server in org.server_names()
        for vdir in org.server(server)["virtual_directories"]
        if vdir["kind"] == "oab"
    ]
    legacy = org.version == "2013"
    org.state["offline_address_books"].append({
        "name": "Default Offline Address Book",
        "guid": org.new_guid(),
        "dn": f"CN=Default Offline Address Book,CN=Offline Address Lists,CN=Address Lists Container,{org.organization_dn}",
        "props": {
            "IsDefault": True,
            "AddressLists": ["\\Default Global Address List"],
            "GlobalWebDistributionEnabled": not legacy,
            "VirtualDirectories": oab_vdirs if legacy else [],
            "Versions": ["Version4"],
            "ShadowMailboxDistributionEnabled": False,
            "LastTouchedTime": None,
            "LastRequestedTime": None,
            "ZipOabFilesBeforeUploading": False,
        },
    })


def seed_recipients(org: "Organization") -> None:
    for display, alias, first, last in MAILBOXES:
        address = f"{alias}@{org.domain}"
        org.state["recipients"].append({
            "name": display,
            "guid": org.new_guid(),
            "dn": f"CN={display},CN=Users,{org.domain_dn}",
            "aliases": [alias, address],
            "props": {
                "Alias": alias,
                "DisplayName": display,
                "FirstName": first,
                "LastName": last,
                "RecipientType": "UserMailbox",
                "RecipientTypeDetails": "UserMailbox",
                "EmailAddresses": [f"SMTP:{address}"],
                "PrimarySmtpAddress": address,
                "EmailAddressPolicyEnabled": True,
                "UserPrincipalName": f"{alias}@{org.domain}",
                "Database": "Mailbox Database 0497224870",
                "ServerName": org.server_names()[0].lower(),
            },
        })
