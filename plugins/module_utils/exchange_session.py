# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the collection reaches Exchange: one WinRM shell, one PowerShell process, one Exchange-shell load.

:class:`ExchangeSession` opens a WinRM shell with pywinrm's :class:`winrm.protocol.Protocol`, starts
``powershell.exe ... -Command -`` once and feeds it scripts on stdin. Each script travels as ONE line::

    & ([scriptblock]::Create([System.Text.Encoding]::UTF8.GetString([System.Convert]::FromBase64String('<b64>'))))

followed by an empty line, so neither the command-line length limit nor PowerShell's multi-line stdin rules
apply, and no secret is ever on a command line. Every script is wrapped in an *envelope* (a try/catch that
prints a begin marker, the script's output or a JSON error record, and an end marker carrying a random
per-script token); the session reads stdout until that end marker.

The Exchange Management Shell is loaded lazily, once, before the first script (``exchange_shell``):
``remote_session`` (the supported ``Microsoft.Exchange`` endpoint with an explicit credential for the second hop),
``snapin`` or ``remote_exchange_script``.
"""


import base64
import ipaddress
import json
import re
import secrets
import time
import xml.etree.ElementTree as ET

# pywinrm (with requests, spnego and cryptography) is imported on first use only: a module that runs over the
# mailops.exchange.exchange persistent connection never opens WinRM itself and should not pay for the imports.
_WINRM = {}


def _winrm():
    """pywinrm's Protocol and the exception classes the session handles, imported once (ImportError if missing)."""
    if not _WINRM:
        import requests.exceptions as requests_exceptions
        from winrm import exceptions as winrm_exceptions
        from winrm.protocol import Protocol
        _WINRM.update(Protocol=Protocol, requests=requests_exceptions, errors=winrm_exceptions)
    return _WINRM


def winrm_import_error():
    """None when pywinrm can be imported, else the ImportError (reported with missing_required_lib)."""
    try:
        _winrm()
    except ImportError as exc:
        return exc
    return None


from ansible_collections.mailops.exchange.plugins.module_utils import connection_options
from ansible_collections.mailops.exchange.plugins.module_utils.quoting import (
    command_argument, ps_literal, ps_script,
)

POWERSHELL_COMMAND = (
    "powershell.exe -NoProfile -NonInteractive -NoLogo -ExecutionPolicy Bypass -OutputFormat Text -Command -"
)

SHELL_MODES = connection_options.SHELL_MODES

try:
    from ansible.module_utils.basic import env_fallback
except ImportError:  # pragma: no cover - ansible-core is always present where modules run
    def env_fallback(*names):
        import os
        for name in names:
            if os.environ.get(name):
                return os.environ[name]
        raise LookupError(names[0])


#: The connection options every module accepts, from their one table (connection_options.OPTIONS), which also
#: gives the mailops.exchange.connection doc fragment and the connection plugin's options.
CONNECTION_ARGUMENT_SPEC = connection_options.argument_spec(env_fallback)


class ExchangeError(Exception):
    """Base class of every failure the session reports."""


class ExchangeConnectionError(ExchangeError):
    """WinRM/HTTP/TLS/authentication failures, PowerShell dying, the Exchange shell failing to load.

    ``not_started`` is True only when the failure proves that the script or commands being sent never ran: the
    session could not be opened, the request never left the controller, or the WinRM service refused it with a
    fault. Only then may write commands be sent again.
    """

    def __init__(self, message, not_started=False):
        super(ExchangeConnectionError, self).__init__(message)
        self.not_started = bool(not_started)


class ExchangeOutputError(ExchangeError):
    """PowerShell answered, but not with the JSON the script promised."""


class ExchangeCommandError(ExchangeError):
    """A cmdlet failed: names the cmdlet, the object and Exchange's own text."""

    def __init__(self, cmdlet, target, message, command=None, error_id=None):
        self.cmdlet = cmdlet or "PowerShell"
        self.target = target or None
        self.message = (message or "").strip() or "unknown error"
        self.command = command
        self.error_id = error_id
        super(ExchangeCommandError, self).__init__(str(self))

    def __str__(self):
        if self.target:
            return "%s failed for '%s': %s" % (self.cmdlet, self.target, self.message)
        return "%s failed: %s" % (self.cmdlet, self.message)


def command_lines(commands):
    """The write command lines of an ``execute()`` call as a list; ValueError for an empty or non-text line."""
    commands = list(commands or [])
    for line in commands:
        if not isinstance(line, str) or not line.strip():
            raise ValueError("execute() takes non-empty command lines, got %r" % (line,))
    return commands


