import base64
import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mailflow_harness import run_module  # noqa: E402

from ansible_collections.mailops.exchange.plugins.module_utils import exchange_objects
from ansible_collections.mailops.exchange.plugins.modules import exchange_receive_connector as mod


def connector(server, name, **props):
    record = {"Name": name, "Identity": "%s\\%s" % (server, name), "Server": server, "Fqdn": "%s.corp.contoso.com" % server.lower(),
              "TlsCertificateName": "", "AdvertiseClientSettings": False, "Bindings": ["[::]:587", "0.0.0.0:587"],
              "RemoteIPRanges": ["::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "0.0.0.0-255.255.255.255"],
              "AuthMechanism": "Tls, Integrated, BasicAuth, BasicAuthRequireTLS", "PermissionGroups": "ExchangeUsers",
              "TransportRole": "FrontendTransport"}
    record.update(props)
    return record


def make_certificate():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    issuer = x509.Name([x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "com"), x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "contoso"),
                        x509.NameAttribute(NameOID.COMMON_NAME, "Contoso Issuing CA")])
    subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Contoso"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "mail.contoso.com")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    der = cert.public_bytes(serialization.Encoding.DER)
    import hashlib
    return hashlib.sha1(der).hexdigest().upper(), base64.b64encode(der).decode()


CONNECTORS = [connector("EX01", "Client Frontend EX01"), connector("EX02", "Client Frontend EX02")]


def read(certs=None, connectors=None):
    return {"connectors": CONNECTORS if connectors is None else connectors, "servers": ["EX01", "EX02"],
            "certificates": certs or []}


def test_client_frontend_procedure(monkeypatch):
    thumb, raw = make_certificate()
    args = {"identity": "EX01\\Client Frontend EX01", "fqdn": "mail.contoso.com",
            "tls_certificate_thumbprint": thumb.lower(), "advertise_client_settings": True}
    expected_name = "<I>CN=Contoso Issuing CA, DC=contoso, DC=com<S>CN=mail.contoso.com, O=Contoso, C=US"
    done = [connector("EX01", "Client Frontend EX01", Fqdn="mail.contoso.com", TlsCertificateName=expected_name,
                      AdvertiseClientSettings=True), CONNECTORS[1]]
    certificates = [{"Thumbprint": thumb, "RawData": raw}]
    result, session = run_module(monkeypatch, mod.main, args, read(certificates), diff=True,
                                 read_after=read(certificates, done))
    assert result["commands"] == [
        "Set-ReceiveConnector -Identity 'EX01\\Client Frontend EX01' -Fqdn 'mail.contoso.com' "
        "-TlsCertificateName '%s' -AdvertiseClientSettings:$true" % expected_name]
    assert result["receive_connector"]["tls_certificate_name"] == expected_name
    assert "Get-ExchangeCertificate -Server 'EX01'" in session.queries[0]
    assert "if ($true)" in session.queries[0]
    assert result["diff"]["before"]["fqdn"] == "ex01.corp.contoso.com"

    # second run: unchanged
    result, session = run_module(monkeypatch, mod.main, args, read([{"Thumbprint": thumb, "RawData": raw}], done))
    assert result["changed"] is False


def test_unknown_thumbprint_refused(monkeypatch):
    thumb, raw = make_certificate()
    args = {"identity": "EX01\\Client Frontend EX01", "tls_certificate_thumbprint": "A" * 40}
    result, session = run_module(monkeypatch, mod.main, args, read([{"Thumbprint": thumb, "RawData": raw}]))
    assert result["failed"] and "no certificate with thumbprint " + "A" * 40 + " on server EX01" in result["msg"]
    assert session.executed == []


def test_no_certificate_read_without_thumbprint(monkeypatch):
    result, session = run_module(monkeypatch, mod.main, {"name": "Client Frontend EX02", "server": "ex02",
                                                         "advertise_client_settings": False}, read())
    assert result["changed"] is False
    assert "if ($false)" in session.queries[0]


