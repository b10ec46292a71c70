"""Servers, the client access service (Autodiscover URI), transport services and offline address books."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ..psvalues import PSObject
from . import types as T
from .contract import apply_multivalued, should_process
from .objects import AD_BASE_TYPES, apply_properties, contract_types, make_object
from .registry import Call, cmdlet, exchange_error

if TYPE_CHECKING:  # pragma: no cover
    from .organization import Organization

_MGMT = "Microsoft.Exchange.Data.Directory.Management."
_SC = "Microsoft.Exchange.Data.Directory.SystemConfiguration."


# --- servers -------------------------------------------------------------------------------------------------------


def render_server(org: "Organization", name: str) -> PSObject:
    record = org.server(name)
    ident = org.ad_object_id(name, org.server_dn(name), record["guid"])
    return PSObject(
        [_MGMT + "ExchangeServer", *AD_BASE_TYPES],
        {
            "Name": name,
            "Fqdn": org.server_fqdn(name),
            "Domain": org.domain,
            "Edition": record["Edition"],
            "ServerRole": record["ServerRole"],
            "Site": record["Site"],
            "AdminDisplayVersion": T.server_version(record["AdminDisplayVersion"]),
            "ExchangeVersion": "0.1 (8.0.535.0)",
            "IsExchangeTrialEdition": record["Edition"].endswith("Evaluation"),
            "IsMailboxServer": True,
            "IsClientAccessServer": True,
            "IsHubTransportServer": True,
            "IsFrontendTransportServer": True,
            "IsEdgeServer": False,
            "OrganizationalUnit": f"{org.domain}/{name}",
            "DistinguishedName": org.server_dn(name),
            "Identity": ident,
            "Guid": record["guid"],
            "OriginatingServer": org.domain_controller,
            "IsValid": True,
        },
        string=name,
    )


@cmdlet("Get-ExchangeServer")
def get_exchange_server(call: Call) -> list:
    org = call.org
    if call.has("Identity"):
        text = str(call.get("Identity"))
        if "*" in text:
            import fnmatch

            names = [n for n in org.server_names() if fnmatch.fnmatchcase(n.casefold(), text.casefold())]
        else:
            names = [org.resolve_server(call, text)]
    elif call.has("Domain"):
        names = org.server_names() if call.get("Domain").casefold() == org.domain else []
    else:
        names = org.server_names()
    return [render_server(org, n) for n in names]


# --- client access service ----------------------------------------------------------------------------------------

CAS_TYPES = {"AutoDiscoverServiceInternalUri": "Uri", "AutoDiscoverSiteScope": "MultiValuedProperty"}


def render_client_access(org: "Organization", name: str, service: bool) -> PSObject:
    record = org.server(name)["client_access"]
    type_name = _MGMT + ("ClientAccessService" if service else "ClientAccessServer")
    props = {
        "Name": name,
        "Fqdn": org.server_fqdn(name),
        "ClientAccessArray": None,
        "OutlookAnywhereEnabled": True,
        "AutoDiscoverServiceCN": name,
        "AutoDiscoverServiceClassName": "ms-Exchange-AutoDiscover-Service",
        "AutoDiscoverServiceInternalUri": T.uri(record["AutoDiscoverServiceInternalUri"]),
        "AutoDiscoverServiceGuid": "77378f46-2c66-4aa9-a6a6-3e7a48b19596",
        "AutoDiscoverSiteScope": list(record["AutoDiscoverSiteScope"]),
        "AlternateServiceAccountConfiguration": _alternate_service_account(record),
        "IsOutOfService": False,
        "Identity": org.ad_object_id(name, org.server_dn(name), org.server(name)["guid"]),
        "Guid": org.server(name)["guid"],
        "DistinguishedName": org.server_dn(name),
        "IsValid": True,
    }
    return PSObject([type_name, *AD_BASE_TYPES], props, string=name)


def _alternate_service_account(record: dict) -> PSObject | None:
    accounts = record.get("AlternateServiceAccounts") or []
    if not accounts:
        return None
    text = ", ".join(f"Latest: {a}" if i == 0 else f"Previous: {a}" for i, a in enumerate(accounts))
    return PSObject(["Microsoft.Exchange.Data.Directory.SystemConfiguration.AlternateServiceAccountConfiguration", "System.Object"],
                    {"EffectiveCredentials": list(accounts), "AllCredentials": list(accounts)}, string=text)


def _deprecated(call: Call) -> None:
    if call.version != "2013":
        call.ctx.write_warning(
            f"The {call.name} cmdlet will be removed in a future version of Exchange. "
            f"Use the {call.name.replace('ClientAccessServer', 'ClientAccessService')} cmdlet instead.")


def _get_cas(service: bool):
    def get(call: Call) -> list:
        if not service:
            _deprecated(call)
        org = call.org
        names = [org.resolve_server(call, call.get("Identity"))] if call.has("Identity") else org.server_names()
        return [render_client_access(org, n, service) for n in names]

    return get


def _set_cas(call: Call) -> list:
    if call.name.endswith("Server"):
        _deprecated(call)
    org = call.org
    name = org.resolve_server(call, call.get("Identity"))
    record = org.server(name)["client_access"]
    if not should_process(call, f'Configuring Client Access server "{name}".'):
        return []
    if call.has("AutoDiscoverServiceInternalUri"):
        record["AutoDiscoverServiceInternalUri"] = call.get("AutoDiscoverServiceInternalUri")
    if call.has("AutoDiscoverSiteScope"):
        record["AutoDiscoverSiteScope"] = apply_multivalued(record["AutoDiscoverSiteScope"], call.get("AutoDiscoverSiteScope"))
    # The alternate service account (Kerberos for load-balanced namespaces): only the account names are kept.
    accounts = record.setdefault("AlternateServiceAccounts", [])
    if call.get("RemoveAlternateServiceAccountCredentials"):
        accounts.clear()
    for credential in call.get("AlternateServiceAccountCredential") or []:
        name = credential.get("UserName") if isinstance(credential, PSObject) else str(credential)
        accounts[:] = [name] + [a for a in accounts if a.casefold() != str(name).casefold()]
    if call.get("CleanUpInvalidAlternateServiceAccountCredentials"):
        del accounts[2:]  # keeps the latest and the previous credential
    return []


cmdlet("Get-ClientAccessService")(_get_cas(True))
cmdlet("Get-ClientAccessServer")(_get_cas(False))
cmdlet("Set-ClientAccessService")(_set_cas)
cmdlet("Set-ClientAccessServer")(_set_cas)


# --- transport services -------------------------------------------------------------------------------------------


def _transport(front: bool):
    def get(call: Call) -> list:
        org = call.org
        names = [org.resolve_server(call, call.get("Identity"))] if call.has("Identity") else org.server_names()
        type_name = _MGMT + ("FrontendTransportServerPresentationObject" if front else "TransportServerPresentationObject")
        result = []
        for name in names:
            record = org.server(name)
            result.append(PSObject([type_name, *AD_BASE_TYPES], {
                "Name": name,
                "Identity": org.ad_object_id(name, org.server_dn(name), record["guid"]),
                "MaxOutboundConnections": 1000,
                "MaxConnectionRatePerMinute": 1200,
                "ConnectivityLogEnabled": True,
                "ReceiveProtocolLogPath": rf"C:\Program Files\Microsoft\Exchange Server\V15\TransportRoles\Logs\{'FrontEnd' if front else 'Hub'}\ProtocolLog\SmtpReceive",
                "SendProtocolLogPath": rf"C:\Program Files\Microsoft\Exchange Server\V15\TransportRoles\Logs\{'FrontEnd' if front else 'Hub'}\ProtocolLog\SmtpSend",
                "InternalDNSAdapterEnabled": True,
                "ExternalDNSAdapterEnabled": True,
                "IsValid": True,
                # A string on the server object (msExchServerInternalTLSCert): the default SMTP certificate.
                **({} if front else {"InternalTransportCertificateThumbprint": _internal_transport_thumbprint(org, name)}),
            }, string=name))
        return result

    return get


def _internal_transport_thumbprint(org, server: str) -> str:
    from .certificates import certificate_store

    record = next((r for r in certificate_store(org, server) if r.get("internal_transport")), None)
    return record["thumbprint"] if record else ""


cmdlet("Get-TransportService")(_transport(False))
cmdlet("Get-FrontendTransportService")(_transport(True))


# --- offline address books -----------------------------------------------------------------------------------------

OAB_TYPES = {**contract_types("New-OfflineAddressBook", "Set-OfflineAddressBook"), "VirtualDirectories": None}


def _oabs(org: "Organization") -> list[dict]:
    return org.state["offline_address_books"]


def _oab_vdir(org: "Organization", guid: str) -> dict | None:
    for name in org.server_names():
        for vdir in org.server(name)["virtual_directories"]:
            if vdir["guid"] == guid:
                return vdir
    return None


def render_oab(org: "Organization", record: dict) -> PSObject:
    props = dict(record["props"])
    vdir_ids = props.pop("VirtualDirectories")
    obj = make_object(org, _SC + "OfflineAddressBook", record, display=f"\\{record['name']}", properties=props, types=OAB_TYPES)
    vdirs = []
    for guid in vdir_ids:
        vdir = _oab_vdir(org, guid)
        if vdir is not None:
            vdirs.append(org.ad_object_id(vdir["name"], vdir["dn"], vdir["guid"], f"{vdir['server']}\\{vdir['name']}"))
    obj.properties["VirtualDirectories"] = vdirs
    obj.properties["Server"] = None if org.version != "2013" else org.server_names()[0]
    return obj


def _find_oab(call: Call, single: bool) -> list[dict]:
    identity = str(call.get("Identity"))
    return call.org.find(call, _oabs(call.org), identity.lstrip("\\"), wildcards=not single, server_scoped=False, single=single)


@cmdlet("Get-OfflineAddressBook")
def get_offline_address_book(call: Call) -> list:
    org = call.org
    records = _oabs(org)
    if call.has("Identity"):
        records = _find_oab(call, single=False)
    if call.has("Server"):
        org.resolve_server(call, call.get("Server"))
    return [render_oab(org, r) for r in records]


@cmdlet("Set-OfflineAddressBook")
def set_offline_address_book(call: Call) -> list:
    org = call.org
    record = _find_oab(call, single=True)[0]
    guids = None
    if call.has("VirtualDirectories"):
        guids = []
        for identity in call.get("VirtualDirectories") or []:
            candidates = [v for n in org.server_names() for v in org.server(n)["virtual_directories"] if v["kind"] == "oab"]
            guids.append(org.find(call, candidates, identity, wildcards=False, server_scoped=True, single=True)[0]["guid"])
    if call.get("IsDefault") is False and record["props"]["IsDefault"]:
        raise exchange_error(call, "There must be a default offline address book. Make another offline address book the default instead.", "InvalidOperation")
    if not should_process(call, f'Configuring offline address book "\\{record["name"]}".'):
        return []
    apply_properties(call, record, skip={"Name", "VirtualDirectories", "IsDefault"})
    if guids is not None:
        record["props"]["VirtualDirectories"] = list(dict.fromkeys(guids))
    if call.get("IsDefault"):
        for other in _oabs(org):
            other["props"]["IsDefault"] = other is record
    if call.get("Name"):
        record["name"] = call.get("Name")
    return []


@cmdlet("Update-OfflineAddressBook")
def update_offline_address_book(call: Call) -> list:
    record = _find_oab(call, single=True)[0]
    if not should_process(call, f'Updating offline address book "\\{record["name"]}".'):
        return []
    record["props"]["LastRequestedTime"] = datetime.now(timezone.utc).isoformat()
    return []
