"""The organisation's model: what is normalised, what is refused (and how the refusal names the variable)."""

import pytest

from plugins.module_utils.organisation import OrganisationError, check_organisation, with_server_versions

SERVERS = [{"name": "EX01", "fqdn": "ex01.corp.contoso.com"}, {"name": "EX02", "fqdn": "ex02.corp.contoso.com"}]


def variables(**changes):
    base = {
        "mailops_namespace": {"external_fqdn": "mail.contoso.com", "owa_fqdn": "owa.contoso.com"},
        "mailops_accepted_domains": [{"domain_name": "contoso.com", "make_default": True}],
        "mailops_email_address_policy": {"primary_smtp_address_template": "@contoso.com"},
        "mailops_send_connector": {"name": "To internet"},
        "mailops_certificate": {"request_dir": "/srv/requests"},
        "mailops_servers": SERVERS,
        "exchange_versions": {},
    }
    base.update(changes)
    return base


def refusals(**changes):
    with pytest.raises(OrganisationError) as raised:
        check_organisation(variables(**changes))
    assert "nothing was changed" in str(raised.value)
    return raised.value.problems


def test_the_demo_organisation_gives_the_model_every_step_uses():
    model = check_organisation(variables())
    assert model["namespace"]["external_fqdn"] == "mail.contoso.com"
    assert model["plan"]["urls"]["owa"]["external_url"] == "https://owa.contoso.com/owa"
    assert model["client_frontend_fqdn"] == "mail.contoso.com"
    assert model["send_connector"] == {"name": "To internet", "address_spaces": ["*"],
                                       "source_transport_servers": ["EX01", "EX02"]}
    assert model["email_address_policy"] == {"name": "Default Policy", "primary_smtp_address_template": "@contoso.com",
                                             "extra_templates": [], "apply": True}
    assert model["certificate"]["domain_names"] == ["mail.contoso.com", "owa.contoso.com", "autodiscover.contoso.com"]
    assert model["certificate"]["services"] == ["IIS", "SMTP"]


def test_names_are_normalised_case_and_trailing_dot():
    model = check_organisation(variables(
        mailops_namespace={"external_fqdn": "MAIL.Contoso.COM.", "client_frontend_fqdn": "Mail.contoso.com."},
        mailops_accepted_domains=[{"domain_name": "Contoso.COM.", "make_default": "yes"}],
        mailops_email_address_policy={"primary_smtp_address_template": "%g.%s@CONTOSO.com"},
        mailops_send_connector={"name": "To internet", "fqdn": "Mail.Contoso.com.", "source_transport_servers": ["ex02"]},
    ))
    assert model["namespace"]["external_fqdn"] == "mail.contoso.com"
    assert model["client_frontend_fqdn"] == "mail.contoso.com"
    assert model["accepted_domains"] == [{"name": "contoso.com", "domain_name": "contoso.com",
                                          "domain_type": "Authoritative", "make_default": True}]
    assert model["email_address_policy"]["primary_smtp_address_template"] == "%g.%s@contoso.com"
    assert model["send_connector"]["fqdn"] == "mail.contoso.com"
    assert model["send_connector"]["source_transport_servers"] == ["EX02"]  # the server's own spelling


@pytest.mark.parametrize("value, message", [
    ("mail..contoso.com", "mailops_namespace.external_fqdn: 'mail..contoso.com' has an empty label"),
    ("https://mail.contoso.com/owa", "mailops_namespace.external_fqdn: 'https://mail.contoso.com/owa' is a URL"),
    ("mail.contoso.com/owa", "is a URL; give only the host name"),
    ("203.0.113.10", "is an IP address"),
    ("mail", "is not fully qualified"),
    ("-mail.contoso.com", "has an invalid label '-mail'"),
    ("mail.contoso.com\n", "mailops_namespace.external_fqdn: control character U+000A is not allowed"),
    ("mail\r.contoso.com", "control character U+000D"),
    ("mail\x00.contoso.com", "control character U+0000"),
    ("mail\u2028.contoso.com", "control character U+2028"),
    ("mail\u2029.contoso.com", "control character U+2029"),
    ("mail\x85.contoso.com", "control character U+0085"),
])
def test_an_unusable_host_name_is_refused_naming_the_variable(value, message):
    problems = refusals(mailops_namespace={"external_fqdn": value})
    assert any(message in p for p in problems), problems


