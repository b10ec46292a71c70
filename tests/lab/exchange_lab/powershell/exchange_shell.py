"""Loading the Exchange shell: the snap-in, a Microsoft.Exchange remote session, or RemoteExchange.ps1.

FACTS §2: the remote endpoint is ``http://<server fqdn>/PowerShell/`` with configuration ``Microsoft.Exchange``;
from a WinRM session (NTLM/Basic) it is a second hop, so it needs an explicit, valid credential. Without one
the Kerberos ticket cannot be delegated and the connection fails as it does on a real server.
"""

from __future__ import annotations

import fnmatch
import secrets
from typing import Any
from urllib.parse import urlsplit

from ..commands import Argument
from ..errors import PSError, UnsupportedConstruct, parameter_binding
from ..psvalues import PSCredential, PSObject
from .builtins import Builtin, P, UTILITY
from .convert import as_list, to_bool, to_string

EXCHANGE_SNAPIN = "Microsoft.Exchange.Management.PowerShell.SnapIn"
EXCHANGE_CONFIGURATION = "Microsoft.Exchange"
TRANSPORT = "System.Management.Automation.Remoting.PSRemotingTransportException"


def _server_name(server: Any, fallback: str) -> str:
    if server is None:
        return fallback
    if isinstance(server, str):
        return server
    for attribute in ("name", "Name"):
        value = getattr(server, attribute, None)
        if isinstance(value, str):
            return value
    if isinstance(server, dict):
        return server.get("name") or server.get("Name") or fallback
    return fallback


def connection_failed(host: str, detail: str, error_id: str, target: Any = None) -> PSError:
    return PSError(
        f"Connecting to remote server {host} failed with the following error message : {detail} "
        "For more information, see the about_Remote_Troubleshooting Help topic.",
        error_id=f"{error_id},PSSessionOpenFailed",
        category="OpenError",
        exception_type=TRANSPORT,
        target=target if target is not None else PSObject("System.Management.Automation.RemoteRunspace", string="System.Management.Automation.RemoteRunspace"),
    )


def open_exchange_connection(ctx: Any, uri: str, configuration: str | None, authentication: str, credential: Any) -> tuple[str, str]:
    """Check a connection to Exchange's remote PowerShell endpoint; return (server name, host) or raise the real error."""
    parts = urlsplit(uri)
    host = (parts.hostname or "").lower()
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise PSError(
            f"Cannot bind parameter 'ConnectionUri'. Cannot convert value \"{uri}\" to type \"System.Uri\". Error: \"Invalid URI: The format of the URI could not be determined.\"",
            error_id="CannotConvertArgumentNoMessage,Microsoft.PowerShell.Commands.NewPSSessionCommand",
            category="InvalidArgument", exception_type="System.Management.Automation.ParameterBindingException", terminating=True,
        )
    server = ctx.lab.org.server_by_fqdn(host)
    if server is None:
        raise connection_failed(host, "WinRM cannot process the request. The following error occurred while using Kerberos authentication: "
                                "Cannot find the computer " + host + ". Verify that the computer exists on the network and that the name "
                                "provided is spelled correctly.", "NetworkPathNotFound")
    if parts.path.rstrip("/").lower() != "/powershell":
        raise connection_failed(host, "The WinRM client sent a request to an HTTP server and got a response saying the requested HTTP URL "
                                "was not available. This is usually returned by a HTTP server that does not support the WS-Management protocol.",
                                "URLNotAvailable")
    if parts.scheme.lower() == "https":
        raise connection_failed(host, f"The server certificate on the destination computer ({host}:443) has the following errors: \r\n"
                                "The SSL certificate is signed by an unknown certificate authority.", "12175")
    if (configuration or "Microsoft.PowerShell").lower() != EXCHANGE_CONFIGURATION.lower():
        raise connection_failed(host, "The WS-Management service cannot process the request. Cannot find the "
                                f"{configuration or 'Microsoft.PowerShell'} session configuration in the WSMan: drive on the {host} computer.",
                                "InvalidResourceUri")
    method = authentication.lower()
    if method == "basic":
        raise connection_failed(host, "The WinRM client cannot process the request. Unencrypted traffic is currently disabled in the client "
                                "configuration. Change the client configuration and try the request again.", "-2144108322")
    if method == "credssp":
        raise connection_failed(host, "The WinRM client cannot process the request. CredSSP authentication is currently disabled in the client "
                                "configuration. Change the client configuration and try the request again.", "-2144108126")
    if method not in ("kerberos", "default", "negotiate"):
        raise connection_failed(host, "The WinRM client cannot process the request. The authentication mechanism requested by the client "
                                "is not supported by the server or unencrypted traffic is disabled in the service configuration.", "-2144108318")
    if credential is None:
        # The WinRM logon (NTLM/Basic) holds no delegable Kerberos ticket: the second hop has nothing to present.
        raise connection_failed(host, "WinRM cannot process the request. The following error with errorcode 0x8009030e occurred while using "
                                "Kerberos authentication: A specified logon session does not exist. It may already have been terminated.",
                                "1312")
    if not isinstance(credential, PSCredential) or ctx.lab.users.check(credential.user_name, credential.password) is None:
        raise connection_failed(host, "Access is denied.", "AccessDenied")
    return _server_name(server, host.split(".")[0].upper()), host


