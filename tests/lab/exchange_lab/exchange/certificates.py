"""Exchange certificates in the lab: a real per-server certificate store and the ``*-ExchangeCertificate`` cmdlets.

State: ``org.state["servers"][NAME]["certificates"]`` is a list of records (plain JSON), one per certificate or
pending request in the server's Personal store, oldest first::

    {
      "thumbprint": "5113AE02...",        # upper-case hex SHA-1 of "der"
      "der": "<base64 DER>",              # the certificate (for a pending request: CertEnroll's dummy
                                          #   self-signed certificate in the REQUEST store, as on Windows)
      "key": "<PKCS#8 PEM>" | null,       # the private key (null: imported without one)
      "chain": ["<base64 DER>", ...],     # issuer certificates that came with it (PKCS #7 / PFX), leaf excluded
      "friendly_name": "Microsoft Exchange",
      "services": 27,                     # AllowedServices flags (IMAP 1, POP 2, UM 4, IIS 8, SMTP 16, ...)
      "exportable": false,                # PrivateKeyExportable
      "pending": false,                   # true for a request made by New-ExchangeCertificate -GenerateRequest
      "request": "<base64 PKCS#10 DER>",  # pending requests only
      "request_file": "C:\\...\\x.req",   # pending requests made with -RequestFile (2013), the server-side path
      "internal_transport": true,         # the server's default SMTP (internal transport) certificate
      "sequence": 3                       # store order; higher is newer
    }

Behaviour follows Microsoft's cmdlet reference:

- Services are additive (``Enable-ExchangeCertificate`` never removes one). IIS is one binding per server, so
  enabling IIS moves it from the previous certificate. SMTP stays on older certificates, but the server's default
  SMTP (internal transport) certificate changes only after Exchange's "Overwrite the existing default SMTP
  certificate?" prompt; a WinRM host cannot answer prompts, so without ``-Force`` the cmdlet fails with
  PowerShell's HostException (the same wording the contract layer uses for ``-Confirm`` prompts). The same
  prompt guards ``New-ExchangeCertificate`` for a self-signed certificate with SMTP (the default services are
  IMAP, POP, SMTP).
- ``Remove-ExchangeCertificate`` has ConfirmImpact High: it needs ``-Confirm:$false`` here. It refuses the
  internal transport certificate and a certificate named by a Send connector's TlsCertificateName (Microsoft's
  own error texts). Removing the IIS certificate leaves IIS without one.
- ``-RequestFile`` (New) and ``-FileName`` (Import, Export) exist on 2013 only, as exchange-cmdlets.json says:
  the 2022 H1 cumulative updates removed them from 2016 and 2019, so there PowerShell's binder refuses them as
  unknown parameters (the contract layer does; these functions repeat the check). On 2013 ``-RequestFile`` is
  accepted and returned text is the same, but the lab writes no file (the path is kept on the pending request);
  ``Import-ExchangeCertificate -FileName`` reads the path on the lab host, which stands in for the server.
- ``-DoNotRequireSsl`` and ``-NetworkServiceAllowed`` are accepted and change nothing the lab models.
- Through a plain ``Import-PSSession`` (``remote_session``) the certificate objects these cmdlets write arrive
  with ``RawData`` only (``Thumbprint``, ``Status``, ``Services``, ... are ``$null``), as PowerShell serializes
  X509Certificate2-derived objects; in ``remote_exchange_script`` and ``snapin`` they are full objects
  (remoting.py has the sources). Not emulated: the empty ``Services`` reported since the November 2023 security
  update.
- Error texts confirmed from public reports: the internal transport and Send connector removal errors (with their
  "A special Rpc error occurs on server X:" prefix) and the SMTP prompt text. Others (certificate not found,
  duplicate, wrong PFX password — Windows' own "The specified network password is not correct.", non-exportable
  key, pending request, key size) follow the same form with the lab's best wording.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..errors import PSError, parameter_binding
from ..psvalues import PSEnum, PSObject, SecureString
from . import x509util as xu
from .contract import should_process
from .registry import Call, cmdlet, exchange_error
from .types import ENUMS, EnumType, smtp_domain

CERT_TYPE = "Microsoft.Exchange.Management.SystemConfigurationTasks.ExchangeCertificate"
CERT_TYPE_NAMES = [
    CERT_TYPE,
    "System.Security.Cryptography.X509Certificates.X509Certificate2",
    "System.Security.Cryptography.X509Certificates.X509Certificate",
    "System.Object",
]
BINARY_FILE_TYPE = "Microsoft.Exchange.Management.SystemConfigurationTasks.BinaryFileDataObject"

ALLOWED_SERVICES = EnumType(
    "Microsoft.Exchange.Management.SystemConfigurationTasks.AllowedServices",
    {"None": 0, "IMAP": 1, "POP": 2, "UM": 4, "IIS": 8, "SMTP": 16, "Federation": 32, "UMCallRouter": 64},
    flags=True,
)
# Offered to the contract layer (it converts -Services by this table); kept if it already defines its own.
ENUMS.setdefault("AllowedServices", ALLOWED_SERVICES)

CERTIFICATE_STATUS = EnumType(
    "Microsoft.Exchange.Management.SystemConfigurationTasks.CertificateStatus",
    {"Unknown": 0, "Valid": 1, "Revoked": 2, "DateInvalid": 3, "Untrusted": 4, "Invalid": 5, "RevocationCheckFailure": 6, "PendingRequest": 7},
)

IMAP, POP, UM, IIS, SMTP, FEDERATION, UM_CALL_ROUTER = 1, 2, 4, 8, 16, 32, 64
DEFAULT_FRIENDLY_NAME = "Microsoft Exchange"
AUTH_CERTIFICATE_NAME = "Microsoft Exchange Server Auth Certificate"
VALID_KEY_SIZES = (1024, 2048, 4096)
SELF_SIGNED_YEARS = 5
WMSVC_YEARS = 10  # the IIS Web Management Service makes its own certificate, valid ten years



# --------------------------------------------------------------------------------------------------------------
# The store


def _server_key(org, server: str) -> str:
    for key in org.state["servers"]:
        if key.casefold() == str(server).casefold():
            return key
    raise KeyError(server)


def certificate_store(org, server: str) -> list[dict]:
    """The server's certificate records (the list kept in the state; mutate under ``org.lock``)."""
    return org.state["servers"][_server_key(org, server)].setdefault("certificates", [])


