"""certificate_plan: the store as read and the plans, with real certificates made here."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from ansible_collections.mailops.exchange.plugins.module_utils import certificate_info as ci
from ansible_collections.mailops.exchange.plugins.module_utils import certificate_plan as cp
from ansible_collections.mailops.exchange.plugins.module_utils.quoting import ps_script

NOW = dt.datetime.now(dt.timezone.utc)


def _key(size=2048):
    return rsa.generate_private_key(public_exponent=65537, key_size=size)


def _name(*pairs):
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs])


def self_signed(subject, sans, key=None, days=1825, start=None):
    key = key or _key()
    start = start or NOW - dt.timedelta(days=1)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(start)
               .not_valid_after(start + dt.timedelta(days=days)))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]), critical=False)
    return builder.sign(key, hashes.SHA256()), key


class Lab:
    """A CA plus a server store made of real certificates; :meth:`answer` is shaped like READ_SCRIPT's answer.

    ``plain`` answers as a plain Import-PSSession gives Exchange's certificates: RawData only (no Thumbprint,
    Status, Services); the server's own stores (My, REQUEST, the IIS binding) are read either way.
    """

    def __init__(self):
        self.ca_key = _key()
        self.ca_name = _name((NameOID.COMMON_NAME, "Exchange Lab Root CA"))
        self.ca, _unused = self_signed(self.ca_name, [], key=self.ca_key, days=3650)
        self.records = []
        self.iis = set()  # thumbprints of the certificate in Default Web Site's https binding
        self.plain = False
        self.default, _unused = self_signed(_name((NameOID.COMMON_NAME, "EX01")), ["EX01", "ex01.corp.contoso.com"])
        self.add(self.default, "Valid", "IMAP, POP, IIS, SMTP", "Microsoft Exchange")
        self.pending_keys = {}

    def add(self, cert, status, services, friendly, request=None, has_key=True):
        if "IIS" in services:
            self.iis = {ci.thumbprint(cert)}
        self.records.append({
            "thumbprint": ci.thumbprint(cert),
            "raw": base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode(),
            "status": status, "services": services, "friendly_name": friendly,
            "has_private_key": "True" if has_key else "False",
            "request": base64.b64encode(request.public_bytes(serialization.Encoding.DER)).decode() if request else "",
        })

    def request(self, subject, sans, key_size=2048):
        key = _key(key_size)
        builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]), critical=False)
        csr = builder.sign(key, hashes.SHA256())
        dummy, _unused = self_signed(subject, sans, key=key, days=365)
        self.add(dummy, "PendingRequest", "None", "Contoso mail", request=csr)
        return csr, key, dummy

    def sign(self, csr, days=365, start=None):
        start = start or NOW - dt.timedelta(minutes=5)
        builder = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(self.ca_name)
                   .public_key(csr.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days)))
        try:
            builder = builder.add_extension(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value,
                                            critical=False)
        except x509.ExtensionNotFound:
            pass
        return builder.sign(self.ca_key, hashes.SHA256())

    def answer(self, internal=""):
        exchange = [{"raw": r["raw"]} if self.plain else
                    {"raw": r["raw"], "thumbprint": r["thumbprint"], "status": r["status"], "services": r["services"]}
                    for r in self.records]
        local = [{"store": "REQUEST" if r["status"] == "PendingRequest" else "My", "thumbprint": r["thumbprint"],
                  "raw": r["raw"], "friendly_name": r["friendly_name"], "has_private_key": r["has_private_key"]}
                 for r in self.records]
        return {"server": {"name": "EX01", "fqdn": "ex01.corp.contoso.com", "version": "Version 15.2 (Build 1118.7)"},
                "computer": "EX01", "exchange": exchange, "local": local, "iis": sorted(self.iis),
                "internal_transport_thumbprint": internal,
                "requests": [{"thumbprint": r["thumbprint"], "request": r["request"]} for r in self.records
                             if r["status"] == "PendingRequest"]}

    def store(self, internal=""):
        return cp.store_from_answer(self.answer(internal), "EX01")


MAIL = _name((NameOID.COUNTRY_NAME, "US"), (NameOID.ORGANIZATION_NAME, "Contoso"),
             (NameOID.COMMON_NAME, "mail.contoso.com"))
NAMES = ["mail.contoso.com", "owa.contoso.com", "autodiscover.contoso.com"]


@pytest.fixture()
def lab():
    return Lab()


# --- reading ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, names", [
    ("IMAP, POP, IIS, SMTP", {"IMAP", "POP", "IIS", "SMTP"}),
    ("None", set()),
    ("iis,smtp", {"IIS", "SMTP"}),
    ("", None),
    (None, None),
    (["IIS", "SMTP"], {"IIS", "SMTP"}),
])
def test_parse_services(text, names):
    assert cp.parse_services(text) == names


def test_services_text_order():
    assert cp.services_text({"SMTP", "IIS", "POP"}) == "POP, IIS, SMTP"
    assert cp.services_text(set()) == "None"


def test_store_entry_facts_come_from_the_bytes(lab):
    lab.records[0]["thumbprint"] = "WRONG"  # what Exchange printed does not matter: the bytes decide
    entry = lab.store()[0]
    assert entry.thumbprint == ci.thumbprint(lab.default)
    facts = entry.facts()
    assert facts["subject"] == "CN=EX01" and facts["sans"] == ["EX01", "ex01.corp.contoso.com"]
    assert facts["services"] == ["IMAP", "POP", "IIS", "SMTP"] and facts["status"] == "Valid"
    assert facts["tls_certificate_name"] == "<I>CN=EX01<S>CN=EX01"


def test_pending_entry_reports_the_request(lab):
    csr, _unused, dummy = lab.request(MAIL, NAMES)
    entry = lab.store()[1]
    assert entry.pending and entry.thumbprint == ci.thumbprint(dummy)
    assert entry.subject == "CN=mail.contoso.com, O=Contoso, C=US"
    assert entry.domains == NAMES
    assert entry.public_key == ci.public_key_der(csr)


def test_services_not_printed_by_exchange_are_read_from_iis_and_the_default_smtp_certificate(lab):
    lab.records[0]["services"] = ""
    entry = lab.store(internal=ci.thumbprint(lab.default))[0]
    assert entry.services == {"IIS", "SMTP"} and entry.services_known == {"IIS", "SMTP"}
    assert lab.store()[0].facts()["services"] == ["IIS"]


def test_plain_session_store_comes_from_the_server_stores(lab):
    """RawData only from Exchange (plain Import-PSSession): thumbprints from the bytes, pending requests from the
    REQUEST store, private keys and friendly names from My, IIS and SMTP from the server's objects."""
    csr, _unused, dummy = lab.request(MAIL, NAMES)
    lab.plain = True
    default, pending = lab.store(internal=ci.thumbprint(lab.default))
    assert default.thumbprint == ci.thumbprint(lab.default) and default.status is None
    assert default.services == {"IIS", "SMTP"} and default.has_private_key
    assert default.friendly_name == "Microsoft Exchange"
    assert pending.pending and pending.thumbprint == ci.thumbprint(dummy) and pending.services == set()
    assert pending.public_key == ci.public_key_der(csr)


