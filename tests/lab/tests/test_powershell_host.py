"""The powershell.exe process the WinRM endpoint starts: command lines, stdin scripts, stdout, CLIXML stderr, exit codes."""

from __future__ import annotations

import base64
import json
import time

import pytest
import winrm

from exchange_lab.powershell.host import MAX_COMMAND_LINE, split_command_line, start_process
from exchange_lab.powershell.testing import fake_lab

USER = "CORP\\administrator"
PASSWORD = "Lab-S3cret-\u00e9x"  # no quote characters: the observer masks the verbatim text only


@pytest.fixture
def lab(tmp_path):
    return fake_lab(tmp_path, password=PASSWORD)


def encoded(script: str) -> str:
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


def run_ps_line(script: str) -> str:
    """What pywinrm's Session.run_ps sends."""
    return "powershell -encodedcommand " + encoded(script)


def drain(process, timeout: float = 10.0) -> tuple[bytes, bytes, int]:
    stdout, stderr = b"", b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out, err, code = process.receive(0.5)
        stdout += out
        stderr += err
        if code is not None:
            return stdout, stderr, code
    raise AssertionError("the process did not finish")


def clean(stderr: bytes) -> str:
    """pywinrm's own CLIXML cleaning, as run_ps applies it."""
    session = winrm.Session("http://127.0.0.1:5985/wsman", auth=("u", "p"))
    return session._clean_error_msg(stderr).decode("utf-8")


def transcript(lab) -> list[dict]:
    path = lab.state_dir / "transcript.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_encoded_command_output_and_exit_code(lab):
    process = start_process(lab, "EX01", USER, run_ps_line("'one'; 2; $true; @{a = 1} | ConvertTo-Json -Compress"))
    stdout, stderr, code = drain(process)
    assert (stdout, stderr, code) == (b'one\r\n2\r\nTrue\r\n{"a":1}\r\n', b"", 0)
    counters = lab.observer.counters()["EX01"]
    assert counters["ps_processes"] == 1 and counters["scripts"] == 1


def test_switches_are_case_insensitive_and_abbreviable(lab):
    for line in (f"PowerShell.exe -NoProfile -NonInteractive -NoLogo -ExecutionPolicy Bypass -OutputFormat Text -EncodedCommand {encoded('1')}",
                 f"powershell -nop -noni -ep bypass -enc {encoded('1')}",
                 f"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe -e {encoded('1')}"):
        assert drain(start_process(lab, "EX01", USER, line)) == (b"1\r\n", b"", 0)


def test_uncaught_error_writes_clixml_and_exits_1(lab):
    process = start_process(lab, "EX01", USER, run_ps_line("'before'\nthrow 'Bad <thing> & _x0041_ here'"))
    stdout, stderr, code = drain(process)
    assert code == 1
    assert stdout == b"before\r\n"
    assert stderr.startswith(b'#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><S S="Error">')
    assert stderr.endswith(b"</Objs>")
    text = stderr.decode("ascii")
    assert '<S S="Error">Bad &lt;thing&gt; &amp; _x005F_x0041_ here_x000D__x000A_</S>' in text
    assert clean(stderr) == (
        "Bad <thing> & _x005F_x0041_ here\n"
        "At line:2 char:1\n"
        "+ throw 'Bad <thing> & _x005F_x0041_ here'\n"
        "+ ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\n"
        "    + CategoryInfo          : OperationStopped: (Bad <thing> & _x005F_x0041_ here:String) [], RuntimeException\n"
        "    + FullyQualifiedErrorId : Bad <thing> & _x005F_x0041_ here"
    )


def test_cmdlet_error_reads_back_through_pywinrm(lab):
    stdout, stderr, code = drain(start_process(lab, "EX01", USER, run_ps_line("Get-ReceiveConnector -Identity 'x'")))
    assert code == 1
    lines = clean(stderr).split("\n")
    assert lines[0] == ("Get-ReceiveConnector : The term 'Get-ReceiveConnector' is not recognized as the name of a cmdlet, function, "
                        "script file, or operable program. Check the spelling of the name, or if a path was included, verify that the "
                        "path is correct and try again.")
    assert lines[-2:] == ["    + CategoryInfo          : ObjectNotFound: (Get-ReceiveConnector:String) [], CommandNotFoundException",
                          "    + FullyQualifiedErrorId : CommandNotFoundException"]