#: The largest SOAP envelope a WinRM service accepts by default (MaxEnvelopeSizekb = 500), in bytes. A larger Send is
#: refused with a WSMan fault (w:EncodingLimit) - or, with some proxies, the connection is reset - so the session
#: refuses it before sending.
MAX_ENVELOPE_BYTES = 500 * 1024
#: What a Send envelope holds besides its base64 stream (headers, selectors, the Stream element), rounded up.
ENVELOPE_OVERHEAD_BYTES = 4096


class ExchangeRequestTooLarge(ValueError):
    """A script or batch of write commands that cannot travel in one WinRM message; it was not sent."""


def command_target(line):
    """The object a ps_command line names: -Identity, else [-Server\\]-Name, else -Thumbprint or -Server; or None."""
    named = command_argument(line, "Identity")
    if named is None and command_argument(line, "Name") is not None:
        server = command_argument(line, "Server")
        named = (server + "\\" if server else "") + command_argument(line, "Name")
    for parameter in ("Thumbprint", "Server"):
        if named is None:
            named = command_argument(line, parameter)
    return named


def describe_commands(commands):
    """A short description of write command lines for messages: ``Set-SendConnector for 'To internet'`` (plus
    ``and 2 more commands``) - the cmdlet and the object, never the values (which may be long or secret)."""
    commands = [c for c in (commands or []) if isinstance(c, str) and c.strip()]
    if not commands:
        return "the write commands"
    first = commands[0]
    cmdlet = first.split(" ", 1)[0]
    target = command_target(first)
    text = "%s for '%s'" % (cmdlet, target) if target is not None else cmdlet
    if len(commands) > 1:
        text += " and %d more command%s" % (len(commands) - 1, "s" if len(commands) > 2 else "")
    return text


def insecure_settings_warnings(params):
    """The warnings that the connection settings deserve (certificate not checked, password in clear text)."""
    warnings = []
    if params.get("exchange_cert_validation") == "ignore" and params.get("exchange_scheme") == "https":
        warnings.append("exchange_cert_validation=ignore: the WinRM server's certificate is not checked")
    if params.get("exchange_scheme") == "http" and params.get("exchange_transport") == "basic":
        warnings.append("Basic authentication over http sends the password in clear text; use https")
    elif params.get("exchange_scheme") == "http" and params.get("exchange_message_encryption") == "never":
        warnings.append("exchange_message_encryption=never over http sends every message in clear text, the "
                        "Exchange-shell load with the account password (the second-hop credential) included; use "
                        "https, or message encryption (auto)")
    return warnings


def error_record(exc):
    """A JSON-ready description of a session failure (the persistent connection sends it to the module)."""
    if isinstance(exc, ExchangeCommandError):
        return dict(kind="command", cmdlet=exc.cmdlet, target=exc.target, message=exc.message, command=exc.command,
                    error_id=exc.error_id)
    if isinstance(exc, ExchangeConnectionError):
        return dict(kind="connection", message=str(exc), not_started=exc.not_started)
    if isinstance(exc, ExchangeOutputError):
        return dict(kind="output", message=str(exc))
    if isinstance(exc, ValueError):
        return dict(kind="value", message=str(exc))
    return dict(kind="error", message=str(exc))


def error_from_record(record):
    """The exception :func:`error_record` described."""
    kind, message = record.get("kind"), record.get("message") or "unknown error"
    if kind == "command":
        return ExchangeCommandError(record.get("cmdlet"), record.get("target"), message, command=record.get("command"),
                                    error_id=record.get("error_id"))
    if kind == "connection":
        return ExchangeConnectionError(message, not_started=record.get("not_started", False))
    if kind == "output":
        return ExchangeOutputError(message)
    if kind == "value":
        return ValueError(message)
    return ExchangeError(message)


# Failures are detected twice, because Exchange cmdlets reached through implicit remoting (remote_session,
# remote_exchange_script) are proxy functions of a generated module: they see only the *global*
# $ErrorActionPreference, and their errors arrive as non-terminating errors whatever the caller's local preference or
# -ErrorAction says (MicrosoftDocs/PowerShell-Docs#1583, PowerShell/PowerShell#4568). So the envelopes set the global
# preference to Stop (the documented workaround, PowerShell/vscode-powershell#991) to make them catchable, and also
# treat any record left in $Error as a failure. A read script that expects an error and handles it removes that
# record from $Error itself (see TOLERATED_ERROR).
_ENVELOPE_HEAD = """$global:ErrorActionPreference = 'Stop'
[Console]::OutputEncoding = [System.Text.Encoding]::UTF8
$Error.Clear()
$__mailops_failure = $null
$__mailops_current = $null
"""

