# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection options, declared once: every module's ``exchange_*`` options and the ``mailops.exchange.exchange``
connection's.

From :data:`OPTIONS` come the modules' argument spec (``exchange_session.CONNECTION_ARGUMENT_SPEC``), the modules'
documentation (doc fragment ``mailops.exchange.connection``) and the connection plugin's options (the same fragment's
``CONNECTION_PLUGIN`` part, with the variables and environment each option is read from). ansible-test wants a doc
fragment's text literal, so ``hack/connection_docs.py`` writes the fragment from :func:`module_fragment` and
:func:`connection_fragment`, and a unit test fails when the two differ (as the role READMEs are written from their
argument specifications). Plain data, no Ansible import: a module carries it.
"""


class ConnectionOption:
    """One option: its name (also the variable the connection reads it from), type, environment variable,
    choices, default; the description both documents share, what only the modules' or only the connection's
    adds; the connection's other variables (``ansible_host``, ...), its type when it differs, and whether it reads
    the environment variable (an inventory host name always beats the environment, so exchange_host does not)."""

    def __init__(self, name, type_, env, description, choices=None, default=None, no_log=False, module=(),
                 connection=(), variables=(), connection_type=None, connection_env=True):
        self.name = name
        self.type = type_
        self.env = env
        self.description = list(description)
        self.choices = choices
        self.default = default
        self.no_log = no_log
        self.module = list(module)
        self.connection = list(connection)
        self.variables = list(variables)
        self.connection_type = connection_type or type_
        self.connection_env = connection_env

    def argument_spec(self, env_fallback):
        spec = dict(type=self.type, fallback=(env_fallback, [self.env]))
        for key in ("choices", "default"):
            if getattr(self, key) is not None:
                spec[key] = getattr(self, key)
        if self.no_log:
            spec["no_log"] = True
        return spec

    def _doc(self, description, type_):
        doc = {"description": description, "type": type_}
        if self.choices is not None:
            doc["choices"] = list(self.choices)
        if self.default is not None:
            doc["default"] = self.default
        return doc

    def module_doc(self):
        return self._doc(self.description + self.module + [
            "If not set, the value of the E(%s) environment variable is used." % self.env], self.type)

    def connection_doc(self):
        doc = self._doc(self.description + self.connection, self.connection_type)
        if self.connection_env:
            doc["env"] = [{"name": self.env}]
        doc["vars"] = [{"name": name} for name in self.variables + [self.name]]
        return doc


SHELL_MODES = ("remote_session", "snapin", "remote_exchange_script")

OPTIONS = [
    ConnectionOption(
        "exchange_host", "str", "EXCHANGE_HOST",
        ["Name or address of the Exchange server's WinRM service."],
        module=["The module runs on the Ansible controller (usually C(localhost)) and connects to this host with "
                "pywinrm.",
                "Required, unless the task runs over the C(mailops.exchange.exchange) connection."],
        connection=["Defaults to the inventory host name."],
        variables=["inventory_hostname", "ansible_host"], connection_env=False),
    ConnectionOption(
        "exchange_port", "int", "EXCHANGE_PORT",
        ["TCP port of the WinRM service.",
         "Defaults to C(5986) when O(exchange_scheme=https) and C(5985) when O(exchange_scheme=http)."],
        variables=["ansible_port"]),
    ConnectionOption(
        "exchange_scheme", "str", "EXCHANGE_SCHEME",
        ["Whether WinRM is reached over HTTPS or HTTP.",
         "Over HTTP, NTLM, Kerberos and CredSSP still encrypt the messages (see O(exchange_message_encryption))."],
        choices=["https", "http"], default="https"),
    ConnectionOption(
        "exchange_transport", "str", "EXCHANGE_TRANSPORT",
        ["WinRM authentication.",
         "C(basic) sends the password with every request; it is warned about when used over HTTP.",
         "C(kerberos) needs the pykerberos or pyspnego Kerberos support, C(credssp) needs requests-credssp."],
        choices=["ntlm", "basic", "kerberos", "credssp"], default="ntlm"),
    ConnectionOption(
        "exchange_username", "str", "EXCHANGE_USERNAME",
        ["Account used for WinRM and, with O(exchange_shell=remote_session), for the explicit credential of the "
         "second hop to Exchange's C(Microsoft.Exchange) remote PowerShell endpoint, for example "
         "C(CORP\\administrator)."],
        variables=["ansible_user"]),
    ConnectionOption(
        "exchange_password", "str", "EXCHANGE_PASSWORD",
        ["Password of O(exchange_username).",
         "It only ever travels inside the PowerShell process's standard input, never on a command line, and never "
         "appears in results."],
        module=["Over the C(mailops.exchange.exchange) connection the collection's action plugin removes it from the "
                "module's arguments (the connection holds it), so it is in no AnsiballZ file even with "
                "C(ANSIBLE_KEEP_REMOTE_FILES=1)."],
        connection=["It reaches the session broker on a pipe."],
        no_log=True, variables=["ansible_password"]),
    ConnectionOption(
        "exchange_cert_validation", "str", "EXCHANGE_CERT_VALIDATION",
        ["Whether the HTTPS certificate of the WinRM service is validated.",
         "C(ignore) is meant for labs; it is warned about when used."],
        choices=["validate", "ignore"], default="validate"),
    ConnectionOption(
        "exchange_ca_trust_path", "path", "EXCHANGE_CA_TRUST_PATH",
        ["PEM file (or directory) of the certificate authorities trusted for the WinRM HTTPS certificate.",
         "Without it the system trust store is used (and the C(REQUESTS_CA_BUNDLE) variable, as requests does).",
         "An empty value (for example C(EXCHANGE_CA_TRUST_PATH='') from a credential without a CA bundle) is the "
         "same as none."],
        # Read as text by the connection: Ansible's 'path' type would turn '' into the current directory.
        connection_type="str"),
    ConnectionOption(
        "exchange_message_encryption", "str", "EXCHANGE_MESSAGE_ENCRYPTION",
        ["WinRM message encryption. C(auto) encrypts over HTTP when the transport supports it."],
        choices=["auto", "always", "never"], default="auto"),
    ConnectionOption(
        "exchange_operation_timeout", "int", "EXCHANGE_OPERATION_TIMEOUT",
        ["WinRM operation timeout in seconds; a Receive that times out is simply repeated.",
         "Must be lower than O(exchange_read_timeout)."],
        default=20),
    ConnectionOption(
        "exchange_read_timeout", "int", "EXCHANGE_READ_TIMEOUT",
        ["HTTP read timeout in seconds. Must be greater than O(exchange_operation_timeout)."],
        default=30),
    ConnectionOption(
        "exchange_shell", "str", "EXCHANGE_SHELL",
        ["How the Exchange Management Shell is loaded in the remote PowerShell, once per module run (once per host "
         "and play over the C(mailops.exchange.exchange) connection).",
         "C(remote_session) imports a session of Exchange's supported remote PowerShell endpoint "
         "(C(http://<server fqdn>/PowerShell/), configuration C(Microsoft.Exchange)) with an explicit credential, "
         "which works over NTLM and Basic (that cannot delegate).",
         "C(snapin) adds the C(Microsoft.Exchange.Management.PowerShell.SnapIn) snap-in (Microsoft supports it only "
         "for the C(*-TransportAgent) cmdlets).",
         "C(remote_exchange_script) dot-sources C(RemoteExchange.ps1) and runs C(Connect-ExchangeServer -Auto), with "
         "the credential (a second hop too); its client rebuilds Exchange's objects with Exchange's types.",
         "Why C(remote_session) is the default - it is the way Microsoft documents to connect to an Exchange server "
         "with remote PowerShell, it takes the explicit credential that the second hop from a WinRM (NTLM or Basic) "
         "logon needs, and nothing the modules read depends on Exchange's types on the client. Through it and "
         "C(remote_exchange_script), Exchange cmdlets are implicit-remoting proxies whose errors arrive as "
         "non-terminating (MicrosoftDocs/PowerShell-Docs issue 1583), and every module detects them through the "
         "global C($ErrorActionPreference) and C($Error). Objects arrive deserialized - nested Exchange values as "
         "strings, certificates with C(RawData) only (CSS-Exchange C(ConvertTo-ExchangeCertificate.ps1)) - so the "
         "modules read string forms and take certificate facts from the bytes and the server's own certificate "
         "stores. The collection's tests run every module in each of the three modes against the lab, which models "
         "these behaviours (C(tests/lab/README.md))."],
        choices=list(SHELL_MODES), default="remote_session"),
    ConnectionOption(
        "exchange_server_fqdn", "str", "EXCHANGE_SERVER_FQDN",
        ["FQDN used in the C(Microsoft.Exchange) connection URI with O(exchange_shell=remote_session).",
         "Defaults to O(exchange_host); required when O(exchange_host) is an IP address."]),
]


def argument_spec(env_fallback):
    """The modules' argument spec of the connection options (``fallback`` reads the environment variable)."""
    return dict((option.name, option.argument_spec(env_fallback)) for option in OPTIONS)


