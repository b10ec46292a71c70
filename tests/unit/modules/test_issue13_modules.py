# -*- coding: utf-8 -*-
"""Issue 13 through whole modules: an update changes only what the task sets (case 8), csr_path in a missing
directory is refused before the request (case 9), a value too large for one WinRM message is refused before
anything is sent, with the limit named (case 10)."""

import os
import sys

import pytest

from ansible_collections.mailops.exchange.plugins.module_utils import exchange_module
from ansible_collections.mailops.exchange.plugins.modules import exchange_certificate as certificate
from ansible_collections.mailops.exchange.plugins.modules import exchange_send_connector as send_connector

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "module_utils"))
from mailflow_harness import run_module  # noqa: E402

PARTNER = {"Name": "To partner", "Identity": "To partner", "AddressSpaces": ["SMTP:fabrikam.com;1"],
           "DNSRoutingEnabled": False, "SmartHosts": ["relay.fabrikam.com"], "SourceTransportServers": ["EX01"],
           "Fqdn": "", "Enabled": True, "MaxMessageSize": "35 MB (36,700,160 bytes)", "RequireTLS": True,
           "Comment": "old"}
READ = {"connectors": [PARTNER], "servers": ["EX01", "EX02"]}


def test_a_comment_only_update_changes_only_the_comment(monkeypatch):
    after = {"connectors": [dict(PARTNER, Comment="new")], "servers": ["EX01", "EX02"]}
    result, session = run_module(monkeypatch, send_connector.main, {"name": "To partner", "comment": "new"}, READ,
                                 read_after=after)
    assert result["changed"] is True
    assert result["commands"] == ["Set-SendConnector -Identity 'To partner' -Comment 'new'"]
    assert session.executed == [result["commands"]]
    assert result["send_connector"]["address_spaces"] == ["SMTP:fabrikam.com;1"]


def test_a_new_connector_without_address_spaces_gets_every_domain(monkeypatch):
    result, _unused = run_module(monkeypatch, send_connector.main,
                                 {"name": "To internet", "usage": "Internet", "dns_routing_enabled": True},
                                 {"connectors": [], "servers": ["EX01"]})
    assert result["commands"] == ["New-SendConnector -Name 'To internet' -Usage 'Internet' -AddressSpaces @('*') "
                                  "-DNSRoutingEnabled:$true"]


def test_address_spaces_given_are_still_enforced(monkeypatch):
    result, _unused = run_module(monkeypatch, send_connector.main, {"name": "To partner", "address_spaces": ["*"]},
                                 READ)
    assert result["commands"] == ["Set-SendConnector -Identity 'To partner' -AddressSpaces @('*')"]


def test_csr_path_in_a_missing_directory_is_refused_before_the_request(monkeypatch, tmp_path):
    missing = tmp_path / "no-such-dir" / "ex01.req"
    result, session = run_module(monkeypatch, certificate.main, {
        "server": "EX01", "state": "requested", "domain_names": ["mail.contoso.com"], "csr_path": str(missing)}, None)
    assert result["failed"] is True
    assert result["msg"] == ("csr_path: directory %s does not exist; create it first. Nothing was requested"
                             % missing.parent)
    assert session.queries == [] and session.executed == []
    assert result.get("changed") is not True


def test_too_large_a_comment_is_refused_naming_the_limit(monkeypatch):
    from test_exchange_session import make  # the real ExchangeSession over a fake WinRM protocol

    real, fake = make(lambda kind, payload: ("ok", ['{"connectors": [], "servers": ["EX01"]}'])
                      if kind == "query" else ("ok", []))
    monkeypatch.setattr(exchange_module.ExchangeSession, "from_params", classmethod(lambda cls, params: real))
    outcome = {}

    class Done(BaseException):
        pass

    def fail_json(self, msg, **kwargs):
        outcome.update(kwargs, msg=msg)
        raise Done()

    monkeypatch.setattr(exchange_module.AnsibleModule, "fail_json", fail_json)
    from ansible.module_utils.testing import patch_module_args

    with patch_module_args({"exchange_host": "ex01", "name": "To partner", "comment": "c" * 400000}):
        with pytest.raises(Done):
            send_connector.main()
    assert outcome["msg"].startswith("New-SendConnector for 'To partner': too large for one WinRM message (")
    assert outcome["msg"].endswith("bytes once encoded; the WinRM service accepts at most 512000 bytes, "
                                   "MaxEnvelopeSizekb=500); nothing was sent. Shorten the values (a value of more "
                                   "than about 283648 characters cannot be sent)")
    assert "may or may not" not in outcome["msg"] and "unconfirmed_commands" not in outcome
    assert not [s for s in fake.scripts if "New-SendConnector" in s]  # the read and the load only
