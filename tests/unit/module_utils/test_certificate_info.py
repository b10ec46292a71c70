"""certificate_info: certificate facts computed on the controller, checked against certificates made here."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import NameOID

from ansible_collections.mailops.exchange.plugins.module_utils import certificate_info as ci

NOW = dt.datetime(2026, 11, 22, 12, 0, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def ca():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([
        x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "com"),
        x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "contoso"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Contoso Issuing CA"),
    ])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(NOW - dt.timedelta(days=10)).not_valid_after(NOW + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue(ca, subject, sans=None, *, key=None, days=365, start=None, algorithm=None):
    ca_key, ca_cert = ca
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    start = start or NOW - dt.timedelta(days=1)
    builder = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(0x0123ABCD).not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]), critical=False)
    return builder.sign(ca_key, algorithm or hashes.SHA256()), key


def name_of(*pairs):
    """An x509.Name whose DER sequence is ``pairs`` in the given order."""
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs])


MAIL_SUBJECT = name_of((NameOID.COUNTRY_NAME, "US"), (NameOID.ORGANIZATION_NAME, "Contoso"),
                       (NameOID.COMMON_NAME, "mail.contoso.com"))


# --- names ----------------------------------------------------------------------------------------------------


def test_windows_name_is_most_specific_first_with_cryptoapi_keys():
    assert ci.windows_name(MAIL_SUBJECT) == "CN=mail.contoso.com, O=Contoso, C=US"
    name = name_of((NameOID.COUNTRY_NAME, "US"), (NameOID.STATE_OR_PROVINCE_NAME, "Washington"),
                   (NameOID.LOCALITY_NAME, "Redmond"), (NameOID.ORGANIZATIONAL_UNIT_NAME, "IT"),
                   (NameOID.EMAIL_ADDRESS, "admin@contoso.com"), (NameOID.COMMON_NAME, "mail.contoso.com"))
    assert ci.windows_name(name) == "CN=mail.contoso.com, E=admin@contoso.com, OU=IT, L=Redmond, S=Washington, C=US"


def test_windows_name_quotes_special_values_and_unknown_oids():
    name = name_of((NameOID.ORGANIZATION_NAME, 'Contoso, "Ltd"'), (NameOID.COMMON_NAME, " padded"),
                   (x509.ObjectIdentifier("1.2.3.4"), "x"))
    assert ci.windows_name(name) == 'OID.1.2.3.4=x, CN=" padded", O="Contoso, ""Ltd"""'


def test_windows_name_multi_valued_rdn():
    rdn = x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, "a"),
                                          x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "b")])
    rendered = ci.windows_name(x509.Name([rdn]))
    assert set(rendered.split(" + ")) == {"CN=a", "OU=b"}


@pytest.mark.parametrize("written, printed", [
    ("CN=mail.contoso.com", "CN=mail.contoso.com"),
    ("c=US, o=Contoso, cn=mail.contoso.com", "C=US, O=Contoso, CN=mail.contoso.com"),
    ("CN=mail.contoso.com;O=Contoso;ST=WA", "CN=mail.contoso.com, O=Contoso, S=WA"),
    ('CN=mail.contoso.com, O="Contoso, Ltd"', 'CN=mail.contoso.com, O="Contoso, Ltd"'),
    ("CN=mail.contoso.com, OID.2.5.4.5=42", "CN=mail.contoso.com, OID.2.5.4.5=42"),
    ("  CN = mail.contoso.com ,  E=a@b.c ", "CN=mail.contoso.com, E=a@b.c"),
])
def test_normalise_subject(written, printed):
    assert ci.normalise_subject(written) == printed


@pytest.mark.parametrize("bad, reason", [
    ("", "empty"),
    ("mail.contoso.com", "no '='"),
    ("CN=a,,O=b", "empty component"),
    ("XX=a, CN=b", "unknown attribute"),
    ('CN="a', "unbalanced"),
    ("CN=a, C=USA", "two-letter"),
    ("O=Contoso", "no common name"),
    ("CN=", "empty value"),
    ('CN=a"b', "double quote"),
])
def test_parse_subject_refuses(bad, reason):
    with pytest.raises(ValueError, match=reason):
        ci.parse_subject(bad)


def test_normalised_subject_matches_the_certificate_windows_prints(ca):
    """What the user writes and what the issued certificate prints compare equal once normalised."""
    written = "c=US, o=Contoso, cn=mail.contoso.com"
    # .NET encodes the written components in reverse: the DER sequence is CN, O, C.
    encoded = name_of((NameOID.COMMON_NAME, "mail.contoso.com"), (NameOID.ORGANIZATION_NAME, "Contoso"),
                      (NameOID.COUNTRY_NAME, "US"))
    cert, _unused = issue(ca, encoded)
    assert ci.windows_name(cert.subject) == ci.normalise_subject(written)


@pytest.mark.parametrize("value, ok", [
    ("mail.contoso.com", True), ("*.contoso.com", True), ("EX01", True), ("a-b.c", True),
    ("-a.com", False), ("a..com", False), ("a_b.com", False), ("", False), ("a" * 64 + ".com", False),
    ("mail.contoso.com.", False), ("*.*.contoso.com", False), ("mail contoso", False),
])
def test_valid_domain_name(value, ok):
    assert ci.valid_domain_name(value) is ok


