"""Helpers for the lab's tests (imported by conftest.py and by tests; a unique module name, unlike ``conftest``).

- ``LabProcess`` / ``serve_args``: ``python -m exchange_lab serve`` as a subprocess, waiting for endpoints.json.
- ``FakeOrganization``, ``FakeProcess``, ``FakeProcesses``: stand-ins for the Exchange model and the PowerShell host
  so the WinRM endpoint can be tested on its own.
- ``session``, ``protocol``: pywinrm clients for a lab (``WinRMLab``); ``http_lines``: its transcript's HTTP lines.
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

import winrm

LAB_ROOT = Path(__file__).resolve().parents[1]  # tests/lab, the directory that holds exchange_lab


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


def serve_args(version: str | None = "2019", servers: tuple[str, ...] | None = ("EX01", "EX02"), domain: str | None = "corp.contoso.com", *extra: str) -> list[str]:
    """``serve`` arguments; a seed argument given as None is left out (to reopen an existing organisation as it is)."""
    args = []
    if version is not None:
        args += ["--version", version]
    if servers is not None:
        args += ["--servers", ",".join(servers)]
    if domain is not None:
        args += ["--domain", domain]
    return [*args, "--base-port", "0", *extra]


# --------------------------------------------------------------------------------------------------------------
# Stand-ins for the organisation and the PowerShell host


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


# --------------------------------------------------------------------------------------------------------------
# pywinrm clients for an in-process lab


def session(lab, scheme="http", transport="ntlm", server="EX01", username=None, password=None, **options) -> winrm.Session:
    return winrm.Session(
        lab.url(server, scheme),
        auth=(username or lab.endpoints["username"], password or lab.endpoints["password"]),
        transport=transport,
        server_cert_validation="validate",
        ca_trust_path=lab.endpoints["ca_bundle"],
        **options,
    )


def protocol(lab, scheme="http", transport="ntlm", server="EX01", username=None, password=None, **options) -> winrm.protocol.Protocol:
    return winrm.protocol.Protocol(
        lab.url(server, scheme),
        transport=transport,
        username=username or lab.endpoints["username"],
        password=password or lab.endpoints["password"],
        server_cert_validation="validate",
        ca_trust_path=lab.endpoints["ca_bundle"],
        **options,
    )


def http_lines(lab) -> list[dict]:
    lines = [json.loads(line) for line in lab.context.observer.transcript_path.read_text().splitlines()]
    return [line for line in lines if line["kind"] == "http"]
