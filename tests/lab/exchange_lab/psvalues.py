"""The values that flow through the lab's PowerShell: one model shared by the interpreter and Exchange.

Python types stand for PowerShell types:

=====================  ==========================================================
PowerShell             Python
=====================  ==========================================================
``$null``              ``None``
``[string]``           ``str``
``[int]``/``[long]``   ``int``
``[double]``           ``float``
``[bool]``             ``bool``
``[object[]]``         ``list``
``[byte[]]``           ``bytes``
``[hashtable]``        :class:`Hashtable` (ordered, case-insensitive keys)
any other object       :class:`PSObject` (type names, case-insensitive properties,
                       methods, a string form and a JSON form)
an enum value          :class:`PSEnum` (``ToString()`` is the name; ``ConvertTo-Json``
                       writes the number, as Windows PowerShell 5.1 does)
a deserialized enum    :class:`DeserializedEnum` (an enum received through a plain
                       ``Import-PSSession``: prints as the name, equals only its number)
=====================  ==========================================================

Exchange objects (connectors, virtual directories, ...) are :class:`PSObject` instances whose
property values are themselves values of this model: URLs are ``System.Uri`` objects, host names
``Microsoft.Exchange.Data.Hostname`` objects, address spaces objects whose string form is
``SMTP:*;1``, identities ``ADObjectId`` objects, enums :class:`PSEnum`. Code reading them must flatten
them on the server side (``.AbsoluteUri``, ``.HostnameString``, ``.ToString()``) exactly as it must
against a real Exchange server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, MutableMapping
from typing import Any


class CaseInsensitiveDict(MutableMapping):
    """An insertion-ordered mapping whose string keys compare case-insensitively, keeping their first spelling."""

    def __init__(self, items: Iterable[tuple[Any, Any]] | dict | None = None):
        self._data: dict[Any, tuple[Any, Any]] = {}
        if items is not None:
            for key, value in (items.items() if hasattr(items, "items") else items):
                self[key] = value

    @staticmethod
    def _fold(key: Any) -> Any:
        return key.casefold() if isinstance(key, str) else key

    def __getitem__(self, key: Any) -> Any:
        return self._data[self._fold(key)][1]

    def __setitem__(self, key: Any, value: Any) -> None:
        folded = self._fold(key)
        original = self._data[folded][0] if folded in self._data else key
        self._data[folded] = (original, value)

    def __delitem__(self, key: Any) -> None:
        del self._data[self._fold(key)]

    def __iter__(self) -> Iterator[Any]:
        return (original for original, _ in self._data.values())

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self.items())!r})"


class Hashtable(CaseInsensitiveDict):
    """``@{...}``: a PowerShell hashtable (ordered here; PowerShell's own is unordered unless ``[ordered]``)."""


class PSObject:
    """Any non-primitive PowerShell object.

    ``type_names`` is PowerShell's ``PSTypeNames`` (most derived first). ``properties`` map names to values of this
    model. ``methods`` map method names (case-insensitive) to Python callables taking the evaluated arguments.
    ``string`` is what ``ToString()``, ``[string]`` casts and string expansion give. ``json`` overrides what
    ``ConvertTo-Json`` writes for this object (by default its properties, to the requested depth).
    """

    def __init__(
        self,
        type_names: str | list[str],
        properties: dict | Iterable[tuple[str, Any]] | None = None,
        *,
        string: str | Callable[[], str] | None = None,
        methods: dict[str, Callable[..., Any]] | None = None,
        json: Callable[[], Any] | None = None,
    ):
        self.type_names = [type_names] if isinstance(type_names, str) else list(type_names)
        self.properties = CaseInsensitiveDict(properties or {})
        self.methods = CaseInsensitiveDict(methods or {})
        self._string = string
        self._json = json

    @property
    def type_name(self) -> str:
        return self.type_names[0]

    def to_string(self) -> str:
        if callable(self._string):
            return self._string()
        if self._string is not None:
            return self._string
        return self.type_name

    def has_json_override(self) -> bool:
        return self._json is not None

    def json_value(self) -> Any:
        return self._json() if self._json is not None else None

    def get(self, name: str, default: Any = None) -> Any:
        return self.properties.get(name, default)

    def __repr__(self) -> str:
        return f"PSObject({self.type_name!r}, {self.to_string()!r})"


class PSEnum(PSObject):
    """An enum value: prints as its name, converts to JSON as its number (Windows PowerShell 5.1 behaviour)."""

    def __init__(self, type_name: str, name: str, value: int):
        super().__init__([type_name, "System.Enum", "System.ValueType", "System.Object"], string=name)
        self.name = name
        self.value = value
        self._json = lambda: self.value

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PSEnum):
            return self.type_name == other.type_name and self.value == other.value
        if isinstance(other, str):
            return self.name.casefold() == other.casefold()
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.type_name, self.value))


class DeserializedEnum(PSObject):
    """An enum value that crossed a remoting boundary to a client without its type (MS-PSRP 2.2.5.2.7).

    The serializer writes the enum's type names, its ``ToString()`` (the name) and its number; a client that cannot
    load the type gets the number wrapped in an object whose type names start with ``Deserialized.``. So its string
    form is the name (``[string]``, ``"$x"``, ``.ToString()``), it equals its number, but ``-eq 'Name'`` is False:
    PowerShell compares with the wrapped Int32 and a name does not convert to one. ``ConvertTo-Json`` writes the
    number.
    """

    def __init__(self, type_names: list[str], name: str, value: int):
        super().__init__(["Deserialized." + t if not t.startswith("Deserialized.") else t for t in type_names], string=name)
        self.name = name
        self.value = value
        self._json = lambda: self.value

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DeserializedEnum):
            return self.value == other.value
        if isinstance(other, (int, float)) and not isinstance(other, bool):
            return self.value == other
        return False

    def __hash__(self) -> int:
        return hash(("DeserializedEnum", self.value))


def deserialized(obj: PSObject) -> PSObject:
    """Mark an object as having crossed a remoting boundary (``Deserialized.<type>``), as Import-PSSession gives."""
    if not obj.type_names[0].startswith("Deserialized."):
        obj.type_names = ["Deserialized." + name for name in obj.type_names]
    return obj


class SecureString(PSObject):
    """``System.Security.SecureString``: prints as its type name, never as its text; ``secret`` holds the plain text."""

    def __init__(self, secret: str):
        super().__init__(["System.Security.SecureString", "System.Object"], string="System.Security.SecureString")
        self.secret = secret
        self._json = lambda: {"Length": len(self.secret)}


class PSCredential(PSObject):
    """``System.Management.Automation.PSCredential`` (``UserName`` and a SecureString ``Password``)."""

    def __init__(self, user_name: str, password: SecureString):
        super().__init__(
            ["System.Management.Automation.PSCredential", "System.Object"],
            {"UserName": user_name, "Password": password},
            string="System.Management.Automation.PSCredential",
            methods={"GetNetworkCredential": lambda: PSObject("System.Net.NetworkCredential", {"UserName": user_name, "Password": password.secret, "Domain": ""})},
        )

    @property
    def user_name(self) -> str:
        return self.properties["UserName"]

    @property
    def password(self) -> str:
        return self.properties["Password"].secret
