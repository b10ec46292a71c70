"""The fault matrix (issue 7): every fault the lab can inject, with its expected outcome.

Each case runs a real module through ansible-playbook against the lab with one fault armed in ``DIR/faults.json``
(or a broken connection option), then checks:

- the outcome: success after a bounded retry, or a failure whose message names the endpoint/host, the step or
  cmdlet and the cause - never a traceback (no ``exception`` key, no "Traceback" in the output);
- the lab state: the failed run changed nothing it did not report (``applied_commands``);
- recovery: the next normal run converges (and the one after it reports no change).

The unit-level cases at the end drive :class:`ExchangeSession` with a scripted WinRM double for what the lab cannot
inject at a precise moment (a dropped connection on the Send of write commands).
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time

import pytest
from labstate import changes, find, props
from labtools import Lab, faults, set_faults, write_commands

pytestmark = pytest.mark.slow

RESET = {"receive_timeouts": 0, "unauthorized": 0, "drop_connections": 0, "expire_shells": 0, "corrupt_output": 0, "shell_quota": 5,
         "cmdlet_failures": [], "exchange_load_latency": 0.0, "ps_start_latency": 0.0, "latency_scale": 1.0}


# -- helpers -----------------------------------------------------------------------------------------------------


@pytest.fixture
def flab(lab):
    """The shared 2019 lab with every fault disarmed before and after the test."""
    set_faults(lab, **RESET)
    yield lab
    set_faults(lab, **RESET)


def assert_clean_failure(lab: Lab, result: dict, *needles: str) -> None:
    assert result.get("failed") is True, result
    # ansible-core 2.19 adds "exception": "(traceback unavailable)" to every failure; a real one would be in it
    assert "Traceback" not in str(result.get("exception", "")), result.get("exception")
    assert "Traceback" not in lab.last_run["stdout"] and "Traceback" not in lab.last_run["stderr"]
    for needle in needles:
        assert needle.lower() in result["msg"].lower(), (needle, result["msg"])
    assert lab.password not in json.dumps(result)


def domain_args(name: str) -> dict:
    return {"name": name, "domain_name": "%s.example" % name.lower().replace(" ", "-"), "domain_type": "InternalRelay"}


def assert_converges(lab: Lab, module: str, args: dict, **kwargs) -> dict:
    """The next normal runs: the first applies what is missing, the second changes nothing."""
    first = lab.run_module(module, args, **kwargs)
    assert first.get("failed") is not True, first
    second = lab.run_module(module, args, **kwargs)
    assert second.get("failed") is not True, second
    assert second["changed"] is False, second
    assert write_commands(lab) == []
    return first


def endpoint(lab: Lab, server: str = "EX01") -> str:
    return lab.server(server)["https"]


# -- authentication, reachability, TLS ---------------------------------------------------------------------------

def test_wrong_password_fails_once_without_retry(flab):
    lab = flab
    before = lab.lab_state()
    args = domain_args("Fault Password")
    result = lab.run_module("exchange_accepted_domain", args, extra_env={"EXCHANGE_PASSWORD": "not-the-password"})
    assert_clean_failure(lab, result, "authentication failed", lab.endpoints["username"], endpoint(lab),
                         "opening a WinRM shell")
    assert "not-the-password" not in json.dumps(result) + lab.last_run["stdout"]
    http = [line for line in lab.last_run["transcript"] if line["kind"] == "http"]
    # One NTLM handshake (anonymous probe, negotiate, authenticate), refused once: a retry would repeat it.
    assert len(http) == 3, http
    assert [line["refused"] for line in http if "logon failed" in line.get("refused", "")] != []
    assert sum("logon failed" in line.get("refused", "") for line in http) == 1, http
    assert lab.last_run["counters"].get("EX01", {}).get("shells", 0) == 0
    assert changes(before, lab.lab_state()) == []
    assert assert_converges(lab, "exchange_accepted_domain", args)["changed"] is True


def test_connection_refused(flab):
    lab = flab
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    result = lab.run_module("exchange_accepted_domain", domain_args("Fault Refused"),
                            extra_env={"EXCHANGE_PORT": str(port)})
    assert_clean_failure(lab, result, "cannot reach https://127.0.0.1:%d/wsman" % port, "opening a WinRM shell",
                         "refused")
    assert time.monotonic() - started < 30  # bounded: two quick retries, not a long hang
    assert lab.last_run["transcript"] == []


def test_tls_validation_failure_hints_at_ca_trust_path(flab, tmp_path):
    lab = flab
    import certifi  # a CA bundle that does not hold the lab CA

    before = lab.lab_state()
    result = lab.run_module("exchange_accepted_domain", domain_args("Fault TLS"),
                            extra_env={"EXCHANGE_CA_TRUST_PATH": certifi.where()})
    assert_clean_failure(lab, result, "TLS certificate validation failed", endpoint(lab), "exchange_ca_trust_path")
    assert lab.last_run["counters"].get("EX01", {}).get("shells", 0) == 0
    assert changes(before, lab.lab_state()) == []


# -- transient faults: succeed after a bounded retry ---------------------------------------------------------------

def test_receive_operation_timeouts_are_retried(flab):
    lab = flab
    args = domain_args("Fault Receive")
    set_faults(lab, receive_timeouts=3)
    result = lab.run_module("exchange_accepted_domain", args)
    assert result.get("failed") is not True, result
    assert result["changed"] is True
    assert faults(lab)["receive_timeouts"] == 0  # all three fired
    timed_out = [line for line in lab.last_run["transcript"]
                 if line["kind"] == "http" and line.get("action") == "Receive" and line.get("status") == 500]
    assert len(timed_out) == 3, timed_out
    assert props(find(lab.lab_state(), "accepted_domains", args["name"]))["DomainName"] == args["domain_name"]
    assert assert_converges(lab, "exchange_accepted_domain", args)["changed"] is False


def test_connection_dropped_before_anything_was_sent(flab):
    lab = flab
    args = domain_args("Fault Drop First")
    set_faults(lab, drop_connections=1)
    result = lab.run_module("exchange_accepted_domain", args)
    assert result.get("failed") is not True, result
    assert result["changed"] is True
    assert faults(lab)["drop_connections"] == 0
    assert any(line.get("fault") == "drop_connections" for line in lab.last_run["transcript"])
    assert lab.last_run["counters"]["EX01"]["exchange_loads"] == 1
    assert assert_converges(lab, "exchange_accepted_domain", args)["changed"] is False


def _run_in_thread(lab: Lab, module: str, args: dict, **kwargs):
    box: dict = {}

    def target():
        try:
            box["result"] = lab.run_module(module, args, **kwargs)
        except BaseException as exc:  # reported by the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, box


def _wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_connection_dropped_mid_command(flab):
    """The Exchange-shell load is running (4 s); the next request after its Send loses its connection.

    That request is the Receive of the load or the Send of the read script: both are safe to repeat, so the run
    succeeds after one retry, with one Exchange-shell load.
    """
    lab = flab
    args = domain_args("Fault Drop Mid")
    set_faults(lab, exchange_load_latency=4.0)
    mark = lab.mark()
    thread, box = _run_in_thread(lab, "exchange_accepted_domain", args)
    assert _wait_for(lambda: any(line["kind"] == "http" and line.get("action") == "Send"
                                 for line in lab.transcript(mark)))
    set_faults(lab, drop_connections=1)
    thread.join(120)
    assert "error" not in box, box
    result = box["result"]
    assert result.get("failed") is not True, result
    assert result["changed"] is True
    assert faults(lab)["drop_connections"] == 0
    assert any(line.get("fault") == "drop_connections" for line in lab.last_run["transcript"])
    assert lab.last_run["counters"]["EX01"]["exchange_loads"] == 1
    set_faults(lab, exchange_load_latency=0.0)
    assert assert_converges(lab, "exchange_accepted_domain", args)["changed"] is False


# -- faults that end the run: a clear failure, then convergence --------------------------------------------------

def test_shell_quota(flab):
    lab = flab
    before = lab.lab_state()
    args = domain_args("Fault Quota")
    set_faults(lab, shell_quota=0)
    result = lab.run_module("exchange_accepted_domain", args)
    assert_clean_failure(lab, result, endpoint(lab), "opening a WinRM shell", "maximum number of 0 concurrent shells")
    assert changes(before, lab.lab_state()) == []
    set_faults(lab, shell_quota=5)
    assert assert_converges(lab, "exchange_accepted_domain", args)["changed"] is True


def test_exchange_shell_fails_to_load(flab):
    lab = flab
    before = lab.lab_state()
    args = domain_args("Fault Load")
    result = lab.run_module("exchange_accepted_domain", args,
                            extra_env={"EXCHANGE_SERVER_FQDN": "ex99.corp.contoso.com"})
    assert_clean_failure(lab, result, "loading the Exchange Management Shell (remote_session)", "127.0.0.1",
                         "New-PSSession", "Cannot find the computer ex99.corp.contoso.com")
    assert write_commands(lab) == []
    assert changes(before, lab.lab_state()) == []
    assert assert_converges(lab, "exchange_accepted_domain", args)["changed"] is True


SEVEN = {
    "owa": "https://fault.contoso.com/owa", "ecp": "https://fault.contoso.com/ecp",
    "ews": "https://fault.contoso.com/EWS/Exchange.asmx",
    "eas": "https://fault.contoso.com/Microsoft-Server-ActiveSync",
    "oab": "https://fault.contoso.com/OAB", "mapi": "https://fault.contoso.com/mapi",
    "powershell": "http://fault.contoso.com/PowerShell",
}


def _vdir_urls(lab: Lab) -> dict:
    result = lab.run_module("exchange_info", {"gather": ["client_access"], "servers": ["EX02"]})
    assert result.get("failed") is not True, result
    return {key: (value or {}).get("internal_url") for key, value in result["servers"][0]["urls"].items()}


def test_one_of_seven_virtual_directories_fails(flab):
    lab = flab
    args = {"server": "EX02", "urls": {key: {"internal_url": url} for key, url in SEVEN.items()}}
    start = _vdir_urls(lab)
    before = lab.lab_state()
    set_faults(lab, cmdlet_failures=[{"cmdlet": "Set-OwaVirtualDirectory", "identity": "EX02\\owa*",
                                      "message": "An IIS error occurred."}])
    result = lab.run_module("exchange_vdir_url", args)
    assert_clean_failure(lab, result, "Set-OwaVirtualDirectory", "EX02\\owa (Default Web Site)",
                         "An IIS error occurred.")
    failed = result["failed_command"]
    assert failed.startswith("Set-OwaVirtualDirectory -Identity 'EX02\\owa (Default Web Site)'")
    applied, skipped = result["applied_commands"], result["skipped_commands"]
    assert result["commands"] == applied + [failed] + skipped
    assert len(applied) + 1 + len(skipped) == 7
    # Nothing half-configured silently: the lab changed exactly what applied_commands reports.
    after = _vdir_urls(lab)
    changed = {key for key in after if after[key] != start.get(key)}
    reported = {key for key in SEVEN
                if any(cmd.split(" ", 1)[0].lower() == _CMDLET[key].lower() for cmd in applied)}
    assert changed == reported, (changed, applied)
    assert all(after[key] and after[key].lower() == SEVEN[key].lower() for key in changed)
    assert after["owa"] == start["owa"]
    assert [p for p in changes(before, lab.lab_state()) if p and p[0] not in ("servers", "virtual_directories")] == []

    set_faults(lab, cmdlet_failures=[])
    first = assert_converges(lab, "exchange_vdir_url", args)
    assert first["changed"] is True
    assert len(first["commands"]) == 7 - len(applied)  # only what the failed run did not apply
    final = _vdir_urls(lab)
    assert {key: (final[key] or "").lower() for key in SEVEN} == {key: url.lower() for key, url in SEVEN.items()}


_CMDLET = {"owa": "Set-OwaVirtualDirectory", "ecp": "Set-EcpVirtualDirectory",
           "ews": "Set-WebServicesVirtualDirectory", "eas": "Set-ActiveSyncVirtualDirectory",
           "oab": "Set-OabVirtualDirectory", "mapi": "Set-MapiVirtualDirectory",
           "powershell": "Set-PowerShellVirtualDirectory"}


def test_output_that_is_not_json(flab):
    """The next script's stdout is replaced by text without the envelope: the session notices (a probe line after
    one silent operation timeout) and fails naming the step, instead of waiting for the 900 s script bound."""
    lab = flab
    before = lab.lab_state()
    args = domain_args("Fault Corrupt")
    set_faults(lab, corrupt_output=1)
    started = time.monotonic()
    result = lab.run_module("exchange_accepted_domain", args,
                            extra_env={"EXCHANGE_OPERATION_TIMEOUT": "2", "EXCHANGE_READ_TIMEOUT": "10"})
    assert time.monotonic() - started < 40
    assert_clean_failure(lab, result, endpoint(lab), "loading the Exchange shell",
                         "without the collection's end marker",
                         "output corrupted by the corrupt_output fault")
    assert faults(lab)["corrupt_output"] == 0
    assert write_commands(lab) == []
    assert changes(before, lab.lab_state()) == []
    assert assert_converges(lab, "exchange_accepted_domain", args)["changed"] is True


def test_lab_killed_mid_run(tmp_path):
    """SIGKILL the lab while a module waits for the Exchange-shell load; restart it on the same state; converge."""
    lab = Lab("2019", tmp_path / "killed")
    try:
        set_faults(lab, exchange_load_latency=4.0)
        before = lab.lab_state()
        args = domain_args("Fault Killed")
        mark = lab.mark()
        thread, box = _run_in_thread(lab, "exchange_accepted_domain", args)
        assert _wait_for(lambda: any(line["kind"] == "http" and line.get("action") == "Send"
                                     for line in lab.transcript(mark)))
        time.sleep(0.5)
        lab.process.send_signal(signal.SIGKILL)
        lab.process.wait(10)
        thread.join(120)
        assert "error" not in box, box
        result = box["result"]
        assert_clean_failure(lab, result, "127.0.0.1", "loading the Exchange shell")
        assert "cannot reach" in result["msg"] or "refused" in result["msg"].lower(), result["msg"]
        lab.stop()

        (lab.state_dir / "endpoints.json").unlink(missing_ok=True)
        restarted = Lab("2019", lab.state_dir)
        lab = restarted
        set_faults(lab, exchange_load_latency=0.0)
        assert changes(before, lab.lab_state()) == []  # the killed run wrote nothing
        first = assert_converges(lab, "exchange_accepted_domain", args)
        assert first["changed"] is True
        assert props(find(lab.lab_state(), "accepted_domains", args["name"]))["DomainName"] == args["domain_name"]
    finally:
        lab.stop()


# -- unit level: the session's retry rules, with a scripted WinRM double -------------------------------------------

class _DroppingProtocol:
    """Answers like a PowerShell that runs nothing; the Send of the n-th script raises a dropped connection."""

    def __init__(self, drop_send: int, error):
        self.drop_send, self.error = drop_send, error
        self.sends = 0
        self.pending = []
        self.executed = []

    def open_shell(self, **kwargs):
        return "shell"

    def run_command(self, shell_id, command):
        return "command"

    def send_command_input(self, shell_id, command_id, data, end=False):
        if not data:
            return
        self.sends += 1
        if self.sends == self.drop_send:
            raise self.error
        import base64
        import re

        text = base64.b64decode(re.search(rb"FromBase64String\('([^']+)'\)", data).group(1)).decode()
        token = re.search(r"MAILOPS-[0-9a-f]+", text).group(0)
        self.executed.append(text)
        body = "null" if "foreach" not in text else ""
        self.pending.append(("%s:BEGIN\r\n%s\r\n%s:OK\r\n" % (token, body, token)).encode())

    def get_command_output_raw(self, shell_id, command_id):
        out = self.pending.pop(0) if self.pending else b""
        return out, b"", 0, False

    def cleanup_command(self, *a):
        pass

    def close_shell(self, *a):
        pass


def _session(protocol):
    from ansible_collections.mailops.exchange.plugins.module_utils.exchange_session import ExchangeSession

    return ExchangeSession("ex01.corp.contoso.com", username="u", password="p", shell="snapin",
                           protocol_factory=lambda session: protocol)


def _dropped():
    import requests
    from urllib3.exceptions import ProtocolError

    return requests.exceptions.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")))


def _unreachable():
    import requests
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    return requests.exceptions.ConnectionError(MaxRetryError(None, "/wsman", reason))


@pytest.mark.parametrize("drop_send", [1, 2])  # the shell load, the read script
def test_unit_dropped_send_of_a_read_is_resent(drop_send):
    protocol = _DroppingProtocol(drop_send, _dropped())
    session = _session(protocol)
    assert session.query("ConvertTo-Json $null") is None
    assert protocol.sends == 3 and len(protocol.executed) == 2


def test_unit_dropped_send_of_writes_is_never_resent():
    from ansible_collections.mailops.exchange.plugins.module_utils.exchange_session import ExchangeConnectionError

    protocol = _DroppingProtocol(2, _dropped())
    session = _session(protocol)
    with pytest.raises(ExchangeConnectionError) as caught:
        session.execute(["Set-AcceptedDomain -Identity 'x' -DomainType 'Authoritative'"])
    assert "while sending write commands" in str(caught.value)
    assert protocol.sends == 2 and not any("Set-AcceptedDomain" in text for text in protocol.executed)


def test_unit_writes_resent_only_when_provably_unsent():
    protocol = _DroppingProtocol(2, _unreachable())
    session = _session(protocol)
    session.execute(["Set-AcceptedDomain -Identity 'x' -DomainType 'Authoritative'"])
    assert protocol.sends == 3
    assert sum("Set-AcceptedDomain" in text for text in protocol.executed) == 1


class _Stop(BaseException):
    def __init__(self, result):
        super().__init__(result)
        self.result = result


def _module_failure(monkeypatch, error):
    """ExchangeModule.apply() with a session whose execute() raises ``error``: the fail_json result."""
    from ansible.module_utils.testing import patch_module_args

    from ansible_collections.mailops.exchange.plugins.module_utils import exchange_module

    class Session:
        def execute(self, commands):
            raise error

        def close(self):
            pass

    def fail_json(self, msg, **kwargs):
        raise _Stop(dict(kwargs, msg=msg, failed=True))

    monkeypatch.setattr(exchange_module.AnsibleModule, "fail_json", fail_json)
    with patch_module_args({"exchange_host": "ex01.corp.contoso.com", "exchange_username": "u",
                            "exchange_password": "p"}):
        module = exchange_module.ExchangeModule({}, session_factory=lambda params: Session())
        with pytest.raises(_Stop) as caught:
            module.apply(COMMANDS)
    return caught.value.result


COMMANDS = ["Set-OwaVirtualDirectory -Identity 'EX01\\owa (Default Web Site)' -InternalUrl 'https://a/owa'",
            "Set-EcpVirtualDirectory -Identity 'EX01\\ecp (Default Web Site)' -InternalUrl 'https://a/ecp'",
            "Set-OabVirtualDirectory -Identity 'EX01\\OAB (Default Web Site)' -InternalUrl 'https://a/OAB'"]


def test_unit_failed_batch_reports_applied_failed_and_skipped(monkeypatch):
    from ansible_collections.mailops.exchange.plugins.module_utils.exchange_session import ExchangeCommandError

    result = _module_failure(monkeypatch, ExchangeCommandError(
        "Set-EcpVirtualDirectory", "EX01\\ecp (Default Web Site)", "An IIS error occurred.", command=COMMANDS[1]))
    assert result["failed_command"] == COMMANDS[1]
    assert result["applied_commands"] == COMMANDS[:1]
    assert result["skipped_commands"] == COMMANDS[2:]
    assert result["commands"] == COMMANDS
    assert "Set-EcpVirtualDirectory failed for 'EX01\\ecp (Default Web Site)': An IIS error occurred." in result["msg"]
    assert "1 earlier command(s) of this task were applied" in result["msg"]


def test_unit_lost_connection_during_writes_is_reported_as_unconfirmed(monkeypatch):
    from ansible_collections.mailops.exchange.plugins.module_utils.exchange_session import ExchangeConnectionError

    result = _module_failure(monkeypatch, ExchangeConnectionError(
        "cannot reach https://ex01:5986/wsman while reading the output of write commands: Connection refused"))
    assert result["unconfirmed_commands"] == COMMANDS
    assert "may or may not have been applied" in result["msg"]
    # The cmdlet and the object first (issue 13), then what happened - never the script.
    assert result["msg"].startswith("Set-OwaVirtualDirectory for 'EX01\\owa (Default Web Site)' and 2 more commands: "
                                    "cannot reach https://ex01:5986/wsman while reading the output of write commands")
