"""The mailops.exchange.exchange persistent connection against the lab, through real ``ansible-playbook``.

Plays run over an inventory built like inventory/lab (group_vars/all/connection.yml): the connection variables
come from the lab's endpoints.json through lookups, the password included, and every Exchange host uses
``ansible_connection: mailops.exchange.exchange``. The lab's counters and transcript show how many WinRM shells and
Exchange-shell loads each host cost, which shells were deleted, and which requests the ``expire_shells`` fault hit.

Every run is watched for the connection's session brokers (``exchange_broker.PROCESS_MARKER`` on the command line,
the run's ``ANSIBLE_PERSISTENT_CONTROL_PATH_DIR`` in the environment): the run must have started them, and none may
be alive after the playbook, nor any socket or lock file of it in the run's control directory.

- a play of several module tasks on EX01 and EX02 at ``-vvvv``: one broker, one shell, one PowerShell, one
  Exchange load per host; every shell deleted at the end of the play; the password nowhere in the output or the
  results;
- a play on EX01 whose shells expire twice (``expire_shells`` written between tasks): a read, then a write, each
  goes through after one re-open (and says so in a warning), and the write lands exactly once;
- the broker (``ExchangeBroker``) driven directly, so that the expired shell is met by the Send of write commands:
  the WinRM fault proves they never started, they are sent again on a new session and land once;
- insecure settings are warned about once per broker start;
- a play whose connection settings are wrong fails cleanly and leaves no process behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from labstate import find, props
from labtools import BIN, COLLECTIONS, REPO, Lab, _ansible_playbook, _delta, faults, set_faults, write_commands

pytestmark = pytest.mark.slow

from ansible_collections.mailops.exchange.plugins.module_utils.exchange_session import CONNECTION_ARGUMENT_SPEC
from ansible_collections.mailops.exchange.plugins.plugin_utils.exchange_broker import PROCESS_MARKER, ExchangeBroker

PLUGIN = "mailops.exchange.exchange"
INVALID_SELECTORS = "w:InvalidSelectors"


# -- helpers -----------------------------------------------------------------------------------------------------

def inventory(hosts=("EX01", "EX02"), **overrides) -> dict:
    """inventory/lab's connection variables, for the lab whose state directory is in $T_LAB_STATE."""
    variables = {
        "mailops_lab": "{{ lookup('ansible.builtin.file', lookup('ansible.builtin.env', 'T_LAB_STATE') "
                       "~ '/endpoints.json') | from_json }}",
        "ansible_connection": PLUGIN,
        "ansible_python_interpreter": sys.executable,
        "exchange_host": "{{ (mailops_lab.servers[inventory_hostname].https | urlsplit('hostname')) }}",
        "exchange_port": "{{ (mailops_lab.servers[inventory_hostname].https | urlsplit('port')) }}",
        "exchange_scheme": "https",
        "exchange_transport": "ntlm",
        "exchange_username": "{{ mailops_lab.username }}",
        "exchange_password": "{{ mailops_lab.password }}",
        "exchange_ca_trust_path": "{{ mailops_lab.ca_bundle }}",
        "exchange_server_fqdn": "{{ mailops_lab.servers[inventory_hostname].fqdn }}",
    }
    variables.update(overrides)
    return {"exchange": {"hosts": {name: {} for name in hosts}, "vars": variables}}



def expire_shells_task(lab: Lab) -> dict:
    """A task that arms ``expire_shells: 1`` in the lab's faults.json (atomically, on the controller, once)."""
    path = str(lab.state_dir / "faults.json")
    return {"name": "the server drops every WinRM shell", "ansible.builtin.copy": {
        "content": "{{ lookup('ansible.builtin.file', '%s') | from_json | combine({'expire_shells': 1}) | to_json }}"
                   % path, "dest": path}, "delegate_to": "localhost", "run_once": True}


