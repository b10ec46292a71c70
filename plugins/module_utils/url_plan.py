# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The URL plan: one namespace in, every client-access name Exchange needs out.

Pure Python (no Ansible, no network). It encodes the procedure "Configure mail flow and client access"
(Exchange 2013/2016/2019), steps 4 to 6:

* every virtual directory's internal and external URL (the seeds' three tables: external URLs; internal URLs the
  same as the external ones; internal URLs on a different FQDN such as ``internal.contoso.com``),
* the Outlook Anywhere internal and external host names,
* the Autodiscover service internal URI,
* the names the certificate must carry,
* the public and the private DNS records the seeds recommend.

Decisions the seeds leave open, and how they are settled here:

* ``mapi`` (MAPI over HTTP) is not in the seeds' tables; it follows the EWS/OAB rule (the namespace FQDN, ``/mapi``).
* Autodiscover internal URI: the seeds set no URL on the Autodiscover virtual directory. Domain-joined clients find
  Autodiscover through the service connection point, ``AutoDiscoverServiceInternalUri``. It has to be a name that
  (a) resolves in the private DNS view and (b) is on the certificate. The seeds' private DNS tables hold only the
  internal namespace (``mail.contoso.com`` / ``owa.contoso.com`` when internal URLs equal external ones,
  ``internal.contoso.com`` otherwise), never ``autodiscover.<domain>``; so the URI is
  ``https://<internal namespace>/Autodiscover/Autodiscover.xml``.
