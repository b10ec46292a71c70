"""The plan playbook (no Exchange access) and the export playbook (a running organisation back into the variables
site.yml takes; site.yml with them changes nothing)."""

from __future__ import annotations

import csv
import io
import json
import subprocess

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from labtools import BIN, REPO, Lab, playbook_env
from test_review_before_you_touch import recap, site


def playbook(lab: Lab, name: str, *args: str, extra_vars: dict | None = None) -> subprocess.CompletedProcess:
    env = playbook_env(lab)
    command = [str(BIN / "ansible-playbook"), "mailops.exchange.%s" % name, "-i", "inventory/lab", *args]
    if extra_vars:
        path = lab.state_dir / ("%s-vars.json" % name)
        path.write_text(json.dumps(extra_vars))
        command += ["-e", "@%s" % path]
    return subprocess.run(command, env=env, cwd=str(REPO), capture_output=True, text=True, timeout=600)


def request_pem(names: list[str]) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def test_the_plan_needs_no_exchange_and_writes_every_file(lab, tmp_path):
    requests = tmp_path / "requests"
    requests.mkdir()
    (requests / "EX02.req").write_text(request_pem(["mail.contoso.com", "owa.contoso.com"]))
    plan_dir = tmp_path / "plan"
    mark = lab.mark()
    run = playbook(lab, "plan", "-e", "mailops_plan_dir=%s" % plan_dir, extra_vars={
        "mailops_namespace": {"external_fqdn": "mail.contoso.com", "owa_fqdn": "owa.contoso.com",
                              "internal_fqdn": "internal.contoso.com", "public_address": "203.0.113.10"},
        "mailops_certificate": {"subject_name": "CN=mail.contoso.com", "request_dir": str(requests)}})
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert lab.transcript(mark) == []  # no Exchange access at all
    assert sorted(p.name for p in plan_dir.iterdir()) == [
        "certificate.txt", "client-settings.txt", "dns-private.zone", "dns-public.zone", "dns.csv", "plan.html",
        "plan.json", "urls.csv"]
    urls = list(csv.DictReader(io.StringIO((plan_dir / "urls.csv").read_text())))
    assert {"server": "EX02", "what": "OWA virtual directory", "internal": "https://internal.contoso.com/owa",
            "external": "https://owa.contoso.com/owa"} in urls
    private = (plan_dir / "dns-private.zone").read_text()
    assert "internal.contoso.com. 3600 IN CNAME ex01.corp.contoso.com." in private
    assert "mail.contoso.com. 3600 IN CNAME ex01.corp.contoso.com." in private  # seed 003
    certificate = (plan_dir / "certificate.txt").read_text()
    assert "EX02 - %s" % (requests / "EX02.req") in certificate
    assert "Names: mail.contoso.com, owa.contoso.com" in certificate
    assert "BEGIN CERTIFICATE REQUEST" in (plan_dir / "plan.html").read_text()


def test_a_refused_variable_stops_the_plan_too(lab, tmp_path):
    run = playbook(lab, "plan", "-e", "mailops_plan_dir=%s" % (tmp_path / "plan"),
                   extra_vars={"mailops_namespace": {"external_fqdn": "https://mail.contoso.com/owa"}})
    assert run.returncode != 0
    assert "mailops_namespace.external_fqdn: 'https://mail.contoso.com/owa' is a URL" in run.stdout + run.stderr
    assert not (tmp_path / "plan").exists()


ORGANISATION = {
    "mailops_namespace": {"external_fqdn": "mail.contoso.com", "owa_fqdn": "owa.contoso.com",
                          "internal_fqdn": "internal.contoso.com", "client_frontend_fqdn": "smtp.contoso.com",
                          "public_address": "203.0.113.10"},
    "mailops_accepted_domains": [{"domain_name": "contoso.com", "domain_type": "Authoritative", "make_default": True},
                                 {"domain_name": "fabrikam.com", "domain_type": "Authoritative", "make_default": False}],
    "mailops_email_address_policy": {"name": "Default Policy", "primary_smtp_address_template": "%g.%s@contoso.com",
                                     "extra_templates": ["smtp:@fabrikam.com"]},
    "mailops_send_connector": {"name": "Outbound", "address_spaces": ["*"], "fqdn": "mail.contoso.com",
                               "max_message_size": "50MB", "comment": "Internet mail"},
}


def test_export_then_site_changes_nothing(tmp_path):
    lab = Lab("2019", tmp_path / "lab")
    try:
        configured = site(lab, "--skip-tags", "validate", extra_vars=ORGANISATION)
        assert configured.returncode == 0, configured.stdout[-6000:] + configured.stderr[-2000:]
        path = tmp_path / "exported" / "organisation.yml"
        exported = playbook(lab, "export", "-e", "mailops_export_path=%s" % path)
        assert exported.returncode == 0, exported.stdout[-4000:] + exported.stderr[-2000:]
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        variables = yaml.safe_load(path.read_text())
        assert variables["mailops_namespace"] == ORGANISATION["mailops_namespace"]
        assert variables["mailops_accepted_domains"] == ORGANISATION["mailops_accepted_domains"]
        assert variables["mailops_email_address_policy"] == ORGANISATION["mailops_email_address_policy"]
        assert variables["mailops_send_connector"] == ORGANISATION["mailops_send_connector"]
        assert variables["mailops_certificate"]["domain_names"] == [
            "mail.contoso.com", "owa.contoso.com", "autodiscover.contoso.com", "autodiscover.fabrikam.com",
            "internal.contoso.com", "smtp.contoso.com"]
        again = site(lab, "--skip-tags", "validate", "-e", "@%s" % path)
        assert again.returncode == 0, again.stdout[-6000:]
        hosts = recap(again.stdout)
        assert hosts and all(c["changed"] == 0 and c["failed"] == 0 for c in hosts.values()), hosts
    finally:
        lab.stop()
