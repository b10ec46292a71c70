import pytest
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mailflow_harness import run_module  # noqa: E402

from ansible_collections.mailops.exchange.plugins.modules import exchange_send_connector as mod

SERVERS = ["EX01", "EX02"]
EXISTING = {"Name": "To internet", "Identity": "To internet", "AddressSpaces": ["SMTP:*;1"], "DNSRoutingEnabled": True,
            "SmartHosts": [], "SourceTransportServers": ["EX01", "EX02"], "Fqdn": "mail.contoso.com", "Enabled": True,
            "MaxMessageSize": "35 MB (36,700,160 bytes)", "RequireTLS": False, "Comment": ""}


def read(connectors):
    return {"connectors": connectors, "servers": SERVERS}


def test_create(monkeypatch):
    args = {"name": "To internet", "usage": "Internet", "dns_routing_enabled": True,
            "source_transport_servers": ["ex01", "EX02"], "fqdn": "mail.contoso.com", "max_message_size": "35MB"}
    created = dict(EXISTING, SourceTransportServers=["EX01", "EX02"])
    result, session = run_module(monkeypatch, mod.main, args, read([]), diff=True, read_after=read([created]))
    assert result["changed"] is True
    assert result["commands"] == [
        "New-SendConnector -Name 'To internet' -Usage 'Internet' -AddressSpaces @('*') -DNSRoutingEnabled:$true "
        "-SourceTransportServers @('EX01', 'EX02') -Fqdn 'mail.contoso.com' -MaxMessageSize '35MB'"]
    assert session.executed == [result["commands"]]
    assert result["send_connector"]["address_spaces"] == ["SMTP:*;1"]
    assert result["diff"]["before"]["state"] == "absent"


def test_second_run_is_unchanged(monkeypatch):
    args = {"name": "to INTERNET", "address_spaces": ["*"], "dns_routing_enabled": True,
            "source_transport_servers": ["ex02", "ex01"], "fqdn": "Mail.Contoso.com.", "max_message_size": "36700160",
            "enabled": True, "require_tls": False, "comment": ""}
    result, session = run_module(monkeypatch, mod.main, args, read([EXISTING]))
    assert result["changed"] is False, result["commands"]
    assert session.executed == []


def test_switch_to_smart_hosts(monkeypatch):
    args = {"name": "To internet", "smart_hosts": ["relay.contoso.com", "[10.0.0.5]"]}
    switched = dict(EXISTING, DNSRoutingEnabled=False, SmartHosts=["relay.contoso.com", "[10.0.0.5]"])
    result, _unused = run_module(monkeypatch, mod.main, args, read([EXISTING]), diff=True,
                                 read_after=read([switched]))
    assert result["commands"] == ["Set-SendConnector -Identity 'To internet' -DNSRoutingEnabled:$false "
                                  "-SmartHosts @('relay.contoso.com', '[10.0.0.5]')"]
    assert result["diff"]["before"]["dns_routing_enabled"] is True
    assert result["diff"]["after"]["dns_routing_enabled"] is False


def test_back_to_dns_clears_smart_hosts(monkeypatch):
    current = dict(EXISTING, DNSRoutingEnabled=False, SmartHosts=["relay.contoso.com"])
    result, _unused = run_module(monkeypatch, mod.main, {"name": "To internet", "dns_routing_enabled": True}, read([current]))
    assert result["commands"] == ["Set-SendConnector -Identity 'To internet' -DNSRoutingEnabled:$true -SmartHosts $null"]


def test_remove_and_check_mode(monkeypatch):
    result, session = run_module(monkeypatch, mod.main, {"name": "To internet", "state": "absent"}, read([EXISTING]),
                                 check=True)
    assert result["changed"] is True
    assert result["commands"] == ["Remove-SendConnector -Identity 'To internet' -Confirm:$false"]
    assert session.executed == []


@pytest.mark.parametrize("args,message", [
    ({"name": "x", "smart_hosts": ["a.com"], "dns_routing_enabled": True}, "mutually exclusive"),
    ({"name": "x", "source_transport_servers": ["EX09"]}, "'EX09' is not an Exchange server"),
    ({"name": "x", "address_spaces": ["not a domain"]}, "is not '*', a domain"),
    ({"name": "x", "smart_hosts": ["bad host$(x)"]}, "neither an FQDN nor an IP"),
    ({"name": "x", "max_message_size": "lots"}, "is not a size"),
    ({"name": "x", "fqdn": "-x-"}, "not a valid host name"),
    ({"name": "x", "address_spaces": []}, "at least one address space"),
])
def test_refusals(monkeypatch, args, message):
    result, session = run_module(monkeypatch, mod.main, args, read([]))
    assert result["failed"] is True
    assert message in result["msg"]
    assert session.executed == []


def test_address_space_cost_is_a_change():
    commands, _unused, after = mod.plan({"name": "To internet", "state": "present", "address_spaces": ["*;5"]},
                                        read([EXISTING]))
    assert commands == ["Set-SendConnector -Identity 'To internet' -AddressSpaces @('*;5')"]
    assert after["address_spaces"] == ["SMTP:*;5"]
