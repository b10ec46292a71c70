"""Round trips through every cmdlet the collection uses, and each refusal with the message a user sees."""

from __future__ import annotations

import pytest
from test_exchange_helpers import Colon, Shell, open_org

from exchange_lab.errors import PSError
from exchange_lab.psvalues import Hashtable, PSObject


@pytest.fixture
def sh(tmp_path):
    return Shell(open_org(tmp_path, "2019", servers=("EX01", "EX02")))


def refused(sh, name, *items, **kwargs) -> PSError:
    with pytest.raises(PSError) as caught:
        sh(name, *items, **kwargs)
    return caught.value


NO_CONFIRM = Colon("Confirm", False)


# --- send connectors ------------------------------------------------------------------------------------------


def test_send_connector_round_trip(sh):
    created = sh.one("New-SendConnector", "-Name", "Internet", "-Internet", "-AddressSpaces", "*",
                     "-SourceTransportServers", ["EX01", "ex02.corp.contoso.com"], "-Fqdn", "mail.contoso.com")
    assert created.to_string() == "Internet"
    got = sh.one("Get-SendConnector", "Internet")
    assert [a.to_string() for a in got.get("AddressSpaces")] == ["SMTP:*;1"]
    assert [s.to_string() for s in got.get("SourceTransportServers")] == ["EX01", "EX02"]
    assert got.get("DNSRoutingEnabled") is True
    assert got.get("Fqdn").to_string() == "mail.contoso.com"
    assert got.get("MaxMessageSize").to_string() == "35 MB (36,700,160 bytes)"
    assert got.get("Enabled") is True and got.get("RequireTLS") is False
    sh("Set-SendConnector", "Internet", "-MaxMessageSize", "50MB", "-RequireTLS", True, "-Comment", "to the world",
       "-Enabled", Colon("Enabled", False).value, "-SourceTransportServers", "EX01")
    got = sh.one("Get-SendConnector", "Internet")
    assert got.get("MaxMessageSize").to_string() == "50 MB (52,428,800 bytes)"
    assert got.get("RequireTLS") is True and got.get("Comment") == "to the world" and got.get("Enabled") is False
    assert [s.to_string() for s in got.get("SourceTransportServers")] == ["EX01"]
    sh("Set-SendConnector", "Internet", "-DNSRoutingEnabled", False, "-SmartHosts", "relay.isp.net", "-MaxMessageSize", "Unlimited")
    got = sh.one("Get-SendConnector", "Internet")
    assert [h.to_string() for h in got.get("SmartHosts")] == ["relay.isp.net"] and got.get("MaxMessageSize").to_string() == "Unlimited"
    assert sh("Get-SendConnector", "Int*")[0].get("Guid") == got.get("Guid")
    sh("Remove-SendConnector", got.get("Guid"), NO_CONFIRM)
    assert sh("Get-SendConnector") == []


def test_send_connector_refusals(sh):
    sh("New-SendConnector", "-Name", "Internet", "-Internet", "-AddressSpaces", "*")
    duplicate = refused(sh, "New-SendConnector", "-Name", "internet", "-AddressSpaces", "contoso.com")
    assert duplicate.message == (
        "Active Directory operation failed on DC01.corp.contoso.com. The object 'CN=internet,CN=Connections,"
        "CN=Exchange Routing Group (DWBGZMFD01QNBJR),CN=Routing Groups,CN=Exchange Administrative Group (FYDIBOHF23SPDLT),"
        "CN=Administrative Groups,CN=First Organization,CN=Microsoft Exchange,CN=Services,CN=Configuration,"
        "DC=corp,DC=contoso,DC=com' already exists.")
    smart = refused(sh, "New-SendConnector", "-Name", "Relay", "-AddressSpaces", "*", "-SmartHosts", "relay.isp.net")
    assert "SmartHosts parameter can't be used while DNSRoutingEnabled is $true" in smart.message
    unknown = refused(sh, "New-SendConnector", "-Name", "Other", "-AddressSpaces", "*", "-SourceTransportServers", "EX09")
    assert unknown.message == "The operation couldn't be performed because object 'EX09' couldn't be found on 'DC01.corp.contoso.com'."
    assert unknown.exception_type.endswith("ManagementObjectNotFoundException") and not unknown.terminating
    missing = refused(sh, "New-SendConnector", "-Name", "Other", "-Internet")
    assert missing.message == "Cannot process command because of one or more missing mandatory parameters: AddressSpaces."
    assert missing.terminating
    not_found = refused(sh, "Set-SendConnector", "Nope", "-Enabled", False)
    assert not_found.message == "The operation couldn't be performed because object 'Nope' couldn't be found on 'DC01.corp.contoso.com'."
    bad_space = refused(sh, "Set-SendConnector", "Internet", "-AddressSpaces", "SMTP:bad domain;1")
    assert bad_space.message.startswith("Cannot process argument transformation on parameter 'AddressSpaces'.")


# --- receive connectors -----------------------------------------------------------------------------------------


