"""PowerShell scopes, and errors of Exchange cmdlets reached through implicit remoting (issue 11).

Import-PSSession and Connect-ExchangeServer give the client proxy functions of a generated module: a module sees only
the GLOBAL preference variables, -ErrorAction is applied on the server, and whatever error comes back arrives as a
non-terminating error (MicrosoftDocs/PowerShell-Docs#1583, PowerShell/PowerShell#4568, PowerShell/vscode-powershell#991).
The snap-in gives ordinary cmdlets with ordinary semantics.
"""

from __future__ import annotations

import base64
import time

import pytest
import winrm

from exchange_lab.errors import PSError
from exchange_lab.powershell.host import start_process
from exchange_lab.powershell.testing import fake_lab, new_session, run

PASSWORD = "Lab-S3cret-x"
CREDENTIAL = ("$cred = New-Object System.Management.Automation.PSCredential('CORP\\administrator', "
              f"(ConvertTo-SecureString '{PASSWORD}' -AsPlainText -Force))\n")
LOADERS = {
    "remote_session": CREDENTIAL + "$s = New-PSSession -ConfigurationName Microsoft.Exchange -ConnectionUri "
                      "http://ex01.corp.contoso.com/PowerShell/ -Authentication Kerberos -Credential $cred\n"
                      "Import-PSSession $s -DisableNameChecking | Out-Null",
    "remote_exchange_script": CREDENTIAL + '. "$env:ExchangeInstallPath\\bin\\RemoteExchange.ps1"\n'
                              "Connect-ExchangeServer -ServerFqdn ex01.corp.contoso.com -Credential $cred",
    "snapin": "Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn",
}
REMOTE_MODES = ["remote_session", "remote_exchange_script"]
FAILING = "Set-FakeConnector -Identity nope -Port 1"  # a genuine failure: no such connector
NOT_FOUND = "The operation couldn't be performed because object 'nope' couldn't be found on 'EX01.corp.contoso.com'."


@pytest.fixture
def lab(tmp_path):
    return fake_lab(tmp_path, password=PASSWORD)


def shell(lab, mode: str):
    """A runspace with the Exchange shell loaded the given way, its streams emptied."""
    session = new_session(lab)
    session.run("$ProgressPreference = 'SilentlyContinue'")
    session.run(LOADERS[mode])
    assert session.exchange_mode == mode
    assert session.streams.errors == []
    session.streams.output.clear()
    session.streams.host.clear()
    return session


# --- preferences of a child scope vs. the proxies' global view ------------------------------------------------

@pytest.mark.parametrize("mode", REMOTE_MODES)
def test_child_scope_stop_preference_does_not_stop_a_failing_remote_cmdlet(lab, mode):
    session = shell(lab, mode)
    # The envelope style the collection used: a script block with its own $ErrorActionPreference, an OK marker after.
    session.run("& { $ErrorActionPreference = 'Stop'\n" + FAILING + "\n'OK-MARKER' }")
    assert session.streams.output == ["OK-MARKER"]
    assert [e.message for e in session.streams.errors] == [NOT_FOUND]
    assert session.streams.errors[0].exception_type == "System.Management.Automation.RemoteException"


def test_child_scope_stop_preference_stops_a_snapin_cmdlet(lab):
    session = shell(lab, "snapin")
    with pytest.raises(PSError) as raised:
        session.run("& { $ErrorActionPreference = 'Stop'\n" + FAILING + "\n'OK-MARKER' }")
    assert raised.value.message == NOT_FOUND
    assert session.streams.output == []


@pytest.mark.parametrize("mode", REMOTE_MODES)
def test_try_around_a_failing_remote_cmdlet_catches_nothing_under_a_local_stop(lab, mode):
    session = shell(lab, mode)
    session.run("& { $ErrorActionPreference = 'Stop'; try { " + FAILING + "; 'after' } catch { 'caught' } }")
    assert session.streams.output == ["after"]
    assert len(session.streams.errors) == 1


@pytest.mark.parametrize("mode", REMOTE_MODES)
def test_error_action_stop_on_a_remote_call_is_not_catchable(lab, mode):
    session = shell(lab, mode)
    session.run("try { " + FAILING + " -ErrorAction Stop; 'after' } catch { 'caught' }\n$?")
    assert session.streams.output == ["after", True]
    assert [e.message for e in session.streams.errors] == [NOT_FOUND]
    assert len(session.get_variable("Error")) == 1


