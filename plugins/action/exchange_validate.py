# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of exchange_validate: on the controller it runs inside Ansible's worker.

The validation resolves names, opens TLS and SMTP connections and writes its report from where it runs - the
controller (``delegate_to: localhost``), over a ``local`` connection. There the module's ``main()`` runs in the task's
worker (``plugin_utils/in_process.py``): no AnsiballZ, no new Python process, a third of a second of controller CPU
less per play. Anywhere else (another connection, ``become``, ``async``, or a controller Python without dnspython or
cryptography, which the module would refuse) it runs as a module, as before.
"""


import importlib

from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash

from ansible_collections.mailops.exchange.plugins.plugin_utils.in_process import MODULE_PACKAGE, run_controller_module

NAME = "exchange_validate"


class ActionModule(ActionBase):

    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        module = self._in_process_module()
        if module is not None:
            return merge_hash(result, run_controller_module(module, NAME, dict(self._task.args),
                                                            check_mode=self._task.check_mode, diff=self._task.diff))
        wrap_async = self._task.async_val and not self._connection.has_native_async
        result = merge_hash(result, self._execute_module(task_vars=task_vars, wrap_async=wrap_async))
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _in_process_module(self):
        """The module, when it can run in this process as it would in its own; else None."""
        if self._connection.transport != "local" or self._task.async_val or self._play_context.become:
            return None
        module = importlib.import_module("%s.%s" % (MODULE_PACKAGE, NAME))
        return module if module.HAS_DNSPYTHON and module.HAS_CRYPTOGRAPHY else None
