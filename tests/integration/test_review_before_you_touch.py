"""Review before you touch (issue 12): the whole play in check mode, every input checked before the first write,
the version from the server, a server waiting for its CA made visible.

Each test runs the real ``site.yml`` against a lab with ``ansible-playbook``. "Nothing written" is proven by the
lab's state (``show-state``) before and after, and by the transcript: no script reached a server at all when the
variables were refused.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from labtools import BIN, LAB_ROOT, REPO, Lab, playbook_env

WRITE_CMDLET = re.compile(
    r"\b(?:New|Set|Update|Enable|Import|Remove)-(?:SendConnector|ReceiveConnector|AcceptedDomain|EmailAddressPolicy"
    r"|ExchangeCertificate|OfflineAddressBook|OutlookAnywhere|\w+VirtualDirectory|ClientAccessServer"
    r"|ClientAccessService)\b")


def site(lab: Lab, *args: str, extra_vars: dict | None = None) -> subprocess.CompletedProcess:
    env = playbook_env(lab)
    command = [str(BIN / "ansible-playbook"), "site.yml", "-i", "inventory/lab", *args]
    if extra_vars is not None:
        path = lab.state_dir / ("extra-vars-%d.json" % len(list(lab.state_dir.glob("extra-vars-*.json"))))
        path.write_text(json.dumps(extra_vars))
        command += ["-e", "@%s" % path]
    return subprocess.run(command, env=env, cwd=str(REPO), capture_output=True, text=True, timeout=1200)


def recap(output: str) -> dict:
    return {m.group(1): dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2)))
            for m in re.finditer(r"^(\S+)\s+: (ok=.*)$", output, re.M)}


def writes(lab: Lab, since: int) -> list[str]:
    """Write cmdlets of the scripts the lab received after ``since`` (the read-back scripts have none)."""
    found = []
    for entry in lab.transcript(since):
        if entry.get("kind") == "script":
            found += [m for m in WRITE_CMDLET.findall(entry.get("script") or "")]
    return found


def flat(output: str) -> str:
    """The output with every run of white space as one space (the YAML callback folds long lines)."""
    return " ".join(output.split())


def organisation(**changes) -> dict:
    """The lab inventory's organisation (inventory/lab/group_vars/all/organisation.yml) with ``changes``."""
    base = {
        "mailops_namespace": {"external_fqdn": "mail.contoso.com", "owa_fqdn": "owa.contoso.com",
                              "public_address": "203.0.113.10"},
        "mailops_accepted_domains": [{"domain_name": "contoso.com", "domain_type": "Authoritative",
                                      "make_default": True}],
        "mailops_email_address_policy": {"name": "Default Policy", "primary_smtp_address_template": "@contoso.com"},
        "mailops_send_connector": {"name": "To internet", "address_spaces": ["*"], "fqdn": "mail.contoso.com"},
    }
    base.update(changes)
    return base


def test_check_mode_reviews_a_fresh_then_a_configured_organisation_and_changes_nothing(tmp_path):
    lab = Lab("2019", tmp_path / "lab")
    try:
        before, mark = lab.lab_state(), lab.mark()
        fresh = site(lab, "--check", "--diff")
        assert fresh.returncode == 0, fresh.stdout[-6000:] + fresh.stderr[-3000:]
        assert lab.lab_state() == before
        assert writes(lab, mark) == []
        # Per step, the exact Exchange Management Shell lines a real run would send.
        for line in ("New-SendConnector -Name 'To internet' -Usage 'Internet' -AddressSpaces @('*')",
                     "New-AcceptedDomain -Name 'contoso.com' -DomainName 'contoso.com' -DomainType 'Authoritative'",
                     "Set-EmailAddressPolicy -Identity 'Default Policy' -EnabledEmailAddressTemplates",
                     "Set-OwaVirtualDirectory -Identity 'EX02\\owa (Default Web Site)' -ExternalUrl 'https://owa.contoso.com/owa'",
                     "New-ExchangeCertificate -Server 'EX01' -GenerateRequest",
                     "Set-ReceiveConnector -Identity 'EX02\\Client Frontend EX02' -Fqdn 'mail.contoso.com'"):
            assert line in flat(fresh.stdout), line
        assert "is waiting for its CA" in fresh.stdout  # said, not waited for

        real = site(lab)
        assert real.returncode == 0, real.stdout[-6000:] + real.stderr[-3000:]

        configured, mark = lab.lab_state(), lab.mark()
        review = site(lab, "--check", "--diff")
        assert review.returncode == 0, review.stdout[-6000:]
        assert all(c["changed"] == 0 and c["failed"] == 0 for c in recap(review.stdout).values())
        assert "step 4: nothing to change on EX01" in review.stdout

        # Someone changes the EWS external URL by hand: the review shows the line that puts it back.
        moved = lab.run_module("exchange_vdir_url", {"server": "EX01", "urls": {
            "ews": {"external_url": "https://webmail.contoso.com/EWS/Exchange.asmx"}}})
        assert moved.get("changed"), moved
        drifted, mark = lab.lab_state(), lab.mark()
        review = site(lab, "--check", "--diff")
        assert review.returncode == 0, review.stdout[-6000:]
        assert ("Set-WebServicesVirtualDirectory -Identity 'EX01\\EWS (Default Web Site)' -ExternalUrl "
                "'https://mail.contoso.com/EWS/Exchange.asmx'") in flat(review.stdout), review.stdout[-5000:]
        assert recap(review.stdout)["EX01"]["changed"] >= 1
        assert lab.lab_state() == drifted and writes(lab, mark) == []
        assert configured != drifted
    finally:
        lab.stop()


