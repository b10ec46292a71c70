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

from ansible_collections.mailops.exchange.plugins.plugin_utils.exchange_action import ExchangeActionModule
from ansible_collections.mailops.exchange.plugins.plugin_utils.in_process import MODULE_PACKAGE, run_controller_module

NAME = "exchange_validate"


class ActionModule(ExchangeActionModule):

    def _in_process_result(self):
        module = self._in_process_module()
        if module is None:
            return None
        return run_controller_module(module, NAME, dict(self._task.args), check_mode=self._task.check_mode,
                                     diff=self._task.diff)

    def _in_process_module(self):
        """The module, when it can run in this process as it would in its own; else None."""
        if self._connection.transport != "local" or self._task.async_val or self._play_context.become:
            return None
        module = importlib.import_module("%s.%s" % (MODULE_PACKAGE, NAME))
        return module if module.HAS_DNSPYTHON and module.HAS_CRYPTOGRAPHY else None
