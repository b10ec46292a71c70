"""The lab's WinRM endpoint with the real pywinrm client: transports, authentication, encryption, TLS."""

from __future__ import annotations

import base64
import hashlib

import pytest
import requests
import winrm
from requests_ntlm import HttpNtlmAuth
from winrm.exceptions import InvalidCredentialsError

from lab_support import http_lines, protocol, session

TRANSPORTS = [
    pytest.param("http", "basic", id="basic-http"),
    pytest.param("http", "ntlm", id="ntlm-http-encrypted"),
    pytest.param("https", "ntlm", id="ntlm-https"),
    pytest.param("https", "basic", id="basic-https"),
]


@pytest.mark.parametrize("scheme,transport", TRANSPORTS)
def test_run_cmd_and_run_ps(winrm_lab, scheme, transport):
    client = session(winrm_lab, scheme, transport)

    result = client.run_cmd("echo", ["hello", "world"])
    assert (result.status_code, result.std_out, result.std_err) == (0, b"hello world\r\n", b"")

    script = "Get-AcceptedDomain | ConvertTo-Json -Depth 2  # é"
    result = client.run_ps(script)
    assert result.status_code == 0
    # The fake process prints the script decoded from -encodedcommand: the command line arrived intact.
    assert result.std_out.decode() == script
    started = winrm_lab.processes.started[-1]
    assert started.command_line.startswith("powershell -encodedcommand ")
    assert (started.server, started.user) == ("EX01", winrm_lab.endpoints["username"])


@pytest.mark.parametrize("scheme,transport", TRANSPORTS)
def test_stdin_fed_command(winrm_lab, scheme, transport):
    client = protocol(winrm_lab, scheme, transport)
    shell_id = client.open_shell()
    command_id = client.run_command(shell_id, "cat")
    client.send_command_input(shell_id, command_id, b"Get-Date\r\n")
    client.send_command_input(shell_id, command_id, b"Get-Mailbox\r\n", end=True)
    stdout, stderr, code = client.get_command_output(shell_id, command_id)
    client.cleanup_command(shell_id, command_id)
    client.close_shell(shell_id)
    assert (stdout, stderr, code) == (b"Get-Date\r\nGet-Mailbox\r\n", b"", 0)
    assert winrm_lab.processes.started[-1].stdin_ended


def test_failing_command_reports_stderr_and_exit_code(winrm_lab):
    result = session(winrm_lab, "http", "basic").run_cmd("fail", ["3", "boom"])
    assert (result.status_code, result.std_err) == (3, b"boom\r\n")
    result = session(winrm_lab, "http", "basic").run_cmd("nosuchtool")
    assert result.status_code == 1
    assert b"'nosuchtool' is not recognized as an internal or external command" in result.std_err


def test_ntlm_over_http_is_encrypted_on_the_wire(winrm_lab):
    session(winrm_lab, "http", "ntlm").run_cmd("echo", ["secret-marker"])
    served = [line for line in http_lines(winrm_lab) if line["action"]]
    assert served and all(line["encrypted"] == "message" and line["auth"] == "ntlm" for line in served)
    assert all(line["user"] == winrm_lab.endpoints["username"] for line in served)


def test_encrypted_body_is_not_plain_soap(winrm_lab):
    """Capture what pywinrm puts on the wire: sealed bytes, not the SOAP envelope."""
    client = protocol(winrm_lab, "http", "ntlm")
    transport = client.transport
    sent_bodies = []
    original = transport._send_message_request

    def capture(session_, prepared):
        sent_bodies.append((prepared.headers.get("Content-Type"), prepared.body or b""))
        response = original(session_, prepared)
        sent_bodies.append((response.headers.get("Content-Type"), response.content))
        return response

    transport._send_message_request = capture
    shell_id = client.open_shell()
    client.close_shell(shell_id)
    encrypted = [(kind, body) for kind, body in sent_bodies if body]
    assert encrypted, "no message went over the wire"
    for kind, body in encrypted:
        assert kind.startswith("multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\"")
        assert b"<s:Envelope" not in body and b"Envelope" not in body.split(b"octet-stream")[1]


