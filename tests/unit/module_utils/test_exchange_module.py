"""ExchangeModule: spec merge, check mode, diff, commands, failures without tracebacks, session closed."""

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.mailops.exchange.plugins.module_utils import exchange_module as em
from ansible_collections.mailops.exchange.plugins.module_utils.exchange_session import (
    ExchangeCommandError, ExchangeConnectionError,
)

BASE = {"exchange_host": "ex01", "exchange_username": "CORP\\admin", "exchange_password": "Secret#1"}


class Session:
    def __init__(self, fail_on=None):
        self.fail_on = fail_on
        self.executed = []
        self.closed = 0

    def query(self, script):
        if self.fail_on == "query":
            raise ExchangeConnectionError("authentication failed for user CORP\\admin on https://ex01:5986/wsman")
        return {"x": 1}

    def execute(self, commands):
        if self.fail_on == "execute":
            raise ExchangeCommandError("Set-X", "EX01\\y", "Exchange said no", command=commands[0])
        self.executed.append(commands)

    def close(self):
        self.closed += 1


class Done(BaseException):  # like SystemExit from exit_json/fail_json
    pass


@pytest.fixture
def capture(monkeypatch):
    out = {}

    def exit_json(self, **kw):
        out.update(kw, failed=False)
        raise Done()

    def fail_json(self, msg, **kw):
        out.update(kw, msg=msg, failed=True)
        raise Done()
    monkeypatch.setattr(em.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(em.AnsibleModule, "fail_json", fail_json)
    return out


def run(args, main, session):
    with patch_module_args(dict(BASE, **args)):
        module = em.ExchangeModule({"name": {"type": "str"}}, session_factory=lambda params: session)
        with pytest.raises(Done):
            module.run(main)
    return module


def test_apply_and_exit(capture):
    session = Session()

    def main(m):
        assert m.query("q") == {"x": 1}
        m.apply(["Set-X -Identity 'a'"])
        m.exit(True, {"a": 1}, {"a": 2}, thing={"a": 2})
    run({"_ansible_diff": True}, main, session)
    assert capture["changed"] is True
    assert capture["commands"] == ["Set-X -Identity 'a'"]
    assert capture["diff"] == {"before": {"a": 1}, "after": {"a": 2}}
    assert capture["thing"] == {"a": 2}
    assert session.executed == [["Set-X -Identity 'a'"]]
    assert session.closed == 1


def test_check_mode_records_but_does_not_run(capture):
    session = Session()

    def main(m):
        m.query("q")
        m.apply(["Set-X -Identity 'a'"])
        m.exit(True, {}, {})
    module = run({"_ansible_check_mode": True}, main, session)
    assert module.check_mode is True
    assert capture["commands"] == ["Set-X -Identity 'a'"]
    assert "diff" not in capture
    assert session.executed == []


def test_command_error_is_a_clean_failure(capture):
    session = Session(fail_on="execute")

    def main(m):
        m.apply(["Set-X -Identity 'EX01\\y'"])
    run({}, main, session)
    assert capture["failed"] is True
    assert capture["msg"] == "Set-X failed for 'EX01\\y': Exchange said no"
    assert capture["failed_command"] == "Set-X -Identity 'EX01\\y'"
    assert capture["commands"] == ["Set-X -Identity 'EX01\\y'"]
    assert session.closed == 1


def test_connection_error_and_value_error(capture):
    run({}, lambda m: m.query("q"), Session(fail_on="query"))
    assert capture["msg"].startswith("authentication failed for user")

    def main(m):
        raise ValueError("template domain is not accepted")
    run({}, main, Session())
    assert capture["msg"] == "template domain is not accepted"
    assert "Secret#1" not in json.dumps(capture)


def test_connection_spec_is_merged_with_env(monkeypatch, capture):
    monkeypatch.setenv("EXCHANGE_PORT", "6000")
    monkeypatch.setenv("EXCHANGE_SHELL", "snapin")
    seen = {}

    def main(m):
        seen.update(m.params)
        m.exit(False)
    run({}, main, Session())
    assert seen["exchange_port"] == 6000
    assert seen["exchange_shell"] == "snapin"
    assert seen["exchange_scheme"] == "https"
    assert seen["exchange_transport"] == "ntlm"


def test_insecure_settings_warn(capture):
    from ansible.module_utils.common import warnings
    run({"exchange_cert_validation": "ignore"}, lambda m: m.exit(False), Session())
    assert any("exchange_cert_validation=ignore" in str(w) for w in warnings.get_warning_messages())


def test_unexpected_exception_is_a_clean_failure(capture):
    session = Session()

    def main(m):
        m.query("q")
        raise KeyError("oops")
    run({}, main, session)
    assert capture["failed"] is True
    assert capture["msg"].startswith("unexpected error (KeyError")
    assert "Traceback" in capture["exception"]
    assert session.closed == 1
