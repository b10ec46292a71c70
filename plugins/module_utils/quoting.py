# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PowerShell quoting: the one place where Python values become PowerShell source text.

Every value that reaches Exchange travels as a PowerShell *literal* produced by :func:`ps_literal`:

* ``str``   -> a verbatim (single-quoted) string. Inside such a string PowerShell expands nothing
  (no ``$var``, no ``$(...)``, no backtick escapes); the only special characters are the single
  quotes, and PowerShell counts the typographic ones (U+2018, U+2019, U+201A, U+201B) as single
  quotes too. Each of them is doubled, which PowerShell reads back as one character. NUL is refused.
* ``bool``  -> ``$true`` / ``$false``;  ``None`` -> ``$null``;  ``int`` -> decimal digits;
  ``float`` -> a decimal literal (finite only).
* ``list`` / ``tuple`` -> ``@(a, b)``;  ``dict`` -> ``@{'k' = v; ...}``;
* ``bytes`` -> ``([System.Convert]::FromBase64String('...'))``.

:func:`ps_command` renders one Exchange Management Shell command line (what runs *and* what a module
reports in ``commands``), :func:`ps_script` fills ``{name}`` placeholders of a script template with
literals. Module code never builds PowerShell with f-strings, ``format`` or ``%``.
"""


import base64
import math
import re

# The characters PowerShell's tokenizer treats as a single quote (SpecialChars.IsSingleQuote).
SINGLE_QUOTES = ("'", "\u2018", "\u2019", "\u201a", "\u201b")

_CMDLET_RE = re.compile(r"^[A-Za-z]+-[A-Za-z0-9]+\Z")
_PARAM_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*\Z")
_PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Switch:
    """Marker for a bare switch parameter (``-Force``)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super(_Switch, cls).__new__(cls)
        return cls._instance

    def __repr__(self):
        return "SWITCH"

    def __reduce__(self):
        return (_Switch, ())


SWITCH = _Switch()


def _quote_string(value):
    if "\x00" in value:
        raise ValueError("a NUL character cannot be passed to PowerShell")
    out = []
    for char in value:
        if char in SINGLE_QUOTES:
            out.append(char)
        out.append(char)
    return "'" + "".join(out) + "'"


def ps_literal(value):
    """Render a Python value as a PowerShell literal expression.

    Raises ``ValueError`` for values that have no safe literal (NUL in a string, NaN/infinite floats,
    the ``SWITCH`` marker outside a command) and ``TypeError`` for unsupported types.
    """
    if value is SWITCH:
        raise ValueError("SWITCH is only meaningful as a parameter value of ps_command")
    if value is None:
        return "$null"
    if isinstance(value, bool):
        return "$true" if value else "$false"
    if isinstance(value, int):
        return "%d" % value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("a float passed to PowerShell must be finite, got %r" % (value,))
        return repr(value)
    if isinstance(value, (bytes, bytearray)):
        encoded = base64.b64encode(bytes(value)).decode("ascii")
        return "([System.Convert]::FromBase64String(" + _quote_string(encoded) + "))"
    if isinstance(value, str):
        return _quote_string(value)
    if isinstance(value, (list, tuple)):
        return "@(" + ", ".join(ps_literal(item) for item in value) + ")"
    if isinstance(value, dict):
        parts = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("hashtable keys must be strings, got %r" % (key,))
            parts.append(_quote_string(key) + " = " + ps_literal(item))
        return "@{" + "; ".join(parts) + "}"
    raise TypeError("cannot render a %s as a PowerShell literal" % type(value).__name__)


def ps_command(cmdlet, params=None):
    """Render one command line: ``Set-X -Identity 'a' -Enabled:$true -Force``.

    ``params`` is an ordered mapping of parameter name to value: ``SWITCH`` renders a bare switch,
    booleans the colon form (``-Enabled:$false``, correct for switches and boolean parameters alike),
    everything else ``-Name <literal>`` (``None`` is ``$null``).
    """
    if not isinstance(cmdlet, str) or not _CMDLET_RE.match(cmdlet):
        raise ValueError("invalid cmdlet name %r" % (cmdlet,))
    parts = [cmdlet]
    for name, value in (params or {}).items():
        if not isinstance(name, str) or not _PARAM_RE.match(name):
            raise ValueError("invalid parameter name %r for %s" % (name, cmdlet))
        if value is SWITCH:
            parts.append("-" + name)
        elif isinstance(value, bool):
            parts.append("-" + name + ":" + ps_literal(value))
        else:
            parts.append("-" + name + " " + ps_literal(value))
    return " ".join(parts)


def ps_script(template, **values):
    """Fill the ``{name}`` placeholders of a PowerShell script template with ``ps_literal(values[name])``.

    A placeholder is ``{`` + a Python identifier + ``}`` with no spaces; script blocks and hashtables in
    the template therefore need a space or a non-identifier character after ``{`` (``{ $_.Name }``),
    which is ordinary PowerShell style. A placeholder without a value, or a value without a placeholder,
    is a programming error and raises ``KeyError`` / ``ValueError``.
    """
    used = set()

    def replace(match):
        name = match.group(1)
        if name not in values:
            raise KeyError("ps_script: no value for placeholder {%s}" % name)
        used.add(name)
        return ps_literal(values[name])

    rendered = _PLACEHOLDER_RE.sub(replace, template)
    unused = set(values) - used
    if unused:
        raise ValueError("ps_script: values without placeholder: %s" % ", ".join(sorted(unused)))
    return rendered


def ps_unquote(literal):
    """Decode a single-quoted PowerShell literal produced by :func:`ps_literal` (inverse for strings).

    Used to report a command's target from its rendered line and by the tests.
    """
    if len(literal) < 2 or literal[0] not in SINGLE_QUOTES or literal[-1] not in SINGLE_QUOTES:
        raise ValueError("not a single-quoted PowerShell string: %r" % (literal,))
    body = literal[1:-1]
    out = []
    i = 0
    while i < len(body):
        char = body[i]
        if char in SINGLE_QUOTES:
            if i + 1 < len(body) and body[i + 1] in SINGLE_QUOTES:
                out.append(char)
                i += 2
                continue
            raise ValueError("unescaped quote inside a PowerShell string: %r" % (literal,))
        out.append(char)
        i += 1
    return "".join(out)


_STRING_ARG = "'(?:[^'\u2018\u2019\u201a\u201b]|['\u2018\u2019\u201a\u201b]{2})*'"


def command_argument(command_line, parameter):
    """Return the decoded string value of ``-<parameter> '<value>'`` in a ps_command line, or None."""
    match = re.search("(?:^| )-" + re.escape(parameter) + " (" + _STRING_ARG + ")(?= |$)", command_line,
                      re.IGNORECASE)
    if not match:
        return None
    return ps_unquote(match.group(1))