def test_the_stores_of_another_computer_are_refused(lab):
    answer = lab.answer()
    answer["local"], answer["computer"] = None, "EX02"
    with pytest.raises(cp.CertificatePlanError, match="cannot be read from computer EX02"):
        cp.store_from_answer(answer, "EX01")
    assert [e.thumbprint for e in cp.store_from_answer(answer)] == [ci.thumbprint(lab.default)]


# --- requested --------------------------------------------------------------------------------------------------


def test_requested_new(lab):
    subject, domains = cp.validate_request_options("C=US, O=Contoso, CN=mail.contoso.com", NAMES, 2048, "Contoso mail")
    plan = cp.plan_requested(lab.store(), "EX01", subject, domains, 2048, "Contoso mail", True)
    assert plan.commands == [
        "New-ExchangeCertificate -Server 'EX01' -GenerateRequest -SubjectName 'C=US, O=Contoso, CN=mail.contoso.com' "
        "-DomainName @('mail.contoso.com', 'owa.contoso.com', 'autodiscover.contoso.com') -FriendlyName 'Contoso mail' "
        "-KeySize 2048 -PrivateKeyExportable:$true"]
    assert plan.target is None


def test_requested_reuses_pending_with_same_subject_and_names(lab):
    csr, _unused, dummy = lab.request(_name((NameOID.COMMON_NAME, "mail.contoso.com"), (NameOID.ORGANIZATION_NAME, "Contoso"),
                                      (NameOID.COUNTRY_NAME, "US")), NAMES)
    subject, domains = cp.validate_request_options("c=US, o=Contoso, cn=mail.contoso.com",
                                                   list(reversed(NAMES)), 2048, None)
    plan = cp.plan_requested(lab.store(), "EX01", subject, domains, 2048, None, None)
    assert plan.commands == [] and plan.thumbprint == ci.thumbprint(dummy)
    assert plan.target.request.public_bytes(serialization.Encoding.DER) == csr.public_bytes(serialization.Encoding.DER)


