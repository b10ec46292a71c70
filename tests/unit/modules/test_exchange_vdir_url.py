"""exchange_vdir_url end to end in-process: one read, one batch, check mode, diff, refusals before any write."""

from __future__ import annotations

import json

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # helpers next to this file (importlib mode)
from clientaccess_fakes import FakeSession, run_module  # noqa: E402

from ansible_collections.mailops.exchange.plugins.modules import exchange_vdir_url

VDIRS = [("owa", "owa", "https", "/owa"), ("ecp", "ecp", "https", "/ecp"),
         ("ews", "EWS", "https", "/EWS/Exchange.asmx"),
         ("eas", "Microsoft-Server-ActiveSync", "https", "/Microsoft-Server-ActiveSync"),
         ("oab", "OAB", "https", "/OAB"), ("mapi", "mapi", "https", "/mapi"),
         ("powershell", "PowerShell", "http", "/PowerShell")]


def answer(version="Version 15.2 (Build 1118.7)", mapi=True):
    vdirs = {}
    for key, name, scheme, path in VDIRS:
        vdirs[key] = [] if key == "mapi" and not mapi else [{
            "name": "%s (Default Web Site)" % name, "identity": "EX01\\%s (Default Web Site)" % name,
            "internal_url": "%s://ex01.corp.contoso.com%s" % (scheme, path), "external_url": ""}]
    if mapi:
        vdirs["mapi"][0]["iis_authentication_methods"] = ["Ntlm", "OAuth", "Negotiate"]
    return {
        "server": {"name": "EX01", "fqdn": "ex01.corp.contoso.com", "version": version},
        "vdirs": vdirs,
        "outlook_anywhere": [{"name": "Rpc (Default Web Site)", "identity": "EX01\\Rpc (Default Web Site)",
                              "internal_hostname": "ex01.corp.contoso.com", "external_hostname": "",
                              "internal_clients_require_ssl": False, "external_clients_require_ssl": False,
                              "internal_client_authentication_method": "Ntlm",
                              "external_client_authentication_method": "Negotiate"}],
        "client_access": [{"identity": "EX01",
                           "autodiscover_internal_uri": "https://ex01.corp.contoso.com/Autodiscover/Autodiscover.xml"}],
    }


ARGS = {
    "server": "EX01",
    "urls": {"owa": {"external_url": "https://owa.contoso.com/owa"},
             "ecp": {"external_url": "https://owa.contoso.com/ecp"},
             "powershell": {"external_url": "http://mail.contoso.com/PowerShell"}},
    "outlook_anywhere": {"external_hostname": "mail.contoso.com", "external_clients_require_ssl": True},
    "autodiscover_internal_uri": "https://autodiscover.contoso.com/Autodiscover/Autodiscover.xml",
}
EXPECTED = [
    "Set-OwaVirtualDirectory -Identity 'EX01\\owa (Default Web Site)' -ExternalUrl 'https://owa.contoso.com/owa'",
    "Set-EcpVirtualDirectory -Identity 'EX01\\ecp (Default Web Site)' -ExternalUrl 'https://owa.contoso.com/ecp'",
    "Set-PowerShellVirtualDirectory -Identity 'EX01\\PowerShell (Default Web Site)' "
    "-ExternalUrl 'http://mail.contoso.com/PowerShell'",
    "Set-OutlookAnywhere -Identity 'EX01\\Rpc (Default Web Site)' -ExternalHostname 'mail.contoso.com' "
    "-ExternalClientsRequireSsl:$true",
    "Set-ClientAccessService -Identity 'EX01' "
    "-AutoDiscoverServiceInternalUri 'https://autodiscover.contoso.com/Autodiscover/Autodiscover.xml'",
]


def test_first_run_one_read_one_batch(monkeypatch, capsys):
    session = FakeSession({"Get-OwaVirtualDirectory": answer()})
    result = run_module(monkeypatch, capsys, exchange_vdir_url.main, dict(ARGS, _ansible_diff=True), session)
    assert result["changed"] is True
    assert result["commands"] == EXPECTED
    assert session.executed == [EXPECTED]
    assert len(session.queries) == 1 and "$server = 'EX01'" in session.queries[0]
    assert result["urls"]["owa"]["external_url"] == "https://owa.contoso.com/owa"
    assert result["outlook_anywhere"]["external_clients_require_ssl"] is True
    assert result["server"]["version"] == "2019"
    assert result["diff"]["before"]["urls"]["owa"]["external_url"] is None
    assert result["diff"]["after"]["autodiscover_internal_uri"].startswith("https://autodiscover.")
    assert session.closed


