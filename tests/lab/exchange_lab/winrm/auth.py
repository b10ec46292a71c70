"""HTTP authentication as the WinRM service does it: Basic per request, NTLM per TCP connection (pyspnego as acceptor).

NTLM tokens arrive raw (NTLMSSP) under either the ``NTLM`` or the ``Negotiate`` scheme, as requests_ntlm sends
them; the challenge goes back under the scheme the client used. On HTTPS the acceptor is given the
``tls-server-end-point`` channel binding of the listener's certificate, so a client that binds to another
certificate (a TLS man in the middle) or binds to nothing is refused.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
from dataclasses import dataclass

import spnego
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from spnego.channel_bindings import GssChannelBindings

from ..users import User, Users

NTLMSSP = b"NTLMSSP\x00"
_env_lock = threading.Lock()


_user_file_holders: dict[str, int] = {}


def acquire_user_file(path: os.PathLike | str) -> None:
    """Point pyspnego's NTLM acceptor at a lab's users file (pyspnego reads NTLM_USER_FILE from the environment).

    The variable is process-wide, so labs running at the same time in one process must share one users file.
    """
    path = os.path.abspath(path)
    with _env_lock:
        others = [held for held, count in _user_file_holders.items() if count and held != path]
        if others:
            raise RuntimeError(f"another lab in this process authenticates NTLM against {others[0]}; cannot also use {path}")
        _user_file_holders[path] = _user_file_holders.get(path, 0) + 1
        os.environ["NTLM_USER_FILE"] = path


def release_user_file(path: os.PathLike | str) -> None:
    path = os.path.abspath(path)
    with _env_lock:
        if _user_file_holders.get(path):
            _user_file_holders[path] -= 1


def channel_bindings_for(certificate_pem: bytes) -> GssChannelBindings:
    """RFC 5929 tls-server-end-point: the certificate hashed with its signature hash (SHA-256 for MD5/SHA-1)."""
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    algorithm = certificate.signature_hash_algorithm
    if algorithm is None or algorithm.name in ("md5", "sha1"):
        algorithm = hashes.SHA256()
    digest = hashes.Hash(algorithm)
    digest.update(certificate.public_bytes(serialization.Encoding.DER))
    return GssChannelBindings(application_data=b"tls-server-end-point:" + digest.finalize())


class Unauthorized(Exception):
    """Answer 401; ``challenge`` is the NTLM type-2 token header value to send back, if this is a handshake step."""

    def __init__(self, reason: str, challenge: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.challenge = challenge


@dataclass
class Authenticated:
    user: User
    scheme: str  # "basic", "ntlm" (raw NTLMSSP) or "negotiate" (NTLM inside SPNEGO)
    final_token: str | None = None  # a last WWW-Authenticate value for the client (SPNEGO's mechListMIC)


class ConnectionAuth:
    """The authentication state of one TCP connection."""

    def __init__(self, users: Users, channel_bindings: GssChannelBindings | None, allow_basic: bool):
        self.users = users
        self.channel_bindings = channel_bindings
        self.allow_basic = allow_basic
        self._pending: spnego.ContextProxy | None = None
        self.ntlm_context: spnego.ContextProxy | None = None
        self.ntlm_user: User | None = None
        self.ntlm_scheme = "ntlm"

    def reset(self) -> None:
        self._pending = None
        self.ntlm_context = None
        self.ntlm_user = None
        self.ntlm_scheme = "ntlm"

    def offers(self) -> list[str]:
        values = ["Negotiate", "NTLM"]
        if self.allow_basic:
            values.append('Basic realm="WSMAN"')
        return values

    def authenticate(self, header: str | None) -> Authenticated:
        """The user of this request, or Unauthorized. A request with no header rides on the connection's NTLM logon."""
        if not header:
            if self.ntlm_context is not None and self.ntlm_user is not None:
                return Authenticated(self.ntlm_user, self.ntlm_scheme)
            raise Unauthorized("no credentials")
        scheme, _, value = header.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            return self._basic(value.strip())
        if scheme in ("ntlm", "negotiate"):
            return self._ntlm("NTLM" if scheme == "ntlm" else "Negotiate", value.strip())
        raise Unauthorized(f"unsupported authentication scheme {scheme!r}")

    def _basic(self, value: str) -> Authenticated:
        if not self.allow_basic:
            raise Unauthorized("Basic authentication is disabled")
        try:
            name, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("malformed Basic credentials") from None
        user = self.users.check(name, password)
        if user is None:
            raise Unauthorized(f"wrong user name or password for {name!r}")
        return Authenticated(user, "basic")

    def _ntlm(self, scheme: str, value: str) -> Authenticated:
        try:
            token = base64.b64decode(value, validate=True)
        except binascii.Error:
            raise Unauthorized("malformed NTLM token") from None
        if scheme == "Negotiate" and token[:1] in (b"\x60", b"\xa1"):
            return self._spnego(token)
        if not token.startswith(NTLMSSP) or len(token) < 12:
            self.reset()
            raise Unauthorized("not an NTLMSSP token")
        message_type = int.from_bytes(token[8:12], "little")
        if message_type == 1:
            # A new logon replaces whatever this connection had.
            self.reset()
            context = spnego.server(protocol="ntlm", channel_bindings=self.channel_bindings)
            try:
                challenge = context.step(token)
            except Exception as error:
                raise Unauthorized(f"bad NTLM negotiate message: {error}") from None
            self._pending = context
            raise Unauthorized("NTLM challenge", challenge=f"{scheme} {base64.b64encode(challenge).decode()}")
        if message_type == 3:
            context, self._pending = self._pending, None
            if context is None:
                raise Unauthorized("NTLM authenticate message without a negotiate on this connection")
            try:
                context.step(token)
            except Exception as error:  # wrong password, bad MIC, channel binding mismatch
                self.reset()
                raise Unauthorized(f"NTLM logon failed: {error}") from None
            return self._logged_on(context, "ntlm")
        self.reset()
        raise Unauthorized(f"unexpected NTLM message type {message_type}")

    def _spnego(self, token: bytes) -> Authenticated:
        """NTLM wrapped in SPNEGO (what Windows and pyspnego's negotiate clients send); Kerberos has no KDC here."""
        if token[:1] == b"\x60":
            self.reset()
            context = spnego.server(protocol="negotiate", channel_bindings=self.channel_bindings)
        else:
            context, self._pending = self._pending, None
            if context is None:
                raise Unauthorized("SPNEGO continuation without a negotiation on this connection")
        try:
            reply = context.step(token)
        except Exception as error:
            self.reset()
            raise Unauthorized(f"Negotiate logon failed (the lab accepts NTLM only, no Kerberos): {error}") from None
        if not context.complete:
            self._pending = context
            raise Unauthorized("Negotiate challenge", challenge=f"Negotiate {base64.b64encode(reply or b'').decode()}")
        authenticated = self._logged_on(context, "negotiate")
        authenticated.final_token = f"Negotiate {base64.b64encode(reply).decode()}" if reply else None
        return authenticated

    def _logged_on(self, context: spnego.ContextProxy, scheme: str) -> Authenticated:
        user = self.users.find(context.client_principal or "")
        if user is None or not context.complete:
            self.reset()
            raise Unauthorized(f"unknown user {context.client_principal!r}")
        self.ntlm_context, self.ntlm_user, self.ntlm_scheme = context, user, scheme
        return Authenticated(user, scheme)