def _session_object(ctx: Any, server: str, host: str) -> PSObject:
    session = ctx.session
    session.session_counter += 1
    number = session.session_counter
    obj = PSObject(
        ["System.Management.Automation.Runspaces.PSSession", "System.Object"],
        {"Id": number, "Name": f"WinRM{number}", "ComputerName": host, "ComputerType": "RemoteMachine", "State": "Opened",
         "ConfigurationName": EXCHANGE_CONFIGURATION, "Availability": "Available"},
        string=f"[PSSession]WinRM{number}",
    )
    obj.lab_server = server  # type: ignore[attr-defined]
    obj.lab_host = host  # type: ignore[attr-defined]
    session.pssessions.append(obj)
    return obj


class AddPSSnapin(Builtin):
    name = "Add-PSSnapin"
    params = [P("Name", "String[]", position=0, pipeline=True, mandatory=True), P("PassThru", "SwitchParameter")]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        bound = self.bind(args, pipeline_input)
        names = list(bound.values["Name"]) if "Name" in bound.from_pipeline else as_list(bound.values["Name"])
        out = []
        for raw in names:
            name = to_string(raw)
            matched = fnmatch.fnmatchcase(EXCHANGE_SNAPIN.lower(), name.lower()) if any(c in name for c in "*?[") else name.lower() == EXCHANGE_SNAPIN.lower()
            if not matched:
                ctx.write_error(PSError(
                    f"The Windows PowerShell snap-in '{name}' is not installed on this computer.",
                    error_id=f"AddPSSnapInRead,{UTILITY}.AddPSSnapinCommand", category="InvalidArgument",
                    exception_type="System.Management.Automation.PSArgumentException", target=name,
                ))
                continue
            if ctx.session.exchange_mode == "snapin":
                ctx.write_error(PSError(
                    f"Cannot add Windows PowerShell snap-in {EXCHANGE_SNAPIN} because it is already added. Verify the name of the snap-in, and then try again.",
                    error_id=f"AddPSSnapInRead,{UTILITY}.AddPSSnapinCommand", category="InvalidArgument",
                    exception_type="System.Management.Automation.PSArgumentException", target=EXCHANGE_SNAPIN,
                ))
                continue
            ctx.session.load_exchange("snapin", ctx.server)
            if to_bool(bound.values.get("PassThru", False)):
                out.append(PSObject("System.Management.Automation.PSSnapInInfo", {"Name": EXCHANGE_SNAPIN, "PSVersion": "1.0", "Description": "Admin Tasks for the Exchange Server"}, string=EXCHANGE_SNAPIN))
        return out


class NewPSSession(Builtin):
    name = "New-PSSession"
    sets = ["Uri", "ComputerName"]
    params = [
        P("ConnectionUri", "Uri[]", position=0, sets={"Uri"}, mandatory=False, aliases=("URI", "CU")),
        P("ComputerName", "String[]", position=0, sets={"ComputerName"}, aliases=("Cn",)),
        P("ConfigurationName", "String"), P("Authentication", "AuthenticationMechanism"), P("Credential", "PSCredential"),
        P("AllowRedirection", "SwitchParameter", sets={"Uri"}), P("SessionOption"), P("Name", "String[]"), P("Port", "Int32"),
        P("UseSSL", "SwitchParameter"), P("ThrottleLimit", "Int32"), P("EnableNetworkAccess", "SwitchParameter"),
    ]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        bound = self.bind(args, pipeline_input)
        values = bound.values
        if "SessionOption" in values:
            raise UnsupportedConstruct("New-PSSession -SessionOption")
        configuration = to_string(values["ConfigurationName"]) if "ConfigurationName" in values else None
        authentication = to_string(values.get("Authentication", "Default"))
        credential = values.get("Credential")
        if credential is not None and not isinstance(credential, PSCredential):
            # A user name instead of a credential makes PowerShell prompt for the password, which -NonInteractive refuses.
            raise PSError(
                "PowerShell is in NonInteractive mode. Read and Prompt functionality is not available.",
                error_id="System.Management.Automation.PSInvalidOperationException,Microsoft.PowerShell.Commands.NewPSSessionCommand",
                category="InvalidOperation", exception_type="System.Management.Automation.PSInvalidOperationException", terminating=True)
        if "ComputerName" in values:
            for computer in as_list(values["ComputerName"]):
                host = to_string(computer).lower()
                ctx.write_error(connection_failed(host, "The WS-Management service cannot process the request. Cannot find the "
                                                  f"{configuration or 'Microsoft.PowerShell'} session configuration in the WSMan: drive on the "
                                                  f"{host} computer.", "InvalidResourceUri") if (configuration or "").lower() == EXCHANGE_CONFIGURATION.lower()
                                else connection_failed(host, "Access is denied.", "AccessDenied"))
            return []
        if "ConnectionUri" not in values:
            raise parameter_binding(self.name, "Parameter set cannot be resolved using the specified named parameters.", "AmbiguousParameterSet")
        out = []
        for uri in as_list(values["ConnectionUri"]):
            try:
                server, host = open_exchange_connection(ctx, to_string(uri), configuration, authentication, credential)
            except PSError as error:
                if error.terminating:
                    raise
                ctx.write_error(error)
                continue
            out.append(_session_object(ctx, server, host))
        return out


