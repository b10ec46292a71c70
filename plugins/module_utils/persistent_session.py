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
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible.module_utils.connection import Connection, ConnectionError

from ansible_collections.mailops.exchange.plugins.module_utils.exchange_session import (
    ExchangeConnectionError, ExchangeOutputError, command_lines, error_from_record,
)

#: The JSON-RPC methods of the session broker (plugins/plugin_utils/exchange_broker.py).
QUERY_METHOD = "exchange_query"
EXECUTE_METHOD = "exchange_execute"

# JSON-RPC "method not found": the socket belongs to another connection plugin (network_cli, httpapi, ...).
_METHOD_NOT_FOUND = -32601


class PersistentExchangeSession(object):
    """query/execute over the persistent connection's socket; ``close`` leaves the host's session open."""

    def __init__(self, socket_path):
        self.socket_path = socket_path
        self._connection = Connection(socket_path)
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

    def execute(self, commands):
        commands = command_lines(commands)
        if not commands:
            return None
        self._call(EXECUTE_METHOD, commands)
        return None

    def close(self):
        """Nothing to do: the connection keeps the host's session until the end of the play."""

    def _call(self, method, *arguments):
        try:
            answer = getattr(self._connection, method)(*arguments)
        except ConnectionError as exc:
            if getattr(exc, "code", None) == _METHOD_NOT_FOUND:
                raise ExchangeConnectionError(
                    "the task's persistent connection is not mailops.exchange.exchange (%s has no %s); set "
                    "ansible_connection to mailops.exchange.exchange or local for Exchange hosts"
                    % (self.socket_path, method), not_started=True)
            # No process listens on the socket (it is gone or refuses): the request never left, so even a write could
            # be sent again. Any other failure may have happened after the request was sent.
            never_sent = isinstance(exc.__cause__, (FileNotFoundError, ConnectionRefusedError))
            raise ExchangeConnectionError("the mailops.exchange.exchange connection process failed (%s): %s"
                                          % (self.socket_path, exc), not_started=never_sent)
        try:
            answer = json.loads(answer)
        except (TypeError, ValueError):
            raise ExchangeOutputError("the mailops.exchange.exchange connection answered %s with something that "
                                      "is not its JSON: %r" % (method, str(answer)[:200]))
        self.notices.extend(answer.get("notices") or [])
        if answer.get("error"):
            raise error_from_record(answer["error"])
        return answer.get("value")
