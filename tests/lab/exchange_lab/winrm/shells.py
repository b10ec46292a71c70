"""Remote shells and their commands (winrs), with the per-user shell quota and idle time-out of the WinRM service."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from . import soap

# Windows' default winrs IdleTimeout: 7,200,000 ms.
DEFAULT_IDLE_TIMEOUT = 7200.0


class Process(Protocol):
    """What the PowerShell host gives back for a command line (exchange_lab.powershell.host.PowerShellProcess)."""

    def send_stdin(self, data: bytes, end: bool) -> None: ...

    def receive(self, timeout: float) -> tuple[bytes, bytes, int | None]: ...

    def terminate(self) -> None: ...


# start_process(lab, server, user, command_line)
ProcessFactory = Callable[[object, str, str, str], Process]


def new_id() -> str:
    return str(uuid.uuid4()).upper()


@dataclass
class CommandRun:
    id: str
    command_line: str
    process: Process
    exit_code: int | None = None
    stdin_closed: bool = False
    # Separate locks: a Receive long-polls while a Send on another connection feeds the same process.
    stdin_lock: threading.Lock = field(default_factory=threading.Lock)
    receive_lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Shell:
    id: str
    owner: str  # DOMAIN\user
    input_streams: str
    output_streams: str
    idle_timeout: float
    last_used: float = field(default_factory=time.monotonic)
    commands: dict[str, CommandRun] = field(default_factory=dict)

    def touch(self) -> None:
        self.last_used = time.monotonic()

    def command(self, command_id: str | None) -> CommandRun:
        run = self.commands.get(command_id or "")
        if run is None:
            raise soap.invalid_selectors()
        return run

    def terminate_all(self) -> None:
        for run in list(self.commands.values()):
            _terminate_quietly(run.process)
        self.commands.clear()


def _terminate_quietly(process: Process) -> None:
    try:
        process.terminate()
    except Exception:  # a process that already ended may refuse; the shell is going away regardless
        pass


class ShellTable:
    """The shells of one WinRM service (one lab server)."""

    def __init__(self, quota: Callable[[], int]):
        self._quota = quota
        self._lock = threading.Lock()
        self._shells: dict[str, Shell] = {}

    def _expire_idle(self) -> None:
        now = time.monotonic()
        for shell_id, shell in list(self._shells.items()):
            if now - shell.last_used > shell.idle_timeout:
                shell.terminate_all()
                del self._shells[shell_id]

    def create(self, owner: str, input_streams: str, output_streams: str, idle_timeout: float | None) -> Shell:
        with self._lock:
            self._expire_idle()
            limit = int(self._quota())
            owned = sum(1 for shell in self._shells.values() if shell.owner.casefold() == owner.casefold())
            if owned >= limit:
                raise soap.quota_exceeded(limit)
            shell = Shell(new_id(), owner, input_streams, output_streams, idle_timeout or DEFAULT_IDLE_TIMEOUT)
            self._shells[shell.id] = shell
            return shell

    def get(self, shell_id: str | None, owner: str) -> Shell:
        with self._lock:
            self._expire_idle()
            shell = self._shells.get((shell_id or "").upper())
        if shell is None:
            raise soap.invalid_selectors()
        if shell.owner.casefold() != owner.casefold():
            # Shells belong to the user who created them; another user may not drive them.
            raise soap.access_denied()
        shell.touch()
        return shell

    def delete(self, shell_id: str | None, owner: str) -> None:
        shell = self.get(shell_id, owner)
        with self._lock:
            self._shells.pop(shell.id, None)
        shell.terminate_all()

    def count(self, owner: str | None = None) -> int:
        with self._lock:
            return sum(1 for shell in self._shells.values() if owner is None or shell.owner.casefold() == owner.casefold())

    def close_all(self) -> int:
        """Terminate and forget every shell (service stop, or the ``expire_shells`` fault); returns how many."""
        with self._lock:
            shells, self._shells = list(self._shells.values()), {}
        for shell in shells:
            shell.terminate_all()
        return len(shells)
