# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Client access URLs of one Exchange server: validation, Microsoft's documented rules, and the write plan.

Pure: the module reads the server once (:data:`READ_SCRIPT`), turns the answer into :func:`current_state`,
and :func:`plan` compares it with what the user asked for and returns the ``Set-*`` command lines to run
(at most one per object) plus the before/after views for ``diff``.

The rules enforced before any write (from "Configure mail flow and client access", Exchange 2013/2016/2019):

* every virtual directory URL is absolute ``https://`` - except the PowerShell virtual directory, whose URLs
  are ``http://`` in every table of the procedure (``http://mail.contoso.com/PowerShell``); Exchange's
  remote PowerShell clients use Kerberos over http;
* "The ECP and OWA virtual directory internal URLs must be the same": the procedure's tables give the two
  the same scheme and host (``https://owa.contoso.com/owa`` and ``https://owa.contoso.com/ecp``; the same
  holds for the external URLs when a unique Outlook on the web FQDN is used) - so the module refuses an
  owa/ecp pair whose origins differ, or one set while the other is empty;
* "You can't set an internal URL on the Autodiscover virtual directory" (and the tables show no external
  URL): there is no option for it; the Autodiscover service's *internal URI* is the server's
  ``AutoDiscoverServiceInternalUri`` (``Set-ClientAccessService`` on 2016 and later,
  ``Set-ClientAccessServer`` on 2013);
* the mapi virtual directory (MAPI over HTTP) exists on Exchange 2013 SP1 and later; a server that has none
  is refused when mapi URLs are asked for;
* ``Set-MapiVirtualDirectory``: "When you use the InternalUrl or ExternalUrl parameters, you need to specify one
  or more authentication values by using the IISAuthenticationMethods parameter" (the Exchange 2013 syntax makes
  it mandatory): every mapi URL change carries ``-IISAuthenticationMethods`` - the methods the user asked for, else
  the server's current ones, read in the same round as the URLs.

