"""The text report (table, targets, the command that produced them) and the README section it replaces."""

from __future__ import annotations

from benchkit import metrics

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"


def render(document: dict) -> str:
    latency = document.get("latency") or {}
    if latency.get("realistic"):
        model = (f"realistic latency model (0.5 s per PowerShell start, 4 s per Exchange-shell load) x scale "
                 f"{latency.get('scale')}")
    else:
        model = "no injected latency"
    machine = document.get("machine") or {}
    lines = [
        f"Command: {document.get('command')}",
        f"Date: {document.get('date')}; {machine.get('cpus')} CPUs; {model}",
        "",
        metrics.format_table(document.get("results") or []),
        "",
    ]
    for cost in (r for r in document.get("results") or [] if r.get("kind") == "task_cost"):
        lines += [f"Task cost (one server, no injected latency, {cost.get('tasks')} tasks each): a debug task "
                  f"{metrics._fmt(cost.get('debug_task_cpu_s'), 3)} s, an Exchange module task over the connection "
                  f"{metrics._fmt(cost.get('module_task_cpu_s'), 3)} s of controller CPU = "
                  f"{metrics._fmt(cost.get('module_to_debug'), 2)}x", ""]
    lines += [
        "x columns: baseline / scenario on the same number of servers (higher is better); 'est. wall s @1.0' adds the",
        "busiest server's injected latency at scale 1.0 to the measured wall time (an estimate). 'ctl CPU s' includes",
        "'adopted CPU s': processes re-parented to the harness (the connection's session brokers) and reaped by it.",
        "'EMS loads/host': Exchange-shell loads of the busiest server (with the session broker: per host and play).",
        "",
        "Targets:",
        metrics.format_targets(document.get("targets") or []),
    ]
    notes = metrics.adoption_notes(document.get("results") or [])
    if notes:
        lines += ["", "Notes:"] + [f"- {n}" for n in notes]
    same = document.get("same_end_state") or {}
    if same:
        lines += ["", "Same organisation after site.yml as after the baseline (generated GUIDs, keys, thumbprints aside): "
                  + ", ".join(f"{n} server(s): {'yes' if v['same'] else 'NO - ' + '; '.join(v['differences'][:3])}"
                              for n, v in sorted(same.items(), key=lambda kv: int(kv[0])))]
    errors = [(r["name"], r.get("errors") or r.get("failed_tasks")) for r in document.get("results") or []
              if r.get("rc") != 0]
    if errors:
        lines += ["", "Failures:"]
        for name, detail in errors:
            lines.append(f"- {name}: {'; '.join(map(str, detail or [])) or 'see its log'}")
    return "\n".join(lines)


def replace_section(text: str, content: str) -> str:
    """Put ``content`` (in a code block) between the bench markers of a README, appending them when missing."""
    block = f"{BEGIN}\n```text\n{content.rstrip()}\n```\n{END}"
    start, end = text.find(BEGIN), text.find(END)
    if start == -1 and end == -1:
        return text.rstrip("\n") + "\n\n" + block + "\n"
    if start == -1 or end == -1 or end < start:
        raise ValueError(f"the README has a broken benchmark section (needs {BEGIN} before {END})")
    return text[:start] + block + text[end + len(END):]
