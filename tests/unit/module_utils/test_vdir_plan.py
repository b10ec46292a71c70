"""vdir_plan: validation, the documented rules and the write plan for one server's client access URLs."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.mailops.exchange.plugins.module_utils import vdir_plan as vp
from ansible_collections.mailops.exchange.plugins.module_utils.quoting import ps_script

# The seeds' "How do you know this step worked?" tables (Exchange 2016/2019 and 2013, unique OWA FQDN).
EXTERNAL_TABLE = {
    "ecp": "https://owa.contoso.com/ecp",
    "ews": "https://mail.contoso.com/EWS/Exchange.asmx",
    "eas": "https://mail.contoso.com/Microsoft-Server-ActiveSync",
    "oab": "https://mail.contoso.com/OAB",
    "owa": "https://owa.contoso.com/owa",
    "powershell": "http://mail.contoso.com/PowerShell",
}
INTERNAL_DIFFERENT_TABLE = {
    "ecp": "https://internal.contoso.com/ecp",
    "ews": "https://internal.contoso.com/EWS/Exchange.asmx",
    "eas": "https://internal.contoso.com/Microsoft-Server-ActiveSync",
    "oab": "https://internal.contoso.com/OAB",
    "owa": "https://internal.contoso.com/owa",
    "powershell": "http://internal.contoso.com/PowerShell",
}


def read_answer(version="Version 15.2 (Build 1118.7)", mapi=True, server="EX01", fqdn="ex01.corp.contoso.com"):
    """What READ_SCRIPT returns for a freshly installed server (internal URLs on the server FQDN)."""
    vdirs = {}
    for kind in vp.VDIRS:
        if kind.key == "mapi" and not mapi:
            vdirs[kind.key] = []
            continue
        scheme = kind.scheme
        vdirs[kind.key] = [{
            "name": "%s (Default Web Site)" % kind.name,
            "identity": "%s\\%s (Default Web Site)" % (server, kind.name),
            "internal_url": "%s://%s%s" % (scheme, fqdn, kind.path),
            "external_url": "",
        }]
        if kind.key == "mapi":  # Exchange's default, read with the URLs
            vdirs[kind.key][0]["iis_authentication_methods"] = ["Ntlm", "OAuth", "Negotiate"]
    return {
        "server": {"name": server, "fqdn": fqdn, "version": version},
        "vdirs": vdirs,
        "outlook_anywhere": [{
            "name": "Rpc (Default Web Site)", "identity": "%s\\Rpc (Default Web Site)" % server,
            "internal_hostname": fqdn, "external_hostname": "",
            "internal_clients_require_ssl": False, "external_clients_require_ssl": False,
            "internal_client_authentication_method": "Ntlm", "external_client_authentication_method": "Negotiate",
        }],
        "client_access": [{"identity": server,
                           "autodiscover_internal_uri": "https://%s/Autodiscover/Autodiscover.xml" % fqdn}],
    }


def state(**kw):
    return vp.current_state(read_answer(**kw))


def urls_from(table, field):
    return {key: {field: url} for key, url in table.items()}


# --- versions -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, version", [
    ("Version 15.0 (Build 1497.2)", "2013"),
    ("Version 15.1 (Build 2507.6)", "2016"),
    ("Version 15.2 (Build 1118.7)", "2019"),
    ("Version 15.2 (Build 2562.17)", "SE"),
    ("15.1.2507.6", "2016"),
    ("Version 14.3 (Build 123.4)", None),
    ("", None),
    (None, None),
])
def test_exchange_version(text, version):
    assert vp.exchange_version(text) == version


def test_client_access_cmdlet_by_version():
    assert vp.client_access_cmdlet("2013") == "ClientAccessServer"
    assert vp.client_access_cmdlet("2016") == "ClientAccessService"
    assert vp.client_access_cmdlet("2019") == "ClientAccessService"


# --- validation -----------------------------------------------------------------------------------------------


def test_seed_tables_validate():
    for table in (EXTERNAL_TABLE, INTERNAL_DIFFERENT_TABLE):
        for field in vp.URL_FIELDS:
            desired = vp.validate_urls(urls_from(table, field))
            assert {k: v[field] for k, v in desired.items()} == table
            assert vp.path_warnings(desired) == []


def test_absent_means_leave_alone_and_null_or_empty_clears():
    desired = vp.validate_urls({"owa": {"external_url": None}, "ecp": {"external_url": ""}, "ews": None, "oab": {}})
    assert desired == {"owa": {"external_url": None}, "ecp": {"external_url": None}}
    assert vp.validate_urls(None) == {}


@pytest.mark.parametrize("urls, message", [
    ({"autodiscover": {"internal_url": "https://a.b/x"}}, "Autodiscover has no internal or external URL"),
    ({"rpc": {}}, "unknown virtual directory"),
    ({"owa": "https://x/owa"}, "must be a dictionary"),
    ({"owa": {"internalurl": "https://x/owa"}}, "unknown key"),
    ({"owa": {"internal_url": "owa.contoso.com/owa"}}, "not an absolute URL"),
    ({"owa": {"internal_url": "/owa"}}, "not an absolute URL"),
    ({"owa": {"internal_url": "http://owa.contoso.com/owa"}}, "must use https://"),
    ({"ews": {"external_url": "ftp://mail.contoso.com/EWS/Exchange.asmx"}}, "must use https://"),
    ({"powershell": {"internal_url": "https://mail.contoso.com/PowerShell"}}, "must use http://"),
    ({"owa": {"internal_url": "https://user:pw@owa.contoso.com/owa"}}, "user name or password"),
    ({"owa": {"internal_url": "https://owa.contoso.com/owa?x=1"}}, "query or a fragment"),
    ({"owa": {"internal_url": "https://owa.contoso.com/owa#x"}}, "query or a fragment"),
    ({"owa": {"internal_url": "https://owa contoso.com/owa"}}, "white space|host name"),
    ({"owa": {"internal_url": "https://owa_contoso.com/owa"}}, "invalid host name"),
    ({"owa": {"internal_url": "https://owa.contoso.com:99999/owa"}}, "not a valid URL"),
    ({"owa": {"internal_url": "https://owa.contoso.com/o wa"}}, "white space"),
    ({"owa": {"internal_url": 5}}, "must be a URL string"),
    ("owa", "must be a dictionary"),
])
def test_validate_urls_refuses(urls, message):
    with pytest.raises(vp.VdirError, match=message):
        vp.validate_urls(urls)


def test_hostile_strings_are_refused_as_urls():
    for value in ["https://x.com/'; Remove-Item C:\\ -Recurse; '", "https://$(calc).com/owa",
                  "https://x.com/`n", "https://x.com/\u2019owa"]:
        try:
            accepted = vp.validate_url("owa", "internal_url", value)
        except vp.VdirError:
            continue
        # If a URL is accepted it is passed verbatim, as one quoted literal.
        assert accepted == value


def test_path_warnings():
    desired = vp.validate_urls({"owa": {"internal_url": "https://owa.contoso.com/ecp"},
                                "ews": {"external_url": "https://mail.contoso.com/ews/exchange.asmx"}})
    warnings = vp.path_warnings(desired)
    assert len(warnings) == 1 and "urls.owa.internal_url" in warnings[0] and "'/owa'" in warnings[0]


def test_validate_outlook_anywhere():
    desired = vp.validate_outlook_anywhere({
        "external_hostname": "Mail.Contoso.com", "internal_hostname": None,
        "external_clients_require_ssl": "yes", "internal_clients_require_ssl": False,
        "external_client_authentication_method": "negotiate", "internal_client_authentication_method": "NTLM",
    })
    assert desired == {"external_hostname": "Mail.Contoso.com", "internal_hostname": None,
                       "external_clients_require_ssl": True, "internal_clients_require_ssl": False,
                       "external_client_authentication_method": "Negotiate",
                       "internal_client_authentication_method": "Ntlm"}
    assert vp.validate_outlook_anywhere(None) == {}


@pytest.mark.parametrize("options, message", [
    ({"external_host": "a"}, "unknown key"),
    ({"external_hostname": "https://mail.contoso.com"}, "not a valid host name"),
    ({"external_hostname": "mail contoso"}, "not a valid host name"),
    ({"external_clients_require_ssl": "maybe"}, "must be a boolean"),
    ({"external_clients_require_ssl": None}, "true or false"),
    ({"external_client_authentication_method": "Kerberos"}, "one of Basic, Ntlm, Negotiate"),
    ({"external_client_authentication_method": 3}, "one of Basic"),
    (["x"], "must be a dictionary"),
])
def test_validate_outlook_anywhere_refuses(options, message):
    with pytest.raises(vp.VdirError, match=message):
        vp.validate_outlook_anywhere(options)


def test_validate_autodiscover_uri():
    assert vp.validate_autodiscover_uri(None) is None
    assert vp.validate_autodiscover_uri("") == ""
    uri = "https://autodiscover.contoso.com/Autodiscover/Autodiscover.xml"
    assert vp.validate_autodiscover_uri(uri) == uri
    for bad in ("http://autodiscover.contoso.com/Autodiscover/Autodiscover.xml", "autodiscover.contoso.com",
                "https://a_b/x", "https://x.com/a?b", 7):
        with pytest.raises(vp.VdirError, match="autodiscover_internal_uri"):
            vp.validate_autodiscover_uri(bad)


# --- state ----------------------------------------------------------------------------------------------------


def test_current_state_picks_the_default_web_site_vdir():
    answer = read_answer()
    answer["vdirs"]["owa"].insert(0, {"name": "owa (Exchange Back End)", "identity": "EX01\\owa (Exchange Back End)",
                                      "internal_url": "https://ex01:444/owa", "external_url": ""})
    answer["vdirs"]["ews"] = answer["vdirs"]["ews"][0]  # a single object, not a list
    st = vp.current_state(answer)
    assert st["vdirs"]["owa"]["identity"] == "EX01\\owa (Default Web Site)"
    assert st["vdirs"]["ews"]["identity"] == "EX01\\EWS (Default Web Site)"
    assert st["vdirs"]["owa"]["external_url"] is None
    assert st["server"]["version"] == "2019"
    assert st["outlook_anywhere"]["external_hostname"] is None
    assert st["client_access"]["autodiscover_internal_uri"].endswith("/Autodiscover/Autodiscover.xml")


def test_current_state_without_mapi():
    st = state(version="Version 15.0 (Build 1497.2)", mapi=False)
    assert st["vdirs"]["mapi"] is None and st["server"]["version"] == "2013"


# --- rules ----------------------------------------------------------------------------------------------------


def test_owa_ecp_seed_tables_pass_the_rule():
    for table in (EXTERNAL_TABLE, INTERNAL_DIFFERENT_TABLE):
        for field in vp.URL_FIELDS:
            vp.check_owa_ecp(state()["vdirs"], vp.validate_urls(urls_from(table, field)))


def test_owa_ecp_rule_refuses_different_hosts():
    desired = vp.validate_urls({"owa": {"internal_url": "https://owa.contoso.com/owa"},
                                "ecp": {"internal_url": "https://mail.contoso.com/ecp"}})
    with pytest.raises(vp.VdirError, match="same scheme and host") as info:
        vp.check_owa_ecp(state()["vdirs"], desired)
    assert "https://owa.contoso.com/owa" in str(info.value) and "https://mail.contoso.com/ecp" in str(info.value)


def test_owa_ecp_rule_compares_with_the_current_value():
    # Changing only owa's internal URL would leave ecp on the server FQDN.
    desired = vp.validate_urls({"owa": {"internal_url": "https://owa.contoso.com/owa"}})
    with pytest.raises(vp.VdirError, match="same scheme and host"):
        vp.check_owa_ecp(state()["vdirs"], desired)
    # Changing only owa to the host ecp already uses is fine (case and default port do not matter).
    desired = vp.validate_urls({"owa": {"internal_url": "https://EX01.corp.contoso.com:443/owa"}})
    vp.check_owa_ecp(state()["vdirs"], desired)


def test_owa_ecp_rule_refuses_one_external_url_without_the_other():
    desired = vp.validate_urls({"owa": {"external_url": "https://owa.contoso.com/owa"}})
    with pytest.raises(vp.VdirError, match="set together.*urls.ecp.external_url"):
        vp.check_owa_ecp(state()["vdirs"], desired)
    # Clearing both is allowed.
    vp.check_owa_ecp(state()["vdirs"], vp.validate_urls({"owa": {"external_url": None}, "ecp": {"external_url": None}}))


def test_owa_ecp_rule_ignores_untouched_kinds():
    st = state()
    st["vdirs"]["ecp"]["external_url"] = "https://other.contoso.com/ecp"  # already inconsistent
    vp.check_owa_ecp(st["vdirs"], vp.validate_urls({"ews": {"external_url": "https://mail.contoso.com/EWS/Exchange.asmx"}}))


# --- plan -----------------------------------------------------------------------------------------------------


def test_plan_external_table_on_a_fresh_server():
    desired = vp.validate_urls(urls_from(EXTERNAL_TABLE, "external_url"))
    result = vp.plan(state(), desired, {}, None)
    assert result.changed
    assert result.commands == [
        "Set-OwaVirtualDirectory -Identity 'EX01\\owa (Default Web Site)' -ExternalUrl 'https://owa.contoso.com/owa'",
        "Set-EcpVirtualDirectory -Identity 'EX01\\ecp (Default Web Site)' -ExternalUrl 'https://owa.contoso.com/ecp'",
        "Set-WebServicesVirtualDirectory -Identity 'EX01\\EWS (Default Web Site)' "
        "-ExternalUrl 'https://mail.contoso.com/EWS/Exchange.asmx'",
        "Set-ActiveSyncVirtualDirectory -Identity 'EX01\\Microsoft-Server-ActiveSync (Default Web Site)' "
        "-ExternalUrl 'https://mail.contoso.com/Microsoft-Server-ActiveSync'",
        "Set-OabVirtualDirectory -Identity 'EX01\\OAB (Default Web Site)' -ExternalUrl 'https://mail.contoso.com/OAB'",
        "Set-PowerShellVirtualDirectory -Identity 'EX01\\PowerShell (Default Web Site)' "
        "-ExternalUrl 'http://mail.contoso.com/PowerShell'",
    ]
    assert result.before["urls"]["owa"] == {"internal_url": "https://ex01.corp.contoso.com/owa", "external_url": None}
    assert result.after["urls"]["owa"] == {"internal_url": "https://ex01.corp.contoso.com/owa",
                                           "external_url": "https://owa.contoso.com/owa"}
    assert result.after["urls"]["mapi"] == result.before["urls"]["mapi"]


def test_plan_is_idempotent_in_canonical_form():
    answer = read_answer()
    for key, url in EXTERNAL_TABLE.items():
        # Exchange prints URLs as System.Uri does: lower-case host; here also an explicit default port.
        answer["vdirs"][key][0]["external_url"] = url.replace("owa.contoso.com", "OWA.contoso.com:443")
    desired = vp.validate_urls(urls_from(EXTERNAL_TABLE, "external_url"))
    result = vp.plan(vp.current_state(answer), desired, {}, None)
    assert not result.changed and result.commands == []
    assert result.before == result.after


def test_plan_internal_and_external_in_one_command_and_clearing():
    desired = vp.validate_urls({"oab": {"internal_url": "https://mail.contoso.com/OAB",
                                        "external_url": "https://mail.contoso.com/OAB"},
                                "powershell": {"internal_url": None}})
    result = vp.plan(state(), desired, {}, None)
    assert result.commands == [
        "Set-OabVirtualDirectory -Identity 'EX01\\OAB (Default Web Site)' -InternalUrl 'https://mail.contoso.com/OAB' "
        "-ExternalUrl 'https://mail.contoso.com/OAB'",
        "Set-PowerShellVirtualDirectory -Identity 'EX01\\PowerShell (Default Web Site)' -InternalUrl $null",
    ]
    assert result.after["urls"]["powershell"]["internal_url"] is None


def test_plan_refuses_mapi_on_a_server_without_it():
    desired = vp.validate_urls({"mapi": {"external_url": "https://mail.contoso.com/mapi"}})
    with pytest.raises(vp.VdirError, match="no 'mapi \\(Default Web Site\\)'.*2013 SP1.*Version 15.0"):
        vp.plan(state(version="Version 15.0 (Build 847.32)", mapi=False), desired, {}, None)
    # On 2013 with a mapi virtual directory (SP1 and later) it is managed like the others.
    result = vp.plan(state(version="Version 15.0 (Build 1497.2)", mapi=True), desired, {}, None)
    assert result.commands == ["Set-MapiVirtualDirectory -Identity 'EX01\\mapi (Default Web Site)' "
                               "-ExternalUrl 'https://mail.contoso.com/mapi' "
                               "-IISAuthenticationMethods @('Ntlm', 'OAuth', 'Negotiate')"]


# --- Set-MapiVirtualDirectory needs -IISAuthenticationMethods with its URLs -------------------------------------


def test_mapi_url_change_carries_the_current_iis_methods():
    answer = read_answer()
    answer["vdirs"]["mapi"][0]["iis_authentication_methods"] = ["Ntlm", "Negotiate", "Basic"]
    desired = vp.validate_urls({"mapi": {"internal_url": "https://mail.contoso.com/mapi",
                                         "external_url": "https://mail.contoso.com/mapi"}})
    result = vp.plan(vp.current_state(answer), desired, {}, None)
    assert result.commands == ["Set-MapiVirtualDirectory -Identity 'EX01\\mapi (Default Web Site)' "
                               "-InternalUrl 'https://mail.contoso.com/mapi' -ExternalUrl 'https://mail.contoso.com/mapi' "
                               "-IISAuthenticationMethods @('Ntlm', 'Negotiate', 'Basic')"]
    assert result.before["mapi_iis_authentication_methods"] == result.after["mapi_iis_authentication_methods"] \
        == ["Ntlm", "Negotiate", "Basic"]
    # Clearing a URL is a use of -ExternalUrl too.
    answer["vdirs"]["mapi"][0]["external_url"] = "https://mail.contoso.com/mapi"
    cleared = vp.plan(vp.current_state(answer), vp.validate_urls({"mapi": {"external_url": None}}), {}, None)
    assert cleared.commands == ["Set-MapiVirtualDirectory -Identity 'EX01\\mapi (Default Web Site)' -ExternalUrl $null "
                                "-IISAuthenticationMethods @('Ntlm', 'Negotiate', 'Basic')"]


def test_mapi_iis_methods_given_are_sent_and_idempotent():
    url = {"mapi": {"external_url": "https://mail.contoso.com/mapi"}}
    wanted = vp.validate_iis_methods(["ntlm", "NEGOTIATE", "oauth", "Ntlm"])
    assert wanted == ["Ntlm", "Negotiate", "OAuth"]
    # Same set as the server's (other order): only the URL changes, sent with the methods.
    result = vp.plan(state(), vp.validate_urls(url), {}, None, wanted)
    assert result.commands == ["Set-MapiVirtualDirectory -Identity 'EX01\\mapi (Default Web Site)' "
                               "-ExternalUrl 'https://mail.contoso.com/mapi' -IISAuthenticationMethods @('Ntlm', 'Negotiate', 'OAuth')"]
    # Different methods, no URL: the methods alone.
    only = vp.plan(state(), {}, {}, None, ["Ntlm", "Negotiate"])
    assert only.commands == ["Set-MapiVirtualDirectory -Identity 'EX01\\mapi (Default Web Site)' "
                             "-IISAuthenticationMethods @('Ntlm', 'Negotiate')"]
    assert only.before["mapi_iis_authentication_methods"] == ["Ntlm", "OAuth", "Negotiate"]
    assert only.after["mapi_iis_authentication_methods"] == ["Ntlm", "Negotiate"]
    # Second run: URL and methods already there.
    answer = read_answer()
    answer["vdirs"]["mapi"][0].update(external_url="https://mail.contoso.com/mapi", iis_authentication_methods=["Negotiate", "Ntlm"])
    assert vp.plan(vp.current_state(answer), vp.validate_urls(url), {}, None, ["Ntlm", "Negotiate"]).commands == []
    assert vp.plan(vp.current_state(answer), vp.validate_urls(url), {}, None).commands == []


def test_mapi_url_change_refused_when_current_methods_unknown():
    answer = read_answer()
    answer["vdirs"]["mapi"][0]["iis_authentication_methods"] = None
    desired = vp.validate_urls({"mapi": {"external_url": "https://mail.contoso.com/mapi"}})
    with pytest.raises(vp.VdirError, match="IISAuthenticationMethods could not be read.*mapi_iis_authentication_methods"):
        vp.plan(vp.current_state(answer), desired, {}, None)
    # Given explicitly, it works; and nothing asked of mapi needs them.
    assert vp.plan(vp.current_state(answer), desired, {}, None, ["Ntlm"]).commands[0].endswith("-IISAuthenticationMethods @('Ntlm')")
    assert vp.plan(vp.current_state(answer), vp.validate_urls({"oab": {"external_url": "https://m.contoso.com/OAB"}}),
                   {}, None).commands[0].startswith("Set-OabVirtualDirectory")


def test_mapi_iis_methods_on_a_server_without_mapi_refused():
    with pytest.raises(vp.VdirError, match="no 'mapi \\(Default Web Site\\)'"):
        vp.plan(state(version="Version 15.0 (Build 847.32)", mapi=False), {}, {}, None, ["Ntlm"])


@pytest.mark.parametrize("value, message", [
    ([], "one or more"),
    (["Ntlm", "Kerberos"], "'Kerberos' is not one of Basic, Ntlm, Negotiate, OAuth"),
    ([None], "is not one of"),
    (5, "must be a list"),
])
def test_validate_iis_methods_refuses(value, message):
    with pytest.raises(vp.VdirError, match=message):
        vp.validate_iis_methods(value)


def test_current_state_reads_iis_methods_in_any_json_shape():
    # ConvertTo-Json gives a list; a single string or null must not break the read.
    for raw, expected in ((["Ntlm", "OAuth"], ["Ntlm", "OAuth"]), ("Ntlm", ["Ntlm"]), (None, []), (["", None, "Basic"], ["Basic"])):
        answer = read_answer()
        answer["vdirs"]["mapi"][0]["iis_authentication_methods"] = raw
        assert vp.current_state(answer)["vdirs"]["mapi"]["iis_authentication_methods"] == expected


def test_plan_outlook_anywhere_pairs_ssl_with_hostname():
    desired = vp.validate_outlook_anywhere({"external_hostname": "mail.contoso.com",
                                            "internal_hostname": "mail.contoso.com",
                                            "internal_clients_require_ssl": True,
                                            "external_client_authentication_method": "Negotiate"})
    result = vp.plan(state(), {}, desired, None)
    assert result.commands == [
        "Set-OutlookAnywhere -Identity 'EX01\\Rpc (Default Web Site)' -InternalHostname 'mail.contoso.com' "
        "-ExternalHostname 'mail.contoso.com' -InternalClientsRequireSsl:$true -ExternalClientsRequireSsl:$false"
    ]
    assert result.after["outlook_anywhere"]["external_hostname"] == "mail.contoso.com"
    assert result.after["outlook_anywhere"]["external_client_authentication_method"] == "Negotiate"


def test_plan_outlook_anywhere_idempotent_case_insensitive():
    answer = read_answer()
    oa = answer["outlook_anywhere"][0]
    oa.update(external_hostname="Mail.Contoso.com", internal_hostname="mail.contoso.com",
              external_clients_require_ssl=True, external_client_authentication_method="Negotiate")
    desired = vp.validate_outlook_anywhere({"external_hostname": "mail.contoso.com.", "internal_hostname": "MAIL.contoso.com",
                                            "external_clients_require_ssl": True,
                                            "external_client_authentication_method": "negotiate"})
    assert vp.plan(vp.current_state(answer), {}, desired, None).commands == []


def test_plan_outlook_anywhere_clear_host():
    answer = read_answer()
    answer["outlook_anywhere"][0]["external_hostname"] = "mail.contoso.com"
    result = vp.plan(vp.current_state(answer), {}, vp.validate_outlook_anywhere({"external_hostname": None}), None)
    assert result.commands == ["Set-OutlookAnywhere -Identity 'EX01\\Rpc (Default Web Site)' -ExternalHostname $null"]


def test_plan_outlook_anywhere_missing():
    answer = read_answer()
    answer["outlook_anywhere"] = []
    with pytest.raises(vp.VdirError, match="no Outlook Anywhere"):
        vp.plan(vp.current_state(answer), {}, {"external_hostname": "mail.contoso.com"}, None)
    # Nothing asked of Outlook Anywhere: its absence is not an error.
    assert vp.plan(vp.current_state(answer), {}, {}, None).commands == []


@pytest.mark.parametrize("version, cmdlet", [("Version 15.0 (Build 1497.2)", "Set-ClientAccessServer"),
                                             ("Version 15.1 (Build 2507.6)", "Set-ClientAccessService"),
                                             ("Version 15.2 (Build 1118.7)", "Set-ClientAccessService")])
def test_plan_autodiscover_uri_by_version(version, cmdlet):
    uri = "https://autodiscover.contoso.com/Autodiscover/Autodiscover.xml"
    result = vp.plan(state(version=version), {}, {}, vp.validate_autodiscover_uri(uri))
    assert result.commands == ["%s -Identity 'EX01' -AutoDiscoverServiceInternalUri '%s'" % (cmdlet, uri)]
    assert result.before["autodiscover_internal_uri"] == "https://ex01.corp.contoso.com/Autodiscover/Autodiscover.xml"
    assert result.after["autodiscover_internal_uri"] == uri
    # Same URI (other case in the host): nothing to do.
    again = vp.plan(state(version=version), {}, {}, "https://EX01.corp.contoso.com/Autodiscover/Autodiscover.xml")
    assert again.commands == []


def test_plan_autodiscover_uri_clear_and_leave_alone():
    assert vp.plan(state(), {}, {}, None).commands == []
    result = vp.plan(state(), {}, {}, vp.validate_autodiscover_uri(""))
    assert result.commands == ["Set-ClientAccessService -Identity 'EX01' -AutoDiscoverServiceInternalUri $null"]


def test_plan_autodiscover_unknown_version_refused():
    st = state(version="something else")
    with pytest.raises(vp.VdirError, match="cannot tell the Exchange version"):
        vp.plan(st, {}, {}, "https://autodiscover.contoso.com/Autodiscover/Autodiscover.xml")


def test_plan_refusal_happens_before_any_command():
    desired = vp.validate_urls({"ews": {"external_url": "https://mail.contoso.com/EWS/Exchange.asmx"},
                                "owa": {"internal_url": "https://owa.contoso.com/owa"}})
    with pytest.raises(vp.VdirError):
        vp.plan(state(), desired, {}, None)


def test_plan_values_are_quoted_literals():
    answer = read_answer()
    answer["vdirs"]["owa"][0]["identity"] = "EX01\\o'wa (Default Web Site)"
    answer["vdirs"]["owa"][0]["name"] = "owa (Default Web Site)"
    desired = vp.validate_urls({"owa": {"external_url": "https://owa.contoso.com/o'wa"},
                                "ecp": {"external_url": "https://owa.contoso.com/ecp"}})
    cmd = vp.plan(vp.current_state(answer), desired, {}, None).commands[0]
    assert cmd == ("Set-OwaVirtualDirectory -Identity 'EX01\\o''wa (Default Web Site)' "
                   "-ExternalUrl 'https://owa.contoso.com/o''wa'")


def test_read_script_reads_string_forms_only():
    """Through a plain Import-PSSession nested Exchange values arrive as strings: the read takes [string] of every
    value and never a member of a nested value (.Name, .HostnameString, .AbsoluteUri, ...)."""
    script = vp.READ_SCRIPT
    for member in (".HostnameString", ".AbsoluteUri", ".Name.", ".Domain", ".ToString(", ".Value", "[bool]$_"):
        assert member not in script, member
    import re
    for prop in re.findall(r"\$_\.([A-Za-z]+)", script) + re.findall(r"\$srv\.([A-Za-z]+)", script):
        assert re.search(r"(\[string\]|@\()\$(_|srv)\.%s\b" % prop, script), prop
    assert "iis_authentication_methods = @(@($_.IISAuthenticationMethods)" in script
    assert "ForEach-Object { [string]$_ }" in script


def test_read_script_renders_the_server_as_a_literal():
    script = ps_script(vp.READ_SCRIPT, server="EX01'; Remove-Item x; '")
    assert script.startswith("$server = 'EX01''; Remove-Item x; '''\n")
    for kind in vp.VDIRS:
        assert kind.get_cmdlet + " -Server $server -ADPropertiesOnly" in script
    assert "Get-ClientAccessServer" in script and "Get-ClientAccessService" in script


def test_plan_does_not_mutate_state():
    st = state()
    snapshot = copy.deepcopy(st)
    vp.plan(st, vp.validate_urls(urls_from(EXTERNAL_TABLE, "external_url")),
            vp.validate_outlook_anywhere({"external_hostname": "mail.contoso.com"}), "")
    assert st == snapshot


def test_given_keeps_only_written_keys():
    raw = {"owa": {"external_url": None}, "ecp": {"internal_url": "https://a.b/ecp"}}
    validated = {"owa": {"internal_url": None, "external_url": None},
                 "ecp": {"internal_url": "https://a.b/ecp", "external_url": None},
                 "ews": None, "eas": None, "oab": None, "mapi": None, "powershell": None}
    assert vp.given_urls(raw, validated) == {"owa": {"external_url": None}, "ecp": {"internal_url": "https://a.b/ecp"}}
    assert vp.given_urls(None, None) is None
    assert vp.given_urls({}, {"owa": None}) == {}
    oa_raw = {"external_hostname": None, "external_clients_require_ssl": "yes"}
    oa_validated = dict((k, None) for k in vp.OUTLOOK_ANYWHERE_KEYS)
    oa_validated["external_clients_require_ssl"] = True
    expected = {"external_hostname": None, "external_clients_require_ssl": True}
    assert vp.given(oa_raw, oa_validated, vp.OUTLOOK_ANYWHERE_KEYS) == expected
    assert vp.given(None, None, vp.OUTLOOK_ANYWHERE_KEYS) is None
