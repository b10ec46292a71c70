# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure checks behind ``exchange_validate``: certificate names (RFC 6125), certificate health, DNS answers, report.

Nothing here opens a connection: the module gathers facts (DNS answers, the certificates the endpoints present)
and these functions judge them. Each check is a :class:`Check` (name, expected, found, verdict); a :class:`Report`
renders them as readable text, JSON and JUnit XML.
"""


import datetime
import ipaddress
import json
import xml.etree.ElementTree as ET

from ansible_collections.mailops.exchange.plugins.module_utils import certificate_info as cert_facts

PASS = "pass"
FAIL = "fail"
VERDICTS = (PASS, FAIL)

# Signature hash algorithms that no longer count: a client refuses a server certificate signed with them.
WEAK_SIGNATURE_HASHES = ("sha1", "md5", "md2", "md4")
# Elliptic-curve keys are judged by curve size: 256 bits match the strength of RSA 3072.
MIN_EC_KEY_SIZE = 256


class Check:
    """One verdict: what was expected, what was found."""

    __slots__ = ("name", "category", "expected", "found", "verdict")

    def __init__(self, name, category, expected, found, verdict):
        if verdict not in VERDICTS:
            raise ValueError("verdict must be one of %s, got %r" % (", ".join(VERDICTS), verdict))
        self.name = name
        self.category = category
        self.expected = expected
        self.found = found
        self.verdict = verdict

    @property
    def passed(self):
        return self.verdict == PASS

    def to_dict(self):
        return {
            "name": self.name,
            "category": self.category,
            "expected": self.expected,
            "found": self.found,
            "verdict": self.verdict,
        }

    def __repr__(self):
        return "Check(%r, %s)" % (self.name, self.verdict)


def check(name, category, expected, found, ok):
    return Check(name, category, expected, found, PASS if ok else FAIL)


class Report:
    """The checks of one validation run, in the order they were made."""

    def __init__(self, title="mailops.exchange validation", checks=None):
        self.title = title
        self.checks = list(checks or [])

    def add(self, item):
        self.checks.append(item)
        return item

    def extend(self, items):
        self.checks.extend(items)

    @property
    def failures(self):
        return [c for c in self.checks if not c.passed]

    @property
    def ok(self):
        return bool(self.checks) and not self.failures

    def summary(self):
        failed = len(self.failures)
        return {"total": len(self.checks), "passed": len(self.checks) - failed, "failed": failed}

    def to_dict(self):
        return {"title": self.title, "ok": self.ok, "summary": self.summary(), "checks": [c.to_dict() for c in self.checks]}

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    def failure_message(self, limit=20):
        """One line naming every failing check (for ``fail_json``)."""
        failures = self.failures
        if not self.checks:
            return "validation made no checks"
        if not failures:
            return ""
        parts = ["%s (expected %s, found %s)" % (c.name, c.expected, c.found) for c in failures[:limit]]
        if len(failures) > limit:
            parts.append("... and %d more" % (len(failures) - limit))
        return "validation failed: %d of %d checks failed: %s" % (len(failures), len(self.checks), "; ".join(parts))

    def to_text(self):
        summary = self.summary()
        lines = [
            self.title,
            "=" * len(self.title),
            "%d checks: %d passed, %d failed - %s"
            % (summary["total"], summary["passed"], summary["failed"], "ALL PASSED" if self.ok else "FAILED"),
            "",
        ]
        category = None
        for item in self.checks:
            if item.category != category:
                category = item.category
                lines.append("[%s]" % category)
            lines.append("  %s  %s" % ("PASS" if item.passed else "FAIL", item.name))
            lines.append("        expected: %s" % item.expected)
            lines.append("        found:    %s" % item.found)
        if self.failures:
            lines.append("")
            lines.append("Failing checks:")
            for item in self.failures:
                lines.append("  - %s: expected %s, found %s" % (item.name, item.expected, item.found))
        return "\n".join(lines) + "\n"

    def to_junit_xml(self, timestamp=None):
        summary = self.summary()
        suites = ET.Element("testsuites", name=self.title, tests=str(summary["total"]), failures=str(summary["failed"]), errors="0")
        by_category = []
        for item in self.checks:
            if not by_category or by_category[-1][0] != item.category:
                by_category.append((item.category, []))
            by_category[-1][1].append(item)
        for category, items in by_category:
            failed = sum(1 for c in items if not c.passed)
            suite = ET.SubElement(
                suites, "testsuite", name=category, tests=str(len(items)), failures=str(failed), errors="0", skipped="0"
            )
            if timestamp:
                suite.set("timestamp", timestamp)
            for item in items:
                case = ET.SubElement(suite, "testcase", classname="mailops.exchange.validate.%s" % category, name=item.name)
                if not item.passed:
                    failure = ET.SubElement(
                        case, "failure", message="expected %s, found %s" % (item.expected, item.found), type="ValidationFailure"
                    )
                    failure.text = "expected: %s\nfound: %s" % (item.expected, item.found)
                out = ET.SubElement(case, "system-out")
                out.text = "expected: %s\nfound: %s\nverdict: %s" % (item.expected, item.found, item.verdict)
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


# --- names (RFC 6125) -------------------------------------------------------------------------------------------


def _ascii_name(name):
    """Lower-case A-label form of a DNS name without the trailing dot."""
    value = (name or "").strip().rstrip(".").lower()
    try:
        value.encode("ascii")
    except UnicodeEncodeError:
        value = ".".join(label.encode("idna").decode("ascii") if label and label != "*" else label for label in value.split("."))
    return value


def _ip(value):
    try:
        return ipaddress.ip_address((value or "").strip().strip("[]"))
    except ValueError:
        return None


def dns_name_matches(pattern, hostname):
    """Whether a presented DNS-ID ``pattern`` matches the reference ``hostname`` under RFC 6125 section 6.4.

    * Case-insensitive comparison of A-labels; a trailing dot is ignored.
    * A wildcard is honoured only as the complete left-most label (``*.contoso.com``); it matches exactly one
      non-empty label (``*.contoso.com`` matches ``owa.contoso.com``, neither ``contoso.com`` nor
      ``a.b.contoso.com``). Partial wildcards (``o*.contoso.com``, ``*wa.contoso.com``, ``xn--*.contoso.com``)
      and wildcards in any other label never match; a wildcard needs two labels after it (``*.com`` is refused).
    * An IP address never matches a DNS-ID, wildcard or not.
    """
    if _ip(hostname) is not None:
        return False
    host = _ascii_name(hostname)
    pat = _ascii_name(pattern)
    if not host or not pat:
        return False
    if "*" in host:
        return host == pat  # a reference that is itself a wildcard name is covered only by that very name
    if "*" not in pat:
        return host == pat
    pat_labels = pat.split(".")
    if pat_labels[0] != "*" or any("*" in label for label in pat_labels[1:]):
        return False  # partial wildcard, or a wildcard not in the left-most label
    if len(pat_labels) < 3:
        return False  # *.com, *: too broad
    host_labels = host.split(".")
    if len(host_labels) != len(pat_labels) or not host_labels[0]:
        return False
    return host_labels[1:] == pat_labels[1:]


def certificate_match(info, hostname):
    """The presented identifier that covers ``hostname`` (``"DNS:*.contoso.com"``, ``"IP:..."``, ``"CN:..."``) or None.

    IP references match iPAddress entries only. The subject common name is consulted only when the certificate has
    no DNS or IP subject alternative name (RFC 6125 section 6.4.4).
    """
    address = _ip(hostname)
    if address is not None:
        for value in info.get("ip_addresses") or []:
            if _ip(value) == address:
                return "IP:%s" % value
        return None
    for value in info.get("dns_names") or []:
        if dns_name_matches(value, hostname):
            return "DNS:%s" % value
    if not (info.get("dns_names") or info.get("ip_addresses")):
        for value in info.get("subject_cn") or []:
            if dns_name_matches(value, hostname):
                return "CN:%s" % value
    return None


def _presented(info):
    names = ["DNS:%s" % n for n in info.get("dns_names") or []] + ["IP:%s" % n for n in info.get("ip_addresses") or []]
    if not names:
        names = ["CN:%s" % n for n in info.get("subject_cn") or []]
    return ", ".join(names) if names else "no names"


# --- certificates -----------------------------------------------------------------------------------------------


def _parse_time(value):
    if isinstance(value, datetime.datetime):
        moment = value
    else:
        moment = datetime.datetime.strptime(str(value).replace("Z", "+00:00"), "%Y-%m-%dT%H:%M:%S%z")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment


def _iso(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def certificate_info(data):
    """Facts of a certificate (PEM text/bytes or DER bytes) as plain data; needs ``cryptography``."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
    from cryptography.x509.oid import NameOID

    if isinstance(data, str):
        data = data.encode("ascii")
    if b"-----BEGIN CERTIFICATE-----" in data:
        cert = x509.load_pem_x509_certificate(data)
    else:
        cert = x509.load_der_x509_certificate(data)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = san.get_values_for_type(x509.DNSName)
        ip_addresses = [str(a) for a in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        dns_names, ip_addresses = [], []
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key_type, key_size = "RSA", key.key_size
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key_type, key_size = "EC", key.curve.key_size
    elif isinstance(key, dsa.DSAPublicKey):
        key_type, key_size = "DSA", key.key_size
    elif isinstance(key, ed25519.Ed25519PublicKey):
        key_type, key_size = "Ed25519", 256
    elif isinstance(key, ed448.Ed448PublicKey):
        key_type, key_size = "Ed448", 456
    else:  # pragma: no cover - other key types are not issued for TLS servers
        key_type, key_size = type(key).__name__, 0
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "subject_cn": [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)],
        "dns_names": list(dns_names),
        "ip_addresses": ip_addresses,
        "not_before": _iso(cert_facts.not_before(cert)),
        "not_after": _iso(cert_facts.not_after(cert)),
        "key_type": key_type,
        "key_size": key_size,
        "signature_hash": cert_facts.signature_hash(cert),
        "signature_algorithm": getattr(cert.signature_algorithm_oid, "_name", None) or cert.signature_algorithm_oid.dotted_string,
        "thumbprint": cert_facts.thumbprint(cert),
        "serial_number": format(cert.serial_number, "X"),
    }


