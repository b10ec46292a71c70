"""Count the CPU of the processes a measured run leaves behind (the session brokers of the connection).

The ``mailops.exchange.exchange`` connection starts one session broker per host and play
(``plugins/plugin_utils/exchange_broker.py``) from the task's worker process; when the worker exits, the broker is
re-parented away from ansible-playbook, so ``os.wait4(ansible-playbook)`` never includes its CPU (the same holds for
ansible-connection's double-forked daemons). The harness makes itself a *child subreaper*
(``prctl(PR_SET_CHILD_SUBREAPER)``, Linux): every orphaned descendant of a measured run is then re-parented to the
harness, which reaps it with ``os.wait4`` and adds its rusage to the run's controller CPU.

Only children that appeared during the measured run are touched: the labs (registered with :func:`protect`) and
anything that was already a child before the run started are never waited for here.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
_PROTECTED: set[int] = set()
_SUBREAPER = False

# An adopted process is a session broker (or a persistent-connection daemon) when its command line says so.
# mailops.exchange.exchange's session broker (plugins/plugin_utils/exchange_broker.py), or ansible-connection for
# NetworkConnectionBase-style persistent connections.
DAEMON_MARKERS = ("mailops.exchange.plugins.plugin_utils.exchange_broker", "ansible_connection_cli_stub",
                  "ansible-connection")
DAEMON_MIN_LIFETIME_S = 1.0


def become_subreaper() -> bool:
    """Make this process a child subreaper (Linux); False where that is impossible (nothing adopted then)."""
    global _SUBREAPER
    if _SUBREAPER:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    _SUBREAPER = True
    return True


def is_subreaper() -> bool:
    return _SUBREAPER


def protect(pid: int) -> None:
    """A child the harness waits for itself (a lab): never reaped by the adoption loop."""
    _PROTECTED.add(pid)


def unprotect(pid: int) -> None:
    _PROTECTED.discard(pid)


def children() -> set[int]:
    """PIDs whose parent is this process (zombies included)."""
    me = os.getpid()
    try:
        pids: set[int] = set()
        for task in Path(f"/proc/{me}/task").iterdir():
            pids.update(int(p) for p in (task / "children").read_text().split())
        return pids
    except (OSError, ValueError):
        pass
    pids = set()  # no CONFIG_PROC_CHILDREN: scan /proc
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat and stat["ppid"] == me:
                pids.add(int(entry.name))
    return pids


def _stat(pid: int) -> dict | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # fields[0] is the state (field 3 of proc(5)): ppid, pgrp and session follow.
    return {"state": fields[0], "ppid": int(fields[1]), "session": int(fields[3])}


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


class Adopter:
    """Watches the children that appear while one measured process runs, and reaps them (``os.wait4``)."""

    def __init__(self, measured_pid: int):
        self.measured_pid = measured_pid
        self.preexisting = children() - {measured_pid}
        self.seen: dict[int, dict] = {}  # pid -> {"cmdline", "daemon", "first_seen_s"}
        self.reaped: list[dict] = []
        self.started = time.monotonic()

    def _candidates(self) -> set[int]:
        return children() - self.preexisting - _PROTECTED - {self.measured_pid}

    def poll(self) -> list[int]:
        """Record new adoptees (command line while alive), reap the ones that exited; return the live ones."""
        alive = []
        for pid in sorted(self._candidates()):
            stat = _stat(pid)
            info = self.seen.get(pid)
            if info is None:
                info = self.seen[pid] = {"cmdline": "", "daemon": False,
                                         "first_seen_s": round(time.monotonic() - self.started, 2)}
            if stat and stat["state"] != "Z" and not info["cmdline"]:
                info["cmdline"] = _cmdline(pid)[:300]
                # A daemon runs one of the markers and lives until the end of the play (_record checks the lifetime:
                # ansible-connection's intermediate forks carry the same command line but exit at once).
                info["daemon"] = any(m in info["cmdline"] for m in DAEMON_MARKERS)
            try:
                got, status, usage = os.wait4(pid, os.WNOHANG)
            except ChildProcessError:
                self.seen.pop(pid, None)  # reaped elsewhere (never by this harness): not ours to count
                continue
            if got == 0:
                alive.append(pid)
                continue
            self._record(pid, status, usage, killed=False)
        return alive

    def _record(self, pid: int, status: int, usage, killed: bool) -> None:
        info = self.seen.pop(pid, {"cmdline": "", "daemon": False, "first_seen_s": None})
        reaped_s = round(time.monotonic() - self.started, 2)
        # An intermediate fork looks like the daemon (same command line) but exits within milliseconds.
        lived = info["first_seen_s"] is not None and reaped_s - info["first_seen_s"] >= DAEMON_MIN_LIFETIME_S
        self.reaped.append({"pid": pid, "cmdline": info["cmdline"], "daemon": info["daemon"] and lived,
                            "killed": killed, "first_seen_s": info["first_seen_s"], "reaped_s": reaped_s,
                            "exit": os.waitstatus_to_exitcode(status),
                            "cpu_s": usage.ru_utime + usage.ru_stime})

    def drain(self, timeout: float) -> dict:
        """After the measured process exited: wait up to ``timeout`` s for the adoptees, then kill what is left."""
        drain_started = time.monotonic()
        alive_at_exit = self.poll()
        deadline = drain_started + timeout
        alive = alive_at_exit
        while alive and time.monotonic() < deadline:
            time.sleep(0.1)
            alive = self.poll()
        leftover = []
        for pid in alive:  # a bug: the play's end should have closed them
            leftover.append({"pid": pid, "cmdline": self.seen.get(pid, {}).get("cmdline") or _cmdline(pid),
                             "timeout_s": timeout})
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        kill_deadline = time.monotonic() + 5
        while alive and time.monotonic() < kill_deadline:
            time.sleep(0.1)
            alive = self.poll()
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
                _got, status, usage = os.wait4(pid, 0)
                self._record(pid, status, usage, killed=True)
            except (ProcessLookupError, ChildProcessError):
                pass
        for entry in self.reaped:
            if any(entry["pid"] == item["pid"] for item in leftover):
                entry["killed"] = True
        daemons = [e for e in self.reaped if e["daemon"]]
        return {
            "adopted_processes": len(self.reaped),
            "adopted_daemons": len(daemons),
            "adopted_cpu_s": round(sum(e["cpu_s"] for e in self.reaped), 3),
            "adopted_daemon_cpu_s": round(sum(e["cpu_s"] for e in daemons), 3),
            "adopted_alive_at_exit": len(alive_at_exit),
            "adopted_drain_s": round(time.monotonic() - drain_started, 2),
            "leftover_daemons": leftover,
            "adopted": [dict(e, cpu_s=round(e["cpu_s"], 3)) for e in self.reaped],
        }


def wait_measured(process: subprocess.Popen, adopter: Adopter | None, interval: float = 0.25):
    """``os.wait4`` of ``process``, polling ``adopter`` meanwhile; returns ``(status, rusage)`` at the exact exit."""
    if adopter is None:
        _pid, status, usage = os.wait4(process.pid, 0)
        return status, usage
    pidfd = None
    if hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(process.pid)
        except OSError:
            pidfd = None
    try:
        while True:
            if pidfd is not None:
                select.select([pidfd], [], [], interval)
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                return status, usage
            adopter.poll()
            if pidfd is None:
                time.sleep(interval / 5)
    finally:
        if pidfd is not None:
            os.close(pidfd)
