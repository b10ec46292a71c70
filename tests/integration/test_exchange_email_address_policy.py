"""exchange_email_address_policy against the lab, through ansible-playbook."""

import json

import pytest
from labtools import assert_one_session, assert_scripts, write_commands
from labstate import changes, find, props

pytestmark = pytest.mark.slow


def test_template_for_a_domain_that_is_not_accepted_is_refused_before_any_write(lab):
    before = lab.lab_state()
    result = lab.run_module("exchange_email_address_policy", {"primary_smtp_address_template": "@tailspintoys.com"})
    assert result.get("failed") is True, result
    assert "tailspintoys.com is not an accepted domain" in result["msg"]
    assert result["commands"] == []
    assert write_commands(lab) == []
    assert changes(before, lab.lab_state()) == []
    assert_one_session(lab)
    assert_scripts(lab, 2)


def test_policy_change_apply_and_idempotence(lab):
    setup = lab.run_module("exchange_accepted_domain", {"name": "Contoso Mail", "domain_name": "contoso-mail.com"})
    assert setup.get("failed") is not True, setup
    args = {"primary_smtp_address_template": "%g.%s@corp.contoso.com", "extra_templates": ["@contoso-mail.com"]}

    before = lab.lab_state()
    result = lab.run_module("exchange_email_address_policy", args, check=True)
    assert result["changed"] is True, result
    assert [c.split(" ")[0] for c in result["commands"]] == ["Set-EmailAddressPolicy", "Update-EmailAddressPolicy"]
    assert changes(before, lab.lab_state()) == []

    result = lab.run_module("exchange_email_address_policy", args, diff=True)
    assert result.get("failed") is not True, result
    assert result["changed"] is True
    assert result["diff"]["before"]["primary_smtp_address_template"] == "SMTP:@corp.contoso.com"
    assert result["diff"]["after"]["primary_smtp_address_template"] == "SMTP:%g.%s@corp.contoso.com"
    assert_one_session(lab)
    assert_scripts(lab, 3)
    assert write_commands(lab) == ["Set-EmailAddressPolicy", "Update-EmailAddressPolicy"]
    after = lab.lab_state()
    policy = props(find(after, "email_address_policies", "Default Policy"))
    assert sorted(policy["EnabledEmailAddressTemplates"]) == sorted(["SMTP:%g.%s@corp.contoso.com",
                                                                     "smtp:@contoso-mail.com"])
    # Update-EmailAddressPolicy stamped the recipients: a mailbox with a first and last name got first.last@
    assert "david.hamilton@corp.contoso.com" in json.dumps(after).lower()

    result = lab.run_module("exchange_email_address_policy", args)
    assert result["changed"] is False, result
    assert result["commands"] == []

    result = lab.run_module("exchange_email_address_policy", dict(args, force_apply=True))
    assert result["changed"] is True
    assert result["commands"] == ["Update-EmailAddressPolicy -Identity 'Default Policy'"]

    # back to the seeded policy
    result = lab.run_module("exchange_email_address_policy", {"primary_smtp_address_template": "@corp.contoso.com",
                                                              "extra_templates": []})
    assert result["changed"] is True, result
    result = lab.run_module("exchange_accepted_domain", {"name": "Contoso Mail", "state": "absent"})
    assert result["changed"] is True, result
