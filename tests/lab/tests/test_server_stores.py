"""What the Exchange server itself holds, as its own PowerShell sees it: the local machine's certificate stores
(``Cert:\\LocalMachine\\My`` and ``\\REQUEST``) and IIS's bindings (``Get-WebBinding``).

Scripts run in the lab's PowerShell runspace on a real seeded organisation, in every Exchange shell mode and with
no Exchange shell at all (these are Windows features: the answers must not depend on the mode).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from exchange_lab.context import LabContext
from exchange_lab.errors import UnsupportedConstruct
from exchange_lab.powershell.session import Session

pytestmark = pytest.mark.slow  # seeding an organisation makes certificates

FIXTURE = Path(__file__).parent / "fixtures" / "css_exchange" / "E19" / "GetWebBinding.xml"
CLIXML = "{http://schemas.microsoft.com/powershell/2004/04}"
MODES = ["none", "snapin", "remote_session", "remote_exchange_script"]


@pytest.fixture
def lab(tmp_path):
    return LabContext.open(tmp_path / "lab", version="2019", servers=["EX01"], domain="corp.contoso.com")


def shell(lab, mode: str) -> Session:
    """A runspace on EX01 with the Exchange shell loaded the way ``mode`` says ('none': not loaded)."""
    session = Session(lab, "EX01", "CORP\\administrator")
    session.set_variable("password", lab.users.default.password)
    credential = ("$cred = New-Object System.Management.Automation.PSCredential('CORP\\administrator', "
                  "(ConvertTo-SecureString $password -AsPlainText -Force))\n$ProgressPreference = 'SilentlyContinue'\n")
    load = {
        "none": "",
        "snapin": "Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn",
        "remote_session": credential + "$s = New-PSSession -ConfigurationName Microsoft.Exchange -ConnectionUri "
                          "http://ex01.corp.contoso.com/PowerShell/ -Authentication Kerberos -Credential $cred\n"
                          "Import-PSSession $s -DisableNameChecking | Out-Null",
        "remote_exchange_script": credential + ". \"$env:ExchangeInstallPath\\bin\\RemoteExchange.ps1\"\n"
                                  "Connect-ExchangeServer -ServerFqdn ex01.corp.contoso.com -Credential $cred",
    }[mode]
    if load:
        session.run(load)
    assert session.streams.errors == []
    assert session.exchange_mode == (None if mode == "none" else mode)
    session.streams.output.clear()
    return session


def run_json(session: Session, script: str):
    """``script``'s last line is assigned to a variable and written with ConvertTo-Json -InputObject (so an empty
    array stays ``[]``); earlier lines run first."""
    *setup, last = script.split("\n")
    session.streams.output.clear()
    session.run("\n".join(setup + ["$__result = " + last, "ConvertTo-Json -Depth 4 -Compress -InputObject $__result"]))
    assert session.streams.errors == [], [e.message for e in session.streams.errors]
    [text] = session.streams.output
    return json.loads(text)


# The collection's read of the stores (plugins/module_utils/certificate_plan.py), item by item.
READ_STORE = ("@(Get-ChildItem -Path 'Cert:\\LocalMachine\\{store}' | ForEach-Object {{ [ordered]@{{ "
              "thumbprint = [string]$_.Thumbprint; friendly_name = [string]$_.FriendlyName; has_key = [bool]$_.HasPrivateKey; "
              "has_key_text = [string]$_.HasPrivateKey; raw = [System.Convert]::ToBase64String($_.RawData); not_after = [string]$_.NotAfter; "
              "subject = [string]$_.Subject; issuer = [string]$_.Issuer; types = @($_.PSObject.TypeNames) }} }})")
READ_IIS = ("Import-Module WebAdministration\n"
            "@(Get-WebBinding -Name 'Default Web Site' -Protocol 'https' | ForEach-Object { [string]$_.certificateHash })")


def read_store(session: Session, store: str) -> list[dict]:
    return run_json(session, READ_STORE.format(store=store))


def sha1_upper(raw_b64: str) -> str:
    return hashlib.sha1(base64.b64decode(raw_b64)).hexdigest().upper()


def generate_request(session: Session) -> str:
    """New-ExchangeCertificate -GenerateRequest (snap-in); returns the PKCS #10 request text."""
    session.streams.output.clear()
    session.run("New-ExchangeCertificate -GenerateRequest -SubjectName 'CN=mail.contoso.com' "
                "-DomainName 'mail.contoso.com','autodiscover.contoso.com' -FriendlyName 'Contoso 2026' -PrivateKeyExportable $true")
    assert session.streams.errors == []
    [text] = session.streams.output
    return text


