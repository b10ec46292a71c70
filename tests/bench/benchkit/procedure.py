"""The baseline procedure: Microsoft's "Configure mail flow and client access" typed one cmdlet at a time.

Pure: this module only builds the EMS command lines (and parses what a person reads off the screen); running them
is :mod:`benchkit.baseline`. Every line is what the seeds (or the procedure pages they link for steps 1, 2, 3, 4
and 6) document, with the lab organisation's values, quoted for PowerShell:

- organisation-wide, once: step 1 (``New-SendConnector``, then the check ``Get-SendConnector``), step 2
  (``New-AcceptedDomain``, ``Set-AcceptedDomain -MakeDefault``, ``Get-AcceptedDomain``), step 3
  (``Set-EmailAddressPolicy``, ``Update-EmailAddressPolicy``, ``Get-EmailAddressPolicy``);
- per Mailbox server: step 4 (``Set-OutlookAnywhere`` - the EAC's Outlook Anywhere tab, both host names - and
  ``Set-*VirtualDirectory -ExternalUrl`` for every virtual directory), step 5 (the seeds'
  ``Set-*VirtualDirectory "$HostName\\X (Default Web Site)" -InternalUrl ((Get-*VirtualDirectory ...).ExternalUrl)``
  lines, plus MAPI and ``Set-ClientAccessService -AutoDiscoverServiceInternalUri``), the check of steps 4 and 5
  (one ``Get-*`` per virtual directory, ``Get-OutlookAnywhere``, ``Get-ClientAccessService``), step 6
  (``New-ExchangeCertificate -GenerateRequest``, ``Import-ExchangeCertificate -FileData``,
  ``Enable-ExchangeCertificate -Force``, ``Get-ExchangeCertificate``) and the authenticated-SMTP procedure
  ("step 7": ``Get-ReceiveConnector ... | Set-ReceiveConnector`` for the FQDN, the TLS certificate name and
  ``-AdvertiseClientSettings``, each followed by the documented ``Get-*`` check).

The values the collection's playbook would write come from the same plan (``url_plan``), so both leave the lab
organisation in the same state. Two adaptations, both named in the README: ``Format-List a,b`` is written
``Select-Object 'a','b'`` (the lab implements neither ``Format-List`` nor bare-word comma lists yet; it prints the
same ``Name : value`` lines), and the receive connector identity is server-qualified (``EX01\\Client Frontend*``):
the seeds' ``"Client Frontend*"`` matches the connector of *every* server in a multi-server organisation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

# PowerShell treats these as single quotes too (FACTS.md section 3): each is doubled inside a single-quoted literal.
_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"

# (plan key, cmdlet noun, virtual directory name) in the order of the seeds' tables; mapi follows the plan.
VIRTUAL_DIRECTORIES = (
    ("ecp", "EcpVirtualDirectory", "ecp"),
    ("ews", "WebServicesVirtualDirectory", "EWS"),
    ("eas", "ActiveSyncVirtualDirectory", "Microsoft-Server-ActiveSync"),
    ("oab", "OabVirtualDirectory", "OAB"),
    ("owa", "OwaVirtualDirectory", "owa"),
    ("mapi", "MapiVirtualDirectory", "mapi"),
    ("powershell", "PowerShellVirtualDirectory", "PowerShell"),
)


def _mapi_methods(noun: str) -> str:
    """Set-MapiVirtualDirectory needs -IISAuthenticationMethods with -InternalUrl/-ExternalUrl (its cmdlet page);
    the collection's default methods (Ntlm, OAuth, Negotiate)."""
    return " -IISAuthenticationMethods 'Ntlm','OAuth','Negotiate'" if noun == "MapiVirtualDirectory" else ""


def ps_quote(value: Any) -> str:
    """A PowerShell single-quoted literal of ``value`` (booleans as ``$true``/``$false``)."""
    if isinstance(value, bool):
        return "$true" if value else "$false"
    text = str(value)
    return "'" + "".join(ch + ch if ch in _SINGLE_QUOTES else ch for ch in text) + "'"


def ps_list(values: Iterable[Any]) -> str:
    """A comma-separated list of quoted literals (``'a','b'``)."""
    items = [ps_quote(v) for v in values]
    if not items:
        raise ValueError("an empty list has no PowerShell literal here")
    return ",".join(items)