def run_play(lab: Lab, tasks: list, hosts=("EX01", "EX02"), verbose: bool = False, **inventory_overrides) -> dict:
    """Run ``tasks`` on ``hosts`` over the persistent connection; each task's result is registered as r<index>.

    Returns stdout/stderr/returncode, the playbook's pid, ``results`` per host ({r<index>: result}), the
    transcript lines and counter deltas of the run, and the persistent-connection directory it used.
    """
    run_dir = Path(tempfile.mkdtemp(prefix="pc-", dir=lab._work))
    control_dir = run_dir / "pc"
    results_dir = run_dir / "results"
    results_dir.mkdir()
    names = []
    play_tasks = []
    for index, task in enumerate(tasks):
        task = dict(task)
        if "ansible.builtin.meta" not in task:  # a meta task registers nothing
            task.setdefault("register", "r%d" % index)
            names.append(task["register"])
        play_tasks.append(task)
    play_tasks.append({"name": "save the results", "ansible.builtin.copy": {
        "content": "{{ {%s} | to_json }}" % ", ".join("'%s': %s | default(None)" % (n, n) for n in names),
        "dest": str(results_dir) + "/{{ inventory_hostname }}.json"}, "delegate_to": "localhost",
        "check_mode": False, "diff": False})
    playbook = run_dir / "play.yml"
    playbook.write_text(json.dumps([{"hosts": "exchange", "gather_facts": False, "tasks": play_tasks}], indent=1))
    inventory_path = run_dir / "inventory.yml"
    inventory_path.write_text(json.dumps(inventory(hosts, **inventory_overrides), indent=1))
    assert lab.password not in playbook.read_text() + inventory_path.read_text()

    env = {key: value for key, value in os.environ.items() if not key.startswith(("EXCHANGE_", "ANSIBLE_"))}
    env.update({
        "T_LAB_STATE": str(lab.state_dir),
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_PERSISTENT_CONTROL_PATH_DIR": str(control_dir),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "PATH": str(BIN) + os.pathsep + os.environ.get("PATH", ""),
    })
    command = [_ansible_playbook(), "-i", str(inventory_path), str(playbook)]
    if verbose:
        command.insert(1, "-vvvv")
    mark = lab.mark()
    counters_before = lab.counters()
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=str(REPO))
    seen, done = set(), threading.Event()
    watcher = threading.Thread(target=watch_brokers, args=(control_dir, seen, done), daemon=True)
    watcher.start()
    try:
        stdout, stderr = process.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    finally:
        done.set()
        watcher.join()
    run = {
        "stdout": stdout, "stderr": stderr, "returncode": process.returncode, "pid": process.pid,
        "duration": time.monotonic() - started, "control_dir": control_dir, "brokers": seen,
        "results": {path.stem: json.loads(path.read_text()) for path in results_dir.glob("*.json")},
    }
    run["leftovers"] = wait_for_brokers(control_dir)
    run["transcript"] = lab.transcript(mark)
    run["counters"] = _delta(counters_before, lab.counters())
    return run


def broker_processes(control_dir: Path) -> dict[int, str]:
    """Live session brokers of the run whose persistent-connection directory is ``control_dir``: pid -> command line.

    A broker's command line carries PROCESS_MARKER (never its settings); its environment is ansible-playbook's, with
    the run's ANSIBLE_PERSISTENT_CONTROL_PATH_DIR.
    """
    wanted = ("ANSIBLE_PERSISTENT_CONTROL_PATH_DIR=%s" % control_dir).encode()
    found = {}
    parents = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if PROCESS_MARKER.encode() not in argv or wanted not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state, ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, IndexError, ValueError):
            continue
        if state != "Z":
            found[int(entry.name)] = " ".join(part.decode("utf-8", "replace") for part in argv if part)
            parents[int(entry.name)] = int(ppid)
    # A broker's own short-lived child between fork and exec (a library running a helper program, e.g. ctypes'
    # ldconfig lookup) has the broker's command line and environment for a moment: it is not a second broker.
    return dict((pid, line) for pid, line in found.items() if parents.get(pid) not in found)


def watch_brokers(control_dir: Path, seen: set, done: threading.Event) -> None:
    """Record the pids of the run's brokers while it runs (each lives from its host's first task to the play's end)."""
    while not done.is_set():
        seen.update(broker_processes(control_dir))
        done.wait(0.05)


def wait_for_brokers(control_dir: Path, timeout: float = 10.0) -> list[str]:
    """Give the brokers the moment they need to exit after the play; the command lines still there after that."""
    deadline = time.monotonic() + timeout
    while True:
        left = broker_processes(control_dir)
        if not left or time.monotonic() > deadline:
            return list(left.values())
        time.sleep(0.2)


def http_lines(run: dict, server: str | None = None) -> list[dict]:
    return [line for line in run["transcript"]
            if line["kind"] == "http" and (server is None or line["server"] == server)]


def open_shells(run: dict, server: str) -> int:
    """Shells the run left open on ``server``: created, minus deleted, minus expired by the fault."""
    lines = http_lines(run, server)
    created = sum(1 for line in lines if line.get("action") == "Create" and line["status"] == 200)
    deleted = sum(1 for line in lines if line.get("action") == "Delete" and line["status"] == 200)
    expired = sum(int(line.get("expired_shells") or 0) for line in lines)
    return created - deleted - expired