def _next_sequence(store: list[dict]) -> int:
    return max((r.get("sequence", 0) for r in store), default=0) + 1


def _load(record: dict) -> x509.Certificate:
    return x509.load_der_x509_certificate(base64.b64decode(record["der"]))


def _chain(record: dict) -> list[x509.Certificate]:
    return [x509.load_der_x509_certificate(base64.b64decode(d)) for d in record.get("chain", ())]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _new_record(cert: x509.Certificate, key, *, friendly_name: str, services: int, exportable: bool, store: list[dict],
                chain: Iterable[x509.Certificate] = (), pending_request: x509.CertificateSigningRequest | None = None) -> dict:
    der = cert.public_bytes(serialization.Encoding.DER)
    record = {
        "thumbprint": xu.thumbprint(der),
        "der": _b64(der),
        "key": xu.key_pem(key) if key is not None else None,
        "chain": [_b64(c.public_bytes(serialization.Encoding.DER)) for c in chain],
        "friendly_name": friendly_name,
        "services": services,
        "exportable": bool(exportable),
        "pending": pending_request is not None,
        "internal_transport": False,
        "sequence": _next_sequence(store),
    }
    if pending_request is not None:
        record["request"] = _b64(pending_request.public_bytes(serialization.Encoding.DER))
    return record


def _is_self_signed(cert: x509.Certificate) -> bool:
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
        return True
    except Exception:  # noqa: BLE001 - any verification failure means "not self-signed"
        return False


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except Exception:  # noqa: BLE001
        return False


def certificate_status(record: dict, trust_anchors: Iterable[x509.Certificate] = (), now: dt.datetime | None = None) -> str:
    """Exchange's Status: PendingRequest, DateInvalid (outside its validity), Valid (self-signed, or chaining to a
    trusted root: the lab CA, which stands in for the organisation's CA, or a root that came with the import),
    else Untrusted."""
    if record.get("pending"):
        return "PendingRequest"
    cert = _load(record)
    now = now or dt.datetime.now(dt.timezone.utc)
    if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
        return "DateInvalid"
    if _is_self_signed(cert):
        return "Valid"
    anchors = [a for a in trust_anchors if a is not None]
    candidates = _chain(record) + anchors
    current = cert
    for _ in range(8):
        issuer = next((c for c in candidates if _issued_by(current, c)), None)
        if issuer is None:
            return "Untrusted"
        if not (issuer.not_valid_before_utc <= now <= issuer.not_valid_after_utc):
            return "DateInvalid"
        if any(issuer == a for a in anchors) or _is_self_signed(issuer):
            return "Valid"
        current = issuer
    return "Untrusted"


def services_text(flags: int) -> str:
    """AllowedServices as it prints: ``IMAP, POP, IIS, SMTP``; ``None`` for 0."""
    names = [name for name, bit in ALLOWED_SERVICES.members.items() if bit and flags & bit]
    return ", ".join(names) or "None"


def tls_certificate_name(record: dict) -> str:
    """A connector's TlsCertificateName for this certificate: ``"<I>" + issuer + "<S>" + subject`` (Windows form)."""
    cert = _load(record)
    return f"<I>{xu.windows_name(cert.issuer)}<S>{xu.windows_name(cert.subject)}"


def _pem_pair(record: dict) -> tuple[bytes, bytes]:
    pem = _load(record).public_bytes(serialization.Encoding.PEM)
    for issuer in _chain(record):
        if not _is_self_signed(issuer):  # roots are not sent by TLS servers
            pem += issuer.public_bytes(serialization.Encoding.PEM)
    return pem, record["key"].encode("ascii")


def _usable(org, server: str) -> list[dict]:
    return [r for r in certificate_store(org, server) if not r.get("pending") and r.get("key")]


def enabled_certificate(org, server: str, service: str) -> tuple[bytes, bytes] | None:
    """(certificate PEM followed by its issuer chain, private key PEM) of the certificate a TLS listener presents.

    ``service`` is ``'IIS'`` (the certificate bound to the Default Web Site) or ``'SMTP'`` (the default SMTP
    certificate: the one the server marks as internal transport certificate, else the newest certificate with a
    private key enabled for SMTP). None when there is none, e.g. after the IIS certificate was removed.
    """
    bit = {"IIS": IIS, "SMTP": SMTP}.get(str(service).upper())
    if bit is None:
        raise ValueError(f"service must be 'IIS' or 'SMTP', not {service!r}")
    with org.lock:
        store = _usable(org, server)
        chosen = None
        if bit == SMTP:
            chosen = next((r for r in store if r.get("internal_transport") and r["services"] & SMTP), None)
        if chosen is None:
            enabled = [r for r in store if r["services"] & bit]
            chosen = max(enabled, key=lambda r: r.get("sequence", 0)) if enabled else None
        return _pem_pair(chosen) if chosen is not None else None


def connector_certificate(org, server: str, fqdn: str | None = None, tls_certificate_name_value: str | None = None) -> tuple[bytes, bytes] | None:
    """The certificate Exchange transport presents for STARTTLS on a receive connector of ``server``.

    A connector's ``TlsCertificateName`` (``<I>issuer<S>subject``) picks the newest valid certificate with that
    issuer and subject; otherwise the newest valid SMTP-enabled certificate whose names cover the connector's
    ``Fqdn``; otherwise the default SMTP certificate (:func:`enabled_certificate` with ``'SMTP'``). Same return
    form as :func:`enabled_certificate`.
    """
    now = dt.datetime.now(dt.timezone.utc)
    with org.lock:
        store = [r for r in _usable(org, server) if _load(r).not_valid_before_utc <= now <= _load(r).not_valid_after_utc]
        if tls_certificate_name_value:
            wanted = str(tls_certificate_name_value).casefold()
            named = [r for r in store if tls_certificate_name(r).casefold() == wanted]
            if named:
                return _pem_pair(max(named, key=lambda r: r.get("sequence", 0)))
        if fqdn:
            covering = [r for r in store if r["services"] & SMTP and any(xu.domain_matches(n, fqdn) for n in xu.certificate_domains(_load(r)))]
            if covering:
                return _pem_pair(max(covering, key=lambda r: r.get("sequence", 0)))
    return enabled_certificate(org, server, "SMTP")


