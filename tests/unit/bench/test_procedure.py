import pytest
import yaml

from benchkit import procedure
from benchkit.organisation import hosts_document, load_organisation, write_inventory
from benchkit.runner import summarise_results

SERVERS = [{"name": "EX01", "fqdn": "ex01.corp.contoso.com"}, {"name": "EX02", "fqdn": "ex02.corp.contoso.com"}]


@pytest.fixture(scope="module")
def org():
    return load_organisation(SERVERS)


def test_ps_quote_doubles_every_single_quote_kind():
    assert procedure.ps_quote("O'Neil") == "'O''Neil'"
    assert procedure.ps_quote("a\u2019b\u2018c") == "'a\u2019\u2019b\u2018\u2018c'"
    assert procedure.ps_quote("$x `y\"") == "'$x `y\"'"  # no expansion inside single quotes
    assert procedure.ps_quote(True) == "$true" and procedure.ps_quote(False) == "$false"
    assert procedure.ps_list(["a", "b'c"]) == "'a','b''c'"
    with pytest.raises(ValueError):
        procedure.ps_list([])


def test_organisation_steps_are_the_documented_cmdlets(org):
    lines = [c.line for c in procedure.organisation_commands(org)]
    assert lines[0] == ("New-SendConnector -Name 'To internet' -Internet -AddressSpaces '*' "
                        "-SourceTransportServers 'EX01','EX02' -Fqdn 'mail.contoso.com'")
    cmdlets = [line.split(" ", 1)[0] for line in lines]
    assert cmdlets == ["New-SendConnector", "Get-SendConnector", "New-AcceptedDomain", "Set-AcceptedDomain",
                       "Get-AcceptedDomain", "Set-EmailAddressPolicy", "Update-EmailAddressPolicy", "Get-EmailAddressPolicy"]
    assert "-EnabledEmailAddressTemplates 'SMTP:@contoso.com'" in lines[5]


def test_server_steps_use_the_seeds_lines_for_internal_urls(org):
    cmds = procedure.server_commands_until_request(org, "EX02")
    lines = [c.line for c in cmds]
    assert ("Set-EcpVirtualDirectory 'EX02\\ecp (Default Web Site)' -InternalUrl "
            "((Get-EcpVirtualDirectory 'EX02\\ecp (Default Web Site)').ExternalUrl)") in lines
    assert "Set-OwaVirtualDirectory -Identity 'EX02\\owa (Default Web Site)' -ExternalUrl 'https://owa.contoso.com/owa'" in lines
    assert ("Set-PowerShellVirtualDirectory -Identity 'EX02\\PowerShell (Default Web Site)' "
            "-ExternalUrl 'http://mail.contoso.com/PowerShell'") in lines
    assert lines[-1].startswith("New-ExchangeCertificate -Server 'EX02' -GenerateRequest -SubjectName 'C=US, O=Contoso, "
                                "CN=mail.contoso.com' -DomainName 'mail.contoso.com','owa.contoso.com','autodiscover.contoso.com'")
    assert all("EX01" not in line for line in lines)
    assert [c.step for c in cmds].count("4") == 8 and [c.step for c in cmds].count("5") == 8


def test_certificate_and_client_smtp_commands(org):
    cert = procedure.certificate_commands(org, "EX01", "QUJD", "AB" * 20)
    assert cert[0].line.startswith("Import-ExchangeCertificate -Server 'EX01' -FileData "
                                   "([System.Convert]::FromBase64String('QUJD'))")
    assert cert[1].line == f"Enable-ExchangeCertificate -Server 'EX01' -Thumbprint '{'AB' * 20}' -Services 'IIS,SMTP' -Force"
    name = procedure.tls_certificate_name("CN=Lab CA, O=Lab", "C=US, O=Contoso, CN=mail.contoso.com")
    assert name == "<I>CN=Lab CA, O=Lab<S>C=US, O=Contoso, CN=mail.contoso.com"
    after = procedure.client_smtp_commands_after_tls(org, "EX01", name)
    assert after[0].line == ("Get-ReceiveConnector -Identity 'EX01\\Client Frontend*' | Set-ReceiveConnector "
                             "-TlsCertificateName '<I>CN=Lab CA, O=Lab<S>C=US, O=Contoso, CN=mail.contoso.com'")
    before = procedure.client_smtp_commands_before_tls(org, "EX01", "AB" * 20)
    assert before[0].line.endswith("Set-ReceiveConnector -Fqdn 'mail.contoso.com'")


