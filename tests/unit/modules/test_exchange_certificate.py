"""exchange_certificate in-process against a fake session holding real certificates."""

from __future__ import annotations

import base64
import json
import os
import stat
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # the helpers next to this file (pytest runs with --import-mode=importlib)
sys.path.insert(0, os.path.join(HERE, "..", "module_utils"))
from clientaccess_fakes import FakeSession, run_module  # noqa: E402
from test_certificate_plan import MAIL, NAMES, Lab, self_signed  # noqa: E402

from ansible_collections.mailops.exchange.plugins.module_utils import certificate_info as ci  # noqa: E402
from ansible_collections.mailops.exchange.plugins.modules import exchange_certificate  # noqa: E402

REQUEST_ARGS = {"server": "EX01", "state": "requested", "subject_name": "C=US, O=Contoso, CN=mail.contoso.com",
                "domain_names": NAMES, "friendly_name": "Contoso mail"}


def session_for(lab, after=None):
    """Reads answer with the lab's store; write rounds answer with ``after`` (a Lab) or the same store."""
    def write_round(script):
        target = after or lab
        result = target.answer()
        result["request"] = getattr(target, "request_text", "")
        return result
    return FakeSession({"$__request = &": write_round, "foreach ($__line": write_round,
                        "Export-ExchangeCertificate": lambda script: lab.answer()})


