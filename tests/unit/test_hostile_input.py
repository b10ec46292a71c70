# -*- coding: utf-8 -*-
"""Hostile input through whole modules (issue 7), checked with the real PowerShell grammar (tree-sitter).

test_quoting.py proves ps_literal/ps_command keep one string literal. This file goes end to end: a module's
main() plans its commands from hostile option values, the commands are wrapped in the session's real envelope and
stdin line (the exact bytes ExchangeSession sends), and tree-sitter parses every layer:

- the stdin line is one command whose only string is the base64 payload;
- the decoded envelope parses without error and its command array holds exactly the module's command lines;
- each command line is ONE command whose string arguments decode to exactly the option values.

Invalid values (FQDNs, domains, URLs, sizes) must fail before anything is sent to Exchange.
"""

import base64
import os
import sys

import pytest
import tree_sitter
import tree_sitter_powershell
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from ansible_collections.mailops.exchange.plugins.module_utils import exchange_session
from ansible_collections.mailops.exchange.plugins.module_utils.quoting import SINGLE_QUOTES, ps_script
from ansible_collections.mailops.exchange.plugins.modules import exchange_accepted_domain as accepted_domain
from ansible_collections.mailops.exchange.plugins.modules import exchange_send_connector as send_connector

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "modules"))
from mailflow_harness import run_module  # noqa: E402

PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))

HOSTILE = [
    "'", '"', "\u2018", "\u2019", "\u201a", "\u201b", "\u201c", "\u201d", "\u201e", "`", "``", "`'", "$", "$(", "${",
    "}", "$()", "${env:PATH}", "$(Remove-Item C:\\ -Recurse)", "$env:USERNAME", "@(", ")", ";", "|", "&", "&&", "||",
    "#", "<#", "#>", "\n", "\r\n", "\r", "\t", " ", "-Force", "--%", "é", "\u00a0", "\u2028", "日本", "😀", "\\",
    "''", "'+'", "@'", "'@", "@\"", "\"@", "'; Remove-SendConnector -Identity * -Confirm:$false; '",
]


def hostile_text(min_size=0):
    pieces = st.one_of(st.sampled_from(HOSTILE),
                       st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
                               max_size=8))
    return st.lists(pieces, min_size=min_size, max_size=10).map("".join)


# -- the grammar checks -------------------------------------------------------------------------------------------

STRING_NODES = ("expandable_string_literal", "verbatim_string_literal", "expandable_here_string_literal",
                "verbatim_here_string_literal")


def walk(node):
    yield node
    for child in node.children:
        yield from walk(child)


def parse(text):
    data = text.encode("utf-8")
    tree = PARSER.parse(data)
    bad = [n for n in walk(tree.root_node) if n.type == "ERROR" or n.is_missing]
    assert not bad, (text[:300], bad[0])
    return data, tree.root_node


def decode_verbatim(literal):
    assert literal[0] in SINGLE_QUOTES and literal[-1] in SINGLE_QUOTES, literal
    body, out, i = literal[1:-1], [], 0
    while i < len(body):
        if body[i] in SINGLE_QUOTES:
            assert i + 1 < len(body) and body[i + 1] in SINGLE_QUOTES, "lone quote inside the literal"
            i += 1
        out.append(body[i])
        i += 1
    return "".join(out)


def strings_of(data, root):
    """The string literals of a tree, decoded; any expandable string, variable or sub-expression is an error."""
    values = []
    for node in walk(root):
        if node.type in ("expandable_string_literal", "expandable_here_string_literal", "sub_expression",
                         "verbatim_here_string_literal"):
            raise AssertionError("%s in %r" % (node.type, data[:200]))
        if node.type == "string_literal":
            kinds = [child.type for child in node.children]
            assert kinds == ["verbatim_string_characters"], (kinds, data[node.start_byte:node.end_byte][:200])
            values.append(decode_verbatim(data[node.start_byte:node.end_byte].decode("utf-8")))
    return values


def commands_of(root):
    return [n for n in walk(root) if n.type == "command"]


