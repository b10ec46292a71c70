"""AWX jobs, faithfully: site.yml through ansible-runner with a private data directory laid out as AWX lays it out
(issue 16).

AWX (and Automation Controller) runs every job with ansible-runner: it writes a private data directory and hands it
to ``ansible-runner`` in the execution environment. This builds the same directory against a running lab:

- ``inventory/hosts``: the inventory as AWX writes it, an executable script printing the inventory's JSON
  (``_meta.hostvars`` included). A sliced job's slice gets the inventory restricted to its hosts - AWX's
  ``Inventory.get_sliced_hosts``: the hosts by name, every Nth from slice number - 1 - so ``groups`` and
  ``ansible_play_hosts`` hold only them;
- ``env/envvars``: the Exchange credential's injected ``EXCHANGE_*`` values, rendered from awx/credential_type.yml as
  AWX renders them (sandboxed Jinja2, the CA file injector written into ``env/``), and the collections path;
- ``env/extravars``: AWX's own job variables (``awx_job_id``, ``awx_job_template_name``, ...);
- ``project/``: the playbook (the repository's ``site.yml``, which imports ``mailops.exchange.site``);
- ``requirements_collections/``: the collection installed from the tarball ``ansible-galaxy collection build``
  makes (never the checkout), as AWX installs a project's collections.

No connection option is in the inventory but each server's address; the account and password come only from the
credential's environment. The job's outcome is read where AWX reads it: ``artifacts/<ident>/status`` and ``rc``, and
the ``playbook_on_stats`` event (per host changed/failed counts, and ``artifact_data`` - the ``set_stats`` data AWX
shows as the job's artifacts, where the validation summary is).
"""

from __future__ import annotations

import collections
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment
from labtools import BIN, LAB_ROOT, REPO, Lab

pytest.importorskip("ansible_runner")

SERVERS = tuple("EX%02d" % n for n in range(1, 7))
SLICES = 3
# Exchange's duplicate error needs a read that another run's create overtakes: the lab holds the first
# organisation-wide reads until every slice has read (its cmdlet_barriers fault: answers late, other sessions
# running meanwhile), so every slice reads "absent" before any slice creates - the first sliced run is certain to race.
READ_TOGETHER = [{"cmdlet": cmdlet, "parties": SLICES, "timeout": 60}
                 for cmdlet in ("Get-SendConnector", "Get-AcceptedDomain", "Get-EmailAddressPolicy")]


class _Loader(yaml.SafeLoader):
    """``!unsafe`` strings (Ansible's "do not template") are the plain strings AWX receives."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


# -- the collection, built and installed as AWX gets it -------------------------------------------------------------


@pytest.fixture(scope="module")
def installed_collection(tmp_path_factory) -> Path:
    """The collection built into a tarball and installed from it (``ansible_collections/`` under the result)."""
    build = tmp_path_factory.mktemp("galaxy-build")
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(build), str(REPO)],
                   check=True, capture_output=True, text=True, cwd=str(REPO))
    tarball = next(build.glob("mailops-exchange-*.tar.gz"))
    target = tmp_path_factory.mktemp("requirements_collections")
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--offline", str(tarball), "-p", str(target)],
                   check=True, capture_output=True, text=True, cwd=str(build))
    assert (target / "ansible_collections" / "mailops" / "exchange" / "playbooks" / "site.yml").is_file()
    return target


# -- the private data directory --------------------------------------------------------------------------------------


def credential_env(lab: Lab, env_dir: Path) -> dict:
    """The Exchange credential's injectors rendered as AWX renders them (awx/credential_type.yml)."""
    credential_type = yaml.load((REPO / "awx" / "credential_type.yml").read_text(),
                                Loader=_Loader)["mailops_exchange_credential_type"]
    first = urlsplit(lab.server("EX01")["https"])
    namespace = {field["id"]: field.get("default") for field in credential_type["inputs"]["fields"]}
    namespace.update({"host": first.hostname, "port": str(first.port), "username": lab.endpoints["username"],
                      "password": lab.password, "ca_trust_pem": Path(lab.endpoints["ca_bundle"]).read_text(),
                      "server_fqdn": lab.server("EX01")["fqdn"]})
    sandbox = ImmutableSandboxedEnvironment()
    files = {}
    for name, template in (credential_type["injectors"].get("file") or {}).items():
        path = env_dir / ("tmp_" + name.split(".", 1)[1])
        path.write_text(sandbox.from_string(template).render(**namespace))
        path.chmod(0o600)
        files[name.split(".", 1)[1]] = str(path)
    namespace["tower"] = {"filename": files}
    return {name: sandbox.from_string(template).render(**namespace)
            for name, template in credential_type["injectors"]["env"].items()}