def check_certificate(info, names, label, now=None, expiry_window_days=30, min_key_size=2048, category="certificate"):
    """Checks of one certificate: it covers each of ``names``; validity; key size; signature hash."""
    now = _parse_time(now) if now is not None else datetime.datetime.now(datetime.timezone.utc)
    checks = []
    presented = _presented(info)
    for name in names:
        matched = certificate_match(info, name)
        checks.append(
            check(
                "%s covers %s" % (label, name),
                category,
                "a name matching %s (RFC 6125)" % name,
                "matched by %s" % matched if matched else "not covered; the certificate names %s" % presented,
                matched is not None,
            )
        )

    not_before = _parse_time(info["not_before"])
    not_after = _parse_time(info["not_after"])
    horizon = now + datetime.timedelta(days=expiry_window_days)
    days_left = (not_after - now).total_seconds() / 86400.0
    if now < not_before:
        found = "not valid before %s (not yet valid)" % _iso(not_before)
    elif now >= not_after:
        found = "expired on %s" % _iso(not_after)
    elif not_after <= horizon:
        found = "expires on %s, in %.1f days (within the %d-day window)" % (_iso(not_after), days_left, expiry_window_days)
    else:
        found = "valid from %s until %s (%d days left)" % (_iso(not_before), _iso(not_after), int(days_left))
    checks.append(
        check(
            "%s validity" % label,
            category,
            "valid now and not expiring within %d days" % expiry_window_days,
            found,
            not_before <= now and not_after > horizon,
        )
    )

    key_type = info.get("key_type")
    key_size = int(info.get("key_size") or 0)
    if key_type == "EC":
        required, ok = "an EC key of at least %d bits" % MIN_EC_KEY_SIZE, key_size >= MIN_EC_KEY_SIZE
    elif key_type in ("Ed25519", "Ed448"):
        required, ok = "a key of at least %d bits (RSA)" % min_key_size, True
    else:
        required, ok = "a key of at least %d bits" % min_key_size, key_size >= min_key_size
    checks.append(check("%s key size" % label, category, required, "%s %d bits" % (key_type, key_size), ok))

    signature_hash = (info.get("signature_hash") or "").lower()
    algorithm = info.get("signature_algorithm") or signature_hash or "unknown"
    checks.append(
        check(
            "%s signature" % label,
            category,
            "a signature without SHA-1 (or MD5)",
            algorithm,
            signature_hash not in WEAK_SIGNATURE_HASHES,
        )
    )
    return checks


