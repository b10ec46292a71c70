"""X.509 helpers for the lab's Exchange certificate store: Windows-style names, requests, files, dates.

Everything here is pure (no organisation state): it turns ``cryptography`` objects into the values Windows
and Exchange show, parses what administrators type (``-SubjectName 'C=US, O=Contoso, CN=mail.contoso.com'``)
the way .NET's ``X500DistinguishedName`` does, makes the real keys, requests and certificates, and reads the
certificate files ``Import-ExchangeCertificate -FileData`` accepts (DER, PEM, PKCS #7, PKCS #12).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from ..psvalues import PSObject

# The attribute keys CryptoAPI's CertNameToStr / CertStrToName use (what X500DistinguishedName.Name prints).
_OID_TO_KEY: dict[str, str] = {
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
# Keys accepted on input (case-insensitive), including the aliases CertStrToName knows.
_KEY_TO_OID: dict[str, ObjectIdentifier] = {
    "CN": NameOID.COMMON_NAME,
    "L": NameOID.LOCALITY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "E": NameOID.EMAIL_ADDRESS,
    "EMAIL": NameOID.EMAIL_ADDRESS,
    "C": NameOID.COUNTRY_NAME,
    "S": NameOID.STATE_OR_PROVINCE_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "STREET": NameOID.STREET_ADDRESS,
    "DC": NameOID.DOMAIN_COMPONENT,
    "G": NameOID.GIVEN_NAME,
    "GN": NameOID.GIVEN_NAME,
    "GIVENNAME": NameOID.GIVEN_NAME,
    "I": NameOID.INITIALS,
    "INITIALS": NameOID.INITIALS,
    "SN": NameOID.SURNAME,
    "T": NameOID.TITLE,
    "TITLE": NameOID.TITLE,
    "SERIALNUMBER": NameOID.SERIAL_NUMBER,
    "POSTALCODE": NameOID.POSTAL_CODE,
}

INVALID_X500 = "The string contains an invalid X500 name attribute key, oid, value or delimiter."


class X500Error(ValueError):
    """A distinguished name string .NET's X500DistinguishedName constructor rejects (message as .NET gives it)."""

    def __init__(self) -> None:
        super().__init__(INVALID_X500)


def _quote_value(value: str) -> str:
    """CertNameToStr quoting: values with special characters or edge spaces are wrapped in double quotes."""
    if value == "" or value != value.strip() or any(c in value for c in ',+="\n<>#;'):
        return '"' + value.replace('"', '""') + '"'
    return value


def windows_name(name: x509.Name) -> str:
    """``X500DistinguishedName.Name`` as .NET prints it: RDNs last-to-first, ``, `` between, CryptoAPI keys.

    That is the order of RFC 4514 (most specific first), e.g. ``CN=mail.contoso.com, O=Contoso, C=US`` for a
    name whose DER sequence is C, O, CN.
    """
    parts: list[str] = []
    for rdn in reversed(list(name.rdns)):
        items = []
        for attribute in rdn:
            key = _OID_TO_KEY.get(attribute.oid.dotted_string, "OID." + attribute.oid.dotted_string)
            value = attribute.value if isinstance(attribute.value, str) else attribute.value.hex()
            items.append(f"{key}={_quote_value(value)}")
        parts.append(" + ".join(items))
    return ", ".join(parts)


def _split_components(text: str) -> list[str]:
    components: list[str] = []
    current: list[str] = []
    quoted = False
    index = 0
    while index < len(text):
        char = text[index]
        if char == '"':
            if quoted and index + 1 < len(text) and text[index + 1] == '"':
                current.append('""')
                index += 2
                continue
            quoted = not quoted
            current.append(char)
        elif char in ",;" and not quoted:
            components.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    if quoted:
        raise X500Error()
    components.append("".join(current))
    return components


