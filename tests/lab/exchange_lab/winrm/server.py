"""The WinRM service of one lab server and its HTTP/HTTPS listeners (``POST /wsman``)."""

from __future__ import annotations

import base64
import binascii
import socket
import ssl
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from . import encryption, soap
from .auth import ConnectionAuth, Unauthorized, channel_bindings_for
from .shells import CommandRun, ProcessFactory, ShellTable, new_id

SOAP_CONTENT_TYPE = "application/soap+xml;charset=UTF-8"
# The longest a Receive waits for output, whatever OperationTimeout the client asks for.
MAX_RECEIVE_WAIT = 60.0
DEFAULT_OPERATION_TIMEOUT = 60.0

ACTION_NAMES = {
    soap.ACTION_CREATE: "Create",
    soap.ACTION_DELETE: "Delete",
    soap.ACTION_COMMAND: "Command",
    soap.ACTION_SEND: "Send",
    soap.ACTION_RECEIVE: "Receive",
    soap.ACTION_SIGNAL: "Signal",
}


class WinRMService:
    """One server's WS-Management shell service; both of its listeners (HTTP and HTTPS) share it."""

    def __init__(self, lab, server: str, process_factory: ProcessFactory):
        self.lab = lab
        self.server = server
        self.fqdn = lab.org.server_fqdn(server)
        self.process_factory = process_factory
        self.shells = ShellTable(quota=lambda: lab.faults.get("shell_quota"))

    def handle(self, request: soap.Request, user: str, address: str, client_ip: str) -> bytes:
        if request.resource_uri.lower() != soap.SHELL_URI.lower():
            raise soap.resource_not_supported(request.resource_uri)
        if request.action == soap.ACTION_CREATE:
            return self._create(request, user, address, client_ip)
        if request.action not in ACTION_NAMES:
            raise soap.action_not_supported(request.action)
        if request.action == soap.ACTION_DELETE:
            self.shells.delete(request.shell_id, user)
            return soap.deleted(request)
        shell = self.shells.get(request.shell_id, user)
        if request.action == soap.ACTION_COMMAND:
            command_line = soap.parse_command_line(request).text
            try:
                process = self.process_factory(self.lab, self.server, user, command_line)
            except soap.WSManFault:
                raise
            except Exception as error:
                traceback.print_exc(file=sys.stderr)
                raise soap.WSManFault("w:InternalError", f"The process could not be started: {error}", sender=False) from None
            run = CommandRun(new_id(), command_line, process)
            shell.commands[run.id] = run
            return soap.command_started(request, run.id)
        if request.action == soap.ACTION_SEND:
            return self._send(request, shell)
        if request.action == soap.ACTION_RECEIVE:
            return self._receive(request, shell)
        return self._signal(request, shell)

    def _create(self, request: soap.Request, user: str, address: str, client_ip: str) -> bytes:
        node = request.body_child("Shell")
        if node is None:
            raise soap.schema_error("The Create request needs an rsp:Shell element.")

        def child(name: str, default: str) -> str:
            element = node.find(f"rsp:{name}", soap.NS)
            return (element.text or "").strip() if element is not None and element.text else default

        idle = child("IdleTimeOut", "")
        shell = self.shells.create(
            user,
            input_streams=child("InputStreams", "stdin"),
            output_streams=child("OutputStreams", "stdout stderr"),
            idle_timeout=soap.parse_duration(idle) if idle else None,
        )
        self.lab.observer.count(self.server, "shells")
        return soap.shell_created(request, address, shell.id, user, client_ip, shell.input_streams, shell.output_streams)

    def _send(self, request: soap.Request, shell) -> bytes:
        node = request.body_child("Send")
        streams = node.findall("rsp:Stream", soap.NS) if node is not None else []
        if not streams:
            raise soap.schema_error("The Send request needs rsp:Send/rsp:Stream elements.")
        for stream in streams:
            if stream.get("Name") not in shell.input_streams.split():
                raise soap.schema_error(f"The stream {stream.get('Name')!r} is not an input stream of this shell.")
            run = shell.command(stream.get("CommandId"))
            try:
                data = base64.b64decode((stream.text or "").strip(), validate=True)
            except binascii.Error:
                raise soap.schema_error("The stdin stream is not valid base64.") from None
            end = (stream.get("End") or "false").lower() == "true"
            with run.stdin_lock:
                if run.stdin_closed:
                    raise soap.WSManFault("w:InvalidParameter", "The stdin stream of this command has already been closed (End=\"true\"). ")
                run.stdin_closed = end
                if run.exit_code is None:
                    run.process.send_stdin(data, end)
        return soap.sent(request)

    def _receive(self, request: soap.Request, shell) -> bytes:
        node = request.body_child("Receive")
        desired = node.find("rsp:DesiredStream", soap.NS) if node is not None else None
        if desired is None:
            raise soap.schema_error("The Receive request needs an rsp:DesiredStream element.")
        run = shell.command(desired.get("CommandId"))
        if self.lab.faults.take("receive_timeouts"):
            raise soap.operation_timed_out()
        wait = min(request.operation_timeout or DEFAULT_OPERATION_TIMEOUT, MAX_RECEIVE_WAIT)
        with run.receive_lock:
            if run.exit_code is not None:
                return soap.received(request, run.id, [], run.exit_code)
            stdout, stderr, exit_code = run.process.receive(wait)
            run.exit_code = exit_code
        if not stdout and not stderr and exit_code is None:
            # Nothing happened within OperationTimeout: Windows answers this fault and the client asks again.
            raise soap.operation_timed_out()
        streams = [(name, data) for name, data in (("stdout", stdout), ("stderr", stderr)) if data]
        return soap.received(request, run.id, streams, exit_code)

    def _signal(self, request: soap.Request, shell) -> bytes:
        node = request.body_child("Signal")
        if node is None:
            raise soap.schema_error("The Signal request needs an rsp:Signal element.")
        run = shell.command(node.get("CommandId"))
        code_node = node.find("rsp:Code", soap.NS)
        code = (code_node.text or "").strip() if code_node is not None else ""
        if code == soap.SIGNAL_TERMINATE:
            shell.commands.pop(run.id, None)
            if run.exit_code is None:
                run.process.terminate()
        elif code == soap.SIGNAL_CTRL_C:
            if run.exit_code is None:
                run.process.terminate()
        else:
            raise soap.WSManFault("w:InvalidParameter", f"The signal code {code!r} is not supported. ")
        return soap.signalled(request)

    def close(self) -> None:
        self.shells.close_all()


