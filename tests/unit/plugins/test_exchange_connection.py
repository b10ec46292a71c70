"""The mailops.exchange.exchange connection: its options, its session broker and the module side.

- :class:`ExchangeBroker` (plugin_utils/exchange_broker.py) is driven directly with a fake ``session_factory`` whose
  sessions answer or raise what each test scripts: session reuse, recovery, and the answers (JSON text with the
  ``notices`` the module turns into warnings).
- ``socket_path()``: one socket per set of settings and ansible-playbook run, the password never in it.
- Real broker processes, without any lab (a broker opens WinRM only when asked): ``start()``, socket mode,
  ``reset``, idle timeout, end of the ansible-playbook process, a stale socket; and the plugin's ``socket_path``
  property, which starts a broker once per settings and warns about insecure settings once per start.
- :class:`PersistentExchangeSession` (the module side), through a fake ``ansible.module_utils.connection.Connection``
  and once through a real socket served by ``serve()``.
"""

import importlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.connection import Connection as RpcConnection
from ansible.playbook.play_context import PlayContext

from ansible_collections.mailops.exchange.plugins.module_utils import persistent_session as ps
from ansible_collections.mailops.exchange.plugins.module_utils.exchange_session import (
    CONNECTION_ARGUMENT_SPEC, ExchangeCommandError, ExchangeConnectionError, ExchangeError, ExchangeOutputError,
    error_from_record, error_record,
)
from ansible_collections.mailops.exchange.plugins.plugin_utils import exchange_broker
from ansible_collections.mailops.exchange.plugins.plugin_utils.exchange_broker import ExchangeBroker

PLUGIN = "mailops.exchange.exchange"
SETTINGS = {"exchange_host": "ex01.corp.contoso.com", "exchange_username": "CORP\\admin",
            "exchange_password": "S3cret-pw"}
#: The options of the plugin that are not the modules' exchange_* options.
EXTRA_OPTIONS = {"session_idle_timeout": {"type": "int", "default": 300},
                 "pipelining": {"type": "boolean", "default": True}}
CERT_WARNING = "exchange_cert_validation=ignore: the WinRM server's certificate is not checked"


def full_settings(**overrides):
    """Every connection setting, as the plugin's _settings() hands them to the broker."""
    settings = {name: spec.get("default") for name, spec in CONNECTION_ARGUMENT_SPEC.items()}
    settings.update(SETTINGS)
    settings.update(overrides)
    return settings


# -- the plugin, loaded as the task executor loads it ------------------------------------------------------------

@pytest.fixture(scope="module")
def plugin():
    """The plugin module, its DOCUMENTATION options registered as connection_loader registers them.

    (connection_loader.get itself needs Ansible's collection finder, which cannot be installed in a test process
    that has already imported ``ansible_collections`` from .collections.)
    """
    from ansible import constants as C
    from ansible.parsing.yaml.loader import AnsibleLoader

    module = importlib.import_module("ansible_collections.mailops.exchange.plugins.connection.exchange")
    options = documented_options(module, AnsibleLoader)
    if not C.config.has_configuration_definition("connection", PLUGIN):
        C.config.initialize_plugin_configuration_definitions("connection", PLUGIN, options)
    return module


def documented_options(module, loader=None):
    """The plugin's options as Ansible documents and registers them: its own DOCUMENTATION's, and those of the doc
    fragment it extends (the exchange_* options, from their one table), merged as ansible-doc merges them."""
    load = (lambda text: loader(text).get_single_data()) if loader else yaml.safe_load
    documentation = load(module.DOCUMENTATION)
    assert documentation["extends_documentation_fragment"] == ["mailops.exchange.connection.connection_plugin"]
    fragment = importlib.import_module("ansible_collections.mailops.exchange.plugins.doc_fragments.connection")
    options = dict(load(fragment.ModuleDocFragment.CONNECTION_PLUGIN)["options"])
    options.update(documentation["options"])
    return options


def load_connection(plugin, playbook_pid=None, **options):
    connection = plugin.Connection(PlayContext(), "/dev/null", ansible_playbook_pid=playbook_pid)
    connection._load_name = PLUGIN
    connection.set_options(direct=dict(SETTINGS, **options))
    return connection


# -- options ----------------------------------------------------------------------------------------------------

def test_documented_options_are_the_modules_connection_options(plugin):
    documented = documented_options(plugin)
    assert sorted(documented) == sorted(list(CONNECTION_ARGUMENT_SPEC) + list(EXTRA_OPTIONS))
    for name, spec in CONNECTION_ARGUMENT_SPEC.items():
        doc = documented[name]
        # The connection reads the CA trust path as text: Ansible's 'path' type would turn '' into the current
        # directory (issue 13, case 5); _settings() expands it.
        expected = "str" if name == "exchange_ca_trust_path" else spec["type"]
        assert doc.get("type", "str") == expected, name
        assert doc.get("default") == spec.get("default"), name
        assert doc.get("choices") == spec.get("choices"), name
        assert {"name": name} in doc.get("vars", []), name  # the modules' variables reach the connection
        if name != "exchange_host":  # the host defaults to inventory_hostname, which always beats an environment
            assert doc.get("env") == [{"name": spec["fallback"][1][0]}], name
    assert not documented["exchange_password"].get("default")
    for name, expected in EXTRA_OPTIONS.items():
        assert {key: documented[name].get(key) for key in expected} == expected, name


