"""The lab's PowerShell subset: each construct evaluated with the values Windows PowerShell 5.1 gives."""

from __future__ import annotations

import pytest

from exchange_lab.errors import UnsupportedConstruct
from exchange_lab.powershell.convert import is_custom_object
from exchange_lab.powershell.parser import ParseException
from exchange_lab.powershell.testing import new_session, run
from exchange_lab.psvalues import Hashtable, PSObject


def out(script: str) -> list:
    session = run(script)
    assert session.streams.errors == [], [e.message for e in session.streams.errors]
    return session.streams.output


def value(script: str):
    """The value of `$r` after running the script."""
    session = run(script)
    assert session.streams.errors == [], [e.message for e in session.streams.errors]
    return session.get_variable("r")


# --- literals and variables -----------------------------------------------------------------------------------

def test_numbers_strings_booleans_null():
    assert out("1; 2.5; 0x10; 1kb; 'a'; $true; $false") == [1, 2.5, 16, 1024, "a", True, False]
    assert out("$null") == [None]
    assert value("$r = $undefined") is None


def test_single_quoted_strings_double_quotes_to_escape():
    assert out("'it''s'") == ["it's"]
    assert out("'a \"b\" $x `n'") == ['a "b" $x `n']


def test_double_quoted_strings_expand_variables_subexpressions_and_backtick_escapes():
    assert out('$x = "W"; $h = @{Name = "n1"}; "a $x b"; "$($h.Name)!"; "${x}y"; "tab`tq`"uote`$x"; "say ""hi"""') == [
        "a W b", "n1!", "Wy", 'tab\tq"uote$x', 'say "hi"']
    # Only the variable expands, not a member access after it (as in PowerShell).
    assert out('$h = @{Name = "n1"}; "$h.Name"') == ["System.Collections.Hashtable.Name"]
    assert out('$a = 1, 2, 3; "[$a]"') == ["[1 2 3]"]


def test_environment_variables_and_exchange_install_path():
    assert out("$env:ExchangeInstallPath") == ["C:\\Program Files\\Microsoft\\Exchange Server\\V15\\"]
    assert out('$env:LAB_X = "1"; "v=$env:LAB_X"; $env:NOT_SET -eq $null') == ["v=1", True]


def test_here_strings():
    script = '$n = "x"\n$a = @"\nline $n\n  "quoted"\n"@\n$b = @\'\nraw $n\n\'@\n$a; $b'
    assert out(script) == ['line x\n  "quoted"', "raw $n"]


def test_assignment_collects_pipeline_output_as_powershell_does():
    session = run("$none = Write-Output; $one = Write-Output 5; $two = Write-Output 5 6; $arr = @(5); $expr = 1, 2")
    assert session.get_variable("none") is None
    assert session.get_variable("one") == 5
    assert session.get_variable("two") == [5, 6]
    assert session.get_variable("arr") == [5]
    assert session.get_variable("expr") == [1, 2]


def test_compound_assignment_and_hashtable_member_and_index_assignment():
    table = value("$r = @{a = 1}; $r.a += 2; $r['b'] = 'x'; $r.c = @(); $r.c += 'y'; $r.c += 'z'")
    assert isinstance(table, Hashtable)
    assert dict(table.items()) == {"a": 3, "b": "x", "c": ["y", "z"]}
    assert value("$r = 'a'; $r += 'b'") == "ab"
    assert value("$r = 10; $r -= 3; $r *= 2") == 14
    assert value("$r = 1, 2; $r[1] = 5") == [1, 5]


def test_arrays_unary_comma_and_array_subexpression():
    assert value("$r = @()") == []
    assert value("$r = @(7)") == [7]
    assert value("$r = ,7") == [7]
    assert value("$r = @(@(1, 2))") == [1, 2]
    assert value("$r = @(,(1, 2))") == [[1, 2]]
    assert value("$r = (1, 2, 3).Count") == 3
    assert value("$r = @(if ($false) { 1 }).Count") == 0


