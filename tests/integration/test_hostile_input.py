"""Hostile strings through a real module against the lab (issue 7): they reach Exchange verbatim and never run.

The unit-level property (tests/unit/test_hostile_input.py) covers thousands of values through the modules and the
grammar; here a modest number go the whole way - ansible-playbook, pywinrm, the lab's WinRM service, its PowerShell
parser and evaluator, the Exchange cmdlet - and the lab's state must hold exactly the string. A value that escaped
its literal would either fail to parse, run a command (the transcript's cmdlets are checked) or change the stored
value.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from labstate import changes, find, props
from labtools import REPO, _ansible_playbook, write_commands

pytestmark = pytest.mark.slow

HOSTILE = [
    "'", '"', "\u2018", "\u2019", "\u201c", "\u201d", "`", "`n", "$", "$(", "${", "}", "$(Get-Date)",
    "${env:PATH}", "$env:USERNAME", "@(", ")", ";", "|", "&", "#", "<#", "#>", "\n", "\t", "-Force", "--%", "é",
    "日本", "😀", "\\", "''", "@'", "'@", "'; Remove-SendConnector -Identity * -Confirm:$false; '",
    "\"; Set-SendConnector -Identity x -Comment pwned; \"",
]
NAME = "Hostile input test"


def comments():
    pieces = st.one_of(st.sampled_from(HOSTILE),
                       st.text(alphabet=st.characters(blacklist_characters="\x00\r", blacklist_categories=("Cs", "Cc")),
                               max_size=6))
    return st.lists(pieces, min_size=1, max_size=6).map("".join)


NAMES = ["Hostile input %d" % i for i in range(1, 9)]


def run_tasks(lab, tasks):
    """One ansible-playbook run of several module tasks (one process: cheaper than one run per value)."""
    work = Path(tempfile.mkdtemp())
    out = work / "results.json"
    plays = [{"name": "task %d" % i, "mailops.exchange.%s" % module: args, "register": "r%d" % i,
              "ignore_errors": True} for i, (module, args) in enumerate(tasks)]
    plays.append({"name": "save", "ansible.builtin.copy": {
        "content": "{{ [%s] | to_json }}" % ", ".join("r%d" % i for i in range(len(tasks))), "dest": str(out)}})
    playbook = work / "play.yml"
    playbook.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": plays}]))
    mark = lab.mark()
    completed = subprocess.run([_ansible_playbook(), "-i", "localhost,", "-c", "local", "-e",
                                "ansible_python_interpreter=%s" % sys.executable, str(playbook)],
                               env=lab.env(), capture_output=True, text=True, cwd=str(REPO), timeout=600)
    assert out.exists(), completed.stdout[-3000:] + completed.stderr[-3000:]
    lab.last_run = {"transcript": lab.transcript(mark), "stdout": completed.stdout, "stderr": completed.stderr}
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def connectors(lab):
    base = {"usage": "Internet", "address_spaces": ["*"], "dns_routing_enabled": True, "fqdn": "mail.contoso.com"}
    results = run_tasks(lab, [("exchange_send_connector", dict(base, name=name)) for name in NAMES])
    assert not [r for r in results if r.get("failed")], results
    yield lab
    run_tasks(lab, [("exchange_send_connector", {"name": name, "state": "absent"}) for name in NAMES])


def _only_comment(path):
    """A state path that is the Comment (or a modification timestamp) of one of this test's connectors."""
    return any(part in NAMES for part in path) and path[-1] in ("Comment", "WhenChanged", "WhenChangedUTC")


def usable(comment):
    # Ansible templates "{{ }}"/"{% %}" in task arguments before the module sees them: not the module's input.
    # Exchange keeps a comment as given; the module treats surrounding whitespace as insignificant.
    return comment and comment.strip() == comment and not any(m in comment for m in ("{{", "{%", "{#"))


@settings(max_examples=3, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(values=st.lists(comments().filter(usable), min_size=len(NAMES), max_size=len(NAMES)))
def test_send_connector_comments_are_stored_verbatim(connectors, values):
    """8 hostile comments per example, 3 examples: 24 values through the whole stack, each read back twice."""
    lab = connectors
    tasks = [("exchange_send_connector", {"name": name, "comment": value}) for name, value in zip(NAMES, values)]
    before = lab.lab_state()
    results = run_tasks(lab, tasks)
    for value, result in zip(values, results):
        assert result.get("failed") is not True, (value, result)
        assert [c.split(" ", 1)[0] for c in result["commands"]] == (["Set-SendConnector"] if result["changed"] else [])
    # Nothing ran but the intended Set-SendConnector: the state changed only in the Comment of these connectors
    # (an injected command would have changed or removed something else). write_commands() is not used here: it
    # counts cmdlet names in the script text, and some values contain "Set-SendConnector" as text.
    state = lab.lab_state()
    for path in changes(before, state):
        assert _only_comment(path), path
    for line in lab.last_run["transcript"]:
        assert "pwned" not in str(line.get("command_line") or "")
    for name, value in zip(NAMES, values):
        stored = props(find(state, "send_connectors", name))["Comment"]
        assert stored == value, (name, stored, value)
    assert all(find(state, "send_connectors", n) for n in NAMES)
    assert find(state, "send_connectors", "x") is None
    # Idempotence with the same hostile values: the module reads each back as it stored it.
    again = run_tasks(lab, tasks)
    assert [r.get("changed") for r in again] == [False] * len(NAMES), [(v, r) for v, r in zip(values, again)
                                                                        if r.get("changed") is not False]
    assert write_commands(lab) == []
