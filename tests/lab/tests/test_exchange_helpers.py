"""Shared helpers for the Exchange model tests: a fake interpreter context and argument tokens."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from exchange_lab.commands import Argument
from exchange_lab.errors import PSError
from exchange_lab.exchange import Organization
from exchange_lab.faults import Faults


class FakeLab:
    def __init__(self, state_dir):
        self.faults = Faults(state_dir)


@dataclass
class FakeContext:
    lab: Any
    server: str = "EX01"
    user: str = "CORP\\administrator"
    exchange_loaded: bool = True
    exchange_mode: str | None = "snapin"
    error_action: str = "Continue"
    warnings: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    host: list = field(default_factory=list)

    def write_warning(self, message: str) -> None:
        self.warnings.append(message)

    def write_error(self, error: PSError) -> None:
        self.errors.append(error)

    def write_host(self, text: str) -> None:
        self.host.append(text)


class Colon:
    """``-Name:value``."""

    def __init__(self, name: str, value: Any):
        self.name, self.value = name, value


def tokens(*items: Any) -> list[Argument]:
    result = []
    for item in items:
        if isinstance(item, Colon):
            result.append(Argument(item.name, item.value, colon=True))
        elif isinstance(item, str) and item.startswith("-") and len(item) > 1 and item[1].isalpha():
            result.append(Argument(item[1:]))
        else:
            result.append(Argument(None, item))
    return result


class Shell:
    """Runs Exchange cmdlets in-process the way the interpreter does."""

    def __init__(self, org: Organization, server: str = "EX01", mode: str | None = "snapin"):
        self.org = org
        self.commands = org.exchange_commands(server)
        self.ctx = FakeContext(lab=FakeLab(org.state_dir), server=server, exchange_mode=mode)

    def __call__(self, name: str, *items: Any, pipeline: list | None = None) -> list:
        return self.commands[name].invoke(self.ctx, tokens(*items), pipeline)

    def one(self, name: str, *items: Any, **kwargs) -> Any:
        result = self(name, *items, **kwargs)
        assert len(result) == 1, result
        return result[0]


_SEEDED: dict[tuple, str] = {}


def open_org(tmp_path, version: str = "2019", servers=("EX01",), domain: str | None = None, fresh: bool = False) -> Organization:
    """An organisation in ``tmp_path/state``. Seeding (certificate keys included) is costly on shared cores, so each
    seed is made once per test session and copied; ``fresh`` seeds anew (for tests of seeding itself)."""
    target = tmp_path / "state"
    key = (version, tuple(servers), domain)
    if fresh or key not in _SEEDED:
        org = Organization.open(target, version=version, servers=list(servers), domain=domain)
        if not fresh:
            _SEEDED[key] = (target / "state.json").read_text()
        return org
    target.mkdir(parents=True, exist_ok=True)
    (target / "state.json").write_text(_SEEDED[key])
    return Organization.open(target, version=version, servers=list(servers), domain=domain)