def find_certificate(org, server: str, thumbprint: str) -> dict | None:
    wanted = normalize_thumbprint(thumbprint)
    with org.lock:
        return next((r for r in certificate_store(org, server) if r["thumbprint"] == wanted), None)


def normalize_thumbprint(value: str) -> str:
    """Thumbprints are compared as Windows does: case-insensitive, spaces (as the MMC shows them) ignored."""
    return "".join(str(value).split()).replace("\u200e", "").upper()


# --------------------------------------------------------------------------------------------------------------
# Seeding a fresh server


def seed_certificates(org, server_name: str) -> None:
    """The certificates of a freshly installed Mailbox server (idempotent: a seeded store is left alone).

    - ``Microsoft Exchange``: self-signed, ``CN=<server>``, SANs server name and FQDN, IMAP, POP, IIS, SMTP, the
      internal transport (default SMTP) certificate;
    - ``Microsoft Exchange Server Auth Certificate``: self-signed, SMTP; one per organisation (Exchange copies it
      to every server), so a later server gets the same certificate as the first;
    - ``WMSVC-SHA2`` (2016, 2019) / ``WMSVC`` (2013): the IIS Web Management Service's certificate, no services;
      subject ``CN=WMSvc-SHA2-<server>`` / ``CN=WMSvc-<server>`` as real servers show it (README.md, Fidelity).
    RSA 2048, SHA-256, private keys not exportable.
    """
    with org.lock:
        store = certificate_store(org, server_name)
        if store:
            return
        name = org.state["servers"][_server_key(org, server_name)].get("name", server_name)
        fqdn = org.server_fqdn(name)
        now = dt.datetime.now(dt.timezone.utc)

        key = xu.new_key(2048)
        subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)])
        cert = xu.make_self_signed(key, subject, [name, fqdn], years=SELF_SIGNED_YEARS, now=now)
        record = _new_record(cert, key, friendly_name=DEFAULT_FRIENDLY_NAME, services=IMAP | POP | IIS | SMTP,
                             exportable=False, store=store)
        record["internal_transport"] = True
        store.append(record)

        auth = _existing_auth_certificate(org, server_name)
        if auth is None:
            key = xu.new_key(2048)
            subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, AUTH_CERTIFICATE_NAME)])
            cert = xu.make_self_signed(key, subject, [], years=SELF_SIGNED_YEARS, now=now, server_auth=False)
            auth = _new_record(cert, key, friendly_name=AUTH_CERTIFICATE_NAME, services=SMTP, exportable=False, store=store)
        else:
            auth = dict(auth, chain=list(auth.get("chain", [])), internal_transport=False, sequence=_next_sequence(store))
        store.append(auth)

        wmsvc = "WMSVC" if org.version == "2013" else "WMSVC-SHA2"
        key = xu.new_key(2048)
        # IIS names the certificate after the computer: CN=WMSvc-SHA2-MOS-MAIL (Get-ExchangeCertificate on a real
        # server), CN=WMSvc-WIN-K300A9DA9VA (CSS-Exchange's E19 dump, the older naming).
        common_name = ("WMSvc-" if org.version == "2013" else "WMSvc-SHA2-") + name
        subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)])
        cert = xu.make_self_signed(key, subject, [], years=WMSVC_YEARS, now=now)
        store.append(_new_record(cert, key, friendly_name=wmsvc, services=0, exportable=False, store=store))


def _existing_auth_certificate(org, except_server: str) -> dict | None:
    for other in org.state["servers"]:
        if other.casefold() == str(except_server).casefold():
            continue
        for record in org.state["servers"][other].get("certificates", ()):
            if record.get("friendly_name") == AUTH_CERTIFICATE_NAME and not record.get("pending"):
                return record
    return None


# --------------------------------------------------------------------------------------------------------------
# Read-back objects


def _trust_anchors(call: Call | None) -> list[x509.Certificate]:
    try:
        return [call.ctx.lab.ca.certificate]  # type: ignore[union-attr]
    except AttributeError:
        return []


def _x500_object(name: x509.Name) -> PSObject:
    return PSObject(
        ["System.Security.Cryptography.X509Certificates.X500DistinguishedName", "System.Security.Cryptography.AsnEncodedData", "System.Object"],
        {"Name": xu.windows_name(name), "RawData": name.public_bytes()},
        string="System.Security.Cryptography.X509Certificates.X500DistinguishedName",
        methods={"Format": lambda multi_line=False: ("\r\n" if multi_line else ", ").join(xu.windows_name(name).split(", "))},
    )