def test_options_resolve_to_the_modules_defaults(plugin):
    connection = load_connection(plugin)
    settings = connection._settings()
    assert sorted(settings) == sorted(CONNECTION_ARGUMENT_SPEC)
    assert settings == full_settings()
    assert connection.get_option("session_idle_timeout") == 300
    assert connection.get_option("pipelining") is True
    connection = load_connection(plugin, exchange_port="5986", exchange_operation_timeout="7", session_idle_timeout="9")
    assert (connection._settings()["exchange_port"], connection._settings()["exchange_operation_timeout"]) == (5986, 7)
    assert connection.get_option("session_idle_timeout") == 9


# -- the broker: fake sessions ------------------------------------------------------------------------------------

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

    def query(self, script, writes=False):
        return self._call("write_query" if writes else "query", script, {"script": script, "session": self.index})

    def execute(self, commands, read_back=None):
        if read_back is not None:
            return self._call("execute", (list(commands), read_back), {"read_back": read_back})
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
def sessions():
    return Sessions()


@pytest.fixture
def broker(sessions):
    return ExchangeBroker(full_settings(), session_factory=sessions.from_params)


def answer(text, notices=0):
    """The broker's answer, parsed; it carries ``notices`` (``notices`` of them) and a value or an error."""
    assert isinstance(text, str), text  # JSON text, never a pickled object
    data = json.loads(text)
    assert set(data) in ({"value", "notices"}, {"error", "notices"}), data
    assert len(data["notices"]) == notices, data["notices"]
    return data


def dropped(message="the WinRM service refused sending a read script: invalid selectors (WSMan fault 2150858843)",
            not_started=True):
    return ExchangeConnectionError(message, not_started=not_started)


def assert_retry_notice(data, operation):
    (notice,) = data["notices"]
    assert "the session to ex01.corp.contoso.com was dropped" in notice, notice
    words = {"query": "read script", "execute": "write commands", "write_query": "write commands and their read-back"}
    assert "sent the %s again" % words[operation] in notice, notice


# -- session reuse ------------------------------------------------------------------------------------------------

def test_one_session_serves_every_request(broker, sessions):
    assert answer(broker.exchange_query("Get-AcceptedDomain"))["value"]["session"] == 0
    assert answer(broker.exchange_execute(["Set-AcceptedDomain -Identity 'x'"])) == {"value": None, "notices": []}
    assert answer(broker.exchange_query("Get-SendConnector"))["value"]["session"] == 0
    assert len(sessions.opened) == 1 and sessions.opened[0].closed == 0
    assert sessions.calls == [(0, "query", "Get-AcceptedDomain"), (0, "execute", ["Set-AcceptedDomain -Identity 'x'"]),
                              (0, "query", "Get-SendConnector")]
    assert sessions.opened[0].params == full_settings()
    assert sessions.opened[0].params["exchange_password"] == "S3cret-pw"
    assert broker.stopped is False


def test_the_session_opens_at_the_first_request(sessions):
    broker = ExchangeBroker(full_settings(), session_factory=sessions.from_params)
    assert sessions.opened == []  # a broker that is never asked never opens WinRM
    broker.close()
    assert sessions.opened == [] and broker.stopped is True


def test_settings_are_copied(sessions):
    settings = full_settings()
    broker = ExchangeBroker(settings, session_factory=sessions.from_params)
    settings["exchange_username"] = "CORP\\other"
    broker.exchange_query("one")
    assert sessions.opened[0].params["exchange_username"] == "CORP\\admin"


@pytest.mark.parametrize("method", ["close", "reset"])
def test_close_and_reset_close_the_session_and_stop(broker, sessions, method):
    # reset: what the strategy sends at the end of a play and for a reset_connection meta task.
    broker.exchange_query("one")
    getattr(broker, method)()
    assert sessions.opened[0].closed == 1 and broker.stopped is True
    getattr(broker, method)()  # twice is harmless
    assert sessions.opened[0].closed == 1


def test_execute_without_commands(broker, sessions):
    assert answer(broker.exchange_execute(None)) == {"value": None, "notices": []}
    assert sessions.calls == [(0, "execute", [])]


# -- recovery ---------------------------------------------------------------------------------------------------

def test_read_on_a_dropped_reused_session_is_retried_once_on_a_new_one(broker, sessions):
    broker.exchange_query("first")
    sessions.failures = [dropped(not_started=False)]
    data = answer(broker.exchange_query("second"), notices=1)
    assert data["value"] == {"script": "second", "session": 1}
    assert sessions.calls[1:] == [(0, "query", "second"), (1, "query", "second")]
    assert [s.closed for s in sessions.opened] == [1, 0]
    assert_retry_notice(data, "query")
    # The notices travel with the answer they belong to, once.
    assert broker.pop_messages() == []
    assert answer(broker.exchange_query("third"))["value"]["session"] == 1


