# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The session broker behind the ``mailops.exchange.exchange`` connection: one Exchange session per host and play.

The connection plugin starts, per host (and per set of connection settings and ansible-playbook run), one broker
process on the controller: a fresh Python interpreter that holds one :class:`ExchangeSession` (one WinRM shell,
one PowerShell process, the Exchange shell loaded once) and answers JSON-RPC requests on a Unix socket in the
persistent-connection directory (``~/.ansible/pc``, mode 0700; the socket itself 0600). Modules reach it through
the ``_ansible_socket`` Ansible hands them (``module_utils/persistent_session.py``).

Why not ansible-connection (``NetworkConnectionBase``): ansible-core starts its ``ansible-connection`` helper for
every task of a persistent connection, about 0.4 s of controller CPU per task on top of the module. The broker is
started once per host and costs nothing per task.

Lifetime: the broker ends when

- the play ends: Ansible's strategy resets every socket its tasks used (JSON-RPC ``reset``), as it does for
  ansible-connection, and so does ``meta: reset_connection``;
- the ansible-playbook process that started it is gone (checked every second), e.g. after Ctrl-C or a crash;
- nobody used it for ``idle_timeout`` seconds.

It then closes the Exchange session (deletes the WinRM shell) and removes its socket.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import json
import os
import re
import select
import signal
import socket
import sys
import time

from ansible.module_utils.common.text.converters import to_bytes
from ansible.module_utils.connection import recv_data, send_data

from ansible_collections.mailops.exchange.plugins.module_utils.exchange_session import (
    ExchangeCommandError, ExchangeConnectionError, ExchangeError, ExchangeOutputError, ExchangeSession, error_record,
)

#: How long the connection plugin waits for a new broker to say it listens.
START_TIMEOUT = 60

# Implicit-remoting proxies of a Microsoft.Exchange session whose runspace has ended fail like this: the cmdlet
# never ran, the session is unusable.
_BROKEN_RUNSPACE = re.compile(r"PSRemotingTransportException|session state is Broken|runspace .* (closed|broken)",
                              re.IGNORECASE)

# The broker's own command line (a fresh interpreter): install Ansible's collection loader, then run main().
_BOOTSTRAP = (
    "import json, sys\n"
    "from ansible.plugins.loader import init_plugin_loader\n"
    "init_plugin_loader(json.loads(sys.argv[1]) or None)\n"
    "from ansible_collections.mailops.exchange.plugins.plugin_utils.exchange_broker import main\n"
    "main()\n"
)

# How a notice names what was sent again.
_WHAT = {"query": "read script", "execute": "write commands", "write_query": "write commands and their read-back"}

#: What identifies a broker's process (the bench and the tests look for it).
PROCESS_MARKER = "mailops.exchange.plugins.plugin_utils.exchange_broker"


class ExchangeBroker(object):
    """The JSON-RPC object: one ExchangeSession, re-opened when the server dropped it (safely, see ``_run``)."""

    def __init__(self, settings, session_factory=None):
        self.settings = dict(settings)
        self._session_factory = session_factory or ExchangeSession.from_params
        self._session = None
        self.stopped = False
        self.messages = []

    # -- JSON-RPC methods --------------------------------------------------------------------------------------

    def exchange_query(self, script, writes=False):
        """Run a read script (``writes``: one that writes, then reads back); answer JSON text ``{"value": <parsed
        JSON>}`` or ``{"error": {...}}``."""
        return self._answer("write_query" if writes else "query", script)

    def exchange_execute(self, commands):
        """Run write command lines; answer JSON text ``{"value": null}`` or ``{"error": {...}}``."""
        return self._answer("execute", list(commands or []))

    def reset(self):
        """End of the play (Ansible's strategy) or ``meta: reset_connection``: close the session and stop."""
        self.close()

    def close(self):
        self.stopped = True
        self._drop()

    def pop_messages(self):
        messages, self.messages = self.messages, []
        return messages

    # -- internals ---------------------------------------------------------------------------------------------

    def _answer(self, operation, argument):
        try:
            answer = {"value": self._run(operation, argument)}
        except (ExchangeError, ValueError) as exc:
            answer = {"error": error_record(exc)}
        answer["notices"] = self.pop_messages()  # the module shows them as warnings
        return json.dumps(answer)

    def _run(self, operation, argument):
        reused = self._session is not None
        for attempt in (1, 2):
            try:
                if operation == "write_query":
                    return self._open().query(argument, writes=True)
                return getattr(self._open(), operation)(argument)
            except (ExchangeConnectionError, ExchangeOutputError, ExchangeCommandError) as exc:
                broken = isinstance(exc, ExchangeCommandError) and bool(_BROKEN_RUNSPACE.search(
                    "%s %s" % (exc.error_id or "", exc.message)))
                if isinstance(exc, ExchangeCommandError) and not broken:
                    raise  # Exchange refused a cmdlet: the session itself is fine
                # The session is unusable (or its state unknown): never hand it to the next task.
                self._drop()
                # A read may always be sent again; write commands only when the failure proves they never started.
                retry = attempt == 1 and reused and (
                    (operation == "query" and not isinstance(exc, ExchangeOutputError))
                    or getattr(exc, "not_started", False))
                if not retry:
                    raise
                self.messages.append("the session to %s was dropped (%s); opened a new one and sent the %s again"
                                     % (self.settings.get("exchange_host"), exc, _WHAT[operation]))

    def _open(self):
        if self._session is None:
            self._session = self._session_factory(self.settings)
        return self._session

    def _drop(self):
        session, self._session = self._session, None
        if session is not None:
            session.close()