# What every module's documentation says besides the options (the doc fragment's requirements and notes).
MODULE_REQUIREMENTS = ["pywinrm >= 0.5.0 (on the controller)"]
MODULE_NOTES = [
    "The module runs on the Ansible controller: target C(localhost) or use C(delegate_to: localhost).",
    "All connection options can be set once for a play with C(module_defaults) and the "
    "C(group/mailops.exchange.exchange) action group.",
    "Each run uses one WinRM shell, one PowerShell process and one Exchange-shell load; it reads once, compares on "
    "the controller and writes at most one batch of commands.",
    "Over the C(mailops.exchange.exchange) connection (C(ansible_connection=mailops.exchange.exchange)) the module "
    "instead uses the session that connection keeps for the host during the whole play - one Exchange-shell load "
    "per host and play - and the connection's options (the same C(exchange_*) variables) replace these module "
    "options, which are then ignored.",
    "Names, host names, domains, address spaces, URLs and templates are one line - an option value holding a "
    "control character (newline, carriage return, NUL, tab, U+2028, U+2029, any C0/C1 control) is refused before "
    "anything is sent, except in free-text options (a comment, PEM content) and passwords.",
    "A script or batch of write commands that does not fit in one WinRM message (500 KB, the WinRM service's "
    "default C(MaxEnvelopeSizekb)) is refused before it is sent.",
]


def module_fragment():
    """The doc fragment every module extends: the options, the requirements, the notes."""
    return {"options": dict((option.name, option.module_doc()) for option in OPTIONS),
            "requirements": list(MODULE_REQUIREMENTS), "notes": list(MODULE_NOTES)}


def connection_fragment():
    """The connection plugin's exchange_* options, with the variables and environment each is read from."""
    return {"options": dict((option.name, option.connection_doc()) for option in OPTIONS)}