def check_command_line(line):
    """One command, no variables other than $true/$false/$null; returns its decoded string arguments."""
    data, root = parse(line)
    assert len(commands_of(root)) == 1, line
    for node in walk(root):
        if node.type == "variable":
            assert data[node.start_byte:node.end_byte].decode().lower() in ("$true", "$false", "$null"), line
    return strings_of(data, root)


def check_wire(commands):
    """The session's write envelope + stdin line for ``commands``, as sent: each layer parsed."""
    token = "MAILOPS-" + "0" * 32
    script = ps_script(exchange_session._EXECUTE_ENVELOPE, begin=token + ":BEGIN", ok=token + ":OK",
                       err=token + ":ERR", commands=commands)
    payload = base64.b64encode(script.encode("utf-8")).decode("ascii")
    line = ps_script(exchange_session._STDIN_LINE, payload=payload)
    assert "\n" not in line and "\r" not in line
    data, root = parse(line)
    literals = [data[n.start_byte:n.end_byte].decode() for n in walk(root) if n.type == "string_literal"]
    assert literals == ["'%s'" % payload]
    decoded = base64.b64decode(payload).decode("utf-8")
    assert decoded == script
    data, root = parse(decoded)
    # The command lines are data in the envelope (one array of verbatim strings), run only via
    # [scriptblock]::Create: they are exactly the module's lines, in order.
    arrays = [n for n in walk(root) if n.type == "array_literal_expression" or n.type == "array_expression"]
    assert arrays, decoded[:300]
    # The envelope's own literals: 'Stop' ($ErrorActionPreference) and the markers.
    values = [v for v in strings_of(data, root) if not v.startswith(token)]
    assert values[0] == "Stop"
    values = values[1:]
    assert values == list(commands), (values, commands)


# -- the modules ----------------------------------------------------------------------------------------------------

SEND_CONNECTORS = {"connectors": [], "servers": ["EX01", "EX02"]}
DOMAINS = [{"Name": "corp.contoso.com", "DomainName": "corp.contoso.com", "DomainType": "Authoritative",
            "Default": True}]


