"""POP3 dialogue: greeting, CAPA before and after STLS, whether USER/PASS works in clear.

Port 110 leaks passwords when CAPA lists USER (or a plaintext SASL mechanism) before
STLS. Dovecot hides USER and PLAIN until TLS when `disable_plaintext_auth = yes`.
"""

from __future__ import annotations

import contextlib
import poplib
import ssl

from mailstate.audit.results import PortObservation, ProbeOptions
from mailstate.audit.tls import session_info

PLAINTEXT_SASL = {"PLAIN", "LOGIN"}


def _capa(client: poplib.POP3) -> dict[str, list[str]]:
    try:
        return {k.upper(): v for k, v in client.capa().items()}
    except poplib.error_proto:  # CAPA not supported: an old server, USER assumed
        return {"USER": []}


def _logins(capa: dict[str, list[str]]) -> tuple[str, ...]:
    found = ("USER",) if "USER" in capa else ()
    return found + tuple(m.upper() for m in capa.get("SASL", []))


def _caps_text(capa: dict[str, list[str]]) -> tuple[str, ...]:
    return tuple(" ".join([k, *v]) for k, v in capa.items())


def pop3_dialogue(address: str, port: int, service: str, implicit: bool,
                  options: ProbeOptions, context: ssl.SSLContext) -> PortObservation:
    """One POP3 session; raises on TLS verification failure so the caller can retry."""
    client: poplib.POP3
    if implicit:
        client = poplib.POP3_SSL(address, port, timeout=options.timeout, context=context)
    else:
        client = poplib.POP3(address, port, timeout=options.timeout)
    try:
        banner = client.getwelcome().decode("utf-8", "replace")
        capa = _capa(client)
        if implicit:
            assert isinstance(client.sock, ssl.SSLSocket)
            result = PortObservation(
                port, service, "open", banner=banner, capabilities_tls=_caps_text(capa),
                auth_after_tls=bool(_logins(capa)), tls=session_info(client.sock, "implicit"))
        else:
            result = _stls_part(client, port, service, banner, capa, context)
        with contextlib.suppress(OSError, poplib.error_proto):
            client.quit()
        return result
    finally:
        client.close()


def _stls_part(client: poplib.POP3, port: int, service: str, banner: str,
               capa: dict[str, list[str]], context: ssl.SSLContext) -> PortObservation:
    before = tuple(m for m in _logins(capa) if m == "USER" or m in PLAINTEXT_SASL)
    starttls = "STLS" in capa
    tls = None
    tls_capa: dict[str, list[str]] = {}
    if starttls:
        client.stls(context=context)
        tls_capa = _capa(client)
        assert isinstance(client.sock, ssl.SSLSocket)
        tls = session_info(client.sock, "starttls")
    return PortObservation(
        port, service, "open", banner=banner, capabilities=_caps_text(capa),
        capabilities_tls=_caps_text(tls_capa), starttls=starttls, tls_required=not before,
        login_before_tls=bool(before), auth_before_tls=before,
        auth_after_tls=bool(_logins(tls_capa)) if starttls else None, tls=tls)