def test_second_run_unchanged(monkeypatch, capsys):
    converged = answer()
    for key, url in (("owa", "https://owa.contoso.com/owa"), ("ecp", "https://owa.contoso.com/ecp"),
                     ("powershell", "http://mail.contoso.com/PowerShell")):
        converged["vdirs"][key][0]["external_url"] = url
    converged["outlook_anywhere"][0].update(external_hostname="mail.contoso.com", external_clients_require_ssl=True)
    converged["client_access"][0]["autodiscover_internal_uri"] = ARGS["autodiscover_internal_uri"]
    session = FakeSession({"Get-OwaVirtualDirectory": converged})
    result = run_module(monkeypatch, capsys, exchange_vdir_url.main, ARGS, session)
    assert result["changed"] is False and result["commands"] == [] and session.executed == []


def test_check_mode_writes_nothing(monkeypatch, capsys):
    session = FakeSession({"Get-OwaVirtualDirectory": answer()})
    result = run_module(monkeypatch, capsys, exchange_vdir_url.main, dict(ARGS, _ansible_check_mode=True), session)
    assert result["changed"] is True and result["commands"] == EXPECTED
    assert session.executed == []


def test_2013_uses_set_clientaccessserver(monkeypatch, capsys):
    session = FakeSession({"Get-OwaVirtualDirectory": answer("Version 15.0 (Build 1497.2)", mapi=False)})
    args = {"server": "EX01", "autodiscover_internal_uri": ARGS["autodiscover_internal_uri"]}
    result = run_module(monkeypatch, capsys, exchange_vdir_url.main, args, session)
    assert result["commands"] == ["Set-ClientAccessServer -Identity 'EX01' -AutoDiscoverServiceInternalUri "
                                  "'https://autodiscover.contoso.com/Autodiscover/Autodiscover.xml'"]
    assert result["server"]["version"] == "2013"
    assert "mapi" not in result["urls"]


@pytest.mark.parametrize("args, message, reads", [
    ({"urls": {"owa": {"internal_url": "https://owa.contoso.com/owa"}}}, "same scheme and host", 1),
    ({"urls": {"autodiscover": {"internal_url": "https://x.contoso.com/x"}}}, "Unsupported parameters", 0),
    ({"urls": {"powershell": {"external_url": "https://mail.contoso.com/PowerShell"}}}, "must use http://", 0),
    ({"urls": {"ews": {"external_url": "mail.contoso.com/EWS/Exchange.asmx"}}}, "not an absolute URL", 0),
    ({"server": "EX01; Remove-Item"}, "not a valid server name", 0),
    ({"outlook_anywhere": {"external_client_authentication_method": "Kerberos"}}, "one of: Basic, Ntlm, Negotiate", 0),
])
def test_refusals_before_any_write(monkeypatch, capsys, args, message, reads):
    session = FakeSession({"Get-OwaVirtualDirectory": answer()})
    full = {"server": "EX01"}
    full.update(args)
    result = run_module(monkeypatch, capsys, exchange_vdir_url.main, full, session)
    assert result["failed"] is True and message in result["msg"]
    assert session.executed == [] and len(session.queries) == reads


def test_mapi_refused_on_2013_without_it(monkeypatch, capsys):
    session = FakeSession({"Get-OwaVirtualDirectory": answer("Version 15.0 (Build 847.32)", mapi=False)})
    result = run_module(monkeypatch, capsys, exchange_vdir_url.main,
                        {"server": "EX01", "urls": {"mapi": {"internal_url": "https://mail.contoso.com/mapi"}}}, session)
    assert result["failed"] and "no 'mapi (Default Web Site)'" in result["msg"] and session.executed == []


def test_cmdlet_failure_is_a_clean_failure(monkeypatch, capsys):
    session = FakeSession({"Get-OwaVirtualDirectory": answer()},
                          fail_on={"Set-EcpVirtualDirectory": "The operation couldn't be performed."})
    result = run_module(monkeypatch, capsys, exchange_vdir_url.main, ARGS, session)
    assert result["failed"] and result["msg"].startswith("Set-EcpVirtualDirectory failed")
    assert result["commands"] == EXPECTED
    assert "Pa55w0rd!" not in json.dumps(result)


def test_path_warning(monkeypatch, capsys):
    session = FakeSession({"Get-OwaVirtualDirectory": answer()})
    result = run_module(monkeypatch, capsys, exchange_vdir_url.main,
                        {"server": "EX01", "urls": {"ews": {"external_url": "https://mail.contoso.com/ews"}}}, session)
    assert result["changed"]
    assert "documented at '/EWS/Exchange.asmx'" in json.dumps(result.get("warnings"))