def test_order_and_form_insensitive(monkeypatch):
    args = {"identity": "EX01\\client frontend ex01", "bindings": ["0.0.0.0:587", "[0:0::0]:587"],
            "remote_ip_ranges": ["0.0.0.0-255.255.255.255", "::-FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF"],
            "auth_mechanism": ["BasicAuthRequireTLS", "BasicAuth", "Integrated", "Tls"], "permission_groups": ["ExchangeUsers"],
            "transport_role": "FrontendTransport"}
    result, _unused = run_module(monkeypatch, mod.main, args, read())
    assert result["changed"] is False, result["commands"]


def test_bare_name_lookup_and_ambiguity(monkeypatch):
    result, _unused = run_module(monkeypatch, mod.main, {"identity": "Client Frontend EX02", "fqdn": "smtp.contoso.com"}, read())
    assert result["commands"] == ["Set-ReceiveConnector -Identity 'EX02\\Client Frontend EX02' -Fqdn 'smtp.contoso.com'"]
    dup = [connector("EX01", "Relay"), connector("EX02", "Relay")]
    result, _unused = run_module(monkeypatch, mod.main, {"identity": "Relay", "fqdn": "x.contoso.com"}, read(connectors=dup))
    assert result["failed"] and "exists on several servers" in result["msg"]


def test_create_and_remove_custom(monkeypatch):
    args = {"name": "Relay from APP01", "server": "EX01", "usage": "Custom", "transport_role": "FrontendTransport",
            "bindings": ["0.0.0.0:25"], "remote_ip_ranges": ["10.0.5.20"], "permission_groups": ["AnonymousUsers"]}
    result, session = run_module(monkeypatch, mod.main, args, read(), check=True)
    assert result["commands"] == [
        "New-ReceiveConnector -Name 'Relay from APP01' -Server 'EX01' -Usage 'Custom' -Bindings @('0.0.0.0:25') "
        "-RemoteIPRanges @('10.0.5.20') -TransportRole 'FrontendTransport' -PermissionGroups 'AnonymousUsers'"]
    assert session.executed == []
    existing = CONNECTORS + [connector("EX01", "Relay from APP01")]
    result, _unused = run_module(monkeypatch, mod.main, {"identity": "EX01\\Relay from APP01", "state": "absent"},
                                 read(connectors=existing))
    assert result["commands"] == ["Remove-ReceiveConnector -Identity 'EX01\\Relay from APP01' -Confirm:$false"]


@pytest.mark.parametrize("args,message", [
    ({"identity": "EX09\\Client Frontend EX09", "fqdn": "a.com"}, "server 'EX09' is not an Exchange server"),
    ({"name": "New", "server": "EX01"}, "creating it needs bindings and remote_ip_ranges"),
    ({"identity": "EX01\\Client Frontend EX01", "bindings": ["0.0.0.0"]}, "is not IP:port"),
    ({"identity": "EX01\\Client Frontend EX01", "remote_ip_ranges": ["10.0.0.9-10.0.0.1"]}, "is not an address"),
    ({"identity": "EX01\\Client Frontend EX01", "tls_certificate_name": "CN=x"}, "must look like <I>issuer<S>subject"),
    ({"identity": "EX01\\Client Frontend EX01", "tls_certificate_thumbprint": "xyz"}, "is not a certificate thumbprint"),
    ({"identity": "EX01\\Client Frontend EX01", "auth_mechanism": ["None", "Tls"]}, "None cannot be combined"),
    ({"identity": "EX01\\x", "server": "EX02"}, "names server EX01 but server is EX02"),
    ({"identity": "bad server$\\x"}, "is not an Exchange server name"),
])
def test_refusals(monkeypatch, args, message):
    result, session = run_module(monkeypatch, mod.main, args, read())
    assert result["failed"] is True, result
    assert message in result["msg"]
    assert session.executed == []


def test_canonical_helpers():
    assert mod.binding("[0:0::0]:25") == "[::]:25"
    assert mod.ip_range("10.0.0.0/8") == "10.0.0.0/8"
    assert mod.ip_range("10.1.2.3/8") == "10.0.0.0/8"
    assert exchange_objects.flags("Tls, None") == ["Tls"]  # the canonical forms live with the receive connector table
    assert exchange_objects.flags("None") == []
