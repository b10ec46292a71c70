#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r'''
---
module: exchange_certificate
short_description: Request, complete, import, enable and remove Exchange server certificates
version_added: "0.1.0"
description:
  - Step 6 of Microsoft's "Configure mail flow and client access" - an SSL certificate from a certification
    authority - in its two phases, plus PFX import and removal.
  - O(state=requested) makes a certificate request on the server (C(New-ExchangeCertificate -GenerateRequest)),
    writes it to O(csr_path) on the controller (mode 0600) and returns it as PEM. A re-run reuses the pending request
    with the same subject, names and key size instead of making a new one, and makes none when a CA-issued
    certificate with a private key for the same subject and names is already installed and not expired.
  - O(state=present) completes the pending request with the CA's answer (O(certificate_path) or
    O(certificate_content), PEM, DER or PKCS 7) or imports a PFX (O(pfx_path), O(pfx_password)), then enables
    it for O(services). The thumbprint is computed on the controller with C(cryptography), so a re-run that finds the
    certificate installed sends nothing. Completing a request also removes the other pending requests on the server
    for exactly the same subject and names - what a second run requesting at the same time leaves - with a warning.
  - O(state=absent) removes the certificate (or pending request) with O(thumbprint).
  - Everything is checked before the first write - files readable, the CA's answer matches a pending request's
    key, the certificate is not expired, the PFX opens with O(pfx_password), the default SMTP certificate question
    is answered - and one read round plus at most one batch of commands is sent.
  - Certificate facts (thumbprint, subject, issuer, names, expiry) are computed from the certificate bytes
    (C(RawData)) on the controller, not from the properties Exchange's remote PowerShell returns, which can be
    incomplete. Pending requests, private keys, friendly names and the IIS and SMTP services are read from the
    server's own objects (see notes).
author:
  - mailops.exchange developers (!UNKNOWN)
extends_documentation_fragment:
  - mailops.exchange.connection
  - mailops.exchange.attributes