REFUSED = organisation(
    mailops_namespace={"external_fqdn": "mail..contoso.com", "owa_fqdn": "https://owa.contoso.com/owa",
                       "internal_fqdn": "internal.contoso.com\n", "public_address": "203.0.113.10"},
    mailops_email_address_policy={"name": "Default Policy", "primary_smtp_address_template": "@fabrikam.com"},
    mailops_send_connector={"name": "To internet", "address_spaces": ["*"], "fqdn": "mail.contoso.com",
                            "source_transport_servers": ["EX01", "EX09"], "comment": "line one\u2028line two"},
)


def test_every_refused_input_is_named_and_nothing_is_written(lab):
    before, mark = lab.lab_state(), lab.mark()
    run = site(lab, extra_vars=REFUSED)
    assert run.returncode != 0
    out = run.stdout + run.stderr
    for message in (
        "mailops_namespace.external_fqdn: 'mail..contoso.com' has an empty label",
        "mailops_namespace.owa_fqdn: 'https://owa.contoso.com/owa' is a URL; give only the host name",
        "mailops_namespace.internal_fqdn: control character U+000A is not allowed",
        "mailops_email_address_policy.primary_smtp_address_template: the domain fabrikam.com of '@fabrikam.com' "
        "is not one of mailops_accepted_domains (contoso.com)",
        "mailops_send_connector.source_transport_servers[1]: 'EX09' is not one of the Mailbox servers (EX01, EX02)",
        "mailops_send_connector.comment: control character U+2028 is not allowed",
    ):
        assert message in out, message
    assert lab.lab_state() == before
    assert [e for e in lab.transcript(mark) if e.get("kind") == "script"] == []  # not even a read


def test_a_step_variable_its_role_refuses_is_named_with_the_role_before_anything_is_read(lab):
    # site.yml imports the step roles without Ansible's per-role validation task; the preflight checks every one of
    # their argument specifications at once - a later step's variable is refused before step 1 runs.
    before, mark = lab.lab_state(), lab.mark()
    run = site(lab, extra_vars={"mailops_client_smtp_advertise": "sometimes"})
    assert run.returncode != 0
    out = flat(run.stdout + run.stderr)
    assert "item=mailops.exchange.client_smtp" in out, out[-3000:]
    assert "argument 'mailops_client_smtp_advertise' is of type str" in out
    assert lab.lab_state() == before
    assert [e for e in lab.transcript(mark) if e.get("kind") == "script"] == []  # not even a read


def test_a_certificate_that_does_not_cover_the_plan_is_refused_before_the_first_write(lab):
    before, mark = lab.lab_state(), lab.mark()
    variables = organisation(mailops_namespace={"external_fqdn": "mail.contoso.com", "owa_fqdn": "owa.contoso.com",
                                                "client_frontend_fqdn": "smtp.contoso.com"})
    variables["mailops_certificate"] = {"subject_name": "CN=mail.contoso.com", "request_dir": str(lab.state_dir / "req"),
                                        "domain_names": ["mail.contoso.com", "owa.contoso.com", "autodiscover.contoso.com"]}
    run = site(lab, extra_vars=variables)
    assert run.returncode != 0
    assert ("mailops_certificate.domain_names: smtp.contoso.com not covered, but the URL plan needs it on the "
            "certificate (the Client Frontend FQDN must be on it too)") in run.stdout + run.stderr
    assert lab.lab_state() == before and writes(lab, mark) == []


