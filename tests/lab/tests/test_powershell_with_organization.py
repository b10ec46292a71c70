"""The PowerShell host with the real organisation model (exchange_lab.exchange): the shell loads its cmdlets."""

from __future__ import annotations

import base64
import json
import time

import pytest

from exchange_lab.powershell.host import start_process

context = pytest.importorskip("exchange_lab.context")
pytestmark = pytest.mark.slow  # seeding an organisation makes certificates


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    return context.LabContext.open(tmp_path_factory.mktemp("ps-org"), version="2019", servers=["EX01", "EX02"], domain="corp.contoso.com")


def run(lab, script: str) -> tuple[str, str, int]:
    line = "powershell -NoProfile -NonInteractive -encodedcommand " + base64.b64encode(script.encode("utf-16-le")).decode("ascii")
    process = start_process(lab, "EX01", "CORP\\administrator", line)
    stdout, stderr = b"", b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        out, err, code = process.receive(1.0)
        stdout += out
        stderr += err
        if code is not None:
            return stdout.decode("cp437"), stderr.decode("cp437"), code
    raise AssertionError("the script did not finish")


def test_exchange_cmdlets_need_the_shell(lab):
    stdout, stderr, code = run(lab, "Get-AcceptedDomain")
    assert code == 1 and "The term 'Get-AcceptedDomain' is not recognized" in stderr


def test_remote_session_reaches_the_organisation(lab):
    password = lab.users.default.password.replace("'", "''")
    script = (
        "$ProgressPreference = 'SilentlyContinue'\n"
        f"$cred = New-Object System.Management.Automation.PSCredential('CORP\\administrator', (ConvertTo-SecureString '{password}' -AsPlainText -Force))\n"
        "$s = New-PSSession -ConfigurationName Microsoft.Exchange -ConnectionUri http://ex02.corp.contoso.com/PowerShell/ -Authentication Kerberos -Credential $cred\n"
        "Import-PSSession $s -DisableNameChecking | Out-Null\n"
        "@(Get-ReceiveConnector -Server EX02 | ForEach-Object { $_.Identity.ToString() }) | ConvertTo-Json -Compress"
    )
    stdout, stderr, code = run(lab, script)
    assert (stderr, code) == ("", 0)
    assert "EX02\\Default Frontend EX02" in json.loads(stdout)
