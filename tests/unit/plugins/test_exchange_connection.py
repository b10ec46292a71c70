"""The mailops.exchange.exchange persistent connection: options, session reuse and recovery, and its module side.

The plugin is loaded the way ``ansible-connection`` loads it (``connection_loader.get``), so its DOCUMENTATION must
parse and its options resolve; ``ExchangeSession.from_params`` (as the plugin imports it) is replaced by a recorder
whose sessions answer or raise what each test scripts. :class:`PersistentExchangeSession` is driven through a fake
``ansible.module_utils.connection.Connection``.
"""

import importlib
import json
import sys

import pytest
import yaml
from ansible.module_utils.connection import ConnectionError as RpcConnectionError
from ansible.playbook.play_context import PlayContext

from ansible_collections.mailops.exchange.plugins.module_utils import persistent_session as ps
from ansible_collections.mailops.exchange.plugins.module_utils.exchange_session import (
    CONNECTION_ARGUMENT_SPEC, ExchangeCommandError, ExchangeConnectionError, ExchangeError, ExchangeOutputError,
    error_from_record, error_record,
)

PLUGIN = "mailops.exchange.exchange"
SETTINGS = {"exchange_host": "ex01.corp.contoso.com", "exchange_username": "CORP\\admin",
            "exchange_password": "S3cret-pw"}


# -- the plugin, loaded as ansible-connection loads it ------------------------------------------------------------

@pytest.fixture(scope="module")
def loader():
    """Loads the plugin as connection_loader does: its DOCUMENTATION options become config definitions.

    (connection_loader.get itself needs Ansible's collection finder, which cannot be installed in a test process
    that has already imported ``ansible_collections`` from .collections.)
    """
    from ansible import constants as C
    from ansible.parsing.yaml.loader import AnsibleLoader

    module = importlib.import_module("ansible_collections.mailops.exchange.plugins.connection.exchange")
    options = AnsibleLoader(module.DOCUMENTATION).get_single_data()["options"]
    if not C.config.has_configuration_definition("connection", PLUGIN):
        C.config.initialize_plugin_configuration_definitions("connection", PLUGIN, options)

    class Loader:
        plugin = module

        @staticmethod
        def get(name, play_context, new_stdin):
            assert name == PLUGIN
            connection = module.Connection(play_context, new_stdin)
            connection._load_name = PLUGIN
            return connection
    return Loader


def load_connection(loader, **options):
    connection = loader.get(PLUGIN, PlayContext(), "/dev/null")
    connection.set_options(direct=dict(SETTINGS, **options))
    return connection


class Sessions:
    """Stands in for ExchangeSession.from_params: records each session opened and every call made on it.

    ``failures`` is a list of exceptions (or None for success) consumed by the next query/execute calls, whichever
    session they reach.
    """

    def __init__(self):
        self.opened = []
        self.calls = []
        self.failures = []

    def from_params(self, params, **kwargs):
        session = FakeSession(self, len(self.opened), dict(params))
        self.opened.append(session)
        return session


class FakeSession:
    def __init__(self, owner, index, params):
        self.owner, self.index, self.params = owner, index, params
        self.closed = 0

    def query(self, script):
        return self._call("query", script, {"script": script, "session": self.index})

    def execute(self, commands):
        return self._call("execute", list(commands), None)

    def close(self):
        self.closed += 1

    def _call(self, operation, argument, value):
        assert not self.closed, "a closed session was used"
        self.owner.calls.append((self.index, operation, argument))
        if self.owner.failures:
            failure = self.owner.failures.pop(0)
            if failure is not None:
                raise failure
        return value


@pytest.fixture
def sessions(loader, monkeypatch):
    recorder = Sessions()
    monkeypatch.setattr(loader.plugin.ExchangeSession, "from_params", recorder.from_params)
    return recorder


def answer(text):
    data = json.loads(text)
    assert set(data) in ({"value"}, {"error"}), data
    return data


def dropped(message="the WinRM service refused sending a read script: invalid selectors (WSMan fault 2150858843)",
            not_started=True):
    return ExchangeConnectionError(message, not_started=not_started)


# -- options ----------------------------------------------------------------------------------------------------