# --- facts ----------------------------------------------------------------------------------------------------


def test_thumbprint_is_upper_sha1_of_der(ca):
    cert, _unused = issue(ca, MAIL_SUBJECT)
    der = cert.public_bytes(serialization.Encoding.DER)
    assert ci.thumbprint(cert) == hashlib.sha1(der).hexdigest().upper()
    assert len(ci.thumbprint(cert)) == 40


def test_describe(ca):
    cert, _unused = issue(ca, MAIL_SUBJECT, ["mail.contoso.com", "autodiscover.contoso.com", "owa.contoso.com"], days=30)
    facts = ci.describe(cert, now=NOW)
    assert facts["subject"] == "CN=mail.contoso.com, O=Contoso, C=US"
    assert facts["issuer"] == "CN=Contoso Issuing CA, DC=contoso, DC=com"
    assert facts["sans"] == ["mail.contoso.com", "autodiscover.contoso.com", "owa.contoso.com"]
    assert facts["not_after"] == "2026-12-21T12:00:00Z"
    assert facts["not_before"] == "2026-11-21T12:00:00Z"
    assert facts["days_remaining"] == 29
    assert facts["expired"] is False
    assert facts["key_size"] == 2048 and facts["key_algorithm"] == "RSA"
    assert facts["signature_hash"] == "sha256"
    assert facts["self_signed"] is False
    assert facts["serial_number"] == "123ABCD"
    assert facts["tls_certificate_name"] == (
        "<I>CN=Contoso Issuing CA, DC=contoso, DC=com<S>CN=mail.contoso.com, O=Contoso, C=US")
    assert facts["thumbprint"] == ci.thumbprint(cert)


def test_certificate_domains_fall_back_to_cn(ca):
    cert, _unused = issue(ca, MAIL_SUBJECT)
    assert ci.dns_names(cert) == []
    assert ci.certificate_domains(cert) == ["mail.contoso.com"]


def test_tls_name_is_stable_across_renewal(ca):
    first, key = issue(ca, MAIL_SUBJECT, ["mail.contoso.com"])
    renewed, _unused = issue(ca, MAIL_SUBJECT, ["mail.contoso.com", "owa.contoso.com"], start=NOW + dt.timedelta(days=300))
    assert ci.thumbprint(first) != ci.thumbprint(renewed)
    assert ci.tls_certificate_name(first) == ci.tls_certificate_name(renewed)


def test_self_signed_and_ecdsa_facts():
    key = ec.generate_private_key(ec.SECP256R1())
    name = name_of((NameOID.COMMON_NAME, "Microsoft Exchange"))
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(5).not_valid_before(NOW - dt.timedelta(days=400)).not_valid_after(NOW - dt.timedelta(days=1))
            .sign(key, hashes.SHA384()))
    facts = ci.describe(cert, now=NOW)
    assert facts["self_signed"] is True
    assert facts["key_algorithm"] == "ECDSA" and facts["key_size"] == 256
    assert facts["signature_hash"] == "sha384"
    assert facts["expired"] is True
    with pytest.raises(ci.CertificateError, match="expired on"):
        ci.check_validity(cert, now=NOW)


def test_check_validity_not_yet_valid(ca):
    cert, _unused = issue(ca, MAIL_SUBJECT, start=NOW + dt.timedelta(days=2))
    with pytest.raises(ci.CertificateError, match="not valid before"):
        ci.check_validity(cert, now=NOW)
    ok, _unused = issue(ca, MAIL_SUBJECT)
    ci.check_validity(ok, now=NOW)


@pytest.mark.parametrize("typed", ["ab cd ef 01 23 45 67 89 ab cd ef 01 23 45 67 89 ab cd ef 01",
                                   "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01",
                                   "abcdef0123456789abcdef0123456789abcdef01"])
def test_normalise_thumbprint(typed):
    assert ci.normalise_thumbprint(typed) == "ABCDEF0123456789ABCDEF0123456789ABCDEF01"


@pytest.mark.parametrize("bad", ["", "xyz", "ABCDEF", "G" * 40, "A" * 41])
def test_normalise_thumbprint_refuses(bad):
    with pytest.raises(ValueError, match="thumbprint"):
        ci.normalise_thumbprint(bad)


# --- reading files --------------------------------------------------------------------------------------------


def test_load_certificates_pem_der_base64_and_bom(ca):
    cert, _unused = issue(ca, MAIL_SUBJECT)
    pem = cert.public_bytes(serialization.Encoding.PEM)
    der = cert.public_bytes(serialization.Encoding.DER)
    for data in (pem, der, base64.b64encode(der), b"\xef\xbb\xbf" + pem, pem.decode("ascii"),
                 pem.replace(b"\n", b"\r\n")):
        assert ci.thumbprint(ci.load_certificate(data)) == ci.thumbprint(cert)


