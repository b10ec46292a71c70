"""ExchangeSession against a fake pywinrm Protocol: envelope, sentinel, one load, error mapping, cleanup."""

import base64
import json
import re

import pytest
import requests
import tree_sitter
import tree_sitter_powershell
from winrm.exceptions import InvalidCredentialsError, WinRMOperationTimeoutError, WSManFaultError

from ansible_collections.mailops.exchange.plugins.module_utils import exchange_session as es
from ansible_collections.mailops.exchange.plugins.module_utils.quoting import ps_command, ps_unquote

PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
LITERAL = r"'(?:[^'\u2018\u2019\u201a\u201b]|['\u2018\u2019\u201a\u201b]{2})*'"


def has_error(node):
    return node.type == "ERROR" or node.is_missing or any(has_error(c) for c in node.children)


class FakeProtocol:
    """Decodes what the session sends and answers like PowerShell would, driven by ``handler``.

    handler(kind, payload) -> ("ok", [lines]) | ("err", {error record}) | ("exit", code) | ("noise", ...)
    kind is 'load', 'query' or 'execute'; payload the inner script or the list of command lines.
    """

    def __init__(self, handler, chunks=1):
        self.handler = handler
        self.calls = []
        self.pending = []
        self.done = False
        self.chunks = chunks
        self.scripts = []
        self.receive_faults = []
        self.send_faults = []  # raised by the next sends of a script (before the script reaches PowerShell)
        self.open_fault = None

    def open_shell(self, **kwargs):
        self.calls.append(("open_shell", kwargs))
        if self.open_fault:
            raise self.open_fault
        return "SHELL-1"

    def run_command(self, shell_id, command, arguments=()):
        self.calls.append(("run_command", command))
        return "CMD-1"

    def send_command_input(self, shell_id, command_id, data, end=False):
        self.calls.append(("send", data, end))
        if end:
            return
        if self.send_faults:
            raise self.send_faults.pop(0)
        assert isinstance(data, bytes)
        text = data.decode("utf-8")
        assert text.endswith("\r\n\r\n") and text.count("\n") == 2, "one line plus an empty line"
        match = re.search(r"FromBase64String\('([A-Za-z0-9+/=]+)'\)", text)
        script = base64.b64decode(match.group(1)).decode("utf-8")
        self.scripts.append(script)
        assert not has_error(PARSER.parse(script.encode("utf-8")).root_node), script
        token = re.search(r"(MAILOPS-[0-9a-f]{32}):BEGIN", script).group(1)
        if "foreach ($__mailops_command in" in script:
            array = re.search(r"foreach \(\$__mailops_command in @\((.*)\)\) \{", script, re.S).group(1)
            kind, payload = "execute", [ps_unquote(m) for m in re.findall(LITERAL, array)]
        else:
            literal = re.search(r"\[scriptblock\]::Create\((" + LITERAL + r")\)", script, re.S).group(1)
            inner = ps_unquote(literal)
            kind = "load" if ("Import-PSSession" in inner or "Add-PSSnapin" in inner
                              or "Connect-ExchangeServer" in inner) else "query"
            payload = inner
        outcome = self.handler(kind, payload)
        if outcome[0] == "exit":
            self.pending.append((b"", b"#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/"
                                 b"powershell/2004/04\"><S S=\"Error\">boom_x000D__x000A_</S></Objs>", outcome[1], True))
            return
        if outcome[0] == "ok":
            body = "\r\n".join(outcome[1])
            out = "WARNING: noise before\r\n%s:BEGIN\r\n%s%s%s:OK\r\n" % (token, body, "\r\n" if body else "", token)
        else:
            out = "%s:BEGIN\r\n%s\r\n%s:ERR\r\n" % (token, json.dumps(outcome[1]), token)
        data = out.encode("utf-8")
        size = max(1, len(data) // self.chunks + 1)
        for i in range(0, len(data), size):
            self.pending.append((data[i:i + size], b"", -1, False))

    def get_command_output_raw(self, shell_id, command_id):
        self.calls.append(("receive",))
        if self.receive_faults:
            raise self.receive_faults.pop(0)
        if not self.pending:
            raise WinRMOperationTimeoutError()
        return self.pending.pop(0)

    def cleanup_command(self, shell_id, command_id):
        self.calls.append(("cleanup", command_id))

    def close_shell(self, shell_id, close_session=True):
        self.calls.append(("close_shell", shell_id))


def make(handler, chunks=1, **kwargs):
    fake = FakeProtocol(handler, chunks=chunks)
    params = dict(host="ex01.corp.contoso.com", username="CORP\\administrator", password="S3cr'et$(x)",
                  protocol_factory=lambda session: fake)
    params.update(kwargs)
    return es.ExchangeSession(**params), fake


def default_handler(kind, payload):
    if kind == "load":
        return ("ok", [])
    if kind == "query":
        return ("ok", ['{"a":1,"b":["x","\u00e9"]}'])
    return ("ok", [])


def test_query_execute_one_shell_one_process_one_load():
    session, fake = make(default_handler, chunks=7)
    with session:
        assert session.query("Get-AcceptedDomain | ConvertTo-Json -Compress") == {"a": 1, "b": ["x", "\u00e9"]}
        assert session.query("Get-SendConnector | ConvertTo-Json -Compress") == {"a": 1, "b": ["x", "\u00e9"]}
        session.execute([ps_command("Set-AcceptedDomain", {"Identity": "x", "MakeDefault": True})])
    names = [c[0] for c in fake.calls]
    assert names.count("open_shell") == 1
    assert names.count("run_command") == 1
    assert session.scripts_run == 4
    loads = [s for s in fake.scripts if "Import-PSSession" in s]
    assert len(loads) == 1
    open_kwargs = fake.calls[0][1]
    assert open_kwargs["codepage"] == 65001
    command_line = [c for c in fake.calls if c[0] == "run_command"][0][1]
    assert command_line == es.POWERSHELL_COMMAND
    assert "S3cr" not in command_line
    # the password is inside the load script (stdin), quoted as a literal
    inner = ps_unquote(re.search(r"\[scriptblock\]::Create\((" + LITERAL + r")\)", loads[0], re.S).group(1))
    assert "$password = ConvertTo-SecureString 'S3cr''et$(x)' -AsPlainText -Force" in inner
    assert "-ArgumentList 'CORP\\administrator', $password" in inner
    assert "http://ex01.corp.contoso.com/PowerShell/" in loads[0]
    # close: End on stdin, terminate signal, shell deleted
    assert ("send", b"", True) in fake.calls
    assert names[-2:] == ["cleanup", "close_shell"]


def test_execute_nothing_opens_nothing():
    session, fake = make(default_handler)
    session.execute([])
    session.close()
    assert fake.calls == []


def test_query_without_output_is_none():
    session, fake = make(lambda kind, payload: ("ok", []))
    assert session.query("$null") is None


def test_operation_timeouts_are_retried():
    session, fake = make(default_handler)
    fake.receive_faults = [WinRMOperationTimeoutError(), WinRMOperationTimeoutError()]
    assert session.query("x") == {"a": 1, "b": ["x", "\u00e9"]}


def test_dropped_connection_on_receive_is_retried_once():
    session, fake = make(default_handler)
    fake.receive_faults = [requests.exceptions.ConnectionError("reset")]
    assert session.query("x")["a"] == 1


def test_read_whose_send_was_dropped_is_sent_again():
    session, fake = make(default_handler)
    session.query("warm up")  # the shell is loaded; the next script is sent on an open session
    fake.send_faults = [requests.exceptions.ConnectionError("Connection aborted: reset by peer")]
    assert session.query("x")["a"] == 1


def test_write_and_read_script_whose_send_was_dropped_is_not_sent_again():
    # A dropped connection while sending may come after PowerShell got the line: a script that writes must not run
    # twice (New-ExchangeCertificate would make two requests).
    session, fake = make(default_handler)
    session.query("warm up")

    def sends():
        return len([call for call in fake.calls if call[0] == "send"])

    sends_before = sends()
    fake.send_faults = [requests.exceptions.ConnectionError("Connection aborted: reset by peer")]
    with pytest.raises(es.ExchangeConnectionError) as info:
        session.query("New-Thing; Get-Thing | ConvertTo-Json", writes=True)
    assert info.value.not_started is False
    assert sends() == sends_before + 1  # one attempt, no second one


def test_write_and_read_script_refused_by_the_service_did_not_start():
    session, fake = make(default_handler)
    session.query("warm up")
    fake.send_faults = [WSManFaultError(500, "", "the shell was not found", "w:InvalidSelectors", "2150858843")]
    with pytest.raises(es.ExchangeConnectionError) as info:
        session.query("New-Thing; Get-Thing | ConvertTo-Json", writes=True)
    assert info.value.not_started is True


def test_command_error_names_cmdlet_target_and_text():
    def handler(kind, payload):
        if kind == "execute":
            return ("err", {"message": "The operation couldn't be performed because object 'EX01\\owa (Default Web "
                                       "Site)' couldn't be found.", "command": "Set-OwaVirtualDirectory",
                            "target": "", "id": "x", "current": payload[1]})
        return ("ok", [])
    session, fake = make(handler)
    lines = [ps_command("Set-AcceptedDomain", {"Identity": "a", "MakeDefault": True}),
             ps_command("Set-OwaVirtualDirectory", {"Identity": "EX01\\owa (Default Web Site)", "InternalUrl": "https://x/owa"})]
    with pytest.raises(es.ExchangeCommandError) as info:
        session.execute(lines)
    error = info.value
    assert error.cmdlet == "Set-OwaVirtualDirectory"
    assert error.target == "EX01\\owa (Default Web Site)"
    assert error.command == lines[1]
    assert str(error).startswith("Set-OwaVirtualDirectory failed for 'EX01\\owa (Default Web Site)': The operation")


def test_query_error_becomes_command_error():
    def handler(kind, payload):
        if kind == "query":
            return ("err", {"message": "Couldn't find object 'x'.", "command": "Get-SendConnector", "target": "x",
                            "id": "NotFound", "current": payload})
        return ("ok", [])
    session, _unused = make(handler)
    with pytest.raises(es.ExchangeCommandError, match=r"^Get-SendConnector failed for 'x': Couldn't find object"):
        session.query("Get-SendConnector -Identity 'x'")


def test_load_failure_is_a_connection_error():
    session, _unused = make(lambda kind, payload: ("err", {"message": "Connecting to remote server failed", "command":
                                                           "New-PSSession", "target": "", "id": "x", "current": payload}))
    with pytest.raises(es.ExchangeConnectionError, match="loading the Exchange Management Shell .remote_session. on "
                                                         "ex01.corp.contoso.com failed: New-PSSession failed"):
        session.query("x")


def test_process_exit_before_sentinel():
    session, _unused = make(lambda kind, payload: ("exit", 1))
    with pytest.raises(es.ExchangeConnectionError, match="PowerShell on https://ex01.corp.contoso.com:5986/wsman "
                                                         "exited .code 1. while loading the Exchange shell: boom"):
        session.query("x")


def test_not_json_output():
    session, _unused = make(lambda kind, payload: ("ok", ["this is not json"]) if kind == "query" else ("ok", []))
    with pytest.raises(es.ExchangeOutputError, match="did not return the expected JSON"):
        session.query("x")


def test_json_after_other_lines_is_found():
    session, _unused = make(lambda kind, payload: ("ok", ["a table", '{"x": 2}']) if kind == "query" else ("ok", []))
    assert session.query("x") == {"x": 2}


@pytest.mark.parametrize("fault,pattern", [
    (InvalidCredentialsError("the specified credentials were rejected by the server"),
     r"authentication failed for user CORP\\administrator on https://ex01.corp.contoso.com:5986/wsman"),
    (requests.exceptions.SSLError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local "
                                  "issuer certificate (_ssl.c:1000)"), r"TLS certificate validation failed .*exchange_ca_trust_path"),
    (requests.exceptions.ConnectionError("HTTPSConnectionPool: Max retries exceeded (Caused by NewConnectionError("
                                         "'[Errno 111] Connection refused'))"), r"cannot reach .*Connection refused"),
    (requests.exceptions.ReadTimeout("read timed out"), r"no answer within exchange_read_timeout=30s"),
    (WSManFaultError(500, "Bad HTTP response", "<xml/>", "The WS-Management service cannot process the request. "
                     "This user is allowed a maximum number of 5 concurrent shells", wsman_fault_code=2144108060),
     r"refused opening a WinRM shell: .*maximum number of 5 concurrent shells"),
])
def test_transport_failures_are_connection_errors(fault, pattern, monkeypatch):
    monkeypatch.setattr(es.time, "sleep", lambda s: None)
    session, fake = make(default_handler)
    fake.open_fault = fault
    with pytest.raises(es.ExchangeConnectionError, match=pattern):
        session.query("x")
    assert "S3cr" not in str(fake.calls[0])