def test_documented_options_match_the_modules_connection_options(loader):
    documented = yaml.safe_load(loader.plugin.DOCUMENTATION)["options"]
    exchange_options = {name: doc for name, doc in documented.items() if name.startswith("exchange_")}
    assert sorted(exchange_options) == sorted(CONNECTION_ARGUMENT_SPEC)
    for name, spec in CONNECTION_ARGUMENT_SPEC.items():
        doc = exchange_options[name]
        assert doc.get("type", "str") == spec["type"], name
        assert doc.get("default") == spec.get("default"), name
        assert doc.get("choices") == spec.get("choices"), name
        assert {"name": name} in doc.get("vars", []), name  # the modules' variables reach the connection
        if name != "exchange_host":  # the host defaults to inventory_hostname, which always beats an environment
            assert doc.get("env") == [{"name": spec["fallback"][1][0]}], name
    assert not exchange_options["exchange_password"].get("default")


def test_options_resolve_to_the_modules_defaults(loader):
    connection = load_connection(loader)
    settings = connection._settings()
    assert sorted(settings) == sorted(CONNECTION_ARGUMENT_SPEC)
    for name, spec in CONNECTION_ARGUMENT_SPEC.items():
        assert settings[name] == SETTINGS.get(name, spec.get("default")), name
    assert connection.get_option("persistent_log_messages") is False
    connection = load_connection(loader, exchange_port="5986", exchange_operation_timeout="7")
    assert (connection._settings()["exchange_port"], connection._settings()["exchange_operation_timeout"]) == (5986, 7)


# -- session reuse ------------------------------------------------------------------------------------------------

def test_one_session_serves_every_request(loader, sessions):
    connection = load_connection(loader)
    assert answer(connection.exchange_query("Get-AcceptedDomain"))["value"]["session"] == 0
    assert answer(connection.exchange_execute(["Set-AcceptedDomain -Identity 'x'"])) == {"value": None}
    assert answer(connection.exchange_query("Get-SendConnector"))["value"]["session"] == 0
    assert len(sessions.opened) == 1 and sessions.opened[0].closed == 0
    assert sessions.calls == [(0, "query", "Get-AcceptedDomain"), (0, "execute", ["Set-AcceptedDomain -Identity 'x'"]),
                              (0, "query", "Get-SendConnector")]
    assert sessions.opened[0].params == connection._settings()
    assert sessions.opened[0].params["exchange_password"] == "S3cret-pw"


def test_changed_settings_close_the_session_and_open_another(loader, sessions):
    connection = load_connection(loader)
    connection.exchange_query("one")
    connection.set_options(direct=dict(SETTINGS, exchange_username="CORP\\other"))
    assert answer(connection.exchange_query("two"))["value"]["session"] == 1
    assert [s.closed for s in sessions.opened] == [1, 0]
    assert sessions.opened[1].params["exchange_username"] == "CORP\\other"
    connection.exchange_query("three")  # the same settings again: no new session
    assert len(sessions.opened) == 2


def test_close_closes_the_session(loader, sessions):
    connection = load_connection(loader)
    connection.exchange_query("one")
    connection.close()
    assert sessions.opened[0].closed == 1
    connection.close()  # twice is harmless
    assert sessions.opened[0].closed == 1


def test_reset_connection_closes_the_session(loader, sessions):
    # What the strategy calls at the end of a play and for a reset_connection meta task.
    connection = load_connection(loader)
    connection._socket_path = "/nonexistent/socket"
    connection.exchange_query("one")
    connection.reset()
    assert sessions.opened[0].closed == 1


# -- recovery ---------------------------------------------------------------------------------------------------

def test_read_on_a_dropped_reused_session_is_retried_once_on_a_new_one(loader, sessions):
    connection = load_connection(loader)
    connection.exchange_query("first")
    sessions.failures = [dropped(not_started=False)]
    assert answer(connection.exchange_query("second"))["value"] == {"script": "second", "session": 1}
    assert sessions.calls[1:] == [(0, "query", "second"), (1, "query", "second")]
    assert [s.closed for s in sessions.opened] == [1, 0]
    assert any("dropped" in message for _level, message in connection.pop_messages())


def test_read_retried_only_once(loader, sessions):
    connection = load_connection(loader)
    connection.exchange_query("first")
    sessions.failures = [dropped(), dropped("still broken")]
    error = answer(connection.exchange_query("second"))["error"]
    assert error["kind"] == "connection" and error["message"] == "still broken"
    assert len(sessions.opened) == 2 and sessions.opened[0].closed == 1
    assert len(sessions.calls) == 3


@pytest.mark.parametrize("second_failure", [dropped("still broken", not_started=False), ExchangeOutputError("noise")],
                         ids=["connection", "output"])
def test_session_that_failed_the_retry_is_dropped_too(loader, sessions, second_failure):
    # A fresh session that fails is dropped when it is the first attempt; the retry's session must be too, or the
    # next task reuses a session that just failed (and its WinRM shell stays open until the end of the play).
    connection = load_connection(loader)
    connection.exchange_query("first")
    sessions.failures = [dropped(), second_failure]
    assert "error" in answer(connection.exchange_query("second"))
    assert [s.closed for s in sessions.opened] == [1, 1]
    assert answer(connection.exchange_query("third"))["value"]["session"] == 2


