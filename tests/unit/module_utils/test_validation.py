"""The pure validation core: RFC 6125 name matching, certificate health, DNS verdicts, the report's three forms."""

import datetime as dt
import json
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from plugins.module_utils.validation import (
    FAIL,
    PASS,
    Check,
    Report,
    answer_key,
    certificate_info,
    certificate_match,
    check_certificate,
    check_dns,
    dns_name_matches,
    normalize_record_value,
)

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.timezone.utc)


# --- RFC 6125 -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern, host, expected",
    [
        ("mail.contoso.com", "mail.contoso.com", True),
        ("MAIL.Contoso.COM", "mail.contoso.com", True),
        ("mail.contoso.com.", "mail.contoso.com", True),
        ("mail.contoso.com", "owa.contoso.com", False),
        # the wildcard is the whole left-most label and matches exactly one label
        ("*.contoso.com", "owa.contoso.com", True),
        ("*.contoso.com", "autodiscover.contoso.com", True),
        ("*.contoso.com", "contoso.com", False),
        ("*.contoso.com", "a.b.contoso.com", False),
        ("*.contoso.com", ".contoso.com", False),
        ("*.contoso.com", "owa.fabrikam.com", False),
        # no partial wildcards, no wildcard outside the left-most label
        ("o*.contoso.com", "owa.contoso.com", False),
        ("*wa.contoso.com", "owa.contoso.com", False),
        ("ow*a.contoso.com", "owa.contoso.com", False),
        ("xn--*.contoso.com", "xn--bcher-kva.contoso.com", False),
        ("owa.*.com", "owa.contoso.com", False),
        ("*.*.com", "owa.contoso.com", False),
        # too broad
        ("*.com", "contoso.com", False),
        ("*", "localhost", False),
        # never for IP literals
        ("*.0.0.1", "127.0.0.1", False),
        ("127.0.0.1", "127.0.0.1", False),
        # internationalised names compare as A-labels
        ("xn--bcher-kva.contoso.com", "bücher.contoso.com", True),
        ("*.contoso.com", "bücher.contoso.com", True),
    ],
)
def test_dns_name_matches_rfc6125(pattern, host, expected):
    assert dns_name_matches(pattern, host) is expected


def test_ip_references_match_ip_entries_only():
    info = {"dns_names": ["127.0.0.1", "*.0.0.1"], "ip_addresses": ["10.0.0.5"], "subject_cn": ["127.0.0.1"]}
    assert certificate_match(info, "127.0.0.1") is None
    assert certificate_match(info, "10.0.0.5") == "IP:10.0.0.5"
    v6 = {"dns_names": [], "ip_addresses": ["2001:db8::1"], "subject_cn": []}
    assert certificate_match(v6, "2001:DB8:0::1") == "IP:2001:db8::1"


def test_common_name_only_without_subject_alternative_names():
    with_san = {"dns_names": ["mail.contoso.com"], "ip_addresses": [], "subject_cn": ["owa.contoso.com"]}
    assert certificate_match(with_san, "owa.contoso.com") is None
    without_san = {"dns_names": [], "ip_addresses": [], "subject_cn": ["owa.contoso.com"]}
    assert certificate_match(without_san, "owa.contoso.com") == "CN:owa.contoso.com"


# --- certificates -----------------------------------------------------------------------------------------------


def _make_cert(names, *, key=None, days=365, start=None, hash_algorithm=None, cn=None, san=True):
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    start = start or NOW - dt.timedelta(days=1)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn or names[0])])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    return builder.sign(key, hash_algorithm or hashes.SHA256())


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(cert):
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.PEM)