def parse_x500(text: str) -> x509.Name:
    """Parse a distinguished name string as ``new X500DistinguishedName(string)`` does (Reversed flag).

    The components are written most-specific-last or first as the administrator likes; .NET encodes them in
    reverse of the written order, so the name prints back exactly as written (with normalised keys).
    ``C=US, O=Contoso, CN=mail.contoso.com`` therefore becomes the DER sequence CN, O, C.
    """
    if not isinstance(text, str) or not text.strip():
        raise X500Error()
    attributes: list[x509.NameAttribute] = []
    for component in _split_components(text):
        component = component.strip()
        if not component or "=" not in component:
            raise X500Error()
        key, _, raw = component.partition("=")
        key = key.strip()
        raw = raw.strip()
        if key.upper().startswith("OID."):
            key = key[4:]
        if re.fullmatch(r"\d+(\.\d+)+", key):
            oid = ObjectIdentifier(key)
        else:
            oid = _KEY_TO_OID.get(key.upper())
            if oid is None:
                raise X500Error()
        if raw.startswith('"'):
            if not raw.endswith('"') or len(raw) < 2:
                raise X500Error()
            raw = raw[1:-1].replace('""', '"')
        elif '"' in raw:
            raise X500Error()
        if not raw:
            raise X500Error()
        try:
            attributes.append(x509.NameAttribute(oid, raw))
        except ValueError as error:  # e.g. a country code that is not two letters
            raise X500Error() from error
    return x509.Name([x509.RelativeDistinguishedName([a]) for a in reversed(attributes)])


def common_name(name: x509.Name) -> str | None:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return values[-1].value if values else None  # the most specific CN, as Windows' simple name does


def thumbprint(der: bytes) -> str:
    """A Windows thumbprint: the upper-case hex SHA-1 of the certificate's DER bytes."""
    return hashlib.sha1(der).hexdigest().upper()


def serial_hex(serial: int) -> str:
    """``X509Certificate2.SerialNumber``: the DER INTEGER content bytes (with a leading 00 when needed), upper hex."""
    length = serial.bit_length() // 8 + 1
    return serial.to_bytes(length, "big", signed=False).hex().upper()


def subject_alt_names(cert_or_csr: x509.Certificate | x509.CertificateSigningRequest) -> list[str]:
    try:
        ext = cert_or_csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    names: list[str] = []
    for entry in ext:
        if isinstance(entry, x509.DNSName):
            names.append(entry.value)
        elif isinstance(entry, x509.IPAddress):
            names.append(str(entry.value))
    return names


def certificate_domains(cert_or_csr: x509.Certificate | x509.CertificateSigningRequest) -> list[str]:
    """Exchange's CertificateDomains: the subject's CN when it is a domain name, then the DNS SANs (no duplicates).

    ``CN=Microsoft Exchange Server Auth Certificate`` is no domain name, so that certificate has none.
    """
    names: list[str] = []
    cn = common_name(cert_or_csr.subject)
    if cn and valid_domain_name(cn):
        names.append(cn)
    for name in subject_alt_names(cert_or_csr):
        if valid_domain_name(name) and name.casefold() not in {n.casefold() for n in names}:
            names.append(name)
    return names


_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_DOMAIN_RE = re.compile(rf"^(\*\.)?{_LABEL}(\.{_LABEL})*\.?$")


def valid_domain_name(value: str) -> bool:
    """What ``SmtpDomainWithSubdomains`` accepts: a host name or FQDN, optionally ``*.`` prefixed, ≤ 255 chars."""
    return isinstance(value, str) and 0 < len(value) <= 255 and bool(_DOMAIN_RE.match(value))


def domain_matches(pattern: str, name: str) -> bool:
    """RFC 6125 style match of a certificate name (possibly ``*.x``) against a host name, case-insensitive."""
    pattern = pattern.lower().rstrip(".")
    name = name.lower().rstrip(".")
    if pattern == name:
        return True
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return False


# --------------------------------------------------------------------------------------------------------
# Making keys, requests and certificates


def new_key(key_size: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=key_size)


def _san_extension(domains: list[str]) -> x509.SubjectAlternativeName:
    return x509.SubjectAlternativeName([x509.DNSName(d) for d in domains])


