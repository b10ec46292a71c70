"""PowerShell's conversions and comparisons over the value model of :mod:`exchange_lab.psvalues`."""

from __future__ import annotations

import math
import re
from typing import Any

from ..errors import PSError
from ..psvalues import CaseInsensitiveDict, Hashtable, PSEnum, PSObject

PSCUSTOMOBJECT = "System.Management.Automation.PSCustomObject"


class ScriptBlock:
    """``{ ... }``: code plus the parsed source it came from; ``text`` is what ``ToString()`` gives."""

    def __init__(self, source: Any, body: Any, text: str, param_block: Any = None):
        self.source = source
        self.body = body  # a statement_list / script_block_body node, or None for an empty block
        self.text = text
        self.param_block = param_block

    def to_string(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"ScriptBlock({self.text!r})"


class ArrayList(list):
    """``System.Collections.ArrayList`` (also ``$Error``): a list whose Add/Remove/Clear work, unlike an array's."""


class TypeRef:
    """A type literal used as a value (``[string]``, ``[System.Convert]``)."""

    def __init__(self, name: str):
        self.name = name

    def to_string(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"TypeRef({self.name!r})"


def new_custom_object(properties: Any) -> PSObject:
    obj = PSObject([PSCUSTOMOBJECT, "System.Object"], properties)
    obj._string = lambda: custom_object_string(obj)
    return obj


def is_custom_object(value: Any) -> bool:
    return isinstance(value, PSObject) and value.type_name.endswith(PSCUSTOMOBJECT) or (
        isinstance(value, PSObject) and value.type_name.startswith("Selected.")
    )


def custom_object_string(obj: PSObject) -> str:
    return "@{" + "; ".join(f"{k}={to_string(v)}" for k, v in obj.properties.items()) + "}"


def type_name_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "System.Boolean"
    if isinstance(value, int):
        return "System.Int32" if -2**31 <= value < 2**31 else "System.Int64"
    if isinstance(value, float):
        return "System.Double"
    if isinstance(value, str):
        return "System.String"
    if isinstance(value, (bytes, bytearray)):
        return "System.Byte[]"
    if isinstance(value, ArrayList):
        return "System.Collections.ArrayList"
    if isinstance(value, list):
        return "System.Object[]"
    if isinstance(value, Hashtable):
        return getattr(value, "ps_type", "System.Collections.Hashtable")
    if isinstance(value, ScriptBlock):
        return "System.Management.Automation.ScriptBlock"
    if isinstance(value, TypeRef):
        return "System.RuntimeType"
    if isinstance(value, PSObject):
        return value.type_name
    return type(value).__name__


def format_double(value: float) -> str:
    """A double as PowerShell prints it (.NET's round-trip form: 1.5, 1, 1E+20, 1E-05)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
        sign = "-" if exponent.startswith("-") else "+"
        return f"{mantissa}E{sign}{exponent.lstrip('+-').rjust(2, '0')}"
    return text


def to_string(value: Any, ofs: str = " ") -> str:
    """``[string]$value`` / string expansion."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_double(value)
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return ofs.join(str(b) for b in value)
    if isinstance(value, list):
        return ofs.join(to_string(v, ofs) for v in value)
    if isinstance(value, Hashtable):
        return type_name_of(value)
    if hasattr(value, "to_string"):
        return value.to_string()
    return str(value)


def to_bool(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        return len(value) > 0
    if isinstance(value, (list, bytes, bytearray)):
        if len(value) == 0:
            return False
        if len(value) == 1:
            return to_bool(value[0])
        return True
    if isinstance(value, PSEnum):
        return value.value != 0
    return True


def conversion_error(value: Any, target: str, detail: str) -> PSError:
    return PSError(
        f'Cannot convert value "{to_string(value)}" to type "{target}". Error: "{detail}"',
        error_id="InvalidCastFromStringToInteger" if isinstance(value, str) else "ConvertToFinalInvalidCastException",
        category="InvalidArgument",
        exception_type="System.Management.Automation.RuntimeException",
        target=value,
        terminating=True,
    )


_NUMBER = re.compile(r"^\s*([+-]?)(0x[0-9a-f]+|\d+(?:\.\d*)?(?:e[+-]?\d+)?|\.\d+(?:e[+-]?\d+)?)\s*$", re.IGNORECASE)


def to_number(value: Any, target: str = "System.Int32") -> int | float:
    """Convert for arithmetic; strings are parsed as PowerShell parses numbers."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, PSEnum):
        return value.value
    if isinstance(value, str):
        if value.strip() == "":
            return 0
        match = _NUMBER.match(value)
        if not match:
            raise conversion_error(value, target, "Input string was not in a correct format.")
        sign, digits = match.groups()
        number: int | float
        if digits.lower().startswith("0x"):
            number = int(digits, 16)
        elif any(c in digits for c in ".eE"):
            number = float(digits)
        else:
            number = int(digits)
        return -number if sign == "-" else number
    if isinstance(value, list) and len(value) == 1:
        return to_number(value[0], target)
    raise conversion_error(value, target, f'Cannot convert the "{to_string(value)}" value of type "{type_name_of(value)}" to type "{target}".')


def to_int(value: Any) -> int:
    number = to_number(value)
    if isinstance(number, float):
        # .NET rounds half to even when converting a double to an integer, as Python's round() does.
        return int(round(number))
    return number


def as_list(value: Any) -> list:
    """The elements of a collection; a scalar is a one-element list; $null an empty one."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, (bytes, bytearray)):
        return list(value)
    return [value]


def is_collection(value: Any) -> bool:
    return isinstance(value, (list, bytes, bytearray))


# --- comparison -----------------------------------------------------------------------------------------------

def _fold(text: str, case_sensitive: bool) -> str:
    return text if case_sensitive else text.casefold()


def equals(left: Any, right: Any, case_sensitive: bool = False) -> bool:
    """Scalar ``-eq``: the right operand is converted to the left operand's type."""
    if left is None:
        return right is None
    if right is None:
        return False
    if isinstance(left, str):
        if isinstance(right, (list, Hashtable)):
            return False
        return _fold(left, case_sensitive) == _fold(to_string(right), case_sensitive)
    if isinstance(left, bool):
        return left == to_bool(right)
    if isinstance(left, (int, float)):
        try:
            return left == to_number(right)
        except PSError:
            return False
    if isinstance(left, PSEnum):
        if isinstance(right, str):
            return _fold(left.name, case_sensitive) == _fold(right, case_sensitive) or (right.strip().lstrip("-").isdigit() and int(right) == left.value)
        if isinstance(right, (int, float)) and not isinstance(right, bool):
            return left.value == right
        return left == right
    if isinstance(left, PSObject) and isinstance(right, str):
        # PowerShell converts the string to the object's type: a URI compares as a URI; other objects (identities,
        # deserialized objects) do not convert, so they never equal a string. Compare their .ToString() instead.
        if left.type_name in ("System.Uri", "Deserialized.System.Uri"):
            return left.to_string() == right
        return False
    return left is right or left == right


def compare(left: Any, right: Any, case_sensitive: bool = False) -> int:
    """Ordering for -gt/-lt/-ge/-le (right converted to the left operand's type)."""
    if left is None and right is None:
        return 0
    if left is None:
        return -1
    if right is None:
        return 1
    if isinstance(left, str):
        a, b = _fold(left, case_sensitive), _fold(to_string(right), case_sensitive)
    elif isinstance(left, (int, float, bool, PSEnum)):
        a, b = to_number(left), to_number(right)
    else:
        raise PSError(
            f'Cannot compare "{to_string(left)}" because it is not IComparable.',
            error_id="NotIcomparable", category="InvalidOperation", terminating=True,
        )
    return (a > b) - (a < b)


def wildcard_to_regex(pattern: str) -> str:
    """A PowerShell wildcard (``* ? [a-z]`` with backtick escapes) as an anchored regular expression."""
    out = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "`" and index + 1 < len(pattern):
            out.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[":
            end = pattern.find("]", index + 1)
            if end < 0:
                raise PSError(
                    f"The specified wildcard character pattern is not valid: {pattern}",
                    error_id="WildcardPatternException", category="InvalidArgument",
                    exception_type="System.Management.Automation.WildcardPatternException", terminating=True,
                )
            out.append("[" + pattern[index + 1:end].replace("\\", "\\\\") + "]")
            index = end
        else:
            out.append(re.escape(char))
        index += 1
    return "^" + "".join(out) + "$"


def like(value: Any, pattern: Any, case_sensitive: bool = False) -> bool:
    flags = re.DOTALL | (0 if case_sensitive else re.IGNORECASE)
    return re.match(wildcard_to_regex(to_string(pattern)), to_string(value), flags) is not None


def dotnet_regex(pattern: str) -> str:
    """.NET regular expressions as Python's ``re`` understands them (named groups ``(?<n>...)``)."""
    return re.sub(r"\(\?<([A-Za-z_][A-Za-z0-9_]*)>", r"(?P<\1>", pattern)


def regex(pattern: Any, case_sensitive: bool = False) -> re.Pattern:
    try:
        return re.compile(dotnet_regex(to_string(pattern)), 0 if case_sensitive else re.IGNORECASE)
    except re.error as exc:
        raise PSError(
            f'The regular expression pattern {to_string(pattern)} is not valid.',
            error_id="InvalidRegularExpression", category="InvalidOperation", terminating=True,
        ) from exc


def dotnet_replacement(replacement: str) -> str:
    """A .NET replacement string (``$1``, ``${name}``, ``$$``, ``$0``) for Python's ``re.sub``."""
    out = []
    index = 0
    while index < len(replacement):
        char = replacement[index]
        if char == "$" and index + 1 < len(replacement):
            nxt = replacement[index + 1]
            if nxt == "$":
                out.append("$")
                index += 2
                continue
            match = re.match(r"\d+", replacement[index + 1:])
            if match:
                out.append(f"\\g<{match.group()}>")
                index += 1 + len(match.group())
                continue
            match = re.match(r"\{([A-Za-z_]\w*)\}", replacement[index + 1:])
            if match:
                out.append(f"\\g<{match.group(1)}>")
                index += 1 + len(match.group())
                continue
        out.append(char.replace("\\", "\\\\"))
        index += 1
    return "".join(out)


def property_names(value: Any) -> list[str]:
    if isinstance(value, PSObject):
        return list(value.properties.keys())
    return []


def copy_ci(items: Any) -> CaseInsensitiveDict:
    return CaseInsensitiveDict(items)