def assert_no_connection_left(run: dict, brokers: int) -> None:
    """The run started ``brokers`` session brokers; none is left, nor any socket or lock file of the run."""
    assert len(run["brokers"]) == brokers, (run["brokers"], run["stdout"][-3000:])
    assert run["leftovers"] == [], run["leftovers"]
    control_dir = run["control_dir"]
    left = [path.name for path in control_dir.iterdir()] if control_dir.exists() else []
    assert left == [], left  # neither a socket nor its lock file


def assert_succeeded(run: dict) -> None:
    assert run["returncode"] == 0, run["stdout"][-4000:] + run["stderr"][-4000:]
    for host, results in run["results"].items():
        for name, result in results.items():
            if result is None or result.get("skipped"):
                continue
            assert result.get("failed") is not True, (host, name, result)
            assert "exception" not in result or "Traceback" not in str(result["exception"]), (host, name, result)


def write_commands_of(run: dict) -> list[str]:
    """labtools.write_commands for a run_play run: the Exchange write cmdlets in the scripts it sent."""
    return write_commands(SimpleNamespace(last_run={"transcript": run["transcript"]}))


def accepted_domain(name: str) -> dict:
    return {"name": name, "domain_name": "%s.example" % name.lower().replace(" ", "-"), "domain_type": "InternalRelay"}


@pytest.fixture
def plab(lab):
    set_faults(lab, expire_shells=0)
    yield lab
    set_faults(lab, expire_shells=0)


# -- one session per host and play -----------------------------------------------------------------------------------

def test_a_play_loads_exchange_once_per_host_and_cleans_up(plab):
    lab = plab
    name = "PC Once %s" % uuid.uuid4().hex[:6]
    only_ex01 = "inventory_hostname == 'EX01'"
    tasks = [
        {"name": "read", "mailops.exchange.exchange_info": {"gather": ["accepted_domains"]}},
        {"name": "a write on EX01", "mailops.exchange.exchange_accepted_domain": accepted_domain(name),
         "when": only_ex01},
        {"name": "a check-mode change on EX02", "mailops.exchange.exchange_accepted_domain":
            accepted_domain(name + " Two"), "check_mode": True, "when": "inventory_hostname == 'EX02'"},
        {"name": "read again", "mailops.exchange.exchange_info": {"gather": ["accepted_domains"]}},
        {"name": "the write again changes nothing", "mailops.exchange.exchange_accepted_domain":
            accepted_domain(name), "when": only_ex01},
    ]
    run = run_play(lab, tasks, verbose=True)
    assert_succeeded(run)
    ex01, ex02 = run["results"]["EX01"], run["results"]["EX02"]
    assert ex01["r1"]["changed"] is True and ex01["r4"]["changed"] is False, (ex01["r1"], ex01["r4"])
    assert ex02["r2"]["changed"] is True and ex02["r2"]["commands"], ex02["r2"]
    assert name in json.dumps(ex01["r3"]) and name in json.dumps(ex02["r3"])  # the second read sees the write
    assert write_commands_of(run) == ["New-AcceptedDomain"]  # EX02's check mode wrote nothing
    assert find(lab.lab_state(), "accepted_domains", name + " Two") is None

    # One WinRM shell, one PowerShell, one Exchange-shell load per host for the whole play...
    for server in ("EX01", "EX02"):
        delta = run["counters"].get(server, {})
        assert (delta.get("shells"), delta.get("ps_processes"), delta.get("exchange_loads")) == (1, 1, 1), \
            (server, delta)
    # ...and each module's scripts on that session: the load, then read, read+write, read, read on EX01, and
    # read, read (check mode), read on EX02.
    assert run["counters"]["EX01"]["scripts"] == 1 + 1 + 2 + 1 + 1
    assert run["counters"]["EX02"]["scripts"] == 1 + 1 + 1 + 1
    # The shells were deleted at the end of the play, and nothing of the run is left on the controller.
    for server in ("EX01", "EX02"):
        assert open_shells(run, server) == 0, http_lines(run, server)[-5:]
    assert_no_connection_left(run, brokers=2)  # one broker per host
    assert run["stdout"].count("starting the Exchange session broker %s/" % run["control_dir"]) == 2, \
        run["stdout"][-3000:]  # -vvv shows each start, and where its socket is

    # The password (an inventory variable, templated from endpoints.json) shows nowhere, even at -vvvv.
    for where, text in (("stdout", run["stdout"]), ("stderr", run["stderr"]),
                        ("results", json.dumps(run["results"]))):
        assert lab.password not in text, where
    for line in run["transcript"]:
        assert "command_line" not in line.get("masked", []), line
        assert lab.password not in json.dumps(line)


