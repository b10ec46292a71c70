"""Run a module's main() in-process with a fake ExchangeSession (no network) and capture exit/fail JSON."""

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.mailops.exchange.plugins.module_utils import exchange_module

CONNECTION = {"exchange_host": "ex01.corp.contoso.com", "exchange_username": "CORP\\administrator",
              "exchange_password": "Pa55w0rd!"}


class FakeSession:
    """``read`` answers the reads (a value, or a function of the script); once a write ran, ``read_after`` does,
    when given - what Exchange reads after the write, for the modules that read their object back. Without it the
    fake reads as before the write: a write Exchange did not carry out."""

    def __init__(self, read, read_after=None):
        self.read = read
        self.read_after = read_after
        self.queries = []
        self.read_backs = []  # the read scripts sent with writes, in the same round trip
        self.executed = []
        self.closed = False

    def query(self, script):
        self.queries.append(script)
        return self._answer(script)

    def execute(self, commands, read_back=None):
        self.executed.append(list(commands))
        if read_back is None:
            return None
        self.read_backs.append(read_back)
        return self._answer(read_back)

    def _answer(self, script):
        answer = self.read_after if (self.executed and self.read_after is not None) else self.read
        return answer(script) if callable(answer) else answer

    def close(self):
        self.closed = True


class Exit(BaseException):  # like SystemExit from exit_json/fail_json
    def __init__(self, result, failed):
        super().__init__(result)
        self.result = result
        self.failed = failed


def run_module(monkeypatch, main, args, read, check=False, diff=False, read_after=None):
    """Returns (result dict, FakeSession). result['failed'] is True on fail_json."""
    session = FakeSession(read) if read_after is None else FakeSession(read, read_after)
    monkeypatch.setattr(exchange_module.ExchangeSession, "from_params", classmethod(lambda cls, params: session))

    def exit_json(self, **kwargs):
        raise Exit(kwargs, False)

    def fail_json(self, msg, **kwargs):
        kwargs["msg"] = msg
        kwargs["failed"] = True
        raise Exit(kwargs, True)

    monkeypatch.setattr(exchange_module.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(exchange_module.AnsibleModule, "fail_json", fail_json)
    module_args = dict(CONNECTION)
    module_args.update(args)
    if check:
        module_args["_ansible_check_mode"] = True
    if diff:
        module_args["_ansible_diff"] = True
    with patch_module_args(module_args):
        with pytest.raises(Exit) as info:
            main()
    result = info.value.result
    json.dumps(result)  # results must be JSON-serialisable
    assert "Pa55w0rd!" not in json.dumps(result)
    assert session.closed or not session.queries
    return result, session
