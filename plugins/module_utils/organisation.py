# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The organisation's model, checked once before anything is written.

Pure Python (no Ansible, no network). :func:`check_organisation` takes the inventory's ``mailops_*`` variables and
the Mailbox servers with their declared versions, normalises every name (lower case, no trailing dot), and either
returns the *model* every step works from - the URL plan included - or raises :class:`OrganisationError` listing
every refusal, each naming the variable and the rule it breaks.

What is refused is what cannot work, or what would configure something the user did not ask for:

* control characters (C0, DEL, NEL, U+2028/U+2029) anywhere, because a line break in a name reaches Exchange as is;
* an invalid host name or domain (empty, invalid or over-long labels, a URL or a path where a host name belongs,
  an IP address where clients need a DNS name), unknown keys (a mistyped option silently ignored is a wrong plan);
* duplicate or conflicting names: servers, accepted domains, more than one default domain;
* email address templates whose domain is not an accepted domain (Exchange refuses them at step 3);
* a Send connector source server that is not one of the Mailbox servers, an invalid address space or smart host;
* certificate names that do not cover every name of the URL plan - the Client Frontend FQDN included (seed
  "Configure authenticated SMTP settings": "The certificate needs to match or contain the FQDN value");
* a certificate source that cannot work (neither a request directory nor a PFX, or both);
* a declared ``exchange_version`` that is not a version the collection supports.

