"""exchange_accepted_domain against the lab, through ansible-playbook."""

import pytest
from labtools import assert_one_session, assert_scripts, versions, write_commands
from labstate import changes, find, props

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("version", versions())
def test_accepted_domain_lifecycle(lab_factory, version):
    lab = lab_factory(version)
    args = {"name": "Fabrikam IT", "domain_name": "fabrikam-it.com", "domain_type": "InternalRelay"}

    before = lab.lab_state()
    result = lab.run_module("exchange_accepted_domain", args, check=True, diff=True)
    assert result.get("failed") is not True, result
    assert result["changed"] is True
    assert result["diff"]["after"]["domain_type"] == "InternalRelay"
    assert changes(before, lab.lab_state()) == []
    assert write_commands(lab) == []

    result = lab.run_module("exchange_accepted_domain", args)
    assert result["changed"] is True, result
    assert result["commands"] == ["New-AcceptedDomain -Name 'Fabrikam IT' -DomainName 'fabrikam-it.com' "
                                  "-DomainType 'InternalRelay'"]
    assert write_commands(lab) == ["New-AcceptedDomain"]
    assert_one_session(lab)
    assert_scripts(lab, 3)
    after = lab.lab_state()
    assert [p for p in changes(before, after) if p and p[0] != "accepted_domains"] == []
    record = props(find(after, "accepted_domains", "Fabrikam IT"))
    assert str(record["DomainName"]) == "fabrikam-it.com"
    assert str(record["DomainType"]) == "InternalRelay"

    result = lab.run_module("exchange_accepted_domain", args)
    assert result["changed"] is False, result
    assert_one_session(lab)
    assert_scripts(lab, 2)

    result = lab.run_module("exchange_accepted_domain", dict(args, domain_type="ExternalRelay"), diff=True)
    assert result["changed"] is True
    assert result["diff"]["before"]["domain_type"] == "InternalRelay"
    assert result["diff"]["after"]["domain_type"] == "ExternalRelay"
    assert str(props(find(lab.lab_state(), "accepted_domains", "Fabrikam IT"))["DomainType"]) == "ExternalRelay"

    result = lab.run_module("exchange_accepted_domain", {"name": "Fabrikam IT", "state": "absent"})
    assert result["changed"] is True, result
    assert find(lab.lab_state(), "accepted_domains", "Fabrikam IT") is None


def test_default_domain_cannot_be_removed(lab):
    before = lab.lab_state()
    result = lab.run_module("exchange_accepted_domain", {"name": "corp.contoso.com", "state": "absent"})
    assert result.get("failed") is True
    assert "is the default accepted domain and cannot be removed" in result["msg"]
    assert write_commands(lab) == []
    assert changes(before, lab.lab_state()) == []


def test_invalid_domain_refused(lab):
    result = lab.run_module("exchange_accepted_domain", {"name": "Bad", "domain_name": "not a domain;"})
    assert result.get("failed") is True
    assert "is not a valid domain name" in result["msg"]
    assert write_commands(lab) == []
