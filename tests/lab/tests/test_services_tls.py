"""The lab's HTTPS and SMTP (STARTTLS) listeners present the certificate the lab's state enables, per connection."""

from __future__ import annotations

import smtplib
import socket
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from exchange_lab.ca import LabCA
from exchange_lab.context import LabContext
from exchange_lab.exchange import certificates
from exchange_lab.services.tls import TlsListeners


def _pem_pair(cert, key):
    return (
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


def _https_certificate(port, server_name, cafile=None):
    """(DER of the presented certificate, verification error or None)."""
    error = None
    if cafile:
        context = ssl.create_default_context(cafile=str(cafile))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                with context.wrap_socket(raw, server_hostname=server_name) as tls:
                    tls.sendall(b"GET /owa HTTP/1.1\r\nHost: %s\r\n\r\n" % server_name.encode())
                    assert tls.recv(64).startswith(b"HTTP/1.1 200 OK")
                    return tls.getpeercert(binary_form=True), None
        except ssl.SSLCertVerificationError as exc:
            error = exc.verify_message
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=server_name) as tls:
            return tls.getpeercert(binary_form=True), error


def _smtp_certificate(port):
    """(EHLO features, DER after STARTTLS or None)."""
    client = smtplib.SMTP("127.0.0.1", port, timeout=5)
    try:
        client.ehlo()
        features = set(client.esmtp_features)
        if "starttls" not in features:
            return features, None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        client.starttls(context=context)
        return features, client.sock.getpeercert(binary_form=True)
    finally:
        client.close()


def _names(der):
    cert = x509.load_der_x509_certificate(der)
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)


class _State:
    """A stand-in for the lab's certificate state: what is enabled for IIS and SMTP per server."""

    def __init__(self):
        self.enabled = {}

    def __call__(self, server, service):
        return self.enabled.get((server, service))


@pytest.fixture
def ca(tmp_path):
    return LabCA(tmp_path)


def test_listeners_follow_the_state_without_restart(tmp_path, ca):
    state = _State()
    ctx = type("Ctx", (), {"state_dir": tmp_path, "org": None})()
    first = _pem_pair(*ca.issue(["mail.contoso.com", "owa.contoso.com", "autodiscover.contoso.com"]))
    second = _pem_pair(*ca.issue(["mail.contoso.com", "owa.contoso.com"]))
    state.enabled[("EX01", "IIS")] = first
    with TlsListeners.start(ctx, certificate_source=state, servers=["EX01", "EX02"]) as listeners:
        assert set(listeners.ports) == {"EX01", "EX02"}
        ports = listeners.ports["EX01"]
        assert ports["https"] != ports["smtp"]
        der, error = _https_certificate(ports["https"], "owa.contoso.com", ca.bundle_path)
        assert error is None and "autodiscover.contoso.com" in _names(der)

        # Nothing enabled for SMTP: no STARTTLS on offer.
        features, der = _smtp_certificate(ports["smtp"])
        assert "starttls" not in features and der is None

        # Enable for SMTP, change IIS: the very next connections see it.
        state.enabled[("EX01", "SMTP")] = first
        state.enabled[("EX01", "IIS")] = second
        features, der = _smtp_certificate(ports["smtp"])
        assert "starttls" in features and "autodiscover.contoso.com" in _names(der)
        der, _ = _https_certificate(ports["https"], "owa.contoso.com", ca.bundle_path)
        assert _names(der) == ["mail.contoso.com", "owa.contoso.com"]

        # No certificate for IIS: the handshake fails.
        del state.enabled[("EX01", "IIS")]
        with pytest.raises((ssl.SSLError, OSError)):
            _https_certificate(ports["https"], "owa.contoso.com")
        # EX02 was never given one.
        with pytest.raises((ssl.SSLError, OSError)):
            _https_certificate(listeners.ports["EX02"]["https"], "owa.contoso.com")
        assert listeners.endpoints()["EX01"] == {"https": "127.0.0.1:%d" % ports["https"], "smtp": "127.0.0.1:%d" % ports["smtp"]}
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", ports["https"]), timeout=2)


