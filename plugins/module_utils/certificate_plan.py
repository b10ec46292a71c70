# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planning for exchange_certificate: the server's certificate store as read, and what to run.

Pure (no network): the module reads the store once (:data:`READ_SCRIPT`), :func:`store_from_answer` turns the
answer into :class:`StoreEntry` objects whose facts come from the certificate *bytes*
(``[System.Convert]::ToBase64String($_.RawData)``, FACTS §2) - thumbprint, subject, issuer, SANs, expiry.

Through a plain ``Import-PSSession`` Exchange's certificate objects arrive with ``RawData`` only: no
``Thumbprint``, ``Status``, ``Services``, ``FriendlyName`` or ``HasPrivateKey`` (CSS-Exchange
``Shared/CertificateFunctions/ConvertTo-ExchangeCertificate.ps1``; office-docs-powershell #3493, #4651, #5256).
The collection's PowerShell runs on the server itself, so the store read (:data:`STORE_READ`) takes what it needs
from the server's own objects, live in every shell mode:

* the certificates and their private keys and friendly names from ``Cert:\\LocalMachine\\My``;
* pending requests from ``Cert:\\LocalMachine\\REQUEST`` (Certificate Enrollment Requests), where
  ``New-ExchangeCertificate -GenerateRequest`` leaves them until the CA's answer is imported;
* IIS from the certificate of ``Default Web Site``'s https binding (``Get-WebBinding``), SMTP from the transport
  service's ``InternalTransportCertificateThumbprint`` (the default SMTP certificate);
* ``Status`` and ``Services`` as Exchange prints them where they arrive (snap-in, the Exchange Management Shell's
  own loading), added to the above.

The ``plan_*`` functions decide, before anything is written, what to run, and refuse what cannot work with a
message that says why.
"""


from ansible_collections.mailops.exchange.plugins.module_utils import canonical
from ansible_collections.mailops.exchange.plugins.module_utils import certificate_info as ci
from ansible_collections.mailops.exchange.plugins.module_utils.certificate_store_read import STORE_READ
from ansible_collections.mailops.exchange.plugins.module_utils.exchange_objects import (
    CERTIFICATE, CERTIFICATE_SERVICES as SERVICES, certificate_services_list as services_list,
)
from ansible_collections.mailops.exchange.plugins.module_utils.exchange_session import TOLERATED_ERROR
from ansible_collections.mailops.exchange.plugins.module_utils.quoting import SWITCH, ps_command, ps_literal, ps_script
KEY_SIZES = (1024, 2048, 4096)
PENDING = "PendingRequest"


class CertificatePlanError(ValueError):
    """Refused before any write."""


# ------------------------------------------------------------------------------------------------------------
# Reading


# The first read: the store, the server, and the request text of every pending request (Export-ExchangeCertificate
# of a pending request gives its PKCS #10 request); a request that cannot be exported is read as missing.
READ_SCRIPT = """$server = {server}
$srv = Get-ExchangeServer -Identity $server
""" + STORE_READ + """$__store.requests = @($__local | Where-Object { $_.store -eq 'REQUEST' } | ForEach-Object {
    $__request = ''
    try {
        $__export = Export-ExchangeCertificate -Server $server -Thumbprint $_.thumbprint -BinaryEncoded
        $__request = [System.Convert]::ToBase64String($__export.FileData)
    } catch { """ + TOLERATED_ERROR + """ }
    [ordered]@{ thumbprint = $_.thumbprint; request = $__request }
})
$__store.server = [ordered]@{ name = [string]$srv.Name; fqdn = [string]$srv.Fqdn; version = [string]$srv.AdminDisplayVersion }
ConvertTo-Json -Depth 5 -Compress -InputObject $__store
"""


def merge_store(answer, server=None):
    """The records of :class:`StoreEntry` from a :data:`STORE_READ` answer.

    The server's own stores are read only when the session runs on that server; for another server only what
    Exchange returned is known. With ``server`` given, the stores must have been read: CertificatePlanError
    otherwise (the session must be on the server whose certificates the task manages).
    """
    local = answer.get("local")
    if server and local is None:
        raise CertificatePlanError(
            "the certificate stores of server %s cannot be read from computer %s: exchange_certificate reads the "
            "server's own stores, so run it over a session to %s (exchange_host, or the mailops.exchange.exchange "
            "connection of that host)" % (server, answer.get("computer") or "(unknown)", server))
    iis = set(t.strip().upper() for t in canonical.json_list(answer.get("iis")) if t)
    smtp = (answer.get("internal_transport_thumbprint") or "").strip().upper()
    reported = {}
    for record in canonical.json_list(answer.get("exchange")):
        thumb = _record_thumbprint(record)
        if thumb:
            reported[thumb] = record
    if local is None:
        return [dict(thumbprint=thumb, raw=record.get("raw"), status=(record.get("status") or "").strip() or None,
                     services=record.get("services"), friendly_name=None, has_private_key=None, request="")
                for thumb, record in reported.items()]
    requests = dict(((r.get("thumbprint") or "").strip().upper(), r.get("request") or "")
                    for r in canonical.json_list(answer.get("requests")))
    records = []
    for item in canonical.json_list(local):
        thumb = _record_thumbprint(item)
        pending = item.get("store") == "REQUEST"
        exchange = reported.get(thumb, {})
        services = parse_services(exchange.get("services"))
        derived = set()
        if thumb in iis:
            derived.add("IIS")
        if smtp and thumb == smtp:
            derived.add("SMTP")
        records.append(dict(
            thumbprint=thumb, raw=item.get("raw"),
            status=PENDING if pending else ((exchange.get("status") or "").strip() or None),
            services="None" if pending else services_text((services or set()) | derived),
            services_known=list(SERVICES) if (services is not None or pending) else ["IIS", "SMTP"],
            friendly_name=item.get("friendly_name"), has_private_key=item.get("has_private_key"),
            request=requests.get(thumb, "")))
    return records


def _record_thumbprint(record):
    raw = ci.decode_raw_data(record.get("raw")) if record.get("raw") else None
    if raw:
        try:
            return ci.thumbprint(ci.load_certificate(raw))
        except ci.CertificateError:
            pass
    return (record.get("thumbprint") or "").strip().upper()


def parse_services(text):
    """``'IMAP, POP, IIS, SMTP'`` -> ``{'IMAP', 'POP', 'IIS', 'SMTP'}``; ``'None'`` -> empty; ``''``/None -> None (unknown)."""
    if text is None:
        return None
    if isinstance(text, (list, tuple)):
        text = ", ".join(str(t) for t in text)
    text = str(text).strip()
    if text == "":
        return None
    names = set()
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part or part.lower() == "none":
            continue
        canonical = next((s for s in SERVICES if s.lower() == part.lower()), part)
        names.add(canonical)
    return names


def services_text(names):
    """Services in Exchange's order and spelling, comma-joined (``IIS, SMTP``); ``None`` for no service."""
    return CERTIFICATE.by_option["services"].argument(names)


def _by_server_and_thumbprint(server, thumbprint):
    """How a certificate line names the certificate (``exchange_objects.CERTIFICATE``)."""
    return [("Server", server), ("Thumbprint", thumbprint)]


def remove_line(server, thumbprint):
    """``Remove-ExchangeCertificate`` of one certificate or pending request."""
    lines, _after = CERTIFICATE.remove({"thumbprint": thumbprint}, identity=_by_server_and_thumbprint(server, thumbprint))
    return lines[0]


class StoreEntry:
    """One certificate (or pending request) of a server's store, as read."""

    def __init__(self, record):
        raw = ci.decode_raw_data(record.get("raw"))
        self.certificate = ci.load_certificate(raw) if raw else None
        reported = (record.get("thumbprint") or "").strip().upper()
        self.thumbprint = ci.thumbprint(self.certificate) if self.certificate is not None else reported
        self.status = (record.get("status") or "").strip() or None
        self.services = parse_services(record.get("services"))
        # The services whose state was read (all of them when Exchange printed Services; IIS and SMTP, read from
        # the server's objects, when it did not).
        known = record.get("services_known")
        self.services_known = set(known) if known is not None else (set(SERVICES) if self.services is not None
                                                                    else set())
        self.friendly_name = record.get("friendly_name") or None
        self.has_private_key = str(record.get("has_private_key", "")).strip().lower() == "true"
        self.pending = self.status == PENDING
        self.request = None
        if record.get("request"):
            try:
                self.request = ci.load_request(ci.decode_raw_data(record["request"]))
            except ci.CertificateError:
                self.request = None

    @property
    def subject(self):
        source = self.request if self.request is not None else self.certificate
        return ci.windows_name(source.subject) if source is not None else None

    @property
    def domains(self):
        source = self.request if self.request is not None else self.certificate
        return ci.certificate_domains(source) if source is not None else []

    @property
    def public_key(self):
        source = self.request if self.request is not None else self.certificate
        return ci.public_key_der(source) if source is not None else None

    def facts(self, now=None):
        """What the module returns about this entry."""
        facts = ci.describe(self.certificate, now=now) if self.certificate is not None else {"thumbprint": self.thumbprint}
        facts["thumbprint"] = self.thumbprint
        if self.pending:
            # A pending request's bytes are CertEnroll's placeholder; report what was requested.
            facts["subject"] = self.subject
            facts["sans"] = self.domains
        facts["status"] = self.status
        facts["services"] = services_list(self.services)
        facts["friendly_name"] = self.friendly_name
        facts["pending"] = self.pending
        facts["usable"] = self.usable(now)
        return facts

    def usable(self, now=None):
        """Exchange's Status is Valid or - where Exchange does not return Status (plain remote PowerShell) - the
        certificate is installed (not a pending request), with its private key and within its validity."""
        if self.status is not None:
            return self.status == "Valid"
        if self.pending or self.certificate is None or not self.has_private_key:
            return False
        now = now or ci.now_utc()
        return ci.not_before(self.certificate) <= now < ci.not_after(self.certificate)


def store_from_answer(answer, server=None):
    """The store as :class:`StoreEntry` objects, from a :data:`STORE_READ` answer (see :func:`merge_store`)."""
    return [StoreEntry(record) for record in merge_store(answer, server)]


def find(store, thumbprint, pending=None):
    for entry in store:
        if entry.thumbprint == thumbprint and (pending is None or entry.pending == pending):
            return entry
    return None


# ------------------------------------------------------------------------------------------------------------
# Validation of options


def validate_request_options(subject_name, domain_names, key_size, friendly_name):
    """(normalised subject, domains) for ``state=requested``; raises CertificatePlanError."""
    domains = []
    for name in domain_names or []:
        if not isinstance(name, str) or not ci.valid_domain_name(name.strip().rstrip(".")):
            raise CertificatePlanError("domain_names: %r is not a valid DNS name (for example mail.contoso.com)" % (name,))
        name = name.strip().rstrip(".")
        if name.lower() not in [d.lower() for d in domains]:
            domains.append(name)
    if not subject_name:
        if not domains:
            raise CertificatePlanError("state=requested needs subject_name or domain_names")
        subject_name = "CN=" + domains[0]
    try:
        subject = ci.normalise_subject(subject_name)
    except ValueError as error:
        raise CertificatePlanError("subject_name %r is not a valid X.500 name: %s" % (subject_name, error))
    if key_size not in KEY_SIZES:
        raise CertificatePlanError("key_size must be one of %s" % ", ".join(str(k) for k in KEY_SIZES))
    if friendly_name is not None and (len(friendly_name) >= 64 or any(c in friendly_name for c in "\r\n\x00")):
        raise CertificatePlanError("friendly_name must be a single line of less than 64 characters")
    return subject, domains


def validate_services(services):
    names = set()
    for service in services or []:
        match = next((s for s in SERVICES if s.lower() == str(service).strip().lower()), None)
        if match is None:
            raise CertificatePlanError("services: unknown service %r; expected %s" % (service, ", ".join(SERVICES)))
        names.add(match)
    return names


def _subject_cn(subject):
    cn = None
    for key, value in ci.parse_subject(subject):
        if key == "CN":
            cn = value
    return cn


def _with_cn(domains, subject):
    """Exchange always puts the subject's CN among a request's domains: compare with it included."""
    names = list(domains or [])
    cn = _subject_cn(subject)
    if cn and cn.lower() not in [d.lower() for d in names]:
        names.append(cn)
    return names


# ------------------------------------------------------------------------------------------------------------
# Plans


class Plan:
    def __init__(self):
        self.commands = []          # the lines that run
        self.display = []           # the same lines as reported (secrets masked)
        self.target = None          # the StoreEntry the result is about (None if it is created by the plan)
        self.thumbprint = None      # the thumbprint the result is about
        self.warnings = []
        self.outcomes = []          # warnings about what the lines did: said once they ran (or in check mode)

    def add(self, line, display=None):
        self.commands.append(line)
        self.display.append(display if display is not None else line)

    def extend(self, lines):
        for line in lines:
            self.add(line)

    @property
    def changed(self):
        return bool(self.commands)


def plan_requested(store, server, subject, domains, key_size, friendly_name, exportable, now=None):
    """Reuse a pending request with the same subject, names and key size, accept an installed certificate for
    them, or make a new request."""
    result = Plan()
    for entry in store:
        if entry.pending and _for(entry, subject, domains) \
                and (entry.request is None or ci.key_size(entry.request) == key_size):
            result.target = entry
            result.thumbprint = entry.thumbprint
            return result
    installed = installed_for(store, subject, domains, now)
    if installed is not None:
        result.target = installed
        result.thumbprint = installed.thumbprint
        return result
    line, _after = CERTIFICATE.create([("Server", server), ("GenerateRequest", SWITCH)], {
        "subject_name": subject, "domain_names": domains, "friendly_name": friendly_name, "key_size": key_size,
        "private_key_exportable": exportable})
    result.add(line)
    return result


def pending_for(store, certificate):
    """The pending request whose key the CA's certificate certifies, or None."""
    key = ci.public_key_der(certificate)
    for entry in store:
        if entry.pending and entry.public_key == key:
            return entry
    return None


def plan_import_answer(store, server, data, friendly_name, now=None):
    """Complete a pending request with the CA's answer (``data``: PEM, DER or PKCS #7 bytes)."""
    result = Plan()
    try:
        certificate = ci.load_certificate(data)
    except ci.CertificateError as error:
        raise CertificatePlanError("the CA's certificate cannot be read: %s" % error)
    ci.check_validity(certificate, now)
    result.thumbprint = ci.thumbprint(certificate)
    installed = find(store, result.thumbprint, pending=False)
    if installed is not None:
        result.target = installed
        return result, certificate
    answered = pending_for(store, certificate)
    if answered is None:
        completed, why = installed_instead(store, certificate, now)
        if completed is not None:
            # Two runs at once on one server: the request this answer is for was completed by the other run (each
            # had the CA answer it: two certificates for one key) or superseded and removed by it (it completed its
            # own request for the same names). The answer can never be imported - its request's key is gone - and
            # what it was for is installed: that certificate is the one to use.
            result.target = completed
            result.thumbprint = completed.thumbprint
            result.warnings.append(
                "the CA's certificate %s answers no pending request on server %s, but certificate %s %s is installed "
                "(another run completed a request meanwhile); it is used instead"
                % (ci.thumbprint(certificate), server, completed.thumbprint, why))
            return result, certificate
        pending = [e for e in store if e.pending]
        raise CertificatePlanError(
            "the CA's certificate %s (%s) does not answer any pending request on server %s: its public key matches "
            "none of the %d pending request(s)%s. Complete it on the server where the request was made (state=requested)"
            % (result.thumbprint, ci.windows_name(certificate.subject), server, len(pending),
               (" (" + "; ".join("%s %s" % (e.thumbprint, e.subject) for e in pending) + ")") if pending else ""))
    line, _after = CERTIFICATE.create([("Server", server), ("FileData", bytes(data))],
                                      {"friendly_name": friendly_name}, verb="Import")
    result.add(line)
    # Two runs that request at once on one server (issue 16) each make a request for the same names; the CA answers
    # one. Once it is completed, the others are superseded: removed in the same round, so none stays pending. Only
    # the run that imports removes them (a run that finds the certificate installed plans nothing), and only
    # requests for exactly the subject and names of the one answered.
    for entry in superseded_requests(store, answered):
        result.add(remove_line(server, entry.thumbprint))
        result.outcomes.append("pending request %s on server %s asks for the same subject and names as the one the "
                               "CA answered (%s): another run requested it meanwhile; it is superseded and removed"
                               % (entry.thumbprint, server, answered.thumbprint))
    return result, certificate


def _for(entry, subject, domains):
    """``entry`` is for exactly ``subject`` and ``domains`` (the subject's CN counted among the names)."""
    return ((entry.subject or "").casefold() == subject.casefold()
            and ci.same_domains(_with_cn(entry.domains, subject), _with_cn(domains, subject)))


def installed_for(store, subject, domains, now=None):
    """An installed, CA-issued certificate with its private key, within its validity, for exactly ``subject`` and
    ``domains``, or None: what a request for them is for."""
    now = now or ci.now_utc()
    for entry in store:
        if (not entry.pending and entry.certificate is not None and entry.has_private_key
                and _for(entry, subject, domains)
                and not ci.is_self_signed(entry.certificate) and ci.not_after(entry.certificate) > now):
            return entry
    return None


def installed_instead(store, certificate, now=None):
    """(entry, why) of an installed certificate that does what ``certificate`` (a CA's answer) was for: one with its
    key, else one :func:`installed_for` its subject and names; (None, None) when there is none."""
    key = ci.public_key_der(certificate)
    for entry in store:
        if not entry.pending and entry.certificate is not None and entry.has_private_key and entry.public_key == key:
            return entry, "with the same key"
    entry = installed_for(store, ci.windows_name(certificate.subject), ci.certificate_domains(certificate), now)
    return (entry, "for the same subject and names") if entry is not None else (None, None)


def superseded_requests(store, answered):
    """The other pending requests of the store for exactly the subject and names of ``answered``."""
    subject = (answered.subject or "").casefold()
    return [entry for entry in store
            if entry.pending and entry is not answered and entry.thumbprint
            and (entry.subject or "").casefold() == subject
            and ci.same_domains(_with_cn(entry.domains, answered.subject or ""),
                                _with_cn(answered.domains, answered.subject or ""))]


_PFX_IMPORT = ("Import-ExchangeCertificate -Server {server} -FileData {data} "
               "-Password (ConvertTo-SecureString {password} -AsPlainText -Force)")


def plan_import_pfx(store, server, data, password, friendly_name, exportable, now=None, source="the PFX"):
    """Import a PFX (already opened on the controller with ``password`` to prove it is right)."""
    result = Plan()
    try:
        content = ci.load_pfx(data, password)
    except ci.CertificateError as error:
        raise CertificatePlanError("%s: %s" % (source, error))
    certificate = content.certificate
    ci.check_validity(certificate, now)
    result.thumbprint = ci.thumbprint(certificate)
    installed = find(store, result.thumbprint, pending=False)
    if installed is not None:
        result.target = installed
        return result, certificate
    line = ps_script(_PFX_IMPORT, server=server, data=bytes(data), password=password or "")
    shown = ("Import-ExchangeCertificate -Server " + ps_literal(server)
             + " -FileData ([System.Convert]::FromBase64String(" + ps_literal("<%s, %d bytes>" % (source, len(data)))
             + ")) -Password (ConvertTo-SecureString '********' -AsPlainText -Force)")
    extra = {}
    if friendly_name is not None:
        extra["FriendlyName"] = friendly_name
    if exportable is not None:
        extra["PrivateKeyExportable"] = bool(exportable)
    if extra:
        tail = ps_command("Import-ExchangeCertificate", extra)[len("Import-ExchangeCertificate"):]
        line += tail
        shown += tail
    result.add(line, shown)
    return result, certificate


def default_smtp_holder(store, thumbprint, internal_transport_thumbprint):
    """The certificate that is the server's default SMTP certificate, if it is another one; None if not (or unknown).

    Exchange's ``InternalTransportCertificateThumbprint`` says it directly; without it (not read), any other
    certificate enabled for SMTP is taken as the default (Exchange always has one once any is enabled for SMTP).
    Returns ``(thumbprint or None, known)``.
    """
    holder = (internal_transport_thumbprint or "").strip().upper()
    if holder:
        return (holder if holder != thumbprint else None), True
    for entry in store:
        if entry.thumbprint != thumbprint and entry.services and "SMTP" in entry.services:
            return entry.thumbprint, True
    unknown = any(entry.services is None or "SMTP" not in entry.services_known
                  for entry in store if entry.thumbprint != thumbprint)
    return None, not unknown


def plan_services(plan, store, server, thumbprint, current, wanted, replace_default_smtp, internal_transport_thumbprint,
                  known=None):
    """Add ``Enable-ExchangeCertificate`` for the services in ``wanted`` that ``current`` lacks.

    ``known`` is the set of services whose state could be read (default: all when ``current`` is a set, none when
    it is None). A wanted service whose state is unknown is enabled again (Enable-ExchangeCertificate is additive,
    so this is safe) and a warning says why the run reports a change.
    """
    if not wanted:
        return
    if known is None:
        known = set(SERVICES) if current is not None else set()
    current = set(current or ())
    missing = set(CERTIFICATE.by_option["services"].missing(services_list(wanted), services_list(current)))
    unknown = missing - set(known)
    if unknown:
        plan.warnings.append("the state of service(s) %s of certificate %s could not be read on server %s (Exchange "
                             "returned no Services through remote PowerShell); enabling them again"
                             % (services_text(unknown), thumbprint, server))
    if not missing:
        return
    switches = []
    if "SMTP" in missing:
        holder, holder_known = default_smtp_holder(store, thumbprint, internal_transport_thumbprint)
        if holder is not None or not holder_known:
            if not replace_default_smtp:
                which = ("certificate %s" % holder) if holder else "another certificate (it could not be read which)"
                raise CertificatePlanError(
                    "enabling certificate %s for SMTP on server %s would replace the default SMTP certificate, "
                    "%s: Exchange then asks 'Overwrite the existing default SMTP certificate?', a prompt that "
                    "fails when nobody can answer it. Set replace_default_smtp=true to answer yes (the procedure "
                    "says to click Yes; the module adds -Force), or leave SMTP out of services"
                    % (thumbprint, server, which))
            switches.append(("Force", SWITCH))
    # The services the engine writes are the missing ones - the wanted services whose state is unknown included
    # (current holds only what was read).
    lines, _after = CERTIFICATE.update({"thumbprint": thumbprint, "services": services_list(current)},
                                       {"services": services_list(wanted)}, verb="Enable", switches=switches,
                                       identity=_by_server_and_thumbprint(server, thumbprint))
    plan.extend(lines)


def plan_absent(store, server, thumbprint, internal_transport_thumbprint):
    result = Plan()
    result.thumbprint = thumbprint
    entry = find(store, thumbprint)
    if entry is None:
        return result
    result.target = entry
    if (internal_transport_thumbprint or "").strip().upper() == thumbprint:
        raise CertificatePlanError(
            "certificate %s is the internal transport (default SMTP) certificate of server %s; Exchange refuses to "
            "remove it. Enable another certificate for SMTP (replace_default_smtp=true) first" % (thumbprint, server))
    result.add(remove_line(server, thumbprint))
    return result


# The write rounds: run the lines (in the session's query envelope, which reports a failure of any of them), then
# read the store back in the same round trip. ``New-ExchangeCertificate -GenerateRequest`` writes the request text:
# the first template keeps it.
REQUEST_AND_READ_SCRIPT = """$server = {server}
$__request = & ([scriptblock]::Create({command}))
""" + STORE_READ + """$__store.request = [string]$__request
ConvertTo-Json -Depth 5 -Compress -InputObject $__store
"""

RUN_AND_READ_SCRIPT = """$server = {server}
foreach ($__line in {commands}) {
    & ([scriptblock]::Create($__line)) | Out-Null
}
""" + STORE_READ + """ConvertTo-Json -Depth 5 -Compress -InputObject $__store
"""