# -- where a broker listens ------------------------------------------------------------------------------------------

def socket_path(directory, settings, playbook_pid):
    """The broker's socket for these settings and this ansible-playbook run.

    Every setting but the password is part of the name (hashed), so two hosts, two accounts or two runs never share
    a session, and a task that changes a setting gets a broker of its own. The password stays out of it: even a
    hash of it in a file name would give a guessable password away to whoever can list the directory. So a task
    that changes only the password keeps the host's session (opened, and authenticated, with the first one).
    """
    material = json.dumps([sorted((k, v) for k, v in settings.items() if v is not None and k != "exchange_password"),
                           str(playbook_pid)], sort_keys=True, default=str)
    return os.path.join(directory, "mailops-exchange-%s" % hashlib.sha256(to_bytes(material)).hexdigest()[:24])


def is_listening(path):
    """True when a broker answers on ``path`` (a leftover socket file of a dead broker is not)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
        return True
    except (OSError, IOError):
        return False
    finally:
        probe.close()


def start(path, settings, playbook_pid, idle_timeout, collection_paths):
    """Start a broker for ``path`` and wait until it listens. Returns None or raises RuntimeError with its reason."""
    import subprocess

    config = dict(socket_path=path, settings=settings, playbook_pid=int(playbook_pid) if playbook_pid else None,
                  idle_timeout=int(idle_timeout))
    process = subprocess.Popen(
        [sys.executable, "-c", _BOOTSTRAP, json.dumps(list(collection_paths or [])), PROCESS_MARKER],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, close_fds=True,
        start_new_session=True,  # no terminal signals; it ends on its own (see the module docstring)
    )
    # The settings (with the password) travel on the pipe, never on a command line.
    process.stdin.write(to_bytes(json.dumps(config)))
    process.stdin.close()
    deadline = time.monotonic() + START_TIMEOUT
    line = b""
    while time.monotonic() < deadline:
        ready, _unused, _unused = select.select([process.stdout], [], [], 0.5)
        if ready:
            line = process.stdout.readline()
            break
        if process.poll() is not None:
            break
    if line.strip() != b"READY":
        if process.poll() is None:
            process.kill()
        # A broker that died on its way up (a traceback, an import error) said why on its output: keep the end of it.
        line += process.stdout.read()
    process.stdout.close()
    text = line.decode("utf-8", "replace").strip()
    if text != "READY":
        raise RuntimeError(text[-2000:] or "the session broker did not start within %d seconds" % START_TIMEOUT)


# -- the broker process ----------------------------------------------------------------------------------------------

def main():
    config = json.loads(sys.stdin.read())
    path = config["socket_path"]
    try:
        listener = _listen(path)
    except Exception as exc:  # told to the connection plugin, which fails the task with it
        sys.stdout.write("cannot listen on %s: %s\n" % (path, exc))
        sys.stdout.flush()
        return
    broker = ExchangeBroker(config["settings"])
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    _detach_stdio()
    try:
        serve(listener, broker, config.get("playbook_pid"), config.get("idle_timeout") or 300)
    finally:
        broker.close()
        # The name first: once it is gone, a new broker for the same settings may bind it without losing it to us.
        try:
            os.unlink(path)
        except OSError:
            pass
        listener.close()
        _remove_lock_file(path + ".lock")


def _remove_lock_file(lock_path):
    """Remove the connection plugin's lock file (see _ensure_broker) - only when nobody holds it."""
    import fcntl

    try:
        with open(lock_path, "a") as lock:
            fcntl.lockf(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            try:
                os.unlink(lock_path)
            finally:
                fcntl.lockf(lock, fcntl.LOCK_UN)
    except (OSError, IOError):
        pass  # someone is starting a broker right now: the file is theirs


def _listen(path):
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    old_umask = os.umask(0o177)  # the socket: owner only
    try:
        if os.path.exists(path) and not is_listening(path):
            os.unlink(path)  # a dead broker's leftover
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
    finally:
        os.umask(old_umask)
    listener.listen(8)
    return listener


def _detach_stdio():
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


def serve(listener, broker, playbook_pid=None, idle_timeout=300, poll_interval=1.0):
    """Answer requests one connection at a time until reset/close, idle timeout or the end of ansible-playbook."""
    from ansible.utils.jsonrpc import JsonRpcServer

    server = JsonRpcServer()
    server._objects = set([broker])  # JsonRpcServer.register() adds to a set shared by every instance
    signal.signal(signal.SIGTERM, lambda signum, frame: setattr(broker, "stopped", True))
    last_used = time.monotonic()
    while not broker.stopped:
        try:
            ready, _unused, _unused = select.select([listener], [], [], poll_interval)
        except (OSError, IOError, select.error) as exc:
            if getattr(exc, "errno", None) == errno.EINTR or (exc.args and exc.args[0] == errno.EINTR):
                continue
            raise
        if not ready:
            if time.monotonic() - last_used > idle_timeout or not _alive(playbook_pid):
                break
            continue
        conn, _unused = listener.accept()
        try:
            while not broker.stopped:
                data = recv_data(conn)
                if not data:
                    break
                send_data(conn, to_bytes(server.handle_request(data)))
        except (OSError, IOError):
            pass  # the client went away; the next request opens a new connection
        finally:
            conn.close()
        last_used = time.monotonic()


def _alive(pid):
    if not pid:
        return True
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True