def test_requested_cn_counts_as_a_name(lab):
    lab.request(_name((NameOID.COMMON_NAME, "mail.contoso.com")), ["owa.contoso.com", "mail.contoso.com"])
    subject, domains = cp.validate_request_options("CN=mail.contoso.com", ["owa.contoso.com"], 2048, None)
    assert cp.plan_requested(lab.store(), "EX01", subject, domains, 2048, None, None).commands == []


@pytest.mark.parametrize("subject, names, key_size", [
    ("CN=mail.contoso.com", NAMES, 2048),                         # other subject
    ("C=US, O=Contoso, CN=mail.contoso.com", NAMES[:2], 2048),   # fewer names
    ("C=US, O=Contoso, CN=mail.contoso.com", NAMES, 4096),       # other key size
])
def test_requested_does_not_reuse_a_different_request(lab, subject, names, key_size):
    lab.request(_name((NameOID.COMMON_NAME, "mail.contoso.com"), (NameOID.ORGANIZATION_NAME, "Contoso"),
                      (NameOID.COUNTRY_NAME, "US")), NAMES)
    normalised, domains = cp.validate_request_options(subject, names, key_size, None)
    assert len(cp.plan_requested(lab.store(), "EX01", normalised, domains, key_size, None, None).commands) == 1


def test_requested_satisfied_by_an_installed_certificate(lab):
    csr, key, _unused = lab.request(_name((NameOID.COMMON_NAME, "mail.contoso.com")), NAMES)
    signed = lab.sign(csr)
    lab.records.pop()  # the request was completed
    lab.add(signed, "Valid", "IIS, SMTP", "Contoso mail")
    subject, domains = cp.validate_request_options(None, NAMES, 2048, None)
    plan = cp.plan_requested(lab.store(), "EX01", subject, domains, 2048, None, None)
    assert plan.commands == [] and plan.thumbprint == ci.thumbprint(signed) and not plan.target.pending


@pytest.mark.parametrize("subject, names, size, friendly, message", [
    (None, [], 2048, None, "needs subject_name or domain_names"),
    (None, ["mail contoso"], 2048, None, "not a valid DNS name"),
    ("mail.contoso.com", NAMES, 2048, None, "not a valid X.500 name"),
    ("CN=a", NAMES, 3072, None, "key_size"),
    ("CN=a", NAMES, 2048, "x" * 64, "friendly_name"),
])
def test_request_option_refusals(subject, names, size, friendly, message):
    with pytest.raises(cp.CertificatePlanError, match=message):
        cp.validate_request_options(subject, names, size, friendly)