:func:`with_server_versions` then adds what each server runs, read from Exchange (``AdminDisplayVersion``), and
refuses a declared version that differs from it.
"""


import copy
import ipaddress
import re

from ansible_collections.mailops.exchange.plugins.module_utils import canonical
from ansible_collections.mailops.exchange.plugins.module_utils.url_plan import UrlPlanError, build_url_plan, normalize_fqdn

VERSIONS = ("2013", "2016", "2019", "SE")
DOMAIN_TYPES = ("Authoritative", "InternalRelay", "ExternalRelay")
CERTIFICATE_SERVICES = ("IIS", "SMTP", "IMAP", "POP", "UM", "UMCallRouter", "Federation", "None")
KEY_SIZES = (2048, 4096)

# C0 controls, DEL, C1 controls (NEL among them) and the Unicode line and paragraph separators: none of them
# belongs in a name, a template or a comment that Exchange stores.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# An Exchange server (computer) name: letters, digits and hyphens, at most 63 characters (a DNS label).
_SERVER_NAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")
_SMTP_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]*\Z")

NAMESPACE_KEYS = ("external_fqdn", "owa_fqdn", "internal_fqdn", "client_frontend_fqdn", "public_address",
                  "private_dns_target")
ACCEPTED_DOMAIN_KEYS = ("name", "domain_name", "domain_type", "make_default")
POLICY_KEYS = ("name", "primary_smtp_address_template", "extra_templates", "apply")
SEND_CONNECTOR_KEYS = ("name", "address_spaces", "smart_hosts", "source_transport_servers", "fqdn",
                       "max_message_size", "require_tls", "comment")
CERTIFICATE_KEYS = ("subject_name", "domain_names", "friendly_name", "key_size", "private_key_exportable",
                    "request_dir", "response_dir", "pfx_path", "pfx_password", "services", "replace_default_smtp",
                    "allow_pending", "ca_command")


class OrganisationError(ValueError):
    """The model cannot work; ``problems`` lists every refusal (``variable: rule``)."""

    def __init__(self, problems):
        self.problems = list(problems)
        ValueError.__init__(
            self,
            "the organisation's variables cannot work - nothing was changed (%d problem%s):\n%s"
            % (len(self.problems), "" if len(self.problems) == 1 else "s", "\n".join("- " + p for p in self.problems)),
        )


def _shown(path, value):
    """A value as a message may show it: never the value of a password."""
    if "password" in path.lower():
        return "(secret)"
    return repr(value)


def _control_characters(path, value, problems):
    """Refuse control characters in every string of ``value`` (recursively), naming where they are."""
    if isinstance(value, dict):
        for key, item in value.items():
            _control_characters("%s.%s" % (path, key), item, problems)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _control_characters("%s[%d]" % (path, index), item, problems)
    elif isinstance(value, str) and "password" not in path.lower():  # a password is never a name Exchange stores
        match = _CONTROL.search(value)
        if match:
            problems.append("%s: control character U+%04X is not allowed (in %s)"
                            % (path, ord(match.group(0)), _shown(path, value)))


class _Checker:
    def __init__(self):
        self.problems = []

    def refuse(self, message):
        self.problems.append(message)

    def mapping(self, path, value, keys, required=False):
        if value is None:
            if required:
                self.refuse("%s: required (a mapping with %s)" % (path, ", ".join(keys)))
            return {}
        if not isinstance(value, dict):
            self.refuse("%s: a mapping is required, got %s" % (path, _shown(path, value)))
            return {}
        unknown = sorted(set(value) - set(keys))
        for key in unknown:
            self.refuse("%s.%s: unknown option (known: %s)" % (path, key, ", ".join(keys)))
        return value

    def sequence(self, path, value):
        if value is None:
            return []
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            self.refuse("%s: a list is required, got %s" % (path, _shown(path, value)))
            return []
        return list(value)

    def fqdn(self, path, value, required=False):
        if value in (None, ""):
            if required:
                self.refuse("%s: required (a fully qualified domain name such as mail.contoso.com)" % path)
            return None
        if not isinstance(value, str):
            self.refuse("%s: a host name is required, got %s" % (path, _shown(path, value)))
            return None
        if _CONTROL.search(value):
            return None  # already refused, once, by the control-character rule
        if ".." in value:
            self.refuse("%s: %r has an empty label (two dots in a row)" % (path, value))
            return None
        try:
            return normalize_fqdn(value, path)
        except UrlPlanError as exc:
            self.refuse(str(exc))
            return None

    def domain(self, path, value, wildcard=False):
        if not isinstance(value, str) or not value.strip():
            self.refuse("%s: a domain name is required, got %s" % (path, _shown(path, value)))
            return None
        if _CONTROL.search(value):
            return None
        name = value.strip().lower().rstrip(".")
        if wildcard and name.startswith("*."):
            rest = self.fqdn(path, name[2:])
            return "*." + rest if rest else None
        return self.fqdn(path, name)

    def boolean(self, path, value, default):
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("yes", "true", "on", "1", "no", "false", "off", "0"):
            return value.strip().lower() in ("yes", "true", "on", "1")
        self.refuse("%s: true or false is required, got %s" % (path, _shown(path, value)))
        return default


def _servers(checker, servers, declared_versions):
    result = []
    names = {}
    fqdns = {}
    for index, server in enumerate(checker.sequence("mailops_servers", servers)):
        path = "mailops_servers[%d]" % index
        server = checker.mapping(path, server, ("name", "fqdn"))
        name = server.get("name")
        if not isinstance(name, str) or not _SERVER_NAME.match(name.strip()):
            checker.refuse("%s.name: %s is not an Exchange server name (letters, digits and inner hyphens, at most "
                           "63 characters; the computer name, not its FQDN)" % (path, _shown(path, name)))
            continue
        name = name.strip()
        fqdn = checker.fqdn(path + ".fqdn", server.get("fqdn"), required=True)
        if name.lower() in names:
            checker.refuse("%s.name: server %s is listed twice (also %s)" % (path, name, names[name.lower()]))
            continue
        names[name.lower()] = path
        if fqdn is not None:
            if fqdn in fqdns:
                checker.refuse("%s.fqdn: %s is also the FQDN of %s" % (path, fqdn, fqdns[fqdn]))
            fqdns[fqdn] = name
        declared = (declared_versions or {}).get(name)
        if declared in ("", None):
            declared = None
        else:
            declared = str(declared).strip()
            if declared.upper() == "SE":
                declared = "SE"
            if declared not in VERSIONS:
                checker.refuse("exchange_version of %s: %r is not a supported version (%s)"
                               % (name, declared, ", ".join(VERSIONS)))
                declared = None
        result.append({"name": name, "fqdn": fqdn, "declared_version": declared})
    if not result and not checker.problems:
        checker.refuse("mailops_servers: at least one Mailbox server is required (the exchange_mailbox group)")
    return result


def _accepted_domains(checker, domains):
    result = []
    seen = {}
    defaults = []
    for index, item in enumerate(checker.sequence("mailops_accepted_domains", domains)):
        path = "mailops_accepted_domains[%d]" % index
        if isinstance(item, str):
            item = {"domain_name": item}
        item = checker.mapping(path, item, ACCEPTED_DOMAIN_KEYS)
        domain_type = item.get("domain_type") or "Authoritative"
        match = [t for t in DOMAIN_TYPES if t.lower() == str(domain_type).strip().lower()]
        if not match:
            checker.refuse("%s.domain_type: %r is not one of %s" % (path, domain_type, ", ".join(DOMAIN_TYPES)))
            continue
        domain_type = match[0]
        # Only relay domains may be wildcards (*.contoso.com): Exchange refuses an authoritative wildcard domain.
        domain = checker.domain(path + ".domain_name", item.get("domain_name"), wildcard=domain_type != "Authoritative")
        if domain is None:
            continue
        if domain in seen:
            checker.refuse("%s.domain_name: %s is listed twice (also %s)" % (path, domain, seen[domain]))
            continue
        seen[domain] = path
        make_default = checker.boolean(path + ".make_default", item.get("make_default"), False)
        if make_default:
            defaults.append(domain)
        name = item.get("name")
        name = name.strip() if isinstance(name, str) and name.strip() else domain
        result.append({"name": name, "domain_name": domain, "domain_type": domain_type, "make_default": make_default})
    if len(defaults) > 1:
        checker.refuse("mailops_accepted_domains: only one domain can be the default, %s are (make_default)"
                       % " and ".join(defaults))
    if not result and not checker.problems:
        checker.refuse("mailops_accepted_domains: at least one accepted domain is required")
    return result


def _template(checker, path, value, accepted, primary):
    """Check one SMTP address template: ``[%g.%s]@domain`` with the domain an accepted domain."""
    if not isinstance(value, str) or not value.strip():
        checker.refuse("%s: an address template such as @contoso.com or %%g.%%s@contoso.com is required" % path)
        return None
    if _CONTROL.search(value):
        return None
    text = value.strip()
    prefix = None
    if ":" in text.split("@")[0]:
        prefix, _sep, text = text.partition(":")
        if prefix.upper() != "SMTP":
            return value.strip()  # X400: and other non-SMTP templates are Exchange's to judge
        if primary and prefix != "SMTP":
            checker.refuse("%s: %r is marked secondary (smtp:); the primary template is SMTP: or no prefix"
                           % (path, value))
            return None
    if text.count("@") != 1:
        checker.refuse("%s: %r must contain exactly one @ (for example @contoso.com or %%g.%%s@contoso.com)"
                       % (path, value))
        return None
    local, _at, domain_part = text.partition("@")
    if not _SMTP_LOCAL.match(local):
        checker.refuse("%s: %r has characters an SMTP address cannot have before the @" % (path, value))
        return None
    domain = checker.domain(path, domain_part)
    if domain is None:
        return None
    if not canonical.domain_covered(domain, [d["domain_name"] for d in accepted]):
        checker.refuse("%s: the domain %s of %r is not one of mailops_accepted_domains (%s); Exchange refuses "
                       "an address template outside the accepted domains"
                       % (path, domain, value, ", ".join(d["domain_name"] for d in accepted) or "none"))
        return None
    body = local + "@" + domain
    if prefix is None:
        return body if primary else "smtp:" + body
    return prefix + ":" + body


def _email_address_policy(checker, policy, accepted):
    path = "mailops_email_address_policy"
    policy = checker.mapping(path, policy, POLICY_KEYS, required=True)
    if not policy:
        return {}
    name = policy.get("name") or "Default Policy"
    primary = _template(checker, path + ".primary_smtp_address_template", policy.get("primary_smtp_address_template"),
                        accepted, primary=True)
    extra = []
    for index, template in enumerate(checker.sequence(path + ".extra_templates", policy.get("extra_templates"))):
        checked = _template(checker, "%s.extra_templates[%d]" % (path, index), template, accepted, primary=False)
        if checked is not None:
            if checked.startswith("SMTP:"):
                checker.refuse("%s.extra_templates[%d]: %r is marked primary (SMTP:); the primary template is "
                               "primary_smtp_address_template" % (path, index, template))
            extra.append(checked)
    return {"name": str(name).strip(), "primary_smtp_address_template": primary, "extra_templates": extra,
            "apply": checker.boolean(path + ".apply", policy.get("apply"), True)}


def _send_connector(checker, connector, servers):
    path = "mailops_send_connector"
    connector = checker.mapping(path, connector, SEND_CONNECTOR_KEYS, required=True)
    if not connector:
        return {}
    result = {}
    name = connector.get("name")
    if not isinstance(name, str) or not name.strip():
        checker.refuse("%s.name: the connector's name is required (for example To internet)" % path)
    elif "\\" in name:
        checker.refuse("%s.name: %r contains a backslash; a Send connector's name cannot (Exchange reads it as "
                       "server\\name)" % (path, name))
    else:
        result["name"] = name.strip()
    spaces = []
    for index, space in enumerate(checker.sequence(path + ".address_spaces", connector.get("address_spaces", ["*"]))):
        where = "%s.address_spaces[%d]" % (path, index)
        if not isinstance(space, str) or _CONTROL.search(space):
            if not isinstance(space, str):
                checker.refuse("%s: an address space is required, got %s" % (where, _shown(where, space)))
            continue
        form = canonical.address_space(space)
        body = form.split(":", 1)[1].rsplit(";", 1)[0] if form else ""
        if form and form.startswith("SMTP:") and body != "*" and checker.domain(where, body, wildcard=True) is None:
            continue
        spaces.append(space.strip())
    if not spaces and not checker.problems:
        checker.refuse("%s.address_spaces: at least one address space is required (* is every domain)" % path)
    result["address_spaces"] = spaces
    smart_hosts = []
    for index, host in enumerate(checker.sequence(path + ".smart_hosts", connector.get("smart_hosts"))):
        where = "%s.smart_hosts[%d]" % (path, index)
        try:
            smart_hosts.append(str(ipaddress.ip_address(str(host).strip().strip("[]"))))
            continue
        except ValueError:
            pass
        checked = checker.fqdn(where, host, required=True)
        if checked is not None:
            smart_hosts.append(checked)
    if connector.get("smart_hosts") is not None:
        result["smart_hosts"] = smart_hosts
    known = dict((s["name"].lower(), s["name"]) for s in servers)
    if connector.get("source_transport_servers") is not None:
        sources = []
        for index, server in enumerate(checker.sequence(path + ".source_transport_servers",
                                                        connector.get("source_transport_servers"))):
            where = "%s.source_transport_servers[%d]" % (path, index)
            if not isinstance(server, str) or server.strip().lower() not in known:
                checker.refuse("%s: %s is not one of the Mailbox servers (%s)"
                               % (where, _shown(where, server), ", ".join(s["name"] for s in servers)))
                continue
            sources.append(known[server.strip().lower()])
        result["source_transport_servers"] = sources
    else:
        result["source_transport_servers"] = [s["name"] for s in servers]
    if connector.get("fqdn") not in (None, ""):
        result["fqdn"] = checker.fqdn(path + ".fqdn", connector.get("fqdn"))
    if connector.get("max_message_size") not in (None, ""):
        try:
            canonical.byte_size(connector.get("max_message_size"))
            result["max_message_size"] = str(connector.get("max_message_size")).strip()
        except ValueError as exc:
            checker.refuse("%s.max_message_size: %s" % (path, exc))
    if connector.get("require_tls") is not None:
        result["require_tls"] = checker.boolean(path + ".require_tls", connector.get("require_tls"), False)
    if connector.get("comment") is not None:
        result["comment"] = str(connector.get("comment"))
    return result


def _ca_command(checker, path, value):
    """The CA hook's argv: a list of arguments (never a command line - it runs without a shell); [] when unset."""
    if isinstance(value, str):
        checker.refuse("%s: a list of arguments is required (the command runs without a shell), got the string %s"
                       % (path, _shown(path, value)))
        return []
    command = []
    for index, argument in enumerate(checker.sequence(path, value)):
        if isinstance(argument, bool) or not isinstance(argument, (str, int, float)):
            checker.refuse("%s[%d]: an argument (a string) is required, got %s"
                           % (path, index, _shown(path, argument)))
            continue
        command.append(str(argument))
    if command and not command[0].strip():
        checker.refuse("%s[0]: the program to run is required, got an empty string" % path)
    return command