def test_read_retried_only_once(broker, sessions):
    broker.exchange_query("first")
    sessions.failures = [dropped(), dropped("still broken")]
    data = answer(broker.exchange_query("second"), notices=1)
    assert data["error"] == {"kind": "connection", "message": "still broken", "not_started": True}
    assert_retry_notice(data, "query")  # the failed answer says that it was a second attempt
    assert len(sessions.opened) == 2 and sessions.opened[0].closed == 1
    assert len(sessions.calls) == 3


@pytest.mark.parametrize("second_failure", [dropped("still broken", not_started=False), ExchangeOutputError("noise")],
                         ids=["connection", "output"])
def test_session_that_failed_the_retry_is_dropped_too(broker, sessions, second_failure):
    # A fresh session that fails is dropped when it is the first attempt; the retry's session must be too, or the
    # next task reuses a session that just failed (and its WinRM shell stays open until the end of the play).
    broker.exchange_query("first")
    sessions.failures = [dropped(), second_failure]
    assert "error" in answer(broker.exchange_query("second"), notices=1)
    assert [s.closed for s in sessions.opened] == [1, 1]
    assert answer(broker.exchange_query("third"))["value"]["session"] == 2


def test_failure_on_a_fresh_session_is_not_retried(broker, sessions):
    sessions.failures = [dropped("authentication failed for user CORP\\admin")]
    error = answer(broker.exchange_query("first"))["error"]
    assert error == {"kind": "connection", "message": "authentication failed for user CORP\\admin", "not_started": True}
    assert len(sessions.opened) == 1 and sessions.opened[0].closed == 1
    assert len(sessions.calls) == 1
    # The next request opens a new session.
    assert answer(broker.exchange_query("again"))["value"]["session"] == 1


def test_a_session_that_cannot_be_opened_is_answered_as_an_error(sessions):
    def refuse(params):
        raise ExchangeConnectionError("cannot reach https://ex01:5986/wsman", not_started=True)
    broker = ExchangeBroker(full_settings(), session_factory=refuse)
    assert answer(broker.exchange_execute(["Set-X"]))["error"] == {
        "kind": "connection", "message": "cannot reach https://ex01:5986/wsman", "not_started": True}


def test_write_that_may_have_run_is_not_sent_again(broker, sessions):
    broker.exchange_query("read")
    sessions.failures = [dropped("cannot reach https://ex01:5986/wsman while reading the output of write commands",
                                 not_started=False)]
    error = answer(broker.exchange_execute(["New-AcceptedDomain -Name 'x'"]))["error"]
    assert error["kind"] == "connection" and error["not_started"] is False
    assert "reading the output of write commands" in error["message"]
    assert [call for call in sessions.calls if call[1] == "execute"] == [(0, "execute", ["New-AcceptedDomain -Name 'x'"])]
    assert sessions.opened[0].closed == 1
    # The session was dropped: the next request gets a new one.
    assert answer(broker.exchange_query("read"))["value"]["session"] == 1


def test_write_that_never_started_is_sent_again_once(broker, sessions):
    broker.exchange_query("read")
    sessions.failures = [dropped(), None]
    data = answer(broker.exchange_execute(["New-AcceptedDomain -Name 'x'"]), notices=1)
    assert data["value"] is None
    assert_retry_notice(data, "execute")
    executes = [call for call in sessions.calls if call[1] == "execute"]
    assert executes == [(0, "execute", ["New-AcceptedDomain -Name 'x'"]), (1, "execute", ["New-AcceptedDomain -Name 'x'"])]
    assert [s.closed for s in sessions.opened] == [1, 0]


def test_write_that_never_started_is_sent_again_only_once(broker, sessions):
    broker.exchange_query("read")
    sessions.failures = [dropped(), dropped("refused again")]
    data = answer(broker.exchange_execute(["New-AcceptedDomain -Name 'x'"]), notices=1)
    assert data["error"]["message"] == "refused again"
    assert len([call for call in sessions.calls if call[1] == "execute"]) == 2
    assert [s.closed for s in sessions.opened] == [1, 1]


def test_write_not_started_on_a_fresh_session_is_not_retried(broker, sessions):
    sessions.failures = [dropped()]
    assert answer(broker.exchange_execute(["New-AcceptedDomain -Name 'x'"]))["error"]["not_started"] is True
    assert len(sessions.calls) == 1 and len(sessions.opened) == 1 and sessions.opened[0].closed == 1


def test_output_error_drops_the_session_without_retry(broker, sessions):
    broker.exchange_query("read")
    sessions.failures = [ExchangeOutputError("PowerShell did not return the expected JSON document")]
    error = answer(broker.exchange_query("again"))["error"]
    assert error == {"kind": "output", "message": "PowerShell did not return the expected JSON document"}
    assert len(sessions.calls) == 2 and sessions.opened[0].closed == 1
    assert answer(broker.exchange_query("next"))["value"]["session"] == 1


