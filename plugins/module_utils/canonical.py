# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Canonical forms: how a value the user writes and the value Exchange reads back are compared.

Exchange reads many values back in a form different from the one it was given (``*`` is ``SMTP:*;1``,
``@contoso.com`` is ``SMTP:@contoso.com``, host names keep whatever case was typed, lists come back in
any order, "not set" is ``$null`` or an empty collection). Every comparison a module makes goes through
these functions, on *both* sides, so a second identical run reports no change.

All functions are pure, accept ``None`` and never touch the network.
"""


import re

from urllib.parse import urlsplit, urlunsplit

# \Z, not $: "$" also matches before a trailing newline. DOTALL: a value read back from Exchange may hold a line break
# (written before such values were refused), and its prefix must still be recognised, never stacked ("smtp:SMTP:").
_COST_RE = re.compile(r"^(?P<body>.*?);(?P<cost>\d+)\Z", re.DOTALL)
_TYPE_RE = re.compile(r"^(?P<type>[A-Za-z0-9]+):(?P<rest>.*)\Z", re.DOTALL)
_DEFAULT_PORTS = {"http": 80, "https": 443}

# What no name, host name, domain, address space or template may hold: the C0 controls (NUL, tab, line feed, carriage
# return, ...), DEL, the C1 controls (U+0085 NEXT LINE among them) and the Unicode line and paragraph separators
# U+2028/U+2029, which PowerShell and many log readers take for line ends.
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def control_character(value):
    """The first control character of ``value`` as ``(position, 'U+000A')``, or ``None`` (non-strings: ``None``)."""
    if not isinstance(value, str):
        return None
    match = _CONTROL_RE.search(value)
    if match is None:
        return None
    return match.start(), "U+%04X" % ord(match.group(0))


def refuse_control_characters(value, option):
    """Raise ``ValueError`` naming ``option`` when the string ``value`` holds a control character (see above)."""
    found = control_character(value)
    if found is not None:
        raise ValueError("%s: %r holds a control character (%s at position %d); names, host names, domains and "
                         "templates are one line of printable characters" % (option, value, found[1], found[0]))


def json_list(value):
    """A list from a ConvertTo-Json answer: Windows PowerShell writes one element as the object itself and none as
    ``null``, so ``None`` -> ``[]``, a list as it is, anything else -> ``[value]``."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def text(value):
    """``None`` for "not set" (``None``, ``''`` or only whitespace), the stripped string otherwise."""
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def address_space(value):
    """Canonical send connector address space: ``TYPE:address;cost``.

    ``*`` -> ``SMTP:*;1``; ``contoso.com`` -> ``SMTP:contoso.com;1``; ``smtp:Contoso.com;5`` ->
    ``SMTP:contoso.com;5``. The type is upper-cased, SMTP addresses are lower-cased (domains are
    case-insensitive), a missing cost is 1 (Exchange's default), an explicit cost is kept.
    """
    value = text(value)
    if value is None:
        return None
    match = _COST_RE.match(value)
    cost = 1
    if match:
        value, cost = match.group("body"), int(match.group("cost"))
    match = _TYPE_RE.match(value)
    if match and match.group("type").upper() in ("SMTP", "X400", "X500", "EX"):
        addr_type, address = match.group("type").upper(), match.group("rest")
    else:
        addr_type, address = "SMTP", value
    address = address.strip()
    if addr_type == "SMTP":
        address = address.lower()
    return "%s:%s;%d" % (addr_type, address, cost)


def address_template(value, primary=True):
    """Canonical email address template: ``SMTP:`` (primary) or ``smtp:`` (secondary) + template.

    ``@contoso.com`` -> ``SMTP:@contoso.com``; with ``primary=False`` -> ``smtp:@contoso.com``. A value that
    already carries a prefix keeps its own primary/secondary marking (the case of ``SMTP``/``smtp`` is what
    Exchange uses to mark the primary address). The domain part is lower-cased; the local part (``%g.%s``)
    is kept as written. Non-SMTP templates (``X400:...``) are returned with their prefix unchanged.
    """
    value = text(value)
    if value is None:
        return None
    match = _TYPE_RE.match(value)
    if match:
        prefix, rest = match.group("type"), match.group("rest")
        if prefix.upper() != "SMTP":
            return value
    else:
        prefix, rest = ("SMTP" if primary else "smtp"), value
    if "@" in rest:
        local, _unused, domain = rest.rpartition("@")
        rest = local + "@" + domain.lower()
    return prefix + ":" + rest


def is_primary_template(value):
    """True when a canonical template is the primary one (``SMTP:`` upper-case)."""
    return bool(value) and value.startswith("SMTP:")


