"""exchange_validate: the pure parts (what to check, where to connect, the report files)."""

import json
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.mailops.exchange.plugins.module_utils.url_plan import build_url_plan
from ansible_collections.mailops.exchange.plugins.module_utils.validation import PASS, Check, Report
from ansible_collections.mailops.exchange.plugins.modules.exchange_validate import (
    ALL_CHECKS,
    ValidationInputError,
    _label,
    endpoint_targets,
    parse_address,
    resolve_inputs,
    write_report,
)

PLAN = build_url_plan(
    external_fqdn="mail.contoso.com",
    owa_fqdn="owa.contoso.com",
    accepted_domains=["contoso.com"],
    public_address="172.16.10.11",
    servers=[{"name": "Mailbox01", "fqdn": "mailbox01.corp.contoso.com"}],
)


def _params(**overrides):
    params = {
        "plan": PLAN,
        "dns_records": None,
        "dns_public": {"nameservers": ["127.0.0.1"], "port": 5353},
        "dns_private": {"nameservers": ["127.0.0.1"], "port": 5354},
        "certificate_names": None,
        "owa_url": None,
        "client_frontend_fqdn": None,
        "smtp_port": 587,
        "ca_bundle": None,
        "endpoints": {},
        "checks": list(ALL_CHECKS),
    }
    params.update(overrides)
    return params


@pytest.mark.parametrize(
    "text, expected",
    [("127.0.0.1:443", ("127.0.0.1", 443)), ("owa.contoso.com:8443", ("owa.contoso.com", 8443)), ("[::1]:587", ("::1", 587))],
)
def test_parse_address(text, expected):
    assert parse_address(text, "x") == expected


@pytest.mark.parametrize("text", ["127.0.0.1", "host:", ":443", "host:http", "host:70000", "[::1]"])
def test_parse_address_refuses(text):
    with pytest.raises(ValidationInputError, match="endpoints\\[a\\]: .* is not an address of the form host:port"):
        parse_address(text, "endpoints[a]")


def test_endpoint_targets():
    endpoints = {
        "OWA.contoso.com:443": {"EX01": "127.0.0.1:4001", "EX02": "127.0.0.1:4002"},
        "mail.contoso.com": ["127.0.0.1:5001", "127.0.0.1:5002"],
        "smtp.contoso.com:587": "127.0.0.1:6001",
    }
    assert endpoint_targets(endpoints, "owa.contoso.com", 443) == [("EX01", ("127.0.0.1", 4001)), ("EX02", ("127.0.0.1", 4002))]
    assert endpoint_targets(endpoints, "owa.contoso.com", 8443) == [("", ("owa.contoso.com", 8443))]  # other port: direct
    assert endpoint_targets(endpoints, "mail.contoso.com", 587) == [("127.0.0.1:5001", ("127.0.0.1", 5001)), ("127.0.0.1:5002", ("127.0.0.1", 5002))]
    assert endpoint_targets(endpoints, "smtp.contoso.com", 587) == [("", ("127.0.0.1", 6001))]
    assert endpoint_targets({}, "owa.contoso.com", 443) == [("", ("owa.contoso.com", 443))]
    with pytest.raises(ValidationInputError, match="endpoints\\[mail.contoso.com\\]: an empty list"):
        endpoint_targets({"mail.contoso.com": []}, "mail.contoso.com", 587)
    with pytest.raises(ValidationInputError, match="endpoints\\[mail.contoso.com\\].EX01: 'x' is not an address"):
        endpoint_targets({"mail.contoso.com": {"EX01": "x"}}, "mail.contoso.com", 587)


def test_label():
    assert _label("HTTPS", "owa.contoso.com", 443, "EX01", ("127.0.0.1", 1)) == "HTTPS owa.contoso.com:443 [EX01]"
    assert _label("SMTP", "mail.contoso.com", 587, "", ("127.0.0.1", 2)) == "SMTP mail.contoso.com:587 [127.0.0.1:2]"
    assert _label("SMTP", "mail.contoso.com", 587, "", ("mail.contoso.com", 587)) == "SMTP mail.contoso.com:587"


def test_the_plan_supplies_every_default():
    inputs = resolve_inputs(_params())
    assert inputs["dns_records"] == PLAN["dns"]
    assert inputs["resolvers"] == {
        "public": {"nameservers": ["127.0.0.1"], "port": 5353},
        "private": {"nameservers": ["127.0.0.1"], "port": 5354},
    }
    assert inputs["certificate_names"] == ["mail.contoso.com", "owa.contoso.com", "autodiscover.contoso.com"]
    assert inputs["https"] == {
        "url": "https://owa.contoso.com/owa",
        "host": "owa.contoso.com",
        "port": 443,
        "path": "/owa",
        "targets": [("", ("owa.contoso.com", 443))],
    }
    assert inputs["smtp"] == {"host": "mail.contoso.com", "port": 587, "targets": [("", ("mail.contoso.com", 587))]}


