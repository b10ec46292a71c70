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
from ansible_collections.mailops.exchange.plugins.module_utils.quoting import command_argument

# A client access server's answer (exchange_vdir_url's read): what each Set- line writes, as Exchange keeps it.
_VDIR_NOUNS = {"Owa": "owa", "Ecp": "ecp", "WebServices": "ews", "ActiveSync": "eas", "Oab": "oab", "Mapi": "mapi",
               "PowerShell": "powershell"}
_OA_PARAMETERS = {"InternalHostname": "internal_hostname", "ExternalHostname": "external_hostname",
                  "InternalClientsRequireSsl": "internal_clients_require_ssl",
                  "ExternalClientsRequireSsl": "external_clients_require_ssl",
                  "InternalClientAuthenticationMethod": "internal_client_authentication_method",
                  "ExternalClientAuthenticationMethod": "external_client_authentication_method"}


def _value(line, parameter):
    """The argument of ``-Parameter`` in a rendered line: a string, $true/$false, $null (''), an @() list, or
    the parameter's absence (KeyError)."""
    text = command_argument(line, parameter)
    if text is not None:
        return text
    for literal, value in ((":$true", True), (":$false", False), (" $null", "")):
        if " -%s%s" % (parameter, literal) in line:
            return value
    marker = " -%s @(" % parameter
    if marker in line:
        inner = line.split(marker, 1)[1].split(")", 1)[0]
        return [part.strip().strip("'") for part in inner.split(",") if part.strip()]
    raise KeyError(parameter)


def apply_client_access_write(answer, line):
    """Carry out one exchange_vdir_url line on a client access answer (``read`` shape), as Exchange would."""
    cmdlet = line.split(" ", 1)[0]
    noun = cmdlet[len("Set-"):]
    if noun.endswith("VirtualDirectory") and noun[:-len("VirtualDirectory")] in _VDIR_NOUNS:
        vdir = answer["vdirs"][_VDIR_NOUNS[noun[:-len("VirtualDirectory")]]][0]
        for parameter, key in (("InternalUrl", "internal_url"), ("ExternalUrl", "external_url"),
                               ("IISAuthenticationMethods", "iis_authentication_methods")):
            try:
                vdir[key] = _value(line, parameter)
            except KeyError:
                pass
    elif noun == "OutlookAnywhere":
        for parameter, key in _OA_PARAMETERS.items():
            try:
                answer["outlook_anywhere"][0][key] = _value(line, parameter)
            except KeyError:
                pass
    elif noun in ("ClientAccessService", "ClientAccessServer"):
        answer["client_access"][0]["autodiscover_internal_uri"] = _value(line, "AutoDiscoverServiceInternalUri")


CONNECTION = {"exchange_host": "ex01.corp.contoso.com", "exchange_username": "CORP\\administrator",
              "exchange_password": "Pa55w0rd!"}


class FakeSession:
    """Stands in for ExchangeSession: ``answers`` maps a marker (a cmdlet name) to the JSON a query returns."""

    def __init__(self, answers, fail_on=None, answers_after_write=None):
        self.answers = answers
        # What the reads answer once a write ran (Exchange's state after it), for modules that read back.
        self.answers_after_write = answers_after_write
        self.fail_on = fail_on or {}
        self.queries = []
        self.write_queries = []  # the scripts sent with writes=True (never re-sent once they may have run)
        self.read_backs = []  # the read scripts sent with write batches, in the same round trip
        self.executed = []
        self.closed = False

    def query(self, script, writes=False):
        self.queries.append(script)
        if writes:
            self.write_queries.append(script)
        answers = self.answers_after_write if (self.executed and self.answers_after_write) else self.answers
        for marker, answer in answers.items():
            if marker in script:
                if isinstance(answer, Exception):
                    raise answer
                return answer(script) if callable(answer) else json.loads(json.dumps(answer))
        raise AssertionError("unexpected read script:\n" + script)

    def execute(self, commands, read_back=None):
        for line in commands:
            for marker, message in self.fail_on.items():
                if marker in line:
                    raise ExchangeCommandError(line.split(" ", 1)[0], "target", message, command=line)
        self.executed.append(list(commands))
        # Exchange carries out the writes: a client access answer changes as each line says.
        for marker, answer in list(self.answers.items()):
            if isinstance(answer, dict) and "vdirs" in answer:
                answer = json.loads(json.dumps(answer))
                for line in commands:
                    apply_client_access_write(answer, line)
                self.answers[marker] = answer
        if read_back is None:
            return None
        self.read_backs.append(read_back)
        answers = self.answers_after_write if self.answers_after_write else self.answers
        for marker, answer in answers.items():
            if marker in read_back:
                return answer(read_back) if callable(answer) else json.loads(json.dumps(answer))
        raise AssertionError("unexpected read-back script:\n" + read_back)

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
