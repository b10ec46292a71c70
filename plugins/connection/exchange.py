# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: exchange
short_description: One Exchange Management Shell per host, kept for the whole play
version_added: "0.2.0"
author:
  - mailops.exchange developers (!UNKNOWN)
description:
  - A persistent connection for Exchange servers. For each host, Ansible starts one C(ansible-connection) process
    on the controller at the host's first Exchange task; it holds one WinRM shell, one PowerShell process and the
    Exchange Management Shell, loaded once, until the end of the play (or a C(reset_connection) meta task).
  - The modules of this collection send their scripts to that process through its socket instead of opening a
    session of their own, so a play loads the Exchange shell once per host instead of once per task.
  - Every module still runs on the controller, as with the C(local) connection; other modules (C(assert),
    C(command), C(mailops.exchange.exchange_validate)) behave exactly as they do with C(local).
  - The options are those of the modules' C(exchange_*) options and read the same variables, so an inventory that
    sets C(exchange_host), C(exchange_username), ... only needs C(ansible_connection=mailops.exchange.exchange).
    The modules' own C(exchange_*) options are ignored over this connection.
  - "Recovery: when the session has been dropped on the server side (the WinRM shell expired, PowerShell or the
    Exchange runspace ended), a read is repeated once on a new session; write commands are sent again only when
    the failure proves that they never started. Otherwise the task fails and says so; running it again converges."
notes:
  - The password reaches the connection process as a connection option, never as a module argument. The socket
    lives in the persistent-connection directory (C(~/.ansible/pc), mode 0700) and is keyed by host, port, user and
    the ansible-playbook process, so hosts and runs never share a session.
  - Keep O(persistent_log_messages) off; Ansible logs every request unredacted when it is on.
requirements:
  - pywinrm >= 0.5.0 (on the controller)