def test_unencrypted_ntlm_over_http_is_refused(winrm_lab):
    client = session(winrm_lab, "http", "ntlm", message_encryption="never")
    with pytest.raises(InvalidCredentialsError):
        client.run_cmd("echo", ["x"])
    refused = http_lines(winrm_lab)[-1]
    assert refused["status"] == 401 and "AllowUnencrypted" in refused["refused"]


def test_basic_over_http_is_recorded_as_unencrypted(winrm_lab):
    session(winrm_lab, "http", "basic").run_cmd("echo", ["x"])
    served = [line for line in http_lines(winrm_lab) if line["action"]]
    assert served and all(line["encrypted"] is False and line["auth"] == "basic" for line in served)


@pytest.mark.parametrize("scheme,transport", TRANSPORTS)
def test_wrong_password_is_rejected(winrm_lab, scheme, transport):
    client = session(winrm_lab, scheme, transport, password="not-the-password")
    with pytest.raises(InvalidCredentialsError, match="the specified credentials were rejected by the server"):
        client.run_cmd("echo", ["x"])
    assert winrm_lab.processes.started == []


def test_unknown_user_is_rejected(winrm_lab):
    with pytest.raises(InvalidCredentialsError):
        session(winrm_lab, "https", "ntlm", username="CORP\\mallory", password="whatever").run_cmd("echo", ["x"])


def test_https_without_the_lab_ca_fails_validation(winrm_lab):
    client = winrm.Session(winrm_lab.url("EX01", "https"), auth=(winrm_lab.endpoints["username"], winrm_lab.endpoints["password"]),
                           transport="ntlm", server_cert_validation="validate", ca_trust_path=requests.certs.where())
    with pytest.raises(requests.exceptions.SSLError):
        client.run_cmd("echo", ["x"])


def test_https_certificate_names_the_server(winrm_lab):
    from cryptography import x509

    cert_path, _ = winrm_lab.context.ca.server_credentials([], stem="winrm-EX02")
    certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "ex02.corp.contoso.com" in names.get_values_for_type(x509.DNSName)
    assert "localhost" in names.get_values_for_type(x509.DNSName)


class _WrongBindingAuth(HttpNtlmAuth):
    """An NTLM client that binds to another certificate, as one behind a TLS-intercepting proxy would."""

    def _get_server_cert(self, response):
        return hashlib.sha256(b"a certificate the server does not have").digest()


def _post_empty(lab, auth) -> requests.Response:
    return requests.post(lab.url("EX01", "https"), data=b"", auth=auth, verify=lab.endpoints["ca_bundle"],
                         headers={"Content-Type": "application/soap+xml;charset=UTF-8"})


def test_https_channel_binding_is_checked(winrm_lab):
    user, password = winrm_lab.endpoints["username"], winrm_lab.endpoints["password"]
    assert _post_empty(winrm_lab, HttpNtlmAuth(user, password)).status_code == 200
    assert _post_empty(winrm_lab, _WrongBindingAuth(user, password)).status_code == 401
    assert _post_empty(winrm_lab, HttpNtlmAuth(user, password, send_cbt=False)).status_code == 401
    refusal = http_lines(winrm_lab)[-1]["refused"]
    assert "bindings" in refusal.lower()


def test_unauthenticated_request_offers_the_schemes(winrm_lab):
    response = requests.post(winrm_lab.url("EX01", "http"), data=b"<x/>")
    assert response.status_code == 401
    offers = response.headers["WWW-Authenticate"]
    assert "Negotiate" in offers and "NTLM" in offers and 'Basic realm="WSMAN"' in offers


def test_ntlm_authenticates_the_connection_not_the_request(winrm_lab):
    """After the handshake, requests on the same connection carry no Authorization header and are served."""
    client = protocol(winrm_lab, "https", "ntlm")
    shell_id = client.open_shell()
    authorization_headers = []
    original = client.transport._send_message_request

    def capture(session_, prepared):
        authorization_headers.append(prepared.headers.get("Authorization"))
        return original(session_, prepared)

    client.transport._send_message_request = capture
    command_id = client.run_command(shell_id, "echo", ["again"])
    assert client.get_command_output(shell_id, command_id)[0] == b"again\r\n"
    client.close_shell(shell_id)
    assert authorization_headers and all(header is None for header in authorization_headers)


