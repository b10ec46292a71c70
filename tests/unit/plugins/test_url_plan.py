"""The URL plan against the seeds' tables, value for value.

The tables below are transcribed from "Configure mail flow and client access" (Exchange 2013, 2016, 2019 - the
three seeds carry the same tables): step 4's external URL table and public DNS table, step 5's internal URL tables
(internal the same as external; internal different) and private DNS tables. The seeds write DNS names with a
capital first letter ("Mail.contoso.com"); DNS names are case-insensitive, and the plan emits them in lower case.
"""

import pytest

from plugins.module_utils.url_plan import UrlPlanError, build_url_plan, url_plan_from_namespace

# Step 4, "How do you know this step worked?" (virtual directory -> External URL value).
SEED_EXTERNAL = {
    "Autodiscover": None,  # "No external URL displayed"
    "ECP": "https://owa.contoso.com/ecp",
    "EWS": "https://mail.contoso.com/EWS/Exchange.asmx",
    "Microsoft-Server-ActiveSync": "https://mail.contoso.com/Microsoft-Server-ActiveSync",
    "OAB": "https://mail.contoso.com/OAB",
    "OWA": "https://owa.contoso.com/owa",
    "PowerShell": "http://mail.contoso.com/PowerShell",
}
# Step 5, "Configure internal and external URLs to be the same" (Internal URL value).
SEED_INTERNAL_SAME = {
    "Autodiscover": None,
    "ECP": "https://owa.contoso.com/ecp",
    "EWS": "https://mail.contoso.com/EWS/Exchange.asmx",
    "Microsoft-Server-ActiveSync": "https://mail.contoso.com/Microsoft-Server-ActiveSync",
    "OAB": "https://mail.contoso.com/OAB",
    "OWA": "https://owa.contoso.com/owa",
    "PowerShell": "http://mail.contoso.com/PowerShell",
}
# Step 5, "Configure different internal and external URLs" (Internal URL value).
SEED_INTERNAL_DIFFERENT = {
    "Autodiscover": None,
    "ECP": "https://internal.contoso.com/ecp",
    "EWS": "https://internal.contoso.com/EWS/Exchange.asmx",
    "Microsoft-Server-ActiveSync": "https://internal.contoso.com/Microsoft-Server-ActiveSync",
    "OAB": "https://internal.contoso.com/OAB",
    "OWA": "https://internal.contoso.com/owa",
    "PowerShell": "http://internal.contoso.com/PowerShell",
}
# Step 4, public DNS (FQDN, DNS record type, Value).
SEED_PUBLIC_DNS = [
    ("Contoso.com", "MX", "Mail.contoso.com"),
    ("Mail.contoso.com", "A", "172.16.10.11"),
    ("Owa.contoso.com", "CNAME", "Mail.contoso.com"),
    ("Autodiscover.contoso.com", "CNAME", "Mail.contoso.com"),
]
# Step 5, private DNS, internal the same as external (2016/2019 seed: Mailbox01.corp.contoso.com).
SEED_PRIVATE_DNS_SAME = [
    ("Mail.contoso.com", "CNAME", "Mailbox01.corp.contoso.com"),
    ("Owa.contoso.com", "CNAME", "Mailbox01.corp.contoso.com"),
]
# Step 5, private DNS, internal different.
SEED_PRIVATE_DNS_DIFFERENT = [
    ("internal.contoso.com", "CNAME", "Mailbox01.corp.contoso.com"),
]
# The seed's table rows -> the plan's keys (the seeds list no MAPI row).
ROW_TO_KEY = {
    "ECP": "ecp",
    "EWS": "ews",
    "Microsoft-Server-ActiveSync": "eas",
    "OAB": "oab",
    "OWA": "owa",
    "PowerShell": "powershell",
}

SEED_NAMESPACE = {
    "external_fqdn": "mail.contoso.com",
    "owa_fqdn": "owa.contoso.com",
    "accepted_domains": ["contoso.com"],
    "public_address": "172.16.10.11",
    "servers": [{"name": "Mailbox01", "fqdn": "Mailbox01.corp.contoso.com"}],
}


