"""ConvertTo-Json / ConvertFrom-Json in Windows PowerShell 5.1's output format."""

from __future__ import annotations

import json

import pytest

from exchange_lab.powershell.convert import is_custom_object
from exchange_lab.powershell.testing import run
from exchange_lab.psvalues import PSEnum, PSObject


def out(script: str, **variables) -> list:
    from exchange_lab.powershell.testing import new_session

    session = new_session()
    for name, value in variables.items():
        session.set_variable(name, value)
    session.run(script)
    assert session.streams.errors == [], [e.message for e in session.streams.errors]
    return session.streams.output


def test_pretty_layout_is_windows_powershell_51():
    text = out("[ordered]@{a = 1; b = [ordered]@{c = 2; d = @(1, 'x')}; e = @(); f = @{}} | ConvertTo-Json")[0]
    expected = (
        "{\r\n"
        '    "a":  1,\r\n'
        '    "b":  {\r\n'
        '              "c":  2,\r\n'
        '              "d":  [\r\n'
        "                        1,\r\n"
        '                        "x"\r\n'
        "                    ]\r\n"
        "          },\r\n"
        '    "e":  [\r\n'
        "\r\n"
        "          ],\r\n"
        '    "f":  {\r\n'
        "\r\n"
        "          }\r\n"
        "}"
    )
    assert text == expected
    assert json.loads(text) == {"a": 1, "b": {"c": 2, "d": [1, "x"]}, "e": [], "f": {}}


def test_top_level_array_layout():
    assert out("ConvertTo-Json -InputObject @(1, @{k = 'v'})")[0] == (
        '[\r\n    1,\r\n    {\r\n        "k":  "v"\r\n    }\r\n]')


def test_compress():
    assert out("@{a = @(1, 2); b = $null; c = $true; d = 1.5} | ConvertTo-Json -Compress") == ['{"a":[1,2],"b":null,"c":true,"d":1.5}']


@pytest.mark.parametrize("text, expected", [
    ('a"b\\c', '"a\\"b\\\\c"'),
    ("it's <b> & c", '"it\\u0027s \\u003cb\\u003e \\u0026 c"'),
    ("tab\there\nnew\rret\x08\x0c", '"tab\\there\\nnew\\rret\\b\\f"'),
    ("\x01\x1f", '"\\u0001\\u001f"'),
    ("caf\u00e9 \u2019 \u4e2d \U0001f600", '"caf\u00e9 \u2019 \u4e2d \U0001f600"'),
    ("/slash", '"/slash"'),
])
def test_strings_are_escaped_as_51_does(text, expected):
    assert out("$s | ConvertTo-Json", s=text) == [expected]
    assert json.loads(expected) == text


def test_default_depth_two_renders_deeper_objects_as_strings():
    assert out("@{a = @{b = @{c = @{d = 1}}}} | ConvertTo-Json -Compress") == ['{"a":{"b":{"c":"System.Collections.Hashtable"}}}']
    assert out("@{a = @{b = @{c = [pscustomobject]@{d = 1; e = 'x'}}}} | ConvertTo-Json -Compress") == ['{"a":{"b":{"c":"@{d=1; e=x}"}}}']
    assert out("@{a = @{b = @{c = @(1, 2)}}} | ConvertTo-Json -Compress") == ['{"a":{"b":{"c":"1 2"}}}']
    # Scalars are never cut.
    assert out("@{a = @{b = @{c = 'deep'}}} | ConvertTo-Json -Compress") == ['{"a":{"b":{"c":"deep"}}}']
    assert out("@{a = @{b = @{c = @{d = 1}}}} | ConvertTo-Json -Compress -Depth 5") == ['{"a":{"b":{"c":{"d":1}}}}']


def test_depth_is_validated():
    session = run("ConvertTo-Json -InputObject 1 -Depth 101")
    assert "The 101 argument is greater than the maximum allowed range of 100" in session.streams.errors[0].message


def test_enums_numbers_objects_bytes_and_secure_strings():
    enum = PSEnum("Microsoft.Exchange.Data.AuthMechanisms", "Tls", 1)
    obj = PSObject("Microsoft.Exchange.Data.Directory.SystemConfiguration.ReceiveConnector", {"Name": "Default", "AuthMechanism": enum})
    assert out("$o | ConvertTo-Json -Compress", o=obj) == ['{"Name":"Default","AuthMechanism":1}']
    assert out("@{b = [byte[]](1, 2)} | ConvertTo-Json -Compress") == ['{"b":[1,2]}']
    assert out("ConvertTo-SecureString 'pw' -AsPlainText -Force | ConvertTo-Json -Compress") == ['{"Length":2}']
    assert out("1.0, 2.25, 10000000000 | ConvertTo-Json -Compress") == ["[1,2.25,10000000000]"]


def test_pipeline_unrolling_decides_array_or_element():
    single = PSObject("X", {"Name": "only"})
    assert out("@($x) | ConvertTo-Json -Compress", x=single) == ['{"Name":"only"}']
    assert out("ConvertTo-Json -InputObject @($x) -Compress", x=single) == ['[{"Name":"only"}]']
    assert out(",@($x) | ConvertTo-Json -Compress", x=single) == ['[{"Name":"only"}]']
    assert out("@($x, $x) | ConvertTo-Json -Compress", x=single) == ['[{"Name":"only"},{"Name":"only"}]']
    assert out("@() | ConvertTo-Json") == []
    assert out("$null | ConvertTo-Json") == ["null"]


def test_non_string_keys_are_refused():
    session = run("@{1 = 'a'} | ConvertTo-Json")
    assert "Keys must be strings" in session.streams.errors[0].message


def test_as_array_does_not_exist_in_51():
    session = run("1 | ConvertTo-Json -AsArray")
    assert session.streams.errors[0].message == "A parameter cannot be found that matches parameter name 'AsArray'."


def test_convert_from_json_gives_custom_objects():
    session = run("$o = '{\"a\":1,\"b\":[1,2],\"c\":{\"d\":\"x\"},\"e\":null,\"f\":1.5}' | ConvertFrom-Json")
    obj = session.get_variable("o")
    assert is_custom_object(obj)
    assert obj.properties["a"] == 1 and obj.properties["b"] == [1, 2] and obj.properties["e"] is None and obj.properties["f"] == 1.5
    assert is_custom_object(obj.properties["c"]) and obj.properties["c"].properties["d"] == "x"
    assert out("('{\"Name\":\"n\"}' | ConvertFrom-Json).name") == ["n"]


def test_convert_from_json_writes_an_array_as_one_object_as_51_does():
    assert out("'[1,2,3]' | ConvertFrom-Json | ForEach-Object { $_.Count }") == [3]


def test_convert_from_json_invalid_input_is_an_error():
    session = run("'not json' | ConvertFrom-Json; 'after'")
    assert session.streams.output == ["after"]
    assert session.streams.errors[0].message.startswith("Invalid JSON primitive")


def test_round_trip_of_unicode_through_json():
    text = "Gr\u00fc\u00dfe \u2018q\u2019 \"d\" \\ \u00e9"
    result = out("($s | ConvertTo-Json | ConvertFrom-Json)", s=text)
    assert result == [text]
