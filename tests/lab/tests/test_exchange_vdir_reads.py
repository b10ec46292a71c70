"""The collection's client access reads and writes run in the lab, in each way of loading Exchange.

Through a plain Import-PSSession (``remote_session``) nested Exchange values arrive as strings; in EMS
(``remote_exchange_script``) and the snap-in they are live objects. The read scripts of ``vdir_plan`` and
``exchange_offline_address_book`` take string forms only, so they must give the same answer in every mode, and the
mapi URL plan (with the current ``-IISAuthenticationMethods``, which Exchange requires) must converge.
"""

from __future__ import annotations

import base64
import json
import time

import pytest

from ansible_collections.mailops.exchange.plugins.module_utils import exchange_session as es
from ansible_collections.mailops.exchange.plugins.module_utils import vdir_plan
from ansible_collections.mailops.exchange.plugins.module_utils.quoting import ps_script
from ansible_collections.mailops.exchange.plugins.modules import exchange_offline_address_book as oab_module
from exchange_lab.powershell.host import start_process

context = pytest.importorskip("exchange_lab.context")
pytestmark = pytest.mark.slow  # seeding an organisation makes certificates

MODES = ["snapin", "remote_session", "remote_exchange_script"]


@pytest.fixture(scope="module")
def lab2019(tmp_path_factory):
    return context.LabContext.open(tmp_path_factory.mktemp("vdir-reads-2019"), version="2019", servers=["EX01"],
                                   domain="corp.contoso.com")


@pytest.fixture(scope="module")
def lab2013(tmp_path_factory):
    return context.LabContext.open(tmp_path_factory.mktemp("vdir-reads-2013"), version="2013", servers=["EX01"],
                                   domain="corp.contoso.com")


def load(lab, mode: str) -> str:
    """The collection's own Exchange-loading preamble for ``mode``."""
    password = lab.users.default.password
    if mode == "snapin":
        return es._LOAD_SNAPIN
    if mode == "remote_exchange_script":
        return ps_script(es._LOAD_REMOTE_EXCHANGE_SCRIPT_CREDENTIAL, username="CORP\\administrator", password=password)
    return ps_script(es._LOAD_REMOTE_SESSION, username="CORP\\administrator", password=password,
                     uri="http://ex01.corp.contoso.com/PowerShell/")


def run(lab, mode: str, script: str) -> tuple[str, str]:
    # As the collection sends scripts: one stdin line that decodes and runs the whole text (the scripts are longer
    # than cmd.exe's command line allows).
    text = "$ProgressPreference = 'SilentlyContinue'\n" + load(lab, mode) + script
    process = start_process(lab, "EX01", "CORP\\administrator", es.POWERSHELL_COMMAND)
    payload = base64.b64encode(text.encode("utf-8")).decode("ascii")
    process.send_stdin((ps_script(es._STDIN_LINE, payload=payload) + "\r\n").encode("utf-8"), end=True)
    stdout, stderr = b"", b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        out, err, code = process.receive(1.0)
        stdout, stderr = stdout + out, stderr + err
        if code is not None:
            return stdout.decode("cp437"), stderr.decode("cp437")
    raise AssertionError("the script did not finish")


def read_json(lab, mode: str, script: str):
    stdout, stderr = run(lab, mode, script)
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert lines, (stdout, stderr)
    return json.loads(lines[-1])


def read_state(lab, mode: str) -> dict:
    return vdir_plan.current_state(read_json(lab, mode, ps_script(vdir_plan.READ_SCRIPT, server="EX01")))


@pytest.mark.parametrize("mode", MODES)
def test_vdir_read_gives_the_same_state_in_every_mode(lab2019, mode):
    state = read_state(lab2019, mode)
    assert state["server"] == {"name": "EX01", "fqdn": "ex01.corp.contoso.com",
                               "admin_display_version": "Version 15.2 (Build 1118.7)", "version": "2019"}
    assert state["vdirs"]["owa"]["internal_url"] == "https://ex01.corp.contoso.com/owa"
    assert state["vdirs"]["owa"]["identity"] == "EX01\\owa (Default Web Site)"
    assert state["vdirs"]["mapi"]["iis_authentication_methods"] == ["Ntlm", "OAuth", "Negotiate"]
    assert state["outlook_anywhere"] == {
        "identity": "EX01\\Rpc (Default Web Site)", "internal_hostname": "ex01.corp.contoso.com", "external_hostname": None,
        "internal_clients_require_ssl": False, "external_clients_require_ssl": False,
        "internal_client_authentication_method": "Ntlm", "external_client_authentication_method": "Negotiate"}
    assert state["client_access"]["autodiscover_internal_uri"] == "https://ex01.corp.contoso.com/Autodiscover/Autodiscover.xml"