@pytest.mark.parametrize("option", ["comment", "name", "fqdn"])
def test_a_line_break_anywhere_is_refused(option):
    connector = {"name": "To internet", option: "one\ntwo.contoso.com"}
    problems = refusals(mailops_send_connector=connector)
    assert "mailops_send_connector.%s: control character U+000A is not allowed" % option in problems[0]


def test_a_password_is_never_shown_never_judged_and_never_in_the_model():
    # The model is a fact: facts appear in verbose output and in AWX job events.
    model = check_organisation(variables(mailops_certificate={"pfx_path": "/srv/c.pfx", "pfx_password": "se\ncret"}))
    assert "pfx_password" not in model["certificate"]
    assert "se\ncret" not in repr(model)
    problems = refusals(mailops_certificate={"pfx_path": "/srv/c.pfx", "pfx_password": "secret", "key_size": "big"})
    assert not any("secret" in p for p in problems), problems


def test_a_template_outside_the_accepted_domains_is_refused():
    problems = refusals(mailops_email_address_policy={"primary_smtp_address_template": "@fabrikam.com",
                                                      "extra_templates": ["smtp:@contoso.com", "@tailspin.com"]})
    assert problems == [
        "mailops_email_address_policy.primary_smtp_address_template: the domain fabrikam.com of '@fabrikam.com' is "
        "not one of mailops_accepted_domains (contoso.com); Exchange refuses an address template outside the "
        "accepted domains",
        "mailops_email_address_policy.extra_templates[1]: the domain tailspin.com of '@tailspin.com' is not one of "
        "mailops_accepted_domains (contoso.com); Exchange refuses an address template outside the accepted domains",
    ]


def test_templates_under_a_wildcard_relay_domain_are_accepted():
    model = check_organisation(variables(
        mailops_accepted_domains=[{"domain_name": "contoso.com", "make_default": True},
                                  {"domain_name": "*.fabrikam.com", "domain_type": "internalrelay"}],
        mailops_email_address_policy={"primary_smtp_address_template": "@contoso.com",
                                      "extra_templates": ["@sales.fabrikam.com"]}))
    assert model["accepted_domains"][1]["domain_type"] == "InternalRelay"
    assert model["email_address_policy"]["extra_templates"] == ["smtp:@sales.fabrikam.com"]


def test_duplicates_and_conflicts_are_refused():
    problems = refusals(
        mailops_servers=SERVERS + [{"name": "ex01", "fqdn": "ex03.corp.contoso.com"},
                                   {"name": "EX04", "fqdn": "EX02.corp.contoso.com."}],
        mailops_accepted_domains=[{"domain_name": "contoso.com", "make_default": True},
                                  {"domain_name": "Contoso.com."}, {"domain_name": "fabrikam.com", "make_default": True}],
    )
    assert "mailops_servers[2].name: server ex01 is listed twice (also mailops_servers[0])" in problems
    assert "mailops_servers[3].fqdn: ex02.corp.contoso.com is also the FQDN of EX02" in problems
    assert "mailops_accepted_domains[1].domain_name: contoso.com is listed twice (also mailops_accepted_domains[0])" in problems
    assert ("mailops_accepted_domains: only one domain can be the default, contoso.com and fabrikam.com are "
            "(make_default)") in problems


def test_a_namespace_that_is_a_server_fqdn_is_refused():
    problems = refusals(mailops_namespace={"external_fqdn": "ex01.corp.contoso.com"})
    assert problems[0].startswith("mailops_namespace.external_fqdn: ex01.corp.contoso.com is a server's own FQDN")


def test_unknown_options_are_refused_rather_than_ignored():
    problems = refusals(mailops_namespace={"external_fqdn": "mail.contoso.com", "owa_fdqn": "owa.contoso.com"})
    assert problems == ["mailops_namespace.owa_fdqn: unknown option (known: external_fqdn, owa_fqdn, internal_fqdn, "
                        "client_frontend_fqdn, public_address, private_dns_target)"]