def certificate_object(org, server: str, record: dict, trust_anchors: Iterable[x509.Certificate] = ()) -> PSObject:
    """The ExchangeCertificate object Get/New/Import-ExchangeCertificate write on the server (an X509Certificate2
    with Exchange's properties). What a client receives depends on its shell mode: remoting.py reduces it to
    ``RawData`` for a plain Import-PSSession."""
    cert = _load(record)
    der = base64.b64decode(record["der"])
    pending = bool(record.get("pending"))
    if pending and record.get("request"):
        domains = xu.certificate_domains(x509.load_der_x509_csr(base64.b64decode(record["request"])))
    else:
        domains = xu.certificate_domains(cert)
    status = certificate_status(record, trust_anchors)
    subject = xu.windows_name(cert.subject)
    issuer = xu.windows_name(cert.issuer)
    thumb = record["thumbprint"]
    fqdn = org.server_fqdn(server)
    public_key = cert.public_key()
    try:
        ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest.hex().upper()
    except x509.ExtensionNotFound:
        ski = None
    signature_oid = cert.signature_algorithm_oid
    signature_names = {"1.2.840.113549.1.1.11": "sha256RSA", "1.2.840.113549.1.1.5": "sha1RSA", "1.2.840.113549.1.1.12": "sha384RSA",
                       "1.2.840.113549.1.1.13": "sha512RSA"}
    not_before = xu.ps_datetime(cert.not_valid_before_utc)
    not_after = xu.ps_datetime(cert.not_valid_after_utc)
    has_key = bool(record.get("key"))

    def long_string() -> str:
        return (
            f"[Subject]\r\n  {subject}\r\n\r\n[Issuer]\r\n  {issuer}\r\n\r\n[Serial Number]\r\n  {xu.serial_hex(cert.serial_number)}\r\n\r\n"
            f"[Not Before]\r\n  {not_before.to_string()}\r\n\r\n[Not After]\r\n  {not_after.to_string()}\r\n\r\n[Thumbprint]\r\n  {thumb}\r\n"
        )

    properties = {
        "CertificateDomains": [smtp_domain(d) for d in domains],
        "HasPrivateKey": has_key,
        "IsSelfSigned": _is_self_signed(cert),
        "Issuer": issuer,
        "NotAfter": not_after,
        "NotBefore": not_before,
        "PublicKeySize": getattr(public_key, "key_size", 0),
        "Services": ALLOWED_SERVICES.render(services_text(record.get("services", 0))),
        "Status": CERTIFICATE_STATUS.render(status),
        "PrivateKeyExportable": bool(record.get("exportable")) and has_key,
        "Archived": False,
        "FriendlyName": record.get("friendly_name", ""),
        "IssuerName": _x500_object(cert.issuer),
        "SerialNumber": xu.serial_hex(cert.serial_number),
        "SignatureAlgorithm": PSObject(["System.Security.Cryptography.Oid", "System.Object"],
                                       {"Value": signature_oid.dotted_string, "FriendlyName": signature_names.get(signature_oid.dotted_string, signature_oid.dotted_string)},
                                       string="System.Security.Cryptography.Oid"),
        "SubjectName": _x500_object(cert.subject),
        "Thumbprint": thumb,
        "Version": 3,
        "Subject": subject,
        "Identity": f"{fqdn}\\{thumb}",
        "KeyIdentifier": ski,
        "RawData": der,
    }
    obj = PSObject(
        CERT_TYPE_NAMES,
        properties,
        string=long_string,
        methods={
            "GetRawCertData": lambda: der,
            "GetCertHashString": lambda: thumb,
            "GetSerialNumberString": lambda: xu.serial_hex(cert.serial_number),
            "GetExpirationDateString": lambda: not_after.to_string(),
            "GetEffectiveDateString": lambda: not_before.to_string(),
            "GetNameInfo": lambda _kind=None, _issuer=False: xu.common_name(cert.issuer if _issuer else cert.subject) or "",
        },
    )
    return obj


def _binary_file(data: bytes) -> PSObject:
    return PSObject([BINARY_FILE_TYPE, "System.Object"], {"FileData": data}, string=BINARY_FILE_TYPE)


# --------------------------------------------------------------------------------------------------------------
# Parameter helpers


def _rpc(server: str, text: str) -> str:
    """Certificate tasks run in the target server's Exchange service host; their errors arrive wrapped like this."""
    return f"A special Rpc error occurs on server {server}: {text}"


def _flag(call: Call, name: str) -> bool:
    value = call.get(name)
    if isinstance(value, PSObject):
        value = value.get("IsPresent", True)
    return bool(value) if value is not None else False


def _secret(call: Call, name: str = "Password") -> str | None:
    """A SecureString parameter's text. PowerShell does not turn a plain string into a SecureString."""
    value = call.get(name)
    if value is None:
        return None
    if isinstance(value, SecureString):
        return value.secret
    if isinstance(value, PSObject) and isinstance(getattr(value, "secret", None), str):
        return value.secret  # type: ignore[attr-defined]
    kind = "System.String" if isinstance(value, str) else (value.type_name if isinstance(value, PSObject) else type(value).__name__)
    shown = value.to_string() if isinstance(value, PSObject) else str(value)
    raise parameter_binding(
        call.name,
        f'Cannot bind parameter \'{name}\'. Cannot convert the "{shown}" value of type "{kind}" to type "System.Security.SecureString".',
        f"CannotConvertArgument,Microsoft.Exchange.Management.SystemConfigurationTasks.{call.name.replace('-', '')}",
    )


def _bytes(call: Call, name: str) -> bytes:
    value = call.get(name)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value):
        return bytes(value)
    if isinstance(value, list) and value and all(isinstance(v, (bytes, bytearray)) for v in value):
        return b"".join(value)  # pipeline input delivered as a list of one byte[]
    shown = value.to_string() if isinstance(value, PSObject) else str(value)
    raise parameter_binding(
        call.name,
        f'Cannot bind parameter \'{name}\'. Cannot convert value "{shown}" to type "System.Byte". Error: "Input string was not in a correct format."',
        f"CannotConvertArgumentNoMessage,Microsoft.Exchange.Management.SystemConfigurationTasks.{call.name.replace('-', '')}",
    )


def parse_services(call: Call, value: Any) -> int:
    """``-Services`` as the contract layer hands it (canonical text, a PSEnum, a number, a list) -> flags."""
    if isinstance(value, PSEnum) and value.type_name == ALLOWED_SERVICES.full_name:
        return int(value.value)
    try:
        return ALLOWED_SERVICES.number(ALLOWED_SERVICES.parse(value))
    except Exception as error:  # ConversionError from the enum parser
        reason = getattr(error, "reason", str(error))
        shown = ",".join(str(v) for v in value) if isinstance(value, list) else (value.to_string() if isinstance(value, PSObject) else str(value))
        raise parameter_binding(
            call.name,
            f'Cannot bind parameter \'Services\'. Cannot convert value "{shown}" to type "{ALLOWED_SERVICES.full_name}". Error: "{reason}"',
            f"CannotConvertArgumentNoMessage,Microsoft.Exchange.Management.SystemConfigurationTasks.{call.name.replace('-', '')}",
        ) from error