def test_command_error_keeps_the_session(broker, sessions):
    broker.exchange_query("read")
    sessions.failures = [ExchangeCommandError("Set-OwaVirtualDirectory", "EX01\\owa (Default Web Site)",
                                              "An IIS error occurred.", command="Set-OwaVirtualDirectory -Identity x",
                                              error_id="IISError,Set-OwaVirtualDirectory")]
    error = answer(broker.exchange_execute(["Set-OwaVirtualDirectory -Identity x"]))["error"]
    assert error == {"kind": "command", "cmdlet": "Set-OwaVirtualDirectory", "target": "EX01\\owa (Default Web Site)",
                     "message": "An IIS error occurred.", "command": "Set-OwaVirtualDirectory -Identity x",
                     "error_id": "IISError,Set-OwaVirtualDirectory"}
    assert len(sessions.calls) == 2 and len(sessions.opened) == 1 and sessions.opened[0].closed == 0
    assert answer(broker.exchange_query("next"))["value"]["session"] == 0


@pytest.mark.parametrize("error_id, message", [
    ("System.Management.Automation.Remoting.PSRemotingTransportException", "The I/O operation has been aborted."),
    (None, "Cannot invoke the command because the session state is Broken."),
])
def test_broken_runspace_read_is_retried_on_a_new_session(broker, sessions, error_id, message):
    broker.exchange_query("read")
    sessions.failures = [ExchangeCommandError("Get-AcceptedDomain", None, message, error_id=error_id)]
    data = answer(broker.exchange_query("again"), notices=1)
    assert data["value"] == {"script": "again", "session": 1}
    assert sessions.opened[0].closed == 1
    assert_retry_notice(data, "query")


def test_broken_runspace_write_is_not_sent_again(broker, sessions):
    broker.exchange_query("read")
    sessions.failures = [ExchangeCommandError("New-AcceptedDomain", "x", "the session state is Broken")]
    error = answer(broker.exchange_execute(["New-AcceptedDomain -Name 'x'"]))["error"]
    assert error["kind"] == "command" and error["cmdlet"] == "New-AcceptedDomain"
    assert len(sessions.calls) == 2 and sessions.opened[0].closed == 1


# A read script that writes first (ExchangeModule.write_query): a write, sent again only when it never started.

def test_write_query_reaches_the_session_as_one(broker, sessions):
    data = answer(broker.exchange_query("Set-X; Get-X | ConvertTo-Json", True))
    assert data["value"] == {"script": "Set-X; Get-X | ConvertTo-Json", "session": 0}
    assert sessions.calls == [(0, "write_query", "Set-X; Get-X | ConvertTo-Json")]


def test_write_query_that_may_have_run_is_not_sent_again(broker, sessions):
    broker.exchange_query("read")
    sessions.failures = [dropped("PowerShell exited while running write commands and their read-back",
                                 not_started=False)]
    error = answer(broker.exchange_query("Set-X; Get-X", True))["error"]
    assert error["kind"] == "connection" and error["not_started"] is False
    assert [call for call in sessions.calls if call[1] == "write_query"] == [(0, "write_query", "Set-X; Get-X")]
    assert sessions.opened[0].closed == 1
    assert answer(broker.exchange_query("read"))["value"]["session"] == 1


def test_write_query_that_never_started_is_sent_again_once(broker, sessions):
    broker.exchange_query("read")
    sessions.failures = [dropped(), None]
    data = answer(broker.exchange_query("Set-X; Get-X", True), notices=1)
    assert data["value"] == {"script": "Set-X; Get-X", "session": 1}
    assert [call for call in sessions.calls if call[1] == "write_query"] == [
        (0, "write_query", "Set-X; Get-X"), (1, "write_query", "Set-X; Get-X")]
    assert "was dropped" in data["notices"][0]


@pytest.mark.parametrize("failure", [
    ExchangeOutputError("PowerShell did not return the expected JSON document"),
    ExchangeCommandError("Set-X", None, "Cannot invoke the command because the session state is Broken."),
], ids=["output", "broken-runspace"])
def test_write_query_output_or_broken_runspace_is_not_sent_again(broker, sessions, failure):
    broker.exchange_query("read")
    sessions.failures = [failure]
    assert "error" in answer(broker.exchange_query("Set-X; Get-X", True))
    assert len(sessions.calls) == 2 and sessions.opened[0].closed == 1


def test_value_error_is_answered_as_a_record():
    # The real ExchangeSession.from_params (the broker's default factory) validates the timeouts, before any WinRM.
    broker = ExchangeBroker(full_settings(exchange_read_timeout=5, exchange_operation_timeout=20))
    error = answer(broker.exchange_query("x"))["error"]
    assert error["kind"] == "value" and "exchange_read_timeout (5)" in error["message"]


# -- where a broker listens -----------------------------------------------------------------------------------------

