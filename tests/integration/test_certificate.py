"""exchange_certificate against the lab: request -> the lab CA signs -> complete and enable -> re-run; PFX; absent."""

import datetime as dt
import json
import os
import stat
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from labstate import changes
from labtools import LAB_ROOT, REPO, assert_one_session, self_signed_pfx, versions, write_commands

from ansible_collections.mailops.exchange.plugins.module_utils import certificate_info as ci

pytestmark = pytest.mark.slow

NAMES = ["mail.contoso.com", "owa.contoso.com", "autodiscover.contoso.com"]


def certificates(lab, server="EX01"):
    result = lab.run_module("exchange_info", {"gather": ["certificates"], "servers": [server]})
    assert result.get("failed") is not True, result
    return {c["thumbprint"]: c for c in result["servers"][0]["certificates"]}


def sign(lab, csr_path, out_path, days=365):
    env = dict(os.environ, PYTHONPATH=str(LAB_ROOT))
    subprocess.run([sys.executable, "-m", "exchange_lab", "sign-csr", "--state", str(lab.state_dir), "--csr", str(csr_path),
                    "--out", str(out_path), "--days", str(days)], env=env, check=True, cwd=str(REPO),
                   capture_output=True)


@pytest.mark.parametrize("version", versions())
def test_request_sign_complete_enable(lab_factory, version, tmp_path):
    lab = lab_factory(version)
    csr_path = tmp_path / "ex01-mail.req"
    request = {"server": "EX01", "state": "requested", "subject_name": "C=US, O=Contoso, CN=mail.contoso.com",
               "domain_names": NAMES, "friendly_name": "Contoso mail", "private_key_exportable": True,
               "csr_path": str(csr_path)}
    state0 = lab.lab_state()
    store0 = certificates(lab)

    # Check mode: reported, nothing made, no file.
    result = lab.run_module("exchange_certificate", request, check=True)
    assert result.get("failed") is not True, result
    assert result["changed"] is True and result["commands"][0].startswith("New-ExchangeCertificate -Server 'EX01' -GenerateRequest")
    assert write_commands(lab) == [] and not csr_path.exists()
    assert changes(state0, lab.lab_state()) == []

    # The request.
    result = lab.run_module("exchange_certificate", request)
    assert result["changed"] is True, result
    assert write_commands(lab) == ["New-ExchangeCertificate"]
    assert_one_session(lab)
    assert stat.S_IMODE(os.stat(csr_path).st_mode) == 0o600
    assert csr_path.read_text() == result["csr"]
    csr = x509.load_pem_x509_csr(result["csr"].encode())
    assert ci.windows_name(csr.subject) == "C=US, O=Contoso, CN=mail.contoso.com"
    assert set(ci.dns_names(csr)) == set(NAMES)
    assert result["status"] == "PendingRequest"
    pending_thumbprint = result["thumbprint"]
    store1 = certificates(lab)
    assert set(store1) - set(store0) == {pending_thumbprint}
    assert store1[pending_thumbprint]["pending"] is True

    # Re-run: the pending request is reused; the same CSR comes back.
    result = lab.run_module("exchange_certificate", request)
    assert result["changed"] is False, result
    assert result["thumbprint"] == pending_thumbprint and csr_path.read_text() == result["csr"]
    assert write_commands(lab) == []
    assert set(certificates(lab)) == set(store1)

    # The lab's CA answers.
    answer = tmp_path / "ex01-mail.cer"
    sign(lab, csr_path, answer)
    issued = x509.load_pem_x509_certificate(answer.read_bytes())
    thumbprint = ci.thumbprint(issued)
    present = {"server": "EX01", "state": "present", "certificate_path": str(answer), "services": ["IIS", "SMTP"]}

    # Without replace_default_smtp: refused before any write (Exchange's prompt explained).
    state1 = lab.lab_state()
    result = lab.run_module("exchange_certificate", present)
    assert result.get("failed") is True, result
    assert "Overwrite the existing default SMTP certificate?" in result["msg"]
    assert "replace_default_smtp=true" in result["msg"]
    assert write_commands(lab) == []
    assert changes(state1, lab.lab_state()) == []

    present["replace_default_smtp"] = True
    result = lab.run_module("exchange_certificate", present, check=True, diff=True)
    assert result["changed"] is True and [c.split(" ", 1)[0] for c in result["commands"]] == [
        "Import-ExchangeCertificate", "Enable-ExchangeCertificate"]
    assert write_commands(lab) == []
    assert changes(state1, lab.lab_state()) == []

    result = lab.run_module("exchange_certificate", present, diff=True)
    assert result["changed"] is True, result
    assert write_commands(lab) == ["Import-ExchangeCertificate", "Enable-ExchangeCertificate"]
    assert result["commands"][1] == ("Enable-ExchangeCertificate -Server 'EX01' -Thumbprint '%s' -Services 'IIS, SMTP' "
                                     "-Force" % thumbprint)
    assert_one_session(lab)
    assert result["thumbprint"] == thumbprint
    # Through a plain Import-PSSession (the default exchange_shell) Exchange's Status does not arrive: unknown, not
    # guessed; the services come from the IIS binding and the default SMTP certificate.
    assert result["status"] is None and result["services"] == ["IIS", "SMTP"]
    assert set(result["services"]) >= {"IIS", "SMTP"}
    assert set(result["sans"]) == set(NAMES)
    assert result["tls_certificate_name"] == "<I>%s<S>C=US, O=Contoso, CN=mail.contoso.com" % ci.windows_name(issued.issuer)
    assert result["diff"]["before"] == {"present": False}
    store2 = certificates(lab)
    assert pending_thumbprint not in store2 and thumbprint in store2  # the request was completed
    assert set(store2[thumbprint]["services"]) >= {"IIS", "SMTP"}
    assert store2[thumbprint]["not_after"] == ci.iso(ci.not_after(issued))
    # Enabling IIS moved it away from the self-signed certificate, as on Exchange.
    assert all("IIS" not in (c["services"] or []) for t, c in store2.items() if t != thumbprint)

    # Re-run: the thumbprint is computed on the controller and found; nothing is uploaded.
    result = lab.run_module("exchange_certificate", present)
    assert result["changed"] is False, result
    assert result["commands"] == [] and write_commands(lab) == []
    assert_one_session(lab)

    # The request phase of a site.yml re-run makes no new request once the certificate is installed.
    result = lab.run_module("exchange_certificate", request)
    assert result["changed"] is False, result
    assert result["thumbprint"] == thumbprint and result["csr"] is None
    assert write_commands(lab) == []