@pytest.mark.parametrize("mode", MODES)
def test_mapi_urls_need_iis_methods_over_the_wire_and_the_plan_converges(lab2019, mode):
    url = "https://%s.contoso.com/mapi" % mode.replace("_", "-")
    # Exchange refuses the URL alone: the lab does too, through every way of loading Exchange.
    _, stderr = run(lab2019, mode, "Set-MapiVirtualDirectory -Identity 'EX01\\mapi (Default Web Site)' -ExternalUrl "
                    + ps_script("{u}", u=url) + "\n")
    assert "The IISAuthenticationMethods parameter must be specified" in stderr
    assert read_state(lab2019, mode)["vdirs"]["mapi"]["external_url"] != url
    # The collection's plan sends the current methods with the URL; a second read plans nothing.
    desired = vdir_plan.validate_urls({"mapi": {"external_url": url}})
    commands = vdir_plan.plan(read_state(lab2019, mode), desired, {}, None).commands
    assert commands == ["Set-MapiVirtualDirectory -Identity 'EX01\\mapi (Default Web Site)' -ExternalUrl '%s' "
                        "-IISAuthenticationMethods @('Ntlm', 'OAuth', 'Negotiate')" % url]
    _, stderr = run(lab2019, mode, "\n".join(commands) + "\n")
    assert stderr == ""
    after = read_state(lab2019, mode)
    assert after["vdirs"]["mapi"]["external_url"] == url
    assert after["vdirs"]["mapi"]["iis_authentication_methods"] == ["Ntlm", "OAuth", "Negotiate"]
    assert vdir_plan.plan(after, desired, {}, None).commands == []


@pytest.mark.parametrize("mode", MODES)
def test_oab_read_gives_the_same_answer_in_every_mode(lab2013, mode):
    answer = read_json(lab2013, mode, oab_module.READ_SCRIPT)
    books = answer["offline_address_books"]
    books = books if isinstance(books, list) else [books]
    assert [oab_module.normalise(b) for b in books] == [{
        "name": "Default Offline Address Book", "global_web_distribution_enabled": False,
        "virtual_directories": ["EX01\\OAB (Default Web Site)"], "is_default": True}]
    vdirs = answer["virtual_directories"]
    vdirs = vdirs if isinstance(vdirs, list) else [vdirs]
    assert vdirs == [{"identity": "EX01\\OAB (Default Web Site)", "server": "EX01"}]
    # The 2013 step plans the documented command, then nothing once applied.
    params = {"name": "*", "global_web_distribution_enabled": True, "virtual_directories": None}
    commands, _, _ = oab_module.plan(params, answer)
    assert commands == ["Set-OfflineAddressBook -Identity '\\Default Offline Address Book' "
                        "-GlobalWebDistributionEnabled:$true -VirtualDirectories $null"]


def test_a_server_without_the_mapi_cmdlet_is_read_without_a_failure(lab2013):
    """Before Exchange 2013 SP1 there is no Get-MapiVirtualDirectory: the read handles the CommandNotFoundException
    and takes it out of $Error, which the session's envelope would otherwise report as a failure."""
    names = ", ".join("'%s'" % n for n in (
        "Get-ExchangeServer", "Get-ClientAccessServer", "Get-ClientAccessService", "Get-OwaVirtualDirectory",
        "Get-EcpVirtualDirectory", "Get-WebServicesVirtualDirectory", "Get-ActiveSyncVirtualDirectory",
        "Get-OabVirtualDirectory", "Get-PowerShellVirtualDirectory", "Get-OutlookAnywhere"))
    envelope = ps_script(es._QUERY_ENVELOPE, begin="MAILOPS:BEGIN", ok="MAILOPS:OK", err="MAILOPS:ERR",
                         script=ps_script(vdir_plan.READ_SCRIPT, server="EX01"))
    loading = load(lab2013, "remote_session").replace(
        "Import-PSSession $s -DisableNameChecking -AllowClobber", "Import-PSSession $s -DisableNameChecking -AllowClobber -CommandName " + names)
    assert "-CommandName" in loading
    text = "$ProgressPreference = 'SilentlyContinue'\n" + loading + envelope
    process = start_process(lab2013, "EX01", "CORP\\administrator", es.POWERSHELL_COMMAND)
    payload = base64.b64encode(text.encode("utf-8")).decode("ascii")
    process.send_stdin((ps_script(es._STDIN_LINE, payload=payload) + "\r\n").encode("utf-8"), end=True)
    out = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        chunk, _err, code = process.receive(1.0)
        out += chunk
        if code is not None:
            break
    lines = [line.strip() for line in out.decode("cp437").splitlines() if line.strip()]
    assert lines[-1] == "MAILOPS:OK", lines[-3:]
    state = vdir_plan.current_state(json.loads(lines[-2]))
    assert state["vdirs"].get("mapi") is None and state["vdirs"]["owa"] is not None