def test_wrong_password_is_not_retried():
    session, fake = make(default_handler)
    fake.open_fault = InvalidCredentialsError("rejected")
    with pytest.raises(es.ExchangeConnectionError):
        session.query("x")
    assert [c[0] for c in fake.calls].count("open_shell") == 1


def test_remote_session_needs_fqdn_for_ip_hosts():
    session, _unused = make(default_handler, host="127.0.0.1")
    with pytest.raises(es.ExchangeConnectionError, match="exchange_server_fqdn is required"):
        session.query("x")
    session, fake = make(default_handler, host="127.0.0.1", server_fqdn="ex01.corp.contoso.com", port=5999)
    session.query("x")
    assert "http://ex01.corp.contoso.com/PowerShell/" in fake.scripts[0]
    assert session.endpoint == "https://127.0.0.1:5999/wsman"


def test_snapin_mode_sends_no_credential():
    session, fake = make(default_handler, shell="snapin")
    session.query("x")
    assert "Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn" in fake.scripts[0]
    assert "S3cr" not in fake.scripts[0]


def test_remote_exchange_script_mode_passes_the_credential_for_the_second_hop():
    session, fake = make(default_handler, shell="remote_exchange_script")
    session.query("x")
    assert '. "$env:ExchangeInstallPath\\bin\\RemoteExchange.ps1"' in fake.scripts[0]
    assert "Connect-ExchangeServer -Auto -Credential $cred" in fake.scripts[0]


