# -*- coding: utf-8 -*-
"""Issue 13: the session broker trusts no one, and a broker that dies says so in one sentence.

- case 11: a JSON-RPC method name starting with ``_`` (or any name not offered, or garbage) is answered with an error
  and the broker lives on (a real broker process);
- case 3: a control directory or socket that is not the user's own is refused; the module-side client reads JSON
  only (a pickled answer is never unpickled) and refuses a listener of another user;
- cases 2 and 13: a broker that ends mid-task (its connection closed without an answer): one sentence naming the
  cmdlet and the object, no script, no PFX bytes or password;
- case 12: the shell ledger, and a new broker deleting the shells a dead one left;
- case 14: a stopping broker is unreachable before its (slow) shell deletion;
- cases 4 and 5 through the connection plugin;
- the PFX password held by the broker (one-time handle).
"""

import base64
import json
import os
import pickle
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time

import pytest
from ansible.errors import AnsibleConnectionFailure
from ansible.module_utils.connection import recv_data, send_data

from ansible_collections.mailops.exchange.plugins.module_utils import persistent_session as ps
from ansible_collections.mailops.exchange.plugins.module_utils.exchange_session import (
    ExchangeConnectionError, ExchangeOutputError,
)
from ansible_collections.mailops.exchange.plugins.plugin_utils import exchange_broker
from ansible_collections.mailops.exchange.plugins.plugin_utils.exchange_broker import ExchangeBroker, ShellLedger

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_exchange_connection import (  # noqa: E402
    FakeSession, Sessions, broker_pids, full_settings, load_connection, pcdir, plugin, plugin_env, start_broker,
    wait_for_exit,
)

__all__ = ["pcdir", "plugin", "plugin_env"]  # fixtures

NEVER_WARNING = ("exchange_message_encryption=never over http sends every message in clear text, the Exchange-shell "
                 "load with the account password (the second-hop credential) included; use https, or message "
                 "encryption (auto)")


