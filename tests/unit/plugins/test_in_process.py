"""An Exchange module run inside Ansible's worker: the same validation, masking and result as a module process."""

import pytest

from plugins.plugin_utils import in_process
from plugins.plugin_utils.in_process import InProcessAnsibleModule, ModuleExit

SPEC = {
    "name": {"type": "str", "required": True},
    "size": {"type": "int", "default": 2048, "choices": [2048, 4096]},
    "secret": {"type": "str", "no_log": True},
    "mode": {"type": "str", "aliases": ["kind"]},
}


def result_of(call):
    with pytest.raises(ModuleExit) as done:
        call()
    return done.value.result


def test_arguments_are_validated_and_defaulted_as_ansiblemodule_does():
    module = InProcessAnsibleModule(SPEC, {"name": "To internet", "kind": "x"}, "exchange_thing")
    assert module.params["size"] == 2048 and module.params["mode"] == "x"
    assert module.raw_params == {"name": "To internet", "kind": "x"}  # as written, before defaults


@pytest.mark.parametrize("args, message", [
    ({}, "missing required arguments: name"),
    ({"name": "x", "size": 1024}, "value of size must be one of: 2048, 4096, got: 1024"),
    ({"name": "x", "colour": "red"}, "Unsupported parameters for (exchange_thing) module: colour"),
])
def test_an_invalid_argument_fails_like_a_module(args, message):
    result = result_of(lambda: InProcessAnsibleModule(SPEC, args, "exchange_thing"))
    assert result["failed"] and message in result["msg"]


def test_no_log_values_never_leave_in_the_result():
    module = InProcessAnsibleModule(SPEC, {"name": "x", "secret": "s3cr3t-value"}, "exchange_thing")
    module.no_log_values.add("second-secret")
    result = result_of(lambda: module.exit_json(
        changed=True, msg="used s3cr3t-value and second-secret", nested={"k": ["s3cr3t-value"]}))
    assert "s3cr3t-value" not in repr(result) and "second-secret" not in repr(result)
    assert result["invocation"]["module_args"]["secret"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def test_results_are_json_types_and_carry_warnings():
    module = InProcessAnsibleModule(SPEC, {"name": "x"}, "exchange_thing", check_mode=True, diff=True,
                                    supports_check_mode=True)
    module.warn("mind the gap")
    result = result_of(lambda: module.exit_json(changed=False, items=("a", "b")))
    assert result["items"] == ["a", "b"] and result["warnings"] == ["mind the gap"]
    assert module.check_mode and module._diff


def test_the_module_exit_passes_through_except_exception():
    # ExchangeModule.run catches Exception to report bugs; the exit must not be mistaken for one.
    assert not issubclass(ModuleExit, Exception)


def test_run_module_calls_main_with_the_stand_in_and_resets_it(monkeypatch):
    # The module's own import path (the collection's), which run_module sets the stand-in on.
    from ansible_collections.mailops.exchange.plugins.module_utils.exchange_module import ExchangeModule
    seen = {}

    class FakeModule(object):
        @staticmethod
        def main():
            module = ExchangeModule(argument_spec={"gather": {"type": "list", "elements": "str", "default": ["all"]}})
            seen["socket"] = module.socket_path
            module.exit(changed=False, gathered=module.params["gather"])

    monkeypatch.setattr(in_process.importlib, "import_module", lambda name: FakeModule)
    result = in_process.run_module("exchange_info", {"exchange_password": None}, check_mode=False, diff=False,
                                   socket_path="/tmp/sock")
    assert result["gathered"] == ["all"] and result["changed"] is False and seen["socket"] == "/tmp/sock"
    assert ExchangeModule.ansible_module_factory is None


def test_run_controller_module_hands_main_the_stand_in():
    class FakeValidate(object):
        @staticmethod
        def main(ansible_module=None):
            module = ansible_module(argument_spec={"checks": {"type": "list", "elements": "str", "default": ["dns"]},
                                                   "timeout": {"type": "float", "default": 10}},
                                    supports_check_mode=True)
            module.exit_json(changed=False, checks=module.params["checks"], timeout=module.params["timeout"])

    result = in_process.run_controller_module(FakeValidate, "exchange_validate", {"timeout": "2.5"}, check_mode=False,
                                              diff=False)
    assert result == {"changed": False, "checks": ["dns"], "timeout": 2.5,
                      "invocation": {"module_args": {"checks": ["dns"], "timeout": 2.5}}}


class _Fake(object):
    def __init__(self, **attributes):
        self.__dict__.update(attributes)


@pytest.mark.parametrize("transport, async_val, become, in_process", [
    ("local", 0, False, True),                       # delegate_to: localhost, as the validate role runs it
    ("ansible.builtin.ssh", 0, False, False),        # validating from another machine: a module there
    ("local", 30, False, False),                     # async: Ansible's async wrapper needs a module process
    ("local", 0, True, False),                       # become: another user's module process
])
def test_exchange_validate_runs_in_the_worker_only_where_a_module_would_run_the_same(transport, async_val, become,
                                                                                     in_process):
    from ansible_collections.mailops.exchange.plugins.action.exchange_validate import ActionModule

    action = ActionModule.__new__(ActionModule)
    action._connection = _Fake(transport=transport)
    action._task = _Fake(async_val=async_val)
    action._play_context = _Fake(become=become)
    module = action._in_process_module()
    assert (module is not None) is in_process
    if in_process:
        assert module.__name__ == "ansible_collections.mailops.exchange.plugins.modules.exchange_validate"