def _domain_list(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else [value]
    result: list[str] = []
    for item in items:
        if isinstance(item, PSObject):
            text = item.get("Address") or item.to_string()
        else:
            text = str(item)
        for part in text.split(","):  # a MultiValuedProperty written as one comma-separated string
            part = part.strip()
            if part:
                result.append(part)
    return result


def _dedupe(names: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        if name.casefold() not in seen:
            seen.add(name.casefold())
            out.append(name)
    return out


def _resolve_server(call: Call, value: Any = None) -> str:
    if value is None:
        return call.org.server(call.server)["name"] if hasattr(call.org, "server") else call.server
    if hasattr(call.org, "resolve_server"):
        return call.org.resolve_server(call, value)
    text = value.to_string() if isinstance(value, PSObject) else str(value)
    for name in call.org.server_names():
        if text.casefold() in (name.casefold(), call.org.server_fqdn(name).casefold()):
            return name
    raise exchange_error(call, f"The operation couldn't be performed because object '{text}' couldn't be found on 'DC01.{call.org.domain}'.", "NotFound", target=text)


def _server_of_identity(call: Call, text: str) -> str:
    for name in call.org.server_names():
        if text.casefold() in (name.casefold(), call.org.server_fqdn(name).casefold()):
            return name
    raise exchange_error(call, f"The operation couldn't be performed because object '{text}' couldn't be found on "
                               f"'{getattr(call.org, 'domain_controller', 'DC01.' + call.org.domain)}'.", "NotFound", target=text)


def _thumbprint_of(value: Any) -> str:
    if isinstance(value, PSObject):
        inner = value.get("Thumbprint")
        if inner is not None:
            return str(inner)
        value = value.to_string()
    text = str(value)
    # A certificate object bound to a String parameter arrives as X509Certificate2.ToString(); its thumbprint is
    # the value PowerShell binds by property name (ValueFromPipelineByPropertyName), so take it from there.
    if text.startswith("[Subject]") and "[Thumbprint]" in text:
        return text.split("[Thumbprint]", 1)[1].split()[0]
    return text


def _object_target(call: Call, value: PSObject) -> tuple[str, str] | None:
    """An ExchangeCertificate object (from the pipeline): its Identity ``FQDN\\THUMBPRINT`` names server and certificate."""
    identity = value.get("Identity")
    thumb = value.get("Thumbprint")
    if identity is not None and "\\" in str(identity) and thumb is not None:
        return _server_of_identity(call, str(identity).rpartition("\\")[0]), normalize_thumbprint(thumb)
    return None


def _targets(call: Call) -> list[tuple[str, str]]:
    """(server, thumbprint) pairs named by -Identity (``SERVER\\THUMBPRINT`` or a thumbprint), -Thumbprint (one, a
    list, or certificate objects from the pipeline) with -Server, or -Instance."""
    targets: list[tuple[str, str]] = []
    if call.has("Identity") and call.get("Identity") is not None:
        values = call.get("Identity")
        for value in values if isinstance(values, list) else [values]:
            if isinstance(value, PSObject) and (found := _object_target(call, value)) is not None:
                targets.append(found)
                continue
            text = str(value.get("Identity") or value.to_string()) if isinstance(value, PSObject) else str(value)
            if "\\" in text:
                server_part, _, thumb = text.rpartition("\\")
                targets.append((_server_of_identity(call, server_part), normalize_thumbprint(thumb)))
            else:
                targets.append((_resolve_server(call), normalize_thumbprint(text)))
        return targets
    server = _resolve_server(call, call.get("Server"))
    for name in ("Thumbprint", "Instance"):
        if call.has(name) and call.get(name) is not None:
            values = call.get(name)
            for value in values if isinstance(values, list) else [values]:
                found = _object_target(call, value) if isinstance(value, PSObject) and not call.has("Server") else None
                targets.append(found or (server, normalize_thumbprint(_thumbprint_of(value))))
    return targets


def _find(call: Call, server: str, thumb: str) -> dict:
    record = find_certificate(call.org, server, thumb)
    if record is None:
        raise exchange_error(call, _rpc(server, f"The certificate with thumbprint {thumb} was not found."), "NotFound", target=thumb)
    return record


def _confirm_prompt_fails(call: Call, query: str) -> PSError:
    """Exchange's ShouldContinue prompt in the lab's host: a WinRM PowerShell cannot ask, so the prompt fails with
    PowerShell's HostException (the same wording as the contract layer's ShouldProcess confirmations)."""
    return PSError(
        "A command that prompts the user failed because the host program or the command type does not support user "
        f"interaction. The host was attempting to request confirmation with the following message: {query}",
        error_id="HostFunctionNotImplemented,Microsoft.Exchange.Management.SystemConfigurationTasks." + call.name.replace("-", ""),
        category="NotImplemented",
        exception_type="System.Management.Automation.Host.HostException",
        command=call.name,
        terminating=True,
    )


def _accepted_domain_names(org) -> list[str]:
    """The organisation's accepted domains (read from the organisation engineer's state, whichever shape it has)."""
    domains = org.state.get("accepted_domains", org.state.get("AcceptedDomains", []))
    if isinstance(domains, dict):
        domains = list(domains.values())
    names: list[str] = []
    for entry in domains:
        if isinstance(entry, str):
            names.append(entry)
        elif isinstance(entry, dict):
            props = entry.get("props") if isinstance(entry.get("props"), dict) else entry
            for key in ("DomainName", "domain_name", "domain"):
                if props.get(key):
                    names.append(str(props[key]))
                    break
    return [n for n in names if not n.startswith("*")]


# --------------------------------------------------------------------------------------------------------------
# Cmdlets


@cmdlet("Get-ExchangeCertificate")
def get_exchange_certificate(call: Call) -> list:
    anchors = _trust_anchors(call)
    domains = _domain_list(call.get("DomainName"))
    with call.org.lock:
        targets = _targets(call)
        if targets:
            found = [(server, _find(call, server, thumb)) for server, thumb in targets]
        else:
            server = _resolve_server(call, call.get("Server"))
            found = [(server, r) for r in certificate_store(call.org, server)]
        if domains:
            def covers(server: str, record: dict) -> bool:
                if record.get("pending") and record.get("request"):
                    names = xu.certificate_domains(x509.load_der_x509_csr(base64.b64decode(record["request"])))
                else:
                    names = xu.certificate_domains(_load(record))
                return any(xu.domain_matches(n, d) for n in names for d in domains)

            found = [(s, r) for s, r in found if covers(s, r)]
        return [certificate_object(call.org, server, record, anchors) for server, record in found]


@cmdlet("New-ExchangeCertificate")
def new_exchange_certificate(call: Call) -> list:
    org = call.org
    generate = _flag(call, "GenerateRequest")
    if call.has("RequestFile") and org.version != "2013":
        # Removed from 2016/2019 by the 2022 H1 CUs: the cmdlet no longer has the parameter.
        raise parameter_binding(call.name, "A parameter cannot be found that matches parameter name 'RequestFile'.",
                                "NamedParameterNotFound,Microsoft.Exchange.Management.SystemConfigurationTasks.NewExchangeCertificate")
    if not generate and (call.has("RequestFile") or _flag(call, "BinaryEncoded")):
        name = "RequestFile" if call.has("RequestFile") else "BinaryEncoded"
        raise exchange_error(call, f"The {name} parameter can be used only with the GenerateRequest switch.", "Invalid")
    if generate and call.has("Services"):
        raise parameter_binding(call.name, "Parameter set cannot be resolved using the specified named parameters.",
                                "AmbiguousParameterSet,Microsoft.Exchange.Management.SystemConfigurationTasks.NewExchangeCertificate")

    with org.lock:
        server = _resolve_server(call, call.get("Server"))
        server_name = org.server(server)["name"] if hasattr(org, "server") else server
        fqdn = org.server_fqdn(server)
        store = certificate_store(org, server)

        # Renewal: Get-ExchangeCertificate ... | New-ExchangeCertificate takes the old certificate's settings.
        base: dict | None = None
        instance = call.get("Instance")
        if isinstance(instance, list):
            instance = instance[0] if instance else None
        if instance is not None:
            base = _find(call, server, normalize_thumbprint(_thumbprint_of(instance)))
        base_cert = _load(base) if base is not None else None

        key_size = call.get("KeySize")
        if key_size is None:
            key_size = getattr(base_cert.public_key(), "key_size", 2048) if base_cert is not None else 2048
        try:
            key_size = int(key_size)
        except (TypeError, ValueError):
            key_size = -1
        if key_size not in VALID_KEY_SIZES:
            raise exchange_error(call, f"The key size {call.get('KeySize')} isn't valid. The key size must be 1024, 2048, or 4096 bits.", "Invalid", target=call.get("KeySize"))

        friendly = call.get("FriendlyName")
        if friendly is None:
            friendly = base["friendly_name"] if base is not None else DEFAULT_FRIENDLY_NAME
        friendly = str(friendly)
        if len(friendly) >= 64:
            raise exchange_error(call, "The friendly name must be less than 64 characters.", "Invalid", target=friendly)

        subject_value = call.get("SubjectName")
        if subject_value is None:
            subject = base_cert.subject if base_cert is not None else x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, server_name)])
        elif isinstance(subject_value, x509.Name):
            subject = subject_value
        else:
            text = subject_value.get("Name") if isinstance(subject_value, PSObject) and subject_value.get("Name") else (
                subject_value.to_string() if isinstance(subject_value, PSObject) else str(subject_value))
            try:
                subject = xu.parse_x500(text)
            except xu.X500Error as error:
                raise parameter_binding(
                    call.name,
                    f"Cannot process argument transformation on parameter 'SubjectName'. Cannot convert value \"{text}\" to type "
                    f"\"System.Security.Cryptography.X509Certificates.X500DistinguishedName\". Error: \"{xu.INVALID_X500}\"",
                    "ParameterArgumentTransformationError,Microsoft.Exchange.Management.SystemConfigurationTasks.NewExchangeCertificate",
                ) from error

        given = _domain_list(call.get("DomainName"))
        includes = [n for n in ("IncludeAcceptedDomains", "IncludeAutoDiscover", "IncludeServerFQDN", "IncludeServerNetBIOSName") if _flag(call, n)]
        domains: list[str] = list(given)
        if base_cert is not None and not given and not includes:
            domains = xu.certificate_domains(base_cert)
        elif not given and not includes:
            domains = [server_name, fqdn]
        accepted = _accepted_domain_names(org)
        if "IncludeAcceptedDomains" in includes:
            domains += accepted
        if "IncludeAutoDiscover" in includes:
            domains += [f"autodiscover.{d}" for d in accepted]
        if "IncludeServerFQDN" in includes:
            domains.append(fqdn)
        if "IncludeServerNetBIOSName" in includes:
            domains.append(server_name)
        cn = xu.common_name(subject)
        if cn:
            domains.append(cn)  # the subject's CN is always among the domains
        domains = _dedupe(domains)
        for domain in domains:
            if not xu.valid_domain_name(domain):
                raise exchange_error(call, f"The domain name '{domain}' isn't valid. A domain name can contain the characters a-z, 0-9 and "
                                           "hyphens (-), optionally '*.' in front, and can't be longer than 255 characters.", "Invalid", target=domain)

        exportable = call.get("PrivateKeyExportable")
        exportable = bool(exportable) if exportable is not None else False

        ski = call.get("SubjectKeyIdentifier")
        if ski is not None:
            try:
                ski_bytes = bytes.fromhex(str(ski).replace("-", ""))
            except ValueError:
                raise exchange_error(call, f"The subject key identifier '{ski}' isn't valid. Specify a hexadecimal string.", "Invalid", target=ski) from None
        else:
            ski_bytes = None

        action = (f"Generate a certificate request for subject '{xu.windows_name(subject)}'" if generate
                  else f"Create a self-signed certificate for subject '{xu.windows_name(subject)}'") + f" on server {server_name}."
        if not should_process(call, action):
            return []

        key = xu.new_key(key_size)
        if generate:
            csr = xu.make_csr(key, subject, domains)
            # CertEnroll keeps the request with a dummy self-signed certificate in the REQUEST store: it has a
            # thumbprint, and Get-ExchangeCertificate lists it with Status PendingRequest.
            dummy = xu.make_self_signed(key, subject, domains, years=1)
            record = _new_record(dummy, key, friendly_name=friendly, services=0, exportable=exportable, store=store, pending_request=csr)
            if call.has("RequestFile"):
                # 2013 writes the text to this server-side path as well; the lab keeps the path, not a file.
                record["request_file"] = str(call.get("RequestFile"))
            store.append(record)
            if _flag(call, "BinaryEncoded"):
                return [_binary_file(csr.public_bytes(serialization.Encoding.DER))]
            return [xu.request_text(csr)]

        # A new self-signed certificate.
        if call.has("Services") and call.get("Services") is not None:
            services = parse_services(call, call.get("Services"))
        elif base is not None:
            services = base.get("services", 0)
        elif "IncludeAcceptedDomains" in includes or "IncludeAutoDiscover" in includes:
            services = SMTP
        else:
            services = IMAP | POP | SMTP
        _refuse_um(call, services)
        cert = xu.make_self_signed(key, subject, domains, years=SELF_SIGNED_YEARS)
        if ski_bytes is not None:
            cert = _with_ski(cert, key, subject, domains, ski_bytes)
        record = _new_record(cert, key, friendly_name=friendly, services=0, exportable=exportable, store=store)
        _enable(call, server, store, record, services, force=_flag(call, "Force"))
        store.append(record)
        return [certificate_object(org, server, record, _trust_anchors(call))]