def test_error_action_stop_on_a_snapin_call_is_catchable(lab):
    session = shell(lab, "snapin")
    session.run("try { " + FAILING + " -ErrorAction Stop; 'after' } catch { 'caught: ' + $_.Exception.Message }")
    assert session.streams.output == ["caught: " + NOT_FOUND]
    assert session.streams.errors == []


@pytest.mark.parametrize("mode", REMOTE_MODES)
def test_global_stop_makes_a_remote_error_terminating_with_the_remote_record(lab, mode):
    session = shell(lab, mode)
    session.run("$global:ErrorActionPreference = 'Stop'\n"
                "& { try { " + FAILING + "; 'after' } catch {\n"
                "$_.Exception.GetType().FullName; $_.Exception.Message; $_.InvocationInfo.MyCommand.Name; $_.CategoryInfo.Reason } }")
    assert session.streams.output == [
        "System.Management.Automation.RemoteException", NOT_FOUND, "Set-FakeConnector", "ManagementObjectNotFoundException"]
    assert session.streams.errors == []


def test_a_top_level_assignment_in_a_command_script_is_the_global_preference(lab):
    # powershell.exe -Command / -EncodedCommand runs its text in the global scope: a plain assignment there is the global one.
    session = shell(lab, "remote_session")
    session.run("$ErrorActionPreference = 'Stop'\ntry { " + FAILING + "; 'after' } catch { 'caught' }")
    assert session.streams.output == ["caught"]


def test_an_uncaught_remote_error_under_global_stop_ends_the_script(lab):
    session = shell(lab, "remote_session")
    with pytest.raises(PSError) as raised:
        session.run("$global:ErrorActionPreference = 'Stop'\n" + FAILING + "\n'not reached'")
    assert raised.value.message == NOT_FOUND
    assert session.streams.output == []


@pytest.mark.parametrize("mode", REMOTE_MODES)
def test_a_terminating_error_on_the_server_arrives_non_terminating(lab, mode):
    session = shell(lab, mode)
    session.run("try { Set-FakeConnector -Identity 'Default EX01' -Bogus 1; 'after' } catch { 'caught' }")
    assert session.streams.output == ["after"]
    assert [e.message for e in session.streams.errors] == ["A parameter cannot be found that matches parameter name 'Bogus'."]
    assert session.streams.errors[0].exception_type == "System.Management.Automation.RemoteException"
    assert session.streams.errors[0].reason == "ParameterBindingException"


def test_a_terminating_error_of_a_snapin_cmdlet_is_caught(lab):
    session = shell(lab, "snapin")
    session.run("try { Set-FakeConnector -Identity 'Default EX01' -Bogus 1; 'after' } catch { 'caught' }")
    assert session.streams.output == ["caught"]


@pytest.mark.parametrize("mode", REMOTE_MODES)
def test_remote_silently_continue_leaves_nothing_locally(lab, mode):
    session = shell(lab, mode)
    session.run("$Error.Clear(); " + FAILING + " -ErrorAction SilentlyContinue -ErrorVariable ev\n$?; $Error.Count; $ev.Count")
    assert session.streams.output == [True, 0, 0]
    assert session.streams.errors == []


# --- the error records: $Error, -ErrorVariable, $? -------------------------------------------------------------

@pytest.mark.parametrize("mode", REMOTE_MODES + ["snapin"])
def test_error_and_error_variable_get_the_record_and_execution_goes_on(lab, mode):
    session = shell(lab, mode)
    session.run("$Error.Clear()\n" + FAILING + " -ErrorVariable ev\n$?\n'next'\n$Error.Count; $ev.Count\n"
                "$ev[0].Exception.Message\n$Error[0].Exception.Message\n$ev[0].FullyQualifiedErrorId")
    assert session.streams.output == [False, "next", 1, 1, NOT_FOUND, NOT_FOUND,
                                      "5F0B6F5,Microsoft.Exchange.Management.SystemConfigurationTasks.SetReceiveConnector"]


def test_error_variable_plus_appends_and_plain_name_starts_over(lab):
    session = shell(lab, "remote_session")
    session.run(FAILING + " -ev errs\nSet-FakeConnector -Identity other -Port 1 -ErrorVariable +errs\n$errs.Count\n"
                "Set-FakeConnector -Identity 'Default EX01' -Port 2 -ErrorVariable errs\n$errs.Count; [bool]$errs")
    assert session.streams.output == [2, 0, False]