def inventory(lab: Lab, hosts, report_dir: Path) -> dict:
    """The inventory's JSON as AWX's inventory script prints it: the organisation's variables in ``all``, the
    servers in ``exchange_mailbox`` over the collection's connection, only addresses per host."""
    hostvars = {}
    for name in hosts:
        url = urlsplit(lab.server(name)["https"])
        hostvars[name] = {"exchange_host": url.hostname, "exchange_port": url.port,
                          "exchange_server_name": name, "exchange_server_fqdn": lab.server(name)["fqdn"]}
    endpoints = lab.endpoints
    organisation = {
        "ansible_python_interpreter": sys.executable,
        "mailops_namespace": {"external_fqdn": "mail.contoso.com", "owa_fqdn": "owa.contoso.com",
                              "public_address": "203.0.113.10"},
        "mailops_accepted_domains": [{"domain_name": "contoso.com", "domain_type": "Authoritative",
                                      "make_default": True}],
        "mailops_email_address_policy": {"name": "Default Policy", "primary_smtp_address_template": "@contoso.com"},
        "mailops_send_connector": {"name": "To internet", "address_spaces": ["*"], "fqdn": "mail.contoso.com"},
        "mailops_certificate": {"subject_name": "C=US, O=Contoso, CN=mail.contoso.com", "friendly_name": "Contoso mail",
                                "request_dir": str(lab.state_dir / "requests"), "services": ["IIS", "SMTP"],
                                # The CA hook: the lab's CA answers at once (argv; the paths come in the environment).
                                "ca_command": ["env", "PYTHONPATH=%s" % LAB_ROOT, sys.executable, "-m", "exchange_lab",
                                               "sign-csr", "--state", str(lab.state_dir)]},
        # Organisation-wide inputs are the same in every slice: the Mailbox servers are listed, not taken from the
        # (sliced) exchange_mailbox group - see awx/README.md, "Sliced jobs".
        "mailops_servers": [{"name": name, "fqdn": lab.server(name)["fqdn"]} for name in SERVERS
                            if name in lab.endpoints["servers"]],
        "mailops_dns": {"public": endpoints["validate"]["dns_public"], "private": endpoints["validate"]["dns_private"]},
        "mailops_validation": {"report_dir": str(report_dir), "ca_bundle": endpoints["ca_bundle"],
                               "endpoints": endpoints["validate"]["endpoints"]},
    }
    return {
        "all": {"vars": organisation, "children": ["exchange_mailbox"]},
        "exchange_mailbox": {"hosts": list(hosts), "vars": {"ansible_connection": "mailops.exchange.exchange"}},
        "_meta": {"hostvars": hostvars},
    }


def private_data_dir(root: Path, ident: str, lab: Lab, hosts, collections_dir: Path, job_id: int,
                     extravars: dict | None = None) -> Path:
    pdd = root / ident
    for part in ("inventory", "env", "project"):
        (pdd / part).mkdir(parents=True)
    shutil.copy(REPO / "site.yml", pdd / "project" / "site.yml")
    shutil.copytree(collections_dir, pdd / "requirements_collections")
    script = pdd / "inventory" / "hosts"
    script.write_text("#! %s\n# -*- coding: utf-8 -*-\nimport json\nprint(json.dumps(%r))\n"
                      % (sys.executable, inventory(lab, hosts, pdd / "validation")))
    script.chmod(0o700)
    envvars = credential_env(lab, pdd / "env")
    envvars["ANSIBLE_COLLECTIONS_PATH"] = str(pdd / "requirements_collections")
    envvars["ANSIBLE_NOCOLOR"] = "1"
    (pdd / "env" / "envvars").write_text(json.dumps(envvars))
    (pdd / "env" / "extravars").write_text(json.dumps({
        "awx_job_id": job_id, "awx_job_launch_type": "manual", "awx_job_template_name": "mailops.exchange - site",
        "tower_job_id": job_id, "tower_job_launch_type": "manual", "tower_job_template_name": "mailops.exchange - site",
        **(extravars or {}),
    }))
    return pdd


