"""Errors as PowerShell raises, reports and catches them."""

from __future__ import annotations

import pytest

from exchange_lab.errors import PSError
from exchange_lab.powershell.interpreter import ExitScript
from exchange_lab.powershell.testing import fake_lab, new_session, run

NOT_RECOGNIZED = ("The term '{0}' is not recognized as the name of a cmdlet, function, script file, or operable program. "
                  "Check the spelling of the name, or if a path was included, verify that the path is correct and try again.")


def test_command_not_found_is_statement_terminating():
    session = run("Get-Nothing -Identity x; 'next'")
    assert session.streams.output == ["next"]
    error = session.streams.errors[0]
    assert error.message == NOT_RECOGNIZED.format("Get-Nothing")
    assert error.error_id == "CommandNotFoundException"
    assert error.exception_type == "System.Management.Automation.CommandNotFoundException"
    assert error.display().startswith("Get-Nothing : The term 'Get-Nothing' is not recognized")
    assert session.last_success is True  # the last statement ('next') succeeded


def test_exchange_cmdlets_do_not_exist_before_the_shell_is_loaded(tmp_path):
    session = run("Get-ReceiveConnector", lab=fake_lab(tmp_path))
    assert session.streams.errors[0].message == NOT_RECOGNIZED.format("Get-ReceiveConnector")
    assert session.last_success is False


def test_throw_is_script_terminating():
    session = new_session()
    with pytest.raises(PSError) as raised:
        session.run("'before'; throw 'boom'; 'after'")
    assert raised.value.message == "boom"
    assert raised.value.error_id == "boom"
    assert session.streams.output == ["before"]


def test_try_catch_exposes_the_error_record():
    script = """try { Get-Nothing } catch {
  $_.Exception.Message
  $_.FullyQualifiedErrorId
  $_.CategoryInfo.Category.ToString()
  $_.TargetObject
  $_.ToString()
  "$_"
  $_.Exception.GetType().FullName
}"""
    message = NOT_RECOGNIZED.format("Get-Nothing")
    assert run(script).streams.output == [message, "CommandNotFoundException", "ObjectNotFound", "Get-Nothing", message, message,
                                          "System.Management.Automation.CommandNotFoundException"]


def test_catch_of_a_cmdlet_error_names_the_command(tmp_path):
    script = """try { ConvertTo-SecureString 'x' -AsPlainText } catch { $_.InvocationInfo.MyCommand.Name; $_.Exception.Message }"""
    output = run(script).streams.output
    assert output[0] == "ConvertTo-SecureString"
    assert output[1].startswith("The system cannot protect plain text input.")


def test_typed_catch_clauses_and_finally():
    script = """try { throw 'x' } catch [System.Management.Automation.CommandNotFoundException] { 'wrong' } catch { 'generic' } finally { 'finally' }
try { Get-Nothing } catch [System.Management.Automation.CommandNotFoundException] { 'typed' }
try { 'body' } finally { 'always' }"""
    assert run(script).streams.output == ["generic", "finally", "typed", "body", "always"]


def test_rethrow_in_catch_keeps_the_error():
    session = new_session()
    with pytest.raises(PSError) as raised:
        session.run("try { throw 'inner' } catch { throw }")
    assert raised.value.message == "inner"
    with pytest.raises(PSError) as raised:
        session.run("try { throw 'inner2' } catch { throw $_ }")
    assert raised.value.message == "inner2"


def test_non_terminating_errors_continue_by_default_and_are_not_caught(tmp_path):
    session = run("try { Write-Error 'soft'; 'after error' } catch { 'caught' }")
    assert session.streams.output == ["after error"]
    assert session.streams.errors[0].message == "soft"
    assert session.streams.errors[0].error_id == "Microsoft.PowerShell.Commands.WriteErrorException"


def test_error_action_stop_makes_non_terminating_errors_terminating():
    assert run("try { Write-Error 'soft' -ErrorAction Stop; 'not here' } catch { 'caught: ' + $_.Exception.Message }").streams.output == ["caught: soft"]
    assert run("$ErrorActionPreference = 'Stop'; try { Write-Error 'soft'; 'not here' } catch { 'caught' }").streams.output == ["caught"]
    session = new_session()
    with pytest.raises(PSError) as raised:
        session.run("$ErrorActionPreference = 'Stop'; Write-Error 'fatal'; 'not reached'")
    assert raised.value.message == "fatal"
    assert session.streams.output == []


def test_error_action_preference_stop_also_stops_on_statement_terminating_errors():
    session = new_session()
    with pytest.raises(PSError):
        session.run("$ErrorActionPreference = 'Stop'; Get-Nothing; 'not reached'")
    assert session.streams.output == []


