"""The collection under real Exchange remote PowerShell semantics, in each ``exchange_shell`` mode (issue 11).

Through implicit remoting (``remote_session``, ``remote_exchange_script``) Exchange's errors arrive as
non-terminating errors that a caller's local ``$ErrorActionPreference`` does not stop, and objects arrive
deserialized (nested Exchange values as strings, certificates with RawData only). The lab models that (see
``tests/lab/README.md``, "Fidelity"); these tests hold what a user sees: a failing write or read fails the task with
Exchange's text and nothing reported as applied that was not; a second run changes nothing.
"""

from __future__ import annotations

import pytest
from labstate import find, props
from labtools import Lab, set_faults, write_commands

MODES = ("remote_session", "remote_exchange_script", "snapin")


@pytest.fixture()
def clean(lab):
    set_faults(lab, cmdlet_failures=[])
    yield lab
    set_faults(lab, cmdlet_failures=[])


def run(lab: Lab, mode: str, module: str, args: dict, **kwargs) -> dict:
    return lab.run_module(module, args, extra_env={"EXCHANGE_SHELL": mode}, **kwargs)


def assert_failed_with(result: dict, *needles: str) -> None:
    assert result.get("failed") is True, result
    assert result.get("changed") is not True, result
    for needle in needles:
        assert needle.lower() in result["msg"].lower(), (needle, result["msg"])


@pytest.mark.parametrize("mode", MODES)
def test_a_failing_write_fails_the_task_and_applies_nothing(clean, mode):
    lab = clean
    name = "Semantics Write %s" % mode
    domain = "write-%s.example" % mode.replace("_", "-")
    set_faults(lab, cmdlet_failures=[{"cmdlet": "New-AcceptedDomain", "message": "The domain controller refused it."}])
    result = run(lab, mode, "exchange_accepted_domain",
                 {"name": name, "domain_name": domain, "domain_type": "InternalRelay"})
    assert_failed_with(result, "New-AcceptedDomain", "The domain controller refused it.")
    assert find(lab.lab_state(), "accepted_domains", name) is None

    set_faults(lab, cmdlet_failures=[])
    first = run(lab, mode, "exchange_accepted_domain", {"name": name, "domain_name": domain, "domain_type": "InternalRelay"})
    assert first.get("failed") is not True and first["changed"] is True, first
    assert str(props(find(lab.lab_state(), "accepted_domains", name))["DomainType"]) == "InternalRelay"


@pytest.mark.parametrize("mode", MODES)
def test_a_failing_write_after_a_successful_one_reports_exactly_what_was_applied(clean, mode):
    """Two writes in one batch, the second refused: the first is reported as applied and is in Exchange, the second
    is reported as failed and is not."""
    lab = clean
    host = "https://%s.semantics.contoso.com" % mode.replace("_", "-")
    urls = {"ews": host + "/EWS/Exchange.asmx", "eas": host + "/Microsoft-Server-ActiveSync"}
    args = {"server": "EX02", "urls": {key: {"external_url": url} for key, url in urls.items()}}
    planned = run(lab, mode, "exchange_vdir_url", args, check=True, server="EX02")
    first, second = [line.split(" ", 1)[0] for line in planned["commands"]]
    set_faults(lab, cmdlet_failures=[{"cmdlet": second, "message": "The IIS metabase could not be written."}])
    result = run(lab, mode, "exchange_vdir_url", args, server="EX02")
    assert_failed_with(result, second, "The IIS metabase could not be written.")
    assert [c.split(" ", 1)[0] for c in result["applied_commands"]] == [first]
    assert result["failed_command"].startswith(second)
    read = run(lab, mode, "exchange_info", {"gather": ["client_access"], "servers": ["EX02"]}, server="EX02")
    now = {key: (read["servers"][0]["urls"][key]["external_url"] or "").lower() for key in urls}
    applied = "ews" if first == "Set-WebServicesVirtualDirectory" else "eas"
    assert {key: now[key] == urls[key].lower() for key in urls} == {key: key == applied for key in urls}


@pytest.mark.parametrize("mode", MODES)
def test_a_failing_read_fails_the_task_with_exchanges_text(clean, mode):
    lab = clean
    set_faults(lab, cmdlet_failures=[{"cmdlet": "Get-AcceptedDomain", "message": "The Active Directory read timed out."}])
    result = run(lab, mode, "exchange_accepted_domain",
                 {"name": "Semantics Read", "domain_name": "read.example", "domain_type": "InternalRelay"})
    assert_failed_with(result, "Get-AcceptedDomain", "The Active Directory read timed out.")
    assert write_commands(lab) == []
    assert find(lab.lab_state(), "accepted_domains", "Semantics Read") is None


@pytest.mark.parametrize("mode", MODES)
def test_nested_values_read_as_strings_converge(clean, mode):
    """SourceTransportServers elements are strings through a plain Import-PSSession: a second run changes nothing."""
    lab = clean
    args = {"name": "Semantics Nested %s" % mode, "address_spaces": ["*"], "source_transport_servers": ["EX01", "EX02"],
            "fqdn": "mail.contoso.com", "max_message_size": "35MB"}
    first = run(lab, mode, "exchange_send_connector", args)
    assert first.get("failed") is not True, first
    second = run(lab, mode, "exchange_send_connector", args)
    assert second.get("failed") is not True and second["changed"] is False, second
    assert write_commands(lab) == []


@pytest.mark.parametrize("mode", MODES)
def test_info_reads_certificates_in_every_mode(clean, mode):
    lab = clean
    result = run(lab, mode, "exchange_info", {"gather": ["certificates"], "servers": ["EX01"]})
    assert result.get("failed") is not True, result
    certificates = result["servers"][0]["certificates"]
    iis = [c for c in certificates if "IIS" in (c["services"] or [])]
    assert len(iis) == 1 and iis[0]["thumbprint"] and iis[0]["subject"]
