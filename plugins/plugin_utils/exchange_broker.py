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
from ansible_collections.mailops.exchange.plugins.module_utils.persistent_session import (
    PING_METHOD, SECRET_HANDLE_PREFIX, call_broker, peer_uid,
)

#: How long the connection plugin waits for a new broker to say it listens.
START_TIMEOUT = 60

# Implicit-remoting proxies of a Microsoft.Exchange session whose runspace has ended fail like this: the cmdlet
# never ran, the session is unusable.
_BROKEN_RUNSPACE = re.compile(r"PSRemotingTransportException|session state is Broken|runspace .* (closed|broken)",
                              re.IGNORECASE)

# The broker's own command line (a fresh interpreter): the directory holding the ``ansible_collections`` this module
# was loaded from goes first on sys.path, and Python's own import finds the collection there. The broker loads no
# plugin, so it needs no collection loader: Ansible's (init_plugin_loader) cost 0.2 s of CPU per broker, a third of
# a broker's whole CPU in a play (measured with /usr/bin/time on the two ways of importing main).
_BOOTSTRAP = (
    "import sys\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "from ansible_collections.mailops.exchange.plugins.plugin_utils.exchange_broker import main\n"
    "main()\n"
)


def collections_root():
    """The directory that holds the ``ansible_collections`` this collection was loaded from."""
    path = os.path.abspath(__file__)  # <root>/ansible_collections/mailops/exchange/plugins/plugin_utils/<this>
    for _unused in range(6):
        path = os.path.dirname(path)
    return path


# How a notice names what was sent again.
_WHAT = {"query": "read script", "execute": "write commands", "write_query": "write commands and their read-back"}

#: What identifies a broker's process (the bench and the tests look for it).
PROCESS_MARKER = "mailops.exchange.plugins.plugin_utils.exchange_broker"


#: The methods a client may call (JSON-RPC); anything else is "method not found" - never a lookup by name.
RPC_METHODS = ("exchange_query", "exchange_execute", PING_METHOD, "exchange_hold_secret", "exchange_take_secret",
               "reset")

#: How long the broker keeps a secret an action plugin handed it for a module (exchange_certificate's pfx_password).
SECRET_LIFETIME = 600