def test_receive_connector_round_trip(sh):
    by_name = sh("Get-ReceiveConnector", "Client Frontend EX01")
    assert [c.to_string() for c in by_name] == ["EX01\\Client Frontend EX01"]
    assert len(sh("Get-ReceiveConnector")) == 10
    assert len(sh("Get-ReceiveConnector", "-Server", "EX02")) == 5
    assert [c.to_string() for c in sh("Get-ReceiveConnector", "EX0*\\Client Frontend*")] == [
        "EX01\\Client Frontend EX01", "EX02\\Client Frontend EX02"]
    name = "<I>CN=Contoso Issuing CA, DC=contoso, DC=com<S>CN=mail.contoso.com, O=Contoso, C=US"
    sh("Set-ReceiveConnector", "EX01\\Client Frontend EX01", "-Fqdn", "mail.contoso.com", "-TlsCertificateName", name,
       "-AdvertiseClientSettings", True, "-AuthMechanism", "Tls, BasicAuth, BasicAuthRequireTLS", "-PermissionGroups", ["ExchangeUsers", "ExchangeServers"])
    got = sh.one("Get-ReceiveConnector", "EX01\\Client Frontend EX01")
    assert got.get("Fqdn").to_string() == "mail.contoso.com"
    assert got.get("TlsCertificateName").to_string() == name
    assert got.get("TlsCertificateName").get("CertificateSubject") == "CN=mail.contoso.com, O=Contoso, C=US"
    assert got.get("AdvertiseClientSettings") is True
    assert got.get("AuthMechanism").to_string() == "Tls, BasicAuth, BasicAuthRequireTLS"
    assert got.get("PermissionGroups").to_string() == "ExchangeUsers, ExchangeServers"
    created = sh.one("New-ReceiveConnector", "-Name", "Relay EX01", "-Usage", "Custom", "-Bindings", "0.0.0.0:25",
                     "-RemoteIPRanges", ["192.168.1.10", "10.1.0.0/16"], "-TransportRole", "FrontendTransport",
                     "-PermissionGroups", "AnonymousUsers")
    assert created.to_string() == "EX01\\Relay EX01"
    assert [r.to_string() for r in created.get("RemoteIPRanges")] == ["192.168.1.10", "10.1.0.0/16"]
    other = sh.one("New-ReceiveConnector", "-Name", "Relay", "-Custom", "-Bindings", "[::]:2526", "-RemoteIPRanges", "10.0.0.1-10.0.0.9", "-Server", "EX02")
    assert other.to_string() == "EX02\\Relay" and other.get("TransportRole").to_string() == "HubTransport"
    sh("Set-ReceiveConnector", "EX02\\Relay", "-Bindings", ["0.0.0.0:2526", "[::]:2526"], "-Name", "Relay 2")
    assert [b.to_string() for b in sh.one("Get-ReceiveConnector", "EX02\\Relay 2").get("Bindings")] == ["0.0.0.0:2526", "[::]:2526"]
    sh("Remove-ReceiveConnector", "EX01\\Relay EX01", NO_CONFIRM)
    sh("Remove-ReceiveConnector", "EX02\\Relay 2", NO_CONFIRM)
    assert len(sh("Get-ReceiveConnector")) == 10


def test_receive_connector_refusals(sh):
    conflict = refused(sh, "New-ReceiveConnector", "-Name", "Copy", "-Usage", "Custom", "-Bindings", "0.0.0.0:587",
                       "-RemoteIPRanges", "0.0.0.0-255.255.255.255", "-TransportRole", "FrontendTransport")
    assert conflict.message.startswith("The values that you specified for the Bindings and RemoteIPRanges parameters conflict "
                                       'with the settings on Receive connector "EX01\\Client Frontend EX01".')
    role = refused(sh, "New-ReceiveConnector", "-Name", "Hub25", "-Usage", "Custom", "-Bindings", "0.0.0.0:25",
                   "-RemoteIPRanges", "10.0.0.1")
    assert 'conflict with the settings on Receive connector "EX01\\Default Frontend EX01"' in role.message
    duplicate = refused(sh, "New-ReceiveConnector", "-Name", "Client Frontend EX01", "-Usage", "Custom", "-Bindings", "0.0.0.0:2600",
                        "-RemoteIPRanges", "10.0.0.1")
    assert duplicate.message.endswith("The object 'CN=Client Frontend EX01,CN=SMTP Receive Connectors,CN=Protocols,CN=EX01,CN=Servers,"
                                      "CN=Exchange Administrative Group (FYDIBOHF23SPDLT),CN=Administrative Groups,CN=First Organization,"
                                      "CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=corp,DC=contoso,DC=com' already exists.")
    tls = refused(sh, "Set-ReceiveConnector", "EX01\\Client Frontend EX01", "-TlsCertificateName", "CN=mail.contoso.com")
    assert tls.message.startswith("Cannot process argument transformation on parameter 'TlsCertificateName'.")
    binding = refused(sh, "Set-ReceiveConnector", "EX01\\Client Frontend EX01", "-Bindings", "587")
    assert binding.message.startswith("Cannot process argument transformation on parameter 'Bindings'. Cannot convert value \"587\"")
    ambiguous = refused(sh, "Set-ReceiveConnector", "Client Frontend*", "-Banner", "x")
    assert "couldn't be found" in ambiguous.message
    not_found = refused(sh, "Get-ReceiveConnector", "EX01\\Nope")
    assert not_found.message == "The operation couldn't be performed because object 'EX01\\Nope' couldn't be found on 'DC01.corp.contoso.com'."
    assert sh("Get-ReceiveConnector", "EX01\\Nope*") == []
    enum = refused(sh, "Set-ReceiveConnector", "EX01\\Client Frontend EX01", "-PermissionGroups", "Everyone")
    assert enum.message == (
        "Cannot bind parameter 'PermissionGroups'. Cannot convert value \"Everyone\" to type \"Microsoft.Exchange.Data.PermissionGroups\". "
        "Error: \"Unable to match the identifier name Everyone to a valid enumerator name. Specify one of the following enumerator "
        "names and try again: None, AnonymousUsers, ExchangeUsers, ExchangeServers, ExchangeLegacyServers, Partners, Custom\"")