def test_ordered_and_pscustomobject_literals():
    ordered = value("$r = [ordered]@{z = 1; a = 2}")
    assert list(ordered.keys()) == ["z", "a"]
    obj = value("$r = [pscustomobject]@{Name = 'n'; Port = 25}")
    assert is_custom_object(obj)
    assert obj.properties["Name"] == "n" and obj.properties["Port"] == 25
    assert out("[pscustomobject]@{A = 1; B = 'x'} | ForEach-Object { \"$_\" }") == ["@{A=1; B=x}"]


def test_member_access_is_case_insensitive_with_count_length_and_member_enumeration():
    assert out("$o = [pscustomobject]@{Name = 'n'}; $o.name; $o.NAME; $o.Count") == ["n", "n", 1]
    assert out("'abc'.Length; @(1, 2).Length; $null.Count") == [3, 2, 0]
    # Member enumeration: the property of each element; one result comes back as a scalar.
    assert value("$r = @([pscustomobject]@{N = 1}, [pscustomobject]@{N = 2}).N") == [1, 2]
    assert value("$r = @([pscustomobject]@{N = 1}).N") == 1
    assert value("$r = @{a = 1}.Keys") == ["a"]


def test_index_access():
    assert out("$a = 'x', 'y', 'z'; $a[0]; $a[-1]; $a[5] -eq $null; @{k = 'v'}['K']") == ["x", "z", True, "v"]
    assert value("$r = ('a', 'b', 'c')[0, 2]") == ["a", "c"]


def test_string_methods():
    assert out("' Ab '.Trim(); 'Ab'.ToLower(); 'Ab'.ToUpper(); 'a,b'.Split(',')[1]; 'abc'.Contains('b'); 'abc'.StartsWith('ab'); "
               "'abc'.EndsWith('bc'); 'abc'.Replace('b', 'X'); 'abcdef'.Substring(2, 2); 'abc'.IndexOf('c'); (5).ToString()") == [
        "Ab", "ab", "AB", "b", True, True, True, "aXc", "cd", 2, "5"]
    # .NET Contains/StartsWith are case-sensitive, unlike PowerShell's operators.
    assert out("'abc'.Contains('B'); 'abc' -like '*B*'") == [False, True]


def test_psobject_methods_and_gettype():
    assert out("(ConvertTo-SecureString 'pw' -AsPlainText -Force).GetType().FullName") == ["System.Security.SecureString"]
    assert out("'x'.GetType().Name; (1).GetType().FullName") == ["String", "System.Int32"]


def test_static_calls_base64_encoding_and_scriptblock_create():
    assert out("[System.Convert]::ToBase64String([System.Text.Encoding]::UTF8.GetBytes('h\u00e9'))") == ["aMOp"]
    assert out("[System.Text.Encoding]::UTF8.GetString([System.Convert]::FromBase64String('aMOp'))") == ["h\u00e9"]
    assert out("[Convert]::ToBase64String([System.Text.Encoding]::Unicode.GetBytes('a'))") == ["YQA="]
    assert out("& ([scriptblock]::Create('1 + 1'))") == [2]


def test_casts():
    assert out("[string]5; [int]'42'; [int]2.5; [int]3.5; [bool]'x'; [bool]''; [bool]0") == ["5", 42, 2, 4, True, False, False]
    assert value("$r = [byte[]](1, 2, 255)") == b"\x01\x02\xff"
    assert value("$r = [array]'one'") == ["one"]
    assert value("$r = [string](1, 2)") == "1 2"


def test_arithmetic():
    assert out("1 + 2 * 3; 7 / 2; 6 / 3; 7 % 3; 'a' + 1; 1 + '2'; 'ab' * 2; -5 + 1") == [7, 3.5, 2, 1, "a1", 3, "abab", -4]
    assert value("$r = @(1) + 2") == [1, 2]
    assert value("$r = @{a = 1} + @{b = 2}")["b"] == 2


