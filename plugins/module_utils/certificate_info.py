# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificates as Windows and Exchange show them, computed on the controller with ``cryptography``.

Exchange's remote PowerShell does not reliably carry an ``ExchangeCertificate``'s properties (FACTS §2: a
deserialized certificate may carry only ``RawData``; ``Services`` may come back empty), so the modules read
``[System.Convert]::ToBase64String($_.RawData)`` and derive everything else here:

* :func:`thumbprint` - what Windows calls the thumbprint: the upper-case hex SHA-1 of the DER bytes;
* :func:`windows_name` - a distinguished name as ``X500DistinguishedName.Name`` prints it
  (``CN=mail.contoso.com, O=Contoso, C=US``: most specific first, CryptoAPI keys ``CN L O OU E C S STREET DC
  G I SN T SERIALNUMBER PostalCode``, values quoted with ``"`` when they hold ``, + = " < > # ;`` or a line
  break or edge spaces);
* :func:`certificate_domains` - Exchange's ``CertificateDomains`` (the DNS names of the subject alternative
  name extension, or the subject's CN when there is none);
* :func:`tls_certificate_name` - the ``TlsCertificateName`` of a connector: ``<I>issuer<S>subject``;
* :func:`describe` - the dictionary the certificate module and ``exchange_info`` return.

It also reads what administrators hand to the modules (a CA's answer as PEM, DER or PKCS #7; a PFX with its
password; a certificate request as ``New-ExchangeCertificate -GenerateRequest`` prints it) and refuses bad
input with a message that says what is wrong, before anything is sent to Exchange.

Pure: no network, no Ansible. Requires ``cryptography`` (present wherever pywinrm is).
"""


import base64
import binascii
import datetime
import hashlib
import re

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
    from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
    from cryptography.x509.oid import NameOID

    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError as _error:  # pragma: no cover - reported by the modules through missing_required_lib
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = _error


class CertificateError(ValueError):
    """Certificate input that cannot be used; the message says why (never contains a password)."""


# ------------------------------------------------------------------------------------------------------------
# Names


def _oid_keys():
    return {
        NameOID.COMMON_NAME.dotted_string: "CN",
        NameOID.LOCALITY_NAME.dotted_string: "L",
        NameOID.ORGANIZATION_NAME.dotted_string: "O",
        NameOID.ORGANIZATIONAL_UNIT_NAME.dotted_string: "OU",
        NameOID.EMAIL_ADDRESS.dotted_string: "E",
        NameOID.COUNTRY_NAME.dotted_string: "C",
        NameOID.STATE_OR_PROVINCE_NAME.dotted_string: "S",
        NameOID.STREET_ADDRESS.dotted_string: "STREET",
        NameOID.DOMAIN_COMPONENT.dotted_string: "DC",
        NameOID.GIVEN_NAME.dotted_string: "G",
        NameOID.INITIALS.dotted_string: "I",
        NameOID.SURNAME.dotted_string: "SN",
        NameOID.TITLE.dotted_string: "T",
        NameOID.SERIAL_NUMBER.dotted_string: "SERIALNUMBER",
        NameOID.POSTAL_CODE.dotted_string: "PostalCode",
    }


# Keys an administrator may write in a subject (case-insensitive), with the aliases CertStrToName accepts.
_KEY_ALIASES = {
    "CN": "CN", "L": "L", "O": "O", "OU": "OU", "E": "E", "EMAIL": "E", "C": "C", "S": "S", "ST": "S",
    "STREET": "STREET", "DC": "DC", "G": "G", "GN": "G", "GIVENNAME": "G", "I": "I", "INITIALS": "I",
    "SN": "SN", "T": "T", "TITLE": "T", "SERIALNUMBER": "SERIALNUMBER", "POSTALCODE": "PostalCode",
}
_QUOTE_TRIGGERS = frozenset(',+="<>#;\r\n')


def _quote_value(value):
    """CertNameToStr's quoting: wrap in ``"`` (doubling inner ``"``) when the value needs it."""
    if value == "" or value != value.strip() or any(char in _QUOTE_TRIGGERS for char in value):
        return '"' + value.replace('"', '""') + '"'
    return value


