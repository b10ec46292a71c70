"""Loading the Exchange shell (FACTS §2): snap-in, Microsoft.Exchange remote session, RemoteExchange.ps1."""

from __future__ import annotations

import time

import pytest

from exchange_lab.powershell.testing import fake_lab, new_session

PASSWORD = "Lab-Pa$$w0rd'\u2019\"x"


@pytest.fixture
def lab(tmp_path):
    return fake_lab(tmp_path, password=PASSWORD)


def session_for(lab):
    session = new_session(lab)
    session.set_variable("password", PASSWORD)
    return session


CREDENTIAL = ("$cred = New-Object System.Management.Automation.PSCredential('CORP\\administrator', "
              "(ConvertTo-SecureString $password -AsPlainText -Force))\n")
CONNECT = ("$s = New-PSSession -ConfigurationName Microsoft.Exchange -ConnectionUri http://ex01.corp.contoso.com/PowerShell/ "
           "-Authentication Kerberos -Credential $cred\n")


def loads(lab) -> int:
    return lab.observer.counters().get("EX01", {}).get("exchange_loads", 0)


def test_snapin_loads_the_exchange_cmdlets(lab):
    session = session_for(lab)
    session.run("Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn; get-fakeconnector | ForEach-Object { $_.Name }")
    assert session.streams.errors == []
    assert session.streams.output == ["Default EX01", "Client Frontend EX01"]
    assert session.exchange_mode == "snapin" and session.exchange_loaded
    assert lab.org.calls[0][:2] == ("Get-FakeConnector", "snapin")
    assert loads(lab) == 1


def test_other_snapins_are_not_installed_and_adding_twice_fails(lab):
    session = session_for(lab)
    session.run("Add-PSSnapin Microsoft.Exchange.Management.PowerShell.E2010; Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn; "
                "Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn")
    messages = [e.message for e in session.streams.errors]
    assert messages == [
        "The Windows PowerShell snap-in 'Microsoft.Exchange.Management.PowerShell.E2010' is not installed on this computer.",
        "Cannot add Windows PowerShell snap-in Microsoft.Exchange.Management.PowerShell.SnapIn because it is already added. "
        "Verify the name of the snap-in, and then try again.",
    ]
    assert session.streams.errors[0].error_id == "AddPSSnapInRead,Microsoft.PowerShell.Commands.AddPSSnapinCommand"
    assert loads(lab) == 1


def test_remote_session_with_a_valid_credential(lab):
    session = session_for(lab)
    session.run(CREDENTIAL + CONNECT + "$m = Import-PSSession $s -DisableNameChecking -AllowClobber\n$s.State; $s.ComputerName; Get-FakeConnector -Identity 'Default EX01' | ForEach-Object Port")
    assert session.streams.errors == [] and session.streams.warnings == []
    assert session.streams.output == ["Opened", "ex01.corp.contoso.com", 2525]
    assert session.exchange_mode == "remote_session"
    assert session.get_variable("m").type_name == "System.Management.Automation.PSModuleInfo"
    assert session.get_variable("m").properties["Name"].startswith("tmp_")
    assert loads(lab) == 1


def test_import_without_disable_name_checking_warns_about_unapproved_verbs(lab):
    session = session_for(lab)
    session.run(CREDENTIAL + CONNECT + "Import-PSSession $s | Out-Null")
    assert session.streams.warnings and "include unapproved verbs" in session.streams.warnings[0]


def test_command_name_restricts_the_import(lab):
    session = session_for(lab)
    session.run(CREDENTIAL + CONNECT + "Import-PSSession $s -DisableNameChecking -CommandName Get-FakeConnector | Out-Null\nSet-FakeConnector -Identity x")
    assert session.exchange_loaded
    assert session.streams.errors[0].message.startswith("The term 'Set-FakeConnector' is not recognized")


def test_wrong_password_is_access_denied(lab):
    session = session_for(lab)
    session.set_variable("password", "wrong")
    session.run(CREDENTIAL + CONNECT + "$s -eq $null; Import-PSSession $s")
    first, second = session.streams.errors
    assert first.message == ("Connecting to remote server ex01.corp.contoso.com failed with the following error message : Access is denied. "
                             "For more information, see the about_Remote_Troubleshooting Help topic.")
    assert first.error_id == "AccessDenied,PSSessionOpenFailed"
    assert first.exception_type == "System.Management.Automation.Remoting.PSRemotingTransportException"
    assert first.display().startswith("New-PSSession : Connecting to remote server")
    assert second.message.startswith("Cannot validate argument on parameter 'Session'. The argument is null.")
    assert session.streams.output == [True]
    assert not session.exchange_loaded and loads(lab) == 0


def test_without_a_credential_the_second_hop_fails(lab):
    session = session_for(lab)
    session.run("$s = New-PSSession -ConfigurationName Microsoft.Exchange -ConnectionUri http://ex01.corp.contoso.com/PowerShell/ -Authentication Kerberos")
    error = session.streams.errors[0]
    assert error.message == (
        "Connecting to remote server ex01.corp.contoso.com failed with the following error message : WinRM cannot process the request. "
        "The following error with errorcode 0x8009030e occurred while using Kerberos authentication: A specified logon session does not "
        "exist. It may already have been terminated. For more information, see the about_Remote_Troubleshooting Help topic.")
    assert session.get_variable("s") is None


