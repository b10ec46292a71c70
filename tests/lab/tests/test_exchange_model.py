"""The Exchange organisation model: seeding per version, state persistence, deserialization, refusals."""

from __future__ import annotations

import json

import pytest
from test_exchange_helpers import Colon, Shell, open_org

from exchange_lab.errors import PSError
from exchange_lab.exchange import Organization
from exchange_lab.psvalues import Hashtable, PSEnum


# --- seeding ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version,build,role", [
    ("2013", "Version 15.0 (Build 1497.2)", "Mailbox, ClientAccess"),
    ("2016", "Version 15.1 (Build 2507.6)", "Mailbox"),
    ("2019", "Version 15.2 (Build 1118.7)", "Mailbox"),
])
def test_seeded_servers_per_version(tmp_path, version, build, role):
    org = open_org(tmp_path, version, servers=("EX01", "EX02"), fresh=True)
    sh = Shell(org)
    servers = sh("Get-ExchangeServer")
    assert [s.to_string() for s in servers] == ["EX01", "EX02"]
    assert servers[1].get("Fqdn") == "ex02.corp.contoso.com"
    assert servers[0].get("AdminDisplayVersion").to_string() == build
    assert servers[0].get("ServerRole") == role
    assert org.netbios_domain == "CORP"
    assert org.server_by_fqdn("EX02.corp.contoso.com") == "EX02"


def test_five_default_receive_connectors(tmp_path):
    sh = Shell(open_org(tmp_path))
    connectors = {c.to_string(): c for c in sh("Get-ReceiveConnector", "-Server", "EX01")}
    assert list(connectors) == [
        "EX01\\Default EX01", "EX01\\Client Proxy EX01", "EX01\\Default Frontend EX01",
        "EX01\\Outbound Proxy Frontend EX01", "EX01\\Client Frontend EX01",
    ]
    client = connectors["EX01\\Client Frontend EX01"]
    assert [b.to_string() for b in client.get("Bindings")] == ["[::]:587", "0.0.0.0:587"]
    assert client.get("TransportRole").to_string() == "FrontendTransport"
    assert client.get("Fqdn").to_string() == "ex01.corp.contoso.com"
    assert client.get("AdvertiseClientSettings") is False
    assert client.get("TlsCertificateName") is None
    assert client.get("PermissionGroups").to_string() == "ExchangeUsers"
    assert connectors["EX01\\Default EX01"].get("TransportRole").to_string() == "HubTransport"
    assert [b.to_string() for b in connectors["EX01\\Default EX01"].get("Bindings")] == ["[::]:2525", "0.0.0.0:2525"]
    assert connectors["EX01\\Client Proxy EX01"].get("Bindings")[1].to_string() == "0.0.0.0:465"
    assert connectors["EX01\\Outbound Proxy Frontend EX01"].get("Bindings")[1].to_string() == "0.0.0.0:717"
    assert connectors["EX01\\Default Frontend EX01"].get("PermissionGroups").to_string() == "AnonymousUsers, ExchangeServers, ExchangeLegacyServers"


VDIRS = [
    ("Get-OwaVirtualDirectory", "EX01\\owa (Default Web Site)", "https://ex01.corp.contoso.com/owa"),
    ("Get-EcpVirtualDirectory", "EX01\\ecp (Default Web Site)", "https://ex01.corp.contoso.com/ecp"),
    ("Get-WebServicesVirtualDirectory", "EX01\\EWS (Default Web Site)", "https://ex01.corp.contoso.com/EWS/Exchange.asmx"),
    ("Get-ActiveSyncVirtualDirectory", "EX01\\Microsoft-Server-ActiveSync (Default Web Site)", "https://ex01.corp.contoso.com/Microsoft-Server-ActiveSync"),
    ("Get-OabVirtualDirectory", "EX01\\OAB (Default Web Site)", "https://ex01.corp.contoso.com/OAB"),
    ("Get-MapiVirtualDirectory", "EX01\\mapi (Default Web Site)", "https://ex01.corp.contoso.com/mapi"),
    ("Get-PowerShellVirtualDirectory", "EX01\\PowerShell (Default Web Site)", "http://ex01.corp.contoso.com/powershell"),
    ("Get-AutodiscoverVirtualDirectory", "EX01\\Autodiscover (Default Web Site)", None),
]