def windows_name(name):
    """Render an ``x509.Name`` as Windows prints it (``X500DistinguishedName.Name``)."""
    keys = _oid_keys()
    parts = []
    for rdn in reversed(list(name.rdns)):
        items = []
        for attribute in rdn:
            key = keys.get(attribute.oid.dotted_string, "OID." + attribute.oid.dotted_string)
            value = attribute.value
            if isinstance(value, bytes):
                value = "#" + binascii.hexlify(value).decode("ascii")
            items.append(key + "=" + _quote_value(value))
        parts.append(" + ".join(items))
    return ", ".join(parts)


def _split_dn(text):
    """Split a DN string on ``,`` / ``;`` outside double quotes."""
    parts, current, quoted, index = [], [], False, 0
    while index < len(text):
        char = text[index]
        if char == '"':
            if quoted and text[index + 1:index + 2] == '"':
                current.append('""')
                index += 2
                continue
            quoted = not quoted
            current.append(char)
        elif char in ",;" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    if quoted:
        raise ValueError("unbalanced double quote")
    parts.append("".join(current))
    return parts


def parse_subject(text):
    """Parse a subject as an administrator writes it for ``New-ExchangeCertificate -SubjectName``.

    Returns a list of ``(key, value)`` in the written order, keys normalised to Windows' spelling. Raises
    ``ValueError`` with the reason for anything .NET's ``X500DistinguishedName`` would refuse.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("the subject name is empty")
    if "\x00" in text:
        raise ValueError("the subject name contains a NUL character")
    components = []
    for raw in _split_dn(text):
        raw = raw.strip()
        if not raw:
            raise ValueError("empty component in the subject name %r" % text)
        if "=" not in raw:
            raise ValueError("component %r of the subject name has no '='" % raw)
        key, dummy, value = raw.partition("=")
        key, value = key.strip(), value.strip()
        upper = key.upper()
        if upper.startswith("OID.") and re.match(r"^\d+(\.\d+)+\Z", key[4:]):
            key = "OID." + key[4:]
        elif re.match(r"^\d+(\.\d+)+\Z", key):
            key = "OID." + key
        elif upper in _KEY_ALIASES:
            key = _KEY_ALIASES[upper]
        else:
            raise ValueError("unknown attribute %r in the subject name (use CN, O, OU, L, S, C, E, DC, ...)" % key)
        if value.startswith('"'):
            if len(value) < 2 or not value.endswith('"'):
                raise ValueError("unbalanced double quote in %r" % raw)
            value = value[1:-1].replace('""', '"')
        elif '"' in value:
            raise ValueError("a double quote inside an unquoted value in %r" % raw)
        if value == "":
            raise ValueError("component %r of the subject name has an empty value" % raw)
        if key == "C" and not re.match(r"^[A-Za-z]{2}\Z", value):
            raise ValueError("the country (C=) must be a two-letter code, got %r" % value)
        components.append((key, value))
    if not any(component[0] == "CN" for component in components):
        raise ValueError("the subject name %r has no common name (CN=)" % text)
    return components


def normalise_subject(text):
    """The subject as Windows prints it back after ``-SubjectName <text>``.

    .NET encodes the written components in reverse and prints them reversed again, so the printed name keeps
    the written order, with normalised keys and quoting: ``cn=Mail.contoso.com,o=Contoso`` ->
    ``CN=Mail.contoso.com, O=Contoso``.
    """
    return ", ".join(key + "=" + _quote_value(value) for key, value in parse_subject(text))


def common_name(name):
    """The most specific CN of a name (what Windows shows as the simple name), or None."""
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return values[-1].value if values else None


_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_DOMAIN_RE = re.compile(r"^(\*\.)?" + _LABEL + r"(\." + _LABEL + r")*\Z")


def valid_domain_name(value):
    """A DNS name a certificate may carry (host name or FQDN, optionally ``*.``-prefixed, at most 253 chars)."""
    return isinstance(value, str) and 0 < len(value) <= 253 and bool(_DOMAIN_RE.match(value))


def dns_names(obj):
    """The DNS names of the subject alternative name extension of a certificate or request, in order."""
    try:
        extension = obj.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return list(extension.get_values_for_type(x509.DNSName))


def certificate_domains(obj):
    """Exchange's ``CertificateDomains``: the DNS SANs, or ``[CN]`` when the certificate has none."""
    names = dns_names(obj)
    if names:
        return names
    cn = common_name(obj.subject)
    return [cn] if cn else []