def test_timeouts_validated():
    with pytest.raises(ValueError):
        es.ExchangeSession(host="h", operation_timeout=30, read_timeout=30)


def test_from_params_defaults():
    session = es.ExchangeSession.from_params({"exchange_host": "h", "exchange_scheme": "http"})
    assert session.endpoint == "http://h:5985/wsman"
    assert session.shell_mode == "remote_session"


def test_clean_clixml():
    data = (b"#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">"
            b"<Obj S=\"progress\" RefId=\"0\"><TN RefId=\"0\"><T>System.Management.Automation.PSCustomObject</T></TN>"
            b"</Obj><S S=\"Error\">Set-OwaVirtualDirectory : not found_x000D__x000A_</S>"
            b"<S S=\"Error\">second line_x000D__x000A_</S></Objs>")
    assert es.clean_clixml(data) == "Set-OwaVirtualDirectory : not found\nsecond line"
    assert es.clean_clixml(b"plain text\r\n") == "plain text"


def test_connection_argument_spec_shape():
    spec = es.CONNECTION_ARGUMENT_SPEC
    assert spec["exchange_password"]["no_log"] is True
    # Not required by the spec: over the mailops.exchange.exchange connection the connection knows the host; a
    # direct session without it fails with a message naming both ways (test_from_params_requires_a_host).
    assert not spec["exchange_host"].get("required")
    for name, option in spec.items():
        assert option["fallback"][1] == [name.upper()]
    assert spec["exchange_transport"]["default"] == "ntlm"
    assert spec["exchange_shell"]["choices"] == ["remote_session", "snapin", "remote_exchange_script"]