def _with_ski(cert: x509.Certificate, key, subject: x509.Name, domains: list[str], ski: bytes) -> x509.Certificate:
    from cryptography.hazmat.primitives import hashes

    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(cert.serial_number)
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
    )
    for extension in cert.extensions:
        if isinstance(extension.value, x509.SubjectKeyIdentifier):
            builder = builder.add_extension(x509.SubjectKeyIdentifier(ski), critical=False)
        else:
            builder = builder.add_extension(extension.value, critical=extension.critical)
    return builder.sign(key, hashes.SHA256())


def _refuse_um(call: Call, services: int) -> None:
    if services & (UM | UM_CALL_ROUTER):
        if call.org.version == "2019":
            raise exchange_error(call, "The UM and UMCallRouter services don't exist in this version of Exchange. A certificate can't be enabled for them.", "Invalid")
        service = "UM" if services & UM else "UMCallRouter"
        cmd = "Set-UMService" if service == "UM" else "Set-UMCallRouterService"
        raise exchange_error(
            call,
            f"The certificate can't be enabled for the {service} service because the UMStartupMode parameter of {cmd} is set to TCP. "
            "Set UMStartupMode to TLS or Dual first.",
            "InvalidOperation",
        )


def _enable(call: Call, server: str, store: list[dict], record: dict, services: int, *, force: bool) -> None:
    """Add ``services`` to a certificate (additive, as Exchange): IIS moves the Default Web Site binding here; SMTP
    replaces the default SMTP certificate, after the prompt that only ``-Force`` answers in the lab."""
    if services & SMTP:
        current = next((r for r in store if r.get("internal_transport") and r is not record and r["thumbprint"] != record["thumbprint"]), None)
        if current is not None and not force:
            old_after = xu.ps_datetime(_load(current).not_valid_after_utc).to_string()
            new_after = xu.ps_datetime(_load(record).not_valid_after_utc).to_string()
            raise _confirm_prompt_fails(
                call,
                "Overwrite the existing default SMTP certificate?\r\n\r\n"
                f"Current certificate: '{current['thumbprint']}'\r\n(expires {old_after})\r\n"
                f"Replace it with certificate: '{record['thumbprint']}'\r\n(expires {new_after})",
            )
        for other in store:
            other["internal_transport"] = False
        record["internal_transport"] = True
    if services & IIS:
        for other in store:
            if other is not record and other["thumbprint"] != record["thumbprint"]:
                other["services"] = other.get("services", 0) & ~IIS
    record["services"] = record.get("services", 0) | services


