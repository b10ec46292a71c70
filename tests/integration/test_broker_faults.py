"""Issue 13 against the lab, over the collection's connection: a broker killed with SIGKILL leaves its WinRM shell,
and the next run deletes it first (case 12, with a shell quota of 1 that would otherwise fail every later run); an
empty EXCHANGE_CA_TRUST_PATH (an AWX credential without a CA bundle) is "not set" (case 5); a TLS host name mismatch
is one whole sentence that does not advise the CA trust path (case 15); a 400,000-character comment is refused
before sending, naming the limit (case 10)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from labtools import BIN, COLLECTIONS, REPO, Lab, set_faults
from test_persistent_connection import broker_processes, http_lines, inventory

pytestmark = pytest.mark.slow


@pytest.fixture
def blab(lab):
    set_faults(lab, shell_quota=5, expire_shells=0)
    yield lab
    set_faults(lab, shell_quota=5, expire_shells=0)


def play(lab: Lab, control_dir: Path, tasks: list, hosts=("EX01",), extra_env=None, during=None, **overrides):
    """Run ``tasks`` over the connection with ``control_dir`` as the persistent-connection directory; ``during``
    runs in a thread while ansible-playbook runs. Returns (completed-like dict, transcript of the run)."""
    run_dir = Path(tempfile.mkdtemp(prefix="bf-", dir=lab._work))
    playbook = run_dir / "play.yml"
    playbook.write_text(json.dumps([{"hosts": "exchange", "gather_facts": False, "tasks": tasks}]))
    inventory_path = run_dir / "inventory.yml"
    inventory_path.write_text(json.dumps(inventory(hosts, **overrides)))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("EXCHANGE_", "ANSIBLE_"))}
    env.update({"T_LAB_STATE": str(lab.state_dir), "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
                "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_PERSISTENT_CONTROL_PATH_DIR": str(control_dir),
                "ANSIBLE_NOCOLOR": "1", "PATH": str(BIN) + os.pathsep + os.environ.get("PATH", "")})
    env.update(extra_env or {})
    mark = lab.mark()
    process = subprocess.Popen([str(BIN / "ansible-playbook"), "-i", str(inventory_path), str(playbook)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO))
    helper = threading.Thread(target=during, daemon=True) if during else None
    if helper:
        helper.start()
    stdout, stderr = process.communicate(timeout=600)
    if helper:
        helper.join(60)
    return {"stdout": stdout, "stderr": stderr, "returncode": process.returncode}, lab.transcript(mark)


def shells_created_and_deleted(transcript, server="EX01"):
    lines = http_lines({"transcript": transcript}, server)
    return (sum(1 for line in lines if line.get("action") == "Create" and line["status"] == 200),
            sum(1 for line in lines if line.get("action") == "Delete" and line["status"] == 200))


def test_the_next_run_deletes_the_shell_of_a_killed_broker(blab):
    lab = blab
    set_faults(lab, shell_quota=1)  # one shell per user: a leftover would make every later run fail
    control_dir = Path(tempfile.mkdtemp(prefix="pc-", dir=lab._work))
    read = {"name": "read", "mailops.exchange.exchange_info": {"gather": ["accepted_domains"]}}
    killed = []

    def kill_the_broker():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            brokers = broker_processes(control_dir)
            if brokers and (control_dir / "done-reading").exists():
                for pid in brokers:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.05)

    first, transcript = play(lab, control_dir, [
        read,
        {"name": "mark", "ansible.builtin.file": {"path": str(control_dir / "done-reading"), "state": "touch"},
         "delegate_to": "localhost"},
        {"name": "wait to be killed", "ansible.builtin.pause": {"seconds": 3}},
    ], during=kill_the_broker)
    assert first["returncode"] == 0, first["stdout"][-3000:]
    assert len(killed) == 1
    assert shells_created_and_deleted(transcript) == (1, 0)  # the killed broker's shell is still open
    ledgers = [p for p in control_dir.iterdir() if p.name.startswith("mailops-exchange-shells-")]
    assert len(ledgers) == 1 and (ledgers[0].stat().st_mode & 0o777) == 0o600
    assert lab.password not in ledgers[0].read_text()

    second, transcript = play(lab, control_dir, [read])
    assert second["returncode"] == 0, second["stdout"][-3000:]  # not "maximum number of 1 concurrent shells"
    assert "deleted 1 WinRM shell(s) on 127.0.0.1 that an earlier session broker left open (" in second["stderr"] \
        + second["stdout"]
    lines = [line for line in http_lines({"transcript": transcript}, "EX01") if line.get("action") in
             ("Create", "Delete")]
    assert [(line["action"], line["status"]) for line in lines][:2] == [("Delete", 200), ("Create", 200)]
    assert shells_created_and_deleted(transcript) == (1, 2)  # the leftover, then its own at the end of the play
    assert not [p for p in control_dir.iterdir() if p.name.startswith("mailops-exchange-shells-")]


def test_an_empty_ca_trust_path_is_not_set(blab):
    lab = blab
    control_dir = Path(tempfile.mkdtemp(prefix="pc-", dir=lab._work))
    inventory_vars = inventory()["exchange"]["vars"]
    overrides = {key: value for key, value in inventory_vars.items() if key != "exchange_ca_trust_path"}
    run, _unused = play(lab, control_dir, [{"name": "read", "mailops.exchange.exchange_info":
                                            {"gather": ["accepted_domains"]}}],
                        extra_env={"EXCHANGE_CA_TRUST_PATH": "", "REQUESTS_CA_BUNDLE": lab.endpoints["ca_bundle"]},
                        exchange_ca_trust_path="{{ omit }}", **{k: v for k, v in overrides.items()
                                                                if k == "exchange_host"})
    assert run["returncode"] == 0, run["stdout"][-3000:]


def test_a_tls_host_name_mismatch_is_one_whole_sentence(blab):
    lab = blab
    endpoint = lab.server("EX01")["https"].split("://", 1)[1].split("/", 1)[0]
    port = endpoint.rsplit(":", 1)[1]
    result = lab.run_module("exchange_info", {"gather": ["accepted_domains"]},
                            extra_env={"EXCHANGE_HOST": "127.1"})
    assert result["failed"] is True
    assert result["msg"] == (
        "TLS host name check failed for https://127.1:%s/wsman while opening a WinRM shell: the server's "
        "certificate is not valid for '127.1'. Connect with a name the WinRM certificate carries (exchange_host "
        "or ansible_host; exchange_server_fqdn for the Exchange endpoint); a CA bundle (exchange_ca_trust_path) does "
        "not change this" % port)
    assert lab.last_run["counters"].get("EX01", {}).get("shells", 0) == 0


def test_a_400000_character_comment_is_refused_before_sending(blab):
    lab = blab
    before = lab.lab_state()
    result = lab.run_module("exchange_send_connector", {"name": "Too large", "usage": "Internet",
                                                        "dns_routing_enabled": True, "comment": "c" * 400000})
    assert result["failed"] is True
    assert result["msg"].startswith("New-SendConnector for 'Too large': too large for one WinRM message (")
    assert "MaxEnvelopeSizekb=500); nothing was sent" in result["msg"] and "may or may not" not in result["msg"]
    assert not [line for line in lab.last_run["transcript"] if line.get("wsman_fault")]  # never reached WinRM
    assert lab.lab_state() == before