# --- present ----------------------------------------------------------------------------------------------------


def test_import_answer_matches_pending_key(lab):
    csr, _unused, _unused2 = lab.request(MAIL, NAMES)
    signed = lab.sign(csr)
    pem = signed.public_bytes(serialization.Encoding.PEM)
    plan, cert = cp.plan_import_answer(lab.store(), "EX01", pem, None)
    assert plan.thumbprint == ci.thumbprint(signed) and plan.target is None
    assert plan.commands[0].startswith("Import-ExchangeCertificate -Server 'EX01' -FileData ([System.Convert]::FromBase64String('")
    assert base64.b64encode(pem).decode() in plan.commands[0]


def test_import_answer_removes_the_requests_it_supersedes(lab):
    # Two runs requested at once on one server: the CA answered one; the other request must not stay pending.
    csr, _unused, _unused2 = lab.request(MAIL, NAMES)
    _twin_csr, _unused, twin = lab.request(MAIL, list(reversed(NAMES)))
    _other_csr, _unused, other = lab.request(MAIL, NAMES[:2])  # other names: not superseded
    plan, _unused = cp.plan_import_answer(lab.store(), "EX01", lab.sign(csr).public_bytes(serialization.Encoding.PEM), None)
    assert plan.commands[0].startswith("Import-ExchangeCertificate ")
    assert plan.commands[1:] == ["Remove-ExchangeCertificate -Server 'EX01' -Thumbprint '%s' -Confirm:$false"
                                 % ci.thumbprint(twin)]
    assert ci.thumbprint(other) not in " ".join(plan.commands)
    assert len(plan.outcomes) == 1 and "another run requested it meanwhile" in plan.outcomes[0]


def test_import_answer_already_installed_sends_nothing(lab):
    csr, _unused, _unused2 = lab.request(MAIL, NAMES)
    signed = lab.sign(csr)
    lab.records.pop()
    lab.add(signed, "Valid", "None", "")
    plan, _unused = cp.plan_import_answer(lab.store(), "EX01", signed.public_bytes(serialization.Encoding.DER), None)
    assert plan.commands == [] and plan.target.thumbprint == ci.thumbprint(signed)


def test_an_answer_to_a_request_already_completed_uses_the_certificate_installed_for_its_key(lab):
    # Two runs found the same request pending and each had the CA answer it: two certificates for one key. The first
    # completed the request; the second answer can never be imported (its key's request is gone) - the run converges
    # on the certificate installed for that key instead of failing.
    csr, _unused, _unused2 = lab.request(MAIL, NAMES)
    first, second = lab.sign(csr), lab.sign(csr)
    lab.records.pop()
    lab.add(first, "Valid", "None", "")
    plan, _unused = cp.plan_import_answer(lab.store(), "EX01", second.public_bytes(serialization.Encoding.PEM), None)
    assert plan.commands == [] and plan.target.thumbprint == plan.thumbprint == ci.thumbprint(first)
    assert plan.warnings == ["the CA's certificate %s answers no pending request on server EX01, but certificate %s "
                             "with the same key is installed (another run completed a request meanwhile); it is used "
                             "instead" % (ci.thumbprint(second), ci.thumbprint(first))]


def test_an_answer_to_a_superseded_request_uses_the_certificate_installed_for_its_names(lab):
    # The other run completed its own request for the same names and removed this one as superseded.
    csr, _unused, _unused2 = lab.request(MAIL, NAMES)
    mine, _unused, _unused2 = lab.request(MAIL, NAMES)
    installed = lab.sign(csr)
    lab.records = [r for r in lab.records if r["status"] != "PendingRequest"]
    lab.add(installed, "Valid", "IIS, SMTP", "")
    plan, _unused = cp.plan_import_answer(lab.store(), "EX01", lab.sign(mine).public_bytes(serialization.Encoding.PEM),
                                          None)
    assert plan.commands == [] and plan.target.thumbprint == ci.thumbprint(installed)
    assert "for the same subject and names is installed" in plan.warnings[0]
    # Another subject or other names: nothing does what the answer was for - refused, as before.
    stranger, _unused, _unused2 = lab.request(MAIL, NAMES[:2])
    lab.records = [r for r in lab.records if r["status"] != "PendingRequest"]
    with pytest.raises(cp.CertificatePlanError, match="does not answer any pending request"):
        cp.plan_import_answer(lab.store(), "EX01", lab.sign(stranger).public_bytes(serialization.Encoding.PEM), None)