def _pfx(tmp_path, password):
    path = tmp_path / "legacy.pfx"
    cert = self_signed_pfx(path, password, "legacy.contoso.com", b"legacy")
    return path, ci.thumbprint(cert)


def test_pfx_import_and_absent(lab, tmp_path):
    password = "Pfx-'$(secret)`pw"
    pfx, thumbprint = _pfx(tmp_path, password)
    before = lab.lab_state()

    result = lab.run_module("exchange_certificate", {"server": "EX02", "pfx_path": str(pfx), "pfx_password": "Not-The-Right-One"},
                            server="EX02")
    assert result.get("failed") is True and "wrong password" in result["msg"], result
    assert write_commands(lab) == []

    # POP and IMAP: Exchange's Services must arrive to know them, which a plain Import-PSSession does not give;
    # the Exchange Management Shell's own loading does.
    ems = {"EXCHANGE_SHELL": "remote_exchange_script"}
    args = {"server": "EX02", "pfx_path": str(pfx), "pfx_password": password, "services": ["POP", "IMAP"]}
    result = lab.run_module("exchange_certificate", args, server="EX02", extra_env=ems)
    assert result["changed"] is True, result
    assert write_commands(lab) == ["Import-ExchangeCertificate", "Enable-ExchangeCertificate"]
    assert result["thumbprint"] == thumbprint and set(result["services"]) >= {"POP", "IMAP"}
    everything = json.dumps(result) + lab.last_run["stdout"] + lab.last_run["stderr"]
    assert password not in everything
    assert "ConvertTo-SecureString '********'" in result["commands"][0]
    assert_one_session(lab, "EX02")
    for line in lab.last_run["transcript"]:
        assert password not in (line.get("command_line") or "")
    assert thumbprint in certificates(lab, "EX02")

    result = lab.run_module("exchange_certificate", args, server="EX02", extra_env=ems)
    assert result["changed"] is False and write_commands(lab) == [], result
    # Over a plain session the state of POP and IMAP is unknown: enabled again (additive), with a warning.
    result = lab.run_module("exchange_certificate", args, server="EX02")
    assert result["changed"] is True and write_commands(lab) == ["Enable-ExchangeCertificate"], result
    assert any("could not be read" in w for w in result.get("warnings", [])), result

    result = lab.run_module("exchange_certificate", {"server": "EX02", "state": "absent", "thumbprint": thumbprint},
                            server="EX02", diff=True)
    assert result["changed"] is True, result
    assert result["commands"] == ["Remove-ExchangeCertificate -Server 'EX02' -Thumbprint '%s' -Confirm:$false" % thumbprint]
    assert result["diff"]["before"]["present"] is True
    assert thumbprint not in certificates(lab, "EX02")
    result = lab.run_module("exchange_certificate", {"server": "EX02", "state": "absent", "thumbprint": thumbprint},
                            server="EX02")
    assert result["changed"] is False and write_commands(lab) == []
    assert [p for p in changes(before, lab.lab_state()) if "certificates" in p and "EX01" not in p] == []


def test_refusals_before_any_write(lab, tmp_path):
    before = lab.lab_state()
    stranger_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.contoso.com")])
    now = dt.datetime.now(dt.timezone.utc)
    expired = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(stranger_key.public_key())
               .serial_number(5).not_valid_before(now - dt.timedelta(days=30)).not_valid_after(now - dt.timedelta(days=1))
               .sign(stranger_key, hashes.SHA256()))
    unmatched = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(stranger_key.public_key())
                 .serial_number(6).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
                 .sign(stranger_key, hashes.SHA256()))
    cases = [
        ({"certificate_content": expired.public_bytes(serialization.Encoding.PEM).decode()}, "expired on"),
        ({"certificate_content": unmatched.public_bytes(serialization.Encoding.PEM).decode()},
         "does not answer any pending request"),
        ({"certificate_path": str(tmp_path / "missing.cer")}, "does not exist"),
        ({"certificate_content": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}, "cannot be read"),
        ({"state": "requested", "subject_name": "mail.contoso.com"}, "not a valid X.500 name"),
        ({"state": "absent"}, "needs thumbprint"),
    ]
    for extra, message in cases:
        args = {"server": "EX01"}
        args.update(extra)
        result = lab.run_module("exchange_certificate", args)
        assert result.get("failed") is True, (extra, result)
        assert message in result["msg"], (message, result["msg"])
        assert write_commands(lab) == []
    assert changes(before, lab.lab_state()) == []