def test_error_variable_also_gets_an_error_made_terminating_by_stop(lab):
    session = shell(lab, "remote_session")
    session.run("$global:ErrorActionPreference = 'Stop'\n"
                "try { " + FAILING + " -ErrorVariable ev } catch { 'caught' }\n$ev.Count; $Error.Count")
    assert session.streams.output == ["caught", 1, 1]


def test_error_variable_works_for_ordinary_cmdlets_too():
    session = run("Write-Error 'soft' -ErrorVariable ev -ErrorAction SilentlyContinue; $ev.Count; $ev[0].Exception.Message\n"
                  "Write-Error 'gone' -ErrorVariable ev2 -ErrorAction Ignore; $ev2.Count")
    assert session.streams.output == [1, "soft", 0]


def test_error_clear_empties_error(lab):
    session = shell(lab, "remote_session")
    session.run(FAILING + "\n" + FAILING + "\n$Error.Count\n$Error.Clear()\n$Error.Count")
    assert session.streams.output == [2, 0]


@pytest.mark.parametrize("mode", REMOTE_MODES)
def test_remote_warnings_follow_the_global_warning_preference_only(lab, mode):
    session = shell(lab, mode)
    # No -Port: the cmdlet warns that nothing changed.
    session.run("& { $WarningPreference = 'SilentlyContinue'; Set-FakeConnector -Identity 'Default EX01' }")
    assert len(session.streams.warnings) == 1
    session.run("$global:WarningPreference = 'SilentlyContinue'; Set-FakeConnector -Identity 'Default EX01'")
    assert len(session.streams.warnings) == 1
    session.run("$global:WarningPreference = 'Continue'; Set-FakeConnector -Identity 'Default EX01' -WarningAction SilentlyContinue")
    assert len(session.streams.warnings) == 1


def test_snapin_warnings_follow_the_callers_preference(lab):
    session = shell(lab, "snapin")
    session.run("& { $WarningPreference = 'SilentlyContinue'; Set-FakeConnector -Identity 'Default EX01' }")
    assert session.streams.warnings == []


def test_through_the_process_a_remote_error_goes_to_stderr_and_the_script_goes_on(lab):
    script = ("$ProgressPreference = 'SilentlyContinue'\n" + LOADERS["remote_session"] + "\n"
              "& { $ErrorActionPreference = 'Stop'\n" + FAILING + " -ErrorAction Stop\n'OK-MARKER' }")
    line = "powershell -encodedcommand " + base64.b64encode(script.encode("utf-16-le")).decode("ascii")
    process = start_process(lab, "EX01", "CORP\\administrator", line)
    stdout, stderr, code = b"", b"", None
    deadline = time.monotonic() + 10
    while code is None and time.monotonic() < deadline:
        out, err, code = process.receive(0.5)
        stdout, stderr = stdout + out, stderr + err
    assert (stdout, code) == (b"OK-MARKER\r\n", 0)
    cleaned = winrm.Session("http://127.0.0.1:5985/wsman", auth=("u", "p"))._clean_error_msg(stderr).decode("utf-8")
    assert cleaned.split("\n")[0] == NOT_FOUND
    assert "+ PSComputerName        : ex01.corp.contoso.com" in cleaned


# --- scopes ------------------------------------------------------------------------------------------------------

def test_global_modifier_reads_and_writes_the_global_scope():
    session = run("$x = 'top'\n& { $x = 'child'; $global:x; $global:x = 'changed'; $x }\n$x")
    assert session.streams.output == ["top", "child", "changed"]


def test_script_modifier_is_the_global_scope_when_no_script_file_runs():
    # about_Scopes: script: is "the nearest ancestor script file's scope or Global if there is no nearest ancestor
    # script file"; & { } and [scriptblock]::Create make new scopes, not script scopes.
    session = run("& { $script:y = 1 }\n$y\n$sb = [scriptblock]::Create('$script:z = 2; $w = 3')\n& $sb\n$z\n$null -eq $w\n"
                  "& { & { $script:y = 5 } }; $global:y")
    assert session.streams.output == [1, 2, True, 5]


def test_plain_assignment_in_a_child_scope_hides_the_parents_variable_without_changing_it():
    session = run("$a = 1\n& { $a; $a = 2; $a; $local:a }\n$a")
    assert session.streams.output == [1, 2, 2, 1]


def test_reads_are_dynamic_through_callers_scopes():
    session = run("function Show { $v }\n& { $v = 'from the caller'; Show }\n$null -eq $v")
    assert session.streams.output == ["from the caller", True]


