import pytest

from ansible_collections.mailops.exchange.plugins.modules import exchange_accepted_domain as mod

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mailflow_harness import run_module  # noqa: E402

DOMAINS = [{"Name": "corp.contoso.com", "DomainName": "corp.contoso.com", "DomainType": "Authoritative", "Default": True},
           {"Name": "Fabrikam", "DomainName": "fabrikam.com", "DomainType": "InternalRelay", "Default": False}]


def test_create_and_make_default(monkeypatch):
    args = {"name": "Contoso", "domain_name": "Contoso.com", "domain_type": "Authoritative", "make_default": True}
    created = {"Name": "Contoso", "DomainName": "contoso.com", "DomainType": "Authoritative", "Default": True}
    after = [dict(d, Default=False) for d in DOMAINS] + [created]
    result, session = run_module(monkeypatch, mod.main, args, DOMAINS, diff=True, read_after=after)
    assert result["changed"] is True
    assert result["commands"] == [
        "New-AcceptedDomain -Name 'Contoso' -DomainName 'Contoso.com' -DomainType 'Authoritative'",
        "Set-AcceptedDomain -Identity 'Contoso' -MakeDefault:$true",
    ]
    assert session.executed == [result["commands"]]
    assert len(session.queries) == 1
    assert session.read_backs == [mod.READ_SCRIPT]  # read back with the writes, in the same round trip
    assert result["diff"]["before"] == {"name": "Contoso", "state": "absent"}
    assert result["accepted_domain"] == {"name": "Contoso", "domain_name": "contoso.com", "domain_type": "Authoritative",
                                         "make_default": True, "state": "present"}


def test_check_mode_runs_nothing(monkeypatch):
    result, session = run_module(monkeypatch, mod.main, {"name": "Contoso", "domain_name": "contoso.com"}, DOMAINS,
                                 check=True)
    assert result["changed"] is True
    assert result["commands"]
    assert session.executed == []


def test_idempotent(monkeypatch):
    args = {"name": "fabrikam", "domain_name": "FABRIKAM.com.", "domain_type": "InternalRelay"}
    result, session = run_module(monkeypatch, mod.main, args, DOMAINS)
    assert result["changed"] is False
    assert result["commands"] == []
    assert session.executed == []


def test_change_type(monkeypatch):
    result, _unused = run_module(monkeypatch, mod.main, {"name": "Fabrikam", "domain_type": "ExternalRelay"}, DOMAINS)
    assert result["commands"] == ["Set-AcceptedDomain -Identity 'Fabrikam' -DomainType 'ExternalRelay'"]


def test_remove(monkeypatch):
    result, _unused = run_module(monkeypatch, mod.main, {"name": "Fabrikam", "state": "absent"}, DOMAINS)
    assert result["commands"] == ["Remove-AcceptedDomain -Identity 'Fabrikam' -Confirm:$false"]
    result, _unused = run_module(monkeypatch, mod.main, {"name": "Nope", "state": "absent"}, DOMAINS)
    assert result["changed"] is False


@pytest.mark.parametrize("args,message", [
    ({"name": "corp.contoso.com", "state": "absent"}, "is the default accepted domain and cannot be removed"),
    ({"name": "New"}, "domain_name is required to create it"),
    ({"name": "Other", "domain_name": "fabrikam.com"}, "already the accepted domain 'Fabrikam'"),
    ({"name": "Fabrikam", "domain_name": "other.com"}, "cannot change the domain"),
    ({"name": "Bad", "domain_name": "bad domain'; Remove-Item"}, "is not a valid domain name"),
])
def test_refusals_before_any_write(monkeypatch, args, message):
    result, session = run_module(monkeypatch, mod.main, args, DOMAINS)
    assert result["failed"] is True
    assert message in result["msg"]
    assert session.executed == []


def test_hostile_name_stays_literal():
    commands, _unused, _unused2 = mod.plan({"name": "x'; Remove-Item C:\\ #", "domain_name": "x.com", "state": "present"}, DOMAINS)
    assert commands == ["New-AcceptedDomain -Name 'x''; Remove-Item C:\\ #' -DomainName 'x.com' -DomainType 'Authoritative'"]


def test_single_object_read_is_accepted(monkeypatch):
    result, _unused = run_module(monkeypatch, mod.main, {"name": "Fabrikam", "domain_type": "InternalRelay"}, DOMAINS[1])
    assert result["changed"] is False
