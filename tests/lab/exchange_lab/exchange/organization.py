"""The Exchange organisation: one JSON state file, seeded like a fresh install, shared by every server's shell."""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import re
import tempfile
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..psvalues import PSObject
from .registry import Call, exchange_error

if TYPE_CHECKING:  # pragma: no cover
    from ..commands import Command

VERSIONS = ("2013", "2016", "2019")
DEFAULT_VERSION = "2019"
DEFAULT_SERVERS = ("EX01",)
DEFAULT_DOMAIN = "corp.contoso.com"
STATE_FILE = "state.json"
STATE_SCHEMA = 1

ORGANIZATION_NAME = "First Organization"
ADMIN_GROUP = "Exchange Administrative Group (FYDIBOHF23SPDLT)"
ROUTING_GROUP = "Exchange Routing Group (DWBGZMFD01QNBJR)"


class Organization:
    """An Exchange organisation kept in ``state_dir/state.json``; every cmdlet runs under :attr:`lock`."""

    def __init__(self, state_dir: Path, state: dict):
        self.state_dir = Path(state_dir)
        self.state = state
        self.lock = threading.RLock()

    # --- opening and saving -----------------------------------------------------------------------------------

    @classmethod
    def open(cls, state_dir: str | os.PathLike, version: str | None = None, servers: list[str] | None = None,
             domain: str | None = None) -> "Organization":
        """Load ``state_dir/state.json``, or seed a fresh organisation there when it does not exist yet.

        For an existing organisation, seed arguments that are given must match it (ValueError otherwise): the
        organisation survives restarts and is never silently replaced.
        """
        directory = Path(state_dir)
        path = directory / STATE_FILE
        if version is not None and str(version) not in VERSIONS:
            raise ValueError(f"unsupported Exchange version {version!r}: choose one of {', '.join(VERSIONS)}")
        if servers is not None:
            servers = [s.strip() for s in servers if s and s.strip()]
            if not servers:
                raise ValueError("at least one server name is needed")
            for name in servers:
                if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,14}", name):
                    raise ValueError(f"invalid server name {name!r} (a NetBIOS name: letters, digits, '-', at most 15)")
            if len({s.upper() for s in servers}) != len(servers):
                raise ValueError("server names must be unique")
        if domain is not None:
            domain = domain.strip().lower()
            if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", domain):
                raise ValueError(f"invalid AD domain name {domain!r}")
        if path.exists():
            state = json.loads(path.read_text(encoding="utf-8"))
            org = cls(directory, state)
            org._check_seed_arguments(version, servers, domain)
            return org
        from .seed import seed_organization

        directory.mkdir(parents=True, exist_ok=True)
        org = cls(directory, {})
        seed_organization(
            org,
            version=str(version) if version is not None else DEFAULT_VERSION,
            servers=[s.upper() for s in (servers or DEFAULT_SERVERS)],
            domain=domain or DEFAULT_DOMAIN,
        )
        org.save()
        return org

    def _check_seed_arguments(self, version: str | None, servers: list[str] | None, domain: str | None) -> None:
        conflicts = []
        if version is not None and str(version) != self.version:
            conflicts.append(f"version {version} (the organisation is Exchange {self.version})")
        if servers is not None and [s.upper() for s in servers] != self.server_names():
            conflicts.append(f"servers {','.join(servers)} (the organisation has {','.join(self.server_names())})")
        if domain is not None and domain != self.domain:
            conflicts.append(f"domain {domain} (the organisation is in {self.domain})")
        if conflicts:
            raise ValueError(
                f"the organisation in {self.state_dir} was seeded differently: asked for " + "; ".join(conflicts)
                + ". Use another state directory, or omit these arguments to keep the existing organisation."
            )

    def save(self) -> None:
        """Write the state atomically (a temporary file in the same directory, then rename)."""
        with self.lock:
            text = json.dumps(self.state, indent=1, sort_keys=False)
            fd, tmp = tempfile.mkstemp(prefix=".state.", suffix=".tmp", dir=self.state_dir)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, self.state_dir / STATE_FILE)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise

    # --- basic facts ----------------------------------------------------------------------------------------------

    @property
    def version(self) -> str:
        return self.state["version"]

    @property
    def domain(self) -> str:
        return self.state["domain"]

    @property
    def netbios_domain(self) -> str:
        return self.domain.split(".")[0].upper()

    @property
    def domain_controller(self) -> str:
        return f"DC01.{self.domain}"

    @property
    def domain_dn(self) -> str:
        return ",".join(f"DC={label}" for label in self.domain.split("."))

    @property
    def organization_dn(self) -> str:
        return f"CN={ORGANIZATION_NAME},CN=Microsoft Exchange,CN=Services,CN=Configuration,{self.domain_dn}"

    @property
    def admin_group_dn(self) -> str:
        return f"CN={ADMIN_GROUP},CN=Administrative Groups,{self.organization_dn}"

    def server(self, name: str) -> dict:
        key = self._server_key(name)
        if key is None:
            raise KeyError(name)
        return self.state["servers"][key]

    def _server_key(self, name: str) -> str | None:
        for key in self.state["servers"]:
            if key.casefold() == str(name).casefold():
                return key
        return None

    def server_names(self) -> list[str]:
        return list(self.state["servers"])

    def server_fqdn(self, name: str) -> str:
        return f"{self.server(name)['name'].lower()}.{self.domain}"

    def server_by_fqdn(self, fqdn: str) -> str | None:
        for name in self.server_names():
            if self.server_fqdn(name) == fqdn.strip().rstrip(".").lower():
                return name
        return None

    def server_dn(self, name: str) -> str:
        return f"CN={self.server(name)['name']},CN=Servers,{self.admin_group_dn}"

    def snapshot(self) -> dict:
        with self.lock:
            return copy.deepcopy(self.state)

    @staticmethod
    def new_guid() -> str:
        return str(uuid.uuid4())

    # --- commands ----------------------------------------------------------------------------------------------------

    def exchange_commands(self, server: str) -> dict[str, "Command"]:
        """Every cmdlet of exchange-cmdlets.json that applies to this version and is implemented here."""
        from .contract import commands_for

        return commands_for(self, self.server(server)["name"])

    # --- identities -----------------------------------------------------------------------------------------------

    def ad_object_id(self, name: str, dn: str, guid: str, display: str | None = None) -> PSObject:
        """``ADObjectId`` as Exchange returns it: prints as the friendly identity (``EX01\\owa (Default Web Site)``)."""
        parent = dn.split(",", 1)[1] if "," in dn else ""
        return PSObject(
            ["Microsoft.Exchange.Data.Directory.ADObjectId", "System.Object"],
            {
                "IsDeleted": False,
                "Rdn": dn.split(",", 1)[0],
                "Parent": parent,
                "Depth": dn.count(",") ,
                "DistinguishedName": dn,
                "IsRelativeDn": False,
                "DomainId": self.domain,
                "PartitionGuid": "59ce2f71-eaa2-4ddf-a4fa-f25069d0b324",
                "PartitionFQDN": self.domain,
                "ObjectGuid": guid,
                "Name": name,
            },
            string=display if display is not None else name,
        )

    def not_found(self, call: Call | str, identity: str) -> Exception:
        return exchange_error(
            call,
            f"The operation couldn't be performed because object '{identity}' couldn't be found on '{self.domain_controller}'.",
            "NotFound",
            target=identity,
        )

    def ambiguous(self, call: Call | str, identity: str) -> Exception:
        return exchange_error(call, f"The operation couldn't be performed because '{identity}' matches multiple entries.", "Ambiguous", target=identity)

    def resolve_server(self, call: Call | str, value: Any) -> str:
        """A ServerIdParameter: name, FQDN, GUID, DN or an object carrying one; the server's name or NotFound."""
        text = identity_text(value)
        for name in self.server_names():
            record = self.server(name)
            if text.casefold() in (name.casefold(), self.server_fqdn(name), record["guid"], self.server_dn(name).casefold()):
                return name
        raise self.not_found(call, text)

    def find(self, call: Call | str, records: list[dict], identity: Any, *, wildcards: bool, server_scoped: bool,
             single: bool) -> list[dict]:
        """Records matching an Exchange identity (name, ``SERVER\\name``, GUID, DN; wildcards in Get cmdlets).

        ``single`` asks for exactly one (Set/Remove): several matches is ManagementObjectAmbiguousException; none is
        ManagementObjectNotFoundException. A Get with a wildcard that matches nothing returns nothing, as Exchange does.
        """
        text = identity_text(identity)
        matches = [record for record in records if self.matches(record, text, wildcards=wildcards, server_scoped=server_scoped)]
        if not matches:
            if wildcards and "*" in text and not single:
                return []
            raise self.not_found(call, text)
        if single and len(matches) > 1:
            raise self.ambiguous(call, text)
        return matches

    @staticmethod
    def matches(record: dict, text: str, *, wildcards: bool, server_scoped: bool) -> bool:
        folded = text.strip().casefold()
        if folded in (record.get("guid", "").casefold(), record.get("dn", "").casefold()):
            return True

        def same(pattern: str, value: str) -> bool:
            if wildcards and "*" in pattern:
                return fnmatch.fnmatchcase(value.casefold(), pattern)
            return pattern == value.casefold()

        if server_scoped and "\\" in folded:
            server_part, _, name_part = folded.partition("\\")
            return same(server_part, record["server"]) and same(name_part, record["name"])
        names = [record["name"]] + list(record.get("aliases", ()))
        return any(same(folded, name) for name in names)


def identity_text(value: Any) -> str:
    """The text an identity parameter carries: a string, or an object's ``Identity`` (else its string form)."""
    if isinstance(value, PSObject):
        inner = value.get("Identity")
        if inner is not None:
            return identity_text(inner)
        return value.to_string()
    if value is None:
        return ""
    return str(value)
