"""ConvertTo-Json and ConvertFrom-Json as Windows PowerShell 5.1 does them.

5.1 serializes with JavaScriptSerializer and then re-indents the compressed text:

* ``"key":  value`` (two spaces after the colon); nested containers are indented from the column where their
  opening bracket was written (so they drift right), four spaces per level; lines end in CRLF;
* an empty array/object is the bracket, an empty line, and the closing bracket;
* strings escape ``"`` ``\\`` and control characters (``\\b \\f \\n \\r \\t``, others ``\\u00XX``) and, HTML-safe,
  ``'`` ``<`` ``>`` ``&`` as ``\\u0027 \\u003c \\u003e \\u0026``; other non-ASCII characters are written as they are;
* ``-Depth`` (default 2) counts from the top object (depth 0); a container deeper than that is written as its
  string form (``System.Collections.Hashtable``, ``@{a=1}`` for a PSCustomObject, space-joined items for an array);
* enums are written as their numbers; byte arrays as arrays of numbers.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import PSError
from ..psvalues import CaseInsensitiveDict, Hashtable, PSEnum, PSObject
from . import convert
from .convert import ScriptBlock, TypeRef, to_string

NEWLINE = "\r\n"


class _Raw:
    """A JSON value already decided: a number/bool/null literal or a string."""

    def __init__(self, value: Any):
        self.value = value


def to_model(value: Any, depth: int, max_depth: int) -> Any:
    """Turn a PowerShell value into plain JSON data (dict/list/str/number/bool/None) the way 5.1's ProcessValue does."""
    if value is None:
        return None
    if isinstance(value, bool) or isinstance(value, (int, float)) or isinstance(value, str):
        return value
    if isinstance(value, PSEnum):
        return value.value
    if isinstance(value, PSObject) and value.has_json_override():
        replacement = value.json_value()
        if isinstance(replacement, dict) and not isinstance(replacement, CaseInsensitiveDict):
            replacement = Hashtable(replacement.items())
        return to_model(replacement, depth, max_depth)
    if depth > max_depth:
        return to_string(value)
    if isinstance(value, (Hashtable, CaseInsensitiveDict, dict)):
        result: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise PSError(
                    f"The type '{convert.type_name_of(value)}' is not supported for serialization or deserialization of a dictionary. Keys must be strings.",
                    error_id="NonStringKeyInDictionary,Microsoft.PowerShell.Commands.ConvertToJsonCommand",
                    category="InvalidOperation", exception_type="System.InvalidOperationException", terminating=True,
                )
            result[key] = to_model(item, depth + 1, max_depth)
        return result
    if isinstance(value, (list, tuple)):
        return [to_model(item, depth + 1, max_depth) for item in value]
    if isinstance(value, (bytes, bytearray)):
        return list(value)
    if isinstance(value, PSObject):
        return {key: to_model(item, depth + 1, max_depth) for key, item in value.properties.items()}
    if isinstance(value, ScriptBlock):
        return {"Attributes": [], "File": None, "IsFilter": False, "IsConfiguration": False, "Module": None,
                "StartPosition": to_string(value), "DebuggerHidden": False, "Id": None, "Ast": value.text}
    if isinstance(value, TypeRef):
        return value.name
    return to_string(value)


def escape_string(text: str) -> str:
    out = ['"']
    for char in text:
        code = ord(char)
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char == "\b":
            out.append("\\b")
        elif char == "\f":
            out.append("\\f")
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif code < 0x20 or char in "'<>&":
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return escape_string(convert.format_double(value))
        return convert.format_double(value)
    return escape_string(value)


def render_compressed(model: Any) -> str:
    if isinstance(model, dict):
        return "{" + ",".join(escape_string(k) + ":" + render_compressed(v) for k, v in model.items()) + "}"
    if isinstance(model, list):
        return "[" + ",".join(render_compressed(v) for v in model) + "]"
    return _scalar(model)


def render_pretty(model: Any, column: int = 0) -> str:
    """5.1's layout: a container's items are indented four spaces from the column of its opening bracket."""
    if isinstance(model, dict):
        if not model:
            return "{" + NEWLINE + NEWLINE + " " * column + "}"
        inner = column + 4
        lines = []
        for key, value in model.items():
            prefix = escape_string(key) + ":  "
            lines.append(" " * inner + prefix + render_pretty(value, inner + len(prefix)))
        return "{" + NEWLINE + ("," + NEWLINE).join(lines) + NEWLINE + " " * column + "}"
    if isinstance(model, list):
        if not model:
            return "[" + NEWLINE + NEWLINE + " " * column + "]"
        inner = column + 4
        lines = [" " * inner + render_pretty(value, inner) for value in model]
        return "[" + NEWLINE + ("," + NEWLINE).join(lines) + NEWLINE + " " * column + "]"
    return _scalar(model)


def convert_to_json(value: Any, depth: int = 2, compress: bool = False) -> str:
    model = to_model(value, 0, depth)
    return render_compressed(model) if compress else render_pretty(model)


# --- ConvertFrom-Json ---------------------------------------------------------------------------------------------

def from_json_text(text: str) -> Any:
    try:
        data = json.loads(text, parse_float=float, object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        raise PSError(
            f"Invalid JSON primitive: {text.strip()[:40]}." if exc.pos == 0 else f"Invalid object passed in, ':' or '}}' expected. ({exc.pos}): {text}",
            error_id="System.ArgumentException,Microsoft.PowerShell.Commands.ConvertFromJsonCommand",
            category="NotSpecified", exception_type="System.ArgumentException", terminating=True,
        ) from None
    return data


def _object(pairs: list[tuple[str, Any]]) -> PSObject:
    return convert.new_custom_object(pairs)