def test_exit_code_follows_the_last_statement_and_exit(lab):
    assert drain(start_process(lab, "EX01", USER, run_ps_line("Get-Nothing; 'recovered'")))[2] == 0
    assert drain(start_process(lab, "EX01", USER, run_ps_line("'x'; Write-Error 'last one failed'")))[2] == 1
    stdout, _, code = drain(start_process(lab, "EX01", USER, run_ps_line("'a'; exit 42; 'b'")))
    assert (stdout, code) == (b"a\r\n", 42)


def test_syntax_error_runs_nothing(lab):
    stdout, stderr, code = drain(start_process(lab, "EX01", USER, run_ps_line("'a'\nif ($true) { 'b'")))
    assert (stdout, code) == (b"", 1)
    assert clean(stderr).split("\n")[:4] == ["At line:2 char:12", "+ if ($true) { 'b'", "+            ~",
                                             "Missing closing '}' in statement block or type definition."]


def test_warnings_go_to_stderr_as_clixml(lab):
    stdout, stderr, code = drain(start_process(lab, "EX01", USER, run_ps_line("Write-Warning 'watch out'; 'done'")))
    assert (stdout, code) == (b"done\r\n", 0)
    assert b'<S S="warning">watch out_x000D__x000A_</S>' in stderr


def test_command_line_limit_of_cmd_exe(lab):
    line = run_ps_line("'" + "x" * 4500 + "'")
    assert len(line) > MAX_COMMAND_LINE
    assert drain(start_process(lab, "EX01", USER, line)) == (b"", b"The command line is too long.\r\n", 1)
    assert lab.observer.counters().get("EX01", {}).get("ps_processes", 0) == 0
    fits = "powershell -encodedcommand " + encoded("'" + "y" * 3000 + "'")
    assert len(fits) <= MAX_COMMAND_LINE
    assert drain(start_process(lab, "EX01", USER, fits))[2] == 0


def test_other_commands_are_not_recognized_by_cmd_exe(lab):
    assert drain(start_process(lab, "EX01", USER, "pwsh -c 1")) == (
        b"", b"'pwsh' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", 1)


def test_bad_encoded_command(lab):
    stdout, stderr, code = drain(start_process(lab, "EX01", USER, "powershell -EncodedCommand @@@"))
    assert code != 0 and b"is not properly encoded" in stderr


def test_stdin_runs_several_scripts_in_one_process(lab):
    process = start_process(lab, "EX01", USER, "powershell -NoProfile -NonInteractive -Command -")
    process.send_stdin(b"$x = 'kept'\r\n", False)
    process.send_stdin(b"'first ' + $x\r\n", False)
    out, code = b"", None
    deadline = time.monotonic() + 5
    while b"first kept" not in out and time.monotonic() < deadline:
        o, e, code = process.receive(0.5)
        out += o
    assert out == b"first kept\r\n" and code is None  # still running, waiting for more stdin
    # A multi-line block runs once an empty line ends it.
    process.send_stdin(b"if ($true) {\r\n  'block'\r\n}\r\n", False)
    o, e, code = process.receive(0.3)
    assert o == b"" and code is None
    process.send_stdin(b"\r\n'last'\r\n", True)
    stdout, stderr, code = drain(process)
    assert (stdout, stderr, code) == (b"block\r\nlast\r\n", b"", 0)
    assert lab.observer.counters()["EX01"]["ps_processes"] == 1
    assert [entry["script"] for entry in transcript(lab)] == ["$x = 'kept'", "'first ' + $x", "if ($true) {\n  'block'\n}", "'last'"]


def test_stdin_exit_code_is_the_last_statements_success(lab):
    process = start_process(lab, "EX01", USER, "powershell -Command -")
    process.send_stdin(b"'ok'\nGet-Nothing\n", True)
    stdout, stderr, code = drain(process)
    assert (stdout, code) == (b"ok\r\n", 1)
    assert "is not recognized" in clean(stderr)
    process = start_process(lab, "EX01", USER, "powershell -Command -")
    process.send_stdin(b"exit 3\n'never'\n", True)
    assert drain(process) == (b"", b"", 3)


