# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action plugin of every Exchange module: keeps secrets out of the module's arguments over the connection.

A module's arguments travel inside its AnsiballZ wrapper. Without pipelining (``ANSIBLE_KEEP_REMOTE_FILES=1``, or
pipelining turned off) that wrapper is a file, kept after the run with ``ANSIBLE_KEEP_REMOTE_FILES`` or when
ansible-playbook is killed. Over the ``mailops.exchange.exchange`` connection:

- ``exchange_password`` is dropped from the arguments: the connection's session broker holds the password and the
  module never uses it (its ``exchange_*`` options are ignored over the connection), whether it came from a task,
  ``module_defaults`` or a role;
- the options listed in ``BROKER_SECRETS`` (``exchange_certificate``'s ``pfx_password``) are handed to the broker,
  and the argument carries a one-time handle instead; the module takes the value from the broker through the
  socket (``PersistentExchangeSession.take_secret``), so it exists only in the memory of the two processes.

With another connection (``local``) the module opens its own session and needs the password as an argument: the
arguments are passed unchanged (see SECURITY.md).
"""


from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash

from ansible_collections.mailops.exchange.plugins.module_utils.exchange_session import ExchangeError
from ansible_collections.mailops.exchange.plugins.module_utils.persistent_session import hold_secret
from ansible_collections.mailops.exchange.plugins.plugin_utils.in_process import run_module

#: The collection's connection (its plugin's ``transport``).
CONNECTION = "mailops.exchange.exchange"

#: Module options that over the connection are held by the session broker, per module.
BROKER_SECRETS = {"exchange_certificate": ("pfx_password",)}

#: Connection options a module over the connection must not receive (the broker has them).
CONNECTION_SECRETS = ("exchange_password",)


def over_the_connection(connection):
    return getattr(connection, "transport", None) == CONNECTION


def module_arguments(module_name, args, connection):
    """The arguments the module receives: ``args`` without the connection's secrets, its own secrets as handles."""
    args = dict(args)
    if not over_the_connection(connection):
        return args
    for option in CONNECTION_SECRETS:
        args.pop(option, None)
    secrets = [option for option in BROKER_SECRETS.get(module_name.rpartition(".")[2], ())
               if args.get(option) is not None]
    if secrets:
        socket_path = connection.socket_path  # starts the host's broker if it does not run yet
        for option in secrets:
            try:
                args[option] = hold_secret(socket_path, str(args[option]))
            except ExchangeError as exc:
                raise AnsibleActionFail("cannot hand %s to the Exchange session broker: %s" % (option, exc))
    return args


class ExchangeActionModule(ActionBase):
    """Runs the module as ``ansible.builtin.normal`` does, with :func:`module_arguments`."""

    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super(ExchangeActionModule, self).run(tmp, task_vars)
        del tmp
        wrap_async = self._task.async_val and not self._connection.has_native_async
        in_process = self._in_process_result()
        if in_process is not None:
            return merge_hash(result, in_process)
        args = module_arguments(self._task.action, self._task.args, self._connection)
        result = merge_hash(result, self._execute_module(module_args=args, task_vars=task_vars,
                                                         wrap_async=wrap_async))
        # The strategy resets (ends) the brokers whose socket it saw in a task's arguments at the end of the play;
        # _execute_module added it to our copy of them.
        if args.get("_ansible_socket"):
            self._task.args["_ansible_socket"] = args["_ansible_socket"]
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _in_process_result(self):
        """The module's result when it runs inside this worker (no AnsiballZ, no new Python process:
        plugin_utils/in_process.py) - over the collection's connection, not async - else None (a module process)."""
        if over_the_connection(self._connection) and not self._task.async_val:
            return self._run_in_process()
        return None

    def _run_in_process(self):
        """The module's result, run in this process against the host's session broker."""
        args = dict(self._task.args)
        for option in CONNECTION_SECRETS:  # the broker holds them; the module ignores them over the connection
            args.pop(option, None)
        socket_path = self._connection.socket_path  # starts the host's broker if it does not run yet
        # The strategy resets (ends) the brokers whose socket it saw in a task's arguments at the end of the play.
        self._task.args["_ansible_socket"] = socket_path
        name = (getattr(self._task, "resolved_action", None) or self._task.action).rpartition(".")[2]
        # The stand-in builds the result itself: module keys, invocation and warnings - no internal _ansible_ keys.
        return run_module(name, args, check_mode=self._task.check_mode, diff=self._task.diff, socket_path=socket_path)
