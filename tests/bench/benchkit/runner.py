"""Run the scenarios: the per-cmdlet baseline and site.yml (first and second run) on N servers, measured."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchkit import metrics, reaper
from benchkit.lab import REPO, RunningLab, server_names
from benchkit.organisation import inventory_connection, load_organisation, organisation_to_json, write_inventory

BENCH_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


ADOPTION_TIMEOUT_S = 30.0


def run_measured(args: list[str], env: dict, log_path: Path, cwd: Path = REPO,
                 adoption_timeout: float = ADOPTION_TIMEOUT_S) -> tuple[int, float, float, dict]:
    """Run ``args`` to completion: (exit code, wall seconds, controller CPU seconds, adoption details).

    ``os.wait4`` gives the CPU time of exactly this child (including the forks and workers it reaped), not of the
    lab, which is another child of this process and is still running. The connection's session brokers leave
    ansible-playbook's tree when their worker exits: with the harness a child subreaper (``reaper.become_subreaper``,
    run.py) they are re-parented to the harness, which waits up to ``adoption_timeout`` s after the run for every
    process adopted during it, reaps them and adds their CPU (kept apart in the details as ``adopted_cpu_s``); what
    is still alive then is killed and listed in ``leftover_daemons``. The CPU returned is the tree's plus the adopted
    processes'.
    """
    with open(log_path, "wb") as log:
        started = time.monotonic()
        process = subprocess.Popen(args, env=env, cwd=str(cwd), stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
        adopter = reaper.Adopter(process.pid) if reaper.is_subreaper() else None
        status, usage = reaper.wait_measured(process, adopter)
        wall = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    tree_cpu = usage.ru_utime + usage.ru_stime
    if adopter is None:
        adoption = {"subreaper": False, "adopted_processes": None, "adopted_daemons": None, "adopted_cpu_s": None,
                    "adopted_daemon_cpu_s": None, "leftover_daemons": [], "adopted": []}
    else:
        adoption = {"subreaper": True, **adopter.drain(adoption_timeout)}
    adoption["cpu_tree_s"] = round(tree_cpu, 3)
    return process.returncode, wall, tree_cpu + (adoption["adopted_cpu_s"] or 0.0), adoption


def _finish(result: dict, lab: RunningLab, before: dict, lab_cpu_before: float | None) -> dict:
    result["loadavg_1min_end"] = round(os.getloadavg()[0], 2)  # the machine is shared: context for the wall times
    delta = metrics.counter_delta(before, lab.counters())
    faults = lab.faults()
    result.update(delta["total"])
    result["per_server"] = delta["servers"]
    result["latency_scale"] = faults.get("latency_scale")
    result["latency_model"] = {k: faults.get(k) for k in ("ps_start_latency", "exchange_load_latency", "latency_scale")}
    result["modelled_latency_s"] = round(max(metrics.modelled_latency(delta["servers"], faults).values(), default=0.0), 3)
    result["wall_est_unscaled_s"] = metrics.estimate_unscaled_wall(result["wall_s"], delta["servers"], faults)
    lab_cpu = lab.cpu_seconds()
    result["lab_cpu_s"] = None if lab_cpu is None or lab_cpu_before is None else round(lab_cpu - lab_cpu_before, 2)
    result["loads_per_task"] = metrics.per_task(result.get("exchange_loads"), result.get("module_tasks"))
    # With the session broker the figure that matters: Exchange-shell loads per host and play (target 1).
    result["ems_loads_per_host"] = metrics.loads_per_host(delta["servers"])
    result["cpu_per_task_s"] = metrics.per_task(result.get("cpu_s"), result.get("tasks_executed"))
    result["cpu_per_host_s"] = metrics.per_task(result.get("cpu_s"), result.get("servers"))
    return result


def baseline_scenario(count: int, work: Path, scale: float | None, version: str, realistic: bool) -> dict:
    servers = server_names(count)
    state = work / f"baseline-{count}"
    shutil.rmtree(state, ignore_errors=True)
    org = load_organisation([{"name": s, "fqdn": f"{s.lower()}.corp.contoso.com"} for s in servers])
    with RunningLab(state, servers, version=version, latency_scale=scale, realistic=realistic) as lab:
        org_file, out = state / "bench-organisation.json", state / "bench-baseline.json"
        org_file.write_text(json.dumps(organisation_to_json(org)))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BENCH_ROOT), env.get("PYTHONPATH")]))
        before, lab_cpu = lab.counters(), lab.cpu_seconds()
        rc, wall, cpu, adoption = run_measured([sys.executable, "-m", "benchkit.baseline", "--state", str(state),
                                                "--org", str(org_file), "--out", str(out)], env,
                                               state / "bench-baseline.log")
        detail = json.loads(out.read_text()) if out.exists() else {"errors": ["no result written"], "log": []}
        result = {"name": f"baseline-{count}", "kind": "baseline", "run": 1, "servers": count, "forks": count, "rc": rc,
                  "wall_s": wall, "cpu_s": cpu, "module_tasks": detail.get("run_ps"), "tasks_executed": detail.get("run_ps"),
                  "changed": detail.get("writes"), "errors": detail.get("errors"), "log": str(state / "bench-baseline.log")}
        result.update(adoption)
        return _finish(result, lab, before, lab_cpu)


def summarise_record(path: Path) -> dict:
    """Module task executions, changed ones and all task executions from the bench_recorder file."""
    if not path.exists():
        return {"module_tasks": None, "tasks_executed": None, "changed": None, "failed_tasks": ["no task record written"]}
    results = json.loads(path.read_text())["results"]
    return summarise_results(results)


def summarise_results(results: list[dict]) -> dict:
    module = changed = executed = 0
    failed = []
    for r in results:
        if r["status"] == "skipped":
            continue
        executed += 1
        if r["status"] in ("failed", "unreachable"):
            failed.append(f"{r['host']}: {r['task']}")
        action = r.get("action") or ""
        # exchange_validate runs on the controller (DNS, TLS); every other module of the collection talks to Exchange.
        if action.startswith("mailops.exchange.") and action != "mailops.exchange.exchange_validate":
            module += r.get("items") or 1
            changed += 1 if r.get("changed") else 0
    return {"module_tasks": module, "tasks_executed": executed, "changed": changed, "failed_tasks": failed}


def site_scenarios(count: int, work: Path, scale: float | None, version: str, realistic: bool, playbook: str) -> list[dict]:
    servers = server_names(count)
    state = work / f"site-{count}"
    shutil.rmtree(state, ignore_errors=True)
    results = []
    with RunningLab(state, servers, version=version, latency_scale=scale, realistic=realistic) as lab:
        inventory = write_inventory(state / "inventory", servers, endpoints=lab.endpoints)
        connection = inventory_connection(inventory)
        if not str(connection or "").endswith("exchange.exchange"):
            print(f"warning: the generated inventory's Mailbox servers use ansible_connection={connection!r}, not the "
                  "persistent mailops.exchange.exchange (see inventory/lab/group_vars)", file=sys.stderr, flush=True)
        env = dict(os.environ)
        env.update({
            "MAILOPS_LAB_STATE": str(state), "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "PATH": os.pathsep.join([str(BIN), env.get("PATH", "")]),
            "ANSIBLE_CALLBACK_PLUGINS": str(BENCH_ROOT / "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "bench_recorder", "ANSIBLE_NOCOLOR": "1",
        })
        playbook_bin = BIN / "ansible-playbook"
        command = [str(playbook_bin) if playbook_bin.exists() else "ansible-playbook", playbook, "-i", str(inventory),
                   "-f", str(count)]
        for run in (1, 2):
            record = state / f"bench-run{run}-tasks.json"
            env["MAILOPS_BENCH_RECORD"] = str(record)
            digest_before = lab.state_digest() if run == 2 else None
            before, lab_cpu = lab.counters(), lab.cpu_seconds()
            log = state / f"bench-run{run}.log"
            rc, wall, cpu, adoption = run_measured(command, env, log)
            result = {"name": f"site-{count}-run{run}", "kind": "site", "run": run, "servers": count, "forks": count,
                      "rc": rc, "wall_s": wall, "cpu_s": cpu, "log": str(log), "ansible_connection": connection}
            result.update(adoption)
            result.update(summarise_record(record))
            _finish(result, lab, before, lab_cpu)
            if run == 2:
                result["state_unchanged"] = lab.state_digest() == digest_before
            results.append(result)
    return results


TASK_COST_TASKS = 30


def _task_cost_playbook(kind: str, tasks: int) -> str:
    """A play on one Mailbox server: a first Exchange module task (the session broker and the Exchange shell come up,
    a fixed cost), then ``tasks`` tasks of ``kind`` ("debug", or "module": exchange_info reading the accepted
    domains over the collection's connection)."""
    lines = ["---", "- name: Task cost", "  hosts: exchange_mailbox", "  gather_facts: false", "  tasks:",
             "    - name: Open the session", "      mailops.exchange.exchange_info:", "        gather: [servers]"]
    for index in range(tasks):
        if kind == "debug":
            lines += [f"    - name: debug {index}", "      ansible.builtin.debug:", "        msg: step"]
        else:
            lines += [f"    - name: module {index}", "      mailops.exchange.exchange_info:",
                      "        gather: [accepted_domains]"]
    return "\n".join(lines) + "\n"


def task_cost_scenario(work: Path, version: str) -> dict:
    """The controller CPU of one Exchange module task over the collection's connection against a ``debug`` task, in
    the same kind of run (issue 15's target: at most 2x): three playbooks on one server - the fixed part alone, plus
    30 debug tasks, plus 30 module tasks - each task's cost the difference to the fixed part, divided by 30. No
    injected latency: only CPU is measured."""
    servers = server_names(1)
    state = work / "task-cost"
    shutil.rmtree(state, ignore_errors=True)
    result = {"name": "task-cost", "kind": "task_cost", "run": 1, "servers": 1, "forks": 1, "rc": 0,
              "tasks": TASK_COST_TASKS, "cpu_runs_s": {}}
    with RunningLab(state, servers, version=version, latency_scale=None, realistic=False) as lab:
        inventory = write_inventory(state / "inventory", servers, endpoints=lab.endpoints)
        env = dict(os.environ)
        env.update({"MAILOPS_LAB_STATE": str(state), "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
                    "PATH": os.pathsep.join([str(BIN), env.get("PATH", "")]), "ANSIBLE_NOCOLOR": "1"})
        playbook_bin = BIN / "ansible-playbook"
        for kind, tasks in (("fixed", 0), ("debug", TASK_COST_TASKS), ("module", TASK_COST_TASKS)):
            playbook = state / f"task-cost-{kind}.yml"
            playbook.write_text(_task_cost_playbook(kind, tasks))
            command = [str(playbook_bin) if playbook_bin.exists() else "ansible-playbook", str(playbook),
                       "-i", str(inventory)]
            rc, _wall, cpu, _adoption = run_measured(command, env, state / f"task-cost-{kind}.log")
            result["cpu_runs_s"][kind] = round(cpu, 3)
            result["rc"] = result["rc"] or rc
    runs = result["cpu_runs_s"]
    result["debug_task_cpu_s"] = round((runs["debug"] - runs["fixed"]) / TASK_COST_TASKS, 4)
    result["module_task_cpu_s"] = round((runs["module"] - runs["fixed"]) / TASK_COST_TASKS, 4)
    result["module_to_debug"] = (round(result["module_task_cpu_s"] / result["debug_task_cpu_s"], 2)
                                 if result["debug_task_cpu_s"] > 0 else None)
    return result


def awx_slices(servers: list[str], count: int) -> list[list[str]]:
    """AWX's job slicing (``Inventory.get_sliced_hosts``): the hosts by name, slice n (from 1) gets hosts[n - 1::count]."""
    ordered = sorted(servers)
    return [ordered[number - 1::count] for number in range(1, count + 1) if ordered[number - 1::count]]


def sliced_scenarios(count: int, slices: int, work: Path, scale: float | None, version: str, realistic: bool,
                     playbook: str) -> list[dict]:
    """site.yml on ``count`` servers as a sliced AWX job: ``slices`` ansible-playbook processes started together, each
    with an inventory of only its slice's hosts (as AWX gives each slice job), forks = hosts per slice; the
    organisation's Mailbox servers listed in every slice (``mailops_servers``, see awx/README.md). First and second
    run, measured like the site scenarios: wall = until the last slice ends, CPU = every slice's."""
    servers = server_names(count)
    parts = awx_slices(servers, slices)
    state = work / f"sliced-{count}x{len(parts)}"
    shutil.rmtree(state, ignore_errors=True)
    results = []
    with RunningLab(state, servers, version=version, latency_scale=scale, realistic=realistic) as lab:
        inventories = []
        everyone = [{"name": s, "fqdn": f"{s.lower()}.corp.contoso.com"} for s in servers]
        for number, hosts in enumerate(parts, 1):
            inventory = write_inventory(state / f"inventory-slice{number}", hosts, endpoints=lab.endpoints)
            # Organisation-wide inputs must not depend on the slice: every Mailbox server, listed.
            (inventory / "group_vars" / "all" / "zz_slices.yml").write_text(
                "---\n# Generated by tests/bench: a sliced job lists every Mailbox server of the organisation.\n"
                + json.dumps({"mailops_servers": everyone}) + "\n")
            inventories.append(inventory)
        env = dict(os.environ)
        env.update({
            "MAILOPS_LAB_STATE": str(state), "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "PATH": os.pathsep.join([str(BIN), env.get("PATH", "")]),
            "ANSIBLE_CALLBACK_PLUGINS": str(BENCH_ROOT / "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "bench_recorder", "ANSIBLE_NOCOLOR": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(BENCH_ROOT), env.get("PYTHONPATH")])),
        })
        playbook_bin = BIN / "ansible-playbook"
        for run in (1, 2):
            command = [sys.executable, "-m", "benchkit.slices", str(state / f"bench-run{run}-slice"),
                       str(state / f"bench-run{run}-slice")]
            for inventory, hosts in zip(inventories, parts):
                command += ["--", str(playbook_bin) if playbook_bin.exists() else "ansible-playbook", playbook,
                            "-i", str(inventory), "-f", str(len(hosts))]
            digest_before = lab.state_digest() if run == 2 else None
            before, lab_cpu = lab.counters(), lab.cpu_seconds()
            log = state / f"bench-run{run}.log"
            rc, wall, cpu, adoption = run_measured(command, env, log)
            result = {"name": f"sliced-{count}-{len(parts)}x{len(parts[0])}-run{run}", "kind": "sliced", "run": run,
                      "servers": count, "forks": len(parts[0]), "slices": len(parts), "rc": rc, "wall_s": wall,
                      "cpu_s": cpu, "log": str(log)}
            result.update(adoption)
            records = []
            for number in range(1, len(parts) + 1):
                path = state / f"bench-run{run}-slice{number}.json"
                records.extend(json.loads(path.read_text())["results"] if path.exists() else [])
            result.update(summarise_results(records) if records else summarise_record(Path("/nonexistent")))
            _finish(result, lab, before, lab_cpu)
            if run == 2:
                result["state_unchanged"] = lab.state_digest() == digest_before
            results.append(result)
    return results


def attach_ratios(results: list[dict]) -> None:
    baselines = {r["servers"]: r for r in results if r["kind"] == "baseline" and r.get("rc") == 0}
    for r in results:
        base = baselines.get(r["servers"])
        r["ratios"] = metrics.ratios(r, base) if base and r["kind"] != "baseline" else {}


def compare_end_states(work: Path, results: list[dict]) -> dict:
    """Per server count: do site.yml and the baseline leave the same organisation? (differences listed)."""
    from benchkit.lab import snapshot

    out = {}
    counts = sorted({r["servers"] for r in results})
    for count in counts:
        site, base = work / f"site-{count}", work / f"baseline-{count}"
        ran = {r["name"]: r.get("rc") for r in results}
        if ran.get(f"site-{count}-run1") != 0 or ran.get(f"baseline-{count}") != 0:
            continue
        differences = metrics.state_differences(snapshot(site), snapshot(base))
        out[str(count)] = {"same": not differences, "differences": differences}
    return out