def domain_of_template(template):
    """The domain of an SMTP address template, lower-cased: ``%g.%s@Contoso.com`` -> ``contoso.com``.

    Returns ``None`` for templates without a domain or for non-SMTP templates.
    """
    template = text(template)
    if template is None:
        return None
    match = _TYPE_RE.match(template)
    if match:
        if match.group("type").upper() != "SMTP":
            return None
        template = match.group("rest")
    if "@" not in template:
        return None
    domain = template.rpartition("@")[2].strip().rstrip(".").lower()
    return domain or None


def url(value):
    """Canonical URL: ``None``/``''`` -> ``None``; scheme and host lower-cased; the default port dropped;
    an empty path becomes ``/`` (as ``System.Uri.AbsoluteUri`` prints it); path, query and case of the
    path kept."""
    value = text(value)
    if value is None:
        return None
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = host
    if ":" in host:  # IPv6 literal
        netloc = "[" + host + "]"
    if port is not None and _DEFAULT_PORTS.get(scheme) != port:
        netloc += ":%d" % port
    if parts.username is not None:
        userinfo = parts.username
        if parts.password is not None:
            userinfo += ":" + parts.password
        netloc = userinfo + "@" + netloc
    path = parts.path or "/"
    return urlunsplit((scheme, netloc, path, parts.query, parts.fragment))


def fqdn(value):
    """Canonical host name: lower-case, without a trailing dot; ``None``/``''`` -> ``None``."""
    value = text(value)
    if value is None:
        return None
    return value.rstrip(".").lower() or None


def canonical_list(values, key=None):
    """Sorted, de-duplicated list of canonical values (``key`` canonicalises each; ``None`` entries dropped).

    ``None`` (not set) and ``[]`` (empty) both give ``[]``.
    """
    if values is None:
        return []
    if isinstance(values, (str, bytes)):
        values = [values]
    out = set()
    for item in values:
        item = key(item) if key is not None else item
        if item is None:
            continue
        out.add(item)
    return sorted(out, key=lambda v: (str(type(v)), v))


def same_set(a, b, key=None):
    """Order-insensitive comparison of two lists, each element canonicalised by ``key`` first.

    ``None`` and ``[]`` are the same ("not set" and "empty" both mean no element); duplicates do not count.
    """
    return canonical_list(a, key) == canonical_list(b, key)


def same_text(a, b, casefold=False):
    """Compare two optional strings where ``None`` and ``''`` are the same; optionally case-insensitive."""
    a, b = text(a), text(b)
    if casefold and a is not None and b is not None:
        return a.casefold() == b.casefold()
    return a == b


_SIZE_UNITS = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}
_SIZE_RE = re.compile(r"^(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>B|KB|MB|GB|TB)?\Z", re.IGNORECASE)
_SIZE_READBACK_RE = re.compile(r"\(\s*(?P<bytes>[\d,.\s\u00a0\u202f']+)\s*bytes\s*\)", re.IGNORECASE)


def byte_size(value):
    """Canonical ``ByteQuantifiedSize``/``Unlimited`` value: an int of bytes, ``'Unlimited'`` or ``None``.

    Accepts what a user writes (``36700160``, ``'35MB'``, ``'35 MB'``, ``'1.5GB'``, ``'unlimited'``) and what
    Exchange prints (``'35 MB (36,700,160 bytes)'``). Units are binary (1 KB = 1024 bytes), as Exchange's.
    Raises ``ValueError`` for anything else.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("a size must be a number of bytes or a string like '35MB', got %r" % (value,))
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative: %r" % (value,))
        return value
    text_value = text(value)
    if text_value is None:
        return None
    if text_value.lower() == "unlimited":
        return "Unlimited"
    match = _SIZE_READBACK_RE.search(text_value)
    if match:
        return int(re.sub(r"[^\d]", "", match.group("bytes")))
    match = _SIZE_RE.match(text_value)
    if not match:
        raise ValueError("%r is not a size (a number of bytes, or a number with B, KB, MB, GB or TB, or 'unlimited')"
                         % (value,))
    unit = (match.group("unit") or "B").upper()
    number = float(match.group("number")) * _SIZE_UNITS[unit]
    if number != int(number):
        raise ValueError("%r is not a whole number of bytes" % (value,))
    return int(number)


_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)\Z")


def valid_domain(value, wildcard=False):
    """True for a DNS domain name (``contoso.com``; with ``wildcard=True`` also ``*.contoso.com``)."""
    value = fqdn(value)
    if value is None or len(value) > 253:
        return False
    labels = value.split(".")
    if wildcard and labels[0] == "*" and len(labels) > 1:
        labels = labels[1:]
    return all(_LABEL_RE.match(label) for label in labels)


def domain_covered(domain, accepted):
    """True when ``domain`` equals an accepted domain or falls under a wildcard one (``*.contoso.com``)."""
    domain = fqdn(domain)
    if domain is None:
        return False
    for item in accepted or []:
        item = fqdn(item)
        if item is None:
            continue
        if item == domain:
            return True
        if item.startswith("*.") and (domain.endswith(item[1:]) or domain == item[2:]):
            return True
    return False
