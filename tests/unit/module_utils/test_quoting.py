# -*- coding: utf-8 -*-
"""quoting.ps_literal / ps_command / ps_script: hostile strings stay literal, checked with the real grammar."""

import pytest
import tree_sitter
import tree_sitter_powershell
from hypothesis import given, settings, strategies as st, HealthCheck

from ansible_collections.mailops.exchange.plugins.module_utils.quoting import (
    SINGLE_QUOTES, SWITCH, command_argument, ps_command, ps_literal, ps_script, ps_unquote,
)

PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))

HOSTILE = [
    "'", '"', "\u2018", "\u2019", "\u201a", "\u201b", "\u201c", "\u201d", "\u201e", "`", "$", "$(", "${", "}",
    "$()", "${x}", "$(Remove-Item C:\\ -Recurse)", "@(", ")", ";", "|", "&", "&&", "||", "#", "<#", "#>", "\n",
    "\r\n", "\r", "\t", " ", "-Force", "--%", "é", "\u00a0", "\u2028", "日本", "😀", "\\", "''", "'+'", "@'", "'@",
]


def hostile_text():
    pieces = st.one_of(st.sampled_from(HOSTILE), st.text(alphabet=st.characters(blacklist_characters="\x00",
                                                                                blacklist_categories=("Cs",))))
    return st.lists(pieces, max_size=12).map("".join)


def decode_verbatim(body):
    """PowerShell's rule for a verbatim string body: two adjacent single-quote characters stand for one."""
    out, i = [], 0
    while i < len(body):
        if body[i] in SINGLE_QUOTES:
            assert i + 1 < len(body) and body[i + 1] in SINGLE_QUOTES, "lone quote inside the literal"
            out.append(body[i])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def string_literals(node):
    if node.type in ("string_literal", "expandable_string_literal", "verbatim_string_literal",
                     "expandable_here_string_literal", "verbatim_here_string_literal"):
        yield node
        return
    for child in node.children:
        yield from string_literals(child)


def no_errors(node):
    if node.type == "ERROR" or node.is_missing:
        return False
    return all(no_errors(child) for child in node.children)


def parse_single_literal(source):
    data = source.encode("utf-8")
    tree = PARSER.parse(data)
    assert no_errors(tree.root_node), tree.root_node
    literals = list(string_literals(tree.root_node))
    assert len(literals) == 1, tree.root_node
    node = literals[0]
    assert node.start_byte == 0 and node.end_byte == len(data), (node.start_byte, node.end_byte, len(data))
    # A verbatim string only: no expandable part, no sub-expression, no variable anywhere in the tree.
    assert data[0:1] in (b"'", "\u2018".encode(), "\u2019".encode())
    return data[1:-1].decode("utf-8")


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_text())
def test_string_literal_is_one_verbatim_string_with_the_same_value(value):
    rendered = ps_literal(value)
    body = parse_single_literal(rendered)
    assert decode_verbatim(body) == value
    assert ps_unquote(rendered) == value


@settings(max_examples=500, deadline=None)
@given(hostile_text())
def test_string_stays_one_argument_of_a_command(value):
    line = ps_command("Set-SendConnector", {"Identity": value, "Comment": value, "Enabled": True})
    data = line.encode("utf-8")
    tree = PARSER.parse(data)
    assert no_errors(tree.root_node)
    literals = list(string_literals(tree.root_node))
    assert len(literals) == 2
    for node in literals:
        assert decode_verbatim(data[node.start_byte + 1:node.end_byte - 1].decode("utf-8")) == value
    # Exactly one command in the tree.
    commands = []

    def walk(node):
        if node.type == "command":
            commands.append(node)
        for child in node.children:
            walk(child)
    walk(tree.root_node)
    assert len(commands) == 1
    assert command_argument(line, "Identity") == value


@pytest.mark.parametrize("value", ["", "a", "O'Brien", "\u2019", "''''", "$(whoami)", "line1\nline2", "#<#"])
def test_examples(value):
    assert decode_verbatim(parse_single_literal(ps_literal(value))) == value