def test_failure_on_a_fresh_session_is_not_retried(loader, sessions):
    connection = load_connection(loader)
    sessions.failures = [dropped("authentication failed for user CORP\\admin")]
    error = answer(connection.exchange_query("first"))["error"]
    assert error == {"kind": "connection", "message": "authentication failed for user CORP\\admin", "not_started": True}
    assert len(sessions.opened) == 1 and sessions.opened[0].closed == 1
    assert len(sessions.calls) == 1
    # The next request opens a new session.
    assert answer(connection.exchange_query("again"))["value"]["session"] == 1


def test_write_that_may_have_run_is_not_sent_again(loader, sessions):
    connection = load_connection(loader)
    connection.exchange_query("read")
    sessions.failures = [dropped("cannot reach https://ex01:5986/wsman while reading the output of write commands",
                                 not_started=False)]
    error = answer(connection.exchange_execute(["New-AcceptedDomain -Name 'x'"]))["error"]
    assert error["kind"] == "connection" and error["not_started"] is False
    assert "reading the output of write commands" in error["message"]
    assert [call for call in sessions.calls if call[1] == "execute"] == [(0, "execute", ["New-AcceptedDomain -Name 'x'"])]
    assert sessions.opened[0].closed == 1
    # The session was dropped: the next request gets a new one.
    assert answer(connection.exchange_query("read"))["value"]["session"] == 1


def test_write_that_never_started_is_sent_again_once(loader, sessions):
    connection = load_connection(loader)
    connection.exchange_query("read")
    sessions.failures = [dropped(), None]
    assert answer(connection.exchange_execute(["New-AcceptedDomain -Name 'x'"])) == {"value": None}
    executes = [call for call in sessions.calls if call[1] == "execute"]
    assert executes == [(0, "execute", ["New-AcceptedDomain -Name 'x'"]), (1, "execute", ["New-AcceptedDomain -Name 'x'"])]
    assert [s.closed for s in sessions.opened] == [1, 0]


def test_write_not_started_on_a_fresh_session_is_not_retried(loader, sessions):
    connection = load_connection(loader)
    sessions.failures = [dropped()]
    assert answer(connection.exchange_execute(["New-AcceptedDomain -Name 'x'"]))["error"]["not_started"] is True
    assert len(sessions.calls) == 1 and len(sessions.opened) == 1


def test_output_error_drops_the_session_without_retry(loader, sessions):
    connection = load_connection(loader)
    connection.exchange_query("read")
    sessions.failures = [ExchangeOutputError("PowerShell did not return the expected JSON document")]
    error = answer(connection.exchange_query("again"))["error"]
    assert error == {"kind": "output", "message": "PowerShell did not return the expected JSON document"}
    assert len(sessions.calls) == 2 and sessions.opened[0].closed == 1
    assert answer(connection.exchange_query("next"))["value"]["session"] == 1


def test_command_error_keeps_the_session(loader, sessions):
    connection = load_connection(loader)
    connection.exchange_query("read")
    sessions.failures = [ExchangeCommandError("Set-OwaVirtualDirectory", "EX01\\owa (Default Web Site)",
                                              "An IIS error occurred.", command="Set-OwaVirtualDirectory -Identity x",
                                              error_id="IISError,Set-OwaVirtualDirectory")]
    error = answer(connection.exchange_execute(["Set-OwaVirtualDirectory -Identity x"]))["error"]
    assert error == {"kind": "command", "cmdlet": "Set-OwaVirtualDirectory", "target": "EX01\\owa (Default Web Site)",
                     "message": "An IIS error occurred.", "command": "Set-OwaVirtualDirectory -Identity x",
                     "error_id": "IISError,Set-OwaVirtualDirectory"}
    assert len(sessions.calls) == 2 and len(sessions.opened) == 1 and sessions.opened[0].closed == 0
    assert answer(connection.exchange_query("next"))["value"]["session"] == 0


@pytest.mark.parametrize("error_id, message", [
    ("System.Management.Automation.Remoting.PSRemotingTransportException", "The I/O operation has been aborted."),
    (None, "Cannot invoke the command because the session state is Broken."),
])
def test_broken_runspace_read_is_retried_on_a_new_session(loader, sessions, error_id, message):
    connection = load_connection(loader)
    connection.exchange_query("read")
    sessions.failures = [ExchangeCommandError("Get-AcceptedDomain", None, message, error_id=error_id)]
    assert answer(connection.exchange_query("again"))["value"] == {"script": "again", "session": 1}
    assert sessions.opened[0].closed == 1