def test_comparison_operators_on_scalars():
    assert out("1 -eq '1'; 'A' -eq 'a'; 'A' -ceq 'a'; 2 -gt 1; 'b' -lt 'a'; 3 -ge 3; 1 -le 0; 'x' -ne 'y'") == [
        True, True, False, True, False, True, False, True]
    assert out("'Default EX01' -like 'default*'; 'abc' -notlike 'a*'; 'abc' -match '^A(b)'; $Matches[1]; 'x' -notmatch 'y'") == [
        True, False, True, "b", True]
    assert out("1, 2, 3 -contains 2; 4 -in 1, 2; 'x' -notin 'y'") == [True, False, True]


def test_comparison_operators_filter_arrays():
    assert value("$r = 1, 2, 3, 2 -eq 2") == [2, 2]
    assert value("$r = 'ab', 'cd', 'ae' -like 'a*'") == ["ab", "ae"]
    assert value("$r = @(1, 2) -eq 5") == []
    assert out("if (@(1, 2) -eq 5) { 'yes' } else { 'no' }") == ["no"]


def test_join_split_replace():
    assert out("(1, 2, 3) -join ','; -join ('a', 'b'); 'a,b,,c' -split ','; 'ABC' -replace 'b', 'x'; 'ab' -replace '(a)(b)', '$2$1'") == [
        "1,2,3", "ab", "a", "b", "", "c", "AxC", "ba"]


def test_logical_operators_short_circuit():
    assert out("$true -and $false; $false -or 1; -not 0; !$null; 1 -and 'x'") == [False, True, True, True, True]
    assert out("$false -and (Get-Nonexistent); $true -or (Get-Nonexistent)") == [False, True]


def test_if_elseif_else():
    script = "foreach ($n in 1, 2, 3) { if ($n -eq 1) { 'one' } elseif ($n -eq 2) { 'two' } else { 'many' } }"
    assert out(script) == ["one", "two", "many"]


def test_foreach_with_break_and_continue_and_ranges():
    assert out("foreach ($i in 1..5) { if ($i -eq 2) { continue }; if ($i -eq 4) { break }; $i }") == [1, 3]
    assert out("$n = 3; 1..$n") == [1, 2, 3]
    assert out("$x = 1, 2; 0..($x.Count - 1)") == [0, 1]
    assert out("foreach ($i in $null) { 'never' }") == []


def test_script_blocks_invocation_arguments_scopes_and_dot_sourcing():
    assert out("$b = { param($a, $b = 2) $a + $b }; & $b 1; & $b -b 5 -a 1") == [3, 6]
    assert out("$b = { $args[0] }; & $b 'first'") == ["first"]
    # & runs in a child scope; . runs in the current one.
    assert out("$v = 1; & { $v = 2 }; $v; . { $v = 3 }; $v") == [1, 3]


def test_functions():
    script = "function Get-Double {\n  param($Value)\n  $Value * 2\n}\nGet-Double 4; Get-Double -Value 5"
    assert out(script) == [8, 10]
    assert out("function F { return 'early'; 'late' }\nF") == ["early"]


def test_function_parameters_types_switches_and_mandatory():
    script = """function Set-It {
  [CmdletBinding()]
  param([Parameter(Mandatory = $true)][string]$Name, [int]$Count = '3', [switch]$Force)
  "$Name/$($Count + 1)/$Force"
}
Set-It -Name 5; Set-It x -Count 1 -Force; Set-It -Name y -ErrorAction Stop"""
    assert out(script) == ["5/4/False", "x/2/True", "y/4/False"]
    session = run("function F {\n  param([Parameter(Mandatory)]$Name)\n  $Name\n}\nF; F -Nope 1")
    assert [e.message for e in session.streams.errors] == [
        "Cannot process command because of one or more missing mandatory parameters: Name.",
        "A parameter cannot be found that matches parameter name 'Nope'.",
    ]


def test_pipeline_script_blocks_run_in_the_callers_scope():
    assert out("$n = 0; 1..3 | ForEach-Object { $n += $_ }; $n; $list = @(); 'a', 'b' | Where-Object { $list += $_; $true } | Out-Null; $list.Count") == [6, 2]
    assert out("$_ = 'outer'; 1 | ForEach-Object { $_ }; $_") == [1, "outer"]


def test_return_at_script_level_ends_the_script():
    assert out("'a'; return; 'b'") == ["a"]