def make_csr(key: rsa.RSAPrivateKey, subject: x509.Name, domains: list[str]) -> x509.CertificateSigningRequest:
    """A PKCS #10 request as CertEnroll makes it for Exchange: subject, SANs, server-auth key usage, SHA-256."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if domains:
        builder = builder.add_extension(_san_extension(domains), critical=False)
    builder = builder.add_extension(
        x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True
    )
    builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(key, hashes.SHA256())


def make_self_signed(
    key: rsa.RSAPrivateKey,
    subject: x509.Name,
    domains: list[str],
    *,
    years: int = 5,
    now: dt.datetime | None = None,
    server_auth: bool = True,
) -> x509.Certificate:
    """A self-signed certificate like Exchange's: SHA-256, the key's SKI, SANs, valid ``years`` from now."""
    now = (now or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=10))
        .not_valid_after(_add_years(now, years))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
    )
    if server_auth:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if domains:
        builder = builder.add_extension(_san_extension(domains), critical=False)
    return builder.sign(key, hashes.SHA256())


def _add_years(moment: dt.datetime, years: int) -> dt.datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


def request_text(csr: x509.CertificateSigningRequest) -> str:
    """The Base64 request ``New-ExchangeCertificate -GenerateRequest`` returns (CertEnroll's request header form).

    ``-----BEGIN NEW CERTIFICATE REQUEST-----``, the DER in Base64 lines of 64 characters, the end line; Windows
    line ends. cryptography and OpenSSL read it as a PEM request.
    """
    body = base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode("ascii")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN NEW CERTIFICATE REQUEST-----\r\n" + "\r\n".join(lines) + "\r\n-----END NEW CERTIFICATE REQUEST-----\r\n"


def certificate_text(der: bytes) -> str:
    body = base64.b64encode(der).decode("ascii")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\r\n" + "\r\n".join(lines) + "\r\n-----END CERTIFICATE-----\r\n"


def key_pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode("ascii")


def load_key(pem: str):
    return serialization.load_pem_private_key(pem.encode("ascii"), password=None)


def public_key_der(key_or_cert) -> bytes:
    public = key_or_cert.public_key()
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def make_pfx(cert: x509.Certificate, key, password: str | None, friendly_name: str | None, chain: list[x509.Certificate] = ()) -> bytes:
    encryption = serialization.BestAvailableEncryption(password.encode("utf-8")) if password else serialization.NoEncryption()
    name = friendly_name.encode("utf-8") if friendly_name else None
    return pkcs12.serialize_key_and_certificates(name, key, cert, list(chain) or None, encryption)


# --------------------------------------------------------------------------------------------------------
# Reading certificate files (Import-ExchangeCertificate -FileData)


@dataclass
class CertificateFile:
    kind: str  # "pkcs12", "pkcs7", "der", "pem"
    certificates: list[x509.Certificate] = field(default_factory=list)
    key: object | None = None
    friendly_name: str | None = None


class WrongPassword(ValueError):
    """A PKCS #12 file whose password is missing or wrong."""


class NotACertificate(ValueError):
    """Bytes that are no certificate file Windows can read."""


def _der_shape(data: bytes) -> str | None:
    """Peek at a DER SEQUENCE to tell a certificate, a PKCS #7 ContentInfo and a PKCS #12 PFX apart."""
    if len(data) < 4 or data[0] != 0x30:
        return None
    length_byte = data[1]
    offset = 2
    if length_byte & 0x80:
        offset += length_byte & 0x7F
    if offset >= len(data):
        return None
    first = data[offset]
    if first == 0x30:
        return "certificate"
    if first == 0x06:
        return "pkcs7"
    if first == 0x02 and data[offset + 1 : offset + 3] == b"\x01\x03":
        return "pkcs12"
    return None


def _as_text(data: bytes) -> str | None:
    """Certificate text in the encodings Windows tools write (UTF-8/ASCII with or without BOM, UTF-16 LE)."""
    for prefix, encoding in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if data.startswith(prefix):
            try:
                return data[len(prefix) :].decode(encoding)
            except UnicodeDecodeError:
                return None
    if len(data) > 2 and data[1:2] == b"\x00" and data[0:1] != b"\x00":
        try:
            return data.decode("utf-16-le")
        except UnicodeDecodeError:
            return None
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        return None


def _order_chain(certs: list[x509.Certificate], leaf: x509.Certificate | None = None) -> list[x509.Certificate]:
    """Leaf first (the certificate that issued none of the others, or ``leaf``), then its issuers in order."""
    if not certs:
        return []
    if leaf is None:
        issuer_names = {c.issuer.public_bytes() for c in certs if c.subject != c.issuer}
        leaves = [c for c in certs if c.subject.public_bytes() not in issuer_names]
        leaf = next((c for c in leaves if c.subject != c.issuer), leaves[0] if leaves else certs[0])
    ordered = [leaf]
    rest = [c for c in certs if c is not leaf]
    while rest:
        current = ordered[-1]
        if current.subject == current.issuer:
            break
        nxt = next((c for c in rest if c.subject == current.issuer), None)
        if nxt is None:
            break
        ordered.append(nxt)
        rest.remove(nxt)
    return ordered + rest


def read_certificate_file(data: bytes, password: str | None) -> CertificateFile:
    """Read ``-FileData`` bytes: DER or PEM certificates, a PKCS #7 chain (DER or PEM), or a PKCS #12 PFX."""
    if not data:
        raise NotACertificate()
    shape = _der_shape(data)
    if shape == "pkcs12":
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data, password.encode("utf-8") if password else None)
        except ValueError as error:
            if password is None:
                # Windows tries the empty password too before giving up.
                try:
                    key, cert, extra = pkcs12.load_key_and_certificates(data, b"")
                except ValueError:
                    raise WrongPassword() from error
            else:
                raise WrongPassword() from error
        if cert is None:
            raise NotACertificate()
        friendly = None
        try:
            parsed = pkcs12.load_pkcs12(data, password.encode("utf-8") if password else None)
            if parsed.cert is not None and parsed.cert.friendly_name:
                friendly = parsed.cert.friendly_name.decode("utf-8", "replace")
        except ValueError:
            friendly = None
        return CertificateFile("pkcs12", _order_chain([cert, *extra], leaf=cert), key, friendly)
    if shape == "certificate":
        try:
            return CertificateFile("der", [x509.load_der_x509_certificate(data)])
        except ValueError as error:
            raise NotACertificate() from error
    if shape == "pkcs7":
        try:
            return CertificateFile("pkcs7", _order_chain(pkcs7.load_der_pkcs7_certificates(data)))
        except ValueError as error:
            raise NotACertificate() from error
    text = _as_text(data)
    if text is None:
        raise NotACertificate()
    stripped = text.strip()
    if "-----BEGIN" in stripped:
        blob = stripped.encode("ascii", "replace")
        if b"-----BEGIN PKCS7-----" in blob or b"-----BEGIN CERTIFICATE-----" not in blob and b"PKCS7" in blob:
            try:
                return CertificateFile("pkcs7", _order_chain(pkcs7.load_pem_pkcs7_certificates(blob)))
            except ValueError as error:
                raise NotACertificate() from error
        try:
            certs = x509.load_pem_x509_certificates(blob)
        except ValueError as error:
            raise NotACertificate() from error
        return CertificateFile("pem", _order_chain(certs))
    # Base64 without armour (some CAs hand it out that way).
    try:
        raw = base64.b64decode(re.sub(r"\s+", "", stripped), validate=True)
    except (ValueError, base64.binascii.Error) as error:
        raise NotACertificate() from error
    if _der_shape(raw) is None:
        raise NotACertificate()
    return read_certificate_file(raw, password)


