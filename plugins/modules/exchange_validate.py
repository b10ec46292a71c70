#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
---
module: exchange_validate
short_description: Prove that mail flow and client access work - DNS, certificate and endpoints
version_added: "0.1.0"
description:
  - The "How do you know this task worked?" of Microsoft's "Configure mail flow and client access" (Exchange 2013,
    2016, 2019), checked from the controller instead of by hand with C(nslookup) and a browser.
  - B(DNS) - with dnspython against the given resolvers, the public view and the private view separately
    (split-brain DNS) - every expected record, by default the public and private tables of the URL plan
    (P(mailops.exchange.url_plan#filter) filter) - MX of every accepted domain, A of the mail FQDN, CNAMEs of Outlook
    on the web and Autodiscover; privately, CNAMEs of the namespace to the server FQDN.
  - B(HTTPS) - Outlook on the web (O(owa_url)) presents a certificate that validates for its host name against
    O(ca_bundle) (Microsoft's "verify that there are no certificate warnings").
  - B(SMTP) - the authenticated SMTP submission endpoint (port 587, the C(Client Frontend <server>) receive
    connector) advertises STARTTLS and, after it, presents a certificate valid for O(client_frontend_fqdn).
  - B(Certificate) - the certificate presented over HTTPS covers every name of O(certificate_names) and the one
    presented over SMTP covers O(client_frontend_fqdn) (RFC 6125 - a wildcard only as the whole left-most label,
    matching exactly one label, never an IP address); neither has expired nor expires within
    O(expiry_window_days), each has a key of at least O(min_key_size) bits and no SHA-1 (or MD5) signature.
  - Every check has a name, what was expected, what was found and a verdict. The report is returned and, with
    O(report_dir), written as C(report.txt) (readable), C(report.json) and C(junit.xml).
  - The module fails, naming every failing check, when any check fails (unless O(fail_on_failure=false)).
  - It reads only. It opens no WinRM connection and takes no Exchange connection options; run it on the
    controller (C(delegate_to) set to C(localhost)).
  - There, over a C(local) connection, the collection's action plugin runs it inside Ansible's worker process (no
    module process of its own); with another connection, C(become) or C(async) it runs as a module.
author:
  - mailops.exchange developers (!UNKNOWN)
requirements:
  - dnspython >= 2.0 (for the DNS checks)
  - cryptography (to read the certificates the endpoints present)
extends_documentation_fragment:
  - mailops.exchange.attributes.validate
options:
  plan:
    description:
      - The URL plan, as the P(mailops.exchange.url_plan#filter) filter returns it. It supplies the defaults of
        O(dns_records), O(certificate_names), O(owa_url) and O(client_frontend_fqdn).
    type: dict
  dns_records:
    description:
      - The records to expect, per view; each record C({name, type, value}) (types A, AAAA, CNAME, MX, TXT, SRV,
        NS; an MX value is the exchanger's name, its preference is not compared). Defaults to C(plan.dns).
      - A view whose list is empty is not checked.
    type: dict
    suboptions:
      public:
        description: Records the public DNS view must answer.
        type: list
        elements: dict
      private:
        description: Records the private (internal) DNS view must answer.
        type: list
        elements: dict
  dns_public:
    description:
      - The resolvers that answer for the public view. Required when public records are checked.
    type: dict
    suboptions:
      nameservers:
        description: IP addresses of the DNS servers to ask.
        type: list
        elements: str
        required: true
      port:
        description: Their port.
        type: int
        default: 53
  dns_private:
    description:
      - The resolvers that answer for the private view (the organisation's internal DNS). Required when private
        records are checked.
    type: dict
    suboptions:
      nameservers:
        description: IP addresses of the DNS servers to ask.
        type: list
        elements: str
        required: true
      port:
        description: Their port.
        type: int
        default: 53
  certificate_names:
    description:
      - The names the certificate presented over HTTPS must cover. Defaults to C(plan.certificate_names).
    type: list
    elements: str
  owa_url:
    description:
      - The Outlook on the web URL whose HTTPS endpoint is checked. Defaults to C(plan.urls.owa.external_url).
    type: str
  client_frontend_fqdn:
    description:
      - The FQDN authenticated SMTP clients connect to (the C(Client Frontend <server>) connector's FQDN).
        Defaults to C(plan.namespace.client_frontend_fqdn).
    type: str
  smtp_port:
    description: The SMTP submission port.
    type: int
    default: 587
  ca_bundle:
    description:
      - A PEM file of the certification authorities clients trust (the organisation's CA). Unset means the
        controller's default trust store.
    type: path
  endpoints:
    description:
      - Where to connect instead of resolving a name - for load balancers you want to bypass, for checking every
        server behind a name, and for the lab, whose names do not resolve.
      - Keys are C(host:port) as a client would use them (C(owa.contoso.com:443), C(mail.contoso.com:587)) or a
        bare host (any port). A value is an address C(host:port), a list of them, or a mapping of a label (for
        example the server name) to an address; each address is checked on its own.
      - The TLS server name sent and verified is always the client's host name, never the address.
    type: dict
    default: {}
  checks:
    description: The kinds of checks to make.
    type: list
    elements: str
    choices: [dns, https, smtp, certificate]
    default: [dns, https, smtp, certificate]
  expiry_window_days:
    description: A certificate that expires within this many days fails.
    type: int
    default: 30
  min_key_size:
    description: The smallest RSA key size that passes (EC keys need 256 bits).
    type: int
    default: 2048
  timeout:
    description: Seconds to wait for each DNS answer, connection and TLS handshake.
    type: float
    default: 10
  report_dir:
    description:
      - A directory (created if needed) to write C(report.txt), C(report.json) and C(junit.xml) into. The files are
        the run's output, not managed state - writing them does not count as a change.
    type: path
  report_title:
    description: The report's title.
    type: str
    default: mailops.exchange validation
  fail_on_failure:
    description: Fail the task when a check fails. With C(false) the result's RV(ok) tells.
    type: bool
    default: true
seealso:
  - module: mailops.exchange.exchange_vdir_url
  - plugin: mailops.exchange.url_plan
    plugin_type: filter
  - name: Configure mail flow and client access on Exchange servers
    description: Microsoft's procedure, whose verification steps these checks automate.
    link: https://learn.microsoft.com/exchange/plan-and-deploy/post-installation-tasks/configure-mail-flow-and-client-access
"""

EXAMPLES = r"""
- name: Validate the organisation from the controller
  mailops.exchange.exchange_validate:
    plan: "{{ exchange_namespace | mailops.exchange.url_plan }}"
    dns_public:
      nameservers: [198.51.100.53]
    dns_private:
      nameservers: [10.0.0.10, 10.0.0.11]
    ca_bundle: /etc/pki/contoso-root.pem
    report_dir: "{{ playbook_dir }}/validation"
  delegate_to: localhost
  run_once: true

- name: Check each server behind the load-balanced names (the lab's listeners, names that do not resolve)
  mailops.exchange.exchange_validate:
    plan: "{{ exchange_plan }}"
    dns_public: {nameservers: [127.0.0.1], port: "{{ lab.dns.public.port }}"}
    dns_private: {nameservers: [127.0.0.1], port: "{{ lab.dns.private.port }}"}
    ca_bundle: "{{ lab.ca_bundle }}"
    endpoints:
      "owa.contoso.com:443": {EX01: "127.0.0.1:40443", EX02: "127.0.0.1:40444"}
      "mail.contoso.com:587": {EX01: "127.0.0.1:40587", EX02: "127.0.0.1:40588"}
    report_dir: /tmp/validation
  delegate_to: localhost

- name: Only the DNS tables, explicit records, and keep going on failure
  mailops.exchange.exchange_validate:
    checks: [dns]
    dns_records:
      public:
        - {name: contoso.com, type: MX, value: mail.contoso.com}
        - {name: autodiscover.contoso.com, type: CNAME, value: mail.contoso.com}
    dns_public: {nameservers: [198.51.100.53]}
    fail_on_failure: false
  delegate_to: localhost
  register: dns_validation
"""

RETURN = r"""
ok:
  description: Whether every check passed.
  returned: always
  type: bool
  sample: true
summary:
  description: How many checks were made, passed and failed.
  returned: always
  type: dict
  sample: {total: 24, passed: 24, failed: 0}
checks:
  description: Every check in the order it was made.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: What was checked.
      type: str
      sample: "DNS public: contoso.com MX"
    category:
      description: C(dns-public), C(dns-private), C(https), C(smtp) or C(certificate).
      type: str
      sample: dns-public
    expected:
      description: What the check expected.
      type: str
      sample: mail.contoso.com
    found:
      description: What it found.
      type: str
      sample: mail.contoso.com
    verdict:
      description: C(pass) or C(fail).
      type: str
      sample: pass
failed_checks:
  description: The names of the checks that failed.
  returned: always
  type: list
  elements: str
  sample: ["DNS public: contoso.com MX"]
report:
  description: The readable report (what C(report.txt) holds).
  returned: always
  type: str
report_files:
  description: The files written, by format (C(text), C(json), C(junit)); empty without O(report_dir).
  returned: always
  type: dict
  sample: {text: /tmp/validation/report.txt, json: /tmp/validation/report.json, junit: /tmp/validation/junit.xml}
"""

import datetime
import os
import smtplib
import socket
import ssl

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.mailops.exchange.plugins.module_utils.validation import (
    RECORD_TYPES,
    Report,
    answer_key,
    certificate_info,
    check,
    check_certificate,
    check_dns,
)

from urllib.parse import urlsplit

try:
    import dns.exception
    import dns.resolver

    HAS_DNSPYTHON = True
    DNSPYTHON_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the controller
    HAS_DNSPYTHON = False
    DNSPYTHON_ERROR = exc

try:
    from cryptography import x509 as _x509_probe  # the certificate checks need cryptography

    HAS_CRYPTOGRAPHY = _x509_probe is not None
    CRYPTOGRAPHY_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the controller
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_ERROR = exc

VIEWS = ("public", "private")
ALL_CHECKS = ("dns", "https", "smtp", "certificate")


class ValidationInputError(ValueError):
    """The options do not describe something checkable; the message names the option."""


# --- pure: what to check ----------------------------------------------------------------------------------------


def parse_address(text, option):
    """``"host:port"`` / ``"[v6]:port"`` -> (host, port)."""
    value = str(text).strip()
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, sep, port_text = value.rpartition(":")
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValidationInputError("%s: %r is not an address of the form host:port" % (option, text))
    return host, int(port_text)


def endpoint_targets(endpoints, host, port):
    """The addresses to connect to for a client of ``host:port``: [(label, (address_host, address_port))].

    The label is '' for the name itself, else the label or address given in ``endpoints``.
    """
    host = host.lower().rstrip(".")
    lookup = {}
    for key, value in (endpoints or {}).items():
        lookup[str(key).lower().rstrip(".")] = (key, value)
    found = lookup.get("%s:%d" % (host, port)) or lookup.get(host)
    if found is None:
        return [("", (host, port))]
    key, value = found
    option = "endpoints[%s]" % key
    if isinstance(value, str):
        return [("", parse_address(value, option))]
    if isinstance(value, (list, tuple)):
        if not value:
            raise ValidationInputError("%s: an empty list of addresses" % option)
        return [(str(item), parse_address(item, option)) for item in value]
    if isinstance(value, dict):
        if not value:
            raise ValidationInputError("%s: an empty mapping of addresses" % option)
        return [(str(label), parse_address(item, "%s.%s" % (option, label))) for label, item in value.items()]
    raise ValidationInputError("%s: give host:port, a list of them or a mapping label: host:port, not %r" % (option, value))


def _plan_get(plan, *path):
    value = plan or {}
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def resolve_inputs(params):
    """The options with the plan's defaults filled in, validated: {'dns': {...}, 'names': [...], ...}."""
    plan = params.get("plan")
    if plan is not None and not isinstance(plan, dict):
        raise ValidationInputError("plan: the url_plan filter's result (a mapping) is required")
    checks = list(params.get("checks") or ALL_CHECKS)

    records = params.get("dns_records")
    if records is None:
        records = _plan_get(plan, "dns") or {}
    dns_records = {}
    for view in VIEWS:
        items = records.get(view) or []
        result = []
        for index, item in enumerate(items):
            option = "dns_records.%s[%d]" % (view, index)
            if not isinstance(item, dict) or not all(item.get(k) for k in ("name", "type", "value")):
                raise ValidationInputError("%s: a record needs name, type and value, got %r" % (option, item))
            rtype = str(item["type"]).upper()
            if rtype not in RECORD_TYPES:
                raise ValidationInputError("%s: type %r is not one of %s" % (option, item["type"], ", ".join(RECORD_TYPES)))
            result.append({"name": str(item["name"]), "type": rtype, "value": str(item["value"])})
        dns_records[view] = result

    resolvers = {}
    if "dns" in checks:
        for view in VIEWS:
            config = params.get("dns_%s" % view)
            if not dns_records[view]:
                continue
            if not config or not config.get("nameservers"):
                raise ValidationInputError(
                    "dns_%s: the resolvers of the %s view are required to check its %d record(s) "
                    "(or remove 'dns' from checks, or give dns_records.%s: [])" % (view, view, len(dns_records[view]), view)
                )
            port = int(config["port"]) if config.get("port") is not None else 53
            if not 0 < port < 65536:
                raise ValidationInputError("dns_%s.port: %d is not a port" % (view, port))
            resolvers[view] = {"nameservers": [str(n) for n in config["nameservers"]], "port": port}
        if not dns_records["public"] and not dns_records["private"]:
            raise ValidationInputError("dns_records: no record to check (give plan or dns_records, or remove 'dns' from checks)")

    names = params.get("certificate_names")
    if names is None:
        names = _plan_get(plan, "certificate_names") or []
    names = [str(n) for n in names]

    owa_url = params.get("owa_url") or _plan_get(plan, "urls", "owa", "external_url")
    frontend = params.get("client_frontend_fqdn") or _plan_get(plan, "namespace", "client_frontend_fqdn")

    https = None
    if "https" in checks or ("certificate" in checks and owa_url):
        if not owa_url:
            raise ValidationInputError("owa_url: the Outlook on the web URL is required for the https check (or give plan)")
        parts = urlsplit(owa_url)
        if parts.scheme != "https" or not parts.hostname:
            raise ValidationInputError("owa_url: %r is not an https:// URL" % owa_url)
        port = parts.port or 443
        https = {
            "url": owa_url,
            "host": parts.hostname,
            "port": port,
            "path": parts.path or "/",
            "targets": endpoint_targets(params.get("endpoints"), parts.hostname, port),
        }
        if "certificate" in checks and not names:
            raise ValidationInputError("certificate_names: the names the certificate must cover are required (or give plan)")

    smtp = None
    if "smtp" in checks or ("certificate" in checks and frontend):
        if not frontend:
            raise ValidationInputError("client_frontend_fqdn: required for the smtp check (or give plan)")
        port = int(params.get("smtp_port") or 587)
        smtp = {
            "host": frontend.lower().rstrip("."),
            "port": port,
            "targets": endpoint_targets(params.get("endpoints"), frontend, port),
        }
    return {
        "checks": checks,
        "dns_records": dns_records,
        "resolvers": resolvers,
        "certificate_names": names,
        "https": https,
        "smtp": smtp,
    }


# --- edges: DNS, HTTPS, SMTP ------------------------------------------------------------------------------------


def query_dns(view, records, resolver_config, timeout):
    """Ask the view's resolvers for each (name, type): answer_key -> {"values": [...], "error": text|None}."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = list(resolver_config["nameservers"])
    resolver.port = resolver_config["port"]
    resolver.lifetime = timeout
    resolver.timeout = timeout
    where = "%s port %d" % (", ".join(resolver.nameservers), resolver.port)
    answers = {}
    for record in records:
        key = answer_key(record["name"], record["type"])
        if key in answers:
            continue
        name = record["name"].rstrip(".") + "."
        try:
            answer = resolver.resolve(name, record["type"], raise_on_no_answer=False)
            values = [r.to_text() for r in answer.rrset] if answer.rrset is not None else []
            error = None if values else "no %s record (the name exists)" % record["type"]
        except dns.resolver.NXDOMAIN:
            values, error = [], "NXDOMAIN (no such name)"
        except dns.resolver.NoNameservers as exc:
            values, error = [], "no usable answer from %s (%s)" % (where, to_native(exc))
        except dns.exception.Timeout:
            values, error = [], "no answer from %s within %s s" % (where, timeout)
        except dns.exception.DNSException as exc:
            values, error = [], "%s: %s" % (type(exc).__name__, to_native(exc))
        answers[key] = {"values": values, "error": error}
    return answers


def _client_context(ca_bundle, verify):
    if verify:
        context = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else ssl.create_default_context()
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _tls_error_text(exc):
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "certificate rejected: %s" % (exc.verify_message or to_native(exc))
    return "%s: %s" % (type(exc).__name__, to_native(exc))


def probe_https(address, server_name, path, ca_bundle, timeout):
    """Connect, verify the certificate for ``server_name``, GET ``path``.

    Returns {"verified": bool, "error": text|None, "der": bytes|None, "status": text|None}.
    """
    result = {"verified": False, "error": None, "der": None, "status": None}
    for verify in (True, False):
        try:
            with socket.create_connection(address, timeout=timeout) as raw:
                with _client_context(ca_bundle, verify).wrap_socket(raw, server_hostname=server_name) as tls:
                    result["der"] = tls.getpeercert(binary_form=True)
                    if verify:
                        result["verified"] = True
                        request = "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: mailops.exchange.exchange_validate\r\nConnection: close\r\n\r\n"
                        tls.sendall((request % (path, server_name)).encode("ascii"))
                        line = tls.makefile("rb").readline(512).decode("latin-1").strip()
                        result["status"] = line or "no HTTP response"
            return result
        except ssl.SSLCertVerificationError as exc:
            result["error"] = _tls_error_text(exc)
            continue  # fetch the certificate without verifying, to report on it
        except (ssl.SSLError, OSError) as exc:
            if verify:
                result["error"] = _tls_error_text(exc)
            return result
    return result


class _SubmissionClient(smtplib.SMTP):
    """smtplib.SMTP whose STARTTLS verifies the client's host name, not the address it connected to."""

    def __init__(self, tls_server_name, timeout):
        self._tls_server_name = tls_server_name
        smtplib.SMTP.__init__(self, timeout=timeout)

    def connect(self, host="localhost", port=0, source_address=None):
        reply = smtplib.SMTP.connect(self, host, port, source_address)
        self._host = self._tls_server_name  # what starttls() passes as server_hostname
        return reply


def probe_smtp(address, server_name, ca_bundle, timeout):
    """EHLO, STARTTLS (verified for ``server_name``).

    Returns {"banner", "features", "starttls": bool, "verified": bool, "error", "der"}.
    """
    result = {"banner": None, "features": [], "starttls": False, "verified": False, "error": None, "der": None}
    for verify in (True, False):
        client = _SubmissionClient(server_name, timeout)
        try:
            code, banner = client.connect(address[0], address[1])
            result["banner"] = "%d %s" % (code, to_native(banner))
            client.ehlo("validate.mailops.invalid")
            result["features"] = sorted(k.upper() for k in client.esmtp_features)
            result["starttls"] = client.has_extn("starttls")
            if not result["starttls"]:
                return result
            client.starttls(context=_client_context(ca_bundle, verify))
            result["der"] = client.sock.getpeercert(binary_form=True)
            if verify:
                result["verified"] = True
            return result
        except ssl.SSLCertVerificationError as exc:
            result["error"] = _tls_error_text(exc)
            continue
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            if verify:
                result["error"] = _tls_error_text(exc)
            return result
        finally:
            try:
                client.close()
            except Exception:  # pragma: no cover - closing a broken connection
                pass
    return result


def _label(kind, host, port, label, address):
    where = "%s:%d" % (host, port)
    if label:
        where += " [%s]" % label
    elif address != (host, port):
        where += " [%s:%d]" % address
    return "%s %s" % (kind, where)


def _describe(der):
    info = certificate_info(der)
    return info, "%s, issued by %s, names %s" % (info["subject"], info["issuer"], ", ".join(info["dns_names"]) or "none")


def run_validation(params, now=None):
    """Make every check the options ask for; returns the :class:`Report`."""
    inputs = resolve_inputs(params)
    checks = inputs["checks"]
    timeout = float(params.get("timeout") or 10)
    ca_bundle = params.get("ca_bundle")
    window = int(params.get("expiry_window_days") if params.get("expiry_window_days") is not None else 30)
    min_key = int(params.get("min_key_size") or 2048)
    report = Report(params.get("report_title") or "mailops.exchange validation")

    if "dns" in checks:
        for view in VIEWS:
            records = inputs["dns_records"][view]
            if not records:
                continue
            answers = query_dns(view, records, inputs["resolvers"][view], timeout)
            report.extend(check_dns(view, records, answers))

    https = inputs["https"]
    if https:
        for label, address in https["targets"]:
            name = _label("HTTPS", https["host"], https["port"], label, address)
            probe = probe_https(address, https["host"], https["path"], ca_bundle, timeout)
            if "https" in checks:
                trust = ca_bundle or "the default trust store"
                if probe["verified"]:
                    found = "validated for %s; GET %s -> %s" % (https["host"], https["path"], probe["status"])
                else:
                    found = probe["error"]
                report.add(check(
                    "%s certificate valid for %s" % (name, https["host"]),
                    "https",
                    "a certificate valid for %s, trusted by %s (no certificate warnings)" % (https["host"], trust),
                    found,
                    probe["verified"],
                ))
            if "certificate" in checks:
                report.extend(_certificate_checks(probe, "%s certificate" % name, inputs["certificate_names"], now, window, min_key))

    smtp = inputs["smtp"]
    if smtp:
        for label, address in smtp["targets"]:
            name = _label("SMTP", smtp["host"], smtp["port"], label, address)
            probe = probe_smtp(address, smtp["host"], ca_bundle, timeout)
            if "smtp" in checks:
                if probe["banner"] is None:
                    found = probe["error"]
                else:
                    found = "EHLO offers %s" % (", ".join(probe["features"]) or "no extensions")
                report.add(check("%s advertises STARTTLS" % name, "smtp", "STARTTLS in the EHLO response", found, probe["starttls"]))
                if probe["starttls"]:
                    found = "validated for %s" % smtp["host"] if probe["verified"] else probe["error"]
                    report.add(check(
                        "%s certificate valid for %s" % (name, smtp["host"]),
                        "smtp",
                        "after STARTTLS, a certificate valid for %s, trusted by %s" % (smtp["host"], ca_bundle or "the default trust store"),
                        found,
                        probe["verified"],
                    ))
            if "certificate" in checks:
                if probe["banner"] is not None and not probe["starttls"]:
                    probe = dict(probe, error="no STARTTLS offered, so no certificate")
                report.extend(_certificate_checks(probe, "%s certificate" % name, [smtp["host"]], now, window, min_key))
    return report


def _certificate_checks(probe, label, names, now, window, min_key):
    if not probe["der"]:
        return [check("%s presented" % label, "certificate", "a certificate", probe["error"] or "none", False)]
    info, description = _describe(probe["der"])
    checks = [check("%s presented" % label, "certificate", "a certificate", description, True)]
    checks.extend(check_certificate(info, names, label, now=now, expiry_window_days=window, min_key_size=min_key))
    return checks


def write_report(report, directory):
    os.makedirs(directory, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    files = {
        "text": os.path.join(directory, "report.txt"),
        "json": os.path.join(directory, "report.json"),
        "junit": os.path.join(directory, "junit.xml"),
    }
    contents = {"text": report.to_text(), "json": report.to_json(), "junit": report.to_junit_xml(timestamp=stamp)}
    for kind, path in files.items():
        tmp = path + ".tmp"
        with open(tmp, "w") as handle:
            handle.write(contents[kind])
        os.replace(tmp, path)
    return files


def main(ansible_module=None):
    """The module; ``ansible_module`` stands for AnsibleModule (the action plugin's in-process stand-in)."""
    resolver_spec = dict(
        type="dict",
        options=dict(nameservers=dict(type="list", elements="str", required=True), port=dict(type="int", default=53)),
    )
    module = (ansible_module or AnsibleModule)(
        argument_spec=dict(
            plan=dict(type="dict"),
            dns_records=dict(
                type="dict",
                options=dict(public=dict(type="list", elements="dict"), private=dict(type="list", elements="dict")),
            ),
            dns_public=resolver_spec,
            dns_private=dict(resolver_spec),
            certificate_names=dict(type="list", elements="str"),
            owa_url=dict(type="str"),
            client_frontend_fqdn=dict(type="str"),
            smtp_port=dict(type="int", default=587),
            ca_bundle=dict(type="path"),
            endpoints=dict(type="dict", default={}),
            checks=dict(type="list", elements="str", choices=list(ALL_CHECKS), default=list(ALL_CHECKS)),
            expiry_window_days=dict(type="int", default=30),
            min_key_size=dict(type="int", default=2048),
            timeout=dict(type="float", default=10),
            report_dir=dict(type="path"),
            report_title=dict(type="str", default="mailops.exchange validation"),
            fail_on_failure=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if "dns" in params["checks"] and not HAS_DNSPYTHON:
        module.fail_json(msg=missing_required_lib("dnspython"), exception=to_native(DNSPYTHON_ERROR))
    if set(params["checks"]) & {"https", "smtp", "certificate"} and not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=to_native(CRYPTOGRAPHY_ERROR))
    if params["ca_bundle"] and not os.path.isfile(params["ca_bundle"]):
        module.fail_json(msg="ca_bundle: %s is not a file" % params["ca_bundle"])
    if params["expiry_window_days"] < 0 or params["min_key_size"] < 1 or params["timeout"] <= 0:
        module.fail_json(msg="expiry_window_days must be >= 0, min_key_size >= 1 and timeout > 0")

    try:
        report = run_validation(params)
    except ValidationInputError as exc:
        module.fail_json(msg=to_native(exc))

    result = dict(
        changed=False,
        ok=report.ok,
        summary=report.summary(),
        checks=[c.to_dict() for c in report.checks],
        failed_checks=[c.name for c in report.failures],
        report=report.to_text(),
        report_files={},
    )
    if params["report_dir"]:
        try:
            result["report_files"] = write_report(report, params["report_dir"])
        except OSError as exc:
            module.fail_json(msg="report_dir: cannot write the report to %s: %s" % (params["report_dir"], to_native(exc)), **result)
    if not report.ok and params["fail_on_failure"]:
        module.fail_json(msg=report.failure_message(), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
