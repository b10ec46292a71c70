"""Exchange objects as the client receives them, per way of loading the Exchange shell (``ctx.exchange_mode``).

``snapin``
    The cmdlets run in the client's own process: live objects, nested values with their members and methods.

``remote_exchange_script``
    The Exchange Management Shell's own loading (``RemoteExchange.ps1`` + ``Connect-ExchangeServer``). The objects
    cross PowerShell remoting, but the client has Exchange's assemblies and type data, so each object is rebuilt
    from the ``SerializationData`` Exchange attaches to it: the real EMS dumps (CSS-Exchange HealthChecker test data,
    ``tests/lab/tests/fixtures/css_exchange/``) show no ``Deserialized.`` prefix and nested values with their own
    type names and properties. What remoting adds shows too: every object carries the note properties
    ``PSComputerName`` (the server's FQDN), ``RunspaceId`` and ``PSShowComputerName`` (False).

``remote_session``
    A plain ``New-PSSession -ConfigurationName Microsoft.Exchange`` + ``Import-PSSession``: the client has no
    Exchange types, so it gets property bags (type names prefixed ``Deserialized.``, the string form kept, no
    methods) and, inside them:

    - values of the types PowerShell's serializer carries as themselves (MS-PSRP 2.2.5.1: strings, numbers,
      Booleans, ``System.DateTime``, ``System.TimeSpan``, ``System.Guid``, ``System.Uri``, ``System.Version``,
      byte arrays) stay as they are;
    - values of Exchange's types (ADObjectId, Fqdn, Hostname, SmtpDomain, ProxyAddress(Template), SmtpAddress,
      IPBinding, IPRange, AddressSpace, SmartHost, ByteQuantifiedSize/Unlimited, SmtpX509Identifier, ServerVersion,
      EnhancedTimeSpan, ...) arrive as their string form, and so do the elements of multi-valued properties:
      ``SourceTransportServers[0]`` is the string ``EX01`` (``.Name`` is ``$null``), ``AddressSpaces[0]`` the string
      ``SMTP:*;1``, ``MaxMessageSize.ToBytes()`` fails (Shay Levy, "Get Full Control over your Exchange remote
      PowerShell session", 2011: ``$db.DatabaseSize.ToBytes()`` -> "Method invocation failed because
      [System.String] doesn't contain a method named 'ToBytes'"; blog.rykoma.net/2017/04/01/1091: the elements
      of ``ModerateMessageByUser`` are ``String`` in remote PowerShell);
    - enum values (Exchange's as well) arrive as MS-PSRP 2.2.5.2.7 writes them, type names + ToString + number:
      :class:`~exchange_lab.psvalues.DeserializedEnum`, whose string form is the name but which equals only its
      number (no source shows Exchange turning enums into strings, so the lab keeps the harsher, standard form);
    - other nested objects become property bags of their primitive properties (serialization depth 1);
    - an X509Certificate2-derived object (``ExchangeCertificate``) keeps only ``RawData`` (and its string form):
      ``Thumbprint``, ``Status``, ``Services``, ``FriendlyName``, ``HasPrivateKey``, ``NotAfter``... are ``$null``
      (CSS-Exchange ``Shared/CertificateFunctions/ConvertTo-ExchangeCertificate.ps1``: "if ($null -eq
      $cert.Thumbprint) { # Certificate isn't properly loaded likely due to deserialization";
      ``Import-ExchangeCertificateFromRawData.ps1``: "only RawData (byte[]) will be returned"; CSS-Exchange PR #572;
      MicrosoftDocs/office-docs-powershell #3493, #4651, #5256; and the real ``GetExchangeCertificate.xml`` dumps,
      whose only property is ``RawData``).
"""

from __future__ import annotations

import uuid
import weakref
from typing import Any

from ..psvalues import DeserializedEnum, Hashtable, PSEnum, PSObject

REMOTE_MODES = ("remote_session", "remote_exchange_script")

# MS-PSRP 2.2.5.1 primitive types that the lab represents as PSObject (the others are Python values already).
PRIMITIVE_OBJECT_TYPES = frozenset({"System.Uri", "System.Guid", "System.Version", "System.DateTime", "System.TimeSpan"})
X509_CERTIFICATE2 = "System.Security.Cryptography.X509Certificates.X509Certificate2"
EXCHANGE_NAMESPACE = "Microsoft.Exchange."
REMOTING_NOTES = ("PSComputerName", "RunspaceId", "PSShowComputerName")

_runspace_ids: "weakref.WeakKeyDictionary[Any, str]" = weakref.WeakKeyDictionary()