def test_trailing_dots_and_upper_case_names_converge(tmp_path):
    lab = Lab("2019", tmp_path / "lab")
    try:
        variables = organisation(
            mailops_namespace={"external_fqdn": "MAIL.Contoso.COM.", "owa_fqdn": "Owa.Contoso.com.",
                               "public_address": "203.0.113.10"},
            mailops_accepted_domains=[{"domain_name": "Contoso.COM.", "make_default": True}],
            mailops_email_address_policy={"primary_smtp_address_template": "@CONTOSO.com"},
        )
        first = site(lab, extra_vars=variables)
        assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-3000:]
        second = site(lab, extra_vars=variables)
        assert second.returncode == 0, second.stdout[-6000:]
        assert all(c["changed"] == 0 for c in recap(second.stdout).values()), recap(second.stdout)
        info = lab.run_module("exchange_info", {"gather": ["receive_connectors", "client_access"]})
        frontends = [c for c in info["receive_connectors"] if c["name"].startswith("Client Frontend")]
        assert {c["fqdn"] for c in frontends} == {"mail.contoso.com"}
        assert info["servers"][0]["urls"]["owa"]["external_url"] == "https://owa.contoso.com/owa"
        assert info["servers"][0]["urls"]["ews"]["internal_url"] == "https://mail.contoso.com/EWS/Exchange.asmx"
    finally:
        lab.stop()


def test_the_version_comes_from_the_server(lab_factory):
    lab = lab_factory("2013")
    before, mark = lab.lab_state(), lab.mark()
    run = site(lab, "-e", "exchange_version=2019")
    assert run.returncode != 0
    out = run.stdout + run.stderr
    assert "exchange_version of EX01: declared 2019, but the server runs Exchange 2013" in out
    assert lab.lab_state() == before and writes(lab, mark) == []


def sign_requests(lab: Lab) -> None:
    for request in sorted((lab.state_dir / "requests").glob("*.req")):
        subprocess.run([sys.executable, "-m", "exchange_lab", "sign-csr", "--state", str(lab.state_dir), "--csr",
                        str(request), "--out", str(request.with_suffix(".cer"))], check=True, cwd=str(REPO),
                       env=dict(os.environ, PYTHONPATH=str(LAB_ROOT)))


def test_a_server_waiting_for_its_ca_fails_by_default_and_ends_green_when_allowed(tmp_path):
    lab = Lab("2019", tmp_path / "lab")
    try:
        certificate = {"subject_name": "C=US, O=Contoso, CN=mail.contoso.com", "friendly_name": "Contoso mail",
                       "request_dir": str(lab.state_dir / "requests"), "services": ["IIS", "SMTP"]}
        waiting = site(lab, extra_vars={"mailops_certificate": certificate})
        assert waiting.returncode != 0
        hosts = recap(waiting.stdout)
        assert hosts["EX01"]["failed"] == 1 and hosts["EX02"]["failed"] == 1, hosts
        request = lab.state_dir / "requests" / "EX01.req"
        assert request.is_file()
        assert ("EX01 is waiting for its CA: send the certificate request %s to your CA, save its answer as %s"
                % (request, request.with_suffix(".cer"))) in waiting.stdout
        assert "Validate DNS" not in waiting.stdout  # the validation did not run on a half-configured organisation

        allowed = site(lab, extra_vars={"mailops_certificate": dict(certificate, allow_pending=True)})
        assert allowed.returncode == 0, allowed.stdout[-6000:]
        assert "CUSTOM STATS" in allowed.stdout and "mailops_waiting_for_ca" in allowed.stdout
        assert str(request) in allowed.stdout.split("CUSTOM STATS", 1)[1]

        sign_requests(lab)
        done = site(lab, extra_vars={"mailops_certificate": certificate})
        assert done.returncode == 0, done.stdout[-6000:]
        assert "mailops_waiting_for_ca" not in done.stdout
        assert "Validate DNS, the certificate and the endpoints" in done.stdout
    finally:
        lab.stop()
