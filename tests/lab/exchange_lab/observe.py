"""What the lab saw: ``transcript.jsonl`` (one line per WinRM request and per script run) and ``counters.json``.

Every password the lab knows (the users file) is replaced by ``********`` before anything is written, and the
``masked`` list of the line names the fields where that happened, so a secret that reached a command line shows.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

MASK = "********"
COUNTER_NAMES = ("http_requests", "shells", "ps_processes", "exchange_loads", "scripts")


# PowerShell's single-quote characters: a secret inside a quoted literal appears with each of them doubled.
_SINGLE_QUOTES = ("'", "\u2018", "\u2019", "\u201a", "\u201b")


def _spellings(secret: str) -> set[str]:
    """The secret as written and as it appears inside a single-quoted PowerShell literal."""
    quoted = secret
    for quote in _SINGLE_QUOTES:
        quoted = quoted.replace(quote, quote * 2)
    return {secret, quoted}


class Observer:
    def __init__(self, state_dir: str | os.PathLike, secrets: list[str] | None = None):
        self.directory = Path(state_dir)
        self.transcript_path = self.directory / "transcript.jsonl"
        self.counters_path = self.directory / "counters.json"
        self._lock = threading.Lock()
        self._secrets = sorted({form for s in (secrets or []) if s for form in _spellings(s)}, key=len, reverse=True)
        self._counters: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTER_NAMES, 0))
        if self.counters_path.exists():
            for server, values in json.loads(self.counters_path.read_text()).get("servers", {}).items():
                self._counters[server].update(values)

    def add_secret(self, secret: str) -> None:
        with self._lock:
            if secret:
                self._secrets = sorted(set(self._secrets) | _spellings(secret), key=len, reverse=True)

    def mask(self, text: str) -> tuple[str, bool]:
        masked = False
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
                masked = True
        return text, masked

    def count(self, server: str, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counters[server][name] = self._counters[server].get(name, 0) + amount
            self._write_counters()

    def counters(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {server: dict(values) for server, values in self._counters.items()}

    def reset(self) -> None:
        """Zero the counters and empty the transcript (benchmarks and tests measure from a clean start)."""
        with self._lock:
            self._counters.clear()
            self._write_counters()
            self.transcript_path.write_text("")

    def _write_counters(self) -> None:
        tmp = self.counters_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"servers": self._counters, "updated": time.time()}, indent=1, sort_keys=True))
        os.replace(tmp, self.counters_path)

    def record(self, kind: str, server: str, **fields: Any) -> None:
        """Append one transcript line; string fields are masked."""
        line: dict[str, Any] = {"time": round(time.time(), 6), "kind": kind, "server": server}
        masked_fields = []
        for key, value in fields.items():
            if isinstance(value, str):
                value, hit = self.mask(value)
                if hit:
                    masked_fields.append(key)
            line[key] = value
        line["masked"] = masked_fields
        with self._lock:
            with self.transcript_path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")

    def record_http(self, server: str, user: str | None, action: str, status: int, duration: float, **details: Any) -> None:
        self.count(server, "http_requests")
        self.record("http", server, user=user or "", action=action, status=status, duration=round(duration, 6), **details)

    def record_script(
        self, server: str, user: str, command_line: str, script: str, exchange_loaded: bool, exit_code: int | None, duration: float
    ) -> None:
        self.count(server, "scripts")
        self.record(
            "script", server, user=user, command_line=command_line, script=script,
            exchange_loaded=exchange_loaded, exit_code=exit_code, duration=round(duration, 6),
        )