def complete_request(lab, session: Session, request_text: str) -> str:
    """The CA's answer imported with Import-ExchangeCertificate -FileData; returns the issued certificate's thumbprint."""
    csr = x509.load_pem_x509_csr(request_text.encode("ascii") if "BEGIN" in request_text else
                                 b"-----BEGIN NEW CERTIFICATE REQUEST-----\n" + request_text.encode("ascii") + b"\n-----END NEW CERTIFICATE REQUEST-----\n")
    der = lab.ca.sign_csr(csr).public_bytes(serialization.Encoding.DER)
    session.set_variable("answer", base64.b64encode(der).decode("ascii"))
    session.streams.output.clear()
    session.run("Import-ExchangeCertificate -FileData ([System.Convert]::FromBase64String($answer)) | Out-Null")
    assert session.streams.errors == [], [e.message for e in session.streams.errors]
    return hashlib.sha1(der).hexdigest().upper()


# --------------------------------------------------------------------------------------------------------------
# Cert:\LocalMachine\My and \REQUEST


@pytest.mark.parametrize("mode", MODES)
def test_a_fresh_servers_my_store_holds_its_certificates_with_private_keys_in_every_shell_mode(lab, mode):
    session = shell(lab, mode)
    items = read_store(session, "My")
    assert sorted(i["friendly_name"] for i in items) == ["Microsoft Exchange", "Microsoft Exchange Server Auth Certificate", "WMSVC-SHA2"]
    for item in items:
        assert item["has_key"] is True and item["has_key_text"] == "True"
        assert item["thumbprint"] == sha1_upper(item["raw"])  # upper-case hex SHA-1 of the DER bytes
        assert re.fullmatch(r"[0-9A-F]{40}", item["thumbprint"])
        assert item["types"] == ["System.Security.Cryptography.X509Certificates.X509Certificate2",
                                 "System.Security.Cryptography.X509Certificates.X509Certificate", "System.Object"]
        assert re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}:\d{2} [AP]M", item["not_after"])
    exchange = next(i for i in items if i["friendly_name"] == "Microsoft Exchange")
    assert exchange["subject"] == "CN=EX01" and exchange["issuer"] == "CN=EX01"
    assert read_store(session, "REQUEST") == []


@pytest.mark.parametrize("mode", ["snapin", "remote_exchange_script"])
def test_a_generated_request_is_one_request_store_item_with_get_exchangecertificates_thumbprint(lab, mode):
    session = shell(lab, mode)
    generate_request(session)
    [request] = read_store(session, "REQUEST")
    pending = run_json(session, "@(Get-ExchangeCertificate | Where-Object { [string]$_.Status -eq 'PendingRequest' } | "
                                "ForEach-Object { [string]$_.Thumbprint })")
    assert pending == [request["thumbprint"]]
    assert request["friendly_name"] == "Contoso 2026"
    assert request["has_key"] is True  # CertEnroll's dummy certificate carries the request's key
    assert request["thumbprint"] == sha1_upper(request["raw"])
    # Export-ExchangeCertificate accepts that thumbprint and gives the request back.
    exported = run_json(session, f"[System.Convert]::ToBase64String((Export-ExchangeCertificate -Thumbprint '{request['thumbprint']}' -BinaryEncoded).FileData)")
    assert x509.load_der_x509_csr(base64.b64decode(exported)).subject.rfc4514_string() == "CN=mail.contoso.com"
    # The request is not in My.
    assert request["thumbprint"] not in [i["thumbprint"] for i in read_store(session, "My")]


def test_importing_the_cas_answer_empties_request_and_puts_the_issued_certificate_with_its_key_in_my(lab):
    session = shell(lab, "snapin")
    text = generate_request(session)
    [request] = read_store(session, "REQUEST")
    issued = complete_request(lab, session, text)
    assert read_store(session, "REQUEST") == []
    session.streams.output.clear()
    session.run(f"Test-Path 'Cert:\\LocalMachine\\REQUEST\\{request['thumbprint']}'; Test-Path 'Cert:\\LocalMachine\\My\\{issued}'")
    assert session.streams.output == [False, True]
    mine = {i["thumbprint"]: i for i in read_store(session, "My")}
    assert mine[issued]["has_key"] is True
    assert mine[issued]["friendly_name"] == "Contoso 2026"
    assert mine[issued]["subject"] == "CN=mail.contoso.com"


