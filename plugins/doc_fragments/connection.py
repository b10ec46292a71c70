# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection options, rendered from their one table (module_utils/connection_options.py): DOCUMENTATION for
every module (with the modules' requirements and notes), CONNECTION_PLUGIN for the mailops.exchange.exchange
connection (the same options with the variables and environment each one is read from)."""

from ansible_collections.mailops.exchange.plugins.module_utils.connection_options import (
    connection_documentation, module_documentation)


class ModuleDocFragment:
    # The options as JSON, which is YAML; the notes as YAML.
    DOCUMENTATION = module_documentation() + "\n" + r'''
requirements:
  - pywinrm >= 0.5.0 (on the controller)
notes:
  - "The module runs on the Ansible controller: target C(localhost) or use C(delegate_to: localhost)."
  - All connection options can be set once for a play with C(module_defaults) and the
    C(group/mailops.exchange.exchange) action group.
  - Each run uses one WinRM shell, one PowerShell process and one Exchange-shell load; it reads once,
    compares on the controller and writes at most one batch of commands.
  - Over the C(mailops.exchange.exchange) connection (C(ansible_connection=mailops.exchange.exchange)) the module
    instead uses the session that connection keeps for the host during the whole play - one Exchange-shell load per
    host and play - and the connection's options (the same C(exchange_*) variables) replace these module options,
    which are then ignored.
  - Names, host names, domains, address spaces, URLs and templates are one line - an option value holding a control
    character (newline, carriage return, NUL, tab, U+2028, U+2029, any C0/C1 control) is refused before anything is
    sent, except in free-text options (a comment, PEM content) and passwords.
  - A script or batch of write commands that does not fit in one WinRM message (500 KB, the WinRM service's default
    C(MaxEnvelopeSizekb)) is refused before it is sent.
'''

    CONNECTION_PLUGIN = connection_documentation()