class ExchangeBroker:
    """The JSON-RPC object: one ExchangeSession, re-opened when the server dropped it (safely, see ``_run``)."""

    def __init__(self, settings, session_factory=None, shell_ledger=None):
        self.settings = dict(settings)
        self._session_factory = session_factory or ExchangeSession.from_params
        self._session = None
        self.stopped = False
        self.messages = []
        #: Records the WinRM shells this broker opens (ShellLedger), so a later broker deletes what a killed one left.
        self.shell_ledger = shell_ledger
        self._leftovers_checked = False
        self._secrets = {}
        #: Called once when the broker stops (before the session is closed): makes the socket unreachable.
        self.on_stop = None

    # -- JSON-RPC methods --------------------------------------------------------------------------------------

    def exchange_ping(self):
        """The connection plugin's liveness check before every task (it also restarts the idle clock)."""
        return "pong"

    def exchange_hold_secret(self, value):
        """Keep ``value`` (a secret an action plugin took out of a module's arguments); answer a one-time handle."""
        if not isinstance(value, str):
            raise ValueError("a secret must be text")
        now = time.monotonic()
        for handle, (_unused, held_at) in list(self._secrets.items()):
            if now - held_at > SECRET_LIFETIME:
                del self._secrets[handle]
        handle = SECRET_HANDLE_PREFIX + os.urandom(16).hex()
        self._secrets[handle] = (value, now)
        return handle

    def exchange_take_secret(self, handle):
        """The secret held under ``handle``, once (JSON text like every answer)."""
        held = self._secrets.pop(handle, None) if isinstance(handle, str) else None
        if held is None or time.monotonic() - held[1] > SECRET_LIFETIME:
            return json.dumps({"error": error_record(ValueError(
                "the session broker holds no secret under this handle (it is handed out once, and kept for %d "
                "seconds)" % SECRET_LIFETIME)), "notices": []})
        return json.dumps({"value": held[0], "notices": []})

    def exchange_query(self, script, writes=False):
        """Run a read script (``writes``: one that writes, then reads back); answer JSON text ``{"value": <parsed
        JSON>}`` or ``{"error": {...}}``."""
        return self._answer("write_query" if writes else "query", script)

    def exchange_execute(self, commands, read_back=None):
        """Run write command lines (and, with ``read_back``, a read script after them in the same round trip);
        answer JSON text ``{"value": null or the read-back's parsed JSON}`` or ``{"error": {...}}``."""
        if read_back is not None and not isinstance(read_back, str):
            return json.dumps({"error": error_record(ValueError("read_back must be a script")), "notices": []})
        return self._answer("execute", (list(commands or []), read_back))

    def reset(self):
        """End of the play (Ansible's strategy) or ``meta: reset_connection``: close the session and stop."""
        self.close()
        return ""

    def close(self):
        self.stopped = True
        self._secrets.clear()
        self._unlisten()
        self._drop()

    def _unlisten(self):
        """Stop being reachable before the (possibly slow) shell deletion: a task arriving meanwhile finds no socket
        and starts a new broker, instead of connecting to one that will never answer."""
        on_stop, self.on_stop = self.on_stop, None
        if on_stop is not None:
            try:
                on_stop()
            except Exception:
                pass

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
                if operation == "execute":
                    commands, read_back = argument
                    if read_back is None:
                        return self._open().execute(commands)
                    return self._open().execute(commands, read_back=read_back)
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
            session = self._session_factory(self.settings)
            self._delete_leftover_shells(session)
            if self.shell_ledger is not None:
                session.shell_listener = self.shell_ledger
            self._session = session
        return self._session

    def _delete_leftover_shells(self, session):
        """Before the first shell: delete the shells earlier brokers with these settings opened and never deleted
        (killed with SIGKILL, the machine reset): they count against the server's per-user shell quota."""
        if self._leftovers_checked or self.shell_ledger is None or not hasattr(session, "delete_shells"):
            return
        self._leftovers_checked = True
        leftovers = self.shell_ledger.leftovers()
        if not leftovers:
            return
        outcome = session.delete_shells(leftovers)
        self.shell_ledger.forget(leftovers)
        deleted = [shell_id for shell_id in leftovers if outcome.get(shell_id) is None]
        if deleted:
            self.messages.append("deleted %d WinRM shell(s) on %s that an earlier session broker left open (%s)"
                                 % (len(deleted), self.settings.get("exchange_host"), ", ".join(deleted)))

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


def ledger_path(directory, settings):
    """The shell record of every broker with these settings, whatever the ansible-playbook run (see ShellLedger)."""
    material = json.dumps(sorted((k, v) for k, v in settings.items() if v is not None and k != "exchange_password"),
                          sort_keys=True, default=str)
    return os.path.join(directory, "mailops-exchange-shells-%s.json"
                        % hashlib.sha256(to_bytes(material)).hexdigest()[:24])


def is_listening(path):
    """True when a broker of this user answers a ping on ``path`` (a dead broker's leftover socket, a broker that is
    shutting down or another user's process is not). The ping also restarts the broker's idle clock, so a broker
    found alive does not end for its idle timeout before the task that found it reaches it."""
    try:
        return call_broker(path, PING_METHOD) == "pong"
    except ExchangeError:
        return False


# -- who owns the control directory and the socket -------------------------------------------------------------------

class UnsafePath(Exception):
    """The control directory or socket could be another user's: nothing is sent there."""