options:
  exchange_host:
    description:
      - Name or address of the Exchange server's WinRM service. Defaults to the inventory host name.
    type: str
    vars:
      - name: inventory_hostname
      - name: ansible_host
      - name: exchange_host
  exchange_port:
    description:
      - TCP port of the WinRM service; C(5986) for https and C(5985) for http when not set.
    type: int
    env:
      - name: EXCHANGE_PORT
    vars:
      - name: ansible_port
      - name: exchange_port
  exchange_scheme:
    description: Whether WinRM is reached over https or http.
    type: str
    choices: [https, http]
    default: https
    env:
      - name: EXCHANGE_SCHEME
    vars:
      - name: exchange_scheme
  exchange_transport:
    description: WinRM authentication (C(basic) over http sends the password in clear text and is warned about).
    type: str
    choices: [ntlm, basic, kerberos, credssp]
    default: ntlm
    env:
      - name: EXCHANGE_TRANSPORT
    vars:
      - name: exchange_transport
  exchange_username:
    description:
      - Account for WinRM and for the explicit credential of the second hop to C(Microsoft.Exchange).
    type: str
    env:
      - name: EXCHANGE_USERNAME
    vars:
      - name: ansible_user
      - name: exchange_username
  exchange_password:
    description: Password of O(exchange_username).
    type: str
    env:
      - name: EXCHANGE_PASSWORD
    vars:
      - name: ansible_password
      - name: exchange_password
  exchange_cert_validation:
    description: Whether the WinRM service's HTTPS certificate is validated (C(ignore) is for labs and warned about).
    type: str
    choices: [validate, ignore]
    default: validate
    env:
      - name: EXCHANGE_CERT_VALIDATION
    vars:
      - name: exchange_cert_validation
  exchange_ca_trust_path:
    description: PEM file or directory of the CAs trusted for the WinRM HTTPS certificate.
    type: path
    env:
      - name: EXCHANGE_CA_TRUST_PATH
    vars:
      - name: exchange_ca_trust_path
  exchange_message_encryption:
    description: WinRM message encryption; C(auto) encrypts over http when the transport supports it.
    type: str
    choices: [auto, always, never]
    default: auto
    env:
      - name: EXCHANGE_MESSAGE_ENCRYPTION
    vars:
      - name: exchange_message_encryption
  exchange_operation_timeout:
    description: WinRM operation timeout in seconds; lower than O(exchange_read_timeout).
    type: int
    default: 20
    env:
      - name: EXCHANGE_OPERATION_TIMEOUT
    vars:
      - name: exchange_operation_timeout
  exchange_read_timeout:
    description: HTTP read timeout in seconds; greater than O(exchange_operation_timeout).
    type: int
    default: 30
    env:
      - name: EXCHANGE_READ_TIMEOUT
    vars:
      - name: exchange_read_timeout
  exchange_shell:
    description:
      - How the Exchange Management Shell is loaded, once per host and play (see the modules' O(exchange_shell)).
    type: str
    choices: [remote_session, snapin, remote_exchange_script]
    default: remote_session
    env:
      - name: EXCHANGE_SHELL
    vars:
      - name: exchange_shell
  exchange_server_fqdn:
    description:
      - FQDN in the C(Microsoft.Exchange) connection URI; defaults to O(exchange_host), required when that is an
        IP address.
    type: str
    env:
      - name: EXCHANGE_SERVER_FQDN
    vars:
      - name: exchange_server_fqdn
  persistent_connect_timeout:
    description:
      - Seconds the connection process waits, idle, for the host's next task before it closes the session and
        exits (the next task then starts a new one). At the end of the play it is closed anyway.
    type: int
    default: 300
    ini:
      - section: persistent_connection
        key: connect_timeout
    env:
      - name: ANSIBLE_PERSISTENT_CONNECT_TIMEOUT
    vars:
      - name: ansible_connect_timeout
  persistent_command_timeout:
    description:
      - Seconds one request (one module's read or write batch, the Exchange-shell load included) may take before
        the connection process gives up and exits. Longer than the session's own limit of 900 seconds per script, so
        that a script that hangs is reported by the session, naming what it was doing.
    type: int
    default: 1200
    ini:
      - section: persistent_connection
        key: command_timeout
    env:
      - name: ANSIBLE_PERSISTENT_COMMAND_TIMEOUT
    vars:
      - name: ansible_command_timeout
  persistent_log_messages:
    description:
      - Log every request and answer of the connection process to the Ansible log. B(Unredacted); for debugging
        only.
    type: boolean
    default: false
    ini:
      - section: persistent_connection
        key: log_messages
    env:
      - name: ANSIBLE_PERSISTENT_LOG_MESSAGES
    vars:
      - name: ansible_persistent_log_messages
'''

EXAMPLES = r'''
# inventory/group_vars/exchange_mailbox.yml: the modules' exchange_* variables, plus the connection
ansible_connection: mailops.exchange.exchange
ansible_python_interpreter: "{{ ansible_playbook_python }}"
exchange_host: mailbox01.corp.contoso.com
exchange_username: CONTOSO\svc-exchange-config
exchange_password: "{{ vault_exchange_password }}"

# A play over it: the Exchange shell is loaded once per host, at the first task that needs it.
# - hosts: exchange_mailbox
#   gather_facts: false
#   tasks:
#     - mailops.exchange.exchange_info:
#         gather: [vdirs]
#     - mailops.exchange.exchange_vdir_url:
#         server: "{{ inventory_hostname }}"
#         vdirs: {owa: {external_url: https://mail.contoso.com/owa}}
#     - ansible.builtin.meta: reset_connection   # a fresh session for the next tasks, if ever needed
'''

import json
import re

from ansible.plugins.connection import NetworkConnectionBase

from ansible_collections.mailops.exchange.plugins.module_utils.exchange_session import (
    CONNECTION_ARGUMENT_SPEC, ExchangeCommandError, ExchangeConnectionError, ExchangeError, ExchangeOutputError,
    ExchangeSession, error_record, insecure_settings_warnings,
)

# Implicit-remoting proxies of a Microsoft.Exchange session whose runspace has ended fail like this: the cmdlet
# never ran, the session is unusable.
_BROKEN_RUNSPACE = re.compile(r"PSRemotingTransportException|session state is Broken|runspace .* (closed|broken)",
                              re.IGNORECASE)


class Connection(NetworkConnectionBase):
    """The persistent side: one ExchangeSession per host, reached by modules over JSON-RPC."""

    transport = "mailops.exchange.exchange"
    has_pipelining = True

    def __init__(self, play_context, *args, **kwargs):
        super(Connection, self).__init__(play_context, *args, **kwargs)
        self._exchange = None
        self._exchange_settings = None
        self._warned_settings = None

    def _connect(self):
        # Nothing is opened up front: the Exchange session opens at the first module request.
        self._connected = True
        return self

    # -- JSON-RPC methods (plugins/module_utils/persistent_session.py calls them) -----------------------------

    def exchange_query(self, script):
        """Run a read script on the host's session; answer ``{"value": <parsed JSON>}`` or ``{"error": {...}}``."""
        return self._answer("query", script)

    def exchange_execute(self, commands):
        """Run write command lines on the host's session; answer ``{"value": null}`` or ``{"error": {...}}``."""
        return self._answer("execute", list(commands or []))

    def close(self):
        self._drop_exchange()
        super(Connection, self).close()

    # -- internals -------------------------------------------------------------------------------------------

    def _answer(self, operation, argument):
        try:
            return json.dumps({"value": self._run(operation, argument)})
        except (ExchangeError, ValueError) as exc:
            return json.dumps({"error": error_record(exc)})

    def _settings(self):
        return dict((name, self.get_option(name)) for name in CONNECTION_ARGUMENT_SPEC)

    def _run(self, operation, argument):
        settings = self._settings()
        if self._exchange is not None and settings != self._exchange_settings:
            # Another endpoint or account reached this socket (two inventory hosts with the same address, port and
            # user): a session is never reused across settings.
            self._drop_exchange()
        reused = self._exchange is not None
        for attempt in (1, 2):
            try:
                return getattr(self._session(settings), operation)(argument)
            except (ExchangeConnectionError, ExchangeOutputError, ExchangeCommandError) as exc:
                broken = isinstance(exc, ExchangeCommandError) and bool(_BROKEN_RUNSPACE.search(
                    "%s %s" % (exc.error_id or "", exc.message)))
                if isinstance(exc, ExchangeCommandError) and not broken:
                    raise  # Exchange refused a cmdlet: the session itself is fine
                # The session is unusable (or its state unknown): never hand it to the next task.
                self._drop_exchange()
                retry = attempt == 1 and reused and (
                    (operation == "query" and not isinstance(exc, ExchangeOutputError))
                    or getattr(exc, "not_started", False))
                if not retry:
                    raise
                self.queue_message("vvv", "mailops.exchange: the session to %s was dropped (%s); opening a new one "
                                          "and sending the %s again" % (settings.get("exchange_host"), exc, operation))

    def set_options(self, task_keys=None, var_options=None, direct=None):
        super(Connection, self).set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        # ansible-connection calls this at every task of the host and hands the queued messages to the task right
        # after, so the warnings about the settings show at the first task that uses them (once per settings).
        settings = self._settings()
        if settings != self._warned_settings:
            self._warned_settings = settings
            for warning in insecure_settings_warnings(settings):
                self.queue_message("warning", warning)

    def _session(self, settings):
        if self._exchange is None:
            self._exchange = ExchangeSession.from_params(settings)
            self._exchange_settings = settings
        return self._exchange

    def _drop_exchange(self):
        session, self._exchange, self._exchange_settings = self._exchange, None, None
        if session is not None:
            session.close()
