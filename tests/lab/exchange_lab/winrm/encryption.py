"""MS-WSMV message encryption for NTLM over HTTP: multipart/encrypted bodies sealed with the connection's NTLM context.

Body layout (MS-WSMV 2.2.9.1.1, as pywinrm writes it)::

    --Encrypted Boundary\\r\\n
    \\tContent-Type: application/HTTP-SPNEGO-session-encrypted\\r\\n
    \\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=N\\r\\n
    --Encrypted Boundary\\r\\n
    \\tContent-Type: application/octet-stream\\r\\n
    <uint32-LE signature length = 16><16-byte NTLM signature><sealed message>
    --Encrypted Boundary--\\r\\n
"""

from __future__ import annotations

import re
import struct

PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
BOUNDARY = b"--Encrypted Boundary"
CONTENT_TYPE = f'multipart/encrypted;protocol="{PROTOCOL}";boundary="Encrypted Boundary"'
_OCTET_HEADER = b"\tContent-Type: application/octet-stream\r\n"
_LENGTH = re.compile(rb"Length=(\d+)")


class EncryptionError(Exception):
    """The body is not a well-formed encrypted message, or it does not decrypt and verify under the connection's context."""


def is_encrypted(content_type: str | None) -> bool:
    content_type = (content_type or "").lower()
    return content_type.startswith("multipart/encrypted") and PROTOCOL.lower() in content_type


def decrypt(context, body: bytes) -> bytes:
    """The SOAP message inside an encrypted body; the signature is verified by the NTLM context (sequence numbers too)."""
    parts = [part for part in body.split(BOUNDARY + b"\r\n") if part]
    if not parts or not parts[-1].endswith(BOUNDARY + b"--\r\n"):
        raise EncryptionError("the encrypted body does not end with the closing boundary")
    parts[-1] = parts[-1][: -len(BOUNDARY + b"--\r\n")]
    if len(parts) % 2:
        raise EncryptionError("the encrypted body does not consist of header and data part pairs")
    message = b""
    for header, payload in zip(parts[0::2], parts[1::2]):
        if PROTOCOL.encode() not in header:
            raise EncryptionError(f"an encrypted part does not declare {PROTOCOL}")
        length = _LENGTH.search(header)
        if not length:
            raise EncryptionError("an encrypted part has no OriginalContent length")
        if not payload.startswith(_OCTET_HEADER):
            raise EncryptionError("an encrypted part has no application/octet-stream data")
        payload = payload[len(_OCTET_HEADER):]
        if len(payload) < 4:
            raise EncryptionError("an encrypted part is truncated")
        (signature_length,) = struct.unpack("<I", payload[:4])
        if signature_length != 16 or len(payload) < 4 + signature_length:
            raise EncryptionError("an encrypted part has an invalid signature length")
        try:
            plain = context.unwrap(payload[4:]).data
        except Exception as error:  # pyspnego raises several error types for a bad seal or signature
            raise EncryptionError(f"the message does not decrypt under this connection's security context: {error}") from None
        if len(plain) != int(length.group(1)):
            raise EncryptionError("the decrypted length does not match OriginalContent")
        message += plain
    return message


def encrypt(context, message: bytes) -> bytes:
    sealed = context.wrap(message, encrypt=True).data  # 16-byte signature followed by the sealed message
    return (
        BOUNDARY + b"\r\n"
        + f"\tContent-Type: {PROTOCOL}\r\n".encode()
        + f"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length={len(message)}\r\n".encode()
        + BOUNDARY + b"\r\n"
        + _OCTET_HEADER
        + struct.pack("<I", 16) + sealed
        + BOUNDARY + b"--\r\n"
    )
