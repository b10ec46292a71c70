"""exchange_info: the read script's switches and the shapes of its result."""

from __future__ import annotations

import base64
import os
import sys

import pytest
from cryptography.hazmat.primitives import serialization

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # the helpers next to this file (pytest runs with --import-mode=importlib)
sys.path.insert(0, os.path.join(HERE, "..", "module_utils"))
from clientaccess_fakes import FakeSession, run_module  # noqa: E402
from test_certificate_plan import MAIL, NAMES, self_signed  # noqa: E402
from test_exchange_vdir_url import answer as vdir_answer  # noqa: E402

from ansible_collections.mailops.exchange.plugins.module_utils import certificate_info as ci  # noqa: E402
from ansible_collections.mailops.exchange.plugins.module_utils import vdir_plan  # noqa: E402
from ansible_collections.mailops.exchange.plugins.modules import exchange_info  # noqa: E402


def full_answer():
    cert, _unused = self_signed(MAIL, NAMES)
    return {
        "servers": [{"name": "EX01", "fqdn": "ex01.corp.contoso.com", "version": "Version 15.2 (Build 1118.7)"},
                    {"name": "EX02", "fqdn": "ex02.corp.contoso.com", "version": "Version 15.2 (Build 1118.7)"}],
        "per_server": [{"name": "EX01", "client_access": vdir_answer(), "certificates": {
            "computer": "EX01", "iis": [ci.thumbprint(cert)], "internal_transport_thumbprint": ci.thumbprint(cert),
            "exchange": [{"raw": base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()}],
            "local": [{"store": "My", "thumbprint": ci.thumbprint(cert), "friendly_name": "Contoso",
                       "raw": base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode(),
                       "has_private_key": "True"}], "requests": []}}],
        "send_connectors": [{"name": "Internet", "address_spaces": ["SMTP:*;1"], "dns_routing_enabled": True,
                             "smart_hosts": [], "source_transport_servers": ["EX01"], "fqdn": "",
                             "enabled": True, "max_message_size": "35 MB (36,700,160 bytes)", "require_tls": False,
                             "comment": ""}],
        "receive_connectors": [
            {"identity": "EX01\\Client Frontend EX01", "name": "Client Frontend EX01", "server": "EX01",
             "transport_role": "FrontendTransport", "fqdn": "EX01.corp.contoso.com", "tls_certificate_name": "",
             "advertise_client_settings": False, "bindings": ["[::]:587", "0.0.0.0:587"],
             "remote_ip_ranges": ["::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "0.0.0.0-255.255.255.255"],
             "auth_mechanism": "Tls, Integrated, BasicAuth, BasicAuthRequireTLS", "permission_groups": "ExchangeUsers"},
            {"identity": "EX02\\Client Frontend EX02", "name": "Client Frontend EX02", "server": "EX02",
             "transport_role": "FrontendTransport", "fqdn": "EX02.corp.contoso.com", "tls_certificate_name": "",
             "advertise_client_settings": False, "bindings": "0.0.0.0:587", "remote_ip_ranges": [],
             "auth_mechanism": "None", "permission_groups": "None"}],
        "accepted_domains": [{"name": "corp.contoso.com", "domain_name": "Corp.Contoso.com", "domain_type": "Authoritative",
                              "default": True}],
        "email_address_policies": [{
            "name": "Default Policy",
            "templates": ["SMTP:@contoso.com", "smtp:@corp.contoso.com", "X400:c=US;a= ;p=Contoso;"],
            "priority": "Lowest",
        }],
        "offline_address_books": [{"name": "Default Offline Address Book", "is_default": True,
                                   "global_web_distribution_enabled": True, "virtual_directories": []}],
    }, cert


def test_chosen_parts():
    assert exchange_info.chosen_parts(["all"]) == set(exchange_info.PARTS)
    assert exchange_info.chosen_parts(["certificates"]) == {"certificates", "servers"}
    assert exchange_info.chosen_parts(["accepted_domains"]) == {"accepted_domains"}


def test_read_script_switches():
    script = exchange_info.read_script({"accepted_domains"}, None)
    assert "if ($true) {\n    $domains" in script and "if ($false) {\n    $send" in script
    assert "if ($false) {\n    $perServer" in script
    script = exchange_info.read_script(exchange_info.chosen_parts(["client_access"]), ["EX01", "it's"])
    assert "$names = @('EX01', 'it''s')" in script and "if ($true) {\n    $perServer" in script
    assert vdir_plan.SERVER_BLOCK in script


def test_shape_everything():
    answer, cert = full_answer()
    result = exchange_info.shape(answer, set(exchange_info.PARTS), ["EX01"])
    server = result["servers"][0]
    assert server["name"] == "EX01" and server["version"] == "2019"
    assert server["urls"]["owa"] == {"internal_url": "https://ex01.corp.contoso.com/owa", "external_url": None}
    assert server["urls"]["powershell"]["internal_url"] == "http://ex01.corp.contoso.com/PowerShell"
    assert server["outlook_anywhere"]["internal_client_authentication_method"] == "Ntlm"
    assert server["autodiscover_internal_uri"] == "https://ex01.corp.contoso.com/Autodiscover/Autodiscover.xml"
    facts = server["certificates"][0]
    assert facts["thumbprint"] == ci.thumbprint(cert) and facts["sans"] == NAMES and facts["services"] == ["IIS", "SMTP"]
    assert facts["tls_certificate_name"] == ci.tls_certificate_name(cert)
    assert [c["name"] for c in result["receive_connectors"]] == ["Client Frontend EX01"]
    rc = result["receive_connectors"][0]
    assert rc["auth_mechanism"] == ["Tls", "Integrated", "BasicAuth", "BasicAuthRequireTLS"]
    assert result["send_connectors"][0]["address_spaces"] == ["SMTP:*;1"]
    assert result["send_connectors"][0]["fqdn"] is None
    assert result["accepted_domains"] == [{"name": "corp.contoso.com", "domain_name": "corp.contoso.com",
                                           "domain_type": "Authoritative", "make_default": True, "state": "present"}]
    policy = result["email_address_policies"][0]
    assert policy["primary_smtp_address_template"] == "@contoso.com"
    assert policy["extra_templates"] == ["smtp:@corp.contoso.com"] and policy["other_templates"][0].startswith("X400:")
    assert result["offline_address_books"][0]["global_web_distribution_enabled"] is True


def test_output_feeds_exchange_vdir_url():
    """The urls read back validate as exchange_vdir_url input and plan no change on the same server."""
    answer, _unused = full_answer()
    server = exchange_info.shape(answer, set(exchange_info.PARTS), None)["servers"][0]
    desired = vdir_plan.validate_urls(server["urls"])
    oa = vdir_plan.validate_outlook_anywhere(server["outlook_anywhere"])
    plan = vdir_plan.plan(vdir_plan.current_state(vdir_answer()), desired, oa, server["autodiscover_internal_uri"])
    assert plan.commands == []


def test_servers_only_without_per_server_parts():
    answer, _unused = full_answer()
    answer["per_server"] = []
    result = exchange_info.shape(answer, {"servers"}, ["ex02"])
    assert result == {"servers": [{"name": "EX02", "fqdn": "ex02.corp.contoso.com", "version": "2019",
                                   "admin_display_version": "Version 15.2 (Build 1118.7)"}]}


def test_module_run_one_read(monkeypatch, capsys):
    answer, _unused = full_answer()
    session = FakeSession({"Get-ExchangeServer": answer})
    result = run_module(monkeypatch, capsys, exchange_info.main, {"servers": ["EX01"], "_ansible_check_mode": True},
                        session)
    assert result["changed"] is False and result["commands"] == [] and len(session.queries) == 1
    assert session.executed == [] and result["servers"][0]["name"] == "EX01"


@pytest.mark.parametrize("servers", [["EX01; Remove-Item"], ["a b"]])
def test_invalid_server_names(monkeypatch, capsys, servers):
    session = FakeSession({"Get-ExchangeServer": {}})
    result = run_module(monkeypatch, capsys, exchange_info.main, {"servers": servers}, session)
    assert result["failed"] and "not a server name" in result["msg"] and session.queries == []