def test_output_unrolling_of_arrays_in_the_pipeline():
    assert out("@(1, 2) | ForEach-Object { $_ }") == [1, 2]
    assert out(",(1, 2) | ForEach-Object { $_.Count }") == [2]
    assert out("Write-Output (1, 2) -NoEnumerate | ForEach-Object { $_.Count }") == [2]
    # A function's array output is unrolled; collected again by assignment.
    assert value("function F { @(1, 2, 3) }\n$r = F") == [1, 2, 3]
    assert value("function F { ,@(1, 2, 3) }\n$r = F") == [1, 2, 3]
    assert value("function F { @(1) }\n$r = F") == 1


def test_splatting_hashtable_and_array():
    assert out("$p = @{InputObject = @{a = 1}; Compress = $true}; ConvertTo-Json @p") == ['{"a":1}']
    assert out("$a = 'x', 'y'; Write-Output @a") == ["x", "y"]


def test_where_object_select_object_foreach_object():
    script = """$items = @([pscustomobject]@{Name = 'a'; Port = 25}, [pscustomobject]@{Name = 'b'; Port = 587}, [pscustomobject]@{Name = 'c'; Port = 25})
$r1 = $items | Where-Object { $_.Port -eq 25 } | ForEach-Object { $_.Name }
$r2 = $items | Where-Object Port -EQ 587 | Select-Object -ExpandProperty Name
$r3 = $items | Select-Object -First 2 | ForEach-Object -MemberName Name
$r4 = $items | Select-Object -Property 'Name', @{n = 'P2'; e = { $_.Port * 2 }} -Last 1
$r5 = $items | Where-Object -Property Name -Like -Value 'b*' | Select-Object -ExpandProperty Port
$r6 = $items | ? { $_.Name -ne 'a' } | % Name
"""
    session = run(script)
    assert session.streams.errors == []
    assert session.get_variable("r1") == ["a", "c"]
    assert session.get_variable("r2") == "b"
    assert session.get_variable("r3") == ["a", "b"]
    selected = session.get_variable("r4")
    assert isinstance(selected, PSObject) and dict(selected.properties.items()) == {"Name": "c", "P2": 50}
    assert selected.type_names[0] == "Selected.System.Management.Automation.PSCustomObject"
    assert session.get_variable("r5") == 587
    assert session.get_variable("r6") == ["b", "c"]


def test_write_output_out_string_out_null():
    assert out("Write-Output 'a' 'b'; 'x' | Out-Null; 'q' | Out-String") == ["a", "b", "q\r\n"]
    assert out("@{a = 1} | Out-String") == ["\r\nName                           Value\r\n----                           -----\r\na                              1\r\n\r\n"]


def test_write_host_goes_to_the_host_not_the_pipeline():
    session = run("$r = Write-Host 'to host' 42")
    assert session.get_variable("r") is None
    assert session.streams.host == ["to host 42"]


def test_invoke_expression_and_comments():
    assert out("# a comment\nInvoke-Expression '1 + 1' <# inline #>; iex \"'x'\"") == [2, "x"]


def test_credentials_and_secure_strings():
    session = run("$p = ConvertTo-SecureString 'S3cret!' -AsPlainText -Force; $c = New-Object System.Management.Automation.PSCredential('CORP\\u', $p)"
                  "; $c2 = New-Object -TypeName PSCredential -ArgumentList 'u2', $p; $c3 = [pscredential]::new('u3', $p); \"$p\"")
    assert session.streams.output == ["System.Security.SecureString"]
    assert session.get_variable("c").user_name == "CORP\\u"
    assert session.get_variable("c").password == "S3cret!"
    assert session.get_variable("c2").user_name == "u2"
    assert session.get_variable("c3").password == "S3cret!"
    assert out("$c = [pscredential]::new('u', (ConvertTo-SecureString 'pw' -AsPlainText -Force)); $c.GetNetworkCredential().Password") == ["pw"]


def test_console_output_encoding_can_be_set():
    session = run("[Console]::OutputEncoding = [System.Text.Encoding]::UTF8; [Console]::OutputEncoding.WebName")
    assert session.streams.output == ["utf-8"]
    assert session.output_encoding.codec == "utf-8"