#: One other value for every connection setting.
OTHER_VALUES = {
    "exchange_host": "ex02.corp.contoso.com", "exchange_port": 5985, "exchange_scheme": "http",
    "exchange_transport": "kerberos", "exchange_username": "CORP\\other", "exchange_password": "S3cret-pw2",
    "exchange_cert_validation": "ignore", "exchange_ca_trust_path": "/etc/ssl/ca.pem",
    "exchange_message_encryption": "always", "exchange_operation_timeout": 21, "exchange_read_timeout": 31,
    "exchange_shell": "snapin", "exchange_server_fqdn": "ex01.corp.contoso.com",
}


def test_other_values_cover_every_setting():
    assert sorted(OTHER_VALUES) == sorted(CONNECTION_ARGUMENT_SPEC)
    assert all(full_settings()[name] != value for name, value in OTHER_VALUES.items())


@pytest.mark.parametrize("name", sorted(set(OTHER_VALUES) - {"exchange_password"}))
def test_socket_path_differs_for_every_setting_but_the_password(name):
    base = exchange_broker.socket_path("/pc", full_settings(), 4242)
    assert exchange_broker.socket_path("/pc", full_settings(**{name: OTHER_VALUES[name]}), 4242) != base


def test_socket_path_is_stable_per_settings_and_run():
    settings = full_settings()
    path = exchange_broker.socket_path("/pc", settings, 4242)
    assert exchange_broker.socket_path("/pc", dict(reversed(list(settings.items()))), 4242) == path
    assert exchange_broker.socket_path("/pc", full_settings(), "4242") == path  # the pid as the executor passes it
    assert exchange_broker.socket_path("/pc", full_settings(), 4243) != path  # another ansible-playbook run
    assert os.path.dirname(path) == "/pc"
    assert os.path.basename(path).startswith("mailops-exchange-")


def test_socket_path_ignores_the_password():
    # As documented: the password stays out of the name, even hashed (a hash of a weak password is guessable).
    # So a play whose password changes keeps the broker (and the password) it started with, see the report.
    base = exchange_broker.socket_path("/pc", full_settings(), 4242)
    assert exchange_broker.socket_path("/pc", full_settings(exchange_password="S3cret-pw2"), 4242) == base
    assert exchange_broker.socket_path("/pc", full_settings(exchange_password=None), 4242) == base


def test_socket_path_does_not_contain_the_password():
    password = "S3cret-pw"
    path = exchange_broker.socket_path("/pc", full_settings(exchange_password=password), 4242)
    assert password not in path and password.lower() not in path.lower()
    assert "admin" not in path and "ex01" not in path  # nothing of the settings in clear


# -- real broker processes (no lab: a broker opens WinRM only when asked) ------------------------------------------

def broker_pids():
    """Live (not zombie) broker processes that this test process started."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if exchange_broker.PROCESS_MARKER.encode() in cmdline and int(stat[1]) == os.getpid() and stat[0] != "Z":
            found.append(int(entry.name))
    return found


def wait_for_exit(pid, timeout):
    """Reap the broker ``pid`` (a child of this process) once it exits; False if it still runs after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:  # reaped already (subprocess reaps the Popen objects it lost)
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def pcdir():
    """A persistent-connection directory with a short path (a Unix socket path has at most 107 bytes)."""
    directory = tempfile.mkdtemp(prefix="mx-")
    os.chmod(directory, 0o700)
    before = set(broker_pids())
    yield directory
    for pid in set(broker_pids()) - before:  # a failed test's brokers; only those this test started
        os.kill(pid, signal.SIGKILL)
        wait_for_exit(pid, 5)
    shutil.rmtree(directory, ignore_errors=True)


def start_broker(pcdir, playbook_pid=None, idle_timeout=300, **settings):
    """``start()`` as the plugin calls it (lock file included); returns the socket path and the broker's pid."""
    settings = full_settings(**settings)
    playbook_pid = playbook_pid or os.getpid()
    path = exchange_broker.socket_path(pcdir, settings, playbook_pid)
    before = set(broker_pids())
    with open(path + ".lock", "a"):
        pass
    exchange_broker.start(path, settings, playbook_pid, idle_timeout)
    (pid,) = set(broker_pids()) - before
    return path, pid


def assert_gone(pcdir, path, pid, timeout):
    started = time.monotonic()
    assert wait_for_exit(pid, timeout), "the broker still runs after %ss" % timeout
    assert not exchange_broker.is_listening(path)
    assert not os.path.exists(path) and not os.path.exists(path + ".lock")
    assert os.listdir(pcdir) == []
    return time.monotonic() - started


def test_broker_lifecycle_start_and_reset(pcdir):
    path, pid = start_broker(pcdir)
    mode = os.stat(path).st_mode
    assert (mode & 0o777) == 0o600 and (mode & 0o170000) == 0o140000  # an owner-only socket
    assert exchange_broker.is_listening(path)
    with open("/proc/%d/cmdline" % pid, "rb") as cmdline:
        assert SETTINGS["exchange_password"].encode() not in cmdline.read()  # it came on the pipe
    rpc = RpcConnection(path)  # Ansible's own client, as the strategy uses it at the end of the play
    assert answer(rpc.exchange_execute([])) == {"value": None, "notices": []}
    rpc.reset()
    assert_gone(pcdir, path, pid, timeout=15)