def test_stdin_payload_scripts_are_recorded_decoded_and_masked(lab):
    script = ("$ProgressPreference = 'SilentlyContinue'\n"
              "$cred = New-Object System.Management.Automation.PSCredential('CORP\\administrator', "
              f"(ConvertTo-SecureString '{PASSWORD.replace(chr(39), chr(39) * 2)}' -AsPlainText -Force))\n"
              "$s = New-PSSession -ConfigurationName Microsoft.Exchange -ConnectionUri http://ex01.corp.contoso.com/PowerShell/ "
              "-Authentication Kerberos -Credential $cred\n"
              "Import-PSSession $s -DisableNameChecking | Out-Null\n"
              "@(Get-FakeConnector | Select-Object -Property 'Name', 'Port') | ConvertTo-Json -Compress")
    payload = base64.b64encode(script.encode("utf-8")).decode("ascii")
    line = (f"& ([scriptblock]::Create([System.Text.Encoding]::UTF8.GetString([System.Convert]::FromBase64String('{payload}'))))")
    process = start_process(lab, "EX01", USER, "powershell -NoProfile -NonInteractive -Command -")
    process.send_stdin(line.encode("ascii") + b"\r\n", True)
    stdout, stderr, code = drain(process)
    assert stderr == b"" and code == 0
    assert json.loads(stdout) == [{"Name": "Default EX01", "Port": 2525}, {"Name": "Client Frontend EX01", "Port": 587}]
    [entry] = transcript(lab)[-1:]
    assert entry["script"].startswith(line + "\n$ProgressPreference = 'SilentlyContinue'\n$cred = New-Object")
    assert PASSWORD not in entry["script"] and "********" in entry["script"]
    assert entry["masked"] == ["script"]
    assert entry["exchange_loaded"] is True and entry["exit_code"] == 0
    assert lab.observer.counters()["EX01"]["exchange_loads"] == 1


def test_stdout_uses_the_console_code_page_unless_the_script_changes_it(lab):
    stdout, _, _ = drain(start_process(lab, "EX01", USER, run_ps_line("'caf\u00e9 \u2713'")))
    assert stdout == "caf\u00e9 ?\r\n".encode("cp437")
    stdout, _, _ = drain(start_process(lab, "EX01", USER, run_ps_line("[Console]::OutputEncoding = [System.Text.Encoding]::UTF8; 'caf\u00e9 \u2713'")))
    assert stdout == "caf\u00e9 \u2713\r\n".encode("utf-8")


def test_corrupt_output_fault_replaces_one_scripts_stdout(lab):
    lab.faults.update({"corrupt_output": 1})
    first = drain(start_process(lab, "EX01", USER, run_ps_line("@{a = 1} | ConvertTo-Json")))[0]
    with pytest.raises(ValueError):
        json.loads(first)
    assert lab.faults.get("corrupt_output") == 0
    assert json.loads(drain(start_process(lab, "EX01", USER, run_ps_line("@{a = 1} | ConvertTo-Json")))[0]) == {"a": 1}


def test_start_latency_runs_in_the_worker(tmp_path):
    lab = fake_lab(tmp_path, faults={"ps_start_latency": 0.5})
    started = time.monotonic()
    process = start_process(lab, "EX01", USER, run_ps_line("'late'"))
    assert time.monotonic() - started < 0.2
    assert process.receive(0.1) == (b"", b"", None)
    assert drain(process) == (b"late\r\n", b"", 0)
    assert time.monotonic() - started >= 0.5


def test_terminate_ends_a_waiting_process(lab):
    process = start_process(lab, "EX01", USER, "powershell -Command -")
    process.terminate()
    assert process.receive(1.0)[2] is not None


def test_transcript_records_encoded_scripts(lab):
    drain(start_process(lab, "EX01", USER, run_ps_line("exit 5")))
    [entry] = transcript(lab)
    assert entry["script"] == "exit 5" and entry["exit_code"] == 5 and entry["user"] == USER
    assert entry["command_line"].startswith("powershell -encodedcommand ") and entry["exchange_loaded"] is False


def test_windows_command_line_splitting():
    assert split_command_line('powershell -Command "a b" c\\"d "e\\\\"') == ["powershell", "-Command", "a b", 'c"d', "e\\"]


CONNECT = ("$cred = New-Object System.Management.Automation.PSCredential('CORP\\administrator', (ConvertTo-SecureString '" + PASSWORD + "' -AsPlainText -Force))\n"
           "$s = New-PSSession -ConfigurationName Microsoft.Exchange -ConnectionUri http://ex01.corp.contoso.com/PowerShell/ -Credential $cred\n")


