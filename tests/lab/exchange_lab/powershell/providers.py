"""The ``Cert:`` drive of the Exchange server's own PowerShell: ``Get-ChildItem`` and ``Test-Path`` on the local
machine's Personal (``My``) and Certificate Enrollment Requests (``REQUEST``) stores.

These are Windows features, not Exchange ones: they answer the same whether or not (and however) the Exchange
shell is loaded, and the objects are live ``X509Certificate2`` instances, because they come from the local
machine's stores and never cross a remoting boundary.

What the stores hold is read (under ``org.lock``) from the organisation's certificate records
(``exchange.certificates.certificate_store``):

- ``Cert:\\LocalMachine\\My``: every record that is not a pending request (certificates Exchange created, imported,
  or that came with the server); ``HasPrivateKey`` is true when the record holds a key.
- ``Cert:\\LocalMachine\\REQUEST``: the pending requests made by ``New-ExchangeCertificate -GenerateRequest``: the
  CertEnroll dummy certificate, which carries the request's key (so ``HasPrivateKey`` is true) and the thumbprint
  Get-ExchangeCertificate reports for the request. ``Import-ExchangeCertificate`` of the CA's answer removes it.

Paths: ``Cert:\\LocalMachine\\<store>[\\<thumbprint>]`` or ``Microsoft.PowerShell.Security\\Certificate::LocalMachine\\
<store>[\\<thumbprint>]``, case-insensitive, an optional trailing backslash; the thumbprint matches case-insensitively
(PowerShell's CertificateProvider compares with OrdinalIgnoreCase). A path naming nothing is PowerShell's
ItemNotFoundException (``Cannot find path '<path>' because it does not exist.``, ``PathNotFound``). Anything else on
``Cert:`` (other locations or stores, wildcards, the drive root) and every other provider is an UnsupportedConstruct
naming it.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from cryptography import x509

from ..commands import Argument
from ..errors import PSError, UnsupportedConstruct
from ..psvalues import PSObject
from .builtins import UTILITY, Builtin, P
from .convert import to_string

X509_TYPE_NAMES = [
    "System.Security.Cryptography.X509Certificates.X509Certificate2",
    "System.Security.Cryptography.X509Certificates.X509Certificate",
    "System.Object",
]
PROVIDER = "Microsoft.PowerShell.Security\\Certificate"
STORES = {"my": "My", "request": "REQUEST"}  # the stores the lab models, as their PSPath spells them
_PATH = re.compile(
    r"^(?:cert:|microsoft\.powershell\.security\\certificate::)\\*localmachine\\(?P<store>[^\\]+)(?:\\(?P<item>[^\\]+))?\\?$",
    re.IGNORECASE,
)
_WILDCARD = re.compile(r"[*?\[\]]")


class CertPath:
    """A parsed certificate-provider path: ``store`` (``My`` or ``REQUEST``) and an optional ``item`` (thumbprint)."""

    def __init__(self, text: str, store: str, item: str | None):
        self.text = text
        self.store = store
        self.item = item


def parse_path(text: str, command: str) -> CertPath:
    """The store and item a path names; UnsupportedConstruct for every path the lab does not model."""
    if _WILDCARD.search(text):
        raise UnsupportedConstruct(f"{command} with a wildcard path", text)
    if not re.match(r"^(?:cert:|microsoft\.powershell\.security\\certificate::)", text, re.IGNORECASE):
        raise UnsupportedConstruct(f"{command} outside the Cert: drive", text)
    match = _PATH.match(text.replace("/", "\\"))
    if match is None or match.group("store").lower() not in STORES:
        raise UnsupportedConstruct(f"{command} on a certificate path other than Cert:\\LocalMachine\\My or \\REQUEST", text)
    return CertPath(text, STORES[match.group("store").lower()], match.group("item"))


def store_records(org: Any, server: str, store: str) -> list[dict]:
    """Copies of the certificate records of ``server`` that the store holds, in store order."""
    from ..exchange.certificates import certificate_store

    with org.lock:
        records = [dict(r) for r in certificate_store(org, server)]
    records.sort(key=lambda r: r.get("sequence", 0))
    pending = store == "REQUEST"
    return [r for r in records if bool(r.get("pending")) == pending]


def _x500(name: x509.Name) -> PSObject:
    from ..exchange import x509util as xu

    text = xu.windows_name(name)
    return PSObject(
        ["System.Security.Cryptography.X509Certificates.X500DistinguishedName", "System.Security.Cryptography.AsnEncodedData", "System.Object"],
        {"Name": text, "RawData": name.public_bytes()},
        string="System.Security.Cryptography.X509Certificates.X500DistinguishedName",
    )


_SIGNATURES = {"1.2.840.113549.1.1.11": "sha256RSA", "1.2.840.113549.1.1.5": "sha1RSA", "1.2.840.113549.1.1.12": "sha384RSA",
               "1.2.840.113549.1.1.13": "sha512RSA"}


def certificate_item(record: dict, store: str) -> PSObject:
    """What the Certificate provider writes for one certificate: a live X509Certificate2 with the provider's note
    properties (PSPath, PSParentPath, PSChildName, PSDrive, PSProvider, PSIsContainer) and DnsNameList."""
    from ..exchange import x509util as xu

    der = base64.b64decode(record["der"])
    cert = x509.load_der_x509_certificate(der)
    thumb = xu.thumbprint(der)  # upper-case hex SHA-1 of the DER bytes, whatever the record says
    subject = xu.windows_name(cert.subject)
    issuer = xu.windows_name(cert.issuer)
    serial = xu.serial_hex(cert.serial_number)
    not_before = xu.ps_datetime(cert.not_valid_before_utc)
    not_after = xu.ps_datetime(cert.not_valid_after_utc)
    oid = cert.signature_algorithm_oid.dotted_string
    parent = f"{PROVIDER}::LocalMachine\\{store}"
    dns_names = [PSObject(["System.Management.Automation.DnsNameRepresentation", "System.ValueType", "System.Object"],
                          {"Punycode": name, "Unicode": name}, string=name) for name in xu.certificate_domains(cert)]

    def verbose_string() -> str:
        # X509Certificate2.ToString(): the verbose form of X509Certificate.ToString(true).
        return (f"[Subject]\r\n  {subject}\r\n\r\n[Issuer]\r\n  {issuer}\r\n\r\n[Serial Number]\r\n  {serial}\r\n\r\n"
                f"[Not Before]\r\n  {not_before.to_string()}\r\n\r\n[Not After]\r\n  {not_after.to_string()}\r\n\r\n[Thumbprint]\r\n  {thumb}\r\n")

    properties = {
        "PSPath": f"{parent}\\{thumb}",
        "PSParentPath": parent,
        "PSChildName": thumb,
        "PSDrive": PSObject(["System.Management.Automation.PSDriveInfo", "System.Object"], {"Name": "Cert", "Root": "\\"}, string="Cert"),
        "PSProvider": PSObject(["System.Management.Automation.ProviderInfo", "System.Object"], {"Name": "Certificate"}, string=PROVIDER),
        "PSIsContainer": False,
        "DnsNameList": dns_names,
        "Archived": False,
        "FriendlyName": str(record.get("friendly_name") or ""),
        "IssuerName": _x500(cert.issuer),
        "NotAfter": not_after,
        "NotBefore": not_before,
        "HasPrivateKey": bool(record.get("key")),
        "RawData": der,
        "SerialNumber": serial,
        "SubjectName": _x500(cert.subject),
        "SignatureAlgorithm": PSObject(["System.Security.Cryptography.Oid", "System.Object"],
                                       {"Value": oid, "FriendlyName": _SIGNATURES.get(oid, oid)}, string="System.Security.Cryptography.Oid"),
        "Thumbprint": thumb,
        "Version": cert.version.value + 1,
        "Issuer": issuer,
        "Subject": subject,
    }
    return PSObject(
        X509_TYPE_NAMES,
        properties,
        string=verbose_string,
        methods={
            "GetRawCertData": lambda: der,
            "GetCertHashString": lambda: thumb,
            "GetSerialNumberString": lambda: serial,
            "GetExpirationDateString": lambda: not_after.to_string(),
            "GetEffectiveDateString": lambda: not_before.to_string(),
        },
    )


def _items(ctx: Any, path: CertPath) -> list[PSObject] | None:
    """The items a path names (the store's certificates, or the one certificate), None when it names nothing."""
    records = store_records(ctx.lab.org, ctx.server, path.store)
    if path.item is None:
        return [certificate_item(r, path.store) for r in records]
    wanted = path.item.upper()
    found = [certificate_item(r, path.store) for r in records if r["thumbprint"].upper() == wanted]
    return found[:1] or None


def path_not_found(command: str, cmdlet_class: str, path: str) -> PSError:
    """PowerShell's ItemNotFoundException for a path that does not exist (LocationGlobber: ``PathNotFound``,
    SessionStateStrings.PathNotFound)."""
    return PSError(
        f"Cannot find path '{path}' because it does not exist.",
        error_id=f"PathNotFound,{UTILITY}.{cmdlet_class}",
        category="ObjectNotFound",
        exception_type="System.Management.Automation.ItemNotFoundException",
        command=command,
        target=path,
    )


def _paths(bound_values: dict, command: str) -> list[str]:
    value = bound_values.get("Path", bound_values.get("LiteralPath"))
    items = value if isinstance(value, list) else [value]
    return [to_string(v) for v in items]


# Get-ChildItem's real parameters (FileSystem and Certificate dynamic ones included) so that a misspelt one is
# PowerShell's binding error; the lab evaluates only -Path/-LiteralPath.
_GCI_UNMODELLED = ("Filter", "Include", "Exclude", "Recurse", "Depth", "Force", "Name", "Attributes", "Directory", "File",
                   "Hidden", "ReadOnly", "System", "FollowSymlink", "CodeSigningCert", "DocumentEncryptionCert",
                   "SSLServerAuthentication", "DnsName", "Eku", "ExpiringInDays")


class GetChildItem(Builtin):
    name = "Get-ChildItem"
    params = [P("Path", "String[]", position=0, pipeline=True), P("LiteralPath", "String[]", aliases=("PSPath", "LP")),
              *[P(n, "SwitchParameter" if n in ("Recurse", "Force", "Name", "Directory", "File", "Hidden", "ReadOnly", "System",
                                                 "FollowSymlink", "CodeSigningCert", "DocumentEncryptionCert", "SSLServerAuthentication")
                  else "Object") for n in _GCI_UNMODELLED]]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        bound = self.bind(args, pipeline_input)
        extra = [n for n in _GCI_UNMODELLED if n in bound.values]
        if extra:
            raise UnsupportedConstruct(f"Get-ChildItem -{extra[0]}")
        if "Path" not in bound.values and "LiteralPath" not in bound.values:
            raise UnsupportedConstruct("command Get-ChildItem", "without a path (the current location is not modelled)")
        output: list = []
        for text in _paths(bound.values, self.name):
            path = parse_path(text, self.name)
            items = _items(ctx, path)
            if items is None:
                ctx.write_error(path_not_found(self.name, "GetChildItemCommand", text))
                continue
            output.extend(items)
        return output


class TestPath(Builtin):
    name = "Test-Path"
    params = [P("Path", "String[]", position=0, pipeline=True), P("LiteralPath", "String[]", aliases=("PSPath", "LP")),
              P("PathType"), P("IsValid", "SwitchParameter"), P("Filter"), P("Include"), P("Exclude"), P("Credential"),
              P("OlderThan"), P("NewerThan")]

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        bound = self.bind(args, pipeline_input)
        extra = [n for n in ("PathType", "IsValid", "Filter", "Include", "Exclude", "Credential", "OlderThan", "NewerThan") if n in bound.values]
        if extra:
            raise UnsupportedConstruct(f"Test-Path -{extra[0]}")
        if "Path" not in bound.values and "LiteralPath" not in bound.values:
            raise UnsupportedConstruct("Test-Path without a path")
        return [_items(ctx, parse_path(text, self.name)) is not None for text in _paths(bound.values, self.name)]


__all__ = ["GetChildItem", "TestPath", "certificate_item", "parse_path", "path_not_found", "store_records"]
