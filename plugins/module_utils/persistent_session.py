# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module's side of the ``mailops.exchange.exchange`` connection.

When a task runs over that connection, the connection starts (once per host and play) a session broker
(``plugins/plugin_utils/exchange_broker.py``) that holds one :class:`ExchangeSession`: one WinRM shell, one
PowerShell process, the Exchange shell loaded once. The module reaches it through the socket Ansible passes as
``_ansible_socket``.
:class:`PersistentExchangeSession` has the same ``query``/``execute``/``close`` as :class:`ExchangeSession`, so a
module does not know which one it has. Answers travel as JSON text (never pickled); failures come back as the same
exception classes, with the same fields, as a direct session raises.

The client here is the collection's own (:func:`call_broker`), not ``ansible.module_utils.connection.Connection``:
that one unpickles what a socket answers and, when the answer is missing, puts every argument of the call (the
whole script, with whatever it carries) into its error message. This one checks that the process on the socket runs
as the same user, reads JSON only, and says in one sentence what failed.
"""


import json
import os
import socket
import struct
import uuid

from ansible.module_utils.connection import recv_data, send_data

from ansible_collections.mailops.exchange.plugins.module_utils.exchange_session import (
    ExchangeConnectionError, ExchangeOutputError, command_lines, error_from_record,
)

#: The JSON-RPC methods of the session broker (plugins/plugin_utils/exchange_broker.py).
QUERY_METHOD = "exchange_query"
EXECUTE_METHOD = "exchange_execute"
PING_METHOD = "exchange_ping"
HOLD_SECRET_METHOD = "exchange_hold_secret"
TAKE_SECRET_METHOD = "exchange_take_secret"

#: How a secret held by the broker is named in a module argument (exchange_certificate's pfx_password over the
#: connection): this prefix and 32 hex digits. The action plugin puts it there; the module takes the value from the
#: broker (once) through the socket.
SECRET_HANDLE_PREFIX = "mailops-exchange-secret:"

# JSON-RPC "method not found": the socket belongs to another connection plugin (network_cli, httpapi, ...).
_METHOD_NOT_FOUND = -32601


class BrokerUnreachable(ExchangeConnectionError):
    """Nothing (or not our own process) answers on the socket: the request never left."""

    def __init__(self, message):
        super(BrokerUnreachable, self).__init__(message, not_started=True)


def peer_uid(sock):
    """The user id of the process at the other end of a connected Unix socket (None where unknown)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    try:
        data = sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    except (OSError, IOError):
        return None
    return struct.unpack("3i", data)[1]


def call_broker(socket_path, method, *params):
    """One JSON-RPC call to the broker on ``socket_path``; returns its ``result``.

    Raises :class:`BrokerUnreachable` (nothing was sent: nobody listens, or the listener is another user's
    process), :class:`ExchangeConnectionError` (sent, but no complete answer: the broker ended meanwhile), or
    :class:`ExchangeOutputError` (an answer that is not the broker's JSON). Messages name the socket and the
    method, never the arguments.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            sock.connect(socket_path)
        except (OSError, IOError) as exc:
            raise BrokerUnreachable("no mailops.exchange.exchange session broker answers on %s (%s)"
                                    % (socket_path, getattr(exc, "strerror", None) or exc))
        uid = peer_uid(sock)
        if uid is not None and uid != os.geteuid():
            raise BrokerUnreachable("refusing the socket %s: the process listening on it runs as uid %d, not as this "
                                    "user (uid %d)" % (socket_path, uid, os.geteuid()))
        request_id = str(uuid.uuid4())
        request = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": [list(params), {}]})
        try:
            send_data(sock, request.encode("utf-8"))
            data = recv_data(sock)
        except (OSError, IOError, struct.error):
            data = None
    finally:
        sock.close()
    if not data:
        raise ExchangeConnectionError("the mailops.exchange.exchange session broker (%s) ended before it answered"
                                      % socket_path)
    try:
        response = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        response = None
    if not isinstance(response, dict) or response.get("id") != request_id:
        raise ExchangeOutputError("the process on %s answered %s with something that is not the "
                                  "mailops.exchange.exchange broker's JSON" % (socket_path, method))
    error = response.get("error")
    if error:
        if isinstance(error, dict) and error.get("code") == _METHOD_NOT_FOUND:
            raise BrokerUnreachable(
                "the task's persistent connection is not mailops.exchange.exchange (%s has no %s); set "
                "ansible_connection to mailops.exchange.exchange or local for Exchange hosts" % (socket_path, method))
        text = error.get("data") or error.get("message") if isinstance(error, dict) else error
        raise ExchangeConnectionError("the mailops.exchange.exchange session broker (%s) failed on %s: %s"
                                      % (socket_path, method, str(text)[:300]))
    return response.get("result")


def hold_secret(socket_path, value):
    """Hand ``value`` to the broker; returns the handle (SECRET_HANDLE_PREFIX + hex) a module exchanges for it."""
    handle = call_broker(socket_path, HOLD_SECRET_METHOD, value)
    if not isinstance(handle, str) or not handle.startswith(SECRET_HANDLE_PREFIX):
        raise ExchangeOutputError("the session broker on %s did not hold the secret" % socket_path)
    return handle


def is_secret_handle(value):
    return isinstance(value, str) and value.startswith(SECRET_HANDLE_PREFIX) and len(value) == \
        len(SECRET_HANDLE_PREFIX) + 32


class PersistentExchangeSession:
    """query/execute over the persistent connection's socket; ``close`` leaves the host's session open."""

    def __init__(self, socket_path):
        self.socket_path = socket_path
        #: What the broker reports besides the answer (a dropped session re-opened); the module warns with them.
        self.notices = []

    @classmethod
    def for_socket(cls, socket_path):
        """A session factory (ExchangeModule's ``session_factory``) that ignores the module's exchange_* options."""
        return lambda params: cls(socket_path)

    def query(self, script, writes=False):
        if writes:  # the broker must know: such a script is never sent again once it may have run
            return self._call(QUERY_METHOD, script, True)
        return self._call(QUERY_METHOD, script)

    def execute(self, commands, read_back=None):
        commands = command_lines(commands)
        if not commands:
            return None
        if read_back is not None:
            return self._call(EXECUTE_METHOD, commands, read_back)
        self._call(EXECUTE_METHOD, commands)
        return None

    def take_secret(self, handle):
        """The secret the action plugin handed to the broker under ``handle`` (the broker forgets it then)."""
        return self._call(TAKE_SECRET_METHOD, handle)

    def close(self):
        """Nothing to do: the connection keeps the host's session until the end of the play."""

    def _call(self, method, *arguments):
        answer = call_broker(self.socket_path, method, *arguments)
        try:
            answer = json.loads(answer)
        except (TypeError, ValueError):
            answer = None
        if not isinstance(answer, dict):
            raise ExchangeOutputError("the mailops.exchange.exchange connection answered %s with something that "
                                      "is not its JSON" % method)
        self.notices.extend(answer.get("notices") or [])
        if answer.get("error"):
            raise error_from_record(answer["error"])
        return answer.get("value")