# --------------------------------------------------------------------------------------------------------
# System.DateTime as the lab shows it (the lab's servers run in UTC)


def _net_format(moment: dt.datetime, fmt: str, kind: str = "Local") -> str:
    """A subset of .NET custom/standard date formats: enough for the formats scripts use on certificates."""
    standard = {
        # Kind Local on a UTC server: round-trip form with the +00:00 offset (Z is for Kind Utc).
        "o": lambda m: m.strftime("%Y-%m-%dT%H:%M:%S.") + f"{m.microsecond * 10:07d}" + ("Z" if kind == "Utc" else "+00:00"),
        "s": lambda m: m.strftime("%Y-%m-%dT%H:%M:%S"),
        "u": lambda m: m.strftime("%Y-%m-%d %H:%M:%SZ"),
        "d": lambda m: f"{m.month}/{m.day}/{m.year}",
        "g": lambda m: f"{m.month}/{m.day}/{m.year} " + _net_format(m, "h:mm tt", kind),
        "G": lambda m: _default_string(m),
    }
    if fmt in standard:
        return standard[fmt](moment)
    tokens = [
        ("yyyy", lambda m: f"{m.year:04d}"), ("MM", lambda m: f"{m.month:02d}"), ("dd", lambda m: f"{m.day:02d}"),
        ("HH", lambda m: f"{m.hour:02d}"), ("hh", lambda m: f"{(m.hour % 12) or 12:02d}"), ("mm", lambda m: f"{m.minute:02d}"),
        ("ss", lambda m: f"{m.second:02d}"), ("fff", lambda m: f"{m.microsecond // 1000:03d}"), ("tt", lambda m: "AM" if m.hour < 12 else "PM"),
        ("yy", lambda m: f"{m.year % 100:02d}"), ("M", lambda m: str(m.month)), ("d", lambda m: str(m.day)),
        ("H", lambda m: str(m.hour)), ("h", lambda m: str((m.hour % 12) or 12)), ("K", lambda m: "Z" if kind == "Utc" else "+00:00"),
    ]
    out: list[str] = []
    index = 0
    while index < len(fmt):
        if fmt[index] in "'\"":
            end = fmt.find(fmt[index], index + 1)
            end = len(fmt) if end < 0 else end
            out.append(fmt[index + 1 : end])
            index = end + 1
            continue
        if fmt[index] == "\\" and index + 1 < len(fmt):
            out.append(fmt[index + 1])
            index += 2
            continue
        for token, render in tokens:
            if fmt.startswith(token, index):
                out.append(render(moment))
                index += len(token)
                break
        else:
            out.append(fmt[index])
            index += 1
    return "".join(out)


