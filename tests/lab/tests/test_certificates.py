"""The lab's Exchange certificates: seeding, requests, completion, PFX import, services, removal, export.

The cmdlets run through the parameter contract (``exchange-cmdlets.json`` binding and conversion) exactly as the
interpreter invokes them, against a real seeded organisation; certificates are checked with ``cryptography``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from exchange_lab.ca import LabCA
from exchange_lab.commands import Argument
from exchange_lab.errors import PSError
from exchange_lab.exchange import certificates as C
from exchange_lab.exchange import x509util as xu
from exchange_lab.exchange.organization import Organization
from exchange_lab.faults import Faults
from exchange_lab.psvalues import PSObject, SecureString


class Context(SimpleNamespace):
    """The CommandContext the interpreter gives a command (what these cmdlets use of it)."""

    def write_warning(self, message: str) -> None:
        self.warnings.append(message)

    def write_error(self, error: PSError) -> None:
        self.errors.append(error)

    def write_host(self, text: str) -> None:
        self.host.append(text)


class Lab:
    def __init__(self, state_dir, version: str, servers=("EX01", "EX02")):
        self.org = Organization.open(state_dir, version=version, servers=list(servers), domain="corp.contoso.com")
        self.ca = LabCA(state_dir)
        lab = SimpleNamespace(ca=self.ca, faults=Faults(state_dir), org=self.org)
        self.ctx = Context(lab=lab, server="EX01", user="CORP\\Administrator", exchange_loaded=True, exchange_mode="snapin",
                           error_action="Stop", warnings=[], errors=[], host=[])

    def run(self, cmdlet: str, *positional, server: str = "EX01", pipeline: list | None = None, **params):
        """Run a cmdlet as ``Cmdlet -Name value -Switch -Flag:$false positional``; keyword True is a bare switch."""
        command = self.org.exchange_commands(server)[cmdlet]
        args: list[Argument] = []
        for name, value in params.items():
            spec = command.params.get(name)
            switch = spec.is_switch if spec is not None else name in ("WhatIf", "Confirm", "Verbose")
            if switch and value is True:
                args.append(Argument(name))
            elif switch or isinstance(value, bool):
                args.append(Argument(name, value, colon=True))
            else:
                args.append(Argument(name))
                args.append(Argument(None, value))
        args.extend(Argument(None, value) for value in positional)
        self.ctx.server = server
        return command.invoke(self.ctx, args, pipeline)

    def store(self, server: str = "EX01") -> list[dict]:
        return self.org.server(server)["certificates"]


@pytest.fixture
def lab(tmp_path):
    return Lab(tmp_path, "2019")


@pytest.fixture
def lab2013(tmp_path):
    return Lab(tmp_path / "ex2013", "2013", servers=("EX01",))


REQUEST = dict(
    GenerateRequest=True,
    SubjectName="C=US, O=Contoso, CN=mail.contoso.com",
    DomainName=["mail.contoso.com", "autodiscover.contoso.com", "owa.contoso.com"],
    FriendlyName="Contoso 2026",
)


def request_csr(lab: Lab, **extra) -> tuple[str, x509.CertificateSigningRequest]:
    [text] = lab.run("New-ExchangeCertificate", **{**REQUEST, **extra})
    return text, x509.load_pem_x509_csr(text.encode("ascii"))


def sans(cert) -> list[str]:
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)


def sha1_upper(cert: x509.Certificate) -> str:
    return hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()


# --------------------------------------------------------------------------------------------------------------
# Seeding


def test_fresh_server_has_the_three_default_certificates(lab):
    objects = lab.run("Get-ExchangeCertificate")
    by_name = {o.get("FriendlyName"): o for o in objects}
    assert list(by_name) == ["Microsoft Exchange", "Microsoft Exchange Server Auth Certificate", "WMSVC-SHA2"]

    default = by_name["Microsoft Exchange"]
    assert default.get("Subject") == "CN=EX01" and default.get("Issuer") == "CN=EX01"
    assert default.get("Services").to_string() == "IMAP, POP, IIS, SMTP" and default.get("Services").value == 27
    assert [d.to_string() for d in default.get("CertificateDomains")] == ["EX01", "ex01.corp.contoso.com"]
    assert default.get("Status").to_string() == "Valid" and default.get("IsSelfSigned") is True
    assert default.get("HasPrivateKey") is True and default.get("PrivateKeyExportable") is False
    assert default.get("PublicKeySize") == 2048
    assert default.get("Identity") == "ex01.corp.contoso.com\\" + default.get("Thumbprint")

    cert = x509.load_der_x509_certificate(default.get("RawData"))
    assert default.get("Thumbprint") == sha1_upper(cert)
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    assert sans(cert) == ["EX01", "ex01.corp.contoso.com"]
    years = (cert.not_valid_after_utc - cert.not_valid_before_utc).days / 365.25
    assert 4.99 < years < 5.01

    auth = by_name["Microsoft Exchange Server Auth Certificate"]
    assert auth.get("Subject") == "CN=Microsoft Exchange Server Auth Certificate"
    assert auth.get("Services").to_string() == "SMTP" and auth.get("CertificateDomains") == []
    wmsvc = by_name["WMSVC-SHA2"]
    # IIS names its certificate after the computer (CN=WMSvc-SHA2-MOS-MAIL on a real Exchange server).
    assert wmsvc.get("Subject") == "CN=WMSvc-SHA2-EX01" == wmsvc.get("Issuer")
    assert wmsvc.get("Services").to_string() == "None"

    # The auth certificate is one per organisation; the server certificates are per server.
    ex02 = {o.get("FriendlyName"): o for o in lab.run("Get-ExchangeCertificate", Server="EX02")}
    assert ex02["Microsoft Exchange Server Auth Certificate"].get("Thumbprint") == auth.get("Thumbprint")
    assert ex02["Microsoft Exchange"].get("Thumbprint") != default.get("Thumbprint")
    assert ex02["Microsoft Exchange"].get("Subject") == "CN=EX02"

    # The listeners' view: IIS and the default SMTP certificate are the self-signed one.
    pem, key_pem = C.enabled_certificate(lab.org, "EX01", "IIS")
    assert sha1_upper(x509.load_pem_x509_certificate(pem)) == default.get("Thumbprint")
    key = serialization.load_pem_private_key(key_pem, None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()
    assert C.enabled_certificate(lab.org, "EX01", "SMTP")[0] == pem
    assert C.tls_certificate_name(lab.store()[0]) == "<I>CN=EX01<S>CN=EX01"


def test_2013_wmsvc_certificate_name(lab2013):
    names = [o.get("Subject") for o in lab2013.run("Get-ExchangeCertificate")]
    assert names == ["CN=EX01", "CN=Microsoft Exchange Server Auth Certificate", "CN=WMSvc-EX01"]


def test_seeding_is_idempotent(lab):
    before = [r["thumbprint"] for r in lab.store()]
    C.seed_certificates(lab.org, "EX01")
    assert [r["thumbprint"] for r in lab.store()] == before


# --------------------------------------------------------------------------------------------------------------
# Requests and completion


def test_generate_request_returns_a_real_pkcs10_with_subject_and_sans(lab):
    text, csr = request_csr(lab, PrivateKeyExportable=True, KeySize=2048)
    assert text.startswith("-----BEGIN NEW CERTIFICATE REQUEST-----\r\n")
    assert text.endswith("-----END NEW CERTIFICATE REQUEST-----\r\n")
    assert all(len(line) <= 64 for line in text.split("\r\n"))
    assert csr.is_signature_valid
    # .NET encodes the written order reversed: the request's subject reads back as written.
    assert [a.oid for a in csr.subject] == [NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME, NameOID.COUNTRY_NAME]
    assert xu.windows_name(csr.subject) == "C=US, O=Contoso, CN=mail.contoso.com"
    assert sans(csr) == ["mail.contoso.com", "autodiscover.contoso.com", "owa.contoso.com"]
    assert csr.public_key().key_size == 2048

    [pending] = [o for o in lab.run("Get-ExchangeCertificate") if o.get("Status").to_string() == "PendingRequest"]
    assert pending.get("FriendlyName") == "Contoso 2026"
    assert pending.get("Subject") == "C=US, O=Contoso, CN=mail.contoso.com"
    assert [d.to_string() for d in pending.get("CertificateDomains")] == ["mail.contoso.com", "autodiscover.contoso.com", "owa.contoso.com"]
    assert pending.get("Services").to_string() == "None"
    # Export-ExchangeCertificate of a pending request gives the request again.
    assert lab.run("Export-ExchangeCertificate", pending.get("Thumbprint")) == [text]


def test_subject_cn_is_added_to_the_domains_and_default_domains_are_the_server_names(lab):
    _, csr = request_csr(lab, DomainName=["autodiscover.contoso.com"])
    assert sans(csr) == ["autodiscover.contoso.com", "mail.contoso.com"]
    _, csr = request_csr(lab, DomainName=None, SubjectName="CN=mail.contoso.com")
    assert sans(csr) == ["EX01", "ex01.corp.contoso.com", "mail.contoso.com"]


def test_binary_encoded_request_returns_file_data(lab):
    [result] = lab.run("New-ExchangeCertificate", **REQUEST, BinaryEncoded=True)
    assert isinstance(result, PSObject) and result.type_name.endswith("BinaryFileDataObject")
    csr = x509.load_der_x509_csr(result.get("FileData"))
    assert csr.subject.rfc4514_string() == "C=US,O=Contoso,CN=mail.contoso.com"


def test_import_completes_the_pending_request(lab):
    _, csr = request_csr(lab, PrivateKeyExportable=True)
    issued = lab.ca.sign_csr(csr, days=365)
    [obj] = lab.run("Import-ExchangeCertificate", FileData=issued.public_bytes(serialization.Encoding.DER))

    assert obj.get("Thumbprint") == sha1_upper(issued)
    assert obj.get("Status").to_string() == "Valid"
    assert obj.get("Subject") == "C=US, O=Contoso, CN=mail.contoso.com"
    # The lab CA's name is encoded CN, O; Windows prints the RDNs last to first (the RFC 4514 order).
    assert obj.get("Issuer") == "O=Exchange Lab, CN=Exchange Lab Root CA"
    assert obj.get("Issuer").replace(", ", ",") == issued.issuer.rfc4514_string()
    assert [d.to_string() for d in obj.get("CertificateDomains")] == ["mail.contoso.com", "autodiscover.contoso.com", "owa.contoso.com"]
    assert obj.get("HasPrivateKey") is True and obj.get("PrivateKeyExportable") is True
    assert obj.get("FriendlyName") == "Contoso 2026" and obj.get("IsSelfSigned") is False
    assert obj.get("Services").to_string() == "None"
    assert obj.get("NotAfter").datetime == issued.not_valid_after_utc.replace(microsecond=0)
    assert obj.get("NotAfter").json_value() == f"/Date({int(issued.not_valid_after_utc.timestamp()) * 1000})/"
    # The request is gone; the certificate is there once.
    statuses = [o.get("Status").to_string() for o in lab.run("Get-ExchangeCertificate")]
    assert "PendingRequest" not in statuses and len(statuses) == 4
    # Get by thumbprint (any case) and by SERVER\THUMBPRINT identity.
    assert lab.run("Get-ExchangeCertificate", obj.get("Thumbprint").lower())[0].get("Thumbprint") == obj.get("Thumbprint")
    assert lab.run("Get-ExchangeCertificate", Identity="EX01\\" + obj.get("Thumbprint"))[0].get("FriendlyName") == "Contoso 2026"
    assert C.tls_certificate_name(C.find_certificate(lab.org, "EX01", obj.get("Thumbprint"))) == \
        "<I>O=Exchange Lab, CN=Exchange Lab Root CA<S>C=US, O=Contoso, CN=mail.contoso.com"


@pytest.mark.parametrize("form", ["pem", "pkcs7-der", "pkcs7-pem", "utf16-pem"])
def test_import_accepts_the_ca_answer_in_its_usual_forms(lab, form):
    _, csr = request_csr(lab)
    issued = lab.ca.sign_csr(csr)
    chain = [issued, lab.ca.certificate]
    data = {
        "pem": issued.public_bytes(serialization.Encoding.PEM),
        "pkcs7-der": pkcs7.serialize_certificates(chain, serialization.Encoding.DER),
        "pkcs7-pem": pkcs7.serialize_certificates(chain, serialization.Encoding.PEM),
        "utf16-pem": b"\xff\xfe" + issued.public_bytes(serialization.Encoding.PEM).decode().encode("utf-16-le"),
    }[form]
    [obj] = lab.run("Import-ExchangeCertificate", FileData=data)
    assert obj.get("Thumbprint") == sha1_upper(issued)
    assert obj.get("HasPrivateKey") is True and obj.get("Status").to_string() == "Valid"


def test_import_of_garbage_and_of_a_duplicate_fail(lab):
    with pytest.raises(PSError, match="Cannot find the requested object"):
        lab.run("Import-ExchangeCertificate", FileData=b"not a certificate at all")
    _, csr = request_csr(lab)
    der = lab.ca.sign_csr(csr).public_bytes(serialization.Encoding.DER)
    lab.run("Import-ExchangeCertificate", FileData=der)
    with pytest.raises(PSError, match=r"already exists in the certificate store") as error:
        lab.run("Import-ExchangeCertificate", FileData=der)
    assert error.value.exception_type.endswith("DuplicateObjectException")


# --------------------------------------------------------------------------------------------------------------
# PFX


def make_pfx(lab: Lab, password: str, names=("mail.fabrikam.com", "autodiscover.fabrikam.com")) -> tuple[bytes, x509.Certificate]:
    cert, key = lab.ca.issue(list(names), days=365)
    return xu.make_pfx(cert, key, password, "Fabrikam", [lab.ca.certificate]), cert


def test_pfx_import_with_the_right_password(lab):
    pfx, cert = make_pfx(lab, "P@ssw0rd!")
    [obj] = lab.run("Import-ExchangeCertificate", FileData=pfx, Password=SecureString("P@ssw0rd!"), PrivateKeyExportable=True)
    assert obj.get("Thumbprint") == sha1_upper(cert)
    assert obj.get("HasPrivateKey") is True and obj.get("PrivateKeyExportable") is True
    assert obj.get("FriendlyName") == "Fabrikam"
    assert [d.to_string() for d in obj.get("CertificateDomains")] == ["mail.fabrikam.com", "autodiscover.fabrikam.com"]
    assert obj.get("Status").to_string() == "Valid"


def test_pfx_import_with_a_wrong_or_missing_password_fails(lab):
    pfx, _ = make_pfx(lab, "right")
    with pytest.raises(PSError, match="The specified network password is not correct") as error:
        lab.run("Import-ExchangeCertificate", FileData=pfx, Password=SecureString("wrong"))
    assert error.value.message.startswith("A special Rpc error occurs on server EX01: ")
    with pytest.raises(PSError, match="The specified network password is not correct"):
        lab.run("Import-ExchangeCertificate", FileData=pfx)
    assert len(lab.store()) == 3


def test_export_needs_an_exportable_key_and_round_trips_to_another_server(lab):
    default = lab.store()[0]["thumbprint"]
    with pytest.raises(PSError, match="The private key couldn't be exported as PKCS-12"):
        lab.run("Export-ExchangeCertificate", default, BinaryEncoded=True, Password=SecureString("x"))

    pfx, cert = make_pfx(lab, "pw")
    lab.run("Import-ExchangeCertificate", FileData=pfx, Password=SecureString("pw"), PrivateKeyExportable=True)
    [exported] = lab.run("Export-ExchangeCertificate", sha1_upper(cert), BinaryEncoded=True, Password=SecureString("other"))
    [obj] = lab.run("Import-ExchangeCertificate", server="EX02", FileData=exported.get("FileData"), Password=SecureString("other"))
    assert obj.get("Identity") == "ex02.corp.contoso.com\\" + sha1_upper(cert)
    assert obj.get("PrivateKeyExportable") is False  # the default on import


# --------------------------------------------------------------------------------------------------------------
# Services


def completed(lab: Lab) -> str:
    _, csr = request_csr(lab)
    [obj] = lab.run("Import-ExchangeCertificate", FileData=lab.ca.sign_csr(csr).public_bytes(serialization.Encoding.DER))
    return obj.get("Thumbprint")


def test_enable_smtp_without_force_fails_on_the_prompt_and_changes_nothing(lab):
    thumb = completed(lab)
    old = lab.store()[0]["thumbprint"]
    with pytest.raises(PSError) as error:
        lab.run("Enable-ExchangeCertificate", thumb, Services="SMTP,IIS")
    assert "does not support user interaction" in error.value.message
    assert "Overwrite the existing default SMTP certificate?" in error.value.message
    assert f"Current certificate: '{old}'" in error.value.message
    assert f"Replace it with certificate: '{thumb}'" in error.value.message
    assert error.value.exception_type == "System.Management.Automation.Host.HostException"
    assert lab.run("Get-ExchangeCertificate", thumb)[0].get("Services").to_string() == "None"
    assert sha1_upper(x509.load_pem_x509_certificate(C.enabled_certificate(lab.org, "EX01", "SMTP")[0])) == old


def test_enable_smtp_and_iis_with_force(lab):
    thumb = completed(lab)
    old = lab.store()[0]["thumbprint"]
    assert lab.run("Enable-ExchangeCertificate", Thumbprint=thumb, Services="SMTP,IIS", Force=True) == []
    new = lab.run("Get-ExchangeCertificate", thumb)[0]
    assert new.get("Services").to_string() == "IIS, SMTP"
    # IIS moved (one binding per site); SMTP stays on the old certificate but it is no longer the default.
    assert lab.run("Get-ExchangeCertificate", old)[0].get("Services").to_string() == "IMAP, POP, SMTP"
    for service in ("IIS", "SMTP"):
        pem, _ = C.enabled_certificate(lab.org, "EX01", service)
        assert sha1_upper(x509.load_pem_x509_certificate(pem)) == thumb
    # Services are additive.
    lab.run("Enable-ExchangeCertificate", thumb, Services="IMAP,POP")
    assert lab.run("Get-ExchangeCertificate", thumb)[0].get("Services").to_string() == "IMAP, POP, IIS, SMTP"
    # The old default certificate can be removed now.
    lab.run("Remove-ExchangeCertificate", old, Confirm=False)
    assert C.find_certificate(lab.org, "EX01", old) is None


def test_the_transport_service_names_the_default_smtp_certificate(lab):
    """Get-TransportService's InternalTransportCertificateThumbprint: setup's certificate, then the one enabled for
    SMTP with -Force (the answer yes to the overwrite prompt)."""
    old = lab.store()[0]["thumbprint"]
    assert lab.run("Get-TransportService", "EX01")[0].get("InternalTransportCertificateThumbprint") == old
    thumb = completed(lab)
    lab.run("Enable-ExchangeCertificate", Thumbprint=thumb, Services="IIS", Force=True)
    assert lab.run("Get-TransportService", "EX01")[0].get("InternalTransportCertificateThumbprint") == old
    lab.run("Enable-ExchangeCertificate", Thumbprint=thumb, Services="SMTP", Force=True)
    assert lab.run("Get-TransportService", "EX01")[0].get("InternalTransportCertificateThumbprint") == thumb
    assert lab.run("Get-FrontendTransportService", "EX01")[0].get("InternalTransportCertificateThumbprint") is None


def test_enable_iis_only_needs_no_prompt_and_pipeline_input_works(lab):
    thumb = completed(lab)
    [obj] = lab.run("Get-ExchangeCertificate", thumb)
    lab.run("Enable-ExchangeCertificate", Services="IIS", pipeline=[obj])
    assert sha1_upper(x509.load_pem_x509_certificate(C.enabled_certificate(lab.org, "EX01", "IIS")[0])) == thumb
    assert C.enabled_certificate(lab.org, "EX01", "SMTP")[0] != C.enabled_certificate(lab.org, "EX01", "IIS")[0]


def test_enable_a_pending_request_or_with_an_unknown_service_fails(lab):
    request_csr(lab)
    pending = next(r for r in lab.store() if r["pending"])["thumbprint"]
    with pytest.raises(PSError, match="pending certificate request"):
        lab.run("Enable-ExchangeCertificate", pending, Services="IIS")
    with pytest.raises(PSError, match=r"Cannot bind parameter 'Services'.*FOO"):
        lab.run("Enable-ExchangeCertificate", pending, Services="IIS,FOO")
    with pytest.raises(PSError, match="was not found"):
        lab.run("Enable-ExchangeCertificate", "00" * 20, Services="IIS")


def test_new_self_signed_certificate_asks_before_replacing_the_default_smtp_certificate(lab):
    with pytest.raises(PSError, match="Overwrite the existing default SMTP certificate"):
        lab.run("New-ExchangeCertificate", SubjectName="CN=ex01.corp.contoso.com", DomainName="ex01.corp.contoso.com")
    assert len(lab.store()) == 3
    [obj] = lab.run("New-ExchangeCertificate", SubjectName="CN=ex01.corp.contoso.com", DomainName="ex01.corp.contoso.com", Force=True)
    assert obj.get("Services").to_string() == "IMAP, POP, SMTP" and obj.get("IsSelfSigned") is True
    [obj] = lab.run("New-ExchangeCertificate", SubjectName="CN=web.contoso.com", Services="IIS", FriendlyName="Web")
    assert obj.get("Services").to_string() == "IIS" and obj.get("FriendlyName") == "Web"


# --------------------------------------------------------------------------------------------------------------
# Refusals and removal


@pytest.mark.parametrize("size", [512, 3072, 8192])
def test_key_size_must_be_1024_2048_or_4096(lab, size):
    with pytest.raises(PSError, match="The key size must be 1024, 2048, or 4096 bits"):
        lab.run("New-ExchangeCertificate", **REQUEST, KeySize=size)
    assert len(lab.store()) == 3


def test_key_size_1024_is_accepted(lab):
    _, csr = request_csr(lab, KeySize=1024)
    assert csr.public_key().key_size == 1024


def test_invalid_subject_name_is_a_binding_error(lab):
    with pytest.raises(PSError, match="invalid X500 name attribute key") as error:
        lab.run("New-ExchangeCertificate", GenerateRequest=True, SubjectName="XX=foo, CN=mail.contoso.com")
    assert error.value.error_id.startswith("ParameterArgumentTransformationError")


def test_request_file_is_refused_on_2019_and_accepted_on_2013(lab, lab2013):
    with pytest.raises(PSError, match="A parameter cannot be found that matches parameter name 'RequestFile'"):
        lab.run("New-ExchangeCertificate", **REQUEST, RequestFile="C:\\req\\mail.req")
    assert len(lab.store()) == 3
    [text] = lab2013.run("New-ExchangeCertificate", **REQUEST, RequestFile="C:\\req\\mail.req")
    assert text.startswith("-----BEGIN NEW CERTIFICATE REQUEST-----")
    assert next(r for r in lab2013.store() if r["pending"])["request_file"] == "C:\\req\\mail.req"


def test_import_file_name_is_refused_on_2019(lab):
    with pytest.raises(PSError, match="A parameter cannot be found that matches parameter name 'FileName'"):
        lab.run("Import-ExchangeCertificate", FileName="C:\\certs\\mail.pfx")


def test_import_file_name_on_2013_reads_the_server_path(lab2013, tmp_path):
    pfx, cert = make_pfx(lab2013, "pw")
    path = tmp_path / "mail.pfx"
    path.write_bytes(pfx)
    [obj] = lab2013.run("Import-ExchangeCertificate", FileName=str(path), Password=SecureString("pw"))
    assert obj.get("Thumbprint") == sha1_upper(cert)
    with pytest.raises(PSError, match=r"Could not find file 'C:\\nowhere\\x.pfx'"):
        lab2013.run("Import-ExchangeCertificate", FileName="C:\\nowhere\\x.pfx")


def test_remove_asks_for_confirmation_and_protects_the_internal_transport_certificate(lab):
    pfx, cert = make_pfx(lab, "pw")
    lab.run("Import-ExchangeCertificate", FileData=pfx, Password=SecureString("pw"))
    thumb = sha1_upper(cert)
    with pytest.raises(PSError, match="does not support user interaction") as error:
        lab.run("Remove-ExchangeCertificate", thumb)
    assert "Remove certificate with thumbprint" in error.value.message
    assert C.find_certificate(lab.org, "EX01", thumb) is not None
    lab.run("Remove-ExchangeCertificate", thumb, WhatIf=True)
    assert C.find_certificate(lab.org, "EX01", thumb) is not None
    lab.run("Remove-ExchangeCertificate", Identity=f"EX01\\{thumb}", Confirm=False)
    assert C.find_certificate(lab.org, "EX01", thumb) is None
    with pytest.raises(PSError, match="was not found"):
        lab.run("Remove-ExchangeCertificate", thumb, Confirm=False)

    default = lab.store()[0]["thumbprint"]
    with pytest.raises(PSError, match="The internal transport certificate cannot be removed"):
        lab.run("Remove-ExchangeCertificate", default, Confirm=False)


def test_remove_a_pending_request(lab):
    request_csr(lab)
    pending = next(r for r in lab.store() if r["pending"])["thumbprint"]
    lab.run("Remove-ExchangeCertificate", pending, Confirm=False)
    assert not any(r["pending"] for r in lab.store())


def test_removing_the_iis_certificate_leaves_iis_without_one(lab):
    thumb = completed(lab)
    lab.run("Enable-ExchangeCertificate", thumb, Services="IIS")
    lab.run("Remove-ExchangeCertificate", thumb, Confirm=False)
    assert C.enabled_certificate(lab.org, "EX01", "IIS") is None


def test_get_filters_by_domain_name_including_wildcards(lab):
    pfx, cert = make_pfx(lab, "pw", names=("*.contoso.com",))
    lab.run("Import-ExchangeCertificate", FileData=pfx, Password=SecureString("pw"))
    found = lab.run("Get-ExchangeCertificate", DomainName="owa.contoso.com")
    assert [o.get("Thumbprint") for o in found] == [sha1_upper(cert)]
    assert [o.get("Subject") for o in lab.run("Get-ExchangeCertificate", DomainName="ex01.corp.contoso.com")] == ["CN=EX01"]


def test_state_survives_reopening(lab, tmp_path):
    thumb = completed(lab)
    lab.run("Enable-ExchangeCertificate", thumb, Services="IIS,SMTP", Force=True)
    reopened = Organization.open(tmp_path)
    pem, key = C.enabled_certificate(reopened, "EX01", "SMTP")
    assert sha1_upper(x509.load_pem_x509_certificate(pem)) == thumb


# --------------------------------------------------------------------------------------------------------------
# Pure helpers


@pytest.mark.parametrize(
    "written, shown",
    [
        ("c=US,o=Woodgrove Bank,cn=mail.woodgrovebank.com", "C=US, O=Woodgrove Bank, CN=mail.woodgrovebank.com"),
        ("CN=mail.contoso.com, OU=IT, O=Contoso, L=Redmond, S=WA, C=US", "CN=mail.contoso.com, OU=IT, O=Contoso, L=Redmond, S=WA, C=US"),
        ('C=US, O="Contoso, Inc.", CN=mail.contoso.com', 'C=US, O="Contoso, Inc.", CN=mail.contoso.com'),
        ("ST=WA; CN=x.contoso.com", "S=WA, CN=x.contoso.com"),
    ],
)
def test_x500_names_read_back_as_windows_prints_them(written, shown):
    name = xu.parse_x500(written)
    assert xu.windows_name(name) == shown
    assert xu.windows_name(name) == ", ".join(part for part in [xu.windows_name(x509.Name([rdn])) for rdn in reversed(name.rdns)])


@pytest.mark.parametrize("bad", ["", "CN", "XX=1", "C=USA, CN=x", 'O="unterminated, CN=x'])
def test_invalid_x500_names(bad):
    with pytest.raises(xu.X500Error):
        xu.parse_x500(bad)


def test_datetime_value():
    value = xu.ps_datetime(dt.datetime(2031, 11, 22, 13, 5, 9, tzinfo=dt.timezone.utc))
    assert value.to_string() == "11/22/2031 1:05:09 PM"
    assert value.methods["ToString"]("yyyy-MM-ddTHH:mm:ss") == "2031-11-22T13:05:09"
    assert value.methods["ToString"]("o") == "2031-11-22T13:05:09.0000000+00:00"  # Kind Local, server in UTC
    assert value.json_value() == "/Date(1953119109000)/"
    assert value.methods["ToUniversalTime"]().methods["ToString"]("o") == "2031-11-22T13:05:09.0000000Z"


def test_serial_number_form():
    assert xu.serial_hex(0x7F) == "7F"
    assert xu.serial_hex(0x80) == "0080"


# --------------------------------------------------------------------------------------------------------------
# Chains, trust, renewal, connector certificates


def _ca(name: str, key=None, issuer=None, issuer_key=None, days=365, not_before=None):
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = not_before or dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(issuer.subject if issuer else subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(issuer_key or key, hashes.SHA256())
    )
    return cert, key


def _leaf(csr_or_names, issuer, issuer_key, days=365, not_before=None):
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = None
    if isinstance(csr_or_names, x509.CertificateSigningRequest):
        subject, public, names = csr_or_names.subject, csr_or_names.public_key(), sans(csr_or_names)
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject, public, names = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, csr_or_names[0])]), key.public_key(), csr_or_names
    start = not_before or dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(issuer.subject).public_key(public)
        .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )
    return cert, key


def test_a_chain_through_an_intermediate_is_valid_and_served_without_the_root(lab):
    intermediate, intermediate_key = _ca("Lab Issuing CA", issuer=lab.ca.certificate, issuer_key=lab.ca.key)
    _, csr = request_csr(lab)
    leaf, _ = _leaf(csr, intermediate, intermediate_key)
    p7b = pkcs7.serialize_certificates([lab.ca.certificate, intermediate, leaf], serialization.Encoding.DER)
    [obj] = lab.run("Import-ExchangeCertificate", FileData=p7b)
    assert obj.get("Thumbprint") == sha1_upper(leaf) and obj.get("Status").to_string() == "Valid"
    assert obj.get("Issuer") == "CN=Lab Issuing CA"
    lab.run("Enable-ExchangeCertificate", obj.get("Thumbprint"), Services="IIS")
    pem, _ = C.enabled_certificate(lab.org, "EX01", "IIS")
    served = x509.load_pem_x509_certificates(pem)
    assert [sha1_upper(c) for c in served] == [sha1_upper(leaf), sha1_upper(intermediate)]


def test_status_untrusted_and_date_invalid(lab):
    foreign, foreign_key = _ca("Somebody Else's CA")
    leaf, key = _leaf(["mail.contoso.com"], foreign, foreign_key)
    [obj] = lab.run("Import-ExchangeCertificate", FileData=xu.make_pfx(leaf, key, "pw", None), Password=SecureString("pw"))
    assert obj.get("Status").to_string() == "Untrusted" and obj.get("Status").value == 4

    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=800)
    expired, key = _leaf(["old.contoso.com"], lab.ca.certificate, lab.ca.key, days=365, not_before=old)
    [obj] = lab.run("Import-ExchangeCertificate", FileData=xu.make_pfx(expired, key, "pw", None), Password=SecureString("pw"))
    assert obj.get("Status").to_string() == "DateInvalid"
    with pytest.raises(PSError, match="has expired or isn't valid yet"):
        lab.run("Enable-ExchangeCertificate", obj.get("Thumbprint"), Services="IIS")


def test_renewal_request_from_the_pipeline_keeps_subject_and_domains(lab):
    [default] = lab.run("Get-ExchangeCertificate", lab.store()[0]["thumbprint"])
    [text] = lab.run("New-ExchangeCertificate", GenerateRequest=True, pipeline=[default])
    csr = x509.load_pem_x509_csr(text.encode())
    assert xu.windows_name(csr.subject) == "CN=EX01" and sans(csr) == ["EX01", "ex01.corp.contoso.com"]
    # A renewed self-signed certificate takes the old one's services, so it asks before replacing the SMTP default.
    with pytest.raises(PSError, match="Overwrite the existing default SMTP certificate"):
        lab.run("New-ExchangeCertificate", pipeline=[default])
    [renewed] = lab.run("New-ExchangeCertificate", Force=True, pipeline=[default])
    assert renewed.get("Services").to_string() == "IMAP, POP, IIS, SMTP"
    assert lab.run("Get-ExchangeCertificate", default.get("Thumbprint"))[0].get("Services").to_string() == "IMAP, POP, SMTP"


def test_connector_certificate_selection(lab):
    thumb = completed(lab)  # mail.contoso.com, autodiscover.contoso.com, owa.contoso.com
    default_pem = C.enabled_certificate(lab.org, "EX01", "SMTP")[0]
    # Not enabled for SMTP yet: the connector FQDN does not select it.
    assert C.connector_certificate(lab.org, "EX01", fqdn="mail.contoso.com")[0] == default_pem
    lab.run("Enable-ExchangeCertificate", thumb, Services="SMTP", Force=True)
    pem, _ = C.connector_certificate(lab.org, "EX01", fqdn="mail.contoso.com")
    assert sha1_upper(x509.load_pem_x509_certificate(pem)) == thumb
    name = C.tls_certificate_name(C.find_certificate(lab.org, "EX01", thumb))
    pem, _ = C.connector_certificate(lab.org, "EX01", tls_certificate_name_value=name)
    assert sha1_upper(x509.load_pem_x509_certificate(pem)) == thumb
    pem, _ = C.connector_certificate(lab.org, "EX01", tls_certificate_name_value="<I>CN=EX01<S>CN=EX01")
    assert sha1_upper(x509.load_pem_x509_certificate(pem)) == lab.store()[0]["thumbprint"]


def test_a_certificate_named_by_a_send_connector_cannot_be_removed(lab):
    pfx, cert = make_pfx(lab, "pw")
    lab.run("Import-ExchangeCertificate", FileData=pfx, Password=SecureString("pw"))
    name = C.tls_certificate_name(C.find_certificate(lab.org, "EX01", sha1_upper(cert)))
    lab.run("New-SendConnector", Name="To Internet", Usage="Internet", AddressSpaces="*", SourceTransportServers="EX01",
            TlsCertificateName=name)
    with pytest.raises(PSError, match="These certificates are tagged with following Send Connectors : To Internet"):
        lab.run("Remove-ExchangeCertificate", sha1_upper(cert), Confirm=False)
    # The same certificate on a server that is no source of the connector can go.
    lab.run("Import-ExchangeCertificate", server="EX02", FileData=pfx, Password=SecureString("pw"))
    lab.run("Remove-ExchangeCertificate", sha1_upper(cert), server="EX02", Server="EX02", Confirm=False)
    assert C.find_certificate(lab.org, "EX02", sha1_upper(cert)) is None


# --------------------------------------------------------------------------------------------------------------
# The whole path: pywinrm -> WinRM endpoint -> PowerShell interpreter -> contract -> these cmdlets


def _host_ready() -> bool:
    try:
        from exchange_lab.powershell.host import start_process  # noqa: F401
    except Exception:  # noqa: BLE001 - the interpreter host is another engineer's module
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not _host_ready(), reason="exchange_lab.powershell.host is not importable yet")
def test_request_complete_and_enable_over_winrm(lab_process):
    import json

    import winrm

    endpoints = lab_process(servers=("EX01",))
    session = winrm.Session(endpoints["servers"]["EX01"]["http"], auth=(endpoints["username"], endpoints["password"]), transport="ntlm")
    snapin = "Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn\n"

    result = session.run_ps(
        snapin
        + "$req = New-ExchangeCertificate -GenerateRequest -SubjectName 'C=US, O=Contoso, CN=mail.contoso.com' "
        "-DomainName 'mail.contoso.com','autodiscover.contoso.com' -FriendlyName 'Contoso' -PrivateKeyExportable $true\n"
        "Write-Output $req\n"
    )
    assert result.status_code == 0, result.std_err
    csr = x509.load_pem_x509_csr(result.std_out)
    assert sans(csr) == ["mail.contoso.com", "autodiscover.contoso.com"]

    ca = LabCA(endpoints["process"].state_dir)
    issued = ca.sign_csr(csr)
    data = base64.b64encode(issued.public_bytes(serialization.Encoding.DER)).decode()
    script = (
        snapin
        + f"$cert = Import-ExchangeCertificate -FileData ([System.Convert]::FromBase64String('{data}'))\n"
        "Enable-ExchangeCertificate -Thumbprint $cert.Thumbprint -Services 'IIS,SMTP' -Force\n"
        "$c = Get-ExchangeCertificate -Thumbprint $cert.Thumbprint\n"
        "@{Thumbprint = $c.Thumbprint; Status = $c.Status.ToString(); Services = $c.Services.ToString(); Subject = $c.Subject} | ConvertTo-Json\n"
    )
    result = session.run_ps(script)
    assert result.status_code == 0, result.std_err
    got = json.loads(result.std_out)
    assert got == {"Thumbprint": sha1_upper(issued), "Status": "Valid", "Services": "IIS, SMTP",
                   "Subject": "C=US, O=Contoso, CN=mail.contoso.com"}

    # Without -Force the default SMTP prompt fails: the error reaches the client on stderr.
    result = session.run_ps(snapin + f"Enable-ExchangeCertificate -Thumbprint {lab_first_thumbprint(endpoints)} -Services SMTP\n")
    assert result.status_code != 0
    assert b"Overwrite the existing default SMTP certificate?" in result.std_err


def lab_first_thumbprint(endpoints) -> str:
    org = Organization.open(endpoints["process"].state_dir)
    return org.server("EX01")["certificates"][0]["thumbprint"]


def test_a_plain_string_password_is_refused_as_powershell_does(lab):
    pfx, _ = make_pfx(lab, "pw")
    with pytest.raises(PSError, match=r"Cannot bind parameter 'Password'. Cannot convert the \"pw\" value of type \"System.String\" "
                                      r"to type \"System.Security.SecureString\""):
        lab.run("Import-ExchangeCertificate", FileData=pfx, Password="pw")
