"""Which TLS versions a port accepts, and which weak classes of cipher suites.

Negotiating once (what the dialogue does) shows only the best a modern client gets; a
server re-opened to TLS 1.0, or offering anonymous suites to whoever asks, still looks
fine. So the scan asks separately, one hand-written ClientHello (`audit.hello`) per
question, each on a fresh connection (after STARTTLS where the port needs it):
1. each version, SSLv3 to TLS 1.3, offering every suite known for it: accepted when
   the ServerHello picks exactly that version;
2. at each accepted version below 1.3, newest first, every suite of the weak classes
   (anonymous, export, NULL, RC4, 3DES) not found yet: the suite the server picks
   proves its classes accepted, and the question is asked again without the classes
   found, until the server refuses. A refusal proves none of the classes offered is
   accepted at that version, since all their suites were on offer.
A hardened port costs 5 + 1 short handshakes, port 25 of a stock Postfix 5 + 4. The
scan stops at the first network failure or at its deadline and keeps what it found,
with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from mailstate.audit.hello import HelloAnswer, client_hello, read_answer
from mailstate.audit.preamble import NoTls, open_for_hello
from mailstate.audit.results import ProbeOptions, TlsScan, WeakCipher
from mailstate.audit.suites import (
    LEGACY_SUITES,
    TLS13_SUITES,
    WEAK_CLASSES,
    suite_name,
    suites_of,
    weak_classes,
)

VERSION_ORDER = ("SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")
DEADLINE_STEPS = 6  # no new handshake starts after this many --timeout periods
ASK_STEPS = 5  # socket operations of one handshake: connect, greeting, EHLO, STARTTLS, answer
SCAN_STEPS = DEADLINE_STEPS + ASK_STEPS  # the longest a scan can take, in --timeout periods


class _Deadline(Exception):
    pass


class _Asker:
    """Asks one question per connection and counts them."""

    def __init__(self, address: str, port: int, protocol: str, implicit: bool,
                 server_name: str, options: ProbeOptions) -> None:
        self.address, self.port, self.protocol = address, port, protocol
        self.implicit, self.server_name, self.options = implicit, server_name, options
        self.deadline = time.monotonic() + options.timeout * DEADLINE_STEPS
        self.count = 0
        self.last_refusal = ""

    def ask(self, version: str, suites: Sequence[int]) -> HelloAnswer:
        if time.monotonic() > self.deadline:
            raise _Deadline
        self.count += 1
        sock = open_for_hello(self.address, self.port, self.protocol, self.implicit,
                              self.options.timeout, self.options.ehlo_name)
        with sock:
            sock.sendall(client_hello(version, suites, self.server_name))
            answer = read_answer(sock)
        if not answer.accepted:
            self.last_refusal = answer.refusal
        return answer


def scan_port(address: str, port: int, protocol: str, implicit: bool, server_name: str,
              options: ProbeOptions) -> TlsScan | None:
    """The port's TLS versions and weak classes; None when it offers no STARTTLS at all."""
    started = time.monotonic()
    asker = _Asker(address, port, protocol, implicit, server_name, options)
    versions: list[str] = []
    weak: list[WeakCipher] = []
    error = ""
    try:
        for version in VERSION_ORDER:
            suites = TLS13_SUITES if version == "TLSv1.3" else LEGACY_SUITES
            if asker.ask(version, suites).version == version:
                versions.append(version)
        _weak_hits(asker, versions, weak)
    except NoTls as exc:
        if asker.count == 1:
            return None
        error = f"STARTTLS failed during the scan: {exc}"
    except _Deadline:
        error = f"stopped after {options.timeout * DEADLINE_STEPS:g}s ({asker.count} handshakes)"
    except OSError as exc:  # TimeoutError included
        error = f"handshake {asker.count}: {type(exc).__name__}: {exc or 'no answer'}"
    if not versions and not error:
        error = f"no TLS version accepted ({asker.last_refusal})"
    weak.sort(key=lambda hit: WEAK_CLASSES.index(hit.kind))
    elapsed = int((time.monotonic() - started) * 1000)
    return TlsScan(tuple(versions), tuple(weak), error, asker.count, elapsed)


def _weak_hits(asker: _Asker, versions: list[str], found: list[WeakCipher]) -> None:
    """Append to `found` each weak class accepted, with the first suite that proved it."""
    for version in reversed([v for v in versions if v != "TLSv1.3"]):
        while True:
            known = {hit.kind for hit in found}
            remaining = [k for k in WEAK_CLASSES if k not in known]
            offered = tuple(dict.fromkeys(c for k in remaining for c in suites_of(k)))
            if not offered:
                return
            answer = asker.ask(version, offered)
            suite = answer.suite
            if answer.version != version or suite is None or suite not in offered:
                break
            name = suite_name(suite)
            found.extend(WeakCipher(k, version, name) for k in weak_classes(name)
                         if k not in known)