def test_absent_leaves_alone_null_clears(monkeypatch, capsys):
    current = answer()
    current["vdirs"]["oab"][0]["external_url"] = "https://mail.contoso.com/OAB"
    current["outlook_anywhere"][0]["external_hostname"] = "mail.contoso.com"
    session = FakeSession({"Get-OwaVirtualDirectory": current})
    args = {"server": "EX01",
            # oab: internal_url absent (left alone), external_url null (cleared)
            "urls": {"oab": {"external_url": None}},
            # internal_hostname absent (left alone), external_hostname null (cleared)
            "outlook_anywhere": {"external_hostname": None}}
    result = run_module(monkeypatch, capsys, exchange_vdir_url.main, args, session)
    assert result["commands"] == [
        "Set-OabVirtualDirectory -Identity 'EX01\\OAB (Default Web Site)' -ExternalUrl $null",
        "Set-OutlookAnywhere -Identity 'EX01\\Rpc (Default Web Site)' -ExternalHostname $null",
    ]
    assert result["urls"]["oab"]["internal_url"] == "https://ex01.corp.contoso.com/OAB"
    assert result["outlook_anywhere"]["internal_hostname"] == "ex01.corp.contoso.com"


def test_mapi_urls_sent_with_the_current_iis_methods_then_converge(monkeypatch, capsys):
    args = {"server": "EX01", "urls": {"mapi": {"internal_url": "https://mail.contoso.com/mapi",
                                                "external_url": "https://mail.contoso.com/mapi"}}}
    session = FakeSession({"Get-OwaVirtualDirectory": answer()})
    result = run_module(monkeypatch, capsys, exchange_vdir_url.main, dict(args, _ansible_diff=True), session)
    expected = ["Set-MapiVirtualDirectory -Identity 'EX01\\mapi (Default Web Site)' -InternalUrl 'https://mail.contoso.com/mapi' "
                "-ExternalUrl 'https://mail.contoso.com/mapi' -IISAuthenticationMethods @('Ntlm', 'OAuth', 'Negotiate')"]
    assert result["commands"] == expected and session.executed == [expected] and len(session.queries) == 1
    assert "iis_authentication_methods = @(" in session.queries[0]  # read in the same round as the URLs
    assert result["mapi_iis_authentication_methods"] == ["Ntlm", "OAuth", "Negotiate"]
    converged = answer()
    converged["vdirs"]["mapi"][0].update(internal_url="https://mail.contoso.com/mapi", external_url="https://mail.contoso.com/mapi")
    again = FakeSession({"Get-OwaVirtualDirectory": converged})
    second = run_module(monkeypatch, capsys, exchange_vdir_url.main, args, again)
    assert second["changed"] is False and again.executed == []


def test_mapi_iis_authentication_methods_option(monkeypatch, capsys):
    session = FakeSession({"Get-OwaVirtualDirectory": answer()})
    args = {"server": "EX01", "mapi_iis_authentication_methods": ["NTLM", "Negotiate"]}
    result = run_module(monkeypatch, capsys, exchange_vdir_url.main, args, session)
    assert result["commands"] == ["Set-MapiVirtualDirectory -Identity 'EX01\\mapi (Default Web Site)' "
                                  "-IISAuthenticationMethods @('Ntlm', 'Negotiate')"]
    bad = run_module(monkeypatch, capsys, exchange_vdir_url.main,
                     {"server": "EX01", "mapi_iis_authentication_methods": ["Kerberos"]}, FakeSession({}))
    assert bad["failed"] and "'Kerberos' is not one of Basic, Ntlm, Negotiate, OAuth" in bad["msg"]


def test_a_url_exchange_did_not_keep_fails_the_task_after_one_batch(monkeypatch, capsys):
    # The read-back in the write's round trip still shows the old URL (no error came back): the task fails, naming
    # the cmdlet, the object and the parameter.
    session = FakeSession({"Get-OwaVirtualDirectory": answer()},
                          answers_after_write={"Get-OwaVirtualDirectory": answer()})
    args = {"server": "EX01", "urls": {"ews": {"external_url": "https://mail.contoso.com/EWS/Exchange.asmx"}}}
    result = run_module(monkeypatch, capsys, exchange_vdir_url.main, args, session)
    assert result["failed"] is True and len(session.executed) == 1 and len(session.read_backs) == 1
    assert ("still to change: Set-WebServicesVirtualDirectory for 'EX01\\EWS (Default Web Site)' (-ExternalUrl)"
            in result["msg"])