def runspace_id(session: Any) -> str:
    """The remote runspace's id, the same for every object one session receives."""
    if session is None:
        return str(uuid.UUID(int=0))
    try:
        return _runspace_ids.setdefault(session, str(uuid.uuid4()))
    except TypeError:  # not weak-referenceable
        return str(uuid.uuid5(uuid.NAMESPACE_OID, str(id(session))))


def receive(values: list, ctx: Any, computer: str) -> list:
    """What the client of ``ctx.exchange_mode`` gets for the objects a cmdlet wrote on ``computer`` (its FQDN)."""
    mode = getattr(ctx, "exchange_mode", None)
    if mode not in REMOTE_MODES:
        return values
    session = getattr(ctx, "session", None)
    computer = computer.lower()
    notes = {"PSComputerName": computer, "RunspaceId": runspace_id(session), "PSShowComputerName": False}
    if mode == "remote_exchange_script":
        return [ems_object(value, notes) for value in values]
    return [plain_session_object(value, notes) for value in values]


# --- remote_exchange_script ----------------------------------------------------------------------------------------


def ems_object(value: Any, notes: dict[str, Any] | None = None) -> Any:
    """The object rebuilt with Exchange's types: the live object plus remoting's note properties."""
    if not isinstance(value, PSObject) or isinstance(value, PSEnum) or value.type_name in PRIMITIVE_OBJECT_TYPES:
        return value
    copy = _copy(value, value.type_names, dict(value.properties.items()), keep_methods=True)
    for key, item in (notes or {}).items():
        copy.properties[key] = item
    return copy


# --- remote_session ------------------------------------------------------------------------------------------------


def plain_session_object(value: Any, notes: dict[str, Any] | None = None) -> Any:
    """A top-level object received through a plain Import-PSSession."""
    if isinstance(value, list):
        return [plain_session_object(item, notes) for item in value]
    if not isinstance(value, PSObject):
        return value
    if isinstance(value, (PSEnum, DeserializedEnum)) or value.type_name in PRIMITIVE_OBJECT_TYPES:
        return nested_value(value, 0)
    if value.type_name.startswith("Deserialized."):
        return value
    if X509_CERTIFICATE2 in value.type_names:
        properties: dict[str, Any] = {"RawData": value.properties.get("RawData")}
    else:
        properties = {key: nested_value(item, 1) for key, item in value.properties.items()}
    properties.update(notes or {})
    return _copy(value, _deserialized_names(value.type_names), properties, keep_methods=False)


def nested_value(value: Any, depth: int) -> Any:
    """A property value (or an element of a multi-valued one) as the plain-session client gets it."""
    if value is None or isinstance(value, (str, bool, int, float, bytes, bytearray)):
        return value
    if isinstance(value, list):
        return [nested_value(item, depth) for item in value]
    if isinstance(value, Hashtable):
        return Hashtable((key, nested_value(item, depth + 1)) for key, item in value.items())
    if isinstance(value, DeserializedEnum):
        return value
    if isinstance(value, PSEnum):
        return DeserializedEnum(value.type_names, value.name, value.value)
    if not isinstance(value, PSObject):
        return value
    if value.type_name in PRIMITIVE_OBJECT_TYPES or value.type_name.startswith("Deserialized."):
        return value
    if value.type_name.startswith(EXCHANGE_NAMESPACE):
        return value.to_string()
    if depth >= 1:
        # Past the serialization depth an object is its string form; above it, a bag of its properties.
        properties = {key: (item if item is None or isinstance(item, (str, bool, int, float, bytes)) else _string_of(item))
                      for key, item in value.properties.items()}
        return _copy(value, _deserialized_names(value.type_names), properties, keep_methods=False)
    return _string_of(value)


def _string_of(value: Any) -> Any:
    if isinstance(value, PSObject) and (value.type_name in PRIMITIVE_OBJECT_TYPES or value.type_name.startswith("Deserialized.")):
        return value
    if isinstance(value, PSEnum):
        return DeserializedEnum(value.type_names, value.name, value.value)
    if isinstance(value, PSObject):
        return value.to_string()
    if isinstance(value, list):
        return [_string_of(item) for item in value]
    return value


def _deserialized_names(names: list[str]) -> list[str]:
    return [name if name.startswith("Deserialized.") else "Deserialized." + name for name in names]


def _copy(value: PSObject, type_names: list[str], properties: dict[str, Any], keep_methods: bool) -> PSObject:
    """A new PSObject with ``value``'s string form (and JSON form and methods when asked)."""
    string = value.to_string()
    copy = PSObject(list(type_names), properties, string=string,
                    methods=dict(value.methods.items()) if keep_methods else None)
    if keep_methods and value.has_json_override():
        copy._json = value._json
    return copy
