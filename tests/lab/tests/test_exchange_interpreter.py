"""The Exchange cmdlets driven by the lab's PowerShell interpreter (no WinRM): the path the modules' scripts take."""

from __future__ import annotations

import pytest

from exchange_lab.context import LabContext
from exchange_lab.powershell.session import Session


@pytest.fixture
def lab(tmp_path):
    return LabContext.open(tmp_path / "lab", version="2013", servers=["EX01"])


def run(session: Session, *lines: str) -> list:
    for line in lines:
        session.run(line)
    return session.streams.output


def test_snapin_whatif_and_errors(lab):
    session = Session(lab, "EX01", "CORP\\administrator")
    output = run(
        session,
        "Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn",
        "Set-OwaVirtualDirectory -Identity 'EX01\\owa (Default Web Site)' -ExternalUrl 'https://mail.contoso.com/owa' -WhatIf",
        "New-SendConnector -Name Internet -Internet -AddressSpaces '*' | Out-Null",
        "Get-SendConnector | ForEach-Object { [string]$_.AddressSpaces[0] }",
        "try { Set-OwaVirtualDirectory -Identity 'EX01\\owa (Default Web Site)' -ExternalUrl 'nope' } catch { 'caught: ' + $_.Exception.Message }",
    )
    assert output == [
        "SMTP:*;1",
        "caught: Cannot bind parameter 'ExternalUrl'. Cannot convert value \"nope\" to type \"System.Uri\". "
        "Error: \"Invalid URI: The format of the URI could not be determined.\"",
    ]
    assert session.streams.host[-1] == 'What if: Configuring Outlook on the web virtual directory "EX01\\owa (Default Web Site)".'


def test_remote_session_deserializes(lab):
    session = Session(lab, "EX01", "CORP\\administrator")
    password = lab.users.default.password
    output = run(
        session,
        f"$cred = New-Object System.Management.Automation.PSCredential('CORP\\administrator', (ConvertTo-SecureString '{password}' -AsPlainText -Force))",
        "$s = New-PSSession -ConfigurationName Microsoft.Exchange -ConnectionUri http://ex01.corp.contoso.com/PowerShell/ -Authentication Kerberos -Credential $cred",
        "Import-PSSession $s -DisableNameChecking | Out-Null",
        "$c = Get-ReceiveConnector 'EX01\\Client Frontend EX01'",
        "$c.PSObject.TypeNames[0]",
        "$c.TransportRole | ConvertTo-Json",
        "[string]$c.MaxMessageSize",
        "Get-OfflineAddressBook | Set-OfflineAddressBook -GlobalWebDistributionEnabled $True -VirtualDirectories $Null",
        "(Get-OfflineAddressBook).GlobalWebDistributionEnabled",
    )
    assert output == [
        "Deserialized.Microsoft.Exchange.Data.Directory.SystemConfiguration.ReceiveConnector",
        "16384",
        "36 MB (37,748,736 bytes)",
        True,
    ]
    assert session.streams.errors == []
