"""One PowerShell runspace: variables, commands, the Exchange shell once loaded, and the host's output streams."""

from __future__ import annotations

import base64
import binascii
import fnmatch
import re
from typing import Any

from ..commands import NOTHING, Argument
from ..errors import parameter_binding
from ..errors import PSError, UnsupportedConstruct, command_not_found
from ..psvalues import CaseInsensitiveDict, Hashtable, PSCredential, PSObject, SecureString
from . import convert
from .convert import ArrayList, ScriptBlock, TypeRef, as_list, to_string
from .interpreter import (
    ACTION_PREFERENCES, EXCHANGE_INSTALL_PATH, Evaluator, Scope, UserFunction, error_record, method_error, runtime_error,
    short_type, split_scope_modifier, type_object,
)
from .parser import ParseException, parse

PS_VERSION = "5.1.17763.1"
REMOTE_EXCHANGE_SCRIPT = EXCHANGE_INSTALL_PATH + "bin\\RemoteExchange.ps1"

# Real Windows PowerShell / Exchange server commands the lab does not emulate: using one is an unsupported
# construct (saying "not recognized" would misreport what a real server does).
KNOWN_UNIMPLEMENTED = {
    name.lower() for name in (
        "Import-Module", "Get-Module", "Remove-Module", "Get-Date", "Get-Item", "Get-ChildItem", "Test-Path",
        "Get-Content", "Set-Content", "Add-Content", "Remove-Item", "New-Item", "Copy-Item", "Move-Item", "Out-File",
        "Get-Service", "Restart-Service", "Start-Service", "Stop-Service", "Group-Object",
        "Format-List", "Format-Table", "Format-Wide", "Get-Member", "Export-Clixml", "Import-Clixml", "Invoke-Command",
        "Enter-PSSession", "Exit-PSSession", "Get-PSSession", "Get-PSSnapin", "Remove-PSSnapin", "Get-Variable",
        "Set-Variable", "New-Variable", "Remove-Variable", "Get-Process", "Get-WmiObject", "Get-CimInstance", "Add-Type",
        "Get-Credential", "Read-Host", "Get-Location", "Set-Location", "Join-Path", "Split-Path", "Resolve-Path",
        "Test-Connection", "Write-Progress", "Write-Information", "Compare-Object", "Tee-Object", "Get-Unique",
        "Export-Csv", "Import-Csv", "ConvertTo-Csv", "ConvertFrom-Csv", "ConvertTo-Xml", "Select-String", "Start-Process",
        "Invoke-WebRequest", "Invoke-RestMethod", "New-PSSessionOption", "Get-Random", "New-Guid", "Get-ExecutionPolicy",
        "Set-ExecutionPolicy", "Start-Transcript", "Stop-Transcript", "Get-Host", "Out-Host", "Out-Default",
        "Get-ExCommand", "Get-ExBlog",
    )
}


class Streams:
    """Where a runspace's streams go. This default collects them (tests use it); the process host formats them."""

    def __init__(self) -> None:
        self.output: list = []
        self.host: list[str] = []
        self.errors: list[PSError] = []
        self.warnings: list[str] = []
        self.verbose: list[str] = []
        self.progress: list[tuple[str, str, bool]] = []

    def write_output(self, objects: list) -> None:
        self.output.extend(objects)

    def write_host(self, text: str, newline: bool = True) -> None:
        self.host.append(text)

    def write_error(self, error: PSError) -> None:
        self.errors.append(error)

    def write_warning(self, text: str) -> None:
        self.warnings.append(text)

    def write_verbose(self, text: str) -> None:
        self.verbose.append(text)

    def write_progress(self, activity: str, status: str, completed: bool) -> None:
        self.progress.append((activity, status, completed))


def normalize_action(value: Any, command: str, parameter: str = "ErrorAction") -> str:
    text = to_string(value).strip()
    for action in ACTION_PREFERENCES:
        if action.lower() == text.lower():
            return action
    if text.isdigit():
        numbers = {0: "SilentlyContinue", 1: "Stop", 2: "Continue", 3: "Inquire", 4: "Ignore", 5: "Suspend"}
        if int(text) in numbers:
            return numbers[int(text)]
    raise parameter_binding(
        command,
        f"Cannot bind parameter '{parameter}'. Cannot convert value \"{text}\" to type \"System.Management.Automation.ActionPreference\". "
        "Error: \"Unable to match the identifier name " + text + " to a valid enumerator name. Specify one of the following "
        "enumerator names and try again:\r\nSilentlyContinue, Stop, Continue, Inquire, Ignore, Suspend\"",
        "CannotConvertArgumentNoMessage",
    )


def _scan_common(args: list[Argument], alias: str, full: str, minimum: int) -> Any:
    """The value of -ErrorAction/-WarningAction in raw argument tokens (before the command binds them)."""
    for index, arg in enumerate(args):
        if not arg.is_parameter:
            continue
        name = arg.name.lower()
        if name == alias or (len(name) >= minimum and full.startswith(name)):
            if arg.colon or arg.value is not NOTHING:
                return arg.value
            if index + 1 < len(args) and not args[index + 1].is_parameter:
                return args[index + 1].value
    return NOTHING