def test_import_answer_refusals(lab):
    csr, _unused, _unused2 = lab.request(MAIL, NAMES)
    other_key = _key()
    stranger = (x509.CertificateBuilder().subject_name(MAIL).issuer_name(lab.ca_name).public_key(other_key.public_key())
                .serial_number(7).not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=9))
                .sign(lab.ca_key, hashes.SHA256()))
    with pytest.raises(cp.CertificatePlanError, match="does not answer any pending request.*1 pending"):
        cp.plan_import_answer(lab.store(), "EX01", stranger.public_bytes(serialization.Encoding.PEM), None)
    expired = lab.sign(csr, days=10, start=NOW - dt.timedelta(days=30))
    with pytest.raises(ci.CertificateError, match="expired"):
        cp.plan_import_answer(lab.store(), "EX01", expired.public_bytes(serialization.Encoding.PEM), None)
    with pytest.raises(cp.CertificatePlanError, match="cannot be read"):
        cp.plan_import_answer(lab.store(), "EX01", b"not a certificate", None)


def test_import_pfx_masks_secrets_in_display(lab):
    cert, key = self_signed(MAIL, NAMES)
    pfx = pkcs12.serialize_key_and_certificates(b"x", key, cert, None, serialization.BestAvailableEncryption(b"P@ss'w0rd"))
    plan, _unused = cp.plan_import_pfx(lab.store(), "EX01", pfx, "P@ss'w0rd", "Contoso", True, source="/tmp/mail.pfx")
    assert "ConvertTo-SecureString 'P@ss''w0rd' -AsPlainText -Force" in plan.commands[0]
    assert plan.commands[0].endswith("-FriendlyName 'Contoso' -PrivateKeyExportable:$true")
    assert "P@ss" not in plan.display[0] and base64.b64encode(pfx).decode()[:40] not in plan.display[0]
    assert "'</tmp/mail.pfx, %d bytes>'" % len(pfx) in plan.display[0]
    with pytest.raises(cp.CertificatePlanError, match="wrong password"):
        cp.plan_import_pfx(lab.store(), "EX01", pfx, "nope", None, None)


def test_services_smtp_needs_replace_default(lab):
    csr, _unused, _unused2 = lab.request(MAIL, NAMES)
    signed = lab.sign(csr)
    thumb = ci.thumbprint(signed)
    store = lab.store()
    plan = cp.Plan()
    with pytest.raises(cp.CertificatePlanError, match="Overwrite the existing default SMTP certificate.*replace_default_smtp=true"):
        cp.plan_services(plan, store, "EX01", thumb, set(), {"IIS", "SMTP"}, False, "")
    cp.plan_services(plan, store, "EX01", thumb, set(), {"IIS", "SMTP"}, True, "")
    assert plan.commands == ["Enable-ExchangeCertificate -Server 'EX01' -Thumbprint '%s' -Services 'IIS, SMTP' -Force" % thumb]


def test_services_iis_only_needs_no_force(lab):
    plan = cp.Plan()
    cp.plan_services(plan, lab.store(), "EX01", "A" * 40, {"SMTP"}, {"IIS", "SMTP"}, False, "")
    assert plan.commands == ["Enable-ExchangeCertificate -Server 'EX01' -Thumbprint '%s' -Services 'IIS'" % ("A" * 40)]