def test_from_params_requires_a_host():
    with pytest.raises(es.ExchangeConnectionError, match="exchange_host is required .*mailops.exchange.exchange"):
        es.ExchangeSession.from_params({"exchange_host": None})


def test_password_is_redacted_from_errors():
    def handler(kind, payload):
        return ("err", {"message": "At line:1 char:5 ConvertTo-SecureString 'S3cr''et$(x)' -AsPlainText: parse error; "
                                   "raw S3cr'et$(x)", "command": "", "target": "", "id": "x"})
    session, _unused = make(handler)
    with pytest.raises(es.ExchangeConnectionError) as info:
        session.query("x")
    assert "S3cr" not in str(info.value)
    assert "********" in str(info.value)


def test_execute_with_a_read_back_answers_it_in_the_same_round_trip():
    def handler(kind, payload):
        if kind == "load":
            return ("ok", [])
        return ("ok", ['{"connectors":[{"Name":"To internet"}]}'])

    session, fake = make(handler)
    with session:
        answer = session.execute([ps_command("Set-SendConnector", {"Identity": "To internet", "Fqdn": "mail.contoso.com"})],
                                 read_back="Get-SendConnector | ConvertTo-Json -Compress")
        assert answer == {"connectors": [{"Name": "To internet"}]}
        assert session.execute([ps_command("Set-X", {"Identity": "y"})]) is None
    writes = [s for s in fake.scripts if "Set-SendConnector" in s]
    assert len(writes) == 1  # the writes and the read-back: one script, one round trip
    assert "$__mailops_read_back = 'Get-SendConnector | ConvertTo-Json -Compress'" in writes[0]
    assert session.scripts_run == 3  # the shell load, then one script per execute
