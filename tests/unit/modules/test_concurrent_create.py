"""Organisation-wide creates under concurrency (issue 16): when another run creates the same object between this
run's read and its write, Exchange refuses the second ``New-*`` with its duplicate error; the module reads the object
back and converges to the wanted state - never a duplicate, never a false failure. One place does it for every
module (``ExchangeModule.converge``); these tests drive it through the real modules with a fake organisation.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mailflow_harness  # noqa: E402
from mailflow_harness import FakeSession, run_module  # noqa: E402

from ansible_collections.mailops.exchange.plugins.module_utils import exchange_module
from ansible_collections.mailops.exchange.plugins.module_utils.exchange_module import lost_create_race
from ansible_collections.mailops.exchange.plugins.module_utils.exchange_session import ExchangeCommandError
from ansible_collections.mailops.exchange.plugins.modules import exchange_accepted_domain as domain_mod
from ansible_collections.mailops.exchange.plugins.modules import exchange_send_connector as connector_mod

DN = ("CN=To internet,CN=Connections,CN=Exchange Routing Group (DWBGZMFD01QNBJR),CN=Routing Groups,"
      "CN=Exchange Administrative Group (FYDIBOHF23SPDLT),CN=Administrative Groups,CN=First Organization,"
      "CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=corp,DC=contoso,DC=com")
# What remote PowerShell gives for a New-* whose object exists (the id's format: KB 2998144's New-MoveRequest).
REMOTE_ID = ("[Server=EX01,RequestId=6a0b6f59-0d36-4f5b-a1f4-8b0d2b0d1c11,TimeStamp=12/7/2026 3:11:10 AM] "
             "[FailureCategory=Cmdlet-ADObjectAlreadyExistsException] 8D2D8F4B,"
             "Microsoft.Exchange.Management.SystemConfigurationTasks.NewSendConnector")
MESSAGE = "Active Directory operation failed on DC01.corp.contoso.com. The object '%s' already exists." % DN

CONNECTOR = {"Name": "To internet", "Identity": "To internet", "AddressSpaces": ["SMTP:*;1"], "DNSRoutingEnabled": True,
             "SmartHosts": [], "SourceTransportServers": ["EX01", "EX02"], "Fqdn": "mail.contoso.com", "Enabled": True,
             "MaxMessageSize": "35 MB (36,700,160 bytes)", "RequireTLS": False, "Comment": ""}
CONNECTOR_ARGS = {"name": "To internet", "usage": "Internet", "address_spaces": ["*"], "dns_routing_enabled": True,
                  "source_transport_servers": ["EX01", "EX02"], "fqdn": "mail.contoso.com"}


class Organisation(FakeSession):
    """A fake organisation another run writes to: ``race`` is what the other run writes just after our first read.

    Each ``New-*`` of an object the other run has created is refused as Exchange refuses it."""

    def __init__(self, state, race, exists, error_id=REMOTE_ID, message=MESSAGE, written=None):
        super().__init__(lambda script: self.state)
        self.state = state
        self.written = written  # (state, command line) -> the state after a line Exchange carried out
        self.race = race
        self.exists = exists  # (state, command line) -> True when its object exists now
        self.error_id = error_id
        self.message = message

    def query(self, script):
        answer = super().query(script)
        if self.race is not None:
            race, self.race = self.race, None
            self.state = race(self.state)
        return answer

    def execute(self, commands, read_back=None):
        self.executed.append(list(commands))
        for line in commands:
            if line.startswith("New-") and self.exists(self.state, line):
                raise ExchangeCommandError(line.split(" ", 1)[0], None, self.message, command=line,
                                           error_id=self.error_id)
            if self.written is not None:
                self.state = self.written(self.state, line)
        return self.query(read_back) if read_back is not None else None


def run(monkeypatch, main, args, session, check=False):
    monkeypatch.setattr(mailflow_harness, "FakeSession", lambda read: session)
    warnings = []
    monkeypatch.setattr(exchange_module.AnsibleModule, "warn", lambda self, text: warnings.append(text))
    result, _unused = run_module(monkeypatch, main, args, None, check=check)
    return result, warnings


def connectors(state):
    return {"connectors": state, "servers": ["EX01", "EX02"]}


def test_a_connector_created_meanwhile_with_the_same_settings_is_no_failure_and_no_change(monkeypatch):
    session = Organisation(connectors([]), lambda state: connectors([CONNECTOR]),
                           lambda state, line: bool(state["connectors"]))
    result, warnings = run(monkeypatch, connector_mod.main, CONNECTOR_ARGS, session)
    assert not result.get("failed"), result
    assert result["changed"] is False and result["commands"] == []
    assert len(session.queries) == 2  # read, refused create, read back
    assert [c[0].split(" ", 1)[0] for c in session.executed] == ["New-SendConnector"]  # nothing after: converged
    assert result["conflicts"] == [{"command": session.executed[0][0], "message": MESSAGE}]
    assert result["send_connector"]["fqdn"] == "mail.contoso.com"
    assert len(warnings) == 1 and "another run created it meanwhile" in warnings[0]
    assert "New-SendConnector" in warnings[0] and "already exists" in warnings[0]


def test_a_connector_created_meanwhile_with_other_settings_is_set_to_the_wanted_ones(monkeypatch):
    other = dict(CONNECTOR, Fqdn="other.contoso.com", SourceTransportServers=["EX01"])
    session = Organisation(connectors([]), lambda state: connectors([other]),
                           lambda state, line: bool(state["connectors"]),
                           written=lambda state, line: connectors([CONNECTOR]))
    result, _warnings = run(monkeypatch, connector_mod.main, CONNECTOR_ARGS, session)
    assert result["changed"] is True
    assert result["commands"] == ["Set-SendConnector -Identity 'To internet' -SourceTransportServers @('EX01', 'EX02') "
                                  "-Fqdn 'mail.contoso.com'"]
    assert session.executed[1] == result["commands"]  # never a second New-SendConnector: no duplicate


def test_an_accepted_domain_created_meanwhile_still_becomes_the_default(monkeypatch):
    created = {"Name": "contoso.com", "DomainName": "contoso.com", "DomainType": "Authoritative", "Default": False}
    corp = {"Name": "corp.contoso.com", "DomainName": "corp.contoso.com", "DomainType": "Authoritative", "Default": True}
    session = Organisation([corp], lambda state: [corp, created],
                           lambda state, line: any(d["Name"] == "contoso.com" for d in state),
                           written=lambda state, line: [dict(corp, Default=False), dict(created, Default=True)])
    args = {"name": "contoso.com", "domain_name": "contoso.com", "domain_type": "Authoritative", "make_default": True}
    result, _warnings = run(monkeypatch, domain_mod.main, args, session)
    assert result["changed"] is True
    # The first batch stopped at the refused create (its MakeDefault never ran); the second makes it the default.
    assert session.executed[0][0].startswith("New-AcceptedDomain")
    assert session.executed[1:] == [["Set-AcceptedDomain -Identity 'contoso.com' -MakeDefault:$true"]]
    assert result["commands"] == ["Set-AcceptedDomain -Identity 'contoso.com' -MakeDefault:$true"]


def test_the_snapin_message_alone_is_recognised(monkeypatch):
    # Through the snap-in the error id has no exception name: Exchange's (English) text is the fallback.
    session = Organisation(connectors([]), lambda state: connectors([CONNECTOR]),
                           lambda state, line: bool(state["connectors"]),
                           error_id="8D2D8F4B,Microsoft.Exchange.Management.SystemConfigurationTasks.NewSendConnector")
    result, _warnings = run(monkeypatch, connector_mod.main, CONNECTOR_ARGS, session)
    assert not result.get("failed") and result["changed"] is False


def test_any_other_refusal_of_a_create_still_fails(monkeypatch):
    session = Organisation(connectors([]), None, lambda state, line: True,
                           error_id="[Server=EX01] [FailureCategory=Cmdlet-ManagementObjectNotFoundException] "
                                    "E3DE7D95,Microsoft.Exchange.Management.SystemConfigurationTasks.NewSendConnector",
                           message="The operation couldn't be performed because object 'EX09' couldn't be found on "
                                   "'DC01.corp.contoso.com'.")
    result, warnings = run(monkeypatch, connector_mod.main, CONNECTOR_ARGS, session)
    assert result["failed"] is True and "couldn't be found" in result["msg"]
    assert len(session.queries) == 1 and warnings == [] and "conflicts" not in result


def test_a_second_conflict_fails_instead_of_looping(monkeypatch):
    # The object read back is not there (e.g. a replication delay) and the create is refused again: fail, once.
    session = Organisation(connectors([]), None, lambda state, line: True)
    result, _warnings = run(monkeypatch, connector_mod.main, CONNECTOR_ARGS, session)
    assert result["failed"] is True and "already exists" in result["msg"]
    assert len(session.queries) == 2 and len(session.executed) == 2
    assert result["conflicts"][0]["command"].startswith("New-SendConnector")


def test_check_mode_plans_once_and_writes_nothing(monkeypatch):
    session = Organisation(connectors([]), None, lambda state, line: True)
    result, _unused = run(monkeypatch, connector_mod.main, CONNECTOR_ARGS, session, check=True)
    assert result["changed"] is True and session.executed == [] and len(session.queries) == 1


@pytest.mark.parametrize("command, error_id, message, expected", [
    ("New-SendConnector -Name 'a'", REMOTE_ID, "anything", True),
    ("New-SendConnector -Name 'a'", "X,NewSendConnector", MESSAGE, True),
    ("Set-SendConnector -Identity 'a'", REMOTE_ID, MESSAGE, False),  # only a create can lose a create race
    ("New-SendConnector -Name 'a'", "X,NewSendConnector", "The object is locked.", False),
    (None, REMOTE_ID, MESSAGE, False),
    # A certificate another run imported first (the CA's answer to the same request), as the lab words it.
    ("Import-ExchangeCertificate -Server 'EX01' -FileData $x", "X,ImportExchangeCertificate",
     "A special Rpc error occurs on server EX01: The certificate with thumbprint AC377A3B8F26543C98CD332C8EB36D31ED26A7E1 "
     "already exists in the certificate store.", True),
    ("Import-ExchangeCertificate -Server 'EX01' -FileData $x", "X,ImportExchangeCertificate",
     "A special Rpc error occurs on server EX01: The specified network password is not correct.", False),
])
def test_lost_create_race(command, error_id, message, expected):
    commands = [command] if command else ["New-SendConnector -Name 'b'"]
    if command is not None:  # a write-and-read script: the batch's lines are not known, the cmdlet is
        assert lost_create_race(ExchangeCommandError("x", "a", message, command=command, error_id=error_id)) is expected
    exc = ExchangeCommandError("New-SendConnector", "a", message, command=command, error_id=error_id)
    assert lost_create_race(exc, commands) is expected
