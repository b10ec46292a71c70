import math

import pytest

from benchkit import metrics, report


def counters(**servers):
    return {"servers": {name: dict(zip(metrics.COUNTERS, values)) for name, values in servers.items()}}


def test_counter_delta_per_server_and_total():
    before = counters(EX01=(10, 2, 2, 2, 3))
    after = counters(EX01=(25, 3, 3, 4, 7), EX02=(5, 1, 1, 1, 2))
    delta = metrics.counter_delta(before, after)
    assert delta["servers"]["EX01"] == {"http_requests": 15, "shells": 1, "ps_processes": 1, "exchange_loads": 2, "scripts": 4}
    assert delta["servers"]["EX02"]["http_requests"] == 5  # a server first seen after the mark counts from 0
    assert delta["total"] == {"http_requests": 20, "shells": 2, "ps_processes": 2, "exchange_loads": 3, "scripts": 6}


def test_counter_delta_without_before_and_missing_counters():
    delta = metrics.counter_delta(None, {"servers": {"EX01": {"shells": 4}}})
    assert delta["total"]["shells"] == 4 and delta["total"]["exchange_loads"] == 0


def test_counter_delta_refuses_a_counter_going_down():
    with pytest.raises(ValueError, match="exchange_loads of EX01 went down"):
        metrics.counter_delta(counters(EX01=(1, 1, 1, 5, 1)), counters(EX01=(1, 1, 1, 4, 1)))


def test_ratio_is_baseline_over_value():
    assert metrics.ratio(100.0, 20.0) == 5.0
    assert metrics.ratio(10, 0) == math.inf
    assert metrics.ratio(0, 0) is None
    assert metrics.ratio(None, 3) is None and metrics.ratio(3, None) is None
    r = metrics.ratios({"wall_s": 10.0, "exchange_loads": 16, "shells": 16, "http_requests": 100, "cpu_s": 8.0},
                       {"wall_s": 40.0, "exchange_loads": 44, "shells": 44, "http_requests": 400, "cpu_s": 2.0})
    assert r == {"wall_s": 4.0, "exchange_loads": 2.75, "shells": 2.75, "http_requests": 4.0, "cpu_s": 0.25}


def test_modelled_latency_and_unscaled_estimate():
    faults = {"ps_start_latency": 0.5, "exchange_load_latency": 4.0, "latency_scale": 0.1}
    per_server = {"EX01": {"ps_processes": 10, "exchange_loads": 10}, "EX02": {"ps_processes": 2, "exchange_loads": 2}}
    latency = metrics.modelled_latency(per_server, faults)
    assert latency["EX01"] == pytest.approx(4.5) and latency["EX02"] == pytest.approx(0.9)
    # The busiest server's latency, scaled up from 0.1 to 1.0: 4.5 s measured -> 45 s, i.e. +40.5 s.
    assert metrics.estimate_unscaled_wall(12.0, per_server, faults) == pytest.approx(52.5)
    assert metrics.estimate_unscaled_wall(12.0, per_server, dict(faults, latency_scale=1.0)) == pytest.approx(12.0)
    assert metrics.estimate_unscaled_wall(12.0, per_server, dict(faults, latency_scale=0)) is None


def test_per_task():
    assert metrics.per_task(3.0, 6) == 0.5
    assert metrics.per_task(3.0, 0) is None and metrics.per_task(None, 4) is None


def _site(name, servers, run, **kw):
    base = {"name": name, "kind": "site", "servers": servers, "run": run, "rc": 0, "wall_s": 10.0,
            "wall_est_unscaled_s": 50.0, "exchange_loads": 16, "module_tasks": 16, "loads_per_task": 1.0,
            "cpu_s": 4.0, "tasks_executed": 40, "cpu_per_task_s": 0.1, "changed": 0, "state_unchanged": True,
            "latency_scale": 0.05}
    base.update(kw)
    return base


