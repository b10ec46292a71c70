"""exchange_validate against the lab's real services: BIND 9 (public and private view) and the TLS listeners.

Validation passes after a correct set-up and fails, naming the check, for each of the issue's mistakes: a missing
MX record, a CNAME pointing elsewhere, a certificate that does not cover autodiscover, a certificate enabled for
IIS but not for SMTP.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from ansible_collections.mailops.exchange.plugins.module_utils.url_plan import build_url_plan
from ansible_collections.mailops.exchange.plugins.modules.exchange_validate import run_validation
from exchange_lab.ca import LabCA
from exchange_lab.context import LabContext
from exchange_lab.exchange import certificates
from exchange_lab.services.dns import DnsServers, load_zones, seed_records, zones_to_serve
from exchange_lab.services.tls import TlsListeners

REPO = Path(__file__).resolve().parents[3]

# What the validation is given (the collection's plan) and what the lab's DNS holds (the demo organisation's zones
# file, transcribed from the seeds' tables) are two separate sources: a planning mistake shows as a failed check.
PLAN = build_url_plan(
    external_fqdn="mail.contoso.com",
    owa_fqdn="owa.contoso.com",
    accepted_domains=["contoso.com"],
    public_address="203.0.113.10",
    servers=[{"name": "EX01", "fqdn": "ex01.corp.contoso.com"}, {"name": "EX02", "fqdn": "ex02.corp.contoso.com"}],
)
DEMO_ZONES_FILE = REPO / "tests" / "lab" / "zones" / "demo.json"
ZONES = load_zones(DEMO_ZONES_FILE)
SERVERS = ["ex01.corp.contoso.com", "ex02.corp.contoso.com"]


def _pem_pair(cert, key):
    return (
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


class _State:
    def __init__(self):
        self.enabled = {}

    def __call__(self, server, service):
        return self.enabled.get((server, service))


def _params(dns_servers, listeners, ca_bundle, **overrides):
    resolvers = dns_servers.resolver_options()
    tls = listeners.endpoints()
    params = {
        "plan": PLAN,
        "dns_records": None,
        "dns_public": resolvers["public"],
        "dns_private": resolvers["private"],
        "certificate_names": None,
        "owa_url": None,
        "client_frontend_fqdn": None,
        "smtp_port": 587,
        "ca_bundle": str(ca_bundle),
        "endpoints": {
            "owa.contoso.com:443": {server: ports["https"] for server, ports in tls.items()},
            "mail.contoso.com:587": {server: ports["smtp"] for server, ports in tls.items()},
        },
        "checks": ["dns", "https", "smtp", "certificate"],
        "expiry_window_days": 30,
        "min_key_size": 2048,
        "timeout": 5,
    }
    params.update(overrides)
    return params


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("validation-lab")
    ca = LabCA(state_dir)
    zones_public, zones_private = zones_to_serve(ZONES, SERVERS)
    dns_servers = DnsServers.start(state_dir, zones_public, zones_private)
    seed_records(dns_servers, ZONES)
    state = _State()
    good = _pem_pair(*ca.issue(PLAN["certificate_names"]))
    for server in ("EX01", "EX02"):
        state.enabled[(server, "IIS")] = good
        state.enabled[(server, "SMTP")] = good
    ctx = type("Ctx", (), {"state_dir": state_dir, "org": None})()
    listeners = TlsListeners.start(ctx, certificate_source=state, servers=["EX01", "EX02"])
    try:
        yield {"dns": dns_servers, "tls": listeners, "state": state, "ca": ca, "good": good, "dir": state_dir}
    finally:
        listeners.stop()
        dns_servers.stop()


def _failing(report):
    return {c.name: c for c in report.failures}


def test_a_correct_setup_passes_every_check(services):
    report = run_validation(_params(services["dns"], services["tls"], services["ca"].bundle_path))
    assert report.ok, report.to_text()
    names = [c.name for c in report.checks]
    assert "DNS public: contoso.com MX" in names
    assert "DNS private: owa.contoso.com CNAME" in names
    assert "HTTPS owa.contoso.com:443 [EX02] certificate valid for owa.contoso.com" in names
    assert "SMTP mail.contoso.com:587 [EX01] advertises STARTTLS" in names
    assert "HTTPS owa.contoso.com:443 [EX01] certificate covers autodiscover.contoso.com" in names
    assert "SMTP mail.contoso.com:587 [EX01] certificate covers mail.contoso.com" in names
    # 6 DNS records; per server HTTPS 8 (valid, presented, 3 names, validity, key, signature) and SMTP 7
    assert report.summary()["total"] == len(names) == 6 + 2 * 8 + 2 * 7


def test_a_missing_mx_record_fails_naming_it(services):
    dns_servers = services["dns"]
    dns_servers.delete("public", "contoso.com", "MX")
    try:
        report = run_validation(_params(dns_servers, services["tls"], services["ca"].bundle_path))
    finally:
        dns_servers.update("public", "contoso.com", "MX", "mail.contoso.com")
    failing = _failing(report)
    assert list(failing) == ["DNS public: contoso.com MX"]
    assert failing["DNS public: contoso.com MX"].found == "no MX record (the name exists)"
    assert "DNS public: contoso.com MX (expected mail.contoso.com, found no MX record" in report.failure_message()


def test_a_cname_pointing_elsewhere_fails_naming_it(services):
    dns_servers = services["dns"]
    dns_servers.update("public", "autodiscover.contoso.com", "CNAME", "mail.fabrikam.com")
    dns_servers.update("private", "mail.contoso.com", "CNAME", "ex99.corp.contoso.com")
    try:
        report = run_validation(_params(dns_servers, services["tls"], services["ca"].bundle_path, checks=["dns"]))
    finally:
        seed_records(dns_servers, ZONES)
    failing = _failing(report)
    assert set(failing) == {"DNS public: autodiscover.contoso.com CNAME", "DNS private: mail.contoso.com CNAME"}
    assert failing["DNS public: autodiscover.contoso.com CNAME"].found == "mail.fabrikam.com"
    assert failing["DNS private: mail.contoso.com CNAME"].expected == "ex01.corp.contoso.com"
    assert failing["DNS private: mail.contoso.com CNAME"].found == "ex99.corp.contoso.com"


def test_a_certificate_without_autodiscover_fails_naming_it(services):
    state, ca = services["state"], services["ca"]
    state.enabled[("EX02", "IIS")] = _pem_pair(*ca.issue(["mail.contoso.com", "owa.contoso.com"]))
    try:
        report = run_validation(_params(services["dns"], services["tls"], ca.bundle_path, checks=["https", "certificate"]))
    finally:
        state.enabled[("EX02", "IIS")] = services["good"]
    failing = _failing(report)
    assert list(failing) == ["HTTPS owa.contoso.com:443 [EX02] certificate covers autodiscover.contoso.com"]
    assert failing["HTTPS owa.contoso.com:443 [EX02] certificate covers autodiscover.contoso.com"].found == (
        "not covered; the certificate names DNS:mail.contoso.com, DNS:owa.contoso.com"
    )


def test_an_unreachable_endpoint_fails_every_check_on_it(services):
    params = _params(services["dns"], services["tls"], services["ca"].bundle_path, checks=["https", "certificate"])
    params["endpoints"]["owa.contoso.com:443"] = {"EX09": "127.0.0.1:9"}  # nothing listens on the discard port
    failing = _failing(run_validation(params))
    assert set(failing) == {
        "HTTPS owa.contoso.com:443 [EX09] certificate valid for owa.contoso.com",
        "HTTPS owa.contoso.com:443 [EX09] certificate presented",
    }
    assert "ConnectionRefusedError" in failing["HTTPS owa.contoso.com:443 [EX09] certificate presented"].found


@pytest.fixture
def lab(tmp_path):
    """The lab's own organisation state (EX01, EX02 with their self-signed certificates) behind the listeners."""
    ctx = LabContext.open(tmp_path / "lab", version="2019", servers=["EX01", "EX02"], domain="corp.contoso.com")
    zones_public, zones_private = zones_to_serve(ZONES, SERVERS)
    dns_servers = DnsServers.start(tmp_path / "lab", zones_public, zones_private)
    seed_records(dns_servers, ZONES)
    listeners = TlsListeners.start(ctx)
    try:
        yield ctx, dns_servers, listeners
    finally:
        listeners.stop()
        dns_servers.stop()