def test_broker_runs_the_collection_it_was_started_from_without_ansibles_plugin_loader(pcdir):
    # The broker puts the directory holding this collection's ansible_collections first on its sys.path and imports
    # main() from there, as Python imports any package: the same files the worker loaded, whatever the configured
    # collections paths say, and no collection loader to start (0.2 s of CPU per broker).
    root = exchange_broker.collections_root()
    assert os.path.samefile(os.path.join(root, "ansible_collections", "mailops", "exchange", "plugins", "plugin_utils",
                                         "exchange_broker.py"), exchange_broker.__file__)
    path, pid = start_broker(pcdir)
    with open("/proc/%d/cmdline" % pid, "rb") as cmdline:
        arguments = cmdline.read().split(b"\0")
    assert root.encode() in arguments and b"init_plugin_loader" not in b" ".join(arguments)
    RpcConnection(path).reset()
    assert_gone(pcdir, path, pid, timeout=15)


def test_broker_exits_after_its_idle_timeout(pcdir):
    path, pid = start_broker(pcdir, idle_timeout=1)
    assert exchange_broker.is_listening(path)
    assert assert_gone(pcdir, path, pid, timeout=15) < 15


def test_broker_exits_when_the_playbook_process_is_gone(pcdir):
    playbook = subprocess.Popen(["sleep", "60"])
    try:
        path, pid = start_broker(pcdir, playbook_pid=playbook.pid)
        assert exchange_broker.is_listening(path)
    finally:
        playbook.kill()
        playbook.wait()
    assert_gone(pcdir, path, pid, timeout=15)


def test_start_replaces_a_stale_socket(pcdir):
    settings = full_settings()
    path = exchange_broker.socket_path(pcdir, settings, os.getpid())
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(path)  # a dead broker's leftover: the file is there, nobody listens
    dead.close()
    assert os.path.exists(path) and not exchange_broker.is_listening(path)
    started_path, pid = start_broker(pcdir)
    assert started_path == path and exchange_broker.is_listening(path)
    RpcConnection(path).reset()
    assert_gone(pcdir, path, pid, timeout=15)


def test_start_reports_why_the_broker_cannot_listen(pcdir):
    path = os.path.join(pcdir, "x" * 120)  # longer than a Unix socket path may be
    with pytest.raises(RuntimeError, match="cannot listen on"):
        exchange_broker.start(path, full_settings(), os.getpid(), 300)
    assert not os.path.exists(path)
    deadline = time.monotonic() + 15
    while broker_pids() and time.monotonic() < deadline:  # it exits on its own, having said why
        time.sleep(0.05)
    assert broker_pids() == []


def test_is_listening_without_a_file(pcdir):
    assert exchange_broker.is_listening(os.path.join(pcdir, "nothing")) is False


# -- the plugin's socket_path: one broker per settings, warnings once per start -----------------------------------

@pytest.fixture
def plugin_env(plugin, pcdir, monkeypatch):
    """The plugin as in a worker: its control directory, a display recorder."""
    from ansible import constants as C

    monkeypatch.setattr(C, "PERSISTENT_CONTROL_PATH_DIR", pcdir)
    warnings = []
    monkeypatch.setattr(plugin.display, "warning", lambda msg, *args, **kwargs: warnings.append(msg))
    return warnings


def test_plugin_starts_one_broker_per_settings_and_warns_once_per_start(plugin, plugin_env, pcdir):
    warnings = plugin_env
    pid = str(os.getpid())  # as the task executor passes ansible_playbook_pid
    first = load_connection(plugin, pid, exchange_cert_validation="ignore")
    path = first.socket_path
    assert warnings == [CERT_WARNING]
    assert exchange_broker.is_listening(path) and os.path.exists(path + ".lock")
    assert path == exchange_broker.socket_path(os.path.realpath(pcdir), first._settings(), pid)
    (broker,) = broker_pids()
    assert first.socket_path == path  # the next module of the task

    # The next task (a new Connection in a new worker), same settings: the same broker, no new warning.
    second = load_connection(plugin, pid, exchange_cert_validation="ignore")
    assert second.socket_path == path
    assert broker_pids() == [broker] and warnings == [CERT_WARNING]
    # Another password only: the same broker (the password is not part of the socket name).
    assert load_connection(plugin, pid, exchange_cert_validation="ignore", exchange_password="0ther-pw").socket_path \
        == path
    assert broker_pids() == [broker] and warnings == [CERT_WARNING]

    # Another account: a broker of its own, started (and warned about) once.
    other = load_connection(plugin, pid, exchange_cert_validation="ignore", exchange_username="CORP\\other")
    other_path = other.socket_path
    assert other_path != path and exchange_broker.is_listening(other_path)
    assert warnings == [CERT_WARNING, CERT_WARNING]
    (other_broker,) = set(broker_pids()) - {broker}

    # reset_connection: the broker ends; the next task starts a new one, and that start warns again.
    second.reset()
    assert wait_for_exit(broker, 5)
    assert not os.path.exists(path) and not os.path.exists(path + ".lock")
    assert exchange_broker.is_listening(other_path)  # the other settings' broker is not touched
    third = load_connection(plugin, pid, exchange_cert_validation="ignore")
    assert third.socket_path == path and warnings == [CERT_WARNING] * 3
    (new_broker,) = set(broker_pids()) - {other_broker}
    third.reset()
    other.reset()
    assert wait_for_exit(new_broker, 5) and wait_for_exit(other_broker, 5)
    assert os.listdir(pcdir) == []


