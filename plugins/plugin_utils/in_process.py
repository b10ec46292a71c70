# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module of the collection inside Ansible's worker process: the Exchange modules over the collection's
connection, ``exchange_validate`` where it runs on the controller.

A module task normally costs a new Python process that unpacks AnsiballZ and imports ansible's module_utils - about
half a second of controller CPU, several times a ``debug`` task. Over the ``mailops.exchange.exchange`` connection
the module only talks to the host's session broker through its socket, so nothing requires a process of its own:
the action plugin imports the module and calls its ``main()`` in the worker, with :class:`InProcessAnsibleModule`
standing in for ``AnsibleModule`` (through ``ExchangeModule.ansible_module_factory``).

What stays the same as a module run: the arguments are validated with the module's own argument spec by ansible-core's
``ModuleArgumentSpecValidator`` (types, defaults, choices, aliases, mutually exclusive and required options - the
validator ``AnsibleModule`` uses), the same failure message for an invalid argument, ``no_log`` values masked in the
whole result, ``invocation``, warnings, and a result that went through JSON (the types a module returns). No module
file, no AnsiballZ payload and no argument file is written - a secret is never at rest.
"""


import importlib
import json

from ansible.module_utils.common.arg_spec import ModuleArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.errors import UnsupportedError

MODULE_PACKAGE = "ansible_collections.mailops.exchange.plugins.modules"


class ModuleExit(BaseException):
    """Raised by exit_json/fail_json: like AnsibleModule's ``sys.exit``, it passes through ``except Exception``."""

    def __init__(self, result):
        BaseException.__init__(self)
        self.result = result


class InProcessAnsibleModule:
    """The part of ``AnsibleModule`` an ``ExchangeModule`` uses, for one module run in the worker."""

    def __init__(self, argument_spec, args, name, check_mode=False, diff=False, socket_path=None,
                 supports_check_mode=False, mutually_exclusive=None, required_together=None, required_one_of=None,
                 required_if=None, required_by=None, **_unused):
        self._name = name
        self.check_mode = bool(check_mode)
        self._diff = bool(diff)
        self._socket_path = socket_path
        self.no_log_values = set()
        self._warnings = []
        self.raw_params = dict(args)  # the options as the task wrote them (ExchangeModule.given_params)
        validator = ModuleArgumentSpecValidator(argument_spec, mutually_exclusive, required_together,
                                                required_one_of, required_if, required_by)
        validation = validator.validate(dict(args))
        self.params = validation.validated_parameters
        self.no_log_values.update(validation._no_log_values)
        for warning in getattr(validation, "_warnings", None) or []:
            self.warn("Both option %s and its alias %s are set." % (warning["option"], warning["alias"])
                      if isinstance(warning, dict) and "alias" in warning else str(warning))
        try:
            error = validation.errors[0]  # as AnsibleModule does: the error list has no truth value of its own
        except IndexError:
            error = None
        if error is not None:
            msg = validation.errors.msg
            if isinstance(error, UnsupportedError):
                msg = "Unsupported parameters for (%s) module: %s" % (name, msg)
            self.fail_json(msg=msg)
        if self.check_mode and not supports_check_mode:
            self.exit_json(skipped=True, msg="remote module (%s) does not support check mode" % name)

    def warn(self, warning):
        self._warnings.append(str(warning))

    def _result(self, result):
        result.setdefault("invocation", {"module_args": self.params})
        if self._warnings:
            result["warnings"] = list(self._warnings)
        # As AnsibleModule: no value marked no_log anywhere in the result, and JSON types only.
        return json.loads(json.dumps(remove_values(result, self.no_log_values)))

    def exit_json(self, **result):
        raise ModuleExit(self._result(result))

    def fail_json(self, msg, **result):
        result["failed"] = True
        result["msg"] = msg
        raise ModuleExit(self._result(result))


def _factory(name, args, check_mode, diff, socket_path=None):
    def factory(argument_spec, **kwargs):
        return InProcessAnsibleModule(argument_spec, args, name, check_mode=check_mode, diff=diff,
                                      socket_path=socket_path, **kwargs)
    return factory


def _result_of(name, main, **kwargs):
    try:
        main(**kwargs)
    except ModuleExit as done:
        return done.result
    return {"failed": True, "msg": "module %s ended without a result; this is a bug in the module" % name}


def run_module(name, args, check_mode, diff, socket_path):
    """Run ``mailops.exchange.<name>``'s ``main()`` in this process and return its result."""
    from ansible_collections.mailops.exchange.plugins.module_utils.exchange_module import ExchangeModule

    module = importlib.import_module("%s.%s" % (MODULE_PACKAGE, name))
    ExchangeModule.ansible_module_factory = staticmethod(_factory(name, args, check_mode, diff, socket_path))
    try:
        return _result_of(name, module.main)
    finally:
        ExchangeModule.ansible_module_factory = None


def run_controller_module(module, name, args, check_mode, diff):
    """Run a module that works on the controller itself (``exchange_validate``: DNS, TLS, files) in this process:
    its ``main(ansible_module=...)`` takes the stand-in. ``module`` is the imported module."""
    return _result_of(name, module.main, ansible_module=_factory(name, args, check_mode, diff))