def _default_string(moment: dt.datetime) -> str:
    """``DateTime.ToString()`` in en-US: ``M/d/yyyy h:mm:ss tt``."""
    hour = (moment.hour % 12) or 12
    return f"{moment.month}/{moment.day}/{moment.year} {hour}:{moment.minute:02d}:{moment.second:02d} {'AM' if moment.hour < 12 else 'PM'}"


def ps_datetime(moment: dt.datetime, kind: str = "Local") -> PSObject:
    """A ``System.DateTime`` value (Kind Local on a server whose time zone is UTC; ``ToUniversalTime()`` gives Kind Utc).

    ``ToString()`` gives the en-US form (``11/22/2031 11:22:36 AM``); ``ConvertTo-Json`` gives what Windows
    PowerShell 5.1 writes for a DateTime property, ``"\\/Date(<ms since 1970>)\\/"`` (the JSON override returns
    ``/Date(ms)/``; the JSON writer's escaping of ``/`` decides whether the backslashes appear, and any JSON
    reader decodes both spellings to the same string).
    """
    moment = moment.astimezone(dt.timezone.utc).replace(microsecond=0)
    epoch_ms = int(moment.timestamp() * 1000)

    def to_string(fmt: str | None = None, *_ignored) -> str:
        return _default_string(moment) if not fmt else _net_format(moment, str(fmt), kind)

    obj = PSObject(
        ["System.DateTime", "System.ValueType", "System.Object"],
        {
            "Year": moment.year,
            "Month": moment.month,
            "Day": moment.day,
            "Hour": moment.hour,
            "Minute": moment.minute,
            "Second": moment.second,
            "Millisecond": 0,
            "DayOfWeek": moment.strftime("%A"),
            "Kind": kind,
            "Ticks": int((moment - dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc)).total_seconds()) * 10_000_000,
        },
        string=lambda: _default_string(moment),
        methods={
            "ToString": to_string,
            "ToUniversalTime": lambda: ps_datetime(moment, "Utc"),
            "ToLocalTime": lambda: ps_datetime(moment, "Local"),
            "AddDays": lambda days: ps_datetime(moment + dt.timedelta(days=float(days)), kind),
            "ToFileTimeUtc": lambda: int((moment - dt.datetime(1601, 1, 1, tzinfo=dt.timezone.utc)).total_seconds()) * 10_000_000,
        },
        json=lambda: f"/Date({epoch_ms})/",
    )
    obj.datetime = moment  # the Python value, for comparisons by other lab code
    return obj