Semantics of the input: a virtual directory or a URL that is absent is left alone; ``None`` (YAML ``null``)
or ``''`` clears the URL.
"""


import re

from urllib.parse import urlsplit

from ansible_collections.mailops.exchange.plugins.module_utils import canonical
from ansible_collections.mailops.exchange.plugins.module_utils.exchange_objects import (
    CLIENT_ACCESS, OUTLOOK_ANYWHERE, VIRTUAL_DIRECTORY)
from ansible_collections.mailops.exchange.plugins.module_utils.exchange_session import TOLERATED_ERROR
from ansible_collections.mailops.exchange.plugins.module_utils.resource import MissingCompanion


class VdirError(ValueError):
    """Input refused before any write; the message names the option, the value and the rule."""


class VdirKind:
    def __init__(self, key, name, path, scheme):
        self.key = key          # option key: owa, ecp, ews, eas, oab, mapi, powershell
        self.name = name        # IIS application name: 'owa (Default Web Site)'
        self.path = path        # the path of the documented URL
        self.scheme = scheme    # the documented scheme

    @property
    def resource(self):
        """Its table (exchange_objects.VIRTUAL_DIRECTORY): what is read, compared and written, and its cmdlet noun."""
        return VIRTUAL_DIRECTORY[self.key]

    @property
    def get_cmdlet(self):
        return "Get-" + self.resource.noun


VDIRS = [
    VdirKind("owa", "owa", "/owa", "https"),
    VdirKind("ecp", "ecp", "/ecp", "https"),
    VdirKind("ews", "EWS", "/EWS/Exchange.asmx", "https"),
    VdirKind("eas", "Microsoft-Server-ActiveSync", "/Microsoft-Server-ActiveSync", "https"),
    VdirKind("oab", "OAB", "/OAB", "https"),
    VdirKind("mapi", "mapi", "/mapi", "https"),
    VdirKind("powershell", "PowerShell", "/PowerShell", "http"),
]
VDIR_BY_KEY = dict((kind.key, kind) for kind in VDIRS)
URL_FIELDS = ("internal_url", "external_url")

# Outlook Anywhere's options, from its table: (option, Set-OutlookAnywhere parameter, what the input must be).
OUTLOOK_ANYWHERE_FIELDS = [
    (field.option, field.parameter,
     "bool" if field.kind == "flag" else "hostname" if field.key is canonical.fqdn else "auth")
    for field in OUTLOOK_ANYWHERE.fields if not field.read_only]
OUTLOOK_ANYWHERE_KEYS = [field[0] for field in OUTLOOK_ANYWHERE_FIELDS]
# The client authentication methods Outlook Anywhere accepts (Exchange's AuthenticationMethod spelling).
AUTH_METHODS = ("Basic", "Ntlm", "Negotiate")
# Set-MapiVirtualDirectory -IISAuthenticationMethods: "Valid values are: Basic, Negotiate, NTLM, OAuth"; "The
# default values are NTLM, OAuth, and Negotiate."
MAPI_IIS_METHODS = ("Basic", "Ntlm", "Negotiate", "OAuth")

_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_HOST_RE = re.compile(r"^" + _LABEL + r"(\." + _LABEL + r")*\.?\Z")
_TRUE = ("true", "yes", "on", "1", "y")
_FALSE = ("false", "no", "off", "0", "n")


# ------------------------------------------------------------------------------------------------------------
# Versions


def exchange_version(admin_display_version):
    """``'2013'``, ``'2016'``, ``'2019'`` or ``'SE'`` from an ``AdminDisplayVersion`` string.

    ``Version 15.0 (Build 1497.2)`` is 2013, ``15.1`` is 2016, ``15.2`` is 2019, and 15.2 build 2562 or later
    is Exchange Server Subscription Edition. Returns None for anything else.
    """
    match = re.search(r"(\d+)\.(\d+)\s*\(Build\s*(\d+)", admin_display_version or "")
    if not match:
        match = re.search(r"^\s*(?:Version\s*)?(\d+)\.(\d+)\.(\d+)", admin_display_version or "")
    if not match:
        return None
    major, minor, build = (int(part) for part in match.groups())
    if major != 15:
        return None
    if minor == 0:
        return "2013"
    if minor == 1:
        return "2016"
    if minor == 2:
        return "SE" if build >= 2562 else "2019"
    return None


def client_access_cmdlet(version):
    """The cmdlet noun that holds ``AutoDiscoverServiceInternalUri``: ClientAccessServer on 2013."""
    return "ClientAccessServer" if version == "2013" else "ClientAccessService"


# ------------------------------------------------------------------------------------------------------------
# Validation of the input


def valid_hostname(value):
    return isinstance(value, str) and 0 < len(value) <= 253 and bool(_HOST_RE.match(value))


def _as_bool(value, where):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE:
        return True
    if isinstance(value, str) and value.strip().lower() in _FALSE:
        return False
    raise VdirError("%s must be a boolean, got %r" % (where, value))


def validate_url(key, field, value):
    """Check one URL option; returns the URL as written (stripped) or None to clear. Raises VdirError."""
    where = "urls.%s.%s" % (key, field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise VdirError("%s must be a URL string or null, got %r" % (where, value))
    value = value.strip()
    if value == "":
        return None
    kind = VDIR_BY_KEY[key]
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as error:
        raise VdirError("%s: %r is not a valid URL (%s)" % (where, value, error))
    if not parts.scheme or not parts.netloc:
        raise VdirError("%s: %r is not an absolute URL (expected e.g. %s://mail.contoso.com%s)"
                        % (where, value, kind.scheme, kind.path))
    scheme = parts.scheme.lower()
    if scheme != kind.scheme:
        if kind.key == "powershell":
            raise VdirError(
                "%s: %r must use http:// - Microsoft's procedure sets the PowerShell virtual directory URLs to "
                "http://<fqdn>/PowerShell (remote PowerShell uses Kerberos over http)" % (where, value))
        raise VdirError("%s: %r must use https:// (every client access URL except PowerShell's is https)"
                        % (where, value))
    if parts.username is not None or parts.password is not None:
        raise VdirError("%s: %r must not contain a user name or password" % (where, value))
    if parts.query or parts.fragment:
        raise VdirError("%s: %r must not contain a query or a fragment" % (where, value))
    if any(char.isspace() for char in value):
        raise VdirError("%s: %r must not contain white space" % (where, value))
    host = parts.hostname or ""
    if not valid_hostname(host):
        raise VdirError("%s: %r has an invalid host name %r" % (where, value, host))
    if port == 0:
        raise VdirError("%s: %r has an invalid port" % (where, value))
    return value


def validate_urls(urls):
    """Validate the ``urls`` option; returns ``{key: {field: url-or-None}}`` with only the fields given.

    A virtual directory given as ``None`` or ``{}`` asks for nothing.
    """
    desired = {}
    if urls is None:
        return desired
    if not isinstance(urls, dict):
        raise VdirError("urls must be a dictionary of virtual directories, got %r" % (urls,))
    for key, fields in urls.items():
        if key == "autodiscover":
            raise VdirError(
                "urls.autodiscover: Autodiscover has no internal or external URL ('You can't set an internal "
                "URL on the Autodiscover virtual directory'); set autodiscover_internal_uri, the server's "
                "AutoDiscoverServiceInternalUri, instead")
        if key not in VDIR_BY_KEY:
            raise VdirError("urls.%s: unknown virtual directory; expected one of %s"
                            % (key, ", ".join(kind.key for kind in VDIRS)))
        if fields is None:
            continue
        if not isinstance(fields, dict):
            raise VdirError("urls.%s must be a dictionary with internal_url and/or external_url, got %r"
                            % (key, fields))
        wanted = {}
        for field, value in fields.items():
            if field not in URL_FIELDS:
                raise VdirError("urls.%s.%s: unknown key; expected internal_url or external_url" % (key, field))
            wanted[field] = validate_url(key, field, value)
        if wanted:
            desired[key] = wanted
    return desired


def validate_outlook_anywhere(options):
    """Validate the ``outlook_anywhere`` option; returns only the keys given, in canonical form.

    Host names: a valid host name, or ``None``/``''`` to clear. Booleans: booleans. Authentication methods:
    Basic, Ntlm or Negotiate (any case), returned in Exchange's spelling.
    """
    desired = {}
    if options is None:
        return desired
    if not isinstance(options, dict):
        raise VdirError("outlook_anywhere must be a dictionary, got %r" % (options,))
    kinds = dict((field[0], field[2]) for field in OUTLOOK_ANYWHERE_FIELDS)
    for key, value in options.items():
        where = "outlook_anywhere.%s" % key
        if key not in kinds:
            raise VdirError("%s: unknown key; expected one of %s" % (where, ", ".join(OUTLOOK_ANYWHERE_KEYS)))
        kind = kinds[key]
        if kind == "hostname":
            if value is None or (isinstance(value, str) and value.strip() == ""):
                desired[key] = None
                continue
            if not isinstance(value, str) or not valid_hostname(value.strip()):
                raise VdirError("%s: %r is not a valid host name (for example mail.contoso.com)" % (where, value))
            desired[key] = value.strip()
        elif kind == "bool":
            if value is None:
                raise VdirError("%s must be true or false" % where)
            desired[key] = _as_bool(value, where)
        else:
            if not isinstance(value, str):
                raise VdirError("%s must be one of %s, got %r" % (where, ", ".join(AUTH_METHODS), value))
            match = [method for method in AUTH_METHODS if method.lower() == value.strip().lower()]
            if not match:
                raise VdirError("%s must be one of %s, got %r" % (where, ", ".join(AUTH_METHODS), value))
            desired[key] = match[0]
    return desired


def validate_iis_methods(value, where="mapi_iis_authentication_methods"):
    """Validate a list of IIS authentication methods for the mapi virtual directory.

    ``None`` leaves them alone (the current methods are sent with URL changes); otherwise one or more of
    Basic, Ntlm, Negotiate, OAuth (any case), returned in Exchange's spelling without duplicates.
    """
    if value is None:
        return None
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)):
        raise VdirError("%s must be a list of %s, got %r" % (where, ", ".join(MAPI_IIS_METHODS), value))
    methods = []
    for item in value:
        text = item.strip() if isinstance(item, str) else None
        match = [m for m in MAPI_IIS_METHODS if text is not None and m.lower() == text.lower()]
        if not match:
            raise VdirError("%s: %r is not one of %s" % (where, item, ", ".join(MAPI_IIS_METHODS)))
        if match[0] not in methods:
            methods.append(match[0])
    if not methods:
        raise VdirError("%s must name one or more methods (Set-MapiVirtualDirectory needs at least one); leave it "
                        "out to keep the server's current methods" % where)
    return methods


def validate_autodiscover_uri(value):
    """Validate ``autodiscover_internal_uri``: None leaves it alone, ``''`` clears, else an https URL."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise VdirError("autodiscover_internal_uri must be a URL string, got %r" % (value,))
    value = value.strip()
    if value == "":
        return ""
    try:
        parts = urlsplit(value)
        parts.port
    except ValueError as error:
        raise VdirError("autodiscover_internal_uri: %r is not a valid URL (%s)" % (value, error))
    if parts.scheme.lower() != "https" or not parts.netloc:
        raise VdirError("autodiscover_internal_uri: %r must be an absolute https:// URL, for example "
                        "https://autodiscover.contoso.com/Autodiscover/Autodiscover.xml" % value)
    if parts.username is not None or parts.query or parts.fragment or any(c.isspace() for c in value):
        raise VdirError("autodiscover_internal_uri: %r must not contain credentials, a query, a fragment or "
                        "white space" % value)
    if not valid_hostname(parts.hostname or ""):
        raise VdirError("autodiscover_internal_uri: %r has an invalid host name" % value)
    return value