class RemotePipelineStopped(Exception):
    """The remote side of an implicit-remoting call ended its pipeline (-ErrorAction Stop applied remotely)."""


class Invocation:
    """The :class:`commands.CommandContext` of one command invocation.

    ``error_action`` / ``warning_action`` are what the command itself runs with. For an ordinary cmdlet that is
    -ErrorAction, else the caller's (dynamically scoped) preference. For an Exchange cmdlet reached through implicit
    remoting (``remote_computer`` set) the command runs on the server: -ErrorAction is applied there ("-ErrorAction is
    applied _remotely_, which means that whatever errors occur is invariably converted to a non-terminating error
    _locally_", MicrosoftDocs/PowerShell-Docs#1583) and the server runspace's own preference is Continue. What
    arrives is then handled by the local proxy function of the generated module with ``local_error_action``: the
    GLOBAL $ErrorActionPreference, the only one a module sees (#1583, PowerShell/PowerShell#4568).
    """

    remote_computer: str | None = None  # set for Exchange cmdlets reached through implicit remoting

    def __init__(self, session: Session, command_name: str, error_action: str, warning_action: str, redirect: dict, position: Any,
                 error_variable: list | None = None, remote_computer: str | None = None,
                 local_error_action: str | None = None, local_warning_action: str | None = None):
        self.session = session
        self.lab = session.lab
        self.server = session.server
        self.user = session.user
        self.command_name = command_name
        self.error_action = error_action
        self.warning_action = warning_action
        self.redirect = redirect
        self.position = position
        self.had_error = False
        self.merged: list = []
        self.error_variable = error_variable  # the -ErrorVariable list, or None
        self.remote_computer = remote_computer
        self.local_error_action = local_error_action or error_action
        self.local_warning_action = local_warning_action or warning_action

    @property
    def exchange_loaded(self) -> bool:
        return self.session.exchange_loaded

    @property
    def exchange_mode(self) -> str | None:
        return self.session.exchange_mode

    def _preference(self, name: str) -> str:
        return self.session.preference(name, global_only=self.remote_computer is not None)

    def write_warning(self, message: str) -> None:
        if self.remote_computer:
            # -WarningAction is applied on the server; a warning that gets through is written again locally by the
            # proxy, under the global $WarningPreference.
            if self.warning_action in ("SilentlyContinue", "Ignore"):
                return
            if self.warning_action in ("Stop", "Inquire"):
                # Stop on the server is a terminating error there: it arrives whatever -ErrorAction says.
                self.arrive(_warning_stop(message, self.command_name, terminating=False))
                raise RemotePipelineStopped()
            action = self.local_warning_action
        else:
            action = self.warning_action
        if action in ("SilentlyContinue", "Ignore") or self.redirect.get("3") == "null" or self.redirect.get("*") == "null":
            return
        if action == "Stop":
            error = _warning_stop(message, self.command_name, terminating=True)
            error.script_terminating = True  # type: ignore[attr-defined]
            raise error
        self.session.streams.write_warning(message)

    def write_progress(self, activity: str, status: str, completed: bool = False) -> None:
        if self._preference("ProgressPreference") in ("Continue", "Stop", "Inquire"):
            self.session.streams.write_progress(activity, status, completed)

    def write_verbose(self, message: str) -> None:
        if self._preference("VerbosePreference") in ("Continue",):
            self.session.streams.write_verbose(message)

    def write_error(self, error: PSError) -> None:
        """A non-terminating error written by the command."""
        if error.command is None:
            error.command = self.command_name
        if getattr(error, "position", None) is None:
            error.position = self.position  # type: ignore[attr-defined]
        if self.remote_computer:
            self._as_remote(error)
            if self.error_action in ("SilentlyContinue", "Ignore"):
                return  # handled on the server: nothing comes back
            self.arrive(error)
            if self.error_action in ("Stop", "Inquire"):
                raise RemotePipelineStopped()  # the remote command ends at its first error
            return
        self.had_error = True
        if self.error_action == "Stop":
            self.collect(error)
            error.terminating = True
            error.script_terminating = True  # type: ignore[attr-defined]
            raise error
        self.deliver(error, self.error_action)

    def arrive(self, error: PSError) -> None:
        """An error record of the remote command reaches the client: always as a non-terminating error, whatever it
        was on the server ("In the context of _remoting_, terminating errors (of either type) are converted to
        non-terminating ones", #1583), then handled under the global preference."""
        self._as_remote(error)
        error.terminating = False
        self.had_error = True
        if self.local_error_action in ("Stop", "Inquire"):
            self.collect(error)
            error.terminating = True
            error.script_terminating = True  # type: ignore[attr-defined]
            error.arrived = True  # type: ignore[attr-defined]
            raise error
        self.deliver(error, self.local_error_action)

    def deliver(self, error: PSError, action: str) -> None:
        if action == "Ignore":
            return
        record = error_record(error)
        self.collect(error, record)
        self.session.record_error(error, record)
        if action == "SilentlyContinue":
            return
        destination = self.redirect.get("2") or self.redirect.get("*")
        if destination == "null":
            return
        if destination == "output":
            self.merged.append(record)
            return
        self.session.emit_error(error)

    def collect(self, error: PSError, record: Any = None) -> None:
        """-ErrorVariable gets every error of the command that is not ignored (also those made terminating by Stop)."""
        if self.error_variable is not None:
            self.error_variable.append(record if record is not None else error_record(error))

    def _as_remote(self, error: PSError) -> None:
        if getattr(error, "remote_computer", None):
            return
        # Errors of implicit remoting come back deserialized: the exception is a RemoteException whose
        # CategoryInfo still names the server-side reason, and there is no local position.
        error.remote_computer = self.remote_computer  # type: ignore[attr-defined]
        error.reason = short_type(error.exception_type)  # type: ignore[attr-defined]
        error.exception_type = "System.Management.Automation.RemoteException"

    def run_block(self, block: ScriptBlock, item: Any = NOTHING, args: tuple = ()) -> list:
        # ForEach-Object/Where-Object script blocks run in the caller's scope, as in PowerShell.
        return self.session.evaluator.invoke_block(block, [Argument(None, a) for a in args], None, dot_source=True, dollar_underscore=item)