_ENVELOPE_TAIL = """Write-Output {begin}
if ($null -eq $__mailops_failure) {
    $__mailops_output
    Write-Output {ok}
} else {
    $__mailops_error = [ordered]@{
        message = [string]$__mailops_failure.Exception.Message
        command = [string]$__mailops_failure.InvocationInfo.MyCommand.Name
        target = [string]$__mailops_failure.TargetObject
        id = [string]$__mailops_failure.FullyQualifiedErrorId
        current = $__mailops_current
    }
    ConvertTo-Json -InputObject $__mailops_error -Compress
    Write-Output {err}
}
"""

# The envelope around a read script: its output, or a JSON error record, between two markers. stdout is switched to
# UTF-8 first: a redirected powershell.exe writes in the OEM code page otherwise, and non-ASCII values would come
# back as '?'.
_QUERY_ENVELOPE = _ENVELOPE_HEAD + """$__mailops_output = $null
try {
    $__mailops_output = & ([scriptblock]::Create({script}))
    if ($Error.Count -gt 0) { $__mailops_failure = $Error[0] }
} catch {
    $__mailops_failure = $_
}
""" + _ENVELOPE_TAIL

# The envelope around write commands: run in order, stop at the first failure, say which one failed. When they all
# ran, the read-back script (if any) reads the objects in the same round trip and is the output.
_EXECUTE_ENVELOPE = _ENVELOPE_HEAD + """$__mailops_output = $null
try {
    foreach ($__mailops_command in {commands}) {
        $__mailops_current = $__mailops_command
        & ([scriptblock]::Create($__mailops_command)) | Out-Null
        if ($Error.Count -gt 0) {
            $__mailops_failure = $Error[0]
            break
        }
    }
    $__mailops_read_back = {read_back}
    if ($null -eq $__mailops_failure -and $null -ne $__mailops_read_back) {
        $__mailops_current = $null
        $__mailops_output = & ([scriptblock]::Create($__mailops_read_back))
        if ($Error.Count -gt 0) { $__mailops_failure = $Error[0] }
    }
} catch {
    $__mailops_failure = $_
}
""" + _ENVELOPE_TAIL

#: The statement a read script runs in the ``catch`` block of an error it expects and handles: it takes the error
#: out of $Error, which the envelope would otherwise report as a failure.
TOLERATED_ERROR = "$Error.RemoveAt(0)"

_STDIN_LINE = ("& ([scriptblock]::Create([System.Text.Encoding]::UTF8.GetString("
               "[System.Convert]::FromBase64String({payload}))))")

_LOAD_REMOTE_SESSION = """$password = ConvertTo-SecureString {password} -AsPlainText -Force
$cred = New-Object System.Management.Automation.PSCredential -ArgumentList {username}, $password
$s = New-PSSession -ConfigurationName Microsoft.Exchange -ConnectionUri {uri} -Authentication Kerberos -Credential $cred
Import-PSSession $s -DisableNameChecking -AllowClobber | Out-Null
"""
_LOAD_REMOTE_SESSION_NO_CREDENTIAL = """$s = New-PSSession -ConfigurationName Microsoft.Exchange -ConnectionUri {uri} -Authentication Kerberos
Import-PSSession $s -DisableNameChecking -AllowClobber | Out-Null
"""
_LOAD_SNAPIN = "Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn\n"
# Connect-ExchangeServer -Auto is a second hop too: from a WinRM (NTLM/Basic) logon it needs the credential.
_LOAD_REMOTE_EXCHANGE_SCRIPT = """. "$env:ExchangeInstallPath\\bin\\RemoteExchange.ps1"
Connect-ExchangeServer -Auto
"""
_LOAD_REMOTE_EXCHANGE_SCRIPT_CREDENTIAL = """$password = ConvertTo-SecureString {password} -AsPlainText -Force
$cred = New-Object System.Management.Automation.PSCredential -ArgumentList {username}, $password
. "$env:ExchangeInstallPath\\bin\\RemoteExchange.ps1"
Connect-ExchangeServer -Auto -Credential $cred
"""


def clean_clixml(data):
    """Turn PowerShell's CLIXML error stream into plain text (as pywinrm's Session._clean_error_msg does).

    Accepts bytes or text that may hold several ``#< CLIXML`` blocks; progress records are dropped;
    ``_x000D__x000A_`` becomes a newline. Text that is not CLIXML is returned as is.
    """
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    if "#< CLIXML" not in data:
        return data.strip()
    out = []
    for block in data.split("#< CLIXML"):
        block = block.strip()
        if not block:
            continue
        xml_text = re.sub(r'\sxmlns(:\w+)?="[^"]*"', "", block)
        try:
            root = ET.fromstring(xml_text)
        except ET.ParseError:
            out.append(block)
            continue
        for node in root.iter("S"):
            if node.text:
                out.append(_decode_clixml_text(node.text))
    return "\n".join(part.rstrip() for part in out if part.strip()).strip()


def _decode_clixml_text(value):
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), value).replace("\r\n", "\n")


MASK = "********"


