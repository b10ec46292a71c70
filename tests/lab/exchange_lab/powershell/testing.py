"""A small stand-in organisation for testing the PowerShell layer on its own (the real one is exchange_lab.exchange).

It uses the real users file, faults and observer; only the organisation is fake: one or two servers and a few
Exchange-like cmdlets bound with :func:`commands.bind` like real ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..commands import Argument, ParamSpec, bind
from ..errors import PSError
from ..faults import Faults
from ..observe import Observer
from ..psvalues import PSEnum, PSObject
from ..users import Users


@dataclass
class FakeServer:
    name: str
    fqdn: str


class FakeExchangeCommand:
    """``Get-FakeConnector [-Identity x]`` lists connectors; ``Set-FakeConnector -Identity x -Port n`` fails
    (non-terminating, like Exchange) for an unknown identity."""

    def __init__(self, name: str, org: FakeOrganization, server: str):
        self.name = name
        self.org = org
        self.server = server

    def invoke(self, ctx: Any, args: list[Argument], pipeline_input: list | None) -> list:
        params = {"Identity": ParamSpec("Identity", "String", position=0, pipeline=True), "Port": ParamSpec("Port", "Int32")}
        bound = bind(self.name, args, params, None, pipeline_input)
        self.org.calls.append((self.name, ctx.exchange_mode, dict(bound.values)))
        identity = bound.values.get("Identity")
        if self.name.startswith("Get-"):
            names = [n for n in self.org.connectors if identity is None or n.lower() == str(identity).lower()]
            if identity is not None and not names:
                raise PSError(
                    f"The operation couldn't be performed because object '{identity}' couldn't be found on '{self.server}.corp.contoso.com'.",
                    error_id=f"[Server={self.server}],RequestId=1,TimeStamp=1] [FailureCategory=Cmdlet-ManagementObjectNotFoundException] 5F0B6F5,Microsoft.Exchange.Management.SystemConfigurationTasks.{self.name.replace('-', '')}",
                    category="NotSpecified", exception_type="Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
                    command=self.name, target=identity,
                )
            return [self.org.connector(n, self.server) for n in names]
        if identity is None or str(identity).lower() not in {n.lower() for n in self.org.connectors}:
            raise PSError(
                f"The operation couldn't be performed because object '{identity}' couldn't be found on '{self.server}.corp.contoso.com'.",
                error_id="5F0B6F5,Microsoft.Exchange.Management.SystemConfigurationTasks.SetReceiveConnector",
                category="NotSpecified", exception_type="Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
                command=self.name, target=identity,
            )
        if "Port" in bound.values:
            self.org.connectors[str(identity)] = int(bound.values["Port"])
        if "Port" not in bound.values:
            ctx.write_warning(f"The command completed successfully but no settings of '{identity}' have been modified.")
        return []


@dataclass
class FakeOrganization:
    servers: list[FakeServer]
    connectors: dict[str, int] = field(default_factory=lambda: {"Default EX01": 2525, "Client Frontend EX01": 587})
    calls: list = field(default_factory=list)
    netbios_domain: str = "CORP"

    def server_by_fqdn(self, fqdn: str) -> FakeServer | None:
        return next((s for s in self.servers if s.fqdn.lower() == fqdn.lower()), None)

    def server_fqdn(self, name: str) -> str:
        return next(s.fqdn for s in self.servers if s.name.lower() == name.lower())

    def exchange_commands(self, server: str) -> dict[str, Any]:
        return {name: FakeExchangeCommand(name, self, server) for name in ("Get-FakeConnector", "Set-FakeConnector")}

    def connector(self, name: str, server: str) -> PSObject:
        return PSObject(
            ["Microsoft.Exchange.Data.Directory.SystemConfiguration.ReceiveConnector", "System.Object"],
            {"Name": name, "Identity": PSObject("Microsoft.Exchange.Data.Directory.ADObjectId", {"Name": name}, string=f"{server}\\{name}"),
             "Port": self.connectors[name], "AuthMechanism": PSEnum("Microsoft.Exchange.Data.AuthMechanisms", "Tls", 1)},
            string=name,
        )


@dataclass
class FakeLab:
    state_dir: Path
    org: FakeOrganization
    users: Users
    faults: Faults
    observer: Observer


def fake_lab(state_dir: str | Path, password: str = "Lab-Passw0rd'\u2019x", faults: dict | None = None) -> FakeLab:
    directory = Path(state_dir)
    directory.mkdir(parents=True, exist_ok=True)
    users_file = directory / "users.txt"
    users_file.write_text(f"CORP:administrator:{password}\n")
    users = Users(users_file, "CORP")
    org = FakeOrganization([FakeServer("EX01", "ex01.corp.contoso.com"), FakeServer("EX02", "ex02.corp.contoso.com")])
    return FakeLab(directory, org, users, Faults(directory, faults or {}), Observer(directory, users.passwords()))


def new_session(lab: Any = None, server: str = "EX01", user: str = "CORP\\administrator") -> Any:
    """A runspace whose streams are collected (``session.streams.output`` etc.)."""
    from .session import Session

    return Session(lab, server, user)


def run(script: str, lab: Any = None, session: Any = None) -> Any:
    """Run ``script`` at top level in a (new) runspace; return the runspace (its streams hold what was written)."""
    session = session or new_session(lab)
    session.run(script)
    return session