def test_basic_credentials_in_upn_form(winrm_lab):
    user = winrm_lab.endpoints["username"].split("\\")[1] + "@corp.contoso.com"
    result = session(winrm_lab, "https", "basic", username=user).run_cmd("echo", ["upn"])
    assert result.std_out == b"upn\r\n"
    # The process runs as the canonical DOMAIN\user.
    assert winrm_lab.processes.started[-1].user == winrm_lab.endpoints["username"]


def test_basic_over_http_can_be_refused(winrm_lab, tmp_path):
    """With --refuse-basic-over-http the lab behaves like Windows' default AllowUnencrypted=false for Basic too."""
    from lab_support import FakeOrganization, FakeProcesses
    from exchange_lab.ca import LabCA
    from exchange_lab.context import LabContext
    from exchange_lab.faults import Faults
    from exchange_lab.lab import Lab
    from exchange_lab.observe import Observer
    from exchange_lab.users import Users

    org = FakeOrganization(servers=("EX01",))
    # NTLM_USER_FILE is process-wide: a second lab in this process shares the running lab's users file.
    users = Users(winrm_lab.context.users.path, org.netbios_domain)
    context = LabContext(tmp_path, org, users, LabCA(tmp_path), Faults(tmp_path), Observer(tmp_path, users.passwords()))
    with Lab.start(tmp_path, context=context, process_factory=FakeProcesses(), basic_over_http=False) as lab:
        auth = (users.default.principal, users.default.password)
        with pytest.raises(InvalidCredentialsError):
            winrm.Session(lab.endpoints["servers"]["EX01"]["http"], auth=auth, transport="basic", ca_trust_path=lab.endpoints["ca_bundle"]).run_cmd("echo", ["x"])
        https = winrm.Session(lab.endpoints["servers"]["EX01"]["https"], auth=auth, transport="basic", ca_trust_path=lab.endpoints["ca_bundle"])
        assert https.run_cmd("echo", ["ok"]).std_out == b"ok\r\n"
        ntlm = winrm.Session(lab.endpoints["servers"]["EX01"]["http"], auth=auth, transport="ntlm", ca_trust_path=lab.endpoints["ca_bundle"])
        assert ntlm.run_cmd("echo", ["encrypted"]).std_out == b"encrypted\r\n"
        kept_alive = winrm.protocol.Protocol(lab.endpoints["servers"]["EX01"]["http"], transport="ntlm", username=auth[0], password=auth[1],
                                                 ca_trust_path=lab.endpoints["ca_bundle"])
        shell_id = kept_alive.open_shell()
    assert not (tmp_path / "endpoints.json").exists()
    # A stopped lab does not keep serving clients whose connections were kept alive.
    with pytest.raises(requests.exceptions.ConnectionError):
        kept_alive.run_command(shell_id, "echo", ["too late"])


def test_long_command_lines_reach_the_process_verbatim(winrm_lab):
    """The endpoint does not cut command lines: judging their length (8,191 for cmd.exe) is the process's job."""
    script = "Write-Output '" + "x" * 9000 + "'"
    result = session(winrm_lab, "https", "ntlm").run_ps(script)
    assert result.std_out.decode() == script
    assert len(winrm_lab.processes.started[-1].command_line) > 8191


def test_basic_header_round_trip_is_plain_base64(winrm_lab):
    """Basic is pre-emptive: the very first request carries the credentials and is served without a 401."""
    user, password = winrm_lab.endpoints["username"], winrm_lab.endpoints["password"]
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    response = requests.post(winrm_lab.url("EX01", "https"), data=b"", verify=winrm_lab.endpoints["ca_bundle"],
                             headers={"Authorization": f"Basic {token}"})
    assert response.status_code == 200


