"""Run a mailops.exchange module's main() in-process against a fake Exchange session.

The fake answers read scripts with canned JSON (by matching a cmdlet name in the script) and records every
write batch, so a test sees exactly what a module would run - without WinRM. Used by the unit tests of
exchange_vdir_url, exchange_offline_address_book, exchange_certificate and exchange_info.
"""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.mailops.exchange.plugins.module_utils import exchange_module
from ansible_collections.mailops.exchange.plugins.module_utils.exchange_session import ExchangeCommandError

CONNECTION = {"exchange_host": "ex01.corp.contoso.com", "exchange_username": "CORP\\administrator",
              "exchange_password": "Pa55w0rd!"}


class FakeSession:
    """Stands in for ExchangeSession: ``answers`` maps a marker (a cmdlet name) to the JSON a query returns."""

    def __init__(self, answers, fail_on=None):
        self.answers = answers
        self.fail_on = fail_on or {}
        self.queries = []
        self.write_queries = []  # the scripts sent with writes=True (never re-sent once they may have run)
        self.executed = []
        self.closed = False

    def query(self, script, writes=False):
        self.queries.append(script)
        if writes:
            self.write_queries.append(script)
        for marker, answer in self.answers.items():
            if marker in script:
                if isinstance(answer, Exception):
                    raise answer
                return answer(script) if callable(answer) else json.loads(json.dumps(answer))
        raise AssertionError("unexpected read script:\n" + script)

    def execute(self, commands):
        for line in commands:
            for marker, message in self.fail_on.items():
                if marker in line:
                    raise ExchangeCommandError(line.split(" ", 1)[0], "target", message, command=line)
        self.executed.append(list(commands))

    def close(self):
        self.closed = True


def run_module(monkeypatch, capsys, main, args, session):
    """Run ``main()`` with ``args`` (connection options added); return the parsed result dict.

    ``_ansible_check_mode`` / ``_ansible_diff`` in ``args`` turn on check and diff mode.
    """
    monkeypatch.setattr(exchange_module.ExchangeSession, "from_params", classmethod(lambda cls, params: session))
    full = dict(CONNECTION)
    full.update(args)
    with patch_module_args(full):
        with pytest.raises(SystemExit):
            main()
    out = capsys.readouterr().out
    return json.loads(out)