def path_warnings(desired):
    """Warnings for URLs whose path is not the virtual directory's documented one (not an error)."""
    warnings = []
    for key, fields in sorted(desired.items()):
        kind = VDIR_BY_KEY[key]
        for field in URL_FIELDS:
            value = fields.get(field)
            if value is None:
                continue
            path = urlsplit(value).path.rstrip("/") or "/"
            if path.lower() != kind.path.lower():
                warnings.append("urls.%s.%s: %s has the path %r; the %s virtual directory is documented at %r"
                                % (key, field, value, path, kind.name, kind.path))
    return warnings


# ------------------------------------------------------------------------------------------------------------
# The state read from Exchange


def _text(value):
    return canonical.text(value)


def current_state(answer, web_site="Default Web Site"):
    """Normalise the read script's answer.

    ``answer`` is the JSON produced by :data:`READ_SCRIPT`. Returns::

        {'server': {'name', 'fqdn', 'admin_display_version', 'version'},
         'vdirs': {key: {'identity', 'internal_url', 'external_url'} or None when the server has none;
                   mapi also has 'iis_authentication_methods', a list},
         'outlook_anywhere': {'identity', <OUTLOOK_ANYWHERE_KEYS>} or None,
         'client_access': {'identity', 'autodiscover_internal_uri'} or None}

    The virtual directory of each kind is the one named ``<name> (<web_site>)``; URLs are kept as Exchange
    printed them ('' becomes None).
    """
    server = answer.get("server") or {}
    version = exchange_version(server.get("version"))
    state = {
        "server": {
            "name": _text(server.get("name")),
            "fqdn": _text(server.get("fqdn")),
            "admin_display_version": _text(server.get("version")),
            "version": version,
        },
        "vdirs": {},
        "outlook_anywhere": None,
        "client_access": None,
    }
    vdirs = answer.get("vdirs") or {}
    for kind in VDIRS:
        wanted = ("%s (%s)" % (kind.name, web_site)).lower()
        found = None
        for item in canonical.json_list(vdirs.get(kind.key)):
            if (_text(item.get("name")) or "").lower() == wanted:
                found = item
                break
        if found is not None:
            state["vdirs"][kind.key] = {
                "identity": _text(found.get("identity")),
                "internal_url": _text(found.get("internal_url")),
                "external_url": _text(found.get("external_url")),
            }
            if kind.key == "mapi":
                state["vdirs"][kind.key]["iis_authentication_methods"] = _text_list(found.get("iis_authentication_methods"))
        else:
            state["vdirs"][kind.key] = None
    oa_items = canonical.json_list(answer.get("outlook_anywhere"))
    wanted = ("rpc (%s)" % web_site).lower()
    oa = next((i for i in oa_items if (_text(i.get("name")) or "").lower() == wanted), None)
    if oa is not None:
        state["outlook_anywhere"] = {
            "identity": _text(oa.get("identity")),
            "internal_hostname": _text(oa.get("internal_hostname")),
            "external_hostname": _text(oa.get("external_hostname")),
            "internal_clients_require_ssl": _bool_or_none(oa.get("internal_clients_require_ssl")),
            "external_clients_require_ssl": _bool_or_none(oa.get("external_clients_require_ssl")),
            "internal_client_authentication_method": _text(oa.get("internal_client_authentication_method")),
            "external_client_authentication_method": _text(oa.get("external_client_authentication_method")),
        }
    cas = answer.get("client_access")
    if isinstance(cas, list):
        cas = cas[0] if cas else None
    if cas:
        state["client_access"] = {
            "identity": _text(cas.get("identity")),
            "autodiscover_internal_uri": _text(cas.get("autodiscover_internal_uri")),
        }
    return state


