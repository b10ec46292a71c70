# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r'''
name: exchange
short_description: One Exchange Management Shell per host, kept for the whole play
version_added: "0.2.0"
author:
  - mailops.exchange developers (!UNKNOWN)
description:
  - A connection for Exchange servers that keeps, for each host, one WinRM shell with one PowerShell process and
    the Exchange Management Shell loaded once, for the whole play, in a session broker process on the controller.
  - The modules of this collection send their scripts to that broker through its socket instead of opening a
    session of their own, so a play loads the Exchange shell once per host instead of once per task.
  - Every module still runs on the controller, as with the C(local) connection; other modules (C(assert),
    C(command), C(mailops.exchange.exchange_validate)) behave exactly as they do with C(local).
  - The options are those of the modules' C(exchange_*) options and read the same variables, so an inventory that
    sets C(exchange_host), C(exchange_username), ... only needs C(ansible_connection=mailops.exchange.exchange).
    The modules' own C(exchange_*) options are ignored over this connection.
  - "The broker is started at the host's first module task and ends at the end of the play (Ansible resets every
    connection socket its tasks used, as for its own persistent connections), at a C(reset_connection) meta task,
    when the ansible-playbook process is gone, or after O(session_idle_timeout) idle seconds; it then deletes its
    WinRM shell. A change of a connection setting (other than the password) gets a session of its own; Ansible
    resets only the first socket of a host at the end of the play, so such a second broker ends when
    ansible-playbook does (or when idle)."
  - "Recovery: when the session has been dropped on the server side (the WinRM shell expired, PowerShell or the
    Exchange runspace ended), a read is repeated once on a new session; write commands are sent again only when
    the failure proves that they never started. Otherwise the task fails and says so; running it again converges."
notes:
  - The password reaches the broker on a pipe, never on a command line or as a module argument (the collection's
    action plugins drop C(exchange_password) from the module arguments of tasks over this connection, and hand
    C(exchange_certificate)'s O(mailops.exchange.exchange_certificate#module:pfx_password) to the broker, from which
    the module takes it through the socket). Its socket lives in the persistent-connection directory
    (C(~/.ansible/pc), mode 0700) with mode 0600 and is named after a hash of the connection settings (the password
    aside) and the ansible-playbook process, so hosts, accounts and runs never share a session.
  - The connection refuses a persistent-connection directory that is not the user's own or that group or others may
    write to, a socket that is not an owner-only socket of the user, and a listening process of another user.
  - The broker records the ids of the WinRM shells it opens in a file (mode 0600) next to its socket; a broker that
    was killed cannot delete its shell, so the next broker for the same host and account deletes it first.
  - Unlike C(ansible.netcommon)-style persistent connections, no C(ansible-connection) helper runs per task; the
    broker costs one Python start per host and play, nothing per task.
  - Modules run as the user that runs ansible-playbook; C(become) does not apply to tasks over this connection.
requirements:
  - pywinrm >= 0.5.0 (on the controller)
extends_documentation_fragment:
  # The exchange_* options: the modules' connection options, from their one table (module_utils/connection_options.py),
  # each read from the variable of its name (and the ones listed).
  - mailops.exchange.connection.connection_plugin