# --- accepted domains --------------------------------------------------------------------------------------------


def test_accepted_domain_round_trip(sh):
    created = sh.one("New-AcceptedDomain", "-Name", "Contoso", "-DomainName", "contoso.com", "-DomainType", "InternalRelay")
    assert created.get("DomainType").to_string() == "InternalRelay" and created.get("Default") is False
    sh("Set-AcceptedDomain", "Contoso", "-DomainType", "authoritative", "-MakeDefault", True)
    domains = {d.to_string(): d for d in sh("Get-AcceptedDomain")}
    assert domains["Contoso"].get("DomainType").to_string() == "Authoritative"
    assert domains["Contoso"].get("Default") is True and domains["corp.contoso.com"].get("Default") is False
    assert sh.one("Get-AcceptedDomain", "contoso.com").to_string() == "Contoso"
    sh("Set-AcceptedDomain", "corp.contoso.com", "-MakeDefault", True)
    sh("Remove-AcceptedDomain", "Contoso", NO_CONFIRM)
    assert [d.to_string() for d in sh("Get-AcceptedDomain")] == ["corp.contoso.com"]


def test_accepted_domain_refusals(sh):
    default = refused(sh, "Remove-AcceptedDomain", "corp.contoso.com", NO_CONFIRM)
    assert "is the default accepted domain and can't be removed" in default.message
    sh("New-AcceptedDomain", "-Name", "Contoso", "-DomainName", "contoso.com")
    assert refused(sh, "New-AcceptedDomain", "-Name", "Contoso", "-DomainName", "contoso.org").message.endswith("already exists.")
    same = refused(sh, "New-AcceptedDomain", "-Name", "Contoso 2", "-DomainName", "CONTOSO.com")
    assert same.message.startswith("The accepted domain 'Contoso' already uses the domain name")
    kind = refused(sh, "New-AcceptedDomain", "-Name", "X", "-DomainName", "x.com", "-DomainType", "Relay")
    assert "Specify one of the following enumerator names and try again: Authoritative, ExternalRelay, InternalRelay" in kind.message
    sh("Set-EmailAddressPolicy", "Default Policy", "-EnabledEmailAddressTemplates", ["SMTP:@corp.contoso.com", "smtp:@contoso.com"])
    referenced = refused(sh, "Remove-AcceptedDomain", "Contoso", NO_CONFIRM)
    assert referenced.message == ("The accepted domain 'Contoso' cannot be removed or made external because it is referenced by "
                                  "the email address policy templates 'smtp:@contoso.com'.")


# --- email address policies ----------------------------------------------------------------------------------------


def test_email_address_policy_round_trip_and_update(sh):
    sh("New-AcceptedDomain", "-Name", "Contoso", "-DomainName", "contoso.com")
    sh("Set-EmailAddressPolicy", "Default Policy", "-EnabledPrimarySMTPAddressTemplate", "%g.%s@contoso.com")
    policy = sh.one("Get-EmailAddressPolicy", "Default Policy")
    assert [t.to_string() for t in policy.get("EnabledEmailAddressTemplates")] == ["SMTP:%g.%s@contoso.com"]
    assert policy.get("EnabledPrimarySMTPAddressTemplate") == "%g.%s@contoso.com"
    assert sh.one("Get-Recipient", "david").get("PrimarySmtpAddress").to_string() == "david@corp.contoso.com"  # not yet applied
    sh("Update-EmailAddressPolicy", "Default Policy")
    david = sh.one("Get-Mailbox", "david")
    assert david.get("PrimarySmtpAddress").to_string() == "David.Hamilton@contoso.com"
    assert [a.to_string() for a in david.get("EmailAddresses")] == ["SMTP:David.Hamilton@contoso.com", "smtp:david@corp.contoso.com"]
    assert sh.one("Get-Recipient", "Administrator").get("PrimarySmtpAddress").to_string() == "Administrator@contoso.com"
    sh("Set-EmailAddressPolicy", "Default Policy", "-EnabledEmailAddressTemplates", ["SMTP:@contoso.com", "smtp:@corp.contoso.com"])
    sh("Update-EmailAddressPolicy", "Default Policy")
    ana = sh.one("Get-Recipient", "ana")
    assert [a.to_string() for a in ana.get("EmailAddresses")] == ["SMTP:ana@contoso.com", "smtp:ana@corp.contoso.com", "smtp:Ana.Trujillo@contoso.com"]