@settings(max_examples=1500, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(comment=hostile_text(min_size=1), name=hostile_text(min_size=1))
def test_send_connector_strings_reach_exchange_verbatim(monkeypatch, comment, name):
    assume(name.strip() == name and name.strip() and comment.strip())
    args = {"name": name, "usage": "Internet", "address_spaces": ["*"], "dns_routing_enabled": True,
            "fqdn": "mail.contoso.com", "comment": comment}
    result, session = run_module(monkeypatch, send_connector.main, args, SEND_CONNECTORS)
    if result.get("failed"):
        # A refused name is refused before any write, with a message naming the option.
        assert session.executed == [], result
        assert "name" in result["msg"], result["msg"]
        return
    assert result["changed"] is True
    assert session.executed == [result["commands"]]
    (line,) = result["commands"]
    strings = check_command_line(line)
    assert name in strings and comment in strings, (strings, name, comment)
    assert strings[0] == name  # -Name comes first
    assert strings[-1] == comment
    check_wire(result["commands"])
    # The read scripts carry the name as data too.
    for script in session.queries:
        parse(script)


@settings(max_examples=1000, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(name=hostile_text(min_size=1))
def test_accepted_domain_name_reaches_exchange_verbatim(monkeypatch, name):
    assume(name.strip() == name and name.strip())
    args = {"name": name, "domain_name": "fabrikam.com", "domain_type": "InternalRelay"}
    result, session = run_module(monkeypatch, accepted_domain.main, args, DOMAINS)
    if result.get("failed"):
        assert session.executed == [], result
        return
    assert session.executed == [result["commands"]]
    strings = check_command_line(result["commands"][0])
    assert strings[0] == name
    check_wire(result["commands"])


@pytest.mark.parametrize("fqdn", ["mail contoso.com", "mail.contoso.com;", "$(whoami).contoso.com", "-mail.contoso.com",
                                  "mail..contoso.com", "m\u00e4il'.contoso.com", "a" * 64 + ".contoso.com", ""])
def test_invalid_fqdn_refused_before_any_exchange_call(monkeypatch, fqdn):
    args = {"name": "To internet", "usage": "Internet", "dns_routing_enabled": True, "fqdn": fqdn}
    result, session = run_module(monkeypatch, send_connector.main, args, SEND_CONNECTORS)
    if fqdn == "":
        # '' clears the FQDN on Set-SendConnector: not an error, and nothing odd is sent.
        assert not result.get("failed") or session.executed == []
        return
    assert result.get("failed") is True, result
    assert "fqdn" in result["msg"].lower(), result["msg"]
    assert session.executed == []


@pytest.mark.parametrize("domain", ["not a domain", "contoso.com;rm", "$(x).com", "contoso..com", "-contoso.com",
                                    "contoso.com'", "*", "con toso.com"])
def test_invalid_domain_refused_before_any_exchange_call(monkeypatch, domain):
    args = {"name": "Bad", "domain_name": domain}
    result, session = run_module(monkeypatch, accepted_domain.main, args, DOMAINS)
    assert result.get("failed") is True, result
    assert "domain" in result["msg"].lower(), result["msg"]
    assert session.executed == []


@pytest.mark.parametrize("smart_host", ["relay contoso.com", "relay.contoso.com;x", "$(evil)", "[1.2.3.4", "-relay"])
def test_invalid_smart_host_refused(monkeypatch, smart_host):
    args = {"name": "To relay", "smart_hosts": [smart_host]}
    result, session = run_module(monkeypatch, send_connector.main, args, SEND_CONNECTORS)
    assert result.get("failed") is True, result
    assert session.executed == []


def test_wire_check_detects_injection():
    """The checker itself fails on a line where a value escaped its literal (so the properties above can fail)."""
    with pytest.raises(AssertionError):
        check_command_line("Set-SendConnector -Identity 'x' -Comment 'a'; Remove-SendConnector -Identity 'x'")
    with pytest.raises(AssertionError):
        check_command_line("Set-SendConnector -Identity \"$(Remove-Item C:\\)\"")
    with pytest.raises(AssertionError):
        check_command_line("Set-SendConnector -Identity $env:USERNAME")


# -- refusals of other kinds of input: before any call to Exchange ---------------------------------------------------

from ansible_collections.mailops.exchange.plugins.modules import exchange_certificate as certificate  # noqa: E402


@pytest.mark.parametrize("args,needle", [
    ({"server": "EX01", "thumbprint": "A" * 40, "services": ["SMTP; Remove-Item C:\\"]}, "services"),
    ({"server": "EX01", "certificate_path": "/nonexistent/a.cer", "pfx_path": "/nonexistent/a.pfx"},
     "mutually exclusive"),
    ({"server": "EX01", "certificate_content": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
     "cannot be read"),
    ({"server": "EX01", "pfx_path": "/nonexistent/a.pfx", "pfx_password": "x"}, "a.pfx"),
])
def test_certificate_input_refused_before_any_exchange_call(monkeypatch, args, needle):
    result, session = run_module(monkeypatch, certificate.main, args, None)
    assert result.get("failed") is True, result
    assert needle in result["msg"], result["msg"]
    assert session.executed == []


def test_wrong_pfx_password_refused_before_any_exchange_call(monkeypatch, tmp_path):
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.contoso.com")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=9))
            .sign(key, hashes.SHA256()))
    pfx = tmp_path / "a.pfx"
    pfx.write_bytes(pkcs12.serialize_key_and_certificates(b"a", key, cert, None,
                                                          serialization.BestAvailableEncryption(b"right")))
    result, session = run_module(monkeypatch, certificate.main,
                                 {"server": "EX01", "pfx_path": str(pfx), "pfx_password": "wrong'$(x)"},
                                 {"computer": "EX01", "local": [], "exchange": [], "iis": [], "requests": []})
    assert result.get("failed") is True and "wrong password" in result["msg"], result
    assert "wrong'$(x)" not in str(result)
    # Before any write (the module reads the certificate store first; its documentation says "before anything is
    # sent", which is not what it does - reported, the module is not this file's to change).
    assert session.executed == []
