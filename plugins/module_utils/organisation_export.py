# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A running organisation back into the variables ``site.yml`` takes - the inverse of the procedure.

Pure Python (no Ansible, no network). :func:`exported_variables` takes what ``exchange_info`` read (``gather: all``)
and returns ``mailops_namespace``, ``mailops_accepted_domains``, ``mailops_email_address_policy``,
``mailops_send_connector`` and ``mailops_certificate`` such that ``site.yml`` with them reports ``changed=0`` on the
same organisation. What Exchange does not hold - the public address, the private DNS target, the request directory,
the lab's signing switch - is taken from the inventory's current values (``keep``). Where the servers disagree, the
value of the most servers wins and :func:`exported_variables` lists the disagreement in ``notes`` (site.yml would
then align the others).
"""


import collections

from urllib.parse import urlsplit

from ansible_collections.mailops.exchange.plugins.module_utils import canonical

PROCEDURE_SERVICES = ("IIS", "SMTP", "IMAP", "POP")


class ExportError(ValueError):
    """The organisation cannot be expressed as the procedure's variables (the message says why)."""


def _host(url):
    if not url:
        return None
    return (urlsplit(url).hostname or "").lower() or None


def _most_common(values, what, notes):
    values = [v for v in values if v]
    if not values:
        return None
    counts = collections.Counter(values)
    value, _count = counts.most_common(1)[0]
    if len(counts) > 1:
        notes.append("%s differs between servers (%s); exported %s" % (
            what, ", ".join("%s on %d" % (v, n) for v, n in sorted(counts.items())), value))
    return value


def _namespace(servers, receive_connectors, keep, notes):
    with_urls = [s for s in servers if s.get("urls")]
    if not with_urls:
        raise ExportError("no server returned its virtual directories (gather client_access)")
    external = _most_common([(s.get("outlook_anywhere") or {}).get("external_hostname")
                             or _host(s["urls"].get("ews", {}).get("external_url")) for s in with_urls],
                            "the external FQDN", notes)
    if external is None:
        raise ExportError("no external URL is set on any server: the organisation is not configured (site.yml "
                          "sets it)")
    owa = _most_common([_host(s["urls"].get("owa", {}).get("external_url")) for s in with_urls],
                       "Outlook on the web's external FQDN", notes)
    internal = _most_common([(s.get("outlook_anywhere") or {}).get("internal_hostname")
                             or _host(s["urls"].get("ews", {}).get("internal_url")) for s in with_urls],
                            "the internal FQDN", notes)
    names = [s["name"].lower() for s in servers]
    frontends = [c.get("fqdn") for c in receive_connectors
                 if (c.get("name") or "").lower().startswith("client frontend")
                 and (c.get("server") or "").lower() in names]
    frontend = _most_common([canonical.fqdn(f) for f in frontends], "the Client Frontend FQDN", notes)
    namespace = {"external_fqdn": canonical.fqdn(external)}
    if owa and owa != namespace["external_fqdn"]:
        namespace["owa_fqdn"] = owa
    if internal and canonical.fqdn(internal) != namespace["external_fqdn"]:
        namespace["internal_fqdn"] = canonical.fqdn(internal)
    if frontend and frontend != namespace["external_fqdn"]:
        namespace["client_frontend_fqdn"] = frontend
    for key in ("public_address", "private_dns_target"):
        if (keep.get("mailops_namespace") or {}).get(key) not in (None, ""):
            namespace[key] = keep["mailops_namespace"][key]
    return namespace


def _accepted_domains(domains, policy, certificate_names, notes):
    """The accepted domains the procedure manages: the default one, those of the email address policy's templates,
    and those whose Autodiscover name is on the certificate. Setup's own accepted domain (the Active Directory
    domain) and others are left out - site.yml would otherwise plan MX and Autodiscover records for them."""
    used = set()
    for template in [policy.get("primary_smtp_address_template")] + list(policy.get("extra_templates") or []):
        domain = canonical.domain_of_template(template)
        if domain:
            used.add(domain)
    used.update(n[len("autodiscover."):] for n in certificate_names if n.startswith("autodiscover."))
    result = []
    for domain in domains:
        if not domain.get("make_default") and domain["domain_name"] not in used:
            notes.append("accepted domain %s is not in the email address policy nor on the certificate; not exported"
                         % domain["domain_name"])
            continue
        item = {"domain_name": domain["domain_name"], "domain_type": domain.get("domain_type") or "Authoritative",
                "make_default": bool(domain.get("make_default"))}
        if domain.get("name") and domain["name"].lower() != domain["domain_name"]:
            item["name"] = domain["name"]
        result.append(item)
    return result