def test_error_action_preference_variable_and_exit_code_variables():
    assert out("$ErrorActionPreference; $ErrorActionPreference = 'Stop'; $ErrorActionPreference") == ["Continue", "Stop"]
    assert out("$PSVersionTable.PSVersion.Major") == [5]


def test_strict_mode_makes_undefined_variables_errors():
    session = run("Set-StrictMode -Version Latest; $missing; 'after'")
    assert session.streams.output == ["after"]
    assert session.streams.errors[0].message == "The variable '$missing' cannot be retrieved because it has not been set."


@pytest.mark.parametrize("script, construct", [
    ("class Foo { }", "class"),
    ("enum Color { Red }", "enum"),
    ("trap { 'x' }", "trap"),
    ("switch -File c:\\x.txt { default { 1 } }", "switch -file"),
    ("data { 'x' }", "data"),
    ("'{0:N2}' -f 1", "format specifier"),
    ("[System.IO.File]::ReadAllBytes('c:\\x')", "static method [System.IO.File]::ReadAllBytes"),
    ("Get-ChildItem", "command Get-ChildItem"),
    ("New-Object System.Net.WebClient", "New-Object System.Net.WebClient"),
    ("Get-Foo > c:\\out.txt", "redirection to a file"),
    ("[datetime]'2020-01-01'", "type [datetime]"),
])
def test_constructs_outside_the_subset_are_errors_naming_them(script, construct):
    session = new_session()
    with pytest.raises(UnsupportedConstruct) as raised:
        session.run("$ErrorActionPreference = 'Stop'\n" + script)
    assert raised.value.construct == construct
    assert construct in raised.value.message


def test_unsupported_construct_is_statement_terminating_without_stop():
    session = run("class Foo { }; 'next'")
    assert session.streams.output == ["next"]
    assert isinstance(session.streams.errors[0], UnsupportedConstruct)
    assert "'class'" in session.streams.errors[0].message


def test_syntax_errors_are_parse_exceptions_naming_the_position():
    session = new_session()
    with pytest.raises(ParseException) as raised:
        session.run("'ok'\nif ($x) { 'unterminated'")
    error = raised.value
    assert error.message == "Missing closing '}' in statement block or type definition."
    assert error.position.line == 2
    with pytest.raises(ParseException) as raised:
        session.run("Write-Output 1 )")
    assert raised.value.message == "Unexpected token ')' in expression or statement."
    assert raised.value.position.column == 16
    # Nothing ran: PowerShell parses the whole script first.
    assert session.streams.output == []


def test_objects_compare_to_strings_only_when_powershell_can_convert():
    from exchange_lab.powershell.testing import new_session

    session = new_session()
    session.set_variable("uri", PSObject("System.Uri", {"AbsoluteUri": "https://ex01/owa"}, string="https://ex01/owa"))
    session.set_variable("id", PSObject("Microsoft.Exchange.Data.Directory.ADObjectId", {"Name": "x"}, string="EX01\\x"))
    session.run("$uri -eq 'https://ex01/owa'; $id -eq 'EX01\\x'; $id.ToString() -eq 'EX01\\x'; \"$id\" -eq 'EX01\\x'")
    assert session.streams.output == [True, False, True, True]


def test_incomplete_lines_are_recognised_for_stdin_blocks():
    from exchange_lab.powershell.parser import is_incomplete

    for text in ("if ($true) {", "$h = @{", "Get-X |", "'abc", "Write-Output (", "1 +", "$s = @\"", "try {"):
        assert is_incomplete(text), text
    for text in ("Get-X )", "'a' 'b'", "Get-X -Name 'a' }"):
        assert not is_incomplete(text), text


def test_while_do_and_for_loops():
    assert out("$i = 0; while ($i -lt 3) { $i++; if ($i -eq 2) { continue }; $i }") == [1, 3]
    assert out("$i = 0; do { $i++ } while ($i -lt 3); $i; do { $i-- } until ($i -le 0); $i") == [3, 0]
    assert out("for ($i = 0; $i -lt 5; $i++) { if ($i -eq 3) { break }; $i }") == [0, 1, 2]


