"""Exchange value types: parsing what a parameter receives and rendering what a cmdlet returns.

State keeps plain JSON values (strings, numbers, lists); these functions turn parameter values into that plain
form (raising :class:`ConversionError` with the reason .NET would give) and turn the plain form into the objects
Exchange returns (``System.Uri``, ``Hostname``, ``Fqdn``, ``ADObjectId``, enums, sizes, address spaces, ...).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ..psvalues import Hashtable, PSEnum, PSObject


class ConversionError(Exception):
    """A value that cannot become the parameter's type; ``reason`` is the inner .NET message."""

    def __init__(self, reason: str, transformation: bool = False):
        super().__init__(reason)
        self.reason = reason
        # PowerShell reports Exchange's own argument transformations as "Cannot process argument transformation";
        # plain .NET conversions (Int32, Uri, enums) as "Cannot bind parameter".
        self.transformation = transformation


# .NET type names as PowerShell prints them in binding errors.
DOTNET_NAMES = {
    "String": "System.String",
    "String[]": "System.String[]",
    "Boolean": "System.Boolean",
    "Int32": "System.Int32",
    "Int64": "System.Int64",
    "UInt32": "System.UInt32",
    "Uri": "System.Uri",
    "Guid": "System.Guid",
    "DateTime": "System.DateTime",
    "IPAddress": "System.Net.IPAddress",
    "Fqdn": "Microsoft.Exchange.Data.Fqdn",
    "Hostname": "Microsoft.Exchange.Data.Hostname",
    "Unlimited": "Microsoft.Exchange.Data.Unlimited",
    "ByteQuantifiedSize": "Microsoft.Exchange.Data.ByteQuantifiedSize",
    "EnhancedTimeSpan": "Microsoft.Exchange.Data.EnhancedTimeSpan",
    "MultiValuedProperty": "Microsoft.Exchange.Data.MultiValuedProperty",
    "SmtpDomain": "Microsoft.Exchange.Data.SmtpDomain",
    "SmtpDomainWithSubdomains": "Microsoft.Exchange.Data.SmtpDomainWithSubdomains",
    "SmtpAddress": "Microsoft.Exchange.Data.SmtpAddress",
    "SmtpX509Identifier": "Microsoft.Exchange.Data.SmtpX509Identifier",
    "ProxyAddressTemplateCollection": "Microsoft.Exchange.Data.ProxyAddressTemplateCollection",
    "ProxyAddress": "Microsoft.Exchange.Data.ProxyAddress",
    "ProxyAddressCollection": "Microsoft.Exchange.Data.ProxyAddressCollection",
    "EmailAddressPolicyPriority": "Microsoft.Exchange.Data.Directory.SystemConfiguration.EmailAddressPolicyPriority",
    "PSCredential": "System.Management.Automation.PSCredential",
    "SecureString": "System.Security.SecureString",
    "Byte[]": "System.Byte[]",
}


def dotnet_name(type_name: str) -> str:
    if type_name in DOTNET_NAMES:
        return DOTNET_NAMES[type_name]
    if type_name in ENUMS:
        return ENUMS[type_name].full_name
    if type_name.endswith("IdParameter") or type_name.endswith("IdParameter[]"):
        return "Microsoft.Exchange.Configuration.Tasks." + type_name
    return "Microsoft.Exchange.Data." + type_name


# --- enums -------------------------------------------------------------------------------------------------------