def test_certificate_info_reads_the_facts(rsa_key):
    cert = _make_cert(["mail.contoso.com", "owa.contoso.com"], key=rsa_key)
    info = certificate_info(_pem(cert))
    assert info["dns_names"] == ["mail.contoso.com", "owa.contoso.com"]
    assert info["subject_cn"] == ["mail.contoso.com"]
    assert info["key_type"] == "RSA" and info["key_size"] == 2048
    assert info["signature_hash"] == "sha256"
    assert info["not_before"] == "2026-11-21T12:00:00Z"
    from cryptography.hazmat.primitives.serialization import Encoding

    assert certificate_info(cert.public_bytes(Encoding.DER)) == info
    assert info["thumbprint"] == cert.fingerprint(hashes.SHA1()).hex().upper()
    json.dumps(info)  # plain data


def _verdicts(checks):
    return {c.name: c.verdict for c in checks}


def test_a_good_certificate_passes_every_check(rsa_key):
    names = ["mail.contoso.com", "owa.contoso.com", "autodiscover.contoso.com"]
    info = certificate_info(_pem(_make_cert(names, key=rsa_key)))
    checks = check_certificate(info, names, "IIS certificate", now=NOW)
    assert all(c.verdict == PASS for c in checks), [c.to_dict() for c in checks if not c.passed]
    assert [c.name for c in checks] == [
        "IIS certificate covers mail.contoso.com",
        "IIS certificate covers owa.contoso.com",
        "IIS certificate covers autodiscover.contoso.com",
        "IIS certificate validity",
        "IIS certificate key size",
        "IIS certificate signature",
    ]


def test_a_certificate_without_autodiscover_fails_naming_it(rsa_key):
    info = certificate_info(_pem(_make_cert(["mail.contoso.com", "owa.contoso.com"], key=rsa_key)))
    checks = check_certificate(info, ["mail.contoso.com", "owa.contoso.com", "autodiscover.contoso.com"], "cert", now=NOW)
    failing = [c for c in checks if not c.passed]
    assert [c.name for c in failing] == ["cert covers autodiscover.contoso.com"]
    assert failing[0].found == "not covered; the certificate names DNS:mail.contoso.com, DNS:owa.contoso.com"


def test_a_wildcard_certificate_covers_one_label(rsa_key):
    info = certificate_info(_pem(_make_cert(["*.contoso.com"], key=rsa_key)))
    verdicts = _verdicts(check_certificate(info, ["mail.contoso.com", "contoso.com", "mail.corp.contoso.com"], "cert", now=NOW))
    assert verdicts["cert covers mail.contoso.com"] == PASS
    assert verdicts["cert covers contoso.com"] == FAIL
    assert verdicts["cert covers mail.corp.contoso.com"] == FAIL


@pytest.mark.parametrize(
    "start_offset, days, window, verdict, found_start",
    [
        (-1, 365, 30, PASS, "valid from"),
        (-400, 365, 30, FAIL, "expired on"),
        (-350, 365, 30, FAIL, "expires on"),  # 14 days left, inside the 30-day window
        (-350, 365, 7, PASS, "valid from"),  # ... but outside a 7-day window
        (+2, 365, 30, FAIL, "not valid before"),
    ],
)
def test_validity_window(rsa_key, start_offset, days, window, verdict, found_start):
    cert = _make_cert(["mail.contoso.com"], key=rsa_key, start=NOW + dt.timedelta(days=start_offset), days=days)
    checks = check_certificate(certificate_info(_pem(cert)), [], "cert", now=NOW, expiry_window_days=window)
    validity = [c for c in checks if c.name == "cert validity"][0]
    assert validity.verdict == verdict
    assert validity.found.startswith(found_start)