def _certificate(checker, certificate, plan):
    path = "mailops_certificate"
    certificate = checker.mapping(path, certificate, CERTIFICATE_KEYS)
    # The PFX password stays out of the model: the model is a fact, and facts are shown in verbose output and in an
    # AWX job's events. The certificate role reads it from mailops_certificate (a vaulted variable) itself.
    result = dict((k, v) for k, v in certificate.items() if k in CERTIFICATE_KEYS and k != "pfx_password")
    if not certificate:
        return result
    has_pfx = certificate.get("pfx_path") not in (None, "")
    has_request = certificate.get("request_dir") not in (None, "")
    if not has_pfx and not has_request:
        checker.refuse("%s: request_dir (where the request is written for the CA and its answer is read from) or "
                       "pfx_path (a certificate exported with its key) is required" % path)
    if has_pfx and certificate.get("pfx_password") in (None, ""):
        checker.refuse("%s.pfx_password: required with pfx_path" % path)
    if certificate.get("ca_command") is not None:
        command = _ca_command(checker, path + ".ca_command", certificate["ca_command"])
        if command and has_pfx:
            checker.refuse("%s.ca_command: answers a certificate request, but with pfx_path nothing is requested"
                           % path)
        if command:
            result["ca_command"] = command
        else:
            result.pop("ca_command", None)
    if certificate.get("key_size") is not None:
        try:
            size = int(certificate["key_size"])
        except (TypeError, ValueError):
            size = None
        if size not in KEY_SIZES:
            checker.refuse("%s.key_size: %r is not one of %s"
                           % (path, certificate["key_size"], ", ".join(str(k) for k in KEY_SIZES)))
        else:
            result["key_size"] = size
    services = []
    for index, service in enumerate(checker.sequence(path + ".services", certificate.get("services", ["IIS", "SMTP"]))):
        match = [s for s in CERTIFICATE_SERVICES if s.lower() == str(service).strip().lower()]
        if not match:
            checker.refuse("%s.services[%d]: %r is not an Exchange certificate service (%s)"
                           % (path, index, service, ", ".join(CERTIFICATE_SERVICES)))
        else:
            services.append(match[0])
    result["services"] = services
    if certificate.get("domain_names") is not None:
        names = []
        for index, name in enumerate(checker.sequence(path + ".domain_names", certificate.get("domain_names"))):
            checked = checker.domain("%s.domain_names[%d]" % (path, index), name, wildcard=True)
            if checked is not None and checked not in names:
                names.append(checked)
        if plan is not None and names:
            from ansible_collections.mailops.exchange.plugins.module_utils.validation import dns_name_matches
            uncovered = [n for n in plan["certificate_names"] if not any(dns_name_matches(p, n) for p in names)]
            if uncovered:
                checker.refuse("%s.domain_names: %s not covered, but the URL plan needs %s on the certificate%s"
                               % (path, ", ".join(uncovered), "it" if len(uncovered) == 1 else "them",
                                  " (the Client Frontend FQDN must be on it too)"
                                  if plan["namespace"]["client_frontend_fqdn"] in uncovered else ""))
        result["domain_names"] = names
    elif plan is not None:
        result["domain_names"] = list(plan["certificate_names"])
    return result