def test_send_connector_rules():
    problems = refusals(mailops_send_connector={
        "name": "EX01\\To internet", "address_spaces": ["*", "contoso..com"], "smart_hosts": ["relay..contoso.com"],
        "source_transport_servers": ["EX09"], "max_message_size": "lots"})
    assert any(p.startswith("mailops_send_connector.name: 'EX01\\\\To internet' contains a backslash") for p in problems)
    assert "mailops_send_connector.address_spaces[1]: 'contoso..com' has an empty label (two dots in a row)" in problems
    assert "mailops_send_connector.smart_hosts[0]: 'relay..contoso.com' has an empty label (two dots in a row)" in problems
    assert "mailops_send_connector.source_transport_servers[0]: 'EX09' is not one of the Mailbox servers (EX01, EX02)" in problems
    assert any(p.startswith("mailops_send_connector.max_message_size:") for p in problems)


def test_certificate_names_must_cover_the_plan_and_the_client_frontend_fqdn():
    problems = refusals(
        mailops_namespace={"external_fqdn": "mail.contoso.com", "client_frontend_fqdn": "smtp.contoso.com"},
        mailops_certificate={"request_dir": "/srv/requests", "domain_names": ["mail.contoso.com", "autodiscover.contoso.com"]})
    assert problems == ["mailops_certificate.domain_names: smtp.contoso.com not covered, but the URL plan needs it on "
                        "the certificate (the Client Frontend FQDN must be on it too)"]
    # A wildcard covers one label (RFC 6125).
    model = check_organisation(variables(
        mailops_namespace={"external_fqdn": "mail.contoso.com", "client_frontend_fqdn": "smtp.contoso.com"},
        mailops_certificate={"request_dir": "/srv/requests", "domain_names": ["*.contoso.com"]}))
    assert model["certificate"]["domain_names"] == ["*.contoso.com"]


def test_a_certificate_needs_a_source():
    assert refusals(mailops_certificate={"subject_name": "CN=mail.contoso.com"}) == [
        "mailops_certificate: request_dir (where the request is written for the CA and its answer is read from) or "
        "pfx_path (a certificate exported with its key) is required"]
    assert refusals(mailops_certificate={"pfx_path": "/srv/c.pfx"}) == ["mailops_certificate.pfx_password: required with pfx_path"]


def test_every_refusal_is_listed_at_once():
    problems = refusals(mailops_namespace={"external_fqdn": "mail..contoso.com", "owa_fqdn": "https://owa"},
                        mailops_send_connector={"name": ""}, exchange_versions={"EX01": "2010"})
    assert len(problems) == 4, problems


def test_the_version_comes_from_the_server_and_a_wrong_declaration_says_both():
    model = check_organisation(variables(exchange_versions={"EX01": "2019", "EX02": ""}))
    read = [{"name": "EX01", "version": "2013", "admin_display_version": "Version 15.0 (Build 1497.2)"},
            {"name": "ex02", "version": "2013", "admin_display_version": "Version 15.0 (Build 1497.2)"}]
    with pytest.raises(OrganisationError) as raised:
        with_server_versions(model, read)
    assert raised.value.problems == [
        "exchange_version of EX01: declared 2019, but the server runs Exchange 2013 (Version 15.0 (Build 1497.2)); "
        "correct the inventory"]
    model = check_organisation(variables(exchange_versions={"EX01": "se"}))
    read = [{"name": "EX01", "version": "SE", "admin_display_version": "Version 15.2 (Build 2562.17)"},
            {"name": "EX02", "version": "SE", "admin_display_version": "Version 15.2 (Build 2562.17)"}]
    assert with_server_versions(model, read)["versions"] == ["SE"]


def test_a_server_exchange_does_not_know_is_refused():
    model = check_organisation(variables())
    with pytest.raises(OrganisationError) as raised:
        with_server_versions(model, [{"name": "EX01", "version": "2019"}])
    assert raised.value.problems == ["mailops_servers: EX02 is not an Exchange server of this organisation "
                                     "(Get-ExchangeServer lists EX01)"]