def test_services_smtp_when_already_default(lab):
    thumb = ci.thumbprint(lab.default)
    plan = cp.Plan()
    cp.plan_services(plan, lab.store(), "EX01", "B" * 40, set(), {"SMTP"}, False, "B" * 40)  # it is the default
    assert plan.commands == ["Enable-ExchangeCertificate -Server 'EX01' -Thumbprint '%s' -Services 'SMTP'" % ("B" * 40)]
    holder, known = cp.default_smtp_holder(lab.store(), "C" * 40, "")
    assert holder == thumb and known


def test_services_unknown_everywhere(lab):
    """Only Exchange's list, without Services (another computer's stores cannot be read): nothing is known."""
    lab.records[0]["services"] = ""
    store = cp.store_from_answer(dict(lab.answer(), local=None))
    holder, known = cp.default_smtp_holder(store, "C" * 40, "")
    assert holder is None and not known
    plan = cp.Plan()
    with pytest.raises(cp.CertificatePlanError, match="it could not be read which"):
        cp.plan_services(plan, store, "EX01", "C" * 40, None, {"SMTP"}, False, "")
    cp.plan_services(plan, store, "EX01", "C" * 40, None, {"IIS"}, False, "")
    assert plan.warnings and "no Services" in plan.warnings[0]


def test_services_nothing_missing(lab):
    plan = cp.Plan()
    cp.plan_services(plan, lab.store(), "EX01", "A" * 40, {"IIS", "SMTP", "POP"}, {"IIS", "SMTP"}, False, "")
    assert plan.commands == []


def test_validate_services():
    assert cp.validate_services(["iis", "SMTP"]) == {"IIS", "SMTP"}
    with pytest.raises(cp.CertificatePlanError, match="unknown service"):
        cp.validate_services(["HTTP"])


# --- absent -----------------------------------------------------------------------------------------------------


def test_absent(lab):
    csr, _unused, dummy = lab.request(MAIL, NAMES)
    thumb = ci.thumbprint(dummy)
    plan = cp.plan_absent(lab.store(), "EX01", thumb, "")
    assert plan.commands == ["Remove-ExchangeCertificate -Server 'EX01' -Thumbprint '%s' -Confirm:$false" % thumb]
    assert cp.plan_absent(lab.store(), "EX01", "F" * 40, "").commands == []
    default = ci.thumbprint(lab.default)
    with pytest.raises(cp.CertificatePlanError, match="internal transport"):
        cp.plan_absent(lab.store(), "EX01", default, default)


def test_scripts_render():
    for template, values in ((cp.READ_SCRIPT, {"server": "EX01"}),
                             (cp.REQUEST_AND_READ_SCRIPT, {"server": "EX01", "command": "New-ExchangeCertificate -X"}),
                             (cp.RUN_AND_READ_SCRIPT, {"server": "EX01", "commands": ["A-B", "C-D"]})):
        script = ps_script(template, **values)
        assert "$server = 'EX01'" in script
    assert "foreach ($__line in @('A-B', 'C-D'))" in ps_script(cp.RUN_AND_READ_SCRIPT, server="x", commands=["A-B", "C-D"])


def test_usable_without_exchanges_status_means_installed_with_key_and_current(lab):
    """Through a plain Import-PSSession Status does not arrive: usable is decided from the stores and the bytes."""
    lab.request(MAIL, NAMES)
    expired, _unused = self_signed(MAIL, NAMES, days=10, start=NOW - dt.timedelta(days=30))
    lab.add(expired, "DateInvalid", "None", "Old")
    keyless, _unused = self_signed(MAIL, NAMES)
    lab.add(keyless, "Valid", "None", "Without key", has_key=False)
    lab.plain = True
    assert [e.facts()["usable"] for e in lab.store()] == [True, False, False, False]
    lab.plain = False
    assert [e.facts()["usable"] for e in lab.store()] == [True, False, False, True]
