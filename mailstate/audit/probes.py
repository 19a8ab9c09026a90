"""One probe of one port: TCP first, then the protocol dialogue the port should speak.

Which dialogue follows from the service name (`smtp`, `submission`, `submissions`,
`imap`, `imaps`, `pop3`, `pop3s`); implicit TLS from the `s` suffix or the expectation.
Then, where the port speaks TLS, the scan of every version and weak cipher class
(`audit.scan`); it runs even when the dialogue's own handshake failed, since a server
that only speaks TLS 1.0 fails exactly there. Every failure becomes data in the
observation (`error`), never an exception, so one broken port cannot hide the others.
"""

from __future__ import annotations

import dataclasses
import imaplib
import poplib
import smtplib
import ssl
import time
from collections.abc import Callable

from mailstate.audit.imap import imap_dialogue
from mailstate.audit.pop3 import pop3_dialogue
from mailstate.audit.results import PortObservation, ProbeOptions
from mailstate.audit.scan import scan_port
from mailstate.audit.smtp import smtp_dialogue
from mailstate.audit.tcp import tcp_state
from mailstate.audit.tls import with_verdict, with_verification

Dialogue = Callable[[str, int, str, bool, ProbeOptions, ssl.SSLContext], PortObservation]

DEFAULT_SERVICES = {25: "smtp", 110: "pop3", 143: "imap", 465: "submissions",
                    587: "submission", 993: "imaps", 995: "pop3s"}
DIALOGUES: dict[str, tuple[Dialogue, bool]] = {
    "smtp": (smtp_dialogue, False),
    "submission": (smtp_dialogue, False),
    "submissions": (smtp_dialogue, True),
    "smtps": (smtp_dialogue, True),
    "imap": (imap_dialogue, False),
    "imaps": (imap_dialogue, True),
    "pop3": (pop3_dialogue, False),
    "pop3s": (pop3_dialogue, True),
}
PROTOCOLS = {"smtp": "smtp", "submission": "smtp", "submissions": "smtp", "smtps": "smtp",
             "imap": "imap", "imaps": "imap", "pop3": "pop3", "pop3s": "pop3"}
TLS_FAILED = "TLS handshake failed"
PROBE_ERRORS = (OSError, smtplib.SMTPException, imaplib.IMAP4.error, poplib.error_proto,
                EOFError, ValueError, UnicodeError)


def probe_port(address: str, port: int, service: str, options: ProbeOptions,
               implicit: bool | None = None, expected_name: str = "") -> PortObservation:
    """Observe one port. `implicit` overrides the TLS mode the service name implies;
    `expected_name` is the name the certificate must carry (default: `address`)."""
    started = time.monotonic()
    name = expected_name or address
    state, reason = tcp_state(address, port, options.timeout)
    if state != "open" or service not in DIALOGUES:
        observation = PortObservation(port, service, state, error=reason)
    else:
        dialogue, default_implicit = DIALOGUES[service]
        is_implicit = default_implicit if implicit is None else implicit
        observation = _converse(dialogue, address, port, service, is_implicit, name, options)
        if options.scan_tls and _speaks_tls(observation, is_implicit):
            scan = scan_port(address, port, PROTOCOLS[service], is_implicit, name, options)
            observation = dataclasses.replace(observation, scan=scan)
    elapsed = int((time.monotonic() - started) * 1000)
    return dataclasses.replace(observation, elapsed_ms=elapsed)


def _speaks_tls(observation: PortObservation, implicit: bool) -> bool:
    """Worth a scan: TLS seen, or a handshake that failed (perhaps only TLS 1.0 works)."""
    if observation.error:
        return observation.error.startswith(TLS_FAILED)
    return implicit or observation.starttls is True


def _converse(dialogue: Dialogue, address: str, port: int, service: str, implicit: bool,
              expected_name: str, options: ProbeOptions) -> PortObservation:
    def attempt(context: ssl.SSLContext) -> PortObservation:
        return dialogue(address, port, service, implicit, options, context)

    try:
        observation, verified, message = with_verification(attempt, options.cafile,
                                                           expected_name)
    except PROBE_ERRORS as exc:
        return PortObservation(port, service, "open", error=_describe(exc, implicit))
    if observation.tls is not None:
        tls = with_verdict(observation.tls, verified, message, expected_name)
        observation = dataclasses.replace(observation, tls=tls)
    return observation


def _describe(exc: BaseException, implicit: bool) -> str:
    if isinstance(exc, ssl.SSLError):
        return f"{TLS_FAILED}: {exc.reason or exc}"
    if isinstance(exc, TimeoutError):
        return "timed out in the dialogue" + (" (TLS expected at once)" if implicit else "")
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"
