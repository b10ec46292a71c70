"""exchange_vdir_url against the lab, through ansible-playbook: the seeds' URL tables on 2013, 2016 and 2019."""

import pytest
from labstate import changes
from labtools import assert_one_session, versions, write_commands

pytestmark = pytest.mark.slow

# "How do you know this step worked?" (external URLs, unique Outlook on the web FQDN).
EXTERNAL = {
    "ecp": "https://owa.contoso.com/ecp",
    "ews": "https://mail.contoso.com/EWS/Exchange.asmx",
    "eas": "https://mail.contoso.com/Microsoft-Server-ActiveSync",
    "oab": "https://mail.contoso.com/OAB",
    "owa": "https://owa.contoso.com/owa",
    "powershell": "http://mail.contoso.com/PowerShell",
}
INTERNAL_DIFFERENT = {
    "ecp": "https://internal.contoso.com/ecp",
    "ews": "https://internal.contoso.com/EWS/Exchange.asmx",
    "eas": "https://internal.contoso.com/Microsoft-Server-ActiveSync",
    "oab": "https://internal.contoso.com/OAB",
    "owa": "https://internal.contoso.com/owa",
    "powershell": "http://internal.contoso.com/PowerShell",
}
AUTODISCOVER = "https://internal.contoso.com/Autodiscover/Autodiscover.xml"


def info(lab, server="EX01"):
    result = lab.run_module("exchange_info", {"gather": ["client_access"], "servers": [server]})
    assert result.get("failed") is not True, result
    return result["servers"][0]


@pytest.mark.parametrize("version", versions())
def test_seed_tables(lab_factory, version):
    lab = lab_factory(version)
    urls = {key: {"external_url": url} for key, url in EXTERNAL.items()}
    urls.update({key: dict(urls[key], internal_url=url) for key, url in INTERNAL_DIFFERENT.items()})
    start = info(lab)
    # MAPI over HTTP: Exchange 2016 and later, and 2013 SP1 and later (the lab's 2013 is CU23) - only if it is there.
    has_mapi = "mapi" in start["urls"]
    assert has_mapi or version == "2013"
    if has_mapi:
        urls["mapi"] = {"external_url": "https://mail.contoso.com/mapi", "internal_url": "https://internal.contoso.com/mapi"}
    args = {"server": "EX01", "urls": urls,
            "outlook_anywhere": {"external_hostname": "mail.contoso.com", "internal_hostname": "internal.contoso.com",
                                 "external_clients_require_ssl": True,
                                 "external_client_authentication_method": "Negotiate"},
            "autodiscover_internal_uri": AUTODISCOVER}
    state0 = lab.lab_state()

    # Check mode: the change is reported, nothing is written.
    result = lab.run_module("exchange_vdir_url", args, check=True, diff=True)
    assert result.get("failed") is not True, result
    assert result["changed"] is True
    assert write_commands(lab) == []
    assert changes(state0, lab.lab_state()) == []
    assert result["diff"]["before"]["urls"]["owa"]["external_url"] is None
    assert result["diff"]["after"]["urls"]["owa"]["external_url"] == EXTERNAL["owa"]
    check_commands = result["commands"]

    # First run: exactly the commands predicted, one per object, one session.
    result = lab.run_module("exchange_vdir_url", args, diff=True)
    assert result["changed"] is True, result
    assert result["commands"] == check_commands
    expected_cmdlets = ["Set-OwaVirtualDirectory", "Set-EcpVirtualDirectory", "Set-WebServicesVirtualDirectory",
                        "Set-ActiveSyncVirtualDirectory", "Set-OabVirtualDirectory"]
    if has_mapi:
        expected_cmdlets.append("Set-MapiVirtualDirectory")
    expected_cmdlets += ["Set-PowerShellVirtualDirectory", "Set-OutlookAnywhere",
                         "Set-ClientAccessServer" if version == "2013" else "Set-ClientAccessService"]
    assert [c.split(" ", 1)[0] for c in result["commands"]] == expected_cmdlets
    assert write_commands(lab) == expected_cmdlets
    assert_one_session(lab)

    # The lab now shows exactly the tables (read back by exchange_info).
    after = info(lab)
    for key, url in EXTERNAL.items():
        assert after["urls"][key]["external_url"].lower() == url.lower(), (key, after["urls"][key])
    for key, url in INTERNAL_DIFFERENT.items():
        assert after["urls"][key]["internal_url"].lower() == url.lower(), (key, after["urls"][key])
    assert after["outlook_anywhere"]["external_hostname"] == "mail.contoso.com"
    assert after["outlook_anywhere"]["internal_hostname"] == "internal.contoso.com"
    assert after["outlook_anywhere"]["external_clients_require_ssl"] is True
    assert after["outlook_anywhere"]["external_client_authentication_method"] == "Negotiate"
    assert after["autodiscover_internal_uri"] == AUTODISCOVER
    # Nothing else changed: EX02 and the other parts of EX01 are as they were.
    assert info(lab, "EX02")["urls"] == info(lab_factory(version), "EX02")["urls"]
    assert set(start["urls"]) == set(after["urls"])
    assert ("mapi" in after["urls"]) is has_mapi

    # Second run: nothing to do.
    result = lab.run_module("exchange_vdir_url", args)
    assert result["changed"] is False, result
    assert result["commands"] == []
    assert write_commands(lab) == []
    assert_one_session(lab)


