"""Shared fixtures for the lab's tests.

- ``lab_process``: a factory that starts ``python -m exchange_lab serve`` as a subprocess and returns the parsed
  ``endpoints.json`` (the form integration tests use); every lab it started is stopped with SIGTERM at teardown.
- ``lab_endpoints``: one such lab (Exchange 2019, EX01 and EX02 in corp.contoso.com) shared by the whole session.
- ``winrm_lab``: an in-process lab whose commands run in a scripted fake process (see ``FakeProcess``), for tests of
  the WinRM endpoint that must not depend on the PowerShell interpreter or the Exchange model.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

LAB_ROOT = Path(__file__).resolve().parents[1]  # tests/lab, the directory that holds exchange_lab


# --------------------------------------------------------------------------------------------------------------
# The lab as a subprocess (the CLI contract)


class LabProcess:
    def __init__(self, state_dir: Path, args: list[str]):
        self.state_dir = Path(state_dir)
        self.log_path = self.state_dir / "lab-process.log"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(LAB_ROOT), env.get("PYTHONPATH")]))
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "exchange_lab", "serve", "--state", str(self.state_dir), *args],
            env=env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_endpoints(self, timeout: float = 60.0) -> dict:
        path = self.state_dir / "endpoints.json"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the lab exited with {self.process.returncode} before listening:\n{self.log()}")
            if path.exists():
                return json.loads(path.read_text())
            time.sleep(0.05)
        raise TimeoutError(f"the lab did not write {path} within {timeout} s:\n{self.log()}")

    def stop(self, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


def serve_args(version: str = "2019", servers: tuple[str, ...] = ("EX01", "EX02"), domain: str = "corp.contoso.com", *extra: str) -> list[str]:
    return ["--version", version, "--servers", ",".join(servers), "--domain", domain, "--base-port", "0", *extra]


@pytest.fixture
def lab_process(tmp_path_factory):
    """``start(state_dir=None, version="2019", servers=("EX01", "EX02"), domain="corp.contoso.com", extra_args=())``
    starts a lab subprocess and returns its endpoints.json (plus ``"process"``: the LabProcess)."""
    started: list[LabProcess] = []

    def start(state_dir=None, version="2019", servers=("EX01", "EX02"), domain="corp.contoso.com", extra_args=()) -> dict:
        state = Path(state_dir) if state_dir else tmp_path_factory.mktemp("lab")
        lab = LabProcess(state, serve_args(version, tuple(servers), domain, *extra_args))
        started.append(lab)
        endpoints = lab.wait_for_endpoints()
        endpoints["process"] = lab
        return endpoints

    yield start
    for lab in started:
        lab.stop()


@pytest.fixture(scope="session")
def lab_endpoints(tmp_path_factory):
    """One lab subprocess for the session: Exchange 2019, EX01 and EX02, corp.contoso.com."""
    lab = LabProcess(tmp_path_factory.mktemp("session-lab"), serve_args())
    try:
        endpoints = lab.wait_for_endpoints()
        endpoints["process"] = lab
        yield endpoints
    finally:
        lab.stop()


# --------------------------------------------------------------------------------------------------------------
# An in-process lab with a fake organisation and a scripted fake process


class FakeOrganization:
    """Just what the WinRM endpoint and the CLI need from exchange_lab.exchange.Organization."""

    def __init__(self, version: str = "2019", servers: tuple[str, ...] = ("EX01", "EX02"), domain: str = "corp.contoso.com"):
        self.version = version
        self.domain = domain
        self.netbios_domain = domain.split(".")[0].upper()
        self._servers = list(servers)

    def server_names(self) -> list[str]:
        return list(self._servers)

    def server_fqdn(self, name: str) -> str:
        return f"{name.lower()}.{self.domain}"

    def snapshot(self) -> dict:
        return {"version": self.version, "domain": self.domain, "servers": self._servers}


class FakeProcess:
    """A scripted stand-in for exchange_lab.powershell.host.PowerShellProcess.

    Command lines: ``echo TEXT`` (stdout, exit 0); ``fail CODE TEXT`` (stderr, exit CODE); ``cat`` (stdin copied to
    stdout until stdin ends, then exit 0); ``wait SECONDS`` (no output, exit 0 after SECONDS); ``powershell
    -encodedcommand B64`` (prints the decoded script, exit 0); anything else fails like cmd.exe.
    """

    def __init__(self, server: str, user: str, command_line: str):
        self.server, self.user, self.command_line = server, user, command_line
        self._changed = threading.Condition()
        self._stdout = b""
        self._stderr = b""
        self.exit_code: int | None = None
        self.terminated = False
        self.stdin = b""
        self.stdin_ended = False
        self._exit_at: float | None = None
        words = command_line.split(" ", 2)
        verb = words[0].lower()
        if verb == "echo":
            self._finish(command_line[5:].encode() + b"\r\n", b"", 0)
        elif verb == "fail":
            self._finish(b"", (words[2] if len(words) > 2 else "").encode() + b"\r\n", int(words[1]))
        elif verb == "wait":
            self._exit_at = time.monotonic() + float(words[1])
        elif verb == "powershell" and len(words) == 3 and words[1].lower() == "-encodedcommand":
            self._finish(base64.b64decode(words[2]).decode("utf-16-le").encode(), b"", 0)
        elif verb != "cat":
            message = f"'{words[0]}' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"
            self._finish(b"", message.encode(), 1)

    def _finish(self, stdout: bytes, stderr: bytes, code: int) -> None:
        self._stdout += stdout
        self._stderr += stderr
        self.exit_code = code

    def send_stdin(self, data: bytes, end: bool) -> None:
        with self._changed:
            self.stdin += data
            if self.command_line == "cat" and self.exit_code is None:
                self._stdout += data
                if end:
                    self.exit_code = 0
            self.stdin_ended = self.stdin_ended or end
            self._changed.notify_all()

    def receive(self, timeout: float) -> tuple[bytes, bytes, int | None]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (self._stdout or self._stderr or self.exit_code is not None):
                if self._exit_at is not None and time.monotonic() >= self._exit_at:
                    self.exit_code = 0
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                wake = remaining if self._exit_at is None else min(remaining, max(0.0, self._exit_at - time.monotonic()))
                self._changed.wait(wake)
            out, err = self._stdout, self._stderr
            self._stdout = self._stderr = b""
            return out, err, self.exit_code

    def terminate(self) -> None:
        with self._changed:
            self.terminated = True
            if self.exit_code is None:
                self.exit_code = -1073741510  # STATUS_CONTROL_C_EXIT, what a terminated console process reports
            self._changed.notify_all()


@dataclass
class FakeProcesses:
    """The process factory handed to the lab; remembers every process it started."""

    started: list[FakeProcess] = field(default_factory=list)

    def __call__(self, lab, server: str, user: str, command_line: str) -> FakeProcess:
        process = FakeProcess(server, user, command_line)
        self.started.append(process)
        return process


@dataclass
class WinRMLab:
    lab: object  # exchange_lab.lab.Lab
    processes: FakeProcesses
    second_user: tuple[str, str]  # (DOMAIN\\name, password) of a second lab user

    @property
    def context(self):
        return self.lab.context

    @property
    def endpoints(self) -> dict:
        return self.lab.endpoints

    def url(self, server: str = "EX01", scheme: str = "http") -> str:
        return self.endpoints["servers"][server][scheme]


@pytest.fixture(scope="session")
def _winrm_lab_session(tmp_path_factory):
    from exchange_lab.ca import LabCA
    from exchange_lab.context import LabContext
    from exchange_lab.faults import Faults
    from exchange_lab.lab import Lab
    from exchange_lab.observe import Observer
    from exchange_lab.users import Users

    state = tmp_path_factory.mktemp("winrm-lab")
    org = FakeOrganization()
    users = Users(state / "users.txt", org.netbios_domain)
    # A second user, for per-user quotas and shell ownership.
    second = ("operator", "Op-" + base64.b32encode(os.urandom(10)).decode())
    with users.path.open("a") as handle:
        handle.write(f"{org.netbios_domain}:{second[0]}:{second[1]}\n")
    users = Users(users.path, org.netbios_domain)
    context = LabContext(state, org, users, LabCA(state), Faults(state), Observer(state, users.passwords()))
    processes = FakeProcesses()
    lab = Lab.start(state, context=context, process_factory=processes)
    try:
        yield WinRMLab(lab, processes, (f"{org.netbios_domain}\\{second[0]}", second[1]))
    finally:
        lab.stop()


@pytest.fixture
def winrm_lab(_winrm_lab_session):
    """The in-process fake lab with faults, counters and transcript reset and no shells left from an earlier test."""
    from exchange_lab.faults import DEFAULTS

    lab = _winrm_lab_session
    lab.context.faults.update(dict(DEFAULTS))
    for service in lab.lab.services.values():
        service.shells.close_all()
    lab.processes.started.clear()
    lab.context.observer.reset()
    yield lab
    for service in lab.lab.services.values():
        service.shells.close_all()