# --- DNS --------------------------------------------------------------------------------------------------------

RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "SRV", "NS")


def normalize_record_value(rtype, value):
    """A record value in comparable form: names lower-case without the trailing dot, MX without preference."""
    rtype = rtype.upper()
    text = str(value).strip()
    if rtype == "MX":
        parts = text.split()
        text = parts[-1] if parts else ""
    if rtype in ("A", "AAAA"):
        address = _ip(text)
        return str(address) if address is not None else text.lower()
    if rtype == "TXT":
        return text
    return _ascii_name(text)


def answer_key(name, rtype):
    return "%s %s" % (_ascii_name(name), rtype.upper())


def check_dns(view, expected, answers, category=None):
    """Checks of ``expected`` records (``[{name, type, value}]``) against ``answers`` in one view.

    ``answers`` maps :func:`answer_key` (``"contoso.com MX"``) to ``{"values": [...], "error": None | text}`` where
    ``error`` is what the resolver said instead of an answer (NXDOMAIN, no answer, timeout, refused).
    """
    category = category or "dns-%s" % view
    checks = []
    for record in expected:
        rtype = str(record["type"]).upper()
        name = _ascii_name(record["name"])
        want = normalize_record_value(rtype, record["value"])
        answer = answers.get(answer_key(name, rtype)) or {"values": [], "error": "not queried"}
        values = [normalize_record_value(rtype, v) for v in answer.get("values") or []]
        if values:
            found = ", ".join(values)
        else:
            found = answer.get("error") or "no %s record" % rtype
        checks.append(check("DNS %s: %s %s" % (view, name, rtype), category, want, found, want in values))
    return checks