def test_nul_refused():
    with pytest.raises(ValueError):
        ps_literal("a\x00b")


@pytest.mark.parametrize("value,expected", [
    (True, "$true"), (False, "$false"), (None, "$null"), (0, "0"), (-5, "-5"), (2 ** 40, "1099511627776"),
    (1.5, "1.5"), ([], "@()"), (["a", 1, True], "@('a', 1, $true)"), (("x",), "@('x')"),
    ({"k": "v", "n": [1]}, "@{'k' = 'v'; 'n' = @(1)}"), (b"\x00\xff", "([System.Convert]::FromBase64String('AP8='))"),
    ({}, "@{}"),
])
def test_other_literals(value, expected):
    assert ps_literal(value) == expected


def test_bool_is_not_int():
    assert ps_literal(True) == "$true"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), SWITCH])
def test_refused_values(value):
    with pytest.raises(ValueError):
        ps_literal(value)


@pytest.mark.parametrize("value", [object(), {1: "a"}, {"a", "b"}])
def test_unsupported_types(value):
    with pytest.raises(TypeError):
        ps_literal(value)


def test_ps_command_rendering():
    line = ps_command("Set-OwaVirtualDirectory", {
        "Identity": "EX01\\owa (Default Web Site)", "InternalUrl": "https://mail.contoso.com/owa",
        "ExternalUrl": None, "Enabled": False, "Force": SWITCH, "MaxMessageSize": 10, "Names": ["a", "b"],
    })
    assert line == ("Set-OwaVirtualDirectory -Identity 'EX01\\owa (Default Web Site)' "
                    "-InternalUrl 'https://mail.contoso.com/owa' -ExternalUrl $null -Enabled:$false -Force "
                    "-MaxMessageSize 10 -Names @('a', 'b')")
    assert ps_command("Get-AcceptedDomain", {}) == "Get-AcceptedDomain"
    assert ps_command("Get-AcceptedDomain") == "Get-AcceptedDomain"


@pytest.mark.parametrize("cmdlet", ["Set-X; rm", "Set X", "SetX", "-Set-X", "Set-X-Y", "", "Set-X$"])
def test_ps_command_rejects_bad_cmdlet(cmdlet):
    with pytest.raises(ValueError):
        ps_command(cmdlet, {})


@pytest.mark.parametrize("param", ["Ide ntity", "1a", "a-b", "", "x;y", "Force:$true"])
def test_ps_command_rejects_bad_parameter(param):
    with pytest.raises(ValueError):
        ps_command("Set-X", {param: "v"})


def test_ps_script_fills_placeholders_with_literals():
    script = ps_script("Get-SendConnector | Where-Object { $_.Name -eq {name} } | ForEach-Object { $_.Fqdn }",
                       name="it's $(evil)")
    assert script == "Get-SendConnector | Where-Object { $_.Name -eq 'it''s $(evil)' } | ForEach-Object { $_.Fqdn }"
    assert ps_script("$x = {a}; $y = {b}; $z = {a}", a=[1, 2], b=None) == "$x = @(1, 2); $y = $null; $z = @(1, 2)"


def test_ps_script_checks_placeholders():
    with pytest.raises(KeyError):
        ps_script("$x = {missing}")
    with pytest.raises(ValueError):
        ps_script("$x = 1", unused=1)
    # script blocks and hashtables with spaces are not placeholders
    assert ps_script("@{ n = 1 }; { $_ }") == "@{ n = 1 }; { $_ }"


def test_ps_unquote_rejects_non_literals():
    for bad in ["abc", "'a'b'", "'"]:
        with pytest.raises(ValueError):
            ps_unquote(bad)


def test_command_argument():
    line = ps_command("Set-ReceiveConnector", {"Identity": "EX01\\Client Frontend EX01", "Fqdn": "a -Identity 'x'"})
    assert command_argument(line, "Identity") == "EX01\\Client Frontend EX01"
    assert command_argument(line, "Fqdn") == "a -Identity 'x'"
    assert command_argument(line, "Name") is None