def _openssl_sha1_certificate(tmp_path):
    """cryptography refuses to sign with SHA-1; the openssl command still makes such a certificate (as old CAs did)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-sha1", "-newkey", "rsa:1024", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "365", "-subj", "/CN=mail.contoso.com", "-addext", "subjectAltName=DNS:mail.contoso.com"],
        check=True, capture_output=True,
    )
    return cert.read_bytes()


def test_small_keys_and_sha1_signatures_fail(tmp_path):
    info = certificate_info(_openssl_sha1_certificate(tmp_path))
    assert info["signature_hash"] == "sha1" and info["key_size"] == 1024
    verdicts = _verdicts(check_certificate(info, ["mail.contoso.com"], "cert"))
    assert verdicts == {
        "cert covers mail.contoso.com": PASS,
        "cert validity": PASS,
        "cert key size": FAIL,
        "cert signature": FAIL,
    }
    checks = {c.name: c for c in check_certificate(info, [], "cert")}
    assert checks["cert key size"].found == "RSA 1024 bits"
    assert checks["cert signature"].found == "sha1WithRSAEncryption"
    # A SHA-256 certificate with a 1024-bit key fails on the key alone; a stricter minimum is honoured.
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    info_small = certificate_info(_pem(_make_cert(["mail.contoso.com"], key=small)))
    assert _verdicts(check_certificate(info_small, [], "cert", now=NOW))["cert key size"] == FAIL
    assert _verdicts(check_certificate(info_small, [], "cert", now=NOW))["cert signature"] == PASS
    info2k = dict(info_small, key_size=2048)
    assert _verdicts(check_certificate(info2k, [], "cert", now=NOW))["cert key size"] == PASS
    assert _verdicts(check_certificate(info2k, [], "cert", now=NOW, min_key_size=4096))["cert key size"] == FAIL


def test_ec_keys_are_judged_by_curve_size():
    key = ec.generate_private_key(ec.SECP256R1())
    info = certificate_info(_pem(_make_cert(["mail.contoso.com"], key=key)))
    assert info["key_type"] == "EC" and info["key_size"] == 256
    assert _verdicts(check_certificate(info, [], "cert", now=NOW))["cert key size"] == PASS
    assert _verdicts(check_certificate(dict(info, key_size=192), [], "cert", now=NOW))["cert key size"] == FAIL


# --- DNS --------------------------------------------------------------------------------------------------------

EXPECTED_PUBLIC = [
    {"name": "contoso.com", "type": "MX", "value": "mail.contoso.com"},
    {"name": "mail.contoso.com", "type": "A", "value": "172.16.10.11"},
    {"name": "owa.contoso.com", "type": "CNAME", "value": "mail.contoso.com"},
    {"name": "autodiscover.contoso.com", "type": "CNAME", "value": "mail.contoso.com"},
]


def test_dns_all_present():
    answers = {
        answer_key("Contoso.com.", "mx"): {"values": ["10 Mail.contoso.com."], "error": None},
        answer_key("mail.contoso.com", "A"): {"values": ["172.16.10.11"], "error": None},
        answer_key("owa.contoso.com", "CNAME"): {"values": ["mail.contoso.com."], "error": None},
        answer_key("autodiscover.contoso.com", "CNAME"): {"values": ["mail.contoso.com."], "error": None},
    }
    checks = check_dns("public", EXPECTED_PUBLIC, answers)
    assert [c.verdict for c in checks] == [PASS] * 4
    assert checks[0].name == "DNS public: contoso.com MX"
    assert checks[0].category == "dns-public"


def test_dns_missing_mx_and_cname_elsewhere_fail_naming_the_record():
    answers = {
        answer_key("contoso.com", "MX"): {"values": [], "error": "no MX record (NOERROR, empty answer)"},
        answer_key("mail.contoso.com", "A"): {"values": ["172.16.10.11"], "error": None},
        answer_key("owa.contoso.com", "CNAME"): {"values": ["mail.fabrikam.com."], "error": None},
        answer_key("autodiscover.contoso.com", "CNAME"): {"values": [], "error": "NXDOMAIN"},
    }
    checks = check_dns("public", EXPECTED_PUBLIC, answers)
    failing = {c.name: c for c in checks if not c.passed}
    assert set(failing) == {"DNS public: contoso.com MX", "DNS public: owa.contoso.com CNAME", "DNS public: autodiscover.contoso.com CNAME"}
    assert failing["DNS public: owa.contoso.com CNAME"].found == "mail.fabrikam.com"
    assert failing["DNS public: owa.contoso.com CNAME"].expected == "mail.contoso.com"
    assert failing["DNS public: autodiscover.contoso.com CNAME"].found == "NXDOMAIN"
    assert failing["DNS public: contoso.com MX"].found == "no MX record (NOERROR, empty answer)"


def test_dns_unqueried_record_fails():
    checks = check_dns("private", [{"name": "mail.contoso.com", "type": "CNAME", "value": "ex01.corp.contoso.com"}], {})
    assert checks[0].verdict == FAIL and checks[0].found == "not queried"


def test_mx_with_a_second_exchanger_still_passes():
    answers = {answer_key("contoso.com", "MX"): {"values": ["10 mail.contoso.com.", "20 backup.example.net."], "error": None}}
    check_ = check_dns("public", EXPECTED_PUBLIC[:1], answers)[0]
    assert check_.passed and check_.found == "mail.contoso.com, backup.example.net"


def test_normalize_record_value():
    assert normalize_record_value("mx", "10 MAIL.contoso.com.") == "mail.contoso.com"
    assert normalize_record_value("A", " 172.016.10.11 ".replace("016", "16")) == "172.16.10.11"
    assert normalize_record_value("AAAA", "2001:DB8::0:1") == "2001:db8::1"
    assert normalize_record_value("CNAME", "Mail.Contoso.com.") == "mail.contoso.com"


# --- the report -------------------------------------------------------------------------------------------------


def _report():
    report = Report("Validation of contoso.com")
    report.add(Check("DNS public: contoso.com MX", "dns-public", "mail.contoso.com", "mail.contoso.com", PASS))
    report.add(Check("DNS public: owa.contoso.com CNAME", "dns-public", "mail.contoso.com", "x.fabrikam.com", FAIL))
    report.add(Check('IIS certificate covers <autodiscover> & "co"', "certificate", "a name", "not covered", FAIL))
    return report


def test_report_text():
    text = _report().to_text()
    assert "3 checks: 1 passed, 2 failed - FAILED" in text
    assert "  PASS  DNS public: contoso.com MX" in text
    assert "  FAIL  DNS public: owa.contoso.com CNAME\n        expected: mail.contoso.com\n        found:    x.fabrikam.com" in text
    assert "Failing checks:\n  - DNS public: owa.contoso.com CNAME: expected mail.contoso.com, found x.fabrikam.com" in text


def test_report_json():
    data = json.loads(_report().to_json())
    assert data["ok"] is False
    assert data["summary"] == {"total": 3, "passed": 1, "failed": 2}
    assert data["checks"][1] == {
        "name": "DNS public: owa.contoso.com CNAME",
        "category": "dns-public",
        "expected": "mail.contoso.com",
        "found": "x.fabrikam.com",
        "verdict": "fail",
    }


def test_report_junit_xml_parses_and_counts():
    xml = _report().to_junit_xml(timestamp="2026-11-22T12:00:00Z")
    root = ET.fromstring(xml.split("\n", 1)[1])
    assert root.tag == "testsuites" and root.get("tests") == "3" and root.get("failures") == "2"
    suites = root.findall("testsuite")
    assert [(s.get("name"), s.get("tests"), s.get("failures")) for s in suites] == [("dns-public", "2", "1"), ("certificate", "1", "1")]
    cases = root.findall(".//testcase")
    assert cases[0].find("failure") is None
    assert cases[1].find("failure").get("message") == "expected mail.contoso.com, found x.fabrikam.com"
    assert cases[2].get("name") == 'IIS certificate covers <autodiscover> & "co"'  # escaped on the way, intact after


def test_report_failure_message_and_ok():
    report = _report()
    assert report.failure_message() == (
        "validation failed: 2 of 3 checks failed: DNS public: owa.contoso.com CNAME (expected mail.contoso.com, found "
        'x.fabrikam.com); IIS certificate covers <autodiscover> & "co" (expected a name, found not covered)'
    )
    assert not Report().ok and Report().failure_message() == "validation made no checks"
    good = Report(checks=[Check("a", "x", "1", "1", PASS)])
    assert good.ok and good.failure_message() == ""
    with pytest.raises(ValueError):
        Check("a", "x", "1", "1", "maybe")