class WinRMListener(ThreadingHTTPServer):
    """One port of one server: plain HTTP (message encryption) or HTTPS (TLS and channel binding)."""

    daemon_threads = True
    allow_reuse_address = True
    # Many clients connect at once (forks of an Ansible run, concurrent tests).
    request_queue_size = 128

    def __init__(
        self,
        service: WinRMService,
        host: str,
        port: int,
        tls_files: tuple[Path, Path] | None = None,
        allow_unencrypted: bool = False,
        basic_over_http: bool = True,
    ):
        self.service = service
        self.tls = tls_files is not None
        self.allow_unencrypted = allow_unencrypted
        self.basic_over_http = basic_over_http
        self.ssl_context: ssl.SSLContext | None = None
        self.channel_bindings = None
        self._connections: set = set()
        self._connections_lock = threading.Lock()
        if tls_files is not None:
            cert_path, key_path = tls_files
            self.ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ssl_context.minimum_version = ssl.TLSVersion.TLSv1_2
            self.ssl_context.load_cert_chain(cert_path, key_path)
            self.channel_bindings = channel_bindings_for(Path(cert_path).read_bytes())
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), WSManHandler)

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        return self.url_for(self.server_address[0])

    def url_for(self, host: str) -> str:
        if ":" in host:
            host = f"[{host}]"
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}/wsman"

    def finish_request(self, request, client_address) -> None:
        # The TLS handshake runs in the connection's own thread so a slow client cannot stall accept().
        if self.ssl_context is not None:
            request.settimeout(30)
            try:
                request = self.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                request.close()
                return
        super().finish_request(request, client_address)

    def track(self, connection, open_: bool) -> None:
        with self._connections_lock:
            (self._connections.add if open_ else self._connections.discard)(connection)

    def close(self) -> None:
        """Stop accepting, and end kept-alive connections too: a stopped lab must not keep serving old clients."""
        self.shutdown()
        self.server_close()
        with self._connections_lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError, ssl.SSLError)):
            return  # a client that went away is not an error of the service
        super().handle_error(request, client_address)


class WSManHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: NTLM authenticates the connection, not the request
    server_version = "Microsoft-HTTPAPI/2.0"
    sys_version = ""
    timeout = 300  # an idle kept-alive connection is closed after this long
    # Headers and body leave in separate writes: with Nagle on, delayed ACKs cost ~40 ms per response.
    disable_nagle_algorithm = True
    server: WinRMListener

    def setup(self) -> None:
        super().setup()
        listener = self.server
        listener.track(self.connection, True)
        self.auth = ConnectionAuth(
            listener.service.lab.users,
            listener.channel_bindings,
            allow_basic=True,
        )

    def finish(self) -> None:
        self.server.track(self.connection, False)
        super().finish()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the transcript records requests instead
        pass

    def _reply(self, status: int, body: bytes = b"", content_type: str | None = None, headers: list[tuple[str, str]] | None = None) -> None:
        self.send_response(status)
        for name, value in headers or []:
            self.send_header(name, value)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _authenticate_headers(self, challenge: str | None = None) -> list[tuple[str, str]]:
        offers = [challenge] if challenge else self.auth.offers()
        return [("WWW-Authenticate", value) for value in offers]

    def do_GET(self) -> None:
        self._reply(405, headers=[("Allow", "POST")])

    do_PUT = do_DELETE = do_HEAD = do_GET

    def do_POST(self) -> None:
        started = time.monotonic()
        listener = self.server
        service = listener.service
        details: dict = {"transport": "https" if listener.tls else "http"}
        user, status, body, content_type, headers = self._answer(details)
        # Recorded before answering, so a client that reads the transcript after its call sees this request.
        service.lab.observer.record_http(service.server, user, details.pop("action", ""), status, time.monotonic() - started, **details)
        if status == 0:
            self.connection.shutdown(socket.SHUT_RDWR)  # dropped: closed without an answer
            return
        self._reply(status, body, content_type, headers)

    def _answer(self, details: dict) -> tuple[str | None, int, bytes, str | None, list[tuple[str, str]]]:
        """(user, HTTP status or 0 to drop the connection, body, content type, extra headers) for this request."""
        lab = self.server.service.lab
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            return None, 411, b"", None, []
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.split("?", 1)[0].lower() != "/wsman":
            return None, 404, b"", None, []
        if lab.faults.take("expire_shells"):
            # As after the shells' IdleTimeout or a WinRM service restart: every shell of this server is gone before
            # the request is served, so a request naming one of them gets w:InvalidSelectors like an unknown shell.
            details["fault"] = "expire_shells"
            details["expired_shells"] = self.server.service.shells.close_all()
        if lab.faults.take("drop_connections"):
            details["fault"] = "drop_connections"
            self.close_connection = True
            return None, 0, b"", None, []
        if lab.faults.take("unauthorized"):
            details["fault"] = "unauthorized"
            # The logon is gone: the client must authenticate again, on a new connection.
            self.auth.reset()
            self.close_connection = True
            return None, 401, b"", None, self._authenticate_headers()
        try:
            authenticated = self.auth.authenticate(self.headers.get("Authorization"))
        except Unauthorized as refusal:
            details["refused"] = refusal.reason
            return None, 401, b"", None, self._authenticate_headers(refusal.challenge)
        details["auth"] = authenticated.scheme
        status, reply, content_type = self._serve(body, authenticated, details)
        headers = [("WWW-Authenticate", authenticated.final_token)] if authenticated.final_token else []
        return authenticated.user.principal, status, reply, content_type, headers

    def _serve(self, body: bytes, authenticated, details: dict) -> tuple[int, bytes, str | None]:
        listener = self.server
        service = listener.service
        encrypted = encryption.is_encrypted(self.headers.get("Content-Type"))
        if encrypted:
            if authenticated.scheme == "basic" or self.auth.ntlm_context is None:
                details["refused"] = "an encrypted message needs an NTLM-authenticated connection"
                return 400, b"", None
            try:
                message = encryption.decrypt(self.auth.ntlm_context, body)
            except encryption.EncryptionError as error:
                details["refused"] = str(error)
                self.close_connection = True
                return 400, b"", None
            details["encrypted"] = "message"
        else:
            message = body
            if listener.tls:
                details["encrypted"] = "tls"
            elif message:
                details["encrypted"] = False
                allowed = listener.allow_unencrypted or (authenticated.scheme == "basic" and listener.basic_over_http)
                if not allowed:
                    # AllowUnencrypted=false (the Windows default): plain-text SOAP over HTTP is refused.
                    details["refused"] = "unencrypted message over HTTP (AllowUnencrypted is false)"
                    return 401, b"", None
        if not message:
            # pywinrm's empty POST that sets up message encryption once the connection is authenticated.
            return 200, b"", None

        request = None
        try:
            request = soap.parse_request(message)
            details["action"] = ACTION_NAMES.get(request.action, request.action)
            reply = service.handle(request, authenticated.user.principal, listener.url, self.client_address[0])
            status = 200
        except soap.WSManFault as fault:
            details["wsman_fault"] = fault.subcode
            reply = soap.fault(fault, request, service.fqdn)
            status = fault.http_status
        except Exception as error:  # a defect behind the endpoint: answer as the service would, keep the traceback
            traceback.print_exc(file=sys.stderr)
            fault = soap.WSManFault("w:InternalError", f"The WS-Management service encountered an internal error: {error!r} ", sender=False)
            details["wsman_fault"] = fault.subcode
            reply = soap.fault(fault, request, service.fqdn)
            status = fault.http_status
        if encrypted:
            return status, encryption.encrypt(self.auth.ntlm_context, reply), encryption.CONTENT_TYPE
        return status, reply, SOAP_CONTENT_TYPE


def start_listener(listener: WinRMListener) -> threading.Thread:
    thread = threading.Thread(target=listener.serve_forever, kwargs={"poll_interval": 0.2}, name=f"winrm-{listener.url}", daemon=True)
    thread.start()
    return thread
