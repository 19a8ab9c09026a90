"""TLS facts of a session, and the verify-then-observe pattern every TLS probe shares.

A verifying handshake that fails tells us only *that* it failed; the admin also wants to
see the certificate that failed. So with `--cafile` a probe first runs its dialogue with
a verifying context, and on a verification error runs it again without verification to
collect the facts. Without `--cafile` there is nothing to verify against: one
unverified handshake, `verified = None`.

OpenSSL checks only the chain here; the name is checked apart, against the name clients
use (`audit.certname`), which is rarely the address the probe connected to. That name
also goes out as SNI, so a server choosing its certificate by name shows the one its
clients get.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
import ssl
from collections.abc import Callable
from typing import Literal, TypeVar

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from mailstate.audit.certname import name_matches
from mailstate.audit.hello import sni_name
from mailstate.audit.results import CertInfo, TlsInfo, shown

T = TypeVar("T")
Mode = Literal["starttls", "implicit"]


class NamedContext(ssl.SSLContext):
    """A client context that sends `sni` as server name, whatever address the protocol
    library connected to (smtplib/imaplib/poplib pass their connect host)."""

    sni: str | None = None

    def wrap_socket(self, sock: socket.socket, server_side: bool = False,
                    do_handshake_on_connect: bool = True, suppress_ragged_eofs: bool = True,
                    server_hostname: str | bytes | None = None,
                    session: ssl.SSLSession | None = None) -> ssl.SSLSocket:
        return super().wrap_socket(sock, server_side, do_handshake_on_connect,
                                   suppress_ragged_eofs, self.sni or server_hostname, session)


def _client_context(expected_name: str) -> NamedContext:
    context = NamedContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # the name is checked against the expected name
    context.sni = sni_name(expected_name).decode("ascii") or None
    return context


def verifying_context(cafile: str, expected_name: str = "") -> ssl.SSLContext:
    """Checks the chain against `cafile` (the name: `name_matches`, apart)."""
    context = _client_context(expected_name)
    context.load_verify_locations(cafile=cafile)
    return context


def observing_context(expected_name: str = "") -> ssl.SSLContext:
    """Accepts any certificate: used only to look at it, never to send secrets."""
    context = _client_context(expected_name)
    context.verify_mode = ssl.CERT_NONE
    return context


def with_verification(attempt: Callable[[ssl.SSLContext], T], cafile: str | None,
                      expected_name: str = "") -> tuple[T, bool | None, str]:
    """Run `attempt(context)`; returns (its result, verified, verification error)."""
    if cafile:
        try:
            return attempt(verifying_context(cafile, expected_name)), True, ""
        except ssl.SSLCertVerificationError as exc:
            message = exc.verify_message or str(exc)
        return attempt(observing_context(expected_name)), False, message
    return attempt(observing_context(expected_name)), None, ""


def session_info(sock: ssl.SSLSocket, mode: Mode) -> TlsInfo:
    """Protocol, cipher and certificate of an established TLS socket."""
    cipher = sock.cipher()
    der = sock.getpeercert(binary_form=True)
    return TlsInfo(mode=mode, protocol=sock.version() or "", cipher=cipher[0] if cipher else "",
                   cert=cert_info(der) if der else None)


def cert_info(der: bytes, now: dt.datetime | None = None) -> CertInfo:
    """Subject, issuer, SAN and validity of a DER certificate."""
    cert = x509.load_der_x509_certificate(der)
    names: list[str] = []
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        san = None
    if isinstance(san, x509.SubjectAlternativeName):
        names.extend(f"DNS:{shown(n)}" for n in san.get_values_for_type(x509.DNSName))
        names.extend(f"IP:{n}" for n in san.get_values_for_type(x509.IPAddress))
    now = now or dt.datetime.now(dt.UTC)
    not_after = cert.not_valid_after_utc
    return CertInfo(
        subject=shown(cert.subject.rfc4514_string()),
        issuer=shown(cert.issuer.rfc4514_string()),
        san=tuple(names),
        not_before=cert.not_valid_before_utc.isoformat(),
        not_after=not_after.isoformat(),
        days_left=(not_after - now).days,
    )


def with_verdict(info: TlsInfo, verified: bool | None, message: str,
                 expected_name: str = "") -> TlsInfo:
    """The same facts with the chain's verification and the name check attached."""
    matched = None
    if expected_name and info.cert is not None:
        matched = name_matches(expected_name, info.cert.san)
    return dataclasses.replace(info, verified=verified, verify_error=message,
                               expected_name=expected_name, name_matched=matched)
