"""A ClientHello written byte by byte, and the server's first answer to it.

The audit must learn what a server *accepts*, including what no client on this machine
can offer any more: OpenSSL 3 has no RC4, 3DES or export suites and speaks TLS < 1.2
only at @SECLEVEL=0. So the probe writes the TLS record itself, offering exactly the
version and suites it asks about, and reads only the server's first flight: a
ServerHello naming a version and a suite means accepted; an alert or a closed
connection means refused. That is the test nmap's ssl-enum-ciphers makes. No key is
derived and the handshake is never finished, so nothing secret is involved.

Wire format: record layer RFC 5246 6.2.1; ClientHello/ServerHello RFC 5246 7.4.1.2-3
and RFC 8446 4.1.2-3; extensions server_name (RFC 6066 3), supported_groups and
ec_point_formats (RFC 8422 5.1), signature_algorithms (RFC 5246 7.4.1.4.1, RFC 8446
4.2.3), supported_versions and key_share (RFC 8446 4.2.1, 4.2.8).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from mailstate.audit.suites import RENEGOTIATION_SCSV

VERSIONS = {"SSLv3": 0x0300, "TLSv1.0": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303,
            "TLSv1.3": 0x0304}
VERSION_NAMES = {code: name for name, code in VERSIONS.items()}

ALERT, HANDSHAKE = 21, 22
CLIENT_HELLO, SERVER_HELLO = 1, 2
EXT_SERVER_NAME, EXT_GROUPS, EXT_POINT_FORMATS, EXT_SIGNATURES = 0, 10, 11, 13
EXT_SUPPORTED_VERSIONS, EXT_KEY_SHARE = 43, 51
X25519 = 0x001D
# x25519, secp256r1, secp384r1, secp521r1, x448, ffdhe2048/3072/4096
GROUPS = (X25519, 0x0017, 0x0018, 0x0019, 0x001E, 0x0100, 0x0101, 0x0102)
# ECDSA, EdDSA, RSA-PSS, RSA PKCS#1 v1.5 (SHA-2, then SHA-224 and SHA-1), DSA
SIGNATURE_SCHEMES = (0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0804, 0x0805, 0x0806,
                     0x0809, 0x080A, 0x080B, 0x0401, 0x0501, 0x0601, 0x0303, 0x0301,
                     0x0203, 0x0201, 0x0402, 0x0202)
ALERT_NAMES = {0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac",
               40: "handshake_failure", 42: "bad_certificate", 47: "illegal_parameter",
               50: "decode_error", 51: "decrypt_error", 70: "protocol_version",
               71: "insufficient_security", 80: "internal_error",
               86: "inappropriate_fallback", 90: "user_canceled", 109: "missing_extension",
               110: "unsupported_extension", 112: "unrecognized_name"}
MAX_RECORD = 16384 + 2048  # RFC 5246 6.2.3: the largest a record may claim
MAX_RECORDS = 8  # a ServerHello comes in the first record or two; never read a stream


@dataclass(frozen=True)
class HelloAnswer:
    """The server's first word: the version and suite it picked, or why it refused."""

    version: str = ""
    suite: int | None = None
    refusal: str = ""

    @property
    def accepted(self) -> bool:
        return self.suite is not None


def client_hello(version: str, suites: Sequence[int], server_name: str = "") -> bytes:
    """One TLS record holding a ClientHello for exactly `version` offering `suites`.

    TLS 1.3 is asked for the RFC 8446 way (legacy version 1.2 + supported_versions
    with 1.3 only); older versions by the ClientHello's own version field, without
    supported_versions, so a server can only answer with that version or lower.
    """
    wire = VERSIONS[version]
    tls13 = wire == VERSIONS["TLSv1.3"]
    offered = [*suites] if tls13 else [*suites, RENEGOTIATION_SCSV]
    body = b"".join((
        struct.pack(">H", min(wire, VERSIONS["TLSv1.2"])),
        os.urandom(32),
        _vec8(os.urandom(32) if tls13 else b""),  # session id: RFC 8446 D.4 compatibility
        _vec16(b"".join(struct.pack(">H", s) for s in offered)),
        _vec8(b"\x00"),  # compression: null only
        _vec16(_extensions(tls13, server_name)),
    ))
    handshake = bytes([CLIENT_HELLO]) + len(body).to_bytes(3, "big") + body
    record_version = VERSIONS["SSLv3"] if wire == VERSIONS["SSLv3"] else VERSIONS["TLSv1.0"]
    return struct.pack(">BHH", HANDSHAKE, record_version, len(handshake)) + handshake