def test_requested_makes_a_request_and_writes_the_csr(monkeypatch, capsys, tmp_path):
    lab = Lab()
    after = Lab()
    after.records = list(lab.records)
    csr, _unused, dummy = after.request(MAIL.__class__(list(reversed(list(MAIL)))), NAMES)  # as .NET encodes the subject
    der = csr.public_bytes(serialization.Encoding.DER)
    after.request_text = "-----BEGIN NEW CERTIFICATE REQUEST-----\r\n" + base64.b64encode(der).decode() + \
        "\r\n-----END NEW CERTIFICATE REQUEST-----\r\n"
    session = session_for(lab, after)
    path = tmp_path / "ex01.req"
    result = run_module(monkeypatch, capsys, exchange_certificate.main,
                        dict(REQUEST_ARGS, csr_path=str(path), _ansible_diff=True), session)
    assert result["changed"] is True
    assert result["commands"] == [
        "New-ExchangeCertificate -Server 'EX01' -GenerateRequest -SubjectName 'C=US, O=Contoso, CN=mail.contoso.com' "
        "-DomainName @('mail.contoso.com', 'owa.contoso.com', 'autodiscover.contoso.com') -FriendlyName 'Contoso mail' "
        "-KeySize 2048"]
    assert len(session.queries) == 2  # the read, then the write round (request + store read back)
    # The write round is marked as such: a session never sends it again once it may have run.
    assert session.write_queries == session.queries[1:]
    assert result["csr"] == csr.public_bytes(serialization.Encoding.PEM).decode()
    assert path.read_text() == result["csr"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert result["thumbprint"] == ci.thumbprint(dummy)
    assert result["status"] == "PendingRequest"
    assert result["diff"]["before"] == {"present": False}


def test_requested_rerun_reuses_the_pending_request(monkeypatch, capsys, tmp_path):
    lab = Lab()
    csr, _unused, dummy = lab.request(MAIL.__class__(list(reversed(list(MAIL)))), NAMES)
    path = tmp_path / "ex01.req"
    path.write_text(csr.public_bytes(serialization.Encoding.PEM).decode())
    os.chmod(path, 0o600)
    session = session_for(lab)
    result = run_module(monkeypatch, capsys, exchange_certificate.main, dict(REQUEST_ARGS, csr_path=str(path)), session)
    assert result["changed"] is False and result["commands"] == [] and len(session.queries) == 1
    assert result["thumbprint"] == ci.thumbprint(dummy)
    assert result["csr"] == path.read_text()


def test_requested_check_mode(monkeypatch, capsys, tmp_path):
    session = session_for(Lab())
    path = tmp_path / "ex01.req"
    result = run_module(monkeypatch, capsys, exchange_certificate.main,
                        dict(REQUEST_ARGS, csr_path=str(path), _ansible_check_mode=True), session)
    assert result["changed"] is True and len(result["commands"]) == 1
    assert len(session.queries) == 1 and not path.exists() and result["csr"] is None


def _completed(lab, csr, services="IIS, SMTP"):
    done = Lab()
    done.records = [dict(r) for r in lab.records if r["status"] != "PendingRequest"]
    signed = lab.sign(csr)
    done.add(signed, "Valid", services, "Contoso mail")
    done.records[0]["services"] = "IMAP, POP"
    return done, signed


def test_present_completes_and_enables(monkeypatch, capsys, tmp_path):
    lab = Lab()
    csr, _unused, _unused2 = lab.request(MAIL, NAMES)
    done, signed = _completed(lab, csr)
    answer = tmp_path / "ex01.cer"
    answer.write_bytes(signed.public_bytes(serialization.Encoding.PEM))
    session = session_for(lab, done)
    result = run_module(monkeypatch, capsys, exchange_certificate.main,
                        {"server": "EX01", "certificate_path": str(answer), "services": ["IIS", "SMTP"],
                         "replace_default_smtp": True}, session)
    thumb = ci.thumbprint(signed)
    assert result["changed"] is True
    assert result["commands"][0].startswith("Import-ExchangeCertificate -Server 'EX01' -FileData ")
    assert result["commands"][1] == ("Enable-ExchangeCertificate -Server 'EX01' -Thumbprint '%s' -Services 'IIS, SMTP' "
                                     "-Force" % thumb)
    assert len(session.queries) == 2
    assert result["thumbprint"] == thumb and result["status"] == "Valid" and result["services"] == ["IIS", "SMTP"]
    assert result["tls_certificate_name"] == "<I>CN=Exchange Lab Root CA<S>CN=mail.contoso.com, O=Contoso, C=US"
    assert result["sans"] == NAMES

    # Second run: the certificate is installed with its services: nothing is sent.
    session = session_for(done)
    result = run_module(monkeypatch, capsys, exchange_certificate.main,
                        {"server": "EX01", "certificate_path": str(answer), "services": ["IIS", "SMTP"],
                         "replace_default_smtp": True}, session)
    assert result["changed"] is False and result["commands"] == [] and len(session.queries) == 1


def test_present_refuses_smtp_without_replace_before_any_write(monkeypatch, capsys, tmp_path):
    lab = Lab()
    csr, _unused, _unused2 = lab.request(MAIL, NAMES)
    signed = lab.sign(csr)
    session = session_for(lab)
    result = run_module(monkeypatch, capsys, exchange_certificate.main,
                        {"server": "EX01", "certificate_content": signed.public_bytes(serialization.Encoding.PEM).decode(),
                         "services": ["IIS", "SMTP"]}, session)
    assert result["failed"] and "Overwrite the existing default SMTP certificate?" in result["msg"]
    assert len(session.queries) == 1 and result["commands"] == []


def test_present_check_mode(monkeypatch, capsys, tmp_path):
    lab = Lab()
    csr, _unused, _unused2 = lab.request(MAIL, NAMES)
    signed = lab.sign(csr)
    session = session_for(lab)
    result = run_module(monkeypatch, capsys, exchange_certificate.main,
                        {"server": "EX01", "certificate_content": signed.public_bytes(serialization.Encoding.PEM).decode(),
                         "services": ["IIS"], "_ansible_check_mode": True}, session)
    assert result["changed"] and len(result["commands"]) == 2 and len(session.queries) == 1
    assert result["thumbprint"] == ci.thumbprint(signed) and result["services"] == ["IIS"]


def test_pfx_wrong_password_and_secrets(monkeypatch, capsys, tmp_path):
    cert, key = self_signed(MAIL, NAMES)
    pfx = tmp_path / "mail.pfx"
    pfx.write_bytes(pkcs12.serialize_key_and_certificates(b"m", key, cert, None,
                                                          serialization.BestAvailableEncryption(b"Corr3ct-Horse")))
    session = session_for(Lab())
    result = run_module(monkeypatch, capsys, exchange_certificate.main,
                        {"server": "EX01", "pfx_path": str(pfx), "pfx_password": "wrong-one"}, session)
    assert result["failed"] and "wrong password" in result["msg"] and result["commands"] == []
    assert "wrong-one" not in json.dumps({k: v for k, v in result.items() if k != "invocation"})

    done = Lab()
    done.add(cert, "Valid", "IIS", "m")
    session = session_for(Lab(), done)
    result = run_module(monkeypatch, capsys, exchange_certificate.main,
                        {"server": "EX01", "pfx_path": str(pfx), "pfx_password": "Corr3ct-Horse", "services": ["IIS"]},
                        session)
    assert result["changed"] and "Corr3ct-Horse" not in json.dumps(result)
    assert "ConvertTo-SecureString '********'" in result["commands"][0]
    # What ran carried the real password (inside the script, on stdin).
    assert "Corr3ct-Horse" in session.queries[-1]


@pytest.mark.parametrize("args, message", [
    ({"state": "absent"}, "needs thumbprint"),
    ({"state": "present"}, "needs certificate_path"),
    ({"certificate_path": "/nonexistent/x.cer"}, "does not exist"),
    ({"state": "requested", "domain_names": ["a b"]}, "not a valid DNS name"),
    ({"state": "requested", "subject_name": "CN=x", "services": ["IIS"]}, "belong to state=present"),
    ({"thumbprint": "xyz"}, "not a certificate thumbprint"),
    ({"pfx_password": "s3cret-value", "thumbprint": "A" * 40}, "only used with pfx_path"),
])
def test_refusals_before_any_read(monkeypatch, capsys, args, message):
    session = session_for(Lab())
    result = run_module(monkeypatch, capsys, exchange_certificate.main, dict({"server": "EX01"}, **args), session)
    assert result["failed"] and message in result["msg"] and session.queries == []


def test_absent(monkeypatch, capsys):
    lab = Lab()
    _unused, _unused2, dummy = lab.request(MAIL, NAMES)
    thumb = ci.thumbprint(dummy)
    session = session_for(lab)
    result = run_module(monkeypatch, capsys, exchange_certificate.main,
                        {"server": "EX01", "state": "absent", "thumbprint": thumb.lower(), "_ansible_diff": True}, session)
    assert result["commands"] == ["Remove-ExchangeCertificate -Server 'EX01' -Thumbprint '%s' -Confirm:$false" % thumb]
    assert session.executed == [result["commands"]]
    assert result["diff"]["before"]["present"] is True and result["diff"]["after"] == {"present": False}


def test_present_by_thumbprint_manages_services(monkeypatch, capsys):
    lab = Lab()
    thumb = ci.thumbprint(lab.default)
    session = session_for(lab)
    result = run_module(monkeypatch, capsys, exchange_certificate.main,
                        {"server": "EX01", "thumbprint": thumb, "services": ["IIS", "SMTP", "POP"]}, session)
    assert result["changed"] is False and result["services"] == ["IMAP", "POP", "IIS", "SMTP"]


def test_requested_falls_back_to_the_saved_csr_when_export_fails(monkeypatch, capsys, tmp_path):
    lab = Lab()
    csr, _unused, dummy = lab.request(MAIL.__class__(list(reversed(list(MAIL)))), NAMES)
    lab.records[-1]["request"] = ""  # Export-ExchangeCertificate gave nothing
    path = tmp_path / "ex01.req"
    session = session_for(lab)
    result = run_module(monkeypatch, capsys, exchange_certificate.main, dict(REQUEST_ARGS, csr_path=str(path)), session)
    assert result["failed"] and "could not be exported" in result["msg"]
    path.write_text(csr.public_bytes(serialization.Encoding.PEM).decode())
    result = run_module(monkeypatch, capsys, exchange_certificate.main, dict(REQUEST_ARGS, csr_path=str(path)),
                        session_for(lab))
    assert result["changed"] is False and result["thumbprint"] == ci.thumbprint(dummy)
    # A file holding another key's request is not taken for this one.
    other, _unused, _unused2 = Lab().request(MAIL, NAMES)
    path.write_text(other.public_bytes(serialization.Encoding.PEM).decode())
    result = run_module(monkeypatch, capsys, exchange_certificate.main, dict(REQUEST_ARGS, csr_path=str(path)),
                        session_for(lab))
    assert result["failed"] and "could not be exported" in result["msg"]


# -- the CA hook (ca_command): the organisation's CA asked once the request is pending and written ------------------

HOOK = """import json, os, sys
with open(os.environ["MAILOPS_ANSWER_PATH"] + ".asked", "w") as log:
    json.dump({"argv": sys.argv[1:], "csr": os.environ["MAILOPS_CSR_PATH"], "server": os.environ["MAILOPS_SERVER"],
               "csr_there": os.path.isfile(os.environ["MAILOPS_CSR_PATH"])}, log)
if sys.argv[1] == "fail":
    sys.stderr.write("the CA is unreachable\\n")
    sys.exit(3)
open(os.environ["MAILOPS_ANSWER_PATH"], "w").write("answer")
"""


def _hook(tmp_path, mode):
    script = tmp_path / "ask-ca.py"
    script.write_text(HOOK)
    return [sys.executable, str(script), mode, "two words; $HOME"]


def _pending(tmp_path):
    lab = Lab()
    csr, _unused, dummy = lab.request(MAIL.__class__(list(reversed(list(MAIL)))), NAMES)
    return lab, dummy


def test_the_ca_hook_runs_once_the_request_is_pending_and_written(monkeypatch, capsys, tmp_path):
    lab, dummy = _pending(tmp_path)
    csr_path, answer = tmp_path / "EX01.req", tmp_path / "EX01.cer"
    result = run_module(monkeypatch, capsys, exchange_certificate.main,
                        dict(REQUEST_ARGS, csr_path=str(csr_path), ca_command=_hook(tmp_path, "answer"),
                             ca_answer_path=str(answer)), session_for(lab))
    asked = json.loads((tmp_path / "EX01.cer.asked").read_text())
    # No shell: the arguments arrive as written; the request was on disk before the CA was asked.
    assert asked == {"argv": ["answer", "two words; $HOME"], "csr": str(csr_path), "server": "EX01", "csr_there": True}
    assert result["ca_answered"] is True and answer.read_text() == "answer"
    assert result["changed"] is True and result["commands"] == [] and result["thumbprint"] == ci.thumbprint(dummy)


def test_a_failing_ca_hook_fails_the_task_with_its_output(monkeypatch, capsys, tmp_path):
    lab, _unused = _pending(tmp_path)
    result = run_module(monkeypatch, capsys, exchange_certificate.main,
                        dict(REQUEST_ARGS, csr_path=str(tmp_path / "EX01.req"), ca_command=_hook(tmp_path, "fail"),
                             ca_answer_path=str(tmp_path / "EX01.cer")), session_for(lab))
    assert result["failed"] is True and result["rc"] == 3
    assert "exited with 3 for server EX01: the CA is unreachable" in result["msg"]
    assert "stays pending on the server" in result["msg"] and result["csr"]


@pytest.mark.parametrize("check_mode", [True, False])
def test_the_ca_is_not_asked_in_check_mode_nor_when_the_certificate_is_installed(
        monkeypatch, capsys, tmp_path, check_mode):
    if check_mode:
        lab, _unused = _pending(tmp_path)
    else:  # a CA-issued certificate for the names is installed: nothing is requested, nothing asked
        pending = Lab()
        csr, _unused, _unused2 = pending.request(MAIL.__class__(list(reversed(list(MAIL)))), NAMES)
        lab, _unused = _completed(pending, csr)
    result = run_module(monkeypatch, capsys, exchange_certificate.main,
                        dict(REQUEST_ARGS, csr_path=str(tmp_path / "EX01.req"), ca_command=_hook(tmp_path, "answer"),
                             ca_answer_path=str(tmp_path / "EX01.cer"), _ansible_check_mode=check_mode),
                        session_for(lab))
    assert not (tmp_path / "EX01.cer.asked").exists() and result["ca_answered"] is False
    # Check mode says the request file would be written; with the certificate installed nothing changes.
    assert result["changed"] is check_mode and result["commands"] == []


def test_a_ca_hook_the_controller_cannot_run_is_refused_before_the_request(monkeypatch, capsys, tmp_path):
    session = session_for(Lab())
    result = run_module(monkeypatch, capsys, exchange_certificate.main,
                        dict(REQUEST_ARGS, csr_path=str(tmp_path / "EX01.req"), ca_command=["no-such-ca-client-x"],
                             ca_answer_path=str(tmp_path / "EX01.cer")), session)
    assert result["failed"] is True and session.queries == [] and result["commands"] == []
    assert "ca_command: no-such-ca-client-x is not a program the controller can run (not found in PATH)" in result["msg"]
    result = run_module(monkeypatch, capsys, exchange_certificate.main,
                        dict(REQUEST_ARGS, csr_path=str(tmp_path / "EX01.req"), ca_command=["ask-ca"]), session)
    assert result["failed"] is True and "ca_answer_path" in result["msg"] and session.queries == []
