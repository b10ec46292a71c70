"""Shell operations of the lab's WinRM endpoint: headers, faults, quota, fault injection, long-poll, concurrency."""

from __future__ import annotations

import json
import threading
import time
import uuid
import xml.etree.ElementTree as ET

import pytest
import requests
from winrm.exceptions import InvalidCredentialsError, WinRMOperationTimeoutError, WinRMTransportError, WSManFaultError

from lab_support import http_lines, protocol, session

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
}
SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"


def raw_request(lab, action: str, body: str, shell_id: str | None = None, message_id: str | None = None, timeout: str = "PT20S") -> tuple[int, ET.Element, str]:
    """POST one hand-written envelope with Basic over HTTPS; (status, parsed reply, MessageID sent)."""
    message_id = message_id or f"uuid:{uuid.uuid4()}"
    selector = f'<w:SelectorSet><w:Selector Name="ShellId">{shell_id}</w:Selector></w:SelectorSet>' if shell_id else ""
    envelope = (
        f'<s:Envelope xmlns:s="{NS["s"]}" xmlns:a="{NS["a"]}" xmlns:w="{NS["w"]}" xmlns:rsp="{NS["rsp"]}"><s:Header>'
        f"<a:To>{lab.url('EX01', 'https')}</a:To><w:ResourceURI>{SHELL_URI}</w:ResourceURI>"
        f"<a:Action>{action}</a:Action><a:MessageID>{message_id}</a:MessageID>"
        f"<w:OperationTimeout>{timeout}</w:OperationTimeout>{selector}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    )
    response = requests.post(
        lab.url("EX01", "https"), data=envelope.encode(), verify=lab.endpoints["ca_bundle"],
        auth=(lab.endpoints["username"], lab.endpoints["password"]),
        headers={"Content-Type": "application/soap+xml;charset=UTF-8"},
    )
    return response.status_code, ET.fromstring(response.content), message_id


def header(reply: ET.Element, name: str) -> str:
    node = reply.find(f"s:Header/a:{name}", NS)
    assert node is not None, f"no a:{name} in the reply"
    return node.text


def create_shell(lab) -> str:
    status, reply, _ = raw_request(lab, "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create",
                                   "<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>")
    assert status == 200
    return reply.find(".//w:Selector[@Name='ShellId']", NS).text


def test_every_response_relates_to_its_request(winrm_lab):
    shell_id = create_shell(winrm_lab)
    status, reply, sent_id = raw_request(
        winrm_lab, "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command",
        "<rsp:CommandLine><rsp:Command>echo</rsp:Command><rsp:Arguments>hi</rsp:Arguments></rsp:CommandLine>", shell_id)
    assert status == 200
    assert header(reply, "RelatesTo") == sent_id
    assert header(reply, "Action") == "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandResponse"
    assert header(reply, "MessageID").startswith("uuid:") and header(reply, "MessageID") != sent_id
    command_id = reply.find(".//rsp:CommandId", NS).text

    status, reply, sent_id = raw_request(
        winrm_lab, "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal",
        f'<rsp:Signal CommandId="{command_id}"><rsp:Code>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate</rsp:Code></rsp:Signal>',
        shell_id)
    assert (status, header(reply, "RelatesTo")) == (200, sent_id)
    assert header(reply, "Action").endswith("/shell/SignalResponse")

    status, reply, sent_id = raw_request(winrm_lab, "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete", "", shell_id)
    assert (status, header(reply, "RelatesTo")) == (200, sent_id)
    assert header(reply, "Action") == "http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse"


def test_create_answers_with_the_shell_selector(winrm_lab):
    status, reply, _ = raw_request(winrm_lab, "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create",
                                   "<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>")
    assert status == 200
    assert header(reply, "Action") == "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse"
    shell_id = reply.find("s:Body/x:ResourceCreated/a:ReferenceParameters/w:SelectorSet/w:Selector[@Name='ShellId']",
                          {**NS, "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer"}).text
    assert reply.find(".//rsp:Shell/rsp:ShellId", NS).text == shell_id
    assert reply.find(".//rsp:Shell/rsp:Owner", NS).text == winrm_lab.endpoints["username"]


def test_signal_and_delete_through_pywinrm_check_relates_to(winrm_lab):
    # cleanup_command and close_shell assert that RelatesTo equals the MessageID they sent.
    client = protocol(winrm_lab, "https", "basic")
    shell_id = client.open_shell()
    command_id = client.run_command(shell_id, "wait", ["30"])
    client.cleanup_command(shell_id, command_id)
    client.close_shell(shell_id)
    assert winrm_lab.processes.started[-1].terminated


def test_unknown_shell_and_command_are_invalid_selectors(winrm_lab):
    client = protocol(winrm_lab, "https", "ntlm")
    with pytest.raises(WSManFaultError) as fault:
        client.run_command("0C4D8B9E-0000-4000-8000-000000000000", "echo", ["x"])
    assert fault.value.wsman_fault_code == 2150858843
    assert fault.value.fault_subcode == "w:InvalidSelectors"
    assert "invalid selectors" in fault.value.reason

    shell_id = client.open_shell()
    with pytest.raises(WSManFaultError) as fault:
        client.get_command_output_raw(shell_id, "11111111-2222-3333-4444-555555555555")
    assert fault.value.wsman_fault_code == 2150858843
    client.close_shell(shell_id)
    with pytest.raises(WSManFaultError) as fault:
        client.close_shell(shell_id)
    assert fault.value.wsman_fault_code == 2150858843


def test_another_users_shell_is_access_denied(winrm_lab):
    owner = protocol(winrm_lab, "https", "ntlm")
    shell_id = owner.open_shell()
    intruder = protocol(winrm_lab, "https", "ntlm", username=winrm_lab.second_user[0], password=winrm_lab.second_user[1])
    with pytest.raises(WSManFaultError) as fault:
        intruder.run_command(shell_id, "echo", ["x"])
    assert fault.value.wsman_fault_code == 5
    assert fault.value.reason.strip() == "Access is denied."
    owner.close_shell(shell_id)


def test_sixth_concurrent_shell_exceeds_the_quota(winrm_lab):
    client = protocol(winrm_lab, "http", "ntlm")
    shells = [client.open_shell() for _ in range(5)]
    with pytest.raises(WSManFaultError) as fault:
        client.open_shell()
    assert fault.value.wsman_fault_code == 2150859173
    assert fault.value.fault_subcode == "w:QuotaLimit"
    assert "This user is allowed a maximum number of 5 concurrent shells, which has been exceeded" in fault.value.reason

    # The quota is per user and per server.
    other = protocol(winrm_lab, "http", "ntlm", username=winrm_lab.second_user[0], password=winrm_lab.second_user[1])
    other.close_shell(other.open_shell())
    elsewhere = protocol(winrm_lab, "http", "ntlm", server="EX02")
    elsewhere.close_shell(elsewhere.open_shell())

    # Closing a shell frees its place.
    client.close_shell(shells.pop())
    shells.append(client.open_shell())
    for shell_id in shells:
        client.close_shell(shell_id, close_session=False)
    assert winrm_lab.lab.services["EX01"].shells.count() == 0


def test_shell_quota_follows_the_fault_setting(winrm_lab):
    winrm_lab.context.faults.update({"shell_quota": 2})
    client = protocol(winrm_lab, "https", "basic")
    client.open_shell(), client.open_shell()
    with pytest.raises(WSManFaultError, match="maximum number of 2 concurrent shells"):
        client.open_shell()


def test_shells_are_counted(winrm_lab):
    for _ in range(3):
        session(winrm_lab, "https", "basic", server="EX02").run_cmd("echo", ["x"])
    assert winrm_lab.context.observer.counters()["EX02"]["shells"] == 3
    counters = json.loads(winrm_lab.context.observer.counters_path.read_text())["servers"]
    assert counters["EX02"]["shells"] == 3 and counters["EX02"]["http_requests"] >= 15


def test_injected_unauthorized_answers_401(winrm_lab):
    winrm_lab.context.faults.update({"unauthorized": 1})
    client = session(winrm_lab, "https", "basic")
    with pytest.raises(InvalidCredentialsError):
        client.run_cmd("echo", ["x"])
    assert winrm_lab.context.faults.get("unauthorized") == 0
    assert session(winrm_lab, "https", "basic").run_cmd("echo", ["after"]).std_out == b"after\r\n"
    assert [line["fault"] for line in http_lines(winrm_lab) if "fault" in line] == ["unauthorized"]


def test_injected_unauthorized_makes_ntlm_log_on_again(winrm_lab):
    """Over HTTPS an NTLM client re-authenticates on a new connection and the call goes through."""
    client = protocol(winrm_lab, "https", "ntlm")
    shell_id = client.open_shell()
    winrm_lab.context.faults.update({"unauthorized": 1})
    command_id = client.run_command(shell_id, "echo", ["relogon"])
    assert client.get_command_output(shell_id, command_id)[0] == b"relogon\r\n"
    client.close_shell(shell_id)
    statuses = [line["status"] for line in http_lines(winrm_lab)]
    assert 401 in statuses and statuses[-1] == 200


def test_injected_dropped_connection(winrm_lab):
    winrm_lab.context.faults.update({"drop_connections": 1})
    with pytest.raises(requests.exceptions.ConnectionError):
        session(winrm_lab, "http", "ntlm").run_cmd("echo", ["x"])
    assert winrm_lab.context.faults.get("drop_connections") == 0
    assert session(winrm_lab, "http", "ntlm").run_cmd("echo", ["again"]).std_out == b"again\r\n"


def test_injected_expire_shells_forgets_every_open_shell(winrm_lab):
    """expire_shells: the next request finds every shell of its server gone; old ShellIds are invalid selectors."""
    client = protocol(winrm_lab, "https", "basic")  # one request per call (no NTLM handshake to consume the fault)
    first = client.open_shell()
    command_id = client.run_command(first, "cat")
    second = client.open_shell()
    processes = list(winrm_lab.processes.started)
    elsewhere = protocol(winrm_lab, "https", "basic", server="EX02")
    other_server_shell = elsewhere.open_shell()
    assert winrm_lab.lab.services["EX01"].shells.count() == 2
    winrm_lab.context.faults.update({"expire_shells": 1})

    # The very request that consumes the fault already finds the shell gone (Send on the old ShellId).
    with pytest.raises(WSManFaultError) as fault:
        client.send_command_input(first, command_id, b"lost\r\n")
    assert (fault.value.wsman_fault_code, fault.value.fault_subcode) == (2150858843, "w:InvalidSelectors")
    assert winrm_lab.context.faults.get("expire_shells") == 0
    assert winrm_lab.lab.services["EX01"].shells.count() == 0
    assert all(process.terminated for process in processes)
    for call in (lambda: client.get_command_output_raw(first, command_id), lambda: client.close_shell(second)):
        with pytest.raises(WSManFaultError) as fault:
            call()
        assert fault.value.wsman_fault_code == 2150858843
    expired = [line for line in http_lines(winrm_lab) if line.get("fault") == "expire_shells"]
    assert [(line["server"], line["expired_shells"], line["action"]) for line in expired] == [("EX01", 2, "Send")]

    # Counted: consumed once. Another server's shells were not touched, and new shells work as before.
    assert winrm_lab.lab.services["EX02"].shells.count() == 1
    elsewhere.close_shell(other_server_shell)
    assert session(winrm_lab, "https", "ntlm").run_cmd("echo", ["again"]).std_out == b"again\r\n"


def test_injected_receive_timeouts_are_retried_by_pywinrm(winrm_lab):
    winrm_lab.context.faults.update({"receive_timeouts": 2})
    result = session(winrm_lab, "http", "ntlm").run_cmd("echo", ["patient"])
    assert (result.status_code, result.std_out) == (0, b"patient\r\n")
    assert winrm_lab.context.faults.get("receive_timeouts") == 0
    receives = [line for line in http_lines(winrm_lab) if line["action"] == "Receive"]
    assert [line["status"] for line in receives] == [500, 500, 200]
    assert all(line["wsman_fault"] == "w:TimedOut" for line in receives[:2])


def test_receive_timeout_fault_is_what_windows_sends(winrm_lab):
    winrm_lab.context.faults.update({"receive_timeouts": 1})
    client = protocol(winrm_lab, "https", "basic")
    shell_id = client.open_shell()
    command_id = client.run_command(shell_id, "echo", ["x"])
    with pytest.raises(WinRMOperationTimeoutError):
        client.get_command_output_raw(shell_id, command_id)
    assert client.get_command_output(shell_id, command_id)[0] == b"x\r\n"
    client.close_shell(shell_id)


def test_receive_long_polls_until_operation_timeout(winrm_lab):
    client = protocol(winrm_lab, "https", "basic", operation_timeout_sec=1, read_timeout_sec=5)
    shell_id = client.open_shell()
    command_id = client.run_command(shell_id, "wait", ["2.5"])
    started = time.monotonic()
    with pytest.raises(WinRMOperationTimeoutError):
        client.get_command_output_raw(shell_id, command_id)
    assert 0.9 <= time.monotonic() - started < 2.0  # it waited for OperationTimeout, not less, not much more
    stdout, stderr, code = client.get_command_output(shell_id, command_id)  # retries the timeouts until Done
    assert code == 0 and time.monotonic() - started >= 2.4
    client.close_shell(shell_id)


def test_receive_returns_as_soon_as_there_is_output(winrm_lab):
    client = protocol(winrm_lab, "https", "basic", operation_timeout_sec=20, read_timeout_sec=30)
    shell_id = client.open_shell()
    command_id = client.run_command(shell_id, "cat")

    def feed():
        time.sleep(0.3)
        feeder = protocol(winrm_lab, "https", "basic")
        feeder.send_command_input(shell_id, command_id, b"first\r\n")

    threading.Thread(target=feed).start()
    started = time.monotonic()
    stdout, _, _, done = client.get_command_output_raw(shell_id, command_id)
    assert (stdout, done) == (b"first\r\n", False)
    assert time.monotonic() - started < 3
    client.send_command_input(shell_id, command_id, b"", end=True)
    assert client.get_command_output(shell_id, command_id)[2] == 0
    client.close_shell(shell_id)


def test_stdin_cannot_be_sent_after_it_was_closed(winrm_lab):
    client = protocol(winrm_lab, "https", "basic")
    shell_id = client.open_shell()
    command_id = client.run_command(shell_id, "cat")
    client.send_command_input(shell_id, command_id, b"x", end=True)
    with pytest.raises(WSManFaultError, match="already been closed"):
        client.send_command_input(shell_id, command_id, b"y")
    client.close_shell(shell_id)


def test_other_resources_and_actions_are_refused(winrm_lab):
    status, reply, _ = raw_request(winrm_lab, "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate", "", create_shell(winrm_lab))
    assert status == 500
    assert reply.find(".//s:Subcode/s:Value", NS).text == "a:ActionNotSupported"

    response = requests.post(winrm_lab.url("EX01", "https"), data=b"this is not xml", verify=winrm_lab.endpoints["ca_bundle"],
                             auth=(winrm_lab.endpoints["username"], winrm_lab.endpoints["password"]))
    assert response.status_code == 500
    assert ET.fromstring(response.content).find(".//s:Subcode/s:Value", NS).text == "w:SchemaValidationError"


def test_wrong_path_is_not_found(winrm_lab):
    response = requests.post(winrm_lab.url("EX01", "https").replace("/wsman", "/powershell"), data=b"",
                             verify=winrm_lab.endpoints["ca_bundle"])
    assert response.status_code == 404


def test_process_runs_as_the_authenticated_user_on_its_server(winrm_lab):
    second, password = winrm_lab.second_user
    session(winrm_lab, "http", "ntlm", server="EX02", username=second, password=password).run_cmd("echo", ["who"])
    started = winrm_lab.processes.started[-1]
    assert (started.server, started.user, started.command_line) == ("EX02", second, "echo who")


def test_concurrent_clients(winrm_lab):
    """Ten clients on two servers at once, mixing transports; each gets its own output."""
    results: dict[int, bytes] = {}
    errors: list[BaseException] = []
    variants = [("http", "ntlm"), ("https", "ntlm"), ("https", "basic"), ("http", "basic"), ("http", "ntlm")]

    def work(index: int) -> None:
        scheme, transport = variants[index % len(variants)]
        try:
            client = session(winrm_lab, scheme, transport, server=("EX01", "EX02")[index // 5])
            output = b""
            for round_ in range(3):
                output += client.run_cmd("echo", [f"client-{index}-{round_}"]).std_out
            results[index] = output
        except BaseException as error:  # collected: a thread's failure must fail the test
            errors.append(error)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert results == {i: b"".join(f"client-{i}-{r}\r\n".encode() for r in range(3)) for i in range(10)}


def test_transport_error_for_a_bad_encrypted_body(winrm_lab):
    """A body sealed under another connection's keys does not decrypt: 400, as a tampered message would get."""
    first = protocol(winrm_lab, "http", "ntlm")
    first.close_shell(first.open_shell(), close_session=False)
    second = protocol(winrm_lab, "http", "ntlm")
    second.close_shell(second.open_shell(), close_session=False)
    # Swap the security contexts: the second connection now seals with the first one's keys.
    second.transport.session.auth.session_security = first.transport.session.auth.session_security
    with pytest.raises(WinRMTransportError) as error:
        second.open_shell()
    assert error.value.code == 400


def test_idle_shells_expire(winrm_lab):
    client = protocol(winrm_lab, "https", "basic")
    shell_id = client.open_shell(idle_timeout="PT1S")  # pywinrm passes it through: an xs:duration
    time.sleep(1.3)
    with pytest.raises(WSManFaultError) as fault:
        client.run_command(shell_id, "echo", ["x"])
    assert fault.value.wsman_fault_code == 2150858843
    assert winrm_lab.lab.services["EX01"].shells.count() == 0


def test_envelope_larger_than_max_envelope_size_is_refused(winrm_lab):
    shell_id = create_shell(winrm_lab)
    status, reply, _ = raw_request(
        winrm_lab, "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command",
        "<rsp:CommandLine><rsp:Command>echo</rsp:Command><rsp:Arguments>" + "x" * 520_000 + "</rsp:Arguments></rsp:CommandLine>", shell_id)
    assert status == 500
    assert reply.find(".//s:Subcode/s:Value", NS).text == "w:EncodingLimit"
    assert winrm_lab.processes.started == []