@pytest.mark.parametrize("version", ["2013", "2016", "2019"])
def test_seeded_virtual_directories(tmp_path, version):
    sh = Shell(open_org(tmp_path, version))
    for cmdlet, identity, internal in VDIRS:
        vdir = sh.one(cmdlet, "-Server", "EX01")
        assert vdir.to_string() == identity
        assert vdir.get("Identity").to_string() == identity
        assert vdir.get("ExternalUrl") is None
        if internal is None:
            assert vdir.get("InternalUrl") is None
        else:
            assert vdir.get("InternalUrl").type_name == "System.Uri"
            assert vdir.get("InternalUrl").get("AbsoluteUri") == internal


@pytest.mark.parametrize("version,gwd", [("2013", False), ("2016", True), ("2019", True)])
def test_seeded_outlook_anywhere_client_access_and_oab(tmp_path, version, gwd):
    sh = Shell(open_org(tmp_path, version))
    oa = sh.one("Get-OutlookAnywhere", "-Server", "EX01")
    assert oa.to_string() == "EX01\\Rpc (Default Web Site)"
    assert oa.get("InternalHostname").get("HostnameString") == "ex01.corp.contoso.com"
    assert oa.get("ExternalHostname") is None
    assert oa.get("InternalClientAuthenticationMethod").to_string() == "Ntlm"
    # Set-OutlookAnywhere (2013 to SE): external "Negotiate (default value)"; IIS "By default, all values are used."
    assert oa.get("ExternalClientAuthenticationMethod").to_string() == "Negotiate"
    assert [m.to_string() for m in oa.get("IISAuthenticationMethods")] == ["Basic", "Ntlm", "Negotiate"]
    # Set-MapiVirtualDirectory: "The default values are NTLM, OAuth, and Negotiate."
    mapi = sh.one("Get-MapiVirtualDirectory", "-Server", "EX01")
    assert [m.to_string() for m in mapi.get("IISAuthenticationMethods")] == ["Ntlm", "OAuth", "Negotiate"]
    cas_cmdlet = "Get-ClientAccessServer" if version == "2013" else "Get-ClientAccessService"
    cas = sh.one(cas_cmdlet, "EX01")
    assert cas.get("AutoDiscoverServiceInternalUri").get("AbsoluteUri") == "https://ex01.corp.contoso.com/Autodiscover/Autodiscover.xml"
    oab = sh.one("Get-OfflineAddressBook")
    assert oab.get("Name") == "Default Offline Address Book"
    assert oab.get("GlobalWebDistributionEnabled") is gwd
    assert [v.to_string() for v in oab.get("VirtualDirectories")] == ([] if gwd else ["EX01\\OAB (Default Web Site)"])


def test_client_access_service_does_not_exist_on_2013(tmp_path):
    org = open_org(tmp_path, "2013")
    assert "Get-ClientAccessService" not in org.exchange_commands("EX01")
    assert "Set-ClientAccessService" not in org.exchange_commands("EX01")
    assert "Set-ClientAccessServer" in org.exchange_commands("EX01")


def test_seeded_domain_policy_and_recipients(tmp_path):
    sh = Shell(open_org(tmp_path, domain="ad.fabrikam.net"))
    domain = sh.one("Get-AcceptedDomain")
    assert domain.get("DomainName").to_string() == "ad.fabrikam.net"
    assert domain.get("DomainType").to_string() == "Authoritative"
    assert domain.get("Default") is True
    policy = sh.one("Get-EmailAddressPolicy", "Default Policy")
    assert [t.to_string() for t in policy.get("EnabledEmailAddressTemplates")] == ["SMTP:@ad.fabrikam.net"]
    assert policy.get("EnabledPrimarySMTPAddressTemplate") == "@ad.fabrikam.net"
    assert policy.get("Priority").to_string() == "Lowest"
    assert policy.get("IncludedRecipients").to_string() == "AllRecipients"
    david = sh.one("Get-Recipient", "david")
    assert david.get("PrimarySmtpAddress").to_string() == "david@ad.fabrikam.net"
    assert [a.to_string() for a in david.get("EmailAddresses")] == ["SMTP:david@ad.fabrikam.net"]


def test_certificates_are_left_to_the_certificates_module(tmp_path):
    org = open_org(tmp_path)
    try:
        import exchange_lab.exchange.certificates  # noqa: F401
    except ImportError:
        assert "certificates" not in org.server("EX01")
    else:
        assert "certificates" in org.server("EX01")


# --- persistence ------------------------------------------------------------------------------------------------