def _add_certificate(ctx, server, services):
    """What Import-ExchangeCertificate + Enable-ExchangeCertificate -Services <services> record in the lab's state."""
    cert, key = ctx.ca.issue(PLAN["certificate_names"])
    with ctx.org.lock:
        store = certificates.certificate_store(ctx.org, server)
        record = certificates._new_record(cert, key, friendly_name="Contoso", services=services, exportable=True, store=store)
        if services & certificates.SMTP:
            for item in store:
                item["internal_transport"] = False
            record["internal_transport"] = True
        store.append(record)
    return record


def test_a_certificate_enabled_for_iis_but_not_smtp_fails(lab):
    ctx, dns_servers, listeners = lab
    for server in ("EX01", "EX02"):
        _add_certificate(ctx, server, certificates.IIS)  # the run forgot "-Services SMTP"
    report = run_validation(_params(dns_servers, listeners, ctx.ca.bundle_path, checks=["https", "smtp", "certificate"]))
    failing = _failing(report)
    assert not [name for name in failing if name.startswith("HTTPS")], report.to_text()
    for server, fqdn in (("EX01", "ex01.corp.contoso.com"), ("EX02", "ex02.corp.contoso.com")):
        valid = "SMTP mail.contoso.com:587 [%s] certificate valid for mail.contoso.com" % server
        covers = "SMTP mail.contoso.com:587 [%s] certificate covers mail.contoso.com" % server
        assert valid in failing and covers in failing
        assert failing[valid].found.startswith("certificate rejected: self-signed certificate") or "mismatch" in failing[valid].found
        assert failing[covers].found == "not covered; the certificate names DNS:%s, DNS:%s" % (server, fqdn)
    # Enabling it for SMTP as well (the seeds' "at minimum, SMTP and IIS") makes everything pass.
    with ctx.org.lock:
        for server in ("EX01", "EX02"):
            store = certificates.certificate_store(ctx.org, server)
            for item in store:
                item["internal_transport"] = False
            newest = max(store, key=lambda r: r["sequence"])
            newest["services"] |= certificates.SMTP
            newest["internal_transport"] = True
    report = run_validation(_params(dns_servers, listeners, ctx.ca.bundle_path))
    assert report.ok, report.to_text()