def _warning_stop(message: str, command: str, terminating: bool) -> PSError:
    return PSError(
        "The running command stopped because the preference variable \"WarningPreference\" or common parameter is set to Stop: " + message,
        error_id="ActionPreferenceStop", category="OperationStopped",
        exception_type="System.Management.Automation.ActionPreferenceStopException", command=command, terminating=terminating,
    )


def _encoding(name: str) -> PSObject:
    codecs = {
        "utf8": ("utf-8", "System.Text.UTF8Encoding", "utf-8", 65001, "Unicode (UTF-8)"),
        "unicode": ("utf-16-le", "System.Text.UnicodeEncoding", "utf-16", 1200, "Unicode"),
        "bigendianunicode": ("utf-16-be", "System.Text.UnicodeEncoding", "utf-16BE", 1201, "Unicode (Big-Endian)"),
        "ascii": ("ascii", "System.Text.ASCIIEncoding", "us-ascii", 20127, "US-ASCII"),
        "oem": ("cp437", "System.Text.SBCSCodePageEncoding", "IBM437", 437, "OEM United States"),
        "default": ("cp1252", "System.Text.SBCSCodePageEncoding", "Windows-1252", 1252, "Western European (Windows)"),
    }
    codec, type_name, web_name, code_page, display = codecs[name]

    def get_string(data: Any, *rest: Any) -> str:
        raw = _bytes_argument(data, "GetString", "bytes")
        if rest:
            start, count = convert.to_int(rest[0]), convert.to_int(rest[1]) if len(rest) > 1 else len(raw)
            raw = raw[start:start + count]
        return raw.decode(codec, errors="replace")

    def get_bytes(text: Any) -> bytes:
        if isinstance(text, list):
            text = "".join(to_string(c) for c in text)
        return to_string(text).encode(codec, errors="replace")

    obj = PSObject(
        [type_name, "System.Text.Encoding", "System.Object"],
        {"WebName": web_name, "CodePage": code_page, "EncodingName": display, "BodyName": web_name},
        string=type_name,
        methods={"GetString": get_string, "GetBytes": get_bytes},
    )
    obj.codec = codec  # type: ignore[attr-defined]
    return obj


def _bytes_argument(value: Any, method: str, parameter: str) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value):
        return bytes(value)
    raise method_error(
        f"Cannot convert argument \"{parameter}\", with value: \"{to_string(value)}\", for \"{method}\" to type \"System.Byte[]\": "
        f"\"Cannot convert value \"{to_string(value)}\" to type \"System.Byte[]\". Error: \"Cannot convert value \"{to_string(value)}\" "
        "to type \"System.Byte\". Error: \"Input string was not in a correct format.\"\"\"",
        "MethodArgumentConversionInvalidCastArgument",
    )


def _exception_calling(method: str, count: int, message: str) -> PSError:
    return method_error(f'Exception calling "{method}" with "{count}" argument(s): "{message}"', "FormatException" if method.startswith("FromBase64") else "MethodInvocationException")