def redact(text, secrets_):
    """Replace every secret (as is, and as it appears inside a PowerShell literal) by ********."""
    if not text:
        return text
    for secret in sorted({x for x in secrets_ if x}, key=len, reverse=True):
        for form in (ps_literal(secret)[1:-1], secret):
            text = text.replace(form, MASK)
    return text


def _is_ip_address(value):
    try:
        ipaddress.ip_address(value.strip("[]"))
        return True
    except ValueError:
        return False


class ExchangeSession:
    """One WinRM shell + one PowerShell process + (lazily) one Exchange-shell load.

    Use as a context manager or call :meth:`close`. ``scripts_run`` counts the scripts sent (the shell load
    included), ``exchange_loaded`` tells whether the Exchange shell was loaded.
    """

    #: Upper bound for one script, independent of WinRM's operation timeout (which is retried).
    script_timeout = 900

    def __init__(self, host, port=None, scheme="https", transport="ntlm", username=None, password=None,
                 cert_validation="validate", ca_trust_path=None, message_encryption="auto",
                 operation_timeout=20, read_timeout=30, shell="remote_session", server_fqdn=None,
                 protocol_factory=None):
        if not host:
            raise ExchangeConnectionError("exchange_host is required (or run the task over the "
                                          "mailops.exchange.exchange connection)", not_started=True)
        if shell not in SHELL_MODES:
            raise ValueError("exchange_shell must be one of %s, got %r" % (", ".join(SHELL_MODES), shell))
        if operation_timeout is None or read_timeout is None or operation_timeout < 1 or read_timeout <= operation_timeout:
            raise ValueError("exchange_read_timeout (%s) must be greater than exchange_operation_timeout (%s), both > 0"
                             % (read_timeout, operation_timeout))
        self.host = host
        self.scheme = scheme or "https"
        self.port = int(port) if port else (5986 if self.scheme == "https" else 5985)
        host_part = "[%s]" % host if ":" in host and not host.startswith("[") else host
        self.endpoint = "%s://%s:%d/wsman" % (self.scheme, host_part, self.port)
        self.transport = transport or "ntlm"
        self.username = username
        self._password = password
        self.cert_validation = cert_validation or "validate"
        # An empty value (an AWX credential without a CA bundle injects EXCHANGE_CA_TRUST_PATH='') is "not set".
        self.ca_trust_path = ca_trust_path if ca_trust_path and str(ca_trust_path).strip() else None
        self.message_encryption = message_encryption or "auto"
        self.operation_timeout = int(operation_timeout)
        self.read_timeout = int(read_timeout)
        self.shell_mode = shell
        self.server_fqdn = server_fqdn
        self._protocol_factory = protocol_factory
        self._protocol = None
        self._shell_id = None
        self._command_id = None
        self.exchange_loaded = False
        self.scripts_run = 0
        self.stderr = []
        self.closed = False
        #: Told about every WinRM shell this session opens (``opened(shell_id)``) and deletes (``deleted(shell_id)``):
        #: the session broker records them, so that the shells of a broker that was killed get deleted later.
        self.shell_listener = None

    @classmethod
    def from_params(cls, params, **kwargs):
        """Build a session from a module's ``exchange_*`` parameters."""
        return cls(
            host=params.get("exchange_host"), port=params.get("exchange_port"),
            scheme=params.get("exchange_scheme") or "https", transport=params.get("exchange_transport") or "ntlm",
            username=params.get("exchange_username"), password=params.get("exchange_password"),
            cert_validation=params.get("exchange_cert_validation") or "validate",
            ca_trust_path=params.get("exchange_ca_trust_path"),
            message_encryption=params.get("exchange_message_encryption") or "auto",
            operation_timeout=params.get("exchange_operation_timeout") or 20,
            read_timeout=params.get("exchange_read_timeout") or 30,
            shell=params.get("exchange_shell") or "remote_session",
            server_fqdn=params.get("exchange_server_fqdn"), **kwargs)

    # -- context manager ---------------------------------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False

    # -- public API ----------------------------------------------------------------------------------------

    def query(self, script, writes=False):
        """Run a script whose last output is one JSON document; return it parsed (``None`` if no output).

        ``writes=True`` marks a script that changes something before it reads back (one round trip): like
        :meth:`execute`, it is never sent again once it may have reached PowerShell.
        """
        try:
            self._ensure_exchange()
        except ExchangeConnectionError as exc:  # the script itself was not sent yet
            exc.not_started = True
            raise
        payload = self._run(_QUERY_ENVELOPE, "write commands and their read-back" if writes else "a read script",
                            resend=not writes, script=script)
        return parse_json_output(payload)

    def execute(self, commands, read_back=None):
        """Run write command lines in order (``$ErrorActionPreference = 'Stop'``), stopping at the first failure.

        With ``read_back`` (a read script whose last output is one JSON document), the objects are read back in the
        same round trip once every line ran: its answer, parsed, is returned (else None).
        """
        commands = command_lines(commands)
        if not commands:
            return None
        try:
            self._ensure_exchange()
        except ExchangeConnectionError as exc:  # nothing of this batch was sent yet
            exc.not_started = True
            raise
        payload = self._run(_EXECUTE_ENVELOPE, "write commands" if read_back is None else
                            "write commands and their read-back", commands=commands, read_back=read_back)
        return parse_json_output(payload) if read_back is not None else None

    def close(self):
        """End PowerShell (close stdin), terminate the command, delete the shell. Never raises."""
        if self.closed:
            return
        self.closed = True
        protocol, shell_id, command_id = self._protocol, self._shell_id, self._command_id
        self._protocol = self._shell_id = self._command_id = None
        if protocol is None or shell_id is None:
            return
        if command_id is not None:
            for call in (lambda: protocol.send_command_input(shell_id, command_id, b"", end=True),
                         lambda: protocol.cleanup_command(shell_id, command_id)):
                try:
                    call()
                except Exception:  # the process may be gone already; the shell is deleted next
                    pass
        try:
            protocol.close_shell(shell_id)
        except Exception as exc:
            if not _shell_unknown(exc):
                return  # left in the listener's record: deleted at a later start (see delete_shells)
        self._tell("deleted", shell_id)

    def _tell(self, event, shell_id):
        listener = self.shell_listener
        if listener is not None and shell_id:
            try:
                getattr(listener, event)(shell_id)
            except Exception:  # a record that cannot be written must not fail the session
                pass

    def delete_shells(self, shell_ids):
        """Delete WinRM shells this account opened earlier and left behind (a killed session broker's), by id.

        Returns ``{shell_id: None or the reason it could not be deleted}``; never raises for one shell (a shell the
        server has already dropped answers with a fault, which is fine).
        """
        outcome = {}
        if not shell_ids:
            return outcome
        try:
            protocol = self._new_protocol()
        except ExchangeConnectionError as exc:
            return dict((shell_id, str(exc)) for shell_id in shell_ids)
        for shell_id in shell_ids:
            try:
                self._call("deleting the WinRM shell %s left by an earlier session" % shell_id,
                           lambda: protocol.close_shell(shell_id, close_session=False))
                outcome[shell_id] = None
            except ExchangeError as exc:
                outcome[shell_id] = str(exc)
        try:
            protocol.transport.close_session()
        except Exception:
            pass
        return outcome

    # -- internals -------------------------------------------------------------------------------------------

    def _new_protocol(self):
        if self._protocol_factory is not None:
            return self._protocol_factory(self)
        try:
            protocol_class = _winrm()["Protocol"]
        except ImportError as exc:
            raise ExchangeConnectionError("the pywinrm Python library is required on the controller: %s" % exc,
                                          not_started=True)
        kwargs = dict(
            endpoint=self.endpoint, transport=self.transport, username=self.username, password=self._password,
            server_cert_validation=self.cert_validation, message_encryption=self.message_encryption,
            operation_timeout_sec=self.operation_timeout, read_timeout_sec=self.read_timeout,
        )
        if self.ca_trust_path:
            kwargs["ca_trust_path"] = self.ca_trust_path
        try:
            return protocol_class(**kwargs)
        except Exception as exc:  # invalid combinations (e.g. kerberos without its library)
            raise ExchangeConnectionError("cannot set up WinRM to %s: %s" % (self.endpoint, exc), not_started=True)

    def _ensure_open(self):
        if self.closed:
            raise ExchangeConnectionError("the Exchange session to %s is closed" % self.endpoint)
        if self._command_id is not None:
            return
        self._protocol = self._new_protocol()
        self._shell_id = self._call("opening a WinRM shell", lambda: self._protocol.open_shell(
            codepage=65001, noprofile=True), retries=2)
        self._tell("opened", self._shell_id)
        self._command_id = self._call("starting PowerShell", lambda: self._protocol.run_command(
            self._shell_id, POWERSHELL_COMMAND))

    def _connection_uri(self):
        fqdn = self.server_fqdn
        if not fqdn:
            if _is_ip_address(self.host):
                raise ExchangeConnectionError(
                    "exchange_server_fqdn is required with exchange_shell=remote_session when exchange_host (%s) "
                    "is an IP address: the Microsoft.Exchange endpoint is http://<server fqdn>/PowerShell/"
                    % self.host)
            fqdn = self.host
        return "http://%s/PowerShell/" % fqdn

    def _load_script(self):
        if self.shell_mode == "snapin":
            return _LOAD_SNAPIN
        if self.shell_mode == "remote_exchange_script":
            if self.username and self._password is not None:
                return ps_script(_LOAD_REMOTE_EXCHANGE_SCRIPT_CREDENTIAL, username=self.username, password=self._password)
            return _LOAD_REMOTE_EXCHANGE_SCRIPT
        uri = self._connection_uri()
        if self.username and self._password is not None:
            return ps_script(_LOAD_REMOTE_SESSION, username=self.username, password=self._password, uri=uri)
        return ps_script(_LOAD_REMOTE_SESSION_NO_CREDENTIAL, uri=uri)

    def _ensure_exchange(self):
        if self.exchange_loaded:
            return
        self._ensure_open()
        load = self._load_script()
        try:
            self._run(_QUERY_ENVELOPE, "loading the Exchange shell", script=load)
        except ExchangeCommandError as exc:
            raise ExchangeConnectionError("loading the Exchange Management Shell (%s) on %s failed: %s"
                                          % (self.shell_mode, self.host, exc))
        self.exchange_loaded = True

    def _run(self, template, what, resend=None, **values):
        """Render ``template`` (an envelope) with fresh markers, send it, read until its end marker.

        Returns the payload text (the lines between the begin and end markers). A JSON error record becomes
        :class:`ExchangeCommandError`.
        """
        self._ensure_open()
        token = "MAILOPS-" + secrets.token_hex(16)
        begin, ok, err = token + ":BEGIN", token + ":OK", token + ":ERR"
        script = ps_script(template, begin=begin, ok=ok, err=err, **values)
        payload = base64.b64encode(script.encode("utf-8")).decode("ascii")
        line = ps_script(_STDIN_LINE, payload=payload) + "\r\n\r\n"
        self._check_size(line, what, values.get("commands"))
        self.scripts_run += 1
        # A read script (and the shell load) may be sent again after a dropped connection: running it twice
        # changes nothing and its markers carry its own token. Write commands are re-sent only when the
        # request provably never left the controller (the connection could not be opened).
        if resend is None:
            resend = "commands" not in values
        self._call("sending %s" % what, lambda: self._protocol.send_command_input(
            self._shell_id, self._command_id, line.encode("utf-8"), end=False),
            retries=2, unsent_only=not resend)
        try:
            status, body, stderr = self._read_until(token, what)
        except ExchangeConnectionError as exc:
            raise ExchangeConnectionError(self._redact(str(exc)))
        if stderr:
            self.stderr.append(stderr)
        if status == "OK":
            return body
        try:
            record = json.loads(body.strip().splitlines()[-1]) if body.strip() else {}
        except ValueError:
            record = {"message": body.strip()}
        raise self._command_error(record, values.get("commands"), stderr)

    def _check_size(self, line, what, commands):
        """Refuse, before sending, a script that would not fit in one WinRM message (see MAX_ENVELOPE_BYTES)."""
        size = (len(line.encode("utf-8")) + 2) // 3 * 4 + ENVELOPE_OVERHEAD_BYTES  # pywinrm sends stdin as base64
        if size <= MAX_ENVELOPE_BYTES:
            return
        subject = describe_commands(commands) if commands else what
        raise ExchangeRequestTooLarge(
            "%s: too large for one WinRM message (%d bytes once encoded; the WinRM service accepts at most %d bytes, "
            "MaxEnvelopeSizekb=%d); nothing was sent. Shorten the values (a value of more than about %d characters "
            "cannot be sent)" % (subject, size, MAX_ENVELOPE_BYTES, MAX_ENVELOPE_BYTES // 1024,
                                 max_value_characters()))

    def _redact(self, text):
        return redact(text, [self._password])

    def _command_error(self, record, commands, stderr):
        message = self._redact(record.get("message") or stderr or "unknown error")
        current = record.get("current")
        cmdlet = record.get("command") or None
        target = record.get("target") or None
        if commands and current in commands:
            first = current.split(" ", 1)[0]
            cmdlet = cmdlet if cmdlet and cmdlet.lower() == first.lower() else first
            # The object as the command line names it: -Identity, else [-Server\]-Name; Exchange's TargetObject
            # (often a type name for New-* cmdlets) only when the line names nothing.
            target = command_target(current) or target
        elif not cmdlet:
            cmdlet = "PowerShell"
        return ExchangeCommandError(cmdlet, self._redact(target), message, command=current if commands else None,
                                    error_id=record.get("id"))

    def _read_until(self, token, what):
        """Receive output until the token's OK/ERR line. Returns (status, payload, stderr text)."""
        stdout = b""
        stderr = b""
        deadline = time.monotonic() + self.script_timeout
        begin = (token + ":BEGIN").encode("ascii")
        probe = (token + ":PROBE").encode("ascii")
        probe_sent = False
        ends = {(token + ":OK").encode("ascii"): "OK", (token + ":ERR").encode("ascii"): "ERR"}
        timeout_error = _winrm()["errors"].WinRMOperationTimeoutError
        while True:
            if time.monotonic() > deadline:
                raise ExchangeConnectionError("no answer from PowerShell on %s within %d seconds while %s"
                                              % (self.endpoint, self.script_timeout, what))
            try:
                out, err, code, done = self._call("reading the output of %s" % what, lambda: self._protocol
                                                  .get_command_output_raw(self._shell_id, self._command_id),
                                                  retries=2, timeouts_ok=True)
            except timeout_error:
                # Nothing new within the operation timeout. If the script printed something that is not the
                # envelope, it may have ended without its markers: queue a probe line (it runs only after the
                # script ends; if its echo arrives before the end marker, the end marker will never come).
                if not probe_sent and stdout.strip() and begin not in stdout:
                    probe_sent = True
                    probe_line = ps_script("Write-Output {probe}", probe=probe.decode("ascii")) + "\r\n\r\n"
                    self._call("sending a probe after %s" % what, lambda: self._protocol.send_command_input(
                        self._shell_id, self._command_id, probe_line.encode("utf-8"), end=False))
                continue
            stdout += out
            stderr += err
            lines = stdout.replace(b"\r\n", b"\n").split(b"\n")
            # Only complete lines count (the last element may be a partial line).
            complete = lines[:-1]
            for index, raw in enumerate(complete):
                if raw.strip() == probe:
                    text = b"\n".join(complete[:index]).decode("utf-8", "replace").strip()
                    raise ExchangeOutputError(
                        "PowerShell on %s ended %s without the collection's end marker (its output is not what the "
                        "collection sent for): %s" % (self.endpoint, what, self._redact(text[-300:]) or "(nothing)"))
                status = ends.get(raw.strip())
                if status is None:
                    continue
                start = None
                for j in range(index - 1, -1, -1):
                    if complete[j].strip() == begin:
                        start = j
                        break
                body = complete[(start + 1 if start is not None else 0):index]
                return (status, b"\n".join(body).decode("utf-8", "replace"),
                        clean_clixml(stderr))
            if done:
                self._command_id = None
                detail = clean_clixml(stderr) or stdout.decode("utf-8", "replace").strip()[-500:]
                raise ExchangeConnectionError("PowerShell on %s exited (code %s) while %s%s"
                                              % (self.endpoint, code, what, (": " + detail) if detail else ""))

    def _call(self, step, func, retries=0, timeouts_ok=False, unsent_only=False):
        """Run one WinRM operation, turning transport failures into ExchangeConnectionError.

        Connection drops are retried ``retries`` times (only for idempotent steps: opening a shell,
        receiving output, sending a read script); with ``unsent_only`` only failures that prove the request
        never reached the server (the connection could not be opened) are retried. Authentication and TLS
        failures never are.
        """
        errors, requests_exceptions = _winrm()["errors"], _winrm()["requests"]
        attempt = 0
        while True:
            try:
                return func()
            except errors.WinRMOperationTimeoutError:
                if timeouts_ok:
                    raise
                raise ExchangeConnectionError("WinRM operation timed out on %s while %s (exchange_operation_timeout=%d)"
                                              % (self.endpoint, step, self.operation_timeout))
            except errors.InvalidCredentialsError as exc:
                raise ExchangeConnectionError("authentication failed for user %s on %s (%s transport) while %s: %s"
                                              % (self.username or "(none)", self.endpoint, self.transport, step, exc),
                                              not_started=True)
            except requests_exceptions.SSLError as exc:
                raise ExchangeConnectionError(tls_failure_message(exc, self.endpoint, self.host, step),
                                              not_started=True)
            except (requests_exceptions.ConnectionError, requests_exceptions.Timeout) as exc:
                if attempt < retries and (not unsent_only or _never_sent(exc)):
                    attempt += 1
                    time.sleep(min(2.0, 0.5 * attempt))
                    continue
                if isinstance(exc, requests_exceptions.ReadTimeout):
                    reason = "no answer within exchange_read_timeout=%ds" % self.read_timeout
                elif isinstance(exc, requests_exceptions.ConnectTimeout):
                    reason = "connection timed out"
                else:
                    reason = _root_cause(exc)
                raise ExchangeConnectionError("cannot reach %s while %s: %s" % (self.endpoint, step, reason),
                                              not_started=_never_sent(exc))
            except errors.WSManFaultError as exc:
                # The service answered with a fault: it refused this request, which therefore did nothing.
                raise ExchangeConnectionError("the WinRM service on %s refused %s: %s (WSMan fault %s%s)" % (
                    self.endpoint, step, (exc.reason or "").strip(), exc.wsman_fault_code,
                    (", WMI error %s" % exc.wmierror_code) if exc.wmierror_code else ""), not_started=True)
            except errors.WinRMTransportError as exc:
                raise ExchangeConnectionError("WinRM request to %s failed while %s: HTTP %s %s" % (
                    self.endpoint, step, exc.code, (exc.response_text or "")[:200]))
            except errors.WinRMError as exc:
                raise ExchangeConnectionError("WinRM error on %s while %s: %s" % (self.endpoint, step, exc))
            except (StopIteration, AssertionError, ET.ParseError) as exc:
                raise ExchangeConnectionError("malformed WinRM answer from %s while %s: %s"
                                              % (self.endpoint, step, exc.__class__.__name__))