def test_plugin_secure_settings_do_not_warn(plugin, plugin_env):
    connection = load_connection(plugin, str(os.getpid()))
    path = connection.socket_path
    assert plugin_env == []
    (pid,) = broker_pids()
    connection.reset()
    assert wait_for_exit(pid, 5) and not os.path.exists(path)


def test_plugin_basic_over_http_warns(plugin, plugin_env):
    connection = load_connection(plugin, str(os.getpid()), exchange_scheme="http", exchange_transport="basic")
    connection.socket_path
    assert plugin_env == ["Basic authentication over http sends the password in clear text; use https"]
    (pid,) = broker_pids()
    connection.reset()
    assert wait_for_exit(pid, 5)


def test_plugin_reset_without_a_broker_is_harmless(plugin, plugin_env, pcdir):
    connection = load_connection(plugin, str(os.getpid()))
    connection.reset()
    assert broker_pids() == [] and os.listdir(pcdir) == [] and plugin_env == []


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
    """persistent_session.call_broker: records (socket, method, params) and answers what the test scripted.

    The client itself (framing, peer check, missing or foreign answers) is tested through real sockets in
    test_broker_hardening.py.
    """

    answers = []
    calls = []

    @classmethod
    def call_broker(cls, socket_path, method, *params):
        cls.calls.append((socket_path, method, params))
        outcome = cls.answers.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


@pytest.fixture
def rpc(monkeypatch):
    FakeRpc.answers, FakeRpc.calls = [], []
    monkeypatch.setattr(ps, "call_broker", FakeRpc.call_broker)
    return FakeRpc


def test_persistent_session_query_and_execute(rpc):
    rpc.answers = [json.dumps({"value": {"Name": "contoso.com"}, "notices": []}),
                   json.dumps({"value": None, "notices": []})]
    session = ps.PersistentExchangeSession.for_socket("/pc/socket")({"exchange_host": "ignored"})
    assert session.query("Get-AcceptedDomain") == {"Name": "contoso.com"}
    assert session.execute(["Set-X -Identity 'y'"]) is None
    assert session.execute([]) is None  # nothing sent
    session.close()
    assert rpc.calls == [("/pc/socket", "exchange_query", ("Get-AcceptedDomain",)),
                         ("/pc/socket", "exchange_execute", (["Set-X -Identity 'y'"],))]
    assert session.notices == []


def test_persistent_session_write_query(rpc):
    rpc.answers = [json.dumps({"value": {"Name": "x"}, "notices": []})]
    session = ps.PersistentExchangeSession("/pc/socket")
    assert session.query("Set-X; Get-X", writes=True) == {"Name": "x"}
    assert rpc.calls == [("/pc/socket", "exchange_query", ("Set-X; Get-X", True))]


def test_persistent_session_collects_the_notices(rpc):
    rpc.answers = [json.dumps({"value": 1, "notices": ["reopened once"]}),
                   json.dumps({"value": 2}),  # an answer without notices
                   json.dumps({"error": error_record(ExchangeOutputError("noise")), "notices": ["reopened twice"]})]
    session = ps.PersistentExchangeSession("/pc/socket")
    assert session.query("a") == 1 and session.query("b") == 2
    with pytest.raises(ExchangeOutputError):
        session.query("c")
    assert session.notices == ["reopened once", "reopened twice"]  # a failed answer's notices too


def test_persistent_session_refuses_empty_command_lines(rpc):
    with pytest.raises(ValueError):
        ps.PersistentExchangeSession("/pc/socket").execute(["Set-X", " "])
    assert rpc.calls == []


@pytest.mark.parametrize("error", [
    ExchangeCommandError("Set-X", "EX01\\y", "Exchange said no", command="Set-X -Identity 'EX01\\y'", error_id="E"),
    ExchangeConnectionError("the WinRM service refused", not_started=True),
    ExchangeConnectionError("PowerShell exited", not_started=False),
    ExchangeOutputError("not JSON"),
    ValueError("bad value"),
], ids=["command", "connection-not-started", "connection", "output", "value"])
def test_persistent_session_raises_what_the_broker_recorded(rpc, error):
    rpc.answers = [json.dumps({"error": error_record(error), "notices": []})]
    with pytest.raises(type(error)) as raised:
        ps.PersistentExchangeSession("/pc/socket").query("x")
    assert str(raised.value) == str(error)
    assert error_record(raised.value) == error_record(error)


