"""IMAP dialogue: greeting, CAPABILITY before and after STARTTLS, LOGINDISABLED.

Port 143 is only a problem when the server accepts a password before TLS: without
LOGINDISABLED in the plaintext CAPABILITY a client may send `LOGIN user pass` in the
clear. That, not the open port itself, is what the guide is worried about.
"""

from __future__ import annotations

import contextlib
import imaplib
import ssl

from mailstate.audit.results import PortObservation, ProbeOptions
from mailstate.audit.tls import session_info


def _mechanisms(capabilities: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(c.split("=", 1)[1] for c in capabilities if c.upper().startswith("AUTH="))


def imap_dialogue(address: str, port: int, service: str, implicit: bool,
                  options: ProbeOptions, context: ssl.SSLContext) -> PortObservation:
    """One IMAP session; raises on TLS verification failure so the caller can retry."""
    client: imaplib.IMAP4
    if implicit:
        client = imaplib.IMAP4_SSL(address, port, ssl_context=context, timeout=options.timeout)
    else:
        client = imaplib.IMAP4(address, port, timeout=options.timeout)
    try:
        banner = client.welcome.decode("utf-8", "replace")
        capabilities = tuple(client.capabilities)
        if implicit:
            assert isinstance(client.sock, ssl.SSLSocket)
            result = PortObservation(
                port, service, "open", banner=banner, capabilities_tls=capabilities,
                auth_after_tls="LOGINDISABLED" not in capabilities,
                tls=session_info(client.sock, "implicit"))
        else:
            login_disabled = "LOGINDISABLED" in capabilities
            starttls = "STARTTLS" in capabilities
            tls_caps: tuple[str, ...] = ()
            tls = None
            if starttls:
                client.starttls(ssl_context=context)
                tls_caps = tuple(client.capabilities)
                assert isinstance(client.sock, ssl.SSLSocket)
                tls = session_info(client.sock, "starttls")
            result = PortObservation(
                port, service, "open", banner=banner, capabilities=capabilities,
                capabilities_tls=tls_caps, starttls=starttls, tls_required=login_disabled,
                login_before_tls=not login_disabled,
                auth_before_tls=() if login_disabled else ("LOGIN", *_mechanisms(capabilities)),
                auth_after_tls=("LOGINDISABLED" not in tls_caps) if starttls else None, tls=tls)
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            client.logout()
        return result
    finally:
        if client.state != "LOGOUT":  # logout() shuts the socket down itself
            with contextlib.suppress(OSError):
                client.shutdown()