* Public DNS: one MX per accepted domain (Step 2's "A public DNS MX resource record is required for each SMTP
  domain"), and ``autodiscover.<domain>`` CNAME for each accepted domain (Outlook looks up
  ``autodiscover.<the user's SMTP domain>``); each of those names is also on the certificate.
* The Client Frontend FQDN needs a record in both views (seed "Configure authenticated SMTP settings": "the FQDN
  needs to have a corresponding record in your public DNS" and "internal DNS"): a public CNAME to the external FQDN
  when it is not one of the namespace names, and a private CNAME to the target server when the private view does
  not already hold it - also when it is the external FQDN and the internal namespace is a different one.
* Private records point at one server: the first server listed (the Internet-facing Mailbox server of the seeds)
  unless ``private_dns_target`` names another FQDN.
"""


import ipaddress
import re

# The virtual directories the plan sets, in the order of the seeds' tables (mapi added after oab).
# key -> (scheme, path, name of the Exchange virtual directory).
VDIRS = (
    ("ecp", "https", "/ecp", "ECP"),
    ("ews", "https", "/EWS/Exchange.asmx", "EWS"),
    ("eas", "https", "/Microsoft-Server-ActiveSync", "Microsoft-Server-ActiveSync"),
    ("oab", "https", "/OAB", "OAB"),
    ("owa", "https", "/owa", "OWA"),
    ("mapi", "https", "/mapi", "MAPI"),
    ("powershell", "http", "/PowerShell", "PowerShell"),
)
VDIR_KEYS = tuple(v[0] for v in VDIRS)
# Outlook on the web and the EAC share the unique OWA FQDN (seeds, step 4 note) and, internally, one URL host
# ("The ECP and OWA virtual directory internal URLs must be the same").
OWA_KEYS = ("owa", "ecp")
AUTODISCOVER_PATH = "/Autodiscover/Autodiscover.xml"

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)\Z")


class UrlPlanError(ValueError):
    """The namespace given to the plan is not usable; the message names the option and the cause."""


def normalize_fqdn(value, option):
    """Return ``value`` as a lower-case FQDN without a trailing dot, or raise :class:`UrlPlanError`."""
    if not isinstance(value, str) or not value.strip():
        raise UrlPlanError("%s: a fully qualified domain name is required, got %r" % (option, value))
    name = value.strip().lower()
    if name.endswith("."):
        name = name[:-1]
    if "://" in name or "/" in name:
        raise UrlPlanError("%s: %r is a URL; give only the host name (for example mail.contoso.com)" % (option, value))
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        raise UrlPlanError("%s: %r is an IP address; clients connect to a DNS name that the certificate carries" % (option, value))
    labels = name.split(".")
    if len(labels) < 2:
        raise UrlPlanError("%s: %r is not fully qualified (it needs a domain, for example mail.contoso.com)" % (option, value))
    if len(name) > 253:
        raise UrlPlanError("%s: %r is longer than 253 characters" % (option, value))
    for label in labels:
        if not _LABEL.match(label):
            raise UrlPlanError(
                "%s: %r has an invalid label %r (letters, digits and inner hyphens, 1 to 63 characters)" % (option, value, label)
            )
    return name


def _normalize_servers(servers):
    if servers is None:
        return []
    if not isinstance(servers, (list, tuple)):
        raise UrlPlanError("servers: a list of {name, fqdn} is required, got %r" % (servers,))
    result = []
    seen = set()
    for index, server in enumerate(servers):
        option = "servers[%d]" % index
        if not isinstance(server, dict):
            raise UrlPlanError("%s: a mapping with name and fqdn is required, got %r" % (option, server))
        name = server.get("name")
        if not isinstance(name, str) or not name.strip():
            raise UrlPlanError("%s.name: the Exchange server name is required" % option)
        fqdn = normalize_fqdn(server.get("fqdn"), option + ".fqdn")
        if name.strip().lower() in seen:
            raise UrlPlanError("%s.name: server %r is listed twice" % (option, name))
        seen.add(name.strip().lower())
        result.append({"name": name.strip(), "fqdn": fqdn})
    return result


def _normalize_domains(domains):
    if domains is None:
        return []
    if isinstance(domains, str):
        domains = [domains]
    if not isinstance(domains, (list, tuple)):
        raise UrlPlanError("accepted_domains: a list of domain names is required, got %r" % (domains,))
    result = []
    for index, domain in enumerate(domains):
        option = "accepted_domains[%d]" % index
        if isinstance(domain, dict):
            # The shape of the accepted-domain module's options: {name, domain_name, domain_type, ...}.
            domain = domain.get("domain_name")
            option += ".domain_name"
        name = normalize_fqdn(domain, option)
        if name not in result:
            result.append(name)
    return result


def _url(scheme, host, path):
    return "%s://%s%s" % (scheme, host, path)


def _record(name, rtype, value):
    return {"name": name, "type": rtype, "value": value}


def _unique(names):
    result = []
    for name in names:
        if name and name not in result:
            result.append(name)
    return result


def build_url_plan(
    external_fqdn,
    owa_fqdn=None,
    internal_fqdn=None,
    servers=None,
    accepted_domains=None,
    public_address=None,
    client_frontend_fqdn=None,
    private_dns_target=None,
):
    """Turn a namespace into the URL plan (see the module docstring for the rules).

    Returns a dict::

        {
          "namespace": {external_fqdn, owa_fqdn, internal_fqdn, internal_same_as_external, client_frontend_fqdn},
          "urls": {owa: {internal_url, external_url}, ecp: ..., ews, eas, oab, mapi, powershell},
          "outlook_anywhere": {internal_hostname, external_hostname},
          "autodiscover_internal_uri": "https://.../Autodiscover/Autodiscover.xml",
          "certificate_names": [...], "certificate_common_name": "...",
          "dns": {"public": [{name, type, value}, ...], "private": [...]},
          "servers": [{name, fqdn}], "accepted_domains": [...], "private_dns_target": "...",
        }
    """
    external = normalize_fqdn(external_fqdn, "external_fqdn")
    owa = normalize_fqdn(owa_fqdn, "owa_fqdn") if owa_fqdn not in (None, "") else external
    internal = normalize_fqdn(internal_fqdn, "internal_fqdn") if internal_fqdn not in (None, "") else external
    same = internal == external
    frontend = normalize_fqdn(client_frontend_fqdn, "client_frontend_fqdn") if client_frontend_fqdn not in (None, "") else external
    server_list = _normalize_servers(servers)
    domains = _normalize_domains(accepted_domains)

    address = None
    if public_address not in (None, ""):
        try:
            address = str(ipaddress.ip_address(str(public_address).strip()))
        except ValueError:
            raise UrlPlanError("public_address: %r is not an IP address" % (public_address,))

    if private_dns_target not in (None, ""):
        target = normalize_fqdn(private_dns_target, "private_dns_target")
    elif server_list:
        target = server_list[0]["fqdn"]
    else:
        target = None

    urls = {}
    for key, scheme, path, _vdir in VDIRS:
        external_host = owa if key in OWA_KEYS else external
        if same:
            internal_host = external_host  # "configure each internal URL to match the virtual directory's external URL"
        else:
            internal_host = internal  # every internal URL on the internal FQDN, OWA and ECP alike
        urls[key] = {
            "internal_url": _url(scheme, internal_host, path),
            "external_url": _url(scheme, external_host, path),
        }

    outlook_anywhere = {"external_hostname": external, "internal_hostname": internal}
    autodiscover_internal_uri = _url("https", internal, AUTODISCOVER_PATH)

    certificate_names = _unique(
        [external, owa] + ["autodiscover.%s" % d for d in domains] + [internal, frontend]
    )

    public = [_record(d, "MX", external) for d in domains]
    if address is not None:
        public.append(_record(external, "A", address))
    if owa != external:
        public.append(_record(owa, "CNAME", external))
    public.extend(_record("autodiscover.%s" % d, "CNAME", external) for d in domains)
    namespace_names = {external, owa, internal}
    if frontend not in namespace_names:
        public.append(_record(frontend, "CNAME", external))

    private = []
    if target is not None:
        if same:
            private.append(_record(external, "CNAME", target))
            if owa != external:
                private.append(_record(owa, "CNAME", target))
        else:
            private.append(_record(internal, "CNAME", target))
        # Seed 003: the Client Frontend FQDN needs a record in internal DNS - also when it is the external FQDN
        # and the internal namespace is a different one.
        if frontend not in set(record["name"] for record in private):
            private.append(_record(frontend, "CNAME", target))
    for record in private:
        if record["name"] == record["value"]:
            raise UrlPlanError(
                "private_dns_target: %s would be a CNAME to itself; the namespace FQDN must differ from the server FQDN"
                % record["name"]
            )

    return {
        "namespace": {
            "external_fqdn": external,
            "owa_fqdn": owa,
            "internal_fqdn": internal,
            "internal_same_as_external": same,
            "client_frontend_fqdn": frontend,
            "public_address": address,
        },
        "urls": urls,
        "outlook_anywhere": outlook_anywhere,
        "autodiscover_internal_uri": autodiscover_internal_uri,
        "certificate_common_name": external,
        "certificate_names": certificate_names,
        "dns": {"public": public, "private": private},
        "servers": server_list,
        "accepted_domains": domains,
        "private_dns_target": target,
    }


def url_plan_from_namespace(namespace, **overrides):
    """:func:`build_url_plan` from one mapping (the organisation's variables), with keyword overrides."""
    if namespace is None:
        namespace = {}
    if not isinstance(namespace, dict):
        raise UrlPlanError("the namespace must be a mapping (external_fqdn, owa_fqdn, ...), got %r" % (namespace,))
    values = dict(namespace)
    values.update(overrides)
    known = (
        "external_fqdn",
        "owa_fqdn",
        "internal_fqdn",
        "servers",
        "accepted_domains",
        "public_address",
        "client_frontend_fqdn",
        "private_dns_target",
    )
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise UrlPlanError("unknown namespace option(s): %s (known: %s)" % (", ".join(unknown), ", ".join(known)))
    if "external_fqdn" not in values:
        raise UrlPlanError("external_fqdn: the external namespace (for example mail.contoso.com) is required")
    return build_url_plan(**values)