def test_email_address_policy_refusals(sh):
    foreign = refused(sh, "Set-EmailAddressPolicy", "Default Policy", "-EnabledPrimarySMTPAddressTemplate", "@fabrikam.com")
    assert "The domain 'fabrikam.com'" in foreign.message and "isn't an accepted domain" in foreign.message
    assert not foreign.terminating
    templates = refused(sh, "Set-EmailAddressPolicy", "Default Policy", "-EnabledEmailAddressTemplates", ["smtp:@corp.contoso.com"])
    assert "exactly one primary SMTP address template" in templates.message
    assert sh.one("Get-EmailAddressPolicy").get("EnabledPrimarySMTPAddressTemplate") == "@corp.contoso.com"
    missing = refused(sh, "Get-EmailAddressPolicy", "Nope")
    assert missing.message == "The operation couldn't be performed because object 'Nope' couldn't be found on 'DC01.corp.contoso.com'."


# --- virtual directories, Outlook Anywhere, client access, OAB ---------------------------------------------------

SET_VDIRS = [
    ("OwaVirtualDirectory", "owa (Default Web Site)", "https://mail.contoso.com/owa"),
    ("EcpVirtualDirectory", "ecp (Default Web Site)", "https://mail.contoso.com/ecp"),
    ("WebServicesVirtualDirectory", "EWS (Default Web Site)", "https://mail.contoso.com/EWS/Exchange.asmx"),
    ("ActiveSyncVirtualDirectory", "Microsoft-Server-ActiveSync (Default Web Site)", "https://mail.contoso.com/Microsoft-Server-ActiveSync"),
    ("OabVirtualDirectory", "OAB (Default Web Site)", "https://mail.contoso.com/OAB"),
    ("MapiVirtualDirectory", "mapi (Default Web Site)", "https://mail.contoso.com/mapi"),
    ("PowerShellVirtualDirectory", "PowerShell (Default Web Site)", "http://mail.contoso.com/PowerShell"),
]


@pytest.mark.parametrize("noun,name,url", SET_VDIRS)
def test_virtual_directory_urls_round_trip(sh, noun, name, url):
    identity = f"EX01\\{name}"
    # Set-MapiVirtualDirectory takes its URLs only with -IISAuthenticationMethods (test_mapi_urls_need_iis_authentication_methods).
    auth = ["-IISAuthenticationMethods", "Ntlm,OAuth,Negotiate"] if noun == "MapiVirtualDirectory" else []
    sh(f"Set-{noun}", identity, "-ExternalUrl", url, "-InternalUrl", url, *auth)
    got = sh.one(f"Get-{noun}", "-Identity", identity, "-ADPropertiesOnly")
    assert got.get("ExternalUrl").get("OriginalString") == url
    assert got.get("InternalUrl").to_string() == url.replace("mail.contoso.com", "mail.contoso.com")
    assert got.get("ExternalUrl").get("Host") == "mail.contoso.com"
    assert sh.one(f"Get-{noun}", "-Server", "EX02").get("ExternalUrl") is None
    sh(f"Set-{noun}", identity.upper(), "-ExternalUrl", None, *auth)
    assert sh.one(f"Get-{noun}", identity).get("ExternalUrl") is None


@pytest.mark.parametrize("version", ["2013", "2016", "2019"])
def test_mapi_urls_need_iis_authentication_methods(tmp_path, version):
    # "When you use the InternalUrl or ExternalUrl parameters, you need to specify one or more authentication values by
    # using the IISAuthenticationMethods parameter." (Set-MapiVirtualDirectory); a $null URL is no exception.
    sh = Shell(open_org(tmp_path, version))
    identity = "EX01\\mapi (Default Web Site)"
    for url_parameter, value in (("-InternalUrl", "https://mail.contoso.com/mapi"), ("-ExternalUrl", "https://mail.contoso.com/mapi"),
                                 ("-ExternalUrl", None)):
        error = refused(sh, "Set-MapiVirtualDirectory", identity, url_parameter, value)
        assert error.message.startswith("The IISAuthenticationMethods parameter must be specified when you use the InternalUrl or ExternalUrl")
        assert not error.terminating and error.exception_type.endswith("TaskArgumentException")
    with pytest.raises(PSError):  # -WhatIf validates too
        sh("Set-MapiVirtualDirectory", identity, "-InternalUrl", "https://mail.contoso.com/mapi", Colon("WhatIf", True))
    mapi = sh.one("Get-MapiVirtualDirectory", "-Server", "EX01")
    assert mapi.get("InternalUrl").to_string() == "https://ex01.corp.contoso.com/mapi" and mapi.get("ExternalUrl") is None
    # With the methods (the current ones, as the collection sends them) the URL is set and the methods kept.
    sh("Set-MapiVirtualDirectory", identity, "-ExternalUrl", "https://mail.contoso.com/mapi",
       "-IISAuthenticationMethods", ["Ntlm", "OAuth", "Negotiate"])
    mapi = sh.one("Get-MapiVirtualDirectory", "-Server", "EX01")
    assert mapi.get("ExternalUrl").to_string() == "https://mail.contoso.com/mapi"
    assert [m.to_string() for m in mapi.get("IISAuthenticationMethods")] == ["Ntlm", "OAuth", "Negotiate"]
    # Methods alone need no URL, and the other virtual directories have no such rule.
    sh("Set-MapiVirtualDirectory", identity, "-IISAuthenticationMethods", "Ntlm,Negotiate")
    assert [m.to_string() for m in sh.one("Get-MapiVirtualDirectory", "-Server", "EX01").get("IISAuthenticationMethods")] == ["Ntlm", "Negotiate"]
    sh("Set-OabVirtualDirectory", "EX01\\OAB (Default Web Site)", "-ExternalUrl", "https://mail.contoso.com/OAB")


