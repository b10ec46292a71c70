"""Turning state records into the objects Exchange cmdlets return, and generic property updates from Set-* cmdlets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..psvalues import PSObject
from . import types as T
from .contract import MULTIVALUED_ELEMENTS, MultiValuedChange, apply_multivalued, load_contract

if TYPE_CHECKING:  # pragma: no cover
    from .organization import Organization
    from .registry import Call

AD_BASE_TYPES = [
    "Microsoft.Exchange.Data.Directory.ADConfigurationObject",
    "Microsoft.Exchange.Data.Directory.ADObject",
    "Microsoft.Exchange.Data.Directory.ADRawEntry",
    "Microsoft.Exchange.Data.ConfigurableObject",
    "System.Object",
]
# Parameters that configure the cmdlet run, not a property of the object.
NOT_PROPERTIES = {"Identity", "Confirm", "WhatIf", "DomainController", "Force", "Server", "ADPropertiesOnly",
                  "ShowMailboxVirtualDirectories", "MakeDefault", "ForceUpgrade", "IgnoreDefaultScope"}


def render_value(kind: str | None, value: Any, name: str = "") -> Any:
    """A plain state value as the object Exchange returns for a property of type ``kind`` (a JSON type name)."""
    if value is None or kind is None:
        return value
    if kind in ("MultiValuedProperty", "ProxyAddressTemplateCollection") or kind.startswith("MVP:"):
        element = kind[4:] if kind.startswith("MVP:") else MULTIVALUED_ELEMENTS.get(name, "String")
        if kind == "ProxyAddressTemplateCollection":
            element = "ProxyAddressTemplate"
        return [render_value(element, item, name) for item in value]
    renderers = {
        "Uri": T.uri,
        "Fqdn": T.fqdn,
        "Hostname": T.hostname,
        "ByteQuantifiedSize": lambda v: T.size(v, unlimited=False),
        "UnlimitedSize": lambda v: T.size(v, unlimited=True),
        "Unlimited": T.unlimited_int,
        "EnhancedTimeSpan": T.timespan,
        "SmtpX509Identifier": T.tls_certificate_name,
        "SmtpDomainWithSubdomains": lambda v: T.smtp_domain(v, True),
        "SmtpDomain": lambda v: T.smtp_domain(v, False),
        "SmtpAddress": T.smtp_address,
        "IPBinding": T.ip_binding,
        "IPRange": T.ip_range,
        "AddressSpace": T.address_space,
        "SmartHost": lambda v: PSObject(["Microsoft.Exchange.Data.SmartHost", "System.Object"],
                                        {"Domain": v, "IsIPAddress": v.startswith("["), "Address": v.strip("[]") if v.startswith("[") else None}, string=v),
        "ProxyAddressTemplate": T.proxy_template,
        "ProxyAddress": T.proxy_address,
        "ServerVersion": T.server_version,
    }
    if kind in renderers:
        return renderers[kind](value)
    if kind in T.ENUMS:
        return T.enum_value(kind, value)
    return value


def contract_types(*cmdlets: str) -> dict[str, str]:
    """Parameter types of the given cmdlets (later ones win), to render properties those cmdlets set."""
    contract = load_contract()
    found: dict[str, str] = {}
    for name in cmdlets:
        for parameter, spec in contract.get(name, {}).get("parameters", {}).items():
            found[parameter] = spec["type"]
    return found


def make_object(org: "Organization", type_name: str, record: dict, *, display: str, properties: dict[str, Any],
                types: dict[str, str], extra_types: list[str] | None = None) -> PSObject:
    """An Exchange configuration object: its own properties, then the AD ones every such object has."""
    rendered: dict[str, Any] = {}
    for key, value in properties.items():
        rendered[key] = render_value(types.get(key), value, key)
    identity = org.ad_object_id(record["name"], record["dn"], record["guid"], display)
    rendered.update({
        "AdminDisplayName": None,
        "ExchangeVersion": "0.10 (14.0.100.0)" if "Directory" in type_name else "0.1 (8.0.535.0)",
        "Name": record["name"],
        "DistinguishedName": record["dn"],
        "Identity": identity,
        "Guid": record["guid"],
        "ObjectCategory": f"{org.domain}/Configuration/Schema/ms-Exch-{type_name.rsplit('.', 1)[-1]}",
        "ObjectClass": ["top", type_name.rsplit(".", 1)[-1]],
        "OrganizationId": "",
        "OriginatingServer": org.domain_controller,
        "IsValid": True,
        "ObjectState": "Unchanged",
    })
    return PSObject([type_name, *(extra_types or []), *AD_BASE_TYPES], rendered, string=display)


def apply_properties(call: "Call", record: dict, *, skip: set[str] = frozenset()) -> dict[str, Any]:
    """Copy every property-setting parameter of a Set-/New- call into the record; returns what changed."""
    changed: dict[str, Any] = {}
    props = record["props"]
    for name, value in call.params.items():
        if name in NOT_PROPERTIES or name in skip:
            continue
        current = props.get(name)
        if value is None and isinstance(current, list):
            new = []
        elif isinstance(value, MultiValuedChange) or (isinstance(value, list) and (current is None or isinstance(current, list))):
            new = apply_multivalued(list(current or []), value)
        else:
            new = value
        props[name] = new
        changed[name] = new
    return changed
