"""The lab's users file: ``DOMAIN:user:password`` lines, the format pyspnego's NTLM server reads (NTLM_USER_FILE)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

DEFAULT_USER = "administrator"


@dataclass(frozen=True)
class User:
    domain: str
    name: str
    password: str

    @property
    def principal(self) -> str:
        return f"{self.domain}\\{self.name}"


class Users:
    def __init__(self, path: str | os.PathLike, netbios_domain: str):
        self.path = Path(path)
        self.domain = netbios_domain.upper()
        if not self.path.exists():
            # A random password: the lab prints it in endpoints.json, and tests that grep for leaks need one
            # that cannot occur by chance.
            password = "Lab-" + secrets.token_urlsafe(12)
            self.path.write_text(f"{self.domain}:{DEFAULT_USER}:{password}\n")
            os.chmod(self.path, 0o600)
        self.users = [self._parse(line) for line in self.path.read_text().splitlines() if line.strip() and not line.startswith("#")]

    @staticmethod
    def _parse(line: str) -> User:
        domain, name, password = line.split(":", 2)
        return User(domain, name, password)

    @property
    def default(self) -> User:
        return self.users[0]

    def passwords(self) -> list[str]:
        return [user.password for user in self.users]

    def find(self, name: str) -> User | None:
        """Resolve ``user``, ``DOMAIN\\user`` or ``user@domain`` case-insensitively."""
        domain = None
        if "\\" in name:
            domain, name = name.split("\\", 1)
        elif "@" in name:
            name, _ = name.split("@", 1)
        for user in self.users:
            if user.name.casefold() == name.casefold() and (domain is None or domain.casefold() in (user.domain.casefold(), ".")):
                return user
        return None

    def check(self, name: str, password: str) -> User | None:
        user = self.find(name)
        return user if user is not None and secrets.compare_digest(user.password.encode("utf-8"), password.encode("utf-8")) else None