def same_domains(a, b):
    """Order- and case-insensitive comparison of two lists of domain names."""
    return sorted(set(d.lower().rstrip(".") for d in a or [])) == sorted(set(d.lower().rstrip(".") for d in b or []))


# ------------------------------------------------------------------------------------------------------------
# Reading bytes


def _armoured_blocks(text, labels):
    pattern = re.compile(
        r"-----BEGIN (" + "|".join(re.escape(label) for label in labels) + r")-----(.*?)-----END \1-----", re.S
    )
    return [(m.group(1), m.group(2)) for m in pattern.finditer(text)]


def _b64(body):
    try:
        return base64.b64decode(re.sub(r"\s+", "", body), validate=True)
    except (binascii.Error, ValueError):
        raise CertificateError("the Base64 text is corrupt")


def _as_text(data):
    for bom, encoding in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(encoding)
            except UnicodeDecodeError:
                return None
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        return None


def _to_bytes(data):
    if isinstance(data, str):
        return data.encode("utf-8")
    return bytes(data)


def _der_certificates(der):
    try:
        return [x509.load_der_x509_certificate(der)]
    except ValueError:
        pass
    try:
        return list(pkcs7.load_der_pkcs7_certificates(der))
    except ValueError:
        raise CertificateError("the data is neither a DER certificate nor a PKCS #7 certificate chain")


def load_certificates(data):
    """Certificates from a CA's answer: PEM (one or more), DER, PKCS #7 (``.p7b``, PEM or DER), or bare Base64.

    The leaf comes first (see :func:`order_chain`). Raises :class:`CertificateError`.
    """
    data = _to_bytes(data)
    if not data.strip():
        raise CertificateError("the certificate data is empty")
    text = _as_text(data)
    if text is not None and "-----BEGIN" in text:
        certificates = []
        for label, body in _armoured_blocks(text, ["CERTIFICATE", "X509 CERTIFICATE", "PKCS7", "CMS"]):
            der = _b64(body)
            if label in ("PKCS7", "CMS"):
                try:
                    certificates.extend(pkcs7.load_der_pkcs7_certificates(der))
                except ValueError:
                    raise CertificateError("the PKCS #7 block is not a certificate chain")
            else:
                try:
                    certificates.append(x509.load_der_x509_certificate(der))
                except ValueError:
                    raise CertificateError("a CERTIFICATE block is not a valid X.509 certificate")
        if not certificates:
            if _armoured_blocks(text, ["NEW CERTIFICATE REQUEST", "CERTIFICATE REQUEST"]):
                raise CertificateError("this is a certificate request, not the CA's certificate")
            raise CertificateError("no CERTIFICATE or PKCS7 block in the PEM text")
        return order_chain(certificates)
    if text is not None and re.match(r"^[A-Za-z0-9+/=\s]+\Z", text):
        try:
            data = _b64(text)
        except CertificateError:
            raise CertificateError("the data is neither PEM, DER, PKCS #7 nor Base64 certificate data")
    return order_chain(_der_certificates(data))


