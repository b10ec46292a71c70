"""How objects become text (Out-Default on stdout, Out-String) and errors become CLIXML on stderr.

Text format (a documented simplification of PowerShell's formatter):

* strings as they are, one per line; numbers and booleans as PowerShell prints them; ``$null`` prints nothing;
* a hashtable as PowerShell's two-column ``Name``/``Value`` table (Name column 30 wide);
* any other object with properties as a list: a blank line, ``Name : value`` lines with names padded to the
  longest, a blank line; collection values as ``{a, b}``; an object without properties as its string form.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import PSError
from ..psvalues import Hashtable, PSObject
from . import convert
from .convert import ScriptBlock, to_string
from .interpreter import category_info_string

NEWLINE = "\r\n"
CLIXML_HEADER = "#< CLIXML\r\n"
OBJS_OPEN = '<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
OBJS_CLOSE = "</Objs>"


def value_text(value: Any) -> str:
    """A property value inside a list/table cell."""
    if isinstance(value, (list, bytes, bytearray)):
        items = list(value)
        shown = ", ".join(value_text(v) for v in items[:4])
        return "{" + shown + (", ..." if len(items) > 4 else "") + "}"
    if isinstance(value, ScriptBlock):
        return value.text
    return to_string(value)


def format_object(value: Any) -> list[str]:
    """The lines one output object prints as."""
    if value is None:
        return []
    if isinstance(value, str):
        return value.replace("\r\n", "\n").split("\n")
    if isinstance(value, Hashtable):
        if not value:
            return []
        lines = ["", f"{'Name':<30} Value", f"{'----':<30} -----"]
        for key, item in value.items():
            lines.append(f"{to_string(key):<30} {value_text(item)}".rstrip())
        lines.append("")
        return lines
    if isinstance(value, PSObject) and value.properties and not _is_error_record(value):
        width = max(len(str(k)) for k in value.properties)
        lines = [""]
        for key, item in value.properties.items():
            lines.append(f"{str(key):<{width}} : {value_text(item)}".rstrip())
        lines.append("")
        return lines
    if _is_error_record(value):
        return error_lines(value.error)
    return to_string(value).replace("\r\n", "\n").split("\n")


def _is_error_record(value: Any) -> bool:
    return isinstance(value, PSObject) and hasattr(value, "error")


def format_objects(objects: list) -> str:
    """Out-Default/Out-String text for a batch of objects (each line ends in CRLF)."""
    lines: list[str] = []
    for value in objects:
        lines.extend(format_object(value))
    return "".join(line + NEWLINE for line in lines)


def error_lines(error: PSError) -> list[str]:
    """The lines Windows PowerShell prints for an error record (ErrorView NormalView)."""
    position = None if getattr(error, "hide_position", False) else getattr(error, "position", None)
    remote = getattr(error, "remote_computer", None)
    lines: list[str] = []
    if error.category == "ParserError" and position is not None:
        lines.extend(position.display_lines())
        lines.extend(error.message.split("\n"))
    elif remote:
        # An error that came back through implicit remoting: the message alone, no local position.
        lines.extend(error.message.replace("\r\n", "\n").split("\n"))
    else:
        lines.extend(error.display().replace("\r\n", "\n").split("\n"))
        if position is not None:
            lines.extend(position.display_lines())
    if error.category == "ParserError":
        lines.append("    + CategoryInfo          : ParserError: (:) [], ParentContainsErrorRecordException")
    else:
        lines.append("    + CategoryInfo          : " + category_info_string(error))
    lines.append("    + FullyQualifiedErrorId : " + error.error_id)
    if remote:
        lines.append("    + PSComputerName        : " + remote)
    lines.append(" ")
    return lines


_XML_SPECIAL = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
_ESCAPED_SEQUENCE = re.compile(r"_(x[0-9A-Fa-f]{4}_)")


def clixml_escape(text: str) -> str:
    """PowerShell's CLIXML string encoding: XML entities, control characters as ``_xHHHH_`` and a literal
    ``_xHHHH_`` protected by escaping its underscore (``_x005F_``)."""
    text = _ESCAPED_SEQUENCE.sub(r"_x005F_\1", text)
    out = []
    for char in text:
        code = ord(char)
        if char in _XML_SPECIAL:
            out.append(_XML_SPECIAL[char])
        elif code < 0x20 or 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF):
            out.append(f"_x{code:04X}_")
        else:
            out.append(char)
    return "".join(out)


def clixml_strings(lines: list[str], stream: str) -> str:
    """``<S S="Error">line_x000D__x000A_</S>`` for each line."""
    return "".join(f'<S S="{stream}">' + clixml_escape(line + "\r\n") + "</S>" for line in lines)


def clixml_error(error: PSError) -> str:
    return clixml_strings(error_lines(error), "Error")


def number_text(value: Any) -> str:
    return convert.to_string(value)


def clixml_progress(ref_id: int, activity: str, status: str, completed: bool) -> str:
    """A progress record as a redirected Windows PowerShell writes it to stderr (pywinrm leaves these raw)."""
    type_names = ('<TN RefId="0"><T>System.Management.Automation.PSCustomObject</T><T>System.Object</T></TN>' if ref_id == 0
                  else '<TNRef RefId="0" />')
    return (f'<Obj S="progress" RefId="{ref_id}">{type_names}<MS><I64 N="SourceId">1</I64><PR N="Record">'
            f"<AV>{clixml_escape(activity)}</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC>"
            f"<T>{'Completed' if completed else 'Processing'}</T><SR>-1</SR><SD>{clixml_escape(status)}</SD></PR></MS></Obj>")