@pytest.mark.parametrize("arguments, fragment", [
    ("-ConfigurationName Microsoft.Exchange -ConnectionUri http://mail.fabrikam.com/PowerShell/", "Cannot find the computer mail.fabrikam.com"),
    ("-ConnectionUri http://ex01.corp.contoso.com/PowerShell/", "Cannot find the Microsoft.PowerShell session configuration"),
    ("-ConfigurationName Microsoft.Exchange -ConnectionUri http://ex01.corp.contoso.com/owa/", "the requested HTTP URL was not available"),
    ("-ConfigurationName Microsoft.Exchange -ConnectionUri https://ex01.corp.contoso.com/PowerShell/", "signed by an unknown certificate authority"),
    ("-ConfigurationName Microsoft.Exchange -ConnectionUri http://ex01.corp.contoso.com/PowerShell/ -Authentication Basic", "Unencrypted traffic is currently disabled"),
    ("-ConfigurationName Microsoft.Exchange -ComputerName ex01.corp.contoso.com", "Cannot find the Microsoft.Exchange session configuration"),
])
def test_wrong_connections_fail_like_a_real_server(lab, arguments, fragment):
    session = session_for(lab)
    session.run(CREDENTIAL + f"$s = New-PSSession {arguments} -Credential $cred")
    assert len(session.streams.errors) == 1
    assert fragment in session.streams.errors[0].message
    assert session.streams.errors[0].message.startswith("Connecting to remote server ")


def test_error_action_stop_on_new_pssession_is_catchable(lab):
    session = session_for(lab)
    session.set_variable("password", "wrong")
    session.run(CREDENTIAL + "try { New-PSSession -ConfigurationName Microsoft.Exchange -ConnectionUri http://ex01.corp.contoso.com/PowerShell/ "
                "-Credential $cred -ErrorAction Stop } catch { $_.FullyQualifiedErrorId }")
    assert session.streams.output == ["AccessDenied,PSSessionOpenFailed"]


def test_remove_pssession_closes_it(lab):
    session = session_for(lab)
    session.run(CREDENTIAL + CONNECT + "Remove-PSSession $s; $s.State; Import-PSSession $s")
    assert session.streams.output == ["Closed"]
    assert "The session state is Closed." in session.streams.errors[0].message
    assert not session.exchange_loaded


def test_remote_exchange_script_defines_connect_exchange_server(lab):
    session = session_for(lab)
    session.run(CREDENTIAL + "Connect-ExchangeServer -Auto")
    assert session.streams.errors[0].message.startswith("The term 'Connect-ExchangeServer' is not recognized")
    session = session_for(lab)
    session.run(CREDENTIAL + '. "$env:ExchangeInstallPath\\bin\\RemoteExchange.ps1"\nConnect-ExchangeServer -Auto -Credential $cred\nGet-FakeConnector | Select-Object -First 1 -ExpandProperty Name')
    assert session.streams.errors == []
    assert session.streams.output == ["Default EX01"]
    assert "         Welcome to the Exchange Management Shell!" in session.streams.host
    assert session.exchange_mode == "remote_exchange_script"
    assert loads(lab) == 1


def test_connect_exchange_server_needs_a_credential_from_a_winrm_session(lab):
    session = session_for(lab)
    session.run('. "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\bin\\RemoteExchange.ps1"; Connect-ExchangeServer -ServerFqdn ex02.corp.contoso.com')
    assert "0x8009030e" in session.streams.errors[0].message
    assert not session.exchange_loaded


def test_dot_sourcing_a_missing_script_is_not_recognized(lab):
    session = session_for(lab)
    session.run('. "C:\\scripts\\missing.ps1"')
    assert session.streams.errors[0].message.startswith("The term 'C:\\scripts\\missing.ps1' is not recognized")


def test_exchange_cmdlet_errors_follow_error_action(lab):
    session = session_for(lab)
    session.run("Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn\n"
                "Set-FakeConnector -Identity nope -Port 1; 'continued'\n"
                "try { Set-FakeConnector -Identity nope -Port 1 -ErrorAction Stop; 'no' } catch { 'caught: ' + $_.Exception.Message }\n"
                "Set-FakeConnector -Identity 'Default EX01' -Port 2526; (Get-FakeConnector 'Default EX01').Port")
    assert session.streams.output == [
        "continued", "caught: The operation couldn't be performed because object 'nope' couldn't be found on 'EX01.corp.contoso.com'.", 2526]
    assert len(session.streams.errors) == 1
    assert session.streams.errors[0].display().startswith("Set-FakeConnector : The operation couldn't be performed")


def test_exchange_load_sleeps_for_the_modelled_latency(tmp_path):
    lab = fake_lab(tmp_path, faults={"exchange_load_latency": 0.3, "latency_scale": 1.0})
    session = new_session(lab)
    started = time.monotonic()
    session.run("Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn")
    assert time.monotonic() - started >= 0.3