def _vec8(data: bytes) -> bytes:
    return bytes([len(data)]) + data


def _vec16(data: bytes) -> bytes:
    return struct.pack(">H", len(data)) + data


def _extension(kind: int, data: bytes) -> bytes:
    return struct.pack(">H", kind) + _vec16(data)


def _extensions(tls13: bool, server_name: str) -> bytes:
    parts = []
    host = sni_name(server_name)
    if host:
        parts.append(_extension(EXT_SERVER_NAME, _vec16(b"\x00" + _vec16(host))))
    parts.append(_extension(EXT_GROUPS, _vec16(b"".join(struct.pack(">H", g) for g in GROUPS))))
    parts.append(_extension(EXT_POINT_FORMATS, _vec8(b"\x00")))  # uncompressed
    parts.append(_extension(EXT_SIGNATURES,
                            _vec16(b"".join(struct.pack(">H", s) for s in SIGNATURE_SCHEMES))))
    if tls13:
        parts.append(_extension(EXT_SUPPORTED_VERSIONS,
                                _vec8(struct.pack(">H", VERSIONS["TLSv1.3"]))))
        share = X25519PrivateKey.generate().public_key().public_bytes_raw()
        parts.append(_extension(EXT_KEY_SHARE,
                                _vec16(struct.pack(">H", X25519) + _vec16(share))))
    return b"".join(parts)


def sni_name(name: str) -> bytes:
    """The name as an SNI host name (RFC 6066 3: a DNS name, never an IP address)."""
    name = name.strip().rstrip(".")
    if not name:
        return b""
    try:
        ipaddress.ip_address(name.strip("[]"))
        return b""
    except ValueError:
        pass
    try:
        return name.encode("idna")
    except UnicodeError:
        return b""


def read_answer(sock: socket.socket) -> HelloAnswer:
    """Read records until the ServerHello, an alert or the end of the connection.

    Raises TimeoutError/OSError when the server says nothing at all.
    """
    handshake = b""
    for _ in range(MAX_RECORDS):
        header = _recv_exact(sock, 5)
        if header is None:
            return HelloAnswer(refusal="connection closed")
        kind, _version, length = struct.unpack(">BHH", header)
        if kind not in (ALERT, HANDSHAKE) or length > MAX_RECORD:
            return HelloAnswer(refusal=f"not a TLS answer: {header!r}")
        fragment = _recv_exact(sock, length)
        if fragment is None:
            return HelloAnswer(refusal="connection closed")
        if kind == ALERT:
            return HelloAnswer(refusal=_alert_text(fragment))
        handshake += fragment
        answer = parse_server_hello(handshake)
        if answer is not None:
            return answer
    return HelloAnswer(refusal="no ServerHello in the first records")


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _alert_text(fragment: bytes) -> str:
    if len(fragment) < 2:
        return "alert"
    return f"alert {ALERT_NAMES.get(fragment[1], str(fragment[1]))}"


def parse_server_hello(data: bytes) -> HelloAnswer | None:
    """The version and suite a ServerHello picked; None while `data` is incomplete.

    A HelloRetryRequest (RFC 8446 4.1.4) has the ServerHello's form and counts too: the
    server has chosen TLS 1.3 and a suite and only wants another key share.
    """
    if len(data) < 4:
        return None
    if data[0] != SERVER_HELLO:
        return HelloAnswer(refusal=f"handshake message {data[0]} instead of a ServerHello")
    length = int.from_bytes(data[1:4], "big")
    if len(data) < 4 + length:
        return None
    body = data[4:4 + length]
    try:
        (selected,) = struct.unpack_from(">H", body, 0)
        pos = 2 + 32
        pos += 1 + body[pos]  # session id
        (suite,) = struct.unpack_from(">H", body, pos)
        pos += 3  # suite + compression method
        if pos + 2 <= len(body):
            selected = _supported_version(body, pos) or selected
    except (struct.error, IndexError):
        return HelloAnswer(refusal="malformed ServerHello")
    return HelloAnswer(version=VERSION_NAMES.get(selected, f"0x{selected:04X}"), suite=suite)


def _supported_version(body: bytes, pos: int) -> int | None:
    (total,) = struct.unpack_from(">H", body, pos)
    pos += 2
    end = min(len(body), pos + total)
    while pos + 4 <= end:
        kind, size = struct.unpack_from(">HH", body, pos)
        pos += 4
        if kind == EXT_SUPPORTED_VERSIONS and size == 2:
            (version,) = struct.unpack_from(">H", body, pos)
            return int(version)
        pos += size
    return None
