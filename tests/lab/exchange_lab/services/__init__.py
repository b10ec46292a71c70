"""Real network services the lab runs beside its WinRM endpoints so that validation has something true to check.

- :mod:`.dns`: BIND 9 ``named``, one instance for the public view and one for the private view (split-brain DNS),
  changed only through TSIG-signed dynamic updates (RFC 2136).
- :mod:`.tls`: per Exchange server, an HTTPS listener (IIS) and an SMTP submission listener with STARTTLS
  (the Client Frontend connector, aiosmtpd) that present whichever certificate the lab's state enables for IIS and
  for SMTP at the moment a client connects.
- :class:`LabServices`: both, started and stopped together with the lab, plus what ``endpoints.json`` says about them.

The records the DNS views hold come from a zones file (``serve --zones``), never from the collection: the lab imports
nothing of the collection's, so that validating a run against it can catch a planning mistake.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

ZONES_FILE = "zones.json"


class LabServices:
    """DNS (both views, holding a zones file's records) and the TLS listeners of one lab."""

    def __init__(self, dns_servers, listeners, zones: dict, zones_path: Path):
        self.dns = dns_servers
        self.tls = listeners
        self.zones = zones
        self.zones_path = zones_path

    @classmethod
    def start(cls, lab_ctx, host: str = "127.0.0.1", zones=None, seed: bool = True) -> "LabServices":
        """Start DNS and the TLS listeners for ``lab_ctx``.

        ``zones`` is a zones file (its path, or the parsed document; see :func:`.dns.load_zones`): the zones of the
        public and private views, the records they hold and the names the TLS listeners stand for. Without one
        the views hold only the servers' A records (Active Directory's zone) - an organisation whose DNS nobody
        has set up - and validation has no endpoint to check. With ``seed`` the file's records are created (the lab
        stands for an organisation whose DNS is already right); the zones, as checked, are written to
        ``<state>/dns/zones.json``.
        """
        from .dns import DnsServers, load_zones, seed_records, zones_to_serve
        from .tls import TlsListeners

        org = lab_ctx.org
        zones = load_zones(zones if zones is not None else {})
        servers = [org.server_fqdn(s) for s in org.server_names()]
        zones_public, zones_private = zones_to_serve(zones, servers, host)
        dns_servers = DnsServers.start(lab_ctx.state_dir, zones_public, zones_private, host=host)
        try:
            if seed:
                seed_records(dns_servers, zones)
            listeners = TlsListeners.start(lab_ctx, host=host)
        except BaseException:
            dns_servers.stop()
            raise
        zones_path = Path(lab_ctx.state_dir) / "dns" / ZONES_FILE
        tmp = zones_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(zones, indent=1))
        os.replace(tmp, zones_path)
        return cls(dns_servers, listeners, zones, zones_path)

    def endpoints(self) -> dict:
        """The keys to add to ``endpoints.json``: ``dns``, ``tls``, ``zones`` (the file the views were seeded from)
        and ``validate`` (exchange_validate's options: resolvers, and the listeners under the zones file's names)."""
        from .dns import LISTENER_PORTS

        resolvers = self.dns.resolver_options()
        tls = self.tls.endpoints()
        names = self.zones.get("listeners") or {}
        return {
            "dns": dict(resolvers, state=str(self.dns.directory)),
            "tls": tls,
            "zones": str(self.zones_path),
            "validate": {
                "dns_public": resolvers["public"],
                "dns_private": resolvers["private"],
                "endpoints": {
                    "%s:%d" % (names[kind], port): {server: ports[kind] for server, ports in tls.items()}
                    for kind, port in LISTENER_PORTS.items() if kind in names
                },
            },
        }

    def stop(self) -> None:
        try:
            self.tls.stop()
        finally:
            self.dns.stop()

    def __enter__(self) -> "LabServices":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