class EnumType:
    """A .NET enum: names in declaration order with their numbers; ``flags`` enums combine names with commas."""

    def __init__(self, full_name: str, members: dict[str, int], flags: bool = False):
        self.full_name = full_name
        self.members = members
        self.flags = flags
        self._folded = {name.casefold(): name for name in members}

    def parse(self, value: Any) -> str:
        """The canonical name (flags: comma-separated names in declaration order) for a written value."""
        if isinstance(value, PSEnum):
            value = value.name
        if isinstance(value, (list, tuple)) and self.flags:
            parts = [self.parse(item) for item in value]
            return self._combine(", ".join(parts).split(", "))
        if isinstance(value, bool) or value is None:
            raise ConversionError(self._error(value))
        if isinstance(value, int):
            for name, number in self.members.items():
                if number == value:
                    return name
            raise ConversionError(self._error(value))
        text = value.to_string() if isinstance(value, PSObject) else str(value)
        if text.strip().lstrip("-").isdigit():
            return self.parse(int(text.strip()))  # PowerShell converts "2" like 2
        names = [part.strip() for part in text.split(",")] if self.flags else [text.strip()]
        canonical = []
        for name in names:
            if name.casefold() not in self._folded:
                raise ConversionError(self._error(name))
            canonical.append(self._folded[name.casefold()])
        return self._combine(canonical) if self.flags else canonical[0]

    def _combine(self, names: list[str]) -> str:
        chosen = {n for n in names if n}
        ordered = [n for n in self.members if n in chosen]
        non_zero = [n for n in ordered if self.members[n] != 0]
        return ", ".join(non_zero or ordered)

    def number(self, canonical: str) -> int:
        total = 0
        for name in canonical.split(", "):
            total |= self.members[name]
        return total

    def _error(self, written: Any) -> str:
        shown = "" if written is None else written
        return (
            f'Unable to match the identifier name {shown} to a valid enumerator name. '
            f'Specify one of the following enumerator names and try again: {", ".join(self.members)}'
        )

    def render(self, canonical: str) -> PSEnum:
        return PSEnum(self.full_name, canonical, self.number(canonical))


_SC = "Microsoft.Exchange.Data.Directory.SystemConfiguration."
ENUMS: dict[str, EnumType] = {
    "AcceptedDomainType": EnumType(_SC + "AcceptedDomainType", {"Authoritative": 0, "ExternalRelay": 1, "InternalRelay": 2}),
    # Send connectors take Custom/Internal/Internet/Partner; receive connectors also Client (both one .NET type).
    "UsageType": EnumType(_SC + "UsageType", {"Custom": 0, "Internet": 1, "Internal": 2, "Client": 3, "Partner": 4}),
    "AuthMechanisms": EnumType(
        "Microsoft.Exchange.Data.AuthMechanisms",
        {"None": 0, "Tls": 1, "Integrated": 2, "BasicAuth": 4, "BasicAuthRequireTLS": 8, "ExchangeServer": 16, "ExternalAuthoritative": 32},
        flags=True,
    ),
    "PermissionGroups": EnumType(
        "Microsoft.Exchange.Data.PermissionGroups",
        {"None": 0, "AnonymousUsers": 1, "ExchangeUsers": 2, "ExchangeServers": 4, "ExchangeLegacyServers": 8, "Partners": 16, "Custom": 32},
        flags=True,
    ),
    "ServerRole": EnumType(
        "Microsoft.Exchange.Data.ServerRole",
        {"None": 0, "Cafe": 1, "Mailbox": 2, "ClientAccess": 4, "UnifiedMessaging": 16, "HubTransport": 32, "Edge": 64,
         "All": 16503, "FrontendTransport": 16384},
        flags=True,
    ),
    "AuthenticationMethod": EnumType(
        "Microsoft.Exchange.Data.Directory.SystemConfiguration.AuthenticationMethod",
        {"Basic": 0, "Digest": 1, "Ntlm": 2, "Fba": 3, "WindowsIntegrated": 4, "LiveIdFba": 5, "LiveIdBasic": 6,
         "WSSecurity": 7, "Certificate": 8, "NegoEx": 9, "OAuth": 10, "Adfs": 11, "Kerberos": 12, "Negotiate": 13,
         "LiveIdNegotiate": 14, "Misconfigured": 1000},
    ),
    "ExtendedProtectionTokenCheckingMode": EnumType(
        "Microsoft.Exchange.Data.Directory.SystemConfiguration.ExtendedProtectionTokenCheckingMode", {"None": 0, "Allow": 1, "Require": 2}),
    "ExtendedProtectionPolicySetting": EnumType("Microsoft.Exchange.Data.ExtendedProtectionPolicySetting", {"None": 0, "Allow": 1, "Require": 2}),
    "ProtocolLoggingLevel": EnumType("Microsoft.Exchange.Data.ProtocolLoggingLevel", {"None": 0, "Verbose": 1}),
    "TlsAuthLevel": EnumType("Microsoft.Exchange.Data.TlsAuthLevel", {"EncryptionOnly": 1, "CertificateValidation": 2, "DomainValidation": 4}),
    "SizeMode": EnumType("Microsoft.Exchange.Data.SizeMode", {"Enabled": 0, "Disabled": 1, "EnabledWithoutValue": 2}),
    "ErrorPolicies": EnumType("Microsoft.Exchange.Data.ErrorPolicies", {"Default": 0, "DowngradeDnsFailures": 1, "DowngradeCustomFailures": 2, "UpgradeCustomFailures": 4}, flags=True),
    "GzipLevel": EnumType("Microsoft.Exchange.Data.Directory.SystemConfiguration.GzipLevel", {"Off": 0, "Low": 1, "High": 2, "Error": 3}),
    "VirtualDirectoryRole": EnumType("Microsoft.Exchange.Data.Directory.SystemConfiguration.VirtualDirectoryRole", {"ClientAccess": 1, "Mailbox": 2}),
    "MessageRateSourceFlags": EnumType("Microsoft.Exchange.Data.MessageRateSourceFlags", {"None": 0, "IPAddress": 1, "User": 2, "All": 3}),
    "WellKnownRecipientType": EnumType(
        "Microsoft.Exchange.Data.Directory.Recipient.WellKnownRecipientType",
        {"None": 0, "MailboxUsers": 1, "Resources": 2, "MailContacts": 4, "MailGroups": 8, "MailUsers": 16, "AllRecipients": -1},
    ),
    "TenantConnectorType": EnumType("Microsoft.Exchange.Data.TenantConnectorType", {"Default": 0, "XPremises": 1}),
}