CREATE_SHELL = (
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell">'
    "<s:Header><w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</w:ResourceURI>"
    "<a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Create</a:Action><a:MessageID>uuid:0A6D1C2E-1111-4222-8333-944455556666</a:MessageID>"
    "<w:OperationTimeout>PT20S</w:OperationTimeout></s:Header>"
    "<s:Body><rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell></s:Body></s:Envelope>"
)


def _spnego_logon(lab, scheme: str, http: requests.Session, bindings=None):
    # verify= per request: REQUESTS_CA_BUNDLE in the environment would override a Session's verify.
    """Log on with NTLM wrapped in SPNEGO, as Windows clients and pyspnego's negotiate clients do."""
    import spnego

    client = spnego.client(lab.endpoints["username"], lab.endpoints["password"], hostname="localhost", service="http",
                           protocol="negotiate", channel_bindings=bindings)
    token = client.step()
    url = lab.url("EX01", scheme)
    while True:
        response = http.post(url, data=b"", verify=lab.endpoints["ca_bundle"] if scheme == "https" else True,
                             headers={"Authorization": "Negotiate " + base64.b64encode(token).decode()})
        offered = response.headers.get("WWW-Authenticate", "")
        if response.status_code != 401 or not offered.startswith("Negotiate "):
            break
        token = client.step(base64.b64decode(offered.split(" ", 1)[1]))
    if offered.startswith("Negotiate "):
        client.step(base64.b64decode(offered.split(" ", 1)[1]))  # the server's mechListMIC
    return client, response


def test_spnego_wrapped_ntlm_over_https(winrm_lab):
    from spnego.channel_bindings import GssChannelBindings

    from exchange_lab.winrm.auth import channel_bindings_for

    cert_path, _ = winrm_lab.context.ca.server_credentials([], stem="winrm-EX01")
    with requests.Session() as http:
        bindings = channel_bindings_for(cert_path.read_bytes())
        client, response = _spnego_logon(winrm_lab, "https", http, GssChannelBindings(application_data=bindings.application_data))
        assert response.status_code == 200 and client.complete
        created = http.post(winrm_lab.url("EX01", "https"), data=CREATE_SHELL.encode(), verify=winrm_lab.endpoints["ca_bundle"],
                            headers={"Content-Type": "application/soap+xml;charset=UTF-8"})
        assert created.status_code == 200 and b'Name="ShellId"' in created.content
    assert http_lines(winrm_lab)[-1]["auth"] == "negotiate"


def test_spnego_wrapped_ntlm_over_http_is_encrypted(winrm_lab):
    from exchange_lab.winrm import encryption

    with requests.Session() as http:
        client, response = _spnego_logon(winrm_lab, "http", http)
        assert response.status_code == 200
        plain = http.post(winrm_lab.url("EX01", "http"), data=CREATE_SHELL.encode(),
                          headers={"Content-Type": "application/soap+xml;charset=UTF-8"})
        assert plain.status_code == 401  # AllowUnencrypted=false
    with requests.Session() as http:
        client, response = _spnego_logon(winrm_lab, "http", http)
        sealed = http.post(winrm_lab.url("EX01", "http"), data=encryption.encrypt(client, CREATE_SHELL.encode()),
                           headers={"Content-Type": encryption.CONTENT_TYPE})
        assert sealed.status_code == 200 and encryption.is_encrypted(sealed.headers["Content-Type"])
        assert b'Name="ShellId"' in encryption.decrypt(client, sealed.content)


def test_kerberos_is_not_available(winrm_lab):
    """A Kerberos-only SPNEGO token cannot be accepted: the lab has no KDC."""
    # SPNEGO NegTokenInit whose only mechanism is Kerberos (1.2.840.113554.1.2.2).
    kerberos_only_init = bytes.fromhex("601b06062b0601050502a011300fa00d300b06092a864886f712010202")
    response = requests.post(winrm_lab.url("EX01", "http"), data=b"",
                             headers={"Authorization": "Negotiate " + base64.b64encode(kerberos_only_init).decode()})
    assert response.status_code == 401
    assert "no Kerberos" in http_lines(winrm_lab)[-1]["refused"]