def test_load_certificates_chain_orders_leaf_first(ca):
    cert, _unused = issue(ca, MAIL_SUBJECT)
    ca_cert = ca[1]
    bundle = ca_cert.public_bytes(serialization.Encoding.PEM) + cert.public_bytes(serialization.Encoding.PEM)
    chain = ci.load_certificates(bundle)
    assert [ci.thumbprint(c) for c in chain] == [ci.thumbprint(cert), ci.thumbprint(ca_cert)]
    for encoding in (serialization.Encoding.PEM, serialization.Encoding.DER):
        p7 = pkcs7.serialize_certificates([ca_cert, cert], encoding)
        assert ci.thumbprint(ci.load_certificate(p7)) == ci.thumbprint(cert)


@pytest.mark.parametrize("data, reason", [
    (b"", "empty"),
    (b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", "corrupt"),
    (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not a valid X.509"),
    (b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n", "no CERTIFICATE"),
    (b"\x30\x03\x02\x01\x01", "neither a DER certificate"),
    ("hello world".encode(), "neither"),
])
def test_load_certificates_refuses(data, reason):
    with pytest.raises(ci.CertificateError, match=reason):
        ci.load_certificates(data)


def _csr(key, subject, sans):
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]), critical=False)
    return builder.sign(key, hashes.SHA256())


def test_request_is_not_taken_for_a_certificate():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = _csr(key, MAIL_SUBJECT, ["mail.contoso.com"]).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(ci.CertificateError, match="certificate request"):
        ci.load_certificates(pem)


def test_load_request_forms_and_matching_key(ca):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = _csr(key, MAIL_SUBJECT, ["mail.contoso.com", "owa.contoso.com"])
    der = csr.public_bytes(serialization.Encoding.DER)
    body = base64.b64encode(der).decode()
    certenroll = ("-----BEGIN NEW CERTIFICATE REQUEST-----\r\n"
                  + "\r\n".join(body[i:i + 64] for i in range(0, len(body), 64))
                  + "\r\n-----END NEW CERTIFICATE REQUEST-----\r\n")
    for data in (certenroll, csr.public_bytes(serialization.Encoding.PEM), der, body):
        loaded = ci.load_request(data)
        assert loaded.public_bytes(serialization.Encoding.DER) == der
    assert ci.describe_request(csr) == {"subject": "CN=mail.contoso.com, O=Contoso, C=US",
                                        "sans": ["mail.contoso.com", "owa.contoso.com"],
                                        "key_algorithm": "RSA", "key_size": 2048}
    assert ci.request_pem(csr).startswith("-----BEGIN CERTIFICATE REQUEST-----")
    signed, _unused = issue(ca, csr.subject, key=key)
    other, _unused = issue(ca, csr.subject)
    assert ci.same_public_key(signed, csr)
    assert not ci.same_public_key(other, csr)
    with pytest.raises(ci.CertificateError, match="PKCS #10"):
        ci.load_request(b"garbage")


def test_load_pfx(ca):
    cert, key = issue(ca, MAIL_SUBJECT, ["mail.contoso.com"])
    pfx = pkcs12.serialize_key_and_certificates(b"Contoso mail", key, cert, [ca[1]],
                                                serialization.BestAvailableEncryption(b"S3cret'$(x)"))
    content = ci.load_pfx(pfx, "S3cret'$(x)")
    assert ci.thumbprint(content.certificate) == ci.thumbprint(cert)
    assert content.friendly_name == "Contoso mail"
    assert [ci.thumbprint(c) for c in content.chain] == [ci.thumbprint(ca[1])]
    with pytest.raises(ci.CertificateError, match="wrong password") as info:
        ci.load_pfx(pfx, "wrong")
    assert "S3cret" not in str(info.value)
    with pytest.raises(ci.CertificateError, match="needs a password"):
        ci.load_pfx(pfx, None)
    with pytest.raises(ci.CertificateError):
        ci.load_pfx(b"not a pfx", "x")


def test_load_pfx_without_password_and_without_key(ca):
    cert, key = issue(ca, MAIL_SUBJECT)
    open_pfx = pkcs12.serialize_key_and_certificates(None, key, cert, None, serialization.NoEncryption())
    assert ci.thumbprint(ci.load_pfx(open_pfx, None).certificate) == ci.thumbprint(cert)
    keyless = pkcs12.serialize_key_and_certificates(None, None, cert, None, serialization.BestAvailableEncryption(b"pw"))
    with pytest.raises(ci.CertificateError):
        ci.load_pfx(keyless, "pw")


def test_decode_raw_data(ca):
    cert, _unused = issue(ca, MAIL_SUBJECT)
    der = cert.public_bytes(serialization.Encoding.DER)
    assert ci.decode_raw_data(base64.b64encode(der).decode()) == der
    assert ci.decode_raw_data("") is None and ci.decode_raw_data(None) is None


def test_same_domains():
    assert ci.same_domains(["Mail.contoso.com", "owa.contoso.com"], ["owa.contoso.com.", "mail.contoso.com"])
    assert not ci.same_domains(["mail.contoso.com"], ["mail.contoso.com", "owa.contoso.com"])