def test_broken_runspace_write_is_not_sent_again(loader, sessions):
    connection = load_connection(loader)
    connection.exchange_query("read")
    sessions.failures = [ExchangeCommandError("New-AcceptedDomain", "x", "the session state is Broken")]
    error = answer(connection.exchange_execute(["New-AcceptedDomain -Name 'x'"]))["error"]
    assert error["kind"] == "command" and error["cmdlet"] == "New-AcceptedDomain"
    assert len(sessions.calls) == 2 and sessions.opened[0].closed == 1


def test_value_error_is_answered_as_a_record(loader, sessions, monkeypatch):
    connection = load_connection(loader, exchange_read_timeout=5, exchange_operation_timeout=20)
    module = loader.plugin
    # The real from_params validates the timeouts; the recorder is bypassed for this test.
    from ansible_collections.mailops.exchange.plugins.module_utils.exchange_session import ExchangeSession
    monkeypatch.setattr(module.ExchangeSession, "from_params", lambda params: ExchangeSession(
        params["exchange_host"], operation_timeout=params["exchange_operation_timeout"],
        read_timeout=params["exchange_read_timeout"]))
    error = answer(connection.exchange_query("x"))["error"]
    assert error["kind"] == "value" and "exchange_read_timeout (5)" in error["message"]


# -- warnings -----------------------------------------------------------------------------------------------------

def test_insecure_settings_warn_once(loader, sessions):
    # Whether the warning is queued when the options are set or when the session opens, the controller pops the
    # messages after each task's set_options: it must be there exactly once, not once per task.
    connection = load_connection(loader, exchange_cert_validation="ignore")
    connection.exchange_query("one")
    connection.exchange_query("two")
    warnings = [message for level, message in connection.pop_messages() if level == "warning"]
    assert warnings == ["exchange_cert_validation=ignore: the WinRM server's certificate is not checked"]
    connection.set_options(direct=dict(SETTINGS, exchange_cert_validation="ignore"))  # the next task, same settings
    connection.exchange_query("three")
    assert [m for level, m in connection.pop_messages() if level == "warning"] == []


def test_basic_over_http_warns(loader, sessions):
    connection = load_connection(loader, exchange_scheme="http", exchange_transport="basic")
    connection.exchange_query("one")
    warnings = [message for level, message in connection.pop_messages() if level == "warning"]
    assert warnings == ["Basic authentication over http sends the password in clear text; use https"]


def test_secure_settings_do_not_warn(loader, sessions):
    connection = load_connection(loader)
    connection.pop_messages()
    connection.exchange_query("one")
    assert [m for level, m in connection.pop_messages() if level == "warning"] == []


# -- error records --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("error", [
    ExchangeCommandError("Set-X", "EX01\\y", "Exchange said no", command="Set-X -Identity 'EX01\\y'", error_id="E,Set-X"),
    ExchangeCommandError(None, None, "", command=None),
    ExchangeConnectionError("cannot reach https://ex01:5986/wsman", not_started=True),
    ExchangeConnectionError("PowerShell exited", not_started=False),
    ExchangeOutputError("not JSON"),
    ValueError("exchange_shell must be one of ..."),
    ExchangeError("something else"),
], ids=["command", "command-defaults", "connection-not-started", "connection", "output", "value", "error"])
def test_error_records_round_trip(error):
    record = error_record(error)
    assert json.loads(json.dumps(record)) == record
    again = error_from_record(record)
    assert type(again) is type(error)
    assert str(again) == str(error)
    for field in ("cmdlet", "target", "message", "command", "error_id", "not_started"):
        assert getattr(again, field, None) == getattr(error, field, None), field
    assert error_record(again) == record


# -- PersistentExchangeSession (the module side) --------------------------------------------------------------------

class FakeRpc:
    """ansible.module_utils.connection.Connection as persistent_session imports it."""

    answers = []
    instances = []

    def __init__(self, socket_path):
        self.socket_path = socket_path
        self.calls = []
        FakeRpc.instances.append(self)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)

        def call(*args):
            self.calls.append((name, args))
            outcome = FakeRpc.answers.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        return call


@pytest.fixture
def rpc(monkeypatch):
    FakeRpc.answers, FakeRpc.instances = [], []
    monkeypatch.setattr(ps, "Connection", FakeRpc)
    return FakeRpc


