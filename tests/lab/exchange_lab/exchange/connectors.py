"""Send and receive connectors (Get/New/Set/Remove-SendConnector, Get/New/Set/Remove-ReceiveConnector)."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from ..psvalues import PSObject
from . import seed
from .contract import apply_multivalued, should_process
from .objects import apply_properties, contract_types, make_object
from .organization import ROUTING_GROUP
from .registry import Call, cmdlet, exchange_error

if TYPE_CHECKING:  # pragma: no cover
    from .organization import Organization

_SC = "Microsoft.Exchange.Data.Directory.SystemConfiguration."


def already_exists(call: Call, dn: str) -> Exception:
    return exchange_error(call, f"Active Directory operation failed on {call.org.domain_controller}. The object '{dn}' already exists.",
                          "AlreadyExists")


# --- send connectors ------------------------------------------------------------------------------------------

SEND_TYPES = {**contract_types("New-SendConnector", "Set-SendConnector"), "AddressSpaces": "MVP:AddressSpace",
              "SmartHosts": "MVP:SmartHost", "MaxMessageSize": "UnlimitedSize", "SourceTransportServers": None}


def send_connector_dn(org: "Organization", name: str) -> str:
    return f"CN={name},CN=Connections,CN={ROUTING_GROUP},CN=Routing Groups,{org.admin_group_dn}"


def render_send_connector(org: "Organization", record: dict) -> PSObject:
    props = dict(record["props"])
    servers = props.pop("SourceTransportServers")
    obj = make_object(org, _SC + "SmtpSendConnectorConfig", record, display=record["name"], properties=props, types=SEND_TYPES,
                      extra_types=[_SC + "SendConnector", "Microsoft.Exchange.Data.Directory.SystemConfiguration.MailGateway"])
    obj.properties["SourceTransportServers"] = [
        org.ad_object_id(s, org.server_dn(s), org.server(s)["guid"]) for s in servers if s in org.state["servers"]
    ]
    obj.properties["SmartHostsString"] = ",".join(props.get("SmartHosts") or [])
    obj.properties["HomeMTA"] = "Microsoft MTA"
    obj.properties["Region"] = None
    return obj


def _send_connectors(org: "Organization") -> list[dict]:
    return org.state["send_connectors"]


def _check_routing(call: Call, dns_routing: bool, smart_hosts: list, address_spaces: list[str], require_tls: bool, ignore_starttls: bool) -> None:
    """The documented rules: smart hosts need DNSRoutingEnabled $false (and vice versa), non-SMTP address spaces need
    smart hosts, RequireTLS needs IgnoreSTARTTLS $false."""
    if dns_routing and smart_hosts:
        raise exchange_error(call, "The SmartHosts parameter can't be used while DNSRoutingEnabled is $true. "
                                   "To route mail through smart hosts, set DNSRoutingEnabled to $false on the same command.",
                             "DataValidation")
    if not dns_routing and not smart_hosts:
        raise exchange_error(call, "DNSRoutingEnabled is $false but no smart host is set. "
                                   "Specify at least one smart host with the SmartHosts parameter.", "DataValidation")
    foreign = [space for space in address_spaces if not space.startswith("SMTP:")]
    if foreign and dns_routing:
        raise exchange_error(call, f"The address space '{foreign[0]}' isn't an SMTP address space: the Send connector must route "
                                   "through smart hosts (SmartHosts set and DNSRoutingEnabled $false).", "DataValidation")
    if require_tls and ignore_starttls:
        raise exchange_error(call, "IgnoreSTARTTLS must be $false when RequireTLS is $true.", "DataValidation")


def _resolve_servers(call: Call, values: list) -> list[str]:
    return [call.org.resolve_server(call, value) for value in values]


@cmdlet("Get-SendConnector")
def get_send_connector(call: Call) -> list:
    records = _send_connectors(call.org)
    if call.has("Identity"):
        records = call.org.find(call, records, call.get("Identity"), wildcards=True, server_scoped=False, single=False)
    return [render_send_connector(call.org, r) for r in records]


@cmdlet("New-SendConnector")
def new_send_connector(call: Call) -> list:
    org = call.org
    name = call.get("Name")
    dn = send_connector_dn(org, name)
    if any(r["name"].casefold() == name.casefold() for r in _send_connectors(org)):
        raise already_exists(call, dn)
    usages = [u for u in ("Custom", "Internal", "Internet", "Partner") if call.get(u)] + (["Usage"] if call.has("Usage") else [])
    if len(usages) > 1:
        raise exchange_error(call, f"Only one usage type can be given: {', '.join(usages)} can't be used together.", "Invalid")
    usage = call.get("Usage") or (usages[0] if usages else "Custom")
    smart_hosts = call.get("SmartHosts") or []
    dns_routing = call.get("DNSRoutingEnabled", True)
    _check_routing(call, dns_routing, smart_hosts, call.get("AddressSpaces") or [], call.get("RequireTLS", False),
                   call.get("IgnoreSTARTTLS", False))
    servers = _resolve_servers(call, call.get("SourceTransportServers") or [call.server])
    record = {
        "name": name,
        "guid": org.new_guid(),
        "dn": dn,
        "usage": usage,
        "props": {
            "AddressSpaces": list(dict.fromkeys(call.get("AddressSpaces") or [])),
            "DNSRoutingEnabled": dns_routing,
            "SmartHosts": smart_hosts,
            "SourceTransportServers": servers,
            "Fqdn": call.get("Fqdn"),
            "Enabled": call.get("Enabled", True),
            "MaxMessageSize": call.get("MaxMessageSize", seed.SEND_CONNECTOR_SIZE),
            "RequireTLS": call.get("RequireTLS", False),
            "Comment": call.get("Comment"),
            "Port": call.get("Port", 25),
            "IsScopedConnector": call.get("IsScopedConnector", False),
            "DomainSecureEnabled": call.get("DomainSecureEnabled", usage == "Partner"),
            "ProtocolLoggingLevel": call.get("ProtocolLoggingLevel", "None"),
            "SmartHostAuthMechanism": call.get("SmartHostAuthMechanism", "None"),
            "TlsAuthLevel": call.get("TlsAuthLevel"),
            "TlsDomain": call.get("TlsDomain"),
            "TlsCertificateName": call.get("TlsCertificateName"),
            "UseExternalDNSServersEnabled": call.get("UseExternalDNSServersEnabled", False),
            "FrontendProxyEnabled": call.get("FrontendProxyEnabled", False),
            "CloudServicesMailEnabled": call.get("CloudServicesMailEnabled", False),
            "IgnoreSTARTTLS": call.get("IgnoreSTARTTLS", False),
            "ForceHELO": call.get("ForceHELO", False),
            "RequireOorg": call.get("RequireOorg", False),
            "ConnectionInactivityTimeOut": call.get("ConnectionInactivityTimeOut", "00:10:00"),
            "SmtpMaxMessagesPerConnection": call.get("SmtpMaxMessagesPerConnection", 20),
            "SourceIPAddress": call.get("SourceIPAddress", "0.0.0.0"),
        },
    }
    if not should_process(call, f'Creating Send connector "{name}".'):
        return []
    _send_connectors(org).append(record)
    return [render_send_connector(org, record)]


@cmdlet("Set-SendConnector")
def set_send_connector(call: Call) -> list:
    org = call.org
    record = org.find(call, _send_connectors(org), call.get("Identity"), wildcards=False, server_scoped=False, single=True)[0]
    props = record["props"]
    new_name = call.get("Name")
    if new_name and new_name.casefold() != record["name"].casefold():
        if any(r["name"].casefold() == new_name.casefold() for r in _send_connectors(org)):
            raise already_exists(call, send_connector_dn(org, new_name))
    servers = None
    if call.has("SourceTransportServers"):
        servers = _resolve_servers(call, apply_multivalued(props["SourceTransportServers"], call.get("SourceTransportServers")))
        if not servers:
            raise exchange_error(call, "The SourceTransportServers property of a Send connector can't be empty.", "DataValidation")
    dns_routing = call.get("DNSRoutingEnabled", props["DNSRoutingEnabled"])
    smart_hosts = apply_multivalued(props["SmartHosts"], call.get("SmartHosts")) if call.has("SmartHosts") else props["SmartHosts"]
    spaces = apply_multivalued(props["AddressSpaces"], call.get("AddressSpaces")) if call.has("AddressSpaces") else props["AddressSpaces"]
    _check_routing(call, dns_routing, smart_hosts, spaces, call.get("RequireTLS", props["RequireTLS"]),
                   call.get("IgnoreSTARTTLS", props["IgnoreSTARTTLS"]))
    if not spaces:
        raise exchange_error(call, "The AddressSpaces property of a Send connector can't be empty.", "DataValidation")
    if not should_process(call, f'Configuring Send connector "{record["name"]}".'):
        return []
    apply_properties(call, record, skip={"Name", "SourceTransportServers"})
    if servers is not None:
        props["SourceTransportServers"] = list(dict.fromkeys(servers))
    if new_name:
        record["name"] = new_name
        record["dn"] = send_connector_dn(org, new_name)
    return []


@cmdlet("Remove-SendConnector")
def remove_send_connector(call: Call) -> list:
    org = call.org
    record = org.find(call, _send_connectors(org), call.get("Identity"), wildcards=False, server_scoped=False, single=True)[0]
    if not should_process(call, f'Removing Send connector "{record["name"]}".'):
        return []
    _send_connectors(org).remove(record)
    return []


# --- receive connectors ---------------------------------------------------------------------------------------

RECEIVE_TYPES = {**contract_types("New-ReceiveConnector", "Set-ReceiveConnector"), "Bindings": "MVP:IPBinding",
                 "RemoteIPRanges": "MVP:IPRange"}

# Permission groups and authentication a New-ReceiveConnector usage type starts with.
USAGE_TEMPLATES = {
    "Custom": ("None", "Tls"),
    "Internet": ("AnonymousUsers", "Tls"),
    "Internal": ("ExchangeServers", "Tls, ExchangeServer"),
    "Client": ("ExchangeUsers", "Tls, Integrated, BasicAuth, BasicAuthRequireTLS"),
    "Partner": ("Partners", "Tls"),
}


def _all_receive_connectors(org: "Organization") -> list[dict]:
    return [c for s in org.server_names() for c in org.server(s)["receive_connectors"]]


def render_receive_connector(org: "Organization", record: dict) -> PSObject:
    display = f"{record['server']}\\{record['name']}"
    obj = make_object(org, _SC + "ReceiveConnector", record, display=display, properties=record["props"], types=RECEIVE_TYPES)
    server = record["server"]
    obj.properties["Server"] = org.ad_object_id(server, org.server_dn(server), org.server(server)["guid"])
    return obj


def _overlaps(first: str, second: str) -> bool:
    """Two IP bindings listen on the same socket space (same port, same address or a wildcard of the same family)."""
    a_host, _, a_port = first.rpartition(":")
    b_host, _, b_port = second.rpartition(":")
    if a_port != b_port:
        return False
    a, b = ipaddress.ip_address(a_host.strip("[]")), ipaddress.ip_address(b_host.strip("[]"))
    if a.version != b.version:
        return False
    return a == b or a.is_unspecified or b.is_unspecified


def _check_bindings(call: Call, server: str, name: str, bindings: list[str], ranges: list[str], role: str, skip: dict | None) -> None:
    for other in call.org.server(server)["receive_connectors"]:
        if other is skip:
            continue
        props = other["props"]
        shared = any(_overlaps(mine, theirs) for mine in bindings for theirs in props["Bindings"])
        if not shared:
            continue
        other_identity = f"{server}\\{other['name']}"
        if props["TransportRole"] != role:
            raise exchange_error(
                call,
                f'The values that you specified for the Bindings parameter conflict with the settings on Receive connector "{other_identity}". '
                f"Receive connectors on the same server that are assigned to different transport roles ({props['TransportRole']} and {role}) "
                "can't listen on the same IP address and port.",
                "DataValidation",
            )
        # Exchange picks the connector by (local binding, most specific remote range): the same range twice is ambiguous.
        if {r.casefold() for r in ranges} & {r.casefold() for r in props["RemoteIPRanges"]}:
            raise exchange_error(
                call,
                f'The values that you specified for the Bindings and RemoteIPRanges parameters conflict with the settings on Receive connector "{other_identity}". '
                "Receive connectors assigned to the same server must have unique combinations of Bindings and RemoteIPRanges values. "
                "Specify different values for either parameter.",
                "DataValidation",
            )


@cmdlet("Get-ReceiveConnector")
def get_receive_connector(call: Call) -> list:
    org = call.org
    if call.has("Server"):
        server = org.resolve_server(call, call.get("Server"))
        records = list(org.server(server)["receive_connectors"])
    else:
        records = _all_receive_connectors(org)
    if call.has("Identity"):
        records = org.find(call, records, call.get("Identity"), wildcards=True, server_scoped=True, single=False)
    return [render_receive_connector(org, r) for r in records]


@cmdlet("New-ReceiveConnector")
def new_receive_connector(call: Call) -> list:
    org = call.org
    server = org.resolve_server(call, call.get("Server")) if call.has("Server") and call.get("Server") else call.server
    name = call.get("Name")
    usage = call.get("Usage") or next((u for u in ("Custom", "Internet", "Internal", "Client", "Partner") if call.get(u)), "Custom")
    groups, auth = USAGE_TEMPLATES[usage]
    role = call.get("TransportRole", "HubTransport")
    if role not in ("HubTransport", "FrontendTransport"):
        raise exchange_error(call, f"The TransportRole value '{role}' isn't valid for a Receive connector. Use HubTransport or FrontendTransport.", "Invalid")
    bindings = list(dict.fromkeys(call.get("Bindings") or []))
    ranges = list(dict.fromkeys(call.get("RemoteIPRanges") or [seed.ALL_IPV6, seed.ALL_IPV4]))
    if not bindings:
        raise exchange_error(call, "The Bindings property of a Receive connector can't be empty.", "DataValidation")
    record = seed.receive_connector_record(
        org, server, name, bindings=bindings, remote_ip_ranges=ranges, role=role, permission_groups=call.get("PermissionGroups", groups),
        auth=call.get("AuthMechanism", auth), fqdn=call.get("Fqdn", org.server_fqdn(server)), usage=usage,
    )
    if any(r["name"].casefold() == name.casefold() for r in org.server(server)["receive_connectors"]):
        raise already_exists(call, record["dn"])
    _check_bindings(call, server, name, bindings, ranges, role, skip=None)
    if not should_process(call, f'Creating Receive connector "{server}\\{name}".'):
        return []
    if usage == "Partner":
        record["props"]["DomainSecureEnabled"] = True
    apply_properties(call, record, skip={"Name", "Usage", "Custom", "Internet", "Internal", "Client", "Partner", "Bindings", "RemoteIPRanges"})
    org.server(server)["receive_connectors"].append(record)
    return [render_receive_connector(org, record)]


@cmdlet("Set-ReceiveConnector")
def set_receive_connector(call: Call) -> list:
    org = call.org
    record = org.find(call, _all_receive_connectors(org), call.get("Identity"), wildcards=False, server_scoped=True, single=True)[0]
    props = record["props"]
    server = record["server"]
    bindings = apply_multivalued(props["Bindings"], call.get("Bindings")) if call.has("Bindings") else props["Bindings"]
    ranges = apply_multivalued(props["RemoteIPRanges"], call.get("RemoteIPRanges")) if call.has("RemoteIPRanges") else props["RemoteIPRanges"]
    role = call.get("TransportRole", props["TransportRole"])
    if not bindings:
        raise exchange_error(call, "The Bindings property of a Receive connector can't be empty.", "DataValidation")
    if not ranges:
        raise exchange_error(call, "The RemoteIPRanges property of a Receive connector can't be empty.", "DataValidation")
    new_name = call.get("Name")
    if new_name and new_name.casefold() != record["name"].casefold():
        if any(r["name"].casefold() == new_name.casefold() for r in org.server(server)["receive_connectors"]):
            raise already_exists(call, f"CN={new_name},CN=SMTP Receive Connectors,CN=Protocols,{org.server_dn(server)}")
    if call.has("Bindings") or call.has("RemoteIPRanges") or call.has("TransportRole"):
        _check_bindings(call, server, record["name"], bindings, ranges, role, skip=record)
    mechanisms = (call.get("AuthMechanism") or "").split(", ")
    if "BasicAuthRequireTLS" in mechanisms and "Tls" not in mechanisms:
        raise exchange_error(call, "The BasicAuthRequireTLS authentication mechanism requires the Tls authentication mechanism.", "DataValidation")
    if not should_process(call, f'Configuring Receive connector "{server}\\{record["name"]}".'):
        return []
    apply_properties(call, record, skip={"Name"})
    if new_name:
        record["name"] = new_name
        record["dn"] = f"CN={new_name},CN=SMTP Receive Connectors,CN=Protocols,{org.server_dn(server)}"
    return []


@cmdlet("Remove-ReceiveConnector")
def remove_receive_connector(call: Call) -> list:
    org = call.org
    record = org.find(call, _all_receive_connectors(org), call.get("Identity"), wildcards=False, server_scoped=True, single=True)[0]
    if not should_process(call, f'Removing Receive connector "{record["server"]}\\{record["name"]}".'):
        return []
    org.server(record["server"])["receive_connectors"].remove(record)
    return []