def _policy(policies, keep):
    wanted = ((keep.get("mailops_email_address_policy") or {}).get("name") or "Default Policy").lower()
    policy = next((p for p in policies if (p.get("name") or "").lower() == wanted), None)
    if policy is None:
        raise ExportError("no email address policy named %s" % wanted)
    result = {"name": policy["name"], "primary_smtp_address_template": policy["primary_smtp_address_template"]}
    if policy.get("extra_templates"):
        result["extra_templates"] = list(policy["extra_templates"])
    return result


def _address_space(value):
    form = canonical.address_space(value)
    if form and form.startswith("SMTP:") and form.endswith(";1"):
        return form[len("SMTP:"):-len(";1")]
    return form


def _size(value):
    """Exchange's read-back size (``35 MB (36,700,160 bytes)``) as a user writes it (``35MB``)."""
    size = canonical.byte_size(value)
    if not isinstance(size, int):
        return size
    for unit in ("TB", "GB", "MB", "KB"):
        factor = {"KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}[unit]
        if size and size % factor == 0:
            return "%d%s" % (size // factor, unit)
    return "%dB" % size


def _send_connector(connectors, servers, keep, notes):
    internet = [c for c in connectors if "SMTP:*;1" in [canonical.address_space(a) for a in c.get("address_spaces") or []]]
    if not internet:
        raise ExportError("no Send connector has the address space * (step 1 creates one)")
    wanted = (keep.get("mailops_send_connector") or {}).get("name")
    chosen = next((c for c in internet if wanted and (c.get("name") or "").lower() == wanted.lower()), None)
    if chosen is None:
        chosen = sorted(internet, key=lambda c: (c.get("name") or "").lower())[0]
        if len(internet) > 1:
            notes.append("several Send connectors route *: %s; exported %s"
                         % (", ".join(sorted(c["name"] for c in internet)), chosen["name"]))
    result = {"name": chosen["name"], "address_spaces": [_address_space(a) for a in chosen["address_spaces"]]}
    if not chosen.get("dns_routing_enabled") and chosen.get("smart_hosts"):
        result["smart_hosts"] = list(chosen["smart_hosts"])
    sources = sorted(chosen.get("source_transport_servers") or [], key=str.lower)
    if sorted(s.lower() for s in sources) != sorted(s["name"].lower() for s in servers):
        result["source_transport_servers"] = sources
    for key in ("fqdn", "comment"):
        if chosen.get(key):
            result[key] = chosen[key]
    if chosen.get("max_message_size"):
        result["max_message_size"] = _size(chosen["max_message_size"])
    if chosen.get("require_tls"):
        result["require_tls"] = True
    return result


def _certificate(servers, keep, notes):
    kept = dict(keep.get("mailops_certificate") or {})
    candidates = []
    for server in servers:
        for certificate in server.get("certificates") or []:
            if certificate.get("usable") and "IIS" in (certificate.get("services") or []):
                candidates.append(certificate)
    if not candidates:
        notes.append("no server has a usable certificate enabled for IIS; mailops_certificate is the inventory's")
        return kept
    names = _most_common([tuple(c.get("sans") or []) for c in candidates], "the certificate's names", notes)
    chosen = next(c for c in candidates if tuple(c.get("sans") or []) == names)
    result = {"subject_name": chosen.get("subject"), "domain_names": [n.lower() for n in names]}
    if chosen.get("friendly_name"):
        result["friendly_name"] = chosen["friendly_name"]
    services = [s for s in PROCEDURE_SERVICES if s in (chosen.get("services") or [])]
    result["services"] = services
    # Never the PFX password: an export is a file, and secrets stay in the vault.
    for key in ("request_dir", "response_dir", "pfx_path", "allow_pending", "ca_command",
                "key_size", "private_key_exportable", "replace_default_smtp"):
        if key in kept:
            result[key] = kept[key]
    return result


def exported_variables(info, keep=None):
    """(variables, notes) for the organisation ``info`` describes (``exchange_info`` with ``gather: all``)."""
    keep = keep or {}
    notes = []
    servers = list(info.get("servers") or [])
    wanted = set(s.lower() for s in keep.get("servers") or [])
    if wanted:
        servers = [s for s in servers if (s.get("name") or "").lower() in wanted]
    if not servers:
        raise ExportError("exchange_info returned no server")
    policy = _policy(info.get("email_address_policies") or [], keep)
    certificate = _certificate(servers, keep, notes)
    variables = {
        "mailops_namespace": _namespace(servers, info.get("receive_connectors") or [], keep, notes),
        "mailops_accepted_domains": _accepted_domains(info.get("accepted_domains") or [], policy,
                                                      certificate.get("domain_names") or [], notes),
        "mailops_email_address_policy": policy,
        "mailops_send_connector": _send_connector(info.get("send_connectors") or [], servers, keep, notes),
        "mailops_certificate": certificate,
    }
    return variables, notes
