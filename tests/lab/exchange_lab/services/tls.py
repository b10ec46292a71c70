"""The lab's TLS endpoints: per Exchange server an HTTPS listener (IIS, Default Web Site) and an SMTP submission
listener with STARTTLS (the ``Client Frontend <server>`` receive connector, served by aiosmtpd).

Both present the certificate the lab's state enables at the moment a client connects:
``exchange_lab.exchange.certificates.enabled_certificate(org, server, 'IIS' | 'SMTP')``. The lookup is made for
every connection (TLS contexts are cached per certificate), so ``Enable-ExchangeCertificate`` takes effect for the
next client without a restart - and a run that forgets to enable the new certificate keeps presenting the old one.

* HTTPS: when no certificate is bound to IIS the TLS handshake is refused (the connection is closed), as IIS does
  with a binding whose certificate is gone. Any request gets a small Outlook on the web page (200).
* SMTP: the banner and EHLO name are the ``Client Frontend <server>`` connector's ``Fqdn`` (else the server FQDN);
  STARTTLS is advertised only when a certificate is enabled for SMTP; ``MAIL FROM`` without authentication is
  answered ``530 5.7.57`` as Exchange answers anonymous submission.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import ssl
import tempfile
import threading
from pathlib import Path
from typing import Callable

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

CertificateSource = Callable[[str, str], "tuple[bytes, bytes] | None"]
SERVICES = ("IIS", "SMTP")
HANDSHAKE_TIMEOUT = 10.0


def _default_source(lab_ctx) -> CertificateSource:
    from ..exchange.certificates import enabled_certificate

    org = lab_ctx.org
    return lambda server, service: enabled_certificate(org, server, service)


class ContextCache:
    """Server-side SSL contexts built from (certificate chain PEM, key PEM), one per distinct certificate."""

    def __init__(self, work_dir: Path):
        self._work_dir = work_dir
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()

    def get(self, cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
        digest = hashlib.sha256(cert_pem + b"\0" + key_pem).hexdigest()
        with self._lock:
            context = self._contexts.get(digest)
            if context is None:
                context = self._build(cert_pem, key_pem)
                self._contexts[digest] = context
            return context

    def _build(self, cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # ssl loads certificates and keys from files only: write them to a private directory just for the load.
        fd, path = tempfile.mkstemp(prefix="chain-", suffix=".pem", dir=self._work_dir)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(key_pem.rstrip(b"\n") + b"\n" + cert_pem)
            context.load_cert_chain(path)
        finally:
            os.unlink(path)
        return context


class _HttpsServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, listeners: "TlsListeners", server_name: str):
        self.listeners = listeners
        self.exchange_server = server_name
        super().__init__(address, _OwaHandler)

    def get_request(self):
        sock, address = self.socket.accept()
        context = self.listeners.context_for(self.exchange_server, "IIS")
        if context is None:
            sock.close()  # no certificate bound to the site: the handshake cannot happen
            raise OSError("no certificate enabled for IIS on %s" % self.exchange_server)
        return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def finish_request(self, request, client_address):
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError):
            return  # the client refused our certificate (or went away): nothing to serve
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):  # a client that drops the connection is not an error here
        pass


class _OwaHandler(http.server.BaseHTTPRequestHandler):
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def _page(self, head_only=False):
        body = ("<html><head><title>Outlook</title></head><body>Outlook on the web (lab: %s)</body></html>\n"
                % self.server.exchange_server).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-FEServer", self.server.exchange_server)
        self.send_header("Connection", "close")
        self.end_headers()
        if not head_only:
            self.wfile.write(body)
        self.close_connection = True

    def version_string(self):
        return self.server_version

    def do_GET(self):
        self._page()

    def do_HEAD(self):
        self._page(head_only=True)

    def log_message(self, format, *args):
        pass


class _ClientFrontendHandler:
    """Submission needs authentication; the lab accepts no mail."""

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        return "530 5.7.57 Client not authenticated to send mail. Error: 535 5.7.3 Authentication unsuccessful"


class _SmtpController(Controller):
    def __init__(self, listeners: "TlsListeners", server_name: str, host: str):
        self.listeners = listeners
        self.exchange_server = server_name
        super().__init__(_ClientFrontendHandler(), hostname=host, port=_free_port(host))

    def factory(self):
        """A fresh SMTP session per connection, with the certificate enabled for SMTP right now (or no STARTTLS)."""
        context = self.listeners.context_for(self.exchange_server, "SMTP")
        return SMTP(
            self.handler,
            hostname=self.listeners.smtp_fqdn(self.exchange_server),
            ident="Microsoft ESMTP MAIL Service ready",
            tls_context=context,
            require_starttls=False,
            auth_require_tls=True,
            decode_data=False,
        )


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class TlsListeners:
    """The HTTPS and SMTP listeners of every server of a lab; ``ports`` = ``{server: {'https': p, 'smtp': p}}``."""

    def __init__(self, lab_ctx, host: str, source: CertificateSource, servers: list[str]):
        self.lab_ctx = lab_ctx
        self.host = host
        self.servers = list(servers)
        self._source = source
        self._cache = ContextCache(Path(lab_ctx.state_dir) / "tls")
        self._https: dict[str, _HttpsServer] = {}
        self._threads: list[threading.Thread] = []
        self._smtp: dict[str, _SmtpController] = {}
        self.ports: dict[str, dict[str, int]] = {}

    @classmethod
    def start(cls, lab_ctx, host: str = "127.0.0.1", certificate_source: CertificateSource | None = None,
              servers: list[str] | None = None) -> "TlsListeners":
        """Listen for every server of ``lab_ctx.org`` on free ports of ``host``."""
        source = certificate_source or _default_source(lab_ctx)
        names = servers if servers is not None else lab_ctx.org.server_names()
        listeners = cls(lab_ctx, host, source, names)
        try:
            for server in names:
                https = _HttpsServer((host, 0), listeners, server)
                listeners._https[server] = https
                thread = threading.Thread(target=https.serve_forever, name="lab-https-%s" % server, daemon=True)
                thread.start()
                listeners._threads.append(thread)
                smtp = _SmtpController(listeners, server, host)
                smtp.start()
                listeners._smtp[server] = smtp
                listeners.ports[server] = {"https": https.server_address[1], "smtp": smtp.port}
        except BaseException:
            listeners.stop()
            raise
        return listeners

    # --- certificates ---------------------------------------------------------------------------------------------

    def context_for(self, server: str, service: str) -> ssl.SSLContext | None:
        found = self._source(server, service)
        if not found:
            return None
        cert_pem, key_pem = found
        return self._cache.get(cert_pem, key_pem)

    def smtp_fqdn(self, server: str) -> str:
        """The ``Client Frontend <server>`` connector's Fqdn, else the server's FQDN."""
        org = getattr(self.lab_ctx, "org", None)
        if org is None:
            return server.lower()
        try:
            with org.lock:
                for connector in org.server(server).get("receive_connectors", []):
                    if connector.get("name", "").lower() == ("client frontend %s" % server).lower():
                        fqdn = (connector.get("props") or {}).get("Fqdn")
                        if fqdn:
                            return str(fqdn)
                return org.server_fqdn(server)
        except (KeyError, AttributeError):
            return server.lower()

    # --- facts ------------------------------------------------------------------------------------------------------

    def endpoints(self) -> dict:
        """What endpoints.json's ``tls`` holds: ``{server: {"https": "host:port", "smtp": "host:port"}}``."""
        return {server: {kind: "%s:%d" % (self.host, port) for kind, port in ports.items()} for server, ports in self.ports.items()}

    def stop(self) -> None:
        for controller in self._smtp.values():
            try:
                controller.stop()
            except (AssertionError, RuntimeError):
                pass
        self._smtp = {}
        for server in self._https.values():
            server.shutdown()
            server.server_close()
        self._https = {}
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def __enter__(self) -> "TlsListeners":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
