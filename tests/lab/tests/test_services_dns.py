"""The lab's DNS: two real BIND 9 ``named`` (public and private view), changed by TSIG-signed RFC 2136 updates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.update
import pytest

from exchange_lab.services.dns import DnsError, DnsServers, load_zones, seed_records, zones_to_serve

LAB_ROOT = Path(__file__).resolve().parents[1]
REPO = LAB_ROOT.parents[1]

# The records of the seeds' tables for contoso.com (plus fabrikam.com, a second accepted domain), written out.
ZONES = load_zones({
    "public": {
        "contoso.com": [
            {"name": "contoso.com", "type": "MX", "value": "mail.contoso.com"},
            {"name": "mail.contoso.com", "type": "A", "value": "203.0.113.10"},
            {"name": "owa.contoso.com", "type": "CNAME", "value": "mail.contoso.com"},
            {"name": "autodiscover.contoso.com", "type": "CNAME", "value": "mail.contoso.com"},
        ],
        "fabrikam.com": [
            {"name": "fabrikam.com", "type": "MX", "value": "mail.contoso.com"},
            {"name": "autodiscover.fabrikam.com", "type": "CNAME", "value": "mail.contoso.com"},
        ],
    },
    "private": {
        "contoso.com": [
            {"name": "mail.contoso.com", "type": "CNAME", "value": "ex01.corp.contoso.com"},
            {"name": "owa.contoso.com", "type": "CNAME", "value": "ex01.corp.contoso.com"},
        ],
    },
})
SERVERS = ["ex01.corp.contoso.com", "ex02.corp.contoso.com"]


@pytest.fixture(scope="module")
def dns_lab(tmp_path_factory):
    state = tmp_path_factory.mktemp("dns-lab")
    zones_public, zones_private = zones_to_serve(ZONES, SERVERS)
    servers = DnsServers.start(state, zones_public, zones_private)
    seed_records(servers, ZONES)
    try:
        yield servers
    finally:
        servers.stop()


def test_zones_to_serve():
    public, private = zones_to_serve(ZONES, SERVERS)
    assert public == {"contoso.com": [], "fabrikam.com": []}
    assert private == {
        "corp.contoso.com": [
            {"name": "ex01.corp.contoso.com", "type": "A", "value": "127.0.0.1"},
            {"name": "ex02.corp.contoso.com", "type": "A", "value": "127.0.0.1"},
        ],
        "contoso.com": [],
    }


def test_views_answer_the_seeded_records_separately(dns_lab):
    assert dns_lab.public_port != dns_lab.private_port
    assert dns_lab.query("public", "contoso.com", "MX") == ["10 mail.contoso.com."]
    assert dns_lab.query("public", "fabrikam.com", "MX") == ["10 mail.contoso.com."]
    assert dns_lab.query("public", "mail.contoso.com", "A") == ["203.0.113.10"]
    assert dns_lab.query("public", "owa.contoso.com", "CNAME") == ["mail.contoso.com."]
    assert dns_lab.query("public", "autodiscover.fabrikam.com", "CNAME") == ["mail.contoso.com."]
    # split-brain: the same name answers differently inside
    assert dns_lab.query("private", "mail.contoso.com", "CNAME") == ["ex01.corp.contoso.com."]
    assert dns_lab.query("private", "owa.contoso.com", "CNAME") == ["ex01.corp.contoso.com."]
    assert dns_lab.query("private", "ex02.corp.contoso.com", "A") == ["127.0.0.1"]
    assert dns_lab.query("private", "contoso.com", "MX") == []
    assert dns_lab.query("public", "ex01.corp.contoso.com", "A") == []  # not a public zone (REFUSED -> nothing)


def test_update_and_delete(dns_lab):
    dns_lab.update("public", "test-update.contoso.com", "A", "198.51.100.7")
    assert dns_lab.query("public", "test-update.contoso.com", "A") == ["198.51.100.7"]
    dns_lab.update("public", "test-update.contoso.com", "A", ["198.51.100.8", "198.51.100.9"])  # replaces
    assert sorted(dns_lab.query("public", "test-update.contoso.com", "A")) == ["198.51.100.8", "198.51.100.9"]
    dns_lab.delete("public", "test-update.contoso.com", "A")
    assert dns_lab.query("public", "test-update.contoso.com", "A") == []
    dns_lab.update("private", "test-update.contoso.com", "CNAME", "ex02.corp.contoso.com")
    assert dns_lab.query("private", "test-update.contoso.com", "CNAME") == ["ex02.corp.contoso.com."]
    dns_lab.delete("private", "test-update.contoso.com")
    assert dns_lab.query("private", "test-update.contoso.com", "CNAME") == []


def test_unsigned_updates_are_refused(dns_lab):
    update = dns.update.Update("contoso.com.")
    update.replace("evil.contoso.com.", 300, "A", "192.0.2.66")
    response = dns.query.tcp(update, dns_lab.host, port=dns_lab.public_port, timeout=5)
    assert response.rcode() == dns.rcode.REFUSED
    assert dns_lab.query("public", "evil.contoso.com", "A") == []


def test_a_name_outside_every_zone_is_refused_before_sending(dns_lab):
    with pytest.raises(DnsError, match="public view: no zone contains mail.example.org"):
        dns_lab.update("public", "mail.example.org", "A", "192.0.2.1")
    with pytest.raises(DnsError, match="view must be one of public, private"):
        dns_lab.update("dmz", "mail.contoso.com", "A", "192.0.2.1")


def test_the_secret_is_private_and_described(dns_lab):
    key = dns_lab.directory / "tsig.key"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    description = json.loads((dns_lab.directory / "servers.json").read_text())
    assert description["ports"] == {"public": dns_lab.public_port, "private": dns_lab.private_port}
    assert json.loads(key.read_text())["secret"] not in json.dumps(description)
    assert dns_lab.resolver_options() == {
        "public": {"nameservers": ["127.0.0.1"], "port": dns_lab.public_port},
        "private": {"nameservers": ["127.0.0.1"], "port": dns_lab.private_port},
    }


def test_command_line_from_another_process(dns_lab):
    state = dns_lab.directory.parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(LAB_ROOT), str(REPO)]))

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "exchange_lab.services.dns", *args, "--state", str(state)],
                              env=env, capture_output=True, text=True, timeout=60)

    done = cli("update", "--view", "public", "--name", "cli.contoso.com", "--type", "CNAME", "--value", "mail.contoso.com")
    assert done.returncode == 0, done.stderr
    answer = cli("query", "--view", "public", "--name", "cli.contoso.com", "--type", "CNAME")
    assert json.loads(answer.stdout) == ["mail.contoso.com."]
    assert cli("delete", "--view", "public", "--name", "cli.contoso.com", "--type", "CNAME").returncode == 0
    assert dns_lab.query("public", "cli.contoso.com", "CNAME") == []
    refused = cli("update", "--view", "public", "--name", "x.example.org", "--type", "A", "--value", "192.0.2.1")
    assert refused.returncode == 1 and "no zone contains x.example.org" in refused.stderr


def test_restart_keeps_dynamic_updates_and_stop_ends_named(tmp_path):
    public, private = zones_to_serve(ZONES, SERVERS)
    servers = DnsServers.start(tmp_path, public, private)
    pids = dict(servers.pids)
    try:
        seed_records(servers, ZONES)
        servers.update("public", "owa.contoso.com", "CNAME", "mail.fabrikam.com")
    finally:
        servers.stop()
    for pid in pids.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not (tmp_path / "dns" / "servers.json").exists()
    again = DnsServers.start(tmp_path, public, private)
    try:
        assert again.query("public", "owa.contoso.com", "CNAME") == ["mail.fabrikam.com."]
        assert again.query("private", "mail.contoso.com", "CNAME") == ["ex01.corp.contoso.com."]
    finally:
        again.stop()
    fresh = DnsServers.start(tmp_path, public, private, reset=True)
    try:
        assert fresh.query("public", "owa.contoso.com", "CNAME") == []
    finally:
        fresh.stop()


def test_attach_without_running_servers_says_so(tmp_path):
    with pytest.raises(DnsError, match="no running lab DNS"):
        DnsServers.attach(tmp_path)


def test_zone_data_is_checked(tmp_path):
    with pytest.raises(DnsError, match="record www.fabrikam.com A is not inside zone contoso.com"):
        DnsServers.start(tmp_path, {"contoso.com": [{"name": "www.fabrikam.com", "type": "A", "value": "192.0.2.1"}]}, {})


def test_soa_answers_with_authority(dns_lab):
    response = dns.query.udp(dns.message.make_query("contoso.com.", "SOA"), dns_lab.host, port=dns_lab.public_port, timeout=5)
    assert response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.AA


def test_a_zones_file_is_checked(tmp_path):
    with pytest.raises(DnsError, match="record www.fabrikam.com A is not inside zone contoso.com"):
        load_zones({"public": {"contoso.com": [{"name": "www.fabrikam.com", "type": "A", "value": "192.0.2.1"}]}})
    with pytest.raises(DnsError, match="unknown key\\(s\\) namespace"):
        load_zones({"namespace": {"external_fqdn": "mail.contoso.com"}})
    with pytest.raises(DnsError, match="record 'mail.contoso.com' has unknown key\\(s\\) priority"):
        load_zones({"public": {"contoso.com": [{"name": "mail.contoso.com", "type": "A", "value": "192.0.2.1",
                                                "priority": 1}]}})
    with pytest.raises(DnsError, match="listeners: a mapping of https and smtp"):
        load_zones({"listeners": {"imap": "mail.contoso.com"}})
    (tmp_path / "zones.json").write_text("{not json")
    with pytest.raises(DnsError, match="is not JSON"):
        load_zones(tmp_path / "zones.json")


def test_the_servers_a_records_go_to_the_zone_the_file_gives_them(tmp_path):
    """A zones file that has the AD zone gets the servers' A records there; one it already names is kept."""
    zones = load_zones({"private": {"corp.contoso.com": [
        {"name": "ex01.corp.contoso.com", "type": "A", "value": "10.0.0.1"}]}})
    public, private = zones_to_serve(zones, SERVERS)
    assert public == {}
    assert private == {"corp.contoso.com": [{"name": "ex02.corp.contoso.com", "type": "A", "value": "127.0.0.1"}]}


def test_demo_zones_name_their_seed_table():
    """The checked-in zones files (tests/lab/zones, the molecule scenarios) say where each record comes from."""
    files = [LAB_ROOT / "zones" / "demo.json", *sorted((REPO / "extensions" / "molecule").glob("*/zones.json"))]
    assert len(files) == 4
    for path in files:
        document = json.loads(path.read_text())
        load_zones(document)
        records = [r for view in ("public", "private") for rs in document[view].values() for r in rs]
        assert records, path
        for record in records:
            assert record.get("source", "").startswith("seed 00"), (path, record)