def test_targets_hold_and_fail():
    results = [
        {"name": "baseline-1", "kind": "baseline", "servers": 1, "run": 1, "rc": 0, "wall_s": 30.0, "wall_est_unscaled_s": 300.0},
        _site("site-1-run1", 1, 1, changed=12),
        _site("site-1-run2", 1, 2),
        _site("site-20-run1", 20, 1, wall_s=25.0, loads_per_task=1.25, cpu_per_task_s=0.75),
        _site("site-20-run2", 20, 2, wall_s=15.0, state_unchanged=False),
    ]
    checks = {c["target"]: c["holds"] for c in metrics.check_targets(results)}
    assert checks["site-1-run2: nothing written"] is True
    assert checks["site-20-run2: nothing written"] is False  # the lab's state changed
    assert checks["site-1-run1: wall >= 5x better than the baseline (realistic model)"] is True  # 300 / 50 = 6
    assert checks["site-20-run1: <= 1 Exchange-shell load per module task"] is False
    assert checks["site-20-run1: controller CPU per task <= 0.5 s"] is False
    assert checks["site-20-run1: 20 servers (forks 20) <= 2x the one-server wall time"] is False  # 25 / 10
    assert checks["site-20-run2: 20 servers (forks 20) <= 2x the one-server wall time"] is True  # 15 / 10
    assert "site-20-run1: wall >= 5x better than the baseline (realistic model)" not in checks  # no baseline-20


def test_a_failed_run_never_holds_a_target():
    results = [_site("site-1-run1", 1, 1, rc=2), _site("site-1-run2", 1, 2, rc=2)]
    assert all(c["holds"] is False for c in metrics.check_targets(results))


def test_format_table_aligns_and_shows_ratios():
    results = [
        {"name": "baseline-1", "servers": 1, "forks": 1, "wall_s": 30.04, "exchange_loads": 44, "ratios": {}},
        _site("site-1-run1", 1, 1, forks=1, ratios={"wall_s": 3.0, "exchange_loads": 2.75, "shells": math.inf}),
    ]
    table = metrics.format_table(results).splitlines()
    assert table[0].split()[:4] == ["scenario", "hosts", "forks", "wall"]
    assert len({len(line) for line in table[:2]}) == 1  # header and rule have the same width
    assert table[2].startswith("baseline-1") and " 30.0 " in table[2] and " 44 " in table[2]
    row = table[3]
    assert " 3.0 " in row and " 2.8 " in row and " inf" in row  # wall, loads (2.75 -> 2.8), shells
    assert " - " in table[2]  # no ratios for the baseline itself


def test_report_renders_targets_and_failures():
    document = {"command": "python tests/bench/run.py --servers 1", "date": "2026-11-22 12:00 UTC",
                "machine": {"cpus": 2}, "latency": {"realistic": True, "scale": 0.05},
                "results": [_site("site-1-run1", 1, 1, rc=2, failed_tasks=["EX01: Check the Send connector"], ratios={})],
                "targets": [{"target": "t", "holds": False, "detail": "d"}]}
    text = report.render(document)
    assert "x scale 0.05" in text and "[FAILS] t: d" in text
    assert "- site-1-run1: EX01: Check the Send connector" in text


def test_readme_section_is_replaced_or_appended():
    appended = report.replace_section("# Bench\n", "table 1")
    assert appended.startswith("# Bench\n\n<!-- bench:begin -->\n```text\ntable 1\n```\n<!-- bench:end -->")
    replaced = report.replace_section(appended + "after\n", "table 2")
    assert "table 1" not in replaced and "table 2" in replaced and replaced.endswith("after\n")
    with pytest.raises(ValueError):
        report.replace_section("<!-- bench:end --> <!-- bench:begin -->", "x")