options:
  server:
    description:
      - The Exchange server whose certificate store is managed, for example C(EX01).
    type: str
    required: true
  state:
    description:
      - C(requested) - a certificate request on the server; C(present) - the certificate installed (and enabled for
        O(services)); C(absent) - no certificate or request with O(thumbprint).
    type: str
    choices: [requested, present, absent]
    default: present
  subject_name:
    description:
      - The request's subject as an X.500 name, for example C(C=US, O=Contoso, CN=mail.contoso.com).
      - Defaults to C(CN=) plus the first of O(domain_names).
      - Compared with pending requests as Windows prints it (keys normalised, order kept).
    type: str
  domain_names:
    description:
      - The DNS names (subject alternative names) of the request, for example C(mail.contoso.com),
        C(owa.contoso.com), C(autodiscover.contoso.com). Exchange always adds the subject's CN.
      - Required with O(state=requested) unless O(subject_name) is given.
    type: list
    elements: str
  friendly_name:
    description: Friendly name of the request or imported certificate (less than 64 characters).
    type: str
  key_size:
    description: RSA key size of the request.
    type: int
    choices: [1024, 2048, 4096]
    default: 2048
  private_key_exportable:
    description:
      - Whether the private key can be exported later (to install the certificate on other servers).
      - Used when making a request and when importing a PFX; omitted leaves Exchange's default (not exportable).
    type: bool
  csr_path:
    description:
      - With O(state=requested), a file on the controller to write the request to (PEM), mode 0600; written when
        missing or different. The request is also returned as RV(csr).
      - Its directory must exist and be writable; this is checked before the request is made on the server.
    type: path
  ca_command:
    description:
      - With O(state=requested), a program on the controller that has the CA answer the pending request - an
        enrolment client, a script of the PKI team - given as a list of arguments, program first, run without a
        shell (no word splitting, no C($VAR) or C(~) expansion).
      - It runs once the request is pending and written to O(csr_path), never in check mode, with the controller's
        environment plus C(MAILOPS_CSR_PATH) (O(csr_path)), C(MAILOPS_ANSWER_PATH) (O(ca_answer_path)) and
        C(MAILOPS_SERVER) (O(server)). Whatever it leaves at O(ca_answer_path) completes the request with
        O(state=present) and O(certificate_path); RV(ca_answered) says whether it is there.
      - An exit code other than 0 fails the task with the program's output; the request stays pending on the server,
        and a later run reuses it.
      - The program must be found on the controller (a path, or a name in C(PATH)); this is checked before the
        request is made.
      - Needs O(csr_path) and O(ca_answer_path).
    type: list
    elements: str
  ca_answer_path:
    description:
      - With O(state=requested), where the CA's answer to the request is expected on the controller, for
        O(ca_command) (C(MAILOPS_ANSWER_PATH)) and RV(ca_answered).
    type: path
  certificate_path:
    description:
      - With O(state=present), the CA's answer to the request as a file on the controller (PEM, DER or PKCS 7).
      - Mutually exclusive with O(certificate_content) and O(pfx_path).
    type: path
  certificate_content:
    description: The CA's answer as text (PEM), instead of O(certificate_path).
    type: str
  pfx_path:
    description:
      - With O(state=present), a PKCS 12 file (certificate with its private key) on the controller to import.
      - It is opened on the controller with O(pfx_password) first, so a wrong password fails before anything is sent.
    type: path
  pfx_password:
    description:
      - Password of O(pfx_path). Never logged or returned.
      - Over the C(mailops.exchange.exchange) connection the collection's action plugin hands it to the host's
        session broker and the module takes it from there, so it is never in the module's arguments (nor in an
        AnsiballZ file). With the C(local) connection it is a module argument (marked C(no_log)).
    type: str
  thumbprint:
    description:
      - The certificate's thumbprint (spaces and colons allowed). Required with O(state=absent).
      - With O(state=present) and no file, selects an installed certificate whose O(services) to manage.
    type: str
  services:
    description:
      - Exchange services the certificate must be enabled for (C(Enable-ExchangeCertificate)); at least C(IIS) and
        C(SMTP) in the procedure.
      - Services are only ever added (Exchange has no command to disable one; enabling another certificate moves IIS).
    type: list
    elements: str
    choices: [IMAP, POP, UM, IIS, SMTP, Federation, UMCallRouter]
  replace_default_smtp:
    description:
      - Enabling a certificate for SMTP replaces the server's default SMTP certificate, and Exchange asks
        I(Overwrite the existing default SMTP certificate?) - a prompt that cannot be answered over remote
        PowerShell. C(true) answers yes (the module adds C(-Force)), as the procedure says to.
      - C(false) makes the module fail before any write when enabling SMTP would replace another default SMTP
        certificate.
    type: bool
    default: false
notes:
  - C(commands) lists the Exchange Management Shell lines run or, in check mode, that would run. A PFX's bytes
    and password are not shown in C(commands) (a placeholder stands for them).
  - Through a plain remote PowerShell session (C(exchange_shell=remote_session)) C(Get-ExchangeCertificate) returns
    certificates with C(RawData) only - no C(Thumbprint), C(Status), C(Services), C(FriendlyName) or
    C(HasPrivateKey) (CSS-Exchange C(ConvertTo-ExchangeCertificate.ps1); office-docs-powershell issues 3493, 4651,
    5256). The module's PowerShell runs on the server itself, so it reads the certificates, their private keys and
    friendly names from C(Cert:\LocalMachine\My), pending requests from C(Cert:\LocalMachine\REQUEST),
    IIS from the certificate of C(Default Web Site)'s https binding (C(Get-WebBinding)) and SMTP from the transport
    service's C(InternalTransportCertificateThumbprint) (the default SMTP certificate), adding C(Status) and
    C(Services) where Exchange returns them. It therefore runs over a session to O(server) itself.
  - The state of other services (IMAP, POP, UM, ...) is known only where Exchange returns C(Services); otherwise a
    requested one is enabled again (harmless, Enable-ExchangeCertificate is additive) with a warning.
  - Requires the C(cryptography) Python library on the controller.
seealso:
  - module: mailops.exchange.exchange_receive_connector
  - module: mailops.exchange.exchange_info
  - name: Create an Exchange Server certificate request for a certification authority
    description: Microsoft's procedure for the request.
    link: https://learn.microsoft.com/exchange/architecture/client-access/create-ca-certificate-requests
  - name: Complete a pending Exchange Server certificate request
    description: Microsoft's procedure for the completion.
    link: https://learn.microsoft.com/exchange/architecture/client-access/complete-pending-certificate-requests