def _text_list(value):
    """A multi-valued answer (list, single string or None) as a list of non-empty strings."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        value = [value]
    return [text for text in (_text(item) for item in value) if text]


def _bool_or_none(value):
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


# ------------------------------------------------------------------------------------------------------------
# Rules on the resulting state


def _origin(url):
    """``scheme://host[:port]`` of a URL in canonical form, or None."""
    url = canonical.url(url)
    if url is None:
        return None
    parts = urlsplit(url)
    return "%s://%s" % (parts.scheme, parts.netloc)


def check_owa_ecp(current_vdirs, desired):
    """Refuse owa/ecp URLs that would not share scheme and host after the change.

    Only checked for a URL kind (internal/external) that the request touches on owa or ecp, so an
    unrelated change on a server whose owa/ecp already differ is not blocked.
    """
    for field in URL_FIELDS:
        if not any(field in desired.get(key, {}) for key in ("owa", "ecp")):
            continue
        result = {}
        for key in ("owa", "ecp"):
            current = (current_vdirs.get(key) or {}).get(field)
            result[key] = desired[key][field] if field in desired.get(key, {}) else current
        owa, ecp = _origin(result["owa"]), _origin(result["ecp"])
        if owa == ecp:
            continue
        label = field.replace("_url", "")
        if owa is None or ecp is None:
            missing = "ecp" if ecp is None else "owa"
            raise VdirError(
                "the %s URLs of owa and ecp must be set together on the same host ('The ECP and OWA virtual "
                "directory internal URLs must be the same'): owa would be %s and ecp %s; set urls.%s.%s too"
                % (label, result["owa"] or "empty", result["ecp"] or "empty", missing, field))
        raise VdirError(
            "the %s URLs of owa and ecp must use the same scheme and host ('The ECP and OWA virtual directory "
            "internal URLs must be the same', e.g. https://owa.contoso.com/owa and https://owa.contoso.com/ecp): "
            "owa would be %s and ecp %s" % (label, result["owa"], result["ecp"]))