class Session:
    """A PowerShell runspace of one powershell.exe process on a lab server."""

    def __init__(self, lab: Any, server: str, user: str, streams: Streams | None = None):
        from .builtins import builtin_commands  # builtins import this module

        self.lab = lab
        self.server = server
        self.user = user
        self.streams = streams or Streams()
        self.global_scope = Scope()
        self.scope = self.global_scope
        self.scope_stack: list[Scope] = []
        self.functions: CaseInsensitiveDict = CaseInsensitiveDict()
        self.builtins: CaseInsensitiveDict = builtin_commands()
        self.exchange_commands: CaseInsensitiveDict = CaseInsensitiveDict()
        self.exchange_mode: str | None = None
        self.exchange_host: str | None = None  # the server fqdn of a remote Exchange session
        self.evaluator = Evaluator(self)
        self.strict = False
        self.last_success = True
        self.statement_failed = False
        self.error_list: list = ArrayList()
        self.created_scripts: list[str] = []
        self.pssessions: list[PSObject] = []
        self.session_counter = 0
        self.output_encoding = _encoding("oem")
        self.input_encoding = _encoding("oem")
        domain = getattr(getattr(lab, "users", None), "domain", "LAB") if lab is not None else "LAB"
        user_name = user.split("\\", 1)[-1] if user else "administrator"
        self.environment = CaseInsensitiveDict({
            "ExchangeInstallPath": EXCHANGE_INSTALL_PATH,
            "COMPUTERNAME": server.upper(),
            "USERNAME": user_name,
            "USERDOMAIN": domain,
            "SystemRoot": "C:\\Windows",
            "windir": "C:\\Windows",
            "TEMP": f"C:\\Users\\{user_name}\\AppData\\Local\\Temp",
            "TMP": f"C:\\Users\\{user_name}\\AppData\\Local\\Temp",
            "USERPROFILE": f"C:\\Users\\{user_name}",
            "ProgramFiles": "C:\\Program Files",
            "PSModulePath": "C:\\Program Files\\WindowsPowerShell\\Modules;C:\\Windows\\system32\\WindowsPowerShell\\v1.0\\Modules",
        })
        version = PSObject("System.Version", {"Major": 5, "Minor": 1, "Build": 17763, "Revision": 1}, string=PS_VERSION)
        table = Hashtable()
        table["PSVersion"] = version
        table["PSEdition"] = "Desktop"
        table["CLRVersion"] = PSObject("System.Version", {"Major": 4, "Minor": 0}, string="4.0.30319.42000")
        table["BuildVersion"] = PSObject("System.Version", {"Major": 10, "Minor": 0}, string="10.0.17763.1")
        for name, value in {
            "ErrorActionPreference": "Continue", "WarningPreference": "Continue", "VerbosePreference": "SilentlyContinue",
            "DebugPreference": "SilentlyContinue", "ProgressPreference": "Continue", "ConfirmPreference": "High",
            "PSVersionTable": table, "Error": self.error_list, "OFS": None, "PSHOME": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0",
            "PID": 4242, "LASTEXITCODE": None, "Host": PSObject("System.Management.Automation.Internal.Host.InternalHost", {"Name": "ConsoleHost", "Version": version}, string="System.Management.Automation.Internal.Host.InternalHost"),
        }.items():
            self.global_scope.variables[name] = value

    # state -----------------------------------------------------------------------------------------------------

    @property
    def exchange_loaded(self) -> bool:
        return self.exchange_mode is not None

    def push_scope(self, dot_source: bool) -> None:
        self.scope_stack.append(self.scope)
        if not dot_source:
            self.scope = Scope(self.scope)

    def pop_scope(self, dot_source: bool) -> None:
        self.scope = self.scope_stack.pop()

    def scope_for(self, modifier: str | None) -> Scope:
        """The scope a modifier names. ``script:`` is "the nearest ancestor script file's scope or Global if there is
        no nearest ancestor script file" (about_Scopes, 5.1): powershell.exe -Command / -EncodedCommand / stdin lines
        run no script file, and neither ``& { }`` nor ``[scriptblock]::Create`` makes one, so it is the global scope."""
        if modifier in ("global", "script"):
            return self.global_scope
        return self.scope

    def get_variable(self, name: str, strict_node: Any = None, scope: str | None = None) -> Any:
        lowered = name.lower()
        if lowered == "true":
            return True
        if lowered == "false":
            return False
        if lowered == "null":
            return None
        if lowered == "?":
            return self.last_success
        if lowered.startswith("env:"):
            return self.environment.get(name[4:])
        if lowered == "psitem":
            name = "_"
        if scope is None:
            found = self.scope.find(name)  # dynamic: the current scope, then its parents
        else:
            # `$global:x` / `$script:x` / `$local:x` / `$private:x` read that one scope only.
            target = self.scope_for(scope)
            found = target if name in target.variables else None
        if found is not None:
            return found.variables[name]
        if self.strict and strict_node is not None:
            error = runtime_error(f"The variable '${name}' cannot be retrieved because it has not been set.", "VariableIsUndefined")
            error.target = name
            raise error
        return None

    def set_variable(self, name: str, value: Any, local: bool = True, scope: str | None = None) -> None:
        """A plain assignment (and ``$local:``) creates or writes the variable in the current scope, hiding a parent's;
        ``$global:`` / ``$script:`` write that scope; ``$private:`` also hides the variable from child scopes."""
        if name.lower() == "psitem":
            name = "_"
        target = self.scope_for(scope)
        target.variables[name] = value
        if scope == "private":
            target.private.add(name.lower())

    def preference(self, name: str, global_only: bool = False) -> str:
        """A preference variable resolved like any variable; ``global_only`` is what a module's function sees (a module
        scope inherits from the global scope, never from its caller's: PowerShell/PowerShell#4568)."""
        value = self.get_variable(name, scope="global" if global_only else None)
        try:
            return normalize_action(value, name)
        except PSError:
            return "Continue"

    def record_error(self, error: PSError, record: Any = None) -> None:
        self.error_list.insert(0, record if record is not None else error_record(error))

    def emit_error(self, error: PSError) -> None:
        self.streams.write_error(error)

    def host_output(self, objects: list) -> None:
        self.streams.write_output(objects)

    # running ---------------------------------------------------------------------------------------------------

    def run(self, text: str) -> None:
        """Run a script at top level (ParseException, script-terminating PSError and ExitScript propagate)."""
        source = parse(text)
        self.evaluator.run_source(source)

    def evaluate_expression_text(self, text: str) -> Any:
        source = parse("(" + text + ")")
        previous = self.evaluator.src
        self.evaluator.src = source
        try:
            statement = next(c for c in source.root.named_children if c.type == "statement_list").named_children[0]
            return self.evaluator.pipeline_value(statement)
        finally:
            self.evaluator.src = previous

    def create_scriptblock(self, text: str) -> ScriptBlock:
        self.created_scripts.append(text)
        source = parse(text)
        previous = self.evaluator.src
        self.evaluator.src = source
        try:
            body = None
            param_block = None
            for child in source.root.named_children:
                if child.type == "statement_list":
                    body = child
                elif child.type == "param_block":
                    param_block = child
            return ScriptBlock(source, body, text, param_block)
        finally:
            self.evaluator.src = previous

    def invoke_expression(self, text: str) -> list:
        block = self.create_scriptblock(text)
        return self.evaluator.invoke_block(block, [], None, dot_source=True)

    # commands --------------------------------------------------------------------------------------------------

    def resolve_command(self, name: str) -> Any:
        if name in self.functions:
            return self.functions[name]
        if name in self.builtins:
            return self.builtins[name]
        if name in self.exchange_commands:
            return self.exchange_commands[name]
        if "\\" in name and not name.lower().endswith(".ps1"):
            module, _, short = name.rpartition("\\")
            if module.lower().startswith("microsoft.powershell.") and short in self.builtins:
                return self.builtins[short]
        if name.lower() in KNOWN_UNIMPLEMENTED:
            raise UnsupportedConstruct(f"command {name}")
        raise command_not_found(name)

    def command_exists(self, name: str) -> bool:
        return name in self.functions or name in self.builtins or name in self.exchange_commands

    def command_names(self) -> list[tuple[str, str]]:
        names = [(name, "Function") for name in self.functions]
        names += [(command.name, "Cmdlet") for command in {id(c): c for c in self.builtins.values()}.values()]
        names += [(name, "Function") for name in self.exchange_commands]
        return names

    def call_command(self, command: Any, name: str, args: list[Argument], pipeline_input: list | None, redirect: dict, position: Any) -> list:
        display = getattr(command, "name", name)
        error_action = _scan_common(args, "ea", "erroraction", 6)
        warning_action = _scan_common(args, "wa", "warningaction", 8)
        remote = self.exchange_mode in ("remote_session", "remote_exchange_script") and name in self.exchange_commands
        if remote:
            # A proxy function of the module Import-PSSession generated: the command runs on the server with the
            # -ErrorAction/-WarningAction given (else the server runspace's default, Continue); what comes back is
            # handled under the GLOBAL preferences, the only ones a module sees (#1583, PowerShell#4568).
            error_action = "Continue" if error_action is NOTHING else normalize_action(error_action, display)
            warning_action = "Continue" if warning_action is NOTHING else normalize_action(warning_action, display, "WarningAction")
            local_error_action = self.preference("ErrorActionPreference", global_only=True)
            local_warning_action = self.preference("WarningPreference", global_only=True)
        else:
            error_action = self.preference("ErrorActionPreference") if error_action is NOTHING else normalize_action(error_action, display)
            warning_action = self.preference("WarningPreference") if warning_action is NOTHING else normalize_action(warning_action, display, "WarningAction")
            local_error_action, local_warning_action = error_action, warning_action
        error_variable = None if isinstance(command, UserFunction) else self._error_variable(_scan_common(args, "ev", "errorvariable", 6))
        invocation = Invocation(self, display, error_action, warning_action, redirect, position, error_variable,
                                self.exchange_host if remote else None, local_error_action, local_warning_action)
        try:
            output = command.invoke(invocation, args, pipeline_input)
        except RemotePipelineStopped:
            output = []
        except PSError as error:
            if error.command is None and not isinstance(error, (UnsupportedConstruct, ParseException)):
                error.command = display
            if getattr(error, "position", None) is None:
                error.position = position  # type: ignore[attr-defined]
            if getattr(error, "arrived", False) or getattr(error, "script_terminating", False) or isinstance(error, UnsupportedConstruct):
                raise  # already handled (a remote error made terminating by the global Stop, a local Stop), or the lab's limit
            if remote:
                if error.terminating:
                    invocation.arrive(error)  # a terminating error on the server arrives as a non-terminating one
                else:
                    try:
                        invocation.write_error(error)
                    except RemotePipelineStopped:
                        pass
                output = []
            elif error.terminating:
                if error_variable is not None and error.exception_type != "System.Management.Automation.ParameterBindingException":
                    invocation.collect(error)
                raise
            else:
                invocation.write_error(error)
                output = []
        if invocation.had_error:
            self.statement_failed = True
        output = list(output or [])
        if redirect.get("1") == "null" or redirect.get("*") == "null":
            output = []
        return output + invocation.merged

    def _error_variable(self, value: Any) -> list | None:
        """-ErrorVariable name / +name: a new ArrayList in the current scope, or the existing one appended to."""
        if value is NOTHING or value is None:
            return None
        name = to_string(value)
        append = name.startswith("+")
        if append:
            name = name[1:]
        modifier, name = split_scope_modifier(name)
        if append:
            existing = self.get_variable(name, scope=modifier)
            if isinstance(existing, ArrayList):
                return existing
            collected = ArrayList(as_list(existing) if existing is not None else [])
        else:
            collected = ArrayList()
        self.set_variable(name, collected, scope=modifier)
        return collected

    def dot_source_file(self, path: str, node: Any, dot: bool = True) -> list:
        normalized = re.sub(r"\\+", r"\\", path.replace("/", "\\")).lower()
        if normalized == REMOTE_EXCHANGE_SCRIPT.lower():
            from .exchange_shell import ConnectExchangeServer, remote_exchange_banner

            if dot:
                self.functions["Connect-ExchangeServer"] = ConnectExchangeServer()
            for line in remote_exchange_banner():
                self.streams.write_host(line)
            return []
        error = command_not_found(path)
        error.command = path
        error.activity = ""  # type: ignore[attr-defined]
        raise error

    def load_exchange(self, mode: str, server_name: str, command_filter: list[str] | None = None, prefix: str = "",
                      host: str | None = None) -> list[str]:
        """Register the Exchange cmdlets of ``server_name`` (the Exchange shell finished loading)."""
        self.lab.faults.sleep("exchange_load")
        self.lab.observer.count(self.server, "exchange_loads")
        commands = self.lab.org.exchange_commands(server_name)
        loaded = []
        for name, command in commands.items():
            if command_filter and not any(fnmatch.fnmatchcase(name.lower(), pattern.lower()) for pattern in command_filter):
                continue
            verb, _, noun = name.partition("-")
            local_name = f"{verb}-{prefix}{noun}" if prefix else name
            self.exchange_commands[local_name] = command
            loaded.append(local_name)
        self.exchange_mode = mode
        self.exchange_host = host or server_name
        return loaded

    # .NET members ----------------------------------------------------------------------------------------------

    @staticmethod
    def _type_key(obj: Any) -> str:
        name = obj.name.lower().replace(" ", "")
        return name[len("system."):] if name.startswith("system.") else name

    def static_member(self, obj: Any, name: str, node: Any) -> Any:
        if not isinstance(obj, TypeRef):
            raise UnsupportedConstruct("static member access on a value", f"::{name}")
        key, member = self._type_key(obj), name.lower()
        if key == "text.encoding" and member in ("utf8", "unicode", "ascii", "bigendianunicode", "default"):
            return _encoding(member)
        if key == "console" and member == "outputencoding":
            return self.output_encoding
        if key == "console" and member == "inputencoding":
            return self.input_encoding
        if key == "string" and member == "empty":
            return ""
        if key in ("int", "int32") and member in ("maxvalue", "minvalue"):
            return 2**31 - 1 if member == "maxvalue" else -2**31
        if key == "environment" and member == "newline":
            return "\r\n"
        if key == "environment" and member == "machinename":
            return self.server.upper()
        raise UnsupportedConstruct(f"static member [{obj.name}]::{name}")

    def set_static(self, obj: Any, name: str, value: Any, node: Any) -> None:
        if isinstance(obj, TypeRef) and self._type_key(obj) == "console" and name.lower() in ("outputencoding", "inputencoding"):
            if not (isinstance(value, PSObject) and hasattr(value, "codec")):
                raise runtime_error(f'Exception setting "{name}": "Cannot convert the "{to_string(value)}" value of type "{convert.type_name_of(value)}" to type "System.Text.Encoding"."', "ExceptionWhenSetting")
            if name.lower() == "outputencoding":
                self.output_encoding = value
            else:
                self.input_encoding = value
            return
        raise UnsupportedConstruct(f"assignment to static member [{getattr(obj, 'name', '?')}]::{name}")

    def static_call(self, obj: Any, name: str, args: list, node: Any) -> Any:
        if not isinstance(obj, TypeRef):
            raise UnsupportedConstruct("static method call on a value", f"::{name}")
        key, method = self._type_key(obj), name.lower()
        if key == "convert" and method == "frombase64string" and len(args) == 1:
            text = to_string(args[0])
            compact = re.sub(r"[ \t\r\n]", "", text)
            try:
                if len(compact) % 4 != 0 or re.search(r"[^A-Za-z0-9+/=]", compact) or re.search(r"=[^=]", compact):
                    raise binascii.Error("invalid")
                return base64.b64decode(compact, validate=True)
            except (binascii.Error, ValueError):
                raise _exception_calling("FromBase64String", 1, "The input is not a valid Base-64 string as it contains a non-base 64 character, more than two padding characters, or an illegal character among the padding characters. ") from None
        if key == "convert" and method == "tobase64string" and len(args) == 1:
            return base64.b64encode(_bytes_argument(args[0], "ToBase64String", "inArray")).decode("ascii")
        if key in ("scriptblock", "management.automation.scriptblock") and method == "create" and len(args) == 1:
            try:
                return self.create_scriptblock(to_string(args[0]))
            except ParseException as error:
                wrapped = _exception_calling("Create", 1, "\n".join(error.position.display_lines()) + "\n" + error.message)
                wrapped.error_id = "ParseException"
                raise wrapped from None
        if key == "string" and method in ("isnullorempty", "isnullorwhitespace") and len(args) == 1:
            text = to_string(args[0])
            return text == "" if method == "isnullorempty" else text.strip() == ""
        if key == "string" and method == "join" and len(args) >= 2:
            values = args[1] if len(args) == 2 and isinstance(args[1], list) else args[1:]
            return to_string(args[0]).join(to_string(v) for v in as_list(values))
        if key in ("pscredential", "management.automation.pscredential") and method == "new":
            return new_credential(args)
        raise UnsupportedConstruct(f"static method [{obj.name}]::{name}")

    def call_method(self, obj: Any, name: str, args: list) -> Any:
        method = name.lower()
        if obj is None:
            raise runtime_error("You cannot call a method on a null-valued expression.", "InvokeMethodOnNull")
        if method == "gettype" and not args and not (isinstance(obj, PSObject) and "GetType" in obj.methods):
            return type_object(convert.type_name_of(obj))
        if isinstance(obj, str):
            return string_method(obj, name, args)
        if isinstance(obj, PSObject) and name in obj.methods:
            try:
                return obj.methods[name](*args)
            except TypeError:
                raise method_error(f'Cannot find an overload for "{name}" and the argument count: "{len(args)}".', "MethodCountCouldNotFindBest") from None
        if method == "tostring" and not args:
            if isinstance(obj, list):
                return convert.type_name_of(obj)
            if isinstance(obj, (bytes, bytearray)):
                return "System.Byte[]"
            return to_string(obj)
        if method == "equals" and len(args) == 1:
            return convert.equals(obj, args[0], True) if not isinstance(obj, (list, Hashtable, PSObject)) else obj is args[0]
        if isinstance(obj, ArrayList):
            if method == "add" and len(args) == 1:
                obj.append(args[0])
                return len(obj) - 1  # ArrayList.Add returns the index: `[void]$list.Add(x)` hides it
            if method == "addrange" and len(args) == 1:
                obj.extend(as_list(args[0]))
                return None
            if method == "remove" and len(args) == 1:
                index = next((i for i, item in enumerate(obj) if convert.equals(item, args[0], True)), None)
                if index is not None:
                    del obj[index]
                return None
            if method == "removeat" and len(args) == 1:
                del obj[convert.to_int(args[0])]
                return None
            if method == "insert" and len(args) == 2:
                obj.insert(convert.to_int(args[0]), args[1])
                return None
            if method == "clear" and not args:
                obj.clear()
                return None
            if method == "toarray" and not args:
                return list(obj)
        if isinstance(obj, (list, bytes, bytearray)):
            if method == "contains" and len(args) == 1:
                return any(convert.equals(item, args[0], True) for item in obj)
            if method == "indexof" and len(args) == 1:
                return next((i for i, item in enumerate(obj) if convert.equals(item, args[0], True)), -1)
            if method in ("add", "remove", "clear", "insert"):
                raise _exception_calling(name, len(args), "Collection was of a fixed size.")
            if method == "foreach" and len(args) == 1 and isinstance(args[0], ScriptBlock):
                return [v for item in obj for v in self.evaluator.invoke_block(args[0], [], None, dot_source=True, dollar_underscore=item)]
            if method == "where" and len(args) == 1 and isinstance(args[0], ScriptBlock):
                return [item for item in obj if convert.to_bool(self.evaluator.invoke_block(args[0], [], None, dot_source=True, dollar_underscore=item))]
        if isinstance(obj, Hashtable):
            if method in ("containskey", "contains") and len(args) == 1:
                return args[0] in obj
            if method == "containsvalue" and len(args) == 1:
                return any(convert.equals(v, args[0], True) for v in obj.values())
            if method == "add" and len(args) == 2:
                if args[0] in obj:
                    raise _exception_calling("Add", 2, f"Item has already been added. Key in dictionary: '{to_string(args[0])}'  Key being added: '{to_string(args[0])}'")
                obj[args[0]] = args[1]
                return None
            if method == "remove" and len(args) == 1:
                obj.pop(args[0], None)
                return None
            if method == "clear" and not args:
                obj.clear()
                return None
            if method == "clone" and not args:
                return Hashtable(obj.items())
            if method == "getenumerator" and not args:
                return [PSObject("System.Collections.DictionaryEntry", {"Key": k, "Value": v, "Name": k}, string="System.Collections.DictionaryEntry") for k, v in obj.items()]
        if isinstance(obj, ScriptBlock) and method in ("invoke", "invokereturnasis"):
            return self.evaluator.invoke_block(obj, [Argument(None, a) for a in args], None)
        if isinstance(obj, (int, float)) and not isinstance(obj, bool) and method == "tostring":
            raise UnsupportedConstruct("number format string", f"ToString({to_string(args[0]) if args else ''})")
        raise runtime_error(f"Method invocation failed because [{convert.type_name_of(obj)}] does not contain a method named '{name}'.", "MethodNotFound")