def order_chain(certificates):
    """Leaf first: the certificate that is nobody's issuer, then its issuers; the rest in their order."""
    certificates = list(certificates)
    if len(certificates) <= 1:
        return certificates
    subjects_issuing = set(
        c.issuer.public_bytes() for c in certificates if c.issuer.public_bytes() != c.subject.public_bytes()
    )
    leaf = next((c for c in certificates if c.subject.public_bytes() not in subjects_issuing), certificates[0])
    ordered, rest = [leaf], [c for c in certificates if c is not leaf]
    while rest:
        current = ordered[-1]
        if current.issuer.public_bytes() == current.subject.public_bytes():
            break
        issuer = next((c for c in rest if c.subject.public_bytes() == current.issuer.public_bytes()), None)
        if issuer is None:
            break
        ordered.append(issuer)
        rest.remove(issuer)
    return ordered + rest


def load_certificate(data):
    """The leaf certificate of :func:`load_certificates`."""
    return load_certificates(data)[0]


def load_request(data):
    """A PKCS #10 request from ``New-ExchangeCertificate -GenerateRequest`` output, PEM or DER.

    Accepts the ``NEW CERTIFICATE REQUEST`` armour CertEnroll writes, the ``CERTIFICATE REQUEST`` armour
    OpenSSL writes, bare Base64 and DER. Raises :class:`CertificateError`.
    """
    data = _to_bytes(data)
    text = _as_text(data)
    der = None
    if text is not None:
        blocks = _armoured_blocks(text, ["NEW CERTIFICATE REQUEST", "CERTIFICATE REQUEST"])
        if blocks:
            der = _b64(blocks[0][1])
        elif text.strip() and re.match(r"^[A-Za-z0-9+/=\s]+\Z", text):
            try:
                der = _b64(text)
            except CertificateError:
                der = None
    if der is None:
        der = data
    try:
        return x509.load_der_x509_csr(der)
    except ValueError:
        raise CertificateError("the data is not a PKCS #10 certificate request")


def request_pem(csr):
    """The request as standard PEM text (``-----BEGIN CERTIFICATE REQUEST-----``), for any CA."""
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def certificate_pem(certificate):
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


class PfxContent:
    """What a PFX holds: the private key, the certificate matching it, the other certificates."""

    def __init__(self, key, certificate, chain, friendly_name=None):
        self.key = key
        self.certificate = certificate
        self.chain = chain
        self.friendly_name = friendly_name


def load_pfx(data, password):
    """Open a PKCS #12 file with its password, as Windows will. Raises :class:`CertificateError`.

    Checks: the password opens it, it holds a private key and a certificate, and the key belongs to the
    certificate.
    """
    data = _to_bytes(data)
    secret = None if password is None else _to_bytes(password)
    try:
        loaded = pkcs12.load_pkcs12(data, secret)
    except ValueError:
        if secret is None:
            try:
                loaded = pkcs12.load_pkcs12(data, b"")
            except ValueError:
                raise CertificateError("the PFX cannot be opened: it needs a password (pfx_password) or is corrupt")
        else:
            raise CertificateError("the PFX cannot be opened with the given pfx_password (wrong password or a corrupt file)")
    if loaded.key is None:
        raise CertificateError("the PFX holds no private key: Exchange needs the key to use the certificate")
    if loaded.cert is None:
        raise CertificateError("the PFX holds no certificate for its private key")
    certificate = loaded.cert.certificate
    if public_key_der(loaded.key) != public_key_der(certificate):
        raise CertificateError("the PFX's private key does not belong to its certificate")
    friendly = loaded.cert.friendly_name.decode("utf-8", "replace") if loaded.cert.friendly_name else None
    return PfxContent(loaded.key, certificate, [c.certificate for c in loaded.additional_certs], friendly)


# ------------------------------------------------------------------------------------------------------------
# Facts about a certificate


def thumbprint(certificate):
    """The Windows thumbprint: upper-case hex SHA-1 of the DER encoding."""
    return hashlib.sha1(certificate.public_bytes(serialization.Encoding.DER)).hexdigest().upper()