def test_explicit_options_win_over_the_plan():
    inputs = resolve_inputs(_params(
        dns_records={"public": [{"name": "contoso.com", "type": "mx", "value": "mx.contoso.com"}], "private": []},
        certificate_names=["*.contoso.com"],
        owa_url="https://webmail.contoso.com:8443/owa",
        client_frontend_fqdn="SMTP.contoso.com",
        smtp_port=2587,
        endpoints={"smtp.contoso.com:2587": "127.0.0.1:9"},
    ))
    assert inputs["dns_records"] == {"public": [{"name": "contoso.com", "type": "MX", "value": "mx.contoso.com"}], "private": []}
    assert inputs["resolvers"] == {"public": {"nameservers": ["127.0.0.1"], "port": 5353}}  # no private records, no resolver needed
    assert inputs["certificate_names"] == ["*.contoso.com"]
    assert (inputs["https"]["host"], inputs["https"]["port"]) == ("webmail.contoso.com", 8443)
    assert inputs["smtp"] == {"host": "smtp.contoso.com", "port": 2587, "targets": [("", ("127.0.0.1", 9))]}


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"dns_private": None}, "dns_private: the resolvers of the private view are required to check its 2 record"),
        ({"dns_public": {"nameservers": []}}, "dns_public: the resolvers of the public view are required"),
        ({"plan": None, "checks": ["dns"]}, "dns_records: no record to check"),
        ({"plan": None, "checks": ["https"]}, "owa_url: the Outlook on the web URL is required"),
        ({"plan": None, "checks": ["smtp"]}, "client_frontend_fqdn: required for the smtp check"),
        ({"owa_url": "http://owa.contoso.com/owa", "checks": ["https"]}, "owa_url: 'http://owa.contoso.com/owa' is not an https:// URL"),
        ({"dns_records": {"public": [{"name": "contoso.com", "type": "MX"}]}}, "dns_records.public\\[0\\]: a record needs name, type and value"),
        ({"dns_records": {"public": [{"name": "a.contoso.com", "type": "SPF", "value": "x"}]}}, "dns_records.public\\[0\\]: type 'SPF' is not one of"),
        ({"certificate_names": [], "plan": dict(PLAN, certificate_names=[])}, "certificate_names: the names the certificate must cover"),
        ({"plan": "mail.contoso.com"}, "plan: the url_plan filter's result"),
        ({"dns_public": {"nameservers": ["127.0.0.1"], "port": 0}}, "dns_public.port: 0 is not a port"),
        ({"dns_public": {"nameservers": ["127.0.0.1"]}}, None),  # no port: 53
    ],
)
def test_bad_options_are_refused_before_any_connection(overrides, message):
    if message is None:
        assert resolve_inputs(_params(**overrides))["resolvers"]["public"]["port"] == 53
        return
    with pytest.raises(ValidationInputError, match=message):
        resolve_inputs(_params(**overrides))


def test_only_the_asked_checks_need_their_inputs():
    inputs = resolve_inputs(_params(plan=None, checks=["dns"], dns_records={"public": [{"name": "contoso.com", "type": "MX", "value": "mail.contoso.com"}]}))
    assert inputs["https"] is None and inputs["smtp"] is None


def test_write_report(tmp_path):
    report = Report("t", [Check("DNS public: contoso.com MX", "dns-public", "mail.contoso.com", "mail.contoso.com", PASS)])
    files = write_report(report, str(tmp_path / "out"))
    assert files == {
        "text": str(tmp_path / "out" / "report.txt"),
        "json": str(tmp_path / "out" / "report.json"),
        "junit": str(tmp_path / "out" / "junit.xml"),
    }
    assert "1 checks: 1 passed, 0 failed - ALL PASSED" in (tmp_path / "out" / "report.txt").read_text()
    assert json.loads((tmp_path / "out" / "report.json").read_text())["ok"] is True
    root = ET.parse(str(tmp_path / "out" / "junit.xml")).getroot()
    assert root.get("tests") == "1" and root.find("testsuite").get("timestamp")


def test_documentation_matches_the_argument_spec(monkeypatch):
    """Every option documented with the type, default, choices and elements the module really uses."""
    import yaml

    from ansible_collections.mailops.exchange.plugins.modules import exchange_validate

    captured = {}

    class Stop(Exception):
        pass

    def fake_module(argument_spec, **kwargs):
        captured.update(argument_spec)
        raise Stop

    monkeypatch.setattr(exchange_validate, "AnsibleModule", fake_module)
    with pytest.raises(Stop):
        exchange_validate.main()
    documented = yaml.safe_load(exchange_validate.DOCUMENTATION)["options"]
    yaml.safe_load(exchange_validate.EXAMPLES)
    yaml.safe_load(exchange_validate.RETURN)

    def compare(spec, docs, where):
        assert set(spec) == set(docs), where
        for name, option in spec.items():
            doc = docs[name]
            for key in ("type", "default", "choices", "elements", "required"):
                default = {"type": "str", "required": False}.get(key)
                assert option.get(key, default) == doc.get(key, default), "%s.%s: %s" % (where, name, key)
            if "options" in option:
                compare(option["options"], doc["suboptions"], "%s.%s" % (where, name))

    compare(captured, documented, "options")