def check_organisation(variables):
    """Check and normalise the organisation's variables; return the model or raise :class:`OrganisationError`.

    ``variables`` holds ``mailops_namespace``, ``mailops_accepted_domains``, ``mailops_email_address_policy``,
    ``mailops_send_connector``, ``mailops_certificate`` (optional), ``mailops_servers`` and
    ``exchange_versions`` (server name -> declared ``exchange_version``, optional).
    """
    checker = _Checker()
    variables = dict(variables or {})
    for key in sorted(variables):
        _control_characters(key, variables[key], checker.problems)

    servers = _servers(checker, variables.get("mailops_servers"), variables.get("exchange_versions"))
    accepted = _accepted_domains(checker, variables.get("mailops_accepted_domains"))

    namespace = checker.mapping("mailops_namespace", variables.get("mailops_namespace"), NAMESPACE_KEYS, required=True)
    names = {}
    for key in ("external_fqdn", "owa_fqdn", "internal_fqdn", "client_frontend_fqdn", "private_dns_target"):
        names[key] = checker.fqdn("mailops_namespace." + key, namespace.get(key), required=key == "external_fqdn")
    address = namespace.get("public_address")
    if address not in (None, ""):
        try:
            address = str(ipaddress.ip_address(str(address).strip()))
        except ValueError:
            checker.refuse("mailops_namespace.public_address: %r is not an IP address" % (address,))
            address = None
    server_fqdns = set(s["fqdn"] for s in servers if s["fqdn"])
    for key in ("external_fqdn", "owa_fqdn", "internal_fqdn"):
        if names.get(key) in server_fqdns:
            checker.refuse("mailops_namespace.%s: %s is a server's own FQDN; the namespace is a name of its own that "
                           "points at the servers (seeds: mail.contoso.com for the server mailbox01.contoso.com)"
                           % (key, names[key]))

    plan = None
    if not checker.problems:
        try:
            plan = build_url_plan(
                external_fqdn=names["external_fqdn"], owa_fqdn=names["owa_fqdn"], internal_fqdn=names["internal_fqdn"],
                servers=[{"name": s["name"], "fqdn": s["fqdn"]} for s in servers],
                accepted_domains=[d["domain_name"] for d in accepted if not d["domain_name"].startswith("*.")],
                public_address=address, client_frontend_fqdn=names["client_frontend_fqdn"],
                private_dns_target=names["private_dns_target"],
            )
        except UrlPlanError as exc:
            checker.refuse("mailops_namespace: %s" % exc)

    policy = _email_address_policy(checker, variables.get("mailops_email_address_policy"), accepted)
    connector = _send_connector(checker, variables.get("mailops_send_connector"), servers)
    certificate = _certificate(checker, variables.get("mailops_certificate"), plan)

    if checker.problems:
        raise OrganisationError(checker.problems)
    return {
        "namespace": plan["namespace"],
        "plan": plan,
        "servers": servers,
        "accepted_domains": accepted,
        "email_address_policy": policy,
        "send_connector": connector,
        "certificate": certificate,
        "client_frontend_fqdn": plan["namespace"]["client_frontend_fqdn"],
    }