def test_state_differences_ignore_generated_values():
    a = {"organization_guid": "1", "servers": {"EX01": {"guid": "a", "certificates": [{"thumbprint": "AA", "key": "k1",
         "subject": "CN=mail"}], "receive_connectors": [{"fqdn": "mail.contoso.com"}]}}}
    b = {"organization_guid": "2", "servers": {"EX01": {"guid": "b", "certificates": [{"thumbprint": "BB", "key": "k2",
         "subject": "CN=mail"}], "receive_connectors": [{"fqdn": "ex01.corp.contoso.com"}]}}}
    assert metrics.state_differences(a, b) == [
        "/servers/EX01/receive_connectors[0]/fqdn: 'mail.contoso.com' vs 'ex01.corp.contoso.com'"]
    b["servers"]["EX01"]["certificates"].append({"subject": "CN=other"})
    assert metrics.state_differences(a, b)[0] == "/servers/EX01/certificates: 1 vs 2 items"
    assert metrics.state_differences(a, a) == []


def test_report_says_whether_the_end_states_match():
    document = {"results": [], "targets": [], "same_end_state": {
        "5": {"same": False, "differences": ["/servers/EX02/x: 'a' vs 'b'"]}, "1": {"same": True, "differences": []}}}
    text = report.render(document)
    assert "1 server(s): yes, 5 server(s): NO - /servers/EX02/x: 'a' vs 'b'" in text


def test_issue_15_targets_cpu_per_server_baseline_factor_and_task_cost():
    results = [
        {"name": "baseline-1", "kind": "baseline", "servers": 1, "run": 1, "rc": 0, "wall_s": 30.0,
         "wall_est_unscaled_s": 300.0},
        _site("site-1-run1", 1, 1, cpu_s=2.5, cpu_per_host_s=2.5, wall_est_unscaled_s=25.0),  # 12x
        _site("site-5-run2", 5, 2, cpu_s=20.0, cpu_per_host_s=4.0),
        {"name": "task-cost", "kind": "task_cost", "rc": 0, "tasks": 30, "debug_task_cpu_s": 0.05,
         "module_task_cpu_s": 0.08, "module_to_debug": 1.6, "cpu_runs_s": {}},
    ]
    checks = {c["target"]: c["holds"] for c in metrics.check_targets(results)}
    assert checks["site-1-run1: first run >= 10x faster than the baseline (realistic model, issue 15)"] is True
    assert checks["site-1-run1: controller CPU per server <= 3 s (issue 15)"] is True
    assert checks["site-5-run2: controller CPU per server <= 3 s (issue 15)"] is False
    assert checks["one Exchange module task <= 2x the controller CPU of a debug task (issue 15)"] is True
    assert "task-cost" not in metrics.format_table(results)
    text = report.render({"results": results, "targets": metrics.check_targets(results), "machine": {}})
    assert "an Exchange module task over the connection 0.080 s of controller CPU = 1.60x" in text


def test_a_wall_time_target_names_the_least_wall_the_cpus_allow():
    # 20 servers on 2 CPUs: 50 s of controller CPU and 22 s of the lab's share the cores - 36 s of wall at the
    # least, however well the run overlaps; with the 3.4 s of modelled latency the estimate adds, 5.4x at the most.
    results = [
        {"name": "baseline-20", "kind": "baseline", "servers": 20, "run": 1, "rc": 0, "wall_s": 65.0,
         "wall_est_unscaled_s": 214.0},
        _site("site-1-run1", 1, 1, wall_s=5.0),
        _site("site-20-run1", 20, 1, wall_s=49.0, wall_est_unscaled_s=52.4, cpu_s=50.0, lab_cpu_s=22.0),
    ]
    details = {c["target"]: c["detail"] for c in metrics.check_targets(results, cpus=2)}
    ratio_detail = details["site-20-run1: first run >= 5x faster than the baseline (realistic model, issue 15)"]
    assert ratio_detail == ("estimated at scale 1.0: 4.08x; on 2 CPUs its CPU - controller 50.0 s + lab 22.0 s - takes "
                            "36.0 s of wall at the least, so 5.4x at the most")
    assert details["site-20-run1: 20 servers (forks 20) <= 2x the one-server wall time"].endswith(
        "takes 36.0 s of wall at the least, 7.20x the one-server wall")
    assert metrics.cpu_floor_s({"cpu_s": 1.0}, 2) is None  # no lab CPU measured: no bound claimed
