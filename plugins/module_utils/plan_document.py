# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan for the people who are not Exchange admins: DNS, PKI and client-settings teams.

Pure Python (no Ansible, no network). :func:`plan_files` takes the organisation's model (the ``organisation``
filter's result) and the certificate requests found on the controller, and returns every file of the plan as
text, by file name:

* ``urls.csv`` - the internal and external URL of every virtual directory per server, the Outlook Anywhere host
  names and the Autodiscover internal URI (the seeds' step 4 and 5 tables);
* ``dns-public.zone`` / ``dns-private.zone`` - the records to create, as zone-file lines (RFC 1035 master file
  format, absolute names) - and ``dns.csv``, the same records in one table;
* ``certificate.txt`` - the subject and names the certificate needs, and per server the request once made;
* ``client-settings.txt`` - the authenticated SMTP settings POP3 and IMAP4 clients use (seed 003);
* ``plan.json`` - all of the above, for machines;
* ``plan.html`` - all of the above as one self-contained page (no script, no external resource).
"""


import csv
import io
import json

from html import escape as _escape

from ansible_collections.mailops.exchange.plugins.module_utils.url_plan import VDIRS

# Seed 003: "Client Frontend <Server name>" listens for authenticated SMTP client submissions on port 587,
# encrypted with opportunistic TLS (STARTTLS).
SUBMISSION_PORT = 587
DEFAULT_TTL = 3600
MX_PREFERENCE = 10
VDIR_NAMES = dict((key, name) for key, _scheme, _path, name in VDIRS)


def _absolute(name):
    return name if name.endswith(".") else name + "."


def zone_line(record, ttl=DEFAULT_TTL):
    """One record as a zone-file line with absolute names: ``mail.contoso.com. 3600 IN A 203.0.113.10``."""
    value = record["value"]
    if record["type"] == "MX":
        value = "%d %s" % (MX_PREFERENCE, _absolute(value))
    elif record["type"] in ("CNAME", "NS", "PTR"):
        value = _absolute(value)
    return "%s %d IN %s %s" % (_absolute(record["name"]), ttl, record["type"], value)


def url_rows(model):
    """One row per server and virtual directory: server, virtual directory, internal URL, external URL."""
    plan = model["plan"]
    rows = []
    for server in model["servers"]:
        for key, _scheme, _path, name in VDIRS:
            urls = plan["urls"][key]
            rows.append({"server": server["name"], "what": "%s virtual directory" % name,
                         "internal": urls["internal_url"], "external": urls["external_url"]})
        rows.append({"server": server["name"], "what": "Outlook Anywhere host name",
                     "internal": plan["outlook_anywhere"]["internal_hostname"],
                     "external": plan["outlook_anywhere"]["external_hostname"]})
        rows.append({"server": server["name"], "what": "Autodiscover service internal URI",
                     "internal": plan["autodiscover_internal_uri"], "external": ""})
    return rows


def dns_rows(model):
    rows = []
    for view in ("public", "private"):
        for record in model["plan"]["dns"][view]:
            rows.append({"view": view, "name": record["name"], "type": record["type"], "value": record["value"],
                         "zone_line": zone_line(record)})
    return rows


def certificate_plan(model, requests=None):
    """What the certificate needs, and per server the request (decoded) once it was made."""
    certificate = model.get("certificate") or {}
    subject = certificate.get("subject_name") or "CN=%s" % model["plan"]["certificate_common_name"]
    return {
        "subject": subject,
        "names": list(certificate.get("domain_names") or model["plan"]["certificate_names"]),
        "names_needed": list(model["plan"]["certificate_names"]),
        "key_size": int(certificate.get("key_size") or 2048),
        "source": "PFX %s" % certificate["pfx_path"] if certificate.get("pfx_path") else "a request per server",
        "requests": [dict(request, server=server) for server, request in sorted((requests or {}).items())],
    }


def client_settings(model):
    fqdn = model["client_frontend_fqdn"]
    return {
        "smtp_server": fqdn,
        "port": SUBMISSION_PORT,
        "encryption": "STARTTLS (TLS after the plain-text greeting)",
        "authentication": "required - the mailbox's user name and password",
        "receive_connectors": ["%s\\Client Frontend %s" % (s["name"], s["name"]) for s in model["servers"]],
        "dns": "%s in public DNS (external clients) and in internal DNS (internal clients); TCP %d open to the "
               "Exchange servers" % (fqdn, SUBMISSION_PORT),
    }


def _csv(header, rows):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
    return out.getvalue()


def _zone(model, view):
    records = model["plan"]["dns"][view]
    head = ["; %s DNS records for the Exchange organisation (mailops.exchange plan)" % view.capitalize(),
            "; Add them to the zones that hold these names; TTL and MX preference are suggestions."]
    if not records:
        head.append("; none")
    return "\n".join(head + [zone_line(r) for r in records]) + "\n"


def _certificate_text(cert):
    lines = ["Certificate for the Exchange organisation", "", "Subject: %s" % cert["subject"],
             "Names (subject alternative names):"]
    lines += ["  %s" % name for name in cert["names"]]
    lines += ["Key: RSA %d bits" % cert["key_size"], "Source: %s" % cert["source"], ""]
    if cert["requests"]:
        lines.append("Requests made on the servers (send each to the CA; save its answer as <server>.cer):")
        for request in cert["requests"]:
            lines += ["", "%s - %s" % (request["server"], request.get("file", "")),
                      "  Subject: %s" % request.get("subject", ""),
                      "  Names: %s" % ", ".join(request.get("sans") or []),
                      "  Key: %s %s bits" % (request.get("key_algorithm", ""), request.get("key_size", ""))]
            if request.get("pem"):
                lines += ["", request["pem"].strip()]
    else:
        lines.append("No request has been made yet: the certificate step writes one per server.")
    return "\n".join(lines) + "\n"


def _client_text(settings):
    return "\n".join([
        "Authenticated SMTP settings for POP3 and IMAP4 clients",
        "",
        "Outgoing (SMTP) server: %s" % settings["smtp_server"],
        "Port: %d" % settings["port"],
        "Encryption: %s" % settings["encryption"],
        "Authentication: %s" % settings["authentication"],
        "",
        "Outlook on the web shows these settings (AdvertiseClientSettings) under Settings > Mail > Accounts > POP and IMAP.",
        "DNS and firewall: %s." % settings["dns"],
        "Receive connectors: %s" % ", ".join(settings["receive_connectors"]),
    ]) + "\n"


_STYLE = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:72rem;color:#1b1b1b;"
    "padding:0 1rem}h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccc}"
    "table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #ccc;padding:.3rem .5rem;"
    "text-align:left;vertical-align:top}th{background:#f0f0f0}code,pre{font-family:ui-monospace,Consolas,monospace;"
    "font-size:.9em}pre{background:#f7f7f7;padding:.6rem;overflow:auto}.muted{color:#666}"
)


def _table(header, rows):
    out = ["<table><thead><tr>%s</tr></thead><tbody>" % "".join("<th>%s</th>" % _escape(h) for h in header)]
    for row in rows:
        out.append("<tr>%s</tr>" % "".join("<td><code>%s</code></td>" % _escape(str(c)) if c != "" else "<td></td>"
                                           for c in row))
    out.append("</tbody></table>")
    return "".join(out)


def _html(model, cert, settings, title):
    ns = model["namespace"]
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        "<title>%s</title><style>%s</style></head><body>" % (_escape(title), _STYLE),
        "<h1>%s</h1>" % _escape(title),
        "<p class=\"muted\">Written by the mailops.exchange plan playbook from the inventory, without Exchange "
        "access. Servers: %s. External namespace <code>%s</code>%s; internal namespace <code>%s</code>.</p>"
        % (_escape(", ".join(s["name"] for s in model["servers"])), _escape(ns["external_fqdn"]),
           ", Outlook on the web <code>%s</code>" % _escape(ns["owa_fqdn"]) if ns["owa_fqdn"] != ns["external_fqdn"] else "",
           _escape(ns["internal_fqdn"])),
        "<h2>DNS records - public view</h2>",
        _table(["Name", "Type", "Value"], [(r["name"], r["type"], r["value"]) for r in model["plan"]["dns"]["public"]]),
        "<pre>%s</pre>" % _escape(_zone(model, "public")),
        "<h2>DNS records - private (internal) view</h2>",
        _table(["Name", "Type", "Value"], [(r["name"], r["type"], r["value"]) for r in model["plan"]["dns"]["private"]]),
        "<pre>%s</pre>" % _escape(_zone(model, "private")),
        "<h2>Certificate</h2>",
        _table(["Subject", "Names", "Key", "Source"],
               [(cert["subject"], ", ".join(cert["names"]), "RSA %d bits" % cert["key_size"], cert["source"])]),
    ]
    if cert["requests"]:
        parts.append(_table(["Server", "Request file", "Subject", "Names"],
                            [(r["server"], r.get("file", ""), r.get("subject", ""), ", ".join(r.get("sans") or []))
                             for r in cert["requests"]]))
        for request in cert["requests"]:
            if request.get("pem"):
                parts.append("<p>%s</p><pre>%s</pre>" % (_escape(request["server"]), _escape(request["pem"].strip())))
    else:
        parts.append("<p>No request has been made yet: the certificate step writes one per server.</p>")
    parts += [
        "<h2>POP3 and IMAP4 clients: authenticated SMTP</h2>",
        _table(["Outgoing (SMTP) server", "Port", "Encryption", "Authentication"],
               [(settings["smtp_server"], settings["port"], settings["encryption"], settings["authentication"])]),
        "<p>%s.</p>" % _escape(settings["dns"]),
        "<h2>Virtual directory URLs per server</h2>",
        _table(["Server", "What", "Internal", "External"],
               [(r["server"], r["what"], r["internal"], r["external"]) for r in url_rows(model)]),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def plan_files(model, requests=None, title="Exchange mail flow and client access - the plan"):
    """Every file of the plan, by name (see the module docstring). ``requests``: server -> decoded request."""
    cert = certificate_plan(model, requests)
    settings = client_settings(model)
    urls = url_rows(model)
    dns = dns_rows(model)
    document = {
        "namespace": model["namespace"],
        "servers": [{"name": s["name"], "fqdn": s["fqdn"]} for s in model["servers"]],
        "urls": urls,
        "dns": {"public": model["plan"]["dns"]["public"], "private": model["plan"]["dns"]["private"]},
        "certificate": cert,
        "client_settings": settings,
    }
    return {
        "urls.csv": _csv(["server", "what", "internal", "external"],
                         [(r["server"], r["what"], r["internal"], r["external"]) for r in urls]),
        "dns-public.zone": _zone(model, "public"),
        "dns-private.zone": _zone(model, "private"),
        "dns.csv": _csv(["view", "name", "type", "value"], [(r["view"], r["name"], r["type"], r["value"]) for r in dns]),
        "certificate.txt": _certificate_text(cert),
        "client-settings.txt": _client_text(settings),
        "plan.json": json.dumps(document, indent=2, sort_keys=True) + "\n",
        "plan.html": _html(model, cert, settings, title),
    }