def test_persistent_session_query_and_execute(rpc):
    rpc.answers = [json.dumps({"value": {"Name": "contoso.com"}}), json.dumps({"value": None})]
    session = ps.PersistentExchangeSession.for_socket("/pc/socket")({"exchange_host": "ignored"})
    assert session.query("Get-AcceptedDomain") == {"Name": "contoso.com"}
    assert session.execute(["Set-X -Identity 'y'"]) is None
    assert session.execute([]) is None  # nothing sent
    session.close()
    assert rpc.instances[0].socket_path == "/pc/socket"
    assert rpc.instances[0].calls == [("exchange_query", ("Get-AcceptedDomain",)),
                                      ("exchange_execute", (["Set-X -Identity 'y'"],))]


def test_persistent_session_refuses_empty_command_lines(rpc):
    with pytest.raises(ValueError):
        ps.PersistentExchangeSession("/pc/socket").execute(["Set-X", " "])
    assert rpc.instances[0].calls == []


@pytest.mark.parametrize("error", [
    ExchangeCommandError("Set-X", "EX01\\y", "Exchange said no", command="Set-X -Identity 'EX01\\y'", error_id="E"),
    ExchangeConnectionError("the WinRM service refused", not_started=True),
    ExchangeConnectionError("PowerShell exited", not_started=False),
    ExchangeOutputError("not JSON"),
    ValueError("bad value"),
], ids=["command", "connection-not-started", "connection", "output", "value"])
def test_persistent_session_raises_what_the_connection_recorded(rpc, error):
    rpc.answers = [json.dumps({"error": error_record(error)})]
    with pytest.raises(type(error)) as raised:
        ps.PersistentExchangeSession("/pc/socket").query("x")
    assert str(raised.value) == str(error)
    assert error_record(raised.value) == error_record(error)


def test_persistent_session_on_another_connection_type(rpc):
    rpc.answers = [RpcConnectionError("Method not found", code=-32601)]
    with pytest.raises(ExchangeConnectionError) as raised:
        ps.PersistentExchangeSession("/pc/socket").execute(["Set-X"])
    assert "not mailops.exchange.exchange" in str(raised.value)
    assert raised.value.not_started is True


def _unable_to_connect(cause):
    error = RpcConnectionError("Unable to connect to socket '/pc/socket'. See the socket path issue category")
    error.__cause__ = cause
    return error


@pytest.mark.parametrize("cause", [FileNotFoundError(2, "No such file or directory"),
                                   ConnectionRefusedError(111, "Connection refused")], ids=["gone", "refused"])
def test_persistent_session_socket_unreachable_is_not_started(rpc, cause):
    # Nobody listens on the socket: the request never left, so even a write may be sent again.
    rpc.answers = [_unable_to_connect(cause)]
    with pytest.raises(ExchangeConnectionError) as raised:
        ps.PersistentExchangeSession("/pc/socket").execute(["Set-X"])
    assert raised.value.not_started is True
    assert "connection process failed" in str(raised.value)


def test_persistent_session_reset_during_the_answer_may_have_run(rpc):
    # ansible raises the same text for an OSError while sending or receiving: the write may have run.
    rpc.answers = [_unable_to_connect(ConnectionResetError(104, "Connection reset by peer"))]
    with pytest.raises(ExchangeConnectionError) as raised:
        ps.PersistentExchangeSession("/pc/socket").execute(["Set-X"])
    assert raised.value.not_started is False


def test_persistent_session_connection_process_died(rpc):
    rpc.answers = [RpcConnectionError("command timeout triggered, timeout value is 1200 secs", code=-32603)]
    with pytest.raises(ExchangeConnectionError) as raised:
        ps.PersistentExchangeSession("/pc/socket").execute(["Set-X"])
    assert raised.value.not_started is False  # the write may have run


@pytest.mark.parametrize("garbage", ["not json", None, b"\xff"])
def test_persistent_session_answer_that_is_not_json(rpc, garbage):
    rpc.answers = [garbage]
    with pytest.raises(ExchangeOutputError, match="not its JSON"):
        ps.PersistentExchangeSession("/pc/socket").query("x")


def test_module_uses_the_socket_when_it_has_one(monkeypatch, rpc):
    from ansible.module_utils.testing import patch_module_args

    from ansible_collections.mailops.exchange.plugins.module_utils import exchange_module as em

    rpc.answers = [json.dumps({"value": {"ok": 1}})]
    with patch_module_args({"_ansible_socket": "/pc/socket", "exchange_host": "ex01"}):
        module = em.ExchangeModule(argument_spec={})
    assert module.socket_path == "/pc/socket"
    assert module.query("Get-X") == {"ok": 1}
    assert rpc.instances[0].socket_path == "/pc/socket"
