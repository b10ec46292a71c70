"""Two site.yml runs started together on a fresh organisation both end green, with nothing duplicated (issue 16).

Organisation-wide steps run in every run: both read "absent" and both create. To make that certain rather than
likely, the lab holds the first organisation-wide reads until both runs have read (its ``cmdlet_barriers`` fault:
the answers late, other sessions' cmdlets running meanwhile), so each run's read happens before the other's create.
The run whose create Exchange refuses as a duplicate reads the object back and converges.
"""

from __future__ import annotations

import collections
import concurrent.futures
import json
import os
import re
import subprocess

from labtools import BIN, COLLECTIONS, REPO, Lab

RUNS = 2
SERVERS = 2
READ_TOGETHER = [{"cmdlet": cmdlet, "parties": RUNS, "timeout": 60}
                 for cmdlet in ("Get-SendConnector", "Get-AcceptedDomain", "Get-EmailAddressPolicy")] + [
    # Step 6 runs on every server in every run: each run reads each server's store before either requests, so
    # both runs request a certificate on each server and the CA answers one of the two.
    {"cmdlet": "Get-ExchangeCertificate", "parties": RUNS * SERVERS, "timeout": 60}]


def site(lab: Lab) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("EXCHANGE_", "ANSIBLE_"))}
    env.update({
        "MAILOPS_LAB_STATE": str(lab.state_dir), "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS), "ANSIBLE_NOCOLOR": "1",
        "PATH": str(BIN) + os.pathsep + env.get("PATH", ""),
    })
    return subprocess.run([str(BIN / "ansible-playbook"), "site.yml", "-i", "inventory/lab"], env=env, cwd=str(REPO),
                          capture_output=True, text=True, timeout=1200)


def recap(output: str) -> dict:
    return {m.group(1): dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2)))
            for m in re.finditer(r"^(\S+)\s+: (ok=.*)$", output, re.M)}


def failures(run: subprocess.CompletedProcess) -> str:
    """The failed tasks of a run (the lines from each 'fatal:' on), else its end."""
    blocks = re.findall(r"^(?:fatal|failed): .*?(?=^\S)", run.stdout, re.M | re.S)
    return "\n".join(blocks)[:8000] or (run.stdout[-4000:] + run.stderr[-2000:])


def test_two_runs_started_together_on_a_fresh_organisation_end_green_with_nothing_duplicated(tmp_path):
    lab = Lab("2019", tmp_path / "lab")
    try:
        faults = lab.state_dir / "faults.json"
        faults.write_text(json.dumps(dict(json.loads(faults.read_text()), cmdlet_barriers=READ_TOGETHER)))
        with concurrent.futures.ThreadPoolExecutor(RUNS) as pool:
            runs = list(pool.map(lambda _: site(lab), range(RUNS)))
        for run in runs:
            assert run.returncode == 0, failures(run)
            assert all(counts["failed"] == 0 for counts in recap(run.stdout).values()), recap(run.stdout)
        # They did race: for the Send connector and the accepted domain, one run's create met Exchange's duplicate
        # error and converged (its warning says so).
        assert sum((run.stdout + run.stderr).count("another run created it meanwhile") for run in runs) >= 2, \
            runs[1].stdout[-4000:] + runs[1].stderr[-2000:]

        state = lab.lab_state()
        assert [c["name"] for c in state["send_connectors"]] == ["To internet"]
        domains = collections.Counter(d["props"]["DomainName"] for d in state["accepted_domains"])
        assert domains == {"corp.contoso.com": 1, "contoso.com": 1}
        assert [d["name"] for d in state["accepted_domains"] if d["props"]["Default"]] == ["contoso.com"]
        assert [p["name"] for p in state["email_address_policies"]] == ["Default Policy"]
        pending = {name: [c["friendly_name"] for c in server["certificates"] if c.get("pending")]
                   for name, server in state["servers"].items()}
        assert pending == {"EX01": [], "EX02": []}, pending
        # Both runs requested on each server; the request the CA did not answer was removed as superseded.
        requests = collections.Counter(entry["server"] for entry in lab.transcript() if entry.get("kind") == "script"
                                       and "-GenerateRequest" in (entry.get("script") or ""))
        assert requests == {"EX01": RUNS, "EX02": RUNS}, requests
        assert sum((run.stdout + run.stderr).count("it is superseded and removed") for run in runs) == SERVERS
        installed = {name: [c["friendly_name"] for c in server["certificates"] if not c.get("pending")
                            and c["friendly_name"] == "Contoso mail"] for name, server in state["servers"].items()}
        assert installed == {"EX01": ["Contoso mail"], "EX02": ["Contoso mail"]}, installed

        # And a third run, alone, changes nothing.
        faults.write_text(json.dumps(dict(json.loads(faults.read_text()), cmdlet_barriers=[])))
        again = site(lab)
        assert again.returncode == 0, failures(again)
        assert all(counts["changed"] == 0 for counts in recap(again.stdout).values()), recap(again.stdout)
    finally:
        lab.stop()