# -- recovery when the server dropped the shells -------------------------------------------------------------------

def test_expired_shells_are_reopened_for_a_read_and_a_write(plab):
    lab = plab
    name = "PC Expired %s" % uuid.uuid4().hex[:6]
    tasks = [
        {"name": "read", "mailops.exchange.exchange_info": {"gather": ["accepted_domains"]}},
        expire_shells_task(lab),
        {"name": "read after the shells expired", "mailops.exchange.exchange_info": {"gather": ["accepted_domains"]}},
        expire_shells_task(lab),
        {"name": "write after the shells expired", "mailops.exchange.exchange_accepted_domain": accepted_domain(name)},
        {"name": "and again", "mailops.exchange.exchange_accepted_domain": accepted_domain(name)},
    ]
    run = run_play(lab, tasks, hosts=("EX01",))
    assert_succeeded(run)
    results = run["results"]["EX01"]
    assert results["r0"]["accepted_domains"] == results["r2"]["accepted_domains"], results
    assert results["r4"]["changed"] is True and results["r5"]["changed"] is False, (results["r4"], results["r5"])
    # The broker's notices reach the tasks that met an expired shell as warnings (the module's first read, each time).
    for task in ("r2", "r4"):
        dropped = [w for w in results[task].get("warnings", []) if "was dropped" in w]
        assert len(dropped) == 1 and "sent the read script again" in dropped[0], (task, results[task].get("warnings"))
        assert lab.password not in dropped[0]
    for task in ("r0", "r5"):
        assert not [w for w in results[task].get("warnings", []) if "was dropped" in w], results[task]

    assert faults(lab)["expire_shells"] == 0  # both consumed
    expired = [line for line in http_lines(run) if line.get("fault") == "expire_shells"]
    assert [(line["server"], line["expired_shells"]) for line in expired] == [("EX01", 1), ("EX01", 1)]
    # Each time, the old shell's next request (the Send of the module's read script) got the unknown-shell fault,
    # and a new shell was opened after it.
    http = http_lines(run)
    starts = [index for index, line in enumerate(http) if line.get("fault") == "expire_shells"]
    for start in starts:
        refused = next(index for index in range(start, len(http)) if http[index].get("wsman_fault"))
        assert (http[refused]["action"], http[refused]["wsman_fault"]) == ("Send", INVALID_SELECTORS), http[refused]
        assert any(line.get("action") == "Create" and line["status"] == 200 for line in http[refused:]), http
    delta = run["counters"]["EX01"]
    assert (delta.get("shells"), delta.get("exchange_loads")) == (3, 3), delta
    assert open_shells(run, "EX01") == 0
    assert_no_connection_left(run, brokers=1)  # the shells were re-opened by the same broker

    # The write landed exactly once.
    assert write_commands_of(run) == ["New-AcceptedDomain"]
    record = props(find(lab.lab_state(), "accepted_domains", name))
    assert str(record["DomainType"]) == "InternalRelay"


def _broker_settings(lab: Lab, server: str) -> dict:
    """The settings the connection plugin hands the broker, from the inventory's variables for ``server``."""
    endpoint = lab.server(server)
    hostport = endpoint["https"].split("://", 1)[1].split("/", 1)[0]
    host, port = hostport.rsplit(":", 1)
    settings = {name: spec.get("default") for name, spec in CONNECTION_ARGUMENT_SPEC.items()}
    settings.update({
        "exchange_host": host, "exchange_port": int(port), "exchange_scheme": "https",
        "exchange_username": lab.endpoints["username"], "exchange_password": lab.password,
        "exchange_ca_trust_path": lab.endpoints["ca_bundle"], "exchange_server_fqdn": endpoint["fqdn"]})
    return settings