@pytest.mark.parametrize("mode", ["none", "remote_session"])
def test_the_stores_follow_exchange_changes_without_the_snapin(lab, mode):
    """A request made in one process (snap-in) is seen by another process on the server whatever it loaded."""
    generate_request(shell(lab, "snapin"))
    session = shell(lab, mode)
    [request] = read_store(session, "REQUEST")
    assert request["friendly_name"] == "Contoso 2026" and request["has_key"] is True


def test_a_certificate_imported_without_its_key_has_no_private_key_in_my(lab):
    session = shell(lab, "snapin")
    certificate, _key = lab.ca.issue(["other.contoso.com"])
    der = certificate.public_bytes(serialization.Encoding.DER)
    session.set_variable("answer", base64.b64encode(der).decode("ascii"))
    session.run("Import-ExchangeCertificate -FileData ([System.Convert]::FromBase64String($answer)) | Out-Null")
    assert session.streams.errors == []
    mine = {i["thumbprint"]: i for i in read_store(session, "My")}
    assert mine[hashlib.sha1(der).hexdigest().upper()]["has_key"] is False


def test_one_certificate_by_thumbprint_and_the_providers_error_for_a_missing_one(lab):
    session = shell(lab, "none")
    [first] = read_store(session, "My")[:1]
    session.streams.output.clear()
    session.run(f"@(Get-ChildItem 'Cert:\\LocalMachine\\My\\{first['thumbprint'].lower()}').Count; "
                f"(Get-ChildItem Cert:\\LocalMachine\\My\\{first['thumbprint']}).Thumbprint")
    assert session.streams.output == [1, first["thumbprint"]]
    missing = "0" * 40
    session.streams.output.clear()
    session.run(f"$x = Get-ChildItem 'Cert:\\LocalMachine\\My\\{missing}'; $null -eq $x; 'next'")
    assert session.streams.output == [True, "next"]  # non-terminating: the script goes on
    [error] = session.streams.errors
    assert error.message == f"Cannot find path 'Cert:\\LocalMachine\\My\\{missing}' because it does not exist."
    assert error.error_id == "PathNotFound,Microsoft.PowerShell.Commands.GetChildItemCommand"
    assert error.category == "ObjectNotFound"
    assert error.exception_type == "System.Management.Automation.ItemNotFoundException"
    session.streams.errors.clear()
    session.run(f"try {{ Get-ChildItem 'Cert:\\LocalMachine\\My\\{missing}' -ErrorAction Stop }} catch {{ $_.FullyQualifiedErrorId }}")
    assert session.streams.output[-1] == "PathNotFound,Microsoft.PowerShell.Commands.GetChildItemCommand"


@pytest.mark.parametrize("script, construct", [
    ("Get-ChildItem 'Cert:\\CurrentUser\\My'", "Get-ChildItem on a certificate path other than Cert:\\LocalMachine\\My or \\REQUEST"),
    ("Get-ChildItem 'Cert:\\LocalMachine\\Root'", "Get-ChildItem on a certificate path other than Cert:\\LocalMachine\\My or \\REQUEST"),
    ("Get-ChildItem 'Cert:\\'", "Get-ChildItem on a certificate path other than Cert:\\LocalMachine\\My or \\REQUEST"),
    ("Get-ChildItem 'C:\\Windows'", "Get-ChildItem outside the Cert: drive"),
    ("Get-ChildItem 'Cert:\\LocalMachine\\My\\*'", "Get-ChildItem with a wildcard path"),
    ("Get-ChildItem 'Cert:\\LocalMachine\\My' -Recurse", "Get-ChildItem -Recurse"),
    ("Get-ChildItem 'Cert:\\LocalMachine\\My' -SSLServerAuthentication", "Get-ChildItem -SSLServerAuthentication"),
    ("Test-Path 'HKLM:\\SOFTWARE'", "Test-Path outside the Cert: drive"),
    ("Import-Module ActiveDirectory", "Import-Module ActiveDirectory"),
    ("Import-Module WebAdministration -PassThru", "Import-Module -PassThru"),
    ("Get-WebBinding -IPAddress '*'", "Get-WebBinding -IPAddress"),
    ("(Get-WebBinding -Name 'Default Web Site' -Protocol https)[0].AddSslCertificate('x', 'My')", "the IIS binding method AddSslCertificate()"),
])
def test_what_the_lab_does_not_model_is_an_unsupported_construct_naming_it(lab, script, construct):
    session = shell(lab, "none")
    with pytest.raises(UnsupportedConstruct) as raised:
        session.run("$ErrorActionPreference = 'Stop'\n" + script)
    assert raised.value.construct == construct