def test_state_survives_reopen_and_is_written_atomically(tmp_path):
    org = open_org(tmp_path, fresh=True)
    sh = Shell(org)
    sh("New-AcceptedDomain", "-Name", "Contoso", "-DomainName", "contoso.com")
    guid = sh.one("Get-AcceptedDomain", "Contoso").get("Guid")
    saved = json.loads((tmp_path / "state" / "state.json").read_text())
    assert any(d["name"] == "Contoso" for d in saved["accepted_domains"])
    assert not list((tmp_path / "state").glob(".state.*"))
    reopened = Organization.open(tmp_path / "state")
    again = Shell(reopened).one("Get-AcceptedDomain", "Contoso")
    assert again.get("Guid") == guid
    assert reopened.snapshot()["accepted_domains"][1]["name"] == "Contoso"


def test_reopen_with_conflicting_seed_arguments_is_refused(tmp_path):
    open_org(tmp_path, "2016", servers=("EX01",))
    with pytest.raises(ValueError, match="seeded differently.*version 2019"):
        Organization.open(tmp_path / "state", version="2019")
    with pytest.raises(ValueError, match="servers EX01,EX02"):
        Organization.open(tmp_path / "state", servers=["EX01", "EX02"])
    assert Organization.open(tmp_path / "state", version="2016", servers=["ex01"]).version == "2016"
    with pytest.raises(ValueError, match="unsupported Exchange version"):
        Organization.open(tmp_path / "other", version="2010")


def test_whatif_changes_nothing_and_says_what_it_would_do(tmp_path):
    org = open_org(tmp_path)
    sh = Shell(org)
    before = (tmp_path / "state" / "state.json").read_text()
    assert sh("Set-OwaVirtualDirectory", "EX01\\owa (Default Web Site)", "-ExternalUrl", "https://mail.contoso.com/owa", "-WhatIf") == []
    assert sh("New-SendConnector", "-Name", "Internet", "-Internet", "-AddressSpaces", "*", "-WhatIf") == []
    assert sh("Remove-ReceiveConnector", "EX01\\Client Frontend EX01", "-WhatIf") == []
    assert sh.ctx.host == [
        'What if: Configuring Outlook on the web virtual directory "EX01\\owa (Default Web Site)".',
        'What if: Creating Send connector "Internet".',
        'What if: Removing Receive connector "EX01\\Client Frontend EX01".',
    ]
    assert (tmp_path / "state" / "state.json").read_text() == before
    assert sh.one("Get-OwaVirtualDirectory", "-Server", "EX01").get("ExternalUrl") is None
    assert sh("Get-SendConnector") == []


def test_remove_without_confirm_false_fails_on_a_non_interactive_host(tmp_path):
    sh = Shell(open_org(tmp_path))
    sh("New-AcceptedDomain", "-Name", "Contoso", "-DomainName", "contoso.com")
    with pytest.raises(PSError) as caught:
        sh("Remove-AcceptedDomain", "Contoso")
    assert caught.value.exception_type == "System.Management.Automation.Host.HostException"
    assert "does not support user interaction" in caught.value.message
    assert len(sh("Get-AcceptedDomain")) == 2
    sh("Remove-AcceptedDomain", "Contoso", Colon("Confirm", False))
    assert len(sh("Get-AcceptedDomain")) == 1


# --- remoting -----------------------------------------------------------------------------------------------------


def test_plain_remote_session_returns_property_bags_with_nested_exchange_values_as_strings(tmp_path):
    sh = Shell(open_org(tmp_path), mode="remote_session")
    vdir = sh.one("Get-OwaVirtualDirectory", "-Server", "EX01")
    assert vdir.type_name == "Deserialized.Microsoft.Exchange.Data.Directory.SystemConfiguration.ADOwaVirtualDirectory"
    assert vdir.get("InternalUrl").type_name == "System.Uri"  # a primitive the serializer keeps
    assert vdir.get("Identity") == "EX01\\owa (Default Web Site)"  # an ADObjectId arrives as its string form
    connector = sh.one("Get-ReceiveConnector", "EX01\\Client Frontend EX01")
    assert connector.get("MaxMessageSize") == "36 MB (37,748,736 bytes)"  # a string: no ToBytes()
    role = connector.get("TransportRole")
    assert not isinstance(role, PSEnum) and role.to_string() == "FrontendTransport" and role.json_value() == 16384
    assert role.type_name.startswith("Deserialized.")
    local = Shell(sh.org, mode="snapin").one("Get-ReceiveConnector", "EX01\\Client Frontend EX01")
    assert local.get("MaxMessageSize").methods["ToBytes"]() == 37748736
    assert not local.type_name.startswith("Deserialized.")