def normalise_thumbprint(value):
    """A thumbprint as the user typed it (spaces, colons, lower case) in Windows' form; ValueError if not SHA-1 hex."""
    if not isinstance(value, str):
        raise ValueError("a thumbprint must be a string")
    cleaned = re.sub(r"[\s:]", "", value).upper().lstrip("\u200e")
    if not re.match(r"^[0-9A-F]{40}\Z", cleaned):
        raise ValueError("%r is not a certificate thumbprint (40 hexadecimal characters)" % value)
    return cleaned


def public_key_der(obj):
    """SubjectPublicKeyInfo DER of a certificate, request, private or public key."""
    key = obj
    if hasattr(obj, "public_key"):
        key = obj.public_key()
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def same_public_key(a, b):
    return public_key_der(a) == public_key_der(b)


def key_size(obj):
    key = obj.public_key() if hasattr(obj, "public_key") else obj
    return getattr(key, "key_size", None)


def key_algorithm(obj):
    key = obj.public_key() if hasattr(obj, "public_key") else obj
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ECDSA"
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA"
    return type(key).__name__


def signature_hash(certificate):
    """Lower-case name of the signature's hash algorithm (``sha256``), or None (e.g. Ed25519)."""
    algorithm = certificate.signature_hash_algorithm
    return algorithm.name if algorithm is not None else None


def _utc(moment):
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc)


def not_before(certificate):
    return _utc(getattr(certificate, "not_valid_before_utc", None) or certificate.not_valid_before)


def not_after(certificate):
    return _utc(getattr(certificate, "not_valid_after_utc", None) or certificate.not_valid_after)


def iso(moment):
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_self_signed(certificate):
    return certificate.issuer.public_bytes() == certificate.subject.public_bytes()


def tls_certificate_name(certificate):
    """``TlsCertificateName`` for a connector: ``<I>`` + issuer + ``<S>`` + subject, in Windows' format."""
    return "<I>" + windows_name(certificate.issuer) + "<S>" + windows_name(certificate.subject)


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc)


def check_validity(certificate, now=None):
    """Raise :class:`CertificateError` when the certificate is expired or not valid yet."""
    now = _utc(now or now_utc())
    if not_after(certificate) <= now:
        raise CertificateError(
            "the certificate %s (%s) expired on %s" % (thumbprint(certificate), windows_name(certificate.subject),
                                                       iso(not_after(certificate))))
    if not_before(certificate) > now:
        raise CertificateError(
            "the certificate %s (%s) is not valid before %s" % (thumbprint(certificate), windows_name(certificate.subject),
                                                                iso(not_before(certificate))))


def describe(certificate, now=None):
    """The facts a module returns about a certificate (all derived from its bytes)."""
    now = _utc(now or now_utc())
    expiry = not_after(certificate)
    return {
        "thumbprint": thumbprint(certificate),
        "subject": windows_name(certificate.subject),
        "issuer": windows_name(certificate.issuer),
        "sans": certificate_domains(certificate),
        "not_before": iso(not_before(certificate)),
        "not_after": iso(expiry),
        "days_remaining": int((expiry - now).total_seconds() // 86400),
        "expired": expiry <= now,
        "serial_number": format(certificate.serial_number, "X"),
        "key_algorithm": key_algorithm(certificate),
        "key_size": key_size(certificate),
        "signature_hash": signature_hash(certificate),
        "self_signed": is_self_signed(certificate),
        "tls_certificate_name": tls_certificate_name(certificate),
    }


def describe_request(csr):
    """Subject, SANs and key facts of a certificate request."""
    return {
        "subject": windows_name(csr.subject),
        "sans": certificate_domains(csr),
        "key_algorithm": key_algorithm(csr),
        "key_size": key_size(csr),
    }


def decode_raw_data(value):
    """Bytes from ``[System.Convert]::ToBase64String($_.RawData)``; ``None`` when the value is empty."""
    if value is None or value == "":
        return None
    return _b64(value)