def enum_value(type_name: str, canonical: str) -> PSEnum:
    return ENUMS[type_name].render(canonical)


# --- scalar conversions ----------------------------------------------------------------------------------------


def to_text(value: Any) -> str:
    if isinstance(value, PSObject):
        return value.to_string()
    if isinstance(value, bool):
        return "True" if value else "False"
    return "" if value is None else str(value)


def to_boolean(value: Any) -> bool:
    """PowerShell's rule for [bool] parameters: Booleans and numbers only."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    type_name = value.type_name if isinstance(value, PSObject) else _ps_type_name(value)
    raise ConversionError(
        f'Cannot convert value "{type_name}" to type "System.Boolean". Boolean parameters accept only Boolean values '
        "and numbers, such as $True, $False, 1 or 0.",
        transformation=True,
    )


def _ps_type_name(value: Any) -> str:
    return {str: "System.String", int: "System.Int32", float: "System.Double", list: "System.Object[]",
            bytes: "System.Byte[]", Hashtable: "System.Collections.Hashtable"}.get(type(value), "System.Object")


def to_int(value: Any, bits: int = 32) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        limit = 2 ** (bits - 1)
        if not -limit <= value < limit:
            raise ConversionError("Value was either too large or too small for an Int%d." % bits)
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = to_text(value).strip()
    if re.fullmatch(r"[+-]?\d+", text):
        return to_int(int(text), bits)
    raise ConversionError("Input string was not in a correct format.")


_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


def parse_fqdn(value: Any) -> str:
    text = to_text(value).strip()
    labels = text.rstrip(".").split(".")
    if not text or len(text) > 255 or not all(_LABEL.match(label) for label in labels):
        raise ConversionError(f'"{text}" isn\'t a valid FQDN.', transformation=True)
    return text


def parse_hostname(value: Any) -> str:
    text = to_text(value).strip()
    if not text:
        return ""
    try:
        ipaddress.ip_address(text)
        return text
    except ValueError:
        pass
    labels = text.rstrip(".").split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise ConversionError(f'"{text}" isn\'t a valid host name.', transformation=True)
    return text


def parse_uri(value: Any) -> str:
    """An absolute URI, as ``new System.Uri(string)`` accepts it (relative ones are refused)."""
    if isinstance(value, PSObject) and "System.Uri" in {t.removeprefix("Deserialized.") for t in value.type_names}:
        return value.get("OriginalString") or value.to_string()
    text = to_text(value)
    stripped = text.strip()
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):(.*)$", stripped)
    if not stripped:
        raise ConversionError("Invalid URI: The URI is empty.")
    if not match or (match.group(1).lower() in ("http", "https") and not match.group(2).startswith("//")):
        raise ConversionError("Invalid URI: The format of the URI could not be determined.")
    parts = urlsplit(stripped)
    if parts.scheme.lower() in ("http", "https"):
        if not parts.hostname:
            raise ConversionError("Invalid URI: The hostname could not be parsed.")
        try:
            parts.port
        except ValueError:
            raise ConversionError("Invalid URI: Invalid port specified.") from None
        if not all(_LABEL.match(label) for label in parts.hostname.rstrip(".").split(".")) and not _is_ip(parts.hostname):
            raise ConversionError("Invalid URI: The hostname could not be parsed.")
    return stripped


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
        return True
    except ValueError:
        return False


def parse_smtp_domain(value: Any, with_subdomains: bool) -> str:
    text = to_text(value).strip()
    body = text[2:] if with_subdomains and text.startswith("*.") else text
    if text == "*" and with_subdomains:
        return text
    labels = body.split(".")
    if not body or not all(_LABEL.match(label) for label in labels):
        raise ConversionError(f'"{text}" isn\'t a valid SMTP domain.', transformation=True)
    return text.lower()


def parse_smtp_address(value: Any) -> str:
    text = to_text(value).strip()
    if not re.fullmatch(r"[^@\s]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+", text):
        raise ConversionError(f'"{text}" isn\'t a valid SMTP address.', transformation=True)
    return text


UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def parse_size(value: Any, unlimited: bool) -> int | str:
    """ByteQuantifiedSize (``35MB``, ``36700160``, ``35 MB (36,700,160 bytes)``); ``Unlimited`` where allowed."""
    if isinstance(value, bool):
        raise ConversionError(f'Cannot convert value "{value}" to a size.', transformation=True)
    if isinstance(value, int):
        return value
    text = to_text(value).strip()
    if unlimited and text.casefold() == "unlimited":
        return "Unlimited"
    match = re.fullmatch(r"([\d.]+)\s*(B|KB|MB|GB|TB)?(\s*\(([\d,]+) bytes\))?", text, re.IGNORECASE)
    if not match:
        raise ConversionError(
            f'The value "{text}" isn\'t valid. Valid input is a number followed by an optional unit (B, KB, MB, GB, TB)'
            + (' or "Unlimited".' if unlimited else "."), transformation=True)
    if match.group(4):
        return int(match.group(4).replace(",", ""))
    return int(float(match.group(1)) * UNITS[(match.group(2) or "B").upper()])


def parse_unlimited_int(value: Any) -> int | str:
    if not isinstance(value, (int, bool)) and to_text(value).strip().casefold() == "unlimited":
        return "Unlimited"
    try:
        return to_int(value)
    except ConversionError as error:
        raise ConversionError(error.reason, transformation=True) from None


def parse_timespan(value: Any) -> str:
    text = to_text(value).strip()
    if not re.fullmatch(r"(\d+\.)?\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?", text):
        raise ConversionError(f'The value "{text}" isn\'t a valid time span (format d.hh:mm:ss).', transformation=True)
    return text


def parse_ip_address(value: Any) -> str:
    text = to_text(value).strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ConversionError("An invalid IP address was specified.") from None


def parse_binding(value: Any) -> str:
    """IPBinding ``address:port`` (``0.0.0.0:25``, ``[::]:587``, ``10.0.0.5:2525``)."""
    text = to_text(value).strip()
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)|([0-9.]+):(\d+)", text)
    if not match:
        raise ConversionError(f'"{text}" isn\'t a valid IP binding. Use the format <IP address>:<port>.', transformation=True)
    address, port = (match.group(1), match.group(2)) if match.group(1) else (match.group(3), match.group(4))
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ConversionError(f'"{text}" isn\'t a valid IP binding. Use the format <IP address>:<port>.', transformation=True) from None
    if not 0 < int(port) < 65536:
        raise ConversionError(f'The port number in "{text}" must be between 1 and 65535.', transformation=True)
    return f"[{ip.compressed}]:{int(port)}" if ip.version == 6 else f"{ip}:{int(port)}"


def parse_ip_range(value: Any) -> str:
    """IPRange: one address, ``low-high`` or CIDR, kept in the form written (Exchange prints it so)."""
    text = to_text(value).strip()
    try:
        if "/" in text:
            ipaddress.ip_network(text, strict=False)
            return text
        if "-" in text:
            low, high = (ipaddress.ip_address(part.strip()) for part in text.split("-", 1))
            if low.version != high.version or int(low) > int(high):
                raise ValueError
            return f"{low}-{high}"
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ConversionError(f'"{text}" isn\'t a valid IP range.', transformation=True) from None


def parse_address_space(value: Any) -> str:
    """Send connector address space, canonical ``TYPE:address;cost`` (``*`` → ``SMTP:*;1``)."""
    text = to_text(value).strip()
    match = re.fullmatch(r"(?:([A-Za-z0-9]+):)?([^;]+?)(?:;(\d+))?", text)
    if not match:
        raise ConversionError(f'"{text}" isn\'t a valid address space.', transformation=True)
    kind = (match.group(1) or "SMTP").upper()
    address = match.group(2).strip()
    cost = int(match.group(3) or 1)
    if not 1 <= cost <= 100:
        raise ConversionError(f"The address space cost {cost} is out of range (1-100).", transformation=True)
    if kind == "SMTP" and address != "*":
        body = address[2:] if address.startswith("*.") else address.lstrip(".")
        if not all(_LABEL.match(label) for label in body.split(".")):
            raise ConversionError(f'"{address}" isn\'t a valid SMTP address space.', transformation=True)
        address = address.lower()
    return f"{kind}:{address};{cost}"


def parse_smart_host(value: Any) -> str:
    text = to_text(value).strip().strip("[]")
    if _is_ip(text):
        return f"[{text}]"
    return parse_fqdn(text)


def parse_proxy_template(value: Any) -> str:
    """A proxy address template: ``SMTP:@contoso.com`` (primary), ``smtp:%g.%s@contoso.com``; no prefix = primary SMTP."""
    text = to_text(value).strip()
    prefix, sep, body = text.partition(":")
    if not sep:
        prefix, body = "SMTP", text
    if prefix.casefold() == "smtp":
        if "@" not in body or not body.split("@")[-1]:
            raise ConversionError(f'"{text}" isn\'t a valid SMTP address template.', transformation=True)
        domain = body.rsplit("@", 1)[1]
        if not all(_LABEL.match(label) for label in domain.split(".")):
            raise ConversionError(f'"{text}" isn\'t a valid SMTP address template.', transformation=True)
        return f"{prefix}:{body}"
    if not prefix or not body:
        raise ConversionError(f'"{text}" isn\'t a valid proxy address template.', transformation=True)
    return f"{prefix}:{body}"


def parse_tls_certificate_name(value: Any) -> str:
    text = to_text(value).strip()
    match = re.fullmatch(r"<I>(.+)<S>(.+)", text, re.DOTALL)
    if not match:
        raise ConversionError(
            f'The value "{text}" isn\'t valid for a TLS certificate name. Use the format "<I>issuer<S>subject".',
            transformation=True,
        )
    return text


# --- rendering ----------------------------------------------------------------------------------------------------

_OBJ = "System.Object"


def uri(text: str | None) -> PSObject | None:
    """``System.Uri`` as PowerShell shows it: canonical ``AbsoluteUri``/``ToString``, ``OriginalString`` as given."""
    if not text:
        return None
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    default_port = {"http": 80, "https": 443}.get(scheme)
    port = parts.port or default_port or -1
    authority = host if parts.port in (None, default_port) else f"{host}:{parts.port}"
    path = parts.path or "/"
    absolute = f"{scheme}://{authority}{path}" + (f"?{parts.query}" if parts.query else "") + (f"#{parts.fragment}" if parts.fragment else "")
    return PSObject(
        ["System.Uri", _OBJ],
        {
            "AbsolutePath": path,
            "AbsoluteUri": absolute,
            "LocalPath": path,
            "Authority": authority,
            "HostNameType": "Dns",
            "IsDefaultPort": parts.port in (None, default_port),
            "IsFile": False,
            "IsLoopback": host in ("localhost", "127.0.0.1"),
            "PathAndQuery": path + (f"?{parts.query}" if parts.query else ""),
            "Segments": _segments(path),
            "IsUnc": False,
            "Host": host,
            "Port": port,
            "Query": f"?{parts.query}" if parts.query else "",
            "Fragment": f"#{parts.fragment}" if parts.fragment else "",
            "Scheme": scheme,
            "OriginalString": text,
            "DnsSafeHost": host,
            "IdnHost": host,
            "IsAbsoluteUri": True,
            "UserEscaped": False,
            "UserInfo": "",
        },
        string=absolute,
    )


def _segments(path: str) -> list[str]:
    pieces = path.split("/")
    return ["/"] + [p + "/" for p in pieces[1:-1]] + ([pieces[-1]] if pieces[-1] else []) if path != "/" else ["/"]


def hostname(text: str | None) -> PSObject | None:
    if not text:
        return None
    return PSObject(["Microsoft.Exchange.Data.Hostname", _OBJ], {"IsIPAddress": _is_ip(text), "Address": None if not _is_ip(text) else text, "HostnameString": text}, string=text)


def fqdn(text: str | None) -> PSObject | None:
    if not text:
        return None
    return PSObject(["Microsoft.Exchange.Data.Fqdn", _OBJ], {"Domain": text}, string=text)


def smtp_domain(text: str, with_subdomains: bool = True) -> PSObject:
    include = text.startswith("*.") or text == "*"
    domain = text[2:] if text.startswith("*.") else text
    kind = "Microsoft.Exchange.Data.SmtpDomainWithSubdomains" if with_subdomains else "Microsoft.Exchange.Data.SmtpDomain"
    return PSObject([kind, _OBJ], {"IncludeSubDomains": include, "IsStar": text == "*", "Address": text, "Domain": domain, "SmtpDomain": domain}, string=text)


def smtp_address(text: str) -> PSObject:
    local, _, domain = text.partition("@")
    return PSObject(["Microsoft.Exchange.Data.SmtpAddress", "System.ValueType", _OBJ],
                    {"Local": local, "Domain": domain, "Length": len(text), "IsUtf8": False, "IsValidAddress": True, "Address": text}, string=text)


def proxy_address(text: str) -> PSObject:
    prefix, _, address = text.partition(":")
    return PSObject(["Microsoft.Exchange.Data.SmtpProxyAddress", "Microsoft.Exchange.Data.ProxyAddress", "Microsoft.Exchange.Data.ProxyAddressBase", _OBJ],
                    {"SmtpAddress": address, "AddressString": address, "ProxyAddressString": text, "Prefix": prefix.upper(),
                     "IsPrimaryAddress": prefix == "SMTP", "PrefixString": prefix}, string=text)


def proxy_template(text: str) -> PSObject:
    prefix, _, body = text.partition(":")
    return PSObject(["Microsoft.Exchange.Data.SmtpProxyAddressTemplate", "Microsoft.Exchange.Data.ProxyAddressTemplate", "Microsoft.Exchange.Data.ProxyAddressBase", _OBJ],
                    {"AddressTemplateString": body, "ProxyAddressTemplateString": text, "Prefix": prefix.upper(),
                     "IsPrimaryAddress": prefix == "SMTP", "PrefixString": prefix}, string=text)


def address_space(text: str) -> PSObject:
    kind, _, rest = text.partition(":")
    address, _, cost = rest.rpartition(";")
    domain = address[2:] if address.startswith("*.") else address
    return PSObject(["Microsoft.Exchange.Data.AddressSpace", _OBJ],
                    {"Type": kind, "Cost": int(cost), "Address": address, "IncludeSubDomains": address.startswith("*"),
                     "IsSmtpType": kind == "SMTP", "Domain": smtp_domain(address) if kind == "SMTP" else None,
                     "IsLocal": False, "DomainWithSubdomains": domain}, string=text)


def ip_binding(text: str) -> PSObject:
    address, _, port = text.rpartition(":")
    family = "InterNetworkV6" if address.startswith("[") else "InterNetwork"
    return PSObject(["Microsoft.Exchange.Data.IPBinding", "System.Net.IPEndPoint", _OBJ],
                    {"AddressFamily": family, "Address": address.strip("[]"), "Port": int(port)}, string=text)


def ip_range(text: str) -> PSObject:
    if "/" in text:
        network = ipaddress.ip_network(text, strict=False)
        low, high, form = str(network.network_address), str(network.broadcast_address), "CIDR"
    elif "-" in text:
        low, high = text.split("-", 1)
        form = "LowerAndUpperBound"
    else:
        low = high = text
        form = "SingleAddress"
    return PSObject(["Microsoft.Exchange.Data.IPRange", _OBJ],
                    {"LowerBound": low, "UpperBound": high, "RangeFormat": form, "Size": None}, string=text)


def size(value: int | str | None, unlimited: bool) -> PSObject | None:
    if value is None:
        return None
    if value == "Unlimited":
        return PSObject(["Microsoft.Exchange.Data.Unlimited`1[[Microsoft.Exchange.Data.ByteQuantifiedSize]]", "System.ValueType", _OBJ],
                        {"IsUnlimited": True, "Value": None}, string="Unlimited")
    quantity = byte_size(int(value))
    if not unlimited:
        return quantity
    return PSObject(["Microsoft.Exchange.Data.Unlimited`1[[Microsoft.Exchange.Data.ByteQuantifiedSize]]", "System.ValueType", _OBJ],
                    {"IsUnlimited": False, "Value": quantity}, string=quantity.to_string())


def format_size(count: int) -> str:
    unit = "B"
    for name in ("TB", "GB", "MB", "KB"):
        if count >= UNITS[name]:
            unit = name
            break
    amount = f"{count / UNITS[unit]:.3f}".rstrip("0").rstrip(".")
    return f"{amount} {unit} ({count:,} bytes)"


def byte_size(count: int) -> PSObject:
    methods: dict[str, Callable[..., Any]] = {"ToBytes": lambda: count, "ToKB": lambda: count // 1024, "ToMB": lambda: count // 1024**2,
                                              "ToGB": lambda: count // 1024**3, "ToTB": lambda: count // 1024**4}
    return PSObject(["Microsoft.Exchange.Data.ByteQuantifiedSize", "System.ValueType", _OBJ], {}, string=format_size(count), methods=methods)


def unlimited_int(value: int | str | None) -> PSObject | None:
    if value is None:
        return None
    text = "Unlimited" if value == "Unlimited" else str(value)
    return PSObject(["Microsoft.Exchange.Data.Unlimited`1[[System.Int32]]", "System.ValueType", _OBJ],
                    {"IsUnlimited": value == "Unlimited", "Value": None if value == "Unlimited" else value}, string=text)


def tls_certificate_name(text: str | None) -> PSObject | None:
    if not text:
        return None
    match = re.fullmatch(r"<I>(.+)<S>(.+)", text, re.DOTALL)
    return PSObject(["Microsoft.Exchange.Data.SmtpX509Identifier", _OBJ],
                    {"CertificateIssuer": match.group(1) if match else None, "CertificateSubject": match.group(2) if match else None,
                     "SubjectCommonName": None}, string=text)


def server_version(text: str) -> PSObject:
    match = re.fullmatch(r"Version (\d+)\.(\d+) \(Build (\d+)\.(\d+)\)", text)
    major, minor, build, revision = (int(g) for g in match.groups()) if match else (0, 0, 0, 0)
    return PSObject(["Microsoft.Exchange.Data.ServerVersion", _OBJ],
                    {"Major": major, "Minor": minor, "Build": build, "Revision": revision,
                     "FilePatchLevelDescription": ""}, string=text)


def timespan(text: str | None) -> PSObject | None:
    if text is None:
        return None
    return PSObject(["Microsoft.Exchange.Data.EnhancedTimeSpan", "System.ValueType", _OBJ], {}, string=text)