@cmdlet("Import-ExchangeCertificate")
def import_exchange_certificate(call: Call) -> list:
    org = call.org
    if call.has("FileName"):
        if org.version != "2013":
            # Removed from 2016/2019 by the 2022 H1 CUs: the cmdlet no longer has the parameter.
            raise parameter_binding(call.name, "A parameter cannot be found that matches parameter name 'FileName'.",
                                    "NamedParameterNotFound,Microsoft.Exchange.Management.SystemConfigurationTasks.ImportExchangeCertificate")
        path = str(call.get("FileName"))
        try:
            with open(path, "rb") as handle:  # a path on the server itself: the lab host stands in for it
                data = handle.read()
        except OSError:
            server = _resolve_server(call, call.get("Server"))
            raise exchange_error(call, _rpc(server, f"Could not find file '{path}'."), "Certificate", target=path) from None
    elif call.has("FileData"):
        data = _bytes(call, "FileData")
    else:
        instance = call.get("Instance")
        text = "\r\n".join(str(v) for v in instance) if isinstance(instance, list) else str(instance or "")
        data = text.encode("ascii", "replace")
    password = _secret(call)

    with org.lock:
        server = _resolve_server(call, call.get("Server"))
        store = certificate_store(org, server)
        try:
            parsed = xu.read_certificate_file(data, password)
        except xu.WrongPassword:
            raise exchange_error(call, _rpc(server, "The specified network password is not correct."), "Certificate") from None
        except xu.NotACertificate:
            raise exchange_error(call, _rpc(server, "Cannot find the requested object."), "Certificate") from None
        leaf = parsed.certificates[0]
        der = leaf.public_bytes(serialization.Encoding.DER)
        thumb = xu.thumbprint(der)
        existing = next((r for r in store if r["thumbprint"] == thumb and not r.get("pending")), None)
        if existing is not None:
            raise exchange_error(call, _rpc(server, f"The certificate with thumbprint {thumb} already exists in the certificate store."),
                                 "Duplicate", target=thumb)

        key = parsed.key
        pending = None
        if key is None:
            leaf_public = xu.public_key_der(leaf)
            pending = next((r for r in store if r.get("pending") and xu.public_key_der(xu.load_key(r["key"])) == leaf_public), None)
            if pending is not None:
                key = xu.load_key(pending["key"])
        elif xu.public_key_der(key) != xu.public_key_der(leaf):
            raise exchange_error(call, _rpc(server, "The private key in the file doesn't match the certificate."), "Certificate")

        friendly = call.get("FriendlyName")
        if friendly is not None and len(str(friendly)) >= 64:
            raise exchange_error(call, "The friendly name must be less than 64 characters.", "Invalid", target=friendly)
        if friendly is None:
            friendly = parsed.friendly_name or (pending["friendly_name"] if pending is not None else "")
        exportable = call.get("PrivateKeyExportable")
        if exportable is None:
            exportable = pending["exportable"] if pending is not None else False

        if not should_process(call, f"Import certificate with thumbprint {thumb} on server {server}."):
            return []
        record = _new_record(leaf, key, friendly_name=str(friendly), services=0, exportable=bool(exportable), store=store,
                             chain=parsed.certificates[1:])
        if pending is not None:
            store.remove(pending)  # the request is completed: the dummy certificate leaves the REQUEST store
        store.append(record)
        return [certificate_object(org, server, record, _trust_anchors(call))]