def test_switch():
    script = """foreach ($v in 'apple', 'Banana', 7, 'other') {
  switch -Wildcard ($v) {
    'a*' { 'starts with a' }
    'b*' { 'starts with b'; break }
    { $_ -is [int] } { 'a number' }
    default { 'default' }
  }
}
switch ('x', 'y') {
  'x' { 'got x' }
  'Y' { 'got y' }
}
switch -Regex ('ab12') { '(\\d+)' { $Matches[1] } }
switch -CaseSensitive ('A') {
  'a' { 'lower' }
  default { 'no match' }
}"""
    assert out(script) == ["starts with a", "starts with b", "a number", "default", "got x", "got y", "12", "no match"]


def test_type_operators():
    assert out("'x' -is [string]; 1 -is [int]; @(1) -is [array]; @{} -is [hashtable]; $null -is [object]; "
               "[pscustomobject]@{a = 1} -is [pscustomobject]; 'x' -isnot [int]; '5' -as [int]; 'x' -as [int]") == [
        True, True, True, True, False, True, True, 5, None]


def test_psobject_properties_and_pscustomobject_cast():
    script = """$o = '{"b": 2, "a": 1}' | ConvertFrom-Json
$o.PSObject.Properties.Name
foreach ($p in $o.PSObject.Properties) { "$($p.Name)=$($p.Value)" }
$c = [pscustomobject](@{k = 'v'})
$c.k; $c -is [pscustomobject]"""
    assert out(script) == ["b", "a", "b=2", "a=1", "v", True]


def test_increments_and_discarding():
    assert out("$i = 1; $i++; ++$i; $i; $j = $i++; $j; $i; $k = --$i; $k") == [3, 3, 4, 3]
    assert out("$null = Write-Output 'discarded'; [void](Write-Output 'also'); 'kept'") == ["kept"]


def test_sort_measure_and_add_member():
    script = """$items = @([pscustomobject]@{N = 'b'; V = 2}, [pscustomobject]@{N = 'A'; V = 10}, [pscustomobject]@{N = 'c'; V = 1})
($items | Sort-Object -Property N | ForEach-Object { $_.N }) -join ','
($items | Sort-Object V -Descending | ForEach-Object { $_.V }) -join ','
(3, 1, 2, 1 | Sort-Object -Unique) -join ','
($items | Measure-Object).Count
($items | Measure-Object -Property V -Sum -Maximum).Sum
(@() | Measure-Object).Count
$o = [pscustomobject]@{a = 1}
$o | Add-Member -NotePropertyName b -NotePropertyValue 2
Add-Member -InputObject $o -MemberType NoteProperty -Name c -Value 3
($o | Add-Member -NotePropertyName a -NotePropertyValue 9 -Force -PassThru).a
$o | ConvertTo-Json -Compress"""
    assert out(script) == ["A,b,c", "10,2,1", "1,2,3", 3, 13.0, 0, 9, '{"a":9,"b":2,"c":3}']
    session = run("$o = [pscustomobject]@{a = 1}; $o | Add-Member -NotePropertyName a -NotePropertyValue 2")
    assert session.streams.errors[0].message.startswith('Cannot add a member with the name "a" because a member with that name already exists.')


def test_bare_words_expand_variables_and_backticks():
    assert out("$n = 'EX01'; Write-Output srv-$n a`$n") == ["srv-EX01", "a$n"]
    assert value("$r = 1..1") == [1]


def test_array_lists_and_the_error_list():
    script = """$list = New-Object System.Collections.ArrayList
$list.Add('a')
[void]$list.Add('b')
$null = $list.Add('c')
$list.Remove('b'); $list.Count; $list -join ','
$l2 = [System.Collections.ArrayList]@(1); $l2.Add(2) | Out-Null; $l2.Count
Write-Error 'x' -ErrorAction SilentlyContinue; $Error.Count; $Error.Clear(); $Error.Count"""
    assert out(script) == [0, 2, "a,c", 2, 1, 0]