class ImportPSSession(Builtin):
    name = "Import-PSSession"
    params = [P("Session", "PSSession", position=0, mandatory=True), P("CommandName", "String[]", position=2, aliases=("Name",)),
              P("FormatTypeName", "String[]", position=3), P("AllowClobber", "SwitchParameter"), P("DisableNameChecking", "SwitchParameter"),
              P("Prefix", "String"), P("Module", "String[]"), P("ArgumentList", "Object[]", aliases=("Args",)), P("CommandType"),
              P("Certificate")]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        bound = self.bind(args, pipeline_input)
        values = bound.values
        session = values["Session"]
        if session is None:
            raise PSError("Cannot validate argument on parameter 'Session'. The argument is null. Provide a valid value for the argument, and then try the command again.",
                          error_id="ParameterArgumentValidationError,Microsoft.PowerShell.Commands.ImportPSSessionCommand",
                          category="InvalidData", exception_type="System.Management.Automation.ParameterBindingValidationException",
                          command=self.name, terminating=True)
        if not hasattr(session, "lab_server"):
            raise PSError(f"Cannot bind parameter 'Session'. Cannot convert the \"{to_string(session)}\" value of type \"{getattr(session, 'type_name', type(session).__name__)}\" to type \"System.Management.Automation.Runspaces.PSSession\".",
                          error_id="CannotConvertArgument,Microsoft.PowerShell.Commands.ImportPSSessionCommand", category="InvalidArgument",
                          exception_type="System.Management.Automation.ParameterBindingException", command=self.name, terminating=True)
        if session.properties["State"] != "Opened":
            raise PSError("Because the session state for session " + session.properties["Name"] + ", " + session.properties["ComputerName"]
                          + ", is not equal to Open, you cannot run a command in the session.  The session state is Closed.",
                          error_id="System.InvalidOperationException,Microsoft.PowerShell.Commands.ImportPSSessionCommand",
                          category="InvalidOperation", exception_type="System.Management.Automation.Runspaces.InvalidRunspaceStateException",
                          command=self.name, terminating=True)
        if "Module" in values or "FormatTypeName" in values or "Certificate" in values or "CommandType" in values:
            raise UnsupportedConstruct("Import-PSSession -Module/-FormatTypeName/-Certificate/-CommandType")
        names = [to_string(n) for n in as_list(values["CommandName"])] if "CommandName" in values else None
        prefix = to_string(values.get("Prefix", ""))
        ctx.write_progress("Importing remote commands", "Getting command information from remote session ...")
        imported = ctx.session.load_exchange("remote_session", session.lab_server, names, prefix, host=session.lab_host)
        ctx.write_progress("Importing remote commands", f"Creating implicit remoting module ... {len(imported)} commands received", True)
        if not to_bool(values.get("DisableNameChecking", False)):
            ctx.write_warning(f"The names of some imported commands from the module '{_module_name()}' include unapproved verbs that might make "
                              "them less discoverable. To find the commands with unapproved verbs, run the Import-Module command again with "
                              "the Verbose parameter. For a list of approved verbs, type Get-Verb.")
        name = _module_name()
        return [PSObject(["System.Management.Automation.PSModuleInfo", "System.Object"],
                         {"ModuleType": "Script", "Version": "1.0", "Name": name, "ExportedCommands": imported}, string=name)]


def _module_name() -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "tmp_" + "".join(secrets.choice(alphabet) for _ in range(8)) + "." + "".join(secrets.choice(alphabet) for _ in range(3))