def test_smtp_session_looks_like_the_client_frontend_connector(tmp_path, ca):
    state = _State()
    ctx = type("Ctx", (), {"state_dir": tmp_path, "org": None})()
    state.enabled[("EX01", "SMTP")] = _pem_pair(*ca.issue(["mail.contoso.com"]))
    with TlsListeners.start(ctx, certificate_source=state, servers=["EX01"]) as listeners:
        client = smtplib.SMTP("127.0.0.1", listeners.ports["EX01"]["smtp"], timeout=5)
        try:
            client._host = "mail.contoso.com"  # verify for the client's name, not the address
            client.ehlo()
            client.starttls(context=ssl.create_default_context(cafile=str(ca.bundle_path)))
            client.ehlo()
            code, message = client.mail("someone@contoso.com")
            assert code == 530 and b"5.7.57" in message
        finally:
            client.close()


@pytest.fixture
def lab_context(tmp_path):
    return LabContext.open(tmp_path / "lab", version="2019", servers=["EX01", "EX02"], domain="corp.contoso.com")


def test_real_lab_state_default_and_new_certificate(lab_context):
    """With the lab's own state: a fresh server presents its self-signed certificate; enabling a CA-issued one
    (as Enable-ExchangeCertificate records it) switches the listeners for IIS and SMTP alike."""
    org = lab_context.org
    with TlsListeners.start(lab_context) as listeners:
        ports = listeners.ports["EX01"]
        der, error = _https_certificate(ports["https"], "owa.contoso.com", lab_context.ca.bundle_path)
        assert error is not None  # the self-signed "Microsoft Exchange" certificate does not validate
        assert "ex01.corp.contoso.com" in _names(der)
        features, der = _smtp_certificate(ports["smtp"])
        assert "starttls" in features and "ex01.corp.contoso.com" in _names(der)

        cert, key = lab_context.ca.issue(["mail.contoso.com", "owa.contoso.com", "autodiscover.contoso.com"])
        with org.lock:
            store = certificates.certificate_store(org, "EX01")
            record = certificates._new_record(
                cert, key, friendly_name="Contoso", services=certificates.IIS, exportable=True, store=store
            )
            store.append(record)
        der, error = _https_certificate(ports["https"], "owa.contoso.com", lab_context.ca.bundle_path)
        assert error is None and "autodiscover.contoso.com" in _names(der)
        _features, der = _smtp_certificate(ports["smtp"])
        assert "ex01.corp.contoso.com" in _names(der)  # not enabled for SMTP: still the old one
        with org.lock:
            for item in store:
                item["internal_transport"] = False
            record["services"] |= certificates.SMTP
            record["internal_transport"] = True
        _features, der = _smtp_certificate(ports["smtp"])
        assert "autodiscover.contoso.com" in _names(der)
        # EX02 is untouched.
        der, _ = _https_certificate(listeners.ports["EX02"]["https"], "owa.contoso.com")
        assert "ex02.corp.contoso.com" in _names(der)


def test_smtp_banner_uses_the_client_frontend_fqdn(lab_context):
    org = lab_context.org
    with TlsListeners.start(lab_context, servers=["EX01"]) as listeners:
        client = smtplib.SMTP("127.0.0.1", listeners.ports["EX01"]["smtp"], timeout=5)
        try:
            code, name = client.ehlo()
            assert code == 250 and name.split(b"\n")[0] == b"ex01.corp.contoso.com"
        finally:
            client.close()
        with org.lock:
            connector = next(c for c in org.server("EX01")["receive_connectors"] if c["name"] == "Client Frontend EX01")
            connector["props"]["Fqdn"] = "mail.contoso.com"
        client = smtplib.SMTP("127.0.0.1", listeners.ports["EX01"]["smtp"], timeout=5)
        try:
            assert client.ehlo()[1].split(b"\n")[0] == b"mail.contoso.com"
        finally:
            client.close()