def check_private_directory(directory):
    """Refuse a control directory that is not this user's own (owner, not writable by group or others, not a
    symbolic link): whoever controls it could put a socket of their own in place of the broker's."""
    try:
        info = os.lstat(directory)
    except OSError as exc:
        raise UnsafePath("cannot inspect the persistent connection directory %s: %s" % (directory, exc.strerror))
    import stat

    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise UnsafePath("refusing the persistent connection directory %s: it is not a directory (a symbolic link?)"
                         % directory)
    if info.st_uid != os.geteuid():
        raise UnsafePath("refusing the persistent connection directory %s: it belongs to uid %d, not to this user "
                         "(uid %d); remove it or set ANSIBLE_PERSISTENT_CONTROL_PATH_DIR to a directory of yours"
                         % (directory, info.st_uid, os.geteuid()))
    if info.st_mode & 0o022:
        raise UnsafePath("refusing the persistent connection directory %s: group or others may write to it (mode "
                         "%04o); chmod 700 it" % (directory, info.st_mode & 0o7777))


def check_private_socket(path):
    """Refuse a socket that is not this user's own, owner-only Unix socket."""
    import stat

    try:
        info = os.lstat(path)
    except OSError:
        return  # no socket (yet)
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise UnsafePath("refusing %s: it is not an owner-only socket of this user (uid %d, mode %04o)"
                         % (path, info.st_uid, info.st_mode & 0o7777))


def private_directory(directory):
    """Create the control directory (0700) if missing, then check it; returns it."""
    if not os.path.isdir(directory):
        try:
            os.makedirs(directory, 0o700)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
    check_private_directory(directory)
    return directory


# -- the shells of brokers that were killed ---------------------------------------------------------------------------

class ShellLedger:
    """The ids of the WinRM shells the brokers of one set of settings opened and have not deleted yet.

    A JSON file (mode 0600) in the control directory, next to the sockets: ``[{"id": ..., "pid": broker pid}]``.
    A broker adds a shell when it opens it and removes it when the server confirmed its deletion. A broker killed
    with SIGKILL cannot delete its shell; the next broker with the same settings (same host and account) finds the
    entry of a process that is gone and deletes that shell before it opens its own. The ids are not secret (a shell
    can only be used by the account that opened it).
    """

    def __init__(self, path, pid=None):
        self.path = path
        self.pid = pid or os.getpid()

    def opened(self, shell_id):
        self._update(lambda entries: entries + [{"id": shell_id, "pid": self.pid}])

    def deleted(self, shell_id):
        self._update(lambda entries: [e for e in entries if e.get("id") != shell_id])

    def forget(self, shell_ids):
        gone = set(shell_ids)
        self._update(lambda entries: [e for e in entries if e.get("id") not in gone])

    def leftovers(self):
        """Shell ids whose broker is gone."""
        found = []
        self._update(lambda entries: found.extend(e["id"] for e in entries
                                                  if e.get("id") and not _is_broker(e.get("pid")))
                     or entries)
        return found

    def _update(self, change):
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "r+") as handle:
            fcntl.lockf(handle, fcntl.LOCK_EX)
            try:
                info = os.fstat(handle.fileno())
                if info.st_uid != os.geteuid():
                    raise UnsafePath("refusing %s: it belongs to uid %d" % (self.path, info.st_uid))
                if info.st_mode & 0o077:
                    os.fchmod(handle.fileno(), 0o600)
                try:
                    entries = json.loads(handle.read() or "[]")
                except ValueError:
                    entries = []
                if not isinstance(entries, list):
                    entries = []
                entries = [e for e in entries if isinstance(e, dict)]
                changed = change(list(entries))
                if changed != entries:
                    handle.seek(0)
                    handle.truncate()
                    handle.write(json.dumps(changed))
                    handle.flush()
                empty = not changed
            finally:
                fcntl.lockf(handle, fcntl.LOCK_UN)
        if empty:
            try:  # nothing left to remember: no file (another broker may recreate it at once, which is fine)
                os.unlink(self.path)
            except OSError:
                pass


def _is_broker(pid):
    """True when ``pid`` is a running session broker (a pid reused by another program is not)."""
    if not isinstance(pid, int) or pid <= 0 or not _alive(pid):
        return False
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return PROCESS_MARKER.encode() in handle.read()
    except (IOError, OSError):
        return True  # no /proc: alive is all we know