@pytest.mark.parametrize("garbage", ["not json", None, "[1]"])
def test_persistent_session_answer_that_is_not_json(rpc, garbage):
    rpc.answers = [garbage]
    with pytest.raises(ExchangeOutputError, match="not its JSON"):
        ps.PersistentExchangeSession("/pc/socket").query("x")


def test_module_uses_the_socket_and_warns_with_the_notices(monkeypatch, rpc):
    from ansible.module_utils.common import warnings as module_warnings
    from ansible.module_utils.testing import patch_module_args

    from ansible_collections.mailops.exchange.plugins.module_utils import exchange_module as em

    # An empty store of the release's own kind: a list up to ansible-core 2.18, a dict from 2.19.
    monkeypatch.setattr(module_warnings, "_global_warnings", type(module_warnings._global_warnings)())
    rpc.answers = [json.dumps({"value": {"ok": 1}, "notices": ["the session to ex01 was dropped (x); opened a new "
                                                               "one and sent the query again"]})]
    with patch_module_args({"_ansible_socket": "/pc/socket", "exchange_host": "ex01"}):
        module = em.ExchangeModule(argument_spec={})
    assert module.socket_path == "/pc/socket"
    assert module.query("Get-X") == {"ok": 1}
    assert rpc.calls[0][0] == "/pc/socket"
    assert module_warnings.get_warning_messages() == ()  # warned once the module is done with the session
    module.close()
    assert module_warnings.get_warning_messages() == (
        "the session to ex01 was dropped (x); opened a new one and sent the query again",)


# -- both sides through a real socket ------------------------------------------------------------------------------

def test_module_side_and_broker_through_serve(pcdir, sessions):
    """PersistentExchangeSession -> JSON-RPC on a Unix socket -> serve() -> ExchangeBroker, and reset ends serve()."""
    path = os.path.join(pcdir, "broker")
    listener = exchange_broker._listen(path)
    broker = ExchangeBroker(full_settings(), session_factory=sessions.from_params)
    outcome = {}

    def module_side():
        try:
            session = ps.PersistentExchangeSession(path)
            outcome["first"] = session.query("Get-AcceptedDomain")
            sessions.failures = [dropped(not_started=False)]
            outcome["second"] = session.query("Get-AcceptedDomain")
            sessions.failures = [ExchangeCommandError("Set-X", "y", "Exchange said no", command="Set-X -Identity y")]
            try:
                session.execute(["Set-X -Identity y"])
            except ExchangeCommandError as exc:
                outcome["error"] = error_record(exc)
            outcome["notices"] = list(session.notices)
        finally:
            RpcConnection(path).reset()  # the end of the play

    previous = signal.getsignal(signal.SIGTERM)  # serve() installs its own handler
    client = threading.Thread(target=module_side)
    client.start()
    try:
        started = time.monotonic()
        exchange_broker.serve(listener, broker, os.getpid(), idle_timeout=30, poll_interval=0.05)
        assert time.monotonic() - started < 10
    finally:
        signal.signal(signal.SIGTERM, previous)
        listener.close()
        client.join(10)
    assert outcome["first"] == {"script": "Get-AcceptedDomain", "session": 0}
    assert outcome["second"] == {"script": "Get-AcceptedDomain", "session": 1}
    assert outcome["error"]["cmdlet"] == "Set-X" and outcome["error"]["command"] == "Set-X -Identity y"
    (notice,) = outcome["notices"]
    assert "sent the read script again" in notice
    assert broker.stopped and [s.closed for s in sessions.opened] == [1, 1]


def test_serve_ends_when_idle_or_when_the_playbook_is_gone(pcdir, sessions):
    previous = signal.getsignal(signal.SIGTERM)
    try:
        for playbook_pid, idle_timeout in ((os.getpid(), 0.2), (2 ** 22 + 12345, 30)):  # a pid that cannot exist
            listener = exchange_broker._listen(os.path.join(pcdir, "serve-%s" % idle_timeout))
            started = time.monotonic()
            exchange_broker.serve(listener, ExchangeBroker(full_settings(), sessions.from_params), playbook_pid,
                                  idle_timeout=idle_timeout, poll_interval=0.05)
            listener.close()
            assert time.monotonic() - started < 3
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_write_commands_and_their_read_back_are_one_request(broker, sessions):
    data = answer(broker.exchange_execute(["Set-SendConnector -Identity 'x' -Fqdn 'y'"], "Get-SendConnector"))
    assert data["value"] == {"read_back": "Get-SendConnector"}
    assert sessions.calls == [(0, "execute", (["Set-SendConnector -Identity 'x' -Fqdn 'y'"], "Get-SendConnector"))]
    assert "read_back must be a script" in answer(broker.exchange_execute(["Set-X"], ["not", "a", "script"]))["error"][
        "message"]
