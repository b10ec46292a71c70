"""exchange_receive_connector against the lab, through ansible-playbook."""

import pytest
from labtools import assert_one_session, assert_scripts, versions, write_commands
from labstate import changes, find, props

pytestmark = pytest.mark.slow


def _certificates(state, server):
    servers = state.get("servers") or {}
    record = servers.get(server) or {}
    return record.get("certificates") or state.get("certificates") or []


def _thumbprint(cert):
    for key in ("thumbprint", "Thumbprint"):
        if cert.get(key):
            return cert[key]
    return (cert.get("props") or {}).get("Thumbprint")


@pytest.mark.parametrize("version", versions())
def test_client_frontend_procedure(lab_factory, version):
    lab = lab_factory(version)
    identity = "EX01\\Client Frontend EX01"
    state = lab.lab_state()
    certs = [c for c in _certificates(state, "EX01") if _thumbprint(c)]
    assert certs, "the lab seeds at least one certificate on EX01"
    thumbprint = _thumbprint(certs[0])
    args = {"identity": identity, "fqdn": "mail.contoso.com", "tls_certificate_thumbprint": thumbprint,
            "advertise_client_settings": True}

    result = lab.run_module("exchange_receive_connector", args, check=True, diff=True)
    assert result.get("failed") is not True, result
    assert result["changed"] is True
    assert changes(state, lab.lab_state()) == []
    assert write_commands(lab) == []

    result = lab.run_module("exchange_receive_connector", args, diff=True)
    assert result["changed"] is True, result
    assert_one_session(lab)
    tls_name = result["receive_connector"]["tls_certificate_name"]
    assert tls_name.startswith("<I>") and "<S>" in tls_name
    after = lab.lab_state()
    record = props(find(after, "receive_connectors", "Client Frontend EX01"))
    assert str(record["Fqdn"]).lower() == "mail.contoso.com"
    assert record["AdvertiseClientSettings"] is True
    assert str(record["TlsCertificateName"]) == tls_name
    assert result["diff"]["before"]["advertise_client_settings"] is False
    assert result["diff"]["after"]["advertise_client_settings"] is True
    # nothing but this connector changed
    touched = changes(state, after)
    assert touched and all("Client Frontend EX01" in p for p in touched), touched

    result = lab.run_module("exchange_receive_connector", args)
    assert result["changed"] is False, result
    assert_one_session(lab)
    assert_scripts(lab, 2)

    # back to the seeded state (clearing the TLS certificate name with an empty string)
    restore = {"identity": identity, "fqdn": "ex01.corp.contoso.com", "tls_certificate_name": "",
               "advertise_client_settings": False}
    result = lab.run_module("exchange_receive_connector", restore)
    assert result["changed"] is True, result
    assert "-TlsCertificateName $null" in result["commands"][0]
    record = props(find(lab.lab_state(), "receive_connectors", "Client Frontend EX01"))
    assert not record["TlsCertificateName"]
    assert record["AdvertiseClientSettings"] is False
    assert changes(state, lab.lab_state()) == []


def test_custom_connector_create_and_remove(lab):
    args = {"name": "Relay from APP01", "server": "EX02", "usage": "Custom", "transport_role": "FrontendTransport",
            "bindings": ["0.0.0.0:2526"], "remote_ip_ranges": ["10.0.5.20", "10.0.6.0/24"],
            "permission_groups": ["AnonymousUsers"]}
    result = lab.run_module("exchange_receive_connector", args, server="EX02")
    assert result.get("failed") is not True, result
    assert result["changed"] is True
    assert_one_session(lab, server="EX02")
    assert find(lab.lab_state(), "receive_connectors", "Relay from APP01") is not None

    result = lab.run_module("exchange_receive_connector", args, server="EX02")
    assert result["changed"] is False, result

    result = lab.run_module("exchange_receive_connector", {"identity": "EX02\\Relay from APP01", "state": "absent"},
                            server="EX02")
    assert result["changed"] is True
    assert find(lab.lab_state(), "receive_connectors", "Relay from APP01") is None


@pytest.mark.parametrize("args,message", [
    ({"identity": "EX01\\Client Frontend EX01", "bindings": ["0.0.0.0"]}, "is not IP:port"),
    ({"identity": "EX01\\Client Frontend EX01", "tls_certificate_thumbprint": "A" * 40}, "no certificate with thumbprint"),
    ({"identity": "EX09\\Client Frontend EX09", "fqdn": "mail.contoso.com"}, "is not an Exchange server"),
])
def test_receive_connector_refusals(lab, args, message):
    before = lab.lab_state()
    result = lab.run_module("exchange_receive_connector", args)
    assert result.get("failed") is True, result
    assert message in result["msg"]
    assert write_commands(lab) == []
    assert changes(before, lab.lab_state()) == []


def test_exchange_refusal_is_a_clean_failure(lab):
    """Exchange's own error (binding conflict) -> one message naming the cmdlet, the object and Exchange's text."""
    before = lab.lab_state()
    args = {"name": "Dup 587", "server": "EX01", "bindings": ["0.0.0.0:587"],
            "remote_ip_ranges": ["0.0.0.0-255.255.255.255"], "transport_role": "FrontendTransport"}
    result = lab.run_module("exchange_receive_connector", args)
    assert result.get("failed") is True, result
    assert result["msg"].startswith("New-ReceiveConnector failed for 'EX01\\Dup 587': "), result["msg"]
    assert "Client Frontend EX01" in result["msg"]
    assert "Traceback" not in lab.last_run["stdout"] + lab.last_run["stderr"]
    assert result["failed_command"] == result["commands"][0]
    assert changes(before, lab.lab_state()) == []
