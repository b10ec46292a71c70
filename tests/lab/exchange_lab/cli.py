"""``python -m exchange_lab``: serve a lab, show its organisation, sign a certificate request with the lab CA."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization


def _servers(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("at least one server name is required")
    return names


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m exchange_lab", description="A strict, faithful Exchange lab behind a real WinRM endpoint.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the lab in the foreground until SIGTERM or SIGINT")
    serve.add_argument("--state", required=True, type=Path, help="state directory (organisation, CA, users, transcript)")
    serve.add_argument("--version", choices=["2013", "2016", "2019"], help="Exchange version to seed a new organisation with")
    serve.add_argument("--servers", type=_servers, help="comma-separated Mailbox server names, e.g. EX01,EX02")
    serve.add_argument("--domain", help="AD domain of a new organisation, e.g. corp.contoso.com")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--base-port", type=int, default=15985, help="server i listens on base+2i (HTTP) and base+2i+1 (HTTPS); 0 picks free ports")
    serve.add_argument("--latency-scale", type=float, help="factor applied to the modelled PowerShell-start and Exchange-load latency")
    serve.add_argument("--realistic-latency", action="store_true", help="model about 0.5 s per PowerShell start and 4 s per Exchange-shell load")
    serve.add_argument("--allow-unencrypted", action="store_true", help="accept unencrypted NTLM messages over HTTP (WinRM AllowUnencrypted=true)")
    serve.add_argument("--no-network-services", action="store_true",
                       help="run only the WinRM endpoints: no BIND DNS views, no HTTPS/SMTP listeners")
    serve.add_argument("--zones", type=Path,
                       help="zones file (JSON, tests/lab/README.md): the DNS views' zones, the records they hold and "
                            "the names the HTTPS/SMTP listeners stand for; without it only the servers' A records")
    serve.add_argument("--refuse-basic-over-http", action="store_true", help="refuse Basic over HTTP as Windows does by default")

    show = commands.add_parser("show-state", help="print the organisation as JSON")
    show.add_argument("--state", required=True, type=Path)

    sign = commands.add_parser("sign-csr", help="sign a PKCS#10 request (PEM) with the lab CA")
    sign.add_argument("--state", required=True, type=Path)
    # Without --csr/--out, the paths mailops_certificate.ca_command is given (the certificate role's CA hook).
    sign.add_argument("--csr", type=Path, default=_env_path("MAILOPS_CSR_PATH"),
                      help="certificate request, PEM (default: $MAILOPS_CSR_PATH)")
    sign.add_argument("--out", type=Path, default=_env_path("MAILOPS_ANSWER_PATH"),
                      help="where to write the certificate, PEM (default: $MAILOPS_ANSWER_PATH)")
    sign.add_argument("--days", type=int, default=365)
    return parser


def serve(args: argparse.Namespace) -> int:
    from .lab import Lab, latency_settings
    from .services.dns import DnsError, load_zones

    try:  # a wrong zones file is refused before anything listens
        zones = load_zones(args.zones) if args.zones else None
    except DnsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        lab = Lab.start(
            args.state,
            version=args.version,
            servers=args.servers,
            domain=args.domain,
            host=args.host,
            base_port=args.base_port,
            faults=latency_settings(args.latency_scale, args.realistic_latency),
            allow_unencrypted=args.allow_unencrypted,
            basic_over_http=not args.refuse_basic_over_http,
            network_services=not args.no_network_services,
            zones=zones,
        )
    except ValueError as error:  # the state directory holds an organisation seeded differently, bad names, ...
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: cannot listen on {args.host} (base port {args.base_port}): {error}", file=sys.stderr)
        return 1
    try:
        for server, urls in lab.endpoints["servers"].items():
            print(f"{server} ({urls['fqdn']}): {urls['http']} {urls['https']}", flush=True)
        print(f"endpoints: {Path(args.state) / 'endpoints.json'}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        lab.stop()
    return 0


def show_state(args: argparse.Namespace) -> int:
    from .exchange.organization import STATE_FILE

    # Opening a directory without an organisation would seed one; show-state only reads.
    if not (args.state / STATE_FILE).is_file():
        print(f"error: no lab state in {args.state} (no {STATE_FILE}); start one with 'serve --state {args.state}'", file=sys.stderr)
        return 2
    from .exchange import Organization

    org = Organization.open(args.state)
    json.dump(org.snapshot(), sys.stdout, indent=1, sort_keys=True, default=str)
    sys.stdout.write("\n")
    return 0


def sign_csr(args: argparse.Namespace) -> int:
    from .ca import LabCA

    try:
        csr = x509.load_pem_x509_csr(args.csr.read_bytes())
    except (OSError, ValueError) as error:
        print(f"error: cannot read a PEM certificate request from {args.csr}: {error}", file=sys.stderr)
        return 2
    # A CA answers a request once: when --out already holds a certificate for this request's key (another run had
    # the request signed first), it is kept - two runs started together import the same answer.
    public = csr.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        answered = x509.load_pem_x509_certificate(args.out.read_bytes())
        if answered.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo) == public:
            return 0
    except (OSError, ValueError):
        pass
    try:
        certificate = LabCA(args.state).sign_csr(csr, days=args.days)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # Whole or not at all (a temporary file renamed over --out): a reader never sees half an answer.
    temporary = args.out.with_name(f".{args.out.name}.{os.getpid()}.tmp")
    temporary.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    os.replace(temporary, args.out)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "sign-csr":
        for option, value, variable in (("--csr", args.csr, "MAILOPS_CSR_PATH"), ("--out", args.out, "MAILOPS_ANSWER_PATH")):
            if value is None:
                parser.error(f"sign-csr: {option} is required (or {variable} in the environment)")
    handlers = {"serve": serve, "show-state": show_state, "sign-csr": sign_csr}
    return handlers[args.command](args)
