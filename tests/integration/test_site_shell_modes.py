"""site.yml in the other ``exchange_shell`` modes: converges, then changes nothing, with one certificate request per
server (issue 11).

The molecule scenarios run the whole procedure on 2013, 2016 and 2019 with the default mode (``remote_session``, a
plain Import-PSSession); this runs it on a fresh 2019 lab (EX01, EX02) as ``make demo`` does, with
``remote_exchange_script`` (the Exchange Management Shell's own loading: objects rebuilt with Exchange's types) and
``snapin`` (live objects, ordinary error semantics).
"""

from __future__ import annotations

import collections
import re
import subprocess
from pathlib import Path

import pytest
from labtools import BIN, REPO, Lab, playbook_env


def site(lab: Lab, mode: str) -> subprocess.CompletedProcess:
    env = playbook_env(lab)
    return subprocess.run([str(BIN / "ansible-playbook"), "site.yml", "-i", "inventory/lab", "-e",
                           "exchange_shell=%s" % mode], env=env, cwd=str(REPO), capture_output=True, text=True,
                          timeout=1200)


def recap(output: str) -> dict:
    return {m.group(1): dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2)))
            for m in re.finditer(r"^(\S+)\s+: (ok=.*)$", output, re.M)}


def requests_per_server(lab: Lab) -> dict:
    return dict(collections.Counter(entry["server"] for entry in lab.transcript()
                                    if entry.get("kind") == "script" and "-GenerateRequest" in (entry.get("script") or "")))


@pytest.mark.parametrize("mode", ["remote_exchange_script", "snapin"])
def test_site_converges_in_each_shell_mode(tmp_path, mode):
    lab = Lab("2019", tmp_path / "lab")
    try:
        first = site(lab, mode)
        assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-3000:]
        second = site(lab, mode)
        assert second.returncode == 0, second.stdout[-6000:] + second.stderr[-3000:]
        hosts = recap(second.stdout)
        assert {"EX01", "EX02"} <= set(hosts), second.stdout[-3000:]
        assert all(counts["changed"] == 0 and counts["failed"] == 0 for counts in hosts.values()), hosts
        assert requests_per_server(lab) == {"EX01": 1, "EX02": 1}
        # The load of the mode asked for, not the default one.
        loads = [entry for entry in lab.transcript() if entry.get("kind") == "script"
                 and ("Connect-ExchangeServer" in (entry.get("script") or "")
                      or "Add-PSSnapin" in (entry.get("script") or ""))]
        assert loads and all(("Add-PSSnapin" if mode == "snapin" else "Connect-ExchangeServer") in e["script"]
                             for e in loads)
    finally:
        lab.stop()