'''

EXAMPLES = r'''
- name: Request a certificate for the namespace (the CSR goes to the CA)
  mailops.exchange.exchange_certificate:
    server: EX01
    state: requested
    subject_name: C=US, O=Contoso, CN=mail.contoso.com
    domain_names: [mail.contoso.com, owa.contoso.com, autodiscover.contoso.com]
    friendly_name: Contoso mail
    private_key_exportable: true
    csr_path: /srv/pki/ex01-mail.req
  register: request

- name: Request a certificate and have the organisation's CA answer it at once (an enrolment script)
  mailops.exchange.exchange_certificate:
    server: EX01
    state: requested
    subject_name: C=US, O=Contoso, CN=mail.contoso.com
    domain_names: [mail.contoso.com, owa.contoso.com, autodiscover.contoso.com]
    csr_path: /srv/pki/EX01.req
    ca_command: [/usr/local/bin/ask-contoso-ca, --template, WebServer]
    ca_answer_path: /srv/pki/EX01.cer
  register: request

- name: Complete the request with the CA's answer and enable it for IIS and SMTP
  mailops.exchange.exchange_certificate:
    server: EX01
    state: present
    certificate_path: /srv/pki/ex01-mail.cer
    services: [IIS, SMTP]
    replace_default_smtp: true
  register: certificate

- name: Use its TLS name on the Client Frontend connector
  mailops.exchange.exchange_receive_connector:
    identity: EX01\Client Frontend EX01
    tls_certificate_name: "{{ certificate.tls_certificate_name }}"

- name: Import a PFX exported from another server
  mailops.exchange.exchange_certificate:
    server: EX02
    state: present
    pfx_path: /srv/pki/mail.pfx
    pfx_password: "{{ vault_pfx_password }}"
    services: [IIS, SMTP]
    replace_default_smtp: true

- name: Remove an old certificate
  mailops.exchange.exchange_certificate:
    server: EX01
    state: absent
    thumbprint: 5113AE0233A72FCCB75F1D7B2B41B1C1F6C9E1A4
'''

RETURN = r'''
thumbprint:
  description: Thumbprint of the certificate (for O(state=requested), of the pending request); computed on the
    controller. Null in check mode when the request or import has not happened yet.
  returned: always
  type: str
  sample: 5113AE0233A72FCCB75F1D7B2B41B1C1F6C9E1A4
subject:
  description: Subject as Windows prints it.
  returned: when known
  type: str
  sample: CN=mail.contoso.com, O=Contoso, C=US
issuer:
  description: Issuer as Windows prints it.
  returned: when a certificate is known
  type: str
  sample: CN=Contoso Issuing CA, DC=contoso, DC=com