@dataclass(frozen=True)
class Command:
    """One EMS command line of the procedure, run as its own ``Session.run_ps`` by the baseline."""

    step: str
    line: str
    writes: bool
    purpose: str = ""


@dataclass
class Organisation:
    """The values of the lab organisation the playbook configures (inventory/lab/group_vars/all)."""

    servers: list[dict]  # [{"name": "EX01", "fqdn": "ex01.corp.contoso.com"}]
    plan: dict  # the collection's url_plan for the namespace
    send_connector: dict
    accepted_domains: list[dict]
    email_address_policy: dict
    certificate: dict
    extra: dict = field(default_factory=dict)

    @property
    def client_frontend_fqdn(self) -> str:
        return self.plan["namespace"]["client_frontend_fqdn"]


def organisation_commands(org: Organisation) -> list[Command]:
    """Steps 1-3: organisation-wide, typed once (on the first server)."""
    sc = org.send_connector
    cmds: list[Command] = []
    source_servers = sc.get("source_transport_servers") or [s["name"] for s in org.servers]
    line = (f"New-SendConnector -Name {ps_quote(sc['name'])} -Internet -AddressSpaces "
            f"{ps_list(sc.get('address_spaces') or ['*'])} -SourceTransportServers {ps_list(source_servers)}")
    if sc.get("fqdn"):
        line += f" -Fqdn {ps_quote(sc['fqdn'])}"
    cmds.append(Command("1", line, True, "create the Internet send connector"))
    cmds.append(Command("1", f"Get-SendConnector -Identity {ps_quote(sc['name'])} | Select-Object "
                             "'Name','AddressSpaces','DNSRoutingEnabled','SourceTransportServers','Enabled'", False,
                        "check the send connector"))
    for domain in org.accepted_domains:
        name = domain.get("name") or domain["domain_name"]
        cmds.append(Command("2", f"New-AcceptedDomain -Name {ps_quote(name)} -DomainName {ps_quote(domain['domain_name'])} "
                                 f"-DomainType {ps_quote(domain.get('domain_type') or 'Authoritative')}", True,
                            "add the accepted domain"))
        if domain.get("make_default"):
            cmds.append(Command("2", f"Set-AcceptedDomain -Identity {ps_quote(name)} -MakeDefault $true", True,
                                "make it the default accepted domain"))
    cmds.append(Command("2", "Get-AcceptedDomain | Select-Object 'Name','DomainName','DomainType','Default'", False,
                        "check the accepted domains"))
    eap = org.email_address_policy
    policy = eap.get("name") or "Default Policy"
    template = eap["primary_smtp_address_template"]
    templates = ["SMTP:" + template] + list(eap.get("extra_templates") or [])
    cmds.append(Command("3", f"Set-EmailAddressPolicy -Identity {ps_quote(policy)} -EnabledEmailAddressTemplates "
                             f"{ps_list(templates)}", True, "set the primary address template"))
    if eap.get("apply", True):
        cmds.append(Command("3", f"Update-EmailAddressPolicy -Identity {ps_quote(policy)}", True,
                            "apply the policy to the recipients"))
    cmds.append(Command("3", "Get-EmailAddressPolicy | Select-Object 'Name','Priority','EnabledPrimarySMTPAddressTemplate'",
                        False, "check the email address policy"))
    return cmds


def _vdir_identity(server: str, name: str) -> str:
    return f"{server}\\{name} (Default Web Site)"


