"""Fault injection and the latency model, set at start and changeable while the lab runs through ``DIR/faults.json``.

``faults.json`` (every key optional)::

    {
      "ps_start_latency": 0.5,        # seconds per PowerShell process start (times "latency_scale")
      "exchange_load_latency": 4.0,   # seconds per Exchange-shell load (times "latency_scale")
      "latency_scale": 0.1,
      "receive_timeouts": 2,          # the next 2 Receive requests answer HTTP 500 w:TimedOut (code 2150858793)
      "unauthorized": 1,              # the next request answers 401
      "drop_connections": 1,          # the next request's connection is closed without an answer
      "expire_shells": 1,             # the next request finds every open shell of its server gone (shell
                                      # IdleTimeout, WinRM service restart): an old ShellId is w:InvalidSelectors
      "shell_quota": 5,               # concurrent shells per user
      "cmdlet_failures": [            # a named cmdlet fails for a named identity (fnmatch pattern, any if omitted)
        {"cmdlet": "Set-OwaVirtualDirectory", "identity": "EX01\\\\owa*", "message": "An IIS error occurred."}
      ],
      "corrupt_output": 1,            # the next script's stdout is replaced by text that is not JSON
      "cmdlet_delays": [              # a named cmdlet (fnmatch identity as above) answers this long after it ran,
        {"cmdlet": "Get-SendConnector", "seconds": 2}   # outside the organisation lock: other sessions' cmdlets
      ],                              # run meanwhile (a slow domain controller; widens a read-then-write window)
      "cmdlet_barriers": [            # the first N calls of a named cmdlet (any session) hold their answers until
        {"cmdlet": "Get-SendConnector", "parties": 2, "timeout": 30}   # all N have run (or the timeout): N
      ]                               # concurrent runs all read before any writes; later calls are not held
    }

Counted faults ("the next N") are consumed as they fire and the file is rewritten with what is left, so a test
can write the file, run, and read back whether the fault fired.
"""

from __future__ import annotations

import fnmatch
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

DEFAULTS: dict[str, Any] = {
    "ps_start_latency": 0.0,
    "exchange_load_latency": 0.0,
    "latency_scale": 1.0,
    "receive_timeouts": 0,
    "unauthorized": 0,
    "drop_connections": 0,
    "expire_shells": 0,
    "shell_quota": 5,
    "cmdlet_failures": [],
    "corrupt_output": 0,
    "cmdlet_delays": [],
    "cmdlet_barriers": [],
}
COUNTED = ("receive_timeouts", "unauthorized", "drop_connections", "expire_shells", "corrupt_output")
REALISTIC = {"ps_start_latency": 0.5, "exchange_load_latency": 4.0}


class Faults:
    def __init__(self, state_dir: str | os.PathLike, initial: dict[str, Any] | None = None):
        self.path = Path(state_dir) / "faults.json"
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._values = dict(DEFAULTS)
        self._barriers: dict[tuple, list] = {}  # (cmdlet, parties) -> [threading.Barrier, calls so far]
        if initial is not None:
            self.update(initial)
        elif self.path.exists():
            self._reload()
        else:
            self._save()

    def update(self, changes: dict[str, Any]) -> None:
        unknown = set(changes) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        with self._lock:
            self._reload_if_changed()
            self._values.update(changes)
            self._save()

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._values, indent=1, sort_keys=True))
        os.replace(tmp, self.path)
        self._mtime = self.path.stat().st_mtime_ns

    def _reload(self) -> None:
        data = json.loads(self.path.read_text() or "{}")
        self._values = {**DEFAULTS, **{k: v for k, v in data.items() if k in DEFAULTS}}
        self._mtime = self.path.stat().st_mtime_ns

    def _reload_if_changed(self) -> None:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return
        if mtime != self._mtime:
            self._reload()

    def get(self, name: str) -> Any:
        with self._lock:
            self._reload_if_changed()
            return self._values[name]

    def take(self, name: str) -> bool:
        """Consume one counted fault; True when it fires."""
        assert name in COUNTED, name
        with self._lock:
            self._reload_if_changed()
            if int(self._values.get(name) or 0) <= 0:
                return False
            self._values[name] = int(self._values[name]) - 1
            self._save()
            return True

    def sleep(self, kind: str) -> float:
        """Sleep for the modelled latency of ``ps_start`` or ``exchange_load``; returns the seconds slept."""
        seconds = float(self.get(f"{kind}_latency")) * float(self.get("latency_scale"))
        if seconds > 0:
            time.sleep(seconds)
        return seconds

    def cmdlet_delay(self, cmdlet: str, identity: str | None) -> float:
        """The seconds ``cmdlet`` on ``identity`` answers late (the first matching rule), else 0."""
        for rule in self.get("cmdlet_delays"):
            if rule.get("cmdlet", "").casefold() != cmdlet.casefold():
                continue
            pattern = rule.get("identity")
            if pattern is None or (identity is not None and fnmatch.fnmatchcase(identity.casefold(), pattern.casefold())):
                return float(rule.get("seconds") or 0)
        return 0.0

    def cmdlet_barrier(self, cmdlet: str) -> tuple[threading.Barrier, float] | None:
        """(barrier, timeout) when this call of ``cmdlet`` is one of the first ``parties`` of a cmdlet_barriers rule."""
        for rule in self.get("cmdlet_barriers"):
            if rule.get("cmdlet", "").casefold() != cmdlet.casefold():
                continue
            parties = int(rule.get("parties") or 2)
            with self._lock:
                entry = self._barriers.setdefault((cmdlet.casefold(), parties), [threading.Barrier(parties), 0])
                if entry[1] >= parties:
                    return None
                entry[1] += 1
            return entry[0], float(rule.get("timeout") or 30)
        return None

    def cmdlet_failure(self, cmdlet: str, identity: str | None) -> str | None:
        """The injected error message when ``cmdlet`` on ``identity`` is set to fail, else None."""
        for rule in self.get("cmdlet_failures"):
            if rule.get("cmdlet", "").casefold() != cmdlet.casefold():
                continue
            pattern = rule.get("identity")
            if pattern is None or (identity is not None and fnmatch.fnmatchcase(identity.casefold(), pattern.casefold())):
                return rule.get("message") or f"The operation on '{identity}' failed (injected fault)."
        return None
