"""A running organisation back into site.yml's variables: what is exported, what is kept, what is noted."""

import pytest

from plugins.module_utils.organisation_export import ExportError, exported_variables


def server(name, owa_host="owa.contoso.com", internal="mail.contoso.com"):
    urls = {"owa": {"external_url": "https://%s/owa" % owa_host, "internal_url": "https://%s/owa" % internal},
            "ews": {"external_url": "https://mail.contoso.com/EWS/Exchange.asmx",
                    "internal_url": "https://%s/EWS/Exchange.asmx" % internal}}
    return {"name": name, "urls": urls,
            "outlook_anywhere": {"external_hostname": "mail.contoso.com", "internal_hostname": internal},
            "certificates": [{"usable": True, "services": ["IIS", "SMTP", "IMAP"], "subject": "CN=mail.contoso.com",
                              "sans": ["mail.contoso.com", "owa.contoso.com", "autodiscover.contoso.com"],
                              "friendly_name": "Contoso mail"}]}


INFO = {
    "servers": [server("EX01"), server("EX02"), server("EX03", owa_host="webmail.contoso.com")],
    "receive_connectors": [{"name": "Client Frontend EX01", "server": "EX01", "fqdn": "mail.contoso.com"}],
    "accepted_domains": [{"name": "corp.contoso.com", "domain_name": "corp.contoso.com", "domain_type": "Authoritative",
                          "make_default": False},
                         {"name": "Contoso", "domain_name": "contoso.com", "domain_type": "Authoritative",
                          "make_default": True}],
    "email_address_policies": [{"name": "Default Policy", "primary_smtp_address_template": "@contoso.com",
                                "extra_templates": []}],
    "send_connectors": [{"name": "Partner", "address_spaces": ["SMTP:fabrikam.com;1"]},
                        {"name": "To internet", "address_spaces": ["SMTP:*;1"], "dns_routing_enabled": True,
                         "source_transport_servers": ["EX01", "EX02", "EX03"], "fqdn": "mail.contoso.com",
                         "max_message_size": "35 MB (36,700,160 bytes)"}],
}
KEEP = {"mailops_namespace": {"public_address": "203.0.113.10", "external_fqdn": "old.contoso.com"},
        "mailops_certificate": {"request_dir": "/srv/req", "pfx_password": "secret"}}


def test_the_organisation_becomes_the_procedure_variables():
    variables, notes = exported_variables(INFO, KEEP)
    assert variables["mailops_namespace"] == {"external_fqdn": "mail.contoso.com", "owa_fqdn": "owa.contoso.com",
                                              "public_address": "203.0.113.10"}
    assert variables["mailops_accepted_domains"] == [
        {"name": "Contoso", "domain_name": "contoso.com", "domain_type": "Authoritative", "make_default": True}]
    assert variables["mailops_send_connector"] == {"name": "To internet", "address_spaces": ["*"],
                                                   "fqdn": "mail.contoso.com", "max_message_size": "35MB"}
    assert variables["mailops_certificate"]["services"] == ["IIS", "SMTP", "IMAP"]
    assert variables["mailops_certificate"]["request_dir"] == "/srv/req"
    assert "pfx_password" not in variables["mailops_certificate"]  # never a secret in a file
    assert ("Outlook on the web's external FQDN differs between servers (owa.contoso.com on 2, webmail.contoso.com "
            "on 1); exported owa.contoso.com") in notes
    assert any(n.startswith("accepted domain corp.contoso.com is not in the email address policy") for n in notes)


def test_an_unconfigured_organisation_cannot_be_exported():
    bare = dict(INFO, servers=[{"name": "EX01", "urls": {"owa": {}, "ews": {}}, "outlook_anywhere": {}}])
    with pytest.raises(ExportError, match="no external URL is set on any server"):
        exported_variables(bare, {})
    with pytest.raises(ExportError, match="no Send connector has the address space"):
        exported_variables(dict(INFO, send_connectors=[]), {})