def test_write_whose_send_meets_an_expired_shell_is_sent_again_once(plab):
    """In a play the module's read meets the expired shell first; here the write's own Send does."""
    from ansible_collections.mailops.exchange.plugins.modules.exchange_accepted_domain import READ_SCRIPT

    lab = plab
    name = "PC Write %s" % uuid.uuid4().hex[:6]
    command = "New-AcceptedDomain -Name '%s' -DomainName '%s.example' -DomainType 'InternalRelay'" % (
        name, name.lower().replace(" ", "-"))
    broker = ExchangeBroker(_broker_settings(lab, "EX02"))
    mark = lab.mark()
    before = lab.counters()
    try:
        first = json.loads(broker.exchange_query(READ_SCRIPT))
        assert first["notices"] == [] and name not in json.dumps(first["value"])
        set_faults(lab, expire_shells=1)
        written = json.loads(broker.exchange_execute([command]))
        after_write = lab.transcript(mark)
        again = json.loads(broker.exchange_query(READ_SCRIPT))
        assert again["notices"] == [] and name in json.dumps(again["value"])
    finally:
        broker.reset()  # what the strategy sends at the end of the play
    run = {"transcript": lab.transcript(mark)}

    # The write went through, and its answer says that it was sent again on a new session.
    assert written["value"] is None and "error" not in written, written
    (notice,) = written["notices"]
    assert "was dropped" in notice and "sent the write commands again" in notice, notice
    assert lab.password not in notice
    assert faults(lab)["expire_shells"] == 0
    http = [line for line in after_write if line["kind"] == "http"]
    refused = [index for index, line in enumerate(http) if line.get("wsman_fault") == INVALID_SELECTORS]
    # The first request after the fault was the Send of the write commands, refused: they never started...
    assert http[refused[0]]["action"] == "Send", http
    assert any(line.get("fault") == "expire_shells" for line in http[:refused[0] + 1])
    # ...so a new shell was opened after it and they were sent there, exactly once.
    assert any(line.get("action") == "Create" and line["status"] == 200 for line in http[refused[0]:])
    assert write_commands_of(run) == ["New-AcceptedDomain"]
    assert find(lab.lab_state(), "accepted_domains", name) is not None
    delta = _delta(before, lab.counters())["EX02"]
    assert (delta.get("shells"), delta.get("exchange_loads")) == (2, 2), delta
    assert open_shells(run, "EX02") == 0  # reset() deleted the new shell
    assert broker.stopped is True


# -- warnings ---------------------------------------------------------------------------------------------------------

CERT_WARNING = "exchange_cert_validation=ignore: the WinRM server's certificate is not checked"


def test_insecure_settings_warn_even_for_a_single_task(plab):
    lab = plab
    run = run_play(lab, [{"name": "read", "mailops.exchange.exchange_info": {"gather": ["accepted_domains"]}}],
                   hosts=("EX01",), exchange_cert_validation="ignore")
    assert_succeeded(run)
    output = run["stdout"] + run["stderr"]
    assert output.count(CERT_WARNING) == 1, output[-3000:]
    assert run["results"]["EX01"]["r0"].get("warnings") == [CERT_WARNING], run["results"]["EX01"]["r0"]
    assert_no_connection_left(run, brokers=1)


def test_insecure_settings_warn_once_per_broker_start(plab):
    # The warning comes with the broker's start: once for the two tasks of the first broker, once more for the broker
    # that the task after reset_connection starts. (ansible-playbook shows a repeated warning once; the registered
    # results show which task started a broker.)
    lab = plab
    read = {"name": "read", "mailops.exchange.exchange_info": {"gather": ["accepted_domains"]}}
    run = run_play(lab, [read, read, {"ansible.builtin.meta": "reset_connection"}, read, read],
                   hosts=("EX01",), exchange_cert_validation="ignore")
    assert_succeeded(run)
    results = run["results"]["EX01"]
    warned = {name: [w for w in result.get("warnings", []) if w == CERT_WARNING] for name, result in results.items()}
    assert warned == {"r0": [CERT_WARNING], "r1": [], "r3": [CERT_WARNING], "r4": []}, results
    output = run["stdout"] + run["stderr"]
    assert output.count(CERT_WARNING) == 1, output[-3000:]
    assert_no_connection_left(run, brokers=2)
    assert run["counters"]["EX01"].get("shells") == 2  # reset_connection ended the first session


# -- failure ----------------------------------------------------------------------------------------------------------

def test_a_wrong_password_fails_the_task_cleanly_and_leaves_nothing(plab):
    lab = plab
    wrong = "Wr0ng-%s" % uuid.uuid4().hex[:8]
    run = run_play(lab, [{"name": "read", "mailops.exchange.exchange_info": {"gather": ["accepted_domains"]},
                          "ignore_errors": True}], hosts=("EX01",), exchange_password=wrong)
    result = run["results"]["EX01"]["r0"]
    assert result.get("failed") is True, result
    assert "authentication failed" in result["msg"] and lab.endpoints["username"] in result["msg"], result["msg"]
    assert "Traceback" not in str(result.get("exception", "")) + run["stdout"]
    assert wrong not in json.dumps(result) + run["stdout"] + run["stderr"]
    # A session that could not open is not retried: one logon refused.
    refusals = [line for line in http_lines(run, "EX01") if "logon failed" in line.get("refused", "")]
    assert len(refusals) == 1, http_lines(run, "EX01")
    assert run["counters"].get("EX01", {}).get("shells", 0) == 0
    assert_no_connection_left(run, brokers=1)
