"""One probe of one port: TCP first, then the protocol dialogue the port should speak.

Which dialogue follows from the service name (`smtp`, `submission`, `submissions`,
`imap`, `imaps`, `pop3`, `pop3s`); implicit TLS from the `s` suffix or the expectation.
Every failure becomes data in the observation (`error`), never an exception, so one
broken port cannot hide the others.
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
PROBE_ERRORS = (OSError, smtplib.SMTPException, imaplib.IMAP4.error, poplib.error_proto,
                EOFError, ValueError, UnicodeError)


def probe_port(address: str, port: int, service: str, options: ProbeOptions,
               implicit: bool | None = None) -> PortObservation:
    """Observe one port. `implicit` overrides the TLS mode the service name implies."""
    started = time.monotonic()
    state, reason = tcp_state(address, port, options.timeout)
    if state != "open" or service not in DIALOGUES:
        observation = PortObservation(port, service, state, error=reason)
    else:
        dialogue, default_implicit = DIALOGUES[service]
        observation = _converse(dialogue, address, port, service,
                                default_implicit if implicit is None else implicit, options)
    elapsed = int((time.monotonic() - started) * 1000)
    return dataclasses.replace(observation, elapsed_ms=elapsed)


def _converse(dialogue: Dialogue, address: str, port: int, service: str, implicit: bool,
              options: ProbeOptions) -> PortObservation:
    def attempt(context: ssl.SSLContext) -> PortObservation:
        return dialogue(address, port, service, implicit, options, context)

    try:
        observation, verified, message = with_verification(attempt, options.cafile)
    except PROBE_ERRORS as exc:
        return PortObservation(port, service, "open", error=_describe(exc, implicit))
    if observation.tls is not None:
        tls = with_verdict(observation.tls, verified, message)
        observation = dataclasses.replace(observation, tls=tls)
    return observation


def _describe(exc: BaseException, implicit: bool) -> str:
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}"
    if isinstance(exc, TimeoutError):
        return "timed out in the dialogue" + (" (TLS expected at once)" if implicit else "")
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"