def test_a_fresh_server_fails_with_its_self_signed_certificate(lab):
    ctx, dns_servers, listeners = lab
    report = run_validation(_params(dns_servers, listeners, ctx.ca.bundle_path, checks=["https"]))
    failing = _failing(report)
    assert set(failing) == {
        "HTTPS owa.contoso.com:443 [EX01] certificate valid for owa.contoso.com",
        "HTTPS owa.contoso.com:443 [EX02] certificate valid for owa.contoso.com",
    }
    assert failing["HTTPS owa.contoso.com:443 [EX01] certificate valid for owa.contoso.com"].found.startswith("certificate rejected:")


def _run_module(tmp_path, args, check_mode=False):
    """The module as Ansible runs it (ansible-playbook, the collection from .collections)."""
    playbook = tmp_path / "validate.yml"
    playbook.write_text(json.dumps([{
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [{
            "name": "validate",
            "mailops.exchange.exchange_validate": args,
            "register": "validation",
            "ignore_errors": True,
        }, {
            "ansible.builtin.copy": {"content": "{{ validation | to_json }}", "dest": str(tmp_path / "result.json")},
            "check_mode": False,
        }],
    }]))
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".collections"),
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
    })
    command = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", "localhost,", "-c", "local",
               "-e", "ansible_python_interpreter=%s" % sys.executable, str(playbook)]
    if check_mode:
        command.append("--check")
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, cwd=str(REPO))
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((tmp_path / "result.json").read_text())


@pytest.mark.skipif(not Path(sys.executable).with_name("ansible-playbook").exists(), reason="ansible-core is not installed beside this Python")
def test_the_module_through_ansible_playbook(services, tmp_path):
    params = _params(services["dns"], services["tls"], services["ca"].bundle_path)
    args = {k: params[k] for k in ("plan", "dns_public", "dns_private", "ca_bundle", "endpoints", "timeout")}
    args["report_dir"] = str(tmp_path / "report")
    result = _run_module(tmp_path, args)
    assert result["failed"] is False and result["changed"] is False and result["ok"] is True, result.get("msg")
    assert result["summary"]["failed"] == 0
    assert set(result["report_files"]) == {"text", "json", "junit"}
    assert "ALL PASSED" in (tmp_path / "report" / "report.txt").read_text()

    services["dns"].delete("public", "contoso.com", "MX")
    try:
        failed = _run_module(tmp_path, args, check_mode=True)
    finally:
        services["dns"].update("public", "contoso.com", "MX", "mail.contoso.com")
    assert failed["failed"] is True
    assert failed["msg"].startswith("validation failed: 1 of ")
    assert "DNS public: contoso.com MX (expected mail.contoso.com, found no MX record (the name exists))" in failed["msg"]
    assert failed["failed_checks"] == ["DNS public: contoso.com MX"]
    junit = (tmp_path / "report" / "junit.xml").read_text()
    assert 'failures="1"' in junit and "DNS public: contoso.com MX" in junit


def test_lab_services_start_seeded_and_describe_themselves(tmp_path):
    """What lab.py starts: DNS seeded with a zones file's records, listeners, and endpoints.json's keys."""
    from exchange_lab.services import LabServices

    ctx = LabContext.open(tmp_path / "lab", version="2016", servers=["EX01", "EX02"], domain="corp.contoso.com")
    with LabServices.start(ctx, zones=DEMO_ZONES_FILE) as services:
        described = services.endpoints()
        assert json.loads(Path(described["zones"]).read_text()) == services.zones == ZONES
        assert services.dns.query("public", "contoso.com", "MX") == ["10 mail.contoso.com."]
        assert services.dns.query("private", "ex02.corp.contoso.com", "A") == ["127.0.0.1"]
        assert set(described["tls"]) == {"EX01", "EX02"}
        options = described["validate"]
        assert set(options["endpoints"]) == {"owa.contoso.com:443", "mail.contoso.com:587"}
        params = {
            "plan": PLAN,
            "ca_bundle": str(ctx.ca.bundle_path),
            "checks": ["dns", "https", "smtp", "certificate"],
            "timeout": 5,
            **options,
        }
        report = run_validation(params)
        # DNS is right from the start; the fresh servers' self-signed certificates are what fails.
        assert not [c for c in report.failures if c.category.startswith("dns")]
        assert "HTTPS owa.contoso.com:443 [EX01] certificate valid for owa.contoso.com" in report.failure_message()
    assert not (tmp_path / "lab" / "dns" / "servers.json").exists()