def test_uri_read_back_is_canonical_like_system_uri(sh):
    sh("Set-OwaVirtualDirectory", "EX01\\owa (Default Web Site)", "-ExternalUrl", "HTTPS://Mail.Contoso.com:443/owa")
    url = sh.one("Get-OwaVirtualDirectory", "-Server", "EX01").get("ExternalUrl")
    assert url.get("AbsoluteUri") == "https://mail.contoso.com/owa" == url.to_string()
    assert url.get("OriginalString") == "HTTPS://Mail.Contoso.com:443/owa"
    assert url.get("Scheme") == "https" and url.get("AbsolutePath") == "/owa" and url.get("Port") == 443


def test_autodiscover_virtual_directory_has_no_urls_to_set(sh):
    error = refused(sh, "Set-AutodiscoverVirtualDirectory", "EX01\\Autodiscover (Default Web Site)", "-InternalUrl", "https://mail.contoso.com/Autodiscover")
    assert error.message == "A parameter cannot be found that matches parameter name 'InternalUrl'."
    assert error.error_id == "NamedParameterNotFound,Set-AutodiscoverVirtualDirectory"
    sh("Set-AutodiscoverVirtualDirectory", "EX01\\Autodiscover (Default Web Site)", "-WindowsAuthentication", True)


def test_owa_and_ecp_internal_urls_may_differ_as_in_exchange(sh):
    # Exchange documents that they must match but does not refuse it; the lab does not invent a refusal.
    sh("Set-OwaVirtualDirectory", "EX01\\owa (Default Web Site)", "-InternalUrl", "https://owa.contoso.com/owa")
    sh("Set-EcpVirtualDirectory", "EX01\\ecp (Default Web Site)", "-InternalUrl", "https://mail.contoso.com/ecp")


def test_outlook_anywhere_round_trip(sh):
    sh("Set-OutlookAnywhere", "EX01\\Rpc (Default Web Site)", "-ExternalHostname", "mail.contoso.com", "-ExternalClientsRequireSsl", True,
       "-InternalHostname", "mail.contoso.com", "-InternalClientsRequireSsl", True, "-ExternalClientAuthenticationMethod", "Ntlm",
       "-InternalClientAuthenticationMethod", "Negotiate")
    oa = sh.one("Get-OutlookAnywhere", "-Identity", "EX01\\Rpc (Default Web Site)")
    assert oa.get("ExternalHostname").get("HostnameString") == "mail.contoso.com"
    assert oa.get("InternalHostname").to_string() == "mail.contoso.com"
    assert oa.get("ExternalClientsRequireSsl") is True and oa.get("InternalClientsRequireSsl") is True
    assert oa.get("ExternalClientAuthenticationMethod").to_string() == "Ntlm"
    assert oa.get("InternalClientAuthenticationMethod").to_string() == "Negotiate"
    sh("Set-OutlookAnywhere", "EX01\\Rpc (Default Web Site)", "-ExternalHostname", None)
    assert sh.one("Get-OutlookAnywhere", "-Server", "EX01").get("ExternalHostname") is None
    bad = refused(sh, "Set-OutlookAnywhere", "EX01\\Rpc (Default Web Site)", "-ExternalClientAuthenticationMethod", "Password")
    assert bad.message.startswith("Cannot bind parameter 'ExternalClientAuthenticationMethod'.")


def test_client_access_service_round_trip(sh):
    sh("Set-ClientAccessService", "EX01", "-AutoDiscoverServiceInternalUri", "https://autodiscover.contoso.com/Autodiscover/Autodiscover.xml")
    cas = sh.one("Get-ClientAccessService", "-Identity", "EX01")
    assert cas.get("AutoDiscoverServiceInternalUri").get("AbsoluteUri") == "https://autodiscover.contoso.com/Autodiscover/Autodiscover.xml"
    sh("Set-ClientAccessServer", "EX02", "-AutoDiscoverServiceInternalUri", None)
    assert sh.one("Get-ClientAccessService", "EX02").get("AutoDiscoverServiceInternalUri") is None
    assert "Use the Set-ClientAccessService cmdlet instead." in sh.ctx.warnings[-1]


def test_client_access_server_on_2013(tmp_path):
    sh = Shell(open_org(tmp_path, "2013"))
    sh("Set-ClientAccessServer", "EX01", "-AutoDiscoverServiceInternalUri", "https://mail.contoso.com/Autodiscover/Autodiscover.xml")
    assert sh.one("Get-ClientAccessServer").get("AutoDiscoverServiceInternalUri").to_string() == "https://mail.contoso.com/Autodiscover/Autodiscover.xml"
    assert sh.ctx.warnings == []


