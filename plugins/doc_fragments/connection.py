# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Written by hack/connection_docs.py from plugins/module_utils/connection_options.py - edit the table, not this file.


class ModuleDocFragment:
    # The connection options of every mailops.exchange module (CONNECTION_ARGUMENT_SPEC).
    DOCUMENTATION = r'''
options:
  exchange_host:
    description:
      - Name or address of the Exchange server's WinRM service.
      - The module runs on the Ansible controller (usually C(localhost)) and connects to this host with pywinrm.
      - Required, unless the task runs over the C(mailops.exchange.exchange) connection.
      - If not set, the value of the E(EXCHANGE_HOST) environment variable is used.
    type: str
  exchange_port:
    description:
      - TCP port of the WinRM service.
      - Defaults to C(5986) when O(exchange_scheme=https) and C(5985) when O(exchange_scheme=http).
      - If not set, the value of the E(EXCHANGE_PORT) environment variable is used.
    type: int
  exchange_scheme:
    description:
      - Whether WinRM is reached over HTTPS or HTTP.
      - Over HTTP, NTLM, Kerberos and CredSSP still encrypt the messages (see O(exchange_message_encryption)).
      - If not set, the value of the E(EXCHANGE_SCHEME) environment variable is used.
    type: str
    choices:
      - https
      - http
    default: https
  exchange_transport:
    description:
      - WinRM authentication.
      - C(basic) sends the password with every request; it is warned about when used over HTTP.
      - C(kerberos) needs the pykerberos or pyspnego Kerberos support, C(credssp) needs requests-credssp.
      - If not set, the value of the E(EXCHANGE_TRANSPORT) environment variable is used.
    type: str
    choices:
      - ntlm
      - basic
      - kerberos
      - credssp
    default: ntlm
  exchange_username:
    description:
      - Account used for WinRM and, with O(exchange_shell=remote_session), for the explicit credential of the second hop
        to Exchange's C(Microsoft.Exchange) remote PowerShell endpoint, for example C(CORP\administrator).
      - If not set, the value of the E(EXCHANGE_USERNAME) environment variable is used.
    type: str
  exchange_password:
    description:
      - Password of O(exchange_username).
      - It only ever travels inside the PowerShell process's standard input, never on a command line, and never appears
        in results.
      - Over the C(mailops.exchange.exchange) connection the collection's action plugin removes it from the module's arguments
        (the connection holds it), so it is in no AnsiballZ file even with C(ANSIBLE_KEEP_REMOTE_FILES=1).
      - If not set, the value of the E(EXCHANGE_PASSWORD) environment variable is used.
    type: str
  exchange_cert_validation:
    description:
      - Whether the HTTPS certificate of the WinRM service is validated.
      - C(ignore) is meant for labs; it is warned about when used.
      - If not set, the value of the E(EXCHANGE_CERT_VALIDATION) environment variable is used.
    type: str
    choices:
      - validate
      - ignore
    default: validate
  exchange_ca_trust_path:
    description:
      - PEM file (or directory) of the certificate authorities trusted for the WinRM HTTPS certificate.
      - Without it the system trust store is used (and the C(REQUESTS_CA_BUNDLE) variable, as requests does).
      - An empty value (for example C(EXCHANGE_CA_TRUST_PATH='') from a credential without a CA bundle) is the same as
        none.
      - If not set, the value of the E(EXCHANGE_CA_TRUST_PATH) environment variable is used.
    type: path
  exchange_message_encryption:
    description:
      - WinRM message encryption. C(auto) encrypts over HTTP when the transport supports it.
      - If not set, the value of the E(EXCHANGE_MESSAGE_ENCRYPTION) environment variable is used.
    type: str
    choices:
      - auto
      - always
      - never
    default: auto
  exchange_operation_timeout:
    description:
      - WinRM operation timeout in seconds; a Receive that times out is simply repeated.
      - Must be lower than O(exchange_read_timeout).
      - If not set, the value of the E(EXCHANGE_OPERATION_TIMEOUT) environment variable is used.
    type: int
    default: 20
  exchange_read_timeout:
    description:
      - HTTP read timeout in seconds. Must be greater than O(exchange_operation_timeout).
      - If not set, the value of the E(EXCHANGE_READ_TIMEOUT) environment variable is used.
    type: int
    default: 30
  exchange_shell:
    description:
      - How the Exchange Management Shell is loaded in the remote PowerShell, once per module run (once per host and play
        over the C(mailops.exchange.exchange) connection).
      - C(remote_session) imports a session of Exchange's supported remote PowerShell endpoint (C(http://<server fqdn>/PowerShell/),
        configuration C(Microsoft.Exchange)) with an explicit credential, which works over NTLM and Basic (that cannot
        delegate).
      - C(snapin) adds the C(Microsoft.Exchange.Management.PowerShell.SnapIn) snap-in (Microsoft supports it only for
        the C(*-TransportAgent) cmdlets).
      - C(remote_exchange_script) dot-sources C(RemoteExchange.ps1) and runs C(Connect-ExchangeServer -Auto), with the
        credential (a second hop too); its client rebuilds Exchange's objects with Exchange's types.
      - Why C(remote_session) is the default - it is the way Microsoft documents to connect to an Exchange server with
        remote PowerShell, it takes the explicit credential that the second hop from a WinRM (NTLM or Basic) logon needs,
        and nothing the modules read depends on Exchange's types on the client. Through it and C(remote_exchange_script),
        Exchange cmdlets are implicit-remoting proxies whose errors arrive as non-terminating (MicrosoftDocs/PowerShell-Docs
        issue 1583), and every module detects them through the global C($ErrorActionPreference) and C($Error). Objects
        arrive deserialized - nested Exchange values as strings, certificates with C(RawData) only (CSS-Exchange C(ConvertTo-ExchangeCertificate.ps1))
        - so the modules read string forms and take certificate facts from the bytes and the server's own certificate
        stores. The collection's tests run every module in each of the three modes against the lab, which models these
        behaviours (C(tests/lab/README.md)).
      - If not set, the value of the E(EXCHANGE_SHELL) environment variable is used.
    type: str
    choices:
      - remote_session
      - snapin
      - remote_exchange_script
    default: remote_session
  exchange_server_fqdn:
    description:
      - FQDN used in the C(Microsoft.Exchange) connection URI with O(exchange_shell=remote_session).
      - Defaults to O(exchange_host); required when O(exchange_host) is an IP address.
      - If not set, the value of the E(EXCHANGE_SERVER_FQDN) environment variable is used.
    type: str
requirements:
  - pywinrm >= 0.5.0 (on the controller)
notes:
  - 'The module runs on the Ansible controller: target C(localhost) or use C(delegate_to: localhost).'
  - All connection options can be set once for a play with C(module_defaults) and the C(group/mailops.exchange.exchange)
    action group.
  - Each run uses one WinRM shell, one PowerShell process and one Exchange-shell load; it reads once, compares on the
    controller and writes at most one batch of commands.
  - Over the C(mailops.exchange.exchange) connection (C(ansible_connection=mailops.exchange.exchange)) the module instead
    uses the session that connection keeps for the host during the whole play - one Exchange-shell load per host and play
    - and the connection's options (the same C(exchange_*) variables) replace these module options, which are then ignored.
  - Names, host names, domains, address spaces, URLs and templates are one line - an option value holding a control character
    (newline, carriage return, NUL, tab, U+2028, U+2029, any C0/C1 control) is refused before anything is sent, except
    in free-text options (a comment, PEM content) and passwords.
  - A script or batch of write commands that does not fit in one WinRM message (500 KB, the WinRM service's default C(MaxEnvelopeSizekb))
    is refused before it is sent.
'''

    # The same options for the mailops.exchange.exchange connection (extends_documentation_fragment:
    # mailops.exchange.connection.connection_plugin), each read from the variables and environment it lists.
    CONNECTION_PLUGIN = r'''
options:
  exchange_host:
    description:
      - Name or address of the Exchange server's WinRM service.
      - Defaults to the inventory host name.
    type: str
    vars:
      - name: inventory_hostname
      - name: ansible_host
      - name: exchange_host
  exchange_port:
    description:
      - TCP port of the WinRM service.
      - Defaults to C(5986) when O(exchange_scheme=https) and C(5985) when O(exchange_scheme=http).
    type: int
    env:
      - name: EXCHANGE_PORT
    vars:
      - name: ansible_port
      - name: exchange_port
  exchange_scheme:
    description:
      - Whether WinRM is reached over HTTPS or HTTP.
      - Over HTTP, NTLM, Kerberos and CredSSP still encrypt the messages (see O(exchange_message_encryption)).
    type: str
    choices:
      - https
      - http
    default: https
    env:
      - name: EXCHANGE_SCHEME
    vars:
      - name: exchange_scheme
  exchange_transport:
    description:
      - WinRM authentication.
      - C(basic) sends the password with every request; it is warned about when used over HTTP.
      - C(kerberos) needs the pykerberos or pyspnego Kerberos support, C(credssp) needs requests-credssp.
    type: str
    choices:
      - ntlm
      - basic
      - kerberos
      - credssp
    default: ntlm
    env:
      - name: EXCHANGE_TRANSPORT
    vars:
      - name: exchange_transport
  exchange_username:
    description:
      - Account used for WinRM and, with O(exchange_shell=remote_session), for the explicit credential of the second hop
        to Exchange's C(Microsoft.Exchange) remote PowerShell endpoint, for example C(CORP\administrator).
    type: str
    env:
      - name: EXCHANGE_USERNAME
    vars:
      - name: ansible_user
      - name: exchange_username
  exchange_password:
    description:
      - Password of O(exchange_username).
      - It only ever travels inside the PowerShell process's standard input, never on a command line, and never appears
        in results.
      - It reaches the session broker on a pipe.
    type: str
    env:
      - name: EXCHANGE_PASSWORD
    vars:
      - name: ansible_password
      - name: exchange_password
  exchange_cert_validation:
    description:
      - Whether the HTTPS certificate of the WinRM service is validated.
      - C(ignore) is meant for labs; it is warned about when used.
    type: str
    choices:
      - validate
      - ignore
    default: validate
    env:
      - name: EXCHANGE_CERT_VALIDATION
    vars:
      - name: exchange_cert_validation
  exchange_ca_trust_path:
    description:
      - PEM file (or directory) of the certificate authorities trusted for the WinRM HTTPS certificate.
      - Without it the system trust store is used (and the C(REQUESTS_CA_BUNDLE) variable, as requests does).
      - An empty value (for example C(EXCHANGE_CA_TRUST_PATH='') from a credential without a CA bundle) is the same as
        none.
    type: str
    env:
      - name: EXCHANGE_CA_TRUST_PATH
    vars:
      - name: exchange_ca_trust_path
  exchange_message_encryption:
    description:
      - WinRM message encryption. C(auto) encrypts over HTTP when the transport supports it.
    type: str
    choices:
      - auto
      - always
      - never
    default: auto
    env:
      - name: EXCHANGE_MESSAGE_ENCRYPTION
    vars:
      - name: exchange_message_encryption
  exchange_operation_timeout:
    description:
      - WinRM operation timeout in seconds; a Receive that times out is simply repeated.
      - Must be lower than O(exchange_read_timeout).
    type: int
    default: 20
    env:
      - name: EXCHANGE_OPERATION_TIMEOUT
    vars:
      - name: exchange_operation_timeout
  exchange_read_timeout:
    description:
      - HTTP read timeout in seconds. Must be greater than O(exchange_operation_timeout).
    type: int
    default: 30
    env:
      - name: EXCHANGE_READ_TIMEOUT
    vars:
      - name: exchange_read_timeout
  exchange_shell:
    description:
      - How the Exchange Management Shell is loaded in the remote PowerShell, once per module run (once per host and play
        over the C(mailops.exchange.exchange) connection).
      - C(remote_session) imports a session of Exchange's supported remote PowerShell endpoint (C(http://<server fqdn>/PowerShell/),
        configuration C(Microsoft.Exchange)) with an explicit credential, which works over NTLM and Basic (that cannot
        delegate).
      - C(snapin) adds the C(Microsoft.Exchange.Management.PowerShell.SnapIn) snap-in (Microsoft supports it only for
        the C(*-TransportAgent) cmdlets).
      - C(remote_exchange_script) dot-sources C(RemoteExchange.ps1) and runs C(Connect-ExchangeServer -Auto), with the
        credential (a second hop too); its client rebuilds Exchange's objects with Exchange's types.
      - Why C(remote_session) is the default - it is the way Microsoft documents to connect to an Exchange server with
        remote PowerShell, it takes the explicit credential that the second hop from a WinRM (NTLM or Basic) logon needs,
        and nothing the modules read depends on Exchange's types on the client. Through it and C(remote_exchange_script),
        Exchange cmdlets are implicit-remoting proxies whose errors arrive as non-terminating (MicrosoftDocs/PowerShell-Docs
        issue 1583), and every module detects them through the global C($ErrorActionPreference) and C($Error). Objects
        arrive deserialized - nested Exchange values as strings, certificates with C(RawData) only (CSS-Exchange C(ConvertTo-ExchangeCertificate.ps1))
        - so the modules read string forms and take certificate facts from the bytes and the server's own certificate
        stores. The collection's tests run every module in each of the three modes against the lab, which models these
        behaviours (C(tests/lab/README.md)).
    type: str
    choices:
      - remote_session
      - snapin
      - remote_exchange_script
    default: remote_session
    env:
      - name: EXCHANGE_SHELL
    vars:
      - name: exchange_shell
  exchange_server_fqdn:
    description:
      - FQDN used in the C(Microsoft.Exchange) connection URI with O(exchange_shell=remote_session).
      - Defaults to O(exchange_host); required when O(exchange_host) is an IP address.
    type: str
    env:
      - name: EXCHANGE_SERVER_FQDN
    vars:
      - name: exchange_server_fqdn
'''
