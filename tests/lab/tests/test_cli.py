"""``python -m exchange_lab``: the CLI contract other tools rely on (serve, show-state, sign-csr)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import signal
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from lab_support import LAB_ROOT, LabProcess, serve_args


def _importable(module: str, name: str) -> bool:
    try:
        return hasattr(__import__(module, fromlist=[name]), name)
    except Exception:
        return False


HAVE_ORGANIZATION = _importable("exchange_lab.exchange", "Organization")
HAVE_HOST = _importable("exchange_lab.powershell.host", "start_process")
needs_organization = pytest.mark.skipif(not HAVE_ORGANIZATION, reason="exchange_lab.exchange.Organization is not importable yet")
needs_full_lab = pytest.mark.skipif(
    not (HAVE_ORGANIZATION and HAVE_HOST), reason="exchange_lab.exchange.Organization or exchange_lab.powershell.host is not importable yet"
)


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(LAB_ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "exchange_lab", *args], env=env, capture_output=True, text=True, timeout=timeout)


def make_csr(names: list[str]) -> tuple[bytes, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0]), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Contoso")]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM), key


def test_sign_csr_issues_a_certificate_from_the_lab_ca(tmp_path):
    csr_pem, key = make_csr(["mail.contoso.com", "autodiscover.contoso.com"])
    (tmp_path / "req.pem").write_bytes(csr_pem)
    result = run_cli("sign-csr", "--state", str(tmp_path / "state"), "--csr", str(tmp_path / "req.pem"), "--out", str(tmp_path / "cert.pem"), "--days", "30")
    assert result.returncode == 0, result.stderr

    certificate = x509.load_pem_x509_certificate((tmp_path / "cert.pem").read_bytes())
    ca = x509.load_pem_x509_certificate((tmp_path / "state" / "ca" / "ca.pem").read_bytes())
    assert certificate.issuer == ca.subject
    ca.public_key().verify(certificate.signature, certificate.tbs_certificate_bytes, padding.PKCS1v15(), certificate.signature_hash_algorithm)
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "mail.contoso.com"
    sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert sans == ["mail.contoso.com", "autodiscover.contoso.com"]
    lifetime = certificate.not_valid_after_utc - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(days=29) < lifetime <= dt.timedelta(days=30)
    assert certificate.public_key().public_numbers() == key.public_key().public_numbers()


def test_sign_csr_answers_a_request_once_and_replaces_an_answer_for_another_key(tmp_path):
    """Two runs started together both have the lab CA answer the same request: the second keeps the first answer
    (both import the same certificate); an answer for another key is replaced, whole (never half a file)."""
    csr_pem, _key = make_csr(["mail.contoso.com"])
    (tmp_path / "req.pem").write_bytes(csr_pem)
    args = ("sign-csr", "--state", str(tmp_path / "state"), "--csr", str(tmp_path / "req.pem"), "--out", str(tmp_path / "cert.pem"))
    assert run_cli(*args).returncode == 0
    first = (tmp_path / "cert.pem").read_bytes()
    assert run_cli(*args).returncode == 0
    assert (tmp_path / "cert.pem").read_bytes() == first
    other_pem, other_key = make_csr(["mail.contoso.com"])
    (tmp_path / "req.pem").write_bytes(other_pem)
    assert run_cli(*args).returncode == 0
    replaced = x509.load_pem_x509_certificate((tmp_path / "cert.pem").read_bytes())
    assert replaced.public_key().public_numbers() == other_key.public_key().public_numbers()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cert.pem", "req.pem", "state"]


def test_sign_csr_refuses_what_is_not_a_request(tmp_path):
    (tmp_path / "req.pem").write_text("-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n-----END CERTIFICATE REQUEST-----\n")
    result = run_cli("sign-csr", "--state", str(tmp_path), "--csr", str(tmp_path / "req.pem"), "--out", str(tmp_path / "cert.pem"))
    assert result.returncode == 2
    assert "cannot read a PEM certificate request" in result.stderr
    assert not (tmp_path / "cert.pem").exists()


def test_serve_requires_a_state_directory():
    result = run_cli("serve", "--version", "2019")
    assert result.returncode == 2 and "--state" in result.stderr


@needs_full_lab
def test_serve_writes_endpoints_and_stops_cleanly_on_sigterm(lab_process):
    endpoints = lab_process(servers=("EX01", "EX02"), domain="corp.contoso.com")
    lab = endpoints.pop("process")
    assert set(endpoints["servers"]) == {"EX01", "EX02"}
    assert endpoints["servers"]["EX01"]["fqdn"] == "ex01.corp.contoso.com"
    urls = [url for server in endpoints["servers"].values() for url in (server["http"], server["https"])]
    assert len(set(urls)) == 4
    assert all(url.startswith(("http://127.0.0.1:", "https://127.0.0.1:")) and url.endswith("/wsman") for url in urls)
    assert os.path.isfile(endpoints["ca_bundle"])
    assert endpoints["username"] == "CORP\\administrator" and endpoints["password"]
    assert (endpoints["version"], endpoints["domain"]) == ("2019", "corp.contoso.com")

    assert lab.stop() == 0
    assert not (lab.state_dir / "endpoints.json").exists()


@needs_full_lab
def test_serve_exits_zero_on_sigint(tmp_path):
    lab = LabProcess(tmp_path, serve_args(servers=("EX01",)))
    lab.wait_for_endpoints()
    lab.process.send_signal(signal.SIGINT)
    assert lab.process.wait(20) == 0


@needs_full_lab
def test_fixed_base_port_numbers_each_server(tmp_path):
    import socket

    # Find four consecutive free ports.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        base = probe.getsockname()[1]
    base = base - base % 2
    lab = LabProcess(tmp_path, ["--version", "2016", "--servers", "EX01,EX02", "--domain", "corp.contoso.com", "--base-port", str(base)])
    try:
        endpoints = lab.wait_for_endpoints()
    except RuntimeError as error:
        if "Address already in use" in str(error):
            pytest.skip("the probed port range was taken meanwhile")
        raise
    try:
        assert endpoints["servers"]["EX01"]["http"] == f"http://127.0.0.1:{base}/wsman"
        assert endpoints["servers"]["EX01"]["https"] == f"https://127.0.0.1:{base + 1}/wsman"
        assert endpoints["servers"]["EX02"]["http"] == f"http://127.0.0.1:{base + 2}/wsman"
        assert endpoints["servers"]["EX02"]["https"] == f"https://127.0.0.1:{base + 3}/wsman"
    finally:
        assert lab.stop() == 0


@needs_full_lab
def test_show_state_prints_the_organisation_and_it_survives_a_restart(lab_process, tmp_path):
    endpoints = lab_process(state_dir=tmp_path, version="2016", servers=("EX01",), domain="corp.fabrikam.com")
    endpoints["process"].stop()
    first = run_cli("show-state", "--state", str(tmp_path))
    assert first.returncode == 0, first.stderr
    snapshot = json.loads(first.stdout)
    assert "2016" in json.dumps(snapshot) and "corp.fabrikam.com" in json.dumps(snapshot)

    # Other seed arguments for an existing organisation are refused, not silently applied.
    conflict = LabProcess(tmp_path, serve_args("2019", ("EX01",), "corp.fabrikam.com"))
    assert conflict.process.wait(60) == 2
    assert "seeded differently" in conflict.log() and "Exchange 2016" in conflict.log()
    conflict.stop()

    again = lab_process(state_dir=tmp_path, version=None, servers=None, domain=None)  # the organisation is kept
    assert (again["version"], again["domain"], set(again["servers"])) == ("2016", "corp.fabrikam.com", {"EX01"})
    again["process"].stop()
    assert json.loads(run_cli("show-state", "--state", str(tmp_path)).stdout) == snapshot


def test_show_state_of_a_missing_lab(tmp_path):
    result = run_cli("show-state", "--state", str(tmp_path / "nothing"))
    assert result.returncode == 2 and "no lab state" in result.stderr


def _session(endpoints, server="EX01", scheme="https"):
    import winrm

    return winrm.Session(endpoints["servers"][server][scheme], auth=(endpoints["username"], endpoints["password"]),
                         transport="ntlm", server_cert_validation="validate", ca_trust_path=endpoints["ca_bundle"])


@needs_full_lab
def test_end_to_end_run_ps_through_the_real_interpreter(lab_endpoints):
    """The real PowerShell host behind the endpoint: a script runs and its output comes back through WinRM."""
    result = _session(lab_endpoints, "EX01", "http").run_ps("$greeting = 'hello'\nWrite-Output \"$greeting from the lab\"")
    assert result.status_code == 0, result.std_err
    assert result.std_out.decode().strip() == "hello from the lab"


@needs_full_lab
def test_end_to_end_script_on_stdin(lab_endpoints):
    """``powershell -Command -`` runs the lines it reads from stdin; closing stdin ends the process."""
    client = _session(lab_endpoints, "EX02", "https").protocol
    shell_id = client.open_shell()
    command_id = client.run_command(shell_id, "powershell", ["-NoProfile", "-NonInteractive", "-Command", "-"])
    client.send_command_input(shell_id, command_id, b"Write-Output (6 * 7)\r\n", end=True)
    stdout, stderr, code = client.get_command_output(shell_id, command_id)
    client.cleanup_command(shell_id, command_id)
    client.close_shell(shell_id)
    assert code == 0, stderr
    assert stdout.decode().strip() == "42"


@needs_full_lab
def test_end_to_end_long_encodedcommand_fails_as_on_windows(lab_endpoints):
    """A 9,000-character -encodedcommand is longer than cmd.exe accepts: the host refuses it, nothing runs."""
    script = "Write-Output '" + "x" * 3355 + "'"
    client = _session(lab_endpoints, "EX01", "https")
    result = client.run_ps(script)
    assert len(f"powershell -encodedcommand {base64.b64encode(script.encode('utf-16-le')).decode()}") > 9000
    assert result.status_code == 1
    assert b"The command line is too long." in result.std_err
    assert result.std_out == b""