def test_local_modifier_reads_only_the_current_scope():
    session = run("$b = 1\n& { $null -eq $local:b; $b; $local:b = 7; $b }\n$b")
    assert session.streams.output == [True, 1, 7, 1]


def test_private_variables_are_invisible_to_child_scopes():
    session = run("$private:p = 'secret'\n& { $null -eq $p }\n$p\n& { $p = 'own'; $p }")
    assert session.streams.output == [True, "secret", "own"]


def test_preference_variables_are_scoped_like_any_variable():
    session = run("& { $ErrorActionPreference = 'Stop'; try { Write-Error 'x'; 'no' } catch { 'caught' } }\n"
                  "Write-Error 'y'\n'continued'\n$ErrorActionPreference")
    assert session.streams.output == ["caught", "continued", "Continue"]
    assert [e.message for e in session.streams.errors] == ["y"]


def test_scope_modifiers_in_strings_and_bare_words():
    session = run("$global:g = 'G'\n& { $g = 'L'; \"$global:g/$g\"; Write-Output pre$global:g }")
    assert session.streams.output == ["G/L", "preG"]


# --- with the real organisation model ----------------------------------------------------------------------------

@pytest.fixture
def org_lab(tmp_path):
    from exchange_lab.context import LabContext

    return LabContext.open(tmp_path / "org", version="2019", servers=["EX01"],
                           faults={"cmdlet_failures": [{"cmdlet": "Set-ReceiveConnector", "message": "An Active Directory error occurred."}]})


def org_shell(lab):
    password = lab.users.default.password.replace("'", "''").replace("\u2019", "\u2019\u2019")
    session = new_session(lab)
    session.run("$ProgressPreference = 'SilentlyContinue'")
    session.run(f"$cred = New-Object System.Management.Automation.PSCredential('CORP\\administrator', (ConvertTo-SecureString '{password}' -AsPlainText -Force))")
    session.run("$s = New-PSSession -ConfigurationName Microsoft.Exchange -ConnectionUri http://ex01.corp.contoso.com/PowerShell/ "
                "-Authentication Kerberos -Credential $cred\nImport-PSSession $s -DisableNameChecking | Out-Null")
    assert session.exchange_mode == "remote_session" and session.streams.errors == []
    return session


def test_an_injected_exchange_failure_is_non_terminating_under_a_local_stop(org_lab):
    session = org_shell(org_lab)
    session.run("& { $ErrorActionPreference = 'Stop'\n"
                "Set-ReceiveConnector -Identity 'EX01\\Default EX01' -MaxMessageSize 40MB -ErrorVariable ev\n'OK-MARKER'\n$ev.Count }")
    assert session.streams.output == ["OK-MARKER", 1]
    assert [e.message for e in session.streams.errors] == ["An Active Directory error occurred."]


def test_remote_error_action_stop_ends_the_remote_pipeline_at_its_first_error(org_lab):
    session = org_shell(org_lab)
    session.run("$n = @(Get-ReceiveConnector -Server EX01).Count\n$n")
    assert session.streams.output[-1] == 5
    session.run("Get-ReceiveConnector -Server EX01 | Set-ReceiveConnector -MaxMessageSize 40MB -ErrorVariable all\n$all.Count\n"
                "Get-ReceiveConnector -Server EX01 | Set-ReceiveConnector -MaxMessageSize 40MB -ErrorAction Stop -ErrorVariable first\n"
                "'after'; $first.Count")
    assert session.streams.output[-3:] == [5, "after", 1]


def test_a_confirmation_prompt_on_the_server_arrives_as_a_non_terminating_error(org_lab):
    session = org_shell(org_lab)
    session.run("try { Remove-ReceiveConnector -Identity 'EX01\\Client Frontend EX01'; 'after' } catch { 'caught' }")
    assert session.streams.output == ["after"]
    assert session.streams.errors[0].message.startswith("A command that prompts the user failed")
    assert session.streams.errors[0].reason == "HostException"


def test_remote_warning_action_stop_arrives_as_a_non_terminating_error(lab):
    session = shell(lab, "remote_session")
    session.run("try { Set-FakeConnector -Identity 'Default EX01' -WarningAction Stop -ErrorAction SilentlyContinue; 'after' } catch { 'caught' }")
    assert session.streams.output == ["after"]
    assert session.streams.warnings == []
    assert session.streams.errors[0].message.startswith("The running command stopped because the preference variable \"WarningPreference\"")