def test_error_action_silently_continue_and_ignore():
    session = run("Write-Error 'quiet' -ErrorAction SilentlyContinue; $Error.Count; Write-Error 'gone' -EA Ignore; $Error.Count; $?")
    assert session.streams.errors == []
    assert session.streams.output == [1, 1, True]
    session = run("$ErrorActionPreference = 'SilentlyContinue'; Write-Error 'x'; 'next'")
    assert session.streams.errors == [] and session.streams.output == ["next"]


def test_error_action_value_is_validated():
    session = run("Write-Error 'x' -ErrorAction Sometimes")
    assert "Cannot convert value \"Sometimes\" to type \"System.Management.Automation.ActionPreference\"" in session.streams.errors[0].message


def test_dollar_question_reflects_the_last_statement():
    assert run("Write-Error 'x'; $?").streams.output == [False]
    assert run("'ok' | Out-Null; $?").streams.output == [True]


def test_redirecting_the_error_stream():
    session = run("Write-Error 'to null' 2>$null; 'next'")
    assert session.streams.errors == [] and session.streams.output == ["next"]
    session = run("$r = Write-Error 'merged' 2>&1; $r.Exception.Message")
    assert session.streams.errors == [] and session.streams.output == ["merged"]


def test_write_warning():
    session = run("Write-Warning 'careful'; Write-Warning 'hidden' -WarningAction SilentlyContinue")
    assert session.streams.warnings == ["careful"]


def test_parameter_binding_errors_are_powershells():
    session = run("ConvertTo-Json -Bogus 1; Select-Object -Fir 1 -Fi 2")
    assert session.streams.errors[0].message == "A parameter cannot be found that matches parameter name 'Bogus'."
    assert session.streams.errors[0].display().startswith("ConvertTo-Json : ")
    assert session.streams.errors[1].message.startswith("Cannot bind parameter because parameter 'First' is specified more than once.")


def test_convert_to_secure_string_needs_force_for_plain_text():
    session = run("ConvertTo-SecureString 'pw' -AsPlainText")
    assert session.streams.errors[0].message.startswith(
        "The system cannot protect plain text input. To suppress this warning and convert the plain text to a SecureString, "
        "reissue the command specifying the Force parameter.")


def test_method_errors():
    session = run("$null.Trim(); 'abc'.NoSuchMethod(); (1, 2).Add(3); [Convert]::FromBase64String('***')")
    messages = [e.message for e in session.streams.errors]
    assert messages == [
        "You cannot call a method on a null-valued expression.",
        "Method invocation failed because [System.String] does not contain a method named 'NoSuchMethod'.",
        'Exception calling "Add" with "1" argument(s): "Collection was of a fixed size."',
        'Exception calling "FromBase64String" with "1" argument(s): "The input is not a valid Base-64 string as it contains a '
        'non-base 64 character, more than two padding characters, or an illegal character among the padding characters. "',
    ]


def test_new_object_of_other_types_is_a_clear_error():
    session = run("New-Object System.Collections.Generic.HashSet")
    assert "'New-Object System.Collections.Generic.HashSet'" in session.streams.errors[0].message


def test_exit_sets_the_code():
    session = new_session()
    with pytest.raises(ExitScript) as raised:
        session.run("'x'; exit 7; 'y'")
    assert raised.value.code == 7
    assert session.streams.output == ["x"]


def test_error_positions_point_at_the_failing_command():
    session = run("'a'\n  Get-Nothing -X 1")
    position = session.streams.errors[0].position
    assert (position.line, position.column) == (2, 3)
    assert position.display_lines() == ["At line:2 char:3", "+   Get-Nothing -X 1", "+   ~~~~~~~~~~~~~~~~"]


@pytest.mark.parametrize("script, message", [
    ("$h = @{ a = 1", "Missing closing '}' in statement block or type definition."),
    ("Write-Output (1", "Missing closing ')' in expression."),
    ("Get-Thing |", "An empty pipe element is not allowed."),
    ("$x = 1 +", "You must provide a value expression following the '+' operator."),
    ("'open", "The string is missing the terminator: '."),
    ("$s = @'\nabc", "The string is missing the terminator: '@."),
    ("Write-Output 'a' 'b' )", "Unexpected token ')' in expression or statement."),
])
def test_syntax_error_messages(script, message):
    from exchange_lab.powershell.parser import ParseException

    with pytest.raises(ParseException) as raised:
        new_session().run(script)
    assert raised.value.message == message