def test_count_is_about_35_per_server(org):
    assert procedure.count_commands(org) == {"organisation": 8, "per_server": 36}


def test_parse_list_output():
    text = ("\r\nIssuer  : CN=Lab CA, O=Contoso\r\nSubject : C=US, O=Contoso,\r\n          CN=mail.contoso.com\r\n\r\n"
            "Name : second\r\nEmpty :\r\n")
    assert procedure.parse_list_output(text) == [
        {"Issuer": "CN=Lab CA, O=Contoso", "Subject": "C=US, O=Contoso,CN=mail.contoso.com"},
        {"Name": "second", "Empty": ""},
    ]


def test_extract_request_from_pem_or_bare_base64():
    body = "QUJD" * 30
    pem = procedure.extract_request("\n-----BEGIN NEW CERTIFICATE REQUEST-----\n" + body + "\n-----END NEW CERTIFICATE REQUEST-----\n")
    assert pem.startswith("-----BEGIN CERTIFICATE REQUEST-----\n" + body[:64] + "\n")
    assert procedure.extract_request(body[:60] + "\r\n" + body[60:]) == pem
    with pytest.raises(ValueError):
        procedure.extract_request("Thumbprint : ABC")


def test_inventory_has_the_servers_and_the_lab_group_vars(tmp_path):
    assert hosts_document(["EX01", "EX02"]) == {"exchange_mailbox": {"hosts": {"EX01": None, "EX02": None}}}
    directory = write_inventory(tmp_path / "inv", ["EX01", "EX02", "EX03"])
    assert "EX03:" in (directory / "hosts.yml").read_text()
    names = sorted(p.name for p in (directory / "group_vars" / "all").iterdir())
    assert "connection.yml" in names and "organisation.yml" in names and names[-1] == "zz_bench.yml"
    assert "tests/lab" in (directory / "group_vars" / "all" / "zz_bench.yml").read_text()


def test_inventory_with_the_labs_endpoints_is_written_as_an_administrator_writes_one(tmp_path):
    endpoints = {"username": "CORP\\lab-admin", "password": "secret", "ca_bundle": "/lab/ca.pem", "servers": {
        "EX01": {"https": "https://127.0.0.1:40001/wsman", "fqdn": "ex01.corp.contoso.com"},
        "EX02": {"https": "https://127.0.0.1:40002/wsman", "fqdn": "ex02.corp.contoso.com"}}}
    directory = write_inventory(tmp_path / "inv", ["EX02"], endpoints=endpoints)
    hosts = yaml.safe_load((directory / "hosts.yml").read_text())
    assert hosts == {"exchange_mailbox": {"hosts": {"EX02": {
        "exchange_host": "127.0.0.1", "exchange_port": 40002, "exchange_server_fqdn": "ex02.corp.contoso.com"}}}}
    generated = yaml.safe_load((directory / "group_vars" / "all" / "zz_bench.yml").read_text())
    assert generated["exchange_username"] == "CORP\\lab-admin" and generated["exchange_ca_trust_path"] == "/lab/ca.pem"
    # The password stays behind a variable, as a vault variable would be; the lab's values stay readable.
    assert generated["exchange_password"] == "{{ bench_exchange_password }}"
    assert generated["mailops_lab"] == endpoints


def test_summarise_results_counts_module_executions():
    results = [
        {"host": "EX01", "task": "a", "action": "mailops.exchange.exchange_send_connector", "status": "ok", "changed": True},
        {"host": "EX01", "task": "b", "action": "mailops.exchange.exchange_accepted_domain", "status": "ok",
         "changed": False, "items": 3},
        {"host": "EX01", "task": "c", "action": "ansible.builtin.assert", "status": "failed", "changed": False},
        {"host": "EX02", "task": "d", "action": "mailops.exchange.exchange_info", "status": "skipped", "changed": False},
        {"host": "EX01", "task": "e", "action": "mailops.exchange.exchange_validate", "status": "ok", "changed": False},
    ]
    assert summarise_results(results) == {"module_tasks": 4, "tasks_executed": 4, "changed": 1,
                                          "failed_tasks": ["EX01: c"]}
