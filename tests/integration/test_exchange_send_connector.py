"""exchange_send_connector against the lab, through ansible-playbook."""

import pytest
from labtools import assert_one_session, assert_scripts, versions, write_commands
from labstate import changes, find, props

pytestmark = pytest.mark.slow


def _outside(paths, collection):
    return [p for p in paths if not p or p[0] != collection]


def test_send_connector_lifecycle(lab):
    name = "To internet IT"
    args = {"name": name, "usage": "Internet", "address_spaces": ["*"], "dns_routing_enabled": True,
            "source_transport_servers": ["EX01", "EX02"], "fqdn": "mail.contoso.com", "max_message_size": "30MB"}

    # check mode: change reported, lab untouched
    before = lab.lab_state()
    result = lab.run_module("exchange_send_connector", args, check=True)
    assert result.get("failed") is not True, result
    assert result["changed"] is True
    assert result["commands"][0].startswith("New-SendConnector -Name 'To internet IT' -Usage 'Internet'")
    assert changes(before, lab.lab_state()) == []
    assert write_commands(lab) == []
    assert_one_session(lab)

    # first run: exactly the intended change
    result = lab.run_module("exchange_send_connector", args, diff=True)
    assert result.get("failed") is not True, result
    assert result["changed"] is True
    assert result["diff"]["before"] == {"name": name, "state": "absent"}
    assert write_commands(lab) == ["New-SendConnector"]
    assert_scripts(lab, 3)
    after_state = lab.lab_state()
    assert _outside(changes(before, after_state), "send_connectors") == []
    record = props(find(after_state, "send_connectors", name))
    assert record is not None
    assert str(record.get("Fqdn")).lower() == "mail.contoso.com"
    assert_one_session(lab)

    # second run: nothing to do, one read round
    result = lab.run_module("exchange_send_connector", args)
    assert result.get("failed") is not True, result
    assert result["changed"] is False, result["commands"]
    assert result["commands"] == []
    assert result["send_connector"]["address_spaces"] == ["SMTP:*;1"]
    assert sorted(result["send_connector"]["source_transport_servers"]) == ["EX01", "EX02"]
    assert write_commands(lab) == []
    assert_one_session(lab)
    assert_scripts(lab, 2)

    # diff: a managed property changes
    result = lab.run_module("exchange_send_connector", dict(args, comment="managed by Ansible", require_tls=True),
                            diff=True)
    assert result["changed"] is True
    assert result["diff"]["before"]["comment"] is None
    assert result["diff"]["after"]["comment"] == "managed by Ansible"
    assert result["diff"]["before"]["require_tls"] is False
    assert result["diff"]["after"]["require_tls"] is True
    assert result["commands"] == ["Set-SendConnector -Identity 'To internet IT' -RequireTLS:$true "
                                  "-Comment 'managed by Ansible'"]
    record = props(find(lab.lab_state(), "send_connectors", name))
    assert record["Comment"] == "managed by Ansible"

    # smart hosts instead of DNS
    result = lab.run_module("exchange_send_connector", {"name": name, "smart_hosts": ["relay.contoso.com"]})
    assert result["changed"] is True, result
    result = lab.run_module("exchange_send_connector", {"name": name, "smart_hosts": ["RELAY.contoso.com"]})
    assert result["changed"] is False, result

    # removal
    result = lab.run_module("exchange_send_connector", {"name": name, "state": "absent"})
    assert result["changed"] is True
    assert find(lab.lab_state(), "send_connectors", name) is None
    result = lab.run_module("exchange_send_connector", {"name": name, "state": "absent"})
    assert result["changed"] is False


@pytest.mark.parametrize("args,message", [
    ({"name": "Refused", "smart_hosts": ["relay.contoso.com"], "dns_routing_enabled": True}, "mutually exclusive"),
    ({"name": "Refused", "source_transport_servers": ["EX09"]}, "'EX09' is not an Exchange server"),
    ({"name": "Refused", "address_spaces": ["bad space$(whoami)"]}, "is not '*', a domain"),
])
def test_send_connector_refusals_write_nothing(lab, args, message):
    before = lab.lab_state()
    result = lab.run_module("exchange_send_connector", args)
    assert result.get("failed") is True, result
    assert message in result["msg"]
    assert write_commands(lab) == []
    assert changes(before, lab.lab_state()) == []


@pytest.mark.parametrize("version", [v for v in versions() if v != "2019"])
def test_send_connector_other_versions(lab_factory, version):
    lab = lab_factory(version)
    args = {"name": "Outbound %s" % version, "usage": "Internet", "dns_routing_enabled": True,
            "source_transport_servers": ["EX01"]}
    result = lab.run_module("exchange_send_connector", args)
    assert result.get("failed") is not True, result
    assert result["changed"] is True
    assert_one_session(lab)
    result = lab.run_module("exchange_send_connector", args)
    assert result["changed"] is False, result


def test_hostile_comment_reaches_exchange_verbatim(lab):
    hostile = "it's \"quoted\" $(Remove-Item C:\\) ${env:x} `n \u2018typo\u2019 \u201cdq\u201d ; | & # <# #> \u00e9\u65e5"
    name = "Hostile \u2019 $(x) connector"
    args = {"name": name, "usage": "Custom", "address_spaces": ["hostile.example"], "dns_routing_enabled": True,
            "source_transport_servers": ["EX01"], "comment": hostile}
    result = lab.run_module("exchange_send_connector", args)
    assert result.get("failed") is not True, result
    record = props(find(lab.lab_state(), "send_connectors", name))
    assert record is not None
    assert record["Comment"] == hostile
    result = lab.run_module("exchange_send_connector", args)
    assert result["changed"] is False, result
    assert result["send_connector"]["comment"] == hostile
    result = lab.run_module("exchange_send_connector", {"name": name, "state": "absent"})
    assert result["changed"] is True