# ------------------------------------------------------------------------------------------------------------
# The plan


class Plan:
    def __init__(self):
        self.commands = []
        self.before = {"urls": {}, "outlook_anywhere": {}, "autodiscover_internal_uri": None,
                       "mapi_iis_authentication_methods": None}
        self.after = {"urls": {}, "outlook_anywhere": {}, "autodiscover_internal_uri": None,
                      "mapi_iis_authentication_methods": None}

    @property
    def changed(self):
        return bool(self.commands)


def plan(state, desired_urls, desired_oa, desired_uri, desired_mapi_iis=None):
    """Compare the read state with the validated input; return a :class:`Plan`.

    ``desired_mapi_iis`` is :func:`validate_iis_methods`'s result (None keeps the current methods). Raises
    :class:`VdirError` when the request cannot be carried out on this server (no such virtual directory, no
    Outlook Anywhere, unknown version, mapi URLs whose current IIS methods could not be read) or breaks the
    owa/ecp rule - always before any write. The lines come from the objects' tables (exchange_objects), at most
    one per object.
    """
    result = Plan()
    server = state["server"]["name"] or "?"
    wanted_keys = list(desired_urls)
    if desired_mapi_iis is not None and "mapi" not in wanted_keys:
        wanted_keys.append("mapi")
    for key in wanted_keys:
        if state["vdirs"].get(key) is None:
            kind = VDIR_BY_KEY[key]
            extra = ""
            if key == "mapi":
                extra = (" (MAPI over HTTP needs Exchange 2013 SP1 or later; this server runs %s)"
                         % (state["server"]["admin_display_version"] or "an unknown version"))
            raise VdirError("server %s has no '%s (Default Web Site)' virtual directory (%s found nothing)%s"
                            % (server, kind.name, kind.get_cmdlet, extra))
    check_owa_ecp(state["vdirs"], desired_urls)

    for kind in VDIRS:
        current = state["vdirs"].get(kind.key)
        if current is None:
            continue
        wanted = dict(desired_urls.get(kind.key, {}))
        if kind.key == "mapi":
            have = list(current.get("iis_authentication_methods") or [])
            result.before["mapi_iis_authentication_methods"] = have
            result.after["mapi_iis_authentication_methods"] = (list(desired_mapi_iis) if desired_mapi_iis is not None
                                                               else have)
            if desired_mapi_iis is not None:
                wanted["iis_authentication_methods"] = list(desired_mapi_iis)
        try:
            lines, after = kind.resource.update(current, wanted, identity=current["identity"])
        except MissingCompanion:
            raise VdirError(
                "server %s: the mapi virtual directory's IISAuthenticationMethods could not be read, and "
                "Set-MapiVirtualDirectory needs them with -InternalUrl/-ExternalUrl; set "
                "mapi_iis_authentication_methods (for example [Ntlm, OAuth, Negotiate], Exchange's default)"
                % server) from None
        result.before["urls"][kind.key] = dict((field, current[field]) for field in URL_FIELDS)
        result.after["urls"][kind.key] = dict((field, after[field]) for field in URL_FIELDS)
        result.commands.extend(lines)

    oa = state["outlook_anywhere"]
    if desired_oa and oa is None:
        raise VdirError("server %s has no Outlook Anywhere virtual directory 'Rpc (Default Web Site)' "
                        "(Get-OutlookAnywhere found nothing)" % server)
    if oa is not None:
        lines, after = OUTLOOK_ANYWHERE.update(oa, desired_oa or {}, identity=oa["identity"])
        result.before["outlook_anywhere"] = dict((key, oa[key]) for key in OUTLOOK_ANYWHERE_KEYS)
        result.after["outlook_anywhere"] = dict((key, after[key]) for key in OUTLOOK_ANYWHERE_KEYS)
        result.commands.extend(lines)

    cas = state["client_access"]
    if desired_uri is not None and cas is None:
        raise VdirError("server %s has no client access service object (Get-%s found nothing)"
                        % (server, client_access_cmdlet(state["server"]["version"])))
    if cas is not None:
        result.before["autodiscover_internal_uri"] = cas["autodiscover_internal_uri"]
        result.after["autodiscover_internal_uri"] = cas["autodiscover_internal_uri"]
        if desired_uri is not None:
            version = state["server"]["version"]
            lines, after = CLIENT_ACCESS[client_access_cmdlet(version)].update(
                cas, {"autodiscover_internal_uri": desired_uri or None}, identity=cas["identity"] or server)
            if lines and version is None:
                raise VdirError("cannot tell the Exchange version of server %s from its AdminDisplayVersion %r, "
                                "so whether to use Set-ClientAccessService or Set-ClientAccessServer"
                                % (server, state["server"]["admin_display_version"]))
            result.commands.extend(lines)
            result.after["autodiscover_internal_uri"] = after["autodiscover_internal_uri"]
    return result