@pytest.mark.parametrize("version", versions())
def test_refusals_write_nothing(lab_factory, version):
    lab = lab_factory(version)
    before = lab.lab_state()
    cases = [
        ({"urls": {"owa": {"internal_url": "https://owa.contoso.com/owa"},
                   "ecp": {"internal_url": "https://mail.contoso.com/ecp"}}}, "must use the same scheme and host"),
        # No option for the Autodiscover virtual directory: Ansible refuses the key.
        ({"urls": {"autodiscover": {"internal_url": "https://mail.contoso.com/Autodiscover"}}},
         "Unsupported parameters"),
        ({"urls": {"powershell": {"external_url": "https://mail.contoso.com/PowerShell"}}}, "must use http://"),
        ({"urls": {"ews": {"external_url": "http://mail.contoso.com/EWS/Exchange.asmx"}}}, "must use https://"),
        # EX02 has no external URLs yet: owa's alone would leave ecp's empty.
        ({"server": "EX02", "urls": {"owa": {"external_url": "https://owa.contoso.com/owa"}}}, "set together"),
        ({"outlook_anywhere": {"external_client_authentication_method": "Digest"}}, "one of: Basic, Ntlm, Negotiate"),
    ]
    if "mapi" not in info(lab)["urls"]:
        cases.append(({"urls": {"mapi": {"external_url": "https://mail.contoso.com/mapi"}}},
                      "no 'mapi (Default Web Site)' virtual directory"))
    for extra, message in cases:
        args = {"server": "EX01"}
        args.update(extra)
        result = lab.run_module("exchange_vdir_url", args)
        assert result.get("failed") is True, (extra, result)
        assert message in result["msg"], (message, result["msg"])
        assert write_commands(lab) == [], extra
    assert changes(before, lab.lab_state()) == []


def test_clear_and_unknown_server(lab):
    result = lab.run_module("exchange_vdir_url", {"server": "EX02", "urls": {"powershell": {"internal_url": None}}},
                            server="EX02")
    assert result["changed"] is True, result
    assert result["commands"] == ["Set-PowerShellVirtualDirectory -Identity 'EX02\\PowerShell (Default Web Site)' "
                                  "-InternalUrl $null"]
    assert info(lab, "EX02")["urls"]["powershell"]["internal_url"] is None
    result = lab.run_module("exchange_vdir_url", {"server": "EX02", "urls": {"powershell": {"internal_url": ""}}},
                            server="EX02")
    assert result["changed"] is False, result

    result = lab.run_module("exchange_vdir_url", {"server": "EX09", "urls": {"owa": {"internal_url": None},
                                                                              "ecp": {"internal_url": None}}})
    assert result.get("failed") is True
    assert "Get-ExchangeServer" in result["msg"] and "EX09" in result["msg"]
    assert write_commands(lab) == []
