"""Bring a fresh connection to where a ClientHello goes: at once, or after STARTTLS.

The TLS scan writes raw bytes, so it cannot let smtplib/imaplib/poplib upgrade the
connection for it. This is the least of each protocol that gets there: SMTP greeting,
EHLO, STARTTLS (RFC 3207); IMAP STARTTLS (RFC 3501 6.2.1); POP3 STLS (RFC 2595 4).
Replies are read line by line and bounded, so a server that talks forever cannot hold
the probe.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable

from mailstate.audit.results import shown

MAX_LINE = 4096
MAX_LINES = 100


class NoTls(Exception):
    """The server does not (or no longer) offer TLS on this connection."""


class _Lines:
    """Line reader over a socket; never reads past what the server has sent."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def line(self) -> str:
        while b"\n" not in self.buffer:
            if len(self.buffer) > MAX_LINE:
                raise NoTls("a line longer than 4096 bytes")
            chunk = self.sock.recv(MAX_LINE)
            if not chunk:
                raise NoTls("the server closed the connection")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return shown(line.rstrip(b"\r").decode("utf-8", "replace"))


def _smtp_reply(lines: _Lines) -> tuple[int, list[str]]:
    texts = []
    for _ in range(MAX_LINES):
        line = lines.line()
        texts.append(line[4:].strip())
        if len(line) < 4 or line[3] != "-":
            return (int(line[:3]) if line[:3].isdigit() else 0), texts
    raise NoTls("an SMTP reply of more than 100 lines")


def _smtp(sock: socket.socket, lines: _Lines, ehlo_name: str) -> None:
    code, text = _smtp_reply(lines)
    if code != 220:
        raise NoTls(f"greeting {code} {' '.join(text)[:80]}")
    sock.sendall(f"EHLO {ehlo_name}\r\n".encode())
    code, text = _smtp_reply(lines)
    if code != 250 or not any(t.upper() == "STARTTLS" for t in text):
        raise NoTls("STARTTLS not offered")
    sock.sendall(b"STARTTLS\r\n")
    code, text = _smtp_reply(lines)
    if code != 220:
        raise NoTls(f"STARTTLS answered {code} {' '.join(text)[:80]}")


def _imap(sock: socket.socket, lines: _Lines, _ehlo_name: str) -> None:
    greeting = lines.line()
    if not greeting.upper().startswith("* OK"):
        raise NoTls(f"greeting {greeting[:80]!r}")
    sock.sendall(b"a1 STARTTLS\r\n")
    for _ in range(MAX_LINES):
        line = lines.line()
        if line.startswith("a1 "):
            if line[3:].upper().startswith("OK"):
                return
            raise NoTls(f"STARTTLS answered {line[3:80]!r}")
    raise NoTls("no answer to STARTTLS")


def _pop3(sock: socket.socket, lines: _Lines, _ehlo_name: str) -> None:
    greeting = lines.line()
    if not greeting.startswith("+OK"):
        raise NoTls(f"greeting {greeting[:80]!r}")
    sock.sendall(b"STLS\r\n")
    answer = lines.line()
    if not answer.startswith("+OK"):
        raise NoTls(f"STLS answered {answer[:80]!r}")


STARTTLS: dict[str, Callable[[socket.socket, _Lines, str], None]] = {
    "smtp": _smtp, "imap": _imap, "pop3": _pop3}


def open_for_hello(address: str, port: int, protocol: str, implicit: bool,
                   timeout: float, ehlo_name: str) -> socket.socket:
    """A connected socket on which the next bytes the server expects are a ClientHello.

    Raises NoTls when the port does not offer STARTTLS, OSError on network failures.
    """
    sock = socket.create_connection((address, port), timeout=timeout)
    # Close with a reset: the server often closes first (an alert, then FIN), and a
    # normal close would leave it one TIME_WAIT socket per question for a minute.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    try:
        if not implicit:
            STARTTLS[protocol](sock, _Lines(sock), ehlo_name)
    except BaseException:
        sock.close()
        raise
    return sock