def new_credential(args: list) -> PSCredential:
    values = args[0] if len(args) == 1 and isinstance(args[0], list) else args
    if len(values) != 2:
        raise method_error(f'Cannot find an overload for "PSCredential" and the argument count: "{len(values)}".', "ConstructorInvokedThrowException")
    user, password = values
    if not isinstance(password, SecureString):
        raise method_error(
            f'Cannot convert argument "password", with value: "{to_string(password)}", for "PSCredential" to type "System.Security.SecureString": '
            f'"Cannot convert the "{to_string(password)}" value of type "{convert.type_name_of(password)}" to type "System.Security.SecureString"."',
            "ConstructorInvokedThrowException",
        )
    if user is None or to_string(user) == "":
        raise method_error('Exception calling ".ctor" with "2" argument(s): "Cannot process argument because the value of argument "userName" is not valid. Change the value of the "userName" argument and run the operation again."', "ConstructorInvokedThrowException")
    return PSCredential(to_string(user), password)


def string_method(text: str, name: str, args: list) -> Any:
    method = name.lower()
    count = len(args)

    def chars(value: Any) -> str:
        return "".join(to_string(v) for v in value) if isinstance(value, list) else to_string(value)

    if method == "tostring" and count == 0:
        return text
    if method in ("tolower", "tolowerinvariant") and count == 0:
        return text.lower()
    if method in ("toupper", "toupperinvariant") and count == 0:
        return text.upper()
    if method in ("trim", "trimstart", "trimend"):
        strip = {"trim": str.strip, "trimstart": str.lstrip, "trimend": str.rstrip}[method]
        return strip(text) if count == 0 else strip(text, "".join(chars(a) for a in args))
    if method == "split":
        if count == 0:
            return re.split(r"\s", text)
        separators = args[0]
        if count >= 2:
            raise UnsupportedConstruct("String.Split with options", f"Split({', '.join(to_string(a) for a in args)})")
        # PowerShell 5.1 binds a string argument to Split(char[]): each character separates.
        separator_chars = chars(separators)
        if not separator_chars:
            return re.split(r"\s", text)
        return re.split("[" + re.escape(separator_chars) + "]", text)
    if method == "contains" and count == 1:
        return to_string(args[0]) in text
    if method == "startswith" and count == 1:
        return text.startswith(to_string(args[0]))
    if method == "endswith" and count == 1:
        return text.endswith(to_string(args[0]))
    if method in ("indexof", "lastindexof") and count == 1:
        return text.find(to_string(args[0])) if method == "indexof" else text.rfind(to_string(args[0]))
    if method == "replace" and count == 2:
        old = to_string(args[0])
        if old == "":
            raise _exception_calling("Replace", 2, "String cannot be of zero length.\r\nParameter name: oldValue")
        return text.replace(old, to_string(args[1]))
    if method == "substring" and count in (1, 2):
        start = convert.to_int(args[0])
        if start < 0 or start > len(text):
            raise _exception_calling("Substring", count, "startIndex cannot be larger than length of string.\r\nParameter name: startIndex")
        if count == 1:
            return text[start:]
        length = convert.to_int(args[1])
        if length < 0 or start + length > len(text):
            raise _exception_calling("Substring", 2, "Index and length must refer to a location within the string.\r\nParameter name: length")
        return text[start:start + length]
    if method in ("padleft", "padright") and count in (1, 2):
        width = convert.to_int(args[0])
        fill = to_string(args[1])[:1] if count == 2 else " "
        return text.rjust(width, fill) if method == "padleft" else text.ljust(width, fill)
    if method == "equals" and count == 1:
        return isinstance(args[0], str) and args[0] == text
    if method == "tochararray" and count == 0:
        return list(text)
    if method == "normalize" and count == 0:
        import unicodedata

        return unicodedata.normalize("NFC", text)
    raise runtime_error(f"Method invocation failed because [System.String] does not contain a method named '{name}'.", "MethodNotFound")


__all__ = ["Session", "Streams", "Invocation", "normalize_action", "new_credential", "UserFunction", "PSError"]