# --------------------------------------------------------------------------------------------------------------
# IIS bindings (WebAdministration)


def _dump_bindings() -> list[dict]:
    """The real dump's bindings: type names, string form, base properties and extended (MS) properties."""
    import xml.etree.ElementTree as ET

    root = ET.parse(FIXTURE).getroot()
    type_lists: dict[str, list[str]] = {}
    bindings = []
    for obj in root.findall(f"{CLIXML}Obj"):
        tn = obj.find(f"{CLIXML}TN")
        if tn is not None:
            type_lists[tn.get("RefId")] = [t.text for t in tn.findall(f"{CLIXML}T")]
            names = type_lists[tn.get("RefId")]
        else:
            names = type_lists[obj.find(f"{CLIXML}TNRef").get("RefId")]
        extended = {}
        for value in obj.find(f"{CLIXML}MS"):
            tag = value.tag.replace(CLIXML, "")
            extended[value.get("N")] = (tag, value.text or "")
        base = [p.get("N") for p in obj.find(f"{CLIXML}Props")]
        bindings.append({"types": names, "string": obj.find(f"{CLIXML}ToString").text, "extended": extended, "base": base})
    return bindings


def test_bindings_have_the_real_dumps_shape(lab):
    dump = _dump_bindings()
    session = shell(lab, "none")
    session.run("Import-Module WebAdministration\n$b = @(Get-WebBinding)")
    bindings = session.get_variable("b")
    assert len(bindings) == len(dump)
    json_types = {"S": str, "I64": int, "B": bool}
    for ours, real in zip(bindings, dump):
        assert ours.type_names == real["types"]
        assert list(ours.properties)[: len(real["base"])] == real["base"]
        for name, (tag, text) in real["extended"].items():
            assert name in ours.properties  # same spelling, e.g. certificateHash
            value = ours.properties[name]
            assert type(value) is json_types[tag], name
            if name not in ("certificateHash", "certificateStoreName"):
                assert str(value).lower() == text.lower(), name
            elif text:
                assert re.fullmatch(r"[0-9A-F]{40}", value) if name == "certificateHash" else value == text
            else:
                assert value == ""
        assert ours.to_string() == real["string"]


@pytest.mark.parametrize("mode", MODES)
def test_the_default_web_sites_https_binding_carries_the_iis_certificate_and_follows_enable(lab, mode):
    session = shell(lab, mode)
    before = run_json(session, READ_IIS)
    mine = {i["friendly_name"]: i["thumbprint"] for i in read_store(session, "My")}
    assert before == [mine["Microsoft Exchange"]] * 2  # ':443:' and '127.0.0.1:443:'
    # The binding's form, as the collection reads it.
    shape = run_json(session, "Get-WebBinding -Name 'Default Web Site' -Protocol 'https' | Select-Object -First 1 | "
                              "ForEach-Object { [ordered]@{ info = $_.bindingInformation; store = $_.certificateStoreName; text = [string]$_ } }")
    assert shape == {"info": ":443:", "store": "MY", "text": "https :443: sslFlags=0"}

    snapin = shell(lab, "snapin")
    text = generate_request(snapin)
    issued = complete_request(lab, snapin, text)
    snapin.run(f"Enable-ExchangeCertificate -Thumbprint {issued} -Services IIS")
    assert snapin.streams.errors == []
    assert run_json(session, READ_IIS) == [issued, issued]
    # The back end keeps the self-signed certificate Exchange setup made.
    assert run_json(session, "(Get-WebBinding -Name 'Exchange Back End' -Protocol https).certificateHash") == mine["Microsoft Exchange"]


def test_get_webbinding_filters_by_site_protocol_and_port(lab):
    session = shell(lab, "none")
    assert run_json(session, "@(Get-WebBinding | ForEach-Object { [string]$_ })") == [
        "http *:80:", "https :443: sslFlags=0", "http 127.0.0.1:80:", "https 127.0.0.1:443: sslFlags=0", "http *:81:", "https *:444: sslFlags=0"]
    assert run_json(session, "@(Get-WebBinding -Name 'Exchange Back End' | ForEach-Object { $_.bindingInformation })") == ["*:81:", "*:444:"]
    assert run_json(session, "@(Get-WebBinding -Port 443 | ForEach-Object { $_.bindingInformation })") == [":443:", "127.0.0.1:443:"]
    assert run_json(session, "@(Get-WebBinding 'Default Web Site' -Protocol http | ForEach-Object { $_.certificateHash })") == ["", ""]
