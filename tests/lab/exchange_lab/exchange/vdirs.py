"""Virtual directories (owa, ecp, EWS, ActiveSync, OAB, mapi, PowerShell, Autodiscover) and Outlook Anywhere."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..psvalues import PSObject
from .contract import should_process
from .objects import apply_properties, contract_types, make_object
from .registry import Call, cmdlet, exchange_error
from .seed import VIRTUAL_DIRECTORIES

if TYPE_CHECKING:  # pragma: no cover
    from .organization import Organization

_SC = "Microsoft.Exchange.Data.Directory.SystemConfiguration."

# kind -> cmdlet noun and a description used in What-if texts.
NOUNS = {
    "owa": ("OwaVirtualDirectory", "Outlook on the web virtual directory"),
    "ecp": ("EcpVirtualDirectory", "ECP virtual directory"),
    "ews": ("WebServicesVirtualDirectory", "Exchange Web Services virtual directory"),
    "eas": ("ActiveSyncVirtualDirectory", "Exchange ActiveSync virtual directory"),
    "oab": ("OabVirtualDirectory", "OAB virtual directory"),
    "mapi": ("MapiVirtualDirectory", "MAPI virtual directory"),
    "powershell": ("PowerShellVirtualDirectory", "PowerShell virtual directory"),
    "autodiscover": ("AutodiscoverVirtualDirectory", "Autodiscover virtual directory"),
    "rpc": ("OutlookAnywhere", "Outlook Anywhere"),
}
# Read from IIS rather than Active Directory: left out under -ADPropertiesOnly.
METABASE_PROPERTIES = ("Path",)
VDIR_BASE_TYPES = [_SC + "ExchangeVirtualDirectory", _SC + "ADVirtualDirectory"]


def vdirs_of_kind(org: "Organization", kind: str, server: str | None = None) -> list[dict]:
    names = [server] if server else org.server_names()
    return [v for name in names for v in org.server(name)["virtual_directories"] if v["kind"] == kind]


def render_vdir(org: "Organization", record: dict, ad_only: bool = False) -> PSObject:
    kind = record["kind"]
    type_name = _SC + (VIRTUAL_DIRECTORIES[kind][3] if kind in VIRTUAL_DIRECTORIES else "ADRpcHttpVirtualDirectory")
    noun = NOUNS[kind][0]
    types = contract_types(f"Set-{noun}")
    types.update({"InternalUrl": "Uri", "ExternalUrl": "Uri", "InternalAuthenticationMethods": "MVP:AuthenticationMethod",
                  "ExternalAuthenticationMethods": "MVP:AuthenticationMethod", "ExtendedProtectionTokenChecking": "ExtendedProtectionTokenCheckingMode"})
    if kind == "rpc":
        types.update({"InternalHostname": "Hostname", "ExternalHostname": "Hostname",
                      "IISAuthenticationMethods": "MVP:AuthenticationMethod"})
    props = {k: v for k, v in record["props"].items() if not (ad_only and k in METABASE_PROPERTIES)}
    display = f"{record['server']}\\{record['name']}"
    obj = make_object(org, type_name, record, display=display, properties=props, types=types, extra_types=VDIR_BASE_TYPES)
    server = record["server"]
    obj.properties["Server"] = org.ad_object_id(server, org.server_dn(server), org.server(server)["guid"])
    obj.properties["WebSite"] = "Default Web Site"
    obj.properties["DisplayName"] = record["name"].split(" (")[0]
    obj.properties["ServerName"] = server
    return obj


def _get(kind: str):
    def get(call: Call) -> list:
        org = call.org
        server = org.resolve_server(call, call.get("Server")) if call.has("Server") else None
        records = vdirs_of_kind(org, kind, server)
        if not call.get("ShowMailboxVirtualDirectories"):
            # The back-end (Mailbox role) directories are listed only on request, as in Exchange 2013+.
            records = [r for r in records if r.get("role", "ClientAccess") == "ClientAccess"]
        if call.has("Identity"):
            records = org.find(call, records, call.get("Identity"), wildcards=True, server_scoped=True, single=False)
        return [render_vdir(org, r, ad_only=bool(call.get("ADPropertiesOnly"))) for r in records]

    return get


def _set(kind: str):
    noun, description = NOUNS[kind]

    def set_(call: Call) -> list:
        org = call.org
        # "<name>*" may stand for the web site in a virtual directory identity, as documented.
        record = org.find(call, vdirs_of_kind(org, kind), call.get("Identity"), wildcards=True, server_scoped=True, single=True)[0]
        if kind == "rpc":
            _check_outlook_anywhere(call)
        if kind == "mapi":
            _check_mapi(call)
        if not should_process(call, f'Configuring {description} "{record["server"]}\\{record["name"]}".'):
            return []
        apply_properties(call, record, skip={"Name", "DefaultAuthenticationMethod"})
        if kind == "rpc" and call.has("DefaultAuthenticationMethod"):
            method = call.get("DefaultAuthenticationMethod")
            record["props"].update({"ExternalClientAuthenticationMethod": method, "InternalClientAuthenticationMethod": method,
                                    "IISAuthenticationMethods": [method]})
        if kind == "rpc" and call.has("InternalHostname") and not call.get("InternalHostname"):
            record["props"]["InternalHostname"] = None
        return []

    return set_


def _check_outlook_anywhere(call: Call) -> None:
    from . import types as T

    exclusive = [p for p in ("ExternalClientAuthenticationMethod", "InternalClientAuthenticationMethod", "IISAuthenticationMethods") if call.has(p)]
    if call.has("DefaultAuthenticationMethod") and exclusive:
        raise exchange_error(call, f"The DefaultAuthenticationMethod parameter can't be used with the {', '.join(exclusive)} parameter"
                                   f"{'s' if len(exclusive) > 1 else ''}.", "Invalid")
    for parameter in ("InternalHostname", "ExternalHostname"):
        if call.get(parameter):
            try:
                T.parse_hostname(call.get(parameter))
            except T.ConversionError as error:
                raise exchange_error(call, error.reason, "DataValidation") from None


# Set-MapiVirtualDirectory, -InternalUrl and -ExternalUrl: "When you use the InternalUrl or ExternalUrl parameters,
# you need to specify one or more authentication values by using the IISAuthenticationMethods parameter."
# (office-docs-powershell, ExchangePowerShell/Set-MapiVirtualDirectory.md; the Exchange 2013 syntax made
# -IISAuthenticationMethods mandatory.) Refused on every version, a $null URL included. The wording is the lab's:
# Exchange's own text could not be found.
MAPI_NEEDS_IIS_AUTH = ("The IISAuthenticationMethods parameter must be specified when you use the InternalUrl or "
                       "ExternalUrl parameter. Specify one or more authentication methods (for example, "
                       "-IISAuthenticationMethods Ntlm,OAuth,Negotiate).")


def _check_mapi(call: Call) -> None:
    if (call.has("InternalUrl") or call.has("ExternalUrl")) and not call.get("IISAuthenticationMethods"):
        raise exchange_error(call, MAPI_NEEDS_IIS_AUTH, "Invalid")


def _remove(kind: str):
    noun, description = NOUNS[kind]

    def remove(call: Call) -> list:
        org = call.org
        record = org.find(call, vdirs_of_kind(org, kind), call.get("Identity"), wildcards=True, server_scoped=True, single=True)[0]
        if not should_process(call, f'Removing {description} "{record["server"]}\\{record["name"]}".'):
            return []
        org.server(record["server"])["virtual_directories"].remove(record)
        return []

    return remove


def _new(kind: str):
    noun, description = NOUNS[kind]

    def new(call: Call) -> list:
        from .seed import vdir_record, vdir_url

        org = call.org
        server = org.resolve_server(call, call.get("Server")) if call.get("Server") else call.server
        role = call.get("Role", "ClientAccess")
        site = call.get("WebSiteName") or ("Default Web Site" if role == "ClientAccess" else "Exchange Back End")
        base = call.get("Name") if kind == "powershell" and call.get("Name") else VIRTUAL_DIRECTORIES[kind][0].split(" (")[0]
        name = f"{base} ({site})"
        if any(v["name"].casefold() == name.casefold() for v in vdirs_of_kind(org, kind, server)):
            raise exchange_error(call, f"The virtual directory '{base}' already exists under '{org.server_fqdn(server)}/{site}'.\r\n"
                                       "Parameter name: VirtualDirectoryName", "Invalid")
        record = vdir_record(org, server, kind)
        record["name"] = name
        record["dn"] = f"CN={name},CN=HTTP,CN=Protocols,{org.server_dn(server)}"
        record["role"] = role
        record["props"]["InternalUrl"] = call.get("InternalUrl", vdir_url(org, server, kind) if role == "ClientAccess" else None)
        record["props"]["ExternalUrl"] = call.get("ExternalUrl")
        if call.get("Path"):
            record["props"]["Path"] = call.get("Path")
        if not should_process(call, f'Creating {description} "{server}\\{name}".'):
            return []
        org.server(server)["virtual_directories"].append(record)
        return [render_vdir(org, record)]

    return new


for _kind, (_noun, _) in NOUNS.items():
    cmdlet(f"Get-{_noun}")(_get(_kind))
    cmdlet(f"Set-{_noun}")(_set(_kind))
    if _kind != "rpc":
        cmdlet(f"Remove-{_noun}")(_remove(_kind))
        cmdlet(f"New-{_noun}")(_new(_kind))
