"""Start and stop a lab for one scenario; read its counters, its state and its own CPU time."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from benchkit import reaper

REPO = Path(__file__).resolve().parents[3]
LAB_ROOT = REPO / "tests" / "lab"
# The bench's organisation is inventory/lab's (benchkit.organisation): its DNS records, written out from the seeds'
# tables, are the demo organisation's zones file - the lab's first server is the private CNAMEs' target at any size.
DEMO_ZONES = LAB_ROOT / "zones" / "demo.json"


def server_names(count: int) -> list[str]:
    if count < 1 or count > 99:
        raise ValueError(f"between 1 and 99 servers, got {count}")
    return [f"EX{i:02d}" for i in range(1, count + 1)]


class RunningLab:
    """``python -m exchange_lab serve`` in a fresh state directory (a subprocess, SIGTERM at the end)."""

    def __init__(self, state_dir: Path, servers: list[str], version: str = "2019", latency_scale: float | None = None,
                 realistic: bool = True, python: str = sys.executable, start_timeout: float = 180.0,
                 zones: Path = DEMO_ZONES):
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.servers = servers
        self.log_path = self.state_dir / "lab-process.log"
        args = [python, "-m", "exchange_lab", "serve", "--state", str(self.state_dir), "--version", version,
                "--servers", ",".join(servers), "--domain", "corp.contoso.com", "--base-port", "0",
                "--zones", str(zones)]
        if realistic:
            args.append("--realistic-latency")
        if latency_scale is not None:
            args += ["--latency-scale", repr(float(latency_scale))]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(LAB_ROOT), env.get("PYTHONPATH")]))
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(args, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, cwd=str(REPO))
        reaper.protect(self.process.pid)  # waited for by stop(), never by the adoption of a measured run's orphans
        self.endpoints = self._wait(start_timeout)

    def _wait(self, timeout: float) -> dict:
        path = self.state_dir / "endpoints.json"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the lab exited with {self.process.returncode} before listening:\n{self.log()}")
            if path.exists():
                try:
                    data = json.loads(path.read_text())
                except ValueError:
                    data = None
                if data and set(self.servers) <= set(data.get("servers", {})):
                    return data
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the lab did not write {path} within {timeout:.0f} s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def counters(self) -> dict:
        path = self.state_dir / "counters.json"
        for _ in range(50):
            try:
                return json.loads(path.read_text()) if path.exists() else {"servers": {}}
            except ValueError:  # being rewritten
                time.sleep(0.02)
        raise RuntimeError(f"cannot read {path}")

    def faults(self) -> dict:
        return json.loads((self.state_dir / "faults.json").read_text())

    def state_digest(self) -> str:
        """SHA-256 of the organisation (``show-state``): equal digests mean nothing was written."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(LAB_ROOT), env.get("PYTHONPATH")]))
        out = subprocess.run([sys.executable, "-m", "exchange_lab", "show-state", "--state", str(self.state_dir)],
                             env=env, capture_output=True, check=True, cwd=str(REPO)).stdout
        return hashlib.sha256(out).hexdigest()

    def snapshot(self) -> dict:
        return snapshot(self.state_dir)

    def cpu_seconds(self) -> float | None:
        """user+system CPU of the lab process and its reaped children (from /proc), None where unavailable."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        ticks = os.sysconf("SC_CLK_TCK")
        # fields[0] is the state (field 3); utime, stime, cutime, cstime are fields 14-17.
        return sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        reaper.unprotect(self.process.pid)
        self._log.close()

    def __enter__(self) -> "RunningLab":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def snapshot(state_dir: Path) -> dict:
    """The organisation of a lab state directory (``show-state``; the lab need not be running)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(LAB_ROOT), env.get("PYTHONPATH")]))
    out = subprocess.run([sys.executable, "-m", "exchange_lab", "show-state", "--state", str(state_dir)],
                         env=env, capture_output=True, check=True, cwd=str(REPO)).stdout
    return json.loads(out)
