"""Starting and stopping every endpoint of a lab: per server one HTTP and one HTTPS WinRM listener."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .context import LabContext
from .faults import REALISTIC
from .winrm.auth import acquire_user_file, release_user_file
from .winrm.server import WinRMListener, WinRMService, start_listener
from .winrm.shells import ProcessFactory

ENDPOINTS_FILE = "endpoints.json"


def default_process_factory() -> ProcessFactory:
    from .powershell.host import start_process

    return start_process


def latency_settings(latency_scale: float | None = None, realistic_latency: bool = False) -> dict[str, Any] | None:
    """The faults.json changes the CLI latency options ask for (None: keep what the state directory has)."""
    settings: dict[str, Any] = {}
    if realistic_latency:
        settings.update(REALISTIC)
    if latency_scale is not None:
        settings["latency_scale"] = latency_scale
    return settings or None


class Lab:
    """A running lab; ``endpoints`` is what ``endpoints.json`` holds."""

    def __init__(self, context: LabContext, services: dict[str, WinRMService], listeners: list[WinRMListener], endpoints: dict,
                 network_services=None):
        self.context = context
        self.network_services = network_services  # DNS views and TLS listeners (services.LabServices) or None
        self.services = services
        self.listeners = listeners
        self.endpoints = endpoints
        self._stopped = False

    @classmethod
    def start(
        cls,
        state_dir: str | os.PathLike,
        version: str | None = None,
        servers: list[str] | None = None,
        domain: str | None = None,
        *,
        host: str = "127.0.0.1",
        base_port: int = 0,
        faults: dict[str, Any] | None = None,
        process_factory: ProcessFactory | None = None,
        context: LabContext | None = None,
        allow_unencrypted: bool = False,
        basic_over_http: bool = True,
        network_services: bool = False,
        zones: str | os.PathLike | dict[str, Any] | None = None,
    ) -> "Lab":
        """Open (or seed) the organisation in ``state_dir`` and listen for every server.

        Server i listens on ``base_port + 2i`` (HTTP) and ``base_port + 2i + 1`` (HTTPS); ``base_port=0`` picks free
        ports. With ``network_services`` the lab also runs BIND's public and private views (holding the records of
        the zones file ``zones``, a path or the parsed document; without one only the servers' A records) and the
        HTTPS/SMTP listeners that present the certificates the organisation has enabled. ``endpoints.json`` is written (atomically) only once every listener accepts connections, and removed
        again by :meth:`stop`.
        """
        state = Path(state_dir)
        state.mkdir(parents=True, exist_ok=True)
        endpoints_path = state / ENDPOINTS_FILE
        endpoints_path.unlink(missing_ok=True)  # a stale file would tell waiting clients the wrong ports
        ctx = context or LabContext.open(state, version=version, servers=servers, domain=domain, faults=faults)
        factory = process_factory or default_process_factory()
        acquire_user_file(ctx.users.path)

        # Clients reach a wildcard listener through loopback (and the certificate names 127.0.0.1 and ::1 hosts).
        advertised = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        services: dict[str, WinRMService] = {}
        listeners: list[WinRMListener] = []
        described: dict[str, dict[str, str]] = {}
        try:
            for index, server in enumerate(ctx.org.server_names()):
                service = WinRMService(ctx, server, factory)
                services[server] = service
                fqdn = ctx.org.server_fqdn(server)
                names = [fqdn, server, server.lower(), "localhost", "127.0.0.1"]
                if advertised not in names:
                    names.append(advertised)
                tls_files = ctx.ca.server_credentials(names, stem=f"winrm-{server}")
                http_port = base_port + 2 * index if base_port else 0
                https_port = base_port + 2 * index + 1 if base_port else 0
                options = {"allow_unencrypted": allow_unencrypted, "basic_over_http": basic_over_http}
                http = WinRMListener(service, host, http_port, None, **options)
                listeners.append(http)
                https = WinRMListener(service, host, https_port, tls_files, **options)
                listeners.append(https)
                described[server] = {"fqdn": fqdn, "http": http.url_for(advertised), "https": https.url_for(advertised)}
        except BaseException:
            for listener in listeners:
                listener.server_close()
            release_user_file(ctx.users.path)
            raise
        for listener in listeners:
            start_listener(listener)
        extra_services = None
        if network_services:
            from .services import LabServices

            try:
                extra_services = LabServices.start(ctx, host=advertised, zones=zones)
            except BaseException:
                for listener in listeners:
                    listener.close()
                release_user_file(ctx.users.path)
                raise

        user = ctx.users.default
        endpoints = {
            "servers": described,
            "ca_bundle": str(Path(ctx.ca.bundle_path).resolve()),
            "username": user.principal,
            "password": user.password,
            "version": ctx.org.version,
            "domain": ctx.org.domain,
            "state": str(state.resolve()),
        }
        if extra_services is not None:
            endpoints.update(extra_services.endpoints())
        tmp = endpoints_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(endpoints, indent=1))
        os.chmod(tmp, 0o600)  # it carries the password
        os.replace(tmp, endpoints_path)
        return cls(ctx, services, listeners, endpoints, extra_services)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        (self.context.state_dir / ENDPOINTS_FILE).unlink(missing_ok=True)
        for listener in self.listeners:
            listener.close()
        for service in self.services.values():
            service.close()
        if self.network_services is not None:
            self.network_services.stop()
        release_user_file(self.context.users.path)

    def __enter__(self) -> "Lab":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