def test_offline_address_book_round_trip(tmp_path):
    sh = Shell(open_org(tmp_path, "2016", servers=("EX01", "EX02")))
    sh("Set-OfflineAddressBook", "Default Offline Address Book", "-GlobalWebDistributionEnabled", False,
       "-VirtualDirectories", ["EX01\\OAB (Default Web Site)", "EX02\\OAB (Default Web Site)"])
    oab = sh.one("Get-OfflineAddressBook", "\\Default Offline Address Book")
    assert oab.get("GlobalWebDistributionEnabled") is False
    assert [v.to_string() for v in oab.get("VirtualDirectories")] == ["EX01\\OAB (Default Web Site)", "EX02\\OAB (Default Web Site)"]
    sh("Update-OfflineAddressBook", "Default Offline Address Book")
    assert sh.one("Get-OfflineAddressBook").get("LastRequestedTime")
    bad = refused(sh, "Set-OfflineAddressBook", "Default Offline Address Book", "-VirtualDirectories", "EX03\\OAB (Default Web Site)")
    assert "couldn't be found" in bad.message


def test_transport_services(sh):
    assert [s.to_string() for s in sh("Get-TransportService")] == ["EX01", "EX02"]
    assert sh.one("Get-FrontendTransportService", "EX02").to_string() == "EX02"


# --- the parameter contract ----------------------------------------------------------------------------------------


def test_unknown_parameter(sh):
    error = refused(sh, "Set-OwaVirtualDirectory", "EX01\\owa (Default Web Site)", "-ExternalURI", "https://x.contoso.com/owa")
    assert error.message == "A parameter cannot be found that matches parameter name 'ExternalURI'."
    assert error.terminating and error.exception_type == "System.Management.Automation.ParameterBindingException"


def test_parameter_of_another_version_does_not_exist(tmp_path):
    sh2019 = Shell(open_org(tmp_path, "2019"))
    # MatchSubDomains exists from 2016; PendingCompletion from 2013; AuthTarpitInterval from 2016.
    sh2013 = Shell(open_org(tmp_path / "x", "2013"))
    error = refused(sh2013, "Set-ReceiveConnector", "EX01\\Client Frontend EX01", "-AuthTarpitInterval", "00:00:05")
    assert error.message == "A parameter cannot be found that matches parameter name 'AuthTarpitInterval'."
    sh2019("Set-ReceiveConnector", "EX01\\Client Frontend EX01", "-AuthTarpitInterval", "00:00:05")
    # WebReadyDocumentViewingForAllSupportedTypes is a 2010/2013 parameter of Set-OwaVirtualDirectory.
    sh2013("Set-OwaVirtualDirectory", "EX01\\owa (Default Web Site)", "-WebReadyDocumentViewingForAllSupportedTypes", True)
    gone = refused(sh2019, "Set-OwaVirtualDirectory", "EX01\\owa (Default Web Site)", "-WebReadyDocumentViewingForAllSupportedTypes", True)
    assert gone.message == "A parameter cannot be found that matches parameter name 'WebReadyDocumentViewingForAllSupportedTypes'."


def test_missing_mandatory_parameter(sh):
    error = refused(sh, "New-AcceptedDomain", "-Name", "Contoso")
    assert error.message == "Cannot process command because of one or more missing mandatory parameters: DomainName."
    missing_value = refused(sh, "Set-SendConnector", "-Identity")
    assert missing_value.message == "Missing an argument for parameter 'Identity'. Specify a parameter of type 'SendConnectorIdParameter' and try again."


def test_wrongly_typed_values(sh):
    url = refused(sh, "Set-OwaVirtualDirectory", "EX01\\owa (Default Web Site)", "-ExternalUrl", "mail.contoso.com/owa")
    assert url.message == ("Cannot bind parameter 'ExternalUrl'. Cannot convert value \"mail.contoso.com/owa\" to type \"System.Uri\". "
                           "Error: \"Invalid URI: The format of the URI could not be determined.\"")
    boolean = refused(sh, "Set-ReceiveConnector", "EX01\\Client Frontend EX01", "-AdvertiseClientSettings", "yes")
    assert boolean.message == ("Cannot process argument transformation on parameter 'AdvertiseClientSettings'. Cannot convert value "
                               "\"System.String\" to type \"System.Boolean\". Boolean parameters accept only Boolean values and numbers, "
                               "such as $True, $False, 1 or 0.")
    number = refused(sh, "Set-SendConnector", "x", "-Port", "twenty-five")
    assert number.message == ("Cannot bind parameter 'Port'. Cannot convert value \"twenty-five\" to type \"System.Int32\". "
                              "Error: \"Input string was not in a correct format.\"")
    fqdn = refused(sh, "Set-ReceiveConnector", "EX01\\Client Frontend EX01", "-Fqdn", "mail contoso")
    assert fqdn.message.startswith("Cannot process argument transformation on parameter 'Fqdn'. Cannot convert value \"mail contoso\" "
                                   "to type \"Microsoft.Exchange.Data.Fqdn\".")
    size = refused(sh, "Set-ReceiveConnector", "EX01\\Client Frontend EX01", "-MaxMessageSize", "Unlimited")
    assert "Microsoft.Exchange.Data.ByteQuantifiedSize" in size.message
    array = refused(sh, "Set-ReceiveConnector", ["EX01\\Client Frontend EX01", "EX01\\Default EX01"], "-Banner", "x")
    assert array.message.startswith("Cannot convert 'System.Object[]' to the type 'Microsoft.Exchange.Configuration.Tasks.ReceiveConnectorIdParameter'")
    null = refused(sh, "Set-ReceiveConnector", "EX01\\Client Frontend EX01", "-AdvertiseClientSettings", None)
    assert null.message == "Cannot bind argument to parameter 'AdvertiseClientSettings' because it is null."


