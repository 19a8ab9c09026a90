"""SMTP dialogue: banner, EHLO, STARTTLS, whether AUTH and MAIL are accepted before TLS.

Answers the guide's questions about 25/587/465 from the outside: is STARTTLS offered,
is AUTH offered in the clear (a credential leak), does the server refuse mail until
STARTTLS (RFC 3207 "encrypt" on submission), and is AUTH offered inside TLS at all (a
submission port without a SASL backend never offers it). Sends no message: at most
`MAIL FROM:<>` followed by `RSET`.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from typing import TYPE_CHECKING, Any

from mailstate.audit.results import PortObservation, ProbeOptions
from mailstate.audit.tls import session_info

if TYPE_CHECKING:
    from typing_extensions import Buffer  # collections.abc.Buffer from Python 3.12 on


class _Greeting(smtplib.SMTP):
    """Keeps the 220 greeting, which smtplib's constructor throws away."""

    greeting = b""

    def connect(self, host: str = "localhost", port: int = 0,
                source_address: tuple[Any, ...] | str | Buffer | None = None
                ) -> tuple[int, bytes]:
        code, message = super().connect(host, port, source_address)
        self.greeting = message
        return code, message


class _Smtp(_Greeting):
    pass


class _Smtps(_Greeting, smtplib.SMTP_SSL):
    pass


def _capabilities(client: smtplib.SMTP) -> tuple[str, ...]:
    lines = (client.ehlo_resp or b"").decode("utf-8", "replace").splitlines()
    return tuple(line.strip() for line in lines[1:] if line.strip())


def _auth_mechanisms(client: smtplib.SMTP) -> tuple[str, ...]:
    return tuple(client.esmtp_features.get("auth", "").split()) if "auth" in \
        client.esmtp_features else ()


def smtp_dialogue(address: str, port: int, service: str, implicit: bool,
                  options: ProbeOptions, context: ssl.SSLContext) -> PortObservation:
    """One SMTP session; raises on TLS verification failure so the caller can retry."""
    client: _Smtp | _Smtps
    if implicit:
        client = _Smtps(address, port, options.ehlo_name, timeout=options.timeout,
                        context=context)
    else:
        client = _Smtp(address, port, options.ehlo_name, timeout=options.timeout)
    banner = client.greeting
    try:
        client.ehlo()
        capabilities = _capabilities(client)
        if implicit:
            assert isinstance(client.sock, ssl.SSLSocket)
            mechanisms = _auth_mechanisms(client)
            result = PortObservation(
                port, service, "open", banner=banner.decode("utf-8", "replace"),
                capabilities_tls=capabilities, auth_after_tls=bool(mechanisms),
                tls=session_info(client.sock, "implicit"))
        else:
            result = _starttls_part(client, port, service, banner, capabilities, context)
        with contextlib.suppress(OSError, smtplib.SMTPException):
            client.quit()
        return result
    finally:
        client.close()


def _starttls_part(client: smtplib.SMTP, port: int, service: str, banner: bytes,
                   capabilities: tuple[str, ...], context: ssl.SSLContext) -> PortObservation:
    before = _auth_mechanisms(client)
    offered = client.has_extn("starttls")
    tls_required = _mail_refused_before_tls(client)
    if not offered:
        return PortObservation(
            port, service, "open", banner=banner.decode("utf-8", "replace"),
            capabilities=capabilities, starttls=False, tls_required=tls_required,
            login_before_tls=bool(before), auth_before_tls=before)
    client.starttls(context=context)
    client.ehlo()
    assert isinstance(client.sock, ssl.SSLSocket)
    return PortObservation(
        port, service, "open", banner=banner.decode("utf-8", "replace"),
        capabilities=capabilities, capabilities_tls=_capabilities(client), starttls=True,
        tls_required=tls_required, login_before_tls=bool(before), auth_before_tls=before,
        auth_after_tls=bool(_auth_mechanisms(client)),
        tls=session_info(client.sock, "starttls"))


def _mail_refused_before_tls(client: smtplib.SMTP) -> bool | None:
    """True when `MAIL FROM:<>` in the clear gets 530 "Must issue a STARTTLS command first"."""
    code, message = client.mail("")
    client.rset()
    if code == 530 or (code >= 500 and b"STARTTLS" in message.upper()):
        return True
    if 200 <= code < 300:
        return False
    return None