def slices(hosts, count):
    """AWX's slicing: the hosts ordered by name, slice n (from 1) gets hosts[n - 1::count]."""
    ordered = sorted(hosts)
    return [ordered[number - 1::count] for number in range(1, count + 1)]


# -- running jobs ----------------------------------------------------------------------------------------------------


def runner_env() -> dict:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("EXCHANGE_", "ANSIBLE_", "MAILOPS_"))}
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    return env


def run_job(pdd: Path, ident: str) -> dict:
    """``ansible-runner run`` of project/site.yml; the job as AWX records it."""
    started = time.monotonic()
    completed = subprocess.run([str(BIN / "ansible-runner"), "run", str(pdd), "-p", "site.yml", "--ident", ident],
                               env=runner_env(), capture_output=True, text=True, timeout=1500, cwd=str(pdd))
    artifacts = pdd / "artifacts" / ident
    events = [json.loads(path.read_text()) for path in sorted((artifacts / "job_events").glob("*.json"))]
    stats = next((e["event_data"] for e in events if e.get("event") == "playbook_on_stats"), {})
    return {
        "ident": ident, "duration": time.monotonic() - started, "cli_rc": completed.returncode,
        "status": (artifacts / "status").read_text().strip() if (artifacts / "status").exists() else None,
        "rc": int((artifacts / "rc").read_text()) if (artifacts / "rc").exists() else None,
        "stdout": (artifacts / "stdout").read_text(errors="replace") if (artifacts / "stdout").exists()
        else completed.stdout + completed.stderr,
        "stats": stats, "artifact_data": stats.get("artifact_data") or {},
    }


def green(job: dict) -> bool:
    return job["status"] == "successful" and job["rc"] == 0


def explain(*jobs) -> str:
    return "\n\n".join("== %s: status=%s rc=%s\n%s" % (j["ident"], j["status"], j["rc"], j["stdout"][-5000:])
                       for j in jobs)


def changed_hosts(job: dict) -> dict:
    return {host: count for host, count in (job["stats"].get("changed") or {}).items() if count}


def assert_each_object_once(lab: Lab) -> None:
    state = lab.lab_state()
    names = collections.Counter(c["name"].lower() for c in state["send_connectors"])
    assert names == {"to internet": 1}, state["send_connectors"]
    domains = collections.Counter(d["props"]["DomainName"].lower() for d in state["accepted_domains"])
    assert domains["contoso.com"] == 1 and all(n == 1 for n in domains.values()), domains
    assert [d["name"] for d in state["accepted_domains"] if d["props"].get("Default")] == ["contoso.com"], \
        state["accepted_domains"]
    policies = collections.Counter(p["name"].lower() for p in state["email_address_policies"])
    assert all(n == 1 for n in policies.values()), policies
    requests = collections.Counter(entry["server"] for entry in lab.transcript() if entry.get("kind") == "script"
                                   and "-GenerateRequest" in (entry.get("script") or ""))
    assert requests == {name: 1 for name in lab.endpoints["servers"]}, requests


def assert_validation_artifact(job: dict, servers) -> None:
    """The validation's outcome as a person reads it on the AWX job's page (the job's artifacts)."""
    validation = job["artifact_data"].get("mailops_validation")
    assert validation, "no mailops_validation in the job's artifacts: %s" % job["artifact_data"]
    assert validation["ok"] is True, validation
    assert validation["summary"]["failed"] == 0 and validation["summary"]["passed"] > 0, validation["summary"]
    assert sorted(validation["servers"]) == sorted(servers)
    assert validation["failed_checks"] == []
    total = validation["summary"]["total"]
    assert validation["result"] == "%d checks: %d passed, 0 failed - ALL PASSED" % (total, total), validation["result"]
    assert Path(validation["report_files"]["text"]).is_file(), validation["report_files"]


