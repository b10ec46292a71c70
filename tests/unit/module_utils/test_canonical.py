"""canonical.py: the forms Exchange reads back compare equal to what the user wrote."""

import pytest

from ansible_collections.mailops.exchange.plugins.module_utils import canonical as c


@pytest.mark.parametrize("given,expected", [
    ("*", "SMTP:*;1"), ("SMTP:*;1", "SMTP:*;1"), ("smtp:*", "SMTP:*;1"), ("contoso.com", "SMTP:contoso.com;1"),
    ("Contoso.COM;5", "SMTP:contoso.com;5"), ("SMTP:*.contoso.com;10", "SMTP:*.contoso.com;10"),
    (" * ", "SMTP:*;1"), (None, None), ("", None),
    ("X400:c=US;a= ;p=Contoso;1", "X400:c=US;a= ;p=Contoso;1"),
])
def test_address_space(given, expected):
    assert c.address_space(given) == expected


def test_address_space_round_trip():
    for value in ["*", "contoso.com", "*.fabrikam.com;3"]:
        assert c.address_space(c.address_space(value)) == c.address_space(value)


@pytest.mark.parametrize("given,primary,expected", [
    ("@contoso.com", True, "SMTP:@contoso.com"), ("@Contoso.com", False, "smtp:@contoso.com"),
    ("%g.%s@contoso.com", True, "SMTP:%g.%s@contoso.com"), ("SMTP:@contoso.com", False, "SMTP:@contoso.com"),
    ("smtp:%m@Fabrikam.com", True, "smtp:%m@fabrikam.com"), ("X400:c=US;a= ;", True, "X400:c=US;a= ;"),
    (None, True, None), ("", True, None),
])
def test_address_template(given, primary, expected):
    assert c.address_template(given, primary=primary) == expected


def test_is_primary_template():
    assert c.is_primary_template("SMTP:@contoso.com")
    assert not c.is_primary_template("smtp:@contoso.com")
    assert not c.is_primary_template(None)


@pytest.mark.parametrize("given,expected", [
    ("@contoso.com", "contoso.com"), ("%g.%s@Contoso.COM", "contoso.com"), ("SMTP:@mail.contoso.com", "mail.contoso.com"),
    ("smtp:%m@contoso.com.", "contoso.com"), ("X400:c=US", None), ("nodomain", None), ("@", None), (None, None),
])
def test_domain_of_template(given, expected):
    assert c.domain_of_template(given) == expected


@pytest.mark.parametrize("given,expected", [
    (None, None), ("", None), ("HTTPS://Mail.Contoso.COM/OWA", "https://mail.contoso.com/OWA"),
    ("https://mail.contoso.com", "https://mail.contoso.com/"), ("https://mail.contoso.com:443/owa", "https://mail.contoso.com/owa"),
    ("http://mail.contoso.com:80/PowerShell", "http://mail.contoso.com/PowerShell"),
    ("https://mail.contoso.com:8443/owa", "https://mail.contoso.com:8443/owa"),
    ("https://mail.contoso.com/EWS/Exchange.asmx", "https://mail.contoso.com/EWS/Exchange.asmx"),
])
def test_url(given, expected):
    assert c.url(given) == expected


@pytest.mark.parametrize("given,expected", [
    ("Mail.Contoso.com.", "mail.contoso.com"), ("EX01", "ex01"), (None, None), ("", None), (".", None),
])
def test_fqdn(given, expected):
    assert c.fqdn(given) == expected


def test_same_set():
    assert c.same_set(["b", "a"], ["a", "b", "a"])
    assert c.same_set(None, [])
    assert not c.same_set(["a"], [])
    assert c.same_set(["*"], ["SMTP:*;1"], key=c.address_space)
    assert c.same_set(["EX01", "ex02"], ["ex02", "ex01."], key=c.fqdn)
    assert not c.same_set(["ex01"], ["ex02"], key=c.fqdn)


def test_text_and_same_text():
    assert c.text("  ") is None
    assert c.same_text(None, "")
    assert c.same_text("ABC", "abc", casefold=True)
    assert not c.same_text("ABC", "abc")


@pytest.mark.parametrize("given,expected", [
    (None, None), ("", None), (36700160, 36700160), ("35MB", 36700160), ("35 mb", 36700160),
    ("35 MB (36,700,160 bytes)", 36700160), ("unlimited", "Unlimited"), ("Unlimited", "Unlimited"), ("1.5KB", 1536),
    ("10", 10), ("2GB", 2 * 1024 ** 3), ("36 MB (37,748,736 bytes)", 37748736),
])
def test_byte_size(given, expected):
    assert c.byte_size(given) == expected


@pytest.mark.parametrize("bad", ["abc", "-5", "10 XB", True, -1, "1.3B"])
def test_byte_size_rejects(bad):
    with pytest.raises(ValueError):
        c.byte_size(bad)


@pytest.mark.parametrize("value,wildcard,ok", [
    ("contoso.com", False, True), ("Mail.Contoso.COM.", False, True), ("*.contoso.com", False, False),
    ("*.contoso.com", True, True), ("-bad.com", False, False), ("a..b", False, False), ("con toso.com", False, False),
    ("x'; rm", False, False), ("", False, False), (None, False, False), ("a" * 64 + ".com", False, False),
])
def test_valid_domain(value, wildcard, ok):
    assert c.valid_domain(value, wildcard=wildcard) is ok


def test_domain_covered():
    accepted = ["contoso.com", "*.fabrikam.com"]
    assert c.domain_covered("Contoso.com", accepted)
    assert c.domain_covered("mail.fabrikam.com", accepted)
    assert c.domain_covered("fabrikam.com", accepted)
    assert not c.domain_covered("mail.contoso.com", accepted)
    assert not c.domain_covered("evilfabrikam.com", accepted)
    assert not c.domain_covered(None, accepted)
