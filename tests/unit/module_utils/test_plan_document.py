"""The plan for the DNS, PKI and client-settings teams, against the seeds' tables (two servers, a different
internal namespace)."""

import csv
import io
import json
import re

from plugins.module_utils.organisation import check_organisation
from plugins.module_utils.plan_document import plan_files, zone_line

MODEL = check_organisation({
    "mailops_namespace": {"external_fqdn": "mail.contoso.com", "owa_fqdn": "owa.contoso.com",
                          "internal_fqdn": "internal.contoso.com", "public_address": "172.16.10.11"},
    "mailops_accepted_domains": [{"domain_name": "contoso.com", "make_default": True}],
    "mailops_email_address_policy": {"primary_smtp_address_template": "@contoso.com"},
    "mailops_send_connector": {"name": "To internet"},
    "mailops_certificate": {"subject_name": "C=US, O=Contoso, CN=mail.contoso.com", "request_dir": "/srv/req"},
    "mailops_servers": [{"name": "Mailbox01", "fqdn": "mailbox01.corp.contoso.com"},
                        {"name": "Mailbox02", "fqdn": "mailbox02.corp.contoso.com"}],
})
FILES = plan_files(MODEL)

# The seeds' step 4 table (External URL) and step 5 table "different internal and external URLs" (Internal URL),
# plus mapi (the plan's one addition, on the EWS/OAB rule).
SEED_URLS = {
    "ECP": ("https://internal.contoso.com/ecp", "https://owa.contoso.com/ecp"),
    "EWS": ("https://internal.contoso.com/EWS/Exchange.asmx", "https://mail.contoso.com/EWS/Exchange.asmx"),
    "Microsoft-Server-ActiveSync": ("https://internal.contoso.com/Microsoft-Server-ActiveSync",
                                    "https://mail.contoso.com/Microsoft-Server-ActiveSync"),
    "OAB": ("https://internal.contoso.com/OAB", "https://mail.contoso.com/OAB"),
    "OWA": ("https://internal.contoso.com/owa", "https://owa.contoso.com/owa"),
    "MAPI": ("https://internal.contoso.com/mapi", "https://mail.contoso.com/mapi"),
    "PowerShell": ("http://internal.contoso.com/PowerShell", "http://mail.contoso.com/PowerShell"),
}


def test_every_virtual_directory_url_per_server_matches_the_seed_tables():
    rows = list(csv.DictReader(io.StringIO(FILES["urls.csv"])))
    for server in ("Mailbox01", "Mailbox02"):
        found = dict((r["what"][:-len(" virtual directory")], (r["internal"], r["external"]))
                     for r in rows if r["server"] == server and r["what"].endswith("virtual directory"))
        assert found == SEED_URLS
        extra = dict((r["what"], (r["internal"], r["external"])) for r in rows if r["server"] == server)
        assert extra["Outlook Anywhere host name"] == ("internal.contoso.com", "mail.contoso.com")
        assert extra["Autodiscover service internal URI"] == (
            "https://internal.contoso.com/Autodiscover/Autodiscover.xml", "")


def test_the_dns_records_are_the_seed_tables_as_zone_lines_and_csv():
    assert FILES["dns-public.zone"].splitlines()[2:] == [
        "contoso.com. 3600 IN MX 10 mail.contoso.com.",
        "mail.contoso.com. 3600 IN A 172.16.10.11",
        "owa.contoso.com. 3600 IN CNAME mail.contoso.com.",
        "autodiscover.contoso.com. 3600 IN CNAME mail.contoso.com.",
    ]
    # Step 5's private table, and seed 003's record for the Client Frontend FQDN (mail.contoso.com).
    assert FILES["dns-private.zone"].splitlines()[2:] == [
        "internal.contoso.com. 3600 IN CNAME mailbox01.corp.contoso.com.",
        "mail.contoso.com. 3600 IN CNAME mailbox01.corp.contoso.com.",
    ]
    rows = list(csv.reader(io.StringIO(FILES["dns.csv"])))
    assert rows[0] == ["view", "name", "type", "value"]
    assert ["private", "internal.contoso.com", "CNAME", "mailbox01.corp.contoso.com"] in rows
    assert len(rows) == 1 + 4 + 2


def test_zone_lines_use_absolute_names():
    assert zone_line({"name": "contoso.com", "type": "MX", "value": "mail.contoso.com"}) == \
        "contoso.com. 3600 IN MX 10 mail.contoso.com."


def test_the_certificate_and_the_client_settings():
    text = FILES["certificate.txt"]
    assert "Subject: C=US, O=Contoso, CN=mail.contoso.com" in text
    assert re.search(r"mail\.contoso\.com\n  owa\.contoso\.com\n  autodiscover\.contoso\.com\n  internal\.contoso\.com",
                     text)
    assert "No request has been made yet" in text
    client = FILES["client-settings.txt"]
    assert "Outgoing (SMTP) server: mail.contoso.com" in client
    assert "Port: 587" in client and "STARTTLS" in client


def test_the_html_page_is_self_contained_and_escaped():
    page = FILES["plan.html"]
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and not re.search(r"(src|href)=", page)
    assert "internal.contoso.com. 3600 IN CNAME mailbox01.corp.contoso.com." in page
    hostile = check_organisation({
        "mailops_namespace": {"external_fqdn": "mail.contoso.com"},
        "mailops_accepted_domains": ["contoso.com"],
        "mailops_email_address_policy": {"primary_smtp_address_template": "@contoso.com"},
        "mailops_send_connector": {"name": "<b>x</b>"},
        "mailops_certificate": {"subject_name": "CN=<script>alert(1)</script>", "request_dir": "/srv"},
        "mailops_servers": [{"name": "EX01", "fqdn": "ex01.contoso.net"}],
    })
    assert "<script>" not in plan_files(hostile)["plan.html"]


def test_plan_json_holds_everything():
    document = json.loads(FILES["plan.json"])
    assert set(document) == {"namespace", "servers", "urls", "dns", "certificate", "client_settings"}
    assert document["client_settings"]["port"] == 587