# -- the jobs --------------------------------------------------------------------------------------------------------


def test_a_whole_job_through_ansible_runner(tmp_path, installed_collection):
    lab = Lab("2019", tmp_path / "lab", servers=("EX01", "EX02"))
    try:
        pdd = private_data_dir(tmp_path / "jobs", "job-1", lab, ("EX01", "EX02"), installed_collection, 1)
        job = run_job(pdd, "job-1")
        assert green(job), explain(job)
        assert changed_hosts(job), "a first run on a fresh organisation changes something"
        assert not any((job["stats"].get("failures") or {}).values())
        assert_each_object_once(lab)
        assert_validation_artifact(job, ["EX01", "EX02"])
        # The password reached the modules only through the credential's environment: not in the job's output.
        assert lab.password not in job["stdout"]
        print("whole job: %.1f s" % job["duration"])

        # A red validation is in the artifacts too: the same job asking for 4096-bit keys (extra variables, as a
        # survey or the launch prompt gives them) fails, and its artifacts say which checks and why.
        strict = inventory(lab, ("EX01", "EX02"), tmp_path / "strict-report")["all"]["vars"]["mailops_validation"]
        pdd = private_data_dir(tmp_path / "jobs", "job-2", lab, ("EX01", "EX02"), installed_collection, 2,
                               extravars={"mailops_validation": dict(strict, min_key_size=4096)})
        red = run_job(pdd, "job-2")
        assert red["status"] == "failed" and red["rc"] != 0, explain(red)
        validation = red["artifact_data"].get("mailops_validation")
        assert validation and validation["ok"] is False, red["artifact_data"]
        assert validation["result"].endswith("FAILED") and validation["summary"]["failed"] > 0
        assert validation["failed_checks"] and all("key size" in c["name"] and "4096" in c["expected"]
                                                   for c in validation["failed_checks"]), validation["failed_checks"]
    finally:
        lab.stop()


def test_three_slices_started_together_converge_and_a_second_sliced_run_changes_nothing(tmp_path, installed_collection):
    lab = Lab("2019", tmp_path / "lab", servers=SERVERS)
    try:
        faults = lab.state_dir / "faults.json"
        faults.write_text(json.dumps(dict(json.loads(faults.read_text()), cmdlet_barriers=READ_TOGETHER)))
        parts = slices(SERVERS, SLICES)
        assert parts == [["EX01", "EX04"], ["EX02", "EX05"], ["EX03", "EX06"]]

        def sliced_run(run):
            dirs = [private_data_dir(tmp_path / ("run%d" % run), "slice-%d" % number, lab, hosts,
                                     installed_collection, 10 * run + number)
                    for number, hosts in enumerate(parts, 1)]
            with concurrent.futures.ThreadPoolExecutor(SLICES) as pool:
                return list(pool.map(run_job, dirs, ["slice-%d" % n for n in range(1, SLICES + 1)]))

        started = time.monotonic()
        first = sliced_run(1)
        first_wall = time.monotonic() - started
        assert all(green(job) for job in first), explain(*[job for job in first if not green(job)])
        # The slices did race: the Send connector's and the accepted domain's creates of all but one slice met
        # Exchange's duplicate error, read the object back and converged (a warning says so) - no red slice, nothing
        # twice.
        conflicts = sum(job["stdout"].count("another run created it meanwhile") for job in first)
        assert conflicts >= 2 * (SLICES - 1), explain(*first)
        assert_each_object_once(lab)
        for job, hosts in zip(first, parts):
            assert set(job["stats"].get("ok") or {}) == set(hosts)
            assert_validation_artifact(job, hosts)

        faults.write_text(json.dumps(dict(json.loads(faults.read_text()), cmdlet_barriers=[])))
        started = time.monotonic()
        second = sliced_run(2)
        second_wall = time.monotonic() - started
        assert all(green(job) for job in second), explain(*[job for job in second if not green(job)])
        assert [changed_hosts(job) for job in second] == [{}, {}, {}], explain(*second)
        assert_each_object_once(lab)
        print("sliced: first run %.1f s, second run %.1f s (slices: %s)"
              % (first_wall, second_wall, ", ".join("%.1f" % job["duration"] for job in first + second)))
    finally:
        lab.stop()
