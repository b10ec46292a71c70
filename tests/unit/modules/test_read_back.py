"""Modules that write read their object back in the same session: what they return is what Exchange reads, and a
write Exchange did not carry out (no error came back) fails the task, naming the cmdlet, the object and what is
still to change."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mailflow_harness import run_module  # noqa: E402

from ansible_collections.mailops.exchange.plugins.modules import exchange_accepted_domain as domain_mod
from ansible_collections.mailops.exchange.plugins.modules import exchange_send_connector as connector_mod

CONNECTOR = {"Name": "To internet", "AddressSpaces": ["SMTP:*;1"], "DNSRoutingEnabled": True, "SmartHosts": [],
             "SourceTransportServers": ["EX01"], "Fqdn": "old.contoso.com", "Enabled": True,
             "MaxMessageSize": "35 MB (36,700,160 bytes)", "RequireTLS": False, "Comment": ""}


def connectors(*items):
    return {"connectors": list(items), "servers": ["EX01"]}


def test_a_write_exchange_did_not_carry_out_fails_naming_what_is_still_to_change(monkeypatch):
    result, session = run_module(monkeypatch, connector_mod.main, {"name": "To internet", "fqdn": "mail.contoso.com"},
                                 connectors(CONNECTOR))  # reads the same after the write
    assert result["failed"] is True
    assert session.executed == [["Set-SendConnector -Identity 'To internet' -Fqdn 'mail.contoso.com'"]]
    assert ("Set-SendConnector for 'To internet' ran without an error, but Exchange reads the object back "
            "differently - still to change: Set-SendConnector for 'To internet' (-Fqdn)") in result["msg"]
    assert result["still_to_change"] == ["Set-SendConnector -Identity 'To internet' -Fqdn 'mail.contoso.com'"]
    assert len(session.executed) == 1  # never written twice


def test_what_a_module_returns_after_a_write_is_what_exchange_reads(monkeypatch):
    written = dict(CONNECTOR, Fqdn="mail.contoso.com", MaxMessageSize="35 MB (36,700,160 bytes)")
    result, session = run_module(monkeypatch, connector_mod.main,
                                 {"name": "To internet", "fqdn": "mail.contoso.com", "max_message_size": "35MB"},
                                 connectors(CONNECTOR), diff=True, read_after=connectors(written))
    assert result["changed"] is True and not result.get("failed")
    assert len(session.queries) == 1 and session.read_backs == [connector_mod.READ_SCRIPT]  # one round trip each
    assert result["send_connector"]["fqdn"] == "mail.contoso.com"
    assert result["send_connector"]["max_message_size"] == "35 MB (36,700,160 bytes)"  # Exchange's form, as read
    assert result["diff"]["before"]["fqdn"] == "old.contoso.com"


def test_a_run_that_writes_nothing_reads_once(monkeypatch):
    result, session = run_module(monkeypatch, connector_mod.main, {"name": "To internet", "fqdn": "old.contoso.com"},
                                 connectors(CONNECTOR))
    assert result["changed"] is False and len(session.queries) == 1 and session.read_backs == []


def test_check_mode_does_not_read_back(monkeypatch):
    domains = [{"Name": "corp.contoso.com", "DomainName": "corp.contoso.com", "DomainType": "Authoritative",
                "Default": True}]
    result, session = run_module(monkeypatch, domain_mod.main, {"name": "Contoso", "domain_name": "contoso.com"},
                                 domains, check=True)
    assert result["changed"] is True and session.executed == [] and len(session.queries) == 1
    assert session.read_backs == []