def start(path, settings, playbook_pid, idle_timeout):
    """Start a broker for ``path`` and wait until it listens. Returns None or raises RuntimeError with its reason."""
    import subprocess

    config = dict(socket_path=path, settings=settings, playbook_pid=int(playbook_pid) if playbook_pid else None,
                  idle_timeout=int(idle_timeout))
    process = subprocess.Popen(
        [sys.executable, "-c", _BOOTSTRAP, collections_root(), PROCESS_MARKER],
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
    ledger = ShellLedger(ledger_path(os.path.dirname(path), config["settings"]))
    broker = ExchangeBroker(config["settings"], shell_ledger=ledger)
    broker.on_stop = unlistener(path, listener)
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    _detach_stdio()
    run(listener, broker, config.get("playbook_pid"), config.get("idle_timeout") or 300)


def unlistener(path, listener):
    """What a stopping broker does first: remove its socket's name and stop listening."""
    def unlisten():
        # The name first: once it is gone, a new broker for the same settings may bind it without losing it to us.
        try:
            os.unlink(path)
        except OSError:
            pass
        listener.close()
        _remove_lock_file(path + ".lock")
    return unlisten


def run(listener, broker, playbook_pid=None, idle_timeout=300, poll_interval=1.0):
    """serve(), then stop: unreachable first (``on_stop``), then the session - the server may be slow to delete the
    shell, and a task arriving meanwhile must find no socket (and start a new broker) rather than a dead one."""
    try:
        serve(listener, broker, playbook_pid, idle_timeout, poll_interval)
    finally:
        broker.close()


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
    private_directory(os.path.dirname(path))
    old_umask = os.umask(0o177)  # the socket: owner only
    try:
        if os.path.lexists(path) and not is_listening(path):
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


def handle_request(broker, data):
    """One JSON-RPC request -> the JSON text of its response. Never raises, never pickles.

    Only the methods in RPC_METHODS can be called (a name like ``_drop`` or ``__init__`` is "method not found");
    a result is always text (JSON), so Ansible's client (which ends the play with ``reset``) has nothing to unpickle.
    """
    request_id = None
    try:
        try:
            request = json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
        except (UnicodeDecodeError, ValueError):
            return _rpc_error(None, -32700, "Parse error")
        if not isinstance(request, dict):
            return _rpc_error(None, -32600, "Invalid request")
        request_id = request.get("id")
        if not isinstance(request_id, (str, int)) and request_id is not None:
            request_id = None
        method = request.get("method")
        if not isinstance(method, str) or method not in RPC_METHODS:
            return _rpc_error(request_id, -32601, "Method not found")
        params = request.get("params", [[], {}])
        if isinstance(params, list) and len(params) == 2 and isinstance(params[0], list) \
                and isinstance(params[1], dict):
            args, kwargs = params
        elif isinstance(params, list):
            args, kwargs = params, {}
        else:
            return _rpc_error(request_id, -32602, "Invalid params")
        try:
            result = getattr(broker, method)(*args, **dict((str(k), v) for k, v in kwargs.items()))
        except TypeError:
            return _rpc_error(request_id, -32602, "Invalid params for %s" % method)
        if result is None:
            result = ""
        elif not isinstance(result, str):
            result = json.dumps(result)
        return json.dumps({"jsonrpc": "2.0", "id": request_id, "result": result})
    except Exception as exc:  # a bug: answered, and the broker lives on
        return _rpc_error(request_id, -32603, "Internal error (%s)" % type(exc).__name__)


def _rpc_error(request_id, code, message):
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}})


def serve(listener, broker, playbook_pid=None, idle_timeout=300, poll_interval=1.0):
    """Answer requests one connection at a time until reset/close, idle timeout or the end of ansible-playbook."""
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
        try:
            conn, _unused = listener.accept()
        except (OSError, IOError):
            continue
        try:
            uid = peer_uid(conn)
            if uid is not None and uid != os.geteuid():
                continue  # another user's process (the socket is 0600: this should not happen)
            while not broker.stopped:
                data = recv_data(conn)
                if not data:
                    break
                send_data(conn, to_bytes(handle_request(broker, data)))
        except Exception:
            pass  # the client went away (or sent garbage); the next request opens a new connection
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
