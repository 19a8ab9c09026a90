"""TLS facts of a session, and the verify-then-observe pattern every TLS probe shares.

A verifying handshake that fails tells us only *that* it failed; the admin also wants to
see the certificate that failed. So with `--cafile` a probe first runs its dialogue with
a verifying context, and on a verification error runs it again without verification to
collect the facts. Without `--cafile` there is nothing to verify against: one
unverified handshake, `verified = None`.
"""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Callable
from typing import Literal, TypeVar

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from mailstate.audit.results import CertInfo, TlsInfo

T = TypeVar("T")
Mode = Literal["starttls", "implicit"]


def verifying_context(cafile: str) -> ssl.SSLContext:
    """Checks the chain against `cafile` and the name/IP the probe connected to."""
    return ssl.create_default_context(cafile=cafile)


def observing_context() -> ssl.SSLContext:
    """Accepts any certificate: used only to look at it, never to send secrets."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def with_verification(attempt: Callable[[ssl.SSLContext], T],
                      cafile: str | None) -> tuple[T, bool | None, str]:
    """Run `attempt(context)`; returns (its result, verified, verification error)."""
    if cafile:
        try:
            return attempt(verifying_context(cafile)), True, ""
        except ssl.SSLCertVerificationError as exc:
            message = exc.verify_message or str(exc)
        return attempt(observing_context()), False, message
    return attempt(observing_context()), None, ""


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
        names.extend(f"DNS:{n}" for n in san.get_values_for_type(x509.DNSName))
        names.extend(f"IP:{n}" for n in san.get_values_for_type(x509.IPAddress))
    now = now or dt.datetime.now(dt.UTC)
    not_after = cert.not_valid_after_utc
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        san=tuple(names),
        not_before=cert.not_valid_before_utc.isoformat(),
        not_after=not_after.isoformat(),
        days_left=(not_after - now).days,
    )


def with_verdict(info: TlsInfo, verified: bool | None, message: str) -> TlsInfo:
    """The same facts with the verification outcome attached."""
    return TlsInfo(info.mode, info.protocol, info.cipher, info.cert, verified, message)