# ERROR_WSMAN_INVALID_SELECTORS: the service knows no shell with that id (it expired, or was deleted already).
_INVALID_SELECTORS = 2150858843


def _shell_unknown(exc):
    """True when a WinRM fault says the shell does not exist (any more): there is nothing left to delete."""
    return getattr(exc, "wsman_fault_code", None) == _INVALID_SELECTORS or "InvalidSelectors" in str(
        getattr(exc, "code", "") or "")


def _never_sent(exc):
    """True when a requests exception proves the request never left (no connection could be opened)."""
    if isinstance(exc, _winrm()["requests"].ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    try:
        from urllib3.exceptions import NewConnectionError
    except ImportError:  # pragma: no cover - urllib3 comes with requests
        return False
    return isinstance(reason, NewConnectionError) or isinstance(exc.args[0] if exc.args else None, NewConnectionError)


def max_value_characters():
    """About the longest ASCII value one write command can carry (the envelope and stdin line take the rest)."""
    stream = MAX_ENVELOPE_BYTES - ENVELOPE_OVERHEAD_BYTES
    return (stream // 4 * 3) // 4 * 3 - 2048


def _ssl_verification_error(exc, _seen=None):
    """The ssl.SSLCertVerificationError inside a requests/urllib3 exception chain, or None."""
    import ssl

    seen = _seen if _seen is not None else set()
    if exc is None or id(exc) in seen:
        return None
    seen.add(id(exc))
    if isinstance(exc, ssl.SSLCertVerificationError):
        return exc
    candidates = [getattr(exc, "reason", None), exc.__cause__, exc.__context__]
    candidates.extend(arg for arg in getattr(exc, "args", ()) if isinstance(arg, BaseException))
    for candidate in candidates:
        if isinstance(candidate, BaseException):
            found = _ssl_verification_error(candidate, seen)
            if found is not None:
                return found
    return None


# OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH.
_NAME_MISMATCH_CODES = (62, 64)
_NAME_MISMATCH_RE = re.compile(r"(Hostname|IP address) mismatch, certificate is not valid for '([^']*)'")


def tls_failure_message(exc, endpoint, host, step):
    """One sentence for a TLS failure: a host name mismatch names the name and how to fix it; anything else (an
    unknown CA, an expired certificate) names OpenSSL's reason and exchange_ca_trust_path."""
    verification = _ssl_verification_error(exc)
    detail = (getattr(verification, "verify_message", None) or "") if verification is not None else ""
    code = getattr(verification, "verify_code", None) if verification is not None else None
    text = "%s %s" % (detail, exc)
    match = _NAME_MISMATCH_RE.search(text)
    if code in _NAME_MISMATCH_CODES or match:
        name = match.group(2) if match else host
        return ("TLS host name check failed for %s while %s: the server's certificate is not valid for '%s'. Connect "
                "with a name the WinRM certificate carries (exchange_host or ansible_host; exchange_server_fqdn for "
                "the Exchange endpoint); a CA bundle (exchange_ca_trust_path) does not change this"
                % (endpoint, step, name))
    reason = ("certificate verify failed: " + detail.strip().rstrip(".")) if detail.strip() else _root_cause(exc)
    return ("TLS certificate validation failed for %s while %s: %s. Set exchange_ca_trust_path to the PEM bundle of "
            "the CA that issued the WinRM certificate (exchange_cert_validation=ignore turns validation off, for labs "
            "only)" % (endpoint, step, reason))


def _root_cause(exc):
    """The innermost readable reason of a requests/urllib3 exception chain."""
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if match:
        return match.group(1).strip()
    match = re.search(r"(certificate verify failed[^'\")]*)", text)
    if match:
        return match.group(1).strip()
    return text[:300]


def parse_json_output(payload):
    """The JSON document a read script printed last. ``None`` when it printed nothing."""
    text = (payload or "").strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    for line in reversed(text.splitlines()):
        line = line.strip()
        if not line:
            continue
        try:
            return json.loads(line)
        except ValueError:
            break
    raise ExchangeOutputError("PowerShell did not return the expected JSON document; it printed: %s"
                              % (text[:300] + ("..." if len(text) > 300 else "")))