def test_exchange_management_shell_rebuilds_exchange_objects(tmp_path):
    sh = Shell(open_org(tmp_path), mode="remote_exchange_script")
    vdir = sh.one("Get-OwaVirtualDirectory", "-Server", "EX01")
    assert vdir.type_name == "Microsoft.Exchange.Data.Directory.SystemConfiguration.ADOwaVirtualDirectory"
    assert vdir.get("Identity").type_name == "Microsoft.Exchange.Data.Directory.ADObjectId"
    assert vdir.get("PSComputerName") == "ex01.corp.contoso.com"
    connector = sh.one("Get-ReceiveConnector", "EX01\\Client Frontend EX01")
    assert connector.get("MaxMessageSize").methods["ToBytes"]() == 37748736


def test_enums_convert_to_json_as_numbers(tmp_path):
    sh = Shell(open_org(tmp_path))
    domain = sh.one("Get-AcceptedDomain")
    assert domain.get("DomainType").json_value() == 0
    assert domain.get("DomainType").to_string() == "Authoritative"


# --- faults -----------------------------------------------------------------------------------------------------


def test_injected_cmdlet_failure(tmp_path):
    sh = Shell(open_org(tmp_path))
    sh.ctx.lab.faults.update({"cmdlet_failures": [{"cmdlet": "Set-OwaVirtualDirectory", "identity": "EX01\\owa*", "message": "An IIS error occurred."}]})
    with pytest.raises(PSError, match="An IIS error occurred."):
        sh("Set-OwaVirtualDirectory", "EX01\\owa (Default Web Site)", "-ExternalUrl", "https://mail.contoso.com/owa")
    sh("Set-EcpVirtualDirectory", "EX01\\ecp (Default Web Site)", "-ExternalUrl", "https://mail.contoso.com/ecp")


def test_pipeline_input_runs_once_per_object(tmp_path):
    sh = Shell(open_org(tmp_path, "2013", servers=("EX01", "EX02")))
    oabs = sh("Get-OfflineAddressBook")
    sh("Set-OfflineAddressBook", "-GlobalWebDistributionEnabled", True, "-VirtualDirectories", None, pipeline=oabs)
    oab = sh.one("Get-OfflineAddressBook")
    assert oab.get("GlobalWebDistributionEnabled") is True and oab.get("VirtualDirectories") == []
    servers = sh("Get-ExchangeServer")
    owas = sh("Get-OwaVirtualDirectory", pipeline=servers)
    assert [o.to_string() for o in owas] == ["EX01\\owa (Default Web Site)", "EX02\\owa (Default Web Site)"]
    assert sh("Set-OwaVirtualDirectory", "-ExternalUrl", "https://mail.contoso.com/owa", pipeline=[]) == []


def test_hashtable_add_remove_on_multivalued_property(tmp_path):
    sh = Shell(open_org(tmp_path))
    sh("Set-ReceiveConnector", "EX01\\Client Frontend EX01", "-RemoteIPRanges",
       Hashtable({"Add": "10.0.0.0/24", "Remove": "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}))
    connector = sh.one("Get-ReceiveConnector", "EX01\\Client Frontend EX01")
    assert [r.to_string() for r in connector.get("RemoteIPRanges")] == ["0.0.0.0-255.255.255.255", "10.0.0.0/24"]


def test_recipients_are_found_by_alias_and_any_address(tmp_path):
    sh = Shell(open_org(tmp_path))
    sh("New-AcceptedDomain", "-Name", "Contoso", "-DomainName", "contoso.com")
    sh("Set-EmailAddressPolicy", "Default Policy", "-EnabledPrimarySMTPAddressTemplate", "@contoso.com")
    sh("Update-EmailAddressPolicy", "Default Policy")
    assert sh.one("Get-Mailbox", "ana@contoso.com").get("Alias") == "ana"
    assert sh.one("Get-Recipient", "ana@corp.contoso.com").get("Alias") == "ana"
    assert sh.one("Get-Recipient", "Ana Trujillo").get("Alias") == "ana"


def test_enum_values_accept_numbers_like_powershell(tmp_path):
    sh = Shell(open_org(tmp_path))
    sh("New-AcceptedDomain", "-Name", "Relay", "-DomainName", "relay.contoso.com", "-DomainType", "2")
    assert sh.one("Get-AcceptedDomain", "Relay").get("DomainType").to_string() == "InternalRelay"
