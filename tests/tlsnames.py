"""TLS clients that verify a lab host the way a mail client does: by its DNS name.

Lab certificates name only `hN.test` (like a public CA's), but the tests reach a host
by its address (no DNS here). imaplib, poplib and smtplib verify against the host they
connected to; `named_context` verifies against the name the user's client would have
used instead, with the lab CA: chain AND name, nothing turned off.
"""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from typing import Any


class NamedContext(ssl.SSLContext):
    """An SSLContext that always checks the server against `server_name`."""

    server_name: str

    def wrap_socket(self, sock: socket.socket, *args: Any, server_hostname: str | None = None,
                    **kwargs: Any) -> ssl.SSLSocket:
        return super().wrap_socket(sock, *args, server_hostname=self.server_name, **kwargs)


def named_context(cafile: str | Path, server_name: str) -> NamedContext:
    """Verification on (chain against `cafile`, name against `server_name`)."""
    context = NamedContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=str(cafile))
    context.server_name = server_name
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    return context
