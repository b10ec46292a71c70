"""exchange_info against the lab: one session, nothing written, output in the other modules' option shapes."""

import pytest
from labstate import changes
from labtools import assert_one_session, script_texts, versions, write_commands

pytestmark = pytest.mark.slow

VDIR_KEYS = {"owa", "ecp", "ews", "eas", "oab", "powershell"}


@pytest.mark.parametrize("version", versions())
def test_everything_in_one_read(lab_factory, version):
    lab = lab_factory(version)
    before = lab.lab_state()
    result = lab.run_module("exchange_info", {}, check=True)
    assert result.get("failed") is not True, result
    assert result["changed"] is False and result["commands"] == []
    assert write_commands(lab) == []
    assert_one_session(lab)
    assert len(script_texts(lab)) == 2  # loading the Exchange shell, then the one read
    assert changes(before, lab.lab_state()) == []

    servers = {s["name"]: s for s in result["servers"]}
    assert set(servers) == {"EX01", "EX02"}
    ex01 = servers["EX01"]
    assert ex01["version"] == version and ex01["fqdn"] == "ex01.corp.contoso.com"
    assert VDIR_KEYS <= set(ex01["urls"])
    assert ("mapi" in ex01["urls"]) or version == "2013"
    for key in VDIR_KEYS:
        assert set(ex01["urls"][key]) == {"internal_url", "external_url"}
    assert set(ex01["outlook_anywhere"]) == {"internal_hostname", "external_hostname", "internal_clients_require_ssl",
                                             "external_clients_require_ssl", "internal_client_authentication_method",
                                             "external_client_authentication_method"}
    assert ex01["autodiscover_internal_uri"].lower().endswith("/autodiscover/autodiscover.xml")
    assert ex01["certificates"], "a fresh server has its default certificates"
    for certificate in ex01["certificates"]:
        assert len(certificate["thumbprint"]) == 40
        assert certificate["tls_certificate_name"].startswith("<I>")
        assert certificate["not_after"].endswith("Z")
    names = {r["name"] for r in result["receive_connectors"] if r["server"] == "EX01"}
    assert {"Default EX01", "Client Proxy EX01", "Default Frontend EX01", "Outbound Proxy Frontend EX01",
            "Client Frontend EX01"} <= names
    assert any(d["make_default"] for d in result["accepted_domains"])
    assert any(p["name"] == "Default Policy" and p["primary_smtp_address_template"]
               for p in result["email_address_policies"])
    assert result["offline_address_books"]
    assert isinstance(result["send_connectors"], list)


def test_output_feeds_the_modules_back(lab):
    """exchange_info's urls and outlook_anywhere, given to exchange_vdir_url, change nothing."""
    read = lab.run_module("exchange_info", {"gather": ["client_access"], "servers": ["EX02"]})
    server = read["servers"][0]
    result = lab.run_module("exchange_vdir_url", {"server": "EX02", "urls": server["urls"],
                                                  "outlook_anywhere": server["outlook_anywhere"],
                                                  "autodiscover_internal_uri": server["autodiscover_internal_uri"]})
    assert result.get("failed") is not True, result
    assert result["changed"] is False, result
    assert write_commands(lab) == []

    domains = lab.run_module("exchange_info", {"gather": ["accepted_domains"]})["accepted_domains"]
    default = next(d for d in domains if d["make_default"])
    result = lab.run_module("exchange_accepted_domain", {k: v for k, v in default.items()})
    assert result.get("failed") is not True and result["changed"] is False, result


def test_gather_subset_and_servers(lab):
    result = lab.run_module("exchange_info", {"gather": ["certificates"], "servers": ["EX02"]})
    assert result.get("failed") is not True, result
    assert [s["name"] for s in result["servers"]] == ["EX02"]
    assert "urls" not in result["servers"][0] and "certificates" in result["servers"][0]
    assert "send_connectors" not in result and "accepted_domains" not in result
    text = "\n".join(script_texts(lab))
    assert "if ($false) {\n    $send" in text

    result = lab.run_module("exchange_info", {"servers": ["EX99"], "gather": ["client_access"]})
    assert result.get("failed") is True and "EX99" in result["msg"]