def test_switches_and_booleans_follow_powershell(sh):
    sh("Set-ReceiveConnector", "EX01\\Client Frontend EX01", Colon("AdvertiseClientSettings", True))
    assert sh.one("Get-ReceiveConnector", "EX01\\Client Frontend EX01").get("AdvertiseClientSettings") is True
    sh("Set-ReceiveConnector", "EX01\\Client Frontend EX01", "-AdvertiseClientSettings", 0)
    assert sh.one("Get-ReceiveConnector", "EX01\\Client Frontend EX01").get("AdvertiseClientSettings") is False
    assert sh("Set-ReceiveConnector", "EX01\\Client Frontend EX01", "-Banner", "220 hi", Colon("WhatIf", False)) == []
    assert sh.one("Get-ReceiveConnector", "EX01\\Client Frontend EX01").get("Banner") == "220 hi"


def test_identity_from_an_object(sh):
    connector = sh.one("Get-ReceiveConnector", "EX01\\Client Frontend EX01")
    sh("Set-ReceiveConnector", "-Identity", connector, "-Banner", "hello")
    by_guid = sh.one("Get-ReceiveConnector", connector.get("Guid"))
    assert by_guid.get("Banner") == "hello"
    by_dn = sh.one("Get-ReceiveConnector", connector.get("DistinguishedName"))
    assert by_dn.to_string() == "EX01\\Client Frontend EX01"
    assert isinstance(by_dn.get("Identity"), PSObject)


def test_new_and_remove_email_address_policy(sh):
    sh("New-AcceptedDomain", "-Name", "Fabrikam", "-DomainName", "fabrikam.com")
    created = sh.one("New-EmailAddressPolicy", "-Name", "Fabrikam users", "-EnabledPrimarySMTPAddressTemplate", "@fabrikam.com",
                     "-IncludedRecipients", "MailboxUsers")
    assert created.get("Priority").to_string() == "1"
    assert [p.to_string() for p in sh("Get-EmailAddressPolicy")] == ["Fabrikam users", "Default Policy"]
    both = refused(sh, "New-EmailAddressPolicy", "-Name", "Other", "-EnabledPrimarySMTPAddressTemplate", "@fabrikam.com")
    assert both.message == "Cannot process command because of one or more missing mandatory parameters: IncludedRecipients."
    default = refused(sh, "Remove-EmailAddressPolicy", "Default Policy", NO_CONFIRM)
    assert default.message == "The default email address policy can't be removed."
    sh("Remove-EmailAddressPolicy", "Fabrikam users", NO_CONFIRM)
    assert [p.to_string() for p in sh("Get-EmailAddressPolicy")] == ["Default Policy"]


def test_remove_virtual_directory(sh):
    sh("Remove-MapiVirtualDirectory", "EX02\\mapi (Default Web Site)", NO_CONFIRM)
    assert [v.to_string() for v in sh("Get-MapiVirtualDirectory")] == ["EX01\\mapi (Default Web Site)"]
    gone = refused(sh, "Get-MapiVirtualDirectory", "-Server", "EX02", "-Identity", "x")
    assert gone.message == "Parameter set cannot be resolved using the specified named parameters."
    assert sh("Get-MapiVirtualDirectory", "-Server", "EX02") == []


def test_non_terminating_errors_for_piped_objects_continue(sh):
    sh("New-AcceptedDomain", "-Name", "Contoso", "-DomainName", "contoso.com")
    domains = sh("Get-AcceptedDomain")
    sh("Remove-AcceptedDomain", NO_CONFIRM, pipeline=domains)
    assert [e.message for e in sh.ctx.errors] == [
        "The accepted domain 'corp.contoso.com' is the default accepted domain and can't be removed. Make another accepted domain the default first."]
    assert [d.to_string() for d in sh("Get-AcceptedDomain")] == ["corp.contoso.com"]


def test_documented_send_connector_rules(sh):
    usage = refused(sh, "New-SendConnector", "-Name", "X", "-Internet", "-Internal", "-AddressSpaces", "*")
    assert "Internal, Internet can't be used together" in usage.message
    foreign = refused(sh, "New-SendConnector", "-Name", "Fax", "-AddressSpaces", "FAX:gateway;5")
    assert "isn't an SMTP address space" in foreign.message
    sh("New-SendConnector", "-Name", "Fax", "-AddressSpaces", "FAX:gateway;5", "-SmartHosts", "10.0.0.9", "-DNSRoutingEnabled", False)
    assert [a.to_string() for a in sh.one("Get-SendConnector", "Fax").get("AddressSpaces")] == ["FAX:gateway;5"]
    assert [h.to_string() for h in sh.one("Get-SendConnector", "Fax").get("SmartHosts")] == ["[10.0.0.9]"]
    tls = refused(sh, "Set-SendConnector", "Fax", "-RequireTLS", True, "-IgnoreSTARTTLS", True)
    assert tls.message == "IgnoreSTARTTLS must be $false when RequireTLS is $true."
    no_hosts = refused(sh, "Set-SendConnector", "Fax", "-SmartHosts", None)
    assert "no smart host is set" in no_hosts.message
    sh("Set-SendConnector", "Fax", "-SourceTransportServers", Hashtable({"Add": "EX02"}))
    assert [s.to_string() for s in sh.one("Get-SendConnector", "Fax").get("SourceTransportServers")] == ["EX01", "EX02"]
    wildcard_star = refused(sh, "New-SendConnector", "-Name", "Y", "-AddressSpaces", "*contoso.com")
    assert wildcard_star.message.startswith("Cannot process argument transformation on parameter 'AddressSpaces'.")