sans:
  description: The DNS names (Exchange's CertificateDomains).
  returned: when known
  type: list
  elements: str
  sample: [mail.contoso.com, owa.contoso.com, autodiscover.contoso.com]
not_after:
  description: Expiry (UTC, ISO 8601).
  returned: when a certificate is known
  type: str
  sample: "2027-11-22T12:00:00Z"
status:
  description: Exchange's Status (Valid, PendingRequest, Untrusted, DateInvalid, ...); PendingRequest for a request in
    the server's REQUEST store; null when Exchange did not return it (plain remote PowerShell).
  returned: when known
  type: str
  sample: Valid
services:
  description: Services the certificate is enabled for, as Exchange prints them plus IIS and SMTP as the server's IIS
    binding and default SMTP certificate show them.
  returned: when known
  type: list
  elements: str
  sample: [IIS, SMTP]
tls_certificate_name:
  description: The connector TLS name of the certificate, C(<I>issuer<S>subject) (the same across renewals from the
    same issuer with the same subject).
  returned: when a certificate is known
  type: str
  sample: <I>CN=Contoso Issuing CA, DC=contoso, DC=com<S>CN=mail.contoso.com, O=Contoso, C=US
csr:
  description: The certificate request (PEM) with O(state=requested); null when a matching certificate is already
    installed or in check mode before the request exists.
  returned: with state=requested
  type: str
ca_answered:
  description: Whether the CA's answer is at O(ca_answer_path) when the task ends (after O(ca_command) ran).
  returned: with state=requested and ca_answer_path
  type: bool
  sample: true
certificate:
  description: All facts about the certificate or request (the keys above plus not_before, days_remaining, expired,
    key_size, key_algorithm, signature_hash, self_signed, serial_number, friendly_name, pending).
  returned: when known
  type: dict
commands:
  description: The Exchange Management Shell commands run (or, in check mode, that would run), in order.
  returned: always
  type: list
  elements: str
  sample:
    - Enable-ExchangeCertificate -Server 'EX01' -Thumbprint '5113AE0233A72FCCB75F1D7B2B41B1C1F6C9E1A4' -Services 'IIS, SMTP' -Force
diff:
  description: Before and after (thumbprint, status, services, present) with C(--diff).
  returned: when diff mode is on
  type: dict
'''

import os
import shutil
import subprocess
import tempfile

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.mailops.exchange.plugins.module_utils import certificate_info as ci
from ansible_collections.mailops.exchange.plugins.module_utils import certificate_plan as cp
from ansible_collections.mailops.exchange.plugins.module_utils.exchange_module import ExchangeModule
from ansible_collections.mailops.exchange.plugins.module_utils.exchange_session import describe_commands
from ansible_collections.mailops.exchange.plugins.module_utils.persistent_session import is_secret_handle
from ansible_collections.mailops.exchange.plugins.module_utils.quoting import ps_script


def _read_file(path, option):
    if not os.path.isfile(path):
        raise cp.CertificatePlanError("%s: %s does not exist or is not a file" % (option, path))
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except (IOError, OSError) as error:
        raise cp.CertificatePlanError("%s: cannot read %s: %s" % (option, path, error))
    if not data:
        raise cp.CertificatePlanError("%s: %s is empty" % (option, path))
    return data


def write_private_file(path, text):
    """Write ``text`` to ``path`` with mode 0600 (atomically); return True when the content changed."""
    data = text.encode("ascii")
    try:
        with open(path, "rb") as handle:
            same = handle.read() == data
    except (IOError, OSError):
        same = False
    if same:
        if (os.stat(path).st_mode & 0o777) != 0o600:
            os.chmod(path, 0o600)
        return False
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise cp.CertificatePlanError("csr_path: directory %s does not exist" % directory)
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".csr-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except Exception:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
    return True


def check_csr_path(path):
    """Refuse, before the request is made on the server, a csr_path that could not be written."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise cp.CertificatePlanError("csr_path: %s is a directory; give the file to write the request to. Nothing "
                                      "was requested" % path)
    if not os.path.isdir(directory):
        raise cp.CertificatePlanError("csr_path: directory %s does not exist; create it first. Nothing was requested"
                                      % directory)
    if not os.access(directory, os.W_OK | os.X_OK):
        raise cp.CertificatePlanError("csr_path: directory %s is not writable. Nothing was requested" % directory)


def check_ca_command(argv):
    """Refuse, before the request is made on the server, a CA hook that cannot run."""
    program = argv[0] if argv else ""
    if not program.strip() or any(not isinstance(a, str) or "\x00" in a for a in argv):
        raise cp.CertificatePlanError("ca_command: a list of arguments, program first, is required. Nothing was "
                                      "requested")
    if os.sep in program:
        found = os.path.isfile(program) and os.access(program, os.X_OK)
    else:
        found = shutil.which(program) is not None
    if not found:
        raise cp.CertificatePlanError("ca_command: %s is not a program the controller can run (%s). Nothing was "
                                      "requested" % (program, "no executable file there" if os.sep in program
                                                     else "not found in PATH"))


def ask_the_ca(argv, csr_path, answer_path, server):
    """Run the CA hook (no shell) with the request's and the answer's paths in its environment: (rc, out, err)."""
    environment = dict(os.environ, MAILOPS_CSR_PATH=csr_path, MAILOPS_ANSWER_PATH=answer_path, MAILOPS_SERVER=server)
    try:
        process = subprocess.run(argv, env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, check=False)
    except OSError as error:
        return 127, "", str(error)
    return (process.returncode, process.stdout.decode("utf-8", "replace"),
            process.stderr.decode("utf-8", "replace"))


def validate(params):
    """Checks that need no Exchange. Returns the normalised pieces; raises ValueError."""
    server = (params.get("server") or "").strip()
    if not server or any(c in server for c in "\\/\r\n*?\"'") or len(server) > 253:
        raise cp.CertificatePlanError("server %r is not a server name" % params.get("server"))
    state = params["state"]
    thumbprint = None
    if params.get("thumbprint"):
        thumbprint = ci.normalise_thumbprint(params["thumbprint"])
    services = cp.validate_services(params.get("services"))
    sources = [k for k in ("certificate_path", "certificate_content", "pfx_path") if params.get(k)]
    if len(sources) > 1:
        raise cp.CertificatePlanError("give only one of certificate_path, certificate_content and pfx_path")
    if params.get("pfx_password") is not None and not params.get("pfx_path"):
        raise cp.CertificatePlanError("pfx_password is only used with pfx_path")
    if params.get("friendly_name") is not None:
        friendly = params["friendly_name"]
        if len(friendly) >= 64 or any(c in friendly for c in "\r\n\x00"):
            raise cp.CertificatePlanError("friendly_name must be a single line of less than 64 characters")
    if state == "requested":
        if sources or thumbprint or services:
            raise cp.CertificatePlanError("state=requested makes a request: certificate/pfx files, thumbprint and "
                                          "services belong to state=present")
        subject, domains = cp.validate_request_options(params.get("subject_name"), params.get("domain_names"),
                                                       params.get("key_size"), params.get("friendly_name"))
        if params.get("csr_path"):
            check_csr_path(params["csr_path"])
        if params.get("ca_command"):
            check_ca_command(params["ca_command"])
        return server, state, {"subject": subject, "domains": domains}
    if params.get("subject_name") or params.get("domain_names") or params.get("csr_path") \
            or params.get("ca_command") or params.get("ca_answer_path"):
        raise cp.CertificatePlanError("subject_name, domain_names, csr_path, ca_command and ca_answer_path belong to "
                                      "state=requested")
    if state == "absent":
        if not thumbprint:
            raise cp.CertificatePlanError("state=absent needs thumbprint")
        if sources or services:
            raise cp.CertificatePlanError("state=absent takes only thumbprint")
        return server, state, {"thumbprint": thumbprint}
    data = None
    if params.get("certificate_path"):
        data = _read_file(params["certificate_path"], "certificate_path")
    elif params.get("certificate_content"):
        data = params["certificate_content"].encode("utf-8")
    elif params.get("pfx_path"):
        data = _read_file(params["pfx_path"], "pfx_path")
    if data is None and not thumbprint:
        raise cp.CertificatePlanError("state=present needs certificate_path, certificate_content, pfx_path or thumbprint")
    return server, state, {"data": data, "pfx": bool(params.get("pfx_path")), "thumbprint": thumbprint,
                           "services": services}


def _summary(entry_or_facts):
    if entry_or_facts is None:
        return {"present": False}
    facts = entry_or_facts if isinstance(entry_or_facts, dict) else entry_or_facts.facts()
    return {"present": True, "thumbprint": facts.get("thumbprint"), "subject": facts.get("subject"),
            "sans": facts.get("sans"), "status": facts.get("status"), "services": facts.get("services"),
            "pending": facts.get("pending")}


def _result_keys(facts):
    keys = ("thumbprint", "subject", "issuer", "sans", "not_after", "status", "services", "tls_certificate_name")
    out = dict((k, facts.get(k)) for k in keys if k in facts)
    out["certificate"] = facts
    return out


def _write_round(module, plan, template, **values):
    """Record the plan's (display) lines; unless in check mode, run them and read the store back in one round."""
    module.commands.extend(plan.display)
    if not plan.commands:
        return None
    return module.write_and_read(ps_script(template, **values))


def resolve_pfx_password(module):
    """Over the mailops.exchange.exchange connection the action plugin hands pfx_password to the session broker
    and passes a one-time handle: take the value from the broker (it never was in the module's arguments)."""
    value = module.params.get("pfx_password")
    if not is_secret_handle(value):
        return
    if not module.socket_path:
        raise cp.CertificatePlanError("pfx_password is a handle of the mailops.exchange.exchange session broker, but "
                                      "this task does not run over that connection")
    password = module.session.take_secret(value)
    if not isinstance(password, str):
        raise cp.CertificatePlanError("the session broker did not return pfx_password")
    if password:
        module.ansible.no_log_values.add(password)
    module.params["pfx_password"] = password


def run(module):
    if not ci.HAS_CRYPTOGRAPHY:
        module.fail(missing_required_lib("cryptography"), exception=str(ci.CRYPTOGRAPHY_IMPORT_ERROR))
    resolve_pfx_password(module)
    params = module.params
    server, state, wanted = validate(params)
    answer = module.query(ps_script(cp.READ_SCRIPT, server=server)) or {}
    store = cp.store_from_answer(answer, server)
    internal = answer.get("internal_transport_thumbprint")

    if state == "requested":
        plan = cp.plan_requested(store, server, wanted["subject"], wanted["domains"], params["key_size"],
                                 params.get("friendly_name"), params.get("private_key_exportable"))
        before = _summary(plan.target)
        csr = plan.target.request if plan.target is not None else None
        if plan.target is not None and plan.target.pending and csr is None and params.get("csr_path") \
                and os.path.isfile(params["csr_path"]):
            # The request could not be exported: the file written by the run that made it will do, if it is
            # the request of this key.
            try:
                saved = ci.load_request(_read_file(params["csr_path"], "csr_path"))
                if plan.target.certificate is not None and ci.same_public_key(saved, plan.target.certificate):
                    csr = saved
            except ci.CertificateError:
                csr = None
        if plan.target is not None and plan.target.pending and csr is None:
            raise cp.CertificatePlanError(
                "pending request %s on server %s matches, but its request could not be exported "
                "(Export-ExchangeCertificate); remove it (state=absent) to make a new one" % (plan.target.thumbprint, server))
        if plan.target is not None:
            facts = plan.target.facts()
        else:
            facts = {"thumbprint": None, "subject": wanted["subject"], "sans": wanted["domains"], "pending": True,
                     "status": cp.PENDING, "services": []}
        if plan.commands:
            result = _write_round(module, plan, cp.REQUEST_AND_READ_SCRIPT, command=plan.commands[0], server=server)
            if result is not None:
                csr = ci.load_request(result.get("request") or "")
                new_store = cp.store_from_answer(result, server)
                key = ci.public_key_der(csr)
                entry = next((e for e in new_store if e.pending and e.public_key == key), None)
                facts = entry.facts() if entry is not None else dict(facts, thumbprint=None)
                if entry is None:
                    facts["subject"] = ci.windows_name(csr.subject)
                    facts["sans"] = ci.certificate_domains(csr)
        pem = ci.request_pem(csr) if csr is not None else None
        file_changed = False
        if pem is not None and params.get("csr_path"):
            if module.check_mode:
                try:
                    with open(params["csr_path"], "rb") as handle:
                        file_changed = handle.read() != pem.encode("ascii")
                except (IOError, OSError):
                    file_changed = True
            else:
                try:
                    file_changed = write_private_file(params["csr_path"], pem)
                except (cp.CertificatePlanError, IOError, OSError) as error:
                    # The request exists on the server now: say so, and hand it over anyway.
                    module.fail("the certificate request%s is pending on server %s, but csr_path could not be "
                                "written (%s); it is returned as csr, and a run with a writable csr_path reuses it"
                                % ((" " + facts["thumbprint"]) if facts.get("thumbprint") else "", server, error), changed=plan.changed, csr=pem,
                                **_result_keys(facts))
        asked = False
        if pem is not None and params.get("ca_command") and not module.check_mode:
            # The request is pending and written: the organisation's CA is asked for the answer now.
            asked = True
            rc, out, err = ask_the_ca(params["ca_command"], params["csr_path"], params["ca_answer_path"], server)
            if rc != 0:
                module.fail("ca_command %s exited with %d for server %s: %s. The request%s stays pending on the "
                            "server; a later run reuses it"
                            % (params["ca_command"][0], rc, server, (err.strip() or out.strip())[-2000:]
                               or "(no output)", (" " + facts["thumbprint"]) if facts.get("thumbprint") else ""),
                            changed=True, csr=pem, rc=rc, stdout=out, stderr=err, **_result_keys(facts))
        extra = {}
        if params.get("ca_answer_path"):
            extra["ca_answered"] = os.path.exists(params["ca_answer_path"])
        after = _summary(facts)
        module.exit(changed=plan.changed or file_changed or asked, before=before, after=after, csr=pem,
                    **dict(_result_keys(facts), **extra))

    if state == "absent":
        plan = cp.plan_absent(store, server, wanted["thumbprint"], internal)
        before = _summary(plan.target)
        module.apply(plan.commands)
        module.exit(changed=plan.changed, before=before, after={"present": False}, thumbprint=wanted["thumbprint"])

    # state == present
    certificate = None
    if wanted["data"] is not None and wanted["pfx"]:
        plan, certificate = cp.plan_import_pfx(store, server, wanted["data"], params.get("pfx_password"),
                                               params.get("friendly_name"), params.get("private_key_exportable"),
                                               source=params["pfx_path"])
    elif wanted["data"] is not None:
        plan, certificate = cp.plan_import_answer(store, server, wanted["data"], params.get("friendly_name"))
    else:
        plan = cp.Plan()
        plan.thumbprint = wanted["thumbprint"]
        plan.target = cp.find(store, wanted["thumbprint"], pending=False)
        if plan.target is None:
            pending = cp.find(store, wanted["thumbprint"], pending=True)
            raise cp.CertificatePlanError(
                "certificate %s is %s on server %s" % (wanted["thumbprint"], "still a pending request (complete it with "
                                                       "certificate_path)" if pending else "not installed", server))
    if wanted["thumbprint"] and plan.thumbprint != wanted["thumbprint"]:
        raise cp.CertificatePlanError("thumbprint %s does not match the certificate given (%s)"
                                      % (wanted["thumbprint"], plan.thumbprint))
    current_services = plan.target.services if plan.target is not None else set()
    known_services = plan.target.services_known if plan.target is not None else None
    cp.plan_services(plan, store, server, plan.thumbprint, current_services, wanted["services"],
                     params["replace_default_smtp"], internal, known=known_services)
    if plan.commands and plan.target is not None and plan.target.certificate is not None:
        ci.check_validity(plan.target.certificate)  # Exchange cannot enable an expired certificate
    for warning in plan.warnings:
        module.ansible.warn(warning)
    before = _summary(plan.target)
    if plan.target is not None:
        facts = plan.target.facts()
    else:
        facts = ci.describe(certificate)
        facts.update(status=None, services=[], friendly_name=params.get("friendly_name"), pending=False)
    if plan.commands:
        predicted = set(facts.get("services") or []) | wanted["services"]
        facts["services"] = cp.services_list(predicted)
    result = _write_round(module, plan, cp.RUN_AND_READ_SCRIPT, commands=plan.commands, server=server)
    for outcome in plan.outcomes:  # not before: a run whose import meets another run's plans again and says nothing
        module.ansible.warn(outcome)
    if result is not None:
        entry = cp.find(cp.store_from_answer(result, server), plan.thumbprint, pending=False)
        if entry is None:
            module.fail("%s ran without an error, but server %s does not list certificate %s when read back"
                        % (describe_commands(plan.display), server, plan.thumbprint), thumbprint=plan.thumbprint)
        else:
            facts = entry.facts()
            # Services whose state cannot be read back (plain remote PowerShell) were enabled by the commands that
            # just succeeded.
            unread = set(wanted["services"]) - entry.services_known
            if unread:
                facts["services"] = cp.services_list(set(facts.get("services") or []) | unread)
    module.exit(changed=plan.changed, before=before, after=_summary(facts), **_result_keys(facts))


def main():
    module = ExchangeModule(
        argument_spec=dict(
            server=dict(type="str", required=True),
            state=dict(type="str", choices=["requested", "present", "absent"], default="present"),
            subject_name=dict(type="str"),
            domain_names=dict(type="list", elements="str"),
            friendly_name=dict(type="str"),
            key_size=dict(type="int", choices=[1024, 2048, 4096], default=2048),
            private_key_exportable=dict(type="bool"),
            csr_path=dict(type="path"),
            certificate_path=dict(type="path"),
            certificate_content=dict(type="str"),
            pfx_path=dict(type="path"),
            pfx_password=dict(type="str", no_log=True),
            thumbprint=dict(type="str"),
            services=dict(type="list", elements="str",
                          choices=["IMAP", "POP", "UM", "IIS", "SMTP", "Federation", "UMCallRouter"]),
            replace_default_smtp=dict(type="bool", default=False),
            ca_command=dict(type="list", elements="str"),
            ca_answer_path=dict(type="path"),
        ),
        mutually_exclusive=[("certificate_path", "certificate_content", "pfx_path")],
        required_by={"ca_command": ("csr_path", "ca_answer_path")},
        free_text=("certificate_content",),
    )
    module.run(run)


if __name__ == "__main__":
    main()