class RemovePSSession(Builtin):
    name = "Remove-PSSession"
    params = [P("Session", "PSSession[]", position=0, pipeline=True), P("Id", "Int32[]"), P("Name", "String[]"), P("ComputerName", "String[]")]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        bound = self.bind(args, pipeline_input)
        values = bound.values
        targets = []
        if "Session" in values:
            targets = list(values["Session"]) if "Session" in bound.from_pipeline else as_list(values["Session"])
            if any(t is None for t in targets):
                raise PSError("Cannot validate argument on parameter 'Session'. The argument is null or empty. Provide an argument that is not null or empty, and then try the command again.",
                              error_id="ParameterArgumentValidationError,Microsoft.PowerShell.Commands.RemovePSSessionCommand",
                              category="InvalidData", exception_type="System.Management.Automation.ParameterBindingValidationException",
                              command=self.name, terminating=True)
        for key, prop in (("Id", "Id"), ("Name", "Name"), ("ComputerName", "ComputerName")):
            if key in values:
                wanted = {to_string(v).lower() for v in as_list(values[key])}
                targets += [s for s in ctx.session.pssessions if to_string(s.properties[prop]).lower() in wanted]
        for target in targets:
            if isinstance(target, PSObject) and hasattr(target, "lab_server"):
                target.properties["State"] = "Closed"
                target.properties["Availability"] = "None"
                if target in ctx.session.pssessions:
                    ctx.session.pssessions.remove(target)
        return []


class ConnectExchangeServer(Builtin):
    """The function RemoteExchange.ps1 defines: implicit remoting to an Exchange server's endpoint."""

    name = "Connect-ExchangeServer"
    params = [P("ServerFqdn", "String", position=0), P("Auto", "SwitchParameter"), P("ClearCache", "SwitchParameter"),
              P("AllowClobber", "SwitchParameter"), P("Forest", "String"), P("Credential", "PSCredential"), P("UserName", "String"),
              P("Prompt", "SwitchParameter")]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        bound = self.bind(args, pipeline_input)
        values = bound.values
        if "Forest" in values or to_bool(values.get("Prompt", False)) or "UserName" in values:
            raise UnsupportedConstruct("Connect-ExchangeServer -Forest/-Prompt/-UserName")
        if "ServerFqdn" in values:
            host = to_string(values["ServerFqdn"]).lower()
        elif to_bool(values.get("Auto", False)):
            host = self._local_fqdn(ctx)
        else:
            raise PSError("PowerShell is in NonInteractive mode. Read and Prompt functionality is not available.",
                          error_id="System.Management.Automation.PSInvalidOperationException", category="InvalidOperation",
                          exception_type="System.Management.Automation.PSInvalidOperationException", terminating=True)
        credential = values.get("Credential")
        ctx.write_verbose(f"Connecting to {host}.")
        server, host = open_exchange_connection(ctx, f"http://{host}/powershell?serializationLevel=Full", EXCHANGE_CONFIGURATION, "Kerberos", credential)
        ctx.write_progress("Importing remote commands", "Getting command information from remote session ...")
        imported = ctx.session.load_exchange("remote_exchange_script", server, host=host)
        ctx.write_progress("Importing remote commands", f"Creating implicit remoting module ... {len(imported)} commands received", True)
        ctx.write_verbose(f"Connected to {host}.")
        return []

    @staticmethod
    def _local_fqdn(ctx: Any) -> str:
        org = ctx.lab.org
        for attribute in ("server_fqdn", "fqdn_of"):
            method = getattr(org, attribute, None)
            if callable(method):
                return to_string(method(ctx.server)).lower()
        server = getattr(org, "servers", {})
        entry = server.get(ctx.server) if isinstance(server, dict) else None
        fqdn = getattr(entry, "fqdn", None) or (entry.get("fqdn") if isinstance(entry, dict) else None)
        if fqdn:
            return to_string(fqdn).lower()
        domain = getattr(org, "domain", None)
        return f"{ctx.server}.{domain}".lower() if domain else ctx.server.lower()


def remote_exchange_banner() -> list[str]:
    """What RemoteExchange.ps1 writes to the host when it runs (its get-exbanner and get-tip calls)."""
    return [
        "",
        "         Welcome to the Exchange Management Shell!",
        "",
        "Full list of cmdlets: Get-Command",
        "Only Exchange cmdlets: Get-ExCommand",
        "Cmdlets that match a specific string: Help *<string>*",
        "Get general help: Help",
        "Get help for a cmdlet: Help <cmdlet name> or <cmdlet name> -?",
        "Exchange team blog: Get-ExBlog",
        "Show full output for a command: <command> | Format-List",
        "",
        "Tip of the day #1:",
        "",
        "Want to see the members of a group? Use Get-DistributionGroupMember.",
        "",
    ]