@cmdlet("Enable-ExchangeCertificate")
def enable_exchange_certificate(call: Call) -> list:
    services = parse_services(call, call.get("Services"))
    _refuse_um(call, services)
    now = dt.datetime.now(dt.timezone.utc)
    with call.org.lock:
        targets = _targets(call)
        if not targets:
            raise parameter_binding(call.name, "Cannot process command because of one or more missing mandatory parameters: Thumbprint.",
                                    "MissingMandatoryParameter,Microsoft.Exchange.Management.SystemConfigurationTasks.EnableExchangeCertificate")
        for server, thumb in targets:
            record = _find(call, server, thumb)
            store = certificate_store(call.org, server)
            if record.get("pending"):
                raise exchange_error(call, _rpc(server, f"The certificate with thumbprint {thumb} is a pending certificate request. "
                                                        "Complete the request with Import-ExchangeCertificate before you enable it for services."),
                                     "Certificate", target=thumb)
            if not record.get("key"):
                raise exchange_error(call, _rpc(server, f"The certificate with thumbprint {thumb} doesn't have a private key. "
                                                        "It can't be enabled for Exchange services."), "Certificate", target=thumb)
            cert = _load(record)
            if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
                raise exchange_error(call, _rpc(server, f"The certificate with thumbprint {thumb} has expired or isn't valid yet. "
                                                        "It can't be enabled for Exchange services."), "Certificate", target=thumb)
            if not should_process(call, f"Enable certificate with thumbprint {thumb} for services '{services_text(services)}'."):
                continue
            _enable(call, server, store, record, services, force=_flag(call, "Force"))
    return []


@cmdlet("Remove-ExchangeCertificate")
def remove_exchange_certificate(call: Call) -> list:
    with call.org.lock:
        targets = _targets(call)
        if not targets:
            raise parameter_binding(call.name, "Cannot process command because of one or more missing mandatory parameters: Thumbprint.",
                                    "MissingMandatoryParameter,Microsoft.Exchange.Management.SystemConfigurationTasks.RemoveExchangeCertificate")
        for server, thumb in targets:
            record = _find(call, server, thumb)
            # ConfirmImpact High: PowerShell asks before removing (the lab's host cannot answer) unless -Confirm:$false.
            if not should_process(call, f"Remove certificate with thumbprint {thumb} from the computer's certificate store?"):
                continue
            if record.get("internal_transport"):
                raise exchange_error(
                    call,
                    _rpc(server, "The internal transport certificate cannot be removed because that would cause the Microsoft Exchange "
                                 "Transport service to stop. To replace the internal transport certificate, create a new certificate. The new "
                                 "certificate will automatically become the internal transport certificate. You can then remove the existing certificate."),
                    "InvalidOperation",
                    target=thumb,
                )
            if not record.get("pending"):
                tagged = _send_connectors_tagging(call.org, server, record)
                if tagged:
                    raise exchange_error(
                        call,
                        _rpc(server, f"These certificates are tagged with following Send Connectors : {', '.join(tagged)}. Removing and replacing "
                                     "certificates from Send Connector would break the mail flow. If you still want to proceed then replace or "
                                     "remove these certificates from Send Connector and then try this command."),
                        "InvalidOperation",
                        target=thumb,
                    )
            certificate_store(call.org, server).remove(record)
    return []


def _send_connectors_tagging(org, server: str, record: dict) -> list[str]:
    """Send connectors whose TlsCertificateName names this certificate and that use this server as a source."""
    name = tls_certificate_name(record).casefold()
    connectors = org.state.get("send_connectors", [])
    if isinstance(connectors, dict):
        connectors = list(connectors.values())
    tagged = []
    for connector in connectors:
        if not isinstance(connector, dict):
            continue
        props = connector.get("props") if isinstance(connector.get("props"), dict) else {}
        connector = {**connector, **props}
        value = next((connector[k] for k in connector if k.casefold() in ("tlscertificatename", "tls_certificate_name")), None)
        if not value or str(value).casefold() != name:
            continue
        sources = next((connector[k] for k in connector if k.casefold() in ("sourcetransportservers", "source_transport_servers")), None)
        if sources and not any(str(s).casefold() == server.casefold() for s in sources):
            continue
        tagged.append(str(connector.get("name") or connector.get("Name") or "?"))
    return tagged


@cmdlet("Export-ExchangeCertificate")
def export_exchange_certificate(call: Call) -> list:
    org = call.org
    if call.has("FileName") and org.version != "2013":
        raise parameter_binding(call.name, "A parameter cannot be found that matches parameter name 'FileName'.",
                                "NamedParameterNotFound,Microsoft.Exchange.Management.SystemConfigurationTasks.ExportExchangeCertificate")
    password = _secret(call)
    binary = _flag(call, "BinaryEncoded")
    results: list = []
    with org.lock:
        targets = _targets(call)
        if not targets:
            raise parameter_binding(call.name, "Cannot process command because of one or more missing mandatory parameters: Thumbprint.",
                                    "MissingMandatoryParameter,Microsoft.Exchange.Management.SystemConfigurationTasks.ExportExchangeCertificate")
        for server, thumb in targets:
            record = _find(call, server, thumb)
            if not should_process(call, f"Export certificate with thumbprint {thumb}."):
                continue
            if record.get("pending"):
                csr = x509.load_der_x509_csr(base64.b64decode(record["request"]))
                results.append(_binary_file(csr.public_bytes(serialization.Encoding.DER)) if binary else xu.request_text(csr))
                continue
            cert = _load(record)
            if record.get("key"):
                if not record.get("exportable"):
                    raise exchange_error(call, _rpc(server, "The private key couldn't be exported as PKCS-12. It either couldn't be accessed or isn't exportable."),
                                         "Certificate", target=thumb)
                pfx = xu.make_pfx(cert, xu.load_key(record["key"]), password, record.get("friendly_name"), _chain(record))
                results.append(_binary_file(pfx) if binary else _wrap64(base64.b64encode(pfx).decode("ascii")))
            else:
                der = cert.public_bytes(serialization.Encoding.DER)
                results.append(_binary_file(der) if binary else xu.certificate_text(der))
    # -FileName (2013) names a path on the server; the lab returns the data and writes no file.
    return results


def _wrap64(text: str) -> str:
    return "\r\n".join(text[i : i + 64] for i in range(0, len(text), 64)) + "\r\n"


__all__ = [
    "ALLOWED_SERVICES",
    "CERTIFICATE_STATUS",
    "certificate_object",
    "certificate_status",
    "certificate_store",
    "connector_certificate",
    "enabled_certificate",
    "find_certificate",
    "normalize_thumbprint",
    "seed_certificates",
    "services_text",
    "tls_certificate_name",
]
