"""Real network services the lab runs beside its WinRM endpoints so that validation has something true to check.

- :mod:`.dns`: BIND 9 ``named``, one instance for the public view and one for the private view (split-brain DNS),
  changed only through TSIG-signed dynamic updates (RFC 2136).
- :mod:`.tls`: per Exchange server, an HTTPS listener (IIS) and an SMTP submission listener with STARTTLS
  (the Client Frontend connector, aiosmtpd) that present whichever certificate the lab's state enables for IIS and
  for SMTP at the moment a client connects.
- :class:`LabServices`: both, started and stopped together with the lab, plus what ``endpoints.json`` says about them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

# The lab's public address of the mail FQDN: TEST-NET-3 (RFC 5737), data in DNS only, never contacted.
LAB_PUBLIC_ADDRESS = "203.0.113.10"


def default_namespace(org) -> dict:
    """The lab's namespace when none is given: the seeds' example under the parent of the AD domain.

    ``corp.contoso.com`` -> ``mail.contoso.com``, ``owa.contoso.com``, accepted domain ``contoso.com``.
    """
    domain = org.domain.lower()
    parent = domain.split(".", 1)[1] if domain.count(".") >= 2 else domain
    return {
        "external_fqdn": "mail.%s" % parent,
        "owa_fqdn": "owa.%s" % parent,
        "accepted_domains": [parent],
        "public_address": LAB_PUBLIC_ADDRESS,
        "servers": [{"name": s, "fqdn": org.server_fqdn(s)} for s in org.server_names()],
    }


def plan_for_namespace(namespace: dict) -> dict:
    """The URL plan of ``namespace``, computed by the collection's own pure planner (``plugins/module_utils``)."""
    try:
        from plugins.module_utils.url_plan import url_plan_from_namespace
    except ImportError:  # the repository root is not on sys.path: load the file beside the lab
        import importlib.util

        path = Path(__file__).resolve().parents[4] / "plugins" / "module_utils" / "url_plan.py"
        spec = importlib.util.spec_from_file_location("mailops_exchange_url_plan", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        url_plan_from_namespace = module.url_plan_from_namespace
    return url_plan_from_namespace(namespace)


class LabServices:
    """DNS (both views, seeded with the plan's records) and the TLS listeners of one lab."""

    def __init__(self, dns_servers, listeners, plan: dict, plan_path: Path):
        self.dns = dns_servers
        self.tls = listeners
        self.plan = plan
        self.plan_path = plan_path

    @classmethod
    def start(cls, lab_ctx, host: str = "127.0.0.1", plan: dict | None = None, namespace: dict | None = None,
              seed: bool = True) -> "LabServices":
        """Start DNS and the TLS listeners for ``lab_ctx``.

        ``plan`` (a url_plan result) or ``namespace`` (the url_plan filter's input) says which records the seeds
        recommend; without either the lab's :func:`default_namespace` is used. With ``seed`` the records are
        created (the lab stands for an organisation whose DNS is already right); the plan is written to
        ``<state>/dns/plan.json``.
        """
        from .dns import DnsServers, seed_recommended_records, zones_for_plan
        from .tls import TlsListeners

        org = lab_ctx.org
        if plan is None:
            if namespace is None:
                namespace = default_namespace(org)
            namespace = dict(namespace)
            namespace.setdefault("servers", [{"name": s, "fqdn": org.server_fqdn(s)} for s in org.server_names()])
            plan = plan_for_namespace(namespace)
        zones_public, zones_private = zones_for_plan(plan)
        ad_zone = org.domain.lower()
        records = zones_private.setdefault(ad_zone, [])
        for server in org.server_names():
            fqdn = org.server_fqdn(server).lower()
            if fqdn.endswith("." + ad_zone) and not any(r["name"] == fqdn for r in records):
                records.append({"name": fqdn, "type": "A", "value": host})
        dns_servers = DnsServers.start(lab_ctx.state_dir, zones_public, zones_private, host=host)
        try:
            if seed:
                seed_recommended_records(dns_servers, plan)
            listeners = TlsListeners.start(lab_ctx, host=host)
        except BaseException:
            dns_servers.stop()
            raise
        plan_path = Path(lab_ctx.state_dir) / "dns" / "plan.json"
        tmp = plan_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(plan, indent=1))
        os.replace(tmp, plan_path)
        return cls(dns_servers, listeners, plan, plan_path)

    def endpoints(self) -> dict:
        """The keys to add to ``endpoints.json``: ``dns``, ``tls`` and ``validate`` (exchange_validate's options)."""
        resolvers = self.dns.resolver_options()
        tls = self.tls.endpoints()
        owa_host = self.plan["urls"]["owa"]["external_url"].split("/")[2]
        frontend = self.plan["namespace"]["client_frontend_fqdn"]
        return {
            "dns": dict(resolvers, state=str(self.dns.directory)),
            "tls": tls,
            "plan": str(self.plan_path),
            "validate": {
                "dns_public": resolvers["public"],
                "dns_private": resolvers["private"],
                "endpoints": {
                    "%s:443" % owa_host: {server: ports["https"] for server, ports in tls.items()},
                    "%s:587" % frontend: {server: ports["smtp"] for server, ports in tls.items()},
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
