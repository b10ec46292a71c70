"""The lab's DNS: BIND 9 ``named`` (Debian's package), a public and a private view on two loopback ports.

Each view is its own ``named`` process (``named -g -c CONF``) listening on ``127.0.0.1`` only, authoritative for
the zones it is given, recursion off, no rndc channel. Records change only through dynamic updates (RFC 2136)
signed with a TSIG key that this module generates and keeps under ``<state>/dns/`` (0600), exactly as an
administrator's tooling would change a real zone. Another process can :meth:`DnsServers.attach` to running servers
through ``<state>/dns/servers.json``.

Layout under ``<state>/dns/``::

    servers.json            host, ports, pids, zones per view (no secret)
    tsig.key                the TSIG key (name, algorithm, secret), mode 0600
    public/named.conf       public/named.log   public/zones/<zone>.db (+ .jnl written by named)
    private/...

Command line (for playbooks, molecule and people)::

    python -m exchange_lab.services.dns seed   --state DIR --zones zones.json
    python -m exchange_lab.services.dns update --state DIR --view public --name contoso.com --type MX --value mail.contoso.com
    python -m exchange_lab.services.dns delete --state DIR --view public --name contoso.com --type MX
    python -m exchange_lab.services.dns query  --state DIR --view private --name mail.contoso.com --type CNAME
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.tsig
import dns.tsigkeyring
import dns.update

VIEWS = ("public", "private")
KEY_NAME = "lab-update."
KEY_ALGORITHM = "hmac-sha256"
DEFAULT_TTL = 300
MX_PREFERENCE = 10
SOA_VALUES = "1 3600 600 86400 300"


class DnsError(RuntimeError):
    """named could not be started, or refused an update."""


def named_binary() -> str:
    path = shutil.which("named") or ("/usr/sbin/named" if os.path.exists("/usr/sbin/named") else None)
    if path is None:
        raise DnsError("BIND 9 'named' is not installed (apt-get install bind9 bind9-utils, or ./hack/system-deps.sh)")
    return path


def _fqdn(name: str) -> str:
    return str(name).strip().rstrip(".").lower()


def _absolute(name: str) -> str:
    return _fqdn(name) + "."


def _free_port(host: str) -> int:
    """A port free for both TCP and UDP on ``host`` (named listens on both)."""
    for _ in range(50):
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            tcp.bind((host, 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind((host, port))
            except OSError:
                continue
            return port
        finally:
            tcp.close()
            udp.close()
    raise DnsError("no free port for named on %s" % host)


def _rdata_text(rtype: str, value: str) -> str:
    """Zone-file / update text of a record value: names made absolute, MX given a preference when it has none."""
    rtype = rtype.upper()
    text = str(value).strip()
    if rtype == "MX":
        parts = text.split()
        if len(parts) == 1:
            return "%d %s" % (MX_PREFERENCE, _absolute(parts[0]))
        return "%s %s" % (parts[0], _absolute(parts[1]))
    if rtype in ("CNAME", "NS", "PTR"):
        return _absolute(text)
    if rtype == "TXT" and not text.startswith('"'):
        return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')
    return text


def _zone_of(name: str, zones: list[str]) -> str | None:
    """The most specific zone among ``zones`` that contains ``name``."""
    name = _fqdn(name)
    best = None
    for zone in zones:
        if name == zone or name.endswith("." + zone):
            if best is None or len(zone) > len(best):
                best = zone
    return best


def _normalise_zones(zones: dict | None, view: str) -> dict[str, list[dict]]:
    result: dict[str, list[dict]] = {}
    for origin, records in (zones or {}).items():
        zone = _fqdn(origin)
        if not zone:
            raise DnsError("%s view: an empty zone name" % view)
        result[zone] = []
        for record in records or []:
            for key in ("name", "type", "value"):
                if key not in record:
                    raise DnsError("%s view, zone %s: record %r lacks %r" % (view, zone, record, key))
            result[zone].append(
                {"name": _fqdn(record["name"]), "type": str(record["type"]).upper(), "value": str(record["value"]), "ttl": int(record.get("ttl", DEFAULT_TTL))}
            )
    for zone, records in result.items():
        for record in records:
            if _zone_of(record["name"], list(result)) != zone:
                raise DnsError("%s view: record %s %s is not inside zone %s" % (view, record["name"], record["type"], zone))
    return result


def _zone_file(zone: str, records: list[dict], ns_address: str) -> str:
    lines = [
        "$ORIGIN %s" % _absolute(zone),
        "$TTL %d" % DEFAULT_TTL,
        "@ IN SOA ns1.%s hostmaster.%s %s" % (_absolute(zone), _absolute(zone), SOA_VALUES),
        "@ IN NS ns1.%s" % _absolute(zone),
        "ns1.%s IN A %s" % (_absolute(zone), ns_address),
    ]
    for record in records:
        lines.append("%s %d IN %s %s" % (_absolute(record["name"]), record["ttl"], record["type"], _rdata_text(record["type"], record["value"])))
    return "\n".join(lines) + "\n"


def _named_conf(directory: Path, host: str, port: int, zones: list[str], secret: str) -> str:
    zone_blocks = "".join(
        'zone "%s" {\n  type primary;\n  file "zones/%s.db";\n  allow-update { key "%s"; };\n  notify no;\n};\n' % (zone, zone, KEY_NAME)
        for zone in zones
    )
    return (
        'key "%s" {\n  algorithm %s;\n  secret "%s";\n};\n'
        "options {\n"
        '  directory "%s";\n'
        '  pid-file "%s/named.pid";\n'
        '  session-keyfile "%s/session.key";\n'
        '  managed-keys-directory "%s";\n'
        "  listen-on port %d { %s; };\n"
        "  listen-on-v6 { none; };\n"
        "  recursion no;\n"
        "  allow-query { any; };\n"
        "  allow-transfer { none; };\n"
        "  dnssec-validation no;\n"
        "  notify no;\n"
        # The lab must hold whatever an administrator might get wrong (an MX before its A record, an MX pointing
        # at a CNAME) so that validation, not the DNS server, is what catches it.
        "  check-integrity no;\n"
        "  check-mx ignore;\n"
        "  check-mx-cname ignore;\n"
        "  check-srv-cname ignore;\n"
        "  check-names primary ignore;\n"
        "};\n"
        "controls { };\n"
        "%s"
    ) % (KEY_NAME, KEY_ALGORITHM, secret, directory, directory, directory, directory, port, host, zone_blocks)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


class DnsServers:
    """The two running ``named`` processes (or, after :meth:`attach`, a handle on ones another process started)."""

    def __init__(self, directory: Path, host: str, ports: dict[str, int], zones: dict[str, list[str]], secret: str,
                 processes: dict[str, subprocess.Popen] | None = None, pids: dict[str, int] | None = None):
        self.directory = directory
        self.host = host
        self.ports = dict(ports)
        self.zones = {view: list(z) for view, z in zones.items()}
        self._secret = secret
        self._processes = processes or {}
        self.pids = dict(pids or {view: p.pid for view, p in self._processes.items()})
        self._keyring = dns.tsigkeyring.from_text({KEY_NAME: (KEY_ALGORITHM, secret)})

    # --- life cycle -------------------------------------------------------------------------------------------

    @classmethod
    def start(cls, state_dir, zones_public: dict, zones_private: dict, host: str = "127.0.0.1",
              timeout: float = 20.0, reset: bool = False) -> "DnsServers":
        """Start ``named`` for the public and the private view of ``state_dir``.

        ``zones_*`` map a zone origin to its records (``[{name, type, value, ttl?}]``, absolute names). A zone file
        is written from them when it does not exist yet (or with ``reset``); an existing zone keeps its data and
        the dynamic updates made before a restart.
        """
        binary = named_binary()
        directory = Path(state_dir).resolve() / "dns"
        directory.mkdir(parents=True, exist_ok=True)
        key_path = directory / "tsig.key"
        if key_path.exists() and not reset:
            secret = json.loads(key_path.read_text())["secret"]
        else:
            secret = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
            _write_private(key_path, json.dumps({"name": KEY_NAME, "algorithm": KEY_ALGORITHM, "secret": secret}))
        wanted = {"public": _normalise_zones(zones_public, "public"), "private": _normalise_zones(zones_private, "private")}

        processes: dict[str, subprocess.Popen] = {}
        ports: dict[str, int] = {}
        try:
            for view in VIEWS:
                view_dir = directory / view
                (view_dir / "zones").mkdir(parents=True, exist_ok=True)
                for zone, records in wanted[view].items():
                    zone_path = view_dir / "zones" / ("%s.db" % zone)
                    if reset or not zone_path.exists():
                        zone_path.write_text(_zone_file(zone, records, host))
                        Path(str(zone_path) + ".jnl").unlink(missing_ok=True)
                processes[view], ports[view] = cls._launch(binary, view_dir, host, list(wanted[view]), secret, timeout)
        except BaseException:
            for process in processes.values():
                _terminate(process)
            raise
        servers = cls(directory, host, ports, {v: list(wanted[v]) for v in VIEWS}, secret, processes)
        servers._write_description()
        return servers

    @staticmethod
    def _launch(binary: str, view_dir: Path, host: str, zones: list[str], secret: str, timeout: float):
        last_log = ""
        for _attempt in range(5):
            port = _free_port(host)
            conf = view_dir / "named.conf"
            _write_private(conf, _named_conf(view_dir, host, port, zones, secret))
            log_path = view_dir / "named.log"
            command = [binary, "-g", "-4", "-n", "1", "-c", str(conf)]
            if os.geteuid() == 0:
                command += ["-u", "root"]
            log = open(log_path, "ab")
            try:
                process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           cwd=str(view_dir), start_new_session=True)
            finally:
                log.close()
            deadline = time.monotonic() + timeout
            probe = zones[0] if zones else "lab.invalid"
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    break
                try:
                    query = dns.message.make_query(probe, dns.rdatatype.SOA)
                    response = dns.query.udp(query, host, port=port, timeout=0.5)
                    if not zones or response.rcode() == dns.rcode.NOERROR and response.answer:
                        return process, port
                except (dns.exception.Timeout, OSError):
                    pass
                time.sleep(0.1)
            _terminate(process)
            last_log = log_path.read_text(errors="replace")[-2000:]
            if "address in use" not in last_log.lower():
                break
        raise DnsError("named for %s did not start; its log ends with:\n%s" % (view_dir.name, last_log))

    def _write_description(self) -> None:
        description = {"host": self.host, "ports": self.ports, "pids": self.pids, "zones": self.zones, "key_name": KEY_NAME}
        tmp = self.directory / "servers.json.tmp"
        tmp.write_text(json.dumps(description, indent=1))
        os.replace(tmp, self.directory / "servers.json")

    @classmethod
    def attach(cls, state_dir) -> "DnsServers":
        """A handle on the servers another process started for ``state_dir`` (updates and queries; no stop)."""
        directory = Path(state_dir).resolve() / "dns"
        try:
            description = json.loads((directory / "servers.json").read_text())
            secret = json.loads((directory / "tsig.key").read_text())["secret"]
        except FileNotFoundError as exc:
            raise DnsError("no running lab DNS under %s (%s is missing)" % (directory, exc.filename))
        return cls(directory, description["host"], description["ports"], description["zones"], secret, pids=description.get("pids"))

    def stop(self) -> None:
        for process in self._processes.values():
            _terminate(process)
        self._processes = {}
        (self.directory / "servers.json").unlink(missing_ok=True)

    def __enter__(self) -> "DnsServers":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # --- facts ------------------------------------------------------------------------------------------------

    @property
    def public_port(self) -> int:
        return self.ports["public"]

    @property
    def private_port(self) -> int:
        return self.ports["private"]

    def resolver_options(self) -> dict:
        """The ``dns_public`` / ``dns_private`` options of ``exchange_validate`` (and endpoints.json's ``dns``)."""
        return {view: {"nameservers": [self.host], "port": self.ports[view]} for view in VIEWS}

    def zone_for(self, view: str, name: str) -> str:
        self._check_view(view)
        zone = _zone_of(name, self.zones[view])
        if zone is None:
            raise DnsError("%s view: no zone contains %s (zones: %s)" % (view, _fqdn(name), ", ".join(self.zones[view]) or "none"))
        return zone

    @staticmethod
    def _check_view(view: str) -> None:
        if view not in VIEWS:
            raise DnsError("view must be one of %s, not %r" % (", ".join(VIEWS), view))

    # --- changes (RFC 2136, TSIG-signed) ------------------------------------------------------------------------

    def _send(self, view: str, update: dns.update.Update, what: str) -> None:
        try:
            response = dns.query.tcp(update, self.host, port=self.ports[view], timeout=5)
        except (dns.exception.DNSException, OSError) as exc:
            raise DnsError("%s view: %s failed: %s" % (view, what, exc))
        if response.rcode() != dns.rcode.NOERROR:
            raise DnsError("%s view: %s refused: %s" % (view, what, dns.rcode.to_text(response.rcode())))

    def _update(self, view: str, name: str) -> dns.update.Update:
        zone = self.zone_for(view, name)
        return dns.update.Update(zone + ".", keyring=self._keyring, keyname=KEY_NAME, keyalgorithm=dns.tsig.HMAC_SHA256)

    def update(self, view: str, name: str, rtype: str, value, ttl: int = DEFAULT_TTL) -> None:
        """Make ``name``'s ``rtype`` records exactly ``value`` (a value or a list of values), replacing any."""
        values = value if isinstance(value, (list, tuple)) else [value]
        rtype = rtype.upper()
        update = self._update(view, name)
        update.delete(_absolute(name), rtype)
        for item in values:
            update.add(_absolute(name), ttl, rtype, _rdata_text(rtype, item))
        self._send(view, update, "update %s %s -> %s" % (_fqdn(name), rtype, ", ".join(str(v) for v in values)))

    def delete(self, view: str, name: str, rtype: str | None = None) -> None:
        """Remove ``name``'s ``rtype`` records (every record of ``name`` when ``rtype`` is None)."""
        update = self._update(view, name)
        if rtype is None:
            update.delete(_absolute(name))
        else:
            update.delete(_absolute(name), rtype.upper())
        self._send(view, update, "delete %s %s" % (_fqdn(name), rtype or "(all types)"))

    # --- reads --------------------------------------------------------------------------------------------------

    def resolver(self, view: str) -> dns.resolver.Resolver:
        self._check_view(view)
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [self.host]
        resolver.port = self.ports[view]
        resolver.lifetime = 5
        return resolver

    def query(self, view: str, name: str, rtype: str) -> list[str]:
        """The record values ``name`` has in ``view`` (``[]`` for none / NXDOMAIN)."""
        try:
            answer = self.resolver(view).resolve(_absolute(name), rtype.upper(), raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return []
        return [r.to_text() for r in answer.rrset] if answer.rrset is not None else []


def _terminate(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


# --- what the lab creates: a zones file ---------------------------------------------------------------------------
#
# The lab knows nothing of the collection's URL plan: the records its views hold come from a zones file (JSON) that
# the demo, the molecule scenarios and the tests write - for the demo organisation transcribed from the seeds' DNS
# tables (tests/lab/zones/), elsewhere the records a test expects. Layout (tests/lab/README.md, "DNS zones file"):
#
#     {"comment": "...",
#      "public":  {"contoso.com": [{"name": "contoso.com", "type": "MX", "value": "mail.contoso.com",
#                                   "source": "where the record comes from"}, ...]},
#      "private": {"contoso.com": [...]},
#      "listeners": {"https": "owa.contoso.com", "smtp": "mail.contoso.com"}}

ZONES_KEYS = ("comment", "public", "private", "listeners")
RECORD_KEYS = ("name", "type", "value", "ttl", "source")
LISTENER_PORTS = {"https": 443, "smtp": 587}


def load_zones(source) -> dict:
    """A zones file (a path, or the parsed document) checked and normalised.

    Returns ``{"public": {zone: [records]}, "private": {zone: [records]}, "listeners": {"https": name, ...}}``;
    every record lies inside its zone (the most specific zone of its view). Anything else is a :class:`DnsError`
    naming the place: the lab is never kinder than a DNS server given a wrong zone.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            document = json.loads(path.read_text())
        except OSError as exc:
            raise DnsError("cannot read the zones file %s: %s" % (path, exc))
        except ValueError as exc:
            raise DnsError("the zones file %s is not JSON: %s" % (path, exc))
    else:
        document = source
    if not isinstance(document, dict):
        raise DnsError("a zones file is a JSON object with public, private and listeners, not %r" % (document,))
    unknown = sorted(set(document) - set(ZONES_KEYS))
    if unknown:
        raise DnsError("zones file: unknown key(s) %s (known: %s)" % (", ".join(unknown), ", ".join(ZONES_KEYS)))
    result: dict = {}
    for view in VIEWS:
        zones = document.get(view) or {}
        if not isinstance(zones, dict):
            raise DnsError("zones file, %s: a mapping of zone -> records is required" % view)
        for zone, records in zones.items():
            if not isinstance(records, list):
                raise DnsError("zones file, %s view, zone %s: a list of records is required" % (view, zone))
            for record in records:
                if not isinstance(record, dict):
                    raise DnsError("zones file, %s view, zone %s: %r is not a record" % (view, zone, record))
                extra = sorted(set(record) - set(RECORD_KEYS))
                if extra:
                    raise DnsError("zones file, %s view, zone %s: record %r has unknown key(s) %s (known: %s)"
                                   % (view, zone, record.get("name"), ", ".join(extra), ", ".join(RECORD_KEYS)))
        result[view] = _normalise_zones(zones, view)
    listeners = document.get("listeners") or {}
    if not isinstance(listeners, dict) or set(listeners) - set(LISTENER_PORTS):
        raise DnsError("zones file, listeners: a mapping of %s to a host name is required, got %r"
                       % (" and ".join(LISTENER_PORTS), listeners))
    result["listeners"] = {kind: _fqdn(name) for kind, name in listeners.items() if name}
    return result


def zones_to_serve(zones: dict | None, servers: list[str], server_address: str = "127.0.0.1") -> tuple[dict, dict]:
    """The zones (public, private) the views start with: the zones file's zones, empty - its records are created
    by :func:`seed_records`, as an administrator's tooling would - and, in the private view, each server FQDN with
    its A record in its parent domain's zone (Active Directory's, e.g. corp.contoso.com) unless the file has it."""
    zones = zones or {}
    public: dict[str, list] = {zone: [] for zone in (zones.get("public") or {})}
    private: dict[str, list] = {zone: [] for zone in (zones.get("private") or {})}
    fqdns = [_fqdn(server) for server in servers]
    for fqdn in fqdns:
        private.setdefault(fqdn.split(".", 1)[1], [])
    # Zones listed so far may nest (contoso.com and corp.contoso.com): each record goes to its most specific zone.
    in_file = {(record["name"], record["type"]) for records in (zones.get("private") or {}).values() for record in records}
    for fqdn in fqdns:
        if (fqdn, "A") not in in_file:
            private[_zone_of(fqdn, list(private))].append({"name": fqdn, "type": "A", "value": server_address})
    return public, private


def seed_records(dns_servers: DnsServers, zones: dict) -> list[dict]:
    """Create, in both views, the records of a zones file (:func:`load_zones`); returns what was created.

    Records of the same name and type are set together (an RRset), so a name with two values keeps both.
    """
    created = []
    for view in VIEWS:
        grouped: dict[tuple[str, str], list[str]] = {}
        ttls: dict[tuple[str, str], int] = {}
        for records in (zones.get(view) or {}).values():
            for record in records:
                key = (record["name"], record["type"])
                grouped.setdefault(key, []).append(record["value"])
                ttls.setdefault(key, record.get("ttl", DEFAULT_TTL))
        for (name, rtype), values in grouped.items():
            dns_servers.update(view, name, rtype, values, ttl=ttls[(name, rtype)])
            created.extend({"view": view, "name": name, "type": rtype, "value": v} for v in values)
    return created


# --- command line -------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exchange_lab.services.dns", description="Change the lab's running DNS.")
    commands = parser.add_subparsers(dest="command", required=True)
    seed = commands.add_parser("seed", help="create the records of a zones file (JSON, tests/lab/README.md)")
    seed.add_argument("--state", required=True)
    seed.add_argument("--zones", required=True, help="path of the zones file, or - for standard input")
    for name in ("update", "delete", "query"):
        sub = commands.add_parser(name)
        sub.add_argument("--state", required=True)
        sub.add_argument("--view", required=True, choices=VIEWS)
        sub.add_argument("--name", required=True)
        sub.add_argument("--type", required=name != "delete")
        if name == "update":
            sub.add_argument("--value", required=True, action="append")
    args = parser.parse_args(argv)
    try:
        servers = DnsServers.attach(args.state)
        if args.command == "seed":
            if args.zones == "-":
                try:
                    zones = load_zones(json.loads(sys.stdin.read()))
                except ValueError as exc:
                    raise DnsError("standard input is not a JSON zones file: %s" % exc)
            else:
                zones = load_zones(args.zones)
            print(json.dumps(seed_records(servers, zones), indent=1))
        elif args.command == "update":
            servers.update(args.view, args.name, args.type, args.value)
        elif args.command == "delete":
            servers.delete(args.view, args.name, args.type)
        else:
            print(json.dumps(servers.query(args.view, args.name, args.type)))
    except DnsError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