def _rows(table):
    return [{"name": n.lower(), "type": t, "value": v.lower()} for n, t, v in table]


def _assert_table(plan, table, which):
    for row, value in table.items():
        if value is None:
            assert row == "Autodiscover"
            assert "autodiscover" not in plan["urls"], "the Autodiscover virtual directory takes no URL"
            continue
        assert plan["urls"][ROW_TO_KEY[row]][which] == value, row


def test_external_urls_match_the_seed_table():
    plan = build_url_plan(**SEED_NAMESPACE)
    _assert_table(plan, SEED_EXTERNAL, "external_url")


def test_internal_urls_the_same_match_the_seed_table():
    plan = build_url_plan(**SEED_NAMESPACE)
    _assert_table(plan, SEED_INTERNAL_SAME, "internal_url")
    _assert_table(plan, SEED_EXTERNAL, "external_url")
    for key, urls in plan["urls"].items():
        assert urls["internal_url"] == urls["external_url"], key


def test_internal_urls_different_match_the_seed_table():
    plan = build_url_plan(internal_fqdn="internal.contoso.com", **SEED_NAMESPACE)
    _assert_table(plan, SEED_INTERNAL_DIFFERENT, "internal_url")
    _assert_table(plan, SEED_EXTERNAL, "external_url")  # the external URLs do not move
    # "The ECP and OWA virtual directory internal URLs must be the same" (host).
    assert plan["urls"]["owa"]["internal_url"].rsplit("/", 1)[0] == plan["urls"]["ecp"]["internal_url"].rsplit("/", 1)[0]


def test_every_virtual_directory_is_planned_with_mapi_following_ews():
    plan = build_url_plan(**SEED_NAMESPACE)
    assert set(plan["urls"]) == {"owa", "ecp", "ews", "eas", "oab", "mapi", "powershell"}
    assert plan["urls"]["mapi"] == {"internal_url": "https://mail.contoso.com/mapi", "external_url": "https://mail.contoso.com/mapi"}
    different = build_url_plan(internal_fqdn="internal.contoso.com", **SEED_NAMESPACE)
    assert different["urls"]["mapi"]["internal_url"] == "https://internal.contoso.com/mapi"


def test_public_dns_matches_the_seed_table():
    plan = build_url_plan(**SEED_NAMESPACE)
    assert plan["dns"]["public"] == _rows(SEED_PUBLIC_DNS)
    # The internal namespace is private: a different internal FQDN adds nothing public.
    different = build_url_plan(internal_fqdn="internal.contoso.com", **SEED_NAMESPACE)
    assert different["dns"]["public"] == _rows(SEED_PUBLIC_DNS)


def test_private_dns_internal_same_matches_the_seed_table():
    plan = build_url_plan(**SEED_NAMESPACE)
    assert plan["dns"]["private"] == _rows(SEED_PRIVATE_DNS_SAME)


def test_private_dns_internal_different_is_the_seed_table_plus_the_client_frontend_record():
    # Step 5's table holds internal.contoso.com only; seed 003 ("Configure authenticated SMTP settings") adds the
    # Client Frontend FQDN (mail.contoso.com by default): "the new FQDN needs to have a corresponding record in your
    # internal DNS".
    plan = build_url_plan(internal_fqdn="internal.contoso.com", **SEED_NAMESPACE)
    assert plan["dns"]["private"] == _rows(SEED_PRIVATE_DNS_DIFFERENT + [("mail.contoso.com", "CNAME", "Mailbox01.corp.contoso.com")])


def test_a_client_frontend_fqdn_in_the_internal_namespace_adds_no_private_record():
    plan = build_url_plan(internal_fqdn="internal.contoso.com", client_frontend_fqdn="internal.contoso.com", **SEED_NAMESPACE)
    assert plan["dns"]["private"] == _rows(SEED_PRIVATE_DNS_DIFFERENT)


def test_a_client_frontend_fqdn_of_its_own_gets_a_record_in_both_views():
    plan = build_url_plan(internal_fqdn="internal.contoso.com", client_frontend_fqdn="smtp.contoso.com", **SEED_NAMESPACE)
    assert {"name": "smtp.contoso.com", "type": "CNAME", "value": "mail.contoso.com"} in plan["dns"]["public"]
    assert {"name": "smtp.contoso.com", "type": "CNAME", "value": "mailbox01.corp.contoso.com"} in plan["dns"]["private"]
    assert "mail.contoso.com" not in [r["name"] for r in plan["dns"]["private"]]