def test_outlook_anywhere_default_authentication_method(sh):
    both = refused(sh, "Set-OutlookAnywhere", "EX01\\Rpc*", "-DefaultAuthenticationMethod", "Ntlm", "-IISAuthenticationMethods", "Basic")
    assert both.message == "The DefaultAuthenticationMethod parameter can't be used with the IISAuthenticationMethods parameter."
    sh("Set-OutlookAnywhere", "EX01\\Rpc*", "-DefaultAuthenticationMethod", "Basic")
    oa = sh.one("Get-OutlookAnywhere", "-Server", "EX01")
    assert oa.get("ExternalClientAuthenticationMethod").to_string() == "Basic"
    assert [m.to_string() for m in oa.get("IISAuthenticationMethods")] == ["Basic"]
    assert oa.get("ExternalClientAuthenticationMethod") == "basic"
    several = refused(sh, "Set-OwaVirtualDirectory", "*\\owa*", "-ExternalUrl", "https://mail.contoso.com/owa")
    assert several.message == "The operation couldn't be performed because '*\\owa*' matches multiple entries."


def test_update_applies_only_the_effective_policy(sh):
    sh("New-AcceptedDomain", "-Name", "Fabrikam", "-DomainName", "fabrikam.com")
    sh("New-EmailAddressPolicy", "-Name", "Contacts", "-EnabledPrimarySMTPAddressTemplate", "@fabrikam.com", "-IncludedRecipients", "MailContacts")
    sh("Update-EmailAddressPolicy", "Contacts")
    assert sh.one("Get-Recipient", "ana").get("PrimarySmtpAddress").to_string() == "ana@corp.contoso.com"
    sh("Set-EmailAddressPolicy", "Contacts", "-IncludedRecipients", "MailboxUsers")
    sh("Update-EmailAddressPolicy", "Default Policy")  # no longer the effective policy of mailboxes
    assert sh.one("Get-Recipient", "ana").get("PrimarySmtpAddress").to_string() == "ana@corp.contoso.com"
    sh("Update-EmailAddressPolicy", "Contacts")
    assert sh.one("Get-Recipient", "ana").get("PrimarySmtpAddress").to_string() == "ana@fabrikam.com"


def test_alternate_service_account(sh):
    from exchange_lab.psvalues import PSCredential, SecureString

    credential = PSCredential("CORP\\EXCH-ASA$", SecureString("x"))
    sh("Set-ClientAccessService", "EX01", "-AlternateServiceAccountCredential", credential)
    assert sh.one("Get-ClientAccessService", "EX01").get("AlternateServiceAccountConfiguration").to_string() == "Latest: CORP\\EXCH-ASA$"
    sh("Set-ClientAccessService", "EX01", "-RemoveAlternateServiceAccountCredentials")
    assert sh.one("Get-ClientAccessService", "EX01").get("AlternateServiceAccountConfiguration") is None
    mixed = refused(sh, "Set-ClientAccessService", "EX01", "-RemoveAlternateServiceAccountCredentials", "-AutoDiscoverServiceInternalUri", "https://a.contoso.com/x")
    assert mixed.message == "Parameter set cannot be resolved using the specified named parameters."


def test_recreate_a_virtual_directory(sh):
    sh("Remove-OwaVirtualDirectory", "EX01\\owa (Default Web Site)", NO_CONFIRM)
    assert sh("Get-OwaVirtualDirectory", "-Server", "EX01") == []
    created = sh.one("New-OwaVirtualDirectory", "-Server", "EX01", "-ExternalUrl", "https://mail.contoso.com/owa")
    assert created.to_string() == "EX01\\owa (Default Web Site)"
    assert created.get("InternalUrl").to_string() == "https://ex01.corp.contoso.com/owa"
    again = refused(sh, "New-OwaVirtualDirectory", "-Server", "EX01")
    assert again.message.startswith("The virtual directory 'owa' already exists under 'ex01.corp.contoso.com/Default Web Site'.")
    sh("New-OwaVirtualDirectory", "-Server", "EX01", "-Role", "Mailbox")
    assert [v.to_string() for v in sh("Get-OwaVirtualDirectory", "-Server", "EX01")] == ["EX01\\owa (Default Web Site)"]
    assert [v.to_string() for v in sh("Get-OwaVirtualDirectory", "-Server", "EX01", "-ShowMailboxVirtualDirectories")] == [
        "EX01\\owa (Default Web Site)", "EX01\\owa (Exchange Back End)"]
    ps = sh.one("New-PowerShellVirtualDirectory", "-Name", "PowerShell-Proxy", "-Server", "EX02")
    assert ps.to_string() == "EX02\\PowerShell-Proxy (Default Web Site)"