def with_server_versions(model, servers_read):
    """The model with each server's version as Exchange reports it (``exchange_info``'s ``servers``).

    Refuses a server Exchange does not know, a version the collection does not support, and a declared
    ``exchange_version`` that differs from the server's.
    """
    model = copy.deepcopy(model)
    read = dict(((s.get("name") or "").lower(), s) for s in servers_read or [])
    problems = []
    for server in model["servers"]:
        found = read.get(server["name"].lower())
        if found is None:
            problems.append("mailops_servers: %s is not an Exchange server of this organisation (Get-ExchangeServer "
                            "lists %s)" % (server["name"], ", ".join(sorted(s.get("name") or "?" for s in servers_read or []))
                                           or "none"))
            continue
        version = found.get("version")
        if version not in VERSIONS:
            problems.append("%s runs %s (AdminDisplayVersion), which is not a version the collection supports (%s)"
                            % (server["name"], found.get("admin_display_version") or "an unknown version",
                               ", ".join(VERSIONS)))
            continue
        if server.get("declared_version") and server["declared_version"] != version:
            problems.append("exchange_version of %s: declared %s, but the server runs Exchange %s (%s); correct the "
                            "inventory" % (server["name"], server["declared_version"], version,
                                           found.get("admin_display_version")))
            continue
        server["version"] = version
        server["admin_display_version"] = found.get("admin_display_version")
    if problems:
        raise OrganisationError(problems)
    model["versions"] = sorted(set(s["version"] for s in model["servers"]))
    return model
