#!/usr/bin/env python3
"""``make bench``: site.yml (first and second run) and the per-cmdlet baseline on 1, 5 and 20 lab servers.

    python tests/bench/run.py [--servers 1,5,20] [--scale 0.25] [--json FILE] [--readme FILE]

Every scenario gets a fresh lab (``python -m exchange_lab serve`` with the realistic latency model - 0.5 s per
PowerShell start, 4 s per Exchange-shell load - times ``--scale``), and is measured by the lab's counters (Exchange-
shell loads, WinRM shells, HTTP requests), its wall time and the controller CPU time of the process tree
(``os.wait4``). Prints a table and the targets of issue 6; writes the JSON (and, with ``--readme``, the table into the
README's marked performance section). Exit code 0 when every scenario ran, 1 otherwise (targets are reported, not
enforced).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchkit import metrics, reaper, report  # noqa: E402
from benchkit.lab import REPO  # noqa: E402
from benchkit.runner import (  # noqa: E402
    attach_ratios, baseline_scenario, compare_end_states, site_scenarios, sliced_scenarios, task_cost_scenario,
)


def _counts(value: str) -> list[int]:
    try:
        counts = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"a comma-separated list of server counts, got {value!r}")
    if not counts or any(c < 1 or c > 99 for c in counts):
        raise argparse.ArgumentTypeError("server counts between 1 and 99")
    return counts


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tests/bench/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=_counts, default=[1, 5, 20], help="server counts (forks = servers), default 1,5,20")
    parser.add_argument("--scale", type=float, default=0.25, help="latency_scale of the realistic model (default 0.25)")
    parser.add_argument("--no-latency", action="store_true", help="no injected latency (the lab's own costs only)")
    parser.add_argument("--version", default="2019", choices=["2013", "2016", "2019"])
    parser.add_argument("--only", choices=["site", "baseline", "sliced", "tasks"], help="run only one kind of scenario")
    parser.add_argument("--slices", type=int, default=4,
                        help="the sliced scenario (an AWX job with job_slice_count): its number of slices, started "
                             "together, on the largest server count (default 4; 0: none)")
    parser.add_argument("--playbook", default="site.yml")
    parser.add_argument("--work", type=Path, default=REPO / ".lab" / "bench", help="state directories (default .lab/bench)")
    parser.add_argument("--json", type=Path, help="result file (default WORK/results.json)")
    parser.add_argument("--readme", type=Path, help="rewrite the performance section of this README with the results")
    parser.add_argument("--from-json", type=Path, help="do not run anything: print (and --readme) the report of a results file")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.from_json:
        text = report.render(json.loads(args.from_json.read_text()))
        print(text)
        if args.readme:
            args.readme.write_text(report.replace_section(args.readme.read_text(), text))
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    # Before any process starts: the persistent connections' daemons, double-forked away from ansible-playbook, are
    # re-parented to this process, which reaps them and counts their CPU (benchkit/reaper.py).
    subreaper = reaper.become_subreaper()
    if not subreaper:
        print("warning: cannot become a child subreaper (Linux prctl): the connection daemons' CPU is not counted",
              file=sys.stderr)
    scale = None if args.no_latency else args.scale
    results: list[dict] = []
    if args.only in (None, "tasks"):
        print("== task cost: 30 debug and 30 Exchange module tasks on one server", flush=True)
        results.append(task_cost_scenario(args.work, args.version))
    for count in args.servers if args.only != "tasks" else []:
        if args.only not in ("baseline", "sliced"):
            print(f"== site.yml on {count} server(s), forks {count}", flush=True)
            results.extend(site_scenarios(count, args.work, scale, args.version, not args.no_latency, args.playbook))
        if args.only not in ("site", "sliced"):
            print(f"== per-cmdlet baseline on {count} server(s)", flush=True)
            results.append(baseline_scenario(count, args.work, scale, args.version, not args.no_latency))
    if args.slices > 1 and (args.only in (None, "sliced")):
        count = max(args.servers)
        print(f"== site.yml on {count} servers as {args.slices} slices started together", flush=True)
        results.extend(sliced_scenarios(count, args.slices, args.work, scale, args.version, not args.no_latency,
                                        args.playbook))
    attach_ratios(results)
    equivalence = compare_end_states(args.work, results)
    checks = metrics.check_targets(results)
    command = "python tests/bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    document = {
        "command": command.strip(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "subreaper": subreaper,
        "machine": {"cpus": os.cpu_count(), "loadavg_at_end": os.getloadavg(), "python": platform.python_version()},
        "latency": {"realistic": not args.no_latency, "scale": scale},
        "results": results,
        "targets": checks,
        "same_end_state": equivalence,
    }
    out = args.json or args.work / "results.json"
    out.write_text(json.dumps(document, indent=1, default=str))
    text = report.render(document)
    print(text)
    print(f"\nJSON: {out}")
    if args.readme:
        args.readme.write_text(report.replace_section(args.readme.read_text(), text))
        print(f"README: {args.readme}")
    failed = [r["name"] for r in results if r.get("rc") != 0]
    if failed:
        print("scenarios that failed: " + ", ".join(failed) + " (see their logs in the JSON)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