def server_commands_until_request(org: Organisation, server: str) -> list[Command]:
    """Steps 4 and 5, their check, and the certificate request of step 6, for one Mailbox server."""
    plan = org.plan
    cmds: list[Command] = []
    oa = plan["outlook_anywhere"]
    cmds.append(Command("4", f"Set-OutlookAnywhere -Identity {ps_quote(server + chr(92) + 'Rpc (Default Web Site)')} "
                             f"-ExternalHostname {ps_quote(oa['external_hostname'])} -ExternalClientsRequireSsl $true "
                             f"-ExternalClientAuthenticationMethod 'Negotiate' "
                             f"-InternalHostname {ps_quote(oa['internal_hostname'])} -InternalClientsRequireSsl $true",
                        True, "Outlook Anywhere host names"))
    for key, noun, name in VIRTUAL_DIRECTORIES:
        url = plan["urls"][key]["external_url"]
        cmds.append(Command("4", f"Set-{noun} -Identity {ps_quote(_vdir_identity(server, name))} -ExternalUrl {ps_quote(url)}"
                                 f"{_mapi_methods(noun)}", True, f"external URL of {name}"))
    for key, noun, name in VIRTUAL_DIRECTORIES:
        identity = ps_quote(_vdir_identity(server, name))
        if plan["namespace"].get("internal_same_as_external", True):
            # The seeds' line: the internal URL is the virtual directory's external URL, read back in the same line.
            value = f"((Get-{noun} {identity}).ExternalUrl)"
        else:
            value = ps_quote(plan["urls"][key]["internal_url"])
        cmds.append(Command("5", f"Set-{noun} {identity} -InternalUrl {value}{_mapi_methods(noun)}", True,
                            f"internal URL of {name}"))
    cmds.append(Command("5", f"Set-ClientAccessService -Identity {ps_quote(server)} -AutoDiscoverServiceInternalUri "
                             f"{ps_quote(plan['autodiscover_internal_uri'])}", True, "Autodiscover internal URI"))
    for _key, noun, name in VIRTUAL_DIRECTORIES:
        cmds.append(Command("4+5", f"Get-{noun} -Server {ps_quote(server)} | Select-Object 'Name','InternalUrl','ExternalUrl'",
                            False, f"check the URLs of {name}"))
    cmds.append(Command("4+5", f"Get-OutlookAnywhere -Server {ps_quote(server)} | Select-Object 'Name','InternalHostname','ExternalHostname'",
                        False, "check Outlook Anywhere"))
    cmds.append(Command("4+5", f"Get-ClientAccessService -Identity {ps_quote(server)} | Select-Object 'Name','AutoDiscoverServiceInternalUri'",
                        False, "check the Autodiscover internal URI"))
    cert = org.certificate
    names = cert.get("domain_names") or plan["certificate_names"]
    line = (f"New-ExchangeCertificate -Server {ps_quote(server)} -GenerateRequest "
            f"-SubjectName {ps_quote(cert.get('subject_name') or 'CN=' + plan['certificate_common_name'])} "
            f"-DomainName {ps_list(names)} -KeySize {int(cert.get('key_size') or 2048)} "
            f"-PrivateKeyExportable {ps_quote(bool(cert.get('private_key_exportable', True)))}")
    if cert.get("friendly_name"):
        line += f" -FriendlyName {ps_quote(cert['friendly_name'])}"
    cmds.append(Command("6", line, True, "create the certificate request"))
    return cmds


def certificate_commands(org: Organisation, server: str, certificate_b64: str, thumbprint: str) -> list[Command]:
    """Step 6 after the CA answered: import the certificate, enable it for the services, check it."""
    services = ",".join(org.certificate.get("services") or ["IIS", "SMTP"])
    line = (f"Import-ExchangeCertificate -Server {ps_quote(server)} "
            f"-FileData ([System.Convert]::FromBase64String({ps_quote(certificate_b64)}))")
    if org.certificate.get("friendly_name"):
        line += f" -FriendlyName {ps_quote(org.certificate['friendly_name'])}"
    return [
        Command("6", line, True, "complete the pending request"),
        # Non-interactively, the "overwrite the default SMTP certificate?" prompt needs -Force (answering yes).
        Command("6", f"Enable-ExchangeCertificate -Server {ps_quote(server)} -Thumbprint {ps_quote(thumbprint)} "
                     f"-Services {ps_quote(services)} -Force", True, "assign the certificate to the services"),
        Command("6", f"Get-ExchangeCertificate -Server {ps_quote(server)} -Thumbprint {ps_quote(thumbprint)} | "
                     "Select-Object 'Thumbprint','Status','Services','CertificateDomains'", False, "check the certificate"),
    ]


def client_frontend(server: str) -> str:
    return ps_quote(f"{server}\\Client Frontend*")