options:
  session_idle_timeout:
    description:
      - Seconds the session broker waits, idle, for the host's next task before it closes the session and exits
        (the next task then starts a new one). At the end of the play it is closed anyway.
    type: int
    default: 300
    env:
      - name: EXCHANGE_SESSION_IDLE_TIMEOUT
    vars:
      - name: exchange_session_idle_timeout
  pipelining:
    description:
      - Pipe the module to the Python that runs it on the controller instead of writing it to a temporary file
        (as the C(local) connection does with pipelining).
    type: boolean
    default: true
    env:
      - name: ANSIBLE_PIPELINING
    vars:
      - name: ansible_pipelining
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
#         gather: [client_access]
#     - mailops.exchange.exchange_vdir_url:
#         server: "{{ inventory_hostname }}"
#         urls: {owa: {external_url: https://mail.contoso.com/owa}}
#     - ansible.builtin.meta: reset_connection   # a fresh session for the next tasks, if ever needed
'''

import multiprocessing
import os

from ansible import constants as C
from ansible.errors import AnsibleConnectionFailure
from ansible.module_utils.connection import Connection as RpcConnection
from ansible.module_utils.connection import ConnectionError as RpcConnectionError
from ansible.plugins.connection import ConnectionBase
from ansible.plugins.loader import connection_loader
from ansible.utils.display import Display
from ansible.utils.path import unfrackpath

from ansible_collections.mailops.exchange.plugins.module_utils.exchange_session import (
    CONNECTION_ARGUMENT_SPEC, insecure_settings_warnings,
)
from ansible_collections.mailops.exchange.plugins.plugin_utils import exchange_broker

display = Display()


class Connection(ConnectionBase):
    """Runs modules on the controller (through a local connection) and hands them the host's session broker."""

    transport = "mailops.exchange.exchange"
    has_pipelining = True
    # Like the local connection: module files, temporary directories and interpreters are the controller's.
    _remote_is_local = True

    def __init__(self, play_context, *args, **kwargs):
        super(Connection, self).__init__(play_context, *args, **kwargs)
        # The ansible-playbook process: TaskExecutor passes it to the worker's connection. Without it (the strategy
        # building the plugin itself for a reset_connection meta task) this is ansible-playbook, else its child.
        self._playbook_pid = kwargs.get("ansible_playbook_pid") or (
            os.getpid() if multiprocessing.parent_process() is None else os.getppid())
        self._local = connection_loader.get("local", play_context, "/dev/null")
        self._local.set_options()

    # -- the session broker -----------------------------------------------------------------------------------

    @property
    def socket_path(self):
        """The socket of this host's session broker, started on first use (Ansible passes it to every module)."""
        if self._socket_path is None:
            self._socket_path = self._ensure_broker()
        return self._socket_path

    def _settings(self):
        settings = dict((name, self.get_option(name)) for name in CONNECTION_ARGUMENT_SPEC)
        trust = settings.get("exchange_ca_trust_path")
        # '' (an AWX credential without a CA bundle) is not a path: not set, as for the modules' env fallback.
        settings["exchange_ca_trust_path"] = (os.path.abspath(os.path.expanduser(trust.strip()))
                                              if isinstance(trust, str) and trust.strip() else None)
        return settings

    def _broker_path(self):
        directory = unfrackpath(C.PERSISTENT_CONTROL_PATH_DIR)
        return exchange_broker.socket_path(directory, self._settings(), self._playbook_pid)

    def _ensure_broker(self):
        import fcntl

        path = self._broker_path()
        directory = os.path.dirname(path)
        try:
            # Whoever controls the directory could put a socket of their own in the broker's place: refuse.
            exchange_broker.private_directory(directory)
            exchange_broker.check_private_socket(path)
        except exchange_broker.UnsafePath as exc:
            raise AnsibleConnectionFailure(str(exc))
        # Two forks may reach the same broker at once (two inventory hosts with the same settings): one starts it.
        with open(path + ".lock", "a") as lock:
            fcntl.lockf(lock, fcntl.LOCK_EX)
            try:
                if exchange_broker.is_listening(path):  # a ping: it also restarts the broker's idle clock
                    return path
                settings = self._settings()
                for warning in insecure_settings_warnings(settings):
                    display.warning(warning)
                display.vvv("starting the Exchange session broker %s" % path, host=settings.get("exchange_host"))
                try:
                    exchange_broker.start(path, settings, self._playbook_pid,
                                          self.get_option("session_idle_timeout"))
                except (RuntimeError, OSError) as exc:
                    raise AnsibleConnectionFailure("cannot start the Exchange session broker for %s: %s"
                                                   % (settings.get("exchange_host"), exc))
                return path
            finally:
                fcntl.lockf(lock, fcntl.LOCK_UN)

    def reset(self):
        """``meta: reset_connection``: end the host's session (the next Exchange task opens a new one)."""
        path = self._broker_path()
        if exchange_broker.is_listening(path):
            try:
                RpcConnection(path).reset()
            except RpcConnectionError as exc:
                display.vvv("resetting the Exchange session broker %s: %s" % (path, exc))
        self._socket_path = None

    # -- running modules: the controller's local connection -----------------------------------------------------

    def _connect(self):
        self._connected = True
        return self

    def exec_command(self, cmd, in_data=None, sudoable=True):
        return self._local.exec_command(cmd, in_data=in_data, sudoable=sudoable)

    def put_file(self, in_path, out_path):
        return self._local.put_file(in_path, out_path)

    def fetch_file(self, in_path, out_path):
        return self._local.fetch_file(in_path, out_path)

    def close(self):
        # The worker's handle only; the broker lives on until the end of the play.
        self._connected = False