def raw_call(path, payload):
    """Send ``payload`` (bytes) as one framed request and return the decoded answer (or None if none came)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    try:
        send_data(sock, payload)
        data = recv_data(sock)
    finally:
        sock.close()
    return json.loads(data) if data else None


# -- case 11 ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("payload,code", [
    ({"jsonrpc": "2.0", "id": 1, "method": "_drop", "params": [[], {}]}, -32601),
    ({"jsonrpc": "2.0", "id": 2, "method": "__init__", "params": [[{}], {}]}, -32601),
    ({"jsonrpc": "2.0", "id": 3, "method": "_open", "params": [[], {}]}, -32601),
    ({"jsonrpc": "2.0", "id": 4, "method": "rpc.x", "params": [[], {}]}, -32601),
    ({"jsonrpc": "2.0", "id": 5, "method": "close", "params": [[], {}]}, -32601),  # only reset ends a broker
    ({"jsonrpc": "2.0", "id": 6, "method": "exchange_query", "params": [[1, 2, 3, 4], {}]}, -32602),
    ({"jsonrpc": "2.0", "id": 7, "method": "exchange_query", "params": "x"}, -32602),
    ({"jsonrpc": "2.0", "id": 8, "method": None}, -32601),
    ([1, 2], -32600),
    (b"\xff not json", -32700),
], ids=["_drop", "__init__", "_open", "rpc.", "close", "too-many-params", "bad-params", "no-method", "a-list",
        "garbage"])
def test_a_bad_request_is_answered_and_the_broker_lives_on(pcdir, payload, code):
    path, pid = start_broker(pcdir)
    try:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        answer = raw_call(path, data)
        assert answer["error"]["code"] == code, answer
        assert "result_type" not in answer
        assert exchange_broker.is_listening(path)  # still there, still answering
        assert ps.call_broker(path, "exchange_ping") == "pong"
    finally:
        ps.call_broker(path, "reset")
        assert wait_for_exit(pid, 15)


def test_answers_are_text_never_pickles(pcdir):
    path, pid = start_broker(pcdir)
    try:
        for method in ("exchange_ping", "exchange_execute"):
            params = [[[]], {}] if method == "exchange_execute" else [[], {}]
            answer = raw_call(path, json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                                                "params": params}).encode())
            assert isinstance(answer["result"], str) and "result_type" not in answer
        answer = raw_call(path, json.dumps({"jsonrpc": "2.0", "id": 9, "method": "reset",
                                            "params": [[], {}]}).encode())
        assert answer == {"jsonrpc": "2.0", "id": 9, "result": ""}  # what Ansible's strategy reads at the play's end
    finally:
        assert wait_for_exit(pid, 15)


# -- case 3: who owns the directory, the socket and the listener -------------------------------------------------------

def test_a_control_directory_writable_by_others_is_refused(plugin, plugin_env, pcdir):
    os.chmod(pcdir, 0o777)
    connection = load_connection(plugin, str(os.getpid()))
    with pytest.raises(AnsibleConnectionFailure) as raised:
        connection.socket_path
    assert str(raised.value) == ("refusing the persistent connection directory %s: group or others may write to it "
                                 "(mode 0777); chmod 700 it" % os.path.realpath(pcdir))
    assert broker_pids() == [] and os.listdir(pcdir) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the directory to another user")
def test_a_control_directory_of_another_user_is_refused(plugin, plugin_env, pcdir):
    os.chown(pcdir, 65534, 65534)
    connection = load_connection(plugin, str(os.getpid()))
    with pytest.raises(AnsibleConnectionFailure) as raised:
        connection.socket_path
    assert str(raised.value) == (
        "refusing the persistent connection directory %s: it belongs to uid 65534, not to this user (uid 0); remove "
        "it or set ANSIBLE_PERSISTENT_CONTROL_PATH_DIR to a directory of yours" % os.path.realpath(pcdir))
    assert broker_pids() == []


def test_something_else_in_the_sockets_place_is_refused(plugin, plugin_env, pcdir):
    connection = load_connection(plugin, str(os.getpid()))
    path = connection._broker_path()
    with open(path, "w") as planted:
        planted.write("not a socket")
    os.chmod(path, 0o666)
    with pytest.raises(AnsibleConnectionFailure, match=r"^refusing .*: it is not an owner-only socket of this user"):
        connection.socket_path
    assert broker_pids() == []


class RogueServer(threading.Thread):
    """Answers one request with ``answer(request)`` (bytes or None: close without answering)."""

    def __init__(self, path, answers):
        super().__init__(daemon=True)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        os.chmod(path, 0o600)
        self.listener.listen(4)
        self.answers = list(answers)
        self.requests = []

    def run(self):
        while self.answers:
            conn, _unused = self.listener.accept()
            try:
                request = json.loads(recv_data(conn))
                self.requests.append(request)
                answer = self.answers.pop(0)(request)
                if answer is not None:
                    send_data(conn, answer)
            finally:
                conn.close()
        self.listener.close()


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_the_client_never_unpickles(pcdir):
    marker = os.path.join(pcdir, "unpickled")
    path = os.path.join(pcdir, "rogue")
    server = RogueServer(path, [lambda request: json.dumps({
        "jsonrpc": "2.0", "id": request["id"], "result_type": "pickle",
        "result": pickle.dumps(Payload(marker), protocol=0).decode("latin-1")}).encode()])
    server.start()
    with pytest.raises(ExchangeOutputError, match="not its JSON"):
        ps.PersistentExchangeSession(path).query("Get-X")
    server.join(5)
    assert not os.path.exists(marker)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a listener as another user")
def test_a_listener_of_another_user_is_refused_before_anything_is_sent(pcdir):
    os.chmod(pcdir, 0o711)
    theirs = os.path.join(pcdir, "theirs")
    os.mkdir(theirs)
    os.chown(theirs, 65534, 65534)
    path = os.path.join(theirs, "other")
    code = ("import os, socket, time; os.setgid(65534); os.setuid(65534); s = socket.socket(socket.AF_UNIX); "
            "s.bind(%r); os.chmod(%r, 0o777); s.listen(1); c, _ = s.accept(); print(len(c.recv(100)), flush=True)"
            % (path, path))
    other = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        with pytest.raises(ExchangeConnectionError) as raised:
            ps.PersistentExchangeSession(path).execute(["Set-X -Identity 'y'"])
        assert str(raised.value) == ("refusing the socket %s: the process listening on it runs as uid 65534, not as "
                                     "this user (uid 0)" % path)
        assert raised.value.not_started is True
        assert other.communicate(timeout=10)[0].strip() == "0"  # it received nothing
    finally:
        other.kill()


# -- cases 2 and 13: a broker that ends mid-task ------------------------------------------------------------------------

def test_nobody_listening_is_not_started(pcdir):
    with pytest.raises(ExchangeConnectionError) as raised:
        ps.PersistentExchangeSession(os.path.join(pcdir, "gone")).execute(["Set-X"])
    assert raised.value.not_started is True
    assert str(raised.value) == ("no mailops.exchange.exchange session broker answers on %s (No such file or "
                                 "directory)" % os.path.join(pcdir, "gone"))


def test_another_connection_type_is_named(pcdir):
    path = os.path.join(pcdir, "netconf")
    server = RogueServer(path, [lambda request: json.dumps({"jsonrpc": "2.0", "id": request["id"], "error": {
        "code": -32601, "message": "Method not found"}}).encode()])
    server.start()
    with pytest.raises(ExchangeConnectionError) as raised:
        ps.PersistentExchangeSession(path).execute(["Set-X"])
    assert "not mailops.exchange.exchange" in str(raised.value) and raised.value.not_started is True


PFX_PASSWORD = "Pfx-'$(whoami)-S3cret"


def run_certificate_over(monkeypatch, path, pfx_path, password_arg):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "modules"))
    from ansible.module_utils.testing import patch_module_args

    from ansible_collections.mailops.exchange.plugins.module_utils import exchange_module
    from ansible_collections.mailops.exchange.plugins.modules import exchange_certificate

    outcome = {}

    class Done(BaseException):
        pass

    def exit_json(self, **kwargs):
        outcome.update(kwargs)
        raise Done()

    def fail_json(self, msg, **kwargs):
        outcome.update(kwargs, msg=msg, failed=True)
        raise Done()

    monkeypatch.setattr(exchange_module.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(exchange_module.AnsibleModule, "fail_json", fail_json)
    with patch_module_args({"_ansible_socket": path, "server": "EX01", "pfx_path": str(pfx_path),
                            "pfx_password": password_arg, "services": ["IIS"], "replace_default_smtp": True}):
        with pytest.raises(Done):
            exchange_certificate.main()
    return outcome


def make_pfx(path):
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.contoso.com")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=90))
            .sign(key, hashes.SHA256()))
    data = pkcs12.serialize_key_and_certificates(b"a", key, cert, None,
                                                 serialization.BestAvailableEncryption(PFX_PASSWORD.encode()))
    path.write_bytes(data)
    return data


def test_a_broker_that_dies_during_a_pfx_import_gives_one_sentence_without_secrets(monkeypatch, pcdir, tmp_path):
    """Cases 2 and 13: the broker takes the request and dies (its connection closes without an answer)."""
    pfx = tmp_path / "a.pfx"
    data = make_pfx(pfx)
    path = os.path.join(pcdir, "dying")
    broker = ExchangeBroker(full_settings())
    handle = broker.exchange_hold_secret(PFX_PASSWORD)
    store = {"computer": "EX01", "local": [], "exchange": [], "iis": [], "requests": []}
    server = RogueServer(path, [
        lambda request: json.dumps({"jsonrpc": "2.0", "id": request["id"],
                                    "result": broker.exchange_take_secret(request["params"][0][0])}).encode(),
        lambda request: json.dumps({"jsonrpc": "2.0", "id": request["id"],
                                    "result": json.dumps({"value": store, "notices": []})}).encode(),
        lambda request: None,  # killed while running the import
    ])
    server.start()
    outcome = run_certificate_over(monkeypatch, path, pfx, handle)
    server.join(5)
    assert server.requests[0]["method"] == "exchange_take_secret"
    assert server.requests[2]["method"] == "exchange_query" and server.requests[2]["params"][0][1] is True
    assert outcome["failed"] is True
    assert outcome["msg"] == (
        "Import-ExchangeCertificate for 'EX01' and 1 more command: the mailops.exchange.exchange session broker (%s) "
        "ended before it answered. The write commands may or may not have been applied (see unconfirmed_commands); "
        "run the task again to converge" % path)
    text = json.dumps(outcome)
    assert len(outcome["msg"]) < 400
    for secret in (PFX_PASSWORD, base64.b64encode(data).decode()[:40], "'Pfx-''$(whoami)-S3cret'"):
        assert secret not in text
    assert "ConvertTo-SecureString '********'" in " ".join(outcome["unconfirmed_commands"])


def test_the_pfx_password_is_handed_out_once(pcdir):
    broker = ExchangeBroker(full_settings())
    handle = broker.exchange_hold_secret("s3cret")
    assert ps.is_secret_handle(handle) and "s3cret" not in handle
    assert json.loads(broker.exchange_take_secret(handle)) == {"value": "s3cret", "notices": []}
    again = json.loads(broker.exchange_take_secret(handle))
    assert again["error"]["kind"] == "value" and "holds no secret under this handle" in again["error"]["message"]
    broker.close()


def test_a_secret_handle_without_the_connection_is_refused(monkeypatch, tmp_path):
    pfx = tmp_path / "a.pfx"
    make_pfx(pfx)
    outcome = run_certificate_over(monkeypatch, "", pfx, ps.SECRET_HANDLE_PREFIX + "0" * 32)
    assert outcome["msg"] == ("pfx_password is a handle of the mailops.exchange.exchange session broker, but this task "
                              "does not run over that connection")


def test_the_action_plugin_keeps_secrets_out_of_the_module_arguments(pcdir):
    from ansible_collections.mailops.exchange.plugins.plugin_utils import exchange_action

    path, pid = start_broker(pcdir)
    try:
        class Over:
            transport = "mailops.exchange.exchange"
            socket_path = path

        class Local:
            transport = "local"
            socket_path = None

        args = {"server": "EX01", "pfx_path": "/x.pfx", "pfx_password": "p'w", "exchange_password": "S3cret-pw",
                "exchange_host": "ex01"}
        over = exchange_action.module_arguments("mailops.exchange.exchange_certificate", args, Over())
        assert "exchange_password" not in over and over["exchange_host"] == "ex01"
        assert ps.is_secret_handle(over["pfx_password"])
        assert ps.PersistentExchangeSession(path).take_secret(over["pfx_password"]) == "p'w"
        other = exchange_action.module_arguments("mailops.exchange.exchange_send_connector",
                                                 {"name": "x", "exchange_password": "S3cret-pw"}, Over())
        assert other == {"name": "x"}
        assert exchange_action.module_arguments("exchange_certificate", args, Local()) == args  # local: unchanged
    finally:
        ps.call_broker(path, "reset")
        wait_for_exit(pid, 15)


# -- case 12: the shells of a killed broker --------------------------------------------------------------------------

def test_the_ledger_is_private_and_names_only_dead_brokers_shells(pcdir):
    ledger_file = exchange_broker.ledger_path(pcdir, full_settings())
    assert "S3cret" not in ledger_file
    dead = subprocess.Popen(["true"])
    dead.wait()
    ShellLedger(ledger_file, pid=dead.pid).opened("SHELL-DEAD")
    ShellLedger(ledger_file, pid=os.getpid()).opened("SHELL-NOT-A-BROKER")  # alive, but not a broker: pid reused
    path, live = start_broker(pcdir)
    try:
        ShellLedger(ledger_file, pid=live).opened("SHELL-LIVE")
        assert stat.S_IMODE(os.stat(ledger_file).st_mode) == 0o600
        assert sorted(ShellLedger(ledger_file).leftovers()) == ["SHELL-DEAD", "SHELL-NOT-A-BROKER"]
        ShellLedger(ledger_file).forget(["SHELL-DEAD", "SHELL-NOT-A-BROKER"])
        ShellLedger(ledger_file, pid=live).deleted("SHELL-LIVE")
        assert not os.path.exists(ledger_file)  # nothing left to remember
    finally:
        ps.call_broker(path, "reset")
        wait_for_exit(path and live, 15)


class LeftoverSessions(Sessions):
    def __init__(self):
        super().__init__()
        self.deleted = []

    def from_params(self, params, **kwargs):
        session = super().from_params(params, **kwargs)
        session.delete_shells = lambda ids: self.deleted.extend(ids) or dict((i, None) for i in ids)
        return session


def test_a_new_broker_deletes_the_shells_a_killed_one_left_before_opening_its_own(pcdir):
    ledger_file = exchange_broker.ledger_path(pcdir, full_settings())
    dead = subprocess.Popen(["true"])
    dead.wait()
    ShellLedger(ledger_file, pid=dead.pid).opened("9F3C-KILLED")
    sessions = LeftoverSessions()
    broker = ExchangeBroker(full_settings(), session_factory=sessions.from_params,
                            shell_ledger=ShellLedger(ledger_file))
    answer = json.loads(broker.exchange_query("Get-X"))
    assert sessions.deleted == ["9F3C-KILLED"]
    assert answer["notices"] == ["deleted 1 WinRM shell(s) on ex01.corp.contoso.com that an earlier session broker "
                                 "left open (9F3C-KILLED)"]
    assert not os.path.exists(ledger_file) or ShellLedger(ledger_file).leftovers() == []
    assert sessions.opened[0].shell_listener is broker.shell_ledger  # its own shells are recorded
    broker.exchange_query("Get-X")
    assert sessions.deleted == ["9F3C-KILLED"]  # checked once per broker
    broker.close()


# -- case 14: idle timeout while the server is slow to delete the shell ------------------------------------------------

class SlowCloseSessions(Sessions):
    def __init__(self):
        super().__init__()
        self.closing = threading.Event()

    def from_params(self, params, **kwargs):
        session = super().from_params(params, **kwargs)
        original = session.close

        def slow_close():
            self.closing.set()
            time.sleep(2.0)
            original()
        session.close = slow_close
        return session


def test_a_broker_closing_a_slow_shell_is_already_unreachable(pcdir):
    path = os.path.join(pcdir, "slow")
    listener = exchange_broker._listen(path)
    sessions = SlowCloseSessions()
    broker = ExchangeBroker(full_settings(), session_factory=sessions.from_params)
    broker.on_stop = exchange_broker.unlistener(path, listener)
    seen = {}

    def next_tasks():
        seen["answer"] = ps.PersistentExchangeSession(path).query("Get-X")
        seen["closing"] = sessions.closing.wait(10)  # the idle timeout fired; the shell is being deleted (2 s)
        # The next task's connection plugin: no broker there, so it starts a new one - not "Unable to connect".
        seen["exists"] = os.path.exists(path)
        seen["listening"] = exchange_broker.is_listening(path)
        fresh = exchange_broker._listen(path)  # a new broker for the same settings can take the name at once
        fresh.close()
        os.unlink(path)
        seen["old still closing"] = not sessions.opened[0].closed

    previous = signal.getsignal(signal.SIGTERM)
    client = threading.Thread(target=next_tasks)
    client.start()
    try:
        exchange_broker.run(listener, broker, os.getpid(), idle_timeout=0.5, poll_interval=0.05)
    finally:
        signal.signal(signal.SIGTERM, previous)
        client.join(10)
    assert seen == {"answer": {"script": "Get-X", "session": 0}, "closing": True, "exists": False,
                    "listening": False, "old still closing": True}
    assert sessions.opened[0].closed


def test_a_ping_restarts_the_idle_clock(pcdir):
    path, pid = start_broker(pcdir, idle_timeout=2)
    for _unused in range(4):  # 4 s of pings, each within the 2 s idle timeout
        time.sleep(1)
        assert exchange_broker.is_listening(path)
    assert wait_for_exit(pid, 15)  # then it ends on its own


# -- cases 4 and 5 through the connection plugin ----------------------------------------------------------------------

def test_plugin_message_encryption_never_over_http_warns(plugin, plugin_env):
    connection = load_connection(plugin, str(os.getpid()), exchange_scheme="http", exchange_message_encryption="never")
    connection.socket_path
    assert plugin_env == [NEVER_WARNING]
    (pid,) = broker_pids()
    connection.reset()
    assert wait_for_exit(pid, 5)


@pytest.mark.parametrize("value", ["", "   "])
def test_plugin_empty_ca_trust_path_is_not_set(plugin, monkeypatch, value):
    monkeypatch.setenv("EXCHANGE_CA_TRUST_PATH", value)
    connection = load_connection(plugin)
    assert connection._settings()["exchange_ca_trust_path"] is None


def test_plugin_ca_trust_path_is_expanded(plugin, monkeypatch):
    monkeypatch.setenv("HOME", "/home/operator")
    connection = load_connection(plugin, exchange_ca_trust_path="~/ca.pem")
    assert connection._settings()["exchange_ca_trust_path"] == "/home/operator/ca.pem"


_unused = (FakeSession, struct)
