import pytest
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mailflow_harness import run_module  # noqa: E402

from ansible_collections.mailops.exchange.plugins.modules import exchange_email_address_policy as mod

READ = {"policies": [{"Name": "Default Policy", "EnabledEmailAddressTemplates": ["SMTP:@corp.contoso.com", "X400:c=US;a= ;p=Contoso;"],
                      "RecipientFilterApplied": True}],
        "domains": [{"DomainName": "corp.contoso.com", "DomainType": "Authoritative"},
                    {"DomainName": "contoso.com", "DomainType": "Authoritative"},
                    {"DomainName": "*.fabrikam.com", "DomainType": "InternalRelay"}]}


def test_change_and_apply(monkeypatch):
    args = {"primary_smtp_address_template": "%g.%s@Contoso.com", "extra_templates": ["@mail.fabrikam.com"]}
    written = dict(READ, policies=[dict(READ["policies"][0], EnabledEmailAddressTemplates=[
        "SMTP:%g.%s@contoso.com", "smtp:@mail.fabrikam.com", "X400:c=US;a= ;p=Contoso;"])])
    result, session = run_module(monkeypatch, mod.main, args, READ, diff=True, read_after=written)
    assert result["commands"] == [
        "Set-EmailAddressPolicy -Identity 'Default Policy' -EnabledEmailAddressTemplates "
        "@('SMTP:%g.%s@contoso.com', 'smtp:@mail.fabrikam.com', 'X400:c=US;a= ;p=Contoso;')",
        "Update-EmailAddressPolicy -Identity 'Default Policy'"]
    assert session.executed == [result["commands"]]
    assert len(session.queries) == 1
    assert result["diff"]["before"]["primary_smtp_address_template"] == "SMTP:@corp.contoso.com"
    assert result["diff"]["after"]["primary_smtp_address_template"] == "SMTP:%g.%s@contoso.com"
    assert result["email_address_policy"]["applied"] is True


def test_unchanged_does_not_apply(monkeypatch):
    result, session = run_module(monkeypatch, mod.main, {"primary_smtp_address_template": "@CORP.contoso.com"}, READ)
    assert result["changed"] is False
    assert result["commands"] == []


def test_force_apply(monkeypatch):
    result, _unused = run_module(monkeypatch, mod.main, {"primary_smtp_address_template": "@corp.contoso.com",
                                                         "force_apply": True}, READ)
    assert result["changed"] is True
    assert result["commands"] == ["Update-EmailAddressPolicy -Identity 'Default Policy'"]


def test_apply_false(monkeypatch):
    result, _unused = run_module(monkeypatch, mod.main, {"primary_smtp_address_template": "@contoso.com", "apply": False},
                                 READ)
    assert [c.split()[0] for c in result["commands"]] == ["Set-EmailAddressPolicy"]


def test_not_accepted_domain_refused_before_any_write(monkeypatch):
    result, session = run_module(monkeypatch, mod.main, {"primary_smtp_address_template": "@tailspintoys.com",
                                                         "extra_templates": ["@wingtip.com"]}, READ)
    assert result["failed"] is True
    assert "tailspintoys.com, wingtip.com are not an accepted domain" in result["msg"]
    assert "Nothing was changed" in result["msg"]
    assert session.executed == []
    assert result["commands"] == []


@pytest.mark.parametrize("args,message", [
    ({"primary_smtp_address_template": "contoso.com"}, "has no @domain"),
    ({"primary_smtp_address_template": "smtp:@contoso.com"}, "is marked secondary"),
    ({"primary_smtp_address_template": "@contoso.com", "extra_templates": ["SMTP:@contoso.com"]}, "is marked primary"),
    ({"primary_smtp_address_template": "a b@contoso.com"}, "may only hold address characters"),
    ({"primary_smtp_address_template": "@contoso..com"}, "not a valid domain name"),
    ({"primary_smtp_address_template": "@contoso.com", "name": "Nope"}, "'Nope' does not exist"),
])
def test_invalid_input(monkeypatch, args, message):
    result, session = run_module(monkeypatch, mod.main, args, READ)
    assert result["failed"] is True
    assert message in result["msg"]
    assert session.executed == []


def test_extra_templates_omitted_keeps_secondaries():
    read = {"policies": [{"Name": "Default Policy", "EnabledEmailAddressTemplates": ["SMTP:@corp.contoso.com",
                                                                                     "smtp:@contoso.com"]}],
            "domains": READ["domains"]}
    commands, before, after, _unused = mod.plan({"name": "Default Policy", "primary_smtp_address_template": "@contoso.com",
                                                 "extra_templates": None, "apply": True}, read)
    assert commands[0] == ("Set-EmailAddressPolicy -Identity 'Default Policy' -EnabledEmailAddressTemplates "
                           "@('SMTP:@contoso.com', 'smtp:@corp.contoso.com')") or commands[0].startswith(
        "Set-EmailAddressPolicy -Identity 'Default Policy' -EnabledEmailAddressTemplates @('SMTP:@contoso.com'")
    assert "smtp:@contoso.com" in before["extra_templates"]