# ------------------------------------------------------------------------------------------------------------
# The read script: one round, everything the plan needs (and exchange_info's per-server view).

# What is kept of each virtual directory (a constant of this module: no value is put into it).
# Every value is read through its string form ([string]), which is the same for a live Exchange object (EMS, snap-in)
# and for what a plain Import-PSSession delivers, where Exchange-typed values and the elements of multi-valued ones
# arrive as strings (a System.Uri stays a Uri; [string] of it is the URL as well).
def _fields(resource):
    return "ForEach-Object { [ordered]@{ " + resource.projection(keys="info", indent="", separator="; ") + " } }"


_VDIR_FIELDS = _fields(VIRTUAL_DIRECTORY["owa"])  # the same properties for every virtual directory but mapi
# The mapi virtual directory also gives its IIS authentication methods, which Set-MapiVirtualDirectory needs with
# any URL (one element per method, each as its string form; a missing or $null value gives no element).
_MAPI_FIELDS = _fields(VIRTUAL_DIRECTORY["mapi"])

# The per-server read: for the server named by ``$server`` it leaves ``$serverState`` (the shape
# :func:`current_state` takes). No value is put into this text; the server name is a variable.

SERVER_BLOCK = (
    "$srv = Get-ExchangeServer -Identity $server\n"
    "$version = [string]$srv.AdminDisplayVersion\n"
    "if ($version -like 'Version 15.0*') { $cas = @(Get-ClientAccessServer -Identity $server) } "
    "else { $cas = @(Get-ClientAccessService -Identity $server) }\n"
    # MAPI over HTTP came with Exchange 2013 SP1: a server without the cmdlet has no mapi virtual directory.
    "$mapi = @()\n"
    "try { $mapi = @(Get-MapiVirtualDirectory -Server $server -ADPropertiesOnly | " + _MAPI_FIELDS + ") } "
    "catch [System.Management.Automation.CommandNotFoundException] { $mapi = @(); " + TOLERATED_ERROR + " }\n"
    "$vdirs = [ordered]@{\n"
    "    owa = @(Get-OwaVirtualDirectory -Server $server -ADPropertiesOnly | " + _VDIR_FIELDS + ")\n"
    "    ecp = @(Get-EcpVirtualDirectory -Server $server -ADPropertiesOnly | " + _VDIR_FIELDS + ")\n"
    "    ews = @(Get-WebServicesVirtualDirectory -Server $server -ADPropertiesOnly | " + _VDIR_FIELDS + ")\n"
    "    eas = @(Get-ActiveSyncVirtualDirectory -Server $server -ADPropertiesOnly | " + _VDIR_FIELDS + ")\n"
    "    oab = @(Get-OabVirtualDirectory -Server $server -ADPropertiesOnly | " + _VDIR_FIELDS + ")\n"
    "    mapi = $mapi\n"
    "    powershell = @(Get-PowerShellVirtualDirectory -Server $server -ADPropertiesOnly | " + _VDIR_FIELDS + ")\n"
    "}\n"
    "$oa = @(Get-OutlookAnywhere -Server $server -ADPropertiesOnly | " + _fields(OUTLOOK_ANYWHERE) + ")\n"
    "$casOut = @($cas | " + _fields(CLIENT_ACCESS["ClientAccessService"]) + ")\n"
    "$serverState = [ordered]@{ "
    "server = [ordered]@{ name = [string]$srv.Name; fqdn = [string]$srv.Fqdn; version = $version }; "
    "vdirs = $vdirs; outlook_anywhere = $oa; client_access = $casOut }\n"
)

# The read of exchange_vdir_url: one server. (exchange_info runs SERVER_BLOCK for each chosen server.)
READ_SCRIPT = (
    "$server = {server}\n" + SERVER_BLOCK
    + "ConvertTo-Json -Depth 6 -Compress -InputObject $serverState\n"
)


def given(raw, validated, keys):
    """The entries of ``validated`` (a dict option after Ansible's validation) whose keys the user wrote.

    Ansible fills every suboption the user left out with ``None``, which would make "absent" (leave alone)
    indistinguishable from ``null`` (clear). ``raw`` is the option as the user wrote it (from the module's raw
    arguments); only its keys are used, the values are Ansible's validated ones. ``keys`` limits the result.
    """
    if not isinstance(raw, dict) or not isinstance(validated, dict):
        return None if validated is None else {}
    return dict((key, validated.get(key)) for key in keys if key in raw)


def given_urls(raw, validated):
    """``urls`` with only the virtual directories and URL keys the user wrote (see :func:`given`)."""
    if validated is None:
        return None
    raw = raw if isinstance(raw, dict) else {}
    out = {}
    for kind in VDIRS:
        fields = given(raw.get(kind.key), validated.get(kind.key), URL_FIELDS)
        if fields:
            out[kind.key] = fields
    return out