def client_smtp_commands_before_tls(org: Organisation, server: str, thumbprint: str) -> list[Command]:
    """Authenticated SMTP step 1 with its check, and the read that gives the certificate's issuer and subject."""
    ident = client_frontend(server)
    return [
        Command("7", f"Get-ReceiveConnector -Identity {ident} | Set-ReceiveConnector -Fqdn {ps_quote(org.client_frontend_fqdn)}",
                True, "FQDN of the Client Frontend connector"),
        Command("7", f"Get-ReceiveConnector -Identity {ident} | Select-Object 'Name','Fqdn'", False, "check the FQDN"),
        # $TLSCert = Get-ExchangeCertificate -Thumbprint ...: read here, the name is built from what it shows.
        Command("7", f"Get-ExchangeCertificate -Server {ps_quote(server)} -Thumbprint {ps_quote(thumbprint)} | "
                     "Select-Object 'Issuer','Subject'", False, "the certificate's issuer and subject"),
    ]


def tls_certificate_name(issuer: str, subject: str) -> str:
    """``"<I>$($TLSCert.Issuer)<S>$($TLSCert.Subject)"`` (FACTS.md section 3)."""
    return f"<I>{issuer}<S>{subject}"


def client_smtp_commands_after_tls(org: Organisation, server: str, tls_name: str) -> list[Command]:
    ident = client_frontend(server)
    return [
        Command("7", f"Get-ReceiveConnector -Identity {ident} | Set-ReceiveConnector -TlsCertificateName {ps_quote(tls_name)}",
                True, "certificate of the Client Frontend connector"),
        Command("7", f"Get-ReceiveConnector -Identity {ident} | Select-Object 'Name','Fqdn','TlsCertificateName'", False,
                "check the TLS certificate name"),
        Command("7", f"Get-ExchangeCertificate -Server {ps_quote(server)} | "
                     "Select-Object 'Thumbprint','Issuer','Subject','CertificateDomains','Services'", False,
                "check the certificate's names"),
        Command("7", f"Get-ReceiveConnector -Identity {ident} | Set-ReceiveConnector -AdvertiseClientSettings $true", True,
                "Outlook on the web shows the SMTP settings"),
    ]


def parse_list_output(text: str) -> list[dict[str, str]]:
    """Parse PowerShell's list view (``Name : value`` lines, objects separated by blank lines).

    Continuation lines (a long value wrapped onto the next line, indented) are appended to the previous value.
    """
    objects: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last_key = None
    for raw in text.replace("\r\n", "\n").split("\n"):
        if not raw.strip():
            if current:
                objects.append(current)
                current, last_key = {}, None
            continue
        match = re.match(r"^(\S[^:]*?)\s*:\s?(.*)$", raw)
        if match and not raw.startswith(" "):
            last_key = match.group(1).strip()
            current[last_key] = match.group(2).rstrip()
        elif last_key is not None:
            current[last_key] += raw.strip()
    if current:
        objects.append(current)
    return objects


def extract_request(text: str) -> str:
    """The PKCS#10 request (PEM) in what ``New-ExchangeCertificate -GenerateRequest`` printed.

    Exchange prints either the PEM block or the bare base64 body; both are returned as PEM.
    """
    pem = re.search(r"-----BEGIN (NEW )?CERTIFICATE REQUEST-----.*?-----END (NEW )?CERTIFICATE REQUEST-----", text, re.S)
    if pem:
        body = re.sub(r"-----[^-]+-----|\s", "", pem.group(0))
    else:
        body = re.sub(r"\s", "", text)
        if not body or not re.fullmatch(r"[A-Za-z0-9+/=]+", body):
            raise ValueError("no certificate request in the output of New-ExchangeCertificate: %r" % text[:200])
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE REQUEST-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE REQUEST-----\n"


def count_commands(org: Organisation) -> dict[str, int]:
    """How many ``run_ps`` calls (each one Exchange-shell load) the baseline makes: once, and per server."""
    server = org.servers[0]["name"]
    per_server = (len(server_commands_until_request(org, server)) + len(certificate_commands(org, server, "AA==", "0" * 40))
                  + len(client_smtp_commands_before_tls(org, server, "0" * 40))
                  + len(client_smtp_commands_after_tls(org, server, "<I>x<S>y")))
    return {"organisation": len(organisation_commands(org)), "per_server": per_server}
