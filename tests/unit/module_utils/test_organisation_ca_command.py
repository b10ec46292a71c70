"""The certificate role's CA hook in the organisation's model (``mailops_certificate.ca_command``), and what the lab
used to add to the shipped variables (``sign_with_lab_ca``), which is gone (issue 15)."""

import pytest

from plugins.module_utils.organisation import OrganisationError, check_organisation
from plugins.module_utils.organisation_export import exported_variables

SERVERS = [{"name": "EX01", "fqdn": "ex01.corp.contoso.com"}]


def variables(certificate):
    return {
        "mailops_namespace": {"external_fqdn": "mail.contoso.com"},
        "mailops_accepted_domains": [{"domain_name": "contoso.com", "make_default": True}],
        "mailops_email_address_policy": {"primary_smtp_address_template": "@contoso.com"},
        "mailops_send_connector": {"name": "To internet"},
        "mailops_certificate": certificate,
        "mailops_servers": SERVERS,
        "exchange_versions": {},
    }


def refusals(certificate):
    with pytest.raises(OrganisationError) as raised:
        check_organisation(variables(certificate))
    return raised.value.problems


def test_the_ca_command_is_an_argument_list_in_the_model():
    model = check_organisation(variables({"request_dir": "/srv/req", "ca_command": ["/usr/local/bin/ask-ca", "--days", 365]}))
    assert model["certificate"]["ca_command"] == ["/usr/local/bin/ask-ca", "--days", "365"]
    assert "ca_command" not in check_organisation(variables({"request_dir": "/srv/req"}))["certificate"]
    assert "ca_command" not in check_organisation(variables({"request_dir": "/srv/req", "ca_command": []}))["certificate"]


def test_a_command_line_is_refused_it_runs_without_a_shell():
    assert refusals({"request_dir": "/srv/req", "ca_command": "ask-ca --csr $MAILOPS_CSR_PATH"}) == [
        "mailops_certificate.ca_command: a list of arguments is required (the command runs without a shell), got the "
        "string 'ask-ca --csr $MAILOPS_CSR_PATH'"]
    assert refusals({"request_dir": "/srv/req", "ca_command": ["ask-ca", {"profile": "x"}, True]}) == [
        "mailops_certificate.ca_command[1]: an argument (a string) is required, got {'profile': 'x'}",
        "mailops_certificate.ca_command[2]: an argument (a string) is required, got True"]
    assert refusals({"request_dir": "/srv/req", "ca_command": [" ", "x"]}) == [
        "mailops_certificate.ca_command[0]: the program to run is required, got an empty string"]
    assert refusals({"request_dir": "/srv/req", "ca_command": ["ask-ca\n--evil"]}) == [
        "mailops_certificate.ca_command[0]: control character U+000A is not allowed (in 'ask-ca\\n--evil')"]


def test_a_ca_command_with_a_pfx_is_refused_nothing_is_requested():
    assert refusals({"pfx_path": "/srv/c.pfx", "pfx_password": "x", "ca_command": ["ask-ca"]}) == [
        "mailops_certificate.ca_command: answers a certificate request, but with pfx_path nothing is requested"]


def test_the_lab_only_option_is_gone():
    problems = refusals({"request_dir": "/srv/req", "sign_with_lab_ca": True})
    assert problems == ["mailops_certificate.sign_with_lab_ca: unknown option (known: subject_name, domain_names, "
                        "friendly_name, key_size, private_key_exportable, request_dir, response_dir, pfx_path, "
                        "pfx_password, services, replace_default_smtp, allow_pending, ca_command)"]


def test_the_export_keeps_the_inventorys_ca_hook_and_nothing_of_the_lab():
    urls = {"owa": {"external_url": "https://mail.contoso.com/owa", "internal_url": "https://mail.contoso.com/owa"}}
    info = {"servers": [{"name": "EX01", "urls": urls,
                         "outlook_anywhere": {"external_hostname": "mail.contoso.com",
                                              "internal_hostname": "mail.contoso.com"},
                         "certificates": [{"usable": True, "services": ["IIS", "SMTP"], "subject": "CN=mail.contoso.com",
                                           "sans": ["mail.contoso.com"]}]}],
            "accepted_domains": [{"name": "contoso.com", "domain_name": "contoso.com", "domain_type": "Authoritative",
                                  "make_default": True}],
            "email_address_policies": [{"name": "Default Policy", "primary_smtp_address_template": "@contoso.com",
                                        "extra_templates": []}],
            "send_connectors": [{"name": "To internet", "address_spaces": ["SMTP:*;1"], "dns_routing_enabled": True,
                                 "source_transport_servers": ["EX01"]}],
            "receive_connectors": []}
    keep = {"mailops_certificate": {"request_dir": "/srv/req", "ca_command": ["ask-ca"], "sign_with_lab_ca": True}}
    exported, _notes = exported_variables(info, keep)
    assert exported["mailops_certificate"]["ca_command"] == ["ask-ca"]
    assert "sign_with_lab_ca" not in exported["mailops_certificate"]
