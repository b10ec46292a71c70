"""One lab: the organisation, its users, CA, fault settings and observer, shared by every endpoint and process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .ca import LabCA
from .faults import Faults
from .observe import Observer
from .users import Users


@dataclass
class LabContext:
    state_dir: Path
    org: "Organization"  # noqa: F821 - exchange_lab.exchange.Organization
    users: Users
    ca: LabCA
    faults: Faults
    observer: Observer

    @classmethod
    def open(
        cls,
        state_dir: str | os.PathLike,
        version: str | None = None,
        servers: list[str] | None = None,
        domain: str | None = None,
        faults: dict | None = None,
    ) -> "LabContext":
        """Open the lab kept in ``state_dir``, seeding a fresh organisation there the first time.

        ``version``, ``servers`` and ``domain`` seed a new organisation; for an existing one they must match
        what it was seeded with (the organisation survives restarts, it is not silently replaced).
        """
        from .exchange import Organization

        state = Path(state_dir)
        state.mkdir(parents=True, exist_ok=True)
        org = Organization.open(state, version=version, servers=servers, domain=domain)
        users = Users(state / "users.txt", org.netbios_domain)
        ca = LabCA(state)
        return cls(
            state_dir=state,
            org=org,
            users=users,
            ca=ca,
            faults=Faults(state, faults),
            observer=Observer(state, users.passwords()),
        )