def test_2013_seed_server_name_as_private_target():
    # The 2013 seed's tables use Ex2013CAS.corp.contoso.com; the first server is the target.
    plan = build_url_plan(
        external_fqdn="mail.contoso.com",
        owa_fqdn="owa.contoso.com",
        servers=[{"name": "Ex2013CAS", "fqdn": "Ex2013CAS.corp.contoso.com"}, {"name": "Ex2013B", "fqdn": "ex2013b.corp.contoso.com"}],
    )
    assert plan["dns"]["private"] == _rows(
        [("Mail.contoso.com", "CNAME", "Ex2013CAS.corp.contoso.com"), ("Owa.contoso.com", "CNAME", "Ex2013CAS.corp.contoso.com")]
    )
    explicit = build_url_plan(external_fqdn="mail.contoso.com", servers=plan["servers"], private_dns_target="ex2013b.corp.contoso.com")
    assert explicit["dns"]["private"] == [{"name": "mail.contoso.com", "type": "CNAME", "value": "ex2013b.corp.contoso.com"}]


def test_outlook_anywhere_and_autodiscover():
    same = build_url_plan(**SEED_NAMESPACE)
    # Step 4: external host name mail.contoso.com, internal host name "the FQDN you used in the previous step".
    assert same["outlook_anywhere"] == {"external_hostname": "mail.contoso.com", "internal_hostname": "mail.contoso.com"}
    assert same["autodiscover_internal_uri"] == "https://mail.contoso.com/Autodiscover/Autodiscover.xml"
    different = build_url_plan(internal_fqdn="internal.contoso.com", **SEED_NAMESPACE)
    assert different["outlook_anywhere"] == {"external_hostname": "mail.contoso.com", "internal_hostname": "internal.contoso.com"}
    assert different["autodiscover_internal_uri"] == "https://internal.contoso.com/Autodiscover/Autodiscover.xml"
    # The internal URI's host resolves privately (a private record) and is on the certificate.
    for plan in (same, different):
        host = plan["autodiscover_internal_uri"].split("/")[2]
        assert host in {r["name"] for r in plan["dns"]["private"]}
        assert host in plan["certificate_names"]


def test_certificate_names_follow_the_seeds_wizard():
    # Step 6: internal = external -> OWA (Internet and intranet) owa.contoso.com, OAB mail.contoso.com.
    same = build_url_plan(**SEED_NAMESPACE)
    assert same["certificate_names"] == ["mail.contoso.com", "owa.contoso.com", "autodiscover.contoso.com"]
    # Internal different -> OWA (intranet) internal.contoso.com as well.
    different = build_url_plan(internal_fqdn="internal.contoso.com", **SEED_NAMESPACE)
    assert different["certificate_names"] == ["mail.contoso.com", "owa.contoso.com", "autodiscover.contoso.com", "internal.contoso.com"]
    # Every URL host is covered.
    for plan in (same, different):
        hosts = {u.split("/")[2] for urls in plan["urls"].values() for u in urls.values()}
        assert hosts <= set(plan["certificate_names"])