def test_import_pssession_writes_progress_records_unless_silenced(lab):
    stdout, stderr, code = drain(start_process(lab, "EX01", USER, run_ps_line(CONNECT + "Import-PSSession $s -DisableNameChecking | Out-Null")))
    assert code == 0 and stdout == b""
    text = stderr.decode("ascii")
    assert text.startswith('#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><Obj S="progress" RefId="0">')
    assert '<Obj S="progress" RefId="1"><TNRef RefId="0" />' in text
    # pywinrm leaves progress records as they are (no <S> element to clean).
    assert clean(stderr) == text
    silenced = "$ProgressPreference = 'SilentlyContinue'\n" + CONNECT + "Import-PSSession $s -DisableNameChecking | Out-Null"
    assert drain(start_process(lab, "EX01", USER, run_ps_line(silenced))) == (b"", b"", 0)


def test_errors_through_implicit_remoting_look_remote(lab):
    script = ("$ProgressPreference = 'SilentlyContinue'\n" + CONNECT + "Import-PSSession $s -DisableNameChecking | Out-Null\n"
              "Set-FakeConnector -Identity nope -Port 1\n"
              # -ErrorAction Stop is applied on the server and does not make a proxy's error catchable; the global
              # preference does (test_powershell_remoting_errors.py).
              "$global:ErrorActionPreference = 'Stop'\n"
              "try { Set-FakeConnector -Identity nope -Port 1 } catch { $_.Exception.GetType().FullName; $_.CategoryInfo.Reason }")
    stdout, stderr, code = drain(start_process(lab, "EX01", USER, run_ps_line(script)))
    assert stdout == b"System.Management.Automation.RemoteException\r\nManagementObjectNotFoundException\r\n"
    assert clean(stderr).split("\n") == [
        "The operation couldn't be performed because object 'nope' couldn't be found on 'EX01.corp.contoso.com'.",
        "    + CategoryInfo          : NotSpecified: (nope:String) [Set-FakeConnector], ManagementObjectNotFoundException",
        "    + FullyQualifiedErrorId : 5F0B6F5,Microsoft.Exchange.Management.SystemConfigurationTasks.SetReceiveConnector",
        "    + PSComputerName        : ex01.corp.contoso.com",
    ]


def test_write_error_at_script_level_names_the_invocation(lab):
    stdout, stderr, code = drain(start_process(lab, "EX01", USER, run_ps_line("Write-Error 'boom'")))
    assert code == 1
    assert clean(stderr).split("\n") == [
        "Write-Error 'boom' : boom",
        "    + CategoryInfo          : NotSpecified: (:) [Write-Error], WriteErrorException",
        "    + FullyQualifiedErrorId : Microsoft.PowerShell.Commands.WriteErrorException",
    ]


def test_write_host_goes_to_stdout(lab):
    stdout, _, code = drain(start_process(lab, "EX01", USER, run_ps_line("Write-Host 'a' -NoNewline; Write-Host 'b'; 'c'")))
    assert (stdout, code) == (b"ab\r\nc\r\n", 0)


def test_remote_exchange_script_banner_reaches_stdout(lab):
    stdout, _, code = drain(start_process(lab, "EX01", USER, run_ps_line(". 'C:\\Program Files\\Microsoft\\Exchange Server\\V15\\bin\\RemoteExchange.ps1'")))
    assert code == 0 and b"Welcome to the Exchange Management Shell!" in stdout


def test_objects_are_formatted_as_lists(lab):
    stdout, _, _ = drain(start_process(lab, "EX01", USER, run_ps_line("[pscustomobject]@{Name = 'n'; LongerName = @(1, 2)}; 1.5; $null")))
    assert stdout == b"\r\nName       : n\r\nLongerName : {1, 2}\r\n\r\n1.5\r\n"


def test_top_level_output_keeps_its_order_with_write_host(lab):
    script = "foreach ($i in 1, 2) { $i; Write-Host \"h$i\" }"
    assert drain(start_process(lab, "EX01", USER, run_ps_line(script)))[0] == b"1\r\nh1\r\n2\r\nh2\r\n"


def test_too_deep_a_script_is_reported_not_crashed(lab):
    stdout, stderr, code = drain(start_process(lab, "EX01", USER, "powershell -Command " + "1" + " + 1" * 1500))
    assert code == 1 and "nesting deeper than the lab" in clean(stderr)