def test_several_accepted_domains_and_a_client_frontend_fqdn():
    plan = build_url_plan(
        external_fqdn="mail.contoso.com",
        accepted_domains=["contoso.com", {"name": "Fabrikam", "domain_name": "Fabrikam.com"}],
        public_address="203.0.113.10",
        client_frontend_fqdn="smtp.contoso.com",
        servers=[{"name": "EX01", "fqdn": "ex01.corp.contoso.com"}],
    )
    assert plan["dns"]["public"] == [
        {"name": "contoso.com", "type": "MX", "value": "mail.contoso.com"},
        {"name": "fabrikam.com", "type": "MX", "value": "mail.contoso.com"},
        {"name": "mail.contoso.com", "type": "A", "value": "203.0.113.10"},
        {"name": "autodiscover.contoso.com", "type": "CNAME", "value": "mail.contoso.com"},
        {"name": "autodiscover.fabrikam.com", "type": "CNAME", "value": "mail.contoso.com"},
        {"name": "smtp.contoso.com", "type": "CNAME", "value": "mail.contoso.com"},
    ]
    assert plan["dns"]["private"] == [
        {"name": "mail.contoso.com", "type": "CNAME", "value": "ex01.corp.contoso.com"},
        {"name": "smtp.contoso.com", "type": "CNAME", "value": "ex01.corp.contoso.com"},
    ]
    assert plan["certificate_names"] == [
        "mail.contoso.com",
        "autodiscover.contoso.com",
        "autodiscover.fabrikam.com",
        "smtp.contoso.com",
    ]
    # Without a unique OWA FQDN, OWA and ECP use the external FQDN.
    assert plan["urls"]["owa"]["external_url"] == "https://mail.contoso.com/owa"
    assert plan["urls"]["ecp"]["internal_url"] == "https://mail.contoso.com/ecp"


def test_defaults_and_normalisation():
    plan = build_url_plan(external_fqdn="MAIL.Contoso.com.")
    assert plan["namespace"] == {
        "external_fqdn": "mail.contoso.com",
        "owa_fqdn": "mail.contoso.com",
        "internal_fqdn": "mail.contoso.com",
        "internal_same_as_external": True,
        "client_frontend_fqdn": "mail.contoso.com",
        "public_address": None,
    }
    assert plan["dns"] == {"public": [], "private": []}
    assert plan["private_dns_target"] is None
    assert plan["certificate_names"] == ["mail.contoso.com"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"external_fqdn": ""}, "external_fqdn: a fully qualified domain name is required"),
        ({"external_fqdn": "mail"}, "not fully qualified"),
        ({"external_fqdn": "https://mail.contoso.com/owa"}, "is a URL"),
        ({"external_fqdn": "172.16.10.11"}, "is an IP address"),
        ({"external_fqdn": "mail.contoso.com", "owa_fqdn": "owa_.contoso.com"}, "owa_fqdn: 'owa_.contoso.com' has an invalid label"),
        ({"external_fqdn": "mail.contoso.com", "public_address": "mail"}, "public_address: 'mail' is not an IP address"),
        ({"external_fqdn": "mail.contoso.com", "servers": [{"name": "EX01"}]}, "servers[0].fqdn"),
        ({"external_fqdn": "mail.contoso.com", "servers": [{"fqdn": "ex01.contoso.com"}]}, "servers[0].name"),
        ({"external_fqdn": "mail.contoso.com", "servers": "EX01"}, "servers: a list"),
        ({"external_fqdn": "mail.contoso.com", "accepted_domains": [{"domain_type": "Authoritative"}]}, "accepted_domains[0].domain_name"),
        ({"external_fqdn": "mail.contoso.com", "private_dns_target": "mail.contoso.com"}, "CNAME to itself"),
    ],
)
def test_bad_input_is_refused_with_the_option_named(kwargs, message):
    with pytest.raises(UrlPlanError) as err:
        build_url_plan(**kwargs)
    assert message in str(err.value)


def test_namespace_mapping_refuses_unknown_keys():
    with pytest.raises(UrlPlanError, match="unknown namespace option.*extrnal_fqdn"):
        url_plan_from_namespace({"extrnal_fqdn": "mail.contoso.com"})
    with pytest.raises(UrlPlanError, match="external_fqdn: .* required"):
        url_plan_from_namespace({})


def test_filter_plugin():  # through ansible_collections.mailops.exchange (tests/conftest.py links it)
    from ansible.errors import AnsibleFilterError

    from ansible_collections.mailops.exchange.plugins.filter.url_plan import FilterModule

    url_plan = FilterModule().filters()["url_plan"]
    plan = url_plan(SEED_NAMESPACE, internal_fqdn="internal.contoso.com")
    assert plan == build_url_plan(internal_fqdn="internal.contoso.com", **SEED_NAMESPACE)
    with pytest.raises(AnsibleFilterError, match="mailops.exchange.url_plan: external_fqdn"):
        url_plan({"external_fqdn": "mail"})
